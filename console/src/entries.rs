//! The entry list (newest first, paged by cursor) and the entry page.

use maud::{html, Markup};

use crate::format::{copyable, count, time};
use crate::layout::{badge, page, Nav, Session};

/// One entry in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    /// Its log index.
    pub index: u64,
    /// When its batch was committed, Unix milliseconds, if known.
    pub time_ms: Option<u64>,
    /// Its kind (`dsse`, `contract`, `hashedrekord`, ...), or why it could
    /// not be read.
    pub kind: String,
    /// The workflow of an evledger attestation or contract revision.
    pub workflow: Option<String>,
    /// Subject names (with a short digest when a subject has no name).
    pub subjects: Vec<String>,
    /// The in-toto predicate type.
    pub predicate_type: Option<String>,
}

/// A page of the entry list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryList {
    /// Entries in the log.
    pub tree_size: u64,
    /// The entries, newest first.
    pub rows: Vec<EntryRow>,
    /// The `before` cursor of the next (older) page, if there is one.
    pub older: Option<u64>,
    /// Whether this is not the newest page.
    pub has_newer: bool,
}

/// A table of entries.
pub(crate) fn table(rows: &[EntryRow]) -> Markup {
    html! {
        table.entries {
            thead {
                tr {
                    th scope="col" { "Index" }
                    th scope="col" { "Time" }
                    th scope="col" { "Kind" }
                    th scope="col" { "Workflow" }
                    th scope="col" { "Subjects" }
                    th scope="col" { "Predicate type" }
                }
            }
            tbody {
                @for row in rows {
                    tr {
                        td { a href={ "/entries/" (row.index) } { (row.index) } }
                        td { (time(row.time_ms)) }
                        td { (row.kind) }
                        td {
                            @if let Some(w) = &row.workflow {
                                a href={ "/workflows/" (w) } { (w) }
                            }
                        }
                        td {
                            @for (i, s) in row.subjects.iter().enumerate() {
                                @if i > 0 { br; }
                                (s)
                            }
                        }
                        td { @if let Some(p) = &row.predicate_type { code { (p) } } }
                    }
                }
            }
        }
    }
}

/// The entry list page.
pub fn render_list(session: &Session, model: &EntryList) -> Markup {
    page(
        session,
        "Entries",
        Nav::Entries,
        &[],
        html! {
            h1 { "Entries" }
            p { (count(model.tree_size)) " entries, newest first." }
            @if model.rows.is_empty() {
                p { "No entries here." }
            } @else {
                (table(&model.rows))
            }
            nav.pager aria-label="Pages" {
                @if model.has_newer { a rel="first" href="/entries" { "Newest" } }
                @if let Some(before) = model.older {
                    a rel="next" href={ "/entries?before=" (before) } { "Older entries" }
                }
            }
        },
    )
}

/// A material of an evledger attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    /// The contract's material name.
    pub name: String,
    /// Its type.
    pub kind: String,
    /// `alg:hex` digests.
    pub digests: Vec<String>,
    /// The value (an image reference, a string), if it has one.
    pub value: Option<String>,
    /// Size of the CAS blob, when the blob is stored here.
    pub blob_size: Option<u64>,
    /// Link to the CAS blob, when it is stored here.
    pub blob_href: Option<String>,
}

/// A signer of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// SHA-256 of its DER SubjectPublicKeyInfo, hex.
    pub fingerprint: String,
    /// Its algorithm (`Ed25519`, `ECDSA P-256`, ...).
    pub algorithm: String,
}

/// What the entry page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryDetail {
    /// The row facts.
    pub row: EntryRow,
    /// Leaf hash, hex.
    pub leaf_hash: String,
    /// The leaf bytes as text (they are JSON).
    pub leaf: String,
    /// The in-toto statement, pretty JSON, without the predicate.
    pub statement: Option<String>,
    /// The predicate, pretty JSON.
    pub predicate: Option<String>,
    /// A contract revision's contract, pretty JSON.
    pub contract: Option<String>,
    /// Materials of an evledger attestation.
    pub materials: Vec<Material>,
    /// Signer keys.
    pub signers: Vec<Signer>,
    /// Size of the tree the proof is against.
    pub proof_size: u64,
    /// Root of that tree, hex.
    pub proof_root: String,
    /// The audit path, hex.
    pub proof_hashes: Vec<String>,
    /// Whether the DSSE envelope can be downloaded.
    pub has_envelope: bool,
    /// Whether a Sigstore bundle can be downloaded.
    pub has_sigstore_bundle: bool,
}

/// The entry page.
pub fn render_detail(session: &Session, model: &EntryDetail) -> Markup {
    let index = model.row.index;
    let data = [
        ("index", index.to_string()),
        ("leaf-hash", model.leaf_hash.clone()),
    ];
    page(
        session,
        &format!("Entry {index}"),
        Nav::Entries,
        &data,
        html! {
            h1 { "Entry " (index) }
            (badge("entry"))
            dl.facts {
                dt { "Log index" } dd { (index) }
                dt { "Time" } dd { (time(model.row.time_ms)) }
                dt { "Kind" } dd { (model.row.kind) }
                @if let Some(w) = &model.row.workflow {
                    dt { "Workflow" } dd { a href={ "/workflows/" (w) } { (w) } }
                }
                @if let Some(p) = &model.row.predicate_type {
                    dt { "Predicate type" } dd { code { (p) } }
                }
                dt { "Leaf hash" } dd { (copyable(&model.leaf_hash)) }
            }
            section aria-labelledby="downloads-h" {
                h2 #downloads-h { "Downloads" }
                ul {
                    li { a href={ "/api/v1/log/entries/" (index) "?format=tlog-proof" } download={ "entry-" (index) ".tlog-proof" } { "C2SP tlog-proof bundle" } " (verify offline with " code { "evledger verify" } ")" }
                    li { a href={ "/api/v1/log/entries/" (index) } { "Entry with inclusion proof (JSON)" } }
                    @if model.has_envelope {
                        li { a href={ "/entries/" (index) "/envelope" } download={ "entry-" (index) ".dsse.json" } { "DSSE envelope" } }
                    }
                    @if model.has_sigstore_bundle {
                        li { a href={ "/api/v1/log/entries/" (index) "?format=sigstore-bundle" } download={ "entry-" (index) ".sigstore.json" } { "Sigstore bundle" } }
                    }
                }
            }
            @if !model.row.subjects.is_empty() {
                section aria-labelledby="subjects-h" {
                    h2 #subjects-h { "Subjects" }
                    ul { @for s in &model.row.subjects { li { (s) } } }
                }
            }
            @if !model.materials.is_empty() {
                section aria-labelledby="materials-h" {
                    h2 #materials-h { "Materials" }
                    table {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Type" } th scope="col" { "Digest" } th scope="col" { "Blob" } } }
                        tbody {
                            @for m in &model.materials {
                                tr {
                                    td { (m.name) @if let Some(v) = &m.value { br; code { (v) } } }
                                    td { (m.kind) }
                                    td { @for d in &m.digests { (copyable(d)) } }
                                    td {
                                        @match (&m.blob_href, m.blob_size) {
                                            (Some(href), Some(size)) => { a href=(href) { "download" } " (" (count(size)) " bytes)" }
                                            _ => { span.muted { "not stored here" } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !model.signers.is_empty() {
                section aria-labelledby="signers-h" {
                    h2 #signers-h { "Signers" }
                    table {
                        thead { tr { th scope="col" { "Key fingerprint (SHA-256 of the SPKI)" } th scope="col" { "Algorithm" } } }
                        tbody {
                            @for s in &model.signers {
                                tr {
                                    td { (copyable(&s.fingerprint)) " " a href={ "/search?keyFingerprint=" (s.fingerprint) } { "entries by this key" } }
                                    td { (s.algorithm) }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(statement) = &model.statement {
                section aria-labelledby="statement-h" {
                    h2 #statement-h { "In-toto statement" }
                    pre.json { (statement) }
                }
            }
            @if let Some(predicate) = &model.predicate {
                section aria-labelledby="predicate-h" {
                    h2 #predicate-h { "Predicate" }
                    pre.json { (predicate) }
                }
            }
            @if let Some(contract) = &model.contract {
                section aria-labelledby="contract-h" {
                    h2 #contract-h { "Contract" }
                    pre.json { (contract) }
                }
            }
            section aria-labelledby="leaf-h" {
                h2 #leaf-h { "Raw leaf" }
                p { "These are the exact bytes logged; the leaf hash is SHA-256 of a zero byte and them." }
                pre.leaf #leaf-bytes { (model.leaf) }
            }
            section aria-labelledby="proof-h" {
                h2 #proof-h { "Inclusion proof" }
                p { "Against the tree of " (count(model.proof_size)) " entries with root " (copyable(&model.proof_root)) "." }
                ol.hashes {
                    @for h in &model.proof_hashes { li { code.digest { (h) } } }
                }
            }
        },
    )
}

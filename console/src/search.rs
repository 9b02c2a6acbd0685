//! Search: the index's keys combined with AND or OR, paged by cursor.

use maud::{html, Markup};

use crate::entries::{table, EntryRow};
use crate::layout::{page, Nav, Session};

/// The search form's fields, as the query string carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchForm {
    /// `alg:hex` digest of a subject, material, payload or envelope.
    pub hash: String,
    /// Signer key fingerprint, hex.
    pub key_fingerprint: String,
    /// Workflow name.
    pub workflow: String,
    /// Project name.
    pub project: String,
    /// `name=value`.
    pub annotation: String,
    /// In-toto predicate type.
    pub predicate_type: String,
    /// Entry kind.
    pub kind: String,
    /// `and` or `or`.
    pub operator: String,
}

impl SearchForm {
    /// The non-empty fields as (query parameter, value).
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("hash", self.hash.as_str()),
            ("keyFingerprint", self.key_fingerprint.as_str()),
            ("workflow", self.workflow.as_str()),
            ("project", self.project.as_str()),
            ("annotation", self.annotation.as_str()),
            ("predicateType", self.predicate_type.as_str()),
            ("kind", self.kind.as_str()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect()
    }

    /// The form as a query string (without cursor), percent-encoded.
    pub fn query_string(&self) -> String {
        let mut parts: Vec<String> = self
            .fields()
            .into_iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v.trim())))
            .collect();
        if self.operator == "or" {
            parts.push("operator=or".into());
        }
        parts.join("&")
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The outcome of a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No criteria given yet.
    Empty,
    /// The query could not run; the message says why.
    Refused(String),
    /// A page of hits.
    Hits {
        /// The entries, oldest first, as the index returns them.
        rows: Vec<EntryRow>,
        /// The cursor of the next page, if there are more.
        next_cursor: Option<String>,
        /// Why the page stopped short (the index's work budget), if it did.
        partial: Option<String>,
    },
}

/// What the search page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPage {
    /// The form as submitted.
    pub form: SearchForm,
    /// Its outcome.
    pub outcome: Outcome,
}

fn field(id: &str, label: &str, value: &str, hint: &str) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(id) type="text" value=(value) spellcheck="false" autocomplete="off" aria-describedby={ (id) "-hint" };
            small id={ (id) "-hint" } { (hint) }
        }
    }
}

/// The search page.
pub fn render(session: &Session, model: &SearchPage) -> Markup {
    let f = &model.form;
    page(
        session,
        "Search",
        Nav::Search,
        &[],
        html! {
            h1 { "Search" }
            form.search method="get" action="/search" role="search" {
                (field("hash", "Digest", &f.hash, "alg:hex of a subject, material, payload or envelope, e.g. sha256:9f86…"))
                (field("keyFingerprint", "Signer key fingerprint", &f.key_fingerprint, "SHA-256 of the key's SPKI, hex"))
                (field("workflow", "Workflow", &f.workflow, "a workflow name"))
                (field("project", "Project", &f.project, "a project name"))
                (field("annotation", "Annotation", &f.annotation, "name=value"))
                (field("predicateType", "Predicate type", &f.predicate_type, "an in-toto predicate type URI"))
                (field("kind", "Kind", &f.kind, "dsse, contract, hashedrekord, ..."))
                fieldset {
                    legend { "Combine the criteria with" }
                    label { input type="radio" name="operator" value="and" checked[f.operator != "or"]; " AND (all of them)" }
                    label { input type="radio" name="operator" value="or" checked[f.operator == "or"]; " OR (any of them)" }
                }
                button type="submit" { "Search" }
            }
            @match &model.outcome {
                Outcome::Empty => { p { "Give at least one criterion." } }
                Outcome::Refused(why) => { p.error role="alert" { (why) } }
                Outcome::Hits { rows, next_cursor, partial } => {
                    h2 { "Results" }
                    @if rows.is_empty() {
                        p { "No entry matches." }
                    } @else {
                        (table(rows))
                    }
                    @if let Some(why) = partial {
                        p.notice { "This page stopped early (" (why) "); the next page goes on from there." }
                    }
                    nav.pager aria-label="Pages" {
                        @if let Some(cursor) = next_cursor {
                            a rel="next" href={ "/search?" (f.query_string()) "&cursor=" (percent_encode(cursor)) } { "Next page" }
                        }
                    }
                    p.pack {
                        a href={ "/api/v1/packs?" (f.query_string()) } download="evidence-pack.zip" { "Download an evidence pack of every match" }
                        " · "
                        a href={ "/packs/summary?" (f.query_string()) } { "printable summary" }
                    }
                }
            }
        },
    )
}

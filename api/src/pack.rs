//! Evidence packs over HTTP: `GET /api/v1/packs` builds a pack (see
//! [`evledger_pack`]) of the entries a workflow or a search selects, and
//! the console's `/packs/summary` shows its printable summary.
//!
//! A pack is bounded work whatever the log holds: at most
//! [`MAX_PACK_ENTRIES`] entries, [`MAX_INDEX_PAGES`] index pages to find
//! them, [`MAX_PACK_BLOB_BYTES`] of blobs, and [`CONCURRENT_PACKS`] packs
//! built at once (`503 overloaded` beyond that).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use evledger_evidence::attestation::{Predicate, PREDICATE_TYPE};
use evledger_indexer::search::{encode_cursor, MAX_PAGE_SIZE};
use evledger_ledger::entry::{Entry, EntryBody};
use evledger_ledger::tlog_proof::TlogProof;
use evledger_pack::{
    EntryInfo, PackBuilder, PackError, Role, Scope, MAX_PACK_BLOB_BYTES, MAX_PACK_ENTRIES,
    SIGNATURE_CONTEXT,
};

use crate::console::{run_search, search_form, search_query};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;
use crate::AppState;

/// Packs built at once; more are refused with `503 overloaded`.
pub(crate) const CONCURRENT_PACKS: usize = 2;
/// Index pages followed to find a pack's entries.
const MAX_INDEX_PAGES: usize = 256;

/// The query parameters a pack takes.
const PARAMETERS: [&str; 12] = [
    "workflow",
    "from",
    "to",
    "blobs",
    "maxBlobBytes",
    "hash",
    "keyFingerprint",
    "predicateType",
    "kind",
    "project",
    "annotation",
    "operator",
];

/// An evidence pack.
///
/// A zip of every entry a workflow (or a search) selects, optionally within
/// a log-index range: each entry's leaf and C2SP tlog-proof against one
/// checkpoint, the contract revisions the attestations name, optionally the
/// CAS blobs they name, a manifest signed by the log key, a README and a
/// printable summary. `evledger verify pack --key <log key> pack.zip`
/// checks it offline. At most 10,000 entries and 64 MiB of blobs.
#[utoipa::path(
    get,
    path = "/api/v1/packs",
    operation_id = "getEvidencePack",
    tag = "evidence",
    params(
        ("workflow" = Option<String>, Query, description = "Entries of this workflow (attestations and contract revisions)"),
        ("from" = Option<u64>, Query, description = "First log index (inclusive)"),
        ("to" = Option<u64>, Query, description = "Last log index (exclusive)"),
        ("blobs" = Option<bool>, Query, description = "Include the CAS blobs the attestations name"),
        ("maxBlobBytes" = Option<u64>, Query, description = "Most blob bytes (default and ceiling 64 MiB)"),
        ("hash" = Option<String>, Query, description = "Search: a digest, `<alg>:<hex>`"),
        ("keyFingerprint" = Option<String>, Query, description = "Search: a signer key fingerprint"),
        ("predicateType" = Option<String>, Query, description = "Search: an in-toto predicate type"),
        ("kind" = Option<String>, Query, description = "Search: an entry kind"),
        ("project" = Option<String>, Query, description = "Search: a project"),
        ("annotation" = Option<String>, Query, description = "Search: an annotation, `name=value`"),
        ("operator" = Option<String>, Query, description = "Search: `and` (default) or `or`"),
    ),
    responses(
        (status = 200, description = "The pack", content_type = "application/zip", body = Vec<u8>),
        (status = 400, description = "`bad_request`: no criterion, an unknown parameter, a malformed value or range", body = ErrorBody),
        (status = 404, description = "`not_found`: no entry matches", body = ErrorBody),
        (status = 422, description = "`pack_too_large`: more entries or blob bytes than a pack holds; narrow the range", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
        (status = 503, description = "`overloaded` (other packs are being built) or `index_unavailable`", body = ErrorBody),
    )
)]
pub(crate) async fn download(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let request = PackRequest::parse(&params)?;
    let _permit = permit(&state)?;
    let builder = collect(&state, &request).await?;
    let signer = state.clone();
    let size = builder.tree_size();
    let zip = crate::blocking(move || {
        builder
            .finish(|manifest| signer.ledger().sign_payload(SIGNATURE_CONTEXT, manifest))
            .map_err(pack_error)
    })
    .await?;
    let name = format!(
        "evledger-pack-{}-{size}.zip",
        request.workflow.as_deref().unwrap_or("search")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        zip,
    )
        .into_response())
}

/// The printable summary of the pack the same parameters would give.
pub(crate) async fn summary(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let session = crate::console::session(&state, &headers);
    let built = async {
        let request = PackRequest::parse(&params)?;
        let _permit = permit(&state)?;
        collect(&state, &request).await
    };
    match built.await {
        Ok(builder) => {
            let html = evledger_pack::summary_html_with_checkpoint(
                &builder.manifest(),
                builder.checkpoint_note(),
            );
            let mut response =
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
            crate::console::secure(response.headers_mut());
            // The summary is one self-contained file with its own inline
            // print styles (it is also a file of the pack); no script runs.
            response.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                ),
            );
            response
        }
        Err(error) => {
            let title = if error.status.is_client_error() {
                "No pack"
            } else {
                "Server error"
            };
            let mut response = (
                error.status,
                evledger_console::error_page(
                    &session,
                    evledger_console::Nav::Workflows,
                    title,
                    &error.message,
                ),
            )
                .into_response();
            crate::console::secure(response.headers_mut());
            response
        }
    }
}

fn permit(state: &AppState) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
    state.inner.packs.try_acquire().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!("{CONCURRENT_PACKS} packs are being built; try again shortly"),
        )
    })
}

/// What a pack request asks for.
struct PackRequest {
    form: evledger_console::search::SearchForm,
    workflow: Option<String>,
    from: u64,
    to: Option<u64>,
    blobs: bool,
    max_blob_bytes: u64,
}

impl PackRequest {
    fn parse(params: &HashMap<String, String>) -> Result<Self, ApiError> {
        if let Some(unknown) = params.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!(
                "unknown parameter {unknown:?} (one of {})",
                PARAMETERS.join(", ")
            )));
        }
        let number = |name: &str| -> Result<Option<u64>, ApiError> {
            match params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                Some(v) => v.parse().map(Some).map_err(|_| {
                    ApiError::bad_request(format!(
                        "{name} must be a non-negative integer, not {v:?}"
                    ))
                }),
                None => Ok(None),
            }
        };
        let from = number("from")?.unwrap_or(0);
        let to = number("to")?;
        if to.is_some_and(|to| to <= from) {
            return Err(ApiError::bad_request(format!(
                "to must be above from ({from})"
            )));
        }
        let blobs = match params.get("blobs").map(String::as_str) {
            None | Some("" | "false" | "0") => false,
            Some("true" | "1" | "on") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "blobs must be true or false, not {other:?}"
                )))
            }
        };
        let max_blob_bytes = number("maxBlobBytes")?
            .unwrap_or(MAX_PACK_BLOB_BYTES)
            .min(MAX_PACK_BLOB_BYTES);
        let form = search_form(params);
        if form.fields().is_empty() {
            return Err(ApiError::bad_request(
                "a pack needs a workflow or a search criterion",
            ));
        }
        let workflow = Some(form.workflow.trim().to_string()).filter(|w| !w.is_empty());
        Ok(Self {
            form,
            workflow,
            from,
            to,
            blobs,
            max_blob_bytes,
        })
    }

    fn scope(&self) -> Scope {
        let mut query = serde_json::Map::new();
        for (name, value) in self.form.fields() {
            if name != "workflow" {
                query.insert(name.to_string(), value.trim().into());
            }
        }
        if self.form.operator == "or" {
            query.insert("operator".into(), "or".into());
        }
        Scope {
            workflow: self.workflow.clone(),
            from_index: (self.from > 0).then_some(self.from),
            to_index: self.to,
            query: (!query.is_empty()).then_some(query),
        }
    }
}

fn pack_error(e: PackError) -> ApiError {
    match e {
        PackError::TooManyEntries { .. }
        | PackError::TooManyBlobs { .. }
        | PackError::BlobBytes { .. }
        | PackError::TooLarge { .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "pack_too_large",
            format!("{e}; narrow the range or leave the blobs out"),
        ),
        other => ApiError::internal(format!("the pack does not verify: {other}")),
    }
}

fn too_many() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "pack_too_large",
        format!("more than {MAX_PACK_ENTRIES} entries match; narrow the range (from, to)"),
    )
}

/// The log indexes the request selects, ascending.
async fn select(state: &AppState, request: &PackRequest) -> Result<Vec<u64>, ApiError> {
    let size = state.ledger().checkpoint().size;
    let end = request.to.unwrap_or(size).min(size);
    let mut cursor = request.from.checked_sub(1).map(encode_cursor);
    let mut hits = Vec::new();
    for _ in 0..MAX_INDEX_PAGES {
        let query = search_query(&request.form, cursor.take(), MAX_PAGE_SIZE);
        let page = run_search(state, query).await?;
        for hit in page.hits {
            if hit >= end {
                return Ok(hits);
            }
            if hits.len() >= MAX_PACK_ENTRIES {
                return Err(too_many());
            }
            hits.push(hit);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(hits),
        }
    }
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "pack_too_large",
        "the search examines too much of the index for one pack; narrow the range or the criteria",
    ))
}

/// Builds the pack's contents (not yet signed).
async fn collect(state: &AppState, request: &PackRequest) -> Result<PackBuilder, ApiError> {
    let hits = select(state, request).await?;
    if hits.is_empty() {
        return Err(ApiError::not_found(
            "no entry matches; the pack would be empty",
        ));
    }
    let reader = state.clone();
    let scope = request.scope();
    let (blobs, max_blob_bytes) = (request.blobs, request.max_blob_bytes);
    crate::blocking(move || {
        let ledger = reader.ledger();
        let checkpoint = ledger.checkpoint();
        let created_at =
            humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let mut builder =
            PackBuilder::new(&checkpoint.note, ledger.verifier_key(), scope, created_at)
                .map_err(pack_error)?
                .with_blob_limit(max_blob_bytes);
        // Contract revisions the attestations name, and the blobs.
        let mut in_force: BTreeSet<(String, u64)> = BTreeSet::new();
        let mut wanted_blobs: BTreeSet<String> = BTreeSet::new();
        let add = |builder: &mut PackBuilder,
                   index: u64,
                   role: Option<Role>|
         -> Result<Option<Entry>, ApiError> {
            let (leaf, proof) = ledger.proven_entry(index, checkpoint.size)?;
            let entry = Entry::parse_logged(&leaf).ok();
            let info = entry_info(index, entry.as_ref(), role);
            let proof = TlogProof {
                extra: Some(leaf.clone()),
                index,
                hashes: proof.hashes,
                checkpoint: checkpoint.note.clone(),
            };
            builder.add_entry(info, &leaf, &proof).map_err(pack_error)?;
            Ok(entry)
        };
        for &index in &hits {
            let entry = add(&mut builder, index, None)?;
            if let Some(predicate) = entry.as_ref().and_then(evledger_predicate) {
                in_force.insert((predicate.workflow.name.clone(), predicate.contract_revision));
                for material in &predicate.materials {
                    if let Some(digest) = material.digest.get("sha256") {
                        wanted_blobs.insert(digest.clone());
                    }
                }
            }
        }
        for (workflow, revision) in in_force {
            let Ok(revision) = reader.evidence().revision(&workflow, Some(revision)) else {
                continue;
            };
            if revision.log_index < checkpoint.size && !builder.has_entry(revision.log_index) {
                add(&mut builder, revision.log_index, Some(Role::Contract))?;
            }
        }
        if blobs {
            let cas = reader.evidence().cas();
            for digest in wanted_blobs {
                if !evledger_evidence::cas::is_sha256_hex(&digest) {
                    continue;
                }
                if let Some(bytes) = cas.get(&digest)? {
                    builder.add_blob(&digest, &bytes).map_err(pack_error)?;
                }
            }
        }
        Ok(builder)
    })
    .await
}

fn evledger_predicate(entry: &Entry) -> Option<Predicate> {
    match &entry.body {
        EntryBody::Dsse(dsse) => dsse
            .statement
            .as_ref()
            .and_then(|s| Predicate::of(s).ok().flatten()),
        _ => None,
    }
}

/// The manifest facts of an entry, from its bytes.
fn entry_info(index: u64, entry: Option<&Entry>, role: Option<Role>) -> EntryInfo {
    let mut info = EntryInfo {
        log_index: index,
        role: role.unwrap_or(Role::Entry),
        kind: entry.map_or_else(|| "unreadable".into(), |e| e.kind.clone()),
        workflow: None,
        subjects: Vec::new(),
        predicate_type: None,
    };
    let Some(entry) = entry else {
        return info;
    };
    let statement = match &entry.body {
        EntryBody::Dsse(dsse) => dsse.statement.as_ref(),
        EntryBody::Rekor(rekor) => rekor.statement.as_ref(),
        EntryBody::Contract(contract) => {
            info.role = Role::Contract;
            info.workflow = Some(contract.workflow.clone());
            None
        }
    };
    if let Some(statement) = statement {
        info.predicate_type = Some(statement.predicate_type.clone());
        if statement.predicate_type == PREDICATE_TYPE {
            info.role = role.unwrap_or(Role::Attestation);
        }
        if let Some(predicate) = &statement.predicate {
            info.workflow = predicate["workflow"]["name"].as_str().map(str::to_string);
        }
        let digests = |d: &BTreeMap<String, String>| {
            d.iter()
                .map(|(alg, hex)| format!("{alg}:{hex}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        for subject in &statement.subject {
            info.subjects.push(format!(
                "{}@{}",
                subject.name.as_deref().unwrap_or(""),
                digests(&subject.digest)
            ));
        }
    }
    info
}

//! Rekor v2's write API (`POST /api/v2/log/entries`), so Sigstore clients
//! log to this ledger, and the Sigstore material that verifies what it
//! hands out: bundles v0.3 of its Rekor v2 entries and the trusted root.
//!
//! A write is checked as rekor-tiles checks it ([`Entry::from_rekor_request`]:
//! every signature verified, the digest's length the key's hash), then
//! admitted as any entry (a robot's token appends only its workflow's
//! attestations; an evledger attestation must meet its contract) and
//! appended. Statuses are rekor-tiles' (`201`, `400`, `409` with
//! `x-log-index` and its message); bodies are evledger's one error form,
//! `{"code", "message"}`, since Sigstore clients read only the message.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use evledger_ledger::entry::{Entry, EntryBody};
use evledger_sigstore::tlog_entry::TransparencyLogEntry;
use evledger_sigstore::LogKey;

use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;
use crate::AppState;

/// The path of Rekor v2's write API.
pub(crate) const ENTRIES_PATH: &str = "/api/v2/log/entries";

/// The log's checkpoint key as Sigstore names it.
fn log_key(state: &AppState) -> Result<&LogKey, ApiError> {
    state
        .inner
        .sigstore_key
        .as_ref()
        .ok_or_else(|| ApiError::internal("the log key is not an Ed25519 note key"))
}

/// Log an entry, as Rekor v2's CreateEntry.
///
/// A `hashedRekordRequestV002` (a signature over an artifact's digest) or
/// a `dsseRequestV002` (a DSSE envelope and its verifiers), protobuf JSON.
/// Every signature is verified before anything is logged; the leaf is
/// Rekor v2's canonicalized body. Needs a token unless the server was
/// started with `--rekor-open-writes` (then rate-limited per client).
#[utoipa::path(
    post,
    path = "/api/v2/log/entries",
    operation_id = "createRekorEntry",
    tag = "sigstore",
    request_body(content = Object, content_type = "application/json",
        description = "`CreateEntryRequest`: `{\"hashedRekordRequestV002\": {digest, signature: {content, verifier}}}` or `{\"dsseRequestV002\": {envelope, verifiers}}`"),
    responses(
        (status = 201, description = "Logged and durable: a `TransparencyLogEntry` (int64 as strings, bytes base64)", body = Object),
        (status = 400, description = "Refused, nothing logged: `malformed_entry` (not the JSON of a request, bytes not base64), `bad_verifier` (an unsupported or mislabelled key), \
            `signature_invalid`, `verifier_mismatch`, `repeated_signature`, `bad_statement`, `invalid_entry` (e.g. a digest of the wrong length), `bad_predicate`", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no valid token, and writes are not open", body = ErrorBody),
        (status = 403, description = "`forbidden`: a robot account writing anything but its workflow's attestations", body = ErrorBody),
        (status = 404, description = "`not_found`: an evledger attestation naming an unknown workflow", body = ErrorBody),
        (status = 409, description = "`duplicate_entry`: already in the log; `x-log-index` names where", body = ErrorBody,
            headers(("x-log-index" = String, description = "The existing entry's log index"))),
        (status = 413, description = "`body_too_large` (over 256 KiB) or `entry_too_large` (canonical body over 65,535 bytes)", body = ErrorBody),
        (status = 422, description = "`contract_unmet` or `contract_outdated`: an evledger attestation that does not meet its contract", body = ErrorBody),
        (status = 429, description = "`rate_limited`: a client without a token over its allowance (`Retry-After`)", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
        (status = 503, description = "`overloaded` (retry), `shutting_down`, `log_restored` or `sequencer_failed`", body = ErrorBody),
    )
)]
pub(crate) async fn create_entry(
    State(state): State<AppState>,
    caller: crate::auth::Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(crate::error::body_error)?;
    // Always on the blocking pool: a DSSE request may pair 10 signatures
    // with 10 RSA-4096 verifiers, and an open write has no token to vouch
    // for it, so its check never holds up an async worker.
    let entry = crate::blocking(move || Ok(Entry::from_rekor_request(&body)?)).await?;
    // The envelope is kept before the entry is appended: no DSSE entry is
    // in the log without it.
    if let EntryBody::Rekor(rekor) = &entry.body {
        if let Some(envelope) = rekor.envelope.clone() {
            let evidence = state.evidence().clone();
            let hash = evledger_ledger::leaf_hash(&entry.leaf);
            crate::blocking(move || Ok(evidence.store().put_envelope(&hash, &envelope)?)).await?;
        }
    }
    let kind = entry.kind.clone();
    let appended = state.evidence().admit(&caller.pusher(), entry).await?;
    if appended.duplicate {
        let index = appended.log_index;
        let mut response = ApiError::new(
            StatusCode::CONFLICT,
            "duplicate_entry",
            format!(
                "an equivalent entry already exists in the transparency log with index {index}"
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert("x-log-index", HeaderValue::from(index));
        return Ok(response);
    }
    // As for evledger's own entries: the proof comes from the batch's
    // tiles in memory, checked against the batch's root.
    let proof = appended.inclusion_proof()?;
    let tlog = TransparencyLogEntry::new(
        log_key(&state)?,
        &kind,
        &appended.leaf,
        appended.log_index,
        &proof,
        &appended.checkpoint.note,
    );
    Ok((
        StatusCode::CREATED,
        [crate::log::location(appended.log_index)],
        Json(tlog),
    )
        .into_response())
}

/// The URL clients reach this server at: `url` if given, else from the
/// request's `Host` (plain HTTP unless `X-Forwarded-Proto` says otherwise).
fn public_url(params: &HashMap<String, String>, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(url) = params.get("url") {
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
            return Err(ApiError::bad_request(
                "url must be an http:// or https:// URL",
            ));
        }
        return Ok(url.clone());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.len() <= 255 && !h.contains(['/', ' ']))
        .ok_or_else(|| ApiError::bad_request("no Host header: give url"))?;
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    Ok(format!("{scheme}://{host}"))
}

/// The Sigstore trusted root of this log.
///
/// A `trusted_root.json` whose one transparency log is this one (key,
/// key ID, a `baseUrl` containing the key name), or with
/// `format=client-trust-config` a client trust config whose signing config
/// sends Rekor v2 writes here. Pin the key it names out of band: this
/// answer is only as trustworthy as the connection it came over.
#[utoipa::path(
    get,
    path = "/api/v1/sigstore/trusted-root",
    operation_id = "getSigstoreTrustedRoot",
    tag = "sigstore",
    params(
        ("url" = Option<String>, Query, description = "The URL clients reach this log at (default: from the Host header)"),
        ("format" = Option<String>, Query, description = "`trusted-root` (default) or `client-trust-config`"),
    ),
    responses(
        (status = 200, description = "The trust material", body = Object),
        (status = 400, description = "`bad_request`: a url that is not http(s), no Host, or an unknown format", body = ErrorBody),
    )
)]
pub(crate) async fn trusted_root(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let url = public_url(&params, &headers)?;
    let key = log_key(&state)?;
    let document = match params.get("format").map(String::as_str) {
        None | Some("trusted-root") => evledger_sigstore::trust::trusted_root(key, &url),
        Some("client-trust-config") => evledger_sigstore::trust::client_trust_config(key, &url),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown format {other:?} (trusted-root or client-trust-config)"
            )))
        }
    }
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(document).into_response())
}

/// The Sigstore bundle v0.3 of the Rekor v2 entry at `index`, proven by
/// `proof` in the tree of `checkpoint`.
pub(crate) fn bundle(
    state: &AppState,
    leaf: &[u8],
    index: u64,
    proof: &evledger_ledger::InclusionProof,
    checkpoint: &evledger_ledger::SignedCheckpoint,
) -> Result<Vec<u8>, ApiError> {
    let rekor = match Entry::parse_logged(leaf) {
        Ok(Entry {
            body: EntryBody::Rekor(rekor),
            ..
        }) => rekor,
        _ => {
            return Err(ApiError::bad_request(format!(
                "entry {index} was not logged through the Rekor v2 API: it has no Sigstore bundle"
            ))
            .with_code("no_sigstore_bundle"))
        }
    };
    let envelope = if rekor.logged.spec.dsse.is_some() {
        state
            .evidence()
            .store()
            .envelope(&evledger_ledger::leaf_hash(leaf))?
    } else {
        None
    };
    let tlog = TransparencyLogEntry::new(
        log_key(state)?,
        &rekor.logged.kind,
        leaf,
        index,
        proof,
        &checkpoint.note,
    );
    let bundle = evledger_sigstore::bundle::Bundle::new(&rekor, tlog, envelope)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    serde_json::to_vec(&bundle).map_err(|e| ApiError::internal(e.to_string()))
}

//! REST endpoints of the log under `/api/v1/log`: submit, read entries with
//! inclusion proofs, log info, inclusion and consistency proofs.
//!
//! Every proof is checked against the root of the checkpoint it is returned
//! with before it leaves the server.
//!
//! RocksDB reads, proof serving and the check of a large submission run on
//! the blocking pool ([`crate::blocking`]); a small submission (up to
//! [`INLINE_CHECK_MAX_BODY`]) is checked, and its answer's proof built from
//! memory, on the async worker that read it.
//!
//! The answers are the types below; their members are declared in the
//! order the API has always sent them.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use evledger_ledger::entry::Entry;
use evledger_ledger::tlog_proof::TlogProof;
use evledger_ledger::{InclusionProof, SignedCheckpoint};
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Path, Query};
use crate::openapi::Submission;
use crate::AppState;

/// An entry with its inclusion proof against the checkpoint in the same
/// answer. A duplicate submission (`409`) also carries `code` and
/// `message`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Entry)]
pub(crate) struct EntryJson {
    /// `duplicate_entry` on a `409`.
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    /// Where the duplicate already is, on a `409`.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// Position of the entry in the log.
    log_index: u64,
    /// RFC 6962 leaf hash of the entry's bytes, hex.
    leaf_hash: String,
    /// The leaf: the entry's canonical JSON (RFC 8785), embedded verbatim,
    /// so hashing these bytes gives `leafHash`.
    #[schema(value_type = Object)]
    entry: Box<RawValue>,
    /// The signed checkpoint (C2SP tlog-checkpoint note) the proof is
    /// against.
    checkpoint: String,
    /// The audit path of the entry in the checkpoint's tree.
    inclusion_proof: InclusionProofJson,
}

/// An inclusion proof: the audit path of a leaf in a tree, hashes hex.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = InclusionProof)]
pub(crate) struct InclusionProofJson {
    /// Index of the leaf.
    log_index: u64,
    /// Size of the tree.
    tree_size: u64,
    /// Root of that tree, hex.
    root_hash: String,
    /// The audit path, leaf to root, hex.
    hashes: Vec<String>,
}

impl From<&InclusionProof> for InclusionProofJson {
    fn from(p: &InclusionProof) -> Self {
        Self {
            log_index: p.log_index,
            tree_size: p.tree_size,
            root_hash: hex::encode(p.root),
            hashes: p.hashes.iter().map(hex::encode).collect(),
        }
    }
}

/// An inclusion proof on its own, with the checkpoint signed at exactly
/// its tree size when there is one.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InclusionProofAnswer {
    /// The checkpoint signed for exactly `treeSize`, if a batch ended there.
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint: Option<String>,
    /// The audit path, leaf to root, hex.
    hashes: Vec<String>,
    /// Index of the leaf.
    log_index: u64,
    /// Root of the tree, hex.
    root_hash: String,
    /// Size of the tree.
    tree_size: u64,
}

impl InclusionProofAnswer {
    /// `proof`, with `checkpoint` if one was signed at its size.
    pub(crate) fn new(proof: &InclusionProof, checkpoint: Option<String>) -> Self {
        let InclusionProofJson {
            log_index,
            tree_size,
            root_hash,
            hashes,
        } = proof.into();
        Self {
            checkpoint,
            hashes,
            log_index,
            root_hash,
            tree_size,
        }
    }
}

/// A consistency proof between two tree sizes (RFC 9162), hashes hex.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConsistencyProofAnswer {
    /// The checkpoint signed for exactly `lastSize`, if a batch ended there.
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint: Option<String>,
    /// Root of the tree of `firstSize` leaves, hex.
    first_root_hash: String,
    /// Size of the older tree.
    first_size: u64,
    /// The proof, hex.
    hashes: Vec<String>,
    /// Size of the newer tree.
    last_size: u64,
    /// Root of the tree of `lastSize` leaves, hex.
    root_hash: String,
}

/// The log's identity and latest state.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogInfo {
    /// The latest signed checkpoint.
    checkpoint: String,
    /// The log's origin line.
    origin: String,
    /// Root of the latest tree, hex.
    root_hash: String,
    /// Entries in the log.
    tree_size: u64,
    /// The note verifier key of the log (`<origin>+<hash>+<key>`).
    verifier_key: String,
}

/// How an entry is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "kebab-case")]
pub(crate) enum EntryFormat {
    /// The `Entry` JSON (the default).
    Json,
    /// A C2SP tlog-proof (`text/plain`) whose `extra` line is the entry.
    TlogProof,
    /// A Sigstore bundle v0.3, for an entry logged through the Rekor v2 API.
    SigstoreBundle,
}

impl EntryFormat {
    /// The `format` query parameter, default [`EntryFormat::Json`].
    fn of(params: &HashMap<String, String>) -> Result<Self, ApiError> {
        match params.get("format").map(String::as_str) {
            None | Some("json") => Ok(Self::Json),
            Some("tlog-proof") => Ok(Self::TlogProof),
            Some("sigstore-bundle") => Ok(Self::SigstoreBundle),
            Some(other) => Err(ApiError::bad_request(format!(
                "unknown format {other:?} (json, tlog-proof or sigstore-bundle)"
            ))),
        }
    }
}

/// Loads entry `index` and proves it against `checkpoint`.
fn proven_entry(
    state: &AppState,
    index: u64,
    checkpoint: &SignedCheckpoint,
) -> Result<(Vec<u8>, InclusionProof), ApiError> {
    if index >= checkpoint.size {
        return Err(ApiError::not_found(format!(
            "no entry at log index {index}"
        )));
    }
    // The ledger checks the path from the stored leaf to the root of the
    // tree of the checkpoint's size; check that root is the one it signs.
    let (leaf, proof) = state.ledger().proven_entry(index, checkpoint.size)?;
    if proof.root != checkpoint.root {
        return Err(ApiError::internal(
            "proof root differs from the checkpoint root",
        ));
    }
    Ok((leaf, proof))
}

fn entry_json(
    leaf: Vec<u8>,
    proof: &InclusionProof,
    checkpoint: &SignedCheckpoint,
) -> Result<EntryJson, ApiError> {
    let leaf_hash = hex::encode(evledger_ledger::leaf_hash(&leaf));
    let text =
        String::from_utf8(leaf).map_err(|_| ApiError::internal("stored leaf is not UTF-8 JSON"))?;
    let entry =
        RawValue::from_string(text).map_err(|_| ApiError::internal("stored leaf is not JSON"))?;
    Ok(EntryJson {
        code: None,
        message: None,
        log_index: proof.log_index,
        leaf_hash,
        entry,
        checkpoint: checkpoint.note.clone(),
        inclusion_proof: proof.into(),
    })
}

/// Largest submission checked on the async worker that read it (see
/// [`submit`]). At most 16 signatures fit, so at most about a millisecond
/// of one worker, and only for a caller with a token: anonymous writes are
/// refused before their body is read.
const INLINE_CHECK_MAX_BODY: usize = 16 * 1024;

pub(crate) fn location(index: u64) -> (header::HeaderName, String) {
    (header::LOCATION, format!("/api/v1/log/entries/{index}"))
}

/// Submit an entry.
///
/// Checked before anything is appended (signatures, verifiers, in-toto
/// statement), the contract enforced for evledger attestations, answered
/// once durable, with the entry's inclusion proof. A robot account's token
/// appends only evledger attestations for its workflow.
#[utoipa::path(
    post,
    path = "/api/v1/log/entries",
    operation_id = "submitEntry",
    tag = "log",
    request_body(content = Submission, content_type = "application/json"),
    responses(
        (status = 201, description = "Appended and durable", body = EntryJson,
            headers(("Location" = String, description = "`/api/v1/log/entries/<logIndex>`"))),
        (status = 409, description = "`duplicate_entry`: already in the log; the existing entry and its proof", body = EntryJson,
            headers(("Location" = String, description = "`/api/v1/log/entries/<logIndex>`"))),
        (status = 400, description = "Refused: `malformed_entry`, `unknown_kind`, `bad_base64`, `bad_verifier`, \
            `signature_invalid`, `verifier_mismatch`, `repeated_signature`, `bad_statement`, `invalid_entry`, `bad_predicate`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a robot account pushing anything but its workflow's attestations", body = ErrorBody),
        (status = 404, description = "`not_found`: the attestation names an unknown workflow", body = ErrorBody),
        (status = 413, description = "`body_too_large` (over 256 KiB) or `entry_too_large` (canonical entry over 65,535 bytes)", body = ErrorBody),
        (status = 422, description = "`contract_unmet` (with `unmet`) or `contract_outdated`: nothing appended", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
        (status = 503, description = "`overloaded` (retry), `shutting_down`, `log_restored` or `sequencer_failed`", body = ErrorBody),
    )
)]
pub(crate) async fn submit(
    State(state): State<AppState>,
    caller: crate::auth::Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(crate::error::body_error)?;
    // A small body (one CI attestation) is checked where it was read: the
    // check is tens of microseconds of CPU, less than two hops to the
    // blocking pool and back cost. A large one goes to the pool.
    let entry = if body.len() <= INLINE_CHECK_MAX_BODY {
        Entry::from_submission(&body)?
    } else {
        crate::blocking(move || Ok(Entry::from_submission(&body)?)).await?
    };
    // Who may append what, the contract check, and the push gate.
    let appended = state.evidence().admit(&caller.pusher(), entry).await?;
    // The proof comes from the tiles the batch left in memory and the
    // nodes of full tiles kept in memory (the partial tiles behind the
    // edge were written by the batch just committed: RocksDB's memtable),
    // checked against the batch's root.
    let proof = appended.inclusion_proof()?;
    let (log_index, duplicate, checkpoint) =
        (appended.log_index, appended.duplicate, appended.checkpoint);
    let mut json = entry_json(appended.leaf, &proof, &checkpoint)?;
    let status = if duplicate {
        json.code = Some("duplicate_entry");
        json.message = Some(format!(
            "the entry is already in the log at index {log_index}"
        ));
        StatusCode::CONFLICT
    } else {
        StatusCode::CREATED
    };
    Ok((status, [location(log_index)], Json(json)).into_response())
}

fn parse_u64(params: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("{name} must be a non-negative integer"))
            })
        })
        .transpose()
}

fn required_u64(params: &HashMap<String, String>, name: &str) -> Result<u64, ApiError> {
    parse_u64(params, name)?.ok_or_else(|| ApiError::bad_request(format!("{name} is required")))
}

/// Answers with an entry and its proof, as JSON or, with
/// `format=tlog-proof`, as a C2SP tlog-proof. The proof is against the
/// checkpoint `/checkpoint` serves (witnessed, when witnesses are
/// configured) if it covers the entry, else against the latest.
fn entry_answer(
    state: &AppState,
    index: u64,
    params: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let format = EntryFormat::of(params)?;
    let served = state.served_checkpoint();
    let checkpoint = if index < served.size {
        served
    } else {
        state.ledger().checkpoint()
    };
    let (leaf, proof) = proven_entry(state, index, &checkpoint)?;
    match format {
        EntryFormat::Json => Ok(Json(entry_json(leaf, &proof, &checkpoint)?).into_response()),
        EntryFormat::TlogProof => {
            let bundle = TlogProof {
                extra: Some(leaf),
                index,
                hashes: proof.hashes,
                checkpoint: checkpoint.note.clone(),
            };
            Ok((
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                bundle.to_text(),
            )
                .into_response())
        }
        EntryFormat::SigstoreBundle => Ok((
            [(header::CONTENT_TYPE, evledger_sigstore::bundle::MEDIA_TYPE)],
            crate::rekor::bundle(state, &leaf, index, &proof, &checkpoint)?,
        )
            .into_response()),
    }
}

/// An entry by log index, with its inclusion proof.
///
/// The proof is against the checkpoint `/checkpoint` serves when it covers
/// the entry, else against the latest.
#[utoipa::path(
    get,
    path = "/api/v1/log/entries/{log_index}",
    operation_id = "getEntryByIndex",
    tag = "log",
    params(
        ("log_index" = u64, Path, description = "Position in the log", example = 0),
        ("format" = inline(Option<EntryFormat>), Query, description = "`json` (default), `tlog-proof` or `sigstore-bundle` (entries logged through the Rekor v2 API)"),
    ),
    responses(
        (status = 200, description = "The entry and its proof", content(
            (EntryJson = "application/json"),
            (String = "text/plain", example = "c2sp.org/tlog-proof@v1\nextra ...\nindex 0\n\n<checkpoint>"),
            (Object = "application/vnd.dev.sigstore.bundle.v0.3+json"),
        )),
        (status = 400, description = "`bad_request`: a log index that is not a number, or an unknown format; `no_sigstore_bundle`: a Sigstore bundle asked of an entry not logged through the Rekor v2 API", body = ErrorBody),
        (status = 404, description = "`not_found`: beyond the tree", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
pub(crate) async fn entry_by_index(
    State(state): State<AppState>,
    Path(log_index): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let index: u64 = log_index
        .parse()
        .map_err(|_| ApiError::bad_request("logIndex must be a non-negative integer"))?;
    crate::blocking(move || entry_answer(&state, index, &params)).await
}

/// An entry by leaf hash, with its inclusion proof.
///
/// Answered as by its log index.
#[utoipa::path(
    get,
    path = "/api/v1/log/entries",
    operation_id = "getEntryByLeafHash",
    tag = "log",
    params(
        ("leafHash" = String, Query, description = "RFC 6962 leaf hash, hex", pattern = "^[0-9a-fA-F]{64}$"),
        ("format" = inline(Option<EntryFormat>), Query, description = "`json` (default) or `tlog-proof`"),
    ),
    responses(
        (status = 200, description = "The entry and its proof", content(
            (EntryJson = "application/json"),
            (String = "text/plain", example = "c2sp.org/tlog-proof@v1\nextra ...\nindex 0\n\n<checkpoint>"),
        )),
        (status = 400, description = "`bad_request`: no leafHash, one that is not 64 hex characters, or an unknown format", body = ErrorBody),
        (status = 404, description = "`not_found`: no entry with that leaf hash", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
pub(crate) async fn entry_by_leaf_hash(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let hex_hash = params
        .get("leafHash")
        .ok_or_else(|| ApiError::bad_request("leafHash is required"))?;
    let hash: [u8; 32] = hex::decode(hex_hash)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::bad_request("leafHash must be 64 hex characters"))?;
    let hex_hash = hex_hash.clone();
    crate::blocking(move || {
        let index = state
            .ledger()
            .index_of(&hash)?
            .ok_or_else(|| ApiError::not_found(format!("no entry with leaf hash {hex_hash}")))?;
        entry_answer(&state, index, &params)
    })
    .await
}

/// The log: origin, latest size, root and checkpoint, verifier key.
#[utoipa::path(
    get,
    path = "/api/v1/log",
    operation_id = "getLogInfo",
    tag = "log",
    responses((status = 200, description = "The log", body = LogInfo))
)]
pub(crate) async fn log_info(State(state): State<AppState>) -> impl IntoResponse {
    let ledger = state.ledger();
    let checkpoint = ledger.checkpoint();
    Json(LogInfo {
        checkpoint: checkpoint.note.clone(),
        origin: ledger.origin().to_string(),
        root_hash: hex::encode(checkpoint.root),
        tree_size: checkpoint.size,
        verifier_key: ledger.verifier_key().to_string(),
    })
}

/// `400 out_of_range` for a tree size (`name`) beyond the log's `latest`.
fn beyond_the_tree(name: &str, size: u64, latest: u64) -> Result<(), ApiError> {
    if size > latest {
        return Err(ApiError::bad_request(format!(
            "{name} {size} is beyond the tree (size {latest})"
        ))
        .with_code("out_of_range"));
    }
    Ok(())
}

/// The checkpoint signed for exactly `size`, if any batch ended there
/// (with its cosignatures if it is the one `/checkpoint` serves).
fn checkpoint_for(state: &AppState, size: u64) -> Result<Option<String>, ApiError> {
    let served = state.served_checkpoint();
    if served.size == size {
        return Ok(Some(served.note.clone()));
    }
    let latest = state.ledger().checkpoint();
    if latest.size == size {
        return Ok(Some(latest.note.clone()));
    }
    Ok(state.ledger().checkpoint_at(size)?)
}

/// The checkpoint the log signed at a tree size.
///
/// Every batch ends with a signed checkpoint; this is the one for exactly
/// `size` entries (with its cosignatures when it is the one `/checkpoint`
/// serves). A monitor or an auditor that saved an older checkpoint, or a
/// browser checking two sizes, gets both ends of a consistency proof here.
#[utoipa::path(
    get,
    path = "/api/v1/log/checkpoints/{size}",
    operation_id = "getCheckpointAtSize",
    tag = "log",
    params(("size" = u64, Path, description = "The tree size", example = 3)),
    responses(
        (status = 200, description = "The signed checkpoint note", content_type = "text/plain", body = String),
        (status = 400, description = "`bad_request` (not a number) or `out_of_range` (beyond the tree)", body = ErrorBody),
        (status = 404, description = "`not_found`: no batch ended at this size, so no checkpoint was signed for it", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
pub(crate) async fn checkpoint_at_size(
    State(state): State<AppState>,
    Path(size): Path<String>,
) -> Result<Response, ApiError> {
    let size: u64 = size
        .parse()
        .map_err(|_| ApiError::bad_request(format!("size must be a tree size, not {size:?}")))?;
    beyond_the_tree("size", size, state.ledger().checkpoint().size)?;
    let note = crate::blocking(move || checkpoint_for(&state, size)).await?;
    let note = note.ok_or_else(|| {
        ApiError::not_found(format!("the log signed no checkpoint at tree size {size}"))
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        note,
    )
        .into_response())
}

/// An inclusion proof.
///
/// The audit path of an entry in the tree of `treeSize` leaves (default:
/// the latest).
#[utoipa::path(
    get,
    path = "/api/v1/log/proof/inclusion",
    operation_id = "getInclusionProof",
    tag = "log",
    params(
        ("logIndex" = u64, Query, description = "The entry"),
        ("treeSize" = Option<u64>, Query, description = "The tree (default: the latest)"),
    ),
    responses(
        (status = 200, description = "The proof", body = InclusionProofAnswer),
        (status = 400, description = "`bad_request` (a missing or non-numeric parameter) or `out_of_range` (logIndex ≥ treeSize, or treeSize beyond the tree)", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
pub(crate) async fn inclusion_proof(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<InclusionProofAnswer>, ApiError> {
    let index = required_u64(&params, "logIndex")?;
    let latest = state.ledger().checkpoint();
    let size = parse_u64(&params, "treeSize")?.unwrap_or(latest.size);
    // Refused before the ledger looks for the leaf, which a tree larger
    // than the log's does not have.
    beyond_the_tree("treeSize", size, latest.size)?;
    crate::blocking(move || {
        let proof = state.ledger().inclusion_proof(index, size)?;
        let checkpoint = checkpoint_for(&state, size)?;
        Ok(Json(InclusionProofAnswer::new(&proof, checkpoint)))
    })
    .await
}

/// A consistency proof.
///
/// RFC 9162, from `firstSize` to `lastSize` leaves (default: the latest);
/// `firstSize=0` gives the empty proof.
#[utoipa::path(
    get,
    path = "/api/v1/log/proof/consistency",
    operation_id = "getConsistencyProof",
    tag = "log",
    params(
        ("firstSize" = u64, Query, description = "The older tree"),
        ("lastSize" = Option<u64>, Query, description = "The newer tree (default: the latest)"),
    ),
    responses(
        (status = 200, description = "The proof", body = ConsistencyProofAnswer),
        (status = 400, description = "`bad_request` (a missing or non-numeric parameter) or `out_of_range` (firstSize > lastSize, or lastSize beyond the tree)", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
pub(crate) async fn consistency_proof(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<ConsistencyProofAnswer>, ApiError> {
    let first = required_u64(&params, "firstSize")?;
    let latest = state.ledger().checkpoint();
    let last = parse_u64(&params, "lastSize")?.unwrap_or(latest.size);
    beyond_the_tree("lastSize", last, latest.size)?;
    crate::blocking(move || {
        let proof = state.ledger().consistency_proof(first, last)?;
        Ok(Json(ConsistencyProofAnswer {
            checkpoint: checkpoint_for(&state, last)?,
            first_root_hash: hex::encode(proof.first_root),
            first_size: proof.first_size,
            hashes: proof.hashes.iter().map(hex::encode).collect(),
            last_size: proof.last_size,
            root_hash: hex::encode(proof.last_root),
        }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof() -> InclusionProof {
        InclusionProof {
            log_index: 1,
            tree_size: 3,
            root: [7; 32],
            hashes: vec![[1; 32], [2; 32]],
        }
    }

    #[test]
    fn the_entry_proof_is_the_ledgers_json_byte_for_byte() {
        let ours = serde_json::to_string(&InclusionProofJson::from(&proof())).expect("json");
        let ledgers =
            serde_json::to_string(&evledger_ledger::proof::InclusionProofJson::from(&proof()))
                .expect("json");
        assert_eq!(ours, ledgers);
    }

    #[test]
    fn a_proof_answer_lists_its_members_as_the_api_always_did() {
        let answer = InclusionProofAnswer::new(&proof(), Some("note\n".into()));
        // The members the API sent before typed answers, sorted (it built
        // them as a serde_json map).
        let mut old =
            serde_json::to_value(evledger_ledger::proof::InclusionProofJson::from(&proof()))
                .expect("json");
        old["checkpoint"] = "note\n".into();
        assert_eq!(
            serde_json::to_string(&answer).expect("json"),
            serde_json::to_string(&old).expect("json")
        );
    }
}

//! REST endpoints of the log under `/api/v1/log`: submit, read entries with
//! inclusion proofs, log info, inclusion and consistency proofs.
//!
//! Every proof is checked against the root of the checkpoint it is returned
//! with before it leaves the server.
//!
//! Signature checks, RocksDB reads and proof building run on the blocking
//! pool ([`crate::blocking`]), never on the async workers.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use evledger_ledger::bundle::TlogProof;
use evledger_ledger::entry::Entry;
use evledger_ledger::proof::InclusionProofJson;
use evledger_ledger::{InclusionProof, SignedCheckpoint};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::ApiError;
use crate::AppState;

/// An entry with its proof against a checkpoint.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EntryJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    log_index: u64,
    leaf_hash: String,
    /// The leaf bytes, embedded verbatim: canonical JSON.
    entry: Box<RawValue>,
    checkpoint: String,
    inclusion_proof: InclusionProofJson,
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

fn location(index: u64) -> (header::HeaderName, String) {
    (header::LOCATION, format!("/api/v1/log/entries/{index}"))
}

/// `POST /api/v1/log/entries` (with a token): check, enforce the contract,
/// append, answer with proof (201), or the existing entry (409) for a
/// duplicate.
pub(crate) async fn submit(
    State(state): State<AppState>,
    caller: crate::auth::Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(crate::error::body_error)?;
    let entry = crate::blocking(move || Ok(Entry::from_submission(&body)?)).await?;
    let appended = crate::attest::append(&state, &caller, entry).await?;
    let checkpoint = appended.checkpoint.clone();
    let (leaf, proof) = {
        let (state, checkpoint) = (state.clone(), checkpoint.clone());
        let index = appended.log_index;
        crate::blocking(move || proven_entry(&state, index, &checkpoint)).await?
    };
    let mut json = entry_json(leaf, &proof, &checkpoint)?;
    let status = if appended.duplicate {
        json.code = Some("duplicate_entry");
        json.message = Some(format!(
            "the entry is already in the log at index {}",
            appended.log_index
        ));
        StatusCode::CONFLICT
    } else {
        StatusCode::CREATED
    };
    Ok((status, [location(appended.log_index)], Json(json)).into_response())
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

fn query(
    q: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(e.body_text()))
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
    let served = state.served_checkpoint();
    let checkpoint = if index < served.size {
        served
    } else {
        state.ledger().checkpoint()
    };
    let (leaf, proof) = proven_entry(state, index, &checkpoint)?;
    match params.get("format").map(String::as_str) {
        None | Some("json") => Ok(Json(entry_json(leaf, &proof, &checkpoint)?).into_response()),
        Some("tlog-proof") => {
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
        Some(other) => Err(ApiError::bad_request(format!(
            "unknown format {other:?} (json or tlog-proof)"
        ))),
    }
}

/// `GET /api/v1/log/entries/{logIndex}`.
pub(crate) async fn entry_by_index(
    State(state): State<AppState>,
    Path(log_index): Path<String>,
    q: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(q)?;
    let index: u64 = log_index
        .parse()
        .map_err(|_| ApiError::bad_request("logIndex must be a non-negative integer"))?;
    crate::blocking(move || entry_answer(&state, index, &params)).await
}

/// `GET /api/v1/log/entries?leafHash=<hex>`.
pub(crate) async fn entry_by_leaf_hash(
    State(state): State<AppState>,
    q: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query(q)?;
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

/// `GET /api/v1/log`.
pub(crate) async fn log_info(State(state): State<AppState>) -> impl IntoResponse {
    let ledger = state.ledger();
    let checkpoint = ledger.checkpoint();
    Json(serde_json::json!({
        "origin": ledger.origin(),
        "treeSize": checkpoint.size,
        "rootHash": hex::encode(checkpoint.root),
        "checkpoint": checkpoint.note,
        "verifierKey": ledger.verifier_key(),
    }))
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

/// `GET /api/v1/log/proof/inclusion?logIndex=&treeSize=` (treeSize defaults
/// to the latest).
pub(crate) async fn inclusion_proof(
    State(state): State<AppState>,
    q: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let params = query(q)?;
    let index = required_u64(&params, "logIndex")?;
    let latest = state.ledger().checkpoint();
    let size = parse_u64(&params, "treeSize")?.unwrap_or(latest.size);
    crate::blocking(move || {
        let proof = state.ledger().inclusion_proof(index, size)?;
        let mut json = serde_json::to_value(InclusionProofJson::from(&proof))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if let Some(note) = checkpoint_for(&state, size)? {
            json["checkpoint"] = note.into();
        }
        Ok(Json(json))
    })
    .await
}

/// `GET /api/v1/log/proof/consistency?firstSize=&lastSize=` (lastSize
/// defaults to the latest).
pub(crate) async fn consistency_proof(
    State(state): State<AppState>,
    q: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let params = query(q)?;
    let first = required_u64(&params, "firstSize")?;
    let latest = state.ledger().checkpoint();
    let last = parse_u64(&params, "lastSize")?.unwrap_or(latest.size);
    crate::blocking(move || {
        let proof = state.ledger().consistency_proof(first, last)?;
        let mut json = serde_json::json!({
            "firstSize": proof.first_size,
            "lastSize": proof.last_size,
            "firstRootHash": hex::encode(proof.first_root),
            "rootHash": hex::encode(proof.last_root),
            "hashes": proof.hashes.iter().map(hex::encode).collect::<Vec<_>>(),
        });
        if let Some(note) = checkpoint_for(&state, last)? {
            json["checkpoint"] = note.into();
        }
        Ok(Json(json))
    })
    .await
}

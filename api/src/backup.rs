//! `POST /api/v1/admin/backup` `{"to": "/abs/dir"}` (admin): a consistent
//! copy of the log and of the evidence store, taken while serving, that
//! `evledger serve --data-dir <dir>` opens as it is (with the signing key
//! given separately: keys are not copied). The search index is not copied;
//! it rebuilds from the log. The log's copy is marked as a copy: served, it
//! refuses appends until resumed from the latest published checkpoint
//! (`serve --resume-from`), because the live log may have published larger
//! trees since (see `Ledger::resume`).
//!
//! Order matters: the evidence database first (each recorded contract
//! revision's entry is then in the log's copy), then the log (a RocksDB
//! checkpoint: one point in its history), then CAS (so every blob a copied
//! attestation names is in the copy).

use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth;
use crate::error::ApiError;
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackupRequest {
    to: PathBuf,
}

pub(crate) async fn backup(
    State(state): State<AppState>,
    _admin: auth::Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = body.map_err(crate::error::body_error)?;
    let request: BackupRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let to = request.to;
    if !to.is_absolute() {
        return Err(ApiError::bad_request(
            "`to` must be an absolute path on the server",
        ));
    }
    if to.exists() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            format!("{} exists; a backup goes to a new directory", to.display()),
        ));
    }
    let (ledger, evidence) = (state.ledger().clone(), state.evidence().clone());
    let (size, blobs) = crate::blocking(move || {
        let started = std::time::Instant::now();
        evidence.backup_db_to(&to.join("evidence"))?;
        let size = ledger.checkpoint().size;
        ledger.backup_to(&to.join("log"))?;
        let blobs = evidence.backup_cas_to(&to.join("evidence"))?;
        tracing::info!(to = %to.display(), tree_size_at_least = size, blobs, seconds = started.elapsed().as_secs_f64(), "backup written");
        Ok((size, blobs))
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"treeSizeAtLeast": size, "blobs": blobs})),
    ))
}

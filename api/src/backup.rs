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

use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth;
use crate::error::{ApiError, ErrorBody};
use crate::AppState;

/// Where to write a backup.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"to": "/var/backups/evledger/2026-01-01"})))]
pub(crate) struct BackupRequest {
    /// A new directory on the server: an absolute path, without `.` or
    /// `..` components. Its parents are created if missing.
    #[schema(value_type = String)]
    to: PathBuf,
}

/// What a backup holds.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackupAnswer {
    /// CAS blobs copied.
    blobs: u64,
    /// The log's copy has at least this many entries.
    tree_size_at_least: u64,
}

/// Longest name of one path component on the file systems we run on.
const MAX_COMPONENT_LEN: usize = 255;

/// Refuses a `to` that is not a plain absolute path, before anything is
/// created: every component is checked on the bytes sent, since
/// [`Path::components`] drops the `.` inside a path.
fn check_target(to: &Path) -> Result<(), ApiError> {
    if !to.is_absolute() {
        return Err(ApiError::bad_request(
            "`to` must be an absolute path on the server",
        ));
    }
    let bytes = to.as_os_str().as_encoded_bytes();
    if bytes.contains(&0) {
        return Err(ApiError::bad_request("`to` must not hold a NUL byte"));
    }
    for component in bytes.split(|b| *b == b'/') {
        if component == b"." || component == b".." {
            return Err(ApiError::bad_request(
                "`to` must not hold `.` or `..` components",
            ));
        }
        if component.len() > MAX_COMPONENT_LEN {
            return Err(ApiError::bad_request(format!(
                "`to` has a component longer than {MAX_COMPONENT_LEN} bytes"
            )));
        }
    }
    Ok(())
}

/// Creates the backup directory `to` (and its missing parents): `409` if
/// it exists, `400` if the place cannot hold it (a file in the way, no
/// permission, a read-only file system): the caller's choice of place.
/// Any other failure (a full disk, an I/O error) is the server's.
fn create_target(to: &Path) -> Result<(), ApiError> {
    let cannot = |e: std::io::Error| {
        use std::io::ErrorKind as Kind;
        let message = format!("cannot create {}: {e}", to.display());
        match e.kind() {
            Kind::InvalidInput
            | Kind::InvalidFilename
            | Kind::NotADirectory
            | Kind::PermissionDenied
            | Kind::ReadOnlyFilesystem
            | Kind::NotFound => ApiError::bad_request(message),
            _ => ApiError::internal(message),
        }
    };
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(cannot)?;
    }
    match std::fs::create_dir(to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            format!("{} exists; a backup goes to a new directory", to.display()),
        )),
        Err(e) => Err(cannot(e)),
    }
}

/// Write a backup (admin).
///
/// A consistent copy of the log and the evidence store, taken while
/// serving, that `evledger serve --data-dir <to>` opens (resumed from the
/// latest published checkpoint). The search index is not copied.
#[utoipa::path(
    post,
    path = "/api/v1/admin/backup",
    operation_id = "backup",
    tag = "operations",
    request_body(content = BackupRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Written", body = BackupAnswer),
        (status = 400, description = "`bad_request`: malformed JSON, a relative path, one with a NUL byte, a `.` or `..` component or a component over 255 bytes, or a place that cannot hold a directory (a file in the way, no permission, a read-only file system)", body = ErrorBody),
        (status = 403, description = "`forbidden`: a robot account's token", body = ErrorBody),
        (status = 409, description = "`exists`: the directory exists", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault while creating the directory (a full disk, an I/O error) or copying", body = ErrorBody),
    )
)]
pub(crate) async fn backup(
    State(state): State<AppState>,
    _admin: auth::Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<BackupAnswer>), ApiError> {
    let body = body.map_err(crate::error::body_error)?;
    let request: BackupRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let to = request.to;
    check_target(&to)?;
    let (ledger, evidence) = (state.ledger().clone(), state.evidence().clone());
    let (size, blobs) = crate::blocking(move || {
        create_target(&to)?;
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
        Json(BackupAnswer {
            blobs,
            tree_size_at_least: size,
        }),
    ))
}

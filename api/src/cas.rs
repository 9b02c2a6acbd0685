//! The content-addressed store over HTTP.
//!
//! | method and path           | who            |
//! |---------------------------|----------------|
//! | `PUT /cas/sha256/{hex}`   | admin or robot |
//! | `GET`, `HEAD /cas/sha256/{hex}` | anyone   |
//!
//! Neither direction holds a blob in memory:
//!
//! - An upload is authenticated from its headers before one byte of its
//!   body is read, so an anonymous 64 MiB PUT costs the server its headers;
//!   an announced `Content-Length` over [`MAX_BLOB_SIZE`] is refused next,
//!   still unread. The body then streams into a
//!   [`BlobWriter`](evledger_evidence::cas::BlobWriter) (a temporary file,
//!   hashed on the way) in pieces of about [`IO_CHUNK`], and the limit is
//!   enforced as bytes arrive, for bodies that announce no length.
//! - A download is verified against its name first (see
//!   `evledger_evidence::cas` for why before rather than while streaming),
//!   then streamed from the verified file, [`IO_CHUNK`] at a time, with its
//!   `Content-Length`.
//!
//! File I/O runs on the blocking pool, one short task per piece, so a slow
//! client holds no thread while it dawdles.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use evledger_evidence::cas::{BlobWriter, Stored, VerifiedBlob, IO_CHUNK, MAX_BLOB_SIZE};
use evledger_evidence::CasError;
use futures::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::Path;
use crate::AppState;
use crate::{auth, blocking};

/// A stored blob.
#[derive(Serialize, ToSchema)]
pub(crate) struct StoredBlob {
    /// Its name, `sha256:<hex>`.
    digest: String,
    /// Its length in bytes.
    size: u64,
}

impl From<CasError> for ApiError {
    fn from(e: CasError) -> Self {
        match e {
            CasError::BadDigest(_) => Self::bad_request(e.to_string()),
            CasError::Mismatch { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "digest_mismatch",
                e.to_string(),
            ),
            CasError::TooLarge(_) => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "blob_too_large",
                e.to_string(),
            ),
            // The server's copy is damaged: the server's fault, not the
            // client's, and one operators must hear about (5xx answers are
            // logged and counted). Not 404: the blob was stored and must
            // not look as if it never was. The next PUT repairs it.
            CasError::Corrupt { .. } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "blob_corrupt",
                e.to_string(),
            ),
            CasError::Upload(_) => {
                Self::new(StatusCode::BAD_REQUEST, "upload_failed", e.to_string())
            }
            CasError::Io(_) => Self::internal(e.to_string()),
        }
    }
}

/// The `Content-Length` the client announced, if any (hyper has already
/// refused a malformed one).
fn announced_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Removes an abandoned upload's temporary file off the async workers.
fn discard(writer: BlobWriter) {
    drop(tokio::task::spawn_blocking(move || drop(writer)));
}

/// Store a blob (any token).
///
/// Stored under its SHA-256, only if the body hashes to the name. The body
/// streams to disk while hashed; the token is checked from the headers
/// before any of it is read.
#[utoipa::path(
    put,
    path = "/cas/sha256/{digest}",
    operation_id = "putBlob",
    tag = "cas",
    params(("digest" = String, Path, description = "SHA-256 of the content, 64 lowercase hex characters",
        pattern = "^[0-9a-f]{64}$", example = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")),
    request_body(description = "The blob, at most 64 MiB", content = inline(crate::openapi::Octets), content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Written: new, or a damaged stored copy replaced", body = StoredBlob),
        (status = 200, description = "An intact copy was already there", body = StoredBlob),
        (status = 400, description = "`bad_request` (not a digest) or `upload_failed` (the body broke off)", body = ErrorBody),
        (status = 413, description = "`blob_too_large`: over 64 MiB (from Content-Length, or as bytes arrive)", body = ErrorBody),
        (status = 422, description = "`digest_mismatch`: the body does not hash to the name; nothing stored", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
pub(crate) async fn put_blob(
    State(state): State<AppState>,
    Path(digest): Path<String>,
    // Authenticated by `auth::authenticate_writes` from the headers alone:
    // no byte of the body has been read yet.
    _caller: auth::Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if let Some(announced) = announced_length(&headers) {
        if announced > MAX_BLOB_SIZE as u64 {
            return Err(CasError::TooLarge(announced).into());
        }
    }
    let evidence = state.evidence().clone();
    let name = digest.clone();
    let mut writer = blocking(move || Ok(evidence.cas().writer(&name)?)).await?;

    // Invariant: at most about IO_CHUNK bytes (plus one frame) wait here
    // before they go to the file.
    let mut body = body.into_data_stream();
    let mut pending: Vec<Bytes> = Vec::new();
    let mut pending_len = 0usize;
    let mut received = 0u64;
    loop {
        let frame = match body.next().await {
            Some(Ok(frame)) => Some(frame),
            Some(Err(e)) => {
                discard(writer);
                return Err(CasError::Upload(std::io::Error::other(e)).into());
            }
            None => None,
        };
        let done = frame.is_none();
        if let Some(frame) = frame {
            received += frame.len() as u64;
            if received > MAX_BLOB_SIZE as u64 {
                discard(writer);
                return Err(CasError::TooLarge(received).into());
            }
            pending_len += frame.len();
            pending.push(frame);
        }
        if pending_len >= IO_CHUNK || (done && pending_len > 0) {
            let frames = std::mem::take(&mut pending);
            pending_len = 0;
            // On an error the writer is dropped on the blocking thread,
            // which removes its temporary file there.
            writer = blocking(move || {
                for frame in &frames {
                    writer.write(frame)?;
                }
                Ok(writer)
            })
            .await?;
        }
        if done {
            break;
        }
    }
    let size = writer.len();
    let stored = blocking(move || Ok(writer.commit()?)).await?;
    let status = match stored {
        Stored::Created | Stored::Repaired => StatusCode::CREATED,
        Stored::Existed => StatusCode::OK,
    };
    Ok((
        status,
        Json(StoredBlob {
            digest: format!("sha256:{digest}"),
            size,
        }),
    )
        .into_response())
}

/// A blob.
///
/// Verified against its name before any byte is sent, then streamed from
/// disk.
#[utoipa::path(
    get,
    path = "/cas/sha256/{digest}",
    operation_id = "getBlob",
    tag = "cas",
    params(("digest" = String, Path, description = "SHA-256 of the content, 64 lowercase hex characters",
        pattern = "^[0-9a-f]{64}$", example = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")),
    responses(
        (status = 200, description = "The blob", content_type = "application/octet-stream", body = inline(crate::openapi::Octets),
            headers(
                ("Content-Length" = u64, description = "Its length"),
                ("X-Evledger-Digest" = String, description = "`sha256:<hex>`"),
                ("ETag" = String, description = "`\"sha256:<hex>\"`"),
                ("Cache-Control" = String, description = "`public, max-age=31536000, immutable`"),
            )),
        (status = 400, description = "`bad_request`: not a digest", body = ErrorBody),
        (status = 404, description = "`not_found`: no such blob", body = ErrorBody),
        (status = 500, description = "`blob_corrupt` (the stored copy no longer hashes to its name: never served; the next PUT repairs it) or `internal`", body = ErrorBody),
    )
)]
pub(crate) async fn get_blob(
    State(state): State<AppState>,
    Path(digest): Path<String>,
) -> Result<Response, ApiError> {
    let evidence = state.evidence().clone();
    let name = digest.clone();
    let blob = blocking(move || Ok(evidence.cas().open(&name)?))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no blob sha256:{digest}")))?;
    let len = blob.len;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
            (
                header::HeaderName::from_static("x-evledger-digest"),
                format!("sha256:{digest}"),
            ),
            (header::ETAG, format!("\"sha256:{digest}\"")),
            (
                header::CACHE_CONTROL,
                "public, max-age=31536000, immutable".to_string(),
            ),
        ],
        stream_blob(blob),
    )
        .into_response())
}

/// A blob's headers.
///
/// `GET` without the body (the blob is verified all the same).
#[utoipa::path(
    head,
    path = "/cas/sha256/{digest}",
    operation_id = "headBlob",
    tag = "cas",
    params(("digest" = String, Path, description = "SHA-256 of the content, 64 lowercase hex characters",
        pattern = "^[0-9a-f]{64}$", example = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")),
    responses(
        (status = 200, description = "The blob is stored intact",
            headers(
                ("Content-Length" = u64, description = "Its length"),
                ("X-Evledger-Digest" = String, description = "`sha256:<hex>`"),
                ("ETag" = String, description = "`\"sha256:<hex>\"`"),
                ("Cache-Control" = String, description = "`public, max-age=31536000, immutable`"),
            )),
        (status = 400, description = "Not a digest"),
        (status = 404, description = "No such blob"),
        (status = 500, description = "The stored copy is damaged, or a server fault"),
    )
)]
pub(crate) async fn head_blob(
    state: State<AppState>,
    digest: Path<String>,
) -> Result<Response, ApiError> {
    // axum sends no body in answer to HEAD.
    get_blob(state, digest).await
}

/// The body of a verified blob: exactly its verified length, read
/// [`IO_CHUNK`] at a time on the blocking pool. A file that shrank since it
/// was verified (nothing in evledger writes a named blob) ends the body
/// with an error, which the client sees as a broken transfer.
fn stream_blob(blob: VerifiedBlob) -> Body {
    let VerifiedBlob { file, len } = blob;
    let pieces = futures::stream::try_unfold((file, len), |(mut file, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        // At most IO_CHUNK, so it fits in usize.
        let want = left.min(IO_CHUNK as u64) as usize;
        let (file, piece) = tokio::task::spawn_blocking(move || {
            let mut piece = vec![0u8; want];
            file.read_exact(&mut piece).map(|()| (file, piece))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok::<_, std::io::Error>(Some((Bytes::from(piece), (file, left - want as u64))))
    });
    Body::from_stream(pieces)
}

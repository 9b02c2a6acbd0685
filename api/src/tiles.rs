//! C2SP static paths (<https://c2sp.org/tlog-tiles>): `/checkpoint`,
//! `/tile/<L>/<N>[.p/<W>]` and `/tile/entries/<N>[.p/<W>]`.
//!
//! A tile path names immutable bytes (a partial tile's first W hashes never
//! change), so every tile is served as immutable; the checkpoint is not.

use axum::extract::State;
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};
use evledger_ledger::{TileCoord, TileKind};

use crate::error::ApiError;
use crate::AppState;

/// The latest signed checkpoint.
///
/// A C2SP tlog-checkpoint note; with witnesses configured, the latest
/// witnessed one, with their cosignature lines.
#[utoipa::path(
    get,
    path = "/checkpoint",
    operation_id = "getCheckpoint",
    tag = "c2sp",
    responses(
        (status = 200, description = "The checkpoint note", content_type = "text/plain", body = String,
            headers(("Cache-Control" = String, description = "`no-cache`"))),
    )
)]
pub(crate) async fn checkpoint(State(state): State<AppState>) -> impl IntoResponse {
    let checkpoint = state.served_checkpoint();
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        checkpoint.note.clone(),
    )
}

/// A hash tile or an entry bundle (C2SP tlog-tiles).
///
/// A hash tile (`<L>/<N>[.p/<W>]`) holds 32-byte hashes of level 8·L from
/// N·256 on; an entry bundle (`entries/<N>[.p/<W>]`) each leaf as a 2-byte
/// big-endian length and its bytes. Both are immutable. The coordinates
/// are parsed from the raw request path, not the percent-decoded one, so
/// `%30` is not a digit and every tile has one URL; anything else is a 404
/// JSON error.
#[utoipa::path(
    get,
    path = "/tile/{path}",
    operation_id = "getTile",
    tag = "c2sp",
    params(
        ("path" = String, Path,
            description = "The rest of the path, slashes included (not percent-encoded): \
                `<L>/<N>[.p/<W>]` for a hash tile or `entries/<N>[.p/<W>]` for an entry \
                bundle, N in three-digit groups with `x` before all but the last \
                (`x001/234`), C2SP tlog-tiles",
            pattern = "^(entries|[0-7])/(x[0-9]{3}/)*[0-9]{3}(\\.p/[0-9]{1,3})?$",
            example = "0/000.p/1",
            extensions(("x-rest-of-path" = json!(true)))),
    ),
    responses(
        (status = 200, description = "The tile's bytes", content_type = "application/octet-stream", body = inline(crate::openapi::Octets),
            headers(("Cache-Control" = String, description = "`public, max-age=31536000, immutable`"))),
        (status = 404, description = "`not_found`: not a canonical tile path, or not in the tree", body = crate::error::ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn tile(State(state): State<AppState>, uri: Uri) -> Result<Response, ApiError> {
    let path = uri.path().strip_prefix('/').unwrap_or_default();
    let coord = TileCoord::parse(path).map_err(|e| ApiError::not_found(e.to_string()))?;
    let ledger = state.ledger().clone();
    let data = crate::blocking(move || Ok(ledger.tile(coord)?)).await?;
    let data = data.ok_or_else(|| {
        let what = match coord.kind {
            TileKind::Hashes { .. } => "tile",
            TileKind::Entries => "entry bundle",
        };
        ApiError::not_found(format!("{what} {} is not in the tree", coord.path()))
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        data,
    )
        .into_response())
}

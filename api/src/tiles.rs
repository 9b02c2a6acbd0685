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

/// `GET /tile/...`. The coordinates are parsed from the raw request path,
/// not the percent-decoded one, so `%30` is not a digit and every tile has
/// one URL (docs/API.md); anything else is a 404 JSON error.
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

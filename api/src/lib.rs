//! The evledger HTTP server: C2SP static paths (`/checkpoint`, `/tile/...`),
//! the REST API under `/api/v1`, health and Prometheus metrics.
//!
//! Handlers only translate: parse the request, call the ledger, shape the
//! answer. Errors become HTTP in one place, [`error::ApiError`].

pub mod error;
mod index;
mod log;
pub mod metrics;
mod tiles;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use evledger_indexer::AnyStore;
use evledger_ledger::Ledger;
use metrics_exporter_prometheus::PrometheusHandle;

/// Largest request body accepted, before any parsing. A leaf is at most
/// 64 KiB; the submission carrying it (JSON, PEM keys) a little more.
pub const MAX_REQUEST_BODY: usize = 256 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    ledger: Ledger,
    index: Option<AnyStore>,
    /// Why the reconciler stopped, if it did.
    index_failure: std::sync::RwLock<Option<String>>,
    metrics: Option<PrometheusHandle>,
}

/// The index lag above which `/readyz` says the server is not ready.
pub const READY_MAX_INDEX_LAG: u64 = 1024;

impl AppState {
    /// State over an open ledger; `index` answers searches (read-only),
    /// `metrics` renders `/metrics` when given.
    pub fn new(ledger: Ledger, index: Option<AnyStore>, metrics: Option<PrometheusHandle>) -> Self {
        Self {
            inner: Arc::new(Inner {
                ledger,
                index,
                index_failure: std::sync::RwLock::new(None),
                metrics,
            }),
        }
    }

    /// Records that the reconciler stopped and why: `/readyz` reports it.
    pub fn report_index_failure(&self, why: String) {
        if let Ok(mut failure) = self.inner.index_failure.write() {
            *failure = Some(why);
        }
    }

    fn index_failure(&self) -> Option<String> {
        self.inner.index_failure.read().ok().and_then(|f| f.clone())
    }

    fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    fn index(&self) -> Option<&AnyStore> {
        self.inner.index.as_ref()
    }
}

/// The full router of the API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/checkpoint", get(tiles::checkpoint))
        .route("/tile/{*path}", get(tiles::tile))
        .route(
            "/api/v1/log/entries",
            post(log::submit).get(log::entry_by_leaf_hash),
        )
        .route("/api/v1/log/entries/{log_index}", get(log::entry_by_index))
        .route("/api/v1/log", get(log::log_info))
        .route("/api/v1/log/proof/inclusion", get(log::inclusion_proof))
        .route("/api/v1/log/proof/consistency", get(log::consistency_proof))
        .route("/api/v1/index/retrieve", post(index::retrieve))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .layer(axum::middleware::from_fn(metrics::track_http))
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish (and so the append batches they wait on).
///
/// # Errors
///
/// I/O errors of the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

/// Ready when the index (if any) answers and lags the log by at most
/// [`READY_MAX_INDEX_LAG`] entries.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let size = state.ledger().checkpoint().size;
    let Some(store) = state.index() else {
        return (
            StatusCode::OK,
            Json(serde_json::json!({"status": "ready", "treeSize": size})),
        );
    };
    if let Some(why) = state.index_failure() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "index failed", "treeSize": size, "error": why})),
        );
    }
    match index::indexed_size(store).await {
        Ok(indexed) if size.saturating_sub(indexed) <= READY_MAX_INDEX_LAG => (
            StatusCode::OK,
            Json(
                serde_json::json!({"status": "ready", "treeSize": size, "indexedThrough": indexed}),
            ),
        ),
        Ok(indexed) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                serde_json::json!({"status": "indexing", "treeSize": size, "indexedThrough": indexed}),
            ),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                serde_json::json!({"status": "index unavailable", "treeSize": size, "error": e.to_string()}),
            ),
        ),
    }
}

async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    match &state.inner.metrics {
        Some(handle) => (
            StatusCode::OK,
            [("content-type", "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => error::ApiError::not_found("metrics are not enabled").into_response(),
    }
}

async fn not_found() -> error::ApiError {
    error::ApiError::not_found("no such endpoint")
}

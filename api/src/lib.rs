//! The evledger HTTP server: C2SP static paths (`/checkpoint`, `/tile/...`),
//! the REST API under `/api/v1`, health and Prometheus metrics.
//!
//! Handlers only translate: parse the request, call the ledger, shape the
//! answer. Errors become HTTP in one place, [`error::ApiError`].

pub mod alert;
mod attest;
mod auth;
mod backup;
mod cas;
pub mod error;
mod evidence;
mod index;
pub mod integrations;
mod log;
pub mod metrics;
mod tiles;
pub mod witness;
pub mod witnessing;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use evledger_evidence::Evidence;
use evledger_indexer::AnyStore;
use evledger_ledger::{Ledger, SignedCheckpoint};
use evledger_reconciler::sink::FanOut;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;

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
    evidence: Arc<Evidence>,
    /// SHA-256 (hex) of the admin token, if one is configured.
    admin_token_hash: Option<String>,
    index: Option<AnyStore>,
    /// Why the reconciler stopped, if it did.
    index_failure: std::sync::RwLock<Option<String>>,
    metrics: Option<PrometheusHandle>,
    /// Checkpoints with witness cosignatures, when witnesses are configured.
    cosigned: std::sync::OnceLock<watch::Receiver<Option<Arc<SignedCheckpoint>>>>,
    /// The sinks of attached integrations, when this process runs them.
    fanout: std::sync::OnceLock<FanOut>,
    /// One integration change at a time.
    integration_lock: tokio::sync::Mutex<()>,
}

/// The index lag above which `/readyz` says the server is not ready.
pub const READY_MAX_INDEX_LAG: u64 = 1024;

impl AppState {
    /// State over an open ledger and its evidence service; `admin_token`
    /// authorizes admin operations (none: no admin), `index` answers
    /// searches (read-only), `metrics` renders `/metrics` when given.
    pub fn new(
        ledger: Ledger,
        evidence: Arc<Evidence>,
        admin_token: Option<&str>,
        index: Option<AnyStore>,
        metrics: Option<PrometheusHandle>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                ledger,
                evidence,
                admin_token_hash: admin_token.map(evledger_evidence::token_hash),
                index,
                index_failure: std::sync::RwLock::new(None),
                metrics,
                cosigned: std::sync::OnceLock::new(),
                fanout: std::sync::OnceLock::new(),
                integration_lock: tokio::sync::Mutex::new(()),
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

    /// Serves the checkpoints the witnessing task publishes (see
    /// [`witnessing::run`]) at `/checkpoint` from now on. Set once.
    pub fn serve_cosigned(&self, published: watch::Receiver<Option<Arc<SignedCheckpoint>>>) {
        let _ = self.inner.cosigned.set(published);
    }

    /// Runs the sinks of attached integrations on `fanout` from now on, and
    /// starts the ones on record. Set once.
    ///
    /// # Errors
    ///
    /// Storage errors while reading the attachments.
    pub fn run_fanout(&self, fanout: FanOut) -> Result<usize, error::ApiError> {
        let started = integrations::start_attached(self.evidence(), &fanout, self.ledger())?;
        let _ = self.inner.fanout.set(fanout);
        Ok(started)
    }

    fn fanout(&self) -> Option<&FanOut> {
        self.inner.fanout.get()
    }

    fn integration_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.integration_lock
    }

    /// The checkpoint `/checkpoint` serves: the latest witnessed one when
    /// witnesses are configured and a round has finished, else the latest.
    fn served_checkpoint(&self) -> Arc<SignedCheckpoint> {
        self.inner
            .cosigned
            .get()
            .and_then(|published| published.borrow().clone())
            .unwrap_or_else(|| self.inner.ledger.checkpoint())
    }

    fn ledger(&self) -> &Ledger {
        &self.inner.ledger
    }

    fn evidence(&self) -> &Arc<Evidence> {
        &self.inner.evidence
    }

    fn admin_token_hash(&self) -> Option<&str> {
        self.inner.admin_token_hash.as_deref()
    }

    fn index(&self) -> Option<&AnyStore> {
        self.inner.index.as_ref()
    }
}

/// Runs blocking work (RocksDB, files, fsync) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, error::ApiError> + Send + 'static,
) -> Result<T, error::ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| error::ApiError::internal(e.to_string()))?
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
        .route(
            "/api/v1/workflows",
            post(evidence::create_workflow).get(evidence::list_workflows),
        )
        .route("/api/v1/workflows/{name}", get(evidence::get_workflow))
        .route(
            "/api/v1/workflows/{name}/contract",
            put(evidence::update_contract).get(evidence::get_contract),
        )
        .route(
            "/api/v1/workflows/{name}/robot-accounts",
            post(evidence::create_robot).get(evidence::list_robots),
        )
        .route(
            "/api/v1/robot-accounts/{id}",
            delete(evidence::revoke_robot),
        )
        // CAS streams its bodies and enforces its own limit
        // (evledger_evidence::cas::MAX_BLOB_SIZE) while reading them.
        .route(
            "/cas/sha256/{digest}",
            put(cas::put_blob).get(cas::get_blob),
        )
        .route(
            "/api/v1/integrations",
            post(integrations::register).get(integrations::list),
        )
        .route(
            "/api/v1/integrations/{name}",
            get(integrations::get).delete(integrations::delete),
        )
        .route(
            "/api/v1/integrations/{name}/attachments",
            post(integrations::attach),
        )
        .route(
            "/api/v1/integrations/{name}/attachments/{workflow}",
            delete(integrations::detach),
        )
        .route("/api/v1/admin/backup", post(backup::backup))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        // Every route above: a write is authenticated before its body is read.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate_writes,
        ))
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

/// Ready when the ledger takes appends (not a restored copy waiting to
/// be resumed, not a sequencer stopped by a failed durable write) and the
/// index (if any) answers and lags the log by at most
/// [`READY_MAX_INDEX_LAG`] entries.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let size = state.ledger().checkpoint().size;
    if let Some(halt) = state.ledger().halt() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "status": "not taking appends",
                "code": halt.code(),
                "treeSize": size,
                "error": halt.to_string(),
            })),
        );
    }
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

async fn render_metrics(State(state): State<AppState>) -> axum::response::Response {
    metrics::render(state.inner.metrics.as_ref())
}

async fn not_found() -> error::ApiError {
    error::ApiError::not_found("no such endpoint")
}

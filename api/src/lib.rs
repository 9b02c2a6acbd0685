//! The evledger HTTP server: C2SP static paths (`/checkpoint`, `/tile/...`),
//! the REST API under `/api/v1`, health and Prometheus metrics.
//!
//! Handlers only translate: parse the request, call the ledger, shape the
//! answer. Errors become HTTP in one place, [`error::ApiError`]. Every
//! route is registered in [`routes`], which yields the router and its
//! OpenAPI document ([`openapi`]) together.

mod auth;
mod backup;
mod cas;
mod console;
pub mod error;
mod evidence;
mod extract;
mod index;
pub mod integrations;
mod log;
pub mod metrics;
pub mod openapi;
mod pack;
mod rate_limit;
mod rekor;
pub mod routes;
mod tiles;
pub mod witness_client;
pub mod witness_server;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Json, Router};
use evledger_evidence::Evidence;
use evledger_fanout::FanOut;
use evledger_indexer::AnyStore;
use evledger_ledger::{Ledger, SignedCheckpoint};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use tokio::sync::watch;
use utoipa::ToSchema;

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
    /// When Rekor v2 writes are open to callers without a token: their
    /// per-client limit.
    open_rekor_writes: std::sync::OnceLock<rate_limit::PerClient>,
    /// The log's key as Sigstore names it, read once from the ledger's
    /// verifier key (`None` only if that key were not an Ed25519 note key).
    sigstore_key: Option<evledger_sigstore::LogKey>,
    /// The witnesses checkpoints are sent to, as the console shows them.
    witnesses: std::sync::OnceLock<Witnesses>,
    /// Admin sessions of the console.
    sessions: console::Sessions,
    /// Evidence packs being built.
    packs: tokio::sync::Semaphore,
}

/// The witnesses of the log: their verifier keys and the quorum asked for.
#[derive(Debug, Clone, Default)]
pub struct Witnesses {
    /// `cosignature/v1` verifier keys.
    pub keys: Vec<String>,
    /// Cosignatures a checkpoint needs to count as witnessed.
    pub quorum: usize,
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
        let sigstore_key = evledger_sigstore::LogKey::from_verifier_key(ledger.verifier_key()).ok();
        Self {
            inner: Arc::new(Inner {
                sigstore_key,
                ledger,
                evidence,
                admin_token_hash: admin_token.map(evledger_evidence::token_hash),
                index,
                index_failure: std::sync::RwLock::new(None),
                metrics,
                cosigned: std::sync::OnceLock::new(),
                fanout: std::sync::OnceLock::new(),
                integration_lock: tokio::sync::Mutex::new(()),
                open_rekor_writes: std::sync::OnceLock::new(),
                witnesses: std::sync::OnceLock::new(),
                sessions: console::Sessions::default(),
                packs: tokio::sync::Semaphore::new(pack::CONCURRENT_PACKS),
            }),
        }
    }

    /// Opens Rekor v2 writes (`POST /api/v2/log/entries`) to callers
    /// without a token, as Rekor runs for Sigstore clients (which send
    /// none): each client IP (IPv6: its /64) may write `per_minute` entries
    /// a minute, in bursts of `burst`. Every signature is still verified
    /// and every evledger attestation still meets its contract; a robot's
    /// or the admin's token still works and is not limited. Set once.
    pub fn open_rekor_writes(&self, per_minute: u32, burst: u32) {
        let _ = self
            .inner
            .open_rekor_writes
            .set(rate_limit::PerClient::new(per_minute, burst));
    }

    fn open_rekor_limit(&self) -> Option<&rate_limit::PerClient> {
        self.inner.open_rekor_writes.get()
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
    /// [`witness_client::run`]) at `/checkpoint` from now on, and names
    /// `witnesses` in the console. Set once.
    pub fn serve_cosigned(
        &self,
        published: watch::Receiver<Option<Arc<SignedCheckpoint>>>,
        witnesses: Witnesses,
    ) {
        let _ = self.inner.cosigned.set(published);
        let _ = self.inner.witnesses.set(witnesses);
    }

    fn witnesses(&self) -> Witnesses {
        self.inner.witnesses.get().cloned().unwrap_or_default()
    }

    /// Runs the sinks of attached integrations on `fanout` from now on, and
    /// starts the ones on record. Set once.
    ///
    /// # Errors
    ///
    /// Storage errors while reading the attachments.
    pub fn run_fanout(&self, fanout: FanOut) -> Result<usize, error::ApiError> {
        let started =
            evledger_fanout::targets::start_attached(self.evidence(), &fanout, self.ledger())?;
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

/// The full router of the API: the routes of [`routes`], behind the
/// authentication of writes, the body limit and the request metrics.
pub fn router(state: AppState) -> Router {
    let (router, _, _) = routes::table().into_parts();
    router
        .method_not_allowed_fallback(method_not_allowed)
        // Every route above: a write is authenticated before its body is read.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate_writes,
        ))
        // The console: pages that read, and its own admin sign-in.
        .merge(console::router())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY))
        .layer(axum::middleware::from_fn(metrics::track_http))
        .with_state(state)
}

/// The OpenAPI 3.1 document of [`router`], as `GET /api/v1/openapi.json`
/// serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes::table().into_parts().1
}

/// Every route [`router`] serves (besides the fallbacks), sorted.
pub fn served_routes() -> Vec<routes::Route> {
    routes::table().into_parts().2
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
    // The peer's address is what open writes are rate-limited by.
    let service = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}

/// `{"status": "ok"}`.
#[derive(Serialize, ToSchema)]
struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// Liveness: the server answers.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "getHealth",
    tag = "operations",
    responses((status = 200, description = "The server accepts requests", body = Health))
)]
async fn healthz() -> impl IntoResponse {
    Json(Health { status: "ok" })
}

/// Whether the server is ready, and why not. Members in the order the API
/// has always sent them.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Readiness {
    /// Why the ledger takes no appends: `log_restored` or `sequencer_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    /// What failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Entries the index covers (entries below it).
    #[serde(skip_serializing_if = "Option::is_none")]
    indexed_through: Option<u64>,
    /// `ready`, `not taking appends`, `index failed`, `indexing` or
    /// `index unavailable`.
    status: &'static str,
    /// Entries in the log.
    tree_size: u64,
}

impl Readiness {
    fn new(status: &'static str, tree_size: u64) -> Self {
        Self {
            code: None,
            error: None,
            indexed_through: None,
            status,
            tree_size,
        }
    }
}

/// Readiness.
///
/// Ready when the ledger takes appends (not a restored copy waiting to be
/// resumed, not a sequencer stopped by a failed durable write) and the
/// index (if any) answers and lags the log by at most 1024 entries
/// (`READY_MAX_INDEX_LAG`).
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "getReadiness",
    tag = "operations",
    responses(
        (status = 200, description = "Ready: appends are taken and the index lags by at most 1024 entries", body = Readiness),
        (status = 503, description = "Not ready: the ledger takes no appends, or the index rebuilds, failed or does not answer", body = Readiness),
    )
)]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let size = state.ledger().checkpoint().size;
    let unavailable = StatusCode::SERVICE_UNAVAILABLE;
    if let Some(halt) = state.ledger().halt() {
        let answer = Readiness {
            code: Some(halt.code()),
            error: Some(halt.to_string()),
            ..Readiness::new("not taking appends", size)
        };
        return (unavailable, Json(answer));
    }
    let Some(store) = state.index() else {
        return (StatusCode::OK, Json(Readiness::new("ready", size)));
    };
    if let Some(why) = state.index_failure() {
        let answer = Readiness {
            error: Some(why),
            ..Readiness::new("index failed", size)
        };
        return (unavailable, Json(answer));
    }
    match index::indexed_size(store).await {
        Ok(indexed) => {
            let (status, word) = if size.saturating_sub(indexed) <= READY_MAX_INDEX_LAG {
                (StatusCode::OK, "ready")
            } else {
                (unavailable, "indexing")
            };
            let answer = Readiness {
                indexed_through: Some(indexed),
                ..Readiness::new(word, size)
            };
            (status, Json(answer))
        }
        Err(e) => {
            let answer = Readiness {
                error: Some(e.to_string()),
                ..Readiness::new("index unavailable", size)
            };
            (unavailable, Json(answer))
        }
    }
}

/// Prometheus metrics.
///
/// The text exposition format 0.0.4.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String),
        (status = 404, description = "`not_found`: metrics are not enabled", body = error::ErrorBody),
    )
)]
async fn render_metrics(State(state): State<AppState>) -> axum::response::Response {
    metrics::render(state.inner.metrics.as_ref())
}

async fn not_found() -> error::ApiError {
    error::ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> error::ApiError {
    error::ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take this method",
    )
}

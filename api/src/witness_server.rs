//! The HTTP face of `evledger witness`: C2SP tlog-witness
//! (<https://c2sp.org/tlog-witness>) `POST /add-checkpoint`, plus health and
//! metrics.
//!
//! | outcome                                   | status | body                         |
//! |-------------------------------------------|--------|------------------------------|
//! | cosigned                                  | 200    | cosignature line(s)          |
//! | malformed body, old size > checkpoint size | 400    | JSON error                   |
//! | no trusted log signature                  | 403    | JSON error                   |
//! | unknown origin                            | 404    | JSON error                   |
//! | old size is not the recorded size, or same size with another root | 409 | `<size>\n`, `text/x.tlog.size` |
//! | consistency proof does not verify         | 422    | JSON error                   |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use evledger_witness::{Witness, WitnessError, MAX_ADD_CHECKPOINT_SIZE};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::error::ApiError;

#[derive(Clone)]
struct WitnessState {
    witness: Arc<Witness>,
    metrics: Option<PrometheusHandle>,
}

/// The witness's router.
pub fn router(witness: Arc<Witness>, metrics: Option<PrometheusHandle>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/metrics", get(render_metrics))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(MAX_ADD_CHECKPOINT_SIZE))
        .layer(axum::middleware::from_fn(crate::metrics::track_http))
        .with_state(WitnessState { witness, metrics })
}

/// Serves the witness on `listener` until `shutdown` resolves.
///
/// # Errors
///
/// I/O errors of the listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    witness: Arc<Witness>,
    metrics: Option<PrometheusHandle>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(witness, metrics))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn add_checkpoint(
    State(state): State<WitnessState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return crate::error::body_error(rejection).into_response(),
    };
    let witness = state.witness.clone();
    // RocksDB writes are synced: keep them off the async workers.
    let result = match crate::blocking(move || Ok(witness.add_checkpoint(&body))).await {
        Ok(result) => result,
        Err(e) => return e.into_response(),
    };
    let (status, code) = match &result {
        Ok(_) => (StatusCode::OK, "cosigned"),
        Err(e) => status_of(e),
    };
    metrics::counter!("evledger_witness_requests_total", "outcome" => code).increment(1);
    match result {
        Ok(lines) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], lines).into_response(),
        Err(WitnessError::Conflict { size, reason }) => {
            tracing::info!(size, %reason, "add-checkpoint conflict");
            (
                status,
                [(header::CONTENT_TYPE, "text/x.tlog.size")],
                format!("{size}\n"),
            )
                .into_response()
        }
        Err(e) => ApiError::new(status, code, e.to_string()).into_response(),
    }
}

/// The status the spec gives each refusal, and our error code for it.
fn status_of(e: &WitnessError) -> (StatusCode, &'static str) {
    match e {
        WitnessError::Malformed(_) | WitnessError::OldSizeTooLarge { .. } => {
            (StatusCode::BAD_REQUEST, "bad_request")
        }
        WitnessError::UnknownLog(_) => (StatusCode::NOT_FOUND, "unknown_log"),
        WitnessError::Forbidden(_) => (StatusCode::FORBIDDEN, "untrusted_signature"),
        WitnessError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
        WitnessError::BadProof(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_proof"),
        WitnessError::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

async fn render_metrics(State(state): State<WitnessState>) -> Response {
    crate::metrics::render(state.metrics.as_ref())
}

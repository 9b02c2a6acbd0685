//! Prometheus metrics: the recorder and the HTTP request middleware.
//!
//! HTTP requests are counted by route template and status
//! (`evledger_http_requests_total{route,method,status}`) and timed
//! (`evledger_http_request_seconds{route,method}`).
//!
//! Every label takes one of a fixed set of values, whatever a caller sends,
//! so no caller can grow the number of series: `route` is the matched route
//! template (`/api/v1/log/entries/{log_index}`) or [`UNMATCHED_ROUTE`],
//! `method` one of [`KNOWN_METHODS`] or [`OTHER_METHOD`], `status` a
//! three-digit code.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Installs the global Prometheus recorder and returns the handle that
/// renders it; `None` if a recorder is already installed.
pub fn install_recorder() -> Option<PrometheusHandle> {
    let latency_buckets = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    ];
    let size_buckets = [
        1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0,
    ];
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency_buckets)
        .ok()?
        .set_buckets_for_metric(Matcher::Full("evledger_batch_size".into()), &size_buckets)
        .ok()?
        .install_recorder()
        .ok()
}

/// The `route` label of requests no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The `method` label of requests with a method not in [`KNOWN_METHODS`].
pub const OTHER_METHOD: &str = "other";

/// HTTP methods that get their own `method` label.
pub static KNOWN_METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
];

/// The `method` label of `method`: its name if known, else [`OTHER_METHOD`].
fn method_label(method: &Method) -> &'static str {
    KNOWN_METHODS
        .iter()
        .find(|m| *m == method)
        .map_or(OTHER_METHOD, Method::as_str)
}

/// Middleware recording every request by route template and status.
pub async fn track_http(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED_ROUTE.to_string(), |p| p.as_str().to_string());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("evledger_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("evledger_http_request_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}

/// `/metrics`: the Prometheus text exposition, or 404 when not enabled.
pub fn render(handle: Option<&PrometheusHandle>) -> Response {
    match handle {
        Some(handle) => (
            StatusCode::OK,
            [("content-type", "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => crate::error::ApiError::not_found("metrics are not enabled").into_response(),
    }
}

//! Path and query extractors whose rejections are [`ApiError`]s: a path
//! segment that is not UTF-8 once percent-decoded (`/api/v1/workflows/%FF`)
//! or a query string that does not parse is a `400` JSON error like every
//! other bad input, not axum's plain-text rejection. A rejection axum
//! counts as a server fault (a route whose parameters do not fit its
//! extractor: our bug) stays a `500`, logged as one.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// An [`ApiError`] of a rejection's status and text: `400 bad_request`
/// for the client's, `500 internal` for ours.
fn rejected(status: StatusCode, text: String) -> ApiError {
    if status.is_server_error() {
        ApiError::internal(text)
    } else {
        ApiError::new(status, "bad_request", text)
    }
}

/// [`axum::extract::Path`], rejecting with an [`ApiError`].
#[derive(Debug)]
pub(crate) struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|e| rejected(e.status(), e.body_text()))
    }
}

/// [`axum::extract::Query`], rejecting with an [`ApiError`].
#[derive(Debug)]
pub(crate) struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|e| rejected(e.status(), e.body_text()))
    }
}

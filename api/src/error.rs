//! The one place where errors become HTTP statuses and JSON bodies
//! `{"code": "...", "message": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use evledger_ledger::entry::EntryError;
use evledger_ledger::{LedgerError, ProofError};
use serde::Serialize;
use utoipa::ToSchema;

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Each unmet requirement, for a refused attestation.
    pub unmet: Vec<String>,
}

/// The body of every error answer: a stable `code` to branch on and a
/// `message` for people.
#[derive(Serialize, ToSchema)]
#[schema(as = Error, examples(json!({"code": "signature_invalid", "message": "signature 0 does not verify with any of the verifiers"})))]
pub(crate) struct ErrorBody<'a> {
    /// Stable machine-readable code, e.g. `bad_request`, `not_found`,
    /// `unauthorized`, `contract_unmet`.
    code: &'a str,
    /// Human-readable explanation.
    message: &'a str,
    /// Each unmet requirement of the contract (`contract_unmet` only).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    unmet: &'a [String],
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            unmet: Vec::new(),
        }
    }

    /// 422 `contract_unmet`, listing every unmet requirement.
    pub fn contract_unmet(unmet: Vec<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "contract_unmet",
            message: format!(
                "the attestation does not meet its contract: {}",
                unmet.join("; ")
            ),
            unmet,
        }
    }

    /// 400 with code `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 500 with code `internal`: the server's fault, logged.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 404 with code `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = ErrorBody {
            code: self.code,
            message: &self.message,
            unmet: &self.unmet,
        };
        (self.status, Json(body)).into_response()
    }
}

/// A request body that could not be read: 413 past the limit, else 400.
pub fn body_error(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body exceeds {} bytes", crate::MAX_REQUEST_BODY),
        )
    } else {
        ApiError::bad_request(rejection.body_text())
    }
}

impl From<EntryError> for ApiError {
    fn from(e: EntryError) -> Self {
        let code = match &e {
            EntryError::TooLarge(_) => {
                return Self::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "entry_too_large",
                    e.to_string(),
                )
            }
            EntryError::Json(_) => "malformed_entry",
            EntryError::UnknownKind(_) => "unknown_kind",
            EntryError::Base64(_) => "bad_base64",
            EntryError::BadKey(_) => "bad_verifier",
            EntryError::SignatureInvalid(_) => "signature_invalid",
            EntryError::UnusedVerifier(_) => "verifier_mismatch",
            EntryError::RepeatedSignature { .. } => "repeated_signature",
            EntryError::Statement(_) => "bad_statement",
            EntryError::Verifier(_) => "bad_verifier",
            EntryError::Signature(_) => "signature_invalid",
            EntryError::Invalid(_) => "invalid_entry",
        };
        Self::bad_request(e.to_string()).with_code(code)
    }
}

impl ApiError {
    pub(crate) fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Proof(ProofError::OutOfRange(m)) => {
                Self::bad_request(m).with_code("out_of_range")
            }
            LedgerError::EntryTooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "entry_too_large",
                e.to_string(),
            ),
            LedgerError::Overloaded => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", e.to_string())
            }
            LedgerError::Closed => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                e.to_string(),
            ),
            LedgerError::Restored { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "log_restored",
                e.to_string(),
            ),
            LedgerError::Fatal(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "sequencer_failed",
                e.to_string(),
            ),
            other => Self::internal(other.to_string()),
        }
    }
}

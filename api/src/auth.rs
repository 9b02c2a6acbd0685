//! Who is calling: `Authorization: Bearer <token>` is the admin token
//! configured at start, or a robot account's token. Reads of the log are
//! public; every write needs one of the two.

use axum::http::{header, HeaderMap, StatusCode};
use evledger_evidence::{token_hash, RobotAccount};

use crate::error::ApiError;
use crate::AppState;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// The operator: may do anything.
    Admin,
    /// A robot account: may push attestations and blobs for its workflow.
    Robot(RobotAccount),
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// The caller of a write, or 401.
pub(crate) async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "this write needs a token: Authorization: Bearer <token>",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthorized("Authorization must be `Bearer <token>`"))?;
    // Compare hashes, not tokens: the time taken says nothing about the token.
    if state
        .admin_token_hash()
        .is_some_and(|admin| admin == token_hash(token))
    {
        return Ok(Caller::Admin);
    }
    let evidence = state.evidence().clone();
    let token = token.to_string();
    let robot = crate::blocking(move || Ok(evidence.authenticate(&token)?)).await?;
    robot
        .map(Caller::Robot)
        .ok_or_else(|| unauthorized("the token is unknown or revoked"))
}

/// The caller, who must be the admin (401 without a token, 403 for a robot).
pub(crate) async fn admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    match caller(state, headers).await? {
        Caller::Admin => Ok(()),
        Caller::Robot(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this operation needs the admin token",
        )),
    }
}

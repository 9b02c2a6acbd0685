//! Evidence endpoints: workflows, contract revisions, robot accounts and
//! the content-addressed store.
//!
//! | method and path                                  | who    |
//! |--------------------------------------------------|--------|
//! | `POST /api/v1/workflows`                         | admin  |
//! | `GET /api/v1/workflows`, `GET /api/v1/workflows/{name}` | anyone |
//! | `PUT /api/v1/workflows/{name}/contract`          | admin  |
//! | `GET /api/v1/workflows/{name}/contract[?revision=N]` | anyone |
//! | `POST`, `GET /api/v1/workflows/{name}/robot-accounts` | admin |
//! | `DELETE /api/v1/robot-accounts/{id}`             | admin  |

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use evledger_evidence::{EvidenceError, Revision};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Admin;
use crate::blocking;
use crate::error::ApiError;
use crate::AppState;

impl From<EvidenceError> for ApiError {
    fn from(e: EvidenceError) -> Self {
        match e {
            EvidenceError::Invalid(m) => Self::bad_request(m),
            EvidenceError::Contract(c) => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_contract", c.to_string())
            }
            EvidenceError::NotFound(m) => Self::not_found(m),
            EvidenceError::Exists(m) => Self::new(StatusCode::CONFLICT, "exists", m),
            EvidenceError::Revoked(_) => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the token is unknown or revoked",
            ),
            EvidenceError::ContractOutdated { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "contract_outdated",
                e.to_string(),
            ),
            EvidenceError::Ledger(l) => l.into(),
            EvidenceError::Storage(m) => Self::internal(m),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewWorkflow {
    name: String,
    project: String,
    #[serde(default)]
    team: String,
}

pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))
}

/// `POST /api/v1/workflows`.
pub(crate) async fn create_workflow(
    State(state): State<AppState>,
    _admin: Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(crate::error::body_error)?;
    let new: NewWorkflow = json_body(&body)?;
    let evidence = state.evidence().clone();
    let workflow =
        blocking(move || Ok(evidence.create_workflow(&new.name, &new.project, &new.team)?)).await?;
    Ok((StatusCode::CREATED, Json(workflow)).into_response())
}

/// `GET /api/v1/workflows`.
pub(crate) async fn list_workflows(State(state): State<AppState>) -> Result<Response, ApiError> {
    let evidence = state.evidence().clone();
    let workflows = blocking(move || Ok(evidence.store().workflows()?)).await?;
    Ok(Json(json!({ "workflows": workflows })).into_response())
}

/// `GET /api/v1/workflows/{name}`.
pub(crate) async fn get_workflow(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let evidence = state.evidence().clone();
    let (workflow, latest) = blocking(move || {
        let workflow = evidence.workflow(&name)?;
        let latest = evidence.store().revision(&name, None)?;
        Ok((workflow, latest.map(|r| r.revision)))
    })
    .await?;
    let mut value = serde_json::to_value(workflow).unwrap_or_default();
    value["contractRevision"] = json!(latest);
    Ok(Json(value).into_response())
}

fn revision_json(revision: &Revision) -> serde_json::Value {
    serde_json::to_value(revision).unwrap_or_default()
}

/// `PUT /api/v1/workflows/{name}/contract`: YAML or JSON; 201 with a new
/// revision, 200 if it equals the latest.
pub(crate) async fn update_contract(
    State(state): State<AppState>,
    Path(name): Path<String>,
    _admin: Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(crate::error::body_error)?;
    let (revision, created) = state.evidence().update_contract(&name, &body).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(revision_json(&revision))).into_response())
}

/// `GET /api/v1/workflows/{name}/contract[?revision=N]`.
pub(crate) async fn get_contract(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let revision = params
        .get("revision")
        .map(|r| {
            r.parse::<u64>()
                .map_err(|_| ApiError::bad_request("revision must be a positive integer"))
        })
        .transpose()?;
    let evidence = state.evidence().clone();
    let revision = blocking(move || Ok(evidence.revision(&name, revision)?)).await?;
    Ok(Json(revision_json(&revision)).into_response())
}

/// `POST /api/v1/workflows/{name}/robot-accounts`: the token is in this
/// answer only.
pub(crate) async fn create_robot(
    State(state): State<AppState>,
    Path(name): Path<String>,
    _admin: Admin,
) -> Result<Response, ApiError> {
    let evidence = state.evidence().clone();
    let (robot, token) = blocking(move || Ok(evidence.create_robot(&name)?)).await?;
    let mut value = serde_json::to_value(robot).unwrap_or_default();
    value["token"] = json!(token);
    Ok((StatusCode::CREATED, Json(value)).into_response())
}

/// `GET /api/v1/workflows/{name}/robot-accounts`.
pub(crate) async fn list_robots(
    State(state): State<AppState>,
    Path(name): Path<String>,
    _admin: Admin,
) -> Result<Response, ApiError> {
    let evidence = state.evidence().clone();
    let robots = blocking(move || {
        evidence.workflow(&name)?;
        Ok(evidence.robots(Some(&name))?)
    })
    .await?;
    Ok(Json(json!({ "robotAccounts": robots })).into_response())
}

/// `DELETE /api/v1/robot-accounts/{id}`: revokes. Once this has answered,
/// no push with the account's token appends (the push gate, see
/// [`evledger_evidence::Evidence::append_gated`]).
pub(crate) async fn revoke_robot(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _admin: Admin,
) -> Result<Response, ApiError> {
    let robot = state.evidence().revoke_robot(&id).await?;
    Ok(Json(robot).into_response())
}

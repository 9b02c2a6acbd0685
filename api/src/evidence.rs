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
//!
//! The answers are the types below, built from the evidence store's
//! records field by field (a field added there does not compile here
//! until the API says what to do with it), their members declared in the
//! order the API has always sent them. Where a record is sent as it is
//! (`POST /api/v1/workflows`, `DELETE /api/v1/robot-accounts/{id}`), the
//! type here documents it, and a test checks they agree.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use evledger_evidence::{EvidenceError, Revision};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Admin;
use crate::blocking;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Path, Query};
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
            EvidenceError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, "forbidden", m),
            EvidenceError::BadPredicate(m) => Self::bad_request(m).with_code("bad_predicate"),
            EvidenceError::ContractUnmet(unmet) => Self::contract_unmet(unmet),
            EvidenceError::Ledger(l) => l.into(),
            EvidenceError::Storage(m) => Self::internal(m),
        }
    }
}

/// A workflow to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"name": "build", "project": "app", "team": "core"})))]
pub(crate) struct NewWorkflow {
    /// Unique name, a DNS-1123 label.
    #[schema(pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length = 63)]
    name: String,
    /// The project it belongs to, a DNS-1123 label.
    #[schema(pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length = 63)]
    project: String,
    /// The owning team, a DNS-1123 label (default: none).
    #[serde(default)]
    #[schema(pattern = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$", max_length = 63)]
    team: String,
}

/// A workflow: what robot accounts push attestations for.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Workflow {
    /// Creation time, Unix seconds.
    created_at: u64,
    /// Unique name (DNS-1123 label).
    name: String,
    /// The project it belongs to.
    project: String,
    /// The owning team.
    team: String,
}

impl From<evledger_evidence::Workflow> for Workflow {
    fn from(workflow: evledger_evidence::Workflow) -> Self {
        let evledger_evidence::Workflow {
            name,
            project,
            team,
            created_at,
        } = workflow;
        Self {
            created_at,
            name,
            project,
            team,
        }
    }
}

/// Every workflow.
#[derive(Serialize, ToSchema)]
pub(crate) struct WorkflowList {
    /// The workflows, by name.
    workflows: Vec<Workflow>,
}

/// A workflow with the number of its latest contract revision.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkflowDetail {
    /// The latest contract revision, `null` before the first.
    #[schema(required = true)]
    contract_revision: Option<u64>,
    /// Creation time, Unix seconds.
    created_at: u64,
    /// Unique name (DNS-1123 label).
    name: String,
    /// The project it belongs to.
    project: String,
    /// The owning team.
    team: String,
}

/// An immutable contract revision and where it is in the log.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContractRevision {
    /// The contract, as JSON.
    #[schema(value_type = Object)]
    contract: serde_json::Value,
    /// Creation time, Unix seconds.
    created_at: u64,
    /// Leaf hash of its `contract` entry, hex.
    leaf_hash: String,
    /// Log index of its `contract` entry.
    log_index: u64,
    /// Revision number, from 1.
    revision: u64,
    /// The workflow it governs.
    workflow: String,
}

impl From<Revision> for ContractRevision {
    fn from(revision: Revision) -> Self {
        let Revision {
            workflow,
            revision,
            contract,
            log_index,
            leaf_hash,
            created_at,
        } = revision;
        Self {
            contract,
            created_at,
            leaf_hash,
            log_index,
            revision,
            workflow,
        }
    }
}

/// A robot account: a token scoped to one workflow.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RobotAccount {
    /// Creation time, Unix seconds.
    created_at: u64,
    /// Public identifier.
    id: String,
    /// Last successful use, Unix seconds, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_at: Option<u64>,
    /// Revocation time, Unix seconds, if revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<u64>,
    /// The workflow it may push for.
    workflow: String,
}

impl From<evledger_evidence::RobotAccount> for RobotAccount {
    fn from(robot: evledger_evidence::RobotAccount) -> Self {
        let evledger_evidence::RobotAccount {
            id,
            workflow,
            created_at,
            revoked_at,
            last_used_at,
        } = robot;
        Self {
            created_at,
            id,
            last_used_at,
            revoked_at,
            workflow,
        }
    }
}

/// The robot accounts of a workflow.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RobotAccountList {
    /// The accounts, revoked ones included.
    robot_accounts: Vec<RobotAccount>,
}

/// A new robot account, with its token: shown here only, stored as its
/// SHA-256.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NewRobotAccount {
    /// Creation time, Unix seconds.
    created_at: u64,
    /// Public identifier.
    id: String,
    /// Last successful use (never, yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_at: Option<u64>,
    /// Revocation time (never, yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<u64>,
    /// The token (`evlr_...`).
    token: String,
    /// The workflow it may push for.
    workflow: String,
}

pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))
}

/// Create a workflow (admin).
#[utoipa::path(
    post,
    path = "/api/v1/workflows",
    operation_id = "createWorkflow",
    tag = "evidence",
    request_body(content = NewWorkflow, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Workflow),
        (status = 400, description = "`bad_request`: malformed JSON, or a name that is not a DNS-1123 label", body = ErrorBody),
        (status = 403, description = "`forbidden`: a robot account's token", body = ErrorBody),
        (status = 409, description = "`exists`: a workflow of that name exists", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
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
    // Sent as the store has it (documented by `Workflow`).
    Ok((StatusCode::CREATED, Json(workflow)).into_response())
}

/// Every workflow.
#[utoipa::path(
    get,
    path = "/api/v1/workflows",
    operation_id = "listWorkflows",
    tag = "evidence",
    responses(
        (status = 200, description = "The workflows", body = WorkflowList),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
pub(crate) async fn list_workflows(State(state): State<AppState>) -> Result<Response, ApiError> {
    let evidence = state.evidence().clone();
    let workflows = blocking(move || Ok(evidence.store().workflows()?)).await?;
    let workflows = workflows.into_iter().map(Workflow::from).collect();
    Ok(Json(WorkflowList { workflows }).into_response())
}

/// A workflow, with its latest contract revision.
#[utoipa::path(
    get,
    path = "/api/v1/workflows/{name}",
    operation_id = "getWorkflow",
    tag = "evidence",
    params(("name" = String, Path, description = "The workflow", example = "build")),
    responses(
        (status = 200, description = "The workflow", body = WorkflowDetail),
        (status = 400, description = "`bad_request`: a path segment that is not UTF-8", body = ErrorBody),
        (status = 404, description = "`not_found`: no such workflow", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
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
    let Workflow {
        created_at,
        name,
        project,
        team,
    } = workflow.into();
    Ok(Json(WorkflowDetail {
        contract_revision: latest,
        created_at,
        name,
        project,
        team,
    })
    .into_response())
}

/// Add a contract revision (admin).
///
/// YAML or JSON, Chainloop v1 or v2 schema; logged as a `contract` entry.
/// Revision numbers are dense and unique per workflow; an update, once
/// started, runs to its end.
#[utoipa::path(
    put,
    path = "/api/v1/workflows/{name}/contract",
    operation_id = "updateContract",
    tag = "evidence",
    params(("name" = String, Path, description = "The workflow", example = "build")),
    request_body(description = "The contract, YAML or JSON", content(
        (Object = "application/json"),
        (String = "application/yaml", example = "schemaVersion: v1\n"),
    )),
    responses(
        (status = 201, description = "A new revision", body = ContractRevision),
        (status = 200, description = "Unchanged: the latest revision", body = ContractRevision),
        (status = 400, description = "`invalid_contract` (naming the field and line) or `bad_request`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a robot account's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such workflow", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
        (status = 503, description = "The log takes no appends: `overloaded`, `shutting_down`, `log_restored`, `sequencer_failed`", body = ErrorBody),
    )
)]
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
    Ok((status, Json(ContractRevision::from(revision))).into_response())
}

/// A contract revision (immutable), by default the latest.
#[utoipa::path(
    get,
    path = "/api/v1/workflows/{name}/contract",
    operation_id = "getContract",
    tag = "evidence",
    params(
        ("name" = String, Path, description = "The workflow", example = "build"),
        ("revision" = Option<u64>, Query, description = "The revision (default: the latest)", minimum = 1),
    ),
    responses(
        (status = 200, description = "The revision", body = ContractRevision),
        (status = 400, description = "`bad_request`: a revision that is not a number", body = ErrorBody),
        (status = 404, description = "`not_found`: no such workflow or revision", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
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
    Ok(Json(ContractRevision::from(revision)).into_response())
}

/// Create a robot account for a workflow (admin).
///
/// Its token is in this answer only.
#[utoipa::path(
    post,
    path = "/api/v1/workflows/{name}/robot-accounts",
    operation_id = "createRobotAccount",
    tag = "evidence",
    params(("name" = String, Path, description = "The workflow", example = "build")),
    responses(
        (status = 201, description = "Created", body = NewRobotAccount),
        (status = 400, description = "`bad_request`: a path segment that is not UTF-8", body = ErrorBody),
        (status = 403, description = "`forbidden`: a robot account's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such workflow", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
pub(crate) async fn create_robot(
    State(state): State<AppState>,
    Path(name): Path<String>,
    _admin: Admin,
) -> Result<Response, ApiError> {
    let evidence = state.evidence().clone();
    let (robot, token) = blocking(move || Ok(evidence.create_robot(&name)?)).await?;
    let RobotAccount {
        created_at,
        id,
        last_used_at,
        revoked_at,
        workflow,
    } = robot.into();
    let answer = NewRobotAccount {
        created_at,
        id,
        last_used_at,
        revoked_at,
        token,
        workflow,
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// The robot accounts of a workflow (admin).
#[utoipa::path(
    get,
    path = "/api/v1/workflows/{name}/robot-accounts",
    operation_id = "listRobotAccounts",
    tag = "evidence",
    params(("name" = String, Path, description = "The workflow", example = "build")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The accounts", body = RobotAccountList),
        (status = 400, description = "`bad_request`: a path segment that is not UTF-8", body = ErrorBody),
        (status = 403, description = "`forbidden`: a robot account's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such workflow", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
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
    let robot_accounts = robots.into_iter().map(RobotAccount::from).collect();
    Ok(Json(RobotAccountList { robot_accounts }).into_response())
}

/// Revoke a robot account (admin).
///
/// Idempotent. Once this has answered, no push with the account's token
/// appends, not even one already in flight (the push gate of
/// `evledger_evidence::Evidence::append_gated`).
#[utoipa::path(
    delete,
    path = "/api/v1/robot-accounts/{id}",
    operation_id = "revokeRobotAccount",
    tag = "evidence",
    params(("id" = String, Path, description = "The account's id (`ra-<hex>`)")),
    responses(
        (status = 200, description = "Revoked", body = RobotAccount),
        (status = 403, description = "`forbidden`: a robot account's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such account", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
pub(crate) async fn revoke_robot(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _admin: Admin,
) -> Result<Response, ApiError> {
    let robot = state.evidence().revoke_robot(&id).await?;
    // Sent as the store has it (documented by `RobotAccount`).
    Ok(Json(robot).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::tests::same_json;

    #[test]
    fn a_workflow_sent_as_stored_is_the_documented_workflow() {
        let stored = evledger_evidence::Workflow {
            name: "build".into(),
            project: "app".into(),
            team: "core".into(),
            created_at: 7,
        };
        same_json(&stored, Workflow::from(stored.clone()));
    }

    #[test]
    fn a_robot_account_sent_as_stored_is_the_documented_account() {
        let mut stored = evledger_evidence::RobotAccount {
            id: "ra-01".into(),
            workflow: "build".into(),
            created_at: 7,
            revoked_at: None,
            last_used_at: None,
        };
        same_json(&stored, RobotAccount::from(stored.clone()));
        stored.revoked_at = Some(9);
        stored.last_used_at = Some(8);
        same_json(&stored, RobotAccount::from(stored.clone()));
    }

    #[test]
    fn workflow_names_are_documented_as_the_store_checks_them() {
        use evledger_evidence::contract::MAX_NAME_LEN;
        let document = serde_json::to_value(crate::openapi()).expect("document");
        let new = &document["components"]["schemas"]["NewWorkflow"]["properties"];
        for field in ["name", "project", "team"] {
            let max = new[field]["maxLength"].as_u64().expect("maxLength");
            assert_eq!(max, MAX_NAME_LEN as u64, "{field}");
        }
    }

    #[test]
    fn a_revision_keeps_every_member_of_the_stored_record() {
        let stored = Revision {
            workflow: "build".into(),
            revision: 2,
            contract: serde_json::json!({"schemaVersion": "v1"}),
            log_index: 4,
            leaf_hash: "ab".into(),
            created_at: 7,
        };
        same_json(&stored, ContractRevision::from(stored.clone()));
    }
}

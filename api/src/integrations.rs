//! Integrations: where the fan-out delivers (Kafka, a gRPC alert sink, a
//! webhook), registered once and attached to workflows. Each attachment is
//! a sink named `<integration>/<workflow>` with its own cursor in the
//! ledger's RocksDB. All of it is admin-only.
//!
//! | method and path                                            |
//! |------------------------------------------------------------|
//! | `POST /api/v1/integrations`                                |
//! | `GET /api/v1/integrations`, `GET /api/v1/integrations/{name}` |
//! | `DELETE /api/v1/integrations/{name}`                       |
//! | `POST /api/v1/integrations/{name}/attachments`             |
//! | `DELETE /api/v1/integrations/{name}/attachments/{workflow}` |
//!
//! Settings are checked, and the endpoint reached, before anything is
//! stored. Secrets are write-only: answers and logs name them, never show
//! them.
//!
//! Every change (register, delete, attach, detach) holds the integration
//! lock from its first check to its last write, and runs in a task of its
//! own: a client that hangs up cannot stop it halfway (between the cursor
//! and the attachment record, say, or before the sink starts).
//!
//! The answers are the types below, their members declared in the order
//! the API has always sent them. Where a record of the evidence store is
//! sent as it is (register, delete, detach), the type here documents it,
//! and a test checks they agree.

use std::future::Future;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use evledger_evidence::{Evidence, Secrets};
use evledger_fanout::targets::{sink_name, AttachmentSettings, Target, TargetError};
use evledger_fanout::{FanOut, StartAt};
use evledger_ledger::Ledger;
use serde::{Deserialize, Serialize};
use tracing::info;
use utoipa::ToSchema;

use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Path;
use crate::{blocking, AppState};

impl From<TargetError> for ApiError {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::Invalid(message) => invalid(message),
            TargetError::Unreachable(message) => unreachable_target(message),
        }
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_integration", message)
}

fn unreachable_target(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "integration_unreachable",
        message,
    )
}

fn fanout(state: &AppState) -> Result<&FanOut, ApiError> {
    state.fanout().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "fanout_disabled",
            "this server runs no fan-out",
        )
    })
}

/// Runs `work` in a task of its own, so that it finishes even if the
/// client hangs up (axum then drops the handler's future).
async fn to_the_end<T: Send + 'static>(
    work: impl Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(work)
        .await
        .map_err(|e| ApiError::internal(format!("integration task failed: {e}")))?
}

fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    crate::evidence::json_body(&body.map_err(crate::error::body_error)?)
}

/// An integration to register.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"name": "hook", "kind": "webhook",
    "settings": {"url": "https://ci.example/hook"}, "secrets": {"secret": "..."}})))]
pub(crate) struct NewIntegration {
    /// Unique name, a DNS-1123 label.
    name: String,
    /// `kafka`, `grpc` or `webhook`.
    kind: String,
    /// The kind's settings (docs/API.md): kafka `bootstrapServers` (required),
    /// `tls`, `caPem`, `saslMechanism`, `saslUsername`, `defaultTopic`,
    /// `mode`, `messageTimeoutMs`; grpc `endpoint` (required), `caPem`,
    /// `clientCertPem`, `domain`; webhook `url` (required).
    #[serde(default)]
    #[schema(value_type = Object)]
    settings: serde_json::Value,
    /// Secrets, write-only: kafka `saslPassword`; grpc `token`,
    /// `clientKey`; webhook `secret` (required, the HMAC key).
    #[serde(default)]
    secrets: std::collections::BTreeMap<String, String>,
}

/// A registered integration; its secrets are named, never shown.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Integration {
    /// Registration time, Unix seconds.
    created_at: u64,
    /// `kafka`, `grpc` or `webhook`.
    kind: String,
    /// Unique name.
    name: String,
    /// Names of its secrets.
    secrets: Vec<String>,
    /// The kind's settings; credentials in URLs shown as `***`.
    #[schema(value_type = Object)]
    settings: serde_json::Value,
}

impl From<evledger_evidence::Integration> for Integration {
    fn from(integration: evledger_evidence::Integration) -> Self {
        let evledger_evidence::Integration {
            name,
            kind,
            settings,
            secrets,
            created_at,
        } = integration;
        Self {
            created_at,
            kind,
            name,
            secrets,
            settings,
        }
    }
}

/// An integration with the state of its attachments.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IntegrationStatus {
    /// Its attachments.
    attachments: Vec<AttachmentStatus>,
    /// Registration time, Unix seconds.
    created_at: u64,
    /// `kafka`, `grpc` or `webhook`.
    kind: String,
    /// Unique name.
    name: String,
    /// Names of its secrets.
    secrets: Vec<String>,
    /// The kind's settings; credentials in URLs shown as `***`.
    #[schema(value_type = Object)]
    settings: serde_json::Value,
}

/// An attachment and how far its sink got.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AttachmentStatus {
    /// Attachment time, Unix seconds.
    created_at: u64,
    /// The sink's cursor: entries of the log dealt with (`null` if unknown).
    #[schema(required = true)]
    delivered: Option<u64>,
    /// Entries after the cursor (`null` if unknown).
    #[schema(required = true)]
    lag: Option<u64>,
    /// Whether this process runs its sink.
    running: bool,
    /// Its settings (topic, filters).
    #[schema(value_type = Object)]
    settings: serde_json::Value,
    /// The workflow whose entries it receives.
    workflow: String,
}

/// Every integration.
#[derive(Serialize, ToSchema)]
pub(crate) struct IntegrationList {
    /// The integrations, by name.
    integrations: Vec<IntegrationStatus>,
}

/// An integration attached to a workflow.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Attachment {
    /// Attachment time, Unix seconds.
    created_at: u64,
    /// The integration.
    integration: String,
    /// Its settings (topic, filters).
    #[schema(value_type = Object)]
    settings: serde_json::Value,
    /// The workflow whose entries it receives.
    workflow: String,
}

impl From<evledger_evidence::Attachment> for Attachment {
    fn from(attachment: evledger_evidence::Attachment) -> Self {
        let evledger_evidence::Attachment {
            integration,
            workflow,
            settings,
            created_at,
        } = attachment;
        Self {
            created_at,
            integration,
            settings,
            workflow,
        }
    }
}

/// A new attachment, with where its sink starts.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AttachmentCreated {
    /// Attachment time, Unix seconds.
    created_at: u64,
    /// The sink's cursor: it delivers entries from this log index on.
    delivered: u64,
    /// The integration.
    integration: String,
    /// Its settings (topic, filters).
    #[schema(value_type = Object)]
    settings: serde_json::Value,
    /// The workflow whose entries it receives.
    workflow: String,
}

/// Register an integration (admin).
///
/// The settings are checked and the destination reached once before
/// anything is stored. Secrets are write-only.
#[utoipa::path(
    post,
    path = "/api/v1/integrations",
    operation_id = "registerIntegration",
    tag = "integrations",
    request_body(content = NewIntegration, content_type = "application/json"),
    responses(
        (status = 201, description = "Registered", body = Integration),
        (status = 400, description = "`invalid_integration` (unknown kind, fields or secrets) or `bad_request`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a robot account's token", body = ErrorBody),
        (status = 409, description = "`exists`: an integration of that name exists", body = ErrorBody),
        (status = 422, description = "`integration_unreachable`: the destination did not answer", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
pub(crate) async fn register(
    State(state): State<AppState>,
    _admin: Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let new: NewIntegration = json_body(body)?;
    let secrets = Secrets(new.secrets);
    let target = Target::parse(&new.kind, &new.settings, &secrets)?;
    let integration = to_the_end(async move {
        let _serial = state.integration_lock().lock().await;
        let evidence = state.evidence().clone();
        let (name, kind) = (new.name.clone(), new.kind.clone());
        // Refuse a bad or taken name before reaching out to the endpoint.
        blocking(move || Ok(evidence.check_new_integration(&name, &kind)?)).await?;
        target.probe(&secrets).await?;
        let evidence = state.evidence().clone();
        blocking(move || {
            Ok(evidence.register_integration(&new.name, &new.kind, new.settings, secrets)?)
        })
        .await
    })
    .await?;
    info!(integration = %integration.name, kind = %integration.kind, "integration registered");
    // Sent as the store has it (documented by `Integration`).
    Ok((StatusCode::CREATED, Json(integration)).into_response())
}

fn listing(
    evidence: &Evidence,
    fanout: Option<&FanOut>,
    ledger: &Ledger,
    integration: evledger_evidence::Integration,
) -> Result<IntegrationStatus, ApiError> {
    let size = ledger.checkpoint().size;
    let attachments = evidence
        .attachments(Some(&integration.name))?
        .into_iter()
        .map(|a| {
            let name = sink_name(&a.integration, &a.workflow);
            let cursor = ledger.cursor(&name).ok().flatten();
            AttachmentStatus {
                created_at: a.created_at,
                delivered: cursor,
                lag: cursor.map(|c| size.saturating_sub(c)),
                running: fanout.is_some_and(|f| f.is_running(&name)),
                settings: a.settings,
                workflow: a.workflow,
            }
        })
        .collect();
    // Redacted: a URL setting may carry credentials.
    let Integration {
        created_at,
        kind,
        name,
        secrets,
        settings,
    } = integration.redacted().into();
    Ok(IntegrationStatus {
        attachments,
        created_at,
        kind,
        name,
        secrets,
        settings,
    })
}

/// Every integration, with its attachments (admin).
#[utoipa::path(
    get,
    path = "/api/v1/integrations",
    operation_id = "listIntegrations",
    tag = "integrations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The integrations", body = IntegrationList),
        (status = 403, description = "`forbidden`: a robot account's token", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Response, ApiError> {
    let state2 = state.clone();
    let integrations = blocking(move || {
        let evidence = state2.evidence();
        evidence
            .integrations()?
            .into_iter()
            .map(|i| listing(evidence, state2.fanout(), state2.ledger(), i))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(Json(IntegrationList { integrations }).into_response())
}

/// An integration, with its attachments (admin).
#[utoipa::path(
    get,
    path = "/api/v1/integrations/{name}",
    operation_id = "getIntegration",
    tag = "integrations",
    params(("name" = String, Path, description = "The integration", example = "hook")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The integration", body = IntegrationStatus),
        (status = 400, description = "`bad_request`: a path segment that is not UTF-8", body = ErrorBody),
        (status = 403, description = "`forbidden`: a robot account's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such integration", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let state2 = state.clone();
    let value = blocking(move || {
        let evidence = state2.evidence();
        let integration = evidence.integration(&name)?;
        listing(evidence, state2.fanout(), state2.ledger(), integration)
    })
    .await?;
    Ok(Json(value).into_response())
}

/// Delete an integration (admin).
///
/// Refused while it is attached anywhere.
#[utoipa::path(
    delete,
    path = "/api/v1/integrations/{name}",
    operation_id = "deleteIntegration",
    tag = "integrations",
    params(("name" = String, Path, description = "The integration", example = "hook")),
    responses(
        (status = 200, description = "Deleted", body = Integration),
        (status = 400, description = "`bad_request`: a path segment that is not UTF-8", body = ErrorBody),
        (status = 403, description = "`forbidden`: a robot account's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such integration", body = ErrorBody),
        (status = 409, description = "`exists`: still attached", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let integration = to_the_end(async move {
        // Under the lock: an attachment being made cannot slip in between
        // the check that there is none and the delete.
        let _serial = state.integration_lock().lock().await;
        let evidence = state.evidence().clone();
        blocking(move || Ok(evidence.delete_integration(&name)?)).await
    })
    .await?;
    info!(integration = %integration.name, "integration deleted");
    // Sent as the store has it (documented by `Integration`).
    Ok(Json(integration).into_response())
}

/// Where an attachment's sink starts.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum StartFrom {
    /// Entries appended from now on.
    #[default]
    Now,
    /// The whole log.
    Start,
}

/// An attachment to make.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(examples(json!({"workflow": "build", "kinds": ["dsse"], "from": "now"})))]
pub(crate) struct NewAttachment {
    /// The workflow whose entries to deliver.
    workflow: String,
    /// Kafka topic (default: the integration's `defaultTopic`, else
    /// `evledger.entries`; created with one partition if missing).
    #[serde(default)]
    topic: Option<String>,
    /// Only entries of these kinds (empty: all).
    #[serde(default)]
    kinds: Vec<String>,
    /// Only entries with these predicate types (empty: all).
    #[serde(default)]
    predicate_types: Vec<String>,
    /// `now` (entries appended from now on, the default) or `start` (the
    /// whole log).
    #[serde(default)]
    from: StartFrom,
}

/// Attach an integration to a workflow (admin).
///
/// Starts a sink with its own durable cursor that delivers every entry of
/// the workflow, in log order, at least once.
#[utoipa::path(
    post,
    path = "/api/v1/integrations/{name}/attachments",
    operation_id = "attachIntegration",
    tag = "integrations",
    params(("name" = String, Path, description = "The integration", example = "hook")),
    request_body(content = NewAttachment, content_type = "application/json"),
    responses(
        (status = 201, description = "Attached; its sink runs", body = AttachmentCreated),
        (status = 400, description = "`invalid_integration` (a bad topic) or `bad_request`", body = ErrorBody),
        (status = 403, description = "`forbidden`: a robot account's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such integration or workflow", body = ErrorBody),
        (status = 409, description = "`exists`: attached already", body = ErrorBody),
        (status = 422, description = "`integration_unreachable`: the Kafka topic could not be ensured", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
        (status = 503, description = "`fanout_disabled`: this server runs no fan-out", body = ErrorBody),
    )
)]
pub(crate) async fn attach(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let new: NewAttachment = json_body(body)?;
    let fanout = fanout(&state)?.clone();
    let settings = AttachmentSettings {
        topic: new.topic,
        kinds: new.kinds,
        predicate_types: new.predicate_types,
    };
    settings.validate()?;
    let (workflow, from) = (new.workflow, new.from);
    to_the_end(attach_now(state, fanout, name, workflow, from, settings)).await
}

/// The body of [`attach`], run to its end in its own task.
async fn attach_now(
    state: AppState,
    fanout: FanOut,
    name: String,
    workflow: String,
    from: StartFrom,
    settings: AttachmentSettings,
) -> Result<Response, ApiError> {
    let _serial = state.integration_lock().lock().await;
    let evidence = state.evidence().clone();
    let (integration, secrets) = {
        let (name, workflow) = (name.clone(), workflow.clone());
        blocking(move || {
            let integration = evidence.integration(&name)?;
            evidence.workflow(&workflow)?;
            if evidence.store().attachment(&name, &workflow)?.is_some() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "exists",
                    format!("integration {name:?} is already attached to workflow {workflow:?}"),
                ));
            }
            let secrets = evidence.integration_secrets(&name)?;
            Ok((integration, secrets))
        })
        .await?
    };
    let target = Target::parse(&integration.kind, &integration.settings, &secrets)?;
    target.prepare(&secrets, &settings).await?;
    let sink = target.sink(&secrets, &settings, state.ledger())?;
    let sink_name = sink_name(&name, &workflow);
    let start = match from {
        StartFrom::Now => StartAt::Now,
        StartFrom::Start => StartAt::Index(0),
    };
    // The cursor first: an attachment is never on record without one.
    let evidence = state.evidence().clone();
    let (stored, cursor) = {
        let (fanout, ledger, sink_name, name, workflow) = (
            fanout.clone(),
            state.ledger().clone(),
            sink_name.clone(),
            name.clone(),
            workflow.clone(),
        );
        let stored_settings =
            serde_json::to_value(&settings).map_err(|e| ApiError::internal(e.to_string()))?;
        blocking(move || {
            // A cursor left by a crash between these two writes is stale.
            ledger.delete_cursor(&sink_name)?;
            let cursor = fanout.create_cursor(&sink_name, start)?;
            let attachment = evidence.attach(&name, &workflow, stored_settings)?;
            Ok((attachment, cursor))
        })
        .await?
    };
    fanout.start(&sink_name, sink, settings.filter(&workflow));
    info!(integration = %name, workflow = %stored.workflow, cursor, "integration attached");
    let Attachment {
        created_at,
        integration,
        settings,
        workflow,
    } = stored.into();
    let answer = AttachmentCreated {
        created_at,
        delivered: cursor,
        integration,
        settings,
        workflow,
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// Detach an integration from a workflow (admin).
///
/// Stops the sink and drops its cursor.
#[utoipa::path(
    delete,
    path = "/api/v1/integrations/{name}/attachments/{workflow}",
    operation_id = "detachIntegration",
    tag = "integrations",
    params(
        ("name" = String, Path, description = "The integration", example = "hook"),
        ("workflow" = String, Path, description = "The workflow", example = "build"),
    ),
    responses(
        (status = 200, description = "Detached", body = Attachment),
        (status = 400, description = "`bad_request`: a path segment that is not UTF-8", body = ErrorBody),
        (status = 403, description = "`forbidden`: a robot account's token", body = ErrorBody),
        (status = 404, description = "`not_found`: no such attachment", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
        (status = 503, description = "`fanout_disabled`: this server runs no fan-out", body = ErrorBody),
    )
)]
pub(crate) async fn detach(
    State(state): State<AppState>,
    _admin: Admin,
    Path((name, workflow)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let fanout = fanout(&state)?.clone();
    to_the_end(async move {
        let _serial = state.integration_lock().lock().await;
        let evidence = state.evidence().clone();
        let attachment = {
            let (name, workflow) = (name.clone(), workflow.clone());
            blocking(move || Ok(evidence.detach(&name, &workflow)?)).await?
        };
        fanout.stop(&sink_name(&name, &workflow), true).await?;
        info!(integration = %name, workflow = %workflow, "integration detached");
        // Sent as the store has it (documented by `Attachment`).
        Ok(Json(attachment).into_response())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::tests::same_json;

    #[test]
    fn an_integration_sent_as_stored_is_the_documented_integration() {
        let stored = evledger_evidence::Integration {
            name: "hook".into(),
            kind: "webhook".into(),
            settings: serde_json::json!({"url": "https://ci.example/hook"}),
            secrets: vec!["secret".into()],
            created_at: 7,
        };
        same_json(&stored, Integration::from(stored.clone()));
    }

    #[test]
    fn an_attachment_sent_as_stored_is_the_documented_attachment() {
        let stored = evledger_evidence::Attachment {
            integration: "hook".into(),
            workflow: "build".into(),
            settings: serde_json::json!({"kinds": ["dsse"]}),
            created_at: 7,
        };
        same_json(&stored, Attachment::from(stored.clone()));
    }
}

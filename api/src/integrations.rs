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

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use evledger_evidence::{Attachment, Evidence, Integration, Secrets};
use evledger_ledger::Ledger;
use evledger_reconciler::sink::kafka::{self, KafkaSettings, KafkaSink};
use evledger_reconciler::sink::webhook::{self, WebhookSettings, WebhookSink};
use evledger_reconciler::sink::{FanOut, Filter, Sink, StartAt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{info, warn};

use crate::alert::{self, GrpcSettings, GrpcSink};
use crate::auth::Admin;
use crate::error::ApiError;
use crate::{blocking, AppState};

/// Secret holding a Kafka SASL password.
pub const KAFKA_SASL_PASSWORD: &str = "saslPassword";
/// Secret holding a webhook's HMAC key.
pub const WEBHOOK_SECRET: &str = "secret";

/// A registered destination with its settings parsed.
enum Target {
    Kafka(KafkaSettings),
    Grpc(GrpcSettings),
    Webhook(WebhookSettings),
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

fn settings_of<T: serde::de::DeserializeOwned>(
    kind: &str,
    settings: &serde_json::Value,
) -> Result<T, ApiError> {
    serde_json::from_value(settings.clone()).map_err(|e| invalid(format!("{kind} settings: {e}")))
}

impl Target {
    /// Parses and checks `settings` of `kind` together with `secrets`.
    fn parse(
        kind: &str,
        settings: &serde_json::Value,
        secrets: &Secrets,
    ) -> Result<Self, ApiError> {
        let allowed: &[&str] = match kind {
            "kafka" => &[KAFKA_SASL_PASSWORD],
            "grpc" => &[alert::secret::TOKEN, alert::secret::CLIENT_KEY],
            "webhook" => &[WEBHOOK_SECRET],
            other => {
                return Err(invalid(format!(
                    "kind {other:?} is not kafka, grpc or webhook"
                )))
            }
        };
        if let Some(name) = secrets.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(invalid(format!(
                "{kind} takes the secrets {}; not {name:?}",
                allowed.join(", ")
            )));
        }
        let target = match kind {
            "kafka" => {
                let s: KafkaSettings = settings_of(kind, settings)?;
                s.validate(secrets.get(KAFKA_SASL_PASSWORD))
                    .map_err(invalid)?;
                Self::Kafka(s)
            }
            "grpc" => {
                let s: GrpcSettings = settings_of(kind, settings)?;
                s.endpoint(secrets.get(alert::secret::CLIENT_KEY))
                    .map_err(invalid)?;
                Self::Grpc(s)
            }
            _ => {
                let s: WebhookSettings = settings_of(kind, settings)?;
                webhook::parse_url(&s.url).map_err(invalid)?;
                if secrets.get(WEBHOOK_SECRET).is_none_or(str::is_empty) {
                    return Err(invalid(
                        "a webhook needs the secret \"secret\" (the HMAC key)",
                    ));
                }
                Self::Webhook(s)
            }
        };
        Ok(target)
    }

    /// Reaches the destination once.
    async fn probe(&self, secrets: &Secrets) -> Result<(), ApiError> {
        let result = match self {
            Self::Kafka(s) => kafka::probe(s.client_config(secrets.get(KAFKA_SASL_PASSWORD))).await,
            Self::Grpc(s) => match s.endpoint(secrets.get(alert::secret::CLIENT_KEY)) {
                Ok(endpoint) => alert::probe(&endpoint).await,
                Err(e) => Err(e),
            },
            Self::Webhook(s) => match webhook::parse_url(&s.url) {
                Ok(url) => webhook::probe(&url).await,
                Err(e) => Err(e),
            },
        };
        result.map_err(unreachable_target)
    }

    /// The sink of an attachment.
    fn sink(
        &self,
        secrets: &Secrets,
        settings: &AttachmentSettings,
        ledger: &Ledger,
    ) -> Result<Arc<dyn Sink>, String> {
        let sink: Arc<dyn Sink> = match self {
            Self::Kafka(s) => Arc::new(KafkaSink::new(
                s,
                secrets.get(KAFKA_SASL_PASSWORD),
                &s.topic(settings.topic.as_deref()),
            )?),
            Self::Grpc(s) => Arc::new(GrpcSink::new(
                &s.endpoint(secrets.get(alert::secret::CLIENT_KEY))?,
                secrets.get(alert::secret::TOKEN),
                ledger.clone(),
            )?),
            Self::Webhook(s) => Arc::new(WebhookSink::new(
                &s.url,
                secrets.get(WEBHOOK_SECRET).unwrap_or_default().as_bytes(),
            )?),
        };
        Ok(sink)
    }
}

/// What an attachment stores besides its workflow.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AttachmentSettings {
    /// Kafka topic (default: the integration's default topic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    topic: Option<String>,
    /// Only entries of these kinds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    kinds: Vec<String>,
    /// Only entries with these predicate types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    predicate_types: Vec<String>,
}

impl AttachmentSettings {
    fn filter(&self, workflow: &str) -> Filter {
        Filter {
            kinds: self.kinds.clone(),
            predicate_types: self.predicate_types.clone(),
            workflows: vec![workflow.to_string()],
        }
    }
}

/// The name of the sink of an attachment.
pub fn sink_name(integration: &str, workflow: &str) -> String {
    format!("{integration}/{workflow}")
}

/// Starts the sink of every stored attachment; one that cannot be built
/// (settings a newer version refuses, say) is logged and skipped.
///
/// # Errors
///
/// Storage errors.
pub fn start_attached(
    evidence: &Evidence,
    fanout: &FanOut,
    ledger: &Ledger,
) -> Result<usize, ApiError> {
    let mut started = 0;
    for attachment in evidence.attachments(None)? {
        match attachment_sink(evidence, &attachment, ledger) {
            Ok((sink, filter)) => {
                fanout.start(
                    &sink_name(&attachment.integration, &attachment.workflow),
                    sink,
                    filter,
                );
                started += 1;
            }
            Err(e) => warn!(
                integration = %attachment.integration,
                workflow = %attachment.workflow,
                error = %e.message,
                "attachment not started"
            ),
        }
    }
    Ok(started)
}

fn attachment_sink(
    evidence: &Evidence,
    attachment: &Attachment,
    ledger: &Ledger,
) -> Result<(Arc<dyn Sink>, Filter), ApiError> {
    let integration = evidence.integration(&attachment.integration)?;
    let secrets = evidence.integration_secrets(&integration.name)?;
    let target = Target::parse(&integration.kind, &integration.settings, &secrets)?;
    let settings: AttachmentSettings = settings_of("attachment", &attachment.settings)?;
    let sink = target
        .sink(&secrets, &settings, ledger)
        .map_err(ApiError::internal)?;
    Ok((sink, settings.filter(&attachment.workflow)))
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewIntegration {
    name: String,
    kind: String,
    #[serde(default)]
    settings: serde_json::Value,
    #[serde(default)]
    secrets: std::collections::BTreeMap<String, String>,
}

/// `POST /api/v1/integrations`.
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
    Ok((StatusCode::CREATED, Json(integration)).into_response())
}

fn listing(
    evidence: &Evidence,
    fanout: Option<&FanOut>,
    ledger: &Ledger,
    integration: Integration,
) -> Result<serde_json::Value, ApiError> {
    let size = ledger.checkpoint().size;
    let attachments = evidence
        .attachments(Some(&integration.name))?
        .into_iter()
        .map(|a| {
            let name = sink_name(&a.integration, &a.workflow);
            let cursor = ledger.sink_cursor(&name).ok().flatten();
            let running = fanout.is_some_and(|f| f.is_running(&name));
            json!({
                "workflow": a.workflow,
                "settings": a.settings,
                "createdAt": a.created_at,
                "delivered": cursor,
                "lag": cursor.map(|c| size.saturating_sub(c)),
                "running": running,
            })
        })
        .collect::<Vec<_>>();
    let mut value =
        // Redacted: a URL setting may carry credentials.
        serde_json::to_value(integration.redacted())
            .map_err(|e| ApiError::internal(e.to_string()))?;
    value["attachments"] = json!(attachments);
    Ok(value)
}

/// `GET /api/v1/integrations`.
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
    Ok(Json(json!({ "integrations": integrations })).into_response())
}

/// `GET /api/v1/integrations/{name}`.
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

/// `DELETE /api/v1/integrations/{name}`.
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
    Ok(Json(integration).into_response())
}

/// Where an attachment's sink starts.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StartFrom {
    /// Entries appended from now on.
    #[default]
    Now,
    /// The whole log.
    Start,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NewAttachment {
    workflow: String,
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    predicate_types: Vec<String>,
    #[serde(default)]
    from: StartFrom,
}

/// `POST /api/v1/integrations/{name}/attachments`.
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
    if let Some(topic) = &settings.topic {
        kafka::validate_topic(topic).map_err(invalid)?;
    }
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
    if let Target::Kafka(s) = &target {
        let topic = s.topic(settings.topic.as_deref());
        kafka::ensure_topic(
            &s.client_config(secrets.get(KAFKA_SASL_PASSWORD)),
            &topic,
            1,
        )
        .await
        .map_err(unreachable_target)?;
    }
    let sink = target
        .sink(&secrets, &settings, state.ledger())
        .map_err(invalid)?;
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
            ledger.delete_sink_cursor(&sink_name)?;
            let cursor = fanout.create_cursor(&sink_name, start)?;
            let attachment = evidence.attach(&name, &workflow, stored_settings)?;
            Ok((attachment, cursor))
        })
        .await?
    };
    fanout.start(&sink_name, sink, settings.filter(&workflow));
    info!(integration = %name, workflow = %stored.workflow, cursor, "integration attached");
    let mut value = serde_json::to_value(&stored).map_err(|e| ApiError::internal(e.to_string()))?;
    value["delivered"] = json!(cursor);
    Ok((StatusCode::CREATED, Json(value)).into_response())
}

/// `DELETE /api/v1/integrations/{name}/attachments/{workflow}`.
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
        Ok(Json(attachment).into_response())
    })
    .await
}

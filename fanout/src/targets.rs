//! Destinations: a registered integration's settings parsed into a
//! [`Target`], the sink one of its attachments runs, and starting the sinks
//! of every stored attachment.
//!
//! An attachment is a sink named `<integration>/<workflow>` ([`sink_name`])
//! whose cursor sits in the ledger's RocksDB. Settings are checked here,
//! before anything is stored; secrets are passed in, never logged.

use std::sync::Arc;

use evledger_evidence::{Attachment, Evidence, EvidenceError, Secrets};
use evledger_ledger::Ledger;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tracing::warn;

use crate::alert::{self, GrpcSettings, GrpcSink};
use crate::kafka::{self, ClientConfigOf as _, KafkaSettings, KafkaSink};
use crate::webhook::{self, WebhookSettings, WebhookSink};
use crate::{FanOut, Filter, Sink};

/// Secret holding a Kafka SASL password.
pub const KAFKA_SASL_PASSWORD: &str = "saslPassword";
/// Secret holding a webhook's HMAC key.
pub const WEBHOOK_SECRET: &str = "secret";

/// Why a destination cannot be used.
#[derive(Debug, Error)]
pub enum TargetError {
    /// Settings or secrets that do not describe a destination (the
    /// caller's mistake).
    #[error("{0}")]
    Invalid(String),
    /// The destination did not answer, or refused what was asked of it.
    #[error("{0}")]
    Unreachable(String),
}

/// A registered destination with its settings parsed and checked.
#[derive(Debug)]
pub enum Target {
    /// A Kafka topic.
    Kafka(KafkaSettings),
    /// A gRPC AlertSink receiver.
    Grpc(GrpcSettings),
    /// An HTTPS webhook.
    Webhook(WebhookSettings),
}

/// `settings` as a `T`, or what is wrong with them.
fn settings_of<T: serde::de::DeserializeOwned>(
    what: &str,
    settings: &serde_json::Value,
) -> Result<T, TargetError> {
    serde_json::from_value(settings.clone())
        .map_err(|e| TargetError::Invalid(format!("{what} settings: {e}")))
}

impl Target {
    /// Parses and checks `settings` of `kind` together with `secrets`.
    ///
    /// # Errors
    ///
    /// [`TargetError::Invalid`]: an unknown kind, a secret the kind does
    /// not take, settings that do not parse or do not validate.
    pub fn parse(
        kind: &str,
        settings: &serde_json::Value,
        secrets: &Secrets,
    ) -> Result<Self, TargetError> {
        let invalid = TargetError::Invalid;
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
                alert::endpoint(&s, secrets.get(alert::secret::CLIENT_KEY)).map_err(invalid)?;
                Self::Grpc(s)
            }
            _ => {
                let s: WebhookSettings = settings_of(kind, settings)?;
                webhook::parse_url(&s.url).map_err(invalid)?;
                if secrets.get(WEBHOOK_SECRET).is_none_or(str::is_empty) {
                    return Err(invalid(
                        "a webhook needs the secret \"secret\" (the HMAC key)".into(),
                    ));
                }
                Self::Webhook(s)
            }
        };
        Ok(target)
    }

    /// Reaches the destination once.
    ///
    /// # Errors
    ///
    /// [`TargetError::Unreachable`]: why it could not be reached.
    pub async fn probe(&self, secrets: &Secrets) -> Result<(), TargetError> {
        let result = match self {
            Self::Kafka(s) => kafka::probe(s.client_config(secrets.get(KAFKA_SASL_PASSWORD))).await,
            Self::Grpc(s) => match alert::endpoint(s, secrets.get(alert::secret::CLIENT_KEY)) {
                Ok(endpoint) => alert::probe(&endpoint).await,
                Err(e) => Err(e),
            },
            Self::Webhook(s) => match webhook::parse_url(&s.url) {
                Ok(url) => webhook::probe(&url).await,
                Err(e) => Err(e),
            },
        };
        result.map_err(TargetError::Unreachable)
    }

    /// Makes the destination ready for an attachment with `settings`: a
    /// Kafka topic is created if missing; other kinds need nothing.
    ///
    /// # Errors
    ///
    /// [`TargetError::Unreachable`]: the topic could not be ensured.
    pub async fn prepare(
        &self,
        secrets: &Secrets,
        settings: &AttachmentSettings,
    ) -> Result<(), TargetError> {
        if let Self::Kafka(s) = self {
            let topic = s.topic(settings.topic.as_deref());
            kafka::ensure_topic(
                &s.client_config(secrets.get(KAFKA_SASL_PASSWORD)),
                &topic,
                1,
            )
            .await
            .map_err(TargetError::Unreachable)?;
        }
        Ok(())
    }

    /// The sink of an attachment with `settings` (a gRPC sink signs with
    /// `ledger`'s key).
    ///
    /// # Errors
    ///
    /// [`TargetError::Invalid`]: settings the sink cannot be built from.
    pub fn sink(
        &self,
        secrets: &Secrets,
        settings: &AttachmentSettings,
        ledger: &Ledger,
    ) -> Result<Arc<dyn Sink>, TargetError> {
        let build = || -> Result<Arc<dyn Sink>, String> {
            Ok(match self {
                Self::Kafka(s) => Arc::new(KafkaSink::new(
                    s,
                    secrets.get(KAFKA_SASL_PASSWORD),
                    &s.topic(settings.topic.as_deref()),
                )?),
                Self::Grpc(s) => Arc::new(GrpcSink::new(
                    &alert::endpoint(s, secrets.get(alert::secret::CLIENT_KEY))?,
                    secrets.get(alert::secret::TOKEN),
                    ledger.clone(),
                )?),
                Self::Webhook(s) => Arc::new(WebhookSink::new(
                    &s.url,
                    secrets.get(WEBHOOK_SECRET).unwrap_or_default().as_bytes(),
                )?),
            })
        };
        build().map_err(TargetError::Invalid)
    }
}

/// What an attachment stores besides its workflow.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachmentSettings {
    /// Kafka topic (default: the integration's default topic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Only entries of these kinds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
    /// Only entries with these predicate types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predicate_types: Vec<String>,
}

impl AttachmentSettings {
    /// Checks what can be checked without the integration: the topic name.
    ///
    /// # Errors
    ///
    /// [`TargetError::Invalid`]: a topic Kafka would refuse.
    pub fn validate(&self) -> Result<(), TargetError> {
        if let Some(topic) = &self.topic {
            kafka::validate_topic(topic).map_err(TargetError::Invalid)?;
        }
        Ok(())
    }

    /// The entries of `workflow` these settings select.
    pub fn filter(&self, workflow: &str) -> Filter {
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

/// Starts the sink of every stored attachment on `fanout`; one that cannot
/// be built (settings a newer version refuses, say) is logged and skipped.
/// Returns how many started.
///
/// # Errors
///
/// Storage errors while reading the attachments.
pub fn start_attached(
    evidence: &Evidence,
    fanout: &FanOut,
    ledger: &Ledger,
) -> Result<usize, EvidenceError> {
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
            Err(error) => warn!(
                integration = %attachment.integration,
                workflow = %attachment.workflow,
                %error,
                "attachment not started"
            ),
        }
    }
    Ok(started)
}

/// The sink and filter of a stored attachment, or why there is none.
fn attachment_sink(
    evidence: &Evidence,
    attachment: &Attachment,
    ledger: &Ledger,
) -> Result<(Arc<dyn Sink>, Filter), String> {
    let integration = evidence
        .integration(&attachment.integration)
        .map_err(|e| e.to_string())?;
    let secrets = evidence
        .integration_secrets(&integration.name)
        .map_err(|e| e.to_string())?;
    let target = Target::parse(&integration.kind, &integration.settings, &secrets)
        .map_err(|e| e.to_string())?;
    let settings: AttachmentSettings =
        settings_of("attachment", &attachment.settings).map_err(|e| e.to_string())?;
    let sink = target
        .sink(&secrets, &settings, ledger)
        .map_err(|e| e.to_string())?;
    Ok((sink, settings.filter(&attachment.workflow)))
}

//! Kafka integration settings: where the broker is, how to reach it, which
//! topic and which CloudEvents mode (the Kafka protocol binding).
//!
//! ```json
//! {"bootstrapServers": "kafka-1:9092,kafka-2:9092", "tls": true,
//!  "saslMechanism": "SCRAM-SHA-512", "saslUsername": "evledger",
//!  "defaultTopic": "evledger.entries", "mode": "binary"}
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The topic of an attachment that names none.
pub const DEFAULT_TOPIC: &str = "evledger.entries";
/// How long the broker may take to acknowledge a message before the round
/// fails and is retried.
pub const MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// How events are laid out in messages (the CloudEvents Kafka binding).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Attributes in `ce_` headers, the data as the value.
    #[default]
    Binary,
    /// The whole event, JSON, as the value.
    Structured,
}

/// Broker settings, chosen at registration. None of them is secret; the
/// SASL password is passed apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KafkaSettings {
    /// `host:port[,host:port...]`.
    pub bootstrap_servers: String,
    /// Connect with TLS.
    #[serde(default)]
    pub tls: bool,
    /// PEM of the CA that signs the brokers' certificates (TLS; default:
    /// the system's roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// SASL mechanism: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_username: Option<String>,
    /// Topic of attachments that name none (default [`DEFAULT_TOPIC`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_topic: Option<String>,
    /// Binary or structured CloudEvents.
    #[serde(default)]
    pub mode: Mode,
    /// How long the broker may take to acknowledge a message before the
    /// round fails and is retried, in milliseconds (default
    /// [`MESSAGE_TIMEOUT`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_timeout_ms: Option<u64>,
}

impl KafkaSettings {
    /// Checks the settings and the SASL password against each other.
    ///
    /// # Errors
    ///
    /// What is wrong.
    pub fn validate(&self, sasl_password: Option<&str>) -> Result<(), String> {
        if self.bootstrap_servers.trim().is_empty() {
            return Err("bootstrapServers is empty".into());
        }
        for server in self.bootstrap_servers.split(',') {
            let (host, port) = server
                .trim()
                .rsplit_once(':')
                .ok_or_else(|| format!("bootstrap server {server:?} is not host:port"))?;
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(format!("bootstrap server {server:?} is not host:port"));
            }
        }
        if let Some(topic) = &self.default_topic {
            validate_topic(topic)?;
        }
        if self
            .message_timeout_ms
            .is_some_and(|ms| !(100..=900_000).contains(&ms))
        {
            return Err("messageTimeoutMs must be from 100 to 900000".into());
        }
        match &self.sasl_mechanism {
            None if self.sasl_username.is_some() || sasl_password.is_some() => {
                Err("a SASL user or password needs saslMechanism".into())
            }
            None => Ok(()),
            Some(m) if !matches!(m.as_str(), "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512") => Err(
                format!("saslMechanism {m:?} is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
            ),
            Some(_) if self.sasl_username.is_none() || sasl_password.is_none() => {
                Err("SASL needs saslUsername and a password".into())
            }
            Some(_) => Ok(()),
        }
    }

    /// The topic for an attachment that asks for `topic`.
    pub fn topic(&self, topic: Option<&str>) -> String {
        topic
            .or(self.default_topic.as_deref())
            .unwrap_or(DEFAULT_TOPIC)
            .to_string()
    }
}

/// Checks a topic name as Kafka does: 1 to 249 of `[a-zA-Z0-9._-]`, not
/// `.` or `..`.
///
/// # Errors
///
/// What is wrong with it.
pub fn validate_topic(topic: &str) -> Result<(), String> {
    let legal = topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if topic.is_empty() || topic.len() > 249 || !legal || topic == "." || topic == ".." {
        return Err(format!(
            "topic {topic:?} is not 1 to 249 characters of [a-zA-Z0-9._-]"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> KafkaSettings {
        KafkaSettings {
            bootstrap_servers: "127.0.0.1:9092".into(),
            tls: false,
            ca_pem: None,
            sasl_mechanism: None,
            sasl_username: None,
            default_topic: None,
            mode: Mode::Binary,
            message_timeout_ms: None,
        }
    }

    #[test]
    fn settings_are_checked() {
        assert!(settings().validate(None).is_ok());
        let mut s = settings();
        s.bootstrap_servers = "localhost".into();
        assert!(s.validate(None).is_err());
        let mut s = settings();
        s.sasl_mechanism = Some("PLAIN".into());
        assert!(s.validate(None).is_err(), "SASL without user and password");
        s.sasl_username = Some("ci".into());
        assert!(s.validate(Some("pw")).is_ok());
        s.sasl_mechanism = Some("GSSAPI".into());
        assert!(s.validate(Some("pw")).is_err());
        assert!(
            settings().validate(Some("pw")).is_err(),
            "password without SASL"
        );
    }

    #[test]
    fn topics_follow_kafka_rules() {
        assert!(validate_topic("evledger.entries").is_ok());
        assert!(validate_topic("a b").is_err());
        assert!(validate_topic("..").is_err());
        assert!(validate_topic(&"x".repeat(250)).is_err());
        assert_eq!(settings().topic(None), DEFAULT_TOPIC);
        assert_eq!(settings().topic(Some("t")), "t");
    }
}

//! Kafka sink: an idempotent producer (`enable.idempotence`, `acks=all`)
//! writing one message per event, keyed by the leaf hash (hex), in
//! CloudEvents binary mode (attributes as `ce_` headers, the data as the
//! value) or structured mode (the whole event as the value).
//!
//! A round's messages are sent together and the round is acknowledged once
//! the broker has acknowledged each of them; the sink's cursor moves only
//! past the leading run of acknowledged messages.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use tracing::warn;

use crate::event::{DATA_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE};
use crate::{BoxFuture, EntryEvent, Sink, SinkFailure};
pub use evledger_fanout_wire::kafka::{
    validate_topic, KafkaSettings, Mode, DEFAULT_TOPIC, MESSAGE_TIMEOUT,
};

/// Entries per round: one acknowledgement round trip covers them all.
pub const BATCH: usize = 1024;
/// How long registration waits for the broker's metadata.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The librdkafka configuration of a client of a broker.
pub trait ClientConfigOf {
    /// The configuration of a client of this broker, with the SASL password.
    fn client_config(&self, sasl_password: Option<&str>) -> ClientConfig;
}

impl ClientConfigOf for KafkaSettings {
    /// The librdkafka configuration of a client of this broker.
    fn client_config(&self, sasl_password: Option<&str>) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        let protocol = match (self.tls, self.sasl_mechanism.is_some()) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        };
        config.set("security.protocol", protocol);
        if let Some(ca) = &self.ca_pem {
            config.set("ssl.ca.pem", ca);
        }
        if let Some(mechanism) = &self.sasl_mechanism {
            config.set("sasl.mechanism", mechanism);
        }
        if let Some(user) = &self.sasl_username {
            config.set("sasl.username", user);
        }
        if let Some(password) = sasl_password {
            config.set("sasl.password", password);
        }
        config
    }
}

/// Asks the broker for its metadata: proves the settings reach it.
///
/// # Errors
///
/// Why the broker cannot be reached.
pub async fn probe(config: ClientConfig) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        let producer: BaseProducer = config.create().map_err(|e| e.to_string())?;
        producer
            .client()
            .fetch_metadata(None, PROBE_TIMEOUT)
            .map(|_| ())
            .map_err(|e| format!("the broker did not answer: {e}"))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Creates `topic` with `partitions` partitions unless it exists.
///
/// # Errors
///
/// Why the topic could not be created.
pub async fn ensure_topic(
    config: &ClientConfig,
    topic: &str,
    partitions: i32,
) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = config.create().map_err(|e| e.to_string())?;
    let options = AdminOptions::new().operation_timeout(Some(PROBE_TIMEOUT));
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &options,
        )
        .await
        .map_err(|e| format!("creating topic {topic}: {e}"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(format!("creating topic {name}: {code}")),
        }
    }
    Ok(())
}

/// Produces to one topic.
pub struct KafkaSink {
    /// The producer's configuration, to build a new one after a fatal error.
    config: ClientConfig,
    /// Shared with the rounds in flight; replaced after a fatal error.
    producer: std::sync::RwLock<Arc<FutureProducer>>,
    topic: String,
    mode: Mode,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("topic", &self.topic)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl KafkaSink {
    /// An idempotent producer to `topic` of the broker `settings` name.
    ///
    /// # Errors
    ///
    /// A configuration librdkafka refuses.
    pub fn new(
        settings: &KafkaSettings,
        sasl_password: Option<&str>,
        topic: &str,
    ) -> Result<Self, String> {
        validate_topic(topic)?;
        let timeout = settings
            .message_timeout_ms
            .unwrap_or(MESSAGE_TIMEOUT.as_millis() as u64);
        let mut config = settings.client_config(sasl_password);
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", timeout.to_string());
        let producer = config.create().map_err(|e| e.to_string())?;
        Ok(Self {
            config,
            producer: std::sync::RwLock::new(Arc::new(producer)),
            topic: topic.to_string(),
            mode: settings.mode,
        })
    }

    fn producer(&self) -> Result<Arc<FutureProducer>, SinkFailure> {
        self.producer
            .read()
            .map(|p| p.clone())
            .map_err(|_| SinkFailure::at(0, "producer lock poisoned"))
    }

    /// Replaces the producer after a failed round. The round is sent again
    /// from the cursor anyway, and a fresh idempotence session (a new
    /// producer id) carries nothing of the failure into the retry: not a
    /// fatal error, which leaves a producer refusing everything, nor an
    /// epoch bump after timed-out messages, which some brokers (tansu 0.6)
    /// mishandle.
    fn renew(&self, producer: &FutureProducer) {
        let fatal = producer.client().fatal_error();
        match self.config.create::<FutureProducer>() {
            Ok(fresh) => {
                if let Ok(mut slot) = self.producer.write() {
                    *slot = Arc::new(fresh);
                }
                if let Some((code, reason)) = fatal {
                    warn!(topic = %self.topic, %code, %reason, "Kafka producer hit a fatal error; replaced it");
                }
            }
            Err(e) => warn!(topic = %self.topic, error = %e, "replacing the Kafka producer failed"),
        }
    }

    fn headers(&self, event: &EntryEvent) -> OwnedHeaders {
        let mut headers = OwnedHeaders::new();
        let content_type = match self.mode {
            Mode::Binary => {
                for (name, value) in event.attributes() {
                    if name == "datacontenttype" {
                        continue;
                    }
                    headers = headers.insert(Header {
                        key: &format!("ce_{name}"),
                        value: Some(value.as_bytes()),
                    });
                }
                DATA_CONTENT_TYPE
            }
            Mode::Structured => STRUCTURED_CONTENT_TYPE,
        };
        headers.insert(Header {
            key: "content-type",
            value: Some(content_type),
        })
    }
}

impl Sink for KafkaSink {
    fn batch(&self) -> usize {
        BATCH
    }

    fn deliver<'a>(&'a self, events: &'a [EntryEvent]) -> BoxFuture<'a, Result<(), SinkFailure>> {
        Box::pin(async move {
            let producer = self.producer()?;
            let result = self.send_all(&producer, events).await;
            if result.is_err() {
                self.renew(&producer);
            }
            result
        })
    }
}

impl KafkaSink {
    /// Sends every event, then waits for each acknowledgement in order.
    async fn send_all(
        &self,
        producer: &FutureProducer,
        events: &[EntryEvent],
    ) -> Result<(), SinkFailure> {
        let mut pending = Vec::with_capacity(events.len());
        let mut refused = None;
        for (i, event) in events.iter().enumerate() {
            let key = event.id();
            let value = match self.mode {
                Mode::Binary => event.data_json(),
                Mode::Structured => event.structured_json(None),
            };
            let record = FutureRecord::to(&self.topic)
                .key(&key)
                .payload(&value)
                .headers(self.headers(event));
            match producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((e, _)) => {
                    refused = Some(SinkFailure::at(i, format!("enqueue: {e}")));
                    break;
                }
            }
        }
        for (i, delivery) in pending.into_iter().enumerate() {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(SinkFailure::at(i, e)),
                Err(_) => return Err(SinkFailure::at(i, "the producer went away")),
            }
        }
        refused.map_or(Ok(()), Err)
    }
}

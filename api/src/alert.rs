//! The gRPC alert sink (`evledger.alert.v1.AlertSink`): the sink that calls
//! a receiver once per entry, and the receiver `evledger alert-receiver`
//! runs.
//!
//! The sink speaks TLS only and checks the server's certificate (against
//! a CA given at registration, else the Web PKI roots); it authenticates
//! with a bearer token, a client certificate, or both. Every request is
//! signed with the log's key, so a receiver that holds the log's verifier
//! key knows who sent it, and every event carries its inclusion proof and
//! checkpoint, so the receiver checks what was sent too.

use std::sync::Arc;
use std::time::Duration;

use evledger_ledger::checkpoint::verify_payload;
use evledger_ledger::{leaf_hash, CheckpointVerifier, InclusionProof, Ledger};
use evledger_reconciler::sink::{one_by_one, BoxFuture, EntryEvent, Sink, SinkFailure};
use prost::Message;
use serde::{Deserialize, Serialize};
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Request, Response, Status};

/// The generated protobuf types and gRPC stubs.
#[allow(missing_docs, clippy::doc_markdown, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("evledger.alert.v1");
}

use proto::alert_sink_client::AlertSinkClient;
use proto::alert_sink_server::AlertSinkServer;

/// Context string of the signature over an encoded [`proto::Event`].
pub const SIGNATURE_CONTEXT: &str = "evledger.alert.v1.Event";
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of a gRPC integration, chosen at registration. The token and
/// the client key are secrets, passed apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrpcSettings {
    /// `https://host:port`.
    pub endpoint: String,
    /// PEM of the CA that signs the receiver's certificate (default: the
    /// Web PKI roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// PEM client certificate for mTLS (its key is the secret `clientKey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_pem: Option<String>,
    /// Name to check the server certificate against (default: the host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// Secret names of a gRPC integration.
pub mod secret {
    /// Bearer token sent as `authorization: Bearer <token>`.
    pub const TOKEN: &str = "token";
    /// PEM private key of the client certificate.
    pub const CLIENT_KEY: &str = "clientKey";
}

impl GrpcSettings {
    /// The endpoint, with TLS configured.
    ///
    /// # Errors
    ///
    /// What is wrong with the settings.
    pub fn endpoint(&self, client_key: Option<&str>) -> Result<Endpoint, String> {
        if !self.endpoint.starts_with("https://") {
            return Err(format!(
                "endpoint {:?} must be https://host:port: the alert sink speaks TLS only",
                self.endpoint
            ));
        }
        let mut tls = ClientTlsConfig::new();
        tls = match &self.ca_pem {
            Some(ca) => tls.ca_certificate(Certificate::from_pem(ca)),
            None => tls.with_webpki_roots(),
        };
        match (&self.client_cert_pem, client_key) {
            (Some(cert), Some(key)) => tls = tls.identity(Identity::from_pem(cert, key)),
            (None, None) => {}
            _ => return Err("mTLS needs both clientCertPem and the clientKey secret".into()),
        }
        if let Some(domain) = &self.domain {
            tls = tls.domain_name(domain);
        }
        Endpoint::from_shared(self.endpoint.clone())
            .map_err(|e| format!("endpoint {:?}: {e}", self.endpoint))?
            .tls_config(tls)
            .map_err(|e| format!("TLS settings: {e}"))
            .map(|e| e.connect_timeout(CONNECT_TIMEOUT).timeout(CALL_TIMEOUT))
    }
}

/// Connects once: proves the receiver answers and its certificate is
/// trusted.
///
/// # Errors
///
/// Why the connection failed.
pub async fn probe(endpoint: &Endpoint) -> Result<(), String> {
    endpoint.connect().await.map(|_| ()).map_err(|e| {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        format!("connecting to {}: {message}", endpoint.uri())
    })
}

/// The protobuf form of an event.
pub fn to_proto(event: &EntryEvent) -> proto::Event {
    proto::Event {
        spec_version: evledger_reconciler::sink::event::SPEC_VERSION.into(),
        r#type: evledger_reconciler::sink::event::EVENT_TYPE.into(),
        id: event.id(),
        source: event.origin.to_string(),
        subject: event.workflow.clone().unwrap_or_default(),
        data_content_type: evledger_reconciler::sink::event::DATA_CONTENT_TYPE.into(),
        data: Some(proto::EntryData {
            log_index: event.log_index,
            leaf_hash: event.leaf_hash.to_vec(),
            entry: event.leaf.clone(),
            kind: event.kind.clone(),
            inclusion_proof: Some(proto::InclusionProof {
                log_index: event.proof.log_index,
                tree_size: event.proof.tree_size,
                root_hash: event.proof.root.to_vec(),
                hashes: event.proof.hashes.iter().map(|h| h.to_vec()).collect(),
            }),
            checkpoint: event.checkpoint.to_string(),
        }),
    }
}

/// Calls a receiver for every event.
pub struct GrpcSink {
    client: AlertSinkClient<Channel>,
    authorization: Option<MetadataValue<tonic::metadata::Ascii>>,
    ledger: Ledger,
}

impl std::fmt::Debug for GrpcSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcSink").finish_non_exhaustive()
    }
}

impl GrpcSink {
    /// A sink calling `endpoint` (connected lazily), with `token` as bearer
    /// token, signing with `ledger`'s key.
    ///
    /// # Errors
    ///
    /// A token that cannot be a header value.
    pub fn new(endpoint: &Endpoint, token: Option<&str>, ledger: Ledger) -> Result<Self, String> {
        let authorization = token
            .map(|t| {
                format!("Bearer {t}")
                    .parse()
                    .map_err(|_| "the token is not a valid header value".to_string())
            })
            .transpose()?;
        Ok(Self {
            client: AlertSinkClient::new(endpoint.connect_lazy()),
            authorization,
            ledger,
        })
    }

    async fn call(&self, event: &EntryEvent) -> Result<(), String> {
        let encoded = to_proto(event).encode_to_vec();
        let signature = self
            .ledger
            .sign_payload(SIGNATURE_CONTEXT, &encoded)
            .map_err(|e| e.to_string())?;
        let mut request = Request::new(proto::AlertRequest {
            event: encoded,
            signature,
            signature_context: SIGNATURE_CONTEXT.into(),
            key_name: self.ledger.origin().to_string(),
        });
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        self.client
            .clone()
            .alert(request)
            .await
            .map(|_| ())
            .map_err(|status| format!("{:?}: {}", status.code(), status.message()))
    }
}

impl Sink for GrpcSink {
    fn deliver<'a>(&'a self, events: &'a [EntryEvent]) -> BoxFuture<'a, Result<(), SinkFailure>> {
        Box::pin(one_by_one(events, |event| self.call(event)))
    }
}

/// What a receiver learned from one verified event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedEvent {
    /// Event id: the leaf hash, hex.
    pub id: String,
    /// Log origin.
    pub source: String,
    /// Workflow, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// Entry kind.
    pub kind: String,
    /// Log index of the entry.
    pub log_index: u64,
    /// Size of the checkpoint the proof verified against.
    pub tree_size: u64,
    /// The entry (canonical JSON).
    pub entry: serde_json::Value,
}

/// The receiving end: checks the caller, the log's signature, the
/// checkpoint and the inclusion proof, then hands the event on.
pub struct AlertReceiver {
    verifier_key: String,
    verifier: CheckpointVerifier,
    token: Option<String>,
    deliver: Arc<dyn Fn(ReceivedEvent) + Send + Sync>,
}

impl std::fmt::Debug for AlertReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertReceiver")
            .field("verifier_key", &self.verifier_key)
            .finish_non_exhaustive()
    }
}

impl AlertReceiver {
    /// A receiver trusting events signed by `verifier_key` (the log's note
    /// verifier key), asking callers for `token` if given, and passing each
    /// verified event to `deliver`.
    ///
    /// # Errors
    ///
    /// A malformed verifier key.
    pub fn new(
        verifier_key: &str,
        token: Option<String>,
        deliver: Arc<dyn Fn(ReceivedEvent) + Send + Sync>,
    ) -> Result<Self, String> {
        let verifier = CheckpointVerifier::new(&[verifier_key]).map_err(|e| e.to_string())?;
        Ok(Self {
            verifier_key: verifier_key.trim().to_string(),
            verifier,
            token,
            deliver,
        })
    }

    /// The tonic service.
    pub fn into_service(self) -> AlertSinkServer<Self> {
        AlertSinkServer::new(self)
    }

    fn check_token<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let given = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("a bearer token is required"))?;
        if constant_time_eq(given.as_bytes(), token.as_bytes()) {
            Ok(())
        } else {
            Err(Status::unauthenticated("the bearer token is not accepted"))
        }
    }

    /// Verifies a request: signature, then checkpoint, leaf hash and proof.
    ///
    /// # Errors
    ///
    /// The status to answer with.
    pub fn verify(&self, request: &proto::AlertRequest) -> Result<ReceivedEvent, Status> {
        verify_payload(
            &self.verifier_key,
            &request.signature_context,
            &request.event,
            &request.signature,
        )
        .map_err(|e| Status::permission_denied(e.to_string()))?;
        if request.signature_context != SIGNATURE_CONTEXT {
            return Err(Status::invalid_argument("unknown signature context"));
        }
        let event = proto::Event::decode(request.event.as_slice())
            .map_err(|e| Status::invalid_argument(format!("event: {e}")))?;
        let data = event
            .data
            .ok_or_else(|| Status::invalid_argument("event without data"))?;
        let proof = data
            .inclusion_proof
            .ok_or_else(|| Status::invalid_argument("event without inclusion proof"))?;
        let checkpoint = self
            .verifier
            .verify(data.checkpoint.as_bytes())
            .map_err(|e| Status::invalid_argument(format!("checkpoint: {e}")))?;
        let hash = leaf_hash(&data.entry);
        if hex::encode(hash) != event.id || data.leaf_hash != hash {
            return Err(Status::invalid_argument(
                "the leaf hash does not match the entry",
            ));
        }
        let hashes = proof
            .hashes
            .iter()
            .map(|h| <[u8; 32]>::try_from(h.as_slice()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Status::invalid_argument("proof hash is not 32 bytes"))?;
        let inclusion = InclusionProof {
            log_index: data.log_index,
            tree_size: checkpoint.size,
            root: checkpoint.root,
            hashes,
        };
        inclusion
            .verify(&hash)
            .map_err(|e| Status::invalid_argument(format!("inclusion proof: {e}")))?;
        Ok(ReceivedEvent {
            id: event.id,
            source: event.source,
            subject: event.subject,
            kind: data.kind,
            log_index: data.log_index,
            tree_size: checkpoint.size,
            entry: serde_json::from_slice(&data.entry).unwrap_or(serde_json::Value::Null),
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[tonic::async_trait]
impl proto::alert_sink_server::AlertSink for AlertReceiver {
    async fn alert(
        &self,
        request: Request<proto::AlertRequest>,
    ) -> Result<Response<proto::AlertResponse>, Status> {
        if let Err(status) = self.check_token(&request) {
            tracing::warn!(reason = status.message(), "alert refused");
            return Err(status);
        }
        let event = self.verify(request.get_ref()).inspect_err(|status| {
            tracing::warn!(reason = status.message(), "alert refused");
        })?;
        let id = event.id.clone();
        (self.deliver)(event);
        Ok(Response::new(proto::AlertResponse { id }))
    }
}

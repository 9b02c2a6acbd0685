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

use crate::{one_by_one, BoxFuture, EntryEvent, Sink, SinkFailure};
use evledger_fanout_wire::alert::{verify_request, RefusedRequest};
use evledger_ledger::{CheckpointVerifier, Ledger};
use prost::Message;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Request, Response, Status};

/// The protobuf messages (`evledger-fanout-wire`) and the gRPC stubs
/// generated over them.
#[allow(missing_docs, clippy::doc_markdown, clippy::pedantic)]
pub mod proto {
    pub use evledger_fanout_wire::alert::proto::*;
    tonic::include_proto!("evledger.alert.v1");
}

use proto::alert_sink_client::AlertSinkClient;
use proto::alert_sink_server::AlertSinkServer;

pub use evledger_fanout_wire::alert::{ReceivedEvent, SIGNATURE_CONTEXT};
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub use evledger_fanout_wire::grpc::{secret, GrpcSettings};

/// The endpoint of `settings`, with TLS configured (`client_key` is the
/// secret key of the client certificate, if any).
///
/// # Errors
///
/// What is wrong with the settings.
pub fn endpoint(settings: &GrpcSettings, client_key: Option<&str>) -> Result<Endpoint, String> {
    settings.validate(client_key)?;
    let mut tls = ClientTlsConfig::new();
    tls = match &settings.ca_pem {
        Some(ca) => tls.ca_certificate(Certificate::from_pem(ca)),
        None => tls.with_webpki_roots(),
    };
    if let (Some(cert), Some(key)) = (&settings.client_cert_pem, client_key) {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    if let Some(domain) = &settings.domain {
        tls = tls.domain_name(domain);
    }
    Endpoint::from_shared(settings.endpoint.clone())
        .map_err(|e| format!("endpoint {:?}: {e}", settings.endpoint))?
        .tls_config(tls)
        .map_err(|e| format!("TLS settings: {e}"))
        .map(|e| e.connect_timeout(CONNECT_TIMEOUT).timeout(CALL_TIMEOUT))
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
        spec_version: crate::event::SPEC_VERSION.into(),
        r#type: crate::event::EVENT_TYPE.into(),
        id: event.id(),
        source: event.origin.to_string(),
        subject: event.workflow.clone().unwrap_or_default(),
        data_content_type: crate::event::DATA_CONTENT_TYPE.into(),
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

    /// Verifies a request: signature, then checkpoint, leaf hash and proof
    /// ([`evledger_fanout_wire::alert::verify_request`]).
    ///
    /// # Errors
    ///
    /// The status to answer with: `PERMISSION_DENIED` for a signature that
    /// does not verify, `INVALID_ARGUMENT` for anything else refused.
    pub fn verify(&self, request: &proto::AlertRequest) -> Result<ReceivedEvent, Status> {
        verify_request(&self.verifier_key, &self.verifier, request).map_err(|e| match e {
            RefusedRequest::Signature(reason) => Status::permission_denied(reason),
            RefusedRequest::Malformed(reason) => Status::invalid_argument(reason),
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

//! `evledger integration register|attach|detach|list|delete` (admin) and
//! `evledger alert-receiver`.
//!
//! Secrets are read from files (or stdin with `-`), never from flags, so
//! they do not show in `ps` or shell history; the server never shows them
//! back.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use crate::workflow::Endpoint;

#[derive(Subcommand)]
pub enum IntegrationCommand {
    /// Register an integration: where to deliver (checked, and reached once).
    #[command(subcommand)]
    Register(RegisterCommand),
    /// Attach an integration to a workflow: a sink with its own cursor.
    Attach(AttachArgs),
    /// Detach an integration from a workflow (its sink stops, its cursor goes).
    Detach {
        #[command(flatten)]
        endpoint: Endpoint,
        #[command(flatten)]
        attachment: AttachmentRef,
    },
    /// Integrations, their attachments, cursors and lag (never secrets).
    List {
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Delete an integration that is attached nowhere.
    Delete {
        #[command(flatten)]
        endpoint: Endpoint,
        /// Integration name.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
pub enum RegisterCommand {
    /// A Kafka broker (an idempotent producer, acks=all).
    Kafka {
        #[command(flatten)]
        endpoint: Endpoint,
        /// Integration name.
        #[arg(long)]
        name: String,
        /// host:port[,host:port...].
        #[arg(long)]
        bootstrap_servers: String,
        /// Connect with TLS.
        #[arg(long)]
        tls: bool,
        /// PEM file of the CA of the brokers' certificates.
        #[arg(long)]
        ca_cert: Option<PathBuf>,
        /// SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long)]
        sasl_mechanism: Option<String>,
        /// SASL user name.
        #[arg(long)]
        sasl_username: Option<String>,
        /// File holding the SASL password.
        #[arg(long)]
        sasl_password_file: Option<PathBuf>,
        /// Topic of attachments that name none (default evledger.entries).
        #[arg(long)]
        default_topic: Option<String>,
        /// CloudEvents mode: binary (attributes in headers) or structured.
        #[arg(long, default_value = "binary")]
        mode: String,
        /// Milliseconds the broker may take to acknowledge a message
        /// before the sink retries it (default 30000).
        #[arg(long)]
        message_timeout_ms: Option<u64>,
    },
    /// A gRPC AlertSink receiver (TLS only).
    Grpc {
        #[command(flatten)]
        endpoint: Endpoint,
        /// Integration name.
        #[arg(long)]
        name: String,
        /// https://host:port of the receiver.
        #[arg(long = "endpoint")]
        target: String,
        /// PEM file of the CA of the receiver's certificate (default: Web PKI roots).
        #[arg(long)]
        ca_cert: Option<PathBuf>,
        /// Name to check the receiver's certificate against.
        #[arg(long)]
        domain: Option<String>,
        /// File holding the bearer token.
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// PEM client certificate (mTLS).
        #[arg(long, requires = "client_key")]
        client_cert: Option<PathBuf>,
        /// PEM private key of the client certificate.
        #[arg(long, requires = "client_cert")]
        client_key: Option<PathBuf>,
    },
    /// A webhook: POSTs signed with HMAC-SHA256.
    Webhook {
        #[command(flatten)]
        endpoint: Endpoint,
        /// Integration name.
        #[arg(long)]
        name: String,
        /// URL events are POSTed to. Credentials in it (user:pass@, query
        /// values) are shown as *** in every answer and log; a server run
        /// with EVLEDGER_WEBHOOK_DENY_PRIVATE refuses private and loopback
        /// addresses. Redirects are never followed.
        #[arg(long)]
        webhook_url: String,
        /// File holding the HMAC secret.
        #[arg(long)]
        secret_file: PathBuf,
    },
}

/// An integration and a workflow it is (to be) attached to.
#[derive(Args)]
pub struct AttachmentRef {
    /// Integration name.
    #[arg(long)]
    integration: String,
    /// Workflow whose entries it receives.
    #[arg(long)]
    workflow: String,
}

#[derive(Args)]
pub struct AttachArgs {
    #[command(flatten)]
    endpoint: Endpoint,
    #[command(flatten)]
    attachment: AttachmentRef,
    /// Kafka topic (default: the integration's default topic).
    #[arg(long)]
    topic: Option<String>,
    /// Only entries of this kind (dsse, contract); repeat for more.
    #[arg(long = "kind")]
    kinds: Vec<String>,
    /// Only entries with this predicate type; repeat for more.
    #[arg(long = "predicate-type")]
    predicate_types: Vec<String>,
    /// Deliver the workflow's entries already in the log too.
    #[arg(long)]
    from_start: bool,
}

/// Reads a file, or stdin for `-`.
fn read(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// A secret from a file, trimmed.
fn secret(path: &Path) -> anyhow::Result<String> {
    Ok(read(path)?.trim().to_string())
}

fn insert(map: &mut Map<String, Value>, key: &str, value: Option<String>) {
    if let Some(value) = value {
        map.insert(key.into(), Value::String(value));
    }
}

/// Runs an `integration` command.
pub fn run(command: IntegrationCommand) -> anyhow::Result<()> {
    match command {
        IntegrationCommand::Register(register) => self::register(register),
        IntegrationCommand::Attach(args) => attach(args),
        IntegrationCommand::Detach {
            endpoint,
            attachment:
                AttachmentRef {
                    integration,
                    workflow,
                },
        } => {
            let value = endpoint.send(
                reqwest::Method::DELETE,
                &format!("/api/v1/integrations/{integration}/attachments/{workflow}"),
                None,
            )?;
            endpoint.print(
                &value,
                &["INTEGRATION", "WORKFLOW", "DETACHED"],
                &[vec![integration, workflow, "yes".into()]],
            );
            Ok(())
        }
        IntegrationCommand::List { endpoint } => list(&endpoint),
        IntegrationCommand::Delete { endpoint, name } => {
            let value = endpoint.send(
                reqwest::Method::DELETE,
                &format!("/api/v1/integrations/{name}"),
                None,
            )?;
            endpoint.print(&value, &["NAME", "DELETED"], &[vec![name, "yes".into()]]);
            Ok(())
        }
    }
}

fn register(command: RegisterCommand) -> anyhow::Result<()> {
    let mut settings = Map::new();
    let mut secrets = Map::new();
    let (endpoint, name, kind) = match command {
        RegisterCommand::Kafka {
            endpoint,
            name,
            bootstrap_servers,
            tls,
            ca_cert,
            sasl_mechanism,
            sasl_username,
            sasl_password_file,
            default_topic,
            mode,
            message_timeout_ms,
        } => {
            settings.insert("bootstrapServers".into(), json!(bootstrap_servers));
            settings.insert("tls".into(), json!(tls));
            insert(
                &mut settings,
                "caPem",
                ca_cert.as_deref().map(read).transpose()?,
            );
            insert(&mut settings, "saslMechanism", sasl_mechanism);
            insert(&mut settings, "saslUsername", sasl_username);
            insert(&mut settings, "defaultTopic", default_topic);
            settings.insert("mode".into(), json!(mode));
            if let Some(ms) = message_timeout_ms {
                settings.insert("messageTimeoutMs".into(), json!(ms));
            }
            insert(
                &mut secrets,
                "saslPassword",
                sasl_password_file.as_deref().map(secret).transpose()?,
            );
            (endpoint, name, "kafka")
        }
        RegisterCommand::Grpc {
            endpoint,
            name,
            target,
            ca_cert,
            domain,
            token_file,
            client_cert,
            client_key,
        } => {
            settings.insert("endpoint".into(), json!(target));
            insert(
                &mut settings,
                "caPem",
                ca_cert.as_deref().map(read).transpose()?,
            );
            insert(&mut settings, "domain", domain);
            insert(
                &mut settings,
                "clientCertPem",
                client_cert.as_deref().map(read).transpose()?,
            );
            insert(
                &mut secrets,
                "token",
                token_file.as_deref().map(secret).transpose()?,
            );
            insert(
                &mut secrets,
                "clientKey",
                client_key.as_deref().map(read).transpose()?,
            );
            (endpoint, name, "grpc")
        }
        RegisterCommand::Webhook {
            endpoint,
            name,
            webhook_url,
            secret_file,
        } => {
            settings.insert("url".into(), json!(webhook_url));
            secrets.insert("secret".into(), json!(secret(&secret_file)?));
            (endpoint, name, "webhook")
        }
    };
    let body = json!({"name": name, "kind": kind, "settings": settings, "secrets": secrets});
    let value = endpoint.send(
        reqwest::Method::POST,
        "/api/v1/integrations",
        Some((serde_json::to_vec(&body)?, "application/json")),
    )?;
    endpoint.print(
        &value,
        &["NAME", "KIND", "SECRETS"],
        &[vec![name, kind.into(), names(&value["secrets"])]],
    );
    Ok(())
}

fn names(list: &Value) -> String {
    let names: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if names.is_empty() {
        "-".into()
    } else {
        names.join(",")
    }
}

fn attach(args: AttachArgs) -> anyhow::Result<()> {
    let AttachmentRef {
        integration,
        workflow,
    } = args.attachment;
    let mut body = json!({
        "workflow": workflow,
        "kinds": args.kinds,
        "predicateTypes": args.predicate_types,
        "from": if args.from_start { "start" } else { "now" },
    });
    if let Some(topic) = &args.topic {
        body["topic"] = json!(topic);
    }
    let value = args.endpoint.send(
        reqwest::Method::POST,
        &format!("/api/v1/integrations/{integration}/attachments"),
        Some((serde_json::to_vec(&body)?, "application/json")),
    )?;
    args.endpoint.print(
        &value,
        &["INTEGRATION", "WORKFLOW", "STARTS AT"],
        &[vec![integration, workflow, value["delivered"].to_string()]],
    );
    Ok(())
}

fn list(endpoint: &Endpoint) -> anyhow::Result<()> {
    let value = endpoint.send(reqwest::Method::GET, "/api/v1/integrations", None)?;
    let mut rows = Vec::new();
    for integration in value["integrations"].as_array().into_iter().flatten() {
        let base = |workflow: String, delivered: String, lag: String| {
            vec![
                integration["name"].as_str().unwrap_or_default().to_string(),
                integration["kind"].as_str().unwrap_or_default().to_string(),
                names(&integration["secrets"]),
                workflow,
                delivered,
                lag,
            ]
        };
        let attachments = integration["attachments"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if attachments.is_empty() {
            rows.push(base("-".into(), "-".into(), "-".into()));
        }
        for a in attachments {
            rows.push(base(
                a["workflow"].as_str().unwrap_or_default().to_string(),
                a["delivered"].to_string(),
                a["lag"].to_string(),
            ));
        }
    }
    endpoint.print(
        &value,
        &["NAME", "KIND", "SECRETS", "WORKFLOW", "DELIVERED", "LAG"],
        &rows,
    );
    Ok(())
}

/// `evledger alert-receiver`: a gRPC AlertSink that verifies each event
/// (caller, log signature, checkpoint, inclusion proof) and prints it as a
/// JSON line.
#[derive(Args)]
pub struct AlertReceiverArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// PEM certificate (chain) of this receiver.
    #[arg(long)]
    tls_cert: PathBuf,
    /// PEM private key of this receiver.
    #[arg(long)]
    tls_key: PathBuf,
    /// PEM CA whose client certificates are required (mTLS).
    #[arg(long)]
    client_ca: Option<PathBuf>,
    /// File holding the bearer token callers must send.
    #[arg(long, env = "EVLEDGER_ALERT_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// The log's verifier key: events must be signed with it.
    #[arg(long, env = "EVLEDGER_LOG_KEY")]
    log_key: String,
}

/// Runs the receiver until SIGINT or SIGTERM.
pub fn alert_receiver(args: AlertReceiverArgs) -> anyhow::Result<()> {
    crate::runtime::init_tracing("text");
    let cert = read(&args.tls_cert)?;
    let key = read(&args.tls_key)?;
    let token = args.token_file.as_deref().map(secret).transpose()?;
    let mut tls = tonic::transport::ServerTlsConfig::new()
        .identity(tonic::transport::Identity::from_pem(cert, key));
    if let Some(ca) = &args.client_ca {
        tls = tls.client_ca_root(tonic::transport::Certificate::from_pem(read(ca)?));
    }
    let print = Arc::new(|event: evledger_fanout::alert::ReceivedEvent| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", serde_json::to_string(&event).unwrap_or_default());
        let _ = out.flush();
    });
    let receiver = evledger_fanout::alert::AlertReceiver::new(&args.log_key, token, print)
        .map_err(|e| anyhow::anyhow!("--log-key: {e}"))?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        let bound = listener.local_addr()?;
        println!("listening on https://{bound}");
        tonic::transport::Server::builder()
            .tls_config(tls)
            .context("TLS settings")?
            .add_service(receiver.into_service())
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                crate::runtime::shutdown_signal(),
            )
            .await
            .context("serving gRPC")
    })
}

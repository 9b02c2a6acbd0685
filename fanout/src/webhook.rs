//! Webhook sink: POSTs each event, structured-mode CloudEvents JSON, signed
//! with HMAC-SHA256 under a secret shared with the receiver.
//!
//! Headers (the scheme of Stripe's webhooks):
//!
//! - `X-Evledger-Timestamp: <Unix seconds>` (also inside the body as the
//!   `deliverytime` extension);
//! - `X-Evledger-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`:
//!   the MAC covers the timestamp header as sent, then a dot, then the
//!   body bytes, so a captured delivery replayed with a fresh timestamp no
//!   longer verifies, and a receiver refusing old timestamps
//!   ([`verify_signature`], [`DEFAULT_TOLERANCE`]) refuses replays;
//! - `X-Evledger-Event-Id: <leaf hash>`, the dedup key.
//!
//! ```text
//! X-Evledger-Timestamp: 1767225600
//! X-Evledger-Signature: sha256=HMAC-SHA256(secret, "1767225600.{\"specversion\":\"1.0\",...}")
//! ```
//!
//! A 2xx answer means delivered; anything else is retried, a 3xx too:
//! redirects are never followed (a receiver that moved is re-registered).
//!
//! # Credentials in URLs
//!
//! A URL may carry credentials (`https://user:pass@host/...`, sent as HTTP
//! basic auth, or a token in the query string). Such a URL is a secret:
//! this module shows it only through [`redact_url`] (Debug, error messages,
//! logs), and listings redact it too.
//!
//! # SSRF
//!
//! A webhook makes the server send requests to a URL an admin chose, from
//! inside the server's network: to loopback services, cloud metadata
//! endpoints (169.254.169.254), or hosts behind the firewall. Only the
//! status of the answer is used, never its body, but the request itself can
//! do harm. With [`DENY_PRIVATE_ENV`] set, [`NetworkPolicy::DenyPrivate`]
//! refuses every non-public address ([`is_non_public`]): an IP literal in
//! the URL at registration ([`parse_url`]), every address the host resolves
//! to at registration ([`probe`]) and again at every connection (a DNS
//! resolver hook), so a name that later re-resolves to a private address
//! (DNS rebinding) is still refused. Proxies from the environment are then
//! ignored, because a proxy would resolve the name itself. Off by default,
//! so webhooks on loopback (tests, the README's example) work.

use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

use crate::event::STRUCTURED_CONTENT_TYPE;
use crate::{one_by_one, BoxFuture, EntryEvent, Sink, SinkFailure};
pub use evledger_fanout_wire::webhook::{
    is_non_public, literal_ip, parse_url, parse_url_with, redact, redact_url, signature,
    verify_signature, NetworkPolicy, SignatureError, WebhookSettings, DEFAULT_TOLERANCE,
    DENY_PRIVATE_ENV, EVENT_ID_HEADER, MAX_TIMESTAMP_DIGITS, REDACTED, SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
};

/// How long one POST may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Resolves names and refuses any that resolves to a non-public address:
/// the check at connection time, so DNS rebinding cannot bypass it.
#[derive(Debug)]
struct DenyPrivateResolver;

impl Resolve for DenyPrivateResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = resolve_public(&host, 0, NetworkPolicy::DenyPrivate).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Every address `host` resolves to, each checked against `policy`.
async fn resolve_public(
    host: &str,
    port: u16,
    policy: NetworkPolicy,
) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("resolving webhook host {host}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("webhook host {host} resolves to no address"));
    }
    for addr in &addrs {
        policy.check(host, addr.ip())?;
    }
    Ok(addrs)
}

/// Delivers to one URL.
pub struct WebhookSink {
    client: reqwest::Client,
    url: Url,
    /// `url` redacted: what messages show.
    shown: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// A sink POSTing to `url`, signing with `secret`, under the process's
    /// [`NetworkPolicy`].
    ///
    /// # Errors
    ///
    /// A malformed or refused URL, an empty secret, or an HTTP client that
    /// cannot be built.
    pub fn new(url: &str, secret: &[u8]) -> Result<Self, String> {
        Self::with_policy(url, secret, NetworkPolicy::from_env())
    }

    /// [`WebhookSink::new`] under `policy`.
    ///
    /// # Errors
    ///
    /// As [`WebhookSink::new`].
    pub fn with_policy(url: &str, secret: &[u8], policy: NetworkPolicy) -> Result<Self, String> {
        if secret.is_empty() {
            return Err("a webhook needs a non-empty secret".into());
        }
        // The URL never changes and redirects are not followed, so an IP
        // literal checked here is the only address ever reached.
        let url = parse_url_with(url, policy)?;
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none());
        if policy == NetworkPolicy::DenyPrivate {
            builder = builder
                .dns_resolver(Arc::new(DenyPrivateResolver))
                .no_proxy();
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            shown: redact(&url),
            url,
            secret: secret.to_vec(),
        })
    }

    async fn post(&self, event: &EntryEvent) -> Result<(), String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let timestamp = now.to_string();
        let body = event.structured_json(Some(now));
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, STRUCTURED_CONTENT_TYPE)
            .header(SIGNATURE_HEADER, signature(&self.secret, &timestamp, &body))
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(EVENT_ID_HEADER, event.id())
            .body(body)
            .send()
            .await
            .map_err(|e| format!("POST {}: {}", self.shown, describe(e)))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_redirection() {
            Err(format!(
                "POST {}: {status}; redirects are not followed",
                self.shown
            ))
        } else {
            Err(format!("POST {}: {status}", self.shown))
        }
    }
}

/// A reqwest error with its causes, without the URL it carries (which may
/// hold credentials).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl Sink for WebhookSink {
    fn deliver<'a>(&'a self, events: &'a [EntryEvent]) -> BoxFuture<'a, Result<(), SinkFailure>> {
        Box::pin(one_by_one(events, |event| self.post(event)))
    }
}

/// Checks that something answers TCP at the URL's host and port; under the
/// process's [`NetworkPolicy`], every address the host resolves to must be
/// allowed.
///
/// # Errors
///
/// Why it is not reachable, or not allowed.
pub async fn probe(url: &Url) -> Result<(), String> {
    probe_with(url, NetworkPolicy::from_env()).await
}

/// [`probe`] under `policy`.
///
/// # Errors
///
/// As [`probe`].
pub async fn probe_with(url: &Url, policy: NetworkPolicy) -> Result<(), String> {
    let host = url.host_str().ok_or("no host")?;
    let port = url
        .port_or_known_default()
        .ok_or("no port for this scheme")?;
    let connect = async {
        let addrs = match literal_ip(url) {
            Some(ip) => {
                policy.check(host, ip)?;
                vec![SocketAddr::new(ip, port)]
            }
            None => resolve_public(host, port, policy).await?,
        };
        // Connect to the addresses checked, not to a fresh resolution.
        tokio::net::TcpStream::connect(&addrs[..])
            .await
            .map_err(|e| format!("{host}:{port} is not reachable: {e}"))
    };
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("{host}:{port} did not answer within 5 s")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sink_never_shows_credentials() {
        let url = "https://alice:hunter2@example.com/hook?token=tok3n&x=1";
        let sink = WebhookSink::with_policy(url, b"k", NetworkPolicy::AllowAll).expect("sink");
        let shown = format!("{sink:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok3n"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn deny_private_refuses_names_at_connection_time() {
        // A name (not a literal) passes parsing; its resolution is checked
        // when the probe or a delivery connects.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let url = format!("http://localhost:{port}/hook");
        let parsed = parse_url_with(&url, NetworkPolicy::DenyPrivate).expect("a name parses");
        assert!(probe_with(&parsed, NetworkPolicy::AllowAll).await.is_ok());
        let err = probe_with(&parsed, NetworkPolicy::DenyPrivate)
            .await
            .unwrap_err();
        assert!(err.contains("non-public"), "{err}");
        let sink = WebhookSink::with_policy(&url, b"k", NetworkPolicy::DenyPrivate).expect("sink");
        let response = sink.client.post(sink.url.clone()).send().await;
        let err = describe(response.expect_err("refused at connection time"));
        assert!(err.contains("non-public"), "{err}");
    }
}

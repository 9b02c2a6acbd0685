//! Webhook sink: POSTs each event, structured-mode CloudEvents JSON, signed
//! with HMAC-SHA256 under a secret shared with the receiver.
//!
//! Headers:
//!
//! - `X-Evledger-Signature: sha256=<hex HMAC-SHA256(secret, body)>`
//! - `X-Evledger-Timestamp: <Unix seconds>`, also inside the body as the
//!   `deliverytime` extension, so the signature covers it: a receiver that
//!   refuses old timestamps refuses replays;
//! - `X-Evledger-Event-Id: <leaf hash>`, the dedup key.
//!
//! A 2xx answer means delivered; anything else is retried.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use reqwest::Url;
use sha2::Sha256;

use super::event::STRUCTURED_CONTENT_TYPE;
use super::{one_by_one, BoxFuture, EntryEvent, Sink, SinkFailure};

/// Header carrying the body's HMAC.
pub const SIGNATURE_HEADER: &str = "X-Evledger-Signature";
/// Header carrying the delivery time.
pub const TIMESTAMP_HEADER: &str = "X-Evledger-Timestamp";
/// Header carrying the event id.
pub const EVENT_ID_HEADER: &str = "X-Evledger-Event-Id";
/// How long one POST may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a delivery as a receiver should: the signature over the body (in
/// constant time) and a timestamp no further than `tolerance` from `now`.
///
/// # Errors
///
/// Why the delivery is refused.
pub fn verify(
    secret: &[u8],
    body: &[u8],
    signature_header: &str,
    timestamp_header: &str,
    now: u64,
    tolerance: Duration,
) -> Result<(), String> {
    let hex_mac = signature_header
        .strip_prefix("sha256=")
        .ok_or("the signature is not sha256=<hex>")?;
    let mac = hex::decode(hex_mac).map_err(|_| "the signature is not hex")?;
    let mut expected =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| "unusable secret".to_string())?;
    expected.update(body);
    expected
        .verify_slice(&mac)
        .map_err(|_| "the signature does not match the body")?;
    let sent: u64 = timestamp_header
        .parse()
        .map_err(|_| "the timestamp is not Unix seconds")?;
    if now.abs_diff(sent) > tolerance.as_secs() {
        return Err(format!("the timestamp {sent} is too far from now ({now})"));
    }
    Ok(())
}

/// Settings of a webhook integration, chosen at registration; the HMAC
/// secret is passed apart.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where events are POSTed.
    pub url: String,
}

/// Delivers to one URL.
pub struct WebhookSink {
    client: reqwest::Client,
    url: Url,
    secret: Vec<u8>,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

/// Parses a webhook URL: http or https, with a host.
///
/// # Errors
///
/// What is wrong with it.
pub fn parse_url(url: &str) -> Result<Url, String> {
    let url = Url::parse(url).map_err(|e| format!("webhook url {url:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("webhook url {url} must be http(s)://host/..."));
    }
    Ok(url)
}

impl WebhookSink {
    /// A sink POSTing to `url`, signing with `secret`.
    ///
    /// # Errors
    ///
    /// A malformed URL, an empty secret, or an HTTP client that cannot be built.
    pub fn new(url: &str, secret: &[u8]) -> Result<Self, String> {
        if secret.is_empty() {
            return Err("a webhook needs a non-empty secret".into());
        }
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            url: parse_url(url)?,
            secret: secret.to_vec(),
        })
    }

    async fn post(&self, event: &EntryEvent) -> Result<(), String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let body = event.structured_json(Some(now));
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, STRUCTURED_CONTENT_TYPE)
            .header(SIGNATURE_HEADER, signature(&self.secret, &body))
            .header(TIMESTAMP_HEADER, now.to_string())
            .header(EVENT_ID_HEADER, event.id())
            .body(body)
            .send()
            .await
            .map_err(|e| format!("POST {}: {e}", self.url))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("POST {}: {}", self.url, response.status()))
        }
    }
}

impl Sink for WebhookSink {
    fn deliver<'a>(&'a self, events: &'a [EntryEvent]) -> BoxFuture<'a, Result<(), SinkFailure>> {
        Box::pin(one_by_one(events, |event| self.post(event)))
    }
}

/// Checks that something answers TCP at the URL's host and port.
///
/// # Errors
///
/// Why it is not reachable.
pub async fn probe(url: &Url) -> Result<(), String> {
    let host = url.host_str().ok_or("no host")?;
    let port = url
        .port_or_known_default()
        .ok_or("no port for this scheme")?;
    let connect = tokio::net::TcpStream::connect((host, port));
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("{host}:{port} is not reachable: {e}")),
        Err(_) => Err(format!("{host}:{port} did not answer within 5 s")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_verifies_and_tampering_is_detected() {
        let body = br#"{"id":"x"}"#;
        let sig = signature(b"s3cret", body);
        let window = Duration::from_secs(300);
        assert!(verify(b"s3cret", body, &sig, "1000", 1100, window).is_ok());
        assert!(verify(b"s3cret", br#"{"id":"y"}"#, &sig, "1000", 1100, window).is_err());
        assert!(verify(b"other", body, &sig, "1000", 1100, window).is_err());
        assert!(verify(b"s3cret", body, &sig, "1000", 2000, window).is_err());
        assert!(verify(b"s3cret", body, "md5=00", "1000", 1000, window).is_err());
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(parse_url("https://example.com/hook").is_ok());
        assert!(parse_url("ftp://example.com/").is_err());
        assert!(parse_url("not a url").is_err());
    }
}

//! Webhook integrations, with no connections: the settings, the URL
//! policy (SSRF) and redaction, and the signature a receiver checks.
//!
//! Each delivery is a POST of structured-mode CloudEvents JSON with:
//!
//! - `X-Evledger-Timestamp: <Unix seconds>` (also inside the body as the
//!   `deliverytime` extension);
//! - `X-Evledger-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`:
//!   the MAC covers the timestamp header as sent, a dot, then the body, so a
//!   replay with a fresh timestamp no longer verifies and a receiver
//!   refusing old timestamps ([`verify_signature`], [`DEFAULT_TOLERANCE`])
//!   refuses replays;
//! - `X-Evledger-Event-Id: <leaf hash>`, the dedup key.
//!
//! ```text
//! X-Evledger-Timestamp: 1767225600
//! X-Evledger-Signature: sha256=HMAC-SHA256(secret, "1767225600.{\"specversion\":\"1.0\",...}")
//! ```
//!
//! A URL may carry credentials: it is shown only through [`redact_url`].
//! With [`DENY_PRIVATE_ENV`] set, [`NetworkPolicy::DenyPrivate`] refuses
//! non-public addresses ([`is_non_public`]); [`parse_url_with`] applies it
//! to IP literals, and the sink applies it again to every address a name
//! resolves to, at every connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;
use url::Url;

/// Header carrying the HMAC of timestamp and body.
pub const SIGNATURE_HEADER: &str = "X-Evledger-Signature";
/// Header carrying the delivery time (Unix seconds), covered by the HMAC.
pub const TIMESTAMP_HEADER: &str = "X-Evledger-Timestamp";
/// Header carrying the event id.
pub const EVENT_ID_HEADER: &str = "X-Evledger-Event-Id";
/// How far from the receiver's clock a delivery's timestamp may be before
/// [`verify_signature`] refuses it (Stripe's default).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Longest timestamp header [`verify_signature`] reads (`u64::MAX` has 20 digits).
pub const MAX_TIMESTAMP_DIGITS: usize = 20;
/// Environment variable of `evledger serve`: when set to anything but
/// empty, `0`, `false`, `no` or `off`, webhooks to non-public addresses are
/// refused ([`NetworkPolicy::DenyPrivate`]).
pub const DENY_PRIVATE_ENV: &str = "EVLEDGER_WEBHOOK_DENY_PRIVATE";
/// What a redacted credential reads as.
pub const REDACTED: &str = "***";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The [`SIGNATURE_HEADER`] value, `sha256=<hex>`, of a delivery of `body`
/// at `timestamp` (the [`TIMESTAMP_HEADER`] value) under `secret`.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Why [`verify_signature`] refused a delivery.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// The timestamp header is not Unix seconds.
    #[error("the timestamp header is not Unix seconds")]
    BadTimestamp,
    /// The signature header is not `sha256=<64 hex digits>`.
    #[error("the signature header is not sha256=<hex>")]
    BadSignature,
    /// The MAC does not match timestamp and body under the secret.
    #[error("the signature does not match the timestamp and body")]
    Mismatch,
    /// A valid signature, but too old (a replay) or too far in the future.
    #[error("the timestamp {sent} is more than {tolerance} s from now ({now})")]
    Stale {
        /// The delivery's timestamp.
        sent: u64,
        /// The receiver's clock.
        now: u64,
        /// The tolerance, seconds.
        tolerance: u64,
    },
}

/// Checks a delivery as a receiver should: the HMAC of
/// `"{timestamp_header}.{body}"` under `secret`, compared in constant time,
/// then the timestamp no further than `tolerance` from `now` (Unix
/// seconds; [`DEFAULT_TOLERANCE`] unless the receiver has a reason). Returns
/// the delivery's timestamp. Pass the header values exactly as received.
///
/// # Errors
///
/// [`SignatureError`]: why the delivery must be refused.
pub fn verify_signature(
    secret: &[u8],
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now: u64,
    tolerance: Duration,
) -> Result<u64, SignatureError> {
    if timestamp_header.is_empty()
        || timestamp_header.len() > MAX_TIMESTAMP_DIGITS
        || !timestamp_header.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(SignatureError::BadTimestamp);
    }
    let sent: u64 = timestamp_header
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let tag = signature_header
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .filter(|t| t.len() == 32)
        .ok_or(SignatureError::BadSignature)?;
    // verify_slice compares in constant time.
    mac(secret, timestamp_header, body)
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch)?;
    if now.abs_diff(sent) > tolerance.as_secs() {
        return Err(SignatureError::Stale {
            sent,
            now,
            tolerance: tolerance.as_secs(),
        });
    }
    Ok(sent)
}

/// Settings of a webhook integration, chosen at registration; the HMAC
/// secret is passed apart.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookSettings {
    /// Where events are POSTed; may carry credentials (see the module doc).
    pub url: String,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

/// `url` with its credentials replaced by [`REDACTED`]: the user name and
/// password, and every query value (keys stay). Safe to show and log; a
/// string that is not a URL shows as `<invalid url>`.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(url) => redact(&url),
        Err(_) => "<invalid url>".into(),
    }
}

/// [`redact_url`] of a parsed URL.
pub fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    if !shown.username().is_empty() || shown.password().is_some() {
        // Fails only for URLs that cannot have credentials, which have none.
        let _ = shown.set_username(REDACTED);
        let _ = shown.set_password(None);
    }
    if shown.query().is_some() {
        let keys: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
        shown
            .query_pairs_mut()
            .clear()
            .extend_pairs(keys.iter().map(|k| (k.as_str(), REDACTED)));
    }
    shown.to_string()
}

/// Which addresses webhooks may reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NetworkPolicy {
    /// Any address (the default).
    #[default]
    AllowAll,
    /// Public addresses only: [`is_non_public`] ones are refused.
    DenyPrivate,
}

impl NetworkPolicy {
    /// The policy [`DENY_PRIVATE_ENV`] sets for this process. A value that
    /// is not a clear "off" turns the protection on.
    pub fn from_env() -> Self {
        match std::env::var(DENY_PRIVATE_ENV) {
            Ok(v)
                if !matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "" | "0" | "false" | "no" | "off"
                ) =>
            {
                Self::DenyPrivate
            }
            _ => Self::AllowAll,
        }
    }

    /// Whether `ip` may be reached.
    ///
    /// # Errors
    ///
    /// Why not.
    pub fn check(self, host: &str, ip: IpAddr) -> Result<(), String> {
        if self == Self::DenyPrivate && is_non_public(ip) {
            return Err(format!(
                "webhook host {host} is {ip}, a private, loopback, link-local or otherwise non-public address, refused because {DENY_PRIVATE_ENV} is on"
            ));
        }
        Ok(())
    }
}

/// Whether `ip` is outside the public unicast Internet: unspecified,
/// loopback, private (RFC 1918), shared (RFC 6598), link-local, benchmark,
/// documentation, multicast, broadcast or reserved IPv4; IPv6 unspecified,
/// loopback, unique-local (fc00::/7), link-local (fe80::/10), site-local,
/// multicast, documentation; and an IPv6 address embedding an IPv4 one
/// (mapped, compatible, NAT64, 6to4) when the embedded one is.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_non_public(v4),
        IpAddr::V6(v6) => v6_non_public(v6),
    }
}

fn v4_non_public(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // "this network", 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224 // multicast, reserved, broadcast
}

fn v6_non_public(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if ip.is_unspecified() || ip.is_loopback() {
        return true;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_non_public(v4);
    }
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // IPv4-compatible (::a.b.c.d), deprecated.
    if s[..6] == [0; 6] {
        return v4_non_public(embedded(s[6], s[7]));
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_non_public(embedded(s[6], s[7]));
    }
    // 6to4 2002:a.b.c.d::/48.
    if s[0] == 0x2002 {
        return v4_non_public(embedded(s[1], s[2]));
    }
    (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local, deprecated
        || (s[0] & 0xff00) == 0xff00 // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
}

/// The IP of a URL whose host is an IP literal.
pub fn literal_ip(url: &Url) -> Option<IpAddr> {
    // The URL parser has already normalised IPv4 forms (`0x7f.1` is
    // `127.0.0.1`) and brackets IPv6 ones.
    let host = url.host_str()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.parse().ok()
}

/// Parses a webhook URL: http or https, with a host; under the process's
/// [`NetworkPolicy`], an IP literal host must be allowed.
///
/// # Errors
///
/// What is wrong with it (never showing its credentials).
pub fn parse_url(url: &str) -> Result<Url, String> {
    parse_url_with(url, NetworkPolicy::from_env())
}

/// [`parse_url`] under `policy`.
///
/// # Errors
///
/// What is wrong with it (never showing its credentials).
pub fn parse_url_with(url: &str, policy: NetworkPolicy) -> Result<Url, String> {
    // The parse error never carries the text: it may hold credentials.
    let parsed = Url::parse(url).map_err(|e| format!("webhook url: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "webhook url {} must be http(s)://host/...",
            redact(&parsed)
        ));
    }
    if let Some(ip) = literal_ip(&parsed) {
        policy.check(&ip.to_string(), ip)?;
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_covers_timestamp_and_body() {
        let body = br#"{"id":"x"}"#;
        let sig = signature(b"s3cret", "1000", body);
        // An HMAC computed here, independently: over "1000." then the body.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(b"s3cret").expect("key");
        mac.update(b"1000.{\"id\":\"x\"}");
        assert_eq!(
            sig,
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
        let window = DEFAULT_TOLERANCE;
        assert_eq!(
            verify_signature(b"s3cret", "1000", &sig, body, 1100, window),
            Ok(1000)
        );
        let refused = |ts: &str, sig: &str, body: &[u8], secret: &[u8], now: u64| {
            verify_signature(secret, ts, sig, body, now, window).unwrap_err()
        };
        assert_eq!(
            refused("1000", &sig, br#"{"id":"y"}"#, b"s3cret", 1100),
            SignatureError::Mismatch
        );
        assert_eq!(
            refused("1000", &sig, body, b"other", 1100),
            SignatureError::Mismatch
        );
        // A replay with a fresh timestamp header: the MAC no longer matches.
        assert_eq!(
            refused("1090", &sig, body, b"s3cret", 1100),
            SignatureError::Mismatch
        );
        assert_eq!(
            refused("01000", &sig, body, b"s3cret", 1100),
            SignatureError::Mismatch
        );
        assert!(matches!(
            refused("1000", &sig, body, b"s3cret", 1000 + 301),
            SignatureError::Stale { sent: 1000, .. }
        ));
        assert!(matches!(
            refused("1000", &sig, body, b"s3cret", 1000 - 301),
            SignatureError::Stale { .. }
        ));
        assert_eq!(
            refused("1000", "md5=00", body, b"s3cret", 1000),
            SignatureError::BadSignature
        );
        assert_eq!(
            refused("1000", "sha256=00", body, b"s3cret", 1000),
            SignatureError::BadSignature
        );
        for ts in ["", "-1", "1e3", " 1000", "123456789012345678901"] {
            assert_eq!(
                refused(ts, &sig, body, b"s3cret", 1000),
                SignatureError::BadTimestamp,
                "{ts:?}"
            );
        }
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(parse_url_with("https://example.com/hook", NetworkPolicy::AllowAll).is_ok());
        assert!(parse_url_with("ftp://example.com/", NetworkPolicy::AllowAll).is_err());
        assert!(parse_url_with("not a url", NetworkPolicy::AllowAll).is_err());
    }

    #[test]
    fn errors_and_debug_never_show_credentials() {
        let url = "https://alice:hunter2@example.com/hook?token=tok3n&x=1";
        assert_eq!(
            redact_url(url),
            "https://***@example.com/hook?token=***&x=***"
        );
        assert_eq!(
            redact_url("https://example.com/hook"),
            "https://example.com/hook"
        );
        let err = parse_url_with("ftp://alice:hunter2@example.com/", NetworkPolicy::AllowAll)
            .unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse_url_with("http://alice:hunter2@[::1", NetworkPolicy::AllowAll).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        let settings = WebhookSettings { url: url.into() };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn non_public_ranges_are_recognised() {
        for ip in [
            "0.0.0.0",
            "10.1.2.3",
            "127.0.0.1",
            "127.255.0.9",
            "100.64.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2001:db8::1",
        ] {
            assert!(is_non_public(ip.parse().expect(ip)), "{ip} is not public");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_non_public(ip.parse().expect(ip)), "{ip} is public");
        }
    }

    #[test]
    fn deny_private_refuses_literals_at_parse_time() {
        for url in [
            "http://127.0.0.1:8080/hook",
            "http://[::1]/hook",
            "http://0x7f.1/hook",
            "http://169.254.169.254/latest/meta-data",
        ] {
            assert!(
                parse_url_with(url, NetworkPolicy::AllowAll).is_ok(),
                "{url}"
            );
            let err = parse_url_with(url, NetworkPolicy::DenyPrivate).unwrap_err();
            assert!(err.contains(DENY_PRIVATE_ENV), "{url}: {err}");
        }
        assert!(parse_url_with("http://8.8.8.8/hook", NetworkPolicy::DenyPrivate).is_ok());
    }
}

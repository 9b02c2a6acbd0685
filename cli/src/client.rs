//! Blocking HTTP helpers for the commands that talk to a live log.

use anyhow::{bail, Context};

/// Largest response the CLI reads (a checkpoint, an entry, a proof).
pub const MAX_RESPONSE: u64 = 4 * 1024 * 1024;

/// Deadline of an ordinary request.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The CLI's blocking HTTP client: every request has a deadline.
pub fn client() -> anyhow::Result<reqwest::blocking::Client> {
    client_with_timeout(REQUEST_TIMEOUT)
}

/// A blocking HTTP client whose requests have `timeout` (for downloads
/// longer than an ordinary answer).
pub fn client_with_timeout(
    timeout: std::time::Duration,
) -> anyhow::Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .context("building the HTTP client")
}

/// GETs `base` + `path` and returns the body, failing on any non-2xx status.
pub fn get_text(base: &str, path: &str) -> anyhow::Result<String> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let response = client()?
        .get(&url)
        .send()
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if response.content_length().is_some_and(|n| n > MAX_RESPONSE) {
        bail!("GET {url}: response too large");
    }
    let body = response.text().with_context(|| format!("reading {url}"))?;
    if !status.is_success() {
        bail!("GET {url}: {status}: {}", body.trim());
    }
    Ok(body)
}

/// GETs JSON.
pub fn get_json(base: &str, path: &str) -> anyhow::Result<serde_json::Value> {
    let text = get_text(base, path)?;
    serde_json::from_str(&text).with_context(|| format!("{path}: response is not JSON"))
}

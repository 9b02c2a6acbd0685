//! The integration lifecycle, after Chainloop's: an integration is
//! registered once (where to deliver, with its secrets), then attached to
//! workflows; each attachment is one sink with its own cursor.
//!
//! This module keeps the records. What a kind's settings mean, and whether
//! its endpoint answers, is the caller's to check before registering.
//!
//! A URL setting may carry credentials (`https://user:pass@host/`, or a
//! token in its query string): it is stored as given, because the sink
//! needs it, but every record this module hands out for display
//! ([`Integration::redacted`]: the answers of register and delete, and
//! listings) shows the user name and password and every query value as
//! [`REDACTED`].

use evledger_ledger::cosignature::unix_now;

use crate::store::{Attachment, Integration, Secrets};
use crate::{contract, Evidence, EvidenceError};

/// The kinds of integration.
pub const KINDS: [&str; 3] = ["kafka", "grpc", "webhook"];

/// Settings that hold a URL, redacted in what is shown.
pub const URL_SETTINGS: [&str; 2] = ["url", "endpoint"];

/// What a redacted credential reads as.
pub const REDACTED: &str = "***";

/// `url` with the user name and password (everything before the last `@`
/// of the authority) and every query value replaced by [`REDACTED`].
///
/// Written to over-redact: the authority ends at the first `/`, `?`, `#`
/// or `\` after the scheme's colon and any slashes, as WHATWG URL parsing
/// ends it for http(s) (which also reads `http:user:pass@host` as having
/// credentials), so whatever a URL parser takes for credentials is hidden.
pub fn redact_url(url: &str) -> String {
    let Some(colon) = url.find(':') else {
        return url.to_string();
    };
    let (scheme, rest) = url.split_at(colon + 1);
    let after_slashes = rest.trim_start_matches(['/', '\\']);
    let slashes = &rest[..rest.len() - after_slashes.len()];
    let end = after_slashes
        .find(['/', '?', '#', '\\'])
        .unwrap_or(after_slashes.len());
    let (authority, tail) = after_slashes.split_at(end);
    let authority = match authority.rfind('@') {
        Some(at) => format!("{REDACTED}{}", &authority[at..]),
        None => authority.to_string(),
    };
    let tail = match tail.find('?') {
        None => tail.to_string(),
        Some(q) => {
            let (path, query) = tail.split_at(q);
            let (query, fragment) = match query.find('#') {
                Some(h) => query.split_at(h),
                None => (query, ""),
            };
            let pairs: Vec<String> = query[1..]
                .split('&')
                .map(|pair| {
                    let key = pair.split('=').next().unwrap_or_default();
                    format!("{key}={REDACTED}")
                })
                .collect();
            format!("{path}?{}{fragment}", pairs.join("&"))
        }
    };
    format!("{scheme}{slashes}{authority}{tail}")
}

impl Integration {
    /// This integration as it may be shown and logged: its URL settings
    /// ([`URL_SETTINGS`]) through [`redact_url`]. Secrets are never in a
    /// record anyway.
    pub fn redacted(&self) -> Self {
        let mut shown = self.clone();
        if let Some(settings) = shown.settings.as_object_mut() {
            for key in URL_SETTINGS {
                if let Some(serde_json::Value::String(url)) = settings.get_mut(key) {
                    *url = redact_url(url);
                }
            }
        }
        shown
    }
}

impl Evidence {
    /// Checks that an integration `name` of `kind` could be registered:
    /// before reaching out to its endpoint, say.
    ///
    /// # Errors
    ///
    /// [`EvidenceError::Invalid`] for a bad name or kind,
    /// [`EvidenceError::Exists`] if the name is taken.
    pub fn check_new_integration(&self, name: &str, kind: &str) -> Result<(), EvidenceError> {
        if !contract::is_valid_name(name) {
            return Err(EvidenceError::Invalid(format!(
                "integration name {name:?} must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
            )));
        }
        if !KINDS.contains(&kind) {
            return Err(EvidenceError::Invalid(format!(
                "integration kind {kind:?} is not one of {}",
                KINDS.join(", ")
            )));
        }
        if self.store.integration(name)?.is_some() {
            return Err(EvidenceError::Exists(format!(
                "integration {name:?} exists"
            )));
        }
        Ok(())
    }

    /// Registers an integration; returns it [redacted](Integration::redacted).
    ///
    /// # Errors
    ///
    /// [`EvidenceError::Invalid`] for a bad name or kind,
    /// [`EvidenceError::Exists`] if the name is taken.
    pub fn register_integration(
        &self,
        name: &str,
        kind: &str,
        settings: serde_json::Value,
        secrets: Secrets,
    ) -> Result<Integration, EvidenceError> {
        self.check_new_integration(name, kind)?;
        let integration = Integration {
            name: name.to_string(),
            kind: kind.to_string(),
            settings,
            secrets: secrets.0.keys().cloned().collect(),
            created_at: unix_now(),
        };
        self.store.put_integration(&integration, &secrets)?;
        Ok(integration.redacted())
    }

    /// The integration named `name`.
    ///
    /// # Errors
    ///
    /// [`EvidenceError::NotFound`].
    pub fn integration(&self, name: &str) -> Result<Integration, EvidenceError> {
        self.store
            .integration(name)?
            .ok_or_else(|| EvidenceError::NotFound(format!("no integration {name:?}")))
    }

    /// Every integration, by name.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn integrations(&self) -> Result<Vec<Integration>, EvidenceError> {
        self.store.integrations()
    }

    /// The secrets of integration `name`, for building its sinks.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn integration_secrets(&self, name: &str) -> Result<Secrets, EvidenceError> {
        self.store.secrets(name)
    }

    /// Deletes an integration that is attached nowhere; returns it
    /// [redacted](Integration::redacted).
    ///
    /// # Errors
    ///
    /// [`EvidenceError::NotFound`], or [`EvidenceError::Exists`] while it
    /// is attached.
    pub fn delete_integration(&self, name: &str) -> Result<Integration, EvidenceError> {
        let integration = self.integration(name)?;
        let attached = self.store.attachments(Some(name))?;
        if !attached.is_empty() {
            let workflows: Vec<&str> = attached.iter().map(|a| a.workflow.as_str()).collect();
            return Err(EvidenceError::Exists(format!(
                "integration {name:?} is attached to {}; detach it first",
                workflows.join(", ")
            )));
        }
        self.store.delete_integration(name)?;
        Ok(integration.redacted())
    }

    /// Attaches integration `integration` to `workflow`.
    ///
    /// # Errors
    ///
    /// [`EvidenceError::NotFound`] for an unknown integration or workflow,
    /// [`EvidenceError::Exists`] if already attached.
    pub fn attach(
        &self,
        integration: &str,
        workflow: &str,
        settings: serde_json::Value,
    ) -> Result<Attachment, EvidenceError> {
        self.integration(integration)?;
        self.workflow(workflow)?;
        if self.store.attachment(integration, workflow)?.is_some() {
            return Err(EvidenceError::Exists(format!(
                "integration {integration:?} is already attached to workflow {workflow:?}"
            )));
        }
        let attachment = Attachment {
            integration: integration.to_string(),
            workflow: workflow.to_string(),
            settings,
            created_at: unix_now(),
        };
        self.store.put_attachment(&attachment)?;
        Ok(attachment)
    }

    /// Detaches integration `integration` from `workflow`.
    ///
    /// # Errors
    ///
    /// [`EvidenceError::NotFound`] if it is not attached there.
    pub fn detach(&self, integration: &str, workflow: &str) -> Result<Attachment, EvidenceError> {
        let attachment = self
            .store
            .attachment(integration, workflow)?
            .ok_or_else(|| {
                EvidenceError::NotFound(format!(
                    "integration {integration:?} is not attached to workflow {workflow:?}"
                ))
            })?;
        self.store.delete_attachment(integration, workflow)?;
        Ok(attachment)
    }

    /// The attachments of `integration`, or all of them.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn attachments(&self, integration: Option<&str>) -> Result<Vec<Attachment>, EvidenceError> {
        self.store.attachments(integration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_userinfo_and_query_values() {
        for (url, shown) in [
            ("https://example.com/hook", "https://example.com/hook"),
            (
                "https://alice:hunter2@example.com:8443/hook",
                "https://***@example.com:8443/hook",
            ),
            ("http://alice@example.com/", "http://***@example.com/"),
            (
                "https://a:b@c@example.com/x@y",
                "https://***@example.com/x@y",
            ),
            (
                "https://example.com/hook?token=hunter2&x=1#frag",
                "https://example.com/hook?token=***&x=***#frag",
            ),
            ("http:alice:hunter2@example.com/", "http:***@example.com/"),
            (
                "http:\\\\alice:hunter2@example.com\\x",
                "http:\\\\***@example.com\\x",
            ),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn redacted_integration_keeps_everything_but_credentials() {
        let integration = Integration {
            name: "hook".into(),
            kind: "webhook".into(),
            settings: serde_json::json!({"url": "https://u:hunter2@h/p", "other": "u:hunter2@x"}),
            secrets: vec!["secret".into()],
            created_at: 1,
        };
        let shown = integration.redacted();
        assert_eq!(shown.settings["url"], "https://***@h/p");
        assert_eq!(shown.settings["other"], "u:hunter2@x");
        assert_eq!(shown.name, integration.name);
        assert_eq!(shown.secrets, integration.secrets);
    }
}

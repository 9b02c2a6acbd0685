//! The integration lifecycle, after Chainloop's: an integration is
//! registered once (where to deliver, with its secrets), then attached to
//! workflows; each attachment is one sink with its own cursor.
//!
//! This module keeps the records. What a kind's settings mean, and whether
//! its endpoint answers, is the caller's to check before registering.

use evledger_ledger::cosignature::unix_now;

use crate::store::{Attachment, Integration, Secrets};
use crate::{contract, Evidence, EvidenceError};

/// The kinds of integration.
pub const KINDS: [&str; 3] = ["kafka", "grpc", "webhook"];

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

    /// Registers an integration.
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
        Ok(integration)
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

    /// Deletes an integration that is attached nowhere.
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
        Ok(integration)
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

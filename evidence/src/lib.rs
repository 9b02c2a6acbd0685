//! The evidence workflow, Chainloop's model enforced on the server: workflows,
//! contracts with immutable numbered revisions (each one logged as a
//! `contract` entry), robot-account tokens scoped to one workflow, a
//! content-addressed store for material blobs, and the check of an
//! attestation against its contract revision.
//!
//! The model lives in its own RocksDB beside the log; the log stays the
//! source of truth for what was accepted, and a contract revision is
//! recorded only once its entry is in the log (a crash between the two is
//! resolved at open, by asking the log for the entry's leaf hash).

pub mod attestation;
pub mod cas;
pub mod contract;
pub mod integration;
pub mod materials;
pub mod store;

use std::path::Path;

use evledger_ledger::cosignature::unix_now;
use evledger_ledger::entry::{ContractEntry, Entry};
use evledger_ledger::{leaf_hash, Ledger, LedgerError};
use rand::RngCore;
use sha2::{Digest, Sha256};
use thiserror::Error;

pub use cas::{Cas, CasError};
pub use contract::{Contract, ContractError, MaterialType};
pub use store::{Attachment, Integration, Revision, RobotAccount, Secrets, Store, Workflow};

/// Prefix of robot-account tokens (so scanners can spot leaked ones).
pub const TOKEN_PREFIX: &str = "evlr_";

/// Errors of the evidence service.
#[derive(Debug, Error)]
pub enum EvidenceError {
    /// A name, field or document is invalid (400).
    #[error("{0}")]
    Invalid(String),
    /// The contract does not parse or validate (400).
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// No such workflow, revision or account (404).
    #[error("{0}")]
    NotFound(String),
    /// It exists already (409).
    #[error("{0}")]
    Exists(String),
    /// The log refused or failed the append.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The database failed.
    #[error("evidence storage: {0}")]
    Storage(String),
}

impl From<rocksdb::Error> for EvidenceError {
    fn from(e: rocksdb::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

/// The SHA-256 (hex) under which a token is stored.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Workflows, contracts, robot accounts and CAS over one ledger.
pub struct Evidence {
    store: Store,
    cas: Cas,
    ledger: Ledger,
    /// One contract update at a time: revision numbers are dense.
    contract_update: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evidence")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Evidence {
    /// Opens the evidence database in `dir/db` and CAS in `dir/cas`, and
    /// settles revisions left pending by a crash.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn open(dir: &Path, ledger: Ledger) -> Result<Self, EvidenceError> {
        let store = Store::open(&dir.join("db"))?;
        let evidence = Self {
            store,
            cas: Cas::new(&dir.join("cas")),
            ledger,
            contract_update: tokio::sync::Mutex::new(()),
        };
        for (workflow, pending) in evidence.store.pending()? {
            let hash: [u8; 32] = hex::decode(&pending.leaf_hash)
                .ok()
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| EvidenceError::Storage("corrupt pending revision".into()))?;
            match evidence.ledger.index_of(&hash)? {
                Some(log_index) => evidence.store.commit_revision(&Revision {
                    workflow,
                    revision: pending.revision,
                    contract: pending.contract,
                    log_index,
                    leaf_hash: pending.leaf_hash,
                    created_at: pending.created_at,
                })?,
                None => evidence.store.drop_pending(&workflow)?,
            }
        }
        Ok(evidence)
    }

    /// The blob store.
    pub fn cas(&self) -> &Cas {
        &self.cas
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Creates a workflow.
    ///
    /// # Errors
    ///
    /// [`EvidenceError::Invalid`] for a bad name, [`EvidenceError::Exists`].
    pub fn create_workflow(
        &self,
        name: &str,
        project: &str,
        team: &str,
    ) -> Result<Workflow, EvidenceError> {
        for (field, value) in [("name", name), ("project", project)] {
            if !contract::is_valid_name(value) {
                return Err(EvidenceError::Invalid(format!(
                    "{field} {value:?} must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
                )));
            }
        }
        if !team.is_empty() && !contract::is_valid_name(team) {
            return Err(EvidenceError::Invalid(format!(
                "team {team:?} must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
            )));
        }
        if self.store.workflow(name)?.is_some() {
            return Err(EvidenceError::Exists(format!("workflow {name:?} exists")));
        }
        let workflow = Workflow {
            name: name.to_string(),
            project: project.to_string(),
            team: team.to_string(),
            created_at: unix_now(),
        };
        self.store.put_workflow(&workflow)?;
        Ok(workflow)
    }

    /// The workflow named `name`.
    ///
    /// # Errors
    ///
    /// [`EvidenceError::NotFound`].
    pub fn workflow(&self, name: &str) -> Result<Workflow, EvidenceError> {
        self.store
            .workflow(name)?
            .ok_or_else(|| EvidenceError::NotFound(format!("no workflow {name:?}")))
    }

    /// Parses `text` as a contract and, if it differs from the latest
    /// revision, logs it as the next revision. Returns the revision and
    /// whether it is new.
    ///
    /// # Errors
    ///
    /// [`EvidenceError::Contract`] naming what is wrong; log errors.
    pub async fn update_contract(
        &self,
        workflow: &str,
        text: &[u8],
    ) -> Result<(Revision, bool), EvidenceError> {
        let contract = Contract::parse(text)?;
        let workflow = self.workflow(workflow)?;
        let json =
            serde_json::to_value(&contract).map_err(|e| EvidenceError::Invalid(e.to_string()))?;
        let _one_at_a_time = self.contract_update.lock().await;
        let latest = self.store.revision(&workflow.name, None)?;
        if let Some(latest) = latest.as_ref().filter(|l| l.contract == json) {
            return Ok((latest.clone(), false));
        }
        let revision = latest.map_or(1, |l| l.revision + 1);
        let entry = Entry::contract(ContractEntry {
            workflow: workflow.name.clone(),
            project: workflow.project.clone(),
            revision,
            contract: json.clone(),
        })
        .map_err(|e| EvidenceError::Invalid(e.to_string()))?;
        let pending = store::PendingRevision {
            revision,
            contract: json,
            leaf_hash: hex::encode(leaf_hash(&entry.leaf)),
            created_at: unix_now(),
        };
        // Intent first, then the log, then the record: a crash anywhere
        // leaves an intent that `open` settles against the log.
        self.store.put_pending(&workflow.name, &pending)?;
        let appended = self.ledger.append(entry.leaf).await?;
        let record = Revision {
            workflow: workflow.name,
            revision,
            contract: pending.contract,
            log_index: appended.log_index,
            leaf_hash: pending.leaf_hash,
            created_at: pending.created_at,
        };
        self.store.commit_revision(&record)?;
        Ok((record, true))
    }

    /// Revision `revision` (or the latest) of `workflow`'s contract.
    ///
    /// # Errors
    ///
    /// [`EvidenceError::NotFound`].
    pub fn revision(
        &self,
        workflow: &str,
        revision: Option<u64>,
    ) -> Result<Revision, EvidenceError> {
        self.workflow(workflow)?;
        self.store.revision(workflow, revision)?.ok_or_else(|| {
            EvidenceError::NotFound(match revision {
                Some(n) => format!("workflow {workflow:?} has no contract revision {n}"),
                None => format!("workflow {workflow:?} has no contract"),
            })
        })
    }

    /// Creates a robot account for `workflow`; returns it and its token,
    /// which is not stored and cannot be shown again.
    ///
    /// # Errors
    ///
    /// [`EvidenceError::NotFound`] for an unknown workflow; storage errors.
    pub fn create_robot(&self, workflow: &str) -> Result<(RobotAccount, String), EvidenceError> {
        self.workflow(workflow)?;
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let mut id = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut id);
        use base64::Engine;
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let robot = RobotAccount {
            id: format!("ra-{}", hex::encode(id)),
            workflow: workflow.to_string(),
            created_at: unix_now(),
            revoked_at: None,
            last_used_at: None,
        };
        self.store.put_robot(&robot, &token_hash(&token))?;
        Ok((robot, token))
    }

    /// Robot accounts, of one workflow or all.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn robots(&self, workflow: Option<&str>) -> Result<Vec<RobotAccount>, EvidenceError> {
        Ok(self
            .store
            .robots()?
            .into_iter()
            .filter(|r| workflow.is_none_or(|w| r.workflow == w))
            .collect())
    }

    /// Revokes robot account `id` (idempotent).
    ///
    /// # Errors
    ///
    /// [`EvidenceError::NotFound`]; storage errors.
    pub fn revoke_robot(&self, id: &str) -> Result<RobotAccount, EvidenceError> {
        let mut robot = self
            .store
            .robot(id)?
            .ok_or_else(|| EvidenceError::NotFound(format!("no robot account {id:?}")))?;
        if robot.revoked_at.is_none() {
            robot.revoked_at = Some(unix_now());
            self.store.update_robot(&robot)?;
        }
        Ok(robot)
    }

    /// The live robot account holding `token`, its last use updated.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn authenticate(&self, token: &str) -> Result<Option<RobotAccount>, EvidenceError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let Some(mut robot) = self.store.robot_by_token_hash(&token_hash(token))? else {
            return Ok(None);
        };
        if robot.revoked_at.is_some() {
            return Ok(None);
        }
        robot.last_used_at = Some(unix_now());
        self.store.record_use(&robot)?;
        Ok(Some(robot))
    }
}

impl Evidence {
    /// Copies the evidence database (a RocksDB checkpoint) to `dir/db` and
    /// the CAS blobs to `dir/cas` (hard links where the file system allows),
    /// while serving. `dir` must not exist.
    ///
    /// Take it before the log's backup: every revision recorded here then
    /// has its entry in the log's copy. Copy CAS after the log's backup
    /// ([`Evidence::backup_cas_to`]) so every blob a logged attestation
    /// names is in the copy.
    ///
    /// # Errors
    ///
    /// Storage and I/O errors.
    pub fn backup_db_to(&self, dir: &Path) -> Result<(), EvidenceError> {
        std::fs::create_dir_all(dir).map_err(|e| EvidenceError::Storage(e.to_string()))?;
        self.store.backup_to(&dir.join("db"))
    }

    /// Copies every CAS blob to `dir/cas`; see [`Evidence::backup_db_to`].
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn backup_cas_to(&self, dir: &Path) -> Result<u64, EvidenceError> {
        self.cas
            .copy_to(&dir.join("cas"))
            .map_err(|e| EvidenceError::Storage(e.to_string()))
    }
}

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
//!
//! Pushes enter through [`Evidence::admit`] (who may append what, and the
//! contract check) and pass the push gate ([`Evidence::append_gated`]): a robot's entry
//! is appended only while its account is live and the contract revision its
//! attestation was checked against is the latest, and a revocation or a new
//! revision waits for the pushes already past that check. Once a revocation
//! or a contract update has answered, no push that contradicts it appends.

mod admission;
pub mod attestation;
pub mod cas;
pub mod integration;
pub mod store;

// Contracts and material checks live in their own crate (no storage,
// fuzzed); re-exported under the names callers have always used.
pub use evledger_contract as contract;
pub use evledger_contract::materials;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use evledger_ledger::cosignature::unix_now;
use evledger_ledger::entry::{ContractEntry, Entry};
use evledger_ledger::{leaf_hash, Appended, Ledger, LedgerError};
use rand::RngCore;
use sha2::{Digest, Sha256};
use thiserror::Error;

pub use admission::Pusher;
pub use cas::{Cas, CasError};
pub use contract::{Contract, ContractError, MaterialType};
pub use store::{
    Attachment, Integration, PendingRevision, Revision, RobotAccount, Secrets, Store, Workflow,
};

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
    /// The robot account was revoked (or deleted) before its push could
    /// append (401).
    #[error("robot account {0:?} is revoked")]
    Revoked(String),
    /// The attestation names a contract revision older than the latest
    /// (422): the latest is the one enforced.
    #[error(
        "the attestation names contract revision {named} of workflow {workflow:?}, but the \
         latest is revision {latest}: craft it again under revision {latest}"
    )]
    ContractOutdated {
        /// The workflow.
        workflow: String,
        /// The revision the attestation names.
        named: u64,
        /// The latest revision, the one enforced.
        latest: u64,
    },
    /// The pusher may not append this entry: a robot account pushing
    /// anything but its workflow's attestations (403).
    #[error("{0}")]
    Forbidden(String),
    /// The attestation's evledger predicate does not parse (400).
    #[error("{0}")]
    BadPredicate(String),
    /// The attestation does not meet its contract revision: every unmet
    /// requirement (422).
    #[error("the attestation does not meet its contract: {}", .0.join("; "))]
    ContractUnmet(Vec<String>),
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

/// Runs RocksDB work off the async workers.
async fn off_worker<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, EvidenceError> + Send + 'static,
) -> Result<T, EvidenceError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| EvidenceError::Storage(format!("blocking task failed: {e}")))?
}

/// Runs `work` in a task of its own, so that it finishes even if the
/// caller goes away: axum drops a handler's future when its client hangs
/// up, and a multi-step update must not stop between its steps.
async fn to_the_end<T: Send + 'static>(
    work: impl Future<Output = Result<T, EvidenceError>> + Send + 'static,
) -> Result<T, EvidenceError> {
    tokio::spawn(work)
        .await
        .map_err(|e| EvidenceError::Storage(format!("task failed: {e}")))?
}

/// What must still hold at the moment a push's entry is appended; see
/// [`Evidence::append_gated`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushCheck {
    /// The robot account pushing (none for the admin): it must be live.
    pub robot: Option<String>,
    /// The workflow and the contract revision the attestation was checked
    /// against (none for an entry that is not an evledger attestation): it
    /// must still be the latest.
    pub contract: Option<(String, u64)>,
}

/// Workflows, contracts, robot accounts and CAS over one ledger.
pub struct Evidence {
    store: Store,
    cas: Cas,
    ledger: Ledger,
    /// One contract update at a time: revision numbers are dense.
    contract_update: tokio::sync::Mutex<()>,
    /// The push gate. Invariant: a push appends only while holding a read
    /// guard, taken before it checks its [`PushCheck`] and held until the
    /// ledger has answered its append; a revocation and the record of a new
    /// contract revision are written only under the write guard. So when
    /// either has been written, every push checked against the old state
    /// has already appended, and every later one sees the new state.
    gate: tokio::sync::RwLock<()>,
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
            gate: tokio::sync::RwLock::new(()),
        };
        for (workflow, pending) in evidence.store.pending()? {
            evidence.settle(workflow, pending)?;
        }
        Ok(evidence)
    }

    /// Settles the intent of a revision whose update did not finish: if its
    /// entry is in the log the revision is recorded, else the intent is
    /// dropped. Call it only while no append of that entry is in flight
    /// (at open, or under the contract-update lock).
    fn settle(&self, workflow: String, pending: PendingRevision) -> Result<(), EvidenceError> {
        let hash: [u8; 32] = hex::decode(&pending.leaf_hash)
            .ok()
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| EvidenceError::Storage("corrupt pending revision".into()))?;
        match self.ledger.index_of(&hash)? {
            Some(log_index) => self.store.commit_revision(&Revision {
                workflow,
                revision: pending.revision,
                contract: pending.contract,
                log_index,
                leaf_hash: pending.leaf_hash,
                created_at: pending.created_at,
            }),
            None => self.store.drop_pending(&workflow),
        }
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
    /// Once called, the update runs to its end in a task of its own, even
    /// if the caller's future is dropped: stopped between the append and
    /// the record, it would leave a logged revision unrecorded.
    ///
    /// # Errors
    ///
    /// [`EvidenceError::Contract`] naming what is wrong,
    /// [`EvidenceError::NotFound`] for an unknown workflow; log errors.
    pub async fn update_contract(
        self: &Arc<Self>,
        workflow: &str,
        text: &[u8],
    ) -> Result<(Revision, bool), EvidenceError> {
        let contract = Contract::parse(text)?;
        let json =
            serde_json::to_value(&contract).map_err(|e| EvidenceError::Invalid(e.to_string()))?;
        let this = Arc::clone(self);
        let workflow = workflow.to_string();
        to_the_end(async move { this.log_revision(workflow, json).await }).await
    }

    /// The body of [`Evidence::update_contract`], run in its own task.
    async fn log_revision(
        self: Arc<Self>,
        workflow: String,
        json: serde_json::Value,
    ) -> Result<(Revision, bool), EvidenceError> {
        let _one_at_a_time = self.contract_update.lock().await;
        // An intent left by an update that failed after writing it (its
        // append may or may not be in the log) is settled before numbering:
        // otherwise this update could take a number the log already holds.
        let this = Arc::clone(&self);
        let (workflow, latest) = off_worker(move || {
            let record = this.workflow(&workflow)?;
            if let Some(pending) = this.store.pending_of(&workflow)? {
                this.settle(workflow.clone(), pending)?;
            }
            let latest = this.store.revision(&workflow, None)?;
            Ok((record, latest))
        })
        .await?;
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
        // leaves an intent that `open` (or the next update) settles against
        // the log.
        let (this, name, intent) = (Arc::clone(&self), workflow.name.clone(), pending.clone());
        off_worker(move || this.store.put_pending(&name, &intent)).await?;
        let appended = self.ledger.append(entry.leaf).await?;
        let record = Revision {
            workflow: workflow.name,
            revision,
            contract: pending.contract,
            log_index: appended.log_index,
            leaf_hash: pending.leaf_hash,
            created_at: pending.created_at,
        };
        // Under the push gate's write guard: a push checked against the
        // previous revision cannot append once this one is recorded.
        let _exclusive = self.gate.write().await;
        let (this, committed) = (Arc::clone(&self), record.clone());
        off_worker(move || this.store.commit_revision(&committed)).await?;
        Ok((record, true))
    }

    /// The revision of `workflow`'s contract an attestation naming revision
    /// `named` is checked against: the latest, and only if it names it.
    ///
    /// # Errors
    ///
    /// [`EvidenceError::ContractOutdated`] if `named` is older than the
    /// latest; [`EvidenceError::NotFound`] if there is no such revision.
    pub fn enforced_revision(&self, workflow: &str, named: u64) -> Result<Revision, EvidenceError> {
        let latest = self.revision(workflow, None)?;
        if named < latest.revision {
            return Err(EvidenceError::ContractOutdated {
                workflow: workflow.to_string(),
                named,
                latest: latest.revision,
            });
        }
        if named > latest.revision {
            return Err(EvidenceError::NotFound(format!(
                "workflow {workflow:?} has no contract revision {named}"
            )));
        }
        Ok(latest)
    }

    /// Appends `leaf` if `check` still holds, through the push gate (see
    /// the invariant on `Evidence::gate`): under the gate's read guard it
    /// checks that the robot account is live and the contract revision is
    /// the latest, then appends and waits for the ledger's answer. It runs
    /// in its own task, so a caller going away cannot release the guard
    /// while its entry is still on its way into the log.
    ///
    /// # Errors
    ///
    /// [`EvidenceError::Revoked`], [`EvidenceError::ContractOutdated`],
    /// [`EvidenceError::NotFound`]; log errors.
    pub async fn append_gated(
        self: &Arc<Self>,
        check: PushCheck,
        leaf: Vec<u8>,
    ) -> Result<Appended, EvidenceError> {
        if check.robot.is_none() && check.contract.is_none() {
            // The admin's plain entry: nothing a revocation or a contract
            // update could invalidate, so no gate and no re-check.
            return Ok(self.ledger.append(leaf).await?);
        }
        let this = Arc::clone(self);
        to_the_end(async move {
            let _shared = this.gate.read().await;
            let checker = Arc::clone(&this);
            off_worker(move || checker.still_holds(&check)).await?;
            Ok(this.ledger.append(leaf).await?)
        })
        .await
    }

    /// Whether `check` holds now.
    fn still_holds(&self, check: &PushCheck) -> Result<(), EvidenceError> {
        if let Some(id) = &check.robot {
            let live = self
                .store
                .robot(id)?
                .is_some_and(|r| r.revoked_at.is_none());
            if !live {
                return Err(EvidenceError::Revoked(id.clone()));
            }
        }
        if let Some((workflow, named)) = &check.contract {
            self.enforced_revision(workflow, *named)?;
        }
        Ok(())
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

    /// Revokes robot account `id` (idempotent), durably, under the push
    /// gate's write guard: when it returns, no push by the account appends
    /// any more (see [`Evidence::append_gated`]). It runs to its end even if
    /// the caller goes away.
    ///
    /// # Errors
    ///
    /// [`EvidenceError::NotFound`]; storage errors.
    pub async fn revoke_robot(self: &Arc<Self>, id: &str) -> Result<RobotAccount, EvidenceError> {
        let (this, id) = (Arc::clone(self), id.to_string());
        to_the_end(async move {
            let _exclusive = this.gate.write().await;
            let revoker = Arc::clone(&this);
            off_worker(move || {
                revoker
                    .store
                    .revoke_robot(&id, unix_now())?
                    .ok_or_else(|| EvidenceError::NotFound(format!("no robot account {id:?}")))
            })
            .await
        })
        .await
    }

    /// The live robot account holding `token`, its last use recorded (under
    /// its own key: the account's record is never rewritten here).
    ///
    /// A live account here is not yet leave to append: a push is checked
    /// again at the push gate ([`Evidence::append_gated`]).
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn authenticate(&self, token: &str) -> Result<Option<RobotAccount>, EvidenceError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let Some(robot) = self.store.robot_by_token_hash(&token_hash(token))? else {
            return Ok(None);
        };
        if robot.revoked_at.is_some() {
            return Ok(None);
        }
        let now = unix_now();
        self.store.record_use(&robot.id, now)?;
        Ok(Some(RobotAccount {
            last_used_at: Some(now),
            ..robot
        }))
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

#[cfg(test)]
mod tests {
    use evledger_ledger::{BatchPolicy, LedgerConfig, LogSigner};

    use super::*;

    /// The all-zero-seed test key of the ledger's note vectors.
    const TEST_SIGNER_KEY: &str =
        "PRIVATE+KEY+log.example/evidence+aff48047+AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    fn open(dir: &Path) -> (Arc<Evidence>, Ledger) {
        let ledger = Ledger::open(LedgerConfig {
            data_dir: dir.join("log"),
            signer: LogSigner::from_signer_key(TEST_SIGNER_KEY).expect("test key"),
            batch: BatchPolicy::default(),
        })
        .expect("open ledger");
        let evidence = Evidence::open(&dir.join("evidence"), ledger.clone()).expect("evidence");
        (Arc::new(evidence), ledger)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_push_authenticated_before_a_revocation_cannot_append_after_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (evidence, ledger) = open(dir.path());
        evidence
            .create_workflow("build", "app", "")
            .expect("workflow");
        let (robot, token) = evidence.create_robot("build").expect("robot");
        let live = evidence.authenticate(&token).expect("authenticate");
        assert_eq!(live.map(|r| r.id), Some(robot.id.clone()));

        let revoked = evidence.revoke_robot(&robot.id).await.expect("revoke");
        assert!(revoked.revoked_at.is_some());
        let check = PushCheck {
            robot: Some(robot.id.clone()),
            contract: None,
        };
        let refused = evidence.append_gated(check, b"{}".to_vec()).await;
        assert!(
            matches!(refused, Err(EvidenceError::Revoked(ref id)) if *id == robot.id),
            "{refused:?}"
        );
        assert_eq!(ledger.checkpoint().size, 0, "nothing appended");

        // The last use is kept apart and never undoes the revocation.
        assert!(evidence
            .authenticate(&token)
            .expect("authenticate")
            .is_none());
        let listed = evidence.robots(Some("build")).expect("robots");
        assert!(listed[0].revoked_at.is_some(), "{listed:?}");
        assert!(listed[0].last_used_at.is_some(), "{listed:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn only_the_latest_contract_revision_is_enforced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (evidence, _ledger) = open(dir.path());
        evidence
            .create_workflow("build", "app", "")
            .expect("workflow");
        let loose = b"schemaVersion: v1\n";
        let strict = b"schemaVersion: v1\nmaterials:\n  - type: STRING\n    name: version\n";
        assert_eq!(
            evidence
                .update_contract("build", loose)
                .await
                .expect("rev 1")
                .0
                .revision,
            1
        );
        assert_eq!(
            evidence
                .enforced_revision("build", 1)
                .expect("latest")
                .revision,
            1
        );
        assert_eq!(
            evidence
                .update_contract("build", strict)
                .await
                .expect("rev 2")
                .0
                .revision,
            2
        );
        match evidence.enforced_revision("build", 1) {
            Err(
                e @ EvidenceError::ContractOutdated {
                    named: 1,
                    latest: 2,
                    ..
                },
            ) => {
                let message = e.to_string();
                assert!(
                    message.contains("revision 1") && message.contains("revision 2"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            evidence.enforced_revision("build", 3),
            Err(EvidenceError::NotFound(_))
        ));
        // At the gate too: a push checked under revision 1 cannot append.
        let check = PushCheck {
            robot: None,
            contract: Some(("build".into(), 1)),
        };
        let refused = evidence.append_gated(check, b"{}".to_vec()).await;
        assert!(
            matches!(refused, Err(EvidenceError::ContractOutdated { .. })),
            "{refused:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_update_left_pending_after_its_append_is_settled_before_numbering() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (evidence, ledger) = open(dir.path());
        evidence
            .create_workflow("build", "app", "")
            .expect("workflow");
        // What an update stopped between its append and its record leaves:
        // an intent for revision 1 whose entry is in the log.
        let contract = serde_json::json!({"schemaVersion": "v1", "materials": []});
        let entry = Entry::contract(ContractEntry {
            workflow: "build".into(),
            project: "app".into(),
            revision: 1,
            contract: contract.clone(),
        })
        .expect("entry");
        let pending = PendingRevision {
            revision: 1,
            contract,
            leaf_hash: hex::encode(leaf_hash(&entry.leaf)),
            created_at: unix_now(),
        };
        evidence
            .store()
            .put_pending("build", &pending)
            .expect("intent");
        let first = ledger.append(entry.leaf).await.expect("append");

        let (next, created) = evidence
            .update_contract("build", b"schemaVersion: v1\nenvAllowList: [X]\n")
            .await
            .expect("update");
        assert!(created);
        assert_eq!(next.revision, 2, "revision 1 is taken by the logged entry");
        let settled = evidence
            .revision("build", Some(1))
            .expect("revision 1 recorded");
        assert_eq!(settled.log_index, first.log_index);
        assert!(evidence
            .store()
            .pending_of("build")
            .expect("pending")
            .is_none());
    }
}

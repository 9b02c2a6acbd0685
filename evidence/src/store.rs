//! RocksDB storage of the evidence model (outside the Merkle log).
//!
//! | key                         | value (JSON)                                   |
//! |-----------------------------|------------------------------------------------|
//! | `wf/<workflow>`             | [`Workflow`]                                   |
//! | `rev/<workflow>/<u64 BE>`   | [`Revision`]: the contract and its log entry   |
//! | `pending/<workflow>`        | [`PendingRevision`]: a revision being logged   |
//! | `robot/<id>`                | [`RobotAccount`] (its `lastUsedAt` kept apart) |
//! | `lastused/<id>`             | last use of a robot account, Unix s (u64 BE)   |
//! | `token/<sha256 of token>`   | robot account id                               |
//! | `integration/<name>`        | [`Integration`]                                |
//! | `secret/<integration>`      | [`Secrets`] of the integration                 |
//! | `attach/<integration>/<workflow>` | [`Attachment`]                           |
//! | `envelope/<leaf hash hex>`  | the DSSE envelope of a Rekor v2 DSSE entry     |
//!
//! A Rekor v2 DSSE leaf logs the payload's hash and the signatures, not the
//! envelope; the envelope is written here, synced, before its entry is
//! appended, so every such entry in the log has its envelope (a refused
//! append leaves an envelope no entry names, which nothing reads).
//! Tokens are stored only as their SHA-256, in the key that finds their account. Writes that must go together
//! are one `WriteBatch`, synced.
//!
//! A robot account's record is written only when it is created and when it
//! is revoked; the last use, written on every push, has its own key. So no
//! push can write a record back over a revocation it did not see.

use std::path::Path;

use rocksdb::{Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::EvidenceError;

/// A workflow: what robot accounts push attestations for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    /// Unique name (DNS-1123 label).
    pub name: String,
    /// Project it belongs to.
    pub project: String,
    /// Owning team.
    pub team: String,
    /// Creation time, Unix seconds.
    pub created_at: u64,
}

/// An immutable contract revision and where it is in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// Workflow it governs.
    pub workflow: String,
    /// Revision number, from 1.
    pub revision: u64,
    /// The contract, as JSON.
    pub contract: serde_json::Value,
    /// Log index of its `contract` entry.
    pub log_index: u64,
    /// Leaf hash of that entry (hex).
    pub leaf_hash: String,
    /// Creation time, Unix seconds.
    pub created_at: u64,
}

/// A revision whose log entry may or may not have been appended (crash
/// between append and record); resolved against the log at open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingRevision {
    /// The revision as it will be recorded (log index unknown).
    pub revision: u64,
    /// The contract.
    pub contract: serde_json::Value,
    /// Leaf hash of its entry (hex): how the log is asked.
    pub leaf_hash: String,
    /// Creation time, Unix seconds.
    pub created_at: u64,
}

/// A robot account: a token scoped to one workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RobotAccount {
    /// Public identifier.
    pub id: String,
    /// The workflow it may push for.
    pub workflow: String,
    /// Creation time, Unix seconds.
    pub created_at: u64,
    /// Revocation time, if revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
    /// Last successful use, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<u64>,
}

/// A registered integration: a place the fan-out delivers to. The kind
/// (`kafka`, `grpc`, `webhook`) gives the meaning of its settings; its
/// secrets are stored apart and never listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    /// Unique name (DNS-1123 label).
    pub name: String,
    /// `kafka`, `grpc` or `webhook`.
    pub kind: String,
    /// The kind's settings.
    pub settings: serde_json::Value,
    /// Names of the secrets stored with it (never their values).
    pub secrets: Vec<String>,
    /// Creation time, Unix seconds.
    pub created_at: u64,
}

/// An integration attached to a workflow: a sink with its own cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// The integration.
    pub integration: String,
    /// The workflow whose entries it receives.
    pub workflow: String,
    /// Per-attachment settings (topic, filters).
    pub settings: serde_json::Value,
    /// Creation time, Unix seconds.
    pub created_at: u64,
}

/// Secret settings of an integration, by name. Printing one shows only the
/// names.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets(pub std::collections::BTreeMap<String, String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.0.keys().map(|k| format!("{k}=<redacted>")))
            .finish()
    }
}

impl Secrets {
    /// The secret called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// The evidence database.
pub struct Store {
    db: DB,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path())
            .finish()
    }
}

fn workflow_key(name: &str) -> Vec<u8> {
    format!("wf/{name}").into_bytes()
}

fn revision_prefix(workflow: &str) -> Vec<u8> {
    format!("rev/{workflow}/").into_bytes()
}

fn revision_key(workflow: &str, revision: u64) -> Vec<u8> {
    let mut key = revision_prefix(workflow);
    key.extend_from_slice(&revision.to_be_bytes());
    key
}

fn pending_key(workflow: &str) -> Vec<u8> {
    format!("pending/{workflow}").into_bytes()
}

fn robot_key(id: &str) -> Vec<u8> {
    format!("robot/{id}").into_bytes()
}

fn last_used_key(id: &str) -> Vec<u8> {
    format!("lastused/{id}").into_bytes()
}

fn token_key(hash: &str) -> Vec<u8> {
    format!("token/{hash}").into_bytes()
}

fn integration_key(name: &str) -> Vec<u8> {
    format!("integration/{name}").into_bytes()
}

fn secret_key(integration: &str) -> Vec<u8> {
    format!("secret/{integration}").into_bytes()
}

fn attachment_prefix(integration: &str) -> Vec<u8> {
    format!("attach/{integration}/").into_bytes()
}

fn attachment_key(integration: &str, workflow: &str) -> Vec<u8> {
    let mut key = attachment_prefix(integration);
    key.extend_from_slice(workflow.as_bytes());
    key
}

fn envelope_key(leaf_hash: &[u8; 32]) -> Vec<u8> {
    format!("envelope/{}", hex::encode(leaf_hash)).into_bytes()
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, EvidenceError> {
    serde_json::to_vec(value).map_err(|e| EvidenceError::Storage(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, EvidenceError> {
    serde_json::from_slice(bytes)
        .map_err(|e| EvidenceError::Storage(format!("corrupt record: {e}")))
}

impl Store {
    /// Opens (creating) the database at `path`.
    ///
    /// # Errors
    ///
    /// [`EvidenceError::Storage`] if RocksDB cannot open it.
    pub fn open(path: &Path) -> Result<Self, EvidenceError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.set_db_write_buffer_size(8 << 20);
        Ok(Self {
            db: DB::open(&options, path)?,
        })
    }

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, EvidenceError> {
        self.db.get(key)?.map(|v| decode(&v)).transpose()
    }

    fn scan<T: DeserializeOwned>(&self, prefix: &[u8]) -> Result<Vec<T>, EvidenceError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(prefix, Direction::Forward))
        {
            let (key, value) = item?;
            if !key.starts_with(prefix) {
                break;
            }
            out.push(decode(&value)?);
        }
        Ok(out)
    }

    fn write(&self, batch: WriteBatch) -> Result<(), EvidenceError> {
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        self.db.write_opt(batch, &sync)?;
        Ok(())
    }

    /// Keeps the DSSE envelope of the Rekor v2 entry whose leaf hash is
    /// `leaf_hash`, synced.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn put_envelope(
        &self,
        leaf_hash: &[u8; 32],
        envelope: &evledger_ledger::entry::dsse::Envelope,
    ) -> Result<(), EvidenceError> {
        let mut batch = WriteBatch::default();
        batch.put(envelope_key(leaf_hash), encode(envelope)?);
        self.write(batch)
    }

    /// The DSSE envelope kept for the Rekor v2 entry with `leaf_hash`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn envelope(
        &self,
        leaf_hash: &[u8; 32],
    ) -> Result<Option<evledger_ledger::entry::dsse::Envelope>, EvidenceError> {
        self.get(&envelope_key(leaf_hash))
    }

    /// The workflow named `name`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn workflow(&self, name: &str) -> Result<Option<Workflow>, EvidenceError> {
        self.get(&workflow_key(name))
    }

    /// Every workflow, by name.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn workflows(&self) -> Result<Vec<Workflow>, EvidenceError> {
        self.scan(b"wf/")
    }

    /// Stores a new workflow.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn put_workflow(&self, workflow: &Workflow) -> Result<(), EvidenceError> {
        let mut batch = WriteBatch::default();
        batch.put(workflow_key(&workflow.name), encode(workflow)?);
        self.write(batch)
    }

    /// Revision `revision` of `workflow`'s contract, or the latest.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn revision(
        &self,
        workflow: &str,
        revision: Option<u64>,
    ) -> Result<Option<Revision>, EvidenceError> {
        match revision {
            Some(n) => self.get(&revision_key(workflow, n)),
            None => {
                let prefix = revision_prefix(workflow);
                let mut upper = prefix.clone();
                upper.extend_from_slice(&u64::MAX.to_be_bytes());
                let mut iter = self
                    .db
                    .iterator(IteratorMode::From(&upper, Direction::Reverse));
                match iter.next().transpose()? {
                    Some((key, value)) if key.starts_with(&prefix) => Ok(Some(decode(&value)?)),
                    _ => Ok(None),
                }
            }
        }
    }

    /// Records the intent to log a revision (before the append).
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn put_pending(
        &self,
        workflow: &str,
        pending: &PendingRevision,
    ) -> Result<(), EvidenceError> {
        let mut batch = WriteBatch::default();
        batch.put(pending_key(workflow), encode(pending)?);
        self.write(batch)
    }

    /// The pending revision of `workflow`, if any.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn pending_of(&self, workflow: &str) -> Result<Option<PendingRevision>, EvidenceError> {
        self.get(&pending_key(workflow))
    }

    /// Every pending revision: `(workflow, pending)`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn pending(&self) -> Result<Vec<(String, PendingRevision)>, EvidenceError> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(b"pending/", Direction::Forward))
        {
            let (key, value) = item?;
            let Some(workflow) = key.strip_prefix(b"pending/") else {
                break;
            };
            out.push((
                String::from_utf8_lossy(workflow).into_owned(),
                decode(&value)?,
            ));
        }
        Ok(out)
    }

    /// Records a logged revision and clears its pending intent, together.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn commit_revision(&self, revision: &Revision) -> Result<(), EvidenceError> {
        let mut batch = WriteBatch::default();
        batch.put(
            revision_key(&revision.workflow, revision.revision),
            encode(revision)?,
        );
        batch.delete(pending_key(&revision.workflow));
        self.write(batch)
    }

    /// Drops a pending intent whose entry never reached the log.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn drop_pending(&self, workflow: &str) -> Result<(), EvidenceError> {
        let mut batch = WriteBatch::default();
        batch.delete(pending_key(workflow));
        self.write(batch)
    }

    /// Stores a new robot account and the hash of its token (the only
    /// place the token is remembered).
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn put_robot(&self, robot: &RobotAccount, token_hash: &str) -> Result<(), EvidenceError> {
        let mut batch = WriteBatch::default();
        batch.put(robot_key(&robot.id), encode(robot)?);
        batch.put(token_key(token_hash), robot.id.as_bytes());
        self.write(batch)
    }

    /// The robot account `id`, with its last use.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn robot(&self, id: &str) -> Result<Option<RobotAccount>, EvidenceError> {
        self.get::<RobotAccount>(&robot_key(id))?
            .map(|robot| self.with_last_use(robot))
            .transpose()
    }

    /// `robot` with the last use recorded under its own key (records
    /// written before that key existed may carry one themselves).
    fn with_last_use(&self, mut robot: RobotAccount) -> Result<RobotAccount, EvidenceError> {
        if let Some(bytes) = self.db.get(last_used_key(&robot.id))? {
            let at: [u8; 8] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| EvidenceError::Storage("corrupt last-use time".into()))?;
            let at = u64::from_be_bytes(at);
            robot.last_used_at = Some(robot.last_used_at.map_or(at, |old| old.max(at)));
        }
        Ok(robot)
    }

    /// The robot account holding the token with this hash.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn robot_by_token_hash(&self, hash: &str) -> Result<Option<RobotAccount>, EvidenceError> {
        match self.db.get(token_key(hash))? {
            Some(id) => self.robot(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// Every robot account.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn robots(&self) -> Result<Vec<RobotAccount>, EvidenceError> {
        self.scan(b"robot/")?
            .into_iter()
            .map(|robot| self.with_last_use(robot))
            .collect()
    }

    /// Marks robot account `id` revoked at `at` (unless it already is),
    /// synced; returns the account, or `None` if there is none.
    ///
    /// The caller serializes revocations (see `Evidence::revoke_robot`);
    /// nothing else rewrites the record.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn revoke_robot(&self, id: &str, at: u64) -> Result<Option<RobotAccount>, EvidenceError> {
        let Some(mut robot) = self.get::<RobotAccount>(&robot_key(id))? else {
            return Ok(None);
        };
        if robot.revoked_at.is_none() {
            robot.revoked_at = Some(at);
            let mut batch = WriteBatch::default();
            batch.put(robot_key(id), encode(&robot)?);
            self.write(batch)?;
        }
        self.with_last_use(robot).map(Some)
    }

    /// Records robot account `id`'s last use, under its own key and without
    /// waiting for the disk: it is on every push's path, and a crash may
    /// only lose the latest time. It never touches the account's record,
    /// so it cannot undo a revocation.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn record_use(&self, id: &str, at: u64) -> Result<(), EvidenceError> {
        self.db.put(last_used_key(id), at.to_be_bytes())?;
        Ok(())
    }

    /// Writes a consistent copy of the database to `dir` (a RocksDB
    /// checkpoint) while it is in use.
    ///
    /// # Errors
    ///
    /// Storage errors, including an existing `dir`.
    pub fn backup_to(&self, dir: &Path) -> Result<(), EvidenceError> {
        rocksdb::checkpoint::Checkpoint::new(&self.db)?.create_checkpoint(dir)?;
        Ok(())
    }

    /// The integration named `name`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn integration(&self, name: &str) -> Result<Option<Integration>, EvidenceError> {
        self.get(&integration_key(name))
    }

    /// Every integration, by name.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn integrations(&self) -> Result<Vec<Integration>, EvidenceError> {
        self.scan(b"integration/")
    }

    /// The secrets of integration `name`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn secrets(&self, name: &str) -> Result<Secrets, EvidenceError> {
        Ok(self.get(&secret_key(name))?.unwrap_or_default())
    }

    /// Stores a new integration and its secrets together.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn put_integration(
        &self,
        integration: &Integration,
        secrets: &Secrets,
    ) -> Result<(), EvidenceError> {
        let mut batch = WriteBatch::default();
        batch.put(integration_key(&integration.name), encode(integration)?);
        batch.put(secret_key(&integration.name), encode(secrets)?);
        self.write(batch)
    }

    /// Deletes an integration and its secrets.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn delete_integration(&self, name: &str) -> Result<(), EvidenceError> {
        let mut batch = WriteBatch::default();
        batch.delete(integration_key(name));
        batch.delete(secret_key(name));
        self.write(batch)
    }

    /// The attachments of `integration`, or of every integration.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn attachments(&self, integration: Option<&str>) -> Result<Vec<Attachment>, EvidenceError> {
        match integration {
            Some(name) => self.scan(&attachment_prefix(name)),
            None => self.scan(b"attach/"),
        }
    }

    /// The attachment of `integration` to `workflow`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn attachment(
        &self,
        integration: &str,
        workflow: &str,
    ) -> Result<Option<Attachment>, EvidenceError> {
        self.get(&attachment_key(integration, workflow))
    }

    /// Stores an attachment.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn put_attachment(&self, attachment: &Attachment) -> Result<(), EvidenceError> {
        let mut batch = WriteBatch::default();
        batch.put(
            attachment_key(&attachment.integration, &attachment.workflow),
            encode(attachment)?,
        );
        self.write(batch)
    }

    /// Deletes an attachment.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn delete_attachment(
        &self,
        integration: &str,
        workflow: &str,
    ) -> Result<(), EvidenceError> {
        let mut batch = WriteBatch::default();
        batch.delete(attachment_key(integration, workflow));
        self.write(batch)
    }
}

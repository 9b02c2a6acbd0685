//! RocksDB storage of the evidence model (outside the Merkle log).
//!
//! | key                         | value (JSON)                                   |
//! |-----------------------------|------------------------------------------------|
//! | `wf/<workflow>`             | [`Workflow`]                                   |
//! | `rev/<workflow>/<u64 BE>`   | [`Revision`]: the contract and its log entry   |
//! | `pending/<workflow>`        | [`PendingRevision`]: a revision being logged   |
//! | `robot/<id>`                | [`RobotAccount`]                               |
//! | `token/<sha256 of token>`   | robot account id                               |
//!
//! Tokens are stored only as their SHA-256, in the key that finds their account. Writes that must go together
//! are one `WriteBatch`, synced.

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

fn token_key(hash: &str) -> Vec<u8> {
    format!("token/{hash}").into_bytes()
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

    /// The robot account `id`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn robot(&self, id: &str) -> Result<Option<RobotAccount>, EvidenceError> {
        self.get(&robot_key(id))
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
        self.scan(b"robot/")
    }

    /// Updates a robot account's record (revocation), synced.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn update_robot(&self, robot: &RobotAccount) -> Result<(), EvidenceError> {
        let mut batch = WriteBatch::default();
        batch.put(robot_key(&robot.id), encode(robot)?);
        self.write(batch)
    }

    /// Records a robot account's last use without waiting for the disk:
    /// it is on every push's path, and a crash may only lose the latest
    /// time, never a revocation.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn record_use(&self, robot: &RobotAccount) -> Result<(), EvidenceError> {
        self.db.put(robot_key(&robot.id), encode(robot)?)?;
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
}

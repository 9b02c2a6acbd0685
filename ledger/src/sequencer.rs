//! The sequencer: the one writer of the log.
//!
//! Submissions queue on a bounded channel. The sequencer thread takes what is
//! queued (up to `max_batch`, waiting at most `batch_window` for more once the
//! first arrives) and, for the batch:
//!
//! 1. drops duplicates: a leaf already in the log, or earlier in the batch,
//!    is answered with its existing index and appended nothing;
//! 2. assigns indexes and computes the new tile hashes in memory
//!    (`tlog_tiles::stored_hashes`), reading the right edge of the tree;
//! 3. computes the new root and signs ONE checkpoint for the batch;
//! 4. writes entries, tiles, dedup keys, checkpoint and tree size in ONE
//!    RocksDB WriteBatch with sync on. **This write is the commit point.**
//!    A crash before it leaves the log at the previous batch, untouched (no
//!    waiter was answered, so nothing acknowledged is lost); a crash after it
//!    finds the whole batch on restart.
//! 5. publishes the checkpoint to readers, then answers every waiter.
//!
//! Readers never see a tree size before its batch is durable, so every
//! checkpoint ever served is backed by data on disk.
//!
//! Failure has two kinds ([`SequenceError`]). Anything before the commit
//! point (a read, hashing, signing) wrote nothing: the batch's waiters get
//! [`LedgerError::BatchFailed`] and the next batch starts from the same
//! published tree. A failed commit write is **fatal**: the batch may be on
//! disk, in part of the page cache, or nowhere, and guessing either way
//! could acknowledge a lost entry or sign a second tree at a size already
//! written. So, as Sunlight does, the sequencer stops: it sets
//! [`Halt::Fatal`] and answers that batch and every later submission with
//! [`LedgerError::Fatal`]; a restart reads what is really on disk
//! (`Ledger::open` checks that the stored tree matches its checkpoint).

use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use tracing::{debug, error};

use crate::checkpoint::{LogSigner, SignedCheckpoint};
use crate::hashes::{TileHashes, TileOverlay};
use crate::proof::{leaf_hash, tree_root};
use crate::store::{Commit, Store};
use crate::tiles::{HASH_SIZE, TILE_HEIGHT, TILE_WIDTH};
use crate::LedgerError;

/// The outcome of one submission.
#[derive(Debug, Clone)]
pub struct Appended {
    /// Index of the entry in the log.
    pub log_index: u64,
    /// RFC 6962 leaf hash of the entry.
    pub leaf_hash: [u8; 32],
    /// True if the entry was already in the log and nothing was appended.
    pub duplicate: bool,
    /// The checkpoint of the batch, which includes the entry.
    pub checkpoint: Arc<SignedCheckpoint>,
}

/// Why a ledger refuses appends (see `Ledger::halt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Halt {
    /// The database is a backup copy of tree size `size`, not yet resumed
    /// from the latest published checkpoint.
    Restored {
        /// Tree size of the copy.
        size: u64,
    },
    /// A durable write failed; the state on disk is unknown until a restart.
    Fatal {
        /// The failed write's error.
        reason: String,
    },
}

impl Halt {
    /// Stable machine-readable name of the reason.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Restored { .. } => "log_restored",
            Self::Fatal { .. } => "sequencer_failed",
        }
    }
}

impl From<Halt> for LedgerError {
    fn from(halt: Halt) -> Self {
        match halt {
            Halt::Restored { size } => LedgerError::Restored { size },
            Halt::Fatal { reason } => LedgerError::Fatal(reason),
        }
    }
}

impl std::fmt::Display for Halt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", LedgerError::from(self.clone()))
    }
}

/// How a batch failed: whether the sequencer can go on.
#[derive(Debug)]
pub(crate) enum SequenceError {
    /// Failed before the commit write: nothing was written, the next batch
    /// starts from the same published tree.
    Batch(LedgerError),
    /// The commit write failed: the disk's state is unknown; stop.
    Fatal(LedgerError),
}

impl From<LedgerError> for SequenceError {
    fn from(e: LedgerError) -> Self {
        Self::Batch(e)
    }
}

impl From<tlog_tiles::Error> for SequenceError {
    fn from(e: tlog_tiles::Error) -> Self {
        Self::Batch(e.into())
    }
}

impl From<crate::CheckpointError> for SequenceError {
    fn from(e: crate::CheckpointError) -> Self {
        Self::Batch(e.into())
    }
}

pub(crate) struct Submission {
    pub leaf: Vec<u8>,
    pub reply: oneshot::Sender<Result<Appended, LedgerError>>,
}

/// How the sequencer forms batches.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    /// Most submissions in one batch.
    pub max_batch: usize,
    /// How long to wait for more submissions once the first has arrived.
    pub batch_window: Duration,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self {
            max_batch: 2048,
            batch_window: Duration::from_millis(0),
        }
    }
}

pub(crate) struct Sequencer {
    pub store: Arc<Store>,
    pub signer: Arc<LogSigner>,
    pub policy: BatchPolicy,
    /// The latest committed checkpoint; its size is where the next batch starts.
    pub published: watch::Sender<Arc<SignedCheckpoint>>,
    /// The right-edge tiles of every level, kept between batches so that an
    /// append reads no tile from disk. At most one per tile level: the
    /// memory use does not grow with the log.
    pub edge: TileOverlay,
    /// Why appends are refused; the sequencer sets [`Halt::Fatal`] and
    /// checks it before every batch.
    pub halt: Arc<RwLock<Option<Halt>>>,
}

/// One answer owed to a waiter once the batch commits.
struct Pending {
    reply: oneshot::Sender<Result<Appended, LedgerError>>,
    log_index: u64,
    leaf_hash: [u8; 32],
    duplicate: bool,
}

impl Sequencer {
    /// Runs until every sender is gone.
    pub(crate) fn run(mut self, queue: Receiver<Submission>) {
        while let Ok(first) = queue.recv() {
            let batch = self.gather(first, &queue);
            if let Some(halt) = self.halted() {
                // Submissions queued before (or racing) the halt.
                for submission in batch {
                    let _ = submission.reply.send(Err(halt.clone().into()));
                }
                continue;
            }
            let count = batch.len();
            let started = Instant::now();
            self.sequence(batch);
            metrics::histogram!("evledger_batch_seconds").record(started.elapsed().as_secs_f64());
            metrics::histogram!("evledger_batch_size").record(count as f64);
        }
        debug!("sequencer stopped: no more submitters");
    }

    fn halted(&self) -> Option<Halt> {
        // A poisoned lock still holds a whole value (set in one statement).
        self.halt.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn gather(&self, first: Submission, queue: &Receiver<Submission>) -> Vec<Submission> {
        let mut batch = vec![first];
        let deadline = Instant::now() + self.policy.batch_window;
        while batch.len() < self.policy.max_batch {
            match queue.try_recv() {
                Ok(s) => batch.push(s),
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    match queue.recv_timeout(deadline - now) {
                        Ok(s) => batch.push(s),
                        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                    }
                }
            }
        }
        batch
    }

    fn sequence(&mut self, batch: Vec<Submission>) {
        let mut pending = Vec::with_capacity(batch.len());
        let result = self.commit(batch, &mut pending);
        match result {
            Ok(checkpoint) => {
                for p in pending {
                    // A waiter that went away (client hung up) is fine to skip:
                    // its entry is durable all the same.
                    let _ = p.reply.send(Ok(Appended {
                        log_index: p.log_index,
                        leaf_hash: p.leaf_hash,
                        duplicate: p.duplicate,
                        checkpoint: checkpoint.clone(),
                    }));
                }
            }
            Err(SequenceError::Fatal(e)) => {
                error!(error = %e, "the commit write failed: the state on disk is unknown; the sequencer refuses appends until a restart");
                metrics::counter!("evledger_batch_failures_total").increment(1);
                metrics::counter!("evledger_sequencer_fatal_total").increment(1);
                let reason = e.to_string();
                *self.halt.write().unwrap_or_else(|p| p.into_inner()) = Some(Halt::Fatal {
                    reason: reason.clone(),
                });
                for p in pending {
                    let _ = p.reply.send(Err(LedgerError::Fatal(reason.clone())));
                }
            }
            Err(SequenceError::Batch(e)) => {
                error!(error = %e, "append batch failed; nothing of it was committed");
                metrics::counter!("evledger_batch_failures_total").increment(1);
                // The edge may hold hashes of the failed batch: reload it from disk.
                self.edge.clear();
                for p in pending {
                    let _ = p.reply.send(Err(LedgerError::BatchFailed(e.to_string())));
                }
            }
        }
    }

    /// Builds and commits one batch; fills `pending` with the answers owed.
    fn commit(
        &mut self,
        batch: Vec<Submission>,
        pending: &mut Vec<Pending>,
    ) -> Result<Arc<SignedCheckpoint>, SequenceError> {
        let mut commit = Commit::default();
        let mut in_batch: std::collections::HashMap<[u8; 32], u64> = Default::default();
        let start = self.published.borrow().size;
        let mut size = start;
        let mut dirty = std::collections::BTreeSet::new();

        for submission in batch {
            let hash = leaf_hash(&submission.leaf);
            let existing = match in_batch.get(&hash) {
                Some(index) => Some(*index),
                None => self.store.index_of_leaf(&hash)?,
            };
            if let Some(log_index) = existing {
                pending.push(Pending {
                    reply: submission.reply,
                    log_index,
                    leaf_hash: hash,
                    duplicate: true,
                });
                continue;
            }
            let hashes = {
                let reader = TileHashes::with_overlay(&self.store, &self.edge);
                tlog_tiles::stored_hashes_for_record_hash(size, tlog_tiles::Hash(hash), &reader)?
            };
            let first = tlog_tiles::stored_hash_index(0, size);
            for (offset, node) in (first..).zip(hashes) {
                let (level, n) = tlog_tiles::split_stored_hash_index(offset);
                if level % TILE_HEIGHT != 0 {
                    continue; // recomputed from the tile below when needed
                }
                let key = (level / TILE_HEIGHT, n / TILE_WIDTH);
                let tile = self.edge_tile(key)?;
                let position = (n % TILE_WIDTH) as usize;
                if tile.len() != position * HASH_SIZE {
                    return Err(LedgerError::Corrupt(format!(
                        "tile {key:?} holds {} bytes, expected hash {position} next",
                        tile.len()
                    ))
                    .into());
                }
                tile.extend_from_slice(&node.0);
                dirty.insert(key);
            }
            in_batch.insert(hash, size);
            commit.leaf_hashes.push((hash, size));
            commit.entries.push((size, submission.leaf));
            pending.push(Pending {
                reply: submission.reply,
                log_index: size,
                leaf_hash: hash,
                duplicate: false,
            });
            size += 1;
        }

        if size == start {
            // Only duplicates: nothing to write, the current checkpoint stands.
            return Ok(self.published.borrow().clone());
        }

        let root = tree_root(size, &TileHashes::with_overlay(&self.store, &self.edge))?;
        let checkpoint = self.signer.sign(size, root)?;
        commit.checkpoint = Some((size, checkpoint.note.clone()));
        commit.tiles = dirty
            .iter()
            .map(|key| (*key, self.edge[key].clone()))
            .collect();

        // The commit point. Before it nothing was written; after a failure
        // of it the batch may or may not be on disk: fatal, never a guess.
        let synced = Instant::now();
        self.store
            .commit(commit, size)
            .map_err(SequenceError::Fatal)?;
        metrics::histogram!("evledger_commit_seconds").record(synced.elapsed().as_secs_f64());
        metrics::counter!("evledger_entries_appended_total").increment(size - start);

        let checkpoint = Arc::new(checkpoint);
        self.published.send_replace(checkpoint.clone());
        metrics::gauge!("evledger_tree_size").set(size as f64);
        // Full tiles are never written again: drop them from the edge.
        self.edge
            .retain(|_, tile| tile.len() < TILE_WIDTH as usize * HASH_SIZE);
        Ok(checkpoint)
    }

    fn edge_tile(&mut self, key: (u8, u64)) -> Result<&mut Vec<u8>, LedgerError> {
        if !self.edge.contains_key(&key) {
            let stored = self.store.tile(key.0, key.1)?.unwrap_or_default();
            self.edge.insert(key, stored);
        }
        self.edge
            .get_mut(&key)
            .ok_or_else(|| LedgerError::Corrupt("edge tile vanished".into()))
    }
}

//! The sequencer: the one writer of the log.
//!
//! Submissions queue on a bounded channel. The sequencer thread takes what is
//! queued (up to `max_batch`, waiting at most `batch_window` for more once the
//! first arrives) and sequences the batch ([`Sequencer::sequence_batch`]):
//!
//! 1. **dedup**: a leaf already in the log, or earlier in the batch, is
//!    answered with its existing index and appended nothing;
//! 2. **integrate**: the new leaves get the next indexes, and the new tile
//!    hashes and root are computed in memory from the sequencer's own right
//!    edge ([`integrate`], which writes nothing);
//! 3. **sign** ONE checkpoint for the batch;
//! 4. **commit**: entries, tiles, dedup keys, checkpoint and tree size go to
//!    RocksDB in ONE WriteBatch with sync on. *This write is the commit
//!    point.* A crash before it leaves the log at the previous batch,
//!    untouched (no waiter was answered, so nothing acknowledged is lost);
//!    a crash after it finds the whole batch on restart;
//! 5. **publish**: the sequencer adopts the new size and edge, then hands
//!    the checkpoint to readers;
//! 6. **answer** every waiter.
//!
//! Readers never see a tree size before its batch is durable, so every
//! checkpoint ever served is backed by data on disk.
//!
//! Failure has two kinds ([`SequenceError`]). Anything before the commit
//! point (a read, hashing, signing) wrote nothing and changed none of the
//! sequencer's state: the batch's waiters get [`LedgerError::BatchFailed`]
//! and the next batch starts from the same tree. A failed commit write is
//! **fatal**: the batch may be on disk, in part of the page cache, or
//! nowhere, and guessing either way could acknowledge a lost entry or sign
//! a second tree at a size already written. So, as Sunlight does, the
//! sequencer stops: it sets [`Halt::Fatal`] and answers that batch and
//! every later submission with [`LedgerError::Fatal`]; a restart reads what
//! is really on disk (`Ledger::open` checks that the stored tree matches
//! its checkpoint).

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};
use tracing::{debug, error};

use crate::checkpoint::{LogSigner, SignedCheckpoint};
use crate::cosignature::unix_millis;
use crate::hashes::{TileHashes, TileMap};
use crate::integrate::integrate;
use crate::proof::{self, leaf_hash, InclusionProof};
use crate::store::{Commit, Store};
use crate::tiles::{HASH_SIZE, TILE_WIDTH};
use crate::{LedgerError, ProofError};

/// The outcome of one submission: where the leaf is, and everything needed
/// to answer its submitter without reading it back.
#[derive(Clone)]
pub struct Appended {
    /// Index of the entry in the log.
    pub log_index: u64,
    /// RFC 6962 leaf hash of the entry.
    pub leaf_hash: [u8; 32],
    /// True if the entry was already in the log and nothing was appended.
    pub duplicate: bool,
    /// The checkpoint of the batch, which includes the entry.
    pub checkpoint: Arc<SignedCheckpoint>,
    /// The leaf as submitted (for a duplicate, the same bytes as the one
    /// in the log: leaves are deduplicated by their hash).
    pub leaf: Vec<u8>,
    /// The tree's right edge at the checkpoint's size, and the store
    /// behind it: every hash the inclusion proof needs.
    tiles: BatchTiles,
}

/// The tiles of the tree as a batch left it.
#[derive(Clone)]
struct BatchTiles {
    /// The sequencer's right edge after the batch; shared, never changed.
    edge: Arc<TileMap>,
    /// Committed tiles (full tiles never change; partial ones only grow).
    store: Arc<Store>,
}

impl std::fmt::Debug for Appended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appended")
            .field("log_index", &self.log_index)
            .field("leaf_hash", &hex::encode(self.leaf_hash))
            .field("duplicate", &self.duplicate)
            .field("tree_size", &self.checkpoint.size)
            .finish_non_exhaustive()
    }
}

impl Appended {
    /// The entry's inclusion proof in the tree of [`Appended::checkpoint`],
    /// built from the batch's tiles and checked against the leaf hash and
    /// the checkpoint's root before it is returned. May read committed
    /// tiles: call it where blocking is allowed.
    ///
    /// # Errors
    ///
    /// Storage errors; [`ProofError`] if the proof does not verify (a
    /// corrupt store).
    pub fn inclusion_proof(&self) -> Result<InclusionProof, LedgerError> {
        let size = self.checkpoint.size;
        if self.log_index >= size {
            return Err(ProofError::OutOfRange(format!(
                "log index {} is not below tree size {size}",
                self.log_index
            ))
            .into());
        }
        let layers = [&*self.tiles.edge];
        let reader = TileHashes::layered(&*self.tiles.store, &layers);
        let proof = InclusionProof {
            log_index: self.log_index,
            tree_size: size,
            root: self.checkpoint.root,
            hashes: proof::prove_inclusion(self.log_index, size, &reader)?,
        };
        proof.verify(&self.leaf_hash)?;
        Ok(proof)
    }
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

/// How a batch failed: whether the log can go on.
#[derive(Debug)]
pub(crate) enum SequenceError {
    /// Failed before the commit write (a read, hashing, signing): nothing
    /// was written and the sequencer's state is unchanged, so the next
    /// batch starts from the same tree. Its waiters get
    /// [`LedgerError::BatchFailed`] and may retry.
    Retryable(LedgerError),
    /// The commit write failed: what is on disk is unknown. The sequencer
    /// stops ([`Halt::Fatal`]) until a restart reads the disk again.
    Fatal(LedgerError),
}

impl From<LedgerError> for SequenceError {
    fn from(e: LedgerError) -> Self {
        Self::Retryable(e)
    }
}

impl From<crate::CheckpointError> for SequenceError {
    fn from(e: crate::CheckpointError) -> Self {
        Self::Retryable(e.into())
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

/// The tree as the sequencer last committed it. Only the sequencer thread
/// holds it, and it changes only after a commit write succeeded: so it is
/// always a tree that is on disk.
pub(crate) struct TreeState {
    /// The checkpoint of the last commit; its size is where the next batch
    /// starts.
    pub checkpoint: Arc<SignedCheckpoint>,
    /// The right-edge (partial) tiles of every level that a batch since
    /// the start touched, exactly at `checkpoint.size`, so that an append
    /// reads no tile from disk. At most one per tile level: the memory use
    /// does not grow with the log. A partial tile not here is read from
    /// the store, where it is committed at this size.
    pub edge: Arc<TileMap>,
}

pub(crate) struct Sequencer {
    pub store: Arc<Store>,
    pub signer: Arc<LogSigner>,
    pub policy: BatchPolicy,
    /// The sequencer's own tree; never read back from `published`.
    pub tree: TreeState,
    /// Where readers get the latest checkpoint; sent only after a commit.
    pub published: watch::Sender<Arc<SignedCheckpoint>>,
    /// Why appends are refused; the sequencer sets [`Halt::Fatal`] and
    /// checks it before every batch.
    pub halt: Arc<RwLock<Option<Halt>>>,
}

/// A submission being sequenced: its leaf, hashed once, and its submitter.
struct Waiter {
    leaf: Vec<u8>,
    leaf_hash: [u8; 32],
    reply: oneshot::Sender<Result<Appended, LedgerError>>,
}

/// Where a batch put each of its leaves, in submission order.
struct Placed {
    /// (log index, duplicate) of each waiter.
    places: Vec<(u64, bool)>,
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
            self.sequence_batch(batch);
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

    /// Sequences one batch and answers every submission of it.
    fn sequence_batch(&mut self, batch: Vec<Submission>) {
        let waiters: Vec<Waiter> = batch
            .into_iter()
            .map(|s| Waiter {
                leaf_hash: leaf_hash(&s.leaf),
                leaf: s.leaf,
                reply: s.reply,
            })
            .collect();
        match self.sequence(&waiters) {
            Ok(placed) => self.answer(waiters, placed),
            Err(SequenceError::Retryable(e)) => {
                error!(error = %e, "append batch failed; nothing of it was committed");
                metrics::counter!("evledger_batch_failures_total").increment(1);
                let e = Arc::new(e);
                for w in waiters {
                    let _ = w.reply.send(Err(LedgerError::BatchFailed(e.clone())));
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
                for w in waiters {
                    let _ = w.reply.send(Err(LedgerError::Fatal(reason.clone())));
                }
            }
        }
    }

    /// Steps 1 to 5 of the module documentation: dedup, integrate, sign,
    /// commit, publish. Returns where each waiter's leaf is.
    fn sequence(&mut self, waiters: &[Waiter]) -> Result<Placed, SequenceError> {
        let from = self.tree.checkpoint.size;

        // 1. Dedup. A leaf's index is final once a commit holds it, so the
        // store's answer stands; within the batch the first one wins.
        let mut places = Vec::with_capacity(waiters.len());
        let mut fresh: Vec<&Waiter> = Vec::with_capacity(waiters.len());
        let mut in_batch: HashMap<[u8; 32], u64> = HashMap::new();
        for waiter in waiters {
            let existing = match in_batch.get(&waiter.leaf_hash) {
                Some(index) => Some(*index),
                None => self.store.index_of_leaf(&waiter.leaf_hash)?,
            };
            match existing {
                Some(index) => places.push((index, true)),
                None => {
                    let index = from + fresh.len() as u64;
                    in_batch.insert(waiter.leaf_hash, index);
                    places.push((index, false));
                    fresh.push(waiter);
                }
            }
        }
        if fresh.is_empty() {
            // Only duplicates: nothing to write, the current checkpoint stands.
            return Ok(Placed { places });
        }

        // 2. Integrate: the new tree, computed in memory, written nowhere.
        let hashes: Vec<[u8; 32]> = fresh.iter().map(|w| w.leaf_hash).collect();
        let integrated = integrate(&*self.store, &self.tree.edge, from, &hashes)?;

        // 3. Sign one checkpoint for the batch.
        let checkpoint = self.signer.sign(integrated.size, integrated.root)?;

        // 4. Commit: the one synced write. Before it nothing was written;
        // after a failure of it the batch may or may not be on disk:
        // fatal, never a guess.
        let commit = Commit {
            entries: (from..).zip(fresh.iter().map(|w| &w.leaf[..])).collect(),
            leaf_hashes: hashes.iter().zip(from..).collect(),
            tiles: &integrated.tiles,
            checkpoint: (integrated.size, &checkpoint.note),
            time_ms: unix_millis(),
        };
        let synced = Instant::now();
        self.store.commit(&commit).map_err(SequenceError::Fatal)?;
        metrics::histogram!("evledger_commit_seconds").record(synced.elapsed().as_secs_f64());
        metrics::counter!("evledger_entries_appended_total").increment(integrated.size - from);

        // 5. Publish: adopt the committed tree, then show it to readers.
        // Full tiles are never written again: they leave the edge.
        let mut edge = (*self.tree.edge).clone();
        edge.extend(integrated.tiles);
        edge.retain(|_, tile| tile.len() < TILE_WIDTH as usize * HASH_SIZE);
        self.tree = TreeState {
            checkpoint: Arc::new(checkpoint),
            edge: Arc::new(edge),
        };
        self.published.send_replace(self.tree.checkpoint.clone());
        metrics::gauge!("evledger_tree_size").set(integrated.size as f64);
        Ok(Placed { places })
    }

    /// Step 6: answers every waiter with its place in the committed tree.
    fn answer(&self, waiters: Vec<Waiter>, placed: Placed) {
        let tiles = BatchTiles {
            edge: self.tree.edge.clone(),
            store: self.store.clone(),
        };
        for (waiter, (log_index, duplicate)) in waiters.into_iter().zip(placed.places) {
            // A waiter that went away (client hung up) is fine to skip:
            // its entry is durable all the same.
            let _ = waiter.reply.send(Ok(Appended {
                log_index,
                leaf_hash: waiter.leaf_hash,
                duplicate,
                checkpoint: self.tree.checkpoint.clone(),
                leaf: waiter.leaf,
                tiles: tiles.clone(),
            }));
        }
    }
}

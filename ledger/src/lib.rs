//! The evledger log: an RFC 6962 Merkle tree stored as C2SP tlog-tiles in
//! RocksDB, appended to by one sequencer, with signed checkpoints and proofs.
//!
//! The ledger knows nothing about HTTP, Redis or Kafka. Its public surface is
//! [`Ledger`]: append a leaf, read leaves and tiles, ask for proofs, and watch
//! the latest checkpoint (the change stream of everything downstream).

#[cfg(feature = "fault-injection")]
pub mod faults;
mod hashes;
mod integrate;
mod sequencer;
pub mod store;
mod tile_nodes;

// The formats live in their own crates (no storage, fuzzed); the log
// re-exports them under the names its callers have always used.
pub use evledger_entry as entry;
pub use evledger_tlog::{checkpoint, cosignature, proof, tiles, tlog_proof, verifier};

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, RwLock};

use thiserror::Error;
use tokio::sync::{oneshot, watch};

pub use evledger_tlog::{
    leaf_hash, CheckpointError, CheckpointVerifier, ConsistencyProof, CosignatureVerifier,
    Cosigner, InclusionProof, LogSigner, ProofError, SignedCheckpoint, TileCoord, TileKind,
};
pub use sequencer::{Appended, BatchPolicy, Halt};

use hashes::TileHashes;
use sequencer::{Sequencer, Submission, TreeState};
use store::Store;
use tiles::{HASH_SIZE, MAX_ENTRY_SIZE, TILE_WIDTH};

/// Submissions that may wait for the sequencer before new ones are refused.
pub const SUBMISSION_QUEUE_DEPTH: usize = 16 * 1024;

/// The directory of the log's RocksDB database inside the data directory.
pub(crate) const LOG_DIR: &str = "log";

/// Errors of the ledger.
#[derive(Debug, Error)]
pub enum LedgerError {
    /// RocksDB failed.
    #[error("storage: {0}")]
    Storage(#[from] rocksdb::Error),
    /// The stored data contradicts itself.
    #[error("corrupt log: {0}")]
    Corrupt(#[from] Corruption),
    /// Tree hashing or proof construction failed.
    #[error("tree: {0}")]
    Tree(#[from] tlog_tiles::Error),
    /// Signing or key handling failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A proof did not verify or was asked for sizes outside the tree.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The leaf exceeds what an entry bundle can carry.
    #[error("entry is {size} bytes; the limit is {MAX_ENTRY_SIZE}")]
    EntryTooLarge {
        /// Size of the rejected leaf.
        size: usize,
    },
    /// The submission queue is full; the client should retry.
    #[error("the sequencer queue is full")]
    Overloaded,
    /// The sequencer has stopped.
    #[error("the sequencer has stopped")]
    Closed,
    /// The batch holding the submission failed before its commit and was
    /// not committed; the sequencer goes on.
    #[error("append failed, nothing committed: {0}")]
    BatchFailed(Arc<LedgerError>),
    /// A durable write of the sequencer failed, so what is on disk is
    /// unknown: the sequencer refuses every append until the process
    /// restarts and reads the disk again. Not the caller's fault.
    #[error(
        "the sequencer stopped after a failed durable write ({0}); appends resume after a restart"
    )]
    Fatal(String),
    /// The database is a backup copy (tree size `size`), possibly behind
    /// checkpoints already published: appends are refused until
    /// [`Ledger::resume`] is given the latest published checkpoint.
    #[error("this log was restored from a backup copy (tree size {size}) and refuses appends until it is resumed from the latest published checkpoint (serve --resume-from)")]
    Restored {
        /// Tree size of the copy.
        size: u64,
    },
    /// [`Ledger::resume`]: the published log is longer than this copy, so
    /// any append here would sign a tree that is not its extension.
    #[error("the latest published checkpoint has tree size {published}, but this copy holds only {local} entries: it cannot extend the published log; start a new log (new origin and key)")]
    CannotExtend {
        /// Size of the published checkpoint.
        published: u64,
        /// Size of the local tree.
        local: u64,
    },
    /// [`Ledger::resume`]: the published checkpoint's root is not this
    /// database's root at that size: the copy contradicts its own key.
    #[error("the checkpoint for tree size {size} does not match this database's tree at that size: this copy contradicts what its key signed; start a new log (new origin and key)")]
    Inconsistent {
        /// Size of the published checkpoint.
        size: u64,
    },
    /// [`Ledger::resume`]: the checkpoint given does not verify with the
    /// log's key.
    #[error("the resume checkpoint does not verify with this log's key: {0}")]
    ResumeCheckpoint(CheckpointError),
    /// The stored log was signed for another origin than the signer's.
    #[error("the log in this data directory has origin {stored:?}, but the signing key is for {signer:?}: serve it with its own key, or start a new log in a new data directory")]
    OriginMismatch {
        /// Origin of the stored checkpoints.
        stored: String,
        /// Origin of the signer key.
        signer: String,
    },
    /// A write refused by an injected fault (tests only).
    #[cfg(feature = "fault-injection")]
    #[error("injected fault: {0}")]
    Injected(String),
    /// Opening the data directory failed.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// How the stored data contradicts itself: found by a read, never the
/// caller's fault, and never repaired by retrying.
#[derive(Debug, Error)]
pub enum Corruption {
    /// The checkpoint stored at the tree size is not of the stored tree.
    #[error("stored checkpoint for size {size} does not match the stored tree")]
    CheckpointMismatch {
        /// The stored tree size.
        size: u64,
    },
    /// No checkpoint is stored for the stored tree size.
    #[error("no checkpoint stored for tree size {size}")]
    MissingCheckpoint {
        /// The stored tree size.
        size: u64,
    },
    /// A stored checkpoint is not UTF-8.
    #[error("checkpoint for tree size {size} is not UTF-8")]
    CheckpointNotUtf8 {
        /// Its tree size.
        size: u64,
    },
    /// A hash tile's length is not what the tree size implies.
    #[error("tile ({level}, {index}) holds {len} bytes, expected hash {position} next")]
    TileLength {
        /// Tile level.
        level: u8,
        /// Tile index within its level.
        index: u64,
        /// Bytes the tile holds.
        len: usize,
        /// Position within the tile the next hash belongs at.
        position: u64,
    },
    /// An entry below the tree size is missing.
    #[error("entry {index} missing")]
    MissingEntry {
        /// Its log index.
        index: u64,
    },
    /// A stored leaf is larger than an entry bundle can carry.
    #[error("stored leaf at index {index} is {size} bytes")]
    OversizedLeaf {
        /// Its log index.
        index: u64,
        /// Its size.
        size: usize,
    },
    /// A stored integer is not 8 bytes.
    #[error("stored integer is not 8 bytes")]
    BadInteger,
    /// A column family of the database is missing.
    #[error("column family {0} missing")]
    MissingColumnFamily(&'static str),
}

fn create_data_dir(dir: &Path) -> Result<(), LedgerError> {
    std::fs::create_dir_all(dir).map_err(|source| LedgerError::DataDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// How to open a ledger.
#[derive(Debug)]
pub struct LedgerConfig {
    /// Directory holding the RocksDB database.
    pub data_dir: PathBuf,
    /// The checkpoint signer; its key name is the log origin.
    pub signer: LogSigner,
    /// How the sequencer forms batches.
    pub batch: BatchPolicy,
}

/// A handle on an open log. Cheap to clone; all clones share one sequencer.
/// Dropping the last clone stops the sequencer (after the batch in flight)
/// and waits for it, so the database is closed before the process can exit.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<Store>,
    signer: Arc<LogSigner>,
    sequencer: Arc<SequencerHandle>,
    latest: watch::Receiver<Arc<SignedCheckpoint>>,
    /// Why appends are refused, if they are; shared with the sequencer,
    /// which sets [`Halt::Fatal`].
    halt: Arc<RwLock<Option<Halt>>>,
}

/// The queue into the sequencer thread, and the thread.
struct SequencerHandle {
    submissions: Option<SyncSender<Submission>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for SequencerHandle {
    fn drop(&mut self) {
        // Closing the queue ends the sequencer's loop; joining it means its
        // store handle is gone and RocksDB is not torn down under a live
        // thread at process exit.
        self.submissions.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("origin", &self.signer.origin())
            .field("tree_size", &self.latest.borrow().size)
            .finish()
    }
}

impl Ledger {
    /// Opens the log in `config.data_dir` (creating it), checks that the
    /// stored tree is whole and of the signer's origin, and starts the
    /// sequencer thread. A backup copy (see [`Store::backup_to`]) opens
    /// halted with [`Halt::Restored`]: reads work, appends wait for
    /// [`Ledger::resume`].
    ///
    /// # Errors
    ///
    /// Storage errors, a stored tree whose root does not match its last
    /// checkpoint, [`LedgerError::OriginMismatch`].
    pub fn open(config: LedgerConfig) -> Result<Self, LedgerError> {
        create_data_dir(&config.data_dir)?;
        let store = Store::open(&config.data_dir.join(LOG_DIR))?;
        Self::start(config, store)
    }

    /// [`Ledger::open`] with every write of the store going through
    /// `faults` (tests only).
    ///
    /// # Errors
    ///
    /// As [`Ledger::open`].
    #[cfg(feature = "fault-injection")]
    pub fn open_with_faults(
        config: LedgerConfig,
        faults: Arc<faults::Faults>,
    ) -> Result<Self, LedgerError> {
        create_data_dir(&config.data_dir)?;
        let store = Store::open_with_faults(&config.data_dir.join(LOG_DIR), faults)?;
        Self::start(config, store)
    }

    /// The tree size stored in `data_dir` without opening a ledger on it
    /// (0 when there is no log yet): so that a caller can refuse to make a
    /// new key for a log that has entries.
    ///
    /// # Errors
    ///
    /// Storage errors (among them: another process has the log open).
    pub fn stored_tree_size(data_dir: &Path) -> Result<u64, LedgerError> {
        let path = data_dir.join(LOG_DIR);
        if !path.exists() {
            return Ok(0);
        }
        Store::open(&path)?.tree_size()
    }

    fn start(config: LedgerConfig, store: Store) -> Result<Self, LedgerError> {
        let store = Arc::new(store);
        let signer = Arc::new(config.signer);
        let size = store.tree_size()?;
        let root = proof::tree_root(size, &TileHashes::committed(&*store))?;
        let checkpoint = match store.checkpoint(size)? {
            Some(note) => {
                // Every checkpoint of a log names one origin; a key of
                // another origin would start a second log on these entries.
                let stored = SignedCheckpoint::parse_unverified(&note)?.origin;
                if stored != signer.origin() {
                    return Err(LedgerError::OriginMismatch {
                        stored,
                        signer: signer.origin().to_string(),
                    });
                }
                let verified =
                    CheckpointVerifier::new(&[signer.verifier_key()])?.verify(note.as_bytes());
                match verified {
                    Ok(cp) if cp.size == size && cp.root == root => cp,
                    Ok(_) => return Err(Corruption::CheckpointMismatch { size }.into()),
                    // Signed by another key (key rotation): sign the same tree anew.
                    Err(_) => signer.sign(size, root)?,
                }
            }
            None if size == 0 => signer.sign(0, root)?,
            None => return Err(Corruption::MissingCheckpoint { size }.into()),
        };
        metrics::gauge!("evledger_tree_size").set(size as f64);
        // A copy may be behind checkpoints already published under this
        // key: signing anything new on it could fork the log.
        let halt = Arc::new(RwLock::new(
            store
                .copy_marker()?
                .map(|copied| Halt::Restored { size: copied }),
        ));
        let checkpoint = Arc::new(checkpoint);
        let (published, latest) = watch::channel(checkpoint.clone());
        let (submissions, queue) = sync_channel(SUBMISSION_QUEUE_DEPTH);
        let sequencer = Sequencer {
            store: store.clone(),
            signer: signer.clone(),
            policy: config.batch,
            tree: TreeState {
                checkpoint,
                edge: Default::default(),
            },
            published,
            halt: halt.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("sequencer".into())
            .spawn(move || sequencer.run(queue))
            .map_err(|source| LedgerError::DataDir {
                path: config.data_dir.clone(),
                source,
            })?;
        Ok(Self {
            store,
            signer,
            sequencer: Arc::new(SequencerHandle {
                submissions: Some(submissions),
                thread: Some(thread),
            }),
            latest,
            halt,
        })
    }

    /// Why appends are refused, if they are: a restored copy not yet
    /// resumed, or a sequencer stopped by a failed durable write.
    pub fn halt(&self) -> Option<Halt> {
        // A poisoned lock still holds a whole value (set in one statement).
        self.halt.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Resumes appending on a restored copy, given the latest checkpoint
    /// the log published (its own `/checkpoint`, a witness's cosigned one,
    /// a monitor's last): it must verify with the log's key, be no larger
    /// than the local tree, and its root must be the local root at its
    /// size, so that every later checkpoint extends it. On success the
    /// copy marker is removed (synced): the copy is the log from now on.
    /// Also a check for any ledger (a data directory restored from a file
    /// system snapshot has no marker): it changes nothing but the marker.
    /// Returns the size resumed from.
    ///
    /// # Errors
    ///
    /// [`LedgerError::ResumeCheckpoint`], [`LedgerError::CannotExtend`],
    /// [`LedgerError::Inconsistent`] (for the last two the operator must
    /// start a new log); storage errors.
    pub fn resume(&self, note: &[u8]) -> Result<u64, LedgerError> {
        let published = CheckpointVerifier::new(&[self.signer.verifier_key()])?
            .verify(note)
            .map_err(LedgerError::ResumeCheckpoint)?;
        let local = self.checkpoint().size;
        if published.size > local {
            return Err(LedgerError::CannotExtend {
                published: published.size,
                local,
            });
        }
        // Same root at that size means the same leaves: the local tree
        // extends the published one (a consistency proof exists by
        // construction), and so will every checkpoint signed from here.
        if self.root_at(published.size)? != published.root {
            return Err(LedgerError::Inconsistent {
                size: published.size,
            });
        }
        if self.store.copy_marker()?.is_some() {
            self.store.clear_copy_marker()?;
        }
        let mut halt = self.halt.write().unwrap_or_else(|p| p.into_inner());
        if matches!(*halt, Some(Halt::Restored { .. })) {
            *halt = None;
        }
        Ok(published.size)
    }

    /// Appends a leaf and waits until it is durable. A leaf already in the
    /// log is not appended again: the answer carries its index and
    /// `duplicate: true`.
    ///
    /// # Errors
    ///
    /// [`LedgerError::EntryTooLarge`], [`LedgerError::Overloaded`] when the
    /// queue is full, [`LedgerError::Restored`] or [`LedgerError::Fatal`]
    /// while halted (see [`Ledger::halt`]), or the batch's failure.
    pub async fn append(&self, leaf: Vec<u8>) -> Result<Appended, LedgerError> {
        if leaf.len() > MAX_ENTRY_SIZE {
            return Err(LedgerError::EntryTooLarge { size: leaf.len() });
        }
        if let Some(halt) = self.halt() {
            return Err(halt.into());
        }
        let (reply, answer) = oneshot::channel();
        let Some(submissions) = &self.sequencer.submissions else {
            return Err(LedgerError::Closed);
        };
        match submissions.try_send(Submission { leaf, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(LedgerError::Overloaded),
            Err(TrySendError::Disconnected(_)) => return Err(LedgerError::Closed),
        }
        answer.await.map_err(|_| LedgerError::Closed)?
    }

    /// The latest published checkpoint.
    pub fn checkpoint(&self) -> Arc<SignedCheckpoint> {
        self.latest.borrow().clone()
    }

    /// A receiver that wakes on every new checkpoint: the change stream's
    /// notification. Pair it with [`Ledger::entries`].
    pub fn subscribe(&self) -> watch::Receiver<Arc<SignedCheckpoint>> {
        self.latest.clone()
    }

    /// The log origin.
    pub fn origin(&self) -> &str {
        self.signer.origin()
    }

    /// The verifier key of the log's checkpoints.
    pub fn verifier_key(&self) -> &str {
        self.signer.verifier_key()
    }

    /// Signs an out-of-band `payload` with the log key; see
    /// [`LogSigner::sign_payload`].
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Signing`].
    pub fn sign_payload(&self, context: &str, payload: &[u8]) -> Result<Vec<u8>, LedgerError> {
        Ok(self.signer.sign_payload(context, payload)?)
    }

    /// The cursor of follower `name`: how many entries of the log it has
    /// dealt with, if it stored one. Followers (the fan-out sinks, any
    /// tailer that keeps its place in the log's own database) name
    /// themselves; the ledger keeps the number and nothing else.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn cursor(&self, name: &str) -> Result<Option<u64>, LedgerError> {
        self.store.cursor(name)
    }

    /// Moves the cursor of follower `name` to `position` entries. `sync`:
    /// wait for the WAL fsync (see [`Store::set_cursor`]).
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn set_cursor(&self, name: &str, position: u64, sync: bool) -> Result<(), LedgerError> {
        self.store.set_cursor(name, position, sync)
    }

    /// Forgets the cursor of follower `name`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn delete_cursor(&self, name: &str) -> Result<(), LedgerError> {
        self.store.delete_cursor(name)
    }

    /// The leaf at `index`, if it is in the published tree.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        if index >= self.checkpoint().size {
            return Ok(None);
        }
        self.store.entry(index)
    }

    /// Up to `limit` leaves of the published tree from `from` on.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn entries(&self, from: u64, limit: usize) -> Result<Vec<Vec<u8>>, LedgerError> {
        let size = self.checkpoint().size;
        let limit = limit.min(usize::try_from(size.saturating_sub(from)).unwrap_or(usize::MAX));
        self.store.entries(from, limit)
    }

    /// When the entry at `index` of the published tree was committed, Unix
    /// milliseconds; `None` beyond the tree, or for entries committed
    /// before the ledger kept batch times.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn entry_time(&self, index: u64) -> Result<Option<u64>, LedgerError> {
        if index >= self.checkpoint().size {
            return Ok(None);
        }
        self.store.entry_time(index)
    }

    /// Entries committed per minute over `[from_minute, to_minute)` (Unix
    /// minutes), as (minute, count) with empty minutes left out.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn entries_per_minute(
        &self,
        from_minute: u64,
        to_minute: u64,
    ) -> Result<Vec<(u64, u64)>, LedgerError> {
        self.store.entries_per_minute(from_minute, to_minute)
    }

    /// Up to `limit` tree sizes of the published tree below `before` at
    /// which the log signed a checkpoint, largest first.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn signed_sizes_before(&self, before: u64, limit: usize) -> Result<Vec<u64>, LedgerError> {
        let size = self.checkpoint().size;
        self.store
            .signed_sizes_before(before.min(size.saturating_add(1)), limit)
    }

    /// The index of the leaf with this hash, if it is in the published tree.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn index_of(&self, leaf_hash: &[u8; 32]) -> Result<Option<u64>, LedgerError> {
        let size = self.checkpoint().size;
        Ok(self.store.index_of_leaf(leaf_hash)?.filter(|i| *i < size))
    }

    /// The signed checkpoint stored for exactly `size`, if a batch ended there.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<String>, LedgerError> {
        if size > self.checkpoint().size {
            return Ok(None);
        }
        self.store.checkpoint(size)
    }

    /// Root hash of the tree at `size` (at most the published size).
    ///
    /// # Errors
    ///
    /// [`ProofError::OutOfRange`] beyond the published tree; storage errors.
    pub fn root_at(&self, size: u64) -> Result<[u8; 32], LedgerError> {
        let latest = self.checkpoint();
        if size > latest.size {
            return Err(ProofError::OutOfRange(format!(
                "tree size {size} is beyond the log's {}",
                latest.size
            ))
            .into());
        }
        if size == latest.size {
            return Ok(latest.root);
        }
        Ok(proof::tree_root(
            size,
            &TileHashes::committed(&*self.store),
        )?)
    }

    /// Proves leaf `index` is in the tree of `tree_size`, and checks the
    /// proof against that tree's root before returning it.
    ///
    /// # Errors
    ///
    /// [`ProofError::OutOfRange`] for an index not below `tree_size` or a
    /// size beyond the published tree; storage errors.
    pub fn inclusion_proof(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<InclusionProof, LedgerError> {
        Ok(self.proven_entry(index, tree_size)?.1)
    }

    /// The leaf at `index` and its inclusion proof in the tree of
    /// `tree_size`, the proof checked against that leaf and the root.
    ///
    /// # Errors
    ///
    /// As [`Ledger::inclusion_proof`].
    pub fn proven_entry(
        &self,
        index: u64,
        tree_size: u64,
    ) -> Result<(Vec<u8>, InclusionProof), LedgerError> {
        if index >= tree_size {
            return Err(ProofError::OutOfRange(format!(
                "log index {index} is not below tree size {tree_size}"
            ))
            .into());
        }
        let leaf = self
            .store
            .entry(index)?
            .ok_or(Corruption::MissingEntry { index })?;
        let proof = self.prove_leaf(index, tree_size, &leaf)?;
        Ok((leaf, proof))
    }

    /// Proves that `leaf`, read by the caller at `index`, is in the tree of
    /// `tree_size`, and checks the proof against that leaf and the root.
    /// For callers that already hold the leaf (a tailer reading a batch).
    ///
    /// # Errors
    ///
    /// As [`Ledger::inclusion_proof`]; [`ProofError`] if `leaf` is not the
    /// leaf at `index`.
    pub fn prove_leaf(
        &self,
        index: u64,
        tree_size: u64,
        leaf: &[u8],
    ) -> Result<InclusionProof, LedgerError> {
        if index >= tree_size {
            return Err(ProofError::OutOfRange(format!(
                "log index {index} is not below tree size {tree_size}"
            ))
            .into());
        }
        let root = self.root_at(tree_size)?;
        let reader = TileHashes::committed(&*self.store);
        let proof = InclusionProof {
            log_index: index,
            tree_size,
            root,
            hashes: proof::prove_inclusion(index, tree_size, &reader)?,
        };
        proof.verify(&leaf_hash(leaf))?;
        Ok(proof)
    }

    /// Proves the tree of `first` is a prefix of the tree of `last`, and
    /// checks the proof before returning it.
    ///
    /// # Errors
    ///
    /// [`ProofError::OutOfRange`] if `first > last` or `last` is beyond the
    /// published tree; storage errors.
    pub fn consistency_proof(
        &self,
        first: u64,
        last: u64,
    ) -> Result<ConsistencyProof, LedgerError> {
        if first > last {
            return Err(ProofError::OutOfRange(format!(
                "first size {first} is larger than last size {last}"
            ))
            .into());
        }
        let last_root = self.root_at(last)?;
        let first_root = self.root_at(first)?;
        let reader = TileHashes::committed(&*self.store);
        let proof = ConsistencyProof {
            first_size: first,
            last_size: last,
            first_root,
            last_root,
            hashes: proof::prove_consistency(first, last, &reader)?,
        };
        proof.verify()?;
        Ok(proof)
    }

    /// The bytes of a tile of the published tree: hashes, or an entry
    /// bundle. `None` if the tile does not exist at this tree size (a full
    /// tile asked for before it is full, a partial wider than the tree).
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn tile(&self, coord: TileCoord) -> Result<Option<Vec<u8>>, LedgerError> {
        let size = self.checkpoint().size;
        let available = TileCoord::available_width(coord.kind, coord.index, size);
        // A partial tile narrower than what exists is served: its hashes never change.
        if available == 0 || coord.width > available {
            return Ok(None);
        }
        let width = usize::try_from(coord.width).unwrap_or(usize::MAX);
        match coord.kind {
            TileKind::Hashes { level } => {
                let data = self.store.tile(level, coord.index)?;
                Ok(data.filter(|d| d.len() >= width * HASH_SIZE).map(|mut d| {
                    d.truncate(width * HASH_SIZE);
                    d
                }))
            }
            TileKind::Entries => {
                let first = coord.index * TILE_WIDTH;
                let leaves = self.store.entries(first, width)?;
                if leaves.len() != width {
                    return Err(Corruption::MissingEntry {
                        index: first + leaves.len() as u64,
                    }
                    .into());
                }
                let mut bundle = Vec::with_capacity(leaves.iter().map(|l| l.len() + 2).sum());
                for (index, leaf) in (first..).zip(&leaves) {
                    tiles::push_bundle_entry(&mut bundle, leaf).map_err(|e| {
                        Corruption::OversizedLeaf {
                            index,
                            size: e.size,
                        }
                    })?;
                }
                Ok(Some(bundle))
            }
        }
    }

    /// Writes a consistent copy of the database to `dir` while serving,
    /// marked as a copy: a ledger opened on it refuses appends until
    /// [`Ledger::resume`]d (see [`Store::backup_to`]).
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn backup_to(&self, dir: &Path) -> Result<(), LedgerError> {
        self.store.backup_to(dir)
    }
}

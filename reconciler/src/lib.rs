//! Following the log: the one tailing mechanism ([`follow::Follower`]),
//! and the search index as its consumer ([`Reconciler`]), so that the index
//! is always a function of the log. Fan-out sinks (`evledger-fanout`) are
//! the follower's other consumers.
//!
//! Each batch of the index reads a batch of entries after the cursor, computes their index
//! keys, and hands the store the members AND the new cursor (index and leaf
//! hash of the batch's last entry) to write in one atomic step. What a crash
//! leaves behind:
//!
//! - before the write: nothing of the batch; the next run reads it again;
//! - after it: the batch and its cursor; the next run goes on from there.
//!
//! The cursor is never ahead of the data, and writes are idempotent, so a
//! replayed batch changes nothing. A store with no cursor (new, flushed,
//! restarted without persistence) is rebuilt from index 0. A cursor whose
//! leaf hash differs from the log's entry at that index belongs to another
//! log: the reconciler refuses to touch it.

pub mod follow;
pub mod source;
pub mod tlog_client;
pub mod verify;

use std::time::Duration;

use evledger_indexer::keys::index_keys;
use evledger_indexer::{Cursor, IndexError, IndexStore, IndexedEntry};
use evledger_ledger::leaf_hash;
use thiserror::Error;
use tokio::sync::watch;
use tracing::{info, warn};

use follow::{Backoff, Consumer, Follower};

pub use follow::IDLE_RECHECK;
pub use source::{LocalLog, LogSource, RemoteLog};
pub use tlog_client::TlogClient;

/// Entries read and indexed per atomic write.
pub const DEFAULT_BATCH: usize = 1024;

/// Errors of the reconciler.
#[derive(Debug, Error)]
pub enum ReconcileError {
    /// The index store failed (retried by [`Reconciler::run`]).
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Reading the log failed (retried by [`Reconciler::run`]).
    #[error("log: {0}")]
    Log(String),
    /// The remote log served something that does not verify.
    #[error("untrusted log data: {0}")]
    Untrusted(String),
    /// The index belongs to another log: its cursor's leaf hash is not the
    /// log's at that index.
    #[error(
        "the index belongs to another log: its cursor says entry {index} has leaf hash {cursor_hash}, the log has {log_hash}; refusing to write"
    )]
    ForeignIndex {
        /// The cursor's log index.
        index: u64,
        /// Leaf hash the cursor records.
        cursor_hash: String,
        /// Leaf hash the log has there.
        log_hash: String,
    },
    /// The cursor points past the end of the log.
    #[error(
        "the index covers {indexed} entries but the log has only {size}: it belongs to another log; refusing to write"
    )]
    CursorBeyondLog {
        /// Entries the index says it covers.
        indexed: u64,
        /// The log's size.
        size: u64,
    },
}

impl ReconcileError {
    /// Whether waiting and trying again can help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Index(_) | Self::Log(_))
    }
}

/// Follows a log into an index store: the [`Follower`] with an index
/// writer as its consumer.
pub struct Reconciler<S, I> {
    follower: Follower<S>,
    store: I,
    batch: usize,
    indexed: watch::Sender<u64>,
}

impl<S: LogSource, I: IndexStore> Reconciler<S, I> {
    /// A reconciler from `source` into `store`.
    pub fn new(source: S, store: I) -> Self {
        let (indexed, _) = watch::channel(0);
        Self {
            follower: Follower::new(source),
            store,
            batch: DEFAULT_BATCH,
            indexed,
        }
    }

    /// Sets the entries per atomic write.
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// How many entries the index covers, updated after every write.
    pub fn indexed(&self) -> watch::Receiver<u64> {
        self.indexed.subscribe()
    }

    /// The store.
    pub fn store(&self) -> &I {
        &self.store
    }

    /// The source.
    pub fn source(&self) -> &S {
        self.follower.source()
    }

    fn writer(&self) -> IndexWriter<'_, S, I> {
        IndexWriter {
            source: self.follower.source(),
            store: &self.store,
            batch: self.batch,
            indexed: &self.indexed,
            written: None,
        }
    }

    /// Indexes everything the log has now; returns the entries covered.
    /// `progress(done, total)` is called after every write.
    ///
    /// # Errors
    ///
    /// Any [`ReconcileError`]; nothing is written past a failure.
    pub async fn catch_up(
        &self,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<u64, ReconcileError> {
        self.follower.catch_up(&mut self.writer(), progress).await
    }

    /// Follows the log until `stop` turns true: catches up, waits for the log
    /// to grow, again. Transient failures (Redis down, log unreachable) are
    /// retried with backoff; a foreign or untrusted index ends the run.
    ///
    /// # Errors
    ///
    /// The first non-transient [`ReconcileError`].
    pub async fn run(&self, stop: watch::Receiver<bool>) -> Result<(), ReconcileError> {
        self.follower.run(&mut self.writer(), stop).await
    }
}

/// The index as a consumer of the log: its position is the cursor stored
/// in the index, written in the same atomic step as each batch's members.
struct IndexWriter<'a, S, I> {
    source: &'a S,
    store: &'a I,
    batch: usize,
    indexed: &'a watch::Sender<u64>,
    /// The cursor as last read or written: the expected value of the next
    /// write, so that a flush between two batches fails the write instead
    /// of leaving a cursor over a hole.
    written: Option<Cursor>,
}

impl<S: LogSource, I: IndexStore> IndexWriter<'_, S, I> {
    /// The stored cursor, checked to belong to this log (`None`: rebuild
    /// from entry 0).
    async fn resume_point(&self, size: u64) -> Result<Option<Cursor>, ReconcileError> {
        let Some(cursor) = self.store.cursor().await? else {
            metrics::counter!("evledger_index_rebuilds_total").increment(1);
            if size > 0 {
                info!(
                    entries = size,
                    "index has no cursor: rebuilding from entry 0"
                );
            }
            return Ok(None);
        };
        if cursor.index >= size {
            return Err(ReconcileError::CursorBeyondLog {
                indexed: cursor.indexed_size(),
                size,
            });
        }
        let leaf = self
            .source
            .leaves(cursor.index, 1)
            .await?
            .pop()
            .ok_or_else(|| ReconcileError::Log(format!("entry {} missing", cursor.index)))?;
        let log_hash = leaf_hash(&leaf);
        if log_hash != cursor.leaf_hash {
            return Err(ReconcileError::ForeignIndex {
                index: cursor.index,
                cursor_hash: hex::encode(cursor.leaf_hash),
                log_hash: hex::encode(log_hash),
            });
        }
        Ok(Some(cursor))
    }
}

impl<S: LogSource, I: IndexStore> Consumer for IndexWriter<'_, S, I> {
    type Error = ReconcileError;

    fn batch(&self) -> usize {
        self.batch
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(Duration::from_millis(50), Duration::from_secs(5))
    }

    async fn resume(&mut self, size: u64) -> Result<u64, ReconcileError> {
        self.written = self.resume_point(size).await?;
        let position = self.written.map_or(0, |c| c.indexed_size());
        self.indexed.send_replace(position);
        Ok(position)
    }

    async fn consume(
        &mut self,
        from: u64,
        leaves: Vec<Vec<u8>>,
        _size: u64,
    ) -> Result<u64, ReconcileError> {
        let Some(last) = leaves.last() else {
            return Ok(from);
        };
        let cursor = Cursor {
            index: from + leaves.len() as u64 - 1,
            leaf_hash: leaf_hash(last),
        };
        let entries = tokio::task::spawn_blocking(move || {
            leaves
                .iter()
                .enumerate()
                .map(|(i, leaf)| IndexedEntry {
                    index: from + i as u64,
                    keys: index_keys(leaf),
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| ReconcileError::Log(e.to_string()))?;
        // The commit point: members and cursor together, only if the
        // cursor is still the one written last.
        self.store.apply(&entries, self.written, cursor).await?;
        self.written = Some(cursor);
        let position = cursor.indexed_size();
        self.indexed.send_replace(position);
        metrics::counter!("evledger_index_entries_total").increment(entries.len() as u64);
        Ok(position)
    }

    fn is_transient(&self, error: &ReconcileError) -> bool {
        error.is_transient()
    }

    fn observe(&self, position: u64, size: u64) {
        metrics::gauge!("evledger_index_lag").set(size.saturating_sub(position) as f64);
    }

    fn retrying(&self, error: &ReconcileError, delay: Duration) {
        metrics::counter!("evledger_index_errors_total").increment(1);
        warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "reconcile failed; retrying");
    }
}

//! Fan-out: sinks that tail the log and deliver every entry they select to
//! somewhere else (Kafka, a gRPC alert sink, a webhook).
//!
//! Every sink is a consumer of the log's one follower
//! ([`evledger_reconciler::follow`]) with its own cursor in the ledger's
//! RocksDB (the number of entries it has dealt with). A batch is read
//! after the cursor, each selected entry proven against the latest
//! checkpoint, the events handed to the sink in log order, and the cursor
//! moved past what the sink acknowledged. So delivery is at-least-once and
//! in log order:
//!
//! - a failed delivery is retried with exponential backoff and jitter, for
//!   as long as it takes; nothing is dropped;
//! - a crash or kill loses at most the cursor's last move, and the entries
//!   after it are delivered again (the event `id`, the leaf hash, is the
//!   consumer's dedup key);
//! - a sink that was down for days resumes where its cursor stopped,
//!   because the log is never trimmed.
//!
//! Metrics, labelled `sink`: `evledger_sink_delivered_total` (events
//! acknowledged), `evledger_sink_failed_total` (failed delivery attempts),
//! `evledger_sink_retries_total` (events put back for another attempt),
//! `evledger_sink_lag` (entries after the cursor).

pub mod alert;
pub mod event;
mod filter;
pub mod kafka;
mod sink;
mod tailer;
pub mod targets;
pub mod webhook;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evledger_ledger::{Ledger, LedgerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

/// First retry delay after a failed delivery.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// Longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub use event::EntryEvent;
pub use filter::Filter;
pub use sink::{one_by_one, BoxFuture, Sink, SinkFailure, DEFAULT_BATCH};
use tailer::Tailer;

/// Where a new sink's cursor starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// After the entries the log holds now: only new entries.
    Now,
    /// At this log index (0: the whole log).
    Index(u64),
}

struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// The running sinks of one ledger, by name.
#[derive(Clone)]
pub struct FanOut {
    ledger: Ledger,
    running: Arc<Mutex<HashMap<String, Running>>>,
}

impl std::fmt::Debug for FanOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanOut")
            .field("sinks", &self.names())
            .finish()
    }
}

impl FanOut {
    /// No sinks yet, over `ledger`.
    pub fn new(ledger: Ledger) -> Self {
        Self {
            ledger,
            running: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Gives sink `name` a durable cursor at `start` unless it has one.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn create_cursor(&self, name: &str, start: StartAt) -> Result<u64, LedgerError> {
        if let Some(cursor) = self.ledger.cursor(name)? {
            return Ok(cursor);
        }
        let cursor = match start {
            StartAt::Now => self.ledger.checkpoint().size,
            StartAt::Index(index) => index,
        };
        self.ledger.set_cursor(name, cursor, true)?;
        Ok(cursor)
    }

    /// Starts delivering to `sink` as `name` from its cursor (from entry 0
    /// if it has none), replacing a sink of that name. Must be called
    /// within a Tokio runtime.
    pub fn start(&self, name: &str, sink: Arc<dyn Sink>, filter: Filter) {
        let (stop, stopped) = watch::channel(false);
        let tailer = Tailer {
            name: name.to_string(),
            ledger: self.ledger.clone(),
            batch: sink.batch().max(1),
            sink,
            filter,
        };
        let task = tokio::spawn(tailer.run(stopped));
        info!(sink = name, "sink started");
        let old = self
            .running
            .lock()
            .map(|mut running| running.insert(name.to_string(), Running { stop, task }))
            .ok()
            .flatten();
        if let Some(old) = old {
            let _ = old.stop.send(true);
        }
    }

    /// Stops sink `name` and waits for it; with `forget`, drops its cursor
    /// too. Returns whether it was running.
    ///
    /// # Errors
    ///
    /// Storage errors while dropping the cursor.
    pub async fn stop(&self, name: &str, forget: bool) -> Result<bool, LedgerError> {
        let running = self
            .running
            .lock()
            .map(|mut running| running.remove(name))
            .ok()
            .flatten();
        let was_running = running.is_some();
        if let Some(running) = running {
            let _ = running.stop.send(true);
            let _ = running.task.await;
        }
        if forget {
            self.ledger.delete_cursor(name)?;
        }
        Ok(was_running)
    }

    /// Stops every sink and waits for them (cursors stay).
    pub async fn shutdown(&self) {
        let all: Vec<Running> = self
            .running
            .lock()
            .map(|mut running| running.drain().map(|(_, r)| r).collect())
            .unwrap_or_default();
        for running in &all {
            let _ = running.stop.send(true);
        }
        for running in all {
            let _ = running.task.await;
        }
    }

    /// Whether sink `name` is running.
    pub fn is_running(&self, name: &str) -> bool {
        self.running
            .lock()
            .map(|running| running.contains_key(name))
            .unwrap_or(false)
    }

    /// Names of the running sinks, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .running
            .lock()
            .map(|running| running.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// How many entries sink `name` has dealt with.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn cursor(&self, name: &str) -> Result<Option<u64>, LedgerError> {
        self.ledger.cursor(name)
    }
}

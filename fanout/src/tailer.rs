//! Fan-out: sinks that tail the log and deliver every entry they select to
//! somewhere else (Kafka, a gRPC alert sink, a webhook).
//!
//! Every sink is a tailer with its own cursor in the ledger's RocksDB (the
//! number of entries it has dealt with). A round reads a batch after the
//! cursor, proves each selected entry against the latest checkpoint, hands
//! the events to the sink in log order, and moves the cursor past what the
//! sink acknowledged. So delivery is at-least-once and in log order:
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

pub mod event;
pub mod kafka;
pub mod webhook;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evledger_indexer::keys::{index_keys, kind_key, predicate_type_key, workflow_key};
use evledger_ledger::{leaf_hash, Ledger, LedgerError};
use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use event::EntryEvent;

/// Entries read per round, unless the sink asks for another number.
pub const DEFAULT_BATCH: usize = 256;
/// First retry delay after a failed delivery.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// Longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A boxed future, for sinks behind `dyn Sink`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A delivery that did not complete: the first `delivered` events were
/// acknowledged, the rest were not.
#[derive(Debug)]
pub struct SinkFailure {
    /// Leading events acknowledged before the failure.
    pub delivered: usize,
    /// What went wrong.
    pub error: String,
}

impl SinkFailure {
    /// A failure at event `delivered` (the ones before it were delivered).
    pub fn at(delivered: usize, error: impl std::fmt::Display) -> Self {
        Self {
            delivered,
            error: error.to_string(),
        }
    }
}

/// Where events go.
pub trait Sink: Send + Sync {
    /// Delivers `events` in order and returns once all are acknowledged.
    fn deliver<'a>(&'a self, events: &'a [EntryEvent]) -> BoxFuture<'a, Result<(), SinkFailure>>;

    /// Most entries read per round: more amortizes a sink's round trip,
    /// fewer bounds what a crash makes it deliver again.
    fn batch(&self) -> usize {
        DEFAULT_BATCH
    }
}

/// Delivers `events` one at a time, in order, with `send`, stopping at the
/// first failure: the building block of sinks without batching.
///
/// # Errors
///
/// The first failure, with the count delivered before it.
pub async fn one_by_one<'a, F, Fut>(events: &'a [EntryEvent], send: F) -> Result<(), SinkFailure>
where
    F: Fn(&'a EntryEvent) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    for (i, event) in events.iter().enumerate() {
        send(event).await.map_err(|e| SinkFailure::at(i, e))?;
    }
    Ok(())
}

/// Which entries a sink takes: each list that is not empty must hold the
/// entry's value (kind, predicate type, workflow).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Entry kinds (`dsse`, `contract`).
    pub kinds: Vec<String>,
    /// in-toto predicate types.
    pub predicate_types: Vec<String>,
    /// Workflow names.
    pub workflows: Vec<String>,
}

impl Filter {
    /// Whether an entry with these index keys passes.
    pub fn matches(&self, keys: &[String]) -> bool {
        let any = |values: &[String], key: fn(&str) -> String| {
            values.is_empty() || values.iter().any(|v| keys.contains(&key(v)))
        };
        any(&self.kinds, kind_key)
            && any(&self.predicate_types, predicate_type_key)
            && any(&self.workflows, workflow_key)
    }
}

/// The value of the first index key with `prefix`.
fn key_value(keys: &[String], prefix: &str) -> Option<String> {
    keys.iter()
        .find_map(|k| k.strip_prefix(prefix))
        .map(str::to_string)
}

/// Exponential backoff with jitter: each delay is drawn from the upper half
/// of a window that doubles up to [`MAX_BACKOFF`].
#[derive(Debug, Clone)]
struct Backoff {
    window: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self {
            window: INITIAL_BACKOFF,
        }
    }

    fn next_delay(&mut self) -> Duration {
        let window = self.window;
        self.window = (self.window * 2).min(MAX_BACKOFF);
        let half = window / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }
}

/// One sink and its cursor, run by [`FanOut`].
struct Tailer {
    name: String,
    ledger: Ledger,
    sink: Arc<dyn Sink>,
    filter: Filter,
    batch: usize,
}

/// Events of one round, and the cursor after it.
struct Round {
    events: Vec<EntryEvent>,
    end: u64,
}

impl Tailer {
    /// Reads entries `from` on (at most a batch) and proves the selected
    /// ones against the latest checkpoint.
    fn read(&self, from: u64) -> Result<Round, LedgerError> {
        let checkpoint = self.ledger.checkpoint();
        let leaves = self.ledger.entries(from, self.batch)?;
        let note: Arc<str> = checkpoint.note.as_str().into();
        let origin: Arc<str> = checkpoint.origin.as_str().into();
        let mut events = Vec::new();
        for (index, leaf) in (from..).zip(leaves.iter()) {
            let keys = index_keys(leaf);
            if !self.filter.matches(&keys) {
                continue;
            }
            // The leaf just read is the one proven: no second read.
            let proof = self.ledger.prove_leaf(index, checkpoint.size, leaf)?;
            events.push(EntryEvent {
                origin: origin.clone(),
                log_index: index,
                leaf_hash: leaf_hash(leaf),
                kind: key_value(&keys, "kind:").unwrap_or_default(),
                workflow: key_value(&keys, "workflow:"),
                leaf: leaf.clone(),
                proof,
                checkpoint: note.clone(),
            });
        }
        Ok(Round {
            events,
            end: from + leaves.len() as u64,
        })
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let sink = this.name.clone();
        let mut updates = this.ledger.subscribe();
        let mut backoff = Backoff::new();
        // The tailer is its cursor's only writer: read it once, then keep
        // it here and write each move through.
        let mut next = loop {
            match this.ledger.cursor(&this.name) {
                Ok(cursor) => break cursor.unwrap_or(0),
                Err(e) => {
                    warn!(sink = %this.name, error = %e, "reading the sink cursor failed");
                    if sleep_or_stop(backoff.next_delay(), &mut stop).await {
                        return;
                    }
                }
            }
        };
        loop {
            if *stop.borrow() {
                return;
            }
            let size = this.ledger.checkpoint().size;
            metrics::gauge!("evledger_sink_lag", "sink" => sink.clone())
                .set(size.saturating_sub(next) as f64);
            if next >= size {
                tokio::select! {
                    changed = updates.changed() => {
                        if changed.is_err() {
                            return; // the ledger is closing
                        }
                    }
                    _ = stop.changed() => {}
                }
                continue;
            }
            let reader = this.clone();
            let round = match tokio::task::spawn_blocking(move || reader.read(next)).await {
                Ok(Ok(round)) => round,
                Ok(Err(e)) => {
                    warn!(sink = %this.name, error = %e, "reading the log failed");
                    if sleep_or_stop(backoff.next_delay(), &mut stop).await {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    warn!(sink = %this.name, error = %e, "log reader panicked");
                    return;
                }
            };
            let result = if round.events.is_empty() {
                Ok(())
            } else {
                tokio::select! {
                    result = this.sink.deliver(&round.events) => result,
                    _ = stop.changed() => return,
                }
            };
            let (cursor, failure) = match result {
                Ok(()) => (round.end, None),
                Err(failure) => {
                    let cursor = round
                        .events
                        .get(failure.delivered)
                        .map_or(round.end, |e| e.log_index);
                    (cursor, Some(failure))
                }
            };
            let delivered = failure
                .as_ref()
                .map_or(round.events.len(), |f| f.delivered.min(round.events.len()));
            metrics::counter!("evledger_sink_delivered_total", "sink" => sink.clone())
                .increment(delivered as u64);
            if cursor > next {
                // A failed write only means these entries go out again
                // after a restart.
                if let Err(e) = this.ledger.set_cursor(&this.name, cursor, false) {
                    warn!(sink = %this.name, error = %e, "saving the sink cursor failed");
                }
                next = cursor;
            }
            match failure {
                None => backoff = Backoff::new(),
                Some(failure) => {
                    metrics::counter!("evledger_sink_failed_total", "sink" => sink.clone())
                        .increment(1);
                    metrics::counter!("evledger_sink_retries_total", "sink" => sink.clone())
                        .increment((round.events.len() - delivered) as u64);
                    let delay = backoff.next_delay();
                    warn!(
                        sink = %this.name,
                        log_index = cursor,
                        error = %failure.error,
                        retry_in_ms = delay.as_millis() as u64,
                        "delivery failed; retrying"
                    );
                    if sleep_or_stop(delay, &mut stop).await {
                        return;
                    }
                }
            }
        }
    }
}

/// Sleeps for `delay`; true if `stop` turned true meanwhile.
async fn sleep_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => false,
        _ = stop.changed() => true,
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_needs_every_non_empty_list() {
        let keys = vec![
            kind_key("dsse"),
            predicate_type_key("https://slsa.dev/provenance/v1"),
            workflow_key("build"),
        ];
        assert!(Filter::default().matches(&keys));
        let only_build = Filter {
            workflows: vec!["build".into()],
            ..Filter::default()
        };
        assert!(only_build.matches(&keys));
        let other = Filter {
            workflows: vec!["deploy".into()],
            ..Filter::default()
        };
        assert!(!other.matches(&keys));
        let wrong_kind = Filter {
            kinds: vec!["contract".into()],
            workflows: vec!["build".into()],
            ..Filter::default()
        };
        assert!(!wrong_kind.matches(&keys));
        let either_type = Filter {
            predicate_types: vec!["x".into(), "https://slsa.dev/provenance/v1".into()],
            ..Filter::default()
        };
        assert!(either_type.matches(&keys));
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut backoff = Backoff::new();
        let mut window = INITIAL_BACKOFF;
        for _ in 0..12 {
            let delay = backoff.next_delay();
            assert!(
                delay >= window / 2 && delay <= window,
                "{delay:?} in {window:?}"
            );
            window = (window * 2).min(MAX_BACKOFF);
        }
        assert_eq!(backoff.window, MAX_BACKOFF);
    }
}

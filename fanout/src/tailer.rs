//! One sink as a consumer of the log ([`evledger_reconciler::follow`]):
//! each batch, prove the entries the sink selects against the latest
//! checkpoint, deliver them in log order, and move the sink's cursor past
//! what was acknowledged.
//!
//! The cursor lives in the ledger's RocksDB under the sink's name and is
//! written without fsync: a crash loses at most its last moves, and the
//! entries after it go out again (at-least-once). Every failure is
//! transient to a sink: it is retried with [`crate::INITIAL_BACKOFF`] to
//! [`crate::MAX_BACKOFF`] for as long as it takes, and nothing is dropped.

use std::sync::Arc;
use std::time::Duration;

use evledger_index_keys::keys::index_keys;
use evledger_ledger::{leaf_hash, Ledger, LedgerError};
use evledger_reconciler::follow::{Backoff, Consumer, Follower};
use evledger_reconciler::{LocalLog, ReconcileError};
use thiserror::Error;
use tokio::sync::watch;
use tracing::warn;

use crate::filter::key_value;
use crate::{EntryEvent, Filter, Sink, INITIAL_BACKOFF, MAX_BACKOFF};

/// One sink and its cursor, run by [`crate::FanOut`].
pub(crate) struct Tailer {
    pub(crate) name: String,
    pub(crate) ledger: Ledger,
    pub(crate) sink: Arc<dyn Sink>,
    pub(crate) filter: Filter,
    pub(crate) batch: usize,
}

/// Why a round did not get through.
#[derive(Debug, Error)]
pub(crate) enum TailError {
    /// The log could not be read.
    #[error(transparent)]
    Log(#[from] ReconcileError),
    /// An entry could not be proven, or the cursor read.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The destination did not acknowledge the event at `log_index`.
    #[error("{error}")]
    Delivery {
        /// The first entry not acknowledged.
        log_index: u64,
        /// What the sink said.
        error: String,
    },
}

impl Tailer {
    /// Delivers to the sink until `stop` turns true.
    pub(crate) async fn run(mut self, stop: watch::Receiver<bool>) {
        let follower = Follower::new(LocalLog::new(self.ledger.clone()));
        if let Err(e) = follower.run(&mut self, stop).await {
            // Unreachable: every failure of a sink is retried.
            warn!(sink = %self.name, error = %e, "sink stopped");
        }
    }
}

/// The events of the entries `from..` of `leaves` that `filter` selects,
/// each proven (the leaf just read is the one proven: no second read)
/// against `ledger`'s latest checkpoint.
fn prove_selected(
    ledger: &Ledger,
    filter: &Filter,
    from: u64,
    leaves: &[Vec<u8>],
) -> Result<Vec<EntryEvent>, LedgerError> {
    let checkpoint = ledger.checkpoint();
    let note: Arc<str> = checkpoint.note.as_str().into();
    let origin: Arc<str> = checkpoint.origin.as_str().into();
    let mut events = Vec::new();
    for (index, leaf) in (from..).zip(leaves) {
        let keys = index_keys(leaf);
        if !filter.matches(&keys) {
            continue;
        }
        let proof = ledger.prove_leaf(index, checkpoint.size, leaf)?;
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
    Ok(events)
}

impl Consumer for Tailer {
    type Error = TailError;

    fn batch(&self) -> usize {
        self.batch
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(INITIAL_BACKOFF, MAX_BACKOFF)
    }

    async fn resume(&mut self, _size: u64) -> Result<u64, TailError> {
        Ok(self.ledger.cursor(&self.name)?.unwrap_or(0))
    }

    async fn consume(
        &mut self,
        from: u64,
        leaves: Vec<Vec<u8>>,
        _size: u64,
    ) -> Result<u64, TailError> {
        let end = from + leaves.len() as u64;
        let (ledger, filter) = (self.ledger.clone(), self.filter.clone());
        let events =
            tokio::task::spawn_blocking(move || prove_selected(&ledger, &filter, from, &leaves))
                .await
                .map_err(|e| ReconcileError::Log(format!("log reader failed: {e}")))??;
        let result = if events.is_empty() {
            Ok(())
        } else {
            self.sink.deliver(&events).await
        };
        let (cursor, failure) = match result {
            Ok(()) => (end, None),
            Err(failure) => {
                let cursor = events.get(failure.delivered).map_or(end, |e| e.log_index);
                (cursor, Some(failure))
            }
        };
        let delivered = failure
            .as_ref()
            .map_or(events.len(), |f| f.delivered.min(events.len()));
        let sink = self.name.clone();
        metrics::counter!("evledger_sink_delivered_total", "sink" => sink.clone())
            .increment(delivered as u64);
        if cursor > from {
            // A failed write only means these entries go out again after
            // a restart.
            if let Err(e) = self.ledger.set_cursor(&self.name, cursor, false) {
                warn!(sink = %self.name, error = %e, "saving the sink cursor failed");
            }
        }
        match failure {
            None => Ok(end),
            Some(failure) => {
                metrics::counter!("evledger_sink_failed_total", "sink" => sink.clone())
                    .increment(1);
                metrics::counter!("evledger_sink_retries_total", "sink" => sink)
                    .increment((events.len() - delivered) as u64);
                Err(TailError::Delivery {
                    log_index: cursor,
                    error: failure.error,
                })
            }
        }
    }

    fn is_transient(&self, _error: &TailError) -> bool {
        true
    }

    fn observe(&self, position: u64, size: u64) {
        metrics::gauge!("evledger_sink_lag", "sink" => self.name.clone())
            .set(size.saturating_sub(position) as f64);
    }

    fn retrying(&self, error: &TailError, delay: Duration) {
        let retry_in_ms = delay.as_millis() as u64;
        match error {
            TailError::Delivery { log_index, error } => warn!(
                sink = %self.name,
                log_index,
                error = %error,
                retry_in_ms,
                "delivery failed; retrying"
            ),
            other => {
                warn!(sink = %self.name, error = %other, retry_in_ms, "reading the log failed")
            }
        }
    }
}

//! The one way evledger follows its log: a [`Follower`] reads the log in
//! order from where its [`Consumer`] stands, hands it one batch at a time,
//! and waits for the log to grow. The search index ([`crate::Reconciler`])
//! and every fan-out sink are consumers of it.
//!
//! Invariants, kept by the consumer and relied on here:
//!
//! - **A consumer keeps its own position**, the number of entries it has
//!   dealt with, where it writes its output (the index keeps its cursor in
//!   the index store, in the same atomic write as the entries; a sink keeps
//!   it in the ledger's RocksDB, moved past what its destination
//!   acknowledged). A crash therefore loses nothing the consumer's output
//!   does not also lose, and replays at most what came after the position.
//! - **Every pass starts from the stored position** ([`Consumer::resume`]),
//!   never from one held in memory: an index flushed while evledger runs
//!   is rebuilt on the next pass, and a sink whose delivery failed halfway
//!   goes on from what was acknowledged.
//! - **Positions only move forward within a pass**, and never beyond the
//!   tree size the pass read.
//!
//! A failure the consumer calls transient (Redis down, a destination that
//! does not answer, a log that cannot be read) is retried after a delay
//! drawn by [`Backoff`]; any other failure ends [`Follower::run`].

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;

use crate::{LogSource, ReconcileError};

/// Longest wait for the log to grow before a pass looks again anyway (so a
/// consumer whose stored position was lost notices while the log is idle).
pub const IDLE_RECHECK: Duration = Duration::from_secs(1);

/// A reader of the log that keeps its own position.
pub trait Consumer: Send {
    /// What can go wrong; reading the log is one of them.
    type Error: std::fmt::Display + From<ReconcileError> + Send;

    /// Most entries handed over per [`Consumer::consume`].
    fn batch(&self) -> usize;

    /// How retries after a transient failure are spaced.
    fn backoff(&self) -> Backoff;

    /// The stored position in a log of `size` entries: how many entries
    /// have been consumed, checked to belong to this log.
    fn resume(&mut self, size: u64) -> impl Future<Output = Result<u64, Self::Error>> + Send;

    /// Takes `leaves`, the entries from index `from` on of a tree of at
    /// least `size` entries, and stores its new position; returns it. On a
    /// failure, what was stored before it stands.
    fn consume(
        &mut self,
        from: u64,
        leaves: Vec<Vec<u8>>,
        size: u64,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;

    /// Whether waiting and trying again can help.
    fn is_transient(&self, error: &Self::Error) -> bool;

    /// Called with the position and the log's size at the start of a pass
    /// and after every batch (for a lag gauge).
    fn observe(&self, _position: u64, _size: u64) {}

    /// Called when a transient failure will be retried after `delay`.
    fn retrying(&self, _error: &Self::Error, _delay: Duration) {}
}

/// Reads a log for consumers.
#[derive(Debug, Clone)]
pub struct Follower<S> {
    source: S,
}

impl<S: LogSource> Follower<S> {
    /// A follower of `source`.
    pub fn new(source: S) -> Self {
        Self { source }
    }

    /// The log followed.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// One pass: hands `consumer` everything the log holds now, batch by
    /// batch, and returns its position at the end. `progress(position,
    /// size)` is called after every batch.
    ///
    /// # Errors
    ///
    /// The first failure of the log or of the consumer; the consumer's
    /// stored position is what it was after the last batch it took.
    pub async fn catch_up<C: Consumer>(
        &self,
        consumer: &mut C,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<u64, C::Error> {
        let size = self.source.size().await?;
        let mut position = consumer.resume(size).await?;
        consumer.observe(position, size);
        while position < size {
            let want = usize::try_from(size - position)
                .unwrap_or(usize::MAX)
                .min(consumer.batch().max(1));
            let leaves = self.source.leaves(position, want).await?;
            if leaves.is_empty() {
                return Err(ReconcileError::Log(format!("no entries at {position}")).into());
            }
            let end = position + leaves.len() as u64;
            let next = consumer.consume(position, leaves, size).await?;
            if next <= position || next > end {
                return Err(ReconcileError::Log(format!(
                    "a consumer given entries {position}..{end} says it stands at {next}"
                ))
                .into());
            }
            position = next;
            consumer.observe(position, size);
            progress(position, size);
        }
        Ok(position)
    }

    /// Follows the log until `stop` turns true: a pass, a wait for the log
    /// to grow (at most [`IDLE_RECHECK`]), again. Transient failures are
    /// retried after a [`Backoff`] delay.
    ///
    /// # Errors
    ///
    /// The first failure the consumer does not call transient.
    pub async fn run<C: Consumer>(
        &self,
        consumer: &mut C,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), C::Error> {
        let mut backoff = consumer.backoff();
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let pass = tokio::select! {
                pass = self.catch_up(consumer, &|_, _| {}) => pass,
                _ = stop.changed() => return Ok(()),
            };
            match pass {
                Ok(size) => {
                    backoff.reset();
                    tokio::select! {
                        () = self.source.wait_beyond(size, IDLE_RECHECK) => {}
                        _ = stop.changed() => {}
                    }
                }
                Err(e) if consumer.is_transient(&e) => {
                    let delay = backoff.next_delay();
                    consumer.retrying(&e, delay);
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = stop.changed() => return Ok(()),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Exponential backoff with jitter: each delay is drawn from the upper half
/// of a window that doubles from `initial` up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    window: Duration,
}

impl Backoff {
    /// Delays from about `initial` doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            window: initial,
        }
    }

    /// The next delay; the window doubles for the one after.
    pub fn next_delay(&mut self) -> Duration {
        let window = self.window;
        self.window = (self.window * 2).min(self.max);
        let half = window / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }

    /// Back to the first window, after a success.
    pub fn reset(&mut self) {
        self.window = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let (initial, max) = (Duration::from_millis(200), Duration::from_secs(30));
        let mut backoff = Backoff::new(initial, max);
        let mut window = initial;
        for _ in 0..12 {
            let delay = backoff.next_delay();
            assert!(
                delay >= window / 2 && delay <= window,
                "{delay:?} in {window:?}"
            );
            window = (window * 2).min(max);
        }
        assert_eq!(backoff.window, max);
        backoff.reset();
        assert!(backoff.next_delay() <= initial);
    }
}

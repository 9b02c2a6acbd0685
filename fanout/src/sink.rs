//! What a sink is: something that takes events in log order and says how
//! many it acknowledged.

use std::future::Future;
use std::pin::Pin;

use crate::EntryEvent;

/// Entries read per round, unless the sink asks for another number.
pub const DEFAULT_BATCH: usize = 256;

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

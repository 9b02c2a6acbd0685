//! Where the reconciler reads the log: the ledger in the same process, or a
//! ledger elsewhere over its C2SP static paths.
//!
//! A remote log is trusted for nothing: every checkpoint is verified with the
//! log's key and must be consistent with the last one seen, and every entry
//! bundle is checked against the checkpoint's tree through authenticated
//! tiles before an entry is handed on.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use evledger_ledger::{CheckpointVerifier, Ledger, SignedCheckpoint};

use crate::tlog_client::TlogClient;
use crate::ReconcileError;

/// A log the reconciler can tail.
pub trait LogSource: Send + Sync {
    /// The current (verified) tree size.
    fn size(&self) -> impl Future<Output = Result<u64, ReconcileError>> + Send;

    /// Up to `count` leaves from `from` on (fewer if the log or a bundle
    /// ends first), each checked to be in the tree.
    fn leaves(
        &self,
        from: u64,
        count: usize,
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, ReconcileError>> + Send;

    /// Returns once the tree may have grown beyond `size`, or after `timeout`.
    fn wait_beyond(&self, size: u64, timeout: Duration) -> impl Future<Output = ()> + Send;
}

/// The ledger of this process.
#[derive(Clone, Debug)]
pub struct LocalLog {
    ledger: Ledger,
}

impl LocalLog {
    /// Tails `ledger`.
    pub fn new(ledger: Ledger) -> Self {
        Self { ledger }
    }
}

impl LogSource for LocalLog {
    async fn size(&self) -> Result<u64, ReconcileError> {
        Ok(self.ledger.checkpoint().size)
    }

    async fn leaves(&self, from: u64, count: usize) -> Result<Vec<Vec<u8>>, ReconcileError> {
        let ledger = self.ledger.clone();
        tokio::task::spawn_blocking(move || ledger.entries(from, count))
            .await
            .map_err(|e| ReconcileError::Log(e.to_string()))?
            .map_err(|e| ReconcileError::Log(e.to_string()))
    }

    async fn wait_beyond(&self, size: u64, timeout: Duration) {
        let mut updates = self.ledger.subscribe();
        let _ = tokio::time::timeout(timeout, updates.wait_for(|cp| cp.size > size)).await;
    }
}

/// A ledger elsewhere, read over HTTP and verified.
#[derive(Clone)]
pub struct RemoteLog {
    inner: Arc<Remote>,
}

impl std::fmt::Debug for RemoteLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteLog")
            .field("url", &self.inner.client.url())
            .finish_non_exhaustive()
    }
}

struct Remote {
    client: TlogClient,
    verifier: CheckpointVerifier,
    latest: Mutex<Option<SignedCheckpoint>>,
}

impl RemoteLog {
    /// Tails the log at `base_url`, trusting checkpoints `verifier` accepts.
    /// Must be called within a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ReconcileError::Log`] if the HTTP client cannot be built or there
    /// is no runtime.
    pub fn new(base_url: &str, verifier: CheckpointVerifier) -> Result<Self, ReconcileError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| ReconcileError::Log(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Remote {
                client: TlogClient::new(base_url, runtime)?,
                verifier,
                latest: Mutex::new(None),
            }),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Remote) -> Result<T, ReconcileError> + Send + 'static,
    ) -> Result<T, ReconcileError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| ReconcileError::Log(e.to_string()))?
    }
}

impl Remote {
    fn latest(&self) -> Result<Option<SignedCheckpoint>, ReconcileError> {
        Ok(self
            .latest
            .lock()
            .map_err(|_| ReconcileError::Log("poisoned".into()))?
            .clone())
    }

    /// Fetches and verifies the latest checkpoint, and checks it extends the
    /// last one seen.
    fn refresh(&self) -> Result<SignedCheckpoint, ReconcileError> {
        let note = self.client.checkpoint_note()?;
        let checkpoint = self
            .verifier
            .verify(&note)
            .map_err(|e| ReconcileError::Untrusted(format!("checkpoint: {e}")))?;
        if let Some(old) = self.latest()? {
            if checkpoint.size < old.size {
                return Err(ReconcileError::Untrusted(format!(
                    "the log rolled back from size {} to {}",
                    old.size, checkpoint.size
                )));
            }
            if checkpoint.size > old.size || checkpoint.root != old.root {
                self.client.consistency_from_api(&old, &checkpoint)?;
            }
        }
        *self
            .latest
            .lock()
            .map_err(|_| ReconcileError::Log("poisoned".into()))? = Some(checkpoint.clone());
        Ok(checkpoint)
    }

    fn leaves(&self, from: u64, count: usize) -> Result<Vec<Vec<u8>>, ReconcileError> {
        let checkpoint = match self.latest()? {
            Some(cp) => cp,
            None => self.refresh()?,
        };
        self.client.leaves(&checkpoint, from, count)
    }
}

impl LogSource for RemoteLog {
    async fn size(&self) -> Result<u64, ReconcileError> {
        self.blocking(|r| r.refresh().map(|cp| cp.size)).await
    }

    async fn leaves(&self, from: u64, count: usize) -> Result<Vec<Vec<u8>>, ReconcileError> {
        self.blocking(move |r| r.leaves(from, count)).await
    }

    async fn wait_beyond(&self, _size: u64, timeout: Duration) {
        // Static paths have no push: poll.
        tokio::time::sleep(timeout.min(Duration::from_millis(500))).await;
    }
}

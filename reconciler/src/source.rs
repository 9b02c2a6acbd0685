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

use evledger_ledger::tiles::{split_bundle, TileCoord, TileKind, TILE_HEIGHT, TILE_WIDTH};
use evledger_ledger::{leaf_hash, CheckpointVerifier, ConsistencyProof, Ledger, SignedCheckpoint};
use tlog_tiles::{HashReader, Tile, TileHashReader, TileReader};

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
            .field("url", &self.inner.base)
            .finish_non_exhaustive()
    }
}

struct Remote {
    base: String,
    verifier: CheckpointVerifier,
    /// Async client, driven from blocking threads through `runtime`: the
    /// tile reader of `tlog_tiles` is synchronous.
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    latest: Mutex<Option<SignedCheckpoint>>,
}

impl RemoteLog {
    /// Tails the log at `base_url`, trusting checkpoints signed by `verifier`.
    /// Must be called within a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ReconcileError::Log`] if the HTTP client cannot be built or there
    /// is no runtime.
    pub fn new(base_url: &str, verifier: CheckpointVerifier) -> Result<Self, ReconcileError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| ReconcileError::Log(e.to_string()))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ReconcileError::Log(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Remote {
                base: base_url.trim_end_matches('/').to_string(),
                verifier,
                client,
                runtime,
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
    /// GET from a blocking thread.
    fn get(&self, path: &str) -> Result<Vec<u8>, ReconcileError> {
        let url = format!("{}{path}", self.base);
        self.runtime.block_on(async {
            let failed = |e: reqwest::Error| ReconcileError::Log(format!("GET {url}: {e}"));
            let response = self.client.get(&url).send().await.map_err(failed)?;
            let status = response.status();
            let body = response.bytes().await.map_err(failed)?;
            if !status.is_success() {
                return Err(ReconcileError::Log(format!("GET {url}: {status}")));
            }
            Ok(body.to_vec())
        })
    }

    /// Fetches and verifies the latest checkpoint, and checks it extends the
    /// last one seen.
    fn refresh(&self) -> Result<SignedCheckpoint, ReconcileError> {
        let note = self.get("/checkpoint")?;
        let checkpoint = self
            .verifier
            .verify(&note)
            .map_err(|e| ReconcileError::Untrusted(format!("checkpoint: {e}")))?;
        let previous = self
            .latest
            .lock()
            .map_err(|_| ReconcileError::Log("poisoned".into()))?
            .clone();
        if let Some(old) = previous {
            if checkpoint.size < old.size {
                return Err(ReconcileError::Untrusted(format!(
                    "the log rolled back from size {} to {}",
                    old.size, checkpoint.size
                )));
            }
            if checkpoint.size > old.size || checkpoint.root != old.root {
                let proof = self.get(&format!(
                    "/api/v1/log/proof/consistency?firstSize={}&lastSize={}",
                    old.size, checkpoint.size
                ))?;
                let hashes = parse_hashes(&proof)?;
                ConsistencyProof {
                    first_size: old.size,
                    last_size: checkpoint.size,
                    first_root: old.root,
                    last_root: checkpoint.root,
                    hashes,
                }
                .verify()
                .map_err(|e| {
                    ReconcileError::Untrusted(format!(
                        "checkpoint {} is not consistent with {}: {e}",
                        checkpoint.size, old.size
                    ))
                })?;
            }
        }
        *self
            .latest
            .lock()
            .map_err(|_| ReconcileError::Log("poisoned".into()))? = Some(checkpoint.clone());
        Ok(checkpoint)
    }

    fn leaves(&self, from: u64, count: usize) -> Result<Vec<Vec<u8>>, ReconcileError> {
        let checkpoint = match self
            .latest
            .lock()
            .map_err(|_| ReconcileError::Log("poisoned".into()))?
            .clone()
        {
            Some(cp) => cp,
            None => self.refresh()?,
        };
        if from >= checkpoint.size {
            return Ok(Vec::new());
        }
        let bundle_index = from / TILE_WIDTH;
        let width = (checkpoint.size - bundle_index * TILE_WIDTH).min(TILE_WIDTH);
        let coord = TileCoord {
            kind: TileKind::Entries,
            index: bundle_index,
            width,
        };
        let bundle = self.get(&format!("/{}", coord.path()))?;
        let leaves = split_bundle(&bundle)
            .filter(|l| l.len() as u64 == width)
            .ok_or_else(|| ReconcileError::Untrusted(format!("{} is malformed", coord.path())))?;
        // Authenticate every leaf hash against the checkpoint through tiles.
        let first = bundle_index * TILE_WIDTH;
        let indexes: Vec<u64> = (first..first + width)
            .map(|i| tlog_tiles::stored_hash_index(0, i))
            .collect();
        let reader = TileHashReader::new(checkpoint.size, tlog_tiles::Hash(checkpoint.root), self);
        let proven = reader
            .read_hashes(&indexes)
            .map_err(|e| ReconcileError::Untrusted(format!("tiles of {}: {e}", coord.path())))?;
        let skip = usize::try_from(from - first).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for (i, (leaf, hash)) in leaves.iter().zip(proven).enumerate().skip(skip).take(count) {
            if leaf_hash(leaf) != hash.0 {
                return Err(ReconcileError::Untrusted(format!(
                    "entry {} does not match the tree",
                    first + i as u64
                )));
            }
            out.push(leaf.to_vec());
        }
        Ok(out)
    }
}

fn parse_hashes(json: &[u8]) -> Result<Vec<[u8; 32]>, ReconcileError> {
    let bad = || ReconcileError::Untrusted("malformed consistency proof".into());
    let value: serde_json::Value = serde_json::from_slice(json).map_err(|_| bad())?;
    value["hashes"]
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|h| hex::decode(h).ok())
                .and_then(|b| b.try_into().ok())
                .ok_or_else(bad)
        })
        .collect()
}

impl TileReader for Remote {
    fn height(&self) -> u8 {
        TILE_HEIGHT
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        tiles
            .iter()
            .map(|t| {
                let coord = TileCoord {
                    kind: TileKind::Hashes { level: t.level() },
                    index: t.level_index(),
                    width: u64::from(t.width()),
                };
                self.get(&format!("/{}", coord.path()))
                    .map_err(|e| tlog_tiles::Error::InvalidInput(e.to_string()))
            })
            .collect()
    }

    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {}
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

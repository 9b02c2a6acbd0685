//! A client of a C2SP tlog-tiles log (<https://c2sp.org/tlog-tiles>) that
//! trusts nothing it reads: hash tiles are authenticated against a verified
//! checkpoint's root, entries against the tiles, and consistency proofs are
//! either built from tiles alone or fetched and checked.
//!
//! Failures have two kinds. [`ReconcileError::Untrusted`] means the log
//! served something that does not verify: misbehaviour (`evledger monitor`
//! exits 3, the reconciler stops). [`ReconcileError::Log`] means the log
//! could not be checked: a connection refused or reset, a timeout, an error
//! status (5xx included), a missing tile, an answer over [`MAX_RESPONSE`];
//! the monitor exits 1 and the reconciler retries.
//!
//! Its methods block: call them from a blocking thread (the HTTP client is
//! async and driven through the runtime handle given at construction,
//! because the tile reader of `tlog_tiles` is synchronous).

use std::sync::Mutex;
use std::time::Duration;

use evledger_ledger::proof::prove_consistency;
use evledger_ledger::tiles::{split_bundle, TileCoord, TileKind, TILE_HEIGHT, TILE_WIDTH};
use evledger_ledger::{leaf_hash, ConsistencyProof, SignedCheckpoint};
use thiserror::Error;
use tlog_tiles::{HashReader, Tile, TileHashReader, TileReader};

use crate::ReconcileError;

/// Largest response read from a log (an entry bundle of 256 entries of up
/// to 64 KiB each, plus length prefixes). Bodies are read chunk by chunk and
/// the read stops as soon as this is passed: an endless body costs this
/// much memory, no more.
pub const MAX_RESPONSE: usize = 256 * (64 * 1024 + 2);

/// How long one request to a log may take, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why [`read_capped`] gave up.
#[derive(Debug, Error)]
pub enum BodyError {
    /// The body is longer than the cap (by its Content-Length or as read).
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    /// The connection failed while reading.
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
}

/// Reads `response`'s body, at most `cap` bytes: refused up front by its
/// Content-Length, else read chunk by chunk and abandoned (the connection
/// dropped) as soon as it passes the cap, so a remote log or witness that
/// sends an endless body costs `cap` bytes of memory, not all it sends.
///
/// # Errors
///
/// [`BodyError`].
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(BodyError::TooLarge(cap));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A log read over HTTP.
pub struct TlogClient {
    base: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for TlogClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlogClient")
            .field("url", &self.base)
            .finish_non_exhaustive()
    }
}

impl TlogClient {
    /// A client of the log at `base_url`, driven on `runtime`.
    ///
    /// # Errors
    ///
    /// [`ReconcileError::Log`] if the HTTP client cannot be built.
    pub fn new(base_url: &str, runtime: tokio::runtime::Handle) -> Result<Self, ReconcileError> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ReconcileError::Log(e.to_string()))?;
        Ok(Self {
            base: base_url.trim_end_matches('/').to_string(),
            client,
            runtime,
        })
    }

    /// The log's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// GETs `path`; `Ok(None)` on 404. Every failure here is
    /// [`ReconcileError::Log`], "could not check": a transport error, an
    /// error status (a 5xx included) or an answer over [`MAX_RESPONSE`] says
    /// nothing about the log's honesty, only what it serves does.
    fn get_optional(&self, path: &str) -> Result<Option<Vec<u8>>, ReconcileError> {
        let url = format!("{}{path}", self.base);
        self.runtime.block_on(async {
            let failed = |e: &dyn std::fmt::Display| ReconcileError::Log(format!("GET {url}: {e}"));
            let response = self.client.get(&url).send().await.map_err(|e| failed(&e))?;
            let status = response.status();
            if status == reqwest::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !status.is_success() {
                // The body of an error answer is not read at all.
                return Err(failed(&status));
            }
            let body = read_capped(response, MAX_RESPONSE)
                .await
                .map_err(|e| failed(&e))?;
            Ok(Some(body))
        })
    }

    /// GETs `path`, failing on any non-2xx status.
    ///
    /// # Errors
    ///
    /// [`ReconcileError::Log`] on transport errors and error statuses.
    pub fn get(&self, path: &str) -> Result<Vec<u8>, ReconcileError> {
        self.get_optional(path)?
            .ok_or_else(|| ReconcileError::Log(format!("GET {}{path}: 404 Not Found", self.base)))
    }

    /// The signed note at `/checkpoint`, unverified.
    ///
    /// # Errors
    ///
    /// As [`TlogClient::get`].
    pub fn checkpoint_note(&self) -> Result<Vec<u8>, ReconcileError> {
        self.get("/checkpoint")
    }

    /// A consistency proof from `old` to `new`, fetched from evledger's REST
    /// API (`/api/v1/log/proof/consistency`) and verified.
    ///
    /// # Errors
    ///
    /// [`ReconcileError::Untrusted`] if it does not verify.
    pub fn consistency_from_api(
        &self,
        old: &SignedCheckpoint,
        new: &SignedCheckpoint,
    ) -> Result<ConsistencyProof, ReconcileError> {
        let proof = self.get(&format!(
            "/api/v1/log/proof/consistency?firstSize={}&lastSize={}",
            old.size, new.size
        ))?;
        check_consistency(old, new, parse_hex_hashes(&proof)?)
    }

    /// A consistency proof from `old` to `new` built from hash tiles alone
    /// (authenticated against `new`'s root), and verified against `old`'s:
    /// works for any tlog-tiles log.
    ///
    /// # Errors
    ///
    /// [`ReconcileError::Untrusted`] if the tiles or the proof do not verify.
    pub fn consistency_from_tiles(
        &self,
        old: &SignedCheckpoint,
        new: &SignedCheckpoint,
    ) -> Result<ConsistencyProof, ReconcileError> {
        let tiles = Tiles::new(self);
        let reader = TileHashReader::new(new.size, new.root_hash(), &tiles);
        let hashes = prove_consistency(old.size, new.size, &reader).map_err(|e| {
            tiles.blame(ReconcileError::Untrusted(format!(
                "tiles of size {} do not give a consistency proof from {}: {e}",
                new.size, old.size
            )))
        })?;
        check_consistency(old, new, hashes)
    }

    /// Up to `count` leaves from `from` on (ending early at a bundle's end),
    /// each authenticated against `checkpoint` through its hash tiles.
    ///
    /// # Errors
    ///
    /// [`ReconcileError::Untrusted`] for a malformed bundle or a leaf that
    /// is not the tree's; [`ReconcileError::Log`] on transport errors.
    pub fn leaves(
        &self,
        checkpoint: &SignedCheckpoint,
        from: u64,
        count: usize,
    ) -> Result<Vec<Vec<u8>>, ReconcileError> {
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
        let bundle = self.get_tile(coord)?;
        let leaves = split_bundle(&bundle)
            .filter(|l| l.len() as u64 == width)
            .ok_or_else(|| ReconcileError::Untrusted(format!("{} is malformed", coord.path())))?;
        // Authenticate every leaf hash against the checkpoint through tiles.
        let first = bundle_index * TILE_WIDTH;
        let indexes: Vec<u64> = (first..first + width)
            .map(|i| tlog_tiles::stored_hash_index(0, i))
            .collect();
        let tiles = Tiles::new(self);
        let reader = TileHashReader::new(checkpoint.size, checkpoint.root_hash(), &tiles);
        let proven = reader.read_hashes(&indexes).map_err(|e| {
            tiles.blame(ReconcileError::Untrusted(format!(
                "tiles of {}: {e}",
                coord.path()
            )))
        })?;
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

    /// A tile or bundle; a partial one a log no longer serves (because it
    /// has since filled) is cut from the full one, as tlog-tiles allows.
    fn get_tile(&self, coord: TileCoord) -> Result<Vec<u8>, ReconcileError> {
        if let Some(data) = self.get_optional(&format!("/{}", coord.path()))? {
            return Ok(data);
        }
        if coord.width < TILE_WIDTH {
            let full = TileCoord {
                width: TILE_WIDTH,
                ..coord
            };
            if let Some(data) = self.get_optional(&format!("/{}", full.path()))? {
                return Ok(match coord.kind {
                    TileKind::Hashes { .. } => {
                        let len = usize::try_from(coord.width).unwrap_or(usize::MAX) * 32;
                        data.get(..len).map(<[u8]>::to_vec).unwrap_or(data)
                    }
                    // A bundle is cut by its length prefixes; the caller checks the count.
                    TileKind::Entries => first_entries(&data, coord.width),
                });
            }
        }
        Err(ReconcileError::Log(format!(
            "GET {}/{}: 404 Not Found",
            self.base,
            coord.path()
        )))
    }
}

/// The first `count` length-prefixed entries of a bundle (all of it if shorter).
fn first_entries(bundle: &[u8], count: u64) -> Vec<u8> {
    let mut at = 0usize;
    for _ in 0..count {
        let Some(len) = bundle.get(at..at + 2) else {
            break;
        };
        at += 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
    }
    bundle[..at.min(bundle.len())].to_vec()
}

fn check_consistency(
    old: &SignedCheckpoint,
    new: &SignedCheckpoint,
    hashes: Vec<[u8; 32]>,
) -> Result<ConsistencyProof, ReconcileError> {
    let proof = ConsistencyProof {
        first_size: old.size,
        last_size: new.size,
        first_root: old.root,
        last_root: new.root,
        hashes,
    };
    proof.verify().map_err(|e| {
        ReconcileError::Untrusted(format!(
            "checkpoint {} is not consistent with {}: {e}",
            new.size, old.size
        ))
    })?;
    Ok(proof)
}

/// The `hashes` of an evledger consistency proof response.
fn parse_hex_hashes(json: &[u8]) -> Result<Vec<[u8; 32]>, ReconcileError> {
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

/// The tile reader of one proof or read. `tlog_tiles` turns every reader
/// error into its own error, indistinguishable from a tile that does not
/// verify; so the first failure to fetch a tile is kept here, and the
/// caller reports that ("could not check", [`ReconcileError::Log`]) instead
/// of the verification error (misbehaviour, [`ReconcileError::Untrusted`]).
struct Tiles<'a> {
    client: &'a TlogClient,
    failed: Mutex<Option<ReconcileError>>,
}

impl<'a> Tiles<'a> {
    fn new(client: &'a TlogClient) -> Self {
        Self {
            client,
            failed: Mutex::new(None),
        }
    }

    /// The fetch failure if there was one, else `untrusted`: a tile fetched
    /// and found wrong.
    fn blame(&self, untrusted: ReconcileError) -> ReconcileError {
        match self.failed.lock() {
            Ok(mut failed) => failed.take().unwrap_or(untrusted),
            Err(_) => ReconcileError::Log("tile reader poisoned".into()),
        }
    }
}

impl TileReader for Tiles<'_> {
    fn height(&self) -> u8 {
        TILE_HEIGHT
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        tiles
            .iter()
            .map(|t| {
                self.client
                    .get_tile(TileCoord {
                        kind: TileKind::Hashes { level: t.level() },
                        index: t.level_index(),
                        width: u64::from(t.width()),
                    })
                    .map_err(|e| {
                        let message = e.to_string();
                        if let Ok(mut failed) = self.failed.lock() {
                            failed.get_or_insert(e);
                        }
                        tlog_tiles::Error::InvalidInput(message)
                    })
            })
            .collect()
    }

    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {}
}

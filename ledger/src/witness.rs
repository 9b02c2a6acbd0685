//! A transparency-log witness: C2SP tlog-witness (<https://c2sp.org/tlog-witness>)
//! `add-checkpoint`, minus the HTTP (the API crate maps [`WitnessError`] to
//! the statuses the spec names).
//!
//! ```text
//! old 20852014
//! PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
//! jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
//!
//! example.com/behind-the-sofa
//! 20852163
//! CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//!
//! — example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
//! ```
//!
//! For each log it trusts, the witness keeps the latest checkpoint it
//! cosigned (the note itself; size and root are read back from it), in its
//! own RocksDB. It cosigns a new checkpoint only if the log
//! signed it, the request's old size is the recorded size, and the proof
//! shows the new tree extends the recorded one; for the same size, only the
//! same root. The check and the update are one critical section and the
//! update is synced before the cosignature leaves, so the witness never
//! cosigns two different roots for one size, nor a smaller tree after a
//! larger one, across restarts. Refused checkpoints that the log did sign
//! are kept as evidence of misbehaviour.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use base64::prelude::{Engine, BASE64_STANDARD};
use rocksdb::{Options, WriteOptions, DB};
use thiserror::Error;

use crate::checkpoint::{CheckpointError, CheckpointVerifier, SignedCheckpoint};
use crate::cosignature::{unix_now, Cosigner};
use crate::proof::ConsistencyProof;

/// Most consistency proof lines a request may carry (the spec's bound).
pub const MAX_PROOF_LINES: usize = 63;

/// Largest `add-checkpoint` body: the proof lines and a checkpoint note.
pub const MAX_ADD_CHECKPOINT_SIZE: usize =
    crate::checkpoint::MAX_CHECKPOINT_SIZE + MAX_PROOF_LINES * 46 + 32;

const STATE_PREFIX: &str = "state/";
const EVIDENCE_PREFIX: &str = "evidence/";

/// Why a checkpoint was not cosigned; each maps to one HTTP status.
#[derive(Debug, Error)]
pub enum WitnessError {
    /// The body is not an `add-checkpoint` request (400).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The old size exceeds the checkpoint's size (400).
    #[error("old size {old} is larger than the checkpoint size {size}")]
    OldSizeTooLarge {
        /// The request's old size.
        old: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The witness does not know this log (404).
    #[error("unknown log {0:?}")]
    UnknownLog(String),
    /// No trusted key of the log signed the checkpoint (403).
    #[error("checkpoint not signed by the log: {0}")]
    Forbidden(String),
    /// The old size is not the recorded one, or the size is the recorded one
    /// with another root (409; the body is `size`).
    #[error("conflict: {reason}")]
    Conflict {
        /// Size of the latest checkpoint the witness cosigned.
        size: u64,
        /// What conflicts.
        reason: String,
    },
    /// The consistency proof does not verify (422).
    #[error("consistency proof does not verify: {0}")]
    BadProof(String),
    /// The witness's own storage failed (500).
    #[error("witness storage: {0}")]
    Storage(String),
}

impl From<rocksdb::Error> for WitnessError {
    fn from(e: rocksdb::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

/// A parsed `add-checkpoint` request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// Size of the checkpoint the client believes the witness holds.
    pub old_size: u64,
    /// Consistency proof from `old_size` to the checkpoint.
    pub proof: Vec<[u8; 32]>,
    /// The signed checkpoint note.
    pub checkpoint: Vec<u8>,
}

impl AddCheckpoint {
    /// Parses `old <N>\n`, up to [`MAX_PROOF_LINES`] base64 hashes, a blank
    /// line, then the checkpoint.
    ///
    /// # Errors
    ///
    /// [`WitnessError::Malformed`] naming what is wrong.
    pub fn parse(body: &[u8]) -> Result<Self, WitnessError> {
        let bad = |what: &str| WitnessError::Malformed(what.to_string());
        if body.len() > MAX_ADD_CHECKPOINT_SIZE {
            return Err(bad("request too large"));
        }
        let text = std::str::from_utf8(body).map_err(|_| bad("not UTF-8"))?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .ok_or_else(|| bad("first line must be `old <size>`"))?;
        let old_size = parse_decimal(old).ok_or_else(|| bad("old size is not a decimal"))?;
        let proof = lines
            .map(|line| {
                BASE64_STANDARD
                    .decode(line)
                    .ok()
                    .and_then(|h| <[u8; 32]>::try_from(h).ok())
                    .ok_or_else(|| bad("a proof line is not a base64 SHA-256 hash"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if proof.len() > MAX_PROOF_LINES {
            return Err(bad("more than 63 proof lines"));
        }
        Ok(Self {
            old_size,
            proof,
            checkpoint: checkpoint.as_bytes().to_vec(),
        })
    }

    /// Encodes the request body.
    pub fn to_body(&self) -> Vec<u8> {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            body.push_str(&BASE64_STANDARD.encode(hash));
            body.push('\n');
        }
        body.push('\n');
        let mut body = body.into_bytes();
        body.extend_from_slice(&self.checkpoint);
        body
    }
}

/// A decimal without leading zeros (except `0` itself), as the spec writes sizes.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A witness: its key, the logs it trusts and its durable state.
pub struct Witness {
    db: DB,
    cosigner: Cosigner,
    logs: HashMap<String, CheckpointVerifier>,
    /// Serialises check-and-update of the recorded checkpoints.
    update: Mutex<()>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("name", &self.cosigner.name())
            .field("logs", &self.logs.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// Opens (creating) the witness state in `dir`, cosigning with
    /// `cosigner` for the logs whose verifiers are given (keyed by origin).
    ///
    /// # Errors
    ///
    /// [`WitnessError::Storage`] if RocksDB cannot open `dir` (for example
    /// because another witness process holds it).
    pub fn open(
        dir: &Path,
        cosigner: Cosigner,
        logs: Vec<CheckpointVerifier>,
    ) -> Result<Self, WitnessError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        let db = DB::open(&options, dir)?;
        let logs = logs
            .into_iter()
            .map(|v| (v.origin().to_string(), v))
            .collect();
        Ok(Self {
            db,
            cosigner,
            logs,
            update: Mutex::new(()),
        })
    }

    /// The witness's `cosignature/v1` verifier key.
    pub fn verifier_key(&self) -> String {
        self.cosigner.verifier_key()
    }

    /// The latest checkpoint cosigned for `origin`: the log-signed note
    /// as submitted, its size and root read back from it.
    ///
    /// # Errors
    ///
    /// [`WitnessError::Storage`] on read errors or a corrupt record.
    pub fn latest(&self, origin: &str) -> Result<Option<SignedCheckpoint>, WitnessError> {
        let Some(value) = self.db.get(format!("{STATE_PREFIX}{origin}"))? else {
            return Ok(None);
        };
        let corrupt = |why: String| WitnessError::Storage(format!("state for {origin:?}: {why}"));
        let note = String::from_utf8(value).map_err(|_| corrupt("not UTF-8".into()))?;
        SignedCheckpoint::parse_unverified(&note)
            .map(Some)
            .map_err(|e| corrupt(e.to_string()))
    }

    /// Refused checkpoints the log did sign, oldest first: `(why, request)`.
    ///
    /// # Errors
    ///
    /// [`WitnessError::Storage`] on read errors.
    pub fn evidence(&self, origin: &str) -> Result<Vec<(String, Vec<u8>)>, WitnessError> {
        let prefix = format!("{EVIDENCE_PREFIX}{origin}/");
        let mut out = Vec::new();
        for item in self.db.prefix_iterator(prefix.as_bytes()) {
            let (key, value) = item?;
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            let (why, request) = match value.iter().position(|b| *b == 0) {
                Some(i) => (&value[..i], &value[i + 1..]),
                None => (&value[..0], &value[..]),
            };
            out.push((String::from_utf8_lossy(why).into_owned(), request.to_vec()));
        }
        Ok(out)
    }

    /// Handles an `add-checkpoint` body: returns the cosignature line(s).
    ///
    /// # Errors
    ///
    /// A [`WitnessError`] per refusal the spec names; nothing is recorded
    /// except evidence.
    pub fn add_checkpoint(&self, body: &[u8]) -> Result<String, WitnessError> {
        let request = AddCheckpoint::parse(body)?;
        let origin = origin_of(&request.checkpoint)?;
        let verifier = self
            .logs
            .get(&origin)
            .ok_or_else(|| WitnessError::UnknownLog(origin.clone()))?;
        let checkpoint = verifier.verify(&request.checkpoint).map_err(|e| match e {
            CheckpointError::MalformedNote(_)
            | CheckpointError::MalformedBody
            | CheckpointError::TooLarge => WitnessError::Malformed(e.to_string()),
            _ => WitnessError::Forbidden(e.to_string()),
        })?;
        if request.old_size > checkpoint.size {
            return Err(WitnessError::OldSizeTooLarge {
                old: request.old_size,
                size: checkpoint.size,
            });
        }
        // Check and update are one step: two requests racing must not roll
        // the record back (the spec's request A / request B race).
        let _guard = self
            .update
            .lock()
            .map_err(|_| WitnessError::Storage("lock poisoned".into()))?;
        let latest = self.latest(&origin)?;
        match self.check(&request, &checkpoint, latest.as_ref()) {
            Ok(()) => {}
            Err(e) => {
                if matches!(e, WitnessError::Conflict { .. } | WitnessError::BadProof(_)) {
                    self.keep_evidence(&origin, &e, body)?;
                }
                return Err(e);
            }
        }
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        self.db.put_opt(
            format!("{STATE_PREFIX}{origin}"),
            &request.checkpoint,
            &sync,
        )?;
        Ok(self.cosigner.cosign(checkpoint.body(), unix_now()))
    }

    fn check(
        &self,
        request: &AddCheckpoint,
        checkpoint: &SignedCheckpoint,
        latest: Option<&SignedCheckpoint>,
    ) -> Result<(), WitnessError> {
        let (size, root) = latest.map_or((0, tlog_tiles::EMPTY_HASH.0), |l| (l.size, l.root));
        if request.old_size != size {
            return Err(WitnessError::Conflict {
                size,
                reason: format!(
                    "old size {} is not the latest cosigned size {size}",
                    request.old_size
                ),
            });
        }
        if checkpoint.size == size && size > 0 {
            if checkpoint.root != root {
                return Err(WitnessError::Conflict {
                    size,
                    reason: format!("size {size} was cosigned with another root"),
                });
            }
            return Ok(());
        }
        if size == 0 {
            return if request.proof.is_empty() {
                Ok(())
            } else {
                Err(WitnessError::BadProof(
                    "the proof from size 0 must be empty".into(),
                ))
            };
        }
        ConsistencyProof {
            first_size: size,
            last_size: checkpoint.size,
            first_root: root,
            last_root: checkpoint.root,
            hashes: request.proof.clone(),
        }
        .verify()
        .map_err(|e| {
            WitnessError::BadProof(format!(
                "size {} does not extend the cosigned size {size}: {e}",
                checkpoint.size
            ))
        })
    }

    fn keep_evidence(
        &self,
        origin: &str,
        why: &WitnessError,
        request: &[u8],
    ) -> Result<(), WitnessError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut value = why.to_string().into_bytes();
        value.push(0);
        value.extend_from_slice(request);
        tracing::warn!(origin, reason = %why, "refused a log-signed checkpoint; kept as evidence");
        self.db
            .put(format!("{EVIDENCE_PREFIX}{origin}/{nanos:039}"), value)?;
        Ok(())
    }
}

/// The origin line of a note, before any verification.
fn origin_of(note: &[u8]) -> Result<String, WitnessError> {
    let end = note
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| WitnessError::Malformed("checkpoint has no origin line".into()))?;
    String::from_utf8(note[..end].to_vec())
        .map_err(|_| WitnessError::Malformed("origin is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips() {
        let request = AddCheckpoint {
            old_size: 20_852_014,
            proof: vec![[7; 32], [9; 32]],
            checkpoint: b"log.example\n3\nAAAA\n\n\xe2\x80\x94 log.example AAAA\n".to_vec(),
        };
        assert_eq!(AddCheckpoint::parse(&request.to_body()).ok(), Some(request));
    }

    #[test]
    fn malformed_requests_are_refused() {
        for body in [
            &b"old 01\n\nx\n"[..],
            b"old -1\n\nx\n",
            b"new 1\n\nx\n",
            b"old 1\nnot-base64\n\nx\n",
            b"old 1\nAAAA\n\nx\n",
            b"old 1\n",
        ] {
            assert!(
                matches!(AddCheckpoint::parse(body), Err(WitnessError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}

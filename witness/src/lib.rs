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
//! larger one, across restarts.
//!
//! Evidence: a refused checkpoint that the log did sign is kept only when it
//! shows misbehaviour, that is, another root at the cosigned size (a fork)
//! or a larger tree whose consistency proof does not verify. A wrong `old`
//! size is the routine answer to a client that is behind, not evidence.
//! Records are keyed by what they prove (the kind, the cosigned size and
//! the refused checkpoint's body), so showing the same fork again stores
//! nothing new; each record is at most [`MAX_EVIDENCE_RECORD_SIZE`] bytes
//! and a log has at most [`MAX_EVIDENCE_PER_LOG`] of them (later ones are
//! logged and counted, not stored), so no caller can fill the disk.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use rocksdb::{Options, WriteOptions, DB};
use thiserror::Error;

use evledger_tlog::cosignature::{unix_now, Cosigner};
use evledger_tlog::proof::ConsistencyProof;
pub use evledger_tlog::witness_request::{
    AddCheckpoint, MalformedRequest, MAX_ADD_CHECKPOINT_SIZE, MAX_PROOF_LINES,
};
use evledger_tlog::{CheckpointError, CheckpointVerifier, SignedCheckpoint};
use sha2::{Digest, Sha256};

/// Most evidence records kept per log; later misbehaviour is logged and
/// counted (`evledger_witness_evidence_dropped_total`), not stored.
pub const MAX_EVIDENCE_PER_LOG: usize = 64;

/// Longest refusal reason stored in an evidence record.
pub const MAX_EVIDENCE_REASON: usize = 1024;

/// Largest evidence record (see [`Evidence::encode`]): the reason, the
/// refused request (at most [`MAX_ADD_CHECKPOINT_SIZE`]) and the cosigned
/// checkpoint it conflicts with (at most `MAX_CHECKPOINT_SIZE`).
pub const MAX_EVIDENCE_RECORD_SIZE: usize = 1
    + 4
    + MAX_EVIDENCE_REASON
    + 4
    + MAX_ADD_CHECKPOINT_SIZE
    + evledger_tlog::checkpoint::MAX_CHECKPOINT_SIZE;

/// Version byte of an [`Evidence::encode`] record.
const EVIDENCE_V1: u8 = 1;

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

impl From<MalformedRequest> for WitnessError {
    fn from(e: MalformedRequest) -> Self {
        Self::Malformed(e.0)
    }
}

impl From<rocksdb::Error> for WitnessError {
    fn from(e: rocksdb::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

/// One piece of evidence that a log misbehaved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// Why the checkpoint was refused.
    pub reason: String,
    /// The refused `add-checkpoint` request, as received (it holds the
    /// log-signed checkpoint).
    pub request: Vec<u8>,
    /// The checkpoint the witness had cosigned, which the refused one
    /// contradicts (empty in records of older versions).
    pub cosigned: String,
}

impl Evidence {
    /// The stored form: version byte, u32 BE length and reason, u32 BE
    /// length and request, then the cosigned note.
    fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(9 + self.reason.len() + self.request.len() + self.cosigned.len());
        out.push(EVIDENCE_V1);
        for part in [self.reason.as_bytes(), &self.request] {
            // Both parts are bounded far below 4 GiB by the request limit.
            out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(part);
        }
        out.extend_from_slice(self.cosigned.as_bytes());
        out
    }

    /// Reads a stored record; records of older versions (`reason NUL
    /// request`) and damaged ones are returned as best it can.
    fn decode(value: &[u8]) -> Self {
        fn take<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
            let len = usize::try_from(u32::from_be_bytes(rest.get(..4)?.try_into().ok()?)).ok()?;
            let part = rest.get(4..4 + len)?;
            *rest = &rest[4 + len..];
            Some(part)
        }
        if let Some((&EVIDENCE_V1, mut rest)) = value.split_first() {
            if let (Some(reason), Some(request)) = (take(&mut rest), take(&mut rest)) {
                return Self {
                    reason: String::from_utf8_lossy(reason).into_owned(),
                    request: request.to_vec(),
                    cosigned: String::from_utf8_lossy(rest).into_owned(),
                };
            }
        }
        let (why, request) = match value.iter().position(|b| *b == 0) {
            Some(i) => (&value[..i], &value[i + 1..]),
            None => (&value[..0], value),
        };
        Self {
            reason: String::from_utf8_lossy(why).into_owned(),
            request: request.to_vec(),
            cosigned: String::new(),
        }
    }
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

    /// The evidence of misbehaviour kept for `origin` (at most
    /// [`MAX_EVIDENCE_PER_LOG`] records, in no particular order).
    ///
    /// # Errors
    ///
    /// [`WitnessError::Storage`] on read errors.
    pub fn evidence(&self, origin: &str) -> Result<Vec<Evidence>, WitnessError> {
        let prefix = format!("{EVIDENCE_PREFIX}{origin}/");
        let mut out = Vec::new();
        for item in self.db.prefix_iterator(prefix.as_bytes()) {
            let (key, value) = item?;
            if !key.starts_with(prefix.as_bytes()) {
                break;
            }
            out.push(Evidence::decode(&value));
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
        if let Err(refusal) = check(&request, &checkpoint, latest.as_ref()) {
            if let Some(kind) = refusal.evidence {
                let cosigned = latest.as_ref().map_or("", |l| l.note.as_str());
                self.keep_evidence(&origin, kind, &refusal.error, &checkpoint, body, cosigned)?;
            }
            return Err(refusal.error);
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

    /// Stores evidence that the log misbehaved, unless the same evidence is
    /// on record or the log already has [`MAX_EVIDENCE_PER_LOG`] records.
    /// Called under the update lock, so the count cannot race.
    fn keep_evidence(
        &self,
        origin: &str,
        kind: EvidenceKind,
        why: &WitnessError,
        checkpoint: &SignedCheckpoint,
        request: &[u8],
        cosigned: &str,
    ) -> Result<(), WitnessError> {
        let prefix = format!("{EVIDENCE_PREFIX}{origin}/");
        // What the record proves, independent of the proof lines and of
        // signature lines by other keys a caller may vary at will.
        let mut digest = Sha256::new();
        digest.update(kind.name().as_bytes());
        digest.update([0]);
        digest.update(
            SignedCheckpoint::parse_unverified(cosigned)
                .map(|c| c.size)
                .unwrap_or(0)
                .to_be_bytes(),
        );
        digest.update(checkpoint.body());
        let key = format!("{prefix}{}", hex::encode(digest.finalize()));
        if self.db.get_pinned(&key)?.is_some() {
            tracing::debug!(origin, reason = %why, "misbehaviour already on record");
            return Ok(());
        }
        let kept = self
            .db
            .prefix_iterator(prefix.as_bytes())
            .take_while(|item| {
                item.as_ref()
                    .map_or(true, |(k, _)| k.starts_with(prefix.as_bytes()))
            })
            .take(MAX_EVIDENCE_PER_LOG)
            .count();
        if kept >= MAX_EVIDENCE_PER_LOG {
            metrics::counter!("evledger_witness_evidence_dropped_total").increment(1);
            tracing::warn!(
                origin,
                reason = %why,
                limit = MAX_EVIDENCE_PER_LOG,
                "refused a log-signed checkpoint; evidence store full, not kept"
            );
            return Ok(());
        }
        let mut reason = why.to_string();
        if reason.len() > MAX_EVIDENCE_REASON {
            let mut end = MAX_EVIDENCE_REASON;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        let value = Evidence {
            reason,
            request: request.to_vec(),
            cosigned: cosigned.to_string(),
        }
        .encode();
        if value.len() > MAX_EVIDENCE_RECORD_SIZE {
            // Cannot happen: each part is bounded on the way in.
            return Err(WitnessError::Storage("evidence record too large".into()));
        }
        tracing::warn!(origin, reason = %why, kind = kind.name(), "refused a log-signed checkpoint; kept as evidence");
        metrics::counter!("evledger_witness_evidence_total", "kind" => kind.name()).increment(1);
        self.db.put(key, value)?;
        Ok(())
    }
}

/// What a refusal proves about the log, when it proves anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EvidenceKind {
    /// Another root at the size the witness cosigned.
    Fork,
    /// A larger tree whose consistency proof does not verify.
    BadProof,
}

impl EvidenceKind {
    fn name(self) -> &'static str {
        match self {
            Self::Fork => "fork",
            Self::BadProof => "bad_proof",
        }
    }
}

/// A refused request: the error to answer with, and whether it is evidence.
struct Refusal {
    error: WitnessError,
    evidence: Option<EvidenceKind>,
}

impl Refusal {
    fn routine(error: WitnessError) -> Self {
        Self {
            error,
            evidence: None,
        }
    }

    fn evidence(kind: EvidenceKind, error: WitnessError) -> Self {
        Self {
            error,
            evidence: Some(kind),
        }
    }
}

/// Whether `checkpoint` may be cosigned after `latest`, the last cosigned.
fn check(
    request: &AddCheckpoint,
    checkpoint: &SignedCheckpoint,
    latest: Option<&SignedCheckpoint>,
) -> Result<(), Refusal> {
    let (size, root) = latest.map_or((0, tlog_tiles::EMPTY_HASH.0), |l| (l.size, l.root));
    if request.old_size != size {
        // The client is behind or guessing: it learns the size and retries.
        return Err(Refusal::routine(WitnessError::Conflict {
            size,
            reason: format!(
                "old size {} is not the latest cosigned size {size}",
                request.old_size
            ),
        }));
    }
    if checkpoint.size == size && size > 0 {
        if checkpoint.root != root {
            return Err(Refusal::evidence(
                EvidenceKind::Fork,
                WitnessError::Conflict {
                    size,
                    reason: format!("size {size} was cosigned with another root"),
                },
            ));
        }
        return Ok(());
    }
    if size == 0 {
        return if request.proof.is_empty() {
            Ok(())
        } else {
            Err(Refusal::routine(WitnessError::BadProof(
                "the proof from size 0 must be empty".into(),
            )))
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
        Refusal::evidence(
            EvidenceKind::BadProof,
            WitnessError::BadProof(format!(
                "size {} does not extend the cosigned size {size}: {e}",
                checkpoint.size
            )),
        )
    })
}

/// Reads the evidence a witness keeps in `dir` (its state directory), by
/// origin, without taking the witness's lock: a read-only view that works
/// while the witness runs (it sees what was written when it opened).
///
/// # Errors
///
/// [`WitnessError::Storage`] if `dir` is not a witness state or cannot be read.
pub fn read_evidence(dir: &Path) -> Result<Vec<(String, Evidence)>, WitnessError> {
    let db = DB::open_for_read_only(&Options::default(), dir, false)?;
    let mut out = Vec::new();
    for item in db.prefix_iterator(EVIDENCE_PREFIX.as_bytes()) {
        let (key, value) = item?;
        let Some(rest) = key.strip_prefix(EVIDENCE_PREFIX.as_bytes()) else {
            break;
        };
        // Keys are `evidence/<origin>/<id>`; an origin may itself hold '/'.
        let origin = match rest.iter().rposition(|b| *b == b'/') {
            Some(end) => String::from_utf8_lossy(&rest[..end]).into_owned(),
            None => continue,
        };
        out.push((origin, Evidence::decode(&value)));
    }
    Ok(out)
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
    fn evidence_records_round_trip() {
        let evidence = Evidence {
            reason: "size 5 was cosigned with another root".into(),
            request: b"old 5\n\nlog\n5\nAAAA\n\0x".to_vec(),
            cosigned: "log\n5\nBBBB\n".into(),
        };
        assert_eq!(Evidence::decode(&evidence.encode()), evidence);
        let legacy = Evidence::decode(b"why\0old 1\n");
        assert_eq!(
            (legacy.reason.as_str(), &legacy.request[..]),
            ("why", &b"old 1\n"[..])
        );
    }
}

//! Offline proofs in the C2SP tlog-proof format (<https://c2sp.org/tlog-proof>).
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra eyJraW5kIjoiZHNzZSIsInNwZWMiOnsuLi59fQ==
//! index 73894
//! gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
//! B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
//!
//! example.com/fancylog
//! 109482
//! sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=
//!
//! — example.com/fancylog hI2DJw...
//! ```
//!
//! evledger puts the entry's leaf bytes in `extra`, so a bundle alone is
//! enough to know what was logged and to check it offline.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use thiserror::Error;

use crate::checkpoint::{CheckpointError, SignedCheckpoint};
use crate::proof::{leaf_hash, InclusionProof, ProofError};
use crate::verifier::CheckpointVerifier;

/// First line of every tlog-proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Most proof hashes a bundle may carry (a 64-bit tree needs at most 63).
pub const MAX_PROOF_HASHES: usize = 63;
/// Largest bundle accepted.
pub const MAX_BUNDLE_SIZE: usize = 256 * 1024;

/// A parsed tlog-proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Application data; for evledger, the leaf bytes of the entry.
    pub extra: Option<Vec<u8>>,
    /// Index of the entry.
    pub index: u64,
    /// Inclusion proof hashes.
    pub hashes: Vec<[u8; 32]>,
    /// The signed checkpoint note the proof is against.
    pub checkpoint: String,
}

/// A bundle that is malformed or does not verify.
#[derive(Debug, Error)]
pub enum BundleError {
    /// The text is not a tlog-proof.
    #[error("malformed tlog-proof: {0}")]
    Malformed(String),
    /// The checkpoint does not verify.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The inclusion proof does not verify.
    #[error("inclusion proof: {0}")]
    Proof(#[from] ProofError),
    /// The bundle carries no entry and none was given.
    #[error("the bundle has no extra data (entry); pass the entry to check")]
    NoEntry,
    /// The entry given does not match the bundle's.
    #[error("the given entry differs from the one in the bundle")]
    EntryMismatch,
}

impl TlogProof {
    /// Encodes the bundle as text.
    pub fn to_text(&self) -> String {
        let mut out = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", B64.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for hash in &self.hashes {
            out.push_str(&B64.encode(hash));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a bundle.
    ///
    /// # Errors
    ///
    /// [`BundleError::Malformed`] naming the first line that is wrong.
    pub fn parse(text: &str) -> Result<Self, BundleError> {
        let bad = |what: &str| BundleError::Malformed(what.to_string());
        if text.len() > MAX_BUNDLE_SIZE {
            return Err(bad("bundle too large"));
        }
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(TLOG_PROOF_HEADER) {
            return Err(bad("first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next().ok_or_else(|| bad("no index line"))?;
        let mut extra = None;
        if let Some(value) = line.strip_prefix("extra ") {
            extra = Some(B64.decode(value).map_err(|_| bad("extra is not base64"))?);
            line = lines.next().ok_or_else(|| bad("no index line"))?;
        }
        let index = line
            .strip_prefix("index ")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .filter(|n| *n == "0" || !n.starts_with('0'))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| bad("bad index line"))?;
        let mut hashes = Vec::new();
        for line in lines {
            let bytes = B64
                .decode(line)
                .map_err(|_| bad("proof hash is not base64"))?;
            let hash: [u8; 32] = bytes
                .try_into()
                .map_err(|_| bad("proof hash is not 32 bytes"))?;
            hashes.push(hash);
            if hashes.len() > MAX_PROOF_HASHES {
                return Err(bad("too many proof hashes"));
            }
        }
        Ok(Self {
            extra,
            index,
            hashes,
            checkpoint: checkpoint.to_string(),
        })
    }

    /// Verifies the bundle offline: the checkpoint against the trusted keys,
    /// then the inclusion of the entry (`entry`, or else the bundle's extra).
    /// Returns the verified checkpoint and the leaf bytes proven.
    ///
    /// # Errors
    ///
    /// [`BundleError`] naming what failed.
    pub fn verify(
        &self,
        verifier: &CheckpointVerifier,
        entry: Option<&[u8]>,
    ) -> Result<(SignedCheckpoint, Vec<u8>), BundleError> {
        let checkpoint = verifier.verify(self.checkpoint.as_bytes())?;
        let leaf = match (entry, &self.extra) {
            (Some(given), Some(extra)) if given != extra.as_slice() => {
                return Err(BundleError::EntryMismatch)
            }
            (Some(given), _) => given.to_vec(),
            (None, Some(extra)) => extra.clone(),
            (None, None) => return Err(BundleError::NoEntry),
        };
        InclusionProof {
            log_index: self.index,
            tree_size: checkpoint.size,
            root: checkpoint.root,
            hashes: self.hashes.clone(),
        }
        .verify(&leaf_hash(&leaf))?;
        Ok((checkpoint, leaf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let proof = TlogProof {
            extra: Some(b"leaf".to_vec()),
            index: 7,
            hashes: vec![[1; 32], [2; 32]],
            checkpoint: "o\n8\nAAAA\n\n— o abc\n".into(),
        };
        let text = proof.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra bGVhZg==\nindex 7\n"));
        assert_eq!(TlogProof::parse(&text).unwrap(), proof);
        for bad in [
            "",
            "c2sp.org/tlog-proof@v2\nindex 1\n\ncp",
            "c2sp.org/tlog-proof@v1\nindex 01\n\ncp",
            "c2sp.org/tlog-proof@v1\nindex x\n\ncp",
            "c2sp.org/tlog-proof@v1\nindex 1\nnot-base64!\n\ncp",
            "c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\ncp",
            "c2sp.org/tlog-proof@v1\nindex 1",
        ] {
            assert!(TlogProof::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}

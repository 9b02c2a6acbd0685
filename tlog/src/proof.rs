//! RFC 9162 inclusion (§2.1.3) and consistency (§2.1.4) proofs.
//!
//! Proofs are produced by `tlog_tiles` (Go's sumdb/tlog algorithm, which
//! yields exactly the RFC 9162 audit paths) from hashes read out of tiles, and
//! checked by the same crate's verifiers. The special cases the crate leaves
//! to the caller are handled here: a consistency proof from the empty tree
//! (always the empty proof) and an inclusion proof in a tree of one leaf.

use thiserror::Error;
use tlog_tiles::{Hash, HashReader};

/// A proof that a leaf is in a tree, with the tree it was proven against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// Index of the leaf.
    pub log_index: u64,
    /// Size of the tree the proof is for.
    pub tree_size: u64,
    /// Root of that tree.
    pub root: [u8; 32],
    /// The audit path, leaf to root.
    pub hashes: Vec<[u8; 32]>,
}

/// An inclusion proof as the API and the sinks write it in JSON; hashes
/// are lowercase hex.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProofJson {
    log_index: u64,
    tree_size: u64,
    root_hash: String,
    hashes: Vec<String>,
}

impl From<&InclusionProof> for InclusionProofJson {
    fn from(p: &InclusionProof) -> Self {
        Self {
            log_index: p.log_index,
            tree_size: p.tree_size,
            root_hash: hex::encode(p.root),
            hashes: p.hashes.iter().map(hex::encode).collect(),
        }
    }
}

/// A proof that the tree of `first_size` is a prefix of the tree of `last_size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// Size of the older tree.
    pub first_size: u64,
    /// Size of the newer tree.
    pub last_size: u64,
    /// Root of the older tree.
    pub first_root: [u8; 32],
    /// Root of the newer tree.
    pub last_root: [u8; 32],
    /// The proof hashes.
    pub hashes: Vec<[u8; 32]>,
}

/// A proof that does not verify, or was asked for impossible sizes.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProofError {
    /// Index or sizes out of range.
    #[error("{0}")]
    OutOfRange(String),
    /// The proof does not lead to the expected root.
    #[error("proof does not verify")]
    Invalid,
}

/// Leaf hash of RFC 6962: SHA-256(0x00 || leaf).
pub fn leaf_hash(leaf: &[u8]) -> [u8; 32] {
    tlog_tiles::record_hash(leaf).0
}

fn to_hashes(hashes: &[[u8; 32]]) -> Vec<Hash> {
    hashes.iter().map(|h| Hash(*h)).collect()
}

pub(crate) fn from_hashes(hashes: Vec<Hash>) -> Vec<[u8; 32]> {
    hashes.into_iter().map(|h| h.0).collect()
}

/// Root of the tree of `size` leaves, with hashes from `reader`.
///
/// # Errors
///
/// Hashes the reader cannot supply.
pub fn tree_root<R: HashReader>(size: u64, reader: &R) -> Result<[u8; 32], tlog_tiles::Error> {
    Ok(tlog_tiles::tree_hash(size, reader)?.0)
}

/// Builds the audit path of leaf `index` in the tree of `size` leaves,
/// with hashes from `reader`.
///
/// # Errors
///
/// An index outside the tree, or hashes the reader cannot supply.
pub fn prove_inclusion<R: HashReader>(
    index: u64,
    size: u64,
    reader: &R,
) -> Result<Vec<[u8; 32]>, tlog_tiles::Error> {
    Ok(from_hashes(tlog_tiles::prove_record(size, index, reader)?))
}

/// Builds the consistency proof from `first` to `last` leaves with hashes
/// from `reader` (the ledger's store, or tiles fetched from a remote log).
///
/// # Errors
///
/// Sizes out of order, or hashes the reader cannot supply.
pub fn prove_consistency<R: HashReader>(
    first: u64,
    last: u64,
    reader: &R,
) -> Result<Vec<[u8; 32]>, tlog_tiles::Error> {
    if first == 0 {
        return Ok(Vec::new());
    }
    Ok(from_hashes(tlog_tiles::prove_tree(last, first, reader)?))
}

impl InclusionProof {
    /// Checks that `leaf_hash` is leaf `log_index` of the tree with `root`.
    ///
    /// # Errors
    ///
    /// [`ProofError`] if the index is outside the tree or the path is wrong.
    pub fn verify(&self, leaf_hash: &[u8; 32]) -> Result<(), ProofError> {
        if self.log_index >= self.tree_size {
            return Err(ProofError::OutOfRange(format!(
                "log index {} is not below tree size {}",
                self.log_index, self.tree_size
            )));
        }
        tlog_tiles::check_record(
            &to_hashes(&self.hashes),
            self.tree_size,
            Hash(self.root),
            self.log_index,
            Hash(*leaf_hash),
        )
        .map_err(|_| ProofError::Invalid)
    }
}

impl ConsistencyProof {
    /// Checks that the tree of `first_size` with `first_root` is a prefix of
    /// the tree of `last_size` with `last_root`.
    ///
    /// # Errors
    ///
    /// [`ProofError`] if the sizes are out of order or the proof is wrong.
    pub fn verify(&self) -> Result<(), ProofError> {
        if self.first_size > self.last_size {
            return Err(ProofError::OutOfRange(format!(
                "first size {} is larger than last size {}",
                self.first_size, self.last_size
            )));
        }
        if self.first_size == 0 {
            // Every tree extends the empty tree; RFC 9162 §2.1.4.2 gives no proof.
            let empty = tlog_tiles::EMPTY_HASH.0;
            return if self.hashes.is_empty() && self.first_root == empty {
                Ok(())
            } else {
                Err(ProofError::Invalid)
            };
        }
        tlog_tiles::check_tree(
            &to_hashes(&self.hashes),
            self.last_size,
            Hash(self.last_root),
            self.first_size,
            Hash(self.first_root),
        )
        .map_err(|_| ProofError::Invalid)
    }
}

//! [`PackError`]: what building or verifying a pack can fail on.

use std::fmt;

use evledger_tlog::CheckpointError;
use thiserror::Error;

/// The check of [`crate::verify_pack`] (or of the builder, for an entry)
/// that failed. Listed in the order the verifier runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Reading the zip container (its canonical form, names, CRC-32s).
    Zip,
    /// A file, a count or a total is over its limit.
    Limit,
    /// The log's signature over `manifest.json`.
    Signature,
    /// Reading `manifest.json` (JSON, format, fields, ordering).
    Manifest,
    /// The files present against those the manifest lists.
    Contents,
    /// A file's SHA-256 against the manifest's.
    Digest,
    /// The checkpoint: its signature, and the manifest's origin, tree size
    /// and root against it.
    Checkpoint,
    /// An entry's leaf hash against the manifest's.
    LeafHash,
    /// A tlog-proof file that does not parse.
    ProofSyntax,
    /// A tlog-proof for another index than its entry's.
    ProofIndex,
    /// A tlog-proof whose `extra` is not its entry's leaf.
    ProofEntry,
    /// A tlog-proof against another checkpoint than the pack's.
    ProofCheckpoint,
    /// A tlog-proof whose inclusion proof does not verify.
    Inclusion,
    /// A blob's digest or size against the manifest's.
    Blob,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Zip => "zip container",
            Step::Limit => "size limit",
            Step::Signature => "manifest signature",
            Step::Manifest => "manifest",
            Step::Contents => "pack contents",
            Step::Digest => "SHA-256",
            Step::Checkpoint => "checkpoint",
            Step::LeafHash => "leaf hash",
            Step::ProofSyntax => "tlog-proof syntax",
            Step::ProofIndex => "tlog-proof index",
            Step::ProofEntry => "tlog-proof entry",
            Step::ProofCheckpoint => "tlog-proof checkpoint",
            Step::Inclusion => "inclusion proof",
            Step::Blob => "blob",
        })
    }
}

/// Building or verifying a pack failed.
#[derive(Debug, Error)]
pub enum PackError {
    /// Verification failed: `file` is the file of the pack at fault (or
    /// `(zip)` for the container), `step` the check that failed.
    #[error("{file}: {step}: {detail}")]
    Invalid {
        /// The file at fault.
        file: String,
        /// The check that failed.
        step: Step,
        /// What was wrong.
        detail: String,
    },
    /// The builder's checkpoint or key is unusable: the key is malformed,
    /// or the checkpoint is not signed by it.
    #[error("the pack's checkpoint: {0}")]
    Checkpoint(#[source] CheckpointError),
    /// `createdAt` is not an RFC 3339 UTC time.
    #[error("createdAt {0:?} is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SSZ)")]
    CreatedAt(String),
    /// An entry was added twice.
    #[error("entry {0} is in the pack already")]
    DuplicateEntry(u64),
    /// A blob's digest is not 64 lowercase hex digits (with or without
    /// `sha256:`), or is not the SHA-256 of its bytes.
    #[error("blob {digest:?}: {detail}")]
    BadBlob {
        /// The digest given.
        digest: String,
        /// What is wrong.
        detail: &'static str,
    },
    /// More entries than [`crate::MAX_PACK_ENTRIES`].
    #[error("a pack holds at most {limit} entries")]
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// More blobs than [`crate::MAX_PACK_BLOBS`].
    #[error("a pack holds at most {limit} blobs")]
    TooManyBlobs {
        /// The limit.
        limit: usize,
    },
    /// The blobs would exceed the pack's blob-byte limit
    /// ([`crate::MAX_PACK_BLOB_BYTES`], or the lower one the builder was given).
    #[error("the blobs would take {needed} bytes; this pack takes at most {limit}")]
    BlobBytes {
        /// Blob bytes with the refused blob.
        needed: u64,
        /// The limit.
        limit: u64,
    },
    /// The pack, or one file of it, would exceed its limit.
    #[error("{what} would be {size} bytes, more than the {limit} a pack allows")]
    TooLarge {
        /// What is too large: a path, or "the pack".
        what: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The signing callback failed.
    #[error("signing the manifest: {0}")]
    Signing(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The signing callback signed with another key than the pack's
    /// verifier key (or not over [`crate::SIGNATURE_CONTEXT`] and the
    /// manifest bytes).
    #[error("the manifest signature does not verify with the pack's verifier key")]
    WrongSigner,
}

impl PackError {
    /// A verification failure of `file` at `step`.
    pub(crate) fn invalid(file: &str, step: Step, detail: impl Into<String>) -> Self {
        PackError::Invalid {
            file: file.to_string(),
            step,
            detail: detail.into(),
        }
    }

    /// The failed step, if this is a verification failure.
    pub fn step(&self) -> Option<Step> {
        match self {
            PackError::Invalid { step, .. } => Some(*step),
            _ => None,
        }
    }
}

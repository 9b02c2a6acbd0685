//! The bounds of a pack. The verifier enforces them on every pack it reads
//! (packs come from anyone); the builder enforces the same ones, so what a
//! log builds is always a pack the verifier accepts.

use evledger_tlog::checkpoint::MAX_CHECKPOINT_SIZE;
use evledger_tlog::tlog_proof::MAX_BUNDLE_SIZE;

use crate::container::MAX_ZIP_SIZE;

/// Most log entries in one pack (contract revisions included).
pub const MAX_PACK_ENTRIES: usize = 10_000;
/// Most CAS blobs in one pack.
pub const MAX_PACK_BLOBS: usize = 10_000;
/// Most bytes of CAS blobs in one pack, all blobs together (one blob of the
/// CAS's largest size fits).
pub const MAX_PACK_BLOB_BYTES: u64 = 64 * 1024 * 1024;
/// Largest pack, the whole zip.
pub const MAX_PACK_SIZE: usize = MAX_ZIP_SIZE;
/// Most files in one pack: the manifest, its signature, the checkpoint, the
/// README and the summary, two files per entry and one per blob.
pub const MAX_PACK_FILES: usize = 5 + 2 * MAX_PACK_ENTRIES + MAX_PACK_BLOBS;

/// Largest `manifest.json`.
pub const MAX_MANIFEST_SIZE: usize = 32 * 1024 * 1024;
/// Largest `manifest.sig` (base64 of an Ed25519 signature is 88 bytes).
pub const MAX_SIGNATURE_FILE_SIZE: usize = 1024;
/// Largest `checkpoint`: the largest signed note accepted anywhere.
pub const MAX_CHECKPOINT_FILE_SIZE: usize = MAX_CHECKPOINT_SIZE;
/// Largest `README.md`.
pub const MAX_README_SIZE: usize = 64 * 1024;
/// Largest `summary.html`.
pub const MAX_SUMMARY_SIZE: usize = 64 * 1024 * 1024;
/// Largest `entries/<index>.tlog-proof`: the largest tlog-proof accepted.
pub const MAX_PROOF_FILE_SIZE: usize = MAX_BUNDLE_SIZE;
/// Largest `entries/<index>.leaf`: its tlog-proof carries it in base64, so
/// a larger leaf could never have a proof within [`MAX_PROOF_FILE_SIZE`].
pub const MAX_LEAF_SIZE: usize = MAX_BUNDLE_SIZE / 4 * 3;

// Every file count fits the zip format without ZIP64.
const _: () = assert!(MAX_PACK_FILES <= crate::container::MAX_MEMBERS);
// The blobs alone fit in a pack, with room for the rest.
const _: () = assert!(MAX_PACK_BLOB_BYTES as usize <= MAX_PACK_SIZE / 2);

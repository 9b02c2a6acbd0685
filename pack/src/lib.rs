//! Evidence packs: a self-contained zip an auditor files, holding log
//! entries with their C2SP tlog-proofs (<https://c2sp.org/tlog-proof>)
//! against one signed checkpoint, the contract revisions in force, the CAS
//! blobs the entries name, and a manifest signed by the log's key; and the
//! offline verification of such a zip with nothing but that key.
//!
//! ```text
//! manifest.json                 what the pack holds, SHA-256 of every other file
//! manifest.sig                  base64 of the log key's signature over manifest.json
//! checkpoint                    the signed checkpoint every proof is against
//! README.md                     how to verify offline; what it proves and does not
//! summary.html                  printable summary
//! entries/5.leaf                leaf bytes of entry 5
//! entries/5.tlog-proof          its tlog-proof: extra = the leaf, checkpoint = `checkpoint`
//! blobs/sha256/<hex>            a CAS blob
//! ```
//!
//! Files are stored in this order (entries by index, blobs by digest), with
//! fixed timestamps, so the same inputs give the same bytes.
//!
//! Modules, each one concern, depending only downward: [`container`] (the
//! canonical zip form) and [`limits`] at the bottom, [`manifest`] (the
//! format), [`summary`] and `readme` (the human-readable files), then
//! [`verify`] and, using the verifier's own entry check, [`builder`].
//!
//! A server builds a pack with [`PackBuilder`]; an auditor checks it with
//! [`verify_pack`] (`evledger verify pack`).

#![warn(missing_docs)]

pub mod builder;
pub mod container;
mod error;
pub mod limits;
pub mod manifest;
mod readme;
pub mod summary;
pub mod verify;

pub use builder::{EntryInfo, PackBuilder};
pub use error::{PackError, Step};
pub use limits::{
    MAX_PACK_BLOBS, MAX_PACK_BLOB_BYTES, MAX_PACK_ENTRIES, MAX_PACK_FILES, MAX_PACK_SIZE,
};
pub use manifest::{Manifest, ManifestBlob, ManifestEntry, Role, Scope, FORMAT, SIGNATURE_CONTEXT};
pub use summary::{summary_html, summary_html_with_checkpoint};
pub use verify::{verify_pack, verify_pack_with, PackReport};

#[cfg(test)]
mod tests;

//! The C2SP transparency-log formats evledger reads and writes, with no
//! storage and no I/O beyond loading a key file:
//!
//! - [`proof`]: RFC 6962 leaf hashes, inclusion and consistency proofs;
//! - [`checkpoint`]: C2SP tlog-checkpoint bodies in C2SP signed notes,
//!   signed by the log;
//! - [`cosignature`]: C2SP tlog-cosignature, a witness's signature on a
//!   checkpoint;
//! - [`verifier`]: the check every reader makes of a checkpoint, the log's
//!   signature and a quorum of witness cosignatures;
//! - [`tiles`]: C2SP tlog-tiles paths and entry bundles;
//! - [`tlog_proof`]: C2SP tlog-proof, an entry's offline-verifiable proof;
//! - [`witness_request`]: the body of a C2SP tlog-witness `add-checkpoint`.
//!
//! Every parser here takes untrusted bytes; each is fuzzed (`fuzz/`).
//!
//! Modules depend only downward: `note_keys` (signer keys and key files)
//! at the bottom, then `checkpoint`, then `cosignature`, then `verifier`;
//! `proof` and `tiles` stand alone.

pub mod checkpoint;
pub mod cosignature;
mod note_keys;
pub mod proof;
pub mod tiles;
pub mod tlog_proof;
pub mod verifier;
pub mod witness_request;

pub use checkpoint::{CheckpointError, LogSigner, SignedCheckpoint};
pub use cosignature::{CosignatureVerifier, Cosigner};
pub use proof::{leaf_hash, ConsistencyProof, InclusionProof, ProofError};
pub use tiles::{TileCoord, TileKind};
pub use verifier::CheckpointVerifier;

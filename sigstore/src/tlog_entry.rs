//! `dev.sigstore.rekor.v1.TransparencyLogEntry`: what Rekor v2 answers to
//! a write, and what a bundle carries for each log entry.
//!
//! Written as rekor-tiles writes it (every member present, `integratedTime`
//! `"0"` and `inclusionPromise` null: a tile log's proof is its inclusion
//! proof). Read leniently, as protojson reads: a missing integer is zero
//! (sigstore-js drops zero values), an integer may be a number or a string.

use serde::{Deserialize, Serialize};

use crate::LogKey;

/// Protobuf JSON `int64`: written as a string, read as a string or a number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Int64(pub u64);

impl Serialize for Int64 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Int64 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(u64),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => Ok(Self(n)),
            Either::Text(t) => t
                .parse()
                .map(Self)
                .map_err(|_| serde::de::Error::custom("not a non-negative integer")),
        }
    }
}

/// Protobuf JSON `bytes`, as Rekor v2 requests carry them.
pub use evledger_entry::rekor::Bytes as B64;

/// `dev.sigstore.common.v1.LogId`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogId {
    /// The log's key hash ([`LogKey::key_id`]).
    #[serde(default)]
    pub key_id: B64,
}

/// `KindVersion`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindVersion {
    /// `hashedrekord` or `dsse`.
    #[serde(default)]
    pub kind: String,
    /// `0.0.2`.
    #[serde(default)]
    pub version: String,
}

/// `Checkpoint`: the signed note.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The C2SP signed note, whole.
    #[serde(default)]
    pub envelope: String,
}

/// `InclusionProof`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    /// The entry's index.
    #[serde(default)]
    pub log_index: Int64,
    /// The root of the tree the proof is in.
    #[serde(default)]
    pub root_hash: B64,
    /// That tree's size.
    #[serde(default)]
    pub tree_size: Int64,
    /// The audit path, leaf to root.
    #[serde(default)]
    pub hashes: Vec<B64>,
    /// The checkpoint signed for that tree.
    #[serde(default)]
    pub checkpoint: Checkpoint,
}

/// `TransparencyLogEntry`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransparencyLogEntry {
    /// The entry's index.
    #[serde(default)]
    pub log_index: Int64,
    /// The log.
    #[serde(default)]
    pub log_id: LogId,
    /// The body's kind and version.
    #[serde(default)]
    pub kind_version: KindVersion,
    /// Always `0`: a tile log signs no entry timestamps.
    #[serde(default)]
    pub integrated_time: Int64,
    /// Always null (Rekor v1's signed entry timestamp).
    #[serde(default)]
    pub inclusion_promise: Option<serde_json::Value>,
    /// The proof of the entry in a signed tree.
    #[serde(default)]
    pub inclusion_proof: InclusionProof,
    /// The leaf: Rekor's canonicalized body.
    #[serde(default)]
    pub canonicalized_body: B64,
}

impl TransparencyLogEntry {
    /// The entry at `log_index` whose leaf is `leaf` (of `kind`), proven by
    /// `hashes` in the tree of `checkpoint` (a signed note of `tree_size`
    /// leaves with root `root`).
    pub fn new(
        key: &LogKey,
        kind: &str,
        leaf: &[u8],
        log_index: u64,
        proof: &evledger_tlog::proof::InclusionProof,
        checkpoint: &str,
    ) -> Self {
        Self {
            log_index: Int64(log_index),
            log_id: LogId {
                key_id: B64(key.key_id().to_vec()),
            },
            kind_version: KindVersion {
                kind: kind.to_string(),
                version: evledger_entry::rekor::API_VERSION.to_string(),
            },
            integrated_time: Int64(0),
            inclusion_promise: None,
            inclusion_proof: InclusionProof {
                log_index: Int64(log_index),
                root_hash: B64(proof.root.to_vec()),
                tree_size: Int64(proof.tree_size),
                hashes: proof.hashes.iter().map(|h| B64(h.to_vec())).collect(),
                checkpoint: Checkpoint {
                    envelope: checkpoint.to_string(),
                },
            },
            canonicalized_body: B64(leaf.to_vec()),
        }
    }
}

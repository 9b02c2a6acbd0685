//! What the gRPC alert sink (`evledger.alert.v1.AlertSink`, defined in
//! `proto/evledger/alert/v1/alert.proto`) carries, and the receiver's check
//! of it, with no connections.
//!
//! An `AlertRequest` holds an encoded CloudEvents 1.0 `Event` and the log's
//! signature over exactly those bytes; the event carries the entry, its
//! inclusion proof and the checkpoint the proof is against:
//!
//! ```text
//! AlertRequest { event: <Event bytes>, signature: <Ed25519>,
//!                signature_context: "evledger.alert.v1.Event", key_name: "<origin>" }
//! Event { spec_version: "1.0", type: "dev.evledger.entry.v1", id: <leaf hash hex>,
//!         source: <origin>, subject: <workflow>, data: EntryData { log_index, leaf_hash,
//!         entry, kind, inclusion_proof, checkpoint } }
//! ```
//!
//! [`verify_request`] trusts nothing it was sent: the signature, then the
//! checkpoint, the leaf hash and the proof, before anything is handed on.

use evledger_tlog::checkpoint::verify_payload;
use evledger_tlog::{leaf_hash, CheckpointVerifier, InclusionProof};
use prost::Message;
use serde::Serialize;
use thiserror::Error;

/// The generated protobuf messages of `evledger.alert.v1`.
#[allow(missing_docs, clippy::doc_markdown, clippy::pedantic)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/evledger.alert.v1.rs"));
}

/// Context string of the signature over an encoded [`proto::Event`].
pub const SIGNATURE_CONTEXT: &str = "evledger.alert.v1.Event";

/// What a receiver learned from one verified event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedEvent {
    /// Event id: the leaf hash, hex.
    pub id: String,
    /// Log origin.
    pub source: String,
    /// Workflow, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// Entry kind.
    pub kind: String,
    /// Log index of the entry.
    pub log_index: u64,
    /// Size of the checkpoint the proof verified against.
    pub tree_size: u64,
    /// The entry (its canonical JSON; `null` if the leaf is not JSON).
    pub entry: serde_json::Value,
}

/// Why a request was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum RefusedRequest {
    /// The log's signature over the event does not verify (gRPC
    /// `PERMISSION_DENIED`).
    #[error("{0}")]
    Signature(String),
    /// The request is signed but malformed, or what it claims does not
    /// verify (gRPC `INVALID_ARGUMENT`).
    #[error("{0}")]
    Malformed(String),
}

/// Verifies a request against the log's note verifier key (`verifier_key`,
/// and `verifier` built from it): the signature over the event bytes, then
/// the event, its checkpoint, the leaf hash of its entry and the inclusion
/// proof.
///
/// # Errors
///
/// [`RefusedRequest`] saying what failed.
pub fn verify_request(
    verifier_key: &str,
    verifier: &CheckpointVerifier,
    request: &proto::AlertRequest,
) -> Result<ReceivedEvent, RefusedRequest> {
    let malformed = RefusedRequest::Malformed;
    verify_payload(
        verifier_key,
        &request.signature_context,
        &request.event,
        &request.signature,
    )
    .map_err(|e| RefusedRequest::Signature(e.to_string()))?;
    if request.signature_context != SIGNATURE_CONTEXT {
        return Err(malformed("unknown signature context".into()));
    }
    let event = proto::Event::decode(request.event.as_slice())
        .map_err(|e| malformed(format!("event: {e}")))?;
    let data = event
        .data
        .ok_or_else(|| malformed("event without data".into()))?;
    let proof = data
        .inclusion_proof
        .ok_or_else(|| malformed("event without inclusion proof".into()))?;
    let checkpoint = verifier
        .verify(data.checkpoint.as_bytes())
        .map_err(|e| malformed(format!("checkpoint: {e}")))?;
    let hash = leaf_hash(&data.entry);
    if hex::encode(hash) != event.id || data.leaf_hash != hash {
        return Err(malformed("the leaf hash does not match the entry".into()));
    }
    let hashes = proof
        .hashes
        .iter()
        .map(|h| <[u8; 32]>::try_from(h.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| malformed("proof hash is not 32 bytes".into()))?;
    let inclusion = InclusionProof {
        log_index: data.log_index,
        tree_size: checkpoint.size,
        root: checkpoint.root,
        hashes,
    };
    inclusion
        .verify(&hash)
        .map_err(|e| malformed(format!("inclusion proof: {e}")))?;
    Ok(ReceivedEvent {
        id: event.id,
        source: event.source,
        subject: event.subject,
        kind: data.kind,
        log_index: data.log_index,
        tree_size: checkpoint.size,
        entry: serde_json::from_slice(&data.entry).unwrap_or(serde_json::Value::Null),
    })
}

//! Entries: what a leaf holds, and how a submission becomes one.
//!
//! A leaf is the canonical JSON (RFC 8785: sorted keys, no insignificant
//! white space) of `{"kind": ..., "spec": ...}`. The bytes served for an
//! entry are exactly the leaf bytes, so anyone can hash what they download.
//!
//! ```json
//! {"kind":"dsse","spec":{"envelope":{...},"verifiers":[...]}}
//! {"kind":"contract","spec":{"contract":{...},"project":"p","revision":2,"workflow":"w"}}
//! ```
//!
//! `dsse` entries come from clients; `contract` entries (a workflow's
//! contract revision) only from the ledger's own evidence service. Rekor
//! v2 entries (`hashedrekord` and `dsse` with `"apiVersion":"0.0.2"`, see
//! [`rekor`]) come from Sigstore clients and keep Rekor's own body, so
//! Sigstore verifiers recompute their leaves.

pub mod dsse;
pub mod intoto;
pub mod keys;
pub mod rekor;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use dsse::DsseEntry;
use evledger_tlog::tiles::MAX_ENTRY_SIZE;
use rekor::RekorEntry;

/// The kind of a DSSE envelope entry.
pub const KIND_DSSE: &str = "dsse";

/// The kind of a contract revision entry.
pub const KIND_CONTRACT: &str = "contract";

/// Why a submission cannot become an entry. Each is the client's fault.
#[derive(Debug, Error)]
pub enum EntryError {
    /// The body is not the expected JSON.
    #[error("malformed entry: {0}")]
    Json(String),
    /// The `kind` is not one this log accepts from clients.
    #[error("unknown entry kind {0:?} (supported: dsse)")]
    UnknownKind(String),
    /// A field is not base64.
    #[error("{0} is not valid base64")]
    Base64(String),
    /// A verifier is not a PEM Ed25519 or ECDSA P-256 public key.
    #[error("spec.verifiers[{0}] is not a PEM Ed25519 or ECDSA P-256 public key")]
    BadKey(usize),
    /// A signature verifies with none of the verifiers.
    #[error("signature {0} does not verify with any of the verifiers")]
    SignatureInvalid(usize),
    /// A verifier signed nothing.
    #[error("spec.verifiers[{0}] verifies none of the signatures")]
    UnusedVerifier(usize),
    /// A second signature by a key that already signed the envelope.
    #[error("signature {signature} repeats a signature by spec.verifiers[{verifier}]")]
    RepeatedSignature {
        /// The repeated signature's position.
        signature: usize,
        /// The verifier that already signed.
        verifier: usize,
    },
    /// The in-toto payload is not a valid Statement v1.
    #[error("{0}")]
    Statement(String),
    /// A Rekor v2 verifier is not a key of a supported algorithm.
    #[error("bad verifier: {0}")]
    Verifier(String),
    /// A Rekor v2 signature does not verify.
    #[error("{0}")]
    Signature(String),
    /// Any other rule broken.
    #[error("{0}")]
    Invalid(String),
    /// The canonical entry exceeds what an entry bundle can carry.
    #[error("entry is {0} bytes; the limit is {MAX_ENTRY_SIZE}")]
    TooLarge(usize),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Proposed {
    kind: String,
    spec: serde_json::Value,
}

impl Proposed {
    fn parse(body: &[u8]) -> Result<Self, EntryError> {
        serde_json::from_slice(body).map_err(|e| EntryError::Json(e.to_string()))
    }

    fn spec<T: serde::de::DeserializeOwned>(self) -> Result<T, EntryError> {
        serde_json::from_value(self.spec).map_err(|e| EntryError::Json(format!("spec: {e}")))
    }
}

#[derive(Serialize)]
struct Logged<'a, S> {
    kind: &'a str,
    spec: &'a S,
}

/// A checked entry and its leaf bytes.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The entry kind.
    pub kind: String,
    /// The canonical leaf bytes to append.
    pub leaf: Vec<u8>,
    /// The kind-specific content.
    pub body: EntryBody,
}

/// The content of an entry, by kind.
#[derive(Debug, Clone)]
pub enum EntryBody {
    /// A DSSE envelope.
    Dsse(Box<DsseEntry>),
    /// A revision of a workflow's contract.
    Contract(ContractEntry),
    /// A Rekor v2 entry (hashedrekord or DSSE).
    Rekor(Box<RekorEntry>),
}

/// A contract revision as logged: which workflow, which revision, and the
/// contract itself (opaque to the log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractEntry {
    /// Workflow the contract governs.
    pub workflow: String,
    /// Project of the workflow.
    pub project: String,
    /// Revision number, from 1.
    pub revision: u64,
    /// The contract document as JSON.
    pub contract: serde_json::Value,
}

/// Canonical JSON (RFC 8785) of a value.
///
/// # Errors
///
/// Serialization errors (non-finite numbers cannot occur in parsed JSON).
pub fn canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, EntryError> {
    serde_json_canonicalizer::to_vec(value).map_err(|e| EntryError::Json(e.to_string()))
}

impl Entry {
    /// Checks a submission (`{"kind": ..., "spec": ...}`) and builds its leaf.
    ///
    /// # Errors
    ///
    /// [`EntryError`] saying what is wrong; nothing is appended.
    pub fn from_submission(body: &[u8]) -> Result<Self, EntryError> {
        let proposed = Proposed::parse(body)?;
        match proposed.kind.as_str() {
            KIND_DSSE => {
                let dsse = DsseEntry::verify(proposed.spec()?)?;
                let leaf = canonical_json(&Logged {
                    kind: KIND_DSSE,
                    spec: &dsse.spec,
                })?;
                if leaf.len() > MAX_ENTRY_SIZE {
                    return Err(EntryError::TooLarge(leaf.len()));
                }
                Ok(Self {
                    kind: KIND_DSSE.to_string(),
                    leaf,
                    body: EntryBody::Dsse(Box::new(dsse)),
                })
            }
            other => Err(EntryError::UnknownKind(other.to_string())),
        }
    }

    /// Checks a Rekor v2 `CreateEntryRequest` and builds its leaf, Rekor's
    /// canonicalized body.
    ///
    /// # Errors
    ///
    /// [`EntryError`] saying what is wrong; nothing is appended.
    pub fn from_rekor_request(body: &[u8]) -> Result<Self, EntryError> {
        Self::rekor(RekorEntry::from_request(body)?)
    }

    fn rekor(entry: RekorEntry) -> Result<Self, EntryError> {
        let leaf = entry.canonical_body()?;
        if leaf.len() > MAX_ENTRY_SIZE {
            return Err(EntryError::TooLarge(leaf.len()));
        }
        Ok(Self {
            kind: entry.logged.kind.clone(),
            leaf,
            body: EntryBody::Rekor(Box::new(entry)),
        })
    }

    /// A contract revision entry (written by the ledger, never submitted).
    ///
    /// # Errors
    ///
    /// [`EntryError::TooLarge`] if it cannot be logged.
    pub fn contract(spec: ContractEntry) -> Result<Self, EntryError> {
        let leaf = canonical_json(&Logged {
            kind: KIND_CONTRACT,
            spec: &spec,
        })?;
        if leaf.len() > MAX_ENTRY_SIZE {
            return Err(EntryError::TooLarge(leaf.len()));
        }
        Ok(Self {
            kind: KIND_CONTRACT.to_string(),
            leaf,
            body: EntryBody::Contract(spec),
        })
    }

    /// Reads a logged leaf for indexing: decoded, keys and statement parsed,
    /// signatures not checked again (the log checked them at append).
    ///
    /// # Errors
    ///
    /// [`EntryError`] if the leaf is not an entry of a known kind.
    pub fn parse_logged(leaf: &[u8]) -> Result<Self, EntryError> {
        if is_rekor(leaf) {
            let entry = RekorEntry::logged(leaf)?;
            return Ok(Self {
                kind: entry.logged.kind.clone(),
                leaf: leaf.to_vec(),
                body: EntryBody::Rekor(Box::new(entry)),
            });
        }
        let proposed = Proposed::parse(leaf)?;
        match proposed.kind.as_str() {
            KIND_DSSE => {
                let dsse = DsseEntry::logged(proposed.spec()?)?;
                Ok(Self {
                    kind: KIND_DSSE.to_string(),
                    leaf: leaf.to_vec(),
                    body: EntryBody::Dsse(Box::new(dsse)),
                })
            }
            KIND_CONTRACT => Ok(Self {
                kind: KIND_CONTRACT.to_string(),
                leaf: leaf.to_vec(),
                body: EntryBody::Contract(proposed.spec()?),
            }),
            other => Err(EntryError::UnknownKind(other.to_string())),
        }
    }

    /// Re-reads a logged leaf, re-checking it as a submission would be.
    ///
    /// # Errors
    ///
    /// [`EntryError`] if the leaf is not a valid entry or not canonical.
    pub fn from_leaf(leaf: &[u8]) -> Result<Self, EntryError> {
        let entry = if is_rekor(leaf) {
            let entry = RekorEntry::logged(leaf)?;
            entry.check_logged()?;
            Self::rekor(entry)?
        } else {
            match Proposed::parse(leaf)?.kind.as_str() {
                KIND_CONTRACT => match Self::parse_logged(leaf)?.body {
                    EntryBody::Contract(spec) => Self::contract(spec)?,
                    _ => return Err(EntryError::Invalid("not a contract".into())),
                },
                _ => Self::from_submission(leaf)?,
            }
        };
        if entry.leaf != leaf {
            return Err(EntryError::Invalid("leaf is not in canonical form".into()));
        }
        Ok(entry)
    }
}

/// Whether a leaf is a Rekor v2 body: canonical JSON sorts its members,
/// so such a body starts with its `apiVersion`, which evledger's own
/// entries (`{"kind":..,"spec":..}`) never have. A byte test, not a parse:
/// the index reads every leaf through here.
fn is_rekor(leaf: &[u8]) -> bool {
    leaf.starts_with(br#"{"apiVersion":"#)
}

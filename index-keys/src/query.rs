//! Search queries: a query names index keys and combines them with AND or
//! OR; results come back in log order, a page at a time, with an opaque
//! cursor. This module turns a request body into a [`Plan`] (or says which
//! field is wrong); running a plan against a store is the indexer's.
//!
//! ```json
//! {"hash": "sha256:e3b0c442...", "predicateType": "https://slsa.dev/provenance/v1",
//!  "operator": "and", "pageSize": 100, "cursor": "djE6MTIz"}
//! ```
//!
//! A cursor is `base64url("v1:<log index>")`, one spelling per position:
//! the next page holds matches after that log index. Every plan carries a
//! [`Budget`], so no request does unbounded work, whoever asks.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use evledger_entry::keys::PublicKey;
use serde::Deserialize;
use thiserror::Error;

use crate::keys::{
    annotation_key, hash_key, key_key, kind_key, predicate_type_key, project_key, workflow_key,
    MAX_KEY_LEN,
};

/// Results per page when the query does not say.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Most results per page.
pub const MAX_PAGE_SIZE: usize = 1000;
/// Most results per page with `proofs`: a larger `pageSize` is shortened to
/// this (the page then ends with a cursor), so every hit carries its proof
/// and a request builds at most this many proofs.
pub const MAX_PROOF_HITS: usize = 100;
/// Most index keys in one query (one per criterion field).
pub const MAX_QUERY_KEYS: usize = 8;
/// Longest cursor accepted; the server's are at most 31 characters.
pub const MAX_CURSOR_LEN: usize = 64;
/// Most members of the driving key an AND examines per request.
pub const MAX_SCAN_MEMBERS: usize = 4096;
/// Members of the driving key read, then checked against the other keys,
/// per store round trip.
pub const SCAN_CHUNK: usize = 1024;
/// Longest an AND walks the index per request; it then answers with what
/// it found and a cursor (a partial page), never an error.
pub const SEARCH_DEADLINE: Duration = Duration::from_secs(1);

// A full page of a single-key query fits in one request's scan budget.
const _: () = assert!(MAX_PAGE_SIZE <= MAX_SCAN_MEMBERS && SCAN_CHUNK <= MAX_SCAN_MEMBERS);

/// A search request body (`POST /api/v1/index/retrieve`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchQuery {
    /// A digest, `<alg>:<hex>`: subject, payload or envelope digest.
    pub hash: Option<String>,
    /// A signer's PEM public key.
    pub public_key: Option<String>,
    /// A signer key fingerprint (SHA-256 of the SPKI, hex).
    pub key_fingerprint: Option<String>,
    /// An in-toto predicate type.
    pub predicate_type: Option<String>,
    /// An entry kind.
    pub kind: Option<String>,
    /// A workflow (evledger attestations and contract revisions).
    pub workflow: Option<String>,
    /// A project.
    pub project: Option<String>,
    /// An annotation, `name=value`.
    pub annotation: Option<String>,
    /// `and` (default) or `or`.
    pub operator: Option<String>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Results per page, 1 to [`MAX_PAGE_SIZE`] (at most [`MAX_PROOF_HITS`]
    /// with `proofs`).
    pub page_size: Option<usize>,
    /// Wait until the index covers this log index (read-your-writes).
    pub min_log_index: Option<u64>,
    /// Add an inclusion proof to every hit (pages of at most [`MAX_PROOF_HITS`]).
    #[serde(default)]
    pub proofs: bool,
}

/// A query that cannot run as written; the message names the field.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct BadQuery(pub String);

/// How the keys of a query combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// Entries carrying every key.
    And,
    /// Entries carrying any key.
    Or,
}

/// How much work one request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Most members of the driving key examined (at least 1 is).
    pub max_examined: usize,
    /// Members read and checked per round trip (at least 1).
    pub chunk: usize,
    /// Time after which the walk stops at the end of the current chunk
    /// (the first chunk is always examined, so every request progresses).
    pub time: Duration,
}

impl Default for Budget {
    /// [`MAX_SCAN_MEMBERS`], [`SCAN_CHUNK`], [`SEARCH_DEADLINE`].
    fn default() -> Self {
        Self {
            max_examined: MAX_SCAN_MEMBERS,
            chunk: SCAN_CHUNK,
            time: SEARCH_DEADLINE,
        }
    }
}

/// A validated query: keys, operator, page position and size, budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Index keys, 1 to [`MAX_QUERY_KEYS`], sorted, distinct.
    pub keys: Vec<String>,
    /// How they combine.
    pub operator: Operator,
    /// Return log indexes after this one.
    pub after: Option<u64>,
    /// Page size (already shortened to [`MAX_PROOF_HITS`] with proofs).
    pub limit: usize,
    /// Work allowed per request.
    pub budget: Budget,
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Encodes a page position as an opaque cursor.
pub fn encode_cursor(last: u64) -> String {
    B64URL.encode(format!("v1:{last}"))
}

/// Parses [`encode_cursor`]; anything else (too long, not base64url, a
/// number with a sign or leading zeros) is refused.
///
/// # Errors
///
/// [`BadQuery`] for a cursor this server would not have issued.
pub fn decode_cursor(cursor: &str) -> Result<u64, BadQuery> {
    let bad = || BadQuery("cursor is not one this server issued".into());
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(bad());
    }
    let text = B64URL.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let last = text
        .strip_prefix("v1:")
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)?;
    // One spelling per position: what this server would have issued.
    if encode_cursor(last) != cursor {
        return Err(bad());
    }
    Ok(last)
}

/// Adds the key of query field `field`, refusing one no entry is ever
/// indexed under (longer than [`MAX_KEY_LEN`], or holding a NUL: see
/// [`crate::keys::index_keys`]).
fn push_key(keys: &mut Vec<String>, field: &str, key: String) -> Result<(), BadQuery> {
    if key.len() > MAX_KEY_LEN || key.contains('\0') {
        return Err(BadQuery(format!(
            "{field} is too long or holds a NUL: index keys are at most {MAX_KEY_LEN} bytes"
        )));
    }
    keys.push(key);
    Ok(())
}

/// `value`, refused if empty (no entry is indexed under an empty value).
fn non_empty<'a>(field: &str, value: &'a str) -> Result<&'a str, BadQuery> {
    if value.is_empty() {
        return Err(BadQuery(format!("{field} is empty")));
    }
    Ok(value)
}

impl SearchQuery {
    /// Checks the query and turns it into index keys.
    ///
    /// # Errors
    ///
    /// [`BadQuery`] naming the field at fault.
    pub fn plan(&self) -> Result<Plan, BadQuery> {
        let bad = |m: &str| BadQuery(m.to_string());
        let mut keys = Vec::new();
        if let Some(hash) = &self.hash {
            let (alg, digest) = hash
                .split_once(':')
                .filter(|(alg, d)| !alg.is_empty() && is_hex(d))
                .ok_or_else(|| bad("hash must be <alg>:<hex>, e.g. sha256:e3b0..."))?;
            push_key(&mut keys, "hash", hash_key(alg, digest))?;
        }
        if let Some(pem) = &self.public_key {
            let key = PublicKey::from_pem(pem)
                .ok_or_else(|| bad("publicKey is not a PEM Ed25519 or ECDSA P-256 public key"))?;
            push_key(&mut keys, "publicKey", key_key(&key.fingerprint()))?;
        }
        if let Some(fp) = &self.key_fingerprint {
            if fp.len() != 64 || !is_hex(fp) {
                return Err(bad("keyFingerprint must be 64 hex characters"));
            }
            push_key(&mut keys, "keyFingerprint", key_key(fp))?;
        }
        if let Some(pt) = &self.predicate_type {
            let pt = non_empty("predicateType", pt)?;
            push_key(&mut keys, "predicateType", predicate_type_key(pt))?;
        }
        if let Some(kind) = &self.kind {
            push_key(&mut keys, "kind", kind_key(non_empty("kind", kind)?))?;
        }
        if let Some(workflow) = &self.workflow {
            push_key(
                &mut keys,
                "workflow",
                workflow_key(non_empty("workflow", workflow)?),
            )?;
        }
        if let Some(project) = &self.project {
            push_key(
                &mut keys,
                "project",
                project_key(non_empty("project", project)?),
            )?;
        }
        if let Some(annotation) = &self.annotation {
            let (name, value) = annotation
                .split_once('=')
                .filter(|(name, _)| !name.is_empty())
                .ok_or_else(|| bad("annotation must be name=value, the name non-empty"))?;
            push_key(&mut keys, "annotation", annotation_key(name, value))?;
        }
        if keys.is_empty() {
            return Err(bad(
                "give at least one of hash, publicKey, keyFingerprint, predicateType, kind, workflow, project, annotation",
            ));
        }
        let operator = match self.operator.as_deref() {
            None | Some("and") => Operator::And,
            Some("or") => Operator::Or,
            Some(_) => return Err(bad("operator must be and or or")),
        };
        let mut limit = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(bad(&format!("pageSize must be 1 to {MAX_PAGE_SIZE}")));
        }
        if self.proofs {
            limit = limit.min(MAX_PROOF_HITS);
        }
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        keys.sort();
        keys.dedup();
        if keys.len() > MAX_QUERY_KEYS {
            return Err(bad(&format!("at most {MAX_QUERY_KEYS} criteria")));
        }
        Ok(Plan {
            keys,
            operator,
            after,
            limit,
            budget: Budget::default(),
        })
    }
}

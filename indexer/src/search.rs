//! Search: a query names index keys and combines them with AND or OR;
//! results come back in log order, a page at a time, with an opaque cursor.
//!
//! ```json
//! {"hash": "sha256:e3b0c442...", "predicateType": "https://slsa.dev/provenance/v1",
//!  "operator": "and", "pageSize": 100, "cursor": "djE6MTIz"}
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use evledger_ledger::entry::keys::PublicKey;
use serde::Deserialize;
use thiserror::Error;

use crate::keys::{
    annotation_key, hash_key, key_key, kind_key, predicate_type_key, project_key, workflow_key,
};
use crate::store::{IndexError, IndexStore};

/// Results per page when the query does not say.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Most results per page.
pub const MAX_PAGE_SIZE: usize = 1000;

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
    /// Results per page, 1 to [`MAX_PAGE_SIZE`].
    pub page_size: Option<usize>,
    /// Wait until the index covers this log index (read-your-writes).
    pub min_log_index: Option<u64>,
    /// Add an inclusion proof to every hit.
    #[serde(default)]
    pub proofs: bool,
}

/// A query that cannot run.
#[derive(Debug, Error)]
pub enum SearchError {
    /// The query is malformed.
    #[error("{0}")]
    BadQuery(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] IndexError),
}

/// How the keys of a query combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// Entries carrying every key.
    And,
    /// Entries carrying any key.
    Or,
}

/// A validated query: keys, operator, page position and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Index keys, at least one.
    pub keys: Vec<String>,
    /// How they combine.
    pub operator: Operator,
    /// Return log indexes after this one.
    pub after: Option<u64>,
    /// Page size.
    pub limit: usize,
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Encodes a page position as an opaque cursor.
pub fn encode_cursor(last: u64) -> String {
    B64URL.encode(format!("v1:{last}"))
}

fn decode_cursor(cursor: &str) -> Result<u64, SearchError> {
    let bad = || SearchError::BadQuery("cursor is not one this server issued".into());
    let text = B64URL.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    text.strip_prefix("v1:")
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)
}

impl SearchQuery {
    /// Checks the query and turns it into index keys.
    ///
    /// # Errors
    ///
    /// [`SearchError::BadQuery`] naming the field at fault.
    pub fn plan(&self) -> Result<Plan, SearchError> {
        let bad = |m: &str| SearchError::BadQuery(m.to_string());
        let mut keys = Vec::new();
        if let Some(hash) = &self.hash {
            let (alg, digest) = hash
                .split_once(':')
                .filter(|(alg, d)| !alg.is_empty() && is_hex(d))
                .ok_or_else(|| bad("hash must be <alg>:<hex>, e.g. sha256:e3b0..."))?;
            keys.push(hash_key(alg, digest));
        }
        if let Some(pem) = &self.public_key {
            let key = PublicKey::from_pem(pem)
                .ok_or_else(|| bad("publicKey is not a PEM Ed25519 or ECDSA P-256 public key"))?;
            keys.push(key_key(&key.fingerprint()));
        }
        if let Some(fp) = &self.key_fingerprint {
            if fp.len() != 64 || !is_hex(fp) {
                return Err(bad("keyFingerprint must be 64 hex characters"));
            }
            keys.push(key_key(fp));
        }
        if let Some(pt) = &self.predicate_type {
            if pt.is_empty() {
                return Err(bad("predicateType is empty"));
            }
            keys.push(predicate_type_key(pt));
        }
        if let Some(kind) = &self.kind {
            keys.push(kind_key(kind));
        }
        if let Some(workflow) = &self.workflow {
            keys.push(workflow_key(workflow));
        }
        if let Some(project) = &self.project {
            keys.push(project_key(project));
        }
        if let Some(annotation) = &self.annotation {
            let (name, value) = annotation
                .split_once('=')
                .ok_or_else(|| bad("annotation must be name=value"))?;
            keys.push(annotation_key(name, value));
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
        let limit = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(bad(&format!("pageSize must be 1 to {MAX_PAGE_SIZE}")));
        }
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        keys.sort();
        keys.dedup();
        Ok(Plan {
            keys,
            operator,
            after,
            limit,
        })
    }
}

/// Runs a plan: the matching log indexes (ascending, at most `limit`) and
/// the cursor of the next page, if there may be one.
///
/// # Errors
///
/// Store errors.
pub async fn execute<S: IndexStore>(
    store: &S,
    plan: &Plan,
) -> Result<(Vec<u64>, Option<String>), SearchError> {
    let hits = match plan.operator {
        Operator::Or => {
            // The first `limit` of the union are among the first `limit` of each key.
            let mut all = Vec::new();
            for key in &plan.keys {
                all.extend(store.range(key, plan.after, plan.limit).await?);
            }
            all.sort_unstable();
            all.dedup();
            all.truncate(plan.limit);
            all
        }
        Operator::And => {
            // Walk the first key in chunks; keep members every other key holds.
            let (first, rest) = plan
                .keys
                .split_first()
                .ok_or_else(|| SearchError::BadQuery("no keys".into()))?;
            let mut hits = Vec::new();
            let mut after = plan.after;
            'walk: loop {
                let chunk = store.range(first, after, plan.limit.max(64)).await?;
                let Some(&last) = chunk.last() else { break };
                for member in chunk.iter().copied() {
                    let mut all = true;
                    for key in rest {
                        if !store.contains(key, member).await? {
                            all = false;
                            break;
                        }
                    }
                    if all {
                        hits.push(member);
                        if hits.len() == plan.limit {
                            break 'walk;
                        }
                    }
                }
                after = Some(last);
            }
            hits
        }
    };
    let next = (hits.len() == plan.limit)
        .then(|| hits.last().map(|l| encode_cursor(*l)))
        .flatten();
    Ok((hits, next))
}

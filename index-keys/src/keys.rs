//! The index keys of an entry: what a search can find it by.
//!
//! | key                      | from                                               |
//! |--------------------------|----------------------------------------------------|
//! | `kind:<kind>`            | the entry kind                                     |
//! | `hash:<alg>:<hex>`       | in-toto subject digests; `sha256` of the DSSE payload; `sha256` of the envelope's canonical JSON |
//! | `key:<hex>`              | signer key fingerprints: SHA-256 of the DER SubjectPublicKeyInfo |
//! | `predicateType:<uri>`    | the in-toto predicate type                         |
//! | `workflow:<name>`        | evledger attestations and contract revisions       |
//! | `project:<name>`         | evledger attestations and contract revisions       |
//! | `annotation:<name>=<value>` | annotations of an evledger attestation and of its materials |
//!
//! An evledger attestation's material digests are `hash:` keys too.
//!
//! Keys are a pure function of the leaf, so an index rebuilt from the log
//! is the same whoever rebuilds it.

use std::collections::BTreeSet;

use evledger_entry::rekor::HashAlgorithm;
use evledger_entry::{canonical_json, Entry, EntryBody};
use sha2::{Digest, Sha256};

/// Longest key kept; a longer value (a pathological predicate type) is not indexed.
pub const MAX_KEY_LEN: usize = 512;

/// The index key of a digest, `hash:<alg>:<hex>`.
pub fn hash_key(alg: &str, hex_digest: &str) -> String {
    format!(
        "hash:{}:{}",
        alg.to_ascii_lowercase(),
        hex_digest.to_ascii_lowercase()
    )
}

/// The index key of a signer key fingerprint, `key:<hex>`.
pub fn key_key(fingerprint_hex: &str) -> String {
    format!("key:{}", fingerprint_hex.to_ascii_lowercase())
}

/// The index key of a predicate type.
pub fn predicate_type_key(uri: &str) -> String {
    format!("predicateType:{uri}")
}

/// The index key of a workflow.
pub fn workflow_key(name: &str) -> String {
    format!("workflow:{name}")
}

/// The index key of a project.
pub fn project_key(name: &str) -> String {
    format!("project:{name}")
}

/// The index key of an annotation.
pub fn annotation_key(name: &str, value: &str) -> String {
    format!("annotation:{name}={value}")
}

/// Predicate type of evledger attestations (`https://evledger.dev/attestation/v1`).
const EVLEDGER_ATTESTATION: &str = "https://evledger.dev/attestation/v1";

/// Keys of an evledger attestation predicate, read leniently: a field that
/// is missing or of another shape yields no key.
fn attestation_keys(predicate: &serde_json::Value, keys: &mut BTreeSet<String>) {
    let text = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    if let Some(name) = text(&predicate["workflow"]["name"]) {
        keys.insert(workflow_key(&name));
    }
    if let Some(project) = text(&predicate["workflow"]["project"]) {
        keys.insert(project_key(&project));
    }
    let mut annotate = |list: &serde_json::Value| {
        for a in list.as_array().into_iter().flatten() {
            if let (Some(name), Some(value)) = (text(&a["name"]), a["value"].as_str()) {
                keys.insert(annotation_key(&name, value));
            }
        }
    };
    annotate(&predicate["annotations"]);
    for material in predicate["materials"].as_array().into_iter().flatten() {
        annotate(&material["annotations"]);
    }
    for material in predicate["materials"].as_array().into_iter().flatten() {
        if let Some(digests) = material["digest"].as_object() {
            for (alg, digest) in digests {
                if let Some(digest) = digest.as_str() {
                    keys.insert(hash_key(alg, digest));
                }
            }
        }
    }
}

/// The index key of an entry kind.
pub fn kind_key(kind: &str) -> String {
    format!("kind:{kind}")
}

/// The sorted, deduplicated index keys of a logged leaf. A leaf that is not
/// a known entry yields no keys (it is still in the log; it is just not
/// searchable).
pub fn index_keys(leaf: &[u8]) -> Vec<String> {
    let Ok(entry) = Entry::parse_logged(leaf) else {
        return Vec::new();
    };
    let mut keys = BTreeSet::new();
    keys.insert(kind_key(&entry.kind));
    match &entry.body {
        EntryBody::Dsse(dsse) => {
            keys.insert(hash_key(
                "sha256",
                &hex::encode(Sha256::digest(&dsse.payload)),
            ));
            if let Ok(envelope) = canonical_json(&dsse.spec.envelope) {
                keys.insert(hash_key("sha256", &hex::encode(Sha256::digest(envelope))));
            }
            for key in &dsse.keys {
                keys.insert(key_key(&key.fingerprint));
            }
            if let Some(statement) = &dsse.statement {
                keys.insert(predicate_type_key(&statement.predicate_type));
                if statement.predicate_type == EVLEDGER_ATTESTATION {
                    if let Some(predicate) = &statement.predicate {
                        attestation_keys(predicate, &mut keys);
                    }
                }
                for subject in &statement.subject {
                    for (alg, digest) in &subject.digest {
                        keys.insert(hash_key(alg, digest));
                    }
                }
            }
        }
        EntryBody::Contract(contract) => {
            keys.insert(workflow_key(&contract.workflow));
            keys.insert(project_key(&contract.project));
        }
        // A Rekor v2 entry: the digest it logs (the artifact's, or a DSSE
        // payload's) and its signers' keys. Its statement is not in the
        // leaf, so not searchable here.
        EntryBody::Rekor(rekor) => {
            if let Some(digest) = rekor.digest() {
                if let Some(algorithm) = HashAlgorithm::of_name(&digest.algorithm) {
                    let hex_digest = hex::encode(&digest.digest.0);
                    keys.insert(hash_key(algorithm.digest_set_name(), &hex_digest));
                }
            }
            for verifier in &rekor.verifiers {
                keys.insert(key_key(&verifier.fingerprint));
            }
        }
    }
    keys.into_iter()
        .filter(|k| k.len() <= MAX_KEY_LEN && !k.contains('\0'))
        .collect()
}

//! in-toto Statement v1 (<https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md>).
//!
//! ```json
//! {"_type": "https://in-toto.io/Statement/v1",
//!  "subject": [{"name": "app.tar.gz", "digest": {"sha256": "a1b2..."}}],
//!  "predicateType": "https://slsa.dev/provenance/v1",
//!  "predicate": {...}}
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

/// DSSE payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// `_type` of a Statement v1.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";

/// A parsed in-toto Statement v1.
#[derive(Debug, Clone, Deserialize)]
pub struct Statement {
    /// Always [`STATEMENT_V1`].
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// The artifacts the statement is about.
    pub subject: Vec<Subject>,
    /// URI naming the predicate's schema.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate, opaque here.
    #[serde(default)]
    pub predicate: Option<serde_json::Value>,
}

/// A subject: a ResourceDescriptor that must carry digests.
#[derive(Debug, Clone, Deserialize)]
pub struct Subject {
    /// Name of the artifact.
    #[serde(default)]
    pub name: Option<String>,
    /// Digests by algorithm, lowercase hex.
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
}

impl Statement {
    /// Parses and checks a Statement v1.
    ///
    /// # Errors
    ///
    /// A message saying which rule the payload breaks.
    pub fn parse(payload: &[u8]) -> Result<Self, String> {
        let statement: Statement = serde_json::from_slice(payload)
            .map_err(|e| format!("payload is not an in-toto statement: {e}"))?;
        if statement.statement_type != STATEMENT_V1 {
            return Err(format!(
                "_type is {:?}, expected {STATEMENT_V1:?}",
                statement.statement_type
            ));
        }
        if statement.subject.is_empty() {
            return Err("subject is empty".into());
        }
        for (i, subject) in statement.subject.iter().enumerate() {
            if subject.digest.is_empty() {
                return Err(format!("subject[{i}] has no digest"));
            }
            for (alg, value) in &subject.digest {
                let hex_ok = !value.is_empty()
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if alg.is_empty() || !hex_ok {
                    return Err(format!(
                        "subject[{i}].digest.{alg} is not a lowercase hex digest"
                    ));
                }
                let expected_len = match alg.as_str() {
                    "sha256" => Some(64),
                    "sha384" => Some(96),
                    "sha512" => Some(128),
                    "sha1" => Some(40),
                    _ => None,
                };
                if expected_len.is_some_and(|n| n != value.len()) {
                    return Err(format!("subject[{i}].digest.{alg} has the wrong length"));
                }
            }
        }
        if statement.predicate_type.is_empty() {
            return Err("predicateType is empty".into());
        }
        if statement.predicate.as_ref().is_some_and(|p| !p.is_object()) {
            return Err("predicate is not an object".into());
        }
        Ok(statement)
    }
}

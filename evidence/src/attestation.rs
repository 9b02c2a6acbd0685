//! The evledger attestation predicate and its check against a contract.
//!
//! An attestation is an in-toto Statement v1 in a DSSE envelope whose
//! predicate type is [`PREDICATE_TYPE`]:
//!
//! ```json
//! {
//!   "workflow": {"name": "build", "project": "app", "team": "core"},
//!   "contractRevision": 1,
//!   "materials": [
//!     {"name": "image", "type": "CONTAINER_IMAGE", "value": "ghcr.io/acme/app@sha256:9f86...",
//!      "digest": {"sha256": "9f86..."}, "output": true},
//!     {"name": "sbom", "type": "SBOM_CYCLONEDX_JSON", "digest": {"sha256": "2c26..."},
//!      "annotations": [{"name": "tool", "value": "syft"}]}
//!   ],
//!   "runner": {"type": "GITHUB_ACTION", "url": "https://github.com/acme/app/actions/runs/1"},
//!   "env": {"CUSTOM_VAR": "x"},
//!   "annotations": [{"name": "version", "value": "oss"}]
//! }
//! ```
//!
//! [`check`] lists every requirement of the contract revision the
//! attestation does not meet; the server appends only when the list is empty.

use std::collections::BTreeMap;

use evledger_ledger::entry::intoto::Statement;
use serde::{Deserialize, Serialize};

use crate::cas::{is_sha256_hex, Cas};
use crate::contract::{Annotation, Contract, MaterialType, RunnerType};
use crate::materials::{validate_blob, validate_value};

/// The predicate type of evledger attestations.
pub const PREDICATE_TYPE: &str = "https://evledger.dev/attestation/v1";

/// The workflow an attestation is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowRef {
    /// Workflow name.
    pub name: String,
    /// Its project.
    pub project: String,
    /// Its team.
    #[serde(default)]
    pub team: String,
}

/// One piece of evidence in an attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestedMaterial {
    /// The contract's material name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: MaterialType,
    /// Digests by algorithm (`sha256` for blobs and images).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    /// The value, for `STRING` and `CONTAINER_IMAGE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Whether it is an output (a statement subject).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub output: bool,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
}

/// Where the attestation was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunnerContext {
    /// Runner type.
    #[serde(rename = "type")]
    pub kind: RunnerType,
    /// Link to the run, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The predicate of an evledger attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Predicate {
    /// The workflow.
    pub workflow: WorkflowRef,
    /// The contract revision the attestation was crafted under.
    pub contract_revision: u64,
    /// The evidence.
    #[serde(default)]
    pub materials: Vec<AttestedMaterial>,
    /// The runner.
    pub runner: RunnerContext,
    /// Recorded environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Annotations of the attestation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
}

impl Predicate {
    /// The predicate of an evledger attestation statement, if it is one.
    ///
    /// # Errors
    ///
    /// A message if the predicate type is ours but the predicate is malformed.
    pub fn of(statement: &Statement) -> Result<Option<Self>, String> {
        if statement.predicate_type != PREDICATE_TYPE {
            return Ok(None);
        }
        let value = statement.predicate.clone().unwrap_or_default();
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| format!("predicate: {e}"))
    }
}

/// Annotations required by the contract that `given` lacks or contradicts;
/// an empty contract value means "any non-empty value".
fn unmet_annotations(required: &[Annotation], given: &[Annotation], whose: &str) -> Vec<String> {
    let mut unmet = Vec::new();
    for want in required {
        match given.iter().find(|a| a.name == want.name) {
            None => unmet.push(format!("{whose}annotation {:?} is required", want.name)),
            Some(a) if a.value.is_empty() => {
                unmet.push(format!("{whose}annotation {:?} has no value", want.name));
            }
            Some(a) if !want.value.is_empty() && a.value != want.value => unmet.push(format!(
                "{whose}annotation {:?} must be {:?}, not {:?}",
                want.name, want.value, a.value
            )),
            Some(_) => {}
        }
    }
    unmet
}

/// Every requirement of `contract` that the attestation does not meet,
/// for a push by a robot account of `workflow`. Blobs are read from `cas`
/// and validated against their type.
pub fn check(
    contract: &Contract,
    workflow: &str,
    statement: &Statement,
    predicate: &Predicate,
    cas: &Cas,
) -> Vec<String> {
    let mut unmet = Vec::new();
    if predicate.workflow.name != workflow {
        unmet.push(format!(
            "the attestation is for workflow {:?}; the token is for {workflow:?}",
            predicate.workflow.name
        ));
    }
    for (i, given) in predicate.materials.iter().enumerate() {
        if predicate.materials[..i]
            .iter()
            .any(|m| m.name == given.name)
        {
            unmet.push(format!("material {:?} appears twice", given.name));
        }
        if contract.material(&given.name).is_none() {
            unmet.push(format!("material {:?} is not in the contract", given.name));
        }
    }
    for want in &contract.materials {
        let Some(given) = predicate.materials.iter().find(|m| m.name == want.name) else {
            if !want.optional {
                unmet.push(format!(
                    "material {:?} ({}) is required",
                    want.name, want.kind
                ));
            }
            continue;
        };
        let name = &want.name;
        if given.kind != want.kind {
            unmet.push(format!(
                "material {name:?} must be {}, not {}",
                want.kind, given.kind
            ));
            continue;
        }
        let sha256 = given.digest.get("sha256");
        if want.kind.needs_blob() {
            match sha256 {
                Some(digest) if is_sha256_hex(digest) => match cas.get(digest) {
                    Ok(Some(blob)) => {
                        if let Err(e) = validate_blob(want.kind, &blob) {
                            unmet.push(format!("material {name:?}: {e}"));
                        }
                    }
                    Ok(None) => unmet.push(format!(
                        "material {name:?}: blob sha256:{digest} is not in CAS"
                    )),
                    Err(e) => unmet.push(format!("material {name:?}: {e}")),
                },
                _ => unmet.push(format!("material {name:?} needs a sha256 digest")),
            }
        } else {
            match validate_value(want.kind, given.value.as_deref().unwrap_or_default()) {
                Ok(Some(digest)) if sha256 != Some(&digest) => unmet.push(format!(
                    "material {name:?}: digest.sha256 must be the image digest {digest}"
                )),
                Ok(_) => {}
                Err(e) => unmet.push(format!("material {name:?}: {e}")),
            }
        }
        if want.output {
            let subject = sha256.is_some_and(|d| {
                statement
                    .subject
                    .iter()
                    .any(|s| s.digest.get("sha256") == Some(d))
            });
            if !subject {
                unmet.push(format!(
                    "output material {name:?} must be a subject of the statement"
                ));
            }
        }
        unmet.extend(unmet_annotations(
            &want.annotations,
            &given.annotations,
            &format!("material {name:?}: "),
        ));
    }
    if let Some(runner) = &contract.runner {
        if runner.kind != RunnerType::RunnerTypeUnspecified && predicate.runner.kind != runner.kind
        {
            unmet.push(format!(
                "runner must be {}, not {}",
                runner.kind, predicate.runner.kind
            ));
        }
    }
    for var in predicate.env.keys() {
        if !contract.env_allow_list.contains(var) {
            unmet.push(format!("env {var:?} is not in the contract's envAllowList"));
        }
    }
    unmet.extend(unmet_annotations(
        &contract.annotations,
        &predicate.annotations,
        "",
    ));
    unmet
}

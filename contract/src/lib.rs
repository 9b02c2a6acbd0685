//! Workflow contracts: Chainloop's contract schema v1, in YAML or JSON.
//!
//! ```yaml
//! schemaVersion: v1
//! annotations:
//!   - name: version
//!     value: oss
//! materials:
//!   - type: CONTAINER_IMAGE
//!     name: control-plane
//!     output: true
//!   - type: SBOM_CYCLONEDX_JSON
//!     name: sbom
//!   - type: ARTIFACT
//!     name: dockerfile
//!     optional: true
//! envAllowList: [CUSTOM_VAR]
//! runner:
//!   type: GITHUB_ACTION
//! ```
//!
//! Parsing is strict: unknown fields, unknown material or runner types,
//! names that are not DNS-1123 labels and duplicate material names are
//! rejected, naming the field (and the line, for YAML).

pub mod materials;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest contract accepted, in bytes.
pub const MAX_CONTRACT_SIZE: usize = 64 * 1024;

/// Longest material or annotation name.
pub const MAX_NAME_LEN: usize = 63;

/// A contract that does not parse or validate.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid contract: {0}")]
pub struct ContractError(pub String);

/// The kinds of evidence a contract can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MaterialType {
    /// A single value, carried in the attestation.
    String,
    /// An OCI image, `name@sha256:<hex>`; the digest is the evidence.
    ContainerImage,
    /// Any file, stored in CAS.
    Artifact,
    /// A CycloneDX SBOM in JSON, stored in CAS.
    SbomCyclonedxJson,
    /// An SPDX SBOM in JSON, stored in CAS.
    SbomSpdxJson,
    /// A SARIF 2.1.0 report, stored in CAS.
    Sarif,
    /// An OpenVEX document, stored in CAS.
    Openvex,
    /// A JUnit XML test report, stored in CAS.
    JunitXml,
}

impl MaterialType {
    /// Every type, in declaration order.
    pub const ALL: [Self; 8] = [
        Self::String,
        Self::ContainerImage,
        Self::Artifact,
        Self::SbomCyclonedxJson,
        Self::SbomSpdxJson,
        Self::Sarif,
        Self::Openvex,
        Self::JunitXml,
    ];

    /// Whether the evidence is a blob that must be in CAS.
    pub fn needs_blob(self) -> bool {
        !matches!(self, Self::String | Self::ContainerImage)
    }

    /// The contract spelling, e.g. `SBOM_CYCLONEDX_JSON`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "STRING",
            Self::ContainerImage => "CONTAINER_IMAGE",
            Self::Artifact => "ARTIFACT",
            Self::SbomCyclonedxJson => "SBOM_CYCLONEDX_JSON",
            Self::SbomSpdxJson => "SBOM_SPDX_JSON",
            Self::Sarif => "SARIF",
            Self::Openvex => "OPENVEX",
            Self::JunitXml => "JUNIT_XML",
        }
    }

    /// Parses the contract spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

impl std::fmt::Display for MaterialType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// CI systems a contract can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunnerType {
    /// Any runner.
    RunnerTypeUnspecified,
    /// GitHub Actions.
    GithubAction,
    /// GitLab CI.
    GitlabPipeline,
    /// Azure Pipelines.
    AzurePipeline,
    /// Jenkins.
    JenkinsJob,
    /// CircleCI.
    CircleciBuild,
    /// Dagger.
    DaggerPipeline,
    /// Tekton.
    TektonPipeline,
}

impl RunnerType {
    /// The contract spelling, e.g. `GITHUB_ACTION`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RunnerTypeUnspecified => "RUNNER_TYPE_UNSPECIFIED",
            Self::GithubAction => "GITHUB_ACTION",
            Self::GitlabPipeline => "GITLAB_PIPELINE",
            Self::AzurePipeline => "AZURE_PIPELINE",
            Self::JenkinsJob => "JENKINS_JOB",
            Self::CircleciBuild => "CIRCLECI_BUILD",
            Self::DaggerPipeline => "DAGGER_PIPELINE",
            Self::TektonPipeline => "TEKTON_PIPELINE",
        }
    }
}

impl std::fmt::Display for RunnerType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name/value annotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Annotation {
    /// Annotation name.
    pub name: String,
    /// Value; empty in a contract means "supplied at attestation time".
    #[serde(default)]
    pub value: String,
}

/// A piece of evidence the contract asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Material {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: MaterialType,
    /// Its name, unique in the contract.
    pub name: String,
    /// Whether the attestation may lack it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// Whether it is an output of the workflow (a statement subject).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub output: bool,
    /// Annotations the material must carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
}

/// The runner requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runner {
    /// Required runner type.
    #[serde(rename = "type")]
    pub kind: RunnerType,
}

/// A contract, schema v1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Contract {
    /// Always `v1`.
    pub schema_version: String,
    /// Evidence required or allowed.
    #[serde(default)]
    pub materials: Vec<Material>,
    /// Environment variables an attestation may record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_allow_list: Vec<String>,
    /// Runner requirement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<Runner>,
    /// Annotations the attestation must carry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
}

/// Whether `name` is a DNS-1123 label: `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, at most 63 bytes.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let inner_ok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME_LEN
        && bytes.iter().all(inner_ok)
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

impl Contract {
    /// Parses a contract from YAML or JSON (JSON is tried first when the
    /// text starts with `{`), then validates it.
    ///
    /// # Errors
    ///
    /// [`ContractError`] naming the field (and line) that is wrong.
    pub fn parse(text: &[u8]) -> Result<Self, ContractError> {
        if text.len() > MAX_CONTRACT_SIZE {
            return Err(ContractError(format!(
                "larger than {MAX_CONTRACT_SIZE} bytes"
            )));
        }
        let text = std::str::from_utf8(text).map_err(|_| ContractError("not UTF-8".into()))?;
        let contract: Self = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| ContractError(e.to_string()))?
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| ContractError(e.to_string()))?
        };
        contract.validate()?;
        Ok(contract)
    }

    /// Checks what serde cannot: the schema version, names, duplicates.
    ///
    /// # Errors
    ///
    /// [`ContractError`] naming the field.
    pub fn validate(&self) -> Result<(), ContractError> {
        if self.schema_version != "v1" {
            return Err(ContractError(format!(
                "schemaVersion: {:?} is not supported (v1)",
                self.schema_version
            )));
        }
        let mut seen = BTreeSet::new();
        for (i, material) in self.materials.iter().enumerate() {
            if !is_valid_name(&material.name) {
                return Err(ContractError(format!(
                    "materials[{i}].name: {:?} must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                    material.name
                )));
            }
            if !seen.insert(material.name.as_str()) {
                return Err(ContractError(format!(
                    "materials[{i}].name: {:?} appears twice",
                    material.name
                )));
            }
            check_annotations(
                &material.annotations,
                &format!("materials[{i}].annotations"),
            )?;
        }
        check_annotations(&self.annotations, "annotations")?;
        for (i, var) in self.env_allow_list.iter().enumerate() {
            let ok = !var.is_empty() && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !ok {
                return Err(ContractError(format!(
                    "envAllowList[{i}]: {var:?} is not an environment variable name"
                )));
            }
        }
        Ok(())
    }

    /// The material named `name`.
    pub fn material(&self, name: &str) -> Option<&Material> {
        self.materials.iter().find(|m| m.name == name)
    }
}

fn check_annotations(annotations: &[Annotation], field: &str) -> Result<(), ContractError> {
    let mut seen = BTreeSet::new();
    for (i, a) in annotations.iter().enumerate() {
        let ok = !a.name.is_empty()
            && a.name.len() <= MAX_NAME_LEN
            && a.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok {
            return Err(ContractError(format!(
                "{field}[{i}].name: {:?} is not a valid annotation name",
                a.name
            )));
        }
        if !seen.insert(a.name.as_str()) {
            return Err(ContractError(format!(
                "{field}[{i}].name: {:?} appears twice",
                a.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "schemaVersion: v1
annotations:
  - name: version
    value: oss
materials:
  - type: CONTAINER_IMAGE
    name: control-plane
    output: true
  - type: SBOM_CYCLONEDX_JSON
    name: sbom
  - type: ARTIFACT
    name: dockerfile
    optional: true
envAllowList: [CUSTOM_VAR]
runner:
  type: GITHUB_ACTION
";

    #[test]
    fn parses_the_chainloop_example_in_yaml_and_json() {
        let contract = Contract::parse(EXAMPLE.as_bytes()).expect("valid");
        assert_eq!(contract.materials.len(), 3);
        assert!(contract.materials[0].output);
        assert_eq!(
            contract.runner.as_ref().map(|r| r.kind),
            Some(RunnerType::GithubAction)
        );
        let json = serde_json::to_vec(&contract).expect("json");
        assert_eq!(Contract::parse(&json).expect("valid JSON"), contract);
    }

    #[test]
    fn rejects_with_the_field_named() {
        let cases = [
            (EXAMPLE.replace("output: true", "outptu: true"), "line 8"),
            (EXAMPLE.replace("CONTAINER_IMAGE", "CONTAINER"), "line 6"),
            (
                EXAMPLE.replace("name: sbom", "name: Sbom_1"),
                "materials[1].name",
            ),
            (
                EXAMPLE.replace("name: dockerfile", "name: sbom"),
                "appears twice",
            ),
            (
                EXAMPLE.replace("schemaVersion: v1", "schemaVersion: v2"),
                "schemaVersion",
            ),
            (EXAMPLE.replace("GITHUB_ACTION", "GITHUB"), "line 16"),
            (
                EXAMPLE.replace("[CUSTOM_VAR]", "[\"BAD VAR\"]"),
                "envAllowList[0]",
            ),
        ];
        for (text, expected) in cases {
            let err = Contract::parse(text.as_bytes()).expect_err(&text).0;
            assert!(err.contains(expected), "{expected:?} not in {err:?}");
        }
    }
}

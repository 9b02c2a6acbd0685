//! Typed validation of materials: a blob (or value) must be what its
//! contract type says, before it is stored or attested.
//!
//! | type                  | checked with                                             |
//! |-----------------------|----------------------------------------------------------|
//! | `SBOM_CYCLONEDX_JSON` | `cyclonedx-bom` (1.3–1.5, validated); 1.6 as JSON with `bomFormat` |
//! | `SBOM_SPDX_JSON`      | SPDX 2.x document fields (`spdxVersion`, `SPDXID`, ...)  |
//! | `SARIF`               | `serde-sarif`, version 2.1.0                             |
//! | `OPENVEX`             | OpenVEX `@context`, author, timestamp, statements        |
//! | `JUNIT_XML`           | `quick-xml`: well-formed, root `testsuites` or `testsuite` |
//! | `CONTAINER_IMAGE`     | a value `name@sha256:<64 hex>`                           |
//! | `STRING`              | a non-empty value                                        |
//! | `ARTIFACT`            | any bytes                                                |

use cyclonedx_bom::prelude::{Bom, Validate};
use serde::Deserialize;
use thiserror::Error;

use crate::MaterialType;

/// Longest `STRING` value.
pub const MAX_STRING_VALUE: usize = 4096;

/// A material that is not what its type says.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("not a valid {kind}: {why}")]
pub struct MaterialError {
    /// The expected type.
    pub kind: MaterialType,
    /// What is wrong.
    pub why: String,
}

fn invalid(kind: MaterialType, why: impl std::fmt::Display) -> MaterialError {
    MaterialError {
        kind,
        why: why.to_string(),
    }
}

/// Checks a blob against a type that is stored in CAS.
///
/// # Errors
///
/// [`MaterialError`] saying what is wrong.
pub fn validate_blob(kind: MaterialType, blob: &[u8]) -> Result<(), MaterialError> {
    match kind {
        MaterialType::Artifact => Ok(()),
        MaterialType::SbomCyclonedxJson => cyclonedx(blob),
        MaterialType::SbomSpdxJson => spdx(blob),
        MaterialType::Sarif => sarif(blob),
        MaterialType::Openvex => openvex(blob),
        MaterialType::JunitXml => junit(blob),
        MaterialType::String | MaterialType::ContainerImage => {
            Err(invalid(kind, "this type is a value, not a blob in CAS"))
        }
    }
}

/// Checks an inline value of a type that is not stored in CAS, and returns
/// its digest (`sha256` hex) if the value carries one.
///
/// # Errors
///
/// [`MaterialError`] saying what is wrong.
pub fn validate_value(kind: MaterialType, value: &str) -> Result<Option<String>, MaterialError> {
    match kind {
        MaterialType::String => {
            if value.is_empty() || value.len() > MAX_STRING_VALUE {
                return Err(invalid(
                    kind,
                    format!("value must be 1 to {MAX_STRING_VALUE} bytes"),
                ));
            }
            Ok(None)
        }
        MaterialType::ContainerImage => {
            let (name, digest) = value
                .rsplit_once("@sha256:")
                .ok_or_else(|| invalid(kind, "expected <name>@sha256:<64 hex>"))?;
            let digest_ok = digest.len() == 64
                && digest
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if name.is_empty() || name.contains(char::is_whitespace) || !digest_ok {
                return Err(invalid(kind, "expected <name>@sha256:<64 lowercase hex>"));
            }
            Ok(Some(digest.to_string()))
        }
        _ => Err(invalid(kind, "this type is a blob in CAS, not a value")),
    }
}

/// The whole document as JSON. Typed checks read from this value, never
/// from the bytes: deserialising straight into a struct skips the strings
/// of fields it does not model, so bytes that are not JSON would pass.
fn json(kind: MaterialType, blob: &[u8]) -> Result<serde_json::Value, MaterialError> {
    serde_json::from_slice(blob).map_err(|e| invalid(kind, format!("not JSON: {e}")))
}

fn cyclonedx(blob: &[u8]) -> Result<(), MaterialError> {
    let kind = MaterialType::SbomCyclonedxJson;
    let value = json(kind, blob)?;
    if value["bomFormat"] != "CycloneDX" {
        return Err(invalid(kind, "bomFormat is not \"CycloneDX\""));
    }
    let version = value["specVersion"].as_str().unwrap_or_default();
    if version == "1.6" {
        // cyclonedx-bom 0.8 models up to 1.5; 1.6 keeps the 1.5 core.
        return match value["components"] {
            serde_json::Value::Null | serde_json::Value::Array(_) => Ok(()),
            _ => Err(invalid(kind, "components is not an array")),
        };
    }
    let bom = Bom::parse_from_json(blob).map_err(|e| invalid(kind, e))?;
    let report = bom.validate();
    if report.has_errors() {
        return Err(invalid(kind, format!("{report:?}")));
    }
    Ok(())
}

/// The document-level fields SPDX 2.x requires (SPDX 2.3 §6).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // Fields are read by deserialization only.
struct SpdxDocument {
    spdx_version: String,
    data_license: String,
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    name: String,
    document_namespace: String,
    creation_info: serde_json::Value,
}

fn spdx(blob: &[u8]) -> Result<(), MaterialError> {
    let kind = MaterialType::SbomSpdxJson;
    let doc: SpdxDocument = serde_json::from_value(json(kind, blob)?)
        .map_err(|e| invalid(kind, format!("not an SPDX document: {e}")))?;
    if !doc.spdx_version.starts_with("SPDX-2.") {
        return Err(invalid(
            kind,
            format!("spdxVersion {:?} is not SPDX-2.x", doc.spdx_version),
        ));
    }
    if doc.spdx_id != "SPDXRef-DOCUMENT" {
        return Err(invalid(kind, "SPDXID must be SPDXRef-DOCUMENT"));
    }
    Ok(())
}

fn sarif(blob: &[u8]) -> Result<(), MaterialError> {
    let kind = MaterialType::Sarif;
    let report: serde_sarif::sarif::Sarif = serde_json::from_value(json(kind, blob)?)
        .map_err(|e| invalid(kind, format!("not SARIF: {e}")))?;
    let version = serde_json::to_value(&report.version).unwrap_or_default();
    if version != "2.1.0" {
        return Err(invalid(kind, format!("version {version} is not 2.1.0")));
    }
    Ok(())
}

/// An OpenVEX document (<https://github.com/openvex/spec>).
#[derive(Deserialize)]
#[allow(dead_code)] // Fields are read by deserialization only.
struct OpenVex {
    #[serde(rename = "@context")]
    context: String,
    #[serde(rename = "@id")]
    id: String,
    author: String,
    timestamp: String,
    statements: Vec<VexStatement>,
}

#[derive(Deserialize)]
#[allow(dead_code)] // Fields are read by deserialization only.
struct VexStatement {
    vulnerability: serde_json::Value,
    status: String,
}

fn openvex(blob: &[u8]) -> Result<(), MaterialError> {
    let kind = MaterialType::Openvex;
    let doc: OpenVex = serde_json::from_value(json(kind, blob)?)
        .map_err(|e| invalid(kind, format!("not OpenVEX: {e}")))?;
    if !doc.context.starts_with("https://openvex.dev/ns") {
        return Err(invalid(kind, "@context is not https://openvex.dev/ns"));
    }
    for (i, s) in doc.statements.iter().enumerate() {
        if !["not_affected", "affected", "fixed", "under_investigation"]
            .contains(&s.status.as_str())
        {
            return Err(invalid(
                kind,
                format!("statements[{i}].status {:?} is not a VEX status", s.status),
            ));
        }
    }
    Ok(())
}

fn junit(blob: &[u8]) -> Result<(), MaterialError> {
    use quick_xml::events::Event;
    let kind = MaterialType::JunitXml;
    let mut reader = quick_xml::Reader::from_reader(blob);
    let mut buf = Vec::new();
    let mut root = None;
    let mut depth = 0usize;
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(event @ (Event::Start(_) | Event::Empty(_))) if depth == 0 => {
                if root.is_some() {
                    return Err(invalid(kind, "more than one root element"));
                }
                let (Event::Start(e) | Event::Empty(e)) = &event else {
                    unreachable!("matched as Start or Empty");
                };
                root = Some(e.name().as_ref().to_vec());
                depth += usize::from(matches!(event, Event::Start(_)));
            }
            Ok(Event::Start(_)) => depth += 1,
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Eof) if depth > 0 => {
                return Err(invalid(kind, "an element is not closed"));
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => {
                return Err(invalid(
                    kind,
                    format!("malformed XML at byte {}: {e}", reader.buffer_position()),
                ))
            }
        }
        buf.clear();
    }
    match root.as_deref() {
        Some(b"testsuites" | b"testsuite") => Ok(()),
        Some(other) => Err(invalid(
            kind,
            format!(
                "root element <{}> is not testsuites or testsuite",
                String::from_utf8_lossy(other)
            ),
        )),
        None => Err(invalid(kind, "no root element")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_type_and_rejects_the_others() {
        let cyclonedx = br#"{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[{"type":"library","name":"serde","version":"1.0.0"}]}"#;
        let spdx = br#"{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"app","documentNamespace":"https://example.com/app","creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: x"]}}"#;
        let sarif =
            br#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"clippy"}},"results":[]}]}"#;
        let vex = br#"{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex/1","author":"ci","timestamp":"2026-01-01T00:00:00Z","statements":[{"vulnerability":{"name":"CVE-2026-1"},"status":"not_affected"}]}"#;
        let junit = br#"<?xml version="1.0"?><testsuites><testsuite name="a" tests="1"><testcase name="t"/></testsuite></testsuites>"#;
        let good: [(MaterialType, &[u8]); 5] = [
            (MaterialType::SbomCyclonedxJson, cyclonedx),
            (MaterialType::SbomSpdxJson, spdx),
            (MaterialType::Sarif, sarif),
            (MaterialType::Openvex, vex),
            (MaterialType::JunitXml, junit),
        ];
        for (kind, blob) in good {
            assert_eq!(validate_blob(kind, blob), Ok(()), "{kind}");
            for (other, other_blob) in good {
                if other != kind {
                    assert!(
                        validate_blob(kind, other_blob).is_err(),
                        "{other} passed as {kind}"
                    );
                }
            }
        }
        assert!(validate_blob(MaterialType::JunitXml, b"<testsuites><x></testsuites>").is_err());
        assert_eq!(validate_blob(MaterialType::Artifact, b"\x00\x01"), Ok(()));
    }

    #[test]
    fn container_images_carry_a_digest() {
        let digest = "a".repeat(64);
        let image = format!("ghcr.io/acme/app@sha256:{digest}");
        assert_eq!(
            validate_value(MaterialType::ContainerImage, &image),
            Ok(Some(digest))
        );
        for bad in ["ghcr.io/acme/app:latest", "app@sha256:ABC", "@sha256:"] {
            assert!(
                validate_value(MaterialType::ContainerImage, bad).is_err(),
                "{bad}"
            );
        }
        assert!(validate_value(MaterialType::String, "").is_err());
    }

    #[test]
    fn documents_must_be_well_formed_json_and_xml() {
        // A byte that is not UTF-8 inside a string the struct does not model.
        let spdx = b"{\"spdxVersion\":\"SPDX-2.3\",\"dataLicense\":\"CC0-1.0\",\"SPDXID\":\"SPDXRef-DOCUMENT\",\"name\":\"app\",\"documentNamespace\":\"https://example.com/app\",\"creationInfo\":{\"created\":\"\xff\"}}";
        let sarif = b"{\"version\":\"2.1.0\",\"runs\":[{\"tool\":{\"driver\":{\"name\":\"clippy\"}},\"results\":[],\"x\":\"\xff\"}]}";
        let vex = b"{\"@context\":\"https://openvex.dev/ns/v0.2.0\",\"@id\":\"https://example.com/vex/1\",\"author\":\"ci\",\"timestamp\":\"2026\",\"statements\":[{\"vulnerability\":{\"name\":\"\xff\"},\"status\":\"fixed\"}]}";
        for (kind, blob) in [
            (MaterialType::SbomSpdxJson, &spdx[..]),
            (MaterialType::Sarif, &sarif[..]),
            (MaterialType::Openvex, &vex[..]),
        ] {
            assert!(
                validate_blob(kind, blob).is_err(),
                "{kind} took invalid UTF-8"
            );
        }
        for junit in [
            &b"<testsuites>"[..],
            b"<testsuites><testsuite>",
            b"<testsuite/><other/>",
            b"<testsuites></testsuites><testsuites></testsuites>",
        ] {
            assert!(
                validate_blob(MaterialType::JunitXml, junit).is_err(),
                "{}",
                String::from_utf8_lossy(junit)
            );
        }
    }
}

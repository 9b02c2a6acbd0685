//! CycloneDX SBOM validation (`evledger_contract::materials`,
//! `SBOM_CYCLONEDX_JSON`).
//!
//! Properties: an accepted SBOM is a JSON object whose `bomFormat` is
//! `CycloneDX` and that has a string `specVersion`; re-encoded with other
//! white space and key order it is still accepted.
#![no_main]

use evledger_contract::MaterialType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let kind = MaterialType::SbomCyclonedxJson;
    if evledger_fuzz::material::check_json(kind, data, &["bomFormat", "specVersion"]) {
        let value: serde_json::Value = serde_json::from_slice(data).expect("JSON");
        assert_eq!(value["bomFormat"], "CycloneDX");
    }
});

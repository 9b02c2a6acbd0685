//! SPDX SBOM validation (`evledger_contract::materials`, `SBOM_SPDX_JSON`).
//!
//! Properties: an accepted document is a JSON object with the SPDX 2.x
//! document fields as strings (`spdxVersion` starting `SPDX-2.`, `SPDXID`
//! `SPDXRef-DOCUMENT`, `dataLicense`, `name`, `documentNamespace`) and a
//! `creationInfo`; re-encoded it is still accepted.
#![no_main]

use evledger_contract::MaterialType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let required = [
        "spdxVersion",
        "dataLicense",
        "SPDXID",
        "name",
        "documentNamespace",
    ];
    if evledger_fuzz::material::check_json(MaterialType::SbomSpdxJson, data, &required) {
        let value: serde_json::Value = serde_json::from_slice(data).expect("JSON");
        assert!(value["spdxVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("SPDX-2.")));
        assert_eq!(value["SPDXID"], "SPDXRef-DOCUMENT");
        assert!(value.get("creationInfo").is_some());
    }
});

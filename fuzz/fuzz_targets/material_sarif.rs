//! SARIF report validation (`evledger_contract::materials`, `SARIF`).
//!
//! Properties: an accepted report is a JSON object whose `version` is
//! `2.1.0` and that has a `runs` array; re-encoded it is still accepted.
#![no_main]

use evledger_contract::MaterialType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if evledger_fuzz::material::check_json(MaterialType::Sarif, data, &["version"]) {
        let value: serde_json::Value = serde_json::from_slice(data).expect("JSON");
        assert_eq!(value["version"], "2.1.0");
        assert!(value["runs"].is_array(), "accepted SARIF without runs");
    }
});

//! OpenVEX document validation (`evledger_contract::materials`, `OPENVEX`).
//!
//! Properties: an accepted document is a JSON object with string
//! `@context` (an `https://openvex.dev/ns` URI), `@id`, `author` and
//! `timestamp`, and a `statements` array whose every status is one of the
//! four VEX statuses; re-encoded it is still accepted.
#![no_main]

use evledger_contract::MaterialType;
use libfuzzer_sys::fuzz_target;

const STATUSES: [&str; 4] = ["not_affected", "affected", "fixed", "under_investigation"];

fuzz_target!(|data: &[u8]| {
    let required = ["@context", "@id", "author", "timestamp"];
    if evledger_fuzz::material::check_json(MaterialType::Openvex, data, &required) {
        let value: serde_json::Value = serde_json::from_slice(data).expect("JSON");
        assert!(value["@context"]
            .as_str()
            .is_some_and(|c| c.starts_with("https://openvex.dev/ns")));
        let statements = value["statements"]
            .as_array()
            .expect("accepted OpenVEX without statements");
        for statement in statements {
            let status = statement["status"].as_str().unwrap_or_default();
            assert!(STATUSES.contains(&status), "accepted VEX status {status:?}");
        }
    }
});

//! Inline material values (`evledger_contract::materials::validate_value`):
//! `CONTAINER_IMAGE` references and `STRING` values.
//!
//! Properties: an accepted image reference is `<name>@sha256:<digest>`
//! with a non-empty name without white space, and the digest returned is
//! its 64 lowercase hex digits; a `STRING` is accepted exactly when it is
//! 1 to `MAX_STRING_VALUE` bytes; blob types refuse values and value types
//! refuse blobs.
#![no_main]

use evledger_contract::materials::{validate_blob, validate_value, MAX_STRING_VALUE};
use evledger_contract::MaterialType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(digest) = validate_value(MaterialType::ContainerImage, value) {
        let digest = digest.expect("an image reference carries its digest");
        assert_eq!(digest.len(), 64);
        assert!(digest
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        let name = value
            .strip_suffix(digest.as_str())
            .and_then(|v| v.strip_suffix("@sha256:"))
            .expect("the digest ends the reference");
        assert!(!name.is_empty() && !name.contains(char::is_whitespace));
    }
    let string = validate_value(MaterialType::String, value);
    assert_eq!(
        string.is_ok(),
        !value.is_empty() && value.len() <= MAX_STRING_VALUE
    );
    assert_eq!(
        string.ok(),
        if value.is_empty() || value.len() > MAX_STRING_VALUE {
            None
        } else {
            Some(None)
        }
    );
    for kind in MaterialType::ALL {
        if kind.needs_blob() {
            assert!(validate_value(kind, value).is_err());
        } else {
            assert!(validate_blob(kind, data).is_err());
        }
    }
});

//! Entry submissions and logged leaves as raw bytes
//! (`evledger_entry::Entry::{from_submission, from_leaf, parse_logged}`).
//! The seeds are valid signed submissions and leaves, so the fuzzer
//! mutates around real ones; `dsse_envelope` builds signed ones.
//!
//! Properties: an accepted submission's leaf is at most `MAX_ENTRY_SIZE`,
//! is canonical JSON (RFC 8785), reads back with `from_leaf` and
//! `parse_logged` unchanged and of the same kind, and submitting the leaf
//! itself logs the same leaf; `from_leaf` accepts only a leaf equal to
//! what it rebuilds; `parse_logged` never panics and keeps the bytes (a
//! Rekor v2 body, with `apiVersion`, parses as one; `rekor_request`
//! fuzzes those).
#![no_main]

use evledger_entry::rekor::KIND_HASHEDREKORD;
use evledger_entry::{Entry, EntryBody, KIND_CONTRACT, KIND_DSSE};
use evledger_tlog::tiles::MAX_ENTRY_SIZE;
use libfuzzer_sys::fuzz_target;

fn canonical(leaf: &[u8]) -> Vec<u8> {
    let value: serde_json::Value = serde_json::from_slice(leaf).expect("a leaf is JSON");
    serde_json_canonicalizer::to_vec(&value).expect("canonical JSON of parsed JSON")
}

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = Entry::from_submission(data) {
        assert_eq!(entry.kind, KIND_DSSE, "clients submit dsse entries only");
        assert!(entry.leaf.len() <= MAX_ENTRY_SIZE);
        assert_eq!(
            canonical(&entry.leaf),
            entry.leaf,
            "the leaf is canonical JSON"
        );
        let again = Entry::from_leaf(&entry.leaf).expect("a logged leaf reads back");
        assert_eq!(again.leaf, entry.leaf);
        assert_eq!(again.kind, entry.kind);
        let resubmitted = Entry::from_submission(&entry.leaf).expect("the leaf is a submission");
        assert_eq!(resubmitted.leaf, entry.leaf, "logging is idempotent");
        let logged = Entry::parse_logged(&entry.leaf).expect("a logged leaf parses");
        if let (EntryBody::Dsse(a), EntryBody::Dsse(b)) = (&logged.body, &entry.body) {
            assert_eq!(a.payload, b.payload);
            assert_eq!(a.keys.len(), b.keys.len());
        } else {
            panic!("a dsse leaf parsed as another kind");
        }
    }
    if let Ok(entry) = Entry::from_leaf(data) {
        assert_eq!(entry.leaf, data, "from_leaf accepts canonical leaves only");
        assert!(entry.leaf.len() <= MAX_ENTRY_SIZE);
    }
    if let Ok(entry) = Entry::parse_logged(data) {
        assert_eq!(entry.leaf, data);
        assert!([KIND_DSSE, KIND_CONTRACT, KIND_HASHEDREKORD].contains(&entry.kind.as_str()));
    }
});

//! Sigstore bundles as received by `evledger verify sigstore-bundle`
//! (`evledger_sigstore::bundle::verify`), checked against the fixed test
//! log key. The seed is a valid bundle of a hashedrekord in a tree that key
//! signed.
//!
//! Properties: verification never panics; a bundle that verifies carries
//! exactly one tlog entry, whose checkpoint verifies with the test key and
//! covers the entry's index, whose body reads back as a Rekor v2 entry of
//! the kind verified, and whose body's hash is proven into that
//! checkpoint's root by the bundle's proof (checked again here with the
//! fuzz crate's independent RFC 9162 tree code).
#![no_main]

use std::sync::OnceLock;

use evledger_fuzz::{note_verifier_key, LOG_ORIGIN, LOG_SEED};
use evledger_sigstore::bundle::{verify, Bundle};
use evledger_tlog::CheckpointVerifier;
use libfuzzer_sys::fuzz_target;

fn key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| note_verifier_key(LOG_ORIGIN, &LOG_SEED))
}

fuzz_target!(|data: &[u8]| {
    let Ok(verified) = verify(data, key(), None) else {
        return;
    };
    let bundle: Bundle = serde_json::from_slice(data).expect("a verified bundle parses");
    let [tlog] = bundle.verification_material.tlog_entries.as_slice() else {
        panic!("a verified bundle has one tlog entry");
    };
    let checkpoint = CheckpointVerifier::new(&[key()])
        .expect("test key")
        .verify(tlog.inclusion_proof.checkpoint.envelope.as_bytes())
        .expect("a verified bundle's checkpoint verifies");
    assert_eq!(checkpoint.size, verified.tree_size);
    assert!(verified.log_index < checkpoint.size);
    let entry = evledger_entry::rekor::RekorEntry::logged(&tlog.canonicalized_body.0)
        .expect("a verified body parses");
    assert_eq!(entry.logged.kind, verified.kind);
    let hashes: Vec<[u8; 32]> = tlog
        .inclusion_proof
        .hashes
        .iter()
        .map(|h| h.0.as_slice().try_into().expect("32-byte hashes"))
        .collect();
    assert_eq!(
        evledger_fuzz::merkle::root_from_path(
            verified.log_index,
            checkpoint.size,
            evledger_fuzz::merkle::leaf(&tlog.canonicalized_body.0),
            &hashes
        ),
        Some(checkpoint.root),
        "the proof leads to the signed root"
    );
});

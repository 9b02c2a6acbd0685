//! Rekor v2 CreateEntry requests and logged bodies as raw bytes
//! (`evledger_entry::rekor`, `Entry::from_rekor_request`). The seeds are a
//! signed hashedrekord and a signed DSSE request, and their bodies.
//!
//! Properties: an accepted request's leaf is at most `MAX_ENTRY_SIZE`, is
//! canonical JSON (RFC 8785) with `apiVersion` 0.0.2, reads back with
//! `from_leaf` (which re-checks what a body alone allows) and
//! `parse_logged` unchanged, of the same kind, with the same verifier
//! fingerprints in the same order; a hashedrekord's logged signature
//! verifies over its logged digest with its logged key; a DSSE entry's
//! signatures are sorted and distinct, one per verifier;
//! `RekorEntry::logged` and its checks never panic.
#![no_main]

use evledger_entry::rekor::{RekorEntry, API_VERSION};
use evledger_entry::{Entry, EntryBody};
use evledger_tlog::tiles::MAX_ENTRY_SIZE;
use libfuzzer_sys::fuzz_target;

fn rekor(entry: &Entry) -> &RekorEntry {
    match &entry.body {
        EntryBody::Rekor(rekor) => rekor,
        _ => panic!("a Rekor v2 request logged another kind of entry"),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = Entry::from_rekor_request(data) {
        assert!(entry.leaf.len() <= MAX_ENTRY_SIZE);
        let value: serde_json::Value =
            serde_json::from_slice(&entry.leaf).expect("the leaf is JSON");
        assert_eq!(
            serde_json_canonicalizer::to_vec(&value).expect("canonical JSON"),
            entry.leaf,
            "the leaf is canonical JSON"
        );
        assert_eq!(value["apiVersion"], API_VERSION);
        let again = Entry::from_leaf(&entry.leaf).expect("a logged body reads back");
        assert_eq!(again.leaf, entry.leaf);
        assert_eq!(again.kind, entry.kind);
        let logged = Entry::parse_logged(&entry.leaf).expect("a logged body parses");
        let (ours, theirs) = (rekor(&entry), rekor(&logged));
        assert_eq!(ours.logged, theirs.logged);
        let prints = |r: &RekorEntry| {
            r.verifiers
                .iter()
                .map(|v| v.fingerprint.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(prints(ours), prints(theirs));
        if let Some(h) = &ours.logged.spec.hashed_rekord {
            assert!(ours.verifiers[0]
                .key
                .verify_digest(&h.data.digest.0, &h.signature.content.0));
        }
        if let Some(d) = &ours.logged.spec.dsse {
            assert!(d.signatures.windows(2).all(|w| w[0].content < w[1].content));
            assert_eq!(d.signatures.len(), ours.verifiers.len());
        }
    }
    if let Ok(entry) = RekorEntry::logged(data) {
        let _ = entry.check_logged();
        let _ = entry.canonical_body();
    }
});

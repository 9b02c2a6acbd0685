//! Signed checkpoints as received (`evledger_tlog::checkpoint`): the bytes
//! a client, witness or receiver is handed, checked against the fixed test
//! log key (and, for a second verifier, a witness quorum of one).
//!
//! Properties: an accepted note is at most `MAX_CHECKPOINT_SIZE`, is
//! returned verbatim, names the verifier's origin and parses the same with
//! `parse_unverified`; its `body()` is exactly the text the signatures
//! cover; signed-note re-encoding gives the same bytes, which verify
//! again; a quorum verifier accepts only what the plain verifier accepts;
//! `parse_unverified` on anything never panics, and its `body()` is a
//! prefix of the note.
#![no_main]

use std::sync::OnceLock;

use evledger_fuzz::{
    cosignature_verifier_key, note_verifier_key, LOG_ORIGIN, LOG_SEED, WITNESS_NAME, WITNESS_SEED,
};
use evledger_tlog::checkpoint::MAX_CHECKPOINT_SIZE;
use evledger_tlog::{CheckpointVerifier, SignedCheckpoint};
use libfuzzer_sys::fuzz_target;

fn verifiers() -> &'static (CheckpointVerifier, CheckpointVerifier) {
    static VERIFIERS: OnceLock<(CheckpointVerifier, CheckpointVerifier)> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        let log = CheckpointVerifier::new(&[note_verifier_key(LOG_ORIGIN, &LOG_SEED)])
            .expect("fixed test key");
        let quorum = log
            .clone()
            .with_witnesses(&[cosignature_verifier_key(WITNESS_NAME, &WITNESS_SEED)], 1)
            .expect("fixed test key");
        (log, quorum)
    })
}

fuzz_target!(|data: &[u8]| {
    let (log, quorum) = verifiers();
    let plain = log.verify(data);
    if let Ok(checkpoint) = &plain {
        assert!(data.len() <= MAX_CHECKPOINT_SIZE);
        assert_eq!(checkpoint.note.as_bytes(), data);
        assert_eq!(checkpoint.origin, LOG_ORIGIN);
        let note = signed_note::Note::from_bytes(data).expect("a verified note parses");
        assert_eq!(checkpoint.body(), note.text(), "body() is the signed text");
        assert_eq!(
            note.to_bytes(),
            data,
            "a verified note re-encodes to itself"
        );
        let again = SignedCheckpoint::parse_unverified(&checkpoint.note).expect("parses again");
        assert_eq!(
            (&again.origin, again.size, again.root),
            (&checkpoint.origin, checkpoint.size, checkpoint.root)
        );
    }
    if let Ok(cosigned) = quorum.verify(data) {
        let plain = plain.as_ref().expect("the quorum verifier is stricter");
        assert_eq!((cosigned.size, cosigned.root), (plain.size, plain.root));
        assert_eq!(cosigned.cosigners, vec![WITNESS_NAME.to_string()]);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(parsed) = SignedCheckpoint::parse_unverified(text) {
            assert!(text.as_bytes().starts_with(parsed.body()));
        }
    }
});

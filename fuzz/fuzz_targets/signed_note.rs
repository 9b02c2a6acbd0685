//! Checkpoint notes built from fuzz-chosen fields and signed here
//! (`evledger_tlog::CheckpointVerifier`), so the fuzzer works
//! past the signature check: origin, size, root and extension lines, up to
//! 15 signatures by unknown keys, and a witness cosignature, in any order.
//! Signatures are made with ed25519-dalek straight from the specs (C2SP
//! signed-note, tlog-cosignature), not with the crate under test.
//!
//! Properties: a well-formed note signed by the log key verifies whatever
//! unknown signatures sit beside it (C2SP: verifiers ignore unknown keys
//! and accept at least 16 signature lines), and yields the signed size and
//! root; the witness counts toward the quorum exactly when it cosigned;
//! `body()` is the signed text; the note re-encodes to itself; changing any
//! byte of the signed text, or of the log's signature line, fails it.
#![no_main]

use arbitrary::Arbitrary;
use ed25519_dalek::{Signer, SigningKey};
use evledger_fuzz::{
    checkpoint_body, cosignature_verifier_key, foreign_signature_line, is_key_name,
    note_verifier_key, LOG_ORIGIN, LOG_SEED, WITNESS_NAME, WITNESS_SEED,
};
use evledger_tlog::{CheckpointError, CheckpointVerifier};
use libfuzzer_sys::fuzz_target;

/// Unknown signatures per note: with the log's and the witness's, 17 lines.
const MAX_FOREIGN: usize = 15;

#[derive(Arbitrary, Debug)]
struct Input {
    origin: String,
    size: u64,
    root: [u8; 32],
    extensions: Vec<String>,
    foreign: Vec<(String, u32, Vec<u8>)>,
    log_position: u8,
    witness: Option<(u64, u8)>,
    tamper: Option<(bool, u16, u8)>,
}

/// A signature line: `— <name> base64(key ID || signature)`.
fn line(name: &str, id: u32, sig: &[u8]) -> String {
    foreign_signature_line(name, id, sig)
}

fn note_key_id(name: &str, key: &SigningKey, alg: u8) -> u32 {
    let mut public = vec![alg];
    public.extend_from_slice(key.verifying_key().as_bytes());
    signed_note::key_id(name, &public)
}

fuzz_target!(|input: Input| {
    let origin = if is_key_name(&input.origin) && !input.origin.contains(char::is_control) {
        input.origin
    } else {
        LOG_ORIGIN.to_string()
    };
    let extensions: Vec<String> = input
        .extensions
        .into_iter()
        .filter(|e| !e.is_empty() && !e.contains(char::is_control))
        .take(4)
        .collect();
    let body = checkpoint_body(&origin, input.size, &input.root, &extensions);

    let log_key = SigningKey::from_bytes(&LOG_SEED);
    let log_id = note_key_id(&origin, &log_key, 0x01);
    let log_line = line(&origin, log_id, &log_key.sign(body.as_bytes()).to_bytes());
    let witness_key = SigningKey::from_bytes(&WITNESS_SEED);
    let witness_id = note_key_id(WITNESS_NAME, &witness_key, 0x04);

    let mut lines: Vec<String> = input
        .foreign
        .iter()
        .filter(|(name, id, sig)| {
            is_key_name(name)
                && !name.contains(char::is_control)
                && !sig.is_empty()
                && (name.as_str(), *id) != (origin.as_str(), log_id)
                && (name.as_str(), *id) != (WITNESS_NAME, witness_id)
        })
        .take(MAX_FOREIGN)
        .map(|(name, id, sig)| line(name, *id, sig))
        .collect();
    let log_at = usize::from(input.log_position) % (lines.len() + 1);
    lines.insert(log_at, log_line.clone());
    let cosigned = if let Some((time, at)) = input.witness {
        let time = time & (i64::MAX as u64);
        let mut message = format!("cosignature/v1\ntime {time}\n").into_bytes();
        message.extend_from_slice(body.as_bytes());
        let mut sig = time.to_be_bytes().to_vec();
        sig.extend_from_slice(&witness_key.sign(&message).to_bytes());
        let at = usize::from(at) % (lines.len() + 1);
        lines.insert(at, line(WITNESS_NAME, witness_id, &sig));
        true
    } else {
        false
    };
    let note = format!("{body}\n{}", lines.concat());
    if note.len() > evledger_tlog::checkpoint::MAX_CHECKPOINT_SIZE {
        return;
    }

    let verifier = CheckpointVerifier::new(&[note_verifier_key(&origin, &LOG_SEED)])
        .expect("fixed test key")
        .with_witnesses(&[cosignature_verifier_key(WITNESS_NAME, &WITNESS_SEED)], 1)
        .expect("fixed witness key");
    let checkpoint = match verifier.verify(note.as_bytes()) {
        Ok(checkpoint) => {
            assert!(cosigned, "verified without the quorum's cosignature");
            checkpoint
        }
        Err(CheckpointError::Quorum { have: 0, need: 1 }) if !cosigned => return,
        Err(e) => panic!("a well-formed signed note was refused: {e}\n{note}"),
    };
    assert_eq!(checkpoint.origin, origin);
    assert_eq!((checkpoint.size, checkpoint.root), (input.size, input.root));
    assert_eq!(checkpoint.cosigners, vec![WITNESS_NAME.to_string()]);
    assert_eq!(
        checkpoint.body(),
        body.as_bytes(),
        "body() is the signed text"
    );
    let reencoded = signed_note::Note::from_bytes(note.as_bytes())
        .expect("a verified note parses")
        .to_bytes();
    assert_eq!(
        reencoded,
        note.as_bytes(),
        "a verified note re-encodes to itself"
    );

    if let Some((in_signature, at, bit)) = input.tamper {
        let mut bytes = note.clone().into_bytes();
        let (start, len) = if in_signature {
            let start = body.len() + note[body.len()..].find(&log_line).expect("the log's line");
            // The line up to its final newline: name, space, base64.
            (start, log_line.len() - 1)
        } else {
            (0, body.len())
        };
        bytes[start + usize::from(at) % len] ^= 1 << (bit % 8);
        assert!(
            verifier.verify(&bytes).is_err(),
            "a tampered note verified:\n{}",
            String::from_utf8_lossy(&bytes)
        );
    }
});

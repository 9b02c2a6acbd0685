//! Checkpoints are signed exactly as Go's sumdb/note signs them
//! (`testdata/note_vectors.json`), and verified by signed-note rules.

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::TEST_SIGNER_KEY;
use evledger_ledger::{CheckpointVerifier, LogSigner};
use serde::Deserialize;

#[derive(Deserialize)]
struct NoteVectors {
    checkpoint_body: String,
    signed_note: String,
    signer_key: String,
    verifier_key: String,
}

fn vectors() -> NoteVectors {
    serde_json::from_str(include_str!("testdata/note_vectors.json")).expect("vectors parse")
}

fn root_of(body: &str) -> [u8; 32] {
    let line = body.lines().nth(2).expect("root line");
    B64.decode(line).unwrap().try_into().unwrap()
}

#[test]
fn signs_the_reference_note_byte_for_byte() {
    let v = vectors();
    assert_eq!(v.signer_key, TEST_SIGNER_KEY);
    let signer = LogSigner::from_signer_key(&v.signer_key).unwrap();
    assert_eq!(signer.verifier_key(), v.verifier_key);
    assert_eq!(signer.origin(), "log.example/evidence");
    let signed = signer.sign(1000, root_of(&v.checkpoint_body)).unwrap();
    assert_eq!(signed.note, v.signed_note);
}

#[test]
fn verifies_the_reference_note() {
    let v = vectors();
    let verifier = CheckpointVerifier::new(&[&v.verifier_key]).unwrap();
    let cp = verifier.verify(v.signed_note.as_bytes()).unwrap();
    assert_eq!(cp.size, 1000);
    assert_eq!(cp.root, root_of(&v.checkpoint_body));
    assert_eq!(cp.origin, "log.example/evidence");
}

/// A signature line by another key, as a witness would add.
fn foreign_signature(name: &str, n: u8) -> String {
    let (skey, _) = LogSigner::generate(name).map(|(s, k)| (k, s)).unwrap();
    let other = LogSigner::from_signer_key(&skey).unwrap();
    let signed = other.sign(1000 + u64::from(n), [n; 32]).unwrap();
    signed.note.lines().last().unwrap().to_string() + "\n"
}

#[test]
fn ignores_unknown_signers_and_accepts_sixteen_signatures() {
    let v = vectors();
    let verifier = CheckpointVerifier::new(&[&v.verifier_key]).unwrap();
    let mut note = v.signed_note.clone();
    for n in 0..15 {
        note.push_str(&foreign_signature(&format!("witness{n}.example"), n));
    }
    assert_eq!(note.matches('—').count(), 16);
    assert!(verifier.verify(note.as_bytes()).is_ok());
    // The log's own signature placed last among strangers works too.
    let (text, log_sig) = v.signed_note.split_once("\n\n").unwrap();
    let reordered = format!(
        "{text}\n\n{}{log_sig}",
        foreign_signature("witness.example", 1)
    );
    assert!(verifier.verify(reordered.as_bytes()).is_ok());
}

#[test]
fn rejects_malformed_and_forged_notes() {
    let v = vectors();
    let verifier = CheckpointVerifier::new(&[&v.verifier_key]).unwrap();
    let tampered = v.signed_note.replace("\n1000\n", "\n1001\n");
    let only_strangers = format!(
        "{}\n\n{}",
        v.checkpoint_body.trim_end_matches('\n'),
        foreign_signature("witness.example", 2)
    );
    let cases = [
        ("tampered size", tampered),
        ("no signatures", format!("{}\n", v.checkpoint_body)),
        ("no blank line", v.signed_note.replace("\n\n", "\n")),
        ("unknown signer only", only_strangers),
        ("bad base64", v.signed_note.replace("r/SAR01", "!!!!!!!")),
        ("empty", String::new()),
        (
            "body not a checkpoint",
            v.signed_note.replace("\n1000\n", "\nabc\n"),
        ),
    ];
    for (what, note) in cases {
        assert!(verifier.verify(note.as_bytes()).is_err(), "{what} accepted");
    }
    assert!(CheckpointVerifier::new(&["not-a-key"]).is_err());
    assert!(LogSigner::from_signer_key("PRIVATE+KEY+x+00000000+AQ==").is_err());
}

#[test]
fn payload_signatures_verify_with_the_log_key_and_never_pass_for_notes() {
    use evledger_ledger::checkpoint::{payload_message, verify_payload};
    let signer = LogSigner::from_signer_key(TEST_SIGNER_KEY).unwrap();
    let vkey = signer.verifier_key().to_string();
    let signature = signer.sign_payload("ctx.v1", b"event bytes").unwrap();
    assert!(verify_payload(&vkey, "ctx.v1", b"event bytes", &signature).is_ok());
    assert!(verify_payload(&vkey, "ctx.v2", b"event bytes", &signature).is_err());
    assert!(verify_payload(&vkey, "ctx.v1", b"event bytez", &signature).is_err());
    let (other, _) = LogSigner::generate("example.com/other").unwrap();
    assert!(verify_payload(other.verifier_key(), "ctx.v1", b"event bytes", &signature).is_err());
    assert!(verify_payload("not a key", "ctx.v1", b"event bytes", &signature).is_err());
    // The signed message starts with a line no checkpoint origin equals.
    let message = payload_message("ctx.v1", b"x");
    assert!(message.starts_with(b"evledger signed payload v1\nctx.v1\n"));
}

//! What checking one submission costs, step by step: `cargo bench -p
//! evledger-entry --bench submission`. Prints the median time per entry
//! of each step over pre-signed DSSE submissions (Ed25519, one signer, a
//! small in-toto statement like `evledger bench append` sends), and over
//! Rekor v2 hashedrekord requests (P-256), so that a change to the request
//! path can be measured without a server.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::Signer;
use evledger_entry::dsse::pae;
use evledger_entry::keys::{KnownKey, PublicKey};
use evledger_entry::Entry;
use serde_json::json;

const ENTRIES: usize = 2_000;
const ROUNDS: usize = 7;

fn submissions() -> (Vec<Vec<u8>>, String) {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let pem = key
        .verifying_key()
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .expect("pem");
    let bodies = (0..ENTRIES)
        .map(|i| {
            let statement = json!({
                "_type": "https://in-toto.io/Statement/v1",
                "subject": [{"name": format!("artifact-{i}.tar.gz"),
                             "digest": {"sha256": format!("{i:064x}")}}],
                "predicateType": "https://slsa.dev/provenance/v1",
                "predicate": {"buildDefinition": {"buildType": "https://evledger.dev/bench/v1"}},
            });
            let payload = serde_json::to_vec(&statement).expect("json");
            let sig = key.sign(&pae("application/vnd.in-toto+json", &payload));
            serde_json::to_vec(&json!({
                "kind": "dsse",
                "spec": {
                    "envelope": {
                        "payloadType": "application/vnd.in-toto+json",
                        "payload": B64.encode(&payload),
                        "signatures": [{"sig": B64.encode(sig.to_bytes())}],
                    },
                    "verifiers": [pem],
                },
            }))
            .expect("json")
        })
        .collect();
    (bodies, pem)
}

/// CPU time this thread has used: unlike wall time, it does not grow when
/// other processes share the cores.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Median over [`ROUNDS`] of the CPU time per entry of `step` run on
/// every body.
fn per_entry(bodies: &[Vec<u8>], mut step: impl FnMut(&[u8])) -> Duration {
    let mut rounds: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let started = thread_cpu();
            for body in bodies {
                step(body);
            }
            (thread_cpu() - started) / bodies.len() as u32
        })
        .collect();
    rounds.sort();
    rounds[ROUNDS / 2]
}

fn main() {
    let (bodies, pem) = submissions();
    let report = |name: &str, d: Duration| println!("{name:<44} {:>8.2} µs", d.as_secs_f64() * 1e6);
    report(
        "Entry::from_submission (all of it)",
        per_entry(&bodies, |b| {
            Entry::from_submission(b).expect("valid");
        }),
    );
    report(
        "  JSON parse of the body (serde_json::Value)",
        per_entry(&bodies, |b| {
            serde_json::from_slice::<serde_json::Value>(b).expect("json");
        }),
    );
    report(
        "  PublicKey::from_pem",
        per_entry(&bodies, |_| {
            PublicKey::from_pem(&pem).expect("key");
        }),
    );
    report(
        "  KnownKey::parse (a key seen before)",
        per_entry(&bodies, |_| {
            KnownKey::parse(&pem).expect("key");
        }),
    );
    let key = PublicKey::from_pem(&pem).expect("key");
    report(
        "  PublicKey::to_pem + keyid",
        per_entry(&bodies, |_| {
            std::hint::black_box((key.to_pem(), key.keyid()));
        }),
    );
    let message = pae("application/vnd.in-toto+json", b"{\"a\":1}");
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let sig = signing.sign(&message).to_bytes();
    report(
        "  Ed25519 verify_strict",
        per_entry(&bodies, |_| {
            assert!(key.verify(&message, &sig));
        }),
    );
    let logged: Vec<Vec<u8>> = bodies
        .iter()
        .map(|b| Entry::from_submission(b).expect("valid").leaf)
        .collect();
    let spec: serde_json::Value = serde_json::from_slice(&logged[0]).expect("json");
    report(
        "  canonical JSON (RFC 8785) of a logged entry",
        per_entry(&bodies, |_| {
            evledger_entry::canonical_json(&spec).expect("canonical");
        }),
    );
    let payload = serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "artifact-1.tar.gz", "digest": {"sha256": format!("{:064x}", 1)}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {"buildType": "https://evledger.dev/bench/v1"}},
    }))
    .expect("json");
    report(
        "  in-toto Statement::parse",
        per_entry(&bodies, |_| {
            evledger_entry::intoto::Statement::parse(&payload).expect("statement");
        }),
    );
    report(
        "Entry::parse_logged (what the indexer reads)",
        per_entry(&logged, |l| {
            Entry::parse_logged(l).expect("logged");
        }),
    );
    // Rekor v2 hashedrekords, ECDSA P-256 signatures over artifact digests.
    let requests = rekor_requests();
    report(
        "Entry::from_rekor_request (hashedrekord, P-256)",
        per_entry(&requests, |b| {
            Entry::from_rekor_request(b).expect("valid");
        }),
    );
    let rekor_logged: Vec<Vec<u8>> = requests
        .iter()
        .map(|b| Entry::from_rekor_request(b).expect("valid").leaf)
        .collect();
    report(
        "Entry::parse_logged of a Rekor v2 hashedrekord",
        per_entry(&rekor_logged, |l| {
            Entry::parse_logged(l).expect("logged");
        }),
    );
}

fn rekor_requests() -> Vec<Vec<u8>> {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use sha2::Digest;
    let key = p256::ecdsa::SigningKey::from_slice(&[9; 32]).expect("key");
    let spki = key.verifying_key().to_public_key_der().expect("der");
    (0..ENTRIES)
        .map(|i| {
            let digest = sha2::Sha256::digest(format!("artifact-{i}"));
            let sig: p256::ecdsa::Signature = key.sign_prehash(&digest).expect("sign");
            serde_json::to_vec(&json!({"hashedRekordRequestV002": {
                "digest": B64.encode(digest),
                "signature": {"content": B64.encode(sig.to_der().as_bytes()), "verifier": {
                    "publicKey": {"rawBytes": B64.encode(spki.as_bytes())},
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}}))
            .expect("json")
        })
        .collect()
}

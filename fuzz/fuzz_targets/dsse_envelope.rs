//! DSSE submissions built from fuzz-chosen parts and signed here with fixed
//! test keys (`evledger_entry::Entry::from_submission`, `dsse`, `keys`), so
//! the fuzzer reaches past the signature checks: payload type and bytes (or
//! an in-toto statement from fuzz-chosen fields), which keys sign, in what
//! order, each signature as DER or raw `r||s`, high or low S, every base64
//! flavour DSSE allows, PEM with LF or CRLF and surrounding white space,
//! any `keyid`, extra verifiers and repeated signers, and one flipped bit.
//!
//! Properties: the submission is accepted exactly when the rules say
//! (every verifier signed once, 1 to `MAX_SIGNATURES`, non-empty type, a
//! valid statement for in-toto payloads, nothing tampered); an accepted one
//! logs the same leaf as the plain spelling of the same signatures (one
//! signed statement, one leaf); the leaf is at most `MAX_ENTRY_SIZE`, reads
//! back with `from_leaf` unchanged, and every logged signature verifies
//! over the PAE with the verifier logged beside it (checked with the key
//! crates directly, PAE built here from the DSSE spec).
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use evledger_entry::dsse::MAX_SIGNATURES;
use evledger_entry::intoto::{Statement, IN_TOTO_PAYLOAD_TYPE, STATEMENT_V1};
use evledger_entry::{Entry, EntryBody, EntryError};
use evledger_tlog::tiles::MAX_ENTRY_SIZE;
use libfuzzer_sys::fuzz_target;
use p256::pkcs8::LineEnding;
use serde_json::{json, Value};

/// Ed25519 keys 0 and 1, P-256 keys 2 and 3.
const KEYS: usize = 4;

enum TestKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

fn keys() -> &'static [TestKey; KEYS] {
    static TEST_KEYS: OnceLock<[TestKey; KEYS]> = OnceLock::new();
    TEST_KEYS.get_or_init(|| {
        let p256_key = |b: u8| {
            TestKey::P256(p256::ecdsa::SigningKey::from_bytes(&[b; 32].into()).expect("scalar"))
        };
        [
            TestKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[0x11; 32])),
            TestKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&[0x12; 32])),
            p256_key(0x21),
            p256_key(0x22),
        ]
    })
}

impl TestKey {
    fn pem(&self, ending: LineEnding) -> String {
        match self {
            Self::Ed25519(k) => k.verifying_key().to_public_key_pem(ending),
            Self::P256(k) => k.verifying_key().to_public_key_pem(ending),
        }
        .expect("encoding a test key")
    }

    /// The signature in the plain spelling (Ed25519 bytes, low-S DER), and
    /// in the one `choice` asks for.
    fn sign(&self, message: &[u8], choice: &SignerChoice) -> (Vec<u8>, Vec<u8>) {
        match self {
            Self::Ed25519(k) => {
                let sig = ed25519_dalek::Signer::sign(k, message).to_bytes().to_vec();
                (sig.clone(), sig)
            }
            Self::P256(k) => {
                let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(k, message);
                let low = sig.normalize_s().unwrap_or(sig);
                let chosen = if choice.high_s {
                    let (r, s) = low.split_scalars();
                    p256::ecdsa::Signature::from_scalars(r, -*s).expect("n - s is a scalar")
                } else {
                    low
                };
                let chosen = if choice.raw {
                    chosen.to_bytes().to_vec()
                } else {
                    chosen.to_der().as_bytes().to_vec()
                };
                (low.to_der().as_bytes().to_vec(), chosen)
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
struct SignerChoice {
    key: u8,
    raw: bool,
    high_s: bool,
    base64: u8,
    keyid: Option<String>,
}

/// An in-toto subject: a name and its digests.
#[derive(Arbitrary, Debug)]
struct SubjectChoice {
    name: Option<String>,
    digests: Vec<DigestChoice>,
}

/// A digest: one of four algorithm names (or `other_alg`) and the bytes,
/// written as lowercase hex.
#[derive(Arbitrary, Debug)]
struct DigestChoice {
    alg: u8,
    other_alg: String,
    bytes: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum Payload {
    Bytes(Vec<u8>),
    Statement {
        statement_type: bool,
        subjects: Vec<SubjectChoice>,
        predicate_type: String,
        predicate: Option<Vec<(String, String)>>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    in_toto: bool,
    payload_type: String,
    payload: Payload,
    payload_base64: u8,
    signers: Vec<SignerChoice>,
    extra_verifiers: Vec<u8>,
    verifier_order: u64,
    pem_style: u8,
    tamper: Option<(Option<u8>, u16, u8)>,
}

/// DSSE v1 PAE, from the spec: `DSSEv1 SP len(type) SP type SP len(body) SP body`.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

fn encode(flavour: u8, bytes: &[u8]) -> String {
    match flavour % 4 {
        0 => STANDARD.encode(bytes),
        1 => STANDARD_NO_PAD.encode(bytes),
        2 => URL_SAFE.encode(bytes),
        _ => URL_SAFE_NO_PAD.encode(bytes),
    }
}

fn statement(
    statement_type: bool,
    subjects: &[SubjectChoice],
    predicate_type: &str,
    predicate: &Option<Vec<(String, String)>>,
) -> Vec<u8> {
    const ALGS: [&str; 4] = ["sha256", "sha512", "sha1", "gitCommit"];
    let subject: Vec<Value> = subjects
        .iter()
        .map(|subject| {
            let digest: serde_json::Map<String, Value> = subject
                .digests
                .iter()
                .map(|d| {
                    let alg = ALGS
                        .get(usize::from(d.alg))
                        .copied()
                        .unwrap_or(&d.other_alg);
                    (alg.to_string(), Value::String(hex::encode(&d.bytes)))
                })
                .collect();
            json!({"name": subject.name, "digest": digest})
        })
        .collect();
    let mut doc = json!({
        "_type": if statement_type { STATEMENT_V1 } else { "https://in-toto.io/Statement/v0.1" },
        "subject": subject,
        "predicateType": predicate_type,
    });
    if let Some(fields) = predicate {
        let fields: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        doc["predicate"] = Value::Object(fields);
    }
    serde_json::to_vec(&doc).expect("encoding JSON")
}

fn submission(
    payload_type: &str,
    payload: String,
    signatures: Vec<Value>,
    pems: Vec<String>,
) -> Vec<u8> {
    let body = json!({
        "kind": "dsse",
        "spec": {
            "envelope": {"payloadType": payload_type, "payload": payload, "signatures": signatures},
            "verifiers": pems,
        },
    });
    serde_json::to_vec(&body).expect("encoding JSON")
}

/// Checks a logged signature with the key crates directly.
fn logged_signature_verifies(pem: &str, message: &[u8], sig: &[u8]) -> bool {
    if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
        return ed25519_dalek::Signature::from_slice(sig)
            .is_ok_and(|s| key.verify_strict(message, &s).is_ok());
    }
    let key = p256::ecdsa::VerifyingKey::from_public_key_pem(pem).expect("a logged key");
    let Ok(sig) = p256::ecdsa::Signature::from_der(sig) else {
        return false;
    };
    sig.normalize_s().is_none()
        && p256::ecdsa::signature::Verifier::verify(&key, message, &sig).is_ok()
}

fuzz_target!(|input: Input| {
    let keys = keys();
    let payload_type = if input.in_toto {
        IN_TOTO_PAYLOAD_TYPE.to_string()
    } else {
        input.payload_type.clone()
    };
    let mut payload = match &input.payload {
        Payload::Bytes(bytes) => bytes.clone(),
        Payload::Statement {
            statement_type,
            subjects,
            predicate_type,
            predicate,
        } => statement(*statement_type, subjects, predicate_type, predicate),
    };
    let message = pae(&payload_type, &payload);
    // At most 2 * KEYS signatures: enough to repeat every key.
    let signers: Vec<&SignerChoice> = input.signers.iter().take(2 * KEYS).collect();
    let mut plain = Vec::new();
    let mut signatures = Vec::new();
    let mut signed = [false; KEYS];
    let mut repeated = false;
    for (i, choice) in signers.iter().enumerate() {
        let k = usize::from(choice.key) % KEYS;
        repeated |= signed[k];
        signed[k] = true;
        let (plain_sig, mut sig) = keys[k].sign(&message, choice);
        if let Some((Some(which), at, bit)) = input.tamper {
            if usize::from(which) % signers.len() == i {
                let at = usize::from(at) % sig.len();
                sig[at] ^= 1 << (bit % 8);
            }
        }
        plain.push((k, plain_sig));
        let mut signature = json!({"sig": encode(choice.base64, &sig)});
        if let Some(keyid) = &choice.keyid {
            signature["keyid"] = Value::String(keyid.clone());
        }
        signatures.push(signature);
    }
    let mut verifier_keys: Vec<usize> = (0..KEYS).filter(|k| signed[*k]).collect();
    let mut unused = false;
    for extra in &input.extra_verifiers {
        let k = usize::from(*extra) % KEYS;
        if !verifier_keys.contains(&k) {
            verifier_keys.push(k);
            unused = true;
        }
    }
    // A fuzz-chosen order of the verifiers.
    let mut order = input.verifier_order;
    for i in (1..verifier_keys.len()).rev() {
        verifier_keys.swap(i, (order % (i as u64 + 1)) as usize);
        order /= i as u64 + 1;
    }
    let pems: Vec<String> = verifier_keys
        .iter()
        .map(|k| {
            let pem = keys[*k].pem(if input.pem_style & 1 == 0 {
                LineEnding::LF
            } else {
                LineEnding::CRLF
            });
            if input.pem_style & 2 == 0 {
                pem
            } else {
                format!("\n  {pem}\t\n")
            }
        })
        .collect();
    let tampered_payload = matches!(input.tamper, Some((None, _, _))) && !payload.is_empty();
    if let Some((None, at, bit)) = input.tamper {
        let at = usize::from(at) % payload.len().max(1);
        if let Some(byte) = payload.get_mut(at) {
            *byte ^= 1 << (bit % 8);
        }
    }
    let tampered =
        tampered_payload || matches!(input.tamper, Some((Some(_), _, _))) && !signers.is_empty();

    let body = submission(
        &payload_type,
        encode(input.payload_base64, &payload),
        signatures,
        pems,
    );
    let result = Entry::from_submission(&body);

    let statement_ok = payload_type != IN_TOTO_PAYLOAD_TYPE || Statement::parse(&payload).is_ok();
    let expected = !payload_type.is_empty()
        && !signers.is_empty()
        && signers.len() <= MAX_SIGNATURES
        && !repeated
        && !unused
        && !tampered
        && statement_ok;
    let entry = match result {
        Ok(entry) => {
            assert!(
                expected,
                "accepted a submission the rules refuse: {input:?}"
            );
            entry
        }
        Err(EntryError::TooLarge(n)) if expected => {
            assert!(n > MAX_ENTRY_SIZE);
            return;
        }
        Err(e) => {
            assert!(
                !expected,
                "refused a valid submission: {e}\n{}",
                String::from_utf8_lossy(&body)
            );
            return;
        }
    };

    // One signed statement, one leaf: the plain spelling logs the same bytes.
    plain.sort_by_key(|(k, _)| *k);
    let plain_body = submission(
        &payload_type,
        STANDARD.encode(&payload),
        plain
            .iter()
            .map(|(_, sig)| json!({"sig": STANDARD.encode(sig)}))
            .collect(),
        plain
            .iter()
            .map(|(k, _)| keys[*k].pem(LineEnding::LF))
            .collect(),
    );
    let reference = Entry::from_submission(&plain_body).expect("the plain spelling is accepted");
    assert_eq!(
        entry.leaf, reference.leaf,
        "two spellings of one envelope, two leaves"
    );

    assert!(entry.leaf.len() <= MAX_ENTRY_SIZE);
    let again = Entry::from_leaf(&entry.leaf).expect("a logged leaf reads back");
    assert_eq!(again.leaf, entry.leaf);
    let EntryBody::Dsse(dsse) = &entry.body else {
        panic!("a dsse submission logged as another kind");
    };
    assert_eq!(dsse.payload, payload);
    assert_eq!(dsse.spec.verifiers.len(), signers.len());
    assert_eq!(dsse.spec.envelope.signatures.len(), signers.len());
    for (pem, signature) in dsse
        .spec
        .verifiers
        .iter()
        .zip(&dsse.spec.envelope.signatures)
    {
        let sig = STANDARD
            .decode(&signature.sig)
            .expect("logged base64 is standard");
        assert!(
            logged_signature_verifies(pem, &message, &sig),
            "logged signature does not verify"
        );
        let keyid = signature.keyid.as_deref().unwrap_or_default();
        assert!(keyid.len() == 64 && keyid.bytes().all(|b| b.is_ascii_hexdigit()));
    }
});

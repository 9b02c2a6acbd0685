//! PEM public keys (`evledger_entry::keys::PublicKey`), the verifiers of
//! DSSE submissions and the `publicKey` of searches.
//!
//! Properties: an accepted PEM is at most `MAX_PEM_SIZE` bytes; its
//! canonical PEM parses back to the same key (same DER) and is a fixed
//! point; fingerprint and key ID are 64 hex digits, the fingerprint being
//! SHA-256 of the DER. Built from fuzz bytes as an Ed25519 key or a SEC1
//! P-256 point, a key is accepted exactly when the curve crate accepts the
//! point. A signature `verify_canonical` accepts comes back in a form it
//! accepts again, unchanged (one canonical form per signature).
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use ed25519_dalek::pkcs8::EncodePublicKey;
use evledger_entry::keys::{PublicKey, MAX_PEM_SIZE};
use libfuzzer_sys::fuzz_target;
use p256::pkcs8::LineEnding;
use sha2::{Digest, Sha256};

/// Longest SEC1 point tried: its SPKI still has short-form DER lengths.
const MAX_POINT: usize = 97;

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// A PEM as submitted.
    Pem(&'a str),
    /// An Ed25519 public key's 32 bytes, wrapped in SPKI PEM here.
    Ed25519([u8; 32]),
    /// A SEC1 P-256 point (compressed or not), wrapped in SPKI PEM here.
    P256(&'a [u8]),
    /// A signature over a message, checked with the fixed test keys.
    Signature {
        p256: bool,
        message: &'a [u8],
        signature: &'a [u8],
    },
}

fn test_keys() -> &'static (PublicKey, PublicKey) {
    static KEYS: OnceLock<(PublicKey, PublicKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let ed = ed25519_dalek::SigningKey::from_bytes(&[0x11; 32]).verifying_key();
        let p = p256::ecdsa::SigningKey::from_bytes(&[0x21; 32].into()).expect("scalar");
        let pem =
            |r: Result<String, _>| PublicKey::from_pem(&r.expect("test key")).expect("test key");
        (
            pem(ed.to_public_key_pem(LineEnding::LF)),
            pem(p.verifying_key().to_public_key_pem(LineEnding::LF)),
        )
    })
}

fn check_accepted(input: &str, key: &PublicKey) {
    assert!(input.len() <= MAX_PEM_SIZE);
    let pem = key.to_pem();
    let again = PublicKey::from_pem(&pem).expect("a canonical PEM parses");
    assert_eq!(again.to_der(), key.to_der());
    assert_eq!(again.to_pem(), pem, "the canonical PEM is a fixed point");
    assert_eq!(key.fingerprint(), hex::encode(Sha256::digest(key.to_der())));
    let keyid = key.keyid();
    assert!(keyid.len() == 64 && keyid.bytes().all(|b| b.is_ascii_hexdigit()));
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Pem(text) => {
        if let Some(key) = PublicKey::from_pem(text) {
            check_accepted(text, &key);
        }
    }
    Input::Ed25519(bytes) => {
        let curve = ed25519_dalek::VerifyingKey::from_bytes(&bytes);
        // The SPKI of an Ed25519 key (RFC 8410) is a fixed prefix and the key.
        let mut der = hex::decode("302a300506032b6570032100").expect("hex");
        der.extend_from_slice(&bytes);
        let pem = pem_of(&der);
        let key = PublicKey::from_pem(&pem);
        assert_eq!(key.is_some(), curve.is_ok(), "{pem}");
        if let Some(key) = key {
            assert!(matches!(key, PublicKey::Ed25519(_)));
            assert_eq!(key.to_der(), der);
            check_accepted(&pem, &key);
        }
    }
    Input::P256(point) => {
        let curve = p256::ecdsa::VerifyingKey::from_sec1_bytes(point);
        // Short-form DER lengths only (a point is 33 or 65 bytes).
        if point.len() > MAX_POINT {
            return;
        }
        let len = point.len() as u8 + 1;
        // SPKI of an EC key (RFC 5480): id-ecPublicKey, prime256v1, the point.
        let mut der = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107").expect("hex");
        der.extend_from_slice(&[0x03, len, 0x00]);
        der.extend_from_slice(point);
        der[1] = (der.len() - 2) as u8;
        let key = PublicKey::from_pem(&pem_of(&der));
        assert_eq!(key.is_some(), curve.is_ok(), "point {}", hex::encode(point));
        if let Some(key) = key {
            assert!(matches!(key, PublicKey::P256(_)));
            check_accepted("", &key);
        }
    }
    Input::Signature {
        p256,
        message,
        signature,
    } => {
        let (ed, p) = test_keys();
        let key = if p256 { p } else { ed };
        if let Some(canonical) = key.verify_canonical(message, signature) {
            assert_eq!(
                key.verify_canonical(message, &canonical),
                Some(canonical.clone())
            );
            assert!(key.verify(message, &canonical));
        }
    }
});

fn pem_of(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

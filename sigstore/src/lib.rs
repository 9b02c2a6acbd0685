//! Sigstore's formats for an evledger log, so that Sigstore clients write
//! to it and Sigstore verifiers accept what it hands out:
//!
//! - [`LogKey`]: the log's Ed25519 checkpoint key as Sigstore names it
//!   (the C2SP key hash `SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)` as log ID);
//! - [`tlog_entry::TransparencyLogEntry`]: Rekor v2's answer to a write,
//!   and the tlog entry of a bundle;
//! - [`bundle`]: Sigstore bundles v0.3 of Rekor v2 entries, and their
//!   offline check ([`bundle::verify`]);
//! - [`trust`]: the `trusted_root.json` and client trust config that name
//!   this log.
//!
//! Protobuf JSON conventions hold throughout: lowerCamelCase members, bytes
//! in standard padded base64, 64-bit integers as strings.

pub mod bundle;
pub mod tlog_entry;
pub mod trust;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use sha2::{Digest as _, Sha256};

/// The note signature type of Ed25519 keys.
const NOTE_ED25519: u8 = 0x01;

/// Why Sigstore material cannot be made or accepted.
#[derive(Debug, thiserror::Error)]
pub enum SigstoreError {
    /// A verifier key that is not `<name>+<id>+<base64(0x01 ‖ key)>`.
    #[error("not an Ed25519 note verifier key: {0}")]
    VerifierKey(String),
    /// Input that is not the expected JSON.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// What was read.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// A check failed.
    #[error("{0}")]
    Failed(String),
}

/// The log's checkpoint key, as Sigstore names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKey {
    /// The key name (the log's origin).
    pub name: String,
    /// The raw Ed25519 public key.
    pub public: [u8; 32],
}

impl LogKey {
    /// Reads a note verifier key `<name>+<key ID hex>+<base64(0x01 ‖ key)>`.
    ///
    /// # Errors
    ///
    /// [`SigstoreError::VerifierKey`] if it is not one.
    pub fn from_verifier_key(vkey: &str) -> Result<Self, SigstoreError> {
        use signed_note::Verifier as _;
        let vkey = vkey.trim();
        let bad = || SigstoreError::VerifierKey(vkey.to_string());
        // signed_note checks the form, the name, the type byte and the key
        // ID, as for every verifier key of the log; only the key's bytes
        // are taken here.
        let verifier = signed_note::StandardVerifier::new(vkey).map_err(|_| bad())?;
        // `<name>+<id>+<base64>`; the base64 may itself hold `+`.
        let key = vkey
            .splitn(3, '+')
            .nth(2)
            .and_then(|key| STANDARD.decode(key).ok())
            .ok_or_else(bad)?;
        let public = match key.split_first() {
            Some((&NOTE_ED25519, public)) => <[u8; 32]>::try_from(public).map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        Ok(Self {
            name: verifier.name().to_string(),
            public,
        })
    }

    /// The key hash: SHA-256(name ‖ "\n" ‖ 0x01 ‖ key), Rekor v2's log ID.
    pub fn key_id(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.name.as_bytes());
        hasher.update(b"\n");
        hasher.update([NOTE_ED25519]);
        hasher.update(self.public);
        hasher.finalize().into()
    }

    /// The first four bytes of the key hash: the hint in note signatures.
    pub fn hint(&self) -> u32 {
        let id = self.key_id();
        u32::from_be_bytes([id[0], id[1], id[2], id[3]])
    }

    /// The key as a DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    ///
    /// [`SigstoreError::VerifierKey`] if the bytes are not an Ed25519 point.
    pub fn spki_der(&self) -> Result<Vec<u8>, SigstoreError> {
        ed25519_dalek::VerifyingKey::from_bytes(&self.public)
            .ok()
            .and_then(|k| k.to_public_key_der().ok())
            .map(|d| d.into_vec())
            .ok_or_else(|| SigstoreError::VerifierKey(self.name.clone()))
    }
}

/// Standard padded base64, as protojson writes bytes.
pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_id_is_the_note_key_hash() {
        let (signer, _) =
            evledger_tlog::checkpoint::LogSigner::generate("example.com/log").expect("key");
        let key = LogKey::from_verifier_key(signer.verifier_key()).expect("vkey");
        assert_eq!(key.name, "example.com/log");
        // The verifier key carries the hash's first four bytes, in hex.
        assert!(signer
            .verifier_key()
            .starts_with(&format!("example.com/log+{:08x}+", key.hint())));
        assert!(LogKey::from_verifier_key("example.com/log+00000000+AQ==").is_err());
        let (name, rest) = signer.verifier_key().split_once('+').expect("vkey");
        let other_id = format!("{name}+{:08x}{}", key.hint() ^ 1, &rest[8..]);
        assert!(LogKey::from_verifier_key(&other_id).is_err(), "{other_id}");
    }
}

//! Public keys that verify DSSE signatures: Ed25519 and ECDSA P-256, given as
//! PEM SubjectPublicKeyInfo (RFC 5280 §4.1.2.7, RFC 8410, RFC 5480).
//!
//! ```text
//! -----BEGIN PUBLIC KEY-----
//! MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=
//! -----END PUBLIC KEY-----
//! ```

use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use p256::pkcs8::LineEnding;
use sha2::{Digest, Sha256};

/// Largest PEM key accepted.
pub const MAX_PEM_SIZE: usize = 4096;

/// A signature-verifying public key.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// Ed25519 (RFC 8032), signing the message itself.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// ECDSA over P-256 with SHA-256; signatures DER or fixed 64-byte r||s.
    P256(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Parses a PEM SubjectPublicKeyInfo of a supported algorithm.
    pub fn from_pem(pem: &str) -> Option<Self> {
        if pem.len() > MAX_PEM_SIZE {
            return None;
        }
        let pem = pem.trim();
        if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            return Some(Self::Ed25519(key));
        }
        p256::ecdsa::VerifyingKey::from_public_key_pem(pem)
            .ok()
            .map(Self::P256)
    }

    /// The canonical PEM encoding (LF line endings), as stored in entries.
    pub fn to_pem(&self) -> String {
        let pem = match self {
            Self::Ed25519(key) => key.to_public_key_pem(LineEnding::LF),
            Self::P256(key) => key.to_public_key_pem(LineEnding::LF),
        };
        // Encoding a key that was just decoded cannot fail.
        pem.unwrap_or_default()
    }

    /// DER SubjectPublicKeyInfo.
    pub fn to_der(&self) -> Vec<u8> {
        let der = match self {
            Self::Ed25519(key) => key.to_public_key_der(),
            Self::P256(key) => key.to_public_key_der(),
        };
        der.map(|d| d.into_vec()).unwrap_or_default()
    }

    /// The key's fingerprint: SHA-256 of its DER SubjectPublicKeyInfo, hex.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(self.to_der()))
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .map(|sig| key.verify_strict(message, &sig).is_ok())
                .unwrap_or(false),
            Self::P256(key) => {
                use p256::ecdsa::signature::Verifier;
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .or_else(|_| p256::ecdsa::Signature::from_slice(signature));
                sig.map(|sig| key.verify(message, &sig).is_ok())
                    .unwrap_or(false)
            }
        }
    }
}

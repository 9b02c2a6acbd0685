//! Public keys that verify DSSE signatures: Ed25519 and ECDSA P-256, given as
//! PEM SubjectPublicKeyInfo (RFC 5280 §4.1.2.7, RFC 8410, RFC 5480).
//!
//! ```text
//! -----BEGIN PUBLIC KEY-----
//! MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=
//! -----END PUBLIC KEY-----
//! ```

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use p256::pkcs8::LineEnding;
use sha2::{Digest, Sha256};

/// Largest PEM key accepted.
pub const MAX_PEM_SIZE: usize = 4096;

/// Most PEM texts [`KnownKey::parse`] keeps parsed; when full it starts
/// over. Texts are at most [`MAX_PEM_SIZE`], so the cache holds at most
/// 16 MiB of them however padded; real keys take under 200 bytes each.
pub const KEY_CACHE_CAPACITY: usize = 4096;

/// A verifier key and the encodings an entry logs for it, computed once.
#[derive(Debug, Clone)]
pub struct KnownKey {
    /// The key.
    pub key: PublicKey,
    /// Its canonical PEM ([`PublicKey::to_pem`]).
    pub pem: String,
    /// Its securesystemslib key ID ([`PublicKey::keyid`]).
    pub keyid: String,
    /// Its fingerprint ([`PublicKey::fingerprint`]), which the index keys.
    pub fingerprint: String,
}

/// Keys already parsed, by the exact PEM text they were parsed from.
/// Parsing is a pure function of that text (a valid text always gives the
/// same key, an invalid one is never kept), so an answer from here is the
/// answer parsing would give: a CI signer's key is decoded, and its curve
/// point decompressed, once instead of at every push and every indexing.
static KNOWN_KEYS: LazyLock<RwLock<HashMap<Box<str>, Arc<KnownKey>>>> =
    LazyLock::new(RwLock::default);

impl KnownKey {
    /// [`PublicKey::from_pem`] with its logged encodings, parsed once per
    /// PEM text (up to [`KEY_CACHE_CAPACITY`] texts).
    pub fn parse(pem: &str) -> Option<Arc<Self>> {
        if let Some(known) = read_known().get(pem) {
            return Some(known.clone());
        }
        let key = PublicKey::from_pem(pem)?;
        let known = Arc::new(Self {
            pem: key.to_pem(),
            keyid: key.keyid(),
            fingerprint: key.fingerprint(),
            key,
        });
        let mut cache = KNOWN_KEYS.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= KEY_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(pem.into(), known.clone());
        Some(known)
    }
}

fn read_known() -> std::sync::RwLockReadGuard<'static, HashMap<Box<str>, Arc<KnownKey>>> {
    // The map is whole whatever panicked while holding the lock: every
    // change to it is one insert or one clear.
    KNOWN_KEYS.read().unwrap_or_else(|p| p.into_inner())
}

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

    /// The key ID securesystemslib (the in-toto reference library) computes
    /// for this key, and matches DSSE signatures by: the SHA-256, hex, of
    /// its canonical key JSON
    /// `{"keytype":..,"keyval":{"public":..},"scheme":..}` (securesystemslib
    /// `compute_default_keyid`). The public value is the raw key in hex for
    /// Ed25519 and the PEM SubjectPublicKeyInfo for ECDSA.
    pub fn keyid(&self) -> String {
        let (keytype, scheme, public) = match self {
            Self::Ed25519(key) => ("ed25519", "ed25519", hex::encode(key.as_bytes())),
            Self::P256(_) => ("ecdsa", "ecdsa-sha2-nistp256", self.to_pem()),
        };
        // securesystemslib's canonical JSON sorts keys, adds no white space
        // and escapes only `"` and `\` (a PEM's newlines stay raw, unlike
        // RFC 8785). Hex and PEM hold neither character, so no escaping.
        let canonical = format!(
            r#"{{"keytype":"{keytype}","keyval":{{"public":"{public}"}},"scheme":"{scheme}"}}"#
        );
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The canonical form of `signature` if it is this key's signature of
    /// `message`, else `None`. A key has one signature form per signature:
    /// Ed25519 signatures are checked strictly (canonical S, no small-order
    /// points); an ECDSA signature is accepted as DER or fixed 64-byte
    /// r||s, high or low S, and returned as low-S DER, so the variants a
    /// third party can derive from one signature all log as the same bytes.
    pub fn verify_canonical(&self, message: &[u8], signature: &[u8]) -> Option<Vec<u8>> {
        match self {
            Self::Ed25519(key) => {
                let sig = ed25519_dalek::Signature::from_slice(signature).ok()?;
                key.verify_strict(message, &sig).ok()?;
                Some(sig.to_bytes().to_vec())
            }
            Self::P256(key) => {
                use p256::ecdsa::signature::Verifier;
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .or_else(|_| p256::ecdsa::Signature::from_slice(signature))
                    .ok()?;
                // (r, n - s) verifies whenever (r, s) does: keep the low S.
                let sig = sig.normalize_s().unwrap_or(sig);
                key.verify(message, &sig).ok()?;
                Some(sig.to_der().as_bytes().to_vec())
            }
        }
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verify_canonical(message, signature).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Key IDs securesystemslib 1.6.0 prints for these keys
    /// (`SSlibKey.from_crypto(load_pem_public_key(pem)).keyid`).
    #[test]
    fn keyids_match_securesystemslib() {
        for (pem, keyid) in VECTORS {
            let key = PublicKey::from_pem(pem).expect("test key");
            assert_eq!(key.keyid(), *keyid, "{pem}");
        }
    }

    #[test]
    fn a_known_key_is_what_parsing_its_text_gives() {
        for (pem, keyid) in VECTORS {
            for _ in 0..2 {
                let known = KnownKey::parse(pem).expect("test key");
                let parsed = PublicKey::from_pem(pem).expect("test key");
                assert_eq!(known.keyid, *keyid);
                assert_eq!(known.fingerprint, parsed.fingerprint());
                assert_eq!(known.pem, parsed.to_pem());
                assert_eq!(known.key.to_der(), parsed.to_der());
            }
        }
        // A text that is no key is refused every time, never remembered.
        for _ in 0..2 {
            assert!(KnownKey::parse(
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
            )
            .is_none());
        }
    }

    const VECTORS: &[(&str, &str)] = &[
        (
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA9PXbd5SDHvDLdRxy8k/zhYCUcEVOgzTlqSuoL5fkdSM=\n-----END PUBLIC KEY-----\n",
            "69a2d4ba0b17ddf5bd80408fc56e685f44f198de924e5c77d01e460e52e3f2f9",
        ),
        (
            "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEnmMnH4ZfIhGOmwmHOnsKcuhC2iis\ngBpoHnATI2RhhkURQHI8gXxiycrq88sCUWGyRYwoLT4Ng/pKHJd+DHqdlg==\n-----END PUBLIC KEY-----\n",
            "4e8df95d88d04a6ede9769b16e9337e5c448cc6407e9c69c0df965df2923498b",
        ),
    ];
}

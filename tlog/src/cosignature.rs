//! Witness cosignatures: C2SP tlog-cosignature (<https://c2sp.org/tlog-cosignature>),
//! the Ed25519 `cosignature/v1` type, as note signature lines on a checkpoint.
//!
//! ```text
//! example.com/behind-the-sofa
//! 20852163
//! CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//!
//! — example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
//! — witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==
//! ```
//!
//! The signed message is `cosignature/v1\ntime <unix seconds>\n` followed by
//! the checkpoint body; the signature bytes are the big-endian u64 timestamp
//! and then the 64-byte Ed25519 signature. Key IDs use signature type 0x04:
//! SHA-256(name || 0x0A || 0x04 || public key)[:4]. The verifier key is
//! `<name>+<key ID hex>+<base64(0x04 || public key)>`; the signer key, by
//! analogy with note keys, `PRIVATE+KEY+<name>+<key ID hex>+<base64(0x04 || seed)>`.

use std::path::Path;

use base64::prelude::{Engine, BASE64_STANDARD};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use signed_note::{Signer, Verifier};

use crate::checkpoint::CheckpointError;
use crate::note_keys::{load_or_create_key, SignerKey};

/// Signature type byte of Ed25519 `cosignature/v1` keys.
pub const COSIGNATURE_V1_ALG: u8 = 0x04;

/// Length of a `timestamped_signature`: u64 timestamp and Ed25519 signature.
const TIMESTAMPED_SIGNATURE_SIZE: usize = 8 + 64;

/// The message a `cosignature/v1` signature covers.
fn signed_message(timestamp: u64, checkpoint_body: &[u8]) -> Vec<u8> {
    let mut msg = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    msg.extend_from_slice(checkpoint_body);
    msg
}

fn key_id(name: &str, public: &VerifyingKey) -> u32 {
    let mut key = vec![COSIGNATURE_V1_ALG];
    key.extend_from_slice(public.as_bytes());
    signed_note::key_id(name, &key)
}

/// Signs checkpoints as a witness (an Ed25519 cosigner).
pub struct Cosigner {
    name: String,
    id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Cosigner {
    /// Parses a signer key `PRIVATE+KEY+<name>+<id>+<base64(0x04 || seed)>`.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::SignerKey`] if the key is malformed or its ID is wrong.
    pub fn from_signer_key(skey: &str) -> Result<Self, CheckpointError> {
        let parts = SignerKey::parse(skey, COSIGNATURE_V1_ALG)?;
        let key = SigningKey::from_bytes(&parts.seed);
        let cosigner = Self {
            name: parts.name.to_string(),
            id: key_id(parts.name, &key.verifying_key()),
            key,
        };
        if format!("{:08x}", cosigner.id) != parts.id {
            return Err(CheckpointError::SignerKey);
        }
        Ok(cosigner)
    }

    /// Generates a new cosigner named `name`; returns it and its signer key.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::SignerKey`] if `name` is not a valid key name.
    pub fn generate(name: &str) -> Result<(Self, String), CheckpointError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(CheckpointError::SignerKey);
        }
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let mut seed = vec![COSIGNATURE_V1_ALG];
        seed.extend_from_slice(&key.to_bytes());
        let skey = format!(
            "PRIVATE+KEY+{name}+{:08x}+{}",
            key_id(name, &key.verifying_key()),
            BASE64_STANDARD.encode(seed)
        );
        Ok((Self::from_signer_key(&skey)?, skey))
    }

    /// Loads the signer key from `path`, or generates one named `name` and
    /// writes it there (mode 0600). Returns the cosigner and whether it is new.
    ///
    /// # Errors
    ///
    /// Key file I/O errors and malformed keys.
    pub fn load_or_generate(path: &Path, name: &str) -> Result<(Self, bool), CheckpointError> {
        load_or_create_key(path, Self::from_signer_key, || Self::generate(name))
    }

    /// The witness name (the key name on its signature lines).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key, `<name>+<id>+<base64(0x04 || public key)>`.
    pub fn verifier_key(&self) -> String {
        let mut key = vec![COSIGNATURE_V1_ALG];
        key.extend_from_slice(self.key.verifying_key().as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.id,
            BASE64_STANDARD.encode(key)
        )
    }

    /// The signature line (ending in a newline) cosigning `checkpoint_body`
    /// at `timestamp` (Unix seconds).
    pub fn cosign(&self, checkpoint_body: &[u8], timestamp: u64) -> String {
        let mut bytes = self.id.to_be_bytes().to_vec();
        bytes.extend(self.timestamped_signature(checkpoint_body, timestamp));
        format!("— {} {}\n", self.name, BASE64_STANDARD.encode(bytes))
    }

    /// `timestamped_signature`: the big-endian timestamp, then the signature.
    fn timestamped_signature(&self, checkpoint_body: &[u8], timestamp: u64) -> Vec<u8> {
        // Ed25519 signing cannot fail.
        let signature = self.key.sign(&signed_message(timestamp, checkpoint_body));
        let mut bytes = timestamp.to_be_bytes().to_vec();
        bytes.extend_from_slice(&signature.to_bytes());
        bytes
    }
}

impl Signer for Cosigner {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(self.timestamped_signature(msg, unix_now()))
    }
}

/// Verifies `cosignature/v1` signatures of one witness.
#[derive(Clone, Debug)]
pub struct CosignatureVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// Parses a witness verifier key `<name>+<id>+<base64(0x04 || public key)>`.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::VerifierKey`] if the key is malformed, not of type
    /// 0x04, or its ID does not match.
    pub fn new(vkey: &str) -> Result<Self, CheckpointError> {
        let vkey = vkey.trim();
        let bad = || CheckpointError::VerifierKey(vkey.to_string());
        // The base64 key may itself contain '+'.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let key = BASE64_STANDARD.decode(key).map_err(|_| bad())?;
        let public: [u8; 32] = match key.as_slice() {
            [COSIGNATURE_V1_ALG, public @ ..] => public.try_into().map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        let key = VerifyingKey::from_bytes(&public).map_err(|_| bad())?;
        let expected = key_id(name, &key);
        if !signed_note::is_key_name_valid(name) || format!("{expected:08x}") != id {
            return Err(bad());
        }
        Ok(Self {
            name: name.to_string(),
            id: expected,
            key,
        })
    }

    /// The witness name.
    pub fn witness_name(&self) -> &str {
        &self.name
    }

    /// The verifier key, `<name>+<id>+<base64(0x04 || public key)>`, as
    /// [`CosignatureVerifier::new`] reads it.
    pub fn verifier_key(&self) -> String {
        let mut key = vec![COSIGNATURE_V1_ALG];
        key.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.id,
            BASE64_STANDARD.encode(key)
        )
    }

    /// The witness's Ed25519 public key: what makes two verifier keys the
    /// same witness (a name is only a label; one key under two names is one
    /// witness, and its signature verifies under both).
    pub fn public_key(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }
}

impl Verifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = <&[u8; TIMESTAMPED_SIGNATURE_SIZE]>::try_from(sig) else {
            return false;
        };
        let (timestamp, signature) = sig.split_at(8);
        let timestamp = u64::from_be_bytes(timestamp.try_into().unwrap_or_default());
        if timestamp > i64::MAX as u64 {
            return false;
        }
        let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key
            .verify_strict(&signed_message(timestamp, msg), &signature)
            .is_ok()
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] =
        b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn cosignature_round_trips_and_binds_the_body() {
        let (cosigner, skey) = Cosigner::generate("witness.example/w1").expect("valid name");
        assert!(Cosigner::from_signer_key(&skey).is_ok());
        let verifier = CosignatureVerifier::new(&cosigner.verifier_key()).expect("own key");
        let line = cosigner.cosign(BODY, 1_679_315_147);
        let sig = signed_note::Signature::from_bytes(line.trim_end().as_bytes()).expect("line");
        assert_eq!(sig.id(), verifier.key_id());
        assert!(verifier.verify(BODY, sig.signature()));
        assert!(!verifier.verify(b"example.com/behind-the-sofa\n1\nAA==\n", sig.signature()));
        // The timestamp is signed: changing it breaks the signature.
        let mut forged = sig.signature().to_vec();
        forged[7] ^= 1;
        assert!(!verifier.verify(BODY, &forged));
    }

    #[test]
    fn keys_round_trip_whatever_their_base64() {
        // A key's base64 often holds '+'; 64 keys make missing that unlikely.
        for _ in 0..64 {
            let (cosigner, skey) = Cosigner::generate("w.example/w").expect("valid name");
            assert!(Cosigner::from_signer_key(&skey).is_ok(), "{skey}");
            assert!(CosignatureVerifier::new(&cosigner.verifier_key()).is_ok());
        }
    }

    #[test]
    fn log_keys_are_not_witness_keys() {
        let (_, vkey) = signed_note::generate_key(&mut rand::rngs::OsRng, "log.example");
        assert!(CosignatureVerifier::new(&vkey).is_err());
    }
}

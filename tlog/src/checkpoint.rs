//! Signed checkpoints: C2SP tlog-checkpoint bodies (<https://c2sp.org/tlog-checkpoint>)
//! inside C2SP signed notes (<https://c2sp.org/signed-note>), signed with Ed25519.
//!
//! ```text
//! log.example/evidence
//! 1000
//! x4/d3tc7y7iuPWaiL8v0npFFQnvWbDXtoOMcHoKgxKs=
//!
//! — log.example/evidence r/SAR01zL+NFg5WW4oBe4PVS1R6r0ZlmVpEQw/QzLX8rOuzvnA1Tk...
//! ```
//!
//! Keys use Go's sumdb/note encodings: the signer key
//! `PRIVATE+KEY+<name>+<key ID hex>+<base64(0x01 || seed)>` and the verifier key
//! `<name>+<key ID hex>+<base64(0x01 || public key)>`, where the key ID is the
//! first four bytes of SHA-256(name || 0x0A || 0x01 || public key).

use std::path::Path;

use signed_note::{Note, Signer, StandardSigner, StandardVerifier, Verifier};
use thiserror::Error;
use tlog_tiles::{Checkpoint, Hash};

pub use crate::note_keys::write_private;
use crate::note_keys::{
    load_or_create_key, KeyFileError, MalformedKey, SignerKey, NOTE_ED25519_ALG,
};

/// Largest signed note accepted from anyone (C2SP leaves the bound to the verifier).
pub const MAX_CHECKPOINT_SIZE: usize = 64 * 1024;

/// Environment variable that may hold the log's signer key instead of a file.
pub const SIGNING_KEY_ENV: &str = "EVLEDGER_SIGNING_KEY";

/// Errors of checkpoint signing, parsing and verification.
#[derive(Debug, Error)]
pub enum CheckpointError {
    /// The signer key is not a well-formed Ed25519 note signer key.
    #[error("malformed signer key (expected PRIVATE+KEY+<name>+<id>+<base64>)")]
    SignerKey,
    /// A verifier key is not a well-formed Ed25519 note verifier key.
    #[error("malformed verifier key {0:?}")]
    VerifierKey(String),
    /// The note is larger than [`MAX_CHECKPOINT_SIZE`].
    #[error("checkpoint larger than {MAX_CHECKPOINT_SIZE} bytes")]
    TooLarge,
    /// The note's signature lines or text are malformed.
    #[error("malformed signed note: {0}")]
    MalformedNote(String),
    /// The note's text is not a tlog-checkpoint body.
    #[error("malformed checkpoint body")]
    MalformedBody,
    /// No signature by a trusted key verified.
    #[error("checkpoint not signed by a trusted key: {0}")]
    Unverified(String),
    /// The quorum exceeds the distinct witnesses trusted (a key given
    /// twice is one witness).
    #[error("a quorum of {quorum} needs more than the {witnesses} distinct trusted witness(es)")]
    QuorumUnreachable {
        /// Distinct witness keys given.
        witnesses: usize,
        /// Cosignatures required.
        quorum: usize,
    },
    /// Fewer trusted witnesses cosigned the checkpoint than the policy needs.
    #[error("checkpoint cosigned by {have} trusted witness(es); the quorum is {need}")]
    Quorum {
        /// Trusted witnesses whose cosignature verified.
        have: usize,
        /// Cosignatures required.
        need: usize,
    },
    /// The checkpoint names another log.
    #[error("checkpoint origin {found:?} is not the expected {expected:?}")]
    WrongOrigin {
        /// Origin the verifier was configured for.
        expected: String,
        /// Origin the checkpoint carries.
        found: String,
    },
    /// Reading or writing the key file failed.
    #[error("key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The signature operation failed.
    #[error("signing failed")]
    Signing,
}

impl From<MalformedKey> for CheckpointError {
    fn from(_: MalformedKey) -> Self {
        Self::SignerKey
    }
}

impl From<KeyFileError> for CheckpointError {
    fn from(e: KeyFileError) -> Self {
        Self::KeyFile {
            path: e.path,
            source: e.source,
        }
    }
}

/// A checkpoint together with the signed note that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The log origin (first line).
    pub origin: String,
    /// Tree size the checkpoint commits to.
    pub size: u64,
    /// RFC 6962 root hash of the tree at `size`.
    pub root: [u8; 32],
    /// The whole signed note, as served at `/checkpoint`.
    pub note: String,
    /// Names of the trusted witnesses whose cosignatures verified (empty
    /// when the verifier trusts no witnesses, and for checkpoints just signed).
    pub cosigners: Vec<String>,
}

impl SignedCheckpoint {
    /// The root as a `tlog_tiles` hash.
    pub fn root_hash(&self) -> Hash {
        Hash(self.root)
    }

    /// Parses a note verified before (one this process stored after
    /// verifying it), without checking its signatures again.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::MalformedNote`] or [`CheckpointError::MalformedBody`].
    pub fn parse_unverified(note: &str) -> Result<Self, CheckpointError> {
        let parsed = Note::from_bytes(note.as_bytes())
            .map_err(|e| CheckpointError::MalformedNote(e.to_string()))?;
        let body =
            Checkpoint::from_bytes(parsed.text()).map_err(|_| CheckpointError::MalformedBody)?;
        Ok(Self {
            origin: body.origin().to_string(),
            size: body.size(),
            root: body.hash().0,
            note: note.to_string(),
            cosigners: Vec::new(),
        })
    }

    /// The note's text: the checkpoint body up to and including its last
    /// newline, without the signature lines (what signatures cover).
    pub fn body(&self) -> &[u8] {
        let end = self.note.find("\n\n").map_or(self.note.len(), |i| i + 1);
        &self.note.as_bytes()[..end]
    }
}

/// Signs checkpoints with the log's Ed25519 key.
pub struct LogSigner {
    signer: StandardSigner,
    verifier_key: String,
    origin: String,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("LogSigner")
            .field("verifier_key", &self.verifier_key)
            .finish_non_exhaustive()
    }
}

impl LogSigner {
    /// Builds a signer from a note signer key; the key name is the log origin.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::SignerKey`] if the key is malformed.
    pub fn from_signer_key(skey: &str) -> Result<Self, CheckpointError> {
        let skey = skey.trim();
        let signer = StandardSigner::new(skey).map_err(|_| CheckpointError::SignerKey)?;
        let verifier_key = verifier_key_of(skey)?;
        let origin = signer.name().to_string();
        Ok(Self {
            signer,
            verifier_key,
            origin,
        })
    }

    /// Generates a fresh key for `origin` and returns the signer and its
    /// signer key string (to be stored by the caller).
    ///
    /// # Errors
    ///
    /// [`CheckpointError::SignerKey`] if `origin` is not a valid key name.
    pub fn generate(origin: &str) -> Result<(Self, String), CheckpointError> {
        if !signed_note::is_key_name_valid(origin) {
            return Err(CheckpointError::SignerKey);
        }
        let (skey, _vkey) = signed_note::generate_key(&mut rand::rngs::OsRng, origin);
        Ok((Self::from_signer_key(&skey)?, skey))
    }

    /// Loads the signer key from [`SIGNING_KEY_ENV`], else from `path`; if
    /// neither exists, generates a key for `origin` and writes it to `path`
    /// (mode 0600). Returns the signer and whether a key was generated.
    ///
    /// # Errors
    ///
    /// Key file I/O errors and malformed keys.
    pub fn load_or_generate(path: &Path, origin: &str) -> Result<(Self, bool), CheckpointError> {
        if let Ok(skey) = std::env::var(SIGNING_KEY_ENV) {
            return Ok((Self::from_signer_key(&skey)?, false));
        }
        load_or_create_key(path, Self::from_signer_key, || Self::generate(origin))
    }

    /// The log origin: the key name, first line of every checkpoint.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier key, `<name>+<id>+<base64>`.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// Signs an out-of-band `payload` (an event pushed to a sink, say) with
    /// the log key. The signed message is [`payload_message`]`(context,
    /// payload)`, whose first line no checkpoint can have, so such a
    /// signature never passes for a note signature.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Signing`] if the signer fails.
    pub fn sign_payload(&self, context: &str, payload: &[u8]) -> Result<Vec<u8>, CheckpointError> {
        self.signer
            .sign(&payload_message(context, payload))
            .map_err(|_| CheckpointError::Signing)
    }

    /// Signs the checkpoint for a tree of `size` leaves with root `root`.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Signing`] if the note cannot be built or signed.
    pub fn sign(&self, size: u64, root: [u8; 32]) -> Result<SignedCheckpoint, CheckpointError> {
        let body = Checkpoint::new(&self.origin, size, Hash(root), "")
            .map_err(|_| CheckpointError::MalformedBody)?
            .to_bytes();
        let mut note = Note::new(&body, &[]).map_err(|_| CheckpointError::Signing)?;
        note.add_sigs(&[&self.signer])
            .map_err(|_| CheckpointError::Signing)?;
        let note = String::from_utf8(note.to_bytes()).map_err(|_| CheckpointError::Signing)?;
        Ok(SignedCheckpoint {
            origin: self.origin.clone(),
            size,
            root,
            note,
            cosigners: Vec::new(),
        })
    }
}

/// First line of every payload signed with [`LogSigner::sign_payload`].
pub const PAYLOAD_SIGNATURE_HEADER: &str = "evledger signed payload v1";

/// The message [`LogSigner::sign_payload`] signs: the header line, the
/// context line, then the payload bytes.
pub fn payload_message(context: &str, payload: &[u8]) -> Vec<u8> {
    let mut message =
        Vec::with_capacity(PAYLOAD_SIGNATURE_HEADER.len() + context.len() + 2 + payload.len());
    message.extend_from_slice(PAYLOAD_SIGNATURE_HEADER.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(context.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(payload);
    message
}

/// Checks a [`LogSigner::sign_payload`] signature with the log's note
/// verifier key.
///
/// # Errors
///
/// [`CheckpointError::VerifierKey`] for a malformed key,
/// [`CheckpointError::Unverified`] if the signature does not verify.
pub fn verify_payload(
    verifier_key: &str,
    context: &str,
    payload: &[u8],
    signature: &[u8],
) -> Result<(), CheckpointError> {
    let verifier = StandardVerifier::new(verifier_key.trim())
        .map_err(|_| CheckpointError::VerifierKey(verifier_key.to_string()))?;
    if verifier.verify(&payload_message(context, payload), signature) {
        Ok(())
    } else {
        Err(CheckpointError::Unverified(format!(
            "payload signature does not verify with {}",
            verifier.name()
        )))
    }
}

/// Derives the verifier key from a signer key.
fn verifier_key_of(skey: &str) -> Result<String, CheckpointError> {
    let key = SignerKey::parse(skey, NOTE_ED25519_ALG)?;
    let signing = ed25519_dalek::SigningKey::from_bytes(&key.seed);
    Ok(signed_note::new_ed25519_verifier_key(
        key.name,
        &signing.verifying_key(),
    ))
}

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

use signed_note::{Note, Signer, StandardSigner, StandardVerifier, Verifier, VerifierList};
use thiserror::Error;
use tlog_tiles::{Checkpoint, Hash};

use crate::cosignature::CosignatureVerifier;

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

/// Reads a signer key from `path` with `parse`; if the file does not exist,
/// `generate`s one and writes its key string there (mode 0600). Returns the
/// key and whether it was generated.
pub(crate) fn load_or_create_key<K>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<K, CheckpointError>,
    generate: impl FnOnce() -> Result<(K, String), CheckpointError>,
) -> Result<(K, bool), CheckpointError> {
    let io_err = |source| CheckpointError::KeyFile {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(skey) => Ok((parse(&skey)?, false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (key, skey) = generate()?;
            write_private(path, format!("{skey}\n").as_bytes()).map_err(io_err)?;
            Ok((key, true))
        }
        Err(e) => Err(io_err(e)),
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

/// Signature type byte of Ed25519 note keys.
const NOTE_ED25519_ALG: u8 = 0x01;

/// The parts of a signer key `PRIVATE+KEY+<name>+<key ID hex>+<base64(alg || seed)>`,
/// the form of note keys and, by analogy, of cosigner keys.
pub(crate) struct SignerKey<'a> {
    /// Key name.
    pub name: &'a str,
    /// Key ID as written (8 hex digits), for the caller to check.
    pub id: &'a str,
    /// Ed25519 seed.
    pub seed: [u8; 32],
}

impl<'a> SignerKey<'a> {
    /// Splits `skey` and checks the name, the ID's length and the type byte `alg`.
    pub(crate) fn parse(skey: &'a str, alg: u8) -> Result<Self, CheckpointError> {
        use base64::Engine;
        let rest = skey
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(CheckpointError::SignerKey)?;
        // The base64 key may itself contain '+'.
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CheckpointError::SignerKey);
        };
        let key = base64::engine::general_purpose::STANDARD
            .decode(key)
            .map_err(|_| CheckpointError::SignerKey)?;
        let seed = match key.split_first() {
            Some((first, seed)) if *first == alg => {
                seed.try_into().map_err(|_| CheckpointError::SignerKey)?
            }
            _ => return Err(CheckpointError::SignerKey),
        };
        if !signed_note::is_key_name_valid(name) || id.len() != 8 {
            return Err(CheckpointError::SignerKey);
        }
        Ok(Self { name, id, seed })
    }
}

/// Creates `path` (it must not exist) readable only by its owner, writes
/// `bytes` and syncs: for key material.
///
/// # Errors
///
/// I/O errors, including an existing file.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Verifies checkpoints of one log against a set of trusted verifier keys,
/// and optionally a witness policy: `quorum` of the trusted witnesses must
/// have cosigned (C2SP tlog-cosignature).
///
/// Follows signed-note rules: signatures by unknown keys are ignored (up to
/// the note's limit of 100 lines), at least one log signature must verify,
/// and a bad signature by a trusted key fails the note.
#[derive(Clone)]
pub struct CheckpointVerifier {
    origin: String,
    /// Validated verifier keys; `signed_note`'s list is built per call
    /// because its boxed verifiers are not `Send`.
    keys: Vec<String>,
    witnesses: Vec<CosignatureVerifier>,
    quorum: usize,
}

impl std::fmt::Debug for CheckpointVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointVerifier")
            .field("origin", &self.origin)
            .field("witnesses", &self.witnesses.len())
            .field("quorum", &self.quorum)
            .finish_non_exhaustive()
    }
}

impl CheckpointVerifier {
    /// A verifier for the log whose origin is the name of the first key;
    /// any of the keys may sign (e.g. old and new key during a rotation).
    ///
    /// # Errors
    ///
    /// [`CheckpointError::VerifierKey`] for a malformed key or an empty list.
    pub fn new<S: AsRef<str>>(verifier_keys: &[S]) -> Result<Self, CheckpointError> {
        let mut keys = Vec::new();
        let mut origin = None;
        for vkey in verifier_keys {
            let vkey = vkey.as_ref().trim();
            let verifier = StandardVerifier::new(vkey)
                .map_err(|_| CheckpointError::VerifierKey(vkey.to_string()))?;
            origin.get_or_insert_with(|| verifier.name().to_string());
            keys.push(vkey.to_string());
        }
        let origin = origin.ok_or_else(|| CheckpointError::VerifierKey(String::new()))?;
        Ok(Self {
            origin,
            keys,
            witnesses: Vec::new(),
            quorum: 0,
        })
    }

    /// Also requires cosignatures by `quorum` of the witnesses with the
    /// given `cosignature/v1` verifier keys.
    ///
    /// A witness is its public key: a key given twice (under any names)
    /// is one witness and counts once toward the quorum; the first
    /// spelling is kept.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::VerifierKey`] for a malformed witness key, and
    /// [`CheckpointError::QuorumUnreachable`] if `quorum` exceeds the
    /// distinct witnesses given.
    pub fn with_witnesses<S: AsRef<str>>(
        mut self,
        witness_keys: &[S],
        quorum: usize,
    ) -> Result<Self, CheckpointError> {
        let mut witnesses: Vec<CosignatureVerifier> = Vec::with_capacity(witness_keys.len());
        for key in witness_keys {
            let witness = CosignatureVerifier::new(key.as_ref())?;
            if !witnesses
                .iter()
                .any(|w| w.public_key() == witness.public_key())
            {
                witnesses.push(witness);
            }
        }
        self.witnesses = witnesses;
        if quorum > self.witnesses.len() {
            return Err(CheckpointError::QuorumUnreachable {
                witnesses: self.witnesses.len(),
                quorum,
            });
        }
        self.quorum = quorum;
        Ok(self)
    }

    /// The origin checkpoints must carry.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Parses and verifies a signed checkpoint note: a log signature, and
    /// the witness quorum if one is set.
    ///
    /// # Errors
    ///
    /// Any of the [`CheckpointError`] parse and verification variants.
    pub fn verify(&self, note: &[u8]) -> Result<SignedCheckpoint, CheckpointError> {
        if note.len() > MAX_CHECKPOINT_SIZE {
            return Err(CheckpointError::TooLarge);
        }
        let parsed =
            Note::from_bytes(note).map_err(|e| CheckpointError::MalformedNote(e.to_string()))?;
        let log_keys: Vec<StandardVerifier> = self
            .keys
            .iter()
            .filter_map(|k| StandardVerifier::new(k).ok())
            .collect();
        let mut list: Vec<Box<dyn Verifier>> = log_keys
            .iter()
            .map(|v| Box::new(v.clone()) as Box<dyn Verifier>)
            .collect();
        list.extend(
            self.witnesses
                .iter()
                .map(|w| Box::new(w.clone()) as Box<dyn Verifier>),
        );
        let (verified, _unknown) = parsed
            .verify(&VerifierList::new(list))
            .map_err(|e| CheckpointError::Unverified(e.to_string()))?;
        let signed_by = |v: &dyn Verifier| {
            verified
                .iter()
                .any(|s| s.name() == v.name() && s.id() == v.key_id())
        };
        if !log_keys.iter().any(|k| signed_by(k)) {
            return Err(CheckpointError::Unverified(
                "no signature by the log's key".into(),
            ));
        }
        let cosigners: Vec<String> = self
            .witnesses
            .iter()
            .filter(|w| signed_by(*w))
            .map(|w| w.witness_name().to_string())
            .collect();
        if cosigners.len() < self.quorum {
            return Err(CheckpointError::Quorum {
                have: cosigners.len(),
                need: self.quorum,
            });
        }
        let body =
            Checkpoint::from_bytes(parsed.text()).map_err(|_| CheckpointError::MalformedBody)?;
        if body.origin() != self.origin {
            return Err(CheckpointError::WrongOrigin {
                expected: self.origin.clone(),
                found: body.origin().to_string(),
            });
        }
        let note = String::from_utf8(note.to_vec())
            .map_err(|_| CheckpointError::MalformedNote("not UTF-8".into()))?;
        Ok(SignedCheckpoint {
            origin: body.origin().to_string(),
            size: body.size(),
            root: body.hash().0,
            note,
            cosigners,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosignature::Cosigner;

    /// The cosigner with `skey`'s seed under another `name`.
    fn renamed(skey: &str, vkey: &str, name: &str) -> Cosigner {
        use base64::Engine;
        // The base64 parts may hold '+': split off the fixed fields only.
        let seed = skey.splitn(5, '+').nth(4).expect("seed");
        let public = vkey.splitn(3, '+').nth(2).expect("public key");
        let public = base64::engine::general_purpose::STANDARD
            .decode(public)
            .expect("base64");
        let id = signed_note::key_id(name, &public);
        Cosigner::from_signer_key(&format!("PRIVATE+KEY+{name}+{id:08x}+{seed}")).expect("key")
    }

    /// A log-signed note cosigned by one witness key under each of `names`;
    /// returns it, the log's verifier key and the witness verifier keys.
    fn cosigned(names: &[&str]) -> (String, String, Vec<String>) {
        let (signer, _) = LogSigner::generate("log.example/q").expect("signer");
        let (first, skey) = Cosigner::generate(names[0]).expect("cosigner");
        let mut note = signer.sign(3, [7; 32]).expect("sign").note;
        let body = note[..note.find("\n\n").expect("note") + 1].to_string();
        let mut vkeys = Vec::new();
        for name in names {
            let cosigner = renamed(&skey, &first.verifier_key(), name);
            note.push_str(&cosigner.cosign(body.as_bytes(), 1_700_000_000));
            vkeys.push(cosigner.verifier_key());
        }
        (note, signer.verifier_key().to_string(), vkeys)
    }

    #[test]
    fn one_witness_key_under_two_names_counts_once() {
        let (note, log, witnesses) = cosigned(&["w.example/a", "w.example/b"]);
        let one = CheckpointVerifier::new(&[&log])
            .expect("log key")
            .with_witnesses(&witnesses[..1], 1)
            .expect("policy");
        assert_eq!(
            one.verify(note.as_bytes()).expect("quorum 1").cosigners,
            vec!["w.example/a".to_string()]
        );
        let two = CheckpointVerifier::new(&[&log])
            .expect("log key")
            .with_witnesses(&witnesses, 2);
        assert!(
            matches!(
                two,
                Err(CheckpointError::QuorumUnreachable {
                    witnesses: 1,
                    quorum: 2
                })
            ),
            "{two:?}"
        );
    }
}

//! [`CheckpointVerifier`]: the one policy object every reader of a
//! checkpoint uses. It requires a signature by the log's key and, if a
//! witness policy is set, `cosignature/v1` cosignatures by a quorum of
//! trusted witnesses; witness signatures never stand in for the log's.

use signed_note::{Note, StandardVerifier, Verifier, VerifierList};
use tlog_tiles::Checkpoint;

use crate::checkpoint::{CheckpointError, SignedCheckpoint, MAX_CHECKPOINT_SIZE};
use crate::cosignature::CosignatureVerifier;

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
    use crate::checkpoint::LogSigner;
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

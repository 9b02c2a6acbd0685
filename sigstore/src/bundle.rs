//! Sigstore bundles v0.3 (`application/vnd.dev.sigstore.bundle.v0.3+json`)
//! of Rekor v2 entries, and their offline check.
//!
//! A bundle holds the verification material (the signer's certificate, or
//! a hint naming its public key), one tlog entry with its inclusion proof
//! and checkpoint, and the signed content: a `messageSignature` for a
//! hashedrekord, the `dsseEnvelope` for a DSSE entry.

use evledger_entry::dsse::{decode_any_base64, pae, Envelope};
use evledger_entry::rekor::{HashAlgorithm, Message, RekorEntry, KIND_DSSE_V2, KIND_HASHEDREKORD};
use evledger_tlog::proof::{leaf_hash, InclusionProof};
use evledger_tlog::verifier::CheckpointVerifier;
use serde::{Deserialize, Serialize};

use crate::tlog_entry::{TransparencyLogEntry, B64};
use crate::{LogKey, SigstoreError};

/// The media type of bundles v0.3.
pub const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// `publicKey` verification material: a hint naming the key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyHint {
    /// The key's fingerprint (SHA-256 of its SPKI DER, hex), as evledger's
    /// search names keys.
    #[serde(default)]
    pub hint: String,
}

/// `X509Certificate`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Certificate {
    /// DER.
    #[serde(default)]
    pub raw_bytes: B64,
}

/// `VerificationMaterial`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// The signer's key, by hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyHint>,
    /// The signer's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
    /// The log entries.
    #[serde(default)]
    pub tlog_entries: Vec<TransparencyLogEntry>,
    /// Timestamps (none from a tile log).
    #[serde(default)]
    pub timestamp_verification_data: serde_json::Value,
}

/// `HashOutput` of a message signature.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDigest {
    /// `SHA2_256`, `SHA2_384` or `SHA2_512`.
    #[serde(default)]
    pub algorithm: String,
    /// The digest.
    #[serde(default)]
    pub digest: B64,
}

/// `MessageSignature`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSignature {
    /// The artifact's digest.
    #[serde(default)]
    pub message_digest: MessageDigest,
    /// The signature over it.
    #[serde(default)]
    pub signature: B64,
}

/// A bundle.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// [`MEDIA_TYPE`].
    pub media_type: String,
    /// Key or certificate, and the log entries.
    pub verification_material: VerificationMaterial,
    /// The signature of a hashedrekord.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_signature: Option<MessageSignature>,
    /// The envelope of a DSSE entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<Envelope>,
}

impl Bundle {
    /// The bundle of a logged Rekor v2 entry: `entry` read from `tlog`'s
    /// canonicalized body, `envelope` the DSSE envelope kept beside the log
    /// (required for a DSSE entry).
    ///
    /// # Errors
    ///
    /// [`SigstoreError::Failed`] for a DSSE entry without its envelope.
    pub fn new(
        entry: &RekorEntry,
        tlog: TransparencyLogEntry,
        envelope: Option<Envelope>,
    ) -> Result<Self, SigstoreError> {
        let signer = entry.verifiers.first();
        let (public_key, certificate) = match signer.and_then(|v| v.certificate.clone()) {
            Some(der) => (
                None,
                Some(Certificate {
                    raw_bytes: B64(der),
                }),
            ),
            None => (
                Some(PublicKeyHint {
                    hint: signer.map(|v| v.fingerprint.clone()).unwrap_or_default(),
                }),
                None,
            ),
        };
        let message_signature =
            entry
                .logged
                .spec
                .hashed_rekord
                .as_ref()
                .map(|h| MessageSignature {
                    message_digest: MessageDigest {
                        algorithm: h.data.algorithm.clone(),
                        digest: B64(h.data.digest.0.clone()),
                    },
                    signature: B64(h.signature.content.0.clone()),
                });
        if entry.logged.kind == KIND_DSSE_V2 && envelope.is_none() {
            return Err(SigstoreError::Failed(
                "the DSSE envelope of this entry is not kept".into(),
            ));
        }
        Ok(Self {
            media_type: MEDIA_TYPE.into(),
            verification_material: VerificationMaterial {
                public_key,
                certificate,
                tlog_entries: vec![tlog],
                timestamp_verification_data: serde_json::json!({}),
            },
            message_signature,
            dsse_envelope: envelope,
        })
    }
}

/// What [`verify`] established, and what it did not check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The entry's log index.
    pub log_index: u64,
    /// The size of the checkpoint it is proven in.
    pub tree_size: u64,
    /// `hashedrekord` or `dsse`.
    pub kind: String,
    /// The signer's key fingerprint (SHA-256 of its SPKI DER, hex).
    pub signer: String,
    /// Whether the artifact itself was hashed and compared (a
    /// hashedrekord given the artifact; a DSSE payload always is).
    pub artifact_checked: bool,
    /// What was not checked, for the caller to say.
    pub unchecked: Vec<&'static str>,
}

fn fail(why: impl Into<String>) -> SigstoreError {
    SigstoreError::Failed(why.into())
}

/// Checks a bundle offline against the log's verifier key: the checkpoint's
/// signature, the log ID, the inclusion proof of the canonicalized body up
/// to the signed root, the body against the bundle's signature (and the
/// artifact, when given), and the signature with the key the body logs.
///
/// # Errors
///
/// [`SigstoreError`] naming the first check that failed.
pub fn verify(
    bundle_json: &[u8],
    verifier_key: &str,
    artifact: Option<&[u8]>,
) -> Result<Verified, SigstoreError> {
    let bundle: Bundle =
        serde_json::from_slice(bundle_json).map_err(|e| SigstoreError::Malformed {
            what: "bundle",
            why: e.to_string(),
        })?;
    if !bundle
        .media_type
        .starts_with("application/vnd.dev.sigstore.bundle")
    {
        return Err(fail(format!(
            "not a Sigstore bundle: mediaType {:?}",
            bundle.media_type
        )));
    }
    let key = LogKey::from_verifier_key(verifier_key)?;
    let [tlog] = bundle.verification_material.tlog_entries.as_slice() else {
        return Err(fail("the bundle must carry exactly one tlog entry"));
    };
    if tlog.log_id.key_id.0 != key.key_id() {
        return Err(fail("logId.keyId is not this log's key"));
    }
    let checkpoint = CheckpointVerifier::new(&[verifier_key])
        .and_then(|v| v.verify(tlog.inclusion_proof.checkpoint.envelope.as_bytes()))
        .map_err(|e| fail(format!("checkpoint: {e}")))?;
    let proof = &tlog.inclusion_proof;
    if proof.log_index != tlog.log_index {
        return Err(fail("inclusionProof.logIndex differs from logIndex"));
    }
    let hashes = proof
        .hashes
        .iter()
        .map(|h| {
            <[u8; 32]>::try_from(h.0.as_slice()).map_err(|_| fail("a proof hash is not 32 bytes"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let body = &tlog.canonicalized_body.0;
    InclusionProof {
        log_index: tlog.log_index.0,
        tree_size: checkpoint.size,
        root: checkpoint.root,
        hashes,
    }
    .verify(&leaf_hash(body))
    .map_err(|e| fail(format!("inclusion proof: {e}")))?;
    let entry = RekorEntry::logged(body).map_err(|e| fail(format!("canonicalizedBody: {e}")))?;
    entry
        .check_logged()
        .map_err(|e| fail(format!("canonicalizedBody: {e}")))?;
    if tlog.kind_version.kind != entry.logged.kind
        || tlog.kind_version.version != entry.logged.api_version
    {
        return Err(fail("kindVersion differs from the body"));
    }
    let signer = entry
        .verifiers
        .first()
        .ok_or_else(|| fail("the body names no verifier"))?;
    let artifact_checked = match entry.logged.kind.as_str() {
        KIND_HASHEDREKORD => check_message(&bundle, &entry, artifact)?,
        _ => check_envelope(&bundle, &entry)?,
    };
    let mut unchecked = vec![
        "timestamps (a tile log signs none; bring an RFC 3161 timestamp to bound the signing time)",
    ];
    if signer.certificate.is_some() {
        unchecked.push("the certificate's chain, validity and identity (bring the CA's roots)");
    } else {
        unchecked
            .push("who owns the signing key (compare its fingerprint with the one you expect)");
    }
    if !artifact_checked {
        unchecked.push("the artifact (give it to compare its digest)");
    }
    Ok(Verified {
        log_index: tlog.log_index.0,
        tree_size: checkpoint.size,
        kind: entry.logged.kind.clone(),
        signer: signer.fingerprint.clone(),
        artifact_checked,
        unchecked,
    })
}

/// A hashedrekord: the bundle's signature and digest are the logged ones,
/// and the artifact (if given) hashes to that digest.
fn check_message(
    bundle: &Bundle,
    entry: &RekorEntry,
    artifact: Option<&[u8]>,
) -> Result<bool, SigstoreError> {
    let logged = entry
        .logged
        .spec
        .hashed_rekord
        .as_ref()
        .ok_or_else(|| fail("not a hashedrekord body"))?;
    let message = bundle
        .message_signature
        .as_ref()
        .ok_or_else(|| fail("a hashedrekord bundle needs messageSignature"))?;
    if message.signature.0 != logged.signature.content.0 {
        return Err(fail(
            "messageSignature.signature is not the logged signature",
        ));
    }
    if message.message_digest.digest.0 != logged.data.digest.0 {
        return Err(fail(
            "messageSignature.messageDigest is not the logged digest",
        ));
    }
    let Some(artifact) = artifact else {
        return Ok(false);
    };
    let hash = HashAlgorithm::of_name(&logged.data.algorithm)
        .ok_or_else(|| fail("unknown digest algorithm"))?;
    if hash.digest(artifact) != logged.data.digest.0 {
        return Err(fail("the artifact does not hash to the logged digest"));
    }
    Ok(true)
}

/// A DSSE entry: the envelope's payload hashes to the logged payload hash,
/// and its signatures are the logged ones, each verifying over the PAE
/// with the key logged beside it.
fn check_envelope(bundle: &Bundle, entry: &RekorEntry) -> Result<bool, SigstoreError> {
    let logged = entry
        .logged
        .spec
        .dsse
        .as_ref()
        .ok_or_else(|| fail("not a DSSE body"))?;
    let envelope = bundle
        .dsse_envelope
        .as_ref()
        .ok_or_else(|| fail("a DSSE bundle needs dsseEnvelope"))?;
    // Any base64 DSSE allows, as evledger's own DSSE entries are read.
    let decode = |what: &str, text: &str| {
        decode_any_base64(text).ok_or_else(|| fail(format!("dsseEnvelope.{what} is not base64")))
    };
    let payload = decode("payload", &envelope.payload)?;
    if HashAlgorithm::Sha256.digest(&payload) != logged.payload_hash.digest.0 {
        return Err(fail(
            "the envelope's payload does not hash to the logged payloadHash",
        ));
    }
    let mut sigs = envelope
        .signatures
        .iter()
        .map(|s| decode("signatures", &s.sig))
        .collect::<Result<Vec<_>, _>>()?;
    sigs.sort();
    let logged_sigs: Vec<&Vec<u8>> = logged.signatures.iter().map(|s| &s.content.0).collect();
    if sigs.iter().collect::<Vec<_>>() != logged_sigs {
        return Err(fail("the envelope's signatures are not the logged ones"));
    }
    let pae = pae(&envelope.payload_type, &payload);
    let message = Message::new(&pae);
    for (signature, verifier) in logged.signatures.iter().zip(&entry.verifiers) {
        if !verifier.key.verify_message(&message, &signature.content.0) {
            return Err(fail(
                "an envelope signature does not verify with its logged key",
            ));
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use ed25519_dalek::pkcs8::EncodePublicKey as _;
    use evledger_entry::{Entry, EntryBody};
    use evledger_tlog::checkpoint::LogSigner;
    use p256::ecdsa::signature::hazmat::PrehashSigner as _;
    use sha2::Digest as _;

    const STATEMENT: &[u8] = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"0000000000000000000000000000000000000000000000000000000000000000"}}],"predicateType":"https://example.com/p","predicate":{}}"#;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn hashed_request(artifact: &[u8]) -> Vec<u8> {
        let key = p256::ecdsa::SigningKey::from_slice(&[5; 32]).expect("key");
        let digest = sha2::Sha256::digest(artifact);
        let sig: p256::ecdsa::Signature = key.sign_prehash(&digest).expect("sign");
        let spki = key.verifying_key().to_public_key_der().expect("der");
        serde_json::to_vec(&serde_json::json!({"hashedRekordRequestV002": {
            "digest": b64(&digest),
            "signature": {"content": b64(sig.to_der().as_bytes()), "verifier": {
                "publicKey": {"rawBytes": b64(spki.as_bytes())}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}}))
        .expect("json")
    }

    fn dsse_request() -> Vec<u8> {
        let key = ed25519_dalek::SigningKey::from_bytes(&[6; 32]);
        let sig =
            ed25519_dalek::Signer::sign(&key, &pae("application/vnd.in-toto+json", STATEMENT));
        let spki = key.verifying_key().to_public_key_der().expect("der");
        serde_json::to_vec(&serde_json::json!({"dsseRequestV002": {
            "envelope": {"payload": b64(STATEMENT), "payloadType": "application/vnd.in-toto+json",
                         "signatures": [{"sig": b64(&sig.to_bytes())}]},
            "verifiers": [{"publicKey": {"rawBytes": b64(spki.as_bytes())}, "keyDetails": "PKIX_ED25519"}]}}))
        .expect("json")
    }

    /// The bundle of `request` logged at index 1 of a two-leaf tree signed
    /// by `signer`.
    fn logged(signer: &LogSigner, request: &[u8]) -> Value {
        let entry = Entry::from_rekor_request(request).expect("valid request");
        let other = leaf_hash(b"another leaf");
        let ours = leaf_hash(&entry.leaf);
        let root = {
            let mut h = sha2::Sha256::new();
            h.update([1]);
            h.update(other);
            h.update(ours);
            <[u8; 32]>::from(h.finalize())
        };
        let checkpoint = signer.sign(2, root).expect("sign");
        let proof = InclusionProof {
            log_index: 1,
            tree_size: 2,
            root,
            hashes: vec![other],
        };
        let key = LogKey::from_verifier_key(signer.verifier_key()).expect("key");
        let tlog =
            TransparencyLogEntry::new(&key, &entry.kind, &entry.leaf, 1, &proof, &checkpoint.note);
        let EntryBody::Rekor(rekor) = &entry.body else {
            panic!("a Rekor entry");
        };
        let bundle = Bundle::new(rekor, tlog, rekor.envelope.clone()).expect("bundle");
        serde_json::to_value(&bundle).expect("json")
    }

    use serde_json::Value;

    fn verdict(
        bundle: &Value,
        key: &str,
        artifact: Option<&[u8]>,
    ) -> Result<Verified, SigstoreError> {
        verify(&serde_json::to_vec(bundle).expect("json"), key, artifact)
    }

    #[test]
    fn a_bundle_verifies_offline_and_any_change_fails() {
        let (signer, _) = LogSigner::generate("example.com/log").expect("key");
        let key = signer.verifier_key();
        let bundle = logged(&signer, &hashed_request(b"artifact"));
        let verified = verdict(&bundle, key, Some(b"artifact")).expect("verifies");
        assert_eq!((verified.log_index, verified.tree_size), (1, 2));
        assert!(verified.artifact_checked);
        assert!(verdict(&bundle, key, None).is_ok_and(|v| !v.artifact_checked));
        assert!(
            verdict(&bundle, key, Some(b"another")).is_err(),
            "another artifact"
        );
        let (other, _) = LogSigner::generate("example.com/log").expect("key");
        assert!(
            verdict(&bundle, other.verifier_key(), None).is_err(),
            "another log key"
        );
        let tlog = "/verificationMaterial/tlogEntries/0";
        let flip = |pointer: &str| {
            let mut bad = bundle.clone();
            let field = bad.pointer_mut(pointer).expect(pointer);
            let mut bytes = base64::engine::general_purpose::STANDARD
                .decode(field.as_str().expect("b64"))
                .expect("b64");
            let last = bytes.len() - 1;
            bytes[last] ^= 1;
            *field = b64(&bytes).into();
            bad
        };
        for pointer in [
            format!("{tlog}/canonicalizedBody"),
            format!("{tlog}/inclusionProof/hashes/0"),
            format!("{tlog}/logId/keyId"),
            "/messageSignature/signature".to_string(),
            "/messageSignature/messageDigest/digest".to_string(),
        ] {
            assert!(
                verdict(&flip(&pointer), key, None).is_err(),
                "{pointer} changed"
            );
        }
        let mut index = bundle.clone();
        index["verificationMaterial"]["tlogEntries"][0]["logIndex"] = "0".into();
        assert!(verdict(&index, key, None).is_err(), "another index");
    }

    #[test]
    fn a_dsse_bundle_carries_its_envelope_and_checks_it() {
        let (signer, _) = LogSigner::generate("example.com/log").expect("key");
        let key = signer.verifier_key();
        let bundle = logged(&signer, &dsse_request());
        assert!(bundle["verificationMaterial"]["publicKey"]["hint"].is_string());
        verdict(&bundle, key, None).expect("verifies");
        let mut payload = bundle.clone();
        payload["dsseEnvelope"]["payload"] = b64(b"{}").into();
        assert!(verdict(&payload, key, None).is_err(), "another payload");
        let mut payload_type = bundle.clone();
        payload_type["dsseEnvelope"]["payloadType"] = "text/plain".into();
        assert!(
            verdict(&payload_type, key, None).is_err(),
            "another payload type"
        );
        let mut unsigned = bundle.clone();
        unsigned["dsseEnvelope"]["signatures"] = serde_json::json!([]);
        assert!(verdict(&unsigned, key, None).is_err(), "no signatures");
    }
}

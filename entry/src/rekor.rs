//! Rekor v2 entries (`dev.sigstore.rekor.v2`, as rekor-tiles logs them):
//! the requests of `POST /api/v2/log/entries`, the check of their
//! signatures, and the body that is logged.
//!
//! A request is protobuf JSON: members in lowerCamelCase or in the proto's
//! snake_case, bytes in standard or URL-safe base64, padded or not. The leaf
//! is Rekor v2's canonicalized body, the RFC 8785 JSON of
//!
//! ```json
//! {"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{
//!   "data":{"algorithm":"SHA2_256","digest":"<b64>"},
//!   "signature":{"content":"<b64>","verifier":{"keyDetails":"PKIX_ECDSA_P256_SHA_256",
//!     "publicKey":{"rawBytes":"<b64 SPKI DER>"}}}}}}
//! {"apiVersion":"0.0.2","kind":"dsse","spec":{"dsseV002":{
//!   "payloadHash":{"algorithm":"SHA2_256","digest":"<b64>"},
//!   "signatures":[{"content":"<b64>","verifier":{...}}]}}}
//! ```
//!
//! so a Sigstore verifier recomputes the leaf from what it holds. Bytes are
//! written in standard padded base64, as protojson writes them. A DSSE
//! entry's signatures are sorted by their bytes; the envelope itself is
//! not in the leaf (the ledger keeps it beside the log).
//!
//! Every signature is verified before anything is logged: a hashedrekord
//! signature over the artifact's digest (a prehash, so the digest's length
//! must be the key's hash length; pure Ed25519 signs messages, not digests,
//! and is refused there), a DSSE signature over the envelope's PAE.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePublicKey as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256, Sha384, Sha512};

use crate::dsse::{decode_any_base64, pae, pair_signatures, Envelope, EnvelopeSignature};
use crate::intoto::{Statement, IN_TOTO_PAYLOAD_TYPE};
use crate::{canonical_json, EntryError};

/// The kind of a Rekor v2 hashedrekord entry (a signature over a digest).
pub const KIND_HASHEDREKORD: &str = "hashedrekord";

/// The kind of a Rekor v2 DSSE entry (the same word as evledger's own DSSE
/// kind; the two are told apart by `apiVersion`).
pub const KIND_DSSE_V2: &str = "dsse";

/// The entry schema version rekor-tiles logs.
pub const API_VERSION: &str = "0.0.2";

/// Most verifiers a DSSE request may carry (as rekor-tiles 2.2).
pub const MAX_VERIFIERS: usize = 10;

/// Most signatures a DSSE envelope may carry (as rekor-tiles 2.2).
pub const MAX_SIGNATURES: usize = 10;

/// Protobuf `bytes` in JSON: written standard and padded, read in any of
/// the four base64 forms protojson accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        decode_any_base64(&text)
            .map(Bytes)
            .ok_or_else(|| serde::de::Error::custom("bytes are not base64"))
    }
}

/// A verifier's key material: `publicKey` or `x509Certificate`, each
/// `{rawBytes}` (DER).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBytes {
    /// DER bytes: a SubjectPublicKeyInfo or an X.509 certificate.
    #[serde(rename = "rawBytes", alias = "raw_bytes")]
    pub raw_bytes: Bytes,
}

/// `dev.sigstore.rekor.v2.Verifier`: the key, and what it signs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifierJson {
    /// A public key (SubjectPublicKeyInfo DER).
    #[serde(
        rename = "publicKey",
        alias = "public_key",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_key: Option<RawBytes>,
    /// A certificate (DER) whose key signed.
    #[serde(
        rename = "x509Certificate",
        alias = "x509_certificate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub x509_certificate: Option<RawBytes>,
    /// The `PublicKeyDetails` enum name, such as `PKIX_ECDSA_P256_SHA_256`.
    #[serde(rename = "keyDetails", alias = "key_details")]
    pub key_details: String,
}

/// `dev.sigstore.rekor.v2.Signature`: signature bytes and their verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureJson {
    /// The signature.
    pub content: Bytes,
    /// Who made it.
    pub verifier: VerifierJson,
}

/// `dev.sigstore.common.v1.HashOutput`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashOutput {
    /// `SHA2_256`, `SHA2_384` or `SHA2_512`.
    pub algorithm: String,
    /// The digest.
    pub digest: Bytes,
}

/// `HashedRekordRequestV002`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashedRekordRequest {
    /// The artifact's digest.
    pub digest: Bytes,
    /// The signature over that digest.
    pub signature: SignatureJson,
}

/// `io.intoto.Envelope` as protobuf JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeJson {
    /// The payload.
    pub payload: Bytes,
    /// Its type.
    #[serde(rename = "payloadType", alias = "payload_type")]
    pub payload_type: String,
    /// Its signatures.
    pub signatures: Vec<EnvelopeSignatureJson>,
}

/// `io.intoto.Signature`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignatureJson {
    /// The signature over the PAE.
    pub sig: Bytes,
    /// An optional key hint.
    #[serde(default)]
    pub keyid: Option<String>,
}

/// `DSSERequestV002`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsseRequest {
    /// The envelope.
    pub envelope: EnvelopeJson,
    /// The keys that may have signed it.
    pub verifiers: Vec<VerifierJson>,
}

/// `CreateEntryRequest`: exactly one of its two members.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEntryRequest {
    /// A signature over an artifact's digest.
    #[serde(
        rename = "hashedRekordRequestV002",
        alias = "hashed_rekord_request_v002",
        default
    )]
    pub hashed_rekord: Option<HashedRekordRequest>,
    /// A DSSE envelope.
    #[serde(rename = "dsseRequestV002", alias = "dsse_request_v002", default)]
    pub dsse: Option<DsseRequest>,
}

/// A hashedrekord entry as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashedRekordLogEntry {
    /// The artifact's digest.
    pub data: HashOutput,
    /// The signature over it.
    pub signature: SignatureJson,
}

/// A DSSE entry as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsseLogEntry {
    /// SHA-256 of the envelope's payload.
    #[serde(rename = "payloadHash")]
    pub payload_hash: HashOutput,
    /// Each signature with the verifier that verified it, sorted by bytes.
    pub signatures: Vec<SignatureJson>,
}

/// The `spec` of a logged entry: one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedSpec {
    /// A hashedrekord.
    #[serde(
        rename = "hashedRekordV002",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub hashed_rekord: Option<HashedRekordLogEntry>,
    /// A DSSE entry.
    #[serde(rename = "dsseV002", default, skip_serializing_if = "Option::is_none")]
    pub dsse: Option<DsseLogEntry>,
}

/// `dev.sigstore.rekor.v2.Entry`: the canonicalized body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggedEntry {
    /// Always [`API_VERSION`].
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// [`KIND_HASHEDREKORD`] or [`KIND_DSSE_V2`].
    pub kind: String,
    /// The content.
    pub spec: LoggedSpec,
}

/// A hash function a key signs digests of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// The `HashAlgorithm` enum name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA2_256",
            Self::Sha384 => "SHA2_384",
            Self::Sha512 => "SHA2_512",
        }
    }

    /// The name in-toto digests and evledger's search use (`sha256`, ...).
    pub fn digest_set_name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// The digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The algorithm of an enum name.
    pub fn of_name(name: &str) -> Option<Self> {
        [Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|a| a.name() == name)
    }

    /// The digest of `bytes`.
    pub fn digest(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(bytes).to_vec(),
            Self::Sha384 => Sha384::digest(bytes).to_vec(),
            Self::Sha512 => Sha512::digest(bytes).to_vec(),
        }
    }
}

/// A key of a supported `PublicKeyDetails`.
#[derive(Debug, Clone)]
pub enum SigstoreKey {
    /// `PKIX_ECDSA_P256_SHA_256`.
    P256(p256::ecdsa::VerifyingKey),
    /// `PKIX_ECDSA_P384_SHA_384`.
    P384(p384::ecdsa::VerifyingKey),
    /// `PKIX_ED25519`: signs messages.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// `PKIX_ED25519_PH`: Ed25519ph, signs SHA-512 digests.
    Ed25519Ph(ed25519_dalek::VerifyingKey),
    /// `PKIX_RSA_PKCS1V15_{2048,3072,4096}_SHA256`.
    Rsa(Box<rsa::pkcs1v15::VerifyingKey<Sha256>>),
}

/// RSA modulus sizes accepted, by their `PublicKeyDetails` names.
const RSA_DETAILS: [(&str, usize); 3] = [
    ("PKIX_RSA_PKCS1V15_2048_SHA256", 2048),
    ("PKIX_RSA_PKCS1V15_3072_SHA256", 3072),
    ("PKIX_RSA_PKCS1V15_4096_SHA256", 4096),
];

impl SigstoreKey {
    /// The key of a SubjectPublicKeyInfo (DER) that `details` names, or
    /// why not.
    pub fn from_spki(details: &str, spki: &[u8]) -> Result<Self, String> {
        let wrong = |what: &str| format!("the key is not {what}, as keyDetails {details} says");
        match details {
            "PKIX_ECDSA_P256_SHA_256" => p256::ecdsa::VerifyingKey::from_public_key_der(spki)
                .map(Self::P256)
                .map_err(|_| wrong("an ECDSA P-256 key")),
            "PKIX_ECDSA_P384_SHA_384" => p384::ecdsa::VerifyingKey::from_public_key_der(spki)
                .map(Self::P384)
                .map_err(|_| wrong("an ECDSA P-384 key")),
            "PKIX_ED25519" => ed25519_dalek::VerifyingKey::from_public_key_der(spki)
                .map(Self::Ed25519)
                .map_err(|_| wrong("an Ed25519 key")),
            "PKIX_ED25519_PH" => ed25519_dalek::VerifyingKey::from_public_key_der(spki)
                .map(Self::Ed25519Ph)
                .map_err(|_| wrong("an Ed25519 key")),
            _ => {
                let Some((_, bits)) = RSA_DETAILS.iter().find(|(name, _)| *name == details) else {
                    return Err(format!(
                        "keyDetails {details:?} is not supported (PKIX_ECDSA_P256_SHA_256, \
                         PKIX_ECDSA_P384_SHA_384, PKIX_ED25519, PKIX_ED25519_PH, \
                         PKIX_RSA_PKCS1V15_{{2048,3072,4096}}_SHA256)"
                    ));
                };
                use rsa::traits::PublicKeyParts as _;
                let key = rsa::RsaPublicKey::from_public_key_der(spki)
                    .map_err(|_| wrong("an RSA key"))?;
                if key.n().bits() != *bits {
                    return Err(format!(
                        "the RSA key has {} bits, keyDetails {details} says {bits}",
                        key.n().bits()
                    ));
                }
                Ok(Self::Rsa(Box::new(rsa::pkcs1v15::VerifyingKey::new(key))))
            }
        }
    }

    /// The hash the key signs digests of, or `None` for pure Ed25519,
    /// which signs messages only.
    pub fn prehash(&self) -> Option<HashAlgorithm> {
        match self {
            Self::P256(_) | Self::Rsa(_) => Some(HashAlgorithm::Sha256),
            Self::P384(_) => Some(HashAlgorithm::Sha384),
            Self::Ed25519Ph(_) => Some(HashAlgorithm::Sha512),
            Self::Ed25519(_) => None,
        }
    }

    /// Whether `signature` is this key's signature of `message`.
    pub fn verify_message(&self, message: &Message<'_>, signature: &[u8]) -> bool {
        match self {
            Self::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(message.bytes, &sig).is_ok()),
            _ => match self.prehash() {
                Some(hash) => self.verify_digest(message.digest(hash), signature),
                None => false,
            },
        }
    }

    /// Whether `signature` is this key's signature of a message whose
    /// digest (by [`SigstoreKey::prehash`]) is `digest`.
    pub fn verify_digest(&self, digest: &[u8], signature: &[u8]) -> bool {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        if self.prehash().map(HashAlgorithm::digest_len) != Some(digest.len()) {
            return false;
        }
        match self {
            Self::P256(key) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|sig| key.verify_prehash(digest, &sig).is_ok()),
            Self::P384(key) => p384::ecdsa::Signature::from_der(signature)
                .is_ok_and(|sig| key.verify_prehash(digest, &sig).is_ok()),
            Self::Rsa(key) => rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|sig| key.verify_prehash(digest, &sig).is_ok()),
            Self::Ed25519Ph(key) => {
                let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
                    return false;
                };
                let mut hash = [0u8; 64];
                hash.copy_from_slice(digest);
                key.verify_prehashed_strict(Sha512Digest(hash), None, &sig)
                    .is_ok()
            }
            Self::Ed25519(_) => false,
        }
    }
}

/// A signed message and its digests, each computed at most once however
/// many keys try the signatures over it (a DSSE request may pair 10
/// signatures with 10 verifiers over a PAE of up to 256 KiB).
pub struct Message<'a> {
    bytes: &'a [u8],
    digests: [std::sync::OnceLock<Vec<u8>>; 3],
}

impl<'a> Message<'a> {
    /// `bytes`, not yet hashed.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            digests: Default::default(),
        }
    }

    /// The message's digest by `hash`.
    fn digest(&self, hash: HashAlgorithm) -> &[u8] {
        let slot = match hash {
            HashAlgorithm::Sha256 => 0,
            HashAlgorithm::Sha384 => 1,
            HashAlgorithm::Sha512 => 2,
        };
        self.digests[slot].get_or_init(|| hash.digest(self.bytes))
    }
}

/// A finished SHA-512 digest, handed to Ed25519ph verification, which asks
/// for a SHA-512 state to finalize: it yields the digest it was made with.
#[derive(Clone)]
struct Sha512Digest([u8; 64]);

impl Default for Sha512Digest {
    fn default() -> Self {
        Self([0; 64])
    }
}

impl sha2::digest::HashMarker for Sha512Digest {}

impl sha2::digest::OutputSizeUser for Sha512Digest {
    type OutputSize = sha2::digest::consts::U64;
}

impl sha2::digest::Update for Sha512Digest {
    fn update(&mut self, _: &[u8]) {
        // Finished: nothing more is hashed (verification adds nothing).
    }
}

impl sha2::digest::FixedOutput for Sha512Digest {
    fn finalize_into(self, out: &mut sha2::digest::Output<Self>) {
        out.copy_from_slice(&self.0);
    }
}

/// A checked verifier: its key, the SubjectPublicKeyInfo it came from, and
/// that key's fingerprint (SHA-256 of the SPKI DER, hex, as for evledger's
/// own DSSE keys, so one search finds a key's entries of both kinds).
#[derive(Debug, Clone)]
pub struct Verifier {
    /// The verifier as logged.
    pub json: VerifierJson,
    /// The key.
    pub key: Arc<SigstoreKey>,
    /// The SubjectPublicKeyInfo, DER.
    pub spki: Vec<u8>,
    /// SHA-256 of `spki`, hex.
    pub fingerprint: String,
    /// The certificate (DER), when the verifier is one.
    pub certificate: Option<Vec<u8>>,
}

impl Verifier {
    /// Checks a verifier: exactly one of `publicKey` and `x509Certificate`,
    /// of the algorithm `keyDetails` names.
    pub fn parse(json: &VerifierJson) -> Result<Self, String> {
        let (spki, certificate) = match (&json.public_key, &json.x509_certificate) {
            (Some(key), None) => (key.raw_bytes.0.clone(), None),
            (None, Some(cert)) => {
                let der = &cert.raw_bytes.0;
                match certificate_spki(der) {
                    Ok(spki) => (spki, Some(der.clone())),
                    // sigstore-js sends a bare key's SubjectPublicKeyInfo
                    // as `x509Certificate`; take it as the key it is.
                    Err(_) if spki::SubjectPublicKeyInfoRef::try_from(der.as_slice()).is_ok() => {
                        (der.clone(), None)
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => return Err("give exactly one of publicKey and x509Certificate".into()),
        };
        let key = SigstoreKey::from_spki(&json.key_details, &spki)?;
        Ok(Self {
            json: json.clone(),
            key: Arc::new(key),
            fingerprint: hex::encode(Sha256::digest(&spki)),
            spki,
            certificate,
        })
    }
}

/// The SubjectPublicKeyInfo (DER) of an X.509 certificate (DER).
fn certificate_spki(der: &[u8]) -> Result<Vec<u8>, String> {
    use x509_cert::der::{Decode as _, Encode as _};
    let cert = x509_cert::Certificate::from_der(der)
        .map_err(|e| format!("x509Certificate is not a DER certificate: {e}"))?;
    cert.tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| format!("x509Certificate's key does not encode: {e}"))
}

/// A checked Rekor v2 entry: what was logged, and what the index and the
/// bundles need of it.
#[derive(Debug, Clone)]
pub struct RekorEntry {
    /// The body as logged.
    pub logged: LoggedEntry,
    /// The verifiers, in the order of the logged signatures.
    pub verifiers: Vec<Verifier>,
    /// The envelope, in DSSE's JSON form, for a DSSE entry made from a
    /// request (a logged leaf does not hold it).
    pub envelope: Option<Envelope>,
    /// The in-toto statement of a DSSE request's payload, when it is one.
    pub statement: Option<Statement>,
}

impl RekorEntry {
    /// The digest the entry logs: the artifact's (hashedrekord) or the
    /// payload's (DSSE).
    pub fn digest(&self) -> Option<&HashOutput> {
        match (&self.logged.spec.hashed_rekord, &self.logged.spec.dsse) {
            (Some(h), _) => Some(&h.data),
            (None, Some(d)) => Some(&d.payload_hash),
            (None, None) => None,
        }
    }

    /// Checks a `CreateEntryRequest` (protobuf JSON) and builds the entry.
    ///
    /// # Errors
    ///
    /// [`EntryError`] saying what is wrong; nothing is logged.
    pub fn from_request(body: &[u8]) -> Result<Self, EntryError> {
        let request: CreateEntryRequest =
            serde_json::from_slice(body).map_err(|e| EntryError::Json(e.to_string()))?;
        match (request.hashed_rekord, request.dsse) {
            (Some(h), None) => Self::hashed_rekord(h),
            (None, Some(d)) => Self::dsse(d),
            _ => Err(EntryError::Json(
                "give exactly one of hashedRekordRequestV002 and dsseRequestV002".into(),
            )),
        }
    }

    fn hashed_rekord(request: HashedRekordRequest) -> Result<Self, EntryError> {
        let verifier = Verifier::parse(&request.signature.verifier)
            .map_err(|e| EntryError::Verifier(format!("signature.verifier: {e}")))?;
        let Some(hash) = verifier.key.prehash() else {
            return Err(EntryError::Verifier(
                "signature.verifier: PKIX_ED25519 signs messages, not digests; \
                 use PKIX_ED25519_PH or a DSSE entry"
                    .into(),
            ));
        };
        if request.digest.0.len() != hash.digest_len() {
            return Err(EntryError::Invalid(format!(
                "digest is {} bytes; a {} key signs {} digests of {} bytes",
                request.digest.0.len(),
                request.signature.verifier.key_details,
                hash.name(),
                hash.digest_len()
            )));
        }
        if !verifier
            .key
            .verify_digest(&request.digest.0, &request.signature.content.0)
        {
            return Err(EntryError::Signature(
                "signature.content does not verify with signature.verifier over digest".into(),
            ));
        }
        Ok(Self {
            logged: LoggedEntry {
                api_version: API_VERSION.into(),
                kind: KIND_HASHEDREKORD.into(),
                spec: LoggedSpec {
                    hashed_rekord: Some(HashedRekordLogEntry {
                        data: HashOutput {
                            algorithm: hash.name().into(),
                            digest: request.digest,
                        },
                        signature: request.signature,
                    }),
                    dsse: None,
                },
            },
            verifiers: vec![verifier],
            envelope: None,
            statement: None,
        })
    }

    fn dsse(request: DsseRequest) -> Result<Self, EntryError> {
        let envelope = request.envelope;
        if request.verifiers.is_empty() || request.verifiers.len() > MAX_VERIFIERS {
            return Err(EntryError::Invalid(format!(
                "give 1 to {MAX_VERIFIERS} verifiers"
            )));
        }
        if envelope.signatures.is_empty() || envelope.signatures.len() > MAX_SIGNATURES {
            return Err(EntryError::Invalid(format!(
                "the envelope must carry 1 to {MAX_SIGNATURES} signatures"
            )));
        }
        let verifiers = request
            .verifiers
            .iter()
            .enumerate()
            .map(|(i, v)| {
                Verifier::parse(v).map_err(|e| EntryError::Verifier(format!("verifiers[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pae = pae(&envelope.payload_type, &envelope.payload.0);
        let message = Message::new(&pae);
        // The signature by each verifier, then sorted by its bytes.
        let by_verifier = pair_signatures(envelope.signatures.len(), verifiers.len(), |i| {
            let sig = &envelope.signatures[i].sig.0;
            Ok(verifiers
                .iter()
                .position(|v| v.key.verify_message(&message, sig))
                .map(|k| (k, ())))
        })?;
        let mut signed: Vec<(Bytes, usize)> = by_verifier
            .iter()
            .enumerate()
            .map(|(k, (i, ()))| (envelope.signatures[*i].sig.clone(), k))
            .collect();
        signed.sort();
        let signatures = signed
            .iter()
            .map(|(content, by)| SignatureJson {
                content: content.clone(),
                verifier: verifiers[*by].json.clone(),
            })
            .collect();
        let ordered = signed
            .iter()
            .map(|(_, by)| verifiers[*by].clone())
            .collect();
        let statement = (envelope.payload_type == IN_TOTO_PAYLOAD_TYPE)
            .then(|| Statement::parse(&envelope.payload.0))
            .transpose()
            .map_err(EntryError::Statement)?;
        let payload_hash = Sha256::digest(&envelope.payload.0).to_vec();
        Ok(Self {
            logged: LoggedEntry {
                api_version: API_VERSION.into(),
                kind: KIND_DSSE_V2.into(),
                spec: LoggedSpec {
                    hashed_rekord: None,
                    dsse: Some(DsseLogEntry {
                        payload_hash: HashOutput {
                            algorithm: HashAlgorithm::Sha256.name().into(),
                            digest: Bytes(payload_hash),
                        },
                        signatures,
                    }),
                },
            },
            verifiers: ordered,
            envelope: Some(Envelope {
                payload_type: envelope.payload_type,
                payload: STANDARD.encode(&envelope.payload.0),
                signatures: envelope
                    .signatures
                    .into_iter()
                    .map(|s| EnvelopeSignature {
                        keyid: s.keyid,
                        sig: STANDARD.encode(&s.sig.0),
                    })
                    .collect(),
            }),
            statement,
        })
    }

    /// Reads a logged body: its shape checked and its verifiers parsed;
    /// signatures are not checked again (the log checked them).
    ///
    /// # Errors
    ///
    /// [`EntryError`] if it is not a Rekor v2 entry of a supported kind.
    pub fn logged(body: &[u8]) -> Result<Self, EntryError> {
        let logged: LoggedEntry =
            serde_json::from_slice(body).map_err(|e| EntryError::Json(e.to_string()))?;
        if logged.api_version != API_VERSION {
            return Err(EntryError::Invalid(format!(
                "apiVersion {:?} is not {API_VERSION}",
                logged.api_version
            )));
        }
        let signatures: Vec<&SignatureJson> = match (
            logged.kind.as_str(),
            &logged.spec.hashed_rekord,
            &logged.spec.dsse,
        ) {
            (KIND_HASHEDREKORD, Some(h), None) => vec![&h.signature],
            (KIND_DSSE_V2, None, Some(d)) => d.signatures.iter().collect(),
            _ => return Err(EntryError::UnknownKind(logged.kind.clone())),
        };
        let verifiers = signatures
            .iter()
            .map(|s| Verifier::parse(&s.verifier).map_err(EntryError::Verifier))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            logged,
            verifiers,
            envelope: None,
            statement: None,
        })
    }

    /// Checks what a logged body alone lets one check again: a
    /// hashedrekord's signature over its digest; a DSSE entry's payload
    /// hash length and the order of its signatures (the signatures
    /// themselves are over the envelope, which the leaf does not hold).
    ///
    /// # Errors
    ///
    /// [`EntryError`] naming the rule the body breaks.
    pub fn check_logged(&self) -> Result<(), EntryError> {
        if let Some(h) = &self.logged.spec.hashed_rekord {
            let hash = self.verifiers[0].key.prehash();
            if hash.map(HashAlgorithm::name) != Some(h.data.algorithm.as_str()) {
                return Err(EntryError::Invalid(
                    "data.algorithm is not the key's hash".into(),
                ));
            }
            if !self.verifiers[0]
                .key
                .verify_digest(&h.data.digest.0, &h.signature.content.0)
            {
                return Err(EntryError::Signature(
                    "the logged signature does not verify over the logged digest".into(),
                ));
            }
        }
        if let Some(d) = &self.logged.spec.dsse {
            if d.payload_hash.algorithm != HashAlgorithm::Sha256.name()
                || d.payload_hash.digest.0.len() != HashAlgorithm::Sha256.digest_len()
            {
                return Err(EntryError::Invalid(
                    "payloadHash is not a SHA2_256 digest".into(),
                ));
            }
            if d.signatures.is_empty()
                || d.signatures.len() > MAX_SIGNATURES
                || d.signatures
                    .windows(2)
                    .any(|w| w[0].content >= w[1].content)
            {
                return Err(EntryError::Invalid(
                    "signatures are not 1 to 10, distinct and sorted by their bytes".into(),
                ));
            }
        }
        Ok(())
    }

    /// The canonicalized body: the leaf.
    ///
    /// # Errors
    ///
    /// Serialization errors (none occur for a checked entry).
    pub fn canonical_body(&self) -> Result<Vec<u8>, EntryError> {
        canonical_json(&self.logged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::pkcs8::EncodePublicKey as _;
    use p256::ecdsa::signature::hazmat::PrehashSigner as _;
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::DecodePrivateKey as _;

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    fn p256_key() -> (p256::ecdsa::SigningKey, Vec<u8>) {
        let key = p256::ecdsa::SigningKey::from_slice(&[7; 32]).expect("key");
        let spki = key.verifying_key().to_public_key_der().expect("der");
        (key, spki.into_vec())
    }

    fn hashed_request(details: &str, spki: &[u8], digest: &[u8], sig: &[u8]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"hashedRekordRequestV002": {
            "digest": b64(digest),
            "signature": {"content": b64(sig), "verifier": {
                "publicKey": {"rawBytes": b64(spki)}, "keyDetails": details}}}}))
        .expect("json")
    }

    fn p256_hashed(artifact: &[u8]) -> Vec<u8> {
        let (key, spki) = p256_key();
        let digest = Sha256::digest(artifact);
        let sig: p256::ecdsa::Signature = key.sign_prehash(&digest).expect("sign");
        hashed_request(
            "PKIX_ECDSA_P256_SHA_256",
            &spki,
            &digest,
            sig.to_der().as_bytes(),
        )
    }

    #[test]
    fn a_p256_hashedrekord_logs_rekors_body() {
        let entry = RekorEntry::from_request(&p256_hashed(b"artifact")).expect("valid");
        let body = String::from_utf8(entry.canonical_body().expect("body")).expect("utf8");
        assert!(
            body.starts_with(r#"{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":{"algorithm":"SHA2_256","digest":""#),
            "{body}"
        );
        assert!(
            body.contains(
                r#""verifier":{"keyDetails":"PKIX_ECDSA_P256_SHA_256","publicKey":{"rawBytes":""#
            ),
            "{body}"
        );
        let again = RekorEntry::logged(body.as_bytes()).expect("reads back");
        again.check_logged().expect("the logged signature verifies");
        assert_eq!(again.logged, entry.logged);
    }

    #[test]
    fn snake_case_and_url_safe_unpadded_bytes_are_read_as_protojson_does() {
        let (key, spki) = p256_key();
        let digest = Sha256::digest(b"x");
        let sig: p256::ecdsa::Signature = key.sign_prehash(&digest).expect("sign");
        let body = serde_json::json!({"hashed_rekord_request_v002": {
            "digest": URL_SAFE_NO_PAD.encode(digest),
            "signature": {"content": URL_SAFE_NO_PAD.encode(sig.to_der().as_bytes()), "verifier": {
                "public_key": {"raw_bytes": URL_SAFE_NO_PAD.encode(&spki)}, "key_details": "PKIX_ECDSA_P256_SHA_256"}}}});
        let entry = RekorEntry::from_request(body.to_string().as_bytes()).expect("valid");
        let canonical = RekorEntry::from_request(&p256_hashed(b"x")).expect("valid");
        assert_eq!(entry.logged, canonical.logged);
    }

    #[test]
    fn a_wrong_signature_digest_or_key_is_refused() {
        let (key, spki) = p256_key();
        let digest = Sha256::digest(b"artifact");
        let sig: p256::ecdsa::Signature = key.sign_prehash(&digest).expect("sign");
        let der = sig.to_der().as_bytes().to_vec();
        let other = Sha256::digest(b"other");
        let refused = [
            hashed_request("PKIX_ECDSA_P256_SHA_256", &spki, &other, &der),
            hashed_request("PKIX_ECDSA_P256_SHA_256", &spki, &digest[..31], &der),
            hashed_request("PKIX_ECDSA_P384_SHA_384", &spki, &digest, &der),
            hashed_request("PKIX_ED25519", &spki, &digest, &der),
            hashed_request("PKIX_ECDSA_P256_SHA_256", &spki[1..], &digest, &der),
            hashed_request("PKIX_ECDSA_P256_SHA_256", &spki, &digest, &der[..der.len() - 1]),
            hashed_request("NOT_A_KEY", &spki, &digest, &der),
            br#"{"hashedRekordRequestV002":{}}"#.to_vec(),
            br#"{}"#.to_vec(),
            br#"{"hashedRekordRequestV002":{"digest":"!!","signature":{}}}"#.to_vec(),
            br#"{"dsseRequestV002":{"envelope":{"payload":"","payloadType":"t","signatures":[]},"verifiers":[]},"hashedRekordRequestV002":null}"#.to_vec(),
        ];
        for body in refused {
            assert!(
                RekorEntry::from_request(&body).is_err(),
                "{}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn every_supported_key_signs_a_digest_of_its_hash() {
        let artifact = b"release.tar.gz";
        // P-384 over SHA-384.
        let p384 = p384::ecdsa::SigningKey::from_slice(&[9; 48]).expect("key");
        let digest = Sha384::digest(artifact);
        let sig: p384::ecdsa::Signature = p384.sign_prehash(&digest).expect("sign");
        let spki = p384.verifying_key().to_public_key_der().expect("der");
        let body = hashed_request(
            "PKIX_ECDSA_P384_SHA_384",
            spki.as_bytes(),
            &digest,
            sig.to_der().as_bytes(),
        );
        let entry = RekorEntry::from_request(&body).expect("p384");
        assert_eq!(entry.digest().expect("digest").algorithm, "SHA2_384");
        // Ed25519ph over SHA-512.
        let ed = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let mut hasher = Sha512::new();
        hasher.update(artifact);
        let sig = ed.sign_prehashed(hasher, None).expect("sign");
        let spki = ed.verifying_key().to_public_key_der().expect("der");
        let body = hashed_request(
            "PKIX_ED25519_PH",
            spki.as_bytes(),
            &Sha512::digest(artifact),
            &sig.to_bytes(),
        );
        RekorEntry::from_request(&body).expect("ed25519ph");
        // The same key and signature do not pass as pure Ed25519.
        let body = hashed_request(
            "PKIX_ED25519",
            spki.as_bytes(),
            &Sha512::digest(artifact),
            &sig.to_bytes(),
        );
        assert!(matches!(
            RekorEntry::from_request(&body),
            Err(EntryError::Verifier(_))
        ));
        // RSA PKCS#1 v1.5 over SHA-256, and its size must be the one named.
        use rsa::pkcs8::EncodePublicKey as _;
        use rsa::signature::SignatureEncoding as _;
        let mut rng = rand_core::OsRng;
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("rsa");
        let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(private.clone());
        let digest = Sha256::digest(artifact);
        let sig = signer.sign_prehash(&digest).expect("sign").to_vec();
        let spki = private.to_public_key().to_public_key_der().expect("der");
        let body = hashed_request(
            "PKIX_RSA_PKCS1V15_2048_SHA256",
            spki.as_bytes(),
            &digest,
            &sig,
        );
        RekorEntry::from_request(&body).expect("rsa 2048");
        let body = hashed_request(
            "PKIX_RSA_PKCS1V15_3072_SHA256",
            spki.as_bytes(),
            &digest,
            &sig,
        );
        assert!(
            RekorEntry::from_request(&body).is_err(),
            "size named wrongly"
        );
    }

    fn dsse_request(
        payload: &[u8],
        signers: &[&ed25519_dalek::SigningKey],
        verifiers: &[&ed25519_dalek::SigningKey],
    ) -> Vec<u8> {
        let message = pae(IN_TOTO_PAYLOAD_TYPE, payload);
        let signatures: Vec<_> = signers
            .iter()
            .map(|k| serde_json::json!({"sig": b64(&k.sign(&message).to_bytes()), "keyid": ""}))
            .collect();
        let verifiers: Vec<_> = verifiers
            .iter()
            .map(|k| serde_json::json!({"publicKey": {"rawBytes": b64(k.verifying_key().to_public_key_der().expect("der").as_bytes())}, "keyDetails": "PKIX_ED25519"}))
            .collect();
        serde_json::to_vec(&serde_json::json!({"dsseRequestV002": {
            "envelope": {"payload": b64(payload), "payloadType": IN_TOTO_PAYLOAD_TYPE, "signatures": signatures},
            "verifiers": verifiers}}))
        .expect("json")
    }

    const STATEMENT: &[u8] = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"0000000000000000000000000000000000000000000000000000000000000000"}}],"predicateType":"https://example.com/p","predicate":{}}"#;

    #[test]
    fn a_dsse_entry_logs_the_payload_hash_and_sorted_signatures() {
        let (a, b) = (
            ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
            ed25519_dalek::SigningKey::from_bytes(&[2; 32]),
        );
        let one = RekorEntry::from_request(&dsse_request(STATEMENT, &[&a, &b], &[&a, &b]))
            .expect("valid");
        let other = RekorEntry::from_request(&dsse_request(STATEMENT, &[&b, &a], &[&b, &a]))
            .expect("valid");
        assert_eq!(
            one.canonical_body().expect("body"),
            other.canonical_body().expect("body"),
            "signature order does not change the body"
        );
        let dsse = one.logged.spec.dsse.as_ref().expect("dsse");
        assert_eq!(
            dsse.payload_hash.digest.0,
            Sha256::digest(STATEMENT).to_vec()
        );
        assert!(dsse.signatures[0].content < dsse.signatures[1].content);
        assert!(one.statement.is_some(), "the in-toto statement is read");
        assert!(
            one.envelope.is_some(),
            "the envelope is kept for the ledger"
        );
        let again = RekorEntry::logged(&one.canonical_body().expect("body")).expect("reads back");
        again.check_logged().expect("shape holds");
        assert_eq!(again.verifiers[0].fingerprint, one.verifiers[0].fingerprint);
    }

    #[test]
    fn a_dsse_entry_needs_every_signature_verified_and_every_verifier_used() {
        let (a, b) = (
            ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
            ed25519_dalek::SigningKey::from_bytes(&[2; 32]),
        );
        for (signers, verifiers) in [
            (vec![&a], vec![&b]),
            (vec![&a], vec![&a, &b]),
            (vec![&a, &a], vec![&a]),
            (vec![], vec![&a]),
            (vec![&a], vec![]),
        ] {
            assert!(
                RekorEntry::from_request(&dsse_request(STATEMENT, &signers, &verifiers)).is_err()
            );
        }
        // A tampered payload fails the signatures.
        let mut body: serde_json::Value =
            serde_json::from_slice(&dsse_request(STATEMENT, &[&a], &[&a])).expect("json");
        body["dsseRequestV002"]["envelope"]["payload"] = b64(b"{}").into();
        assert!(matches!(
            RekorEntry::from_request(body.to_string().as_bytes()),
            Err(EntryError::SignatureInvalid(0))
        ));
    }

    #[test]
    fn a_certificate_verifier_uses_the_certificates_key() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let cert = rcgen::CertificateParams::new(vec!["signer.example".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let signing = p256::ecdsa::SigningKey::from_pkcs8_der(&key.serialize_der()).expect("pkcs8");
        let digest = Sha256::digest(b"artifact");
        let sig: p256::ecdsa::Signature = signing.sign_prehash(&digest).expect("sign");
        let body = serde_json::json!({"hashedRekordRequestV002": {
            "digest": b64(&digest),
            "signature": {"content": b64(sig.to_der().as_bytes()), "verifier": {
                "x509Certificate": {"rawBytes": b64(cert.der())}, "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}});
        let entry = RekorEntry::from_request(body.to_string().as_bytes()).expect("valid");
        let spki = signing.verifying_key().to_public_key_der().expect("der");
        assert_eq!(entry.verifiers[0].spki, spki.as_bytes());
        let body = String::from_utf8(entry.canonical_body().expect("body")).expect("utf8");
        assert!(
            body.contains(r#""x509Certificate":{"rawBytes":""#),
            "{body}"
        );
    }
}

//! The `dsse` entry kind: a DSSE envelope (<https://github.com/secure-systems-lab/dsse>)
//! with the public keys that verify it.
//!
//! ```json
//! {"kind": "dsse",
//!  "spec": {"envelope": {"payloadType": "application/vnd.in-toto+json",
//!                        "payload": "<base64>",
//!                        "signatures": [{"keyid": "<hex>", "sig": "<base64>"}]},
//!           "verifiers": ["-----BEGIN PUBLIC KEY-----\n..."]}}
//! ```
//!
//! Every signature must verify over the PAE with one of the verifiers, and
//! every verifier must have signed exactly once: a key that verifies nothing
//! is a mismatch, not decoration, and a second signature by one key (the same
//! bytes again, or another ECDSA signature) is refused.
//!
//! One signed statement has one leaf. The logged form is canonical, so that
//! nothing a submitter (or anyone replaying its envelope) can vary without
//! the signer's key yields a second leaf:
//!
//! - base64 in the standard alphabet, padded; keys as canonical PEM;
//! - Ed25519 signatures checked strictly (they have one valid encoding);
//!   ECDSA P-256 signatures accepted as DER or raw `r||s`, high or low S,
//!   and logged as low-S DER (what securesystemslib and OpenSSL verify);
//! - verifiers sorted by their PEM, and each signature logged beside its
//!   verifier's position (signature i is by verifier i);
//! - `keyid` is an unauthenticated hint (DSSE: "optional, unauthenticated"):
//!   what the submitter wrote is ignored, and the logged `keyid` is the key
//!   ID securesystemslib computes for the verifier that checked the
//!   signature ([`PublicKey::keyid`](super::keys::PublicKey::keyid)), so in-toto's reference library can
//!   verify the logged envelope with the signer's key.

use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::intoto::{Statement, IN_TOTO_PAYLOAD_TYPE};
use super::keys::KnownKey;
use super::EntryError;

/// Most signatures (and verifiers) one envelope may carry.
pub const MAX_SIGNATURES: usize = 16;

/// A DSSE envelope as submitted and as logged.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Media type of the payload.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The payload, base64.
    pub payload: String,
    /// Signatures over the PAE.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One DSSE signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    /// Optional, unauthenticated key hint. Logged as the securesystemslib
    /// key ID of the verifier that checked the signature, whatever was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    /// The signature, base64.
    pub sig: String,
}

/// The `spec` of a `dsse` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsseSpec {
    /// The envelope.
    pub envelope: Envelope,
    /// PEM public keys that verify the signatures.
    pub verifiers: Vec<String>,
}

/// A verified `dsse` entry.
#[derive(Debug, Clone)]
pub struct DsseEntry {
    /// The envelope in logged form.
    pub spec: DsseSpec,
    /// The decoded payload.
    pub payload: Vec<u8>,
    /// The parsed verifier keys, in logged order.
    pub keys: Vec<Arc<KnownKey>>,
    /// The in-toto statement, when the payload is one.
    pub statement: Option<Statement>,
}

/// DSSE v1 pre-authentication encoding:
/// `"DSSEv1" SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Bytes in any base64 DSSE (and protobuf JSON) allows: standard or
/// URL-safe, padded or not.
pub fn decode_any_base64(value: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(value)
        .or_else(|_| STANDARD_NO_PAD.decode(value))
        .or_else(|_| URL_SAFE.decode(value))
        .or_else(|_| URL_SAFE_NO_PAD.decode(value))
        .ok()
}

/// [`decode_any_base64`] of `field`.
fn decode_base64(field: &str, value: &str) -> Result<Vec<u8>, EntryError> {
    decode_any_base64(value).ok_or_else(|| EntryError::Base64(field.to_string()))
}

/// The rule of both DSSE entry forms (evledger's and Rekor v2's): every
/// signature verifies with some verifier, and every verifier signed exactly
/// once. `signer_of(i)` names the verifier that verified signature `i`
/// (with what the check returns), or `None`. Returns, for each verifier in
/// order, the index of its signature and that value.
///
/// # Errors
///
/// [`EntryError::SignatureInvalid`], [`EntryError::RepeatedSignature`],
/// [`EntryError::UnusedVerifier`], or what `signer_of` returns.
pub(crate) fn pair_signatures<T>(
    signatures: usize,
    verifiers: usize,
    mut signer_of: impl FnMut(usize) -> Result<Option<(usize, T)>, EntryError>,
) -> Result<Vec<(usize, T)>, EntryError> {
    let mut signed: Vec<Option<(usize, T)>> = (0..verifiers).map(|_| None).collect();
    for i in 0..signatures {
        let Some((k, value)) = signer_of(i)? else {
            return Err(EntryError::SignatureInvalid(i));
        };
        if signed[k].is_some() {
            return Err(EntryError::RepeatedSignature {
                signature: i,
                verifier: k,
            });
        }
        signed[k] = Some((i, value));
    }
    signed
        .into_iter()
        .enumerate()
        .map(|(k, pair)| pair.ok_or(EntryError::UnusedVerifier(k)))
        .collect()
}

/// Parses the PEM verifiers, naming the first bad one.
fn parse_keys(verifiers: &[String]) -> Result<Vec<Arc<KnownKey>>, EntryError> {
    verifiers
        .iter()
        .enumerate()
        .map(|(i, pem)| KnownKey::parse(pem).ok_or(EntryError::BadKey(i)))
        .collect()
}

impl DsseEntry {
    /// Reads a spec as logged, without checking signatures again: the log
    /// checked them before appending. Keys and statement are still parsed.
    ///
    /// # Errors
    ///
    /// [`EntryError`] if the spec cannot be decoded.
    pub fn logged(spec: DsseSpec) -> Result<Self, EntryError> {
        let payload = decode_base64("spec.envelope.payload", &spec.envelope.payload)?;
        let keys = parse_keys(&spec.verifiers)?;
        let statement = if spec.envelope.payload_type == IN_TOTO_PAYLOAD_TYPE {
            Statement::parse(&payload).ok()
        } else {
            None
        };
        Ok(Self {
            spec,
            payload,
            keys,
            statement,
        })
    }

    /// Checks a submitted spec and returns it in logged form.
    ///
    /// # Errors
    ///
    /// [`EntryError`] naming the field or signature at fault.
    pub fn verify(spec: DsseSpec) -> Result<Self, EntryError> {
        let envelope = &spec.envelope;
        if envelope.payload_type.is_empty() {
            return Err(EntryError::Invalid("envelope.payloadType is empty".into()));
        }
        let payload = decode_base64("spec.envelope.payload", &envelope.payload)?;
        if envelope.signatures.is_empty() {
            return Err(EntryError::Invalid("envelope has no signatures".into()));
        }
        if spec.verifiers.is_empty() {
            return Err(EntryError::Invalid("spec.verifiers is empty".into()));
        }
        if envelope.signatures.len() > MAX_SIGNATURES || spec.verifiers.len() > MAX_SIGNATURES {
            return Err(EntryError::Invalid(format!(
                "at most {MAX_SIGNATURES} signatures and verifiers"
            )));
        }
        let keys = parse_keys(&spec.verifiers)?;

        let message = pae(&envelope.payload_type, &payload);
        // The canonical signature by each verifier.
        let signed = pair_signatures(envelope.signatures.len(), keys.len(), |i| {
            let sig = decode_base64(
                &format!("spec.envelope.signatures[{i}].sig"),
                &envelope.signatures[i].sig,
            )?;
            Ok(keys
                .iter()
                .enumerate()
                .find_map(|(k, known)| known.key.verify_canonical(&message, &sig).map(|c| (k, c))))
        })?;
        // Every verifier signed once: pair each with its signature, in PEM order.
        let mut pairs: Vec<_> = keys
            .into_iter()
            .zip(signed)
            .map(|(known, (_, sig))| (known, sig))
            .collect();
        pairs.sort_by(|a, b| a.0.pem.cmp(&b.0.pem));
        let signatures = pairs
            .iter()
            .map(|(known, sig)| EnvelopeSignature {
                keyid: Some(known.keyid.clone()),
                sig: STANDARD.encode(sig),
            })
            .collect();
        let (verifiers, keys): (Vec<String>, Vec<Arc<KnownKey>>) = pairs
            .into_iter()
            .map(|(known, _)| (known.pem.clone(), known))
            .unzip();

        let statement = if envelope.payload_type == IN_TOTO_PAYLOAD_TYPE {
            Some(Statement::parse(&payload).map_err(EntryError::Statement)?)
        } else {
            None
        };

        let logged = DsseSpec {
            envelope: Envelope {
                payload_type: envelope.payload_type.clone(),
                payload: STANDARD.encode(&payload),
                signatures,
            },
            verifiers,
        };
        Ok(Self {
            spec: logged,
            payload,
            keys,
            statement,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_read_in_every_alphabet_and_padding_dsse_allows() {
        // Bytes whose encodings hold `+`/`/` (or `-`/`_`) and need padding.
        let bytes = [0xfb, 0xff, 0xbf, 0xfe, 0x0f];
        for encoded in [
            STANDARD.encode(bytes),
            STANDARD_NO_PAD.encode(bytes),
            URL_SAFE.encode(bytes),
            URL_SAFE_NO_PAD.encode(bytes),
        ] {
            assert_eq!(
                decode_base64("sig", &encoded).ok().as_deref(),
                Some(&bytes[..]),
                "{encoded}"
            );
        }
        assert!(decode_base64("sig", "not base64!").is_err());
    }
}

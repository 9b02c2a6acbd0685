//! The alert receiver's check of an `AlertRequest`
//! (`evledger_fanout_wire::alert::verify_request`): a signed, encoded
//! CloudEvents `Event` carrying an entry, its inclusion proof and the
//! checkpoint the proof is against.
//!
//! Three kinds of input: fuzz bytes as the event, signed with the fixed
//! test log key, so prost decoding and everything after the signature see
//! arbitrary bytes; events built from fuzz-chosen fields over an
//! independent RFC 9162 tree, with a checkpoint signed by the test key; and
//! requests as received, with a fuzz-made signature.
//!
//! Properties: a built event verifies and the receiver reports exactly its
//! id (the leaf hash), source, subject, kind, log index, the checkpoint's
//! tree size and the entry's JSON; a changed byte of the event, signature
//! or context is a signature refusal; a claim changed and signed again (log
//! index, entry, leaf hash, a proof hash, a checkpoint byte) is a malformed
//! refusal; whatever verifies has a leaf hash that matches its entry and a
//! log index below its tree size; a made-up signature never verifies.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use evledger_fanout_wire::alert::proto::{AlertRequest, EntryData, Event, InclusionProof};
use evledger_fanout_wire::alert::{verify_request, RefusedRequest, SIGNATURE_CONTEXT};
use evledger_fuzz::{merkle, note_signer_key, note_verifier_key, LOG_ORIGIN, LOG_SEED};
use evledger_tlog::{CheckpointVerifier, LogSigner};
use libfuzzer_sys::fuzz_target;
use prost::Message;

/// Largest tree a built event is proven in.
const MAX_TREE: usize = 300;

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// Fuzz bytes as the encoded event, signed with the test key.
    SignedBytes(&'a [u8]),
    /// An event built from these fields, then changed as `tamper` says.
    Built {
        leaves: u16,
        index: u16,
        kind: String,
        subject: String,
        entry: &'a [u8],
        tamper: Option<(u8, u16)>,
    },
    /// A request as received: the signature is whatever was sent.
    Unsigned {
        event: &'a [u8],
        signature: &'a [u8],
        context: String,
    },
}

struct Log {
    signer: LogSigner,
    verifier_key: String,
    verifier: CheckpointVerifier,
}

fn log() -> &'static Log {
    static LOG: OnceLock<Log> = OnceLock::new();
    LOG.get_or_init(|| {
        let verifier_key = note_verifier_key(LOG_ORIGIN, &LOG_SEED);
        Log {
            signer: LogSigner::from_signer_key(&note_signer_key(LOG_ORIGIN, &LOG_SEED))
                .expect("fixed test key"),
            verifier: CheckpointVerifier::new(std::slice::from_ref(&verifier_key))
                .expect("fixed test key"),
            verifier_key,
        }
    })
}

fn signed(event: Vec<u8>) -> AlertRequest {
    let signature = log()
        .signer
        .sign_payload(SIGNATURE_CONTEXT, &event)
        .expect("signing with the test key");
    AlertRequest {
        event,
        signature,
        signature_context: SIGNATURE_CONTEXT.into(),
        key_name: LOG_ORIGIN.into(),
    }
}

fn verify(
    request: &AlertRequest,
) -> Result<evledger_fanout_wire::alert::ReceivedEvent, RefusedRequest> {
    let log = log();
    verify_request(&log.verifier_key, &log.verifier, request)
}

fuzz_target!(|input: Input<'_>| match input {
    Input::SignedBytes(bytes) => {
        if let Ok(received) = verify(&signed(bytes.to_vec())) {
            let event = Event::decode(bytes).expect("a verified event decodes");
            let data = event.data.expect("a verified event has data");
            let hash = merkle::leaf(&data.entry);
            assert_eq!(received.id, hex::encode(hash));
            assert_eq!(data.leaf_hash, hash);
            assert!(received.log_index < received.tree_size);
        }
    }
    Input::Built {
        leaves,
        index,
        kind,
        subject,
        entry,
        tamper,
    } => {
        let n = usize::from(leaves) % MAX_TREE + 1;
        let m = usize::from(index) % n;
        let hash = merkle::leaf(entry);
        let tree: Vec<[u8; 32]> = (0..n)
            .map(|i| if i == m { hash } else { merkle::filler(i) })
            .collect();
        let checkpoint = log()
            .signer
            .sign(n as u64, merkle::root(&tree))
            .expect("signing with the test key");
        let mut event = Event {
            spec_version: "1.0".into(),
            r#type: "dev.evledger.entry.v1".into(),
            id: hex::encode(hash),
            source: LOG_ORIGIN.into(),
            subject: subject.clone(),
            data_content_type: "application/json".into(),
            data: Some(EntryData {
                log_index: m as u64,
                leaf_hash: hash.to_vec(),
                entry: entry.to_vec(),
                kind: kind.clone(),
                inclusion_proof: Some(InclusionProof {
                    log_index: m as u64,
                    tree_size: n as u64,
                    root_hash: checkpoint.root.to_vec(),
                    hashes: merkle::inclusion(m, &tree)
                        .iter()
                        .map(|h| h.to_vec())
                        .collect(),
                }),
                checkpoint: checkpoint.note.clone(),
            }),
        };
        let bytes = event.encode_to_vec();
        assert_eq!(
            Event::decode(bytes.as_slice()).as_ref(),
            Ok(&event),
            "prost round trip"
        );
        let request = signed(bytes);
        let received = verify(&request).expect("a built event verifies");
        assert_eq!(received.id, hex::encode(hash));
        assert_eq!(
            (
                received.source.as_str(),
                received.subject.as_str(),
                received.kind.as_str()
            ),
            (LOG_ORIGIN, subject.as_str(), kind.as_str())
        );
        assert_eq!(
            (received.log_index, received.tree_size),
            (m as u64, n as u64)
        );
        let json = serde_json::from_slice(entry).unwrap_or(serde_json::Value::Null);
        assert_eq!(received.entry, json);

        let Some((what, at)) = tamper else {
            return;
        };
        let at = usize::from(at);
        if what % 2 == 0 {
            // Changed on the wire, not signed again: the signature fails.
            let mut changed = request.clone();
            match what % 6 {
                0 if !changed.event.is_empty() => {
                    let i = at % changed.event.len();
                    changed.event[i] ^= 1 << (what % 8);
                }
                2 => {
                    let i = at % changed.signature.len();
                    changed.signature[i] ^= 1 << (what % 8);
                }
                _ => changed.signature_context.push('x'),
            }
            assert!(matches!(
                verify(&changed),
                Err(RefusedRequest::Signature(_))
            ));
            return;
        }
        // A claim changed and signed again: the log's signature is good, the
        // claim does not verify.
        let data = event.data.as_mut().expect("built with data");
        match what % 10 {
            1 => data.log_index = (data.log_index + 1 + at as u64) % (n as u64 + 2),
            3 => data.entry.push(b' '),
            5 => data.leaf_hash[at % 32] ^= 1,
            7 => {
                let proof = data.inclusion_proof.as_mut().expect("built with a proof");
                if proof.hashes.is_empty() {
                    return;
                }
                let i = at % proof.hashes.len();
                proof.hashes[i][at % 32] ^= 1;
            }
            _ => {
                let body = checkpoint.body().len();
                let mut note = data.checkpoint.clone().into_bytes();
                note[at % body] ^= 1 << (what % 7);
                data.checkpoint = String::from_utf8_lossy(&note).into_owned();
            }
        }
        if data.log_index == m as u64 && what % 10 == 1 {
            return;
        }
        let changed = signed(event.encode_to_vec());
        assert!(
            matches!(verify(&changed), Err(RefusedRequest::Malformed(_))),
            "a changed claim verified: {event:?}"
        );
    }
    Input::Unsigned {
        event,
        signature,
        context,
    } => {
        let request = AlertRequest {
            event: event.to_vec(),
            signature: signature.to_vec(),
            signature_context: context,
            key_name: LOG_ORIGIN.into(),
        };
        assert!(matches!(
            verify(&request),
            Err(RefusedRequest::Signature(_))
        ));
    }
});

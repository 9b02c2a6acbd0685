//! C2SP tlog-proof bundles (`evledger_tlog::tlog_proof::TlogProof`).
//!
//! Properties: an accepted bundle is at most `MAX_BUNDLE_SIZE`, carries at
//! most `MAX_PROOF_HASHES` hashes and re-encodes byte for byte
//! (`to_text`). A bundle built over an independent RFC 9162 tree, for a
//! fuzz-chosen entry and tree size, with a checkpoint signed by the fixed
//! test log key, verifies after the text round trip and proves exactly
//! its entry; another entry is a mismatch, and a changed proof hash,
//! index or checkpoint byte fails verification.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use evledger_fuzz::{merkle, note_signer_key, note_verifier_key, LOG_ORIGIN, LOG_SEED};
use evledger_tlog::tlog_proof::{BundleError, TlogProof, MAX_BUNDLE_SIZE, MAX_PROOF_HASHES};
use evledger_tlog::{CheckpointVerifier, LogSigner};
use libfuzzer_sys::fuzz_target;

/// Largest tree the structured mode builds.
const MAX_TREE: usize = 300;

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// A bundle as a client holds it.
    Text(&'a [u8]),
    /// A bundle built and signed here, then checked.
    Built {
        leaves: u16,
        index: u16,
        entry: &'a [u8],
        tamper: Option<(u8, u16)>,
    },
}

fn keys() -> &'static (LogSigner, CheckpointVerifier) {
    static KEYS: OnceLock<(LogSigner, CheckpointVerifier)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let signer = LogSigner::from_signer_key(&note_signer_key(LOG_ORIGIN, &LOG_SEED))
            .expect("fixed test key");
        let verifier = CheckpointVerifier::new(&[note_verifier_key(LOG_ORIGIN, &LOG_SEED)])
            .expect("fixed test key");
        (signer, verifier)
    })
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Text(bytes) => {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return;
        };
        if let Ok(bundle) = TlogProof::parse(text) {
            assert!(text.len() <= MAX_BUNDLE_SIZE);
            assert!(bundle.hashes.len() <= MAX_PROOF_HASHES);
            assert_eq!(bundle.to_text(), text, "an accepted bundle is canonical");
            // Whatever it holds, checking it ends in an answer.
            let _ = bundle.verify(&keys().1, None);
        }
    }
    Input::Built {
        leaves,
        index,
        entry,
        tamper,
    } => {
        let (signer, verifier) = keys();
        let n = usize::from(leaves) % MAX_TREE + 1;
        let m = usize::from(index) % n;
        let hashes: Vec<[u8; 32]> = (0..n)
            .map(|i| {
                if i == m {
                    merkle::leaf(entry)
                } else {
                    merkle::filler(i)
                }
            })
            .collect();
        let checkpoint = signer
            .sign(n as u64, merkle::root(&hashes))
            .expect("signing with the test key");
        let bundle = TlogProof {
            extra: Some(entry.to_vec()),
            index: m as u64,
            hashes: merkle::inclusion(m, &hashes),
            checkpoint: checkpoint.note.clone(),
        };
        let text = bundle.to_text();
        let parsed = TlogProof::parse(&text);
        if text.len() > MAX_BUNDLE_SIZE {
            assert!(parsed.is_err());
            return;
        }
        let mut parsed = parsed.expect("an encoded bundle parses");
        assert_eq!(parsed, bundle);
        let (verified, leaf) = parsed
            .verify(verifier, None)
            .expect("a built bundle verifies");
        assert_eq!(leaf, entry);
        assert_eq!(
            (verified.size, verified.root),
            (checkpoint.size, checkpoint.root)
        );
        assert!(parsed.verify(verifier, Some(entry)).is_ok());
        let mut other = entry.to_vec();
        other.push(0);
        assert!(matches!(
            parsed.verify(verifier, Some(&other)),
            Err(BundleError::EntryMismatch)
        ));
        let Some((what, at)) = tamper else {
            return;
        };
        match what % 3 {
            0 if !parsed.hashes.is_empty() => {
                let i = usize::from(at) % parsed.hashes.len();
                parsed.hashes[i][usize::from(at) % 32] ^= 1 << (what % 8);
            }
            1 => {
                parsed.index = (parsed.index + 1 + u64::from(at)) % (n as u64 + 2);
                if parsed.index == m as u64 {
                    return;
                }
            }
            2 => {
                // Any byte of the signed body (origin, size, root lines).
                let body = checkpoint.body().len();
                let mut note = parsed.checkpoint.into_bytes();
                note[usize::from(at) % body] ^= 1 << (what % 7);
                parsed.checkpoint = String::from_utf8_lossy(&note).into_owned();
            }
            _ => return,
        }
        assert!(
            parsed.verify(verifier, None).is_err(),
            "a tampered bundle verified: {}",
            parsed.to_text()
        );
    }
});

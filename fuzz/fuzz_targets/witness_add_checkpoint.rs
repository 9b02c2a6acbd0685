//! C2SP tlog-witness `add-checkpoint` bodies
//! (`evledger_tlog::witness_request::AddCheckpoint`) and the consistency
//! proofs they carry (`evledger_tlog::proof::ConsistencyProof`).
//!
//! Properties: an accepted body is at most `MAX_ADD_CHECKPOINT_SIZE`, has
//! at most `MAX_PROOF_LINES` hashes and re-encodes byte for byte
//! (`to_body`); every request encodes to a body that parses back to it;
//! a consistency proof built by an independent RFC 9162 tree between two
//! fuzz-chosen sizes verifies after the body round trip, and fails once
//! a hash, a size or a root is changed.
#![no_main]

use arbitrary::Arbitrary;
use evledger_fuzz::merkle;
use evledger_tlog::proof::ConsistencyProof;
use evledger_tlog::witness_request::{AddCheckpoint, MAX_ADD_CHECKPOINT_SIZE, MAX_PROOF_LINES};
use libfuzzer_sys::fuzz_target;

/// Largest tree the structured mode builds (its proofs stay short).
const MAX_TREE: usize = 300;

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// A body as received.
    Body(&'a [u8]),
    /// A request built from fuzz-chosen sizes over an independent tree.
    Tree {
        leaves: u16,
        old: u16,
        checkpoint: &'a [u8],
        tamper: Option<(u8, u8)>,
    },
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Body(body) => {
        if let Ok(request) = AddCheckpoint::parse(body) {
            assert!(body.len() <= MAX_ADD_CHECKPOINT_SIZE);
            assert!(request.proof.len() <= MAX_PROOF_LINES);
            assert_eq!(request.to_body(), body, "an accepted body is canonical");
        }
    }
    Input::Tree {
        leaves,
        old,
        checkpoint,
        tamper,
    } => {
        let n = usize::from(leaves) % MAX_TREE + 1;
        let m = usize::from(old) % (n + 1);
        let hashes: Vec<[u8; 32]> = (0..n).map(merkle::filler).collect();
        let request = AddCheckpoint {
            old_size: m as u64,
            proof: merkle::consistency(m, &hashes),
            checkpoint: checkpoint.to_vec(),
        };
        let body = request.to_body();
        let parsed = AddCheckpoint::parse(&body);
        if body.len() > MAX_ADD_CHECKPOINT_SIZE || std::str::from_utf8(checkpoint).is_err() {
            assert!(parsed.is_err());
            return;
        }
        let parsed = parsed.expect("an encoded request parses");
        assert_eq!(parsed, request);
        let mut proof = ConsistencyProof {
            first_size: parsed.old_size,
            last_size: n as u64,
            first_root: merkle::root(&hashes[..m]),
            last_root: merkle::root(&hashes),
            hashes: parsed.proof,
        };
        assert_eq!(proof.verify(), Ok(()), "m={m} n={n}");
        if let Some((what, at)) = tamper {
            match what % 4 {
                0 if !proof.hashes.is_empty() => {
                    let i = usize::from(at) % proof.hashes.len();
                    proof.hashes[i][usize::from(at) % 32] ^= 1 << (what % 8);
                }
                1 => proof.first_root[usize::from(at) % 32] ^= 1,
                2 if m > 0 && m < n => proof.first_size += 1,
                3 if m > 0 => proof.last_root[usize::from(at) % 32] ^= 1,
                _ => return,
            }
            assert!(
                proof.verify().is_err(),
                "tampered proof verified: m={m} n={n}"
            );
        }
    }
});

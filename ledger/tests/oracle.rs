//! Property test: for random logs appended in random batches, every root
//! equals the root of rs_merkle (an independent in-memory implementation),
//! and every inclusion and consistency proof verifies against those roots.

mod common;

use common::{append_in_chunks, open_ledger};
use evledger_ledger::{leaf_hash, ConsistencyProof};
use proptest::prelude::*;
use rs_merkle::{Hasher, MerkleTree};
use sha2::{Digest, Sha256};

/// RFC 6962 interior node hashing for rs_merkle: SHA-256(0x01 || l || r).
/// Leaves are fed already hashed with the 0x00 prefix.
#[derive(Clone)]
struct Rfc6962;

impl Hasher for Rfc6962 {
    type Hash = [u8; 32];

    fn hash(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    fn concat_and_hash(left: &[u8; 32], right: Option<&[u8; 32]>) -> [u8; 32] {
        match right {
            Some(right) => {
                let mut h = Sha256::new();
                h.update([1u8]);
                h.update(left);
                h.update(right);
                h.finalize().into()
            }
            // rs_merkle promotes a lone node, as RFC 6962's split does.
            None => *left,
        }
    }
}

fn oracle_root(leaf_hashes: &[[u8; 32]]) -> [u8; 32] {
    MerkleTree::<Rfc6962>::from_leaves(leaf_hashes)
        .root()
        .expect("non-empty")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    #[test]
    fn roots_and_proofs_match_rs_merkle(
        count in 1usize..700,
        chunks in proptest::collection::vec(1usize..300, 1..6),
        seed in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (ledger, _dir) = open_ledger();
        let leaves: Vec<Vec<u8>> = (0..count).map(|i| format!("{seed}-{i}").into_bytes()).collect();
        runtime.block_on(append_in_chunks(&ledger, &leaves, &chunks));
        let hashes: Vec<[u8; 32]> = leaves.iter().map(|l| leaf_hash(l)).collect();

        let mut roots = vec![[0u8; 32]; count + 1];
        for size in 1..=count {
            roots[size] = oracle_root(&hashes[..size]);
            prop_assert_eq!(ledger.root_at(size as u64).unwrap(), roots[size], "root at {}", size);
        }
        // Inclusion and consistency proofs at a sample of sizes.
        let step = (count / 17).max(1);
        for size in (1..=count).step_by(step) {
            for index in (0..size).step_by(step) {
                let proof = ledger.inclusion_proof(index as u64, size as u64).unwrap();
                prop_assert_eq!(proof.root, roots[size]);
                prop_assert!(proof.verify(&hashes[index]).is_ok());
                let wrong = hashes[(index + 1) % count];
                if wrong != hashes[index] {
                    prop_assert!(proof.verify(&wrong).is_err());
                }
            }
            for first in (1..=size).step_by(step) {
                let proof = ledger.consistency_proof(first as u64, size as u64).unwrap();
                let independent = ConsistencyProof {
                    first_root: roots[first],
                    last_root: roots[size],
                    ..proof.clone()
                };
                prop_assert!(independent.verify().is_ok());
                if first < size {
                    let forged = ConsistencyProof { first_root: roots[size], ..proof };
                    prop_assert!(forged.verify().is_err());
                }
            }
        }
    }
}

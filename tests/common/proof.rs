//! The tests' own Merkle tree checker, written from RFC 6962 / RFC 9162
//! with sha2 only, independently of the crates under test: a proof the
//! tests check by hand is checked here.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Leaf hash (RFC 6962 §2.1): SHA-256(0x00 || leaf).
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// [`leaf_hash`] in hex.
pub fn leaf_hash_hex(leaf: &[u8]) -> String {
    hex::encode(leaf_hash(leaf))
}

/// Interior node hash (RFC 6962 §2.1): SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The Merkle Tree Hash (RFC 6962 §2.1) of a tree with these leaf hashes,
/// from scratch: the root a checkpoint of that size must carry.
pub fn tree_root(leaf_hashes: &[Hash]) -> Hash {
    match leaf_hashes.len() {
        0 => Sha256::digest([]).into(),
        1 => leaf_hashes[0],
        n => {
            // The largest power of two smaller than n.
            let k = n.next_power_of_two() / 2;
            node_hash(&tree_root(&leaf_hashes[..k]), &tree_root(&leaf_hashes[k..]))
        }
    }
}

/// The root an inclusion proof leads to (RFC 9162 §2.1.3.2): leaf hash
/// `leaf` at `index` in a tree of `size`, with audit path `path`. `None`
/// when the proof is malformed (index out of range, a path too short or
/// too long); the caller compares a `Some` with the checkpoint's root.
pub fn inclusion_root(index: u64, size: u64, leaf: Hash, path: &[Hash]) -> Option<Hash> {
    if index >= size {
        return None;
    }
    let (mut f, mut s, mut r) = (index, size - 1, leaf);
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

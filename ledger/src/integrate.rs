//! Integration: what appending leaves does to the tree, computed without
//! writing anything.
//!
//! [`integrate`] is a pure function of the tree it starts from (its size,
//! its right-edge tiles, the committed tiles behind them) and the new leaf
//! hashes. It returns the new size and root and every hash tile the leaves
//! change, whole; the sequencer writes those in its commit and only then
//! adopts them as its new right edge. A batch that fails after integrating
//! therefore leaves the sequencer's state exactly as it was.

use std::collections::hash_map::Entry;

use tlog_tiles::Hash;

use crate::hashes::{CommittedTiles, TileHashes, TileKey, TileMap};
use crate::proof::tree_root;
use crate::tiles::{HASH_SIZE, TILE_HEIGHT, TILE_WIDTH};
use crate::{Corruption, LedgerError};

/// The tree after an integration, written nowhere yet.
#[derive(Debug)]
pub(crate) struct Integrated {
    /// Tree size after the new leaves.
    pub size: u64,
    /// Root hash of the tree of `size`.
    pub root: [u8; 32],
    /// Every hash tile the new leaves changed, each whole (the hashes it
    /// held before and the new ones): what the commit writes.
    pub tiles: TileMap,
}

/// Appends `leaf_hashes` (RFC 6962 leaf hashes, in log order) to the tree
/// of `from_size` whose right-edge tiles are `edge` (a tile not in `edge`
/// is read from `committed`).
///
/// # Errors
///
/// Storage errors reading a committed tile, a stored tile whose length is
/// not the tree's ([`Corruption::TileLength`]), tree hashing errors.
pub(crate) fn integrate<C: CommittedTiles + ?Sized>(
    committed: &C,
    edge: &TileMap,
    from_size: u64,
    leaf_hashes: &[[u8; 32]],
) -> Result<Integrated, LedgerError> {
    let mut tiles = TileMap::new();
    let mut size = from_size;
    for hash in leaf_hashes {
        // The nodes this leaf completes, from the leaf itself up: each is a
        // hash of the tree at `size + 1` that no smaller tree has.
        let nodes = {
            let layers = [&tiles, edge];
            let reader = TileHashes::layered(committed, &layers);
            tlog_tiles::stored_hashes_for_record_hash(size, Hash(*hash), &reader)?
        };
        let first = tlog_tiles::stored_hash_index(0, size);
        for (stored_index, node) in (first..).zip(nodes) {
            let (level, n) = tlog_tiles::split_stored_hash_index(stored_index);
            if level % TILE_HEIGHT != 0 {
                continue; // recomputed from the tile below when needed
            }
            let key = (level / TILE_HEIGHT, n / TILE_WIDTH);
            let tile = tile_to_extend(&mut tiles, edge, committed, key)?;
            // Tiles only grow at their end: the node goes right after the
            // hashes the tile holds, or the stored tree is not this size.
            let position = n % TILE_WIDTH;
            if tile.len() as u64 != position * HASH_SIZE as u64 {
                return Err(Corruption::TileLength {
                    level: key.0,
                    index: key.1,
                    len: tile.len(),
                    position,
                }
                .into());
            }
            tile.extend_from_slice(&node.0);
        }
        size += 1;
    }
    let root = {
        let layers = [&tiles, edge];
        tree_root(size, &TileHashes::layered(committed, &layers))?
    };
    Ok(Integrated { size, root, tiles })
}

/// The batch's copy of tile `key`, made from the edge's or the committed
/// one on first use (an empty tile if there is none yet).
fn tile_to_extend<'t, C: CommittedTiles + ?Sized>(
    tiles: &'t mut TileMap,
    edge: &TileMap,
    committed: &C,
    key: TileKey,
) -> Result<&'t mut Vec<u8>, LedgerError> {
    Ok(match tiles.entry(key) {
        Entry::Occupied(slot) => slot.into_mut(),
        Entry::Vacant(slot) => {
            let current = match edge.get(&key) {
                Some(tile) => tile.clone(),
                None => committed.committed_tile(key)?.unwrap_or_default(),
            };
            slot.insert(current)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proof::leaf_hash;

    /// Committed tiles in memory.
    impl CommittedTiles for TileMap {
        fn committed_tile(&self, key: TileKey) -> Result<Option<Vec<u8>>, LedgerError> {
            Ok(self.get(&key).cloned())
        }
    }

    fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(left);
        h.update(right);
        h.finalize().into()
    }

    /// RFC 6962 root computed from the leaf hashes alone (MTH, §2.1), by
    /// its recursive definition.
    fn reference_root(leaves: &[[u8; 32]]) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let k = n.next_power_of_two() / 2;
                node(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    /// The RFC 6962 root of every prefix of `leaves` (`roots[i]` is the
    /// root of the first `i + 1`), from a stack of perfect subtrees: the
    /// root of a prefix folds its subtrees from the right. Linear, so the
    /// tests can check every batch of a large tree; it agrees with
    /// [`reference_root`] (checked below).
    fn prefix_roots(leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
        let mut stack: Vec<(usize, [u8; 32])> = Vec::new();
        let mut roots = Vec::with_capacity(leaves.len());
        for leaf in leaves {
            stack.push((1, *leaf));
            while let [.., (a, left), (b, right)] = stack[..] {
                if a != b {
                    break;
                }
                stack.truncate(stack.len() - 2);
                stack.push((a + b, node(&left, &right)));
            }
            let mut subtrees = stack.iter().rev();
            let mut root = subtrees.next().map(|(_, h)| *h).unwrap_or_default();
            for (_, left) in subtrees {
                root = node(left, &root);
            }
            roots.push(root);
        }
        roots
    }

    /// Integrates `leaves` in batches of `batch`, committing each batch's
    /// tiles and keeping only partial ones as the edge, as the sequencer
    /// does; checks every root along the way.
    fn grow(leaves: &[[u8; 32]], batch: usize) -> (TileMap, TileMap) {
        let roots = prefix_roots(leaves);
        let mut committed = TileMap::new();
        let mut edge = TileMap::new();
        let mut size = 0u64;
        for chunk in leaves.chunks(batch) {
            let integrated = integrate(&committed, &edge, size, chunk).expect("integrate");
            size += chunk.len() as u64;
            assert_eq!(integrated.size, size);
            assert_eq!(integrated.root, roots[size as usize - 1], "root at {size}");
            for (key, tile) in integrated.tiles {
                committed.insert(key, tile.clone());
                edge.insert(key, tile);
            }
            edge.retain(|_, tile| tile.len() < TILE_WIDTH as usize * HASH_SIZE);
        }
        (committed, edge)
    }

    fn leaves(n: u32) -> Vec<[u8; 32]> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn prefix_roots_are_the_rfc_6962_roots() {
        let leaves = leaves(300);
        for (i, root) in prefix_roots(&leaves).iter().enumerate() {
            assert_eq!(*root, reference_root(&leaves[..=i]), "size {}", i + 1);
        }
    }

    #[test]
    fn roots_match_rfc_6962_whatever_the_batching() {
        let leaves = leaves(70_000);
        for batch in [1, 7, 256, 4096] {
            let n = if batch == 1 { 1_000 } else { leaves.len() };
            grow(&leaves[..n], batch);
        }
    }

    #[test]
    fn an_empty_edge_reads_the_committed_tiles() {
        // After a restart the edge is empty: integration must find the
        // right edge in the committed tiles and extend it.
        let leaves = leaves(66_000);
        let (committed, _) = grow(&leaves[..65_900], 300);
        let integrated =
            integrate(&committed, &TileMap::new(), 65_900, &leaves[65_900..]).expect("integrate");
        assert_eq!(integrated.root, reference_root(&leaves));
    }

    #[test]
    fn nothing_to_integrate_changes_nothing() {
        let leaves = leaves(300);
        let (committed, edge) = grow(&leaves, 100);
        let integrated = integrate(&committed, &edge, 300, &[]).expect("integrate");
        assert_eq!(integrated.size, 300);
        assert_eq!(integrated.root, reference_root(&leaves));
        assert!(integrated.tiles.is_empty());
    }

    #[test]
    fn a_committed_tile_longer_than_the_tree_is_corruption() {
        // A tile holding a hash beyond the tree size means the stored tile
        // and the stored size disagree: integrating on top would overwrite
        // nothing and sign a root of the wrong leaves.
        let leaves = leaves(10);
        let (mut committed, _) = grow(&leaves, 10);
        committed
            .get_mut(&(0, 0))
            .expect("tile 0/0")
            .extend_from_slice(&[7; HASH_SIZE]);
        let err = integrate(&committed, &TileMap::new(), 10, &leaves[..1]).unwrap_err();
        assert!(
            matches!(
                err,
                LedgerError::Corrupt(Corruption::TileLength {
                    level: 0,
                    index: 0,
                    len: 352,
                    position: 10
                })
            ),
            "{err:?}"
        );
    }
}

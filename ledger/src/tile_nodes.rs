//! Every node hash of full hash tiles, computed once and kept in memory.
//!
//! A hash tile stores one level of the tree (256 hashes); the nodes of the
//! 7 levels between it and the next stored level are recomputed from it
//! when asked for (`tlog_tiles::Tile::hash_at_index`): up to 127 node
//! hashes for one node, about 250 for the path through one tile. A proof
//! crosses one tile per 8 levels, so at a million entries a proof costs
//! some 500 SHA-256 computations, most of a proof's CPU time.
//!
//! A full tile never changes (only the right edge grows), so its 511
//! nodes (its 256 stored hashes and the 255 above them, up to the tile's
//! own root) are computed once, on first use, and kept. Partial tiles are
//! never kept. The cache is bounded ([`UPPER_TILES`], [`BOTTOM_TILES`]):
//! the tiles of level 1 and up, which every proof crosses, are kept apart
//! from the bottom tiles, which random proofs touch at random, so that a
//! scan of bottom tiles never evicts them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::hashes::TileKey;
use crate::tiles::{HASH_SIZE, TILE_HEIGHT, TILE_WIDTH};

/// Tiles of level 1 and up kept (16 KiB each): every one of a log of
/// 2^33 entries (8 MiB).
pub(crate) const UPPER_TILES: usize = 512;

/// Tiles of level 0 kept (16 KiB each, 56 MiB in all): every one of a
/// log of 917,504 entries.
pub(crate) const BOTTOM_TILES: usize = 3584;

/// Nodes of a full tile, by in-tile level (0 to 8), bottom level first.
const NODES: usize = 2 * TILE_WIDTH as usize - 1;

/// The 511 node hashes of one full tile: in-tile level `l` holds
/// `256 >> l` nodes, stored from offset `512 - (512 >> l)`.
pub(crate) struct TileNodes(Box<[[u8; HASH_SIZE]; NODES]>);

impl TileNodes {
    /// Expands the 256 hashes of a full tile into all of its nodes.
    fn expand(tile: &[u8]) -> Option<Self> {
        if tile.len() != TILE_WIDTH as usize * HASH_SIZE {
            return None;
        }
        let mut nodes = Box::new([[0u8; HASH_SIZE]; NODES]);
        for (node, hash) in nodes.iter_mut().zip(tile.chunks_exact(HASH_SIZE)) {
            node.copy_from_slice(hash);
        }
        for level in 1..=TILE_HEIGHT {
            let (below, here) = (offset(level - 1), offset(level));
            for i in 0..(TILE_WIDTH as usize >> level) {
                let left = tlog_tiles::Hash(nodes[below + 2 * i]);
                let right = tlog_tiles::Hash(nodes[below + 2 * i + 1]);
                nodes[here + i] = tlog_tiles::node_hash(left, right).0;
            }
        }
        Some(Self(nodes))
    }

    /// Node `n` of in-tile level `level` (0 to 8).
    pub(crate) fn node(&self, level: u8, n: u64) -> Option<[u8; HASH_SIZE]> {
        if level > TILE_HEIGHT || n >= TILE_WIDTH >> level {
            return None;
        }
        Some(self.0[offset(level) + n as usize])
    }
}

/// Where in-tile level `level` starts in [`TileNodes`].
fn offset(level: u8) -> usize {
    2 * TILE_WIDTH as usize - ((2 * TILE_WIDTH as usize) >> level)
}

/// The node hash at stored hash `index` (Go's sumdb/tlog numbering), as
/// `(tile, in-tile level, node within that level)`.
pub(crate) fn locate(index: u64) -> (TileKey, u8, u64) {
    let (level, n) = tlog_tiles::split_stored_hash_index(index);
    let tile_level = level / TILE_HEIGHT;
    let in_tile = level % TILE_HEIGHT;
    let per_tile = TILE_WIDTH >> in_tile;
    ((tile_level, n / per_tile), in_tile, n % per_tile)
}

/// Full tiles' nodes, bounded, shared by every reader of the store.
#[derive(Default)]
pub(crate) struct NodeCache {
    upper: RwLock<HashMap<TileKey, Arc<TileNodes>>>,
    bottom: RwLock<HashMap<TileKey, Arc<TileNodes>>>,
}

impl NodeCache {
    fn map(&self, key: TileKey) -> (&RwLock<HashMap<TileKey, Arc<TileNodes>>>, usize) {
        if key.0 == 0 {
            (&self.bottom, BOTTOM_TILES)
        } else {
            (&self.upper, UPPER_TILES)
        }
    }

    /// The nodes of full tile `key`, if kept.
    pub(crate) fn get(&self, key: TileKey) -> Option<Arc<TileNodes>> {
        let (map, _) = self.map(key);
        // Every change to a map is one insert or one remove: whole after a
        // panic elsewhere.
        map.read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned()
    }

    /// Expands full tile `key` from its hashes and keeps it; `None` for a
    /// partial tile (never kept: it still grows).
    pub(crate) fn insert(&self, key: TileKey, tile: &[u8]) -> Option<Arc<TileNodes>> {
        let nodes = Arc::new(TileNodes::expand(tile)?);
        let (map, capacity) = self.map(key);
        let mut map = map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= capacity && !map.contains_key(&key) {
            // Evict one tile, an arbitrary one: random proofs have no
            // recency worth tracking.
            if let Some(victim) = map.keys().next().copied() {
                map.remove(&victim);
            }
        }
        map.insert(key, nodes.clone());
        Some(nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tlog_tiles::Tile;

    fn full_tile(seed: u8) -> Vec<u8> {
        (0..TILE_WIDTH as usize * HASH_SIZE)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// Every node a full tile holds, at every tile level, is the hash
    /// `tlog_tiles` recomputes from the tile for that stored index.
    #[test]
    fn every_node_is_what_the_tile_recomputes() {
        let tile = full_tile(7);
        let nodes = TileNodes::expand(&tile).expect("full");
        for tile_level in 0..3u8 {
            for tile_index in [0u64, 1, 5] {
                for in_tile in 0..TILE_HEIGHT {
                    for n in 0..(TILE_WIDTH >> in_tile) {
                        let level = tile_level * TILE_HEIGHT + in_tile;
                        let global = tile_index * (TILE_WIDTH >> in_tile) + n;
                        let index = tlog_tiles::stored_hash_index(level, global);
                        let (key, l, m) = locate(index);
                        assert_eq!(key, (tile_level, tile_index), "index {index}");
                        assert_eq!((l, m), (in_tile, n));
                        let t = Tile::from_index(TILE_HEIGHT, index);
                        let expected = t.hash_at_index(&tile, index).expect("in tile");
                        assert_eq!(nodes.node(l, m), Some(expected.0), "index {index}");
                    }
                }
            }
        }
        // The tile's own root: what the level above stores for it.
        assert_eq!(
            nodes.node(TILE_HEIGHT, 0),
            Some(Tile::subtree_hash(&tile).0)
        );
        assert_eq!(nodes.node(1, 128), None);
        assert_eq!(nodes.node(9, 0), None);
    }

    #[test]
    fn partial_tiles_are_never_kept_and_the_cache_stays_bounded() {
        let cache = NodeCache::default();
        assert!(cache
            .insert((0, 0), &full_tile(1)[..HASH_SIZE * 255])
            .is_none());
        assert!(cache.get((0, 0)).is_none());
        for i in 0..(BOTTOM_TILES as u64 + 10) {
            assert!(cache.insert((0, i), &full_tile(i as u8)).is_some());
        }
        assert!(cache.insert((1, 0), &full_tile(3)).is_some());
        assert_eq!(cache.bottom.read().unwrap().len(), BOTTOM_TILES);
        assert_eq!(cache.upper.read().unwrap().len(), 1);
        assert!(cache.get((1, 0)).is_some());
    }
}

//! Tree node hashes read out of tiles: tiles held in memory first (a
//! batch's new tiles, the sequencer's right edge), then committed ones.
//!
//! `tlog_tiles` addresses every node of the tree by its stored hash index
//! (Go's sumdb/tlog numbering). Only levels 0, 8, 16, ... are stored, in
//! tiles of 256 hashes; a node at a level in between is recomputed from the
//! up to 128 hashes of its tile that lie below it. A proof or root therefore
//! reads O(log n) tiles and never holds more than that in memory, beyond
//! the nodes of full committed tiles, which are computed once and kept
//! (bounded, [`crate::tile_nodes`]).

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use tlog_tiles::{Hash, HashReader, Tile};

use crate::store::Store;
use crate::tile_nodes::{self, NodeCache, TileNodes};
use crate::tiles::{HASH_SIZE, TILE_HEIGHT};
use crate::LedgerError;

/// A hash tile's place: (tile level, index within the level).
pub(crate) type TileKey = (u8, u64);

/// Hash tiles held in memory, by place; each value is the tile's hashes,
/// 32 bytes each, as the store holds them.
pub(crate) type TileMap = HashMap<TileKey, Vec<u8>>;

/// Where tiles that are not in memory come from: the committed store.
pub(crate) trait CommittedTiles {
    /// The committed hashes of tile `key`, full or the current right edge.
    fn committed_tile(&self, key: TileKey) -> Result<Option<Vec<u8>>, LedgerError>;

    /// Where the nodes of full committed tiles are kept, if anywhere.
    fn node_cache(&self) -> Option<&NodeCache> {
        None
    }
}

impl CommittedTiles for Store {
    fn committed_tile(&self, key: TileKey) -> Result<Option<Vec<u8>>, LedgerError> {
        self.tile(key.0, key.1)
    }

    fn node_cache(&self) -> Option<&NodeCache> {
        Some(self.nodes())
    }
}

/// A [`HashReader`] over committed tiles, seeing first the tiles of
/// `layers` in their order.
///
/// A layer must hold each tile at least as wide as the tree being read:
/// a hash, once in a tile, never changes, so a wider tile is as good.
pub(crate) struct TileHashes<'a, C: ?Sized> {
    committed: &'a C,
    layers: &'a [&'a TileMap],
}

impl<'a, C: CommittedTiles + ?Sized> TileHashes<'a, C> {
    /// Reads committed tiles only.
    pub(crate) fn committed(committed: &'a C) -> Self {
        Self {
            committed,
            layers: &[],
        }
    }

    /// Reads the tiles of `layers` first, in order, then committed ones.
    pub(crate) fn layered(committed: &'a C, layers: &'a [&'a TileMap]) -> Self {
        Self { committed, layers }
    }
}

impl<C: CommittedTiles + ?Sized> HashReader for TileHashes<'_, C> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        // Proofs ask for a few hashes of the same tile; read each tile once.
        let mut loaded: TileMap = HashMap::new();
        let cache = self.committed.node_cache();
        let mut out = Vec::with_capacity(indexes.len());
        for &index in indexes {
            // The tile holding the hash, and where in the tile it is.
            let (key, level, n) = tile_nodes::locate(index);
            let kept =
                |nodes: &TileNodes| nodes.node(level, n).ok_or(tlog_tiles::Error::InvalidTile);
            let data: &[u8] = match self.layers.iter().find_map(|layer| layer.get(&key)) {
                Some(data) => data,
                None => {
                    // A full committed tile: its nodes, computed once.
                    if let Some(nodes) = cache.and_then(|c| c.get(key)) {
                        out.push(Hash(kept(&nodes)?));
                        continue;
                    }
                    if let Entry::Vacant(slot) = loaded.entry(key) {
                        let data = self
                            .committed
                            .committed_tile(key)
                            .map_err(|e| tlog_tiles::Error::InvalidInput(e.to_string()))?
                            .ok_or(tlog_tiles::Error::IndexesNotInTree)?;
                        if let Some(nodes) = cache.and_then(|c| c.insert(key, &data)) {
                            out.push(Hash(kept(&nodes)?));
                            continue;
                        }
                        slot.insert(data);
                    }
                    &loaded[&key]
                }
            };
            let tile = Tile::from_index(TILE_HEIGHT, index);
            if data.len() < tile.width() as usize * HASH_SIZE {
                return Err(tlog_tiles::Error::IndexesNotInTree);
            }
            out.push(tile.hash_at_index(data, index)?);
        }
        Ok(out)
    }
}

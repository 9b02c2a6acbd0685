//! Tree node hashes read out of stored tiles.
//!
//! `tlog_tiles` addresses every node of the tree by its stored hash index
//! (Go's sumdb/tlog numbering). Only levels 0, 8, 16, ... are stored, in
//! tiles of 256 hashes; a node at a level in between is recomputed from the
//! up to 128 hashes of its tile that lie below it. A proof or root therefore
//! reads O(log n) tiles and never holds more than that in memory.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use tlog_tiles::{Hash, HashReader, Tile};

use crate::store::Store;
use crate::tiles::{HASH_SIZE, TILE_HEIGHT};

/// Tiles written by the batch in flight, keyed by (tile level, tile index).
pub(crate) type TileOverlay = HashMap<(u8, u64), Vec<u8>>;

/// A [`HashReader`] over the store, seeing first the tiles of an uncommitted
/// batch when one is given.
pub(crate) struct TileHashes<'a> {
    store: &'a Store,
    overlay: Option<&'a TileOverlay>,
}

impl<'a> TileHashes<'a> {
    /// Reads committed tiles only.
    pub(crate) fn committed(store: &'a Store) -> Self {
        Self {
            store,
            overlay: None,
        }
    }

    /// Reads the batch's tiles first, then committed ones.
    pub(crate) fn with_overlay(store: &'a Store, overlay: &'a TileOverlay) -> Self {
        Self {
            store,
            overlay: Some(overlay),
        }
    }
}

impl HashReader for TileHashes<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        // Proofs ask for a few hashes of the same tile; read each tile once.
        let mut loaded: HashMap<(u8, u64), Vec<u8>> = HashMap::new();
        let mut out = Vec::with_capacity(indexes.len());
        for &index in indexes {
            let tile = Tile::from_index(TILE_HEIGHT, index);
            let key = (tile.level(), tile.level_index());
            let data: &[u8] = match self.overlay.and_then(|o| o.get(&key)) {
                Some(data) => data,
                None => {
                    if let Entry::Vacant(slot) = loaded.entry(key) {
                        let data = self
                            .store
                            .tile(key.0, key.1)
                            .map_err(|e| tlog_tiles::Error::InvalidInput(e.to_string()))?
                            .ok_or(tlog_tiles::Error::IndexesNotInTree)?;
                        slot.insert(data);
                    }
                    &loaded[&key]
                }
            };
            if data.len() < tile.width() as usize * HASH_SIZE {
                return Err(tlog_tiles::Error::IndexesNotInTree);
            }
            out.push(tile.hash_at_index(data, index)?);
        }
        Ok(out)
    }
}

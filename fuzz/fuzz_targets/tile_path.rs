//! C2SP tlog-tiles paths and entry bundles (`evledger_tlog::tiles`).
//!
//! Properties: a path that parses is the canonical path of what it parsed
//! to (it re-renders byte for byte), is at most `MAX_TILE_PATH_LEN` bytes,
//! and has a level ≤ `MAX_TILE_LEVEL` and a width of 1 to 256; every valid
//! coordinate's path parses back to it; `available_width` never exceeds a
//! tile; an entry bundle that splits re-encodes to the same bytes.
#![no_main]

use arbitrary::Arbitrary;
use evledger_tlog::tiles::{
    push_bundle_entry, split_bundle, TileCoord, TileKind, MAX_TILE_LEVEL, MAX_TILE_PATH_LEN,
    TILE_WIDTH,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input<'a> {
    /// A path from the network, as bytes.
    Path(&'a [u8]),
    /// A coordinate, to render and parse back.
    Coord {
        level: Option<u8>,
        index: u64,
        width: u16,
        tree_size: u64,
    },
    /// An entry bundle from a remote log.
    Bundle(&'a [u8]),
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Path(bytes) => {
        let Ok(path) = std::str::from_utf8(bytes) else {
            return;
        };
        if let Ok(coord) = TileCoord::parse(path) {
            assert_eq!(coord.path(), path, "an accepted path is canonical");
            assert!(path.len() <= MAX_TILE_PATH_LEN);
            assert!((1..=TILE_WIDTH).contains(&coord.width));
            if let TileKind::Hashes { level } = coord.kind {
                assert!(level <= MAX_TILE_LEVEL);
            }
        }
    }
    Input::Coord {
        level,
        index,
        width,
        tree_size,
    } => {
        let kind = match level {
            Some(level) => TileKind::Hashes {
                level: level % (MAX_TILE_LEVEL + 1),
            },
            None => TileKind::Entries,
        };
        let width = u64::from(width) % TILE_WIDTH + 1;
        // A tile index is at most u64::MAX / 256: its first leaf is a u64.
        let index = index / TILE_WIDTH;
        let coord = TileCoord { kind, index, width };
        let path = coord.path();
        assert!(path.len() <= MAX_TILE_PATH_LEN, "{path}");
        assert_eq!(TileCoord::parse(&path), Ok(coord), "{path}");
        assert!(TileCoord::available_width(kind, index, tree_size) <= TILE_WIDTH);
    }
    Input::Bundle(bytes) => {
        if let Some(leaves) = split_bundle(bytes) {
            let mut again = Vec::with_capacity(bytes.len());
            for leaf in &leaves {
                assert!(push_bundle_entry(&mut again, leaf).is_ok());
            }
            assert_eq!(again, bytes, "a bundle that splits re-encodes to itself");
        }
    }
});

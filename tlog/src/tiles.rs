//! Tile coordinates, paths and entry bundles of C2SP tlog-tiles
//! (<https://c2sp.org/tlog-tiles>).
//!
//! ```text
//! tile/0/x001/x234/067        full level-0 tile 1234067 (256 hashes)
//! tile/1/000.p/3              partial level-1 tile 0 (3 hashes)
//! tile/entries/000.p/232      partial entry bundle 0 (232 entries)
//! ```
//!
//! A hash tile at level `L` and index `N` holds the hashes of tree level
//! `8·L` from `N·256` on. An entry bundle holds the leaves themselves, each
//! prefixed by its length as a big-endian `u16`.

use thiserror::Error;

/// Height of every tile: a tile covers 8 tree levels.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes (or entries) in a full tile: `2^TILE_HEIGHT`.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Bytes of one hash in a tile.
pub const HASH_SIZE: usize = 32;
/// Largest leaf an entry bundle can carry: its length prefix is a `u16`.
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;
/// Highest tile level a 64-bit tree can have.
pub const MAX_TILE_LEVEL: u8 = 63 / TILE_HEIGHT;
/// Longest canonical tile path: `tile/entries/` (longer than any level),
/// seven index groups (`x018/x446/x744/x073/x709/x551/615`, the largest
/// `u64`) and `.p/255`. Anything longer is refused before it is split.
pub const MAX_TILE_PATH_LEN: usize =
    "tile/entries/".len() + "x018/x446/x744/x073/x709/x551/615".len() + ".p/255".len();

/// What a tile holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TileKind {
    /// Hashes of tree level `8 * level`.
    Hashes {
        /// The tile level (not the tree level).
        level: u8,
    },
    /// The entry bundle: leaves themselves.
    Entries,
}

/// The coordinates of one tile: what it holds, its index within its level,
/// and how many hashes or entries it carries (1 to 256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileCoord {
    /// Hashes at a level, or entries.
    pub kind: TileKind,
    /// Index of the tile within its level.
    pub index: u64,
    /// Number of hashes or entries, `1..=TILE_WIDTH`; below 256 is a partial tile.
    pub width: u64,
}

/// A tile path that is not a canonical C2SP tlog-tiles path.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("malformed tile path {0:?}")]
pub struct TilePathError(pub String);

impl TileCoord {
    /// The C2SP path of this tile, e.g. `tile/0/x001/234.p/17`.
    pub fn path(&self) -> String {
        let level = match self.kind {
            TileKind::Hashes { level } => level.to_string(),
            TileKind::Entries => "entries".to_string(),
        };
        let mut path = format!("tile/{level}/{}", encode_index(self.index));
        if self.width < TILE_WIDTH {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }

    /// Parses a canonical C2SP tile path, `tile/...` exactly as [`path`]
    /// writes it (the raw URL path: a percent-encoded digit is not a digit).
    ///
    /// # Errors
    ///
    /// Returns [`TilePathError`] for anything but the one canonical spelling:
    /// the `tile/` prefix once, three-digit groups with `x` before all but
    /// the last, no leading zero group, a level of at most
    /// [`MAX_TILE_LEVEL`], a partial width of 1 to 255, at most
    /// [`MAX_TILE_PATH_LEN`] bytes.
    ///
    /// [`path`]: TileCoord::path
    pub fn parse(path: &str) -> Result<Self, TilePathError> {
        let bad = || {
            let shown: String = path.chars().take(MAX_TILE_PATH_LEN + 8).collect();
            TilePathError(shown)
        };
        if path.len() > MAX_TILE_PATH_LEN {
            return Err(bad());
        }
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (level, rest) = rest.split_once('/').ok_or_else(bad)?;
        let kind = if level == "entries" {
            TileKind::Entries
        } else {
            let level: u8 = parse_decimal(level).ok_or_else(bad)?;
            if level > MAX_TILE_LEVEL {
                return Err(bad());
            }
            TileKind::Hashes { level }
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((index_part, w)) => {
                let w: u64 = parse_decimal(w).ok_or_else(bad)?;
                if !(1..TILE_WIDTH).contains(&w) {
                    return Err(bad());
                }
                (index_part, w)
            }
            None => (rest, TILE_WIDTH),
        };
        let mut index: u64 = 0;
        let groups: Vec<&str> = index_part.split('/').collect();
        for (i, group) in groups.iter().enumerate() {
            let last = i + 1 == groups.len();
            let digits = if last {
                *group
            } else {
                group.strip_prefix('x').ok_or_else(bad)?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let value: u64 = digits.parse().map_err(|_| bad())?;
            index = index
                .checked_mul(1000)
                .and_then(|n| n.checked_add(value))
                .ok_or_else(bad)?;
        }
        let coord = TileCoord { kind, index, width };
        // Only the canonical spelling is accepted (no `x000/001` for `001`).
        if coord.path() != path {
            return Err(bad());
        }
        Ok(coord)
    }

    /// How many hashes or entries this tile's position holds in a tree of
    /// `tree_size` leaves: 0 if the tile does not exist yet, else `1..=256`.
    pub fn available_width(kind: TileKind, index: u64, tree_size: u64) -> u64 {
        let count = match kind {
            TileKind::Hashes { level } => {
                let shift = u32::from(level) * u32::from(TILE_HEIGHT);
                tree_size.checked_shr(shift).unwrap_or(0)
            }
            TileKind::Entries => tree_size,
        };
        let start = index.saturating_mul(TILE_WIDTH);
        count.saturating_sub(start).min(TILE_WIDTH)
    }
}

fn parse_decimal<T: std::str::FromStr>(s: &str) -> Option<T> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

/// Encodes a tile index as three-digit groups, `x` before all but the last:
/// 1234067 becomes `x001/x234/067`.
fn encode_index(mut n: u64) -> String {
    let mut out = format!("{:03}", n % 1000);
    while n >= 1000 {
        n /= 1000;
        out = format!("x{:03}/{out}", n % 1000);
    }
    out
}

/// Appends one leaf to an entry bundle: its length as a big-endian `u16`,
/// then its bytes.
///
/// # Errors
///
/// [`LeafTooLarge`] if the leaf exceeds [`MAX_ENTRY_SIZE`].
pub fn push_bundle_entry(bundle: &mut Vec<u8>, leaf: &[u8]) -> Result<(), LeafTooLarge> {
    let len = u16::try_from(leaf.len()).map_err(|_| LeafTooLarge { size: leaf.len() })?;
    bundle.extend_from_slice(&len.to_be_bytes());
    bundle.extend_from_slice(leaf);
    Ok(())
}

/// A leaf too large for an entry bundle's `u16` length prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a leaf of {size} bytes exceeds the entry bundle limit of {MAX_ENTRY_SIZE}")]
pub struct LeafTooLarge {
    /// The leaf's length.
    pub size: usize,
}

/// Splits an entry bundle into its leaves.
///
/// Returns `None` if the bundle is truncated.
pub fn split_bundle(mut bundle: &[u8]) -> Option<Vec<&[u8]>> {
    let mut leaves = Vec::new();
    while !bundle.is_empty() {
        if bundle.len() < 2 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([bundle[0], bundle[1]]));
        let rest = &bundle[2..];
        if rest.len() < len {
            return None;
        }
        leaves.push(&rest[..len]);
        bundle = &rest[len..];
    }
    Some(leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(level: u8, index: u64, width: u64) -> TileCoord {
        TileCoord {
            kind: TileKind::Hashes { level },
            index,
            width,
        }
    }

    #[test]
    fn paths_follow_the_spec_examples() {
        assert_eq!(hashes(4, 1_234_067, 1).path(), "tile/4/x001/x234/067.p/1");
        assert_eq!(hashes(4, 1_234_067, 256).path(), "tile/4/x001/x234/067");
        assert_eq!(hashes(0, 0, 256).path(), "tile/0/000");
        let entries = TileCoord {
            kind: TileKind::Entries,
            index: 3,
            width: 232,
        };
        assert_eq!(entries.path(), "tile/entries/003.p/232");
        assert_eq!(TileCoord::parse("tile/entries/003.p/232"), Ok(entries));
    }

    #[test]
    fn parse_round_trips() {
        let last = u64::MAX / TILE_WIDTH;
        for coord in [
            hashes(0, 0, 256),
            hashes(2, 999, 5),
            hashes(1, 1000, 255),
            hashes(0, last, 255),
            TileCoord {
                kind: TileKind::Entries,
                index: last,
                width: 255,
            },
        ] {
            assert!(coord.path().len() <= MAX_TILE_PATH_LEN, "{}", coord.path());
            assert_eq!(TileCoord::parse(&coord.path()), Ok(coord));
        }
        assert_eq!(
            TileCoord::parse("tile/entries/x018/x446/x744/x073/x709/x551/615.p/255")
                .map(|c| c.path().len()),
            Ok(MAX_TILE_PATH_LEN),
            "the longest path is the limit"
        );
    }

    #[test]
    fn parse_rejects_non_canonical_paths() {
        for bad in [
            "tile/0/1",
            "tile/0/0001",
            "tile/0/x000/001",
            "tile/0/001.p/0",
            "tile/0/001.p/256",
            "tile/0/001.p/07",
            "tile/01/001",
            "tile/8/001",
            "tile/0/abc",
            "tile/0/x001",
            "tile/0/001/",
            "tile/-1/001",
            "tile/0/x99999999/001",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "tile/",
            "",
            "0/000",
            "1/x001/000",
            "tile/tile/0/000",
            "tile/0/%30%30%30",
            "tile/0/x000",
            "tile/0/000.p/3/",
            "tile/0/000.p/3.p/3",
            "tile/0//000",
            "/tile/0/000",
            "tile/entries/x000/000",
        ] {
            assert!(TileCoord::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn available_width_tracks_the_tree() {
        let l0 = TileKind::Hashes { level: 0 };
        let l1 = TileKind::Hashes { level: 1 };
        assert_eq!(TileCoord::available_width(l0, 3, 1000), 232);
        assert_eq!(TileCoord::available_width(l0, 2, 1000), 256);
        assert_eq!(TileCoord::available_width(l0, 4, 1000), 0);
        assert_eq!(TileCoord::available_width(l1, 0, 1000), 3);
        assert_eq!(TileCoord::available_width(l1, 0, 255), 0);
        assert_eq!(TileCoord::available_width(TileKind::Entries, 0, 7), 7);
        let top = TileKind::Hashes { level: 7 };
        assert_eq!(TileCoord::available_width(top, 0, u64::MAX), 255);
    }

    #[test]
    fn bundles_round_trip() {
        let mut bundle = Vec::new();
        push_bundle_entry(&mut bundle, b"a").unwrap();
        push_bundle_entry(&mut bundle, b"").unwrap();
        push_bundle_entry(&mut bundle, b"xyz").unwrap();
        assert_eq!(bundle, b"\x00\x01a\x00\x00\x00\x03xyz");
        let leaves = split_bundle(&bundle).unwrap();
        assert_eq!(leaves, vec![&b"a"[..], b"", b"xyz"]);
        assert!(split_bundle(&bundle[..bundle.len() - 1]).is_none());
        assert_eq!(
            push_bundle_entry(&mut bundle, &vec![0; MAX_ENTRY_SIZE + 1]),
            Err(LeafTooLarge {
                size: MAX_ENTRY_SIZE + 1
            })
        );
    }
}

//! RocksDB storage of the log: the single source of truth.
//!
//! | column family | key                        | value                          |
//! |---------------|----------------------------|--------------------------------|
//! | `entries`     | log index (u64 BE)         | leaf bytes                     |
//! | `tiles`       | tile level (u8), index (u64 BE) | hashes of the tile, 32 bytes each; rewritten while it is the right edge |
//! | `by_leaf`     | leaf hash (32 bytes)       | log index (u64 BE)             |
//! | `checkpoints` | tree size (u64 BE)         | signed note                    |
//! | `meta`        | `tree_size`                | tree size (u64 BE)             |
//! | `meta`        | `sink/<name>`              | cursor of follower `name`: entries it has dealt with (u64 BE); the prefix is from when only sinks kept one |
//! | `meta`        | `copy`                     | present in a backup copy: the tree size copied (u64 BE) |
//!
//! Every append batch lands in one synced [`WriteBatch`]; `meta/tree_size`
//! moves in that same batch, so a reader of the store never sees a tree size
//! whose entries, tiles or checkpoint are missing.
//!
//! A backup ([`Store::backup_to`]) is a RocksDB checkpoint that carries the
//! `meta/copy` marker: a copy is by definition possibly behind the log it
//! was taken from, whose later checkpoints are already published, so a
//! ledger opened on it must not append until told where the published log
//! stands (see `Ledger::resume`).
//!
//! Every write goes through one private `write` function, where the
//! `fault-injection` feature (tests only) can fail, delay or drop it.
//!
//! Leaves are the dedup key: the leaf is the canonical encoding of the entry
//! body, so "same body" and "same leaf hash" are one question.

use std::path::Path;

use rocksdb::{BlockBasedOptions, ColumnFamilyDescriptor, Direction, IteratorMode, Options, DB};

use crate::{Corruption, LedgerError};

pub(crate) const CF_ENTRIES: &str = "entries";
pub(crate) const CF_TILES: &str = "tiles";
pub(crate) const CF_BY_LEAF: &str = "by_leaf";
pub(crate) const CF_CHECKPOINTS: &str = "checkpoints";
pub(crate) const CF_META: &str = "meta";
/// When batches were committed: `b` + tree size (BE) -> commit time, and
/// `m` + minute (BE) -> entries committed in that minute. Written in each
/// batch's one write, so a time is never ahead of its entries. Logs from
/// before this family have no times for their older entries.
pub(crate) const CF_TIMES: &str = "times";
const COLUMN_FAMILIES: [&str; 6] = [
    CF_ENTRIES,
    CF_TILES,
    CF_BY_LEAF,
    CF_CHECKPOINTS,
    CF_META,
    CF_TIMES,
];
const TIME_BATCH: u8 = b'b';
const TIME_MINUTE: u8 = b'm';
const META_TREE_SIZE: &[u8] = b"tree_size";
/// Prefix of follower cursors in `meta` (kept as first written: data
/// directories in use hold cursors under it).
const META_CURSOR_PREFIX: &str = "sink/";
/// Marker of a backup copy; see the module documentation.
const META_COPY: &[u8] = b"copy";
/// Block cache shared by every column family.
const BLOCK_CACHE_BYTES: usize = 64 << 20;
/// Memtable size of one column family.
const MEMTABLE_BYTES: usize = 16 << 20;
/// Memtables of all column families together.
const MEMTABLE_BUDGET_BYTES: usize = 64 << 20;

/// The log's RocksDB database.
pub struct Store {
    db: DB,
    /// Nodes of full hash tiles, computed once (see [`crate::tile_nodes`]).
    nodes: crate::tile_nodes::NodeCache,
    /// Faults injected into every write (tests only).
    #[cfg(feature = "fault-injection")]
    faults: Option<std::sync::Arc<crate::faults::Faults>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.db.path())
            .finish()
    }
}

/// The writes of one append batch, committed atomically by [`Store::commit`].
pub(crate) struct Commit<'a> {
    /// (log index, leaf) of every new entry.
    pub entries: Vec<(u64, &'a [u8])>,
    /// (leaf hash, log index) of every new entry: the dedup keys.
    pub leaf_hashes: Vec<(&'a [u8; 32], u64)>,
    /// Every hash tile the batch changed, whole.
    pub tiles: &'a crate::hashes::TileMap,
    /// (tree size, signed note) of the batch's checkpoint; the size is the
    /// new `meta/tree_size`.
    pub checkpoint: (u64, &'a str),
    /// When the batch is committed, Unix milliseconds.
    pub time_ms: u64,
}

fn time_key(tag: u8, value: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = tag;
    key[1..].copy_from_slice(&value.to_be_bytes());
    key
}

fn tile_key(level: u8, index: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = level;
    key[1..].copy_from_slice(&index.to_be_bytes());
    key
}

fn decode_u64(bytes: &[u8]) -> Result<u64, LedgerError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| Corruption::BadInteger)?;
    Ok(u64::from_be_bytes(array))
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Storage`] if RocksDB cannot open it.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        // Memory is bounded by these budgets, not by the size of the log.
        let cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        options.set_db_write_buffer_size(MEMTABLE_BUDGET_BYTES);
        let families = COLUMN_FAMILIES.iter().map(|name| {
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            if *name == CF_BY_LEAF {
                table.set_bloom_filter(10.0, false);
            }
            let mut cf_options = Options::default();
            cf_options.set_compression_type(rocksdb::DBCompressionType::Lz4);
            cf_options.set_write_buffer_size(MEMTABLE_BYTES);
            cf_options.set_block_based_table_factory(&table);
            ColumnFamilyDescriptor::new(*name, cf_options)
        });
        let db = DB::open_cf_descriptors(&options, path, families)?;
        Ok(Self {
            db,
            nodes: crate::tile_nodes::NodeCache::default(),
            #[cfg(feature = "fault-injection")]
            faults: None,
        })
    }

    /// The nodes of full hash tiles computed so far.
    pub(crate) fn nodes(&self) -> &crate::tile_nodes::NodeCache {
        &self.nodes
    }

    /// Opens the database at `path` with every write going through `faults`.
    ///
    /// # Errors
    ///
    /// As [`Store::open`].
    #[cfg(feature = "fault-injection")]
    pub fn open_with_faults(
        path: &Path,
        faults: std::sync::Arc<crate::faults::Faults>,
    ) -> Result<Self, LedgerError> {
        let mut store = Self::open(path)?;
        store.faults = Some(faults);
        Ok(store)
    }

    /// Writes `batch` atomically; `sync` waits for the WAL fsync, which also
    /// makes every earlier write durable (the WAL is one sequential file).
    /// The only write path of the store.
    fn write(&self, batch: rocksdb::WriteBatch, sync: bool) -> Result<(), LedgerError> {
        #[cfg(feature = "fault-injection")]
        if let Some(faults) = &self.faults {
            return faults.write(&self.db, batch, sync);
        }
        let mut options = rocksdb::WriteOptions::default();
        options.set_sync(sync);
        self.db.write_opt(batch, &options)?;
        Ok(())
    }

    /// Writes every raw batch of `batches` (in [`rocksdb::WriteBatch::data`]
    /// form) in order, synced at the end: how the fault layer rebuilds what
    /// survived a power cut.
    #[cfg(feature = "fault-injection")]
    pub(crate) fn replay(&self, batches: &[Vec<u8>]) -> Result<(), LedgerError> {
        for data in batches {
            self.db.write(rocksdb::WriteBatch::from_data(data))?;
        }
        self.db.flush_wal(true)?;
        Ok(())
    }

    fn cf(&self, name: &'static str) -> Result<&rocksdb::ColumnFamily, LedgerError> {
        self.db
            .cf_handle(name)
            .ok_or(LedgerError::Corrupt(Corruption::MissingColumnFamily(name)))
    }

    /// The committed tree size (0 for a new log).
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn tree_size(&self) -> Result<u64, LedgerError> {
        match self.db.get_cf(self.cf(CF_META)?, META_TREE_SIZE)? {
            Some(bytes) => decode_u64(&bytes),
            None => Ok(0),
        }
    }

    /// The leaf at `index`, if committed.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.db.get_cf(self.cf(CF_ENTRIES)?, index.to_be_bytes())?)
    }

    /// Up to `limit` consecutive leaves from `from` on.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn entries(&self, from: u64, limit: usize) -> Result<Vec<Vec<u8>>, LedgerError> {
        let start = from.to_be_bytes();
        let iter = self.db.iterator_cf(
            self.cf(CF_ENTRIES)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut out = Vec::with_capacity(limit.min(4096));
        for (expected, item) in (from..).zip(iter.take(limit)) {
            let (key, value) = item?;
            if decode_u64(&key)? != expected {
                return Err(Corruption::MissingEntry { index: expected }.into());
            }
            out.push(value.into_vec());
        }
        Ok(out)
    }

    /// The stored hashes of hash tile (`level`, `index`), full or the current
    /// right edge.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.db.get_cf(self.cf(CF_TILES)?, tile_key(level, index))?)
    }

    /// The log index of the leaf with this hash.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn index_of_leaf(&self, leaf_hash: &[u8; 32]) -> Result<Option<u64>, LedgerError> {
        self.db
            .get_pinned_cf(self.cf(CF_BY_LEAF)?, leaf_hash)?
            .map(|v| decode_u64(&v))
            .transpose()
    }

    /// The signed note stored for exactly this tree size, if one was signed.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn checkpoint(&self, size: u64) -> Result<Option<String>, LedgerError> {
        self.db
            .get_cf(self.cf(CF_CHECKPOINTS)?, size.to_be_bytes())?
            .map(|v| {
                String::from_utf8(v).map_err(|_| Corruption::CheckpointNotUtf8 { size }.into())
            })
            .transpose()
    }

    /// Writes one batch atomically and durably (WAL fsync before returning).
    ///
    /// # Errors
    ///
    /// Storage errors. After one, what is on disk is unknown (the batch may
    /// or may not be durable): the caller must not go on as if either held.
    pub(crate) fn commit(&self, commit: &Commit<'_>) -> Result<(), LedgerError> {
        let mut batch = rocksdb::WriteBatch::default();
        let entries = self.cf(CF_ENTRIES)?;
        for (index, leaf) in &commit.entries {
            batch.put_cf(entries, index.to_be_bytes(), leaf);
        }
        let by_leaf = self.cf(CF_BY_LEAF)?;
        for (hash, index) in &commit.leaf_hashes {
            batch.put_cf(by_leaf, hash, index.to_be_bytes());
        }
        let tiles = self.cf(CF_TILES)?;
        for ((level, index), data) in commit.tiles {
            batch.put_cf(tiles, tile_key(*level, *index), data);
        }
        let (size, note) = commit.checkpoint;
        batch.put_cf(self.cf(CF_CHECKPOINTS)?, size.to_be_bytes(), note);
        batch.put_cf(self.cf(CF_META)?, META_TREE_SIZE, size.to_be_bytes());
        // The sequencer is the only writer, so reading the minute's count
        // and writing it back in the batch cannot race.
        let times = self.cf(CF_TIMES)?;
        let minute = time_key(TIME_MINUTE, commit.time_ms / 60_000);
        let counted = match self.db.get_pinned_cf(times, minute)? {
            Some(bytes) => decode_u64(&bytes)?,
            None => 0,
        };
        let added = commit.entries.len() as u64;
        batch.put_cf(times, minute, (counted + added).to_be_bytes());
        batch.put_cf(
            times,
            time_key(TIME_BATCH, size),
            commit.time_ms.to_be_bytes(),
        );
        self.write(batch, true)
    }

    /// When the entry at `index` was committed (Unix milliseconds): the
    /// time of the first batch whose tree includes it. `None` for entries
    /// committed before batch times were kept.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn entry_time(&self, index: u64) -> Result<Option<u64>, LedgerError> {
        let start = time_key(TIME_BATCH, index.saturating_add(1));
        let mut iter = self.db.iterator_cf(
            self.cf(CF_TIMES)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        match iter.next().transpose()? {
            Some((key, value)) if key.first() == Some(&TIME_BATCH) => Ok(Some(decode_u64(&value)?)),
            _ => Ok(None),
        }
    }

    /// Entries committed in each minute from `from_minute` (Unix minutes)
    /// up to but excluding `to_minute`, as (minute, count), minutes with
    /// none left out.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn entries_per_minute(
        &self,
        from_minute: u64,
        to_minute: u64,
    ) -> Result<Vec<(u64, u64)>, LedgerError> {
        let start = time_key(TIME_MINUTE, from_minute);
        let iter = self.db.iterator_cf(
            self.cf(CF_TIMES)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        let mut out = Vec::new();
        for item in iter {
            let (key, value) = item?;
            if key.first() != Some(&TIME_MINUTE) {
                break;
            }
            let minute = decode_u64(&key[1..])?;
            if minute >= to_minute {
                break;
            }
            out.push((minute, decode_u64(&value)?));
        }
        Ok(out)
    }

    /// Up to `limit` tree sizes below `before` at which a checkpoint was
    /// signed (a batch ended), largest first.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn signed_sizes_before(&self, before: u64, limit: usize) -> Result<Vec<u64>, LedgerError> {
        let start = before.saturating_sub(1).to_be_bytes();
        let iter = self.db.iterator_cf(
            self.cf(CF_CHECKPOINTS)?,
            IteratorMode::From(&start, Direction::Reverse),
        );
        let mut sizes = Vec::with_capacity(limit.min(1024));
        for item in iter.take(limit) {
            let (key, _) = item?;
            sizes.push(decode_u64(&key)?);
        }
        Ok(sizes)
    }

    /// The cursor of follower `name`: how many entries it has dealt with.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn cursor(&self, name: &str) -> Result<Option<u64>, LedgerError> {
        self.db
            .get_cf(self.cf(CF_META)?, format!("{META_CURSOR_PREFIX}{name}"))?
            .map(|v| decode_u64(&v))
            .transpose()
    }

    /// Stores the cursor of follower `name`. `sync` waits for the WAL
    /// fsync; without it the write survives a process crash but may be
    /// lost with the machine, which only means entries dealt with again.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn set_cursor(&self, name: &str, position: u64, sync: bool) -> Result<(), LedgerError> {
        let mut batch = rocksdb::WriteBatch::default();
        batch.put_cf(
            self.cf(CF_META)?,
            format!("{META_CURSOR_PREFIX}{name}"),
            position.to_be_bytes(),
        );
        self.write(batch, sync)
    }

    /// Forgets the cursor of follower `name`.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn delete_cursor(&self, name: &str) -> Result<(), LedgerError> {
        let mut batch = rocksdb::WriteBatch::default();
        batch.delete_cf(self.cf(CF_META)?, format!("{META_CURSOR_PREFIX}{name}"));
        self.write(batch, true)
    }

    /// The tree size recorded by the copy marker, if this database is a
    /// backup copy not yet resumed.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn copy_marker(&self) -> Result<Option<u64>, LedgerError> {
        self.db
            .get_cf(self.cf(CF_META)?, META_COPY)?
            .map(|v| decode_u64(&v))
            .transpose()
    }

    /// Removes the copy marker (synced): the copy is the log from now on.
    pub(crate) fn clear_copy_marker(&self) -> Result<(), LedgerError> {
        let mut batch = rocksdb::WriteBatch::default();
        batch.delete_cf(self.cf(CF_META)?, META_COPY);
        self.write(batch, true)
    }

    /// Takes a consistent on-disk copy of the database (RocksDB checkpoint)
    /// and marks it a copy (`meta/copy`). The checkpoint is taken into
    /// `<dir>.partial`, marked, and only then renamed to `dir`, so a copy
    /// under its final name always carries the marker.
    ///
    /// # Errors
    ///
    /// Storage errors, or `dir` (or `<dir>.partial`) already exists.
    pub fn backup_to(&self, dir: &Path) -> Result<(), LedgerError> {
        let io = |source| LedgerError::DataDir {
            path: dir.to_path_buf(),
            source,
        };
        if dir.exists() {
            return Err(io(std::io::Error::from(std::io::ErrorKind::AlreadyExists)));
        }
        let mut partial = dir.as_os_str().to_owned();
        partial.push(".partial");
        let partial = std::path::PathBuf::from(partial);
        let checkpoint = rocksdb::checkpoint::Checkpoint::new(&self.db)?;
        checkpoint.create_checkpoint(&partial)?;
        {
            let copy = Store::open(&partial)?;
            let size = copy.tree_size()?;
            let mut batch = rocksdb::WriteBatch::default();
            batch.put_cf(copy.cf(CF_META)?, META_COPY, size.to_be_bytes());
            copy.write(batch, true)?;
            // Dropping `copy` closes the copy before it gets its final name.
        }
        std::fs::rename(&partial, dir).map_err(io)?;
        if let Some(parent) = dir.parent() {
            // The rename is durable once its directory is.
            std::fs::File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }
}

//! The embedded index store: a RocksDB database of its own beside the log
//! (`<data-dir>/index`), used when no Redis URL is given.
//!
//! | key                                   | value                    |
//! |---------------------------------------|--------------------------|
//! | `m` key `0x00` log index (u64 BE)     | empty                    |
//! | `cursor`                              | `<index>:<leaf hash hex>` |
//!
//! A batch is one WriteBatch holding its members and the cursor. It is not
//! synced: a crash may lose the tail of the index, but never splits members
//! from the cursor, and the reconciler re-indexes from the cursor.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{Direction, IteratorMode, WriteBatch, DB};

use crate::store::{Cursor, IndexError, IndexStore, IndexedEntry};

const CURSOR: &[u8] = b"cursor";
/// Memtable size (two at most).
const MEMTABLE_BYTES: usize = 16 << 20;
/// Block cache.
const BLOCK_CACHE_BYTES: usize = 32 << 20;

/// An index in a local RocksDB database.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<DB>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.db.path())
            .finish()
    }
}

fn member_prefix(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2);
    out.push(b'm');
    out.extend_from_slice(key.as_bytes());
    out.push(0);
    out
}

fn member_key(key: &str, member: u64) -> Vec<u8> {
    let mut out = member_prefix(key);
    out.extend_from_slice(&member.to_be_bytes());
    out
}

impl EmbeddedStore {
    /// Opens (creating) the store at `path`.
    ///
    /// # Errors
    ///
    /// [`IndexError::Embedded`].
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        let mut options = rocksdb::Options::default();
        options.create_if_missing(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // Memory is bounded by these budgets, not by the size of the index.
        options.set_write_buffer_size(MEMTABLE_BYTES);
        options.set_max_write_buffer_number(2);
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(&rocksdb::Cache::new_lru_cache(BLOCK_CACHE_BYTES));
        options.set_block_based_table_factory(&table);
        let db = DB::open(&options, path)?;
        Ok(Self { db: Arc::new(db) })
    }
}

impl IndexStore for EmbeddedStore {
    async fn cursor(&self) -> Result<Option<Cursor>, IndexError> {
        match self.db.get(CURSOR)? {
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes).to_string();
                Ok(Some(Cursor::decode(&text)?))
            }
            None => Ok(None),
        }
    }

    async fn apply(
        &self,
        entries: &[IndexedEntry],
        expected: Option<Cursor>,
        cursor: Cursor,
    ) -> Result<(), IndexError> {
        // One process owns the embedded store, and its reconciler is the one
        // writer: reading the cursor here cannot race another write.
        if self.cursor().await? != expected {
            return Err(IndexError::CursorMoved);
        }
        let mut batch = WriteBatch::default();
        for entry in entries {
            for key in &entry.keys {
                batch.put(member_key(key, entry.index), []);
            }
        }
        batch.put(CURSOR, cursor.encode());
        self.db.write(batch)?;
        Ok(())
    }

    async fn range(
        &self,
        key: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, IndexError> {
        let prefix = member_prefix(key);
        let start = match after {
            Some(a) if a == u64::MAX => return Ok(Vec::new()),
            Some(a) => member_key(key, a + 1),
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(&start, Direction::Forward))
        {
            let (k, _) = item?;
            let Some(rest) = k.strip_prefix(prefix.as_slice()) else {
                break;
            };
            let Ok(bytes) = <[u8; 8]>::try_from(rest) else {
                continue;
            };
            out.push(u64::from_be_bytes(bytes));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    async fn contains(&self, key: &str, member: u64) -> Result<bool, IndexError> {
        Ok(self.db.get_pinned(member_key(key, member))?.is_some())
    }

    async fn keys(&self) -> Result<Vec<String>, IndexError> {
        let mut keys: Vec<String> = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(b"m", Direction::Forward))
        {
            let (k, _) = item?;
            if k.first() != Some(&b'm') || k.len() < 10 {
                break;
            }
            let name = &k[1..k.len() - 9];
            let name = String::from_utf8_lossy(name).to_string();
            if keys.last() != Some(&name) {
                keys.push(name);
            }
        }
        Ok(keys)
    }

    async fn add(&self, key: &str, members: &[u64]) -> Result<(), IndexError> {
        let mut batch = WriteBatch::default();
        for m in members {
            batch.put(member_key(key, *m), []);
        }
        self.db.write(batch)?;
        Ok(())
    }

    async fn remove(&self, key: &str, members: &[u64]) -> Result<(), IndexError> {
        let mut batch = WriteBatch::default();
        for m in members {
            batch.delete(member_key(key, *m));
        }
        self.db.write(batch)?;
        Ok(())
    }
}

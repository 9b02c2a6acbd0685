//! The embedded index store: a RocksDB database of its own beside the log
//! (`<data-dir>/index`), used when no Redis URL is given.
//!
//! | key                                   | value                          |
//! |---------------------------------------|--------------------------------|
//! | `m` key `0x00` log index (u64 BE)     | empty                          |
//! | `n` key                               | member count of key (u64 BE)   |
//! | `cursor`                              | `<index>:<leaf hash hex>`      |
//! | `counts`                              | `v1`: every key's count is kept |
//!
//! A batch is one WriteBatch holding its members, the new counts of their
//! keys and the cursor. It is not synced: a crash may lose the tail of the
//! index, but never splits members from their counts or from the cursor,
//! and the reconciler re-indexes from the cursor.
//!
//! Counts are exact, so searches can start from the smallest key: every
//! write (apply, add, remove) reads which of its members are already there
//! and adds (subtracts) only the new (present) ones, in the same WriteBatch
//! as the members, under one write lock, so replaying a batch or a repair
//! racing the reconciler never counts a member twice. A store written before
//! counts existed has no `counts` marker: [`EmbeddedStore::open`] counts its
//! members once (one scan) and writes the counts with the marker.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rocksdb::{Direction, IteratorMode, WriteBatch, DB};

use crate::store::{Corruption, Cursor, IndexError, IndexStore, IndexedEntry};

const CURSOR: &[u8] = b"cursor";
/// Marker: the `n` counts cover every key.
const COUNTS_MARKER: &[u8] = b"counts";
const COUNTS_VERSION: &[u8] = b"v1";
/// Memtable size (two at most).
const MEMTABLE_BYTES: usize = 16 << 20;
/// Block cache.
const BLOCK_CACHE_BYTES: usize = 32 << 20;
/// Members per WriteBatch while counting an old store at open.
const COUNT_BATCH: usize = 10_000;

/// An index in a local RocksDB database.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<DB>,
    /// Held by every write from reading the members already present to the
    /// WriteBatch: counts are read-modify-write. Guards no data itself.
    write: Arc<Mutex<()>>,
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

fn count_key(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 1);
    out.push(b'n');
    out.extend_from_slice(key.as_bytes());
    out
}

/// Splits a member record key into (index key, log index).
fn parse_member_key(k: &[u8]) -> Option<(&[u8], u64)> {
    let rest = k.strip_prefix(b"m")?;
    let split = rest.len().checked_sub(9)?;
    let (name, tail) = rest.split_at(split);
    let (zero, member) = tail.split_first()?;
    let member = <[u8; 8]>::try_from(member).ok()?;
    (*zero == 0).then_some((name, u64::from_be_bytes(member)))
}

fn decode_count(key: &[u8], bytes: &[u8]) -> Result<u64, IndexError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| {
            IndexError::from(Corruption::CountLength {
                key: String::from_utf8_lossy(key).into_owned(),
                len: bytes.len(),
            })
        })
}

impl EmbeddedStore {
    /// Opens (creating) the store at `path`; a store written before member
    /// counts existed is counted once, here.
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
        let store = Self {
            db: Arc::new(db),
            write: Arc::new(Mutex::new(())),
        };
        if store.db.get_pinned(COUNTS_MARKER)?.as_deref() != Some(COUNTS_VERSION) {
            store.count_all()?;
        }
        Ok(store)
    }

    /// Writes the count of every key from a scan of the members, then the
    /// marker (last: a crash before it means counting again at next open).
    fn count_all(&self) -> Result<(), IndexError> {
        let _guard = self.lock();
        let mut batch = WriteBatch::default();
        // Stale counts first (a store that crashed mid-count).
        for item in self
            .db
            .iterator(IteratorMode::From(b"n", Direction::Forward))
        {
            let (k, _) = item?;
            if k.first() != Some(&b'n') {
                break;
            }
            batch.delete(k);
        }
        let mut current: Option<(Vec<u8>, u64)> = None;
        let mut pending = 0;
        for item in self
            .db
            .iterator(IteratorMode::From(b"m", Direction::Forward))
        {
            let (k, _) = item?;
            if k.first() != Some(&b'm') {
                break;
            }
            let Some((name, _)) = parse_member_key(&k) else {
                continue;
            };
            let same = current.as_ref().is_some_and(|(n, _)| n.as_slice() == name);
            if same {
                if let Some((_, count)) = current.as_mut() {
                    *count += 1;
                }
            } else {
                if let Some((n, count)) = current.take() {
                    batch.put(
                        [b"n".as_slice(), n.as_slice()].concat(),
                        count.to_be_bytes(),
                    );
                    pending += 1;
                }
                current = Some((name.to_vec(), 1));
            }
            if pending >= COUNT_BATCH {
                self.db.write(std::mem::take(&mut batch))?;
                pending = 0;
            }
        }
        if let Some((n, count)) = current {
            batch.put(
                [b"n".as_slice(), n.as_slice()].concat(),
                count.to_be_bytes(),
            );
        }
        self.db.write(batch)?;
        self.db.put(COUNTS_MARKER, COUNTS_VERSION)?;
        Ok(())
    }

    fn read_cursor(&self) -> Result<Option<Cursor>, IndexError> {
        match self.db.get(CURSOR)? {
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes).to_string();
                Ok(Some(Cursor::decode(&text)?))
            }
            None => Ok(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // The mutex guards no data, so a panic while it was held leaves
        // nothing inconsistent: take it anyway.
        self.write.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stored_count(&self, key: &str) -> Result<u64, IndexError> {
        let k = count_key(key);
        match self.db.get_pinned(&k)? {
            Some(bytes) => decode_count(&k, &bytes),
            None => Ok(0),
        }
    }

    /// Adds (`add` true) or removes `members` of each key to `batch`, with
    /// the keys' new counts. Call with the write lock held until `batch` is
    /// written.
    fn stage(
        &self,
        batch: &mut WriteBatch,
        changes: &BTreeMap<&str, BTreeSet<u64>>,
        add: bool,
    ) -> Result<(), IndexError> {
        for (key, members) in changes {
            let record_keys: Vec<Vec<u8>> = members.iter().map(|m| member_key(key, *m)).collect();
            let mut changed = 0u64;
            for (record, present) in record_keys.iter().zip(self.db.multi_get(&record_keys)) {
                let present = present?.is_some();
                if present != add {
                    changed += 1;
                    if add {
                        batch.put(record, []);
                    } else {
                        batch.delete(record);
                    }
                }
            }
            if changed == 0 {
                continue;
            }
            let count = self.stored_count(key)?;
            let count = if add {
                count.saturating_add(changed)
            } else {
                count.saturating_sub(changed)
            };
            if count == 0 {
                batch.delete(count_key(key));
            } else {
                batch.put(count_key(key), count.to_be_bytes());
            }
        }
        Ok(())
    }

    fn write_members(&self, key: &str, members: &[u64], add: bool) -> Result<(), IndexError> {
        let changes: BTreeMap<&str, BTreeSet<u64>> =
            BTreeMap::from([(key, members.iter().copied().collect())]);
        let _guard = self.lock();
        let mut batch = WriteBatch::default();
        self.stage(&mut batch, &changes, add)?;
        self.db.write(batch)?;
        Ok(())
    }
}

impl IndexStore for EmbeddedStore {
    async fn cursor(&self) -> Result<Option<Cursor>, IndexError> {
        self.read_cursor()
    }

    async fn apply(
        &self,
        entries: &[IndexedEntry],
        expected: Option<Cursor>,
        cursor: Cursor,
    ) -> Result<(), IndexError> {
        let mut changes: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
        for entry in entries {
            for key in &entry.keys {
                changes.entry(key).or_default().insert(entry.index);
            }
        }
        // One process owns the embedded store, and every write in it holds
        // the write lock: the cursor read here cannot race another write.
        let _guard = self.lock();
        if self.read_cursor()? != expected {
            return Err(IndexError::CursorMoved);
        }
        let mut batch = WriteBatch::default();
        self.stage(&mut batch, &changes, true)?;
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
        if limit == 0 {
            return Ok(out);
        }
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

    async fn contains_many(&self, key: &str, members: &[u64]) -> Result<Vec<bool>, IndexError> {
        let records: Vec<Vec<u8>> = members.iter().map(|m| member_key(key, *m)).collect();
        self.db
            .multi_get(&records)
            .into_iter()
            .map(|r| Ok(r?.is_some()))
            .collect()
    }

    async fn count(&self, key: &str) -> Result<u64, IndexError> {
        self.stored_count(key)
    }

    async fn keys(&self) -> Result<Vec<String>, IndexError> {
        // The counts list exactly the keys that have members (a key whose
        // count drops to 0 loses its count record).
        let mut keys: Vec<String> = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(b"n", Direction::Forward))
        {
            let (k, _) = item?;
            let Some(name) = k.strip_prefix(b"n") else {
                break;
            };
            keys.push(String::from_utf8_lossy(name).to_string());
        }
        Ok(keys)
    }

    async fn add(&self, key: &str, members: &[u64]) -> Result<(), IndexError> {
        self.write_members(key, members, true)
    }

    async fn remove(&self, key: &str, members: &[u64]) -> Result<(), IndexError> {
        self.write_members(key, members, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, keys: &[&str]) -> IndexedEntry {
        IndexedEntry {
            index,
            keys: keys.iter().map(|k| k.to_string()).collect(),
        }
    }

    fn cursor(index: u64) -> Cursor {
        Cursor {
            index,
            leaf_hash: [0; 32],
        }
    }

    #[tokio::test]
    async fn counts_stay_exact_under_replays_repairs_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        let store = EmbeddedStore::open(&path).unwrap();
        let batch = [entry(0, &["a", "b"]), entry(1, &["a"]), entry(1, &["a"])];
        store.apply(&batch, None, cursor(1)).await.unwrap();
        // A replay of the same members counts nothing twice.
        store
            .apply(&batch[..2], Some(cursor(1)), cursor(1))
            .await
            .unwrap();
        assert_eq!(store.count("a").await.unwrap(), 2);
        assert_eq!(store.count("b").await.unwrap(), 1);
        assert_eq!(store.count("none").await.unwrap(), 0);
        store.add("a", &[1, 5, 5, 7]).await.unwrap();
        assert_eq!(store.count("a").await.unwrap(), 4);
        store.remove("a", &[7, 8]).await.unwrap();
        store.remove("b", &[0]).await.unwrap();
        assert_eq!(store.count("a").await.unwrap(), 3);
        assert_eq!(store.count("b").await.unwrap(), 0);
        assert_eq!(store.keys().await.unwrap(), vec!["a".to_string()]);
        assert_eq!(
            store.contains_many("a", &[5, 6, 0]).await.unwrap(),
            vec![true, false, true]
        );
        drop(store);

        // A store from before counts (no marker, no counts) is counted at open.
        {
            let db = DB::open_default(&path).unwrap();
            db.delete(COUNTS_MARKER).unwrap();
            db.delete(count_key("a")).unwrap();
            db.put(count_key("stale"), 9u64.to_be_bytes()).unwrap();
        }
        let store = EmbeddedStore::open(&path).unwrap();
        assert_eq!(store.count("a").await.unwrap(), 3);
        assert_eq!(store.count("stale").await.unwrap(), 0);
        assert_eq!(store.keys().await.unwrap(), vec!["a".to_string()]);
    }
}

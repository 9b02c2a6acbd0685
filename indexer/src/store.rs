//! The [`IndexStore`] trait, its cursor and its errors; the stores
//! themselves are in `redis_store`, `embedded` and `any_store`.

use std::future::Future;

use thiserror::Error;

/// Errors of the index stores.
#[derive(Debug, Error)]
pub enum IndexError {
    /// Redis failed or is unreachable.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The embedded RocksDB store failed.
    #[error("embedded index: {0}")]
    Embedded(#[from] rocksdb::Error),
    /// A stored value or a store answer is not in its format.
    #[error("corrupt index: {0}")]
    Corrupt(#[from] Corruption),
    /// A read run on a blocking thread did not finish (it panicked, or the
    /// runtime is shutting down).
    #[error("index read interrupted: {0}")]
    Interrupted(String),
    /// The stored cursor cannot be read.
    #[error("malformed index cursor {0:?}")]
    BadCursor(String),
    /// The cursor is not the one the writer expected (the store was flushed,
    /// restarted or written by someone else): nothing was written.
    #[error("the index cursor moved under the writer (flushed or restarted?); nothing written")]
    CursorMoved,
}

/// What is wrong with a stored value or a store's answer.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Corruption {
    /// A member count of the embedded store is not 8 bytes.
    #[error("count of {key:?} is {len} bytes, not 8")]
    CountLength {
        /// The key counted.
        key: String,
        /// Length of the stored count.
        len: usize,
    },
    /// The store answered a different number of flags than members asked.
    #[error("asked {asked} members of {key}, got {answers} answers")]
    AnswerCount {
        /// The key asked.
        key: String,
        /// Members asked.
        asked: usize,
        /// Flags answered.
        answers: usize,
    },
}

/// How far the index reaches: the last log index indexed, and its leaf hash
/// (which ties the index to one log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Log index of the last entry indexed.
    pub index: u64,
    /// Its leaf hash.
    pub leaf_hash: [u8; 32],
}

impl Cursor {
    /// Number of entries the index covers: `index + 1`.
    pub fn indexed_size(&self) -> u64 {
        self.index + 1
    }

    /// `<index>:<leaf hash hex>`.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.index, hex::encode(self.leaf_hash))
    }

    /// Parses [`Cursor::encode`].
    ///
    /// # Errors
    ///
    /// [`IndexError::BadCursor`].
    pub fn decode(text: &str) -> Result<Self, IndexError> {
        let bad = || IndexError::BadCursor(text.to_string());
        let (index, hash) = text.split_once(':').ok_or_else(bad)?;
        let index = index.parse().map_err(|_| bad())?;
        let leaf_hash = hex::decode(hash)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        Ok(Self { index, leaf_hash })
    }
}

/// One entry's index keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedEntry {
    /// The log index.
    pub index: u64,
    /// Its keys.
    pub keys: Vec<String>,
}

/// Where index members live. Writes are idempotent: applying a batch twice
/// leaves the same store.
pub trait IndexStore: Send + Sync {
    /// The cursor, or `None` for an empty (new, flushed, restarted) store.
    fn cursor(&self) -> impl Future<Output = Result<Option<Cursor>, IndexError>> + Send;

    /// Adds the members of `entries` and moves the cursor from `expected`
    /// to `cursor`, in one atomic step, or writes nothing and fails with
    /// [`IndexError::CursorMoved`] if the stored cursor is not `expected`
    /// (a flush between two batches must not leave a cursor over a hole).
    fn apply(
        &self,
        entries: &[IndexedEntry],
        expected: Option<Cursor>,
        cursor: Cursor,
    ) -> impl Future<Output = Result<(), IndexError>> + Send;

    /// Members of `key` greater than `after`, ascending, at most `limit`.
    fn range(
        &self,
        key: &str,
        after: Option<u64>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<u64>, IndexError>> + Send;

    /// Whether `member` is in `key`.
    fn contains(
        &self,
        key: &str,
        member: u64,
    ) -> impl Future<Output = Result<bool, IndexError>> + Send;

    /// Whether each of `members` is in `key`, in one round trip: the
    /// answer has one flag per member, in the same order.
    fn contains_many(
        &self,
        key: &str,
        members: &[u64],
    ) -> impl Future<Output = Result<Vec<bool>, IndexError>> + Send;

    /// Number of members of `key` (0 for a key that has none), read in
    /// O(1): searches use it to start from the smallest key.
    fn count(&self, key: &str) -> impl Future<Output = Result<u64, IndexError>> + Send;

    /// Every key that has members.
    fn keys(&self) -> impl Future<Output = Result<Vec<String>, IndexError>> + Send;

    /// Adds members to a key, leaving the cursor (repair).
    fn add(
        &self,
        key: &str,
        members: &[u64],
    ) -> impl Future<Output = Result<(), IndexError>> + Send;

    /// Removes members from a key (repair).
    fn remove(
        &self,
        key: &str,
        members: &[u64],
    ) -> impl Future<Output = Result<(), IndexError>> + Send;
}

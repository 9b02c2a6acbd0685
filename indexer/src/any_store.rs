//! [`AnyStore`]: the index store chosen at start, Redis or embedded.

use crate::embedded::EmbeddedStore;
use crate::redis_store::RedisStore;
use crate::{Cursor, IndexError, IndexStore, IndexedEntry};

/// The store in use, chosen at start.
#[derive(Clone)]
pub enum AnyStore {
    /// Redis.
    Redis(RedisStore),
    /// Embedded RocksDB.
    Embedded(EmbeddedStore),
}

impl std::fmt::Debug for AnyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Redis(s) => write!(f, "AnyStore::Redis({s:?})"),
            Self::Embedded(s) => write!(f, "AnyStore::Embedded({s:?})"),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Redis($s) => $call.await,
            AnyStore::Embedded($s) => $call.await,
        }
    };
}

impl IndexStore for AnyStore {
    async fn cursor(&self) -> Result<Option<Cursor>, IndexError> {
        delegate!(self, s => s.cursor())
    }
    async fn apply(
        &self,
        entries: &[IndexedEntry],
        expected: Option<Cursor>,
        cursor: Cursor,
    ) -> Result<(), IndexError> {
        delegate!(self, s => s.apply(entries, expected, cursor))
    }
    async fn range(
        &self,
        key: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, IndexError> {
        delegate!(self, s => s.range(key, after, limit))
    }
    async fn contains(&self, key: &str, member: u64) -> Result<bool, IndexError> {
        delegate!(self, s => s.contains(key, member))
    }
    async fn contains_many(&self, key: &str, members: &[u64]) -> Result<Vec<bool>, IndexError> {
        delegate!(self, s => s.contains_many(key, members))
    }
    async fn count(&self, key: &str) -> Result<u64, IndexError> {
        delegate!(self, s => s.count(key))
    }
    async fn keys(&self) -> Result<Vec<String>, IndexError> {
        delegate!(self, s => s.keys())
    }
    async fn add(&self, key: &str, members: &[u64]) -> Result<(), IndexError> {
        delegate!(self, s => s.add(key, members))
    }
    async fn remove(&self, key: &str, members: &[u64]) -> Result<(), IndexError> {
        delegate!(self, s => s.remove(key, members))
    }
}

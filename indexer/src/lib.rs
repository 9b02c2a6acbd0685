//! Search indexes of the evledger log.
//!
//! The index is a pure function of the log: every entry yields index keys
//! ([`keys::index_keys`]), and an [`IndexStore`] holds, per key, the set of
//! log indexes that carry it, plus a [`Cursor`] saying how far into the log
//! the index reaches. Only the reconciler writes a store, and it writes the
//! members of a batch and the new cursor in one atomic step, so the cursor is
//! never ahead of the data.
//!
//! Two stores: [`redis_store::RedisStore`] (one sorted set per key, member
//! and score = log index, every key under a prefix) and
//! [`embedded::EmbeddedStore`] (RocksDB, for a single binary with no Redis).

mod any_store;
pub mod embedded;
pub use evledger_index_keys::keys;
pub mod redis_store;
pub mod search;
mod store;

pub use any_store::AnyStore;
pub use store::{Corruption, Cursor, IndexError, IndexStore, IndexedEntry};

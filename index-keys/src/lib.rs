//! The vocabulary of evledger's search index, with no storage: which index
//! keys an entry yields ([`keys::index_keys`]), and how a search request
//! names them ([`query::SearchQuery`], turned into a [`query::Plan`]).
//!
//! Both sides take untrusted input (leaves from any log, request bodies
//! from anyone); each parser here is fuzzed (`fuzz/`).

pub mod keys;
pub mod query;

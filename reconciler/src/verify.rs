//! `reconcile --verify`: compares the index with what a rebuild from the log
//! would produce, up to the index's cursor, and reports (or with `repair`,
//! fixes) members missing from it and members it should not have.

use std::collections::{BTreeMap, BTreeSet};

use evledger_indexer::keys::index_keys;
use evledger_indexer::IndexStore;

use crate::{LogSource, ReconcileError};

/// Members read per request when listing a key.
const PAGE: usize = 10_000;

/// What differs between the index and the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IndexReport {
    /// Entries compared (the index's cursor).
    pub entries: u64,
    /// Keys compared.
    pub keys: usize,
    /// Per key, log indexes the index lacks.
    pub missing: BTreeMap<String, Vec<u64>>,
    /// Per key, log indexes the index has but the log does not give it.
    pub extra: BTreeMap<String, Vec<u64>>,
}

impl IndexReport {
    /// Whether index and log agree.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty()
    }
}

/// Compares `store` with the log; with `repair`, adds what is missing and
/// removes what is extra. `progress(done, total)` follows the log scan.
///
/// # Errors
///
/// Store and log errors.
pub async fn verify_index<S: LogSource, I: IndexStore>(
    source: &S,
    store: &I,
    repair: bool,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<IndexReport, ReconcileError> {
    let indexed = store.cursor().await?.map_or(0, |c| c.indexed_size());
    let size = source.size().await?;
    let upto = indexed.min(size);

    let mut expected: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut next = 0;
    while next < upto {
        let want = usize::try_from(upto - next).unwrap_or(usize::MAX).min(1024);
        let leaves = source.leaves(next, want).await?;
        if leaves.is_empty() {
            return Err(ReconcileError::Log(format!("no entries at {next}")));
        }
        for (i, leaf) in leaves.iter().enumerate() {
            for key in index_keys(leaf) {
                expected.entry(key).or_default().insert(next + i as u64);
            }
        }
        next += leaves.len() as u64;
        progress(next, upto);
    }

    let mut keys: BTreeSet<String> = store.keys().await?.into_iter().collect();
    keys.extend(expected.keys().cloned());
    let mut report = IndexReport {
        entries: upto,
        keys: keys.len(),
        ..IndexReport::default()
    };
    let empty = BTreeSet::new();
    for key in keys {
        let mut actual = BTreeSet::new();
        let mut after = None;
        loop {
            let page = store.range(&key, after, PAGE).await?;
            let Some(&last) = page.last() else { break };
            actual.extend(page);
            after = Some(last);
        }
        let want = expected.get(&key).unwrap_or(&empty);
        let missing: Vec<u64> = want.difference(&actual).copied().collect();
        let extra: Vec<u64> = actual.difference(want).copied().collect();
        if repair {
            store.add(&key, &missing).await?;
            store.remove(&key, &extra).await?;
        }
        if !missing.is_empty() {
            report.missing.insert(key.clone(), missing);
        }
        if !extra.is_empty() {
            report.extra.insert(key, extra);
        }
    }
    Ok(report)
}

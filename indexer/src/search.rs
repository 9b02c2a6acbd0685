//! Search: a query names index keys and combines them with AND or OR;
//! results come back in log order, a page at a time, with an opaque cursor.
//!
//! ```json
//! {"hash": "sha256:e3b0c442...", "predicateType": "https://slsa.dev/provenance/v1",
//!  "operator": "and", "pageSize": 100, "cursor": "djE6MTIz"}
//! ```
//!
//! A cursor is `base64url("v1:<log index>")`: the next page holds matches
//! after that log index. Every request does bounded work, whoever asks:
//!
//! - AND starts from the key with the fewest members ([`IndexStore::count`];
//!   a key with none answers at once) and checks the others in batches
//!   ([`IndexStore::contains_many`]), smallest first.
//! - It examines at most [`MAX_SCAN_MEMBERS`] members of that key and stops
//!   after [`SEARCH_DEADLINE`]; if either stops it before the page is full,
//!   the page is *partial*: it holds the matches found so far (maybe none)
//!   and a cursor after the last member examined, so following cursors
//!   until there is none yields every match exactly once, in order.
//! - OR reads at most `pageSize` members of each key (at most
//!   [`MAX_QUERY_KEYS`] keys), so it is bounded without a scan limit.
//! - With proofs, a page holds at most [`MAX_PROOF_HITS`] hits.

use std::time::Instant;

use thiserror::Error;

pub use evledger_index_keys::query::{
    decode_cursor, encode_cursor, BadQuery, Budget, Operator, Plan, SearchQuery, DEFAULT_PAGE_SIZE,
    MAX_CURSOR_LEN, MAX_PAGE_SIZE, MAX_PROOF_HITS, MAX_QUERY_KEYS, MAX_SCAN_MEMBERS, SCAN_CHUNK,
    SEARCH_DEADLINE,
};

use crate::store::{Corruption, IndexError, IndexStore};

/// A query that cannot run.
#[derive(Debug, Error)]
pub enum SearchError {
    /// The query is malformed.
    #[error("{0}")]
    BadQuery(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] IndexError),
}

impl From<BadQuery> for SearchError {
    fn from(e: BadQuery) -> Self {
        Self::BadQuery(e.0)
    }
}

/// Why a page stopped before it was full although more may match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partial {
    /// [`Budget::max_examined`] members were examined.
    ScanLimit,
    /// [`Budget::time`] ran out.
    Deadline,
}

impl Partial {
    /// The reason as the API spells it: `scanLimit` or `deadline`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ScanLimit => "scanLimit",
            Self::Deadline => "deadline",
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Matching log indexes, ascending, all after the plan's `after`.
    pub hits: Vec<u64>,
    /// The cursor of the next page; `None` when no later entry can match.
    pub next: Option<String>,
    /// Set when the page is short because the budget ran out (then `next`
    /// is set too).
    pub partial: Option<Partial>,
}

/// Runs a plan: one page of matching log indexes (ascending, at most
/// `limit`), within the plan's [`Budget`].
///
/// Invariant (what makes paging exact): every member of the driving key up
/// to the returned cursor has been examined, and every hit is at most the
/// cursor; the next page starts after it. So following cursors yields each
/// match once, in log order, whichever key drives each page.
///
/// # Errors
///
/// Store errors.
pub async fn execute<S: IndexStore>(store: &S, plan: &Plan) -> Result<Page, SearchError> {
    match plan.operator {
        Operator::Or => execute_or(store, plan).await,
        Operator::And => execute_and(store, plan).await,
    }
}

/// A page that ends at its last hit if it is full, else the last page.
fn full_or_last(hits: Vec<u64>, limit: usize) -> Page {
    let next = (hits.len() >= limit)
        .then(|| hits.last().map(|l| encode_cursor(*l)))
        .flatten();
    Page {
        hits,
        next,
        partial: None,
    }
}

async fn execute_or<S: IndexStore>(store: &S, plan: &Plan) -> Result<Page, SearchError> {
    // The first `limit` of the union are among the first `limit` of each
    // key: at most MAX_QUERY_KEYS reads of at most MAX_PAGE_SIZE members.
    let mut all = Vec::new();
    for key in &plan.keys {
        all.extend(store.range(key, plan.after, plan.limit).await?);
    }
    all.sort_unstable();
    all.dedup();
    all.truncate(plan.limit);
    Ok(full_or_last(all, plan.limit))
}

async fn execute_and<S: IndexStore>(store: &S, plan: &Plan) -> Result<Page, SearchError> {
    let started = Instant::now();
    // Smallest key first; a key with no members answers at once.
    let mut sized = Vec::with_capacity(plan.keys.len());
    for key in &plan.keys {
        let count = store.count(key).await?;
        if count == 0 {
            return Ok(full_or_last(Vec::new(), plan.limit));
        }
        sized.push((count, key));
    }
    sized.sort();
    let Some((&(_, driver), rest)) = sized.split_first() else {
        return Err(SearchError::BadQuery("no keys".into()));
    };
    let max_examined = plan.budget.max_examined.max(1);
    let chunk_size = plan.budget.chunk.max(1);
    let mut hits = Vec::new();
    let mut after = plan.after;
    let mut examined = 0;
    loop {
        let want = chunk_size.min(max_examined - examined);
        let chunk = store.range(driver, after, want).await?;
        examined += chunk.len();
        let exhausted = chunk.len() < want;
        let mut candidates = chunk.clone();
        for &(_, key) in rest {
            if candidates.is_empty() {
                break;
            }
            let flags = store.contains_many(key, &candidates).await?;
            if flags.len() != candidates.len() {
                return Err(IndexError::from(Corruption::AnswerCount {
                    key: key.to_string(),
                    asked: candidates.len(),
                    answers: flags.len(),
                })
                .into());
            }
            candidates = candidates
                .into_iter()
                .zip(flags)
                .filter_map(|(m, present)| present.then_some(m))
                .collect();
        }
        for member in candidates {
            hits.push(member);
            if hits.len() == plan.limit {
                // Members of this chunk after `member` are examined again
                // by the next page.
                return Ok(full_or_last(hits, plan.limit));
            }
        }
        let Some(&last) = chunk.last().filter(|_| !exhausted) else {
            return Ok(full_or_last(hits, plan.limit));
        };
        after = Some(last);
        let partial = if examined >= max_examined {
            Some(Partial::ScanLimit)
        } else if started.elapsed() >= plan.budget.time {
            Some(Partial::Deadline)
        } else {
            None
        };
        if let Some(partial) = partial {
            return Ok(Page {
                hits,
                next: Some(encode_cursor(last)),
                partial: Some(partial),
            });
        }
    }
}

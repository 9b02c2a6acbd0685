//! `POST /api/v1/index/retrieve`: search the index, read-only.
//!
//! The API server never writes the index; the reconciler does. A query may
//! ask to wait (bounded) until the index covers a log index it just wrote
//! (`minLogIndex`), for read-your-writes.
//!
//! Work per request is bounded whoever asks (see [`evledger_indexer::search`]):
//! the index walk by its scan budget and deadline (a page cut short says
//! `"partial": true` with a `partialReason` and carries a `nextCursor`), the
//! entry reads by the page size, the proofs by `MAX_PROOF_HITS`. Embedded
//! index reads, entry reads and proofs run off the async workers.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use evledger_indexer::search::{execute, Page, Partial, Plan, SearchError, SearchQuery};
use evledger_indexer::{AnyStore, IndexError, IndexStore};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::log::InclusionProofJson;
use crate::AppState;

/// Longest a query waits for the index to reach `minLogIndex`.
pub const MAX_INDEX_WAIT: Duration = Duration::from_secs(5);
/// How often the cursor is re-read while waiting.
const INDEX_POLL: Duration = Duration::from_millis(10);

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::BadQuery(m) => ApiError::bad_request(m),
            SearchError::Store(e) => e.into(),
        }
    }
}

impl From<IndexError> for ApiError {
    fn from(e: IndexError) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "index_unavailable",
            e.to_string(),
        )
    }
}

/// Runs `plan`; on the embedded store (RocksDB reads) off the async workers.
pub(crate) async fn search(store: &AnyStore, plan: Plan) -> Result<Page, ApiError> {
    match store {
        AnyStore::Redis(_) => Ok(execute(store, &plan).await?),
        AnyStore::Embedded(_) => {
            let store = store.clone();
            let runtime = tokio::runtime::Handle::current();
            // A blocking-pool thread is outside the async context, so it may
            // block on the (synchronous inside) embedded store's futures.
            crate::blocking(move || Ok(runtime.block_on(execute(&store, &plan))?)).await
        }
    }
}

/// The index this server answers searches from, or `503 index_unavailable`.
pub(crate) fn configured_store(state: &AppState) -> Result<&AnyStore, ApiError> {
    state.index().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "index_unavailable",
            "this server has no index configured",
        )
    })
}

/// Entries the index covers (0 with no cursor); on the embedded store (a
/// RocksDB read) off the async workers.
pub(crate) async fn indexed_size(store: &AnyStore) -> Result<u64, IndexError> {
    async fn read(store: &AnyStore) -> Result<u64, IndexError> {
        Ok(store.cursor().await?.map_or(0, |c| c.indexed_size()))
    }
    match store {
        AnyStore::Redis(_) => read(store).await,
        AnyStore::Embedded(_) => {
            let store = store.clone();
            let runtime = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || runtime.block_on(read(&store)))
                .await
                .map_err(|e| IndexError::Interrupted(format!("reading the index cursor: {e}")))?
        }
    }
}

/// One page of search results. Members in the order the API has always
/// sent them.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchAnswer {
    /// The checkpoint every hit's proof is against (with `proofs` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint: Option<String>,
    /// Entries the index covers (entries below it).
    indexed_through: u64,
    /// The cursor of the next page; `null` on the last one. A short or
    /// empty page is not the end: only a `null` cursor is.
    #[schema(required = true)]
    next_cursor: Option<String>,
    /// Whether the scan budget or deadline cut the page short.
    partial: bool,
    /// Why the page is partial.
    #[serde(skip_serializing_if = "Option::is_none")]
    partial_reason: Option<PartialReason>,
    /// Matching entries, in log order.
    results: Vec<SearchHit>,
}

/// Why a page of search results stopped before it was full.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) enum PartialReason {
    /// The AND examined its 4,096 entries.
    ScanLimit,
    /// The AND ran for its 1 s.
    Deadline,
}

impl From<Partial> for PartialReason {
    fn from(partial: Partial) -> Self {
        match partial {
            Partial::ScanLimit => Self::ScanLimit,
            Partial::Deadline => Self::Deadline,
        }
    }
}

/// A matching entry.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SearchHit {
    /// Its inclusion proof against the answer's checkpoint (with `proofs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    inclusion_proof: Option<InclusionProofJson>,
    /// Its leaf hash, hex.
    leaf_hash: String,
    /// Its position in the log.
    log_index: u64,
}

/// Search the index.
///
/// Public and read-only: every hit names a log index to prove. Work is
/// bounded whoever asks: a page cut short by the scan budget or the
/// deadline is `partial`, with a cursor to continue; only a `null`
/// `nextCursor` ends the results.
#[utoipa::path(
    post,
    path = "/api/v1/index/retrieve",
    operation_id = "searchIndex",
    tag = "index",
    request_body(content = crate::openapi::SearchQuery, content_type = "application/json"),
    responses(
        (status = 200, description = "A page of results", body = SearchAnswer),
        (status = 400, description = "`bad_request`: a malformed query (no criterion, a bad digest, an unknown field, pageSize out of range, a cursor this server did not issue, ...); `out_of_range`: minLogIndex is not in the log", body = ErrorBody),
        (status = 500, description = "`internal`: a server fault", body = ErrorBody),
        (status = 503, description = "`index_behind` (minLogIndex not indexed within 5 s) or `index_unavailable`", body = ErrorBody),
    )
)]
pub(crate) async fn retrieve(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SearchAnswer>, ApiError> {
    let body = body.map_err(crate::error::body_error)?;
    let query: SearchQuery = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed query: {e}")))?;
    let plan = query.plan().map_err(SearchError::from)?;
    let store = configured_store(&state)?;

    let mut indexed = indexed_size(store).await?;
    if let Some(min) = query.min_log_index {
        let behind = |indexed: u64, why: String| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "index_behind",
                format!("the index covers entries below {indexed}; minLogIndex {min} {why}"),
            )
        };
        // An entry the log does not have is the caller's mistake (no
        // append answered with it), refused at once like a proof beyond
        // the tree: no caller holds a request open for an index that
        // cannot get there.
        let size = state.ledger().checkpoint().size;
        if min >= size {
            return Err(ApiError::bad_request(format!(
                "minLogIndex {min} is not in the log (log size {size})"
            ))
            .with_code("out_of_range"));
        }
        let deadline = Instant::now() + MAX_INDEX_WAIT;
        while indexed <= min {
            if Instant::now() >= deadline {
                return Err(behind(
                    indexed,
                    format!(
                        "not reached within {}s (log size {})",
                        MAX_INDEX_WAIT.as_secs(),
                        state.ledger().checkpoint().size
                    ),
                ));
            }
            tokio::time::sleep(INDEX_POLL).await;
            indexed = indexed_size(store).await?;
        }
    }

    let page = search(store, plan).await?;
    let checkpoint = state.ledger().checkpoint();
    let proofs = query.proofs;
    let size = checkpoint.size;
    let reader = state.clone();
    // At most pageSize entry reads, and at most MAX_PROOF_HITS proofs
    // (the plan shortened the page), off the async workers.
    let hits = page.hits.clone();
    let results = crate::blocking(move || {
        let mut results = Vec::with_capacity(hits.len());
        for index in hits {
            let missing = || {
                ApiError::internal(format!(
                    "the index names entry {index}, which the log does not have"
                ))
            };
            // With proofs, the ledger reads the leaf once for both.
            let (leaf, proof) = if proofs {
                if index >= size {
                    return Err(missing());
                }
                let (leaf, proof) = reader.ledger().proven_entry(index, size)?;
                (leaf, Some(proof))
            } else {
                (reader.ledger().entry(index)?.ok_or_else(missing)?, None)
            };
            results.push(SearchHit {
                inclusion_proof: proof.as_ref().map(InclusionProofJson::from),
                leaf_hash: hex::encode(evledger_ledger::leaf_hash(&leaf)),
                log_index: index,
            });
        }
        Ok(results)
    })
    .await?;
    Ok(Json(SearchAnswer {
        checkpoint: query.proofs.then(|| checkpoint.note.clone()),
        indexed_through: indexed,
        next_cursor: page.next,
        partial: page.partial.is_some(),
        partial_reason: page.partial.map(PartialReason::from),
        results,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_reasons_are_spelled_as_the_indexer_spells_them() {
        for partial in [Partial::ScanLimit, Partial::Deadline] {
            assert_eq!(
                serde_json::to_value(PartialReason::from(partial)).expect("json"),
                serde_json::json!(partial.as_str())
            );
        }
    }
}

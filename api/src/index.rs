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
use evledger_indexer::search::{execute, Page, Plan, SearchError, SearchQuery};
use evledger_indexer::{AnyStore, IndexError, IndexStore};
use serde_json::{json, Value};

use crate::error::ApiError;
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
async fn search(store: &AnyStore, plan: Plan) -> Result<Page, ApiError> {
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

/// Entries the index covers (0 with no cursor).
pub(crate) async fn indexed_size(store: &AnyStore) -> Result<u64, IndexError> {
    Ok(store.cursor().await?.map_or(0, |c| c.indexed_size()))
}

pub(crate) async fn retrieve(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map_err(crate::error::body_error)?;
    let query: SearchQuery = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed query: {e}")))?;
    let plan = query.plan()?;
    let store = state.index().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "index_unavailable",
            "this server has no index configured",
        )
    })?;

    let mut indexed = indexed_size(store).await?;
    if let Some(min) = query.min_log_index {
        let deadline = Instant::now() + MAX_INDEX_WAIT;
        while indexed <= min {
            if Instant::now() >= deadline {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "index_behind",
                    format!(
                        "the index covers entries below {indexed}; minLogIndex {min} not reached within {}s (log size {})",
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
            let mut hit = json!({
                "logIndex": index,
                "leafHash": hex::encode(evledger_ledger::leaf_hash(&leaf)),
            });
            if let Some(proof) = proof {
                hit["inclusionProof"] =
                    json!(evledger_ledger::proof::InclusionProofJson::from(&proof));
            }
            results.push(hit);
        }
        Ok(results)
    })
    .await?;
    let mut answer = json!({
        "results": results,
        "nextCursor": page.next,
        "partial": page.partial.is_some(),
        "indexedThrough": indexed,
    });
    if let Some(partial) = page.partial {
        answer["partialReason"] = json!(partial.as_str());
    }
    if query.proofs {
        answer["checkpoint"] = json!(checkpoint.note);
    }
    Ok(Json(answer))
}

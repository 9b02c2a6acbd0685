//! Opening the search index: Redis or the embedded store.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use evledger_indexer::embedded::EmbeddedStore;
use evledger_indexer::redis_store::RedisStore;
use evledger_indexer::AnyStore;

/// Default prefix of the index's Redis keys.
pub(crate) const DEFAULT_PREFIX: &str = "evledger:";

/// Opens the index store: Redis when a URL is given (retrying for a while
/// if Redis is not up yet), else the embedded store at `embedded_dir`.
pub(crate) async fn open_store(
    redis_url: Option<&str>,
    prefix: &str,
    embedded_dir: &Path,
) -> anyhow::Result<AnyStore> {
    let Some(url) = redis_url else {
        return Ok(AnyStore::Embedded(
            EmbeddedStore::open(embedded_dir).context("opening the embedded index")?,
        ));
    };
    let mut last = None;
    for _ in 0..60 {
        match RedisStore::connect(url, prefix).await {
            Ok(store) => return Ok(AnyStore::Redis(store)),
            Err(e) => {
                tracing::warn!(error = %e, "Redis not reachable yet; retrying");
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    bail!(
        "cannot reach Redis at {url}: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    )
}

//! Worst-case search cost at 1 M members (issue 12, "unbounded anonymous
//! search"): `kind:dsse` holds every entry, `workflow:x` a handful spread
//! over the log, `workflow:none` nothing. The queries are the ones an
//! anonymous caller can send for free:
//!
//! - `{"kind":"dsse","workflow":"x"}`: a huge key AND a tiny one;
//! - `{"kind":"dsse","workflow":"none"}`: a huge key AND an empty one.
//!
//! Each query is followed cursor by cursor to the end, and the bench prints
//! the time of the first page, of the whole walk, and the number of pages.
//! Plain `harness = false` main (no criterion: one long measurement per
//! query, not a statistical micro-benchmark).
//!
//! ```sh
//! cargo bench -p evledger-indexer --bench search_worst_case
//! # options (environment):
//! #   EVLEDGER_BENCH_MEMBERS=1000000      members of kind:dsse
//! #   EVLEDGER_BENCH_REDIS=redis://127.0.0.1:6379/0   or "off"
//! #   EVLEDGER_BENCH_REPS=3               runs per query
//! #   EVLEDGER_BENCH_BASELINE=off         skip the pre-fix walk (one run each)
//! ```

use std::time::{Duration, Instant};

use evledger_indexer::embedded::EmbeddedStore;
use evledger_indexer::redis_store::RedisStore;
use evledger_indexer::search::{execute, SearchQuery};
use evledger_indexer::{Cursor, IndexStore, IndexedEntry};

/// Members written per `apply` while filling (the Redis apply script
/// unpacks a key's members into one ZADD: keep it well under Lua's limit).
const FILL_BATCH: u64 = 2_000;
/// Members of `workflow:x`.
const TINY: u64 = 5;
/// Pages followed at most per query (a bound, far above what any run needs).
const MAX_PAGES: usize = 100_000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The log indexes carrying `workflow:x`: spread evenly, the last one at the end.
fn tiny_members(total: u64) -> Vec<u64> {
    (1..=TINY).map(|i| i * total / TINY - 1).collect()
}

async fn fill<S: IndexStore>(store: &S, total: u64) -> Duration {
    let started = Instant::now();
    let tiny = tiny_members(total);
    let mut written: Option<Cursor> = None;
    let mut from = 0;
    while from < total {
        let to = (from + FILL_BATCH).min(total);
        let entries: Vec<IndexedEntry> = (from..to)
            .map(|index| {
                let mut keys = vec!["kind:dsse".to_string()];
                if tiny.contains(&index) {
                    keys.push("workflow:x".to_string());
                }
                IndexedEntry { index, keys }
            })
            .collect();
        let cursor = Cursor {
            index: to - 1,
            leaf_hash: [0; 32],
        };
        store
            .apply(&entries, written, cursor)
            .await
            .expect("fill the store");
        written = Some(cursor);
        from = to;
    }
    started.elapsed()
}

struct Run {
    first_page: Duration,
    total: Duration,
    pages: usize,
    hits: Vec<u64>,
}

async fn walk<S: IndexStore>(store: &S, workflow: &str, baseline: bool) -> Run {
    let mut query = SearchQuery {
        kind: Some("dsse".into()),
        workflow: Some(workflow.into()),
        ..SearchQuery::default()
    };
    let started = Instant::now();
    let mut first_page = None;
    let mut hits = Vec::new();
    let mut pages = 0;
    while pages < MAX_PAGES {
        let plan = query.plan().expect("a valid query");
        let (page, next) = if baseline {
            pre_fix_and(store, &plan.keys, plan.limit).await
        } else {
            let page = execute(store, &plan).await.expect("search");
            (page.hits, page.next)
        };
        pages += 1;
        first_page.get_or_insert_with(|| started.elapsed());
        hits.extend(page);
        match next {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    Run {
        first_page: first_page.unwrap_or_default(),
        total: started.elapsed(),
        pages,
        hits,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// The AND walk as it was before issue 12, copied verbatim from the old
/// `search::execute` (first page only, no cursor given): the first key in
/// alphabetical order, chunks of `limit.max(64)`, one `contains` per member
/// and other key. Kept to measure "before" on a store the pre-fix build
/// could not fill (Redis, see FILL_BATCH); on the embedded store it gives
/// the same figure as the pre-fix build did.
async fn pre_fix_and<S: IndexStore>(
    store: &S,
    keys: &[String],
    limit: usize,
) -> (Vec<u64>, Option<String>) {
    let (first, rest) = keys.split_first().expect("keys");
    let mut hits = Vec::new();
    let mut after = None;
    'walk: loop {
        let chunk = store
            .range(first, after, limit.max(64))
            .await
            .expect("range");
        let Some(&last) = chunk.last() else { break };
        for member in chunk.iter().copied() {
            let mut all = true;
            for key in rest {
                if !store.contains(key, member).await.expect("contains") {
                    all = false;
                    break;
                }
            }
            if all {
                hits.push(member);
                if hits.len() == limit {
                    break 'walk;
                }
            }
        }
        after = Some(last);
    }
    assert!(hits.len() < limit, "the bench's answers fit one page");
    (hits, None)
}

async fn measure<S: IndexStore>(name: &str, store: &S, total: u64, reps: usize, baseline: bool) {
    for (label, workflow, expected) in [
        ("kind:dsse AND workflow:x", "x", tiny_members(total)),
        ("kind:dsse AND workflow:none", "none", Vec::new()),
    ] {
        let mut runs: Vec<Run> = Vec::new();
        for _ in 0..reps {
            let run = walk(store, workflow, baseline).await;
            assert_eq!(run.hits, expected, "{name} {label}: wrong answer");
            runs.push(run);
        }
        runs.sort_by_key(|r| r.total);
        let median = &runs[runs.len() / 2];
        let name = if baseline {
            format!("{name} (pre-fix walk)")
        } else {
            name.to_string()
        };
        println!(
            "{name:<24} {label:<28} first page {:>10} ms  all pages {:>10} ms  pages {:>4}  (median of {reps})",
            ms(median.first_page),
            ms(median.total),
            median.pages,
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing.
    // Under `cargo test` (no `--bench`) run a tiny fill, as a smoke test.
    let benching = std::env::args().any(|a| a == "--bench");
    let total: u64 = if benching {
        env_or("EVLEDGER_BENCH_MEMBERS", 1_000_000)
    } else {
        20_000
    };
    let reps: usize = env_or("EVLEDGER_BENCH_REPS", 3).max(1);
    let with_baseline = std::env::var("EVLEDGER_BENCH_BASELINE").as_deref() != Ok("off");
    let redis_url =
        std::env::var("EVLEDGER_BENCH_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("a temp dir");
        let embedded = EmbeddedStore::open(&dir.path().join("index")).expect("open the store");
        let took = fill(&embedded, total).await;
        println!("embedded: filled {total} members in {} ms", ms(took));
        measure("embedded", &embedded, total, reps, false).await;
        if with_baseline {
            measure("embedded", &embedded, total, 1, true).await;
        }

        if redis_url != "off" {
            let prefix = format!("evledger-bench:{:016x}:", rand::random::<u64>());
            let redis = RedisStore::connect(&redis_url, &prefix)
                .await
                .expect("a Redis (EVLEDGER_BENCH_REDIS=off to skip)");
            let took = fill(&redis, total).await;
            println!("redis:    filled {total} members in {} ms", ms(took));
            measure("redis", &redis, total, reps, false).await;
            if with_baseline {
                measure("redis", &redis, total, 1, true).await;
            }
            let client = redis::Client::open(redis_url.as_str()).expect("redis url");
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .expect("redis");
            for key in ["i:kind:dsse", "i:workflow:x", "cursor"] {
                let _: () = redis::cmd("UNLINK")
                    .arg(format!("{prefix}{key}"))
                    .query_async(&mut conn)
                    .await
                    .expect("clean up");
            }
        }
    });
}

//! Property test: for random sets of entries, every search (AND / OR, any
//! page size, any scan budget, followed page by page) returns exactly what
//! a brute-force scan of the entries gives, in order, with no duplicate and
//! no miss, on the embedded store and on the real Redis. The scan uses what
//! the generator knows about each entry, not `index_keys`. Small random
//! budgets (members examined, chunk, a zero deadline) force partial pages
//! and continuation cursors on small data.

use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::Signer;
use evledger_indexer::embedded::EmbeddedStore;
use evledger_indexer::keys::index_keys;
use evledger_indexer::redis_store::RedisStore;
use std::time::Duration;

use evledger_indexer::search::{execute, Budget, SearchQuery};
use evledger_indexer::{Cursor, IndexStore, IndexedEntry};
use evledger_ledger::entry::dsse::pae;
use evledger_ledger::entry::Entry;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

const SUBJECTS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
const PREDICATES: [&str; 3] = [
    "https://slsa.dev/provenance/v1",
    "https://spdx.dev/Document",
    "https://in-toto.io/attestation/vulns",
];

/// What the generator knows about one entry.
#[derive(Debug, Clone)]
struct Known {
    signer: usize,
    subjects: Vec<usize>,
    predicate: usize,
}

fn digest(subject: usize) -> String {
    hex::encode(Sha256::digest(SUBJECTS[subject]))
}

fn signers() -> Vec<ed25519_dalek::SigningKey> {
    (0u8..3)
        .map(|i| ed25519_dalek::SigningKey::from_bytes(&[i + 1; 32]))
        .collect()
}

fn public_pem(key: &ed25519_dalek::SigningKey) -> String {
    key.verifying_key()
        .to_public_key_pem(Default::default())
        .unwrap()
}

fn leaf(known: &Known, n: usize, keys: &[ed25519_dalek::SigningKey]) -> Vec<u8> {
    let subjects: Vec<_> = known
        .subjects
        .iter()
        .map(|s| serde_json::json!({"name": SUBJECTS[*s], "digest": {"sha256": digest(*s)}}))
        .collect();
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": PREDICATES[known.predicate],
        "predicate": {"n": n},
    });
    let payload = serde_json::to_vec(&statement).unwrap();
    let key = &keys[known.signer];
    let sig = key.sign(&pae("application/vnd.in-toto+json", &payload));
    let submission = serde_json::json!({"kind": "dsse", "spec": {
        "envelope": {"payloadType": "application/vnd.in-toto+json", "payload": B64.encode(&payload),
                     "signatures": [{"sig": B64.encode(sig.to_bytes())}]},
        "verifiers": [public_pem(key)]}});
    Entry::from_submission(&serde_json::to_vec(&submission).unwrap())
        .unwrap()
        .leaf
}

/// A query criterion and the brute-force test of an entry against it.
#[derive(Debug, Clone)]
enum Criterion {
    Subject(usize),
    Signer(usize),
    Predicate(usize),
}

impl Criterion {
    fn matches(&self, k: &Known) -> bool {
        match self {
            Self::Subject(s) => k.subjects.contains(s),
            Self::Signer(s) => k.signer == *s,
            Self::Predicate(p) => k.predicate == *p,
        }
    }

    fn apply(&self, q: &mut SearchQuery, keys: &[ed25519_dalek::SigningKey]) {
        match self {
            Self::Subject(s) => q.hash = Some(format!("sha256:{}", digest(*s))),
            Self::Signer(s) => q.public_key = Some(public_pem(&keys[*s])),
            Self::Predicate(p) => q.predicate_type = Some(PREDICATES[*p].to_string()),
        }
    }
}

fn known_strategy() -> impl Strategy<Value = Known> {
    (
        0usize..3,
        proptest::collection::btree_set(0usize..6, 1..3),
        0usize..3,
    )
        .prop_map(|(signer, subjects, predicate)| Known {
            signer,
            subjects: subjects.into_iter().collect(),
            predicate,
        })
}

fn criterion_strategy() -> impl Strategy<Value = Criterion> {
    prop_oneof![
        (0usize..6).prop_map(Criterion::Subject),
        (0usize..3).prop_map(Criterion::Signer),
        (0usize..3).prop_map(Criterion::Predicate),
    ]
}

type Queries = Vec<(Vec<Criterion>, bool, usize, Option<Budget>)>;

/// A small scan budget (or none: the server's default).
fn budget_strategy() -> impl Strategy<Value = Option<Budget>> {
    proptest::option::of((1usize..12, 1usize..6, any::<bool>()).prop_map(
        |(max_examined, chunk, zero_deadline)| Budget {
            max_examined,
            chunk,
            time: if zero_deadline {
                Duration::ZERO
            } else {
                Duration::from_secs(60)
            },
        },
    ))
}

/// Pages followed at most for one query: each page examines at least one
/// member, so 80 entries never need more.
const MAX_PAGES: usize = 1000;

async fn check<S: IndexStore>(
    store: &S,
    entries: &[Known],
    queries: &Queries,
    keys: &[ed25519_dalek::SigningKey],
) -> Result<(), TestCaseError> {
    let indexed: Vec<IndexedEntry> = entries
        .iter()
        .enumerate()
        .map(|(i, k)| IndexedEntry {
            index: i as u64,
            keys: index_keys(&leaf(k, i, keys)),
        })
        .collect();
    // Two batches, the second applied twice: replays change nothing.
    let half = indexed.len() / 2;
    let batches = [
        (&indexed[..half], half),
        (&indexed[half..], indexed.len()),
        (&indexed[half..], indexed.len()),
    ];
    let mut written = None;
    for (batch, covered) in batches {
        if covered > 0 {
            let cursor = Cursor {
                index: covered as u64 - 1,
                leaf_hash: [0; 32],
            };
            store.apply(batch, written, cursor).await.unwrap();
            written = Some(cursor);
        }
    }
    for (criteria, or, page, budget) in queries {
        let mut query = SearchQuery {
            operator: Some(if *or { "or" } else { "and" }.into()),
            page_size: Some(*page),
            ..SearchQuery::default()
        };
        // A query field holds one value: keep one criterion of each kind.
        let mut seen = HashSet::new();
        let criteria: Vec<&Criterion> = criteria
            .iter()
            .filter(|c| seen.insert(std::mem::discriminant(*c)))
            .collect();
        for c in &criteria {
            c.apply(&mut query, keys);
        }
        let expected: Vec<u64> = entries
            .iter()
            .enumerate()
            .filter(|(_, k)| {
                if *or {
                    criteria.iter().any(|c| c.matches(k))
                } else {
                    criteria.iter().all(|c| c.matches(k))
                }
            })
            .map(|(i, _)| i as u64)
            .collect();
        let mut got: Vec<u64> = Vec::new();
        let mut finished = false;
        for _ in 0..MAX_PAGES {
            let mut plan = query.plan().unwrap();
            if let Some(budget) = budget {
                plan.budget = *budget;
            }
            let result = execute(store, &plan).await.unwrap();
            prop_assert!(result.hits.len() <= *page);
            prop_assert!(
                result.partial.is_none() || result.next.is_some(),
                "a partial page carries a cursor"
            );
            // Ascending, and after everything already returned.
            for hit in &result.hits {
                prop_assert!(
                    got.last().is_none_or(|last| hit > last),
                    "order or duplicate"
                );
                got.push(*hit);
            }
            match result.next {
                Some(cursor) => query.cursor = Some(cursor),
                None => {
                    finished = true;
                    break;
                }
            }
        }
        prop_assert!(
            finished,
            "cursors did not run out within {} pages",
            MAX_PAGES
        );
        prop_assert_eq!(&got, &expected, "criteria {:?} or={}", criteria, or);
    }
    Ok(())
}

fn redis_url() -> String {
    std::env::var("EVLEDGER_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

async fn delete_prefix(url: &str, prefix: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    #[test]
    fn search_equals_brute_force(
        entries in proptest::collection::vec(known_strategy(), 0..80),
        queries in proptest::collection::vec(
            (
                proptest::collection::vec(criterion_strategy(), 1..4),
                any::<bool>(),
                1usize..20,
                budget_strategy(),
            ),
            1..6,
        ),
    ) {
        let keys = signers();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let embedded = EmbeddedStore::open(&dir.path().join("index")).unwrap();
            check(&embedded, &entries, &queries, &keys).await?;

            let prefix = format!("evledger-test:{}:", rand::random::<u64>());
            let redis = RedisStore::connect(&redis_url(), &prefix)
                .await
                .expect("a Redis on 127.0.0.1:6379 (scripts/setup starts one)");
            let result = check(&redis, &entries, &queries, &keys).await;
            delete_prefix(&redis_url(), &prefix).await;
            result
        })?;
    }
}

/// A huge key AND a tiny one is answered from the tiny one: with a budget
/// of 4 members examined, the 3 matches among 6,000 come back in one
/// complete page; the walk over the huge key would need 2,000 pages. A key
/// with no members answers at once. (One batch of 6,000 members under one
/// key also checks that Redis takes batches above Lua's `unpack` limit.)
async fn smallest_key_drives<S: IndexStore>(store: &S) {
    let tiny = [3_000, 4_500, 5_999];
    let entries: Vec<IndexedEntry> = (0..6_000u64)
        .map(|index| {
            let mut keys = vec!["kind:dsse".to_string()];
            if tiny.contains(&index) {
                keys.push("workflow:x".to_string());
            }
            IndexedEntry { index, keys }
        })
        .collect();
    let cursor = Cursor {
        index: 5_999,
        leaf_hash: [0; 32],
    };
    store.apply(&entries, None, cursor).await.unwrap();
    for (workflow, expected) in [("x", tiny.to_vec()), ("none", Vec::new())] {
        let query = SearchQuery {
            kind: Some("dsse".into()),
            workflow: Some(workflow.into()),
            ..SearchQuery::default()
        };
        let mut plan = query.plan().unwrap();
        // 4 members: the 3 matches and the read that finds the key's end.
        plan.budget = Budget {
            max_examined: 4,
            chunk: 2,
            time: Duration::from_secs(60),
        };
        let page = execute(store, &plan).await.unwrap();
        assert_eq!(page.hits, expected, "workflow:{workflow}");
        assert_eq!(page.partial, None, "workflow:{workflow}");
        assert_eq!(page.next, None, "workflow:{workflow}");
    }
}

#[test]
fn and_starts_from_the_smallest_key() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let embedded = EmbeddedStore::open(&dir.path().join("index")).unwrap();
        smallest_key_drives(&embedded).await;

        let prefix = format!("evledger-test:{}:", rand::random::<u64>());
        let redis = RedisStore::connect(&redis_url(), &prefix)
            .await
            .expect("a Redis on 127.0.0.1:6379 (scripts/setup starts one)");
        smallest_key_drives(&redis).await;
        delete_prefix(&redis_url(), &prefix).await;
    });
}

/// Malformed or unbounded inputs are refused with a message, before any
/// store is touched.
#[test]
fn bad_inputs_are_refused() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    let kind = |q: SearchQuery| SearchQuery {
        kind: Some("dsse".into()),
        ..q
    };
    let cursor = |text: &str| SearchQuery {
        cursor: Some(B64URL.encode(text)),
        ..kind(SearchQuery::default())
    };
    let cases = [
        ("plus sign in cursor", cursor("v1:+5")),
        ("leading zero in cursor", cursor("v1:05")),
        ("empty cursor number", cursor("v1:")),
        (
            "cursor too long",
            SearchQuery {
                cursor: Some("A".repeat(65)),
                ..kind(SearchQuery::default())
            },
        ),
        (
            "padded cursor",
            SearchQuery {
                cursor: Some(format!("{}==", B64URL.encode("v1:5"))),
                ..kind(SearchQuery::default())
            },
        ),
        (
            "long kind",
            SearchQuery {
                kind: Some("k".repeat(600)),
                ..SearchQuery::default()
            },
        ),
        (
            "empty workflow",
            SearchQuery {
                workflow: Some(String::new()),
                ..SearchQuery::default()
            },
        ),
        (
            "NUL in project",
            SearchQuery {
                project: Some("a\0b".into()),
                ..SearchQuery::default()
            },
        ),
        (
            "empty annotation name",
            SearchQuery {
                annotation: Some("=v".into()),
                ..SearchQuery::default()
            },
        ),
        (
            "page size 0",
            SearchQuery {
                page_size: Some(0),
                ..kind(SearchQuery::default())
            },
        ),
    ];
    for (name, query) in cases {
        assert!(query.plan().is_err(), "{name}: accepted");
    }
    // What the server issues is accepted, and proofs shorten the page.
    let mut ok = cursor("v1:5");
    ok.page_size = Some(1000);
    ok.proofs = true;
    let plan = ok.plan().unwrap();
    assert_eq!(plan.after, Some(5));
    assert_eq!(plan.limit, evledger_indexer::search::MAX_PROOF_HITS);
}

//! Search request bodies (`POST /api/v1/index/retrieve`):
//! `evledger_index_keys::query::SearchQuery` from JSON, then `plan`.
//!
//! Properties: an accepted query plans to 1 to `MAX_QUERY_KEYS` sorted,
//! distinct index keys, each at most `MAX_KEY_LEN` bytes without a NUL and
//! with the prefix of its field; one per criterion given; a page size of 1
//! to `MAX_PAGE_SIZE` (at most `MAX_PROOF_HITS` with proofs) and the
//! cursor's position; planning twice gives the same plan.
#![no_main]

use evledger_index_keys::keys::MAX_KEY_LEN;
use evledger_index_keys::query::{
    decode_cursor, SearchQuery, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_PROOF_HITS, MAX_QUERY_KEYS,
};
use libfuzzer_sys::fuzz_target;

const PREFIXES: [&str; 6] = [
    "hash:",
    "key:",
    "predicateType:",
    "kind:",
    "workflow:",
    "project:",
];

fuzz_target!(|data: &[u8]| {
    let Ok(query) = serde_json::from_slice::<SearchQuery>(data) else {
        return;
    };
    let Ok(plan) = query.plan() else {
        return;
    };
    assert!((1..=MAX_QUERY_KEYS).contains(&plan.keys.len()));
    assert!(
        plan.keys.windows(2).all(|w| w[0] < w[1]),
        "keys sorted and distinct"
    );
    for key in &plan.keys {
        assert!(key.len() <= MAX_KEY_LEN && !key.contains('\0'), "{key:?}");
        assert!(
            PREFIXES.iter().any(|p| key.starts_with(p)) || key.starts_with("annotation:"),
            "{key:?}"
        );
    }
    let criteria = [
        &query.hash,
        &query.public_key,
        &query.key_fingerprint,
        &query.predicate_type,
        &query.kind,
        &query.workflow,
        &query.project,
        &query.annotation,
    ]
    .iter()
    .filter(|c| c.is_some())
    .count();
    assert!(plan.keys.len() <= criteria);
    let max = if query.proofs {
        MAX_PROOF_HITS
    } else {
        MAX_PAGE_SIZE
    };
    assert!((1..=max).contains(&plan.limit));
    assert_eq!(
        plan.limit,
        query.page_size.unwrap_or(DEFAULT_PAGE_SIZE).min(max)
    );
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c).expect("a planned cursor"));
    assert_eq!(plan.after, cursor);
    assert_eq!(query.plan().expect("plans again"), plan);
});

//! Hardening tests (issue 12), search: an anonymous caller cannot make one
//! request walk the log. Through the real server: a huge key AND a tiny one
//! is answered from the tiny one; an answer that needs more members examined
//! than one request may examine comes as partial pages with continuation
//! cursors that, followed, yield every match once, in order; `proofs` work
//! is capped per page; malformed or unbounded inputs are 400s.

mod common;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use common::*;
use evledger_indexer::search::{MAX_PROOF_HITS, MAX_SCAN_MEMBERS};
use serde_json::{json, Value};

/// Client threads submitting entries.
const SUBMITTERS: usize = 8;
/// Pages followed at most for one query.
const MAX_PAGES: usize = 50;

/// An in-toto statement about `subject`, made distinct by `n`.
fn statement_about(subject: &str, n: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": subject, "digest": {"sha256": sha256_hex(subject)}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"n": n},
    }))
    .expect("json")
}

/// Submits `count` statements signed by `key` (subject from `subject(i)`,
/// made distinct by `first + i`), from several threads; returns their log
/// indexes, ascending.
fn submit_all(
    server: &Server,
    key: &TestKey,
    count: usize,
    first: usize,
    subject: impl Fn(usize) -> String + Sync,
) -> Vec<u64> {
    let mut indexes: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..SUBMITTERS)
            .map(|t| {
                let subject = &subject;
                scope.spawn(move || {
                    let client = http();
                    let mut mine = Vec::new();
                    for i in (t..count).step_by(SUBMITTERS) {
                        let payload = statement_about(&subject(i), first + i);
                        let body = dsse_submission(key, "application/vnd.in-toto+json", &payload);
                        let r = client
                            .post(format!("{}/api/v1/log/entries", server.url))
                            .json(&body)
                            .send()
                            .expect("POST");
                        let status = r.status().as_u16();
                        let answer: Value = r.json().expect("JSON answer");
                        assert_eq!(status, 201, "{answer}");
                        mine.push(answer["logIndex"].as_u64().expect("logIndex"));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("submitter"))
            .collect()
    });
    indexes.sort_unstable();
    indexes
}

/// An anonymous search: (status, answer).
fn retrieve(server: &Server, query: &Value) -> (u16, Value) {
    let r = anonymous_http()
        .post(format!("{}/api/v1/index/retrieve", server.url))
        .json(query)
        .send()
        .expect("POST retrieve");
    let status = r.status().as_u16();
    (status, r.json().expect("JSON answer"))
}

/// Follows `query` cursor by cursor; returns every page's answer.
fn all_pages(server: &Server, query: &Value) -> Vec<Value> {
    let mut query = query.clone();
    let mut pages = Vec::new();
    for _ in 0..MAX_PAGES {
        let (status, page) = retrieve(server, &query);
        assert_eq!(status, 200, "{query} -> {page}");
        let next = page["nextCursor"].as_str().map(str::to_string);
        pages.push(page);
        match next {
            Some(cursor) => query["cursor"] = json!(cursor),
            None => return pages,
        }
    }
    panic!("{query}: cursors did not run out within {MAX_PAGES} pages");
}

#[test]
fn search_work_is_bounded_and_cursors_yield_everything() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let k1 = TestKey::ed25519();
    let k2 = TestKey::p256();
    let k3 = TestKey::ed25519();
    let right = "right-artifact";
    // key:K1 holds n1 + 3 members, hash:right n2 + 5: both above the scan
    // limit, K1 the smaller. Their 3 common members come after n1 > limit
    // members of K1; K3 shares 2 members with hash:right.
    let n1 = MAX_SCAN_MEMBERS + 40;
    let n2 = MAX_SCAN_MEMBERS + 80;
    submit_all(&server, &k1, n1, 0, |i| format!("left-{i}"));
    let both = submit_all(&server, &k1, 3, n1, |_| right.to_string());
    submit_all(&server, &k2, n2, n1 + 3, |_| right.to_string());
    let tiny = submit_all(&server, &k3, 2, n1 + 3 + n2, |_| right.to_string());
    let last = *tiny.last().unwrap();

    // Wait (bounded) until the reconciler has indexed everything.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let (status, answer) = retrieve(&server, &json!({"kind": "dsse", "minLogIndex": last}));
        if status == 200 {
            break;
        }
        assert_eq!(answer["code"], json!("index_behind"), "{answer}");
        assert!(
            Instant::now() < deadline,
            "the index did not catch up: {answer}"
        );
    }

    // A huge key AND a tiny key: one complete page, from the tiny key
    // (hash:... sorts first; walking it would hit the scan limit).
    let hash = format!("sha256:{}", sha256_hex(right));
    let (status, answer) = retrieve(
        &server,
        &json!({"hash": hash, "publicKey": k3.public_pem()}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(indexes(&answer), tiny);
    assert_eq!(answer["nextCursor"], Value::Null, "{answer}");
    assert_eq!(answer["partial"], json!(false), "{answer}");
    // A huge key AND a key with no members: empty, at once.
    let (status, answer) = retrieve(
        &server,
        &json!({"hash": hash, "keyFingerprint": "00".repeat(32)}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(indexes(&answer), Vec::<u64>::new());
    assert_eq!(answer["nextCursor"], Value::Null, "{answer}");

    // More members to examine than one request may: partial pages with
    // cursors, and following them yields exactly the matches, in order.
    let query = json!({"hash": hash, "publicKey": k1.public_pem(), "pageSize": 1000});
    let pages = all_pages(&server, &query);
    let first = &pages[0];
    assert_eq!(
        first["partial"],
        json!(true),
        "the first page stops at the scan limit: {first}"
    );
    assert_eq!(first["partialReason"], json!("scanLimit"), "{first}");
    assert!(first["nextCursor"].is_string(), "{first}");
    assert!(indexes(first).len() < 1000);
    let found: Vec<u64> = pages.iter().flat_map(indexes).collect();
    assert_eq!(found, both, "every match once, in log order");
    assert!(pages.len() >= 2);

    // proofs: true is capped per page; each hit proves; the cursor continues.
    let (status, proven) = retrieve(
        &server,
        &json!({"hash": hash, "proofs": true, "pageSize": 1000}),
    );
    assert_eq!(status, 200, "{proven}");
    let results = proven["results"].as_array().unwrap();
    assert_eq!(results.len(), MAX_PROOF_HITS, "proofs are capped per page");
    assert!(results
        .iter()
        .all(|h| h["inclusionProof"]["hashes"].is_array()));
    assert!(proven["nextCursor"].is_string(), "{}", proven["nextCursor"]);
    assert!(proven["checkpoint"].is_string());

    // Malformed or unbounded inputs: 400 with a JSON error, from anyone.
    let cursor = |text: &str| B64URL.encode(text);
    for bad in [
        json!({"kind": "dsse", "cursor": cursor("v1:+5")}),
        json!({"kind": "dsse", "cursor": cursor("v1:007")}),
        json!({"kind": "dsse", "cursor": "A".repeat(100)}),
        json!({"kind": "k".repeat(600)}),
        json!({"workflow": ""}),
        json!({"annotation": "=x"}),
        json!({"kind": "dsse", "pageSize": -1}),
        json!({"kind": "dsse", "pageSize": 1001}),
    ] {
        let (status, answer) = retrieve(&server, &bad);
        assert_eq!(status, 400, "{bad} -> {answer}");
        assert_eq!(answer["code"], json!("bad_request"), "{answer}");
        assert!(answer["message"].is_string(), "{answer}");
    }
}

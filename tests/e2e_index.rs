//! The index is a function of the log (invariant 3 of docs/design.md): searches
//! through the real server, and a Redis that is flushed, restarted without
//! persistence, or written by a reconciler killed with -9 heals to exactly
//! what a rebuild gives. Each test owns a private redis-server, so that it
//! can FLUSHALL and kill it without touching anyone else's data.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use evledger_ledger::{leaf_hash, CheckpointVerifier, InclusionProof};
use rand::Rng;
use serde_json::{json, Value};

/// A redis-server of this test's own, without persistence.
struct PrivateRedis {
    child: Child,
    port: u16,
}

impl PrivateRedis {
    fn start() -> Self {
        Self::start_on(free_port())
    }

    fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/setup installs it)");
        let redis = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.cli(&["ping"]) != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn cli(&self, args: &[&str]) -> String {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    }

    /// kill -9, then a fresh empty server on the same port.
    fn restart_empty(mut self) -> Self {
        let _ = self.child.kill();
        let _ = self.child.wait();
        Self::start_on(self.port)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `evledger serve` with its index in `redis` under `prefix`.
fn serve_with_redis(data: &std::path::Path, redis: &PrivateRedis, prefix: &str) -> Server {
    Server::start_with(
        data,
        &["--redis-url", &redis.url(), "--redis-prefix", prefix],
    )
}

fn retrieve(server: &Server, query: Value) -> (u16, Value) {
    let r = http()
        .post(format!("{}/api/v1/index/retrieve", server.url))
        .json(&query)
        .send()
        .expect("POST retrieve");
    let status = r.status().as_u16();
    (status, r.json().expect("JSON answer"))
}

/// Waits until `/readyz` reports the index covers the whole log.
fn wait_indexed(server: &Server) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, ready) = server.get_json("/readyz");
        let size = ready["treeSize"].as_u64().unwrap_or(0);
        if ready["indexedThrough"].as_u64() == Some(size) {
            return size;
        }
        assert!(Instant::now() < deadline, "index never caught up: {ready}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn reconcile(
    server: &Server,
    redis: &PrivateRedis,
    prefix: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "reconcile",
        "--url",
        &server.url,
        "--key",
        &server.verifier_key,
        "--redis-prefix",
        prefix,
    ];
    let url = redis.url();
    args.extend(["--redis-url", url.as_str()]);
    args.extend(extra);
    cli(&args)
}

#[test]
fn search_finds_entries_pages_and_reads_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let ed = TestKey::ed25519();
    let p256 = TestKey::p256();
    let mut last = 0;
    for i in 0..7 {
        let key = if i % 2 == 0 { &ed } else { &p256 };
        let (status, answer) = server.submit(&attestation(key, &format!("artifact-{i}")));
        assert_eq!(status, 201);
        last = answer["logIndex"].as_u64().unwrap();
    }
    // Read-your-writes: wait for the last index, then find it by subject.
    let (status, answer) = retrieve(
        &server,
        json!({"hash": format!("sha256:{}", sha256_hex("artifact-6")), "minLogIndex": last}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(indexes(&answer), vec![6]);
    assert_eq!(answer["indexedThrough"], json!(7));
    assert_eq!(answer["nextCursor"], Value::Null);

    // By signer, AND with a subject, OR of two subjects.
    let (_, by_key) = retrieve(&server, json!({"publicKey": p256.public_pem()}));
    assert_eq!(indexes(&by_key), vec![1, 3, 5]);
    let (_, and) = retrieve(
        &server,
        json!({"publicKey": ed.public_pem(), "hash": format!("sha256:{}", sha256_hex("artifact-3"))}),
    );
    assert!(indexes(&and).is_empty());
    let (_, or) = retrieve(
        &server,
        json!({"operator": "or", "publicKey": p256.public_pem(), "hash": format!("sha256:{}", sha256_hex("artifact-0"))}),
    );
    assert_eq!(indexes(&or), vec![0, 1, 3, 5]);

    // Pages of two, in log order, until the cursor runs out.
    let mut all = Vec::new();
    let mut query = json!({"predicateType": "https://slsa.dev/provenance/v1", "pageSize": 2});
    loop {
        let (status, page) = retrieve(&server, query.clone());
        assert_eq!(status, 200);
        let hits = indexes(&page);
        assert!(hits.len() <= 2);
        all.extend(hits);
        match page["nextCursor"].as_str() {
            Some(cursor) => query["cursor"] = json!(cursor),
            None => break,
        }
    }
    assert_eq!(all, (0..7).collect::<Vec<u64>>());

    // Hits with proofs verify against the checkpoint beside them.
    let (_, proven) = retrieve(
        &server,
        json!({"kind": "dsse", "proofs": true, "pageSize": 3}),
    );
    let verifier = CheckpointVerifier::new(&[server.verifier_key.as_str()]).unwrap();
    let checkpoint = verifier
        .verify(proven["checkpoint"].as_str().unwrap().as_bytes())
        .unwrap();
    for hit in proven["results"].as_array().unwrap() {
        let proof = &hit["inclusionProof"];
        let hashes = hex_hashes(proof);
        let leaf = hex32(hit["leafHash"].as_str().unwrap());
        InclusionProof {
            log_index: hit["logIndex"].as_u64().unwrap(),
            tree_size: checkpoint.size,
            root: checkpoint.root,
            hashes,
        }
        .verify(&leaf)
        .expect("hit proof verifies");
        let (_, entry) = server.get_json(&format!("/api/v1/log/entries/{}", hit["logIndex"]));
        assert_eq!(
            hex::encode(leaf_hash(&serde_json::to_vec(&entry["entry"]).unwrap())),
            hit["leafHash"].as_str().unwrap()
        );
    }

    // Bad queries are 400s; a wait that cannot be met is a bounded 503.
    for bad in [
        json!({}),
        json!({"hash": "sha256:not-hex"}),
        json!({"hash": "e3b0"}),
        json!({"kind": "dsse", "operator": "xor"}),
        json!({"kind": "dsse", "pageSize": 0}),
        json!({"kind": "dsse", "pageSize": 100000}),
        json!({"kind": "dsse", "cursor": "forged"}),
        json!({"kind": "dsse", "surprise": true}),
        json!({"publicKey": "not a key"}),
        json!({"keyFingerprint": "abc"}),
    ] {
        let (status, answer) = retrieve(&server, bad.clone());
        assert_eq!(status, 400, "{bad} -> {answer}");
        assert!(answer["message"].is_string());
    }
    let (status, answer) = retrieve(&server, json!({"kind": "x".repeat(300 * 1024)}));
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["code"], json!("body_too_large"));
    // An entry the log does not have: refused, not waited for.
    let (status, answer) = retrieve(&server, json!({"kind": "dsse", "minLogIndex": 1000}));
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["code"], json!("out_of_range"));
}

/// Appends `count` entries from 4 client threads, calling `disrupt` once
/// `at` entries are in.
fn stream_with_disruption(server: &Server, count: usize, at: usize, disrupt: impl FnOnce()) {
    let key = Arc::new(TestKey::ed25519());
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let url = server.url.clone();
    let run = |t: usize| {
        let (key, done, url) = (key.clone(), done.clone(), url.clone());
        std::thread::spawn(move || {
            let client = http();
            for n in 0..count / 4 {
                let body = attestation(&key, &format!("stream-{t}-{n}"));
                let r = client
                    .post(format!("{url}/api/v1/log/entries"))
                    .json(&body)
                    .send()
                    .expect("append");
                assert_eq!(r.status().as_u16(), 201);
                done.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let mut threads: Vec<_> = (0..4).map(run).collect();
    while done.load(Ordering::Relaxed) < at {
        fail_if_panicked(&mut threads);
        std::thread::sleep(Duration::from_millis(5));
    }
    disrupt();
    for t in threads {
        t.join().unwrap();
    }
}

fn assert_index_matches_log(server: &Server, redis: &PrivateRedis, prefix: &str) {
    let out = reconcile(server, redis, prefix, &["--verify"]);
    let stdout = assert_ok(&out);
    assert!(stdout.contains("index matches the log"), "{stdout}");
    let size = server.tree_size();
    assert!(stdout.contains(&format!("over {size} entries")), "{stdout}");
}

#[test]
fn flushall_mid_stream_heals_to_a_full_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let redis = PrivateRedis::start();
    let server = serve_with_redis(&dir.path().join("data"), &redis, "heal:");
    stream_with_disruption(&server, 400, 150, || {
        assert_eq!(redis.cli(&["flushall"]), "OK");
    });
    let size = wait_indexed(&server);
    assert_eq!(size, 400);
    assert_index_matches_log(&server, &redis, "heal:");
    // An entry from before the flush is found again.
    let (_, answer) = retrieve(
        &server,
        json!({"hash": format!("sha256:{}", sha256_hex("stream-0-0"))}),
    );
    assert_eq!(indexes(&answer).len(), 1);
}

#[test]
fn redis_restarted_without_persistence_heals() {
    let dir = tempfile::tempdir().unwrap();
    let redis = PrivateRedis::start();
    let server = serve_with_redis(&dir.path().join("data"), &redis, "restart:");
    let mut redis = Some(redis);
    let mut restarted = None;
    stream_with_disruption(&server, 400, 150, || {
        restarted = Some(redis.take().unwrap().restart_empty());
    });
    let redis = restarted.unwrap();
    wait_indexed(&server);
    assert_index_matches_log(&server, &redis, "restart:");
}

#[test]
fn a_reconciler_killed_mid_batch_never_leaves_the_cursor_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    stream_with_disruption(&server, 1200, 0, || {});
    let redis = PrivateRedis::start();
    let mut rng = rand::thread_rng();
    for round in 0..8 {
        let mut child = Command::new(binary())
            .args([
                "reconcile",
                "--url",
                &server.url,
                "--key",
                &server.verifier_key,
            ])
            .args([
                "--redis-url",
                &redis.url(),
                "--redis-prefix",
                "kill:",
                "--batch",
                "32",
                "--once",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn reconcile");
        std::thread::sleep(Duration::from_millis(rng.gen_range(30..300)));
        let _ = child.kill();
        let _ = child.wait();
        // Everything below the cursor is there, nothing else is.
        let out = reconcile(&server, &redis, "kill:", &["--verify"]);
        let stdout = assert_ok(&out);
        assert!(
            stdout.contains("index matches the log"),
            "round {round}: {stdout}"
        );
        eprintln!("round {round}: {}", stdout.lines().next().unwrap_or(""));
    }
    assert_ok(&reconcile(&server, &redis, "kill:", &["--once"]));
    assert_index_matches_log(&server, &redis, "kill:");
}

#[test]
fn an_index_of_another_log_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start(&dir.path().join("a"));
    let b = Server::start(&dir.path().join("b"));
    let key = TestKey::ed25519();
    for i in 0..5 {
        a.submit(&attestation(&key, &format!("a-{i}")));
        b.submit(&attestation(&key, &format!("b-{i}")));
    }
    b.submit(&attestation(&key, "b-5"));
    let redis = PrivateRedis::start();
    assert_ok(&reconcile(&a, &redis, "shared:", &["--once"]));
    let cursor_before = redis.cli(&["get", "shared:cursor"]);
    assert!(cursor_before.starts_with("4:"), "{cursor_before}");

    // Same verifier key name, different log: refused, naming both hashes.
    let err = assert_fails(&reconcile(&b, &redis, "shared:", &["--once"]));
    assert!(err.contains("belongs to another log"), "{err}");
    assert_eq!(redis.cli(&["get", "shared:cursor"]), cursor_before);
    assert_index_matches_log(&a, &redis, "shared:");

    // A serving ledger pointed at it refuses too and does not become ready.
    drop(b);
    let c = serve_with_redis(&dir.path().join("b"), &redis, "shared:");
    let deadline = Instant::now() + Duration::from_secs(10);
    let ready = loop {
        let (status, ready) = c.get_json("/readyz");
        if status == 503 || Instant::now() > deadline {
            break ready;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        ready["error"]
            .as_str()
            .is_some_and(|e| e.contains("another log")),
        "{ready}"
    );
    assert_eq!(redis.cli(&["get", "shared:cursor"]), cursor_before);
}

#[test]
fn verify_reports_and_repair_fixes_a_damaged_index() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let key = TestKey::ed25519();
    for i in 0..20 {
        server.submit(&attestation(&key, &format!("repair-{i}")));
    }
    let redis = PrivateRedis::start();
    assert_ok(&reconcile(&server, &redis, "r:", &["--once"]));
    assert_index_matches_log(&server, &redis, "r:");

    // Damage: drop a member, add one that the log does not give.
    let subject_key = format!("r:i:hash:sha256:{}", sha256_hex("repair-3"));
    assert_eq!(redis.cli(&["zrem", &subject_key, "3"]), "1");
    assert_eq!(redis.cli(&["zadd", "r:i:kind:dsse", "999", "999"]), "1");
    let out = reconcile(&server, &redis, "r:", &["--verify"]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("missing {}: [3]", &subject_key[4..])),
        "{stdout}"
    );
    assert!(stdout.contains("extra   kind:dsse: [999]"), "{stdout}");

    assert_ok(&reconcile(&server, &redis, "r:", &["--verify", "--repair"]));
    assert_index_matches_log(&server, &redis, "r:");
}

//! Operations against the real binary: a backup taken under write load
//! restores to a ledger whose checkpoint verifies and is consistent with the
//! live one, with its evidence store.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use sha2::{Digest, Sha256};

#[test]
fn backup_under_write_load_restores_a_ledger_consistent_with_the_live_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = Server::start(&dir.path().join("live"));

    // Evidence that must come back: a workflow, its contract, a CAS blob.
    let client = http();
    let r = client
        .post(format!("{}/api/v1/workflows", live.url))
        .json(&serde_json::json!({"name": "build", "project": "app"}))
        .send()
        .expect("POST workflow");
    assert_eq!(r.status().as_u16(), 201);
    let r = client
        .put(format!("{}/api/v1/workflows/build/contract", live.url))
        .body("schemaVersion: v1\nmaterials:\n  - type: ARTIFACT\n    name: binary\n")
        .send()
        .expect("PUT contract");
    assert_eq!(r.status().as_u16(), 201);
    let blob = b"release binary".to_vec();
    let digest = hex::encode(Sha256::digest(&blob));
    let r = client
        .put(format!("{}/cas/sha256/{digest}", live.url))
        .body(blob.clone())
        .send()
        .expect("PUT blob");
    assert_eq!(r.status().as_u16(), 201);

    // Writers append while the backup is taken.
    let key = Arc::new(TestKey::ed25519());
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let mut writers: Vec<_> = (0..4)
        .map(|t| {
            let (key, stop, acked, url) =
                (key.clone(), stop.clone(), acked.clone(), live.url.clone());
            std::thread::spawn(move || {
                let client = http();
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let r = client
                        .post(format!("{url}/api/v1/log/entries"))
                        .json(&attestation(&key, &format!("load-{t}-{n}")))
                        .send()
                        .expect("append");
                    assert_eq!(r.status().as_u16(), 201);
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.load(Ordering::Relaxed) < 200 {
        fail_if_panicked(&mut writers);
        assert!(Instant::now() < deadline, "writers stalled");
        std::thread::sleep(Duration::from_millis(10));
    }
    let backup = dir.path().join("backup");
    let take_backup = || {
        cli(&[
            "backup",
            "--to",
            &backup.display().to_string(),
            "--url",
            &live.url,
            "--token",
            ADMIN_TOKEN,
        ])
    };
    let said = assert_ok(&take_backup());
    assert!(said.contains("backup written"), "{said}");
    let during = acked.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    assert!(
        acked.load(Ordering::Relaxed) > during,
        "the load went on during the backup"
    );

    // A second backup to the same place is refused.
    assert!(assert_fails(&take_backup()).contains("409"));

    // Restore: serve the copy with the same signing key.
    let key_file = dir.path().join("live/signing.key").display().to_string();
    let restored = Server::start_with(&backup, &["--key-file", &key_file]);
    assert_eq!(restored.verifier_key, live.verifier_key);
    let (size, live_size) = (restored.tree_size(), live.tree_size());
    assert!(
        size >= 200 && size <= live_size,
        "restored {size}, live {live_size}"
    );
    let (_, cp) = restored.get("/checkpoint");
    let old = write_file(dir.path(), "restored.checkpoint", &cp);
    assert_ok(&cli(&[
        "verify",
        "consistency",
        "--key",
        &live.verifier_key,
        "--old",
        &old,
        "--url",
        &live.url,
    ]));
    let (status, bundle) = restored.get(&format!(
        "/api/v1/log/entries/{}?format=tlog-proof",
        size - 1
    ));
    assert_eq!(status, 200);
    let bundle = write_file(dir.path(), "last.tlog-proof", &bundle);
    assert_ok(&cli(&[
        "verify",
        "bundle",
        "--key",
        &live.verifier_key,
        &bundle,
    ]));
    for index in [0, size / 2, size - 1] {
        let path = format!("/api/v1/log/entries/{index}");
        assert_eq!(
            restored.get_json(&path).1["leafHash"],
            live.get_json(&path).1["leafHash"],
            "entry {index}"
        );
    }

    // The evidence store came back with it.
    let (status, contract) = restored.get_json("/api/v1/workflows/build/contract?revision=1");
    assert_eq!(status, 200, "{contract}");
    assert_eq!(contract["logIndex"], 0);
    let (status, copied) = restored.get(&format!("/cas/sha256/{digest}"));
    assert_eq!((status, copied), (200, blob));
}

#[test]
fn settings_come_from_flags_then_environment_then_the_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_file(
        dir.path(),
        "evledger.toml",
        b"origin = \"file.example/log\"\nbatch-max = 8\nredis-prefix = \"from-file:\"\n",
    );
    // The file alone sets the origin of a new log's key.
    let server = Server::start_with(&dir.path().join("a"), &["--config", &config]);
    assert!(
        server.verifier_key.starts_with("file.example/log+"),
        "{}",
        server.verifier_key
    );
    // The environment beats the file; a flag beats both.
    let server = Server::start_with_env(
        &dir.path().join("b"),
        &["--config", &config],
        &[("EVLEDGER_ORIGIN", "env.example/log")],
    );
    assert!(
        server.verifier_key.starts_with("env.example/log+"),
        "{}",
        server.verifier_key
    );
    let server = Server::start_with_env(
        &dir.path().join("c"),
        &["--config", &config, "--origin", "flag.example/log"],
        &[("EVLEDGER_ORIGIN", "env.example/log")],
    );
    assert!(
        server.verifier_key.starts_with("flag.example/log+"),
        "{}",
        server.verifier_key
    );

    // An unknown key is refused, by name.
    let bad = write_file(dir.path(), "bad.toml", b"bacth-max = 8\n");
    let out = std::process::Command::new(binary())
        .args(["serve", "--config", &bad, "--data-dir"])
        .arg(dir.path().join("d"))
        .output()
        .expect("run");
    let err = assert_fails(&out);
    assert!(err.contains("unknown key \"bacth-max\""), "{err}");
}

#[test]
fn serve_leaves_the_index_to_a_separate_reconciler_when_told() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = TestKey::ed25519();
    let search = |server: &Server| -> usize {
        let r = http()
            .post(format!("{}/api/v1/index/retrieve", server.url))
            .json(&serde_json::json!({"kind": "dsse"}))
            .send()
            .expect("search");
        let body: serde_json::Value = r.json().expect("JSON");
        body["results"].as_array().map_or(0, Vec::len)
    };
    let reading = Server::start_with(&dir.path().join("a"), &["--reconcile", "false"]);
    assert_eq!(reading.submit(&attestation(&key, "a")).0, 201);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(search(&reading), 0, "nothing writes the index");
    let writing = Server::start(&dir.path().join("b"));
    assert_eq!(writing.submit(&attestation(&key, "b")).0, 201);
    let deadline = Instant::now() + Duration::from_secs(10);
    while search(&writing) == 0 {
        assert!(
            Instant::now() < deadline,
            "the in-process reconciler never indexed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

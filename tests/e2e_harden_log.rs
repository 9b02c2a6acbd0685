//! Hardening of the log core (issue 12), against the real binary: a
//! restored backup never forks the log under its key, and a data directory
//! is served only with its own key and origin.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use evledger_ledger::{CheckpointVerifier, LogSigner, SignedCheckpoint};

/// Longest wait for `serve` to refuse to start.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(60);

/// Runs `serve` over `data_dir` with `extra` arguments, expects it to exit
/// non-zero without ever serving, and returns what it wrote to stderr.
fn serve_refused(data_dir: &Path, extra: &[&str]) -> String {
    let log = data_dir.with_extension("refused.log");
    let _ = std::fs::remove_file(&log);
    let mut child = Command::new(binary())
        .env("EVLEDGER_ADMIN_TOKEN", ADMIN_TOKEN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn evledger serve");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        if said.contains("evledger serving") || started.elapsed() > REFUSAL_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started, expected a refusal:\n{said}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let said = std::fs::read_to_string(&log).expect("read log");
    assert!(!status.success(), "serve exited 0:\n{said}");
    said
}

fn verify(verifier_key: &str, note: &[u8]) -> SignedCheckpoint {
    CheckpointVerifier::new(&[verifier_key])
        .expect("verifier")
        .verify(note)
        .expect("checkpoint verifies")
}

fn append(server: &Server, key: &TestKey, name: &str) -> u64 {
    let (status, body) = server.submit(&attestation(key, name));
    assert_eq!(status, 201, "{body}");
    body["logIndex"].as_u64().expect("logIndex")
}

#[test]
fn a_restored_backup_refuses_appends_until_resumed_from_a_consistent_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live_dir = dir.path().join("live");
    let live = Server::start(&live_dir);
    let key = TestKey::ed25519();
    for n in 0..5 {
        append(&live, &key, &format!("before-{n}"));
    }
    let backup = dir.path().join("backup");
    assert_ok(&cli(&[
        "backup",
        "--to",
        &backup.display().to_string(),
        "--url",
        &live.url,
        "--token",
        ADMIN_TOKEN,
    ]));
    let (_, at_backup) = live.get("/checkpoint");
    assert_eq!(verify(&live.verifier_key, &at_backup).size, 5);
    // The live log goes on and publishes sizes the copy does not have.
    for n in 0..3 {
        append(&live, &key, &format!("after-{n}"));
    }
    let (_, latest) = live.get("/checkpoint");
    let latest_cp = verify(&live.verifier_key, &latest);
    assert_eq!(latest_cp.size, 8);
    let verifier_key = live.verifier_key.clone();
    live.terminate();
    let key_file = live_dir.join("signing.key").display().to_string();
    let at_backup_file = write_file(dir.path(), "at-backup.checkpoint", &at_backup);
    let latest_file = write_file(dir.path(), "latest.checkpoint", &latest);

    // Restored as documented: it serves what it has, and refuses appends
    // (they would sign a second tree of size 6, 7, 8 under the same key).
    {
        let restored = Server::start_with(&backup, &["--key-file", &key_file]);
        assert_eq!(restored.tree_size(), 5);
        let (status, body) = restored.submit(&attestation(&key, "on-the-copy"));
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["code"], "log_restored", "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("--resume-from"),
            "{body}"
        );
        let (status, ready) = restored.get_json("/readyz");
        assert_eq!(status, 503, "{ready}");
        assert_eq!(ready["code"], "log_restored", "{ready}");
        assert_eq!(restored.tree_size(), 5);
        restored.terminate();
    }

    // The latest published checkpoint is beyond the copy: it cannot go on.
    let err = serve_refused(
        &backup,
        &["--key-file", &key_file, "--resume-from", &latest_file],
    );
    assert!(
        err.contains("cannot extend") && err.contains("start a new log"),
        "{err}"
    );
    // A checkpoint signed by the log key for another tree at size 5.
    let signer_key = std::fs::read_to_string(&key_file).expect("key file");
    let forged = LogSigner::from_signer_key(&signer_key)
        .expect("log key")
        .sign(5, [7u8; 32])
        .expect("sign");
    let forged_file = write_file(dir.path(), "forged.checkpoint", forged.note.as_bytes());
    let err = serve_refused(
        &backup,
        &["--key-file", &key_file, "--resume-from", &forged_file],
    );
    assert!(
        err.contains("does not match") && err.contains("start a new log"),
        "{err}"
    );
    // The right tree, signed by another key of the same name.
    let at_backup_cp = verify(&verifier_key, &at_backup);
    let (impostor, _) = LogSigner::generate(&at_backup_cp.origin).expect("key");
    let impostor = impostor.sign(5, at_backup_cp.root).expect("sign");
    let impostor_file = write_file(dir.path(), "impostor.checkpoint", impostor.note.as_bytes());
    let err = serve_refused(
        &backup,
        &["--key-file", &key_file, "--resume-from", &impostor_file],
    );
    assert!(err.contains("does not verify"), "{err}");

    // Given the checkpoint of the backup's time (its tree, its key), it
    // takes appends again, each checkpoint extending that one.
    let restored = Server::start_with(
        &backup,
        &["--key-file", &key_file, "--resume-from", &at_backup_file],
    );
    let (status, ready) = restored.get_json("/readyz");
    assert_ne!(ready["code"], "log_restored", "{ready}");
    assert!(status == 200 || ready["status"] == "indexing", "{ready}");
    assert_eq!(append(&restored, &key, "resumed-0"), 5);
    assert_ok(&cli(&[
        "verify",
        "consistency",
        "--key",
        &verifier_key,
        "--old",
        &at_backup_file,
        "--url",
        &restored.url,
    ]));
    restored.terminate();
    // Resumed for good: the copy is the log now, no flag needed.
    let restored = Server::start_with(&backup, &["--key-file", &key_file]);
    assert_eq!(append(&restored, &key, "resumed-1"), 6);
}

#[test]
fn serve_refuses_to_generate_a_new_key_for_a_log_with_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data);
    append(&server, &TestKey::ed25519(), "one");
    server.terminate();
    let key_file = data.join("signing.key");
    std::fs::remove_file(&key_file).expect("delete the key");

    let err = serve_refused(&data, &[]);
    assert!(
        err.contains("signing key") && err.contains("is missing") && err.contains("1 entries"),
        "{err}"
    );
    assert!(!key_file.exists(), "a new key was generated");
}

#[test]
fn serve_refuses_a_key_of_another_origin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data);
    append(&server, &TestKey::ed25519(), "one");
    server.terminate();
    let (_, other) = LogSigner::generate("other.example/log").expect("key");
    let other = write_file(dir.path(), "other.key", other.as_bytes());

    let err = serve_refused(&data, &["--key-file", &other]);
    assert!(
        err.contains("\"evledger.local/log\"") && err.contains("\"other.example/log\""),
        "{err}"
    );
    // Its own key still serves it.
    let server = Server::start(&data);
    assert_eq!(server.tree_size(), 1);
}

//! Monitors and witnesses against real processes: a monitor and a witness
//! shown a forked, rolled-back or inconsistent log refuse it with evidence;
//! the ledger collects cosignatures and keeps appending with a witness down.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::*;
use ed25519_dalek::Verifier as _;
use sha2::{Digest, Sha256};

/// Submits `count` attestations signed by `key` about `<prefix>-<i>`.
fn append(server: &Server, key: &TestKey, prefix: &str, count: usize) {
    for i in 0..count {
        let (status, body) = server.submit(&attestation(key, &format!("{prefix}-{i}")));
        assert_eq!(status, 201, "{body}");
    }
}

fn checkpoint(server: &Server) -> String {
    let (status, body) = server.get("/checkpoint");
    assert_eq!(status, 200);
    String::from_utf8(body).expect("UTF-8 checkpoint")
}

/// The checkpoint body: the note text before the blank line, with its newline.
fn note_body(note: &str) -> &str {
    &note[..note.find("\n\n").expect("signed note") + 1]
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts the monitor exited with the misbehaviour status and printed
/// `kind` with both checkpoints as evidence.
fn assert_misbehaviour(out: &Output, kind: &str, old: &str, new: &str) {
    assert_eq!(
        out.status.code(),
        Some(3),
        "monitor should flag {kind}: {}\n{}",
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(out);
    assert!(
        text.contains(&format!("MISBEHAVIOUR ({kind})")),
        "{kind} not named: {text}"
    );
    assert!(text.contains(old), "old checkpoint missing: {text}");
    assert!(text.contains(new), "new checkpoint missing: {text}");
}

/// Checks a cosignature line independently of the server's code: key ID
/// from the verifier key, the `cosignature/v1` message, Ed25519.
fn assert_cosigned(line: &str, witness_vkey: &str, body: &str) {
    let mut parts = witness_vkey.splitn(3, '+');
    let (name, id, key) = (
        parts.next().expect("name"),
        parts.next().expect("id"),
        B64.decode(parts.next().expect("key")).expect("base64 key"),
    );
    assert_eq!(key[0], 0x04, "cosignature/v1 key type");
    let mut h = Sha256::new();
    h.update(format!("{name}\n").as_bytes());
    h.update(&key);
    assert_eq!(hex::encode(&h.finalize()[..4]), id, "key ID");
    let rest = line
        .strip_prefix(&format!("— {name} "))
        .unwrap_or_else(|| panic!("not a line by {name}: {line}"));
    let sig = B64.decode(rest.trim_end()).expect("base64 signature");
    assert_eq!(sig.len(), 4 + 8 + 64);
    assert_eq!(hex::encode(&sig[..4]), id);
    let timestamp = u64::from_be_bytes(sig[4..12].try_into().expect("8 bytes"));
    let message = format!("cosignature/v1\ntime {timestamp}\n{body}");
    let public = ed25519_dalek::VerifyingKey::from_bytes(&key[1..].try_into().expect("32 bytes"))
        .expect("key");
    let signature = ed25519_dalek::Signature::from_slice(&sig[12..]).expect("signature");
    public
        .verify(message.as_bytes(), &signature)
        .expect("cosignature verifies");
}

fn consistency(server: &Server, first: u64, last: u64) -> Vec<[u8; 32]> {
    let (status, proof) = server.get_json(&format!(
        "/api/v1/log/proof/consistency?firstSize={first}&lastSize={last}"
    ));
    assert_eq!(status, 200, "{proof}");
    hex_hashes(&proof)
}

#[test]
fn monitor_follows_the_log_and_reports_watched_entries_from_tiles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let (alice, bob) = (TestKey::ed25519(), TestKey::p256());
    append(&server, &alice, "alice", 3);
    append(&server, &bob, "bob", 2);
    let state = dir.path().join("monitor.json").display().to_string();
    let key = server.verifier_key.clone();

    let first = assert_ok(&monitor(&server.url, &key, &state, &[]));
    assert!(first.contains("verified: tree size 5"), "{first}");

    // New entries: one by alice, one by bob about a watched subject, one by bob.
    append(&server, &alice, "alice-late", 1);
    let watched = "watched-artifact";
    let (status, _) = server.submit(&attestation(&bob, watched));
    assert_eq!(status, 201);
    append(&server, &bob, "bob-late", 1);
    let alice_pem = write_file(dir.path(), "alice.pub", alice.public_pem().as_bytes());
    let subject = format!("sha256:{}", hex::encode(Sha256::digest(watched.as_bytes())));
    let watch = [
        "--tiles-only",
        "--watch-key",
        &alice_pem,
        "--watch-subject",
        &subject,
    ];
    let second = assert_ok(&monitor(&server.url, &key, &state, &watch));
    assert!(second.contains("verified: tree size 8"), "{second}");
    let matches: Vec<&str> = second.lines().filter(|l| l.starts_with("match:")).collect();
    assert_eq!(matches.len(), 2, "only the new entries are read: {second}");
    assert!(matches[0].contains("entry 5 "), "{second}");
    assert!(matches[1].contains("entry 6 "), "{second}");

    // From an empty state, every entry by alice is found.
    let fresh = dir.path().join("fresh.json").display().to_string();
    let all = assert_ok(&monitor(
        &server.url,
        &key,
        &fresh,
        &["--tiles-only", "--watch-key", &alice_pem, "-o", "json"],
    ));
    let events: Vec<serde_json::Value> = all
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON event"))
        .collect();
    let indexes: Vec<u64> = events
        .iter()
        .filter(|e| e["event"] == "match")
        .map(|e| e["logIndex"].as_u64().expect("index"))
        .collect();
    assert_eq!(indexes, vec![0, 1, 2, 5]);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&fresh).expect("state")).expect("state JSON");
    assert_eq!(saved["treeSize"], 8);
    assert_eq!(
        saved["checkpoint"].as_str(),
        Some(checkpoint(&server).as_str())
    );

    // A checkpoint the trusted key did not sign is misbehaviour, not a pass.
    let other = Server::start(&dir.path().join("other"));
    let untouched = dir.path().join("untouched.json").display().to_string();
    let out = monitor(&server.url, &other.verifier_key, &untouched, &[]);
    assert_misbehaviour(&out, "bad-signature", "", &checkpoint(&server));
    assert!(!std::path::Path::new(&untouched).exists(), "nothing saved");
}

#[test]
fn monitor_and_witness_refuse_a_forked_log_with_evidence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = TestKey::ed25519();
    let honest = Server::start(&dir.path().join("honest"));
    let key_file = dir.path().join("honest/signing.key").display().to_string();
    // The same signing key over other entries: a split view.
    let forked = Server::start_with(&dir.path().join("forked"), &["--key-file", &key_file]);
    assert_eq!(honest.verifier_key, forked.verifier_key);
    let vkey = honest.verifier_key.clone();
    append(&honest, &key, "honest", 3);
    append(&forked, &key, "forked", 3);
    let state = dir.path().join("monitor.json").display().to_string();

    // Monitor: fork at the same size.
    assert_ok(&monitor(&honest.url, &vkey, &state, &[]));
    let saved = std::fs::read(&state).expect("state");
    let out = monitor(&forked.url, &vkey, &state, &[]);
    assert_misbehaviour(&out, "fork", &checkpoint(&honest), &checkpoint(&forked));
    assert_eq!(std::fs::read(&state).expect("state"), saved, "state kept");

    // Monitor: a larger tree that does not extend the verified one, found
    // both through the API's proof and from tiles alone.
    append(&forked, &key, "forked-more", 2);
    for extra in [&[][..], &["--tiles-only"][..]] {
        let out = monitor(&forked.url, &vkey, &state, extra);
        assert_misbehaviour(
            &out,
            "inconsistent",
            &checkpoint(&honest),
            &checkpoint(&forked),
        );
    }

    // Monitor: a rollback.
    append(&honest, &key, "honest-more", 3);
    assert_ok(&monitor(&honest.url, &vkey, &state, &["--tiles-only"]));
    let out = monitor(&forked.url, &vkey, &state, &[]);
    assert_misbehaviour(&out, "rollback", &checkpoint(&honest), &checkpoint(&forked));

    // Witness: cosigns the honest log (size 6) from scratch.
    let witness_dir = dir.path().join("witness");
    let witness = Witness::start(&witness_dir, &[&vkey], "127.0.0.1:0");
    let honest_note = checkpoint(&honest);
    let (status, _, body) = witness.add_checkpoint(&add_checkpoint_body(0, &[], &honest_note));
    assert_eq!(status, 200, "{body}");
    assert_cosigned(
        body.trim_end(),
        &witness.verifier_key,
        note_body(&honest_note),
    );

    // An old size that is not the witness's: 409 with its size.
    let forked_note = checkpoint(&forked);
    let (status, content_type, body) =
        witness.add_checkpoint(&add_checkpoint_body(0, &[], &forked_note));
    assert_eq!(
        (status, content_type.as_str(), body.as_str()),
        (409, "text/x.tlog.size", "6\n")
    );
    // Old size beyond the checkpoint's (the forked log is at 5): 400.
    let (status, _, _) = witness.add_checkpoint(&add_checkpoint_body(6, &[], &forked_note));
    assert_eq!(status, 400);
    // Same size, another root: 409, never a second cosignature for size 6.
    append(&forked, &key, "forked-six", 1);
    let forked_note = checkpoint(&forked);
    let (status, content_type, body) =
        witness.add_checkpoint(&add_checkpoint_body(6, &[], &forked_note));
    assert_eq!(
        (status, content_type.as_str(), body.as_str()),
        (409, "text/x.tlog.size", "6\n")
    );
    // A larger forked tree with its own consistency proof: 422.
    append(&forked, &key, "forked-eight", 2);
    let forked_note = checkpoint(&forked);
    let proof = consistency(&forked, 6, 8);
    let (status, _, body) = witness.add_checkpoint(&add_checkpoint_body(6, &proof, &forked_note));
    assert_eq!(status, 422, "{body}");
    // The honest log's next checkpoint with its proof: cosigned.
    append(&honest, &key, "honest-eight", 2);
    let honest_note = checkpoint(&honest);
    let proof = consistency(&honest, 6, 8);
    let (status, _, body) = witness.add_checkpoint(&add_checkpoint_body(6, &proof, &honest_note));
    assert_eq!(status, 200, "{body}");
    assert_cosigned(
        body.trim_end(),
        &witness.verifier_key,
        note_body(&honest_note),
    );

    // Another key under the same origin: 403. An unknown origin: 404.
    let impostor = Server::start(&dir.path().join("impostor"));
    append(&impostor, &key, "impostor", 1);
    let (status, _, _) =
        witness.add_checkpoint(&add_checkpoint_body(0, &[], &checkpoint(&impostor)));
    assert_eq!(status, 403);
    let stranger = Server::start_with(
        &dir.path().join("stranger"),
        &["--origin", "stranger.example/log"],
    );
    append(&stranger, &key, "stranger", 1);
    let (status, _, _) =
        witness.add_checkpoint(&add_checkpoint_body(0, &[], &checkpoint(&stranger)));
    assert_eq!(status, 404);
    let (status, _, _) = witness.add_checkpoint(b"old x\n\nnot a checkpoint\n");
    assert_eq!(status, 400);

    // The refusals were logged with the offending checkpoint as evidence.
    let witness_log = std::fs::read_to_string(witness_dir.with_extension("log")).expect("log");
    assert!(witness_log.contains("kept as evidence"), "{witness_log}");

    // State survives kill -9: still size 8, still refusing the fork.
    witness.kill();
    let witness = Witness::start(&witness_dir, &[&vkey], "127.0.0.1:0");
    let (status, _, body) = witness.add_checkpoint(&add_checkpoint_body(0, &[], &forked_note));
    assert_eq!((status, body.as_str()), (409, "8\n"));
    let (status, _, body) = witness.add_checkpoint(&add_checkpoint_body(8, &[], &forked_note));
    assert_eq!((status, body.as_str()), (409, "8\n"));
}

/// Polls `/checkpoint` until `accept` holds or 30 s pass.
fn wait_for_checkpoint(server: &Server, accept: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let note = checkpoint(server);
        if accept(&note) {
            return note;
        }
        assert!(
            Instant::now() < deadline,
            "checkpoint never got there: {note}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn metric(server: &Server, name: &str) -> f64 {
    let (_, body) = server.get("/metrics");
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

#[test]
fn ledger_serves_cosigned_checkpoints_and_keeps_appending_with_a_witness_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("log");
    // First start generates the log key that the witnesses trust.
    let vkey = Server::start(&data).verifier_key.clone();
    let up = Witness::start(&dir.path().join("w1"), &[&vkey], "127.0.0.1:0");
    let down = Witness::start(&dir.path().join("w2"), &[&vkey], "127.0.0.1:0");
    let (down_url, down_key) = (down.url.clone(), down.verifier_key.clone());
    down.kill();
    let server = Server::start_with(
        &data,
        &[
            "--witness",
            &format!("{}={}", up.verifier_key, up.url),
            "--witness",
            &format!("{down_key}={down_url}"),
            "--witness-quorum",
            "2",
            "--witness-interval-ms",
            "50",
            "--witness-timeout-ms",
            "2000",
        ],
    );
    let key = TestKey::ed25519();
    append(&server, &key, "witnessed", 5);

    let w1_name = up.verifier_key.split('+').next().expect("name").to_string();
    let note = wait_for_checkpoint(&server, |note| {
        note.starts_with("evledger.local/log\n5\n") && note.contains(&format!("— {w1_name} "))
    });
    let line = note
        .lines()
        .find(|l| l.starts_with(&format!("— {w1_name} ")))
        .expect("cosignature line");
    assert_cosigned(line, &up.verifier_key, note_body(&note));

    // Appends went on; the quorum of 2 was missed and counted.
    append(&server, &key, "more", 3);
    assert_eq!(server.tree_size(), 8);
    assert!(metric(&server, "evledger_witness_quorum_missed_total") >= 1.0);
    assert!(metric(&server, "evledger_checkpoint_cosignatures") >= 1.0);

    // Proofs served against the witnessed checkpoint verify with the
    // witness policy they meet, and fail the one they do not.
    wait_for_checkpoint(&server, |note| note.starts_with("evledger.local/log\n8\n"));
    let (status, bundle) = server.get("/api/v1/log/entries/7?format=tlog-proof");
    assert_eq!(status, 200);
    let bundle = write_file(dir.path(), "entry.tlog-proof", &bundle);
    let w1 = write_file(dir.path(), "w1.vkey", up.verifier_key.as_bytes());
    assert_ok(&cli(&[
        "verify",
        "bundle",
        &bundle,
        "--key",
        &vkey,
        "--witness",
        &w1,
        "--quorum",
        "1",
    ]));
    let err = assert_fails(&cli(&[
        "verify",
        "bundle",
        &bundle,
        "--key",
        &vkey,
        "--witness",
        &w1,
        "--witness",
        &down_key,
        "--quorum",
        "2",
    ]));
    assert!(err.contains("quorum"), "{err}");

    // A monitor that needs the witness accepts the served checkpoint.
    let state = dir.path().join("monitor.json").display().to_string();
    let out = assert_ok(&monitor(
        &server.url,
        &vkey,
        &state,
        &["--witness", &w1, "--quorum", "1", "-o", "json"],
    ));
    let event: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(event["cosigners"], serde_json::json!([w1_name]));
    // Below the monitor's quorum: cannot check (1), not misbehaviour (3).
    let fresh = dir.path().join("strict.json").display().to_string();
    let out = monitor(
        &server.url,
        &vkey,
        &fresh,
        &["--witness", &w1, "--witness", &down_key, "--quorum", "2"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not witnessed enough"));
}

//! End to end through the public interface: the real binary serving HTTP,
//! the real CLI verifying what it served.

mod common;

use common::*;
use serde_json::{json, Value};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn submitted_entries_verify_offline_and_online() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"));
    let key = &server.verifier_key;
    assert!(key.starts_with("evledger.local/log+"), "{key}");

    let (status, info) = server.get_json("/api/v1/log");
    assert_eq!(status, 200);
    assert_eq!(info["verifierKey"], json!(key));
    assert_eq!(info["treeSize"], json!(0));
    assert_eq!(
        info["rootHash"],
        json!("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );

    // Ed25519 and ECDSA P-256 signers both accepted.
    let ed = TestKey::ed25519();
    let submission = attestation(&ed, "app-1.tar.gz");
    let (status, first) = server.submit(&submission);
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        first["entry"], submission,
        "the logged entry is what was sent"
    );
    assert_eq!(first["logIndex"], json!(0));
    let leaf = serde_json::to_vec(&first["entry"]).unwrap();
    assert_eq!(first["leafHash"], json!(proof::leaf_hash_hex(&leaf)));
    assert_eq!(first["inclusionProof"]["treeSize"], json!(1));
    let (status, second) = server.submit(&attestation(&TestKey::p256(), "app-2.tar.gz"));
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["logIndex"], json!(1));

    // The saved POST answer verifies offline with the CLI.
    let first_file = write_file(dir.path(), "first.json", first.to_string().as_bytes());
    let out = assert_ok(&cli(&[
        "verify",
        "inclusion",
        "--key",
        key,
        "--entry",
        &first_file,
    ]));
    assert!(out.contains("entry 0"), "{out}");
    // And online, against the latest checkpoint.
    for index in ["0", "1"] {
        assert_ok(&cli(&[
            "verify",
            "inclusion",
            "--key",
            key,
            "--url",
            &server.url,
            "--log-index",
            index,
        ]));
    }
    let hash = second["leafHash"].as_str().unwrap();
    assert_ok(&cli(&[
        "verify",
        "inclusion",
        "--key",
        key,
        "--url",
        &server.url,
        "--leaf-hash",
        hash,
    ]));

    // A tampered entry or a foreign key fails.
    let mut tampered = first.clone();
    tampered["entry"]["kind"] = json!("dssf");
    let tampered_file = write_file(dir.path(), "tampered.json", tampered.to_string().as_bytes());
    assert_fails(&cli(&[
        "verify",
        "inclusion",
        "--key",
        key,
        "--entry",
        &tampered_file,
    ]));
    let other_dir = tempdir();
    let other = Server::start(&other_dir.path().join("data"));
    let err = assert_fails(&cli(&[
        "verify",
        "inclusion",
        "--key",
        &other.verifier_key,
        "--entry",
        &first_file,
    ]));
    assert!(err.contains("checkpoint"), "{err}");

    // GET by index and by leaf hash give the same entry.
    let (status, by_index) = server.get_json("/api/v1/log/entries/1");
    assert_eq!(status, 200);
    let (status, by_hash) = server.get_json(&format!("/api/v1/log/entries?leafHash={hash}"));
    assert_eq!(status, 200);
    assert_eq!(by_index["entry"], second["entry"]);
    assert_eq!(by_hash["logIndex"], json!(1));

    // tlog-proof bundle, verified offline; a flipped proof hash fails.
    let (status, bundle) = server.get("/api/v1/log/entries/0?format=tlog-proof");
    assert_eq!(status, 200);
    let text = String::from_utf8(bundle).unwrap();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra "), "{text}");
    let bundle_file = write_file(dir.path(), "entry.tlog-proof", text.as_bytes());
    let out = assert_ok(&cli(&["verify", "bundle", "--key", key, &bundle_file]));
    assert!(out.contains("entry 0"), "{out}");
    let proof_line = text.lines().nth(3).unwrap().to_string();
    let flipped = text.replacen(
        &proof_line,
        &proof_line.chars().rev().collect::<String>(),
        1,
    );
    let flipped_file = write_file(dir.path(), "flipped.tlog-proof", flipped.as_bytes());
    assert_fails(&cli(&["verify", "bundle", "--key", key, &flipped_file]));
    let wrong_entry = write_file(dir.path(), "wrong-entry.json", b"{}");
    assert_fails(&cli(&[
        "verify",
        "bundle",
        "--key",
        key,
        &bundle_file,
        "--entry",
        &wrong_entry,
    ]));
}

#[test]
fn duplicates_get_409_with_the_existing_entry() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"));
    let key = TestKey::ed25519();
    let submission = attestation(&key, "dup.tar.gz");
    let (status, created) = server.submit(&submission);
    assert_eq!(status, 201);
    let (status, again) = server.submit(&submission);
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["code"], json!("duplicate_entry"));
    assert_eq!(again["logIndex"], created["logIndex"]);
    assert_eq!(again["entry"], created["entry"]);
    assert!(again["inclusionProof"]["hashes"].is_array());
    assert_eq!(server.tree_size(), 1);
}

#[test]
fn tiles_and_checkpoint_are_served_at_c2sp_paths() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"));
    let key = TestKey::ed25519();
    let mut leaves = Vec::new();
    for i in 0..3 {
        let (status, answer) = server.submit(&attestation(&key, &format!("tile-{i}")));
        assert_eq!(status, 201);
        leaves.push(serde_json::to_vec(&answer["entry"]).unwrap());
    }
    let (status, checkpoint) = server.get("/checkpoint");
    assert_eq!(status, 200);
    let checkpoint = String::from_utf8(checkpoint).unwrap();
    let lines: Vec<&str> = checkpoint.lines().collect();
    assert_eq!(lines[0], "evledger.local/log");
    assert_eq!(lines[1], "3");
    assert_eq!(lines[3], "");
    assert!(lines[4].starts_with("— evledger.local/log "));

    let (status, tile) = server.get("/tile/0/000.p/3");
    assert_eq!(status, 200);
    let expected: Vec<u8> = leaves.iter().flat_map(|l| proof::leaf_hash(l)).collect();
    assert_eq!(tile, expected);
    let (status, narrower) = server.get("/tile/0/000.p/2");
    assert_eq!(status, 200);
    assert_eq!(narrower, expected[..64]);

    let (status, bundle) = server.get("/tile/entries/000.p/3");
    assert_eq!(status, 200);
    let mut rest = &bundle[..];
    for leaf in &leaves {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        assert_eq!(&rest[2..2 + len], &leaf[..]);
        rest = &rest[2 + len..];
    }
    assert!(rest.is_empty());

    for missing in [
        "/tile/0/000",
        "/tile/0/000.p/4",
        "/tile/0/001.p/1",
        "/tile/1/000.p/1",
        "/tile/entries/000",
        "/tile/0/x000/000",
        "/tile/0/abc",
        "/tile/99/000",
    ] {
        let (status, body) = server.get_json(missing);
        assert_eq!(status, 404, "{missing}");
        assert_eq!(body["code"], json!("not_found"), "{missing}");
    }
}

/// `evledger verify consistency` offline, from three files.
fn verify_offline(vkey: &str, old: &str, new: &str, proof: &str) -> std::process::Output {
    cli(&[
        "verify",
        "consistency",
        "--key",
        vkey,
        "--old",
        old,
        "--new",
        new,
        "--proof",
        proof,
    ])
}

#[test]
fn consistency_is_verified_between_checkpoints() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"));
    let key = TestKey::ed25519();
    let vkey = &server.verifier_key;
    server.submit(&attestation(&key, "c-0"));
    server.submit(&attestation(&key, "c-1"));
    let (_, old) = server.get("/checkpoint");
    let old_file = write_file(dir.path(), "old.checkpoint", &old);
    for i in 2..7 {
        server.submit(&attestation(&key, &format!("c-{i}")));
    }
    let saved = dir.path().join("saved.checkpoint");
    let out = assert_ok(&cli(&[
        "verify",
        "consistency",
        "--key",
        vkey,
        "--old",
        &old_file,
        "--url",
        &server.url,
        "--save",
        saved.to_str().unwrap(),
    ]));
    assert!(out.contains("size 7 extends size 2"), "{out}");

    // Offline, from files.
    let (_, new) = server.get("/checkpoint");
    assert_eq!(std::fs::read(&saved).unwrap(), new);
    let new_file = write_file(dir.path(), "new.checkpoint", &new);
    let (status, proof) = server.get_json("/api/v1/log/proof/consistency?firstSize=2&lastSize=7");
    assert_eq!(status, 200);
    let proof_file = write_file(dir.path(), "proof.json", proof.to_string().as_bytes());
    assert_ok(&verify_offline(vkey, &old_file, &new_file, &proof_file));
    // Swapped checkpoints (a rollback) and a forged proof fail.
    assert_fails(&verify_offline(vkey, &new_file, &old_file, &proof_file));
    let mut forged = proof.clone();
    forged["hashes"][0] = json!("00".repeat(32));
    let forged_file = write_file(dir.path(), "forged.json", forged.to_string().as_bytes());
    let err = assert_fails(&verify_offline(vkey, &old_file, &new_file, &forged_file));
    assert!(err.contains("INCONSISTENT"), "{err}");

    // Inclusion proof endpoint at an older size carries that size's checkpoint.
    let (status, inclusion) = server.get_json("/api/v1/log/proof/inclusion?logIndex=1&treeSize=2");
    assert_eq!(status, 200);
    assert_eq!(inclusion["treeSize"], json!(2));
    assert_eq!(
        inclusion["checkpoint"],
        json!(String::from_utf8(old).unwrap())
    );
}

/// Every malformed request gets a 4xx JSON error, and nothing is appended.
#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"));
    let key = TestKey::ed25519();
    let (status, _) = server.submit(&attestation(&key, "good"));
    assert_eq!(status, 201);
    let before = server.get("/checkpoint").1;

    let good = attestation(&key, "never-logged");
    let other_key = TestKey::ed25519();
    let mut cases: Vec<(&str, Vec<u8>, u16, &str)> = Vec::new();
    let mut push = |what: &'static str, body: Value, status: u16, code: &'static str| {
        cases.push((what, serde_json::to_vec(&body).unwrap(), status, code));
    };
    let mut bad_b64 = good.clone();
    bad_b64["spec"]["envelope"]["payload"] = json!("!!not base64!!");
    push("bad base64 payload", bad_b64, 400, "bad_base64");
    let mut bad_sig_b64 = good.clone();
    bad_sig_b64["spec"]["envelope"]["signatures"][0]["sig"] = json!("%%%");
    push("bad base64 signature", bad_sig_b64, 400, "bad_base64");
    let mut wrong_sig = good.clone();
    wrong_sig["spec"]["envelope"]["signatures"][0] =
        attestation(&key, "something-else")["spec"]["envelope"]["signatures"][0].clone();
    push("wrong signature", wrong_sig, 400, "signature_invalid");
    let mut mismatch = good.clone();
    mismatch["spec"]["verifiers"] = json!([other_key.public_pem()]);
    push(
        "verifier does not match signer",
        mismatch,
        400,
        "signature_invalid",
    );
    let mut extra_verifier = good.clone();
    extra_verifier["spec"]["verifiers"] = json!([key.public_pem(), other_key.public_pem()]);
    push(
        "verifier that signed nothing",
        extra_verifier,
        400,
        "verifier_mismatch",
    );
    let mut bad_pem = good.clone();
    bad_pem["spec"]["verifiers"] =
        json!(["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]);
    push("garbage verifier", bad_pem, 400, "bad_verifier");
    let mut unknown = good.clone();
    unknown["kind"] = json!("rekord");
    push("unknown kind", unknown, 400, "unknown_kind");
    let mut extra_field = good.clone();
    extra_field["spec"]["surprise"] = json!(1);
    push("unknown field", extra_field, 400, "malformed_entry");
    push(
        "not a statement",
        dsse_submission(&key, "application/vnd.in-toto+json", b"{\"hello\":1}"),
        400,
        "bad_statement",
    );
    push(
        "statement v0.1",
        dsse_submission(
            &key,
            "application/vnd.in-toto+json",
            br#"{"_type":"https://in-toto.io/Statement/v0.1","subject":[{"name":"a","digest":{"sha256":"00"}}],"predicateType":"x"}"#,
        ),
        400,
        "bad_statement",
    );
    let mut no_sigs = good.clone();
    no_sigs["spec"]["envelope"]["signatures"] = json!([]);
    push("no signatures", no_sigs, 400, "invalid_entry");
    // An entry whose leaf would exceed the 65,535-byte bundle limit.
    let big = dsse_submission(&key, "text/plain", &vec![b'a'; 60_000]);
    push("entry over 64 KiB", big, 413, "entry_too_large");
    cases.push((
        "malformed JSON",
        b"{\"kind\": \"dsse\", ".to_vec(),
        400,
        "malformed_entry",
    ));
    cases.push((
        "not JSON at all",
        b"\x00\x01\x02".to_vec(),
        400,
        "malformed_entry",
    ));
    cases.push((
        "body over the limit",
        vec![b' '; 300 * 1024],
        413,
        "body_too_large",
    ));

    for (what, body, status, code) in cases {
        let (got, answer) = server.submit_raw(body);
        assert_eq!(got, status, "{what}: {answer}");
        assert_eq!(answer["code"], json!(code), "{what}: {answer}");
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }

    for (path, status) in [
        ("/api/v1/log/entries/abc", 400),
        ("/api/v1/log/entries/-1", 400),
        ("/api/v1/log/entries/18446744073709551616", 400),
        ("/api/v1/log/entries/5", 404),
        ("/api/v1/log/entries?leafHash=zz", 400),
        ("/api/v1/log/entries?leafHash=", 400),
        (
            &format!("/api/v1/log/entries?leafHash={}", "ab".repeat(32)),
            404,
        ),
        ("/api/v1/log/entries/0?format=yaml", 400),
        ("/api/v1/log/proof/inclusion?logIndex=1&treeSize=1", 400),
        ("/api/v1/log/proof/inclusion?logIndex=0&treeSize=2", 400),
        ("/api/v1/log/proof/inclusion?logIndex=x", 400),
        ("/api/v1/log/proof/inclusion", 400),
        ("/api/v1/log/proof/consistency?firstSize=2&lastSize=1", 400),
        ("/api/v1/log/proof/consistency?firstSize=1&lastSize=9", 400),
        ("/api/v1/log/proof/consistency?firstSize=", 400),
        ("/api/v1/nothing-here", 404),
    ] {
        let (got, answer) = server.get_json(path);
        assert_eq!(got, status, "{path}: {answer}");
        assert!(answer["code"].is_string(), "{path}: {answer}");
    }

    assert_eq!(
        server.get("/checkpoint").1,
        before,
        "bad input changed the log"
    );
    assert_eq!(server.tree_size(), 1);
    assert_eq!(server.get("/healthz").0, 200);
}

#[test]
fn metrics_count_requests_and_appends() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"));
    server.submit(&attestation(&TestKey::ed25519(), "metrics"));
    let (status, body) = server.get("/metrics");
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    for metric in [
        "evledger_http_requests_total",
        "evledger_entries_appended_total 1",
        "evledger_tree_size 1",
        "evledger_batch_size_bucket",
        "evledger_commit_seconds_bucket",
    ] {
        assert!(text.contains(metric), "missing {metric} in\n{text}");
    }
    assert_eq!(server.get_json("/readyz").0, 200);
}

#[test]
fn cli_crafted_entries_are_accepted() {
    let dir = tempdir();
    let server = Server::start(&dir.path().join("data"));
    let key_path = dir.path().join("signer.pem");
    let key_str = key_path.to_str().unwrap();
    assert_ok(&cli(&["keygen", "--algorithm", "p256", "--out", key_str]));
    let payload = write_file(dir.path(), "statement.json", &statement("cli.tar.gz"));
    let out = assert_ok(&cli(&[
        "entry",
        "dsse",
        "--key",
        key_str,
        "--payload",
        &payload,
    ]));
    let (status, answer) = server.submit_raw(out.into_bytes());
    assert_eq!(status, 201, "{answer}");
    // keygen refuses to overwrite a key.
    assert_fails(&cli(&["keygen", "--out", key_str]));
}

#[test]
fn a_second_writer_on_the_same_data_dir_is_refused() {
    let dir = tempdir();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let out = std::process::Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .expect("run second server");
    let err = assert_fails(&out);
    assert!(err.contains("another evledger"), "{err}");
    assert_eq!(server.get("/healthz").0, 200);
}

//! Hardening tests (issue 12) against the real binaries: one signed
//! statement makes one leaf, evledger's envelopes verify with the in-toto
//! reference library, a witness counted twice is counted once, the witness
//! keeps bounded evidence of real misbehaviour only, hostile tile paths are
//! clean 4xx, and `/metrics` labels stay bounded under random requests.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::*;
use evledger_ledger::{CheckpointVerifier, Cosigner, LogSigner};
use evledger_witness::{Evidence, Witness as WitnessState, MAX_EVIDENCE_PER_LOG};
use p256::elliptic_curve::PrimeField;
use rand::Rng;
use serde_json::{json, Value};

/// A `dsse` submission of `payload` with the given signatures (keyid, sig bytes).
fn envelope_submission(
    payload: &[u8],
    signatures: &[(Option<&str>, &[u8])],
    verifiers: &[String],
) -> Value {
    let signatures: Vec<Value> = signatures
        .iter()
        .map(|(keyid, sig)| match keyid {
            Some(keyid) => json!({"keyid": keyid, "sig": B64.encode(sig)}),
            None => json!({"sig": B64.encode(sig)}),
        })
        .collect();
    json!({
        "kind": "dsse",
        "spec": {
            "envelope": {
                "payloadType": "application/vnd.in-toto+json",
                "payload": B64.encode(payload),
                "signatures": signatures,
            },
            "verifiers": verifiers,
        }
    })
}

/// The low-S and high-S forms of one P-256 signature of `message`.
fn p256_low_and_high(
    key: &p256::ecdsa::SigningKey,
    message: &[u8],
) -> (p256::ecdsa::Signature, p256::ecdsa::Signature) {
    let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(key, message);
    let low = sig.normalize_s().unwrap_or(sig);
    let (r, s) = low.split_scalars();
    let high = p256::ecdsa::Signature::from_scalars(r.to_repr(), (-*s).to_repr())
        .expect("n - s is a valid scalar");
    assert!(high.normalize_s().is_some(), "the variant is high-S");
    (low, high)
}

#[test]
fn one_ecdsa_signature_in_any_encoding_or_s_form_makes_one_leaf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let signing = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let pem = TestKey::P256(signing.clone()).public_pem();
    let payload = statement("ecdsa-dedup");
    let (low, high) = p256_low_and_high(&signing, &pae("application/vnd.in-toto+json", &payload));
    let low_der = low.to_der().as_bytes().to_vec();
    let high_der = high.to_der().as_bytes().to_vec();
    let low_raw = low.to_bytes().to_vec();
    let high_raw = high.to_bytes().to_vec();

    let first = envelope_submission(
        &payload,
        &[(Some(""), &low_der)],
        std::slice::from_ref(&pem),
    );
    let (status, body) = server.submit(&first);
    assert_eq!(status, 201, "{body}");
    let index = body["logIndex"].as_u64().expect("logIndex");
    let size = server.tree_size();

    // The same signature: high-S, raw r||s, other keyid hints, no keyid.
    for (what, sig, keyid) in [
        ("high-S DER", &high_der, Some("")),
        ("low-S raw", &low_raw, Some("")),
        ("high-S raw", &high_raw, Some("")),
        ("low-S DER, another keyid", &low_der, Some("my-key")),
        ("high-S raw, no keyid", &high_raw, None),
    ] {
        let again = envelope_submission(
            &payload,
            &[(keyid, sig.as_slice())],
            std::slice::from_ref(&pem),
        );
        let (status, body) = server.submit(&again);
        assert_eq!(status, 409, "{what}: {body}");
        assert_eq!(body["logIndex"].as_u64(), Some(index), "{what}: {body}");
        assert_eq!(body["code"], "duplicate_entry", "{what}");
    }
    assert_eq!(server.tree_size(), size, "no new leaf");

    // The logged signature is the low-S DER one.
    let (_, entry) = server.get_json(&format!("/api/v1/log/entries/{index}"));
    let logged = entry["entry"]["spec"]["envelope"]["signatures"][0]["sig"]
        .as_str()
        .expect("sig");
    assert_eq!(B64.decode(logged).expect("base64"), low_der);
}

#[test]
fn a_repeated_signature_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let payload = statement("repeated");
    let message = pae("application/vnd.in-toto+json", &payload);

    // Ed25519: the same signature twice.
    let ed = TestKey::ed25519();
    let sig = ed.sign(&message);
    let twice = envelope_submission(&payload, &[(None, &sig), (None, &sig)], &[ed.public_pem()]);
    let (status, body) = server.submit(&twice);
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().is_some(), "{body}");

    // P-256: one signature twice in two forms (the same key twice).
    let signing = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let pem = TestKey::P256(signing.clone()).public_pem();
    let (low, high) = p256_low_and_high(&signing, &message);
    let twice = envelope_submission(
        &payload,
        &[
            (Some("a"), low.to_der().as_bytes()),
            (Some("b"), &high.to_bytes()),
        ],
        std::slice::from_ref(&pem),
    );
    let (status, body) = server.submit(&twice);
    assert_eq!(status, 400, "{body}");
    assert_eq!(server.tree_size(), 0, "nothing appended");

    // Two keys, one signature each: fine.
    let both = envelope_submission(
        &payload,
        &[(None, &sig), (None, low.to_der().as_bytes())],
        &[ed.public_pem(), pem],
    );
    let (status, body) = server.submit(&both);
    assert_eq!(status, 201, "{body}");
}

/// Verifies a DSSE envelope with securesystemslib against one public key
/// (PEM file); returns the key ID securesystemslib computed for the key.
const SSLIB_VERIFY: &str = r#"
import json, sys
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
envelope = json.load(open(sys.argv[1]))
key = SSlibKey.from_crypto(load_pem_public_key(open(sys.argv[2], "rb").read()))
accepted = Envelope.from_dict(envelope).verify([key], 1)
assert list(accepted) == [key.keyid], accepted
print(key.keyid)
"#;

fn sslib_verify(python: &Path, dir: &Path, name: &str, envelope: &Value, public: &str) -> String {
    let file = write_file(
        dir,
        &format!("{name}.envelope.json"),
        envelope.to_string().as_bytes(),
    );
    let out = Command::new(python)
        .args(["-c", SSLIB_VERIFY, &file, public])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "securesystemslib rejects the {name} envelope {envelope}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn evledger_envelopes_verify_with_securesystemslib() {
    let python = python("securesystemslib");
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let payload = write_file(dir.path(), "statement.json", &statement("sslib"));
    for algorithm in ["ed25519", "p256"] {
        let key = dir.path().join(format!("{algorithm}.key"));
        let key = key.display().to_string();
        assert_ok(&cli(&["keygen", "--algorithm", algorithm, "--out", &key]));
        let public = format!("{key}.pub");
        let out = assert_ok(&cli(&[
            "entry",
            "dsse",
            "--key",
            &key,
            "--payload",
            &payload,
        ]));
        let submission: Value = serde_json::from_str(out.trim()).expect("submission JSON");
        let envelope = &submission["spec"]["envelope"];
        let keyid = sslib_verify(&python, dir.path(), algorithm, envelope, &public);
        assert_eq!(envelope["signatures"][0]["keyid"], keyid.as_str());

        // The logged leaf carries the same key ID and verifies too.
        let (status, body) = server.submit(&submission);
        assert_eq!(status, 201, "{body}");
        let logged = &body["entry"]["spec"]["envelope"];
        let name = format!("{algorithm}-logged");
        assert_eq!(
            sslib_verify(&python, dir.path(), &name, logged, &public),
            keyid
        );
    }

    // A submission with an empty keyid is logged with the computed one.
    let key = TestKey::p256();
    let public = write_file(dir.path(), "test.pub", key.public_pem().as_bytes());
    let (status, body) = server.submit(&attestation(&key, "empty-keyid"));
    assert_eq!(status, 201, "{body}");
    let logged = &body["entry"]["spec"]["envelope"];
    let keyid = sslib_verify(&python, dir.path(), "empty-keyid", logged, &public);
    assert_eq!(logged["signatures"][0]["keyid"], keyid.as_str());
}

fn checkpoint_of(server: &Server) -> String {
    let (status, body) = server.get("/checkpoint");
    assert_eq!(status, 200);
    String::from_utf8(body).expect("UTF-8")
}

#[test]
fn a_witness_given_twice_counts_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("log");
    let vkey = Server::start(&data).verifier_key.clone();
    let witness = Witness::start(&dir.path().join("w"), &[&vkey], "127.0.0.1:0");
    let spec = format!("{}={}", witness.verifier_key, witness.url);
    let server = Server::start_with(
        &data,
        &[
            "--witness",
            &spec,
            "--witness",
            &spec,
            "--witness-quorum",
            "2",
            "--witness-interval-ms",
            "50",
            "--witness-timeout-ms",
            "5000",
        ],
    );
    let (status, body) = server.submit(&attestation(&TestKey::ed25519(), "twice"));
    assert_eq!(status, 201, "{body}");
    let name = witness.verifier_key.split('+').next().expect("name");
    let deadline = Instant::now() + Duration::from_secs(30);
    let note = loop {
        let note = checkpoint_of(&server);
        if note.starts_with("evledger.local/log\n1\n") && note.contains(&format!("— {name} ")) {
            break note;
        }
        assert!(Instant::now() < deadline, "never cosigned: {note}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let lines = note
        .lines()
        .filter(|l| l.starts_with(&format!("— {name} ")))
        .count();
    assert_eq!(lines, 1, "one cosignature per witness: {note}");

    // A verifier told to trust the same witness twice with quorum 2 fails.
    let (status, bundle) = server.get("/api/v1/log/entries/0?format=tlog-proof");
    assert_eq!(status, 200);
    let bundle = String::from_utf8(bundle).expect("UTF-8");
    assert!(bundle.contains(&format!("— {name} ")), "{bundle}");
    let bundle = write_file(dir.path(), "entry.tlog-proof", bundle.as_bytes());
    let verify = |witnesses: &[&str], quorum: &str| {
        let mut args = vec!["verify", "bundle", &bundle, "--key", &vkey];
        for w in witnesses {
            args.extend(["--witness", w]);
        }
        args.extend(["--quorum", quorum]);
        cli(&args)
    };
    let wkey = witness.verifier_key.as_str();
    let err = assert_fails(&verify(&[wkey, wkey], "2"));
    assert!(err.contains("quorum"), "{err}");
    assert_ok(&verify(&[wkey], "1"));
}

#[test]
fn checkpoint_verifier_counts_a_repeated_witness_key_once() {
    let (signer, _) = LogSigner::generate("log.example/quorum").expect("signer");
    let (cosigner, _) = Cosigner::generate("witness.example/w").expect("cosigner");
    let mut note = signer.sign(3, [7; 32]).expect("sign").note;
    note.push_str(&cosigner.cosign(
        &note.as_bytes()[..note.find("\n\n").expect("note") + 1],
        1_700_000_000,
    ));
    let wkey = cosigner.verifier_key();
    let one = CheckpointVerifier::new(&[signer.verifier_key()])
        .expect("log key")
        .with_witnesses(&[&wkey], 1)
        .expect("policy");
    assert!(one.verify(note.as_bytes()).is_ok());
    let twice = CheckpointVerifier::new(&[signer.verifier_key()])
        .expect("log key")
        .with_witnesses(&[&wkey, &wkey], 2)
        .and_then(|v| v.verify(note.as_bytes()));
    assert!(twice.is_err(), "one witness met a quorum of 2: {twice:?}");
}

/// The evidence records the (stopped) witness at `dir` holds for `origin`.
fn evidence(dir: &Path, log_vkey: &str, origin: &str) -> Vec<Evidence> {
    let (cosigner, _) =
        Cosigner::load_or_generate(&dir.join("witness.key"), "unused").expect("witness key");
    let logs = vec![CheckpointVerifier::new(&[log_vkey]).expect("log key")];
    let state = WitnessState::open(&dir.join("state"), cosigner, logs).expect("witness state");
    state.evidence(origin).expect("evidence")
}

#[test]
fn witness_keeps_bounded_deduplicated_evidence_of_misbehaviour_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let origin = "log.example/evidence";
    let (signer, _) = LogSigner::generate(origin).expect("signer");
    let vkey = signer.verifier_key().to_string();
    let wdir = dir.path().join("w");
    let witness = Witness::start(&wdir, &[&vkey], "127.0.0.1:0");
    let note5 = signer.sign(5, [5; 32]).expect("sign").note;
    let (status, _, body) = witness.add_checkpoint(&add_checkpoint_body(0, &[], &note5));
    assert_eq!(status, 200, "{body}");

    // Clients that guess the old size wrong: routine 409s, no evidence.
    let note50 = signer.sign(50, [50; 32]).expect("sign").note;
    for old in (0..41).filter(|old| *old != 5) {
        let (status, _, body) = witness.add_checkpoint(&add_checkpoint_body(old, &[], &note50));
        assert_eq!((status, body.as_str()), (409, "5\n"));
    }
    witness.kill();
    let kept = evidence(&wdir, &vkey, origin);
    assert!(
        kept.is_empty(),
        "{} records for wrong old sizes: {:?}",
        kept.len(),
        kept.first().map(|e| &e.reason)
    );

    // The same fork (size 5, another root) shown ten times: one record.
    let witness = Witness::start(&wdir, &[&vkey], "127.0.0.1:0");
    let fork = signer.sign(5, [6; 32]).expect("sign").note;
    for _ in 0..10 {
        let (status, _, body) = witness.add_checkpoint(&add_checkpoint_body(5, &[], &fork));
        assert_eq!((status, body.as_str()), (409, "5\n"));
    }
    witness.kill();
    let kept = evidence(&wdir, &vkey, origin);
    assert_eq!(
        kept.len(),
        1,
        "{:?}",
        kept.iter().map(|k| &k.reason).collect::<Vec<_>>()
    );
    let request = String::from_utf8_lossy(&kept[0].request).to_string();
    assert!(
        request.contains(&fork),
        "the fork is the evidence: {request}"
    );
    assert_eq!(
        kept[0].cosigned, note5,
        "with the checkpoint it contradicts"
    );

    // More distinct forks than the cap: the count stays at the cap.
    let witness = Witness::start(&wdir, &[&vkey], "127.0.0.1:0");
    let mut rng = rand::thread_rng();
    for _ in 0..MAX_EVIDENCE_PER_LOG + 10 {
        let fork = signer.sign(5, rng.gen()).expect("sign").note;
        let (status, _, _) = witness.add_checkpoint(&add_checkpoint_body(5, &[], &fork));
        assert_eq!(status, 409);
    }
    // The witness still cosigns the honest log.
    let (status, _, body) = witness.add_checkpoint(&add_checkpoint_body(5, &[], &note5));
    assert_eq!(status, 200, "{body}");
    // The operator's view, read while the witness runs.
    let wdir_arg = wdir.display().to_string();
    let out = assert_ok(&cli(&[
        "witness",
        "--data-dir",
        &wdir_arg,
        "--list-evidence",
    ]));
    let listed: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(listed.len(), MAX_EVIDENCE_PER_LOG, "{out}");
    assert!(listed.iter().all(|e| e["origin"] == origin), "{out}");
    witness.kill();
    assert_eq!(evidence(&wdir, &vkey, origin).len(), MAX_EVIDENCE_PER_LOG);
}

#[test]
fn hostile_tile_paths_are_clean_not_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let key = TestKey::ed25519();
    for i in 0..3 {
        let (status, body) = server.submit(&attestation(&key, &format!("tile-{i}")));
        assert_eq!(status, 201, "{body}");
    }
    for good in ["/tile/0/000.p/3", "/tile/entries/000.p/3"] {
        assert_eq!(server.get(good).0, 200, "{good}");
    }
    let long_groups = format!("/tile/0/{}000.p/3", "x000/".repeat(400));
    let long_digits = format!("/tile/0/{}.p/3", "0".repeat(3000));
    let hostile = [
        "/tile/tile/0/000.p/3",
        "/tile/tile/entries/000.p/3",
        "/tile/0/%30%30%30.p/3",
        "/tile/%30/000.p/3",
        "/tile/0/000.p/%33",
        "/tile/0/000%2Ep/3",
        "/tile/0%2F000.p/3",
        "/tile/entries/%30%30%30.p/3",
        "/tile/0/000.p/3%00",
        "/tile/0/%D9%A0%D9%A0%D9%A0.p/3",
        "/tile/0/+00.p/3",
        "/tile/0/x000/000.p/3",
        "/tile/0/0000.p/3",
        "/tile/0/00.p/3",
        "/tile/00/000.p/3",
        "/tile/0/000.p/03",
        "/tile/0/x000.p/3",
        "/tile/0/x000",
        "/tile/0/000.p/0",
        "/tile/0/000.p/256",
        "/tile/0/000.p/99999999999999999999999",
        "/tile/8/000",
        "/tile/255/000",
        "/tile/99999999999999999999/000",
        "/tile/-1/000",
        "/tile/0/x018/x446/x744/x073/x709/x551/616",
        "/tile/0/x999/x999/x999/x999/x999/x999/x999/999",
        "/tile/0/000.p/",
        "/tile/0/000.p/3/",
        "/tile/0//000.p/3",
        "/tile/0/000/",
        "/tile/0/",
        "/tile/0",
        "/tile/",
        "/tile/entries",
        "/tile/entries/000.p/3.p/3",
        "/tile/0/001",
        "/tile/7/000",
        &long_groups,
        &long_digits,
    ];
    for path in hostile {
        let response = http()
            .get(format!("{}{path}", server.url))
            .send()
            .expect("GET");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response.text().expect("body");
        assert!(
            status == 404 || status == 400,
            "{path}: {status} {}",
            &body[..body.len().min(200)]
        );
        assert!(
            content_type.starts_with("application/json"),
            "{path}: {content_type}"
        );
        let json: Value = serde_json::from_str(&body).expect("JSON error");
        assert!(
            json["code"].is_string() && json["message"].is_string(),
            "{path}: {json}"
        );
    }
}

#[test]
fn metrics_labels_stay_bounded_under_random_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let client = anonymous_http();
    let mut rng = rand::thread_rng();
    let mut tokens = Vec::new();
    for i in 0..200 {
        let token: String = (0..12)
            .map(|_| char::from(b'A' + rng.gen_range(0..26)))
            .collect();
        let method = reqwest::Method::from_bytes(format!("X{token}").as_bytes()).expect("method");
        let path = match i % 4 {
            0 => format!("/{token}"),
            1 => format!("/api/v1/{token}/x"),
            2 => format!("/tile/{token}"),
            _ => format!("/api/v1/log/entries/{token}"),
        };
        let method = if i % 2 == 0 {
            method
        } else {
            reqwest::Method::GET
        };
        let response = client
            .request(method, format!("{}{path}", server.url))
            .send()
            .expect("request");
        assert!(
            response.status().is_client_error(),
            "{path}: {}",
            response.status()
        );
        tokens.push(token);
    }
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    let metrics = String::from_utf8(metrics).expect("UTF-8");
    for token in &tokens {
        assert!(!metrics.contains(token.as_str()), "{token} became a label");
    }
    let series = metrics
        .lines()
        .filter(|l| l.starts_with("evledger_http_requests_total{"))
        .count();
    assert!(series <= 16, "{series} series:\n{metrics}");
    assert!(metrics.contains("method=\"other\""), "{metrics}");
    assert!(metrics.contains("route=\"unmatched\""), "{metrics}");
}

//! Sigstore compatibility, end to end against the real binary: Rekor v2's
//! write API (`POST /api/v2/log/entries`) answers valid and invalid
//! requests as rekor-tiles does and logs nothing it refuses; the Sigstore
//! JavaScript clients (`@sigstore/sign` writing, `@sigstore/verify`
//! checking offline with the trusted root evledger serves) accept what
//! evledger logs and hands out, and reject it when any one part is changed;
//! sigstore-python verifies offline a certificate bundle whose only tlog
//! entry evledger made (`@sigstore/mock` plays the CA, CT log and TSA);
//! `evledger verify sigstore-bundle` agrees with them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::{
    anonymous_http, assert_fails, assert_ok, cli, http, output_within, write_file, Server,
};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::pkcs8::EncodePublicKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const OPEN: &[&str] = &["--rekor-open-writes", "true"];

/// POSTs `body` to the Rekor v2 endpoint with `client`.
fn create(
    client: &reqwest::blocking::Client,
    server: &Server,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = client
        .post(format!("{}/api/v2/log/entries", server.url))
        .json(body)
        .send()
        .expect("POST");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().expect("body");
    let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, headers, value)
}

/// A P-256 signer of artifacts, as a Sigstore client holds one.
struct Signer(p256::ecdsa::SigningKey);

impl Signer {
    fn new() -> Self {
        Self(p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
    }

    fn spki(&self) -> Vec<u8> {
        self.0
            .verifying_key()
            .to_public_key_der()
            .expect("der")
            .into_vec()
    }

    /// A `hashedRekordRequestV002` for `artifact`.
    fn hashed_rekord(&self, artifact: &[u8]) -> Value {
        let digest = Sha256::digest(artifact);
        let sig: p256::ecdsa::Signature = self.0.sign_prehash(&digest).expect("sign");
        json!({"hashedRekordRequestV002": {
            "digest": B64.encode(digest),
            "signature": {
                "content": B64.encode(sig.to_der().as_bytes()),
                "verifier": {"publicKey": {"rawBytes": B64.encode(self.spki())},
                             "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}})
    }
}

#[test]
fn rekor_v2_requests_get_rekors_answers_and_refusals_log_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(dir.path(), OPEN);
    let signer = Signer::new();

    // A valid hashedrekord: 201 with a TransparencyLogEntry whose body is
    // the leaf, whose proof verifies, int64 members as strings.
    let request = signer.hashed_rekord(b"release-1.0.tar.gz");
    let (status, headers, tle) = create(&anonymous_http(), &server, &request);
    assert_eq!(status, 201, "{tle}");
    assert_eq!(headers["location"], "/api/v1/log/entries/0");
    assert_eq!(tle["logIndex"], "0");
    assert_eq!(tle["integratedTime"], "0");
    assert_eq!(
        tle["kindVersion"],
        json!({"kind": "hashedrekord", "version": "0.0.2"})
    );
    assert!(tle["inclusionPromise"].is_null());
    let body = B64
        .decode(tle["canonicalizedBody"].as_str().expect("body"))
        .expect("base64");
    let logged: Value = serde_json::from_slice(&body).expect("body JSON");
    assert_eq!(logged["apiVersion"], "0.0.2");
    assert_eq!(
        logged["spec"]["hashedRekordV002"]["data"]["digest"],
        request["hashedRekordRequestV002"]["digest"]
    );
    let (_, entry) = server.get_json("/api/v1/log/entries/0");
    assert_eq!(
        serde_json::to_vec(&entry["entry"]).expect("json"),
        body,
        "the leaf served is the canonicalized body"
    );
    let key_id = B64
        .decode(tle["logId"]["keyId"].as_str().expect("keyId"))
        .expect("base64");
    let (name, rest) = server.verifier_key.split_once('+').expect("vkey");
    let raw = B64
        .decode(rest.split_once('+').expect("vkey").1)
        .expect("key");
    let mut expected = Sha256::new();
    expected.update(name.as_bytes());
    expected.update(b"\n");
    expected.update(&raw);
    assert_eq!(
        key_id,
        expected.finalize().to_vec(),
        "logId is the C2SP key hash"
    );
    assert!(tle["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .expect("checkpoint")
        .starts_with(&format!("{name}\n1\n")));

    // The same request again: 409, and where it is.
    let (status, headers, answer) = create(&anonymous_http(), &server, &request);
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["code"], "duplicate_entry");
    assert_eq!(headers["x-log-index"], "0");
    assert!(answer["message"]
        .as_str()
        .expect("message")
        .contains("index 0"));

    // Refusals: each a 400 JSON error saying what is wrong, nothing logged.
    let good = request["hashedRekordRequestV002"].clone();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut h = good.clone();
        change(&mut h);
        json!({ "hashedRekordRequestV002": h })
    };
    let other_spki = B64.encode(Signer::new().spki());
    let refused: Vec<(&str, &str, Value)> = vec![
        (
            "another digest",
            "signature_invalid",
            with(&|h| h["digest"] = B64.encode(Sha256::digest(b"another artifact")).into()),
        ),
        (
            "a 20-byte digest",
            "invalid_entry",
            with(&|h| h["digest"] = B64.encode([7u8; 20]).into()),
        ),
        (
            "another key",
            "signature_invalid",
            with(&|h| {
                h["signature"]["verifier"]["publicKey"]["rawBytes"] = other_spki.clone().into()
            }),
        ),
        (
            "key details of another algorithm",
            "bad_verifier",
            with(&|h| h["signature"]["verifier"]["keyDetails"] = "PKIX_ECDSA_P384_SHA_384".into()),
        ),
        (
            "pure Ed25519 over a digest",
            "bad_verifier",
            with(&|h| h["signature"]["verifier"]["keyDetails"] = "PKIX_ED25519".into()),
        ),
        (
            "unknown key details",
            "bad_verifier",
            with(&|h| h["signature"]["verifier"]["keyDetails"] = "PKIX_NOT_A_KEY".into()),
        ),
        (
            "a truncated signature",
            "signature_invalid",
            with(&|h| h["signature"]["content"] = B64.encode([0x30, 0x06, 2, 1, 1, 2]).into()),
        ),
        (
            "an unknown member",
            "malformed_entry",
            with(&|h| h["extra"] = 1.into()),
        ),
        (
            "bytes that are not base64",
            "malformed_entry",
            with(&|h| h["signature"]["content"] = "%%%".into()),
        ),
        (
            "both kinds",
            "malformed_entry",
            json!({"hashedRekordRequestV002": good, "dsseRequestV002": {}}),
        ),
        ("neither kind", "malformed_entry", json!({})),
        ("not an object", "malformed_entry", json!([1, 2])),
    ];
    for (what, code, body) in refused {
        let (status, _, answer) = create(&anonymous_http(), &server, &body);
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(answer["code"], code, "{what}: {answer}");
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    // Malformed JSON too.
    let r = anonymous_http()
        .post(format!("{}/api/v2/log/entries", server.url))
        .header("content-type", "application/json")
        .body("{\"hashedRekordRequestV002\": ")
        .send()
        .expect("POST");
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(server.tree_size(), 1, "nothing refused was logged");

    // snake_case members and URL-safe base64, as protojson reads them.
    let other = signer.hashed_rekord(b"release-1.1.tar.gz");
    let h = &other["hashedRekordRequestV002"];
    let url_safe = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(B64.decode(v.as_str().expect("b64")).expect("b64"))
    };
    let snake = json!({"hashed_rekord_request_v002": {
        "digest": url_safe(&h["digest"]),
        "signature": {"content": url_safe(&h["signature"]["content"]), "verifier": {
            "public_key": {"raw_bytes": url_safe(&h["signature"]["verifier"]["publicKey"]["rawBytes"])},
            "key_details": "PKIX_ECDSA_P256_SHA_256"}}}});
    let (status, _, answer) = create(&anonymous_http(), &server, &snake);
    assert_eq!(status, 201, "{answer}");
    let (status, _, _) = create(&anonymous_http(), &server, &other);
    assert_eq!(status, 409, "the same entry however it was spelled");

    // The entry is searchable by its digest and its key.
    let fingerprint = hex::encode(Sha256::digest(signer.spki()));
    let digest = hex::encode(Sha256::digest(b"release-1.0.tar.gz"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let by_key = http()
            .post(format!("{}/api/v1/index/retrieve", server.url))
            .json(&json!({"keyFingerprint": fingerprint}))
            .send()
            .expect("search")
            .json::<Value>()
            .expect("json");
        let by_hash = http()
            .post(format!("{}/api/v1/index/retrieve", server.url))
            .json(&json!({"hash": format!("sha256:{digest}")}))
            .send()
            .expect("search")
            .json::<Value>()
            .expect("json");
        let count = |v: &Value| v["results"].as_array().map_or(0, Vec::len);
        if count(&by_key) == 2 && count(&by_hash) == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not indexed: {by_key} {by_hash}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn rekor_v2_writes_need_a_token_unless_opened_and_open_writes_are_rate_limited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path());
    let signer = Signer::new();
    let (status, _, answer) = create(&anonymous_http(), &server, &signer.hashed_rekord(b"a"));
    assert_eq!(status, 401, "{answer}");
    let (status, _, answer) = create(&http(), &server, &signer.hashed_rekord(b"a"));
    assert_eq!(status, 201, "the admin's token writes: {answer}");
    server.kill();

    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(
        dir.path(),
        &[
            "--rekor-open-writes",
            "true",
            "--rekor-open-per-minute",
            "1",
            "--rekor-open-burst",
            "2",
        ],
    );
    for artifact in [b"1", b"2"] {
        let (status, _, answer) =
            create(&anonymous_http(), &server, &signer.hashed_rekord(artifact));
        assert_eq!(status, 201, "{answer}");
    }
    let r = anonymous_http()
        .post(format!("{}/api/v2/log/entries", server.url))
        .json(&signer.hashed_rekord(b"3"))
        .send()
        .expect("POST");
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(server.tree_size(), 2, "the refused write was not logged");
    // A token is not limited.
    let (status, _, answer) = create(&http(), &server, &signer.hashed_rekord(b"3"));
    assert_eq!(status, 201, "{answer}");
}

/// The folder of the Sigstore JavaScript clients (`scripts/setup` installs
/// their packages).
fn sigstore_js() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sigstore-js");
    assert!(
        dir.join("node_modules/@sigstore/sign").is_dir(),
        "the Sigstore JavaScript clients are not installed: run scripts/setup"
    );
    dir
}

/// Longest a run of the Sigstore JavaScript client takes (a second or two;
/// Node has been seen to hang at start, so a run past this is retried).
const NODE_LIMIT: Duration = Duration::from_secs(60);

/// Runs `node client.js args...`; whether it succeeded, and what it said.
fn node(args: &[&str]) -> (bool, String) {
    let out = output_within(
        Command::new("node")
            .arg(sigstore_js().join("client.js"))
            .args(args),
        NODE_LIMIT,
        3,
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// Flips one bit of the base64 bytes at `value` (at byte `at`, from the end
/// if negative).
fn flip(value: &mut Value, at: isize) {
    let mut bytes = B64.decode(value.as_str().expect("base64")).expect("base64");
    let i = if at < 0 {
        bytes.len() - at.unsigned_abs()
    } else {
        at as usize
    };
    bytes[i] ^= 1;
    *value = B64.encode(bytes).into();
}

/// Every way of changing one part of `bundle` that must make it fail.
fn tampered(bundle: &Value) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    let mut body = bundle.clone();
    flip(
        &mut body["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"],
        40,
    );
    out.push(("the body", body));
    let mut proof = bundle.clone();
    flip(
        &mut proof["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0],
        0,
    );
    out.push(("a proof hash", proof));
    let mut signature = bundle.clone();
    let note = signature["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
        ["envelope"]
        .as_str()
        .expect("envelope")
        .to_string();
    let (text, line) = note.rsplit_once("\n\u{2014} ").expect("signature line");
    let (name, sig) = line.trim_end().split_once(' ').expect("signature");
    let mut sig = Value::from(sig);
    flip(&mut sig, -1);
    signature["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
        ["envelope"] = format!("{text}\n\u{2014} {name} {}\n", sig.as_str().expect("sig")).into();
    out.push(("the checkpoint signature", signature));
    out
}

/// Signs `artifact` with sigstore-js in `mode`, then checks both bundles
/// (the client's own and evledger's) with @sigstore/verify and with
/// `evledger verify sigstore-bundle`, untouched and tampered.
fn sign_and_verify(server: &Server, work: &Path, mode: &str, artifact: &[u8]) {
    let out = work.join(mode);
    std::fs::create_dir_all(&out).expect("mkdir");
    let artifact_path = write_file(&out, "artifact", artifact);
    let (ok, said) = node(&[
        "sign",
        &server.url,
        mode,
        &artifact_path,
        out.to_str().expect("path"),
    ]);
    assert!(ok, "sigstore-js could not log to evledger: {said}");
    let client_bundle: Value =
        serde_json::from_slice(&std::fs::read(out.join("bundle.json")).expect("bundle"))
            .expect("json");
    let key = out.join("key.json").to_str().expect("path").to_string();
    let index = client_bundle["verificationMaterial"]["tlogEntries"][0]["logIndex"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let (status, root) = server.get_json("/api/v1/sigstore/trusted-root");
    assert_eq!(status, 200, "{root}");
    let root_path = write_file(&out, "trusted_root.json", root.to_string().as_bytes());
    let (status, ours) = server.get(&format!(
        "/api/v1/log/entries/{index}?format=sigstore-bundle"
    ));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&ours));
    let ours: Value = serde_json::from_slice(&ours).expect("bundle JSON");
    assert_eq!(
        ours["mediaType"],
        "application/vnd.dev.sigstore.bundle.v0.3+json"
    );
    let artifact_arg = (mode == "message").then_some(artifact_path.as_str());
    let verify_js = |bundle: &Value, root: &str, artifact: Option<&str>| {
        let path = write_file(&out, "candidate.json", bundle.to_string().as_bytes());
        let mut args = vec!["verify", root, &path, &key];
        args.extend(artifact);
        node(&args)
    };
    let verify_cli = |bundle: &Value, artifact: Option<&str>| {
        let path = write_file(&out, "candidate-cli.json", bundle.to_string().as_bytes());
        let mut args = vec![
            "verify",
            "sigstore-bundle",
            "--key",
            &server.verifier_key,
            &path,
        ];
        if let Some(a) = artifact {
            args.extend(["--artifact", a]);
        }
        cli(&args)
    };
    for (whose, bundle) in [("sigstore-js's", &client_bundle), ("evledger's", &ours)] {
        let (ok, said) = verify_js(bundle, &root_path, artifact_arg);
        assert!(ok, "@sigstore/verify refused {whose} {mode} bundle: {said}");
        let said = assert_ok(&verify_cli(bundle, artifact_arg));
        assert!(said.contains("OK"), "{said}");
        for (part, bad) in tampered(bundle) {
            let (ok, said) = verify_js(&bad, &root_path, artifact_arg);
            assert!(
                !ok,
                "@sigstore/verify accepted {whose} {mode} bundle with {part} changed: {said}"
            );
            assert_fails(&verify_cli(&bad, artifact_arg));
        }
    }
    // Another log key in the trusted root: nothing verifies.
    let (other, _) = evledger_ledger::checkpoint::LogSigner::generate(
        server.verifier_key.split('+').next().expect("name"),
    )
    .expect("key");
    let other_root = write_file(
        &out,
        "other_root.json",
        evledger_sigstore::trust::trusted_root(
            &evledger_sigstore::LogKey::from_verifier_key(other.verifier_key()).expect("key"),
            &server.url,
        )
        .expect("root")
        .to_string()
        .as_bytes(),
    );
    let (ok, said) = verify_js(&ours, &other_root, artifact_arg);
    assert!(!ok, "verified against another log's key: {said}");
    assert_fails(&cli(&[
        "verify",
        "sigstore-bundle",
        "--key",
        other.verifier_key(),
        &write_file(&out, "ours.json", ours.to_string().as_bytes()),
    ]));
    // Another artifact: a message signature no longer verifies.
    if mode == "message" {
        let other_artifact = write_file(&out, "other-artifact", b"not what was signed");
        let (ok, said) = verify_js(&ours, &root_path, Some(&other_artifact));
        assert!(!ok, "verified for another artifact: {said}");
        assert_fails(&verify_cli(&ours, Some(&other_artifact)));
    }
}

#[test]
fn sigstore_js_logs_to_evledger_and_verifies_its_bundles_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(dir.path(), OPEN);
    // A few entries first, so every proof has hashes to tamper with.
    let signer = Signer::new();
    for artifact in [b"a", b"b", b"c"] {
        let (status, _, answer) =
            create(&anonymous_http(), &server, &signer.hashed_rekord(artifact));
        assert_eq!(status, 201, "{answer}");
    }
    let work = tempfile::tempdir().expect("tempdir");
    sign_and_verify(&server, work.path(), "message", b"evledger release 1.0\n");
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "release.tar.gz", "digest": {"sha256": hex::encode(Sha256::digest(b"release"))}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {"buildType": "https://example.com/ci"}},
    });
    sign_and_verify(
        &server,
        work.path(),
        "dsse",
        statement.to_string().as_bytes(),
    );
    // The log's own verifiers take Rekor v2 entries as any other leaf: the
    // inclusion check online, and the C2SP tlog-proof offline.
    let size = server.tree_size();
    for index in [size - 2, size - 1] {
        let index = index.to_string();
        assert_ok(&cli(&[
            "verify",
            "inclusion",
            "--key",
            &server.verifier_key,
            "--url",
            &server.url,
            "--log-index",
            &index,
        ]));
        let (status, proof) = server.get(&format!("/api/v1/log/entries/{index}?format=tlog-proof"));
        assert_eq!(status, 200);
        let proof = write_file(work.path(), &format!("{index}.tlog-proof"), &proof);
        assert_ok(&cli(&[
            "verify",
            "bundle",
            &proof,
            "--key",
            &server.verifier_key,
        ]));
    }
    // A bundle is only for entries logged through the Rekor v2 API.
    let key = common::TestKey::ed25519();
    let (status, _) = server.submit(&common::attestation(&key, "plain"));
    assert_eq!(status, 201);
    let size = server.tree_size();
    let (status, answer) = server.get_json(&format!(
        "/api/v1/log/entries/{}?format=sigstore-bundle",
        size - 1
    ));
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["code"], "no_sigstore_bundle");
}

/// A `dsseRequestV002` of `statement`, signed by `signer` over the PAE.
fn dsse_request(signer: &Signer, statement: &Value) -> Value {
    let payload = serde_json::to_vec(statement).expect("json");
    let payload_type = "application/vnd.in-toto+json";
    let sig: p256::ecdsa::Signature =
        p256::ecdsa::signature::Signer::sign(&signer.0, &common::pae(payload_type, &payload));
    json!({"dsseRequestV002": {
        "envelope": {"payload": B64.encode(&payload), "payloadType": payload_type,
                     "signatures": [{"sig": B64.encode(sig.to_der().as_bytes())}]},
        "verifiers": [{"publicKey": {"rawBytes": B64.encode(signer.spki())},
                       "keyDetails": "PKIX_ECDSA_P256_SHA_256"}]}})
}

#[test]
fn rekor_v2_writes_are_admitted_as_every_entry_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(&dir.path().join("data"), OPEN);
    common::create_workflow(&server, dir.path());
    let signer = Signer::new();
    let attestation = |revision: u64, name: &str| {
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": name, "digest": {"sha256": hex::encode(Sha256::digest(name))}}],
            "predicateType": "https://evledger.dev/attestation/v1",
            "predicate": {
                "workflow": {"name": common::WORKFLOW, "project": "app"},
                "contractRevision": revision,
                "runner": {"type": "RUNNER_TYPE_UNSPECIFIED"},
            },
        })
    };
    // An evledger attestation that meets its (empty) contract is logged,
    // even without a token.
    let (status, _, answer) = create(
        &anonymous_http(),
        &server,
        &dsse_request(&signer, &attestation(1, "app-1")),
    );
    assert_eq!(status, 201, "{answer}");
    let size = server.tree_size();

    // Tighten the contract: an artifact named `bin` is now required.
    let contract = write_file(
        dir.path(),
        "strict.yaml",
        b"schemaVersion: v1\nmaterials:\n  - type: ARTIFACT\n    name: bin\n",
    );
    assert_ok(&common::admin(
        &server,
        &[
            "contract",
            "update",
            "--workflow",
            common::WORKFLOW,
            "-f",
            &contract,
        ],
    ));
    let size = size + 1; // the contract revision is an entry too
    assert_eq!(server.tree_size(), size);
    // Naming the old revision: refused; naming the new one without the
    // material: refused with what is missing. Nothing is logged.
    let (status, _, answer) = create(
        &anonymous_http(),
        &server,
        &dsse_request(&signer, &attestation(1, "app-2")),
    );
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("contract_outdated")),
        "{answer}"
    );
    let (status, _, answer) = create(
        &anonymous_http(),
        &server,
        &dsse_request(&signer, &attestation(2, "app-2")),
    );
    assert_eq!(
        (status, answer["code"].as_str()),
        (422, Some("contract_unmet")),
        "{answer}"
    );
    assert!(
        answer["message"].as_str().expect("message").contains("bin"),
        "{answer}"
    );
    assert_eq!(
        server.tree_size(),
        size,
        "refused attestations were not logged"
    );

    // A robot account's token writes only its workflow's attestations.
    let r = http()
        .post(format!(
            "{}/api/v1/workflows/{}/robot-accounts",
            server.url,
            common::WORKFLOW
        ))
        .send()
        .expect("POST robot account");
    assert_eq!(r.status().as_u16(), 201);
    let token = r.json::<Value>().expect("json")["token"]
        .as_str()
        .expect("token")
        .to_string();
    let r = anonymous_http()
        .post(format!("{}/api/v2/log/entries", server.url))
        .bearer_auth(&token)
        .json(&signer.hashed_rekord(b"not an attestation"))
        .send()
        .expect("POST");
    assert_eq!(r.status().as_u16(), 403);
    // A revoked or unknown token is refused, not taken as anonymous.
    let r = anonymous_http()
        .post(format!("{}/api/v2/log/entries", server.url))
        .bearer_auth("evlr_not-a-token")
        .json(&signer.hashed_rekord(b"x"))
        .send()
        .expect("POST");
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(server.tree_size(), size);
}

/// sigstore-python's CLI (`scripts/setup` installs it in a virtualenv of
/// its own under the tools folder).
fn sigstore_python() -> PathBuf {
    let tools = std::env::var_os("EVLEDGER_TOOLS").map_or_else(
        || Path::new(&std::env::var_os("HOME").expect("HOME")).join(".cache/evledger/tools"),
        PathBuf::from,
    );
    let cli = tools.join("sigstore-python/bin/sigstore");
    assert!(
        cli.exists(),
        "sigstore-python is not installed at {}: run scripts/setup",
        cli.display()
    );
    cli
}

const IDENTITY: &str =
    "https://github.com/example/app/.github/workflows/release.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// `sigstore verify identity --offline` of `bundle` over `artifact` with
/// `trust` as its only trust config: whether it verified, and what it said.
fn sigstore_python_verify(
    work: &Path,
    trust: &Value,
    bundle: &Value,
    artifact: &str,
) -> (bool, String) {
    let trust = write_file(work, "trust_config.json", trust.to_string().as_bytes());
    let bundle = write_file(work, "bundle.json", bundle.to_string().as_bytes());
    let out = Command::new(sigstore_python())
        .args([
            "--trust-config",
            &trust,
            "verify",
            "identity",
            "--offline",
            "--bundle",
            &bundle,
        ])
        .args([
            "--cert-identity",
            IDENTITY,
            "--cert-oidc-issuer",
            ISSUER,
            artifact,
        ])
        .env("NO_COLOR", "1")
        .env("COLUMNS", "10000")
        .output()
        .expect("run sigstore-python");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[test]
fn sigstore_python_verifies_offline_a_certificate_bundle_logged_in_evledger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(dir.path(), OPEN);
    let signer = Signer::new();
    for artifact in [b"a", b"b"] {
        let (status, _, answer) =
            create(&anonymous_http(), &server, &signer.hashed_rekord(artifact));
        assert_eq!(status, 201, "{answer}");
    }
    let work = tempfile::tempdir().expect("tempdir");
    let artifact = write_file(work.path(), "release.tar.gz", b"evledger release 1.0\n");

    // A Fulcio-like certificate, its signature and an RFC 3161 timestamp,
    // all offline (@sigstore/mock): the only transparency log is evledger.
    let material_path = work.path().join("material.json");
    let out = output_within(
        Command::new("node")
            .arg(sigstore_js().join("client.js"))
            .args(["mock", &artifact, IDENTITY, ISSUER])
            .arg(&material_path),
        NODE_LIMIT,
        3,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let material: Value =
        serde_json::from_slice(&std::fs::read(&material_path).expect("material")).expect("json");

    // Logged as sigstore-python's own Rekor v2 writer logs it: a
    // hashedrekord whose verifier is the certificate.
    let request = json!({"hashedRekordRequestV002": {
        "digest": material["digest"],
        "signature": {"content": material["signature"], "verifier": {
            "x509Certificate": {"rawBytes": material["certificate"]},
            "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}});
    let (status, _, tle) = create(&anonymous_http(), &server, &request);
    assert_eq!(status, 201, "{tle}");
    let index = tle["logIndex"].as_str().expect("logIndex").to_string();

    // evledger's bundle carries the certificate; the client adds its
    // timestamp (a tile log signs none).
    let (status, mut bundle) = server.get_json(&format!(
        "/api/v1/log/entries/{index}?format=sigstore-bundle"
    ));
    assert_eq!(status, 200, "{bundle}");
    assert_eq!(
        bundle["verificationMaterial"]["certificate"]["rawBytes"],
        material["certificate"]
    );
    bundle["verificationMaterial"]["timestampVerificationData"] =
        json!({"rfc3161Timestamps": [{"signedTimestamp": material["timestamp"]}]});

    // evledger's client trust config, with the CA, CT log and TSA added.
    let (status, mut trust) = server.get_json(&format!(
        "/api/v1/sigstore/trusted-root?format=client-trust-config&url={}",
        server.url
    ));
    assert_eq!(status, 200, "{trust}");
    let since = json!({"start": "2000-01-01T00:00:00Z"});
    let root = &mut trust["trustedRoot"];
    root["certificateAuthorities"] = json!([{
        "subject": {"organization": "sigstore.mock", "commonName": "sigstore"},
        "uri": "https://fulcio.example",
        "certChain": {"certificates": [{"rawBytes": material["caRoot"]}]},
        "validFor": since}]);
    root["ctlogs"] = json!([{
        "baseUrl": "https://ctfe.example",
        "hashAlgorithm": "SHA2_256",
        "publicKey": {"rawBytes": material["ctLogKey"], "keyDetails": "PKIX_ECDSA_P256_SHA_256", "validFor": since},
        "logId": {"keyId": material["ctLogId"]}}]);
    root["timestampAuthorities"] = json!([{
        "subject": {"organization": "sigstore.mock", "commonName": "tsa"},
        "uri": "https://tsa.example",
        "certChain": {"certificates": [{"rawBytes": material["tsaIntermediate"]}, {"rawBytes": material["tsaRoot"]}]},
        "validFor": since}]);

    let (ok, said) = sigstore_python_verify(work.path(), &trust, &bundle, &artifact);
    assert!(
        ok,
        "sigstore-python refused the bundle evledger logged: {said}"
    );
    // evledger's own check agrees, and says it did not check the chain.
    let said = assert_ok(&cli(&[
        "verify",
        "sigstore-bundle",
        "--key",
        &server.verifier_key,
        "--artifact",
        &artifact,
        &write_file(work.path(), "ours.json", bundle.to_string().as_bytes()),
    ]));
    assert!(
        said.contains("not checked: the certificate's chain"),
        "{said}"
    );

    // Any one part changed, and it fails.
    for (part, bad) in tampered(&bundle) {
        let (ok, said) = sigstore_python_verify(work.path(), &trust, &bad, &artifact);
        assert!(
            !ok,
            "sigstore-python accepted the bundle with {part} changed: {said}"
        );
    }
    let (other, _) = evledger_ledger::checkpoint::LogSigner::generate(
        server.verifier_key.split('+').next().expect("name"),
    )
    .expect("key");
    let other_key =
        evledger_sigstore::LogKey::from_verifier_key(other.verifier_key()).expect("key");
    let mut other_trust = trust.clone();
    other_trust["trustedRoot"]["tlogs"][0]["publicKey"]["rawBytes"] =
        B64.encode(other_key.spki_der().expect("spki")).into();
    let (ok, said) = sigstore_python_verify(work.path(), &other_trust, &bundle, &artifact);
    assert!(!ok, "verified against another log key: {said}");
    let other_artifact = write_file(work.path(), "other", b"not what was signed");
    let (ok, said) = sigstore_python_verify(work.path(), &trust, &bundle, &other_artifact);
    assert!(!ok, "verified for another artifact: {said}");
}

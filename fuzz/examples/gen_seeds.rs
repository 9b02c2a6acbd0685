//! Writes the seed corpus, `fuzz/corpus/<target>/`: small valid inputs made
//! here with the fixed test keys (and the documents of the crates' own
//! tests), so each target starts from inputs that get deep.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds`
//! (re)writes every `seed-*` file; files the fuzzer found are left alone.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePublicKey;
use evledger_entry::Entry;
use evledger_fanout_wire::alert::proto::{EntryData, Event, InclusionProof as ProtoInclusionProof};
use evledger_fuzz::{
    checkpoint_body, cosigner_key, foreign_signature_line, merkle, note_signer_key, LOG_ORIGIN,
    LOG_SEED, WITNESS_NAME, WITNESS_SEED,
};
use evledger_tlog::tlog_proof::TlogProof;
use evledger_tlog::witness_request::AddCheckpoint;
use evledger_tlog::{Cosigner, LogSigner};
use p256::pkcs8::LineEnding;
use prost::Message;
use serde_json::json;

/// The bytes that make an `arbitrary`-derived enum pick variant `i` of `n`:
/// the derive reads a little-endian `u32` x and picks `(x * n) >> 32`.
fn variant(i: u32, n: u32) -> Vec<u8> {
    let x = (u64::from(i) << 32).div_ceil(u64::from(n));
    u32::try_from(x)
        .expect("variant below n")
        .to_le_bytes()
        .to_vec()
}

/// `variant(i, n)` followed by `rest`: a variant whose last field takes
/// the rest of the input.
fn tagged(i: u32, n: u32, rest: &[u8]) -> Vec<u8> {
    let mut out = variant(i, n);
    out.extend_from_slice(rest);
    out
}

/// A Rekor v2 hashedrekord request: a P-256 signature over the SHA-256
/// digest of `artifact`.
fn rekor_hashed_rekord(artifact: &[u8]) -> Vec<u8> {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use sha2::Digest;
    let key = p256::ecdsa::SigningKey::from_bytes(&[0x31; 32].into()).expect("scalar");
    let digest = sha2::Sha256::digest(artifact);
    let sig: p256::ecdsa::Signature = key.sign_prehash(&digest).expect("sign");
    let spki = key.verifying_key().to_public_key_der().expect("der");
    let body = json!({"hashedRekordRequestV002": {
        "digest": B64.encode(digest),
        "signature": {"content": B64.encode(sig.to_der().as_bytes()), "verifier": {
            "publicKey": {"rawBytes": B64.encode(spki.as_bytes())},
            "keyDetails": "PKIX_ECDSA_P256_SHA_256"}}}});
    serde_json::to_vec(&body).expect("JSON")
}

/// A Rekor v2 DSSE request of `payload`, signed by an Ed25519 key.
fn rekor_dsse(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let key = ed25519_dalek::SigningKey::from_bytes(&[0x41; 32]);
    let sig = ed25519_dalek::Signer::sign(&key, &pae(payload_type, payload)).to_bytes();
    let spki = key.verifying_key().to_public_key_der().expect("der");
    let body = json!({"dsseRequestV002": {
        "envelope": {"payload": B64.encode(payload), "payloadType": payload_type,
                     "signatures": [{"sig": B64.encode(sig), "keyid": ""}]},
        "verifiers": [{"publicKey": {"rawBytes": B64.encode(spki.as_bytes())}, "keyDetails": "PKIX_ED25519"}]}});
    serde_json::to_vec(&body).expect("JSON")
}

struct Corpus {
    root: PathBuf,
}

impl Corpus {
    fn write(&self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).expect("creating the corpus directory");
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("writing a seed");
    }
}

fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A signed DSSE submission of `payload`, by an Ed25519 key or a P-256 key.
fn submission(payload_type: &str, payload: &[u8], p256_key: bool) -> Vec<u8> {
    let message = pae(payload_type, payload);
    let (pem, sig) = if p256_key {
        let key = p256::ecdsa::SigningKey::from_bytes(&[0x21; 32].into()).expect("scalar");
        let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(&key, &message);
        let pem = key.verifying_key().to_public_key_pem(LineEnding::LF);
        (pem, sig.to_der().as_bytes().to_vec())
    } else {
        let key = ed25519_dalek::SigningKey::from_bytes(&[0x11; 32]);
        let sig = ed25519_dalek::Signer::sign(&key, &message)
            .to_bytes()
            .to_vec();
        (key.verifying_key().to_public_key_pem(LineEnding::LF), sig)
    };
    let body = json!({
        "kind": "dsse",
        "spec": {
            "envelope": {
                "payloadType": payload_type,
                "payload": B64.encode(payload),
                "signatures": [{"keyid": "", "sig": B64.encode(sig)}],
            },
            "verifiers": [pem.expect("encoding a test key")],
        },
    });
    serde_json::to_vec(&body).expect("JSON")
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let corpus = Corpus { root };

    // Entries: in-toto statements (one an evledger attestation), raw payloads.
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "app.tar.gz", "digest": {"sha256": "a".repeat(64)}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {"buildType": "https://example.com/build"}},
    });
    let attestation = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "app", "digest": {"sha256": "b".repeat(64)}}],
        "predicateType": "https://evledger.dev/attestation/v1",
        "predicate": {
            "workflow": {"name": "build", "project": "core"},
            "annotations": [{"name": "version", "value": "1.0"}],
            "materials": [{"name": "sbom", "digest": {"sha256": "c".repeat(64)},
                           "annotations": [{"name": "tool", "value": "syft"}]}],
        },
    });
    let in_toto = "application/vnd.in-toto+json";
    let submissions = [
        (
            "statement-ed25519",
            submission(in_toto, statement.to_string().as_bytes(), false),
        ),
        (
            "statement-p256",
            submission(in_toto, statement.to_string().as_bytes(), true),
        ),
        (
            "attestation",
            submission(in_toto, attestation.to_string().as_bytes(), false),
        ),
        ("text-payload", submission("text/plain", b"hello", true)),
    ];
    for (name, body) in &submissions {
        corpus.write("submission", name, body);
        let leaf = Entry::from_submission(body)
            .expect("a seed submission is valid")
            .leaf;
        corpus.write("submission", &format!("{name}-leaf"), &leaf);
        corpus.write("index_keys", name, &leaf);
    }
    let contract_leaf = Entry::contract(evledger_entry::ContractEntry {
        workflow: "build".into(),
        project: "core".into(),
        revision: 2,
        contract: json!({"schemaVersion": "v1", "materials": [{"type": "ARTIFACT", "name": "bin"}]}),
    })
    .expect("a small contract")
    .leaf;
    corpus.write("submission", "contract-leaf", &contract_leaf);

    // Rekor v2 requests: a P-256 hashedrekord, a DSSE envelope signed by
    // an Ed25519 key, and their logged bodies.
    let rekor_requests = [
        ("hashedrekord-p256", rekor_hashed_rekord(b"app.tar.gz")),
        (
            "dsse-ed25519",
            rekor_dsse(in_toto, statement.to_string().as_bytes()),
        ),
    ];
    for (name, body) in &rekor_requests {
        corpus.write("rekor_request", name, body);
        let leaf = Entry::from_rekor_request(body)
            .expect("a seed request is valid")
            .leaf;
        corpus.write("rekor_request", &format!("{name}-leaf"), &leaf);
        corpus.write("submission", &format!("rekor-{name}-leaf"), &leaf);
        corpus.write("index_keys", &format!("rekor-{name}"), &leaf);
    }
    // A Sigstore bundle of the hashedrekord, alone in a tree the test log
    // key signed.
    let request = &rekor_requests[0].1;
    let entry = Entry::from_rekor_request(request).expect("a seed request is valid");
    let signer =
        LogSigner::from_signer_key(&note_signer_key(LOG_ORIGIN, &LOG_SEED)).expect("test key");
    let root = merkle::root(&[merkle::leaf(&entry.leaf)]);
    let checkpoint = signer.sign(1, root).expect("sign");
    let proof = evledger_tlog::proof::InclusionProof {
        log_index: 0,
        tree_size: 1,
        root,
        hashes: Vec::new(),
    };
    let key = evledger_sigstore::LogKey::from_verifier_key(signer.verifier_key()).expect("key");
    let tlog = evledger_sigstore::tlog_entry::TransparencyLogEntry::new(
        &key,
        &entry.kind,
        &entry.leaf,
        0,
        &proof,
        &checkpoint.note,
    );
    let evledger_entry::EntryBody::Rekor(rekor) = &entry.body else {
        panic!("a Rekor v2 entry");
    };
    let bundle = evledger_sigstore::bundle::Bundle::new(rekor, tlog, None).expect("bundle");
    corpus.write(
        "sigstore_bundle",
        "hashedrekord",
        &serde_json::to_vec(&bundle).expect("JSON"),
    );
    corpus.write("index_keys", "contract-leaf", &contract_leaf);

    // Keys.
    let ed_pem = ed25519_dalek::SigningKey::from_bytes(&[0x11; 32])
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("PEM");
    let p256_pem = p256::ecdsa::SigningKey::from_bytes(&[0x21; 32].into())
        .expect("scalar")
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("PEM");
    corpus.write("pem_key", "ed25519", &tagged(0, 4, ed_pem.as_bytes()));
    corpus.write("pem_key", "p256", &tagged(0, 4, p256_pem.as_bytes()));

    // Checkpoints: log-signed, cosigned, beside unknown signatures.
    let signer = LogSigner::from_signer_key(&note_signer_key(LOG_ORIGIN, &LOG_SEED)).expect("key");
    let witness =
        Cosigner::from_signer_key(&cosigner_key(WITNESS_NAME, &WITNESS_SEED)).expect("key");
    let leaves: Vec<[u8; 32]> = (0..7).map(merkle::filler).collect();
    let signed = signer.sign(7, merkle::root(&leaves)).expect("signing");
    let cosigned = format!(
        "{}{}",
        signed.note,
        witness.cosign(signed.body(), 1_700_000_000)
    );
    let crowded = format!(
        "{}{}",
        signed.note,
        foreign_signature_line("other.example/log", 0x0102_0304, &[9; 64])
    );
    corpus.write("checkpoint", "signed", signed.note.as_bytes());
    corpus.write("checkpoint", "cosigned", cosigned.as_bytes());
    corpus.write("checkpoint", "foreign-signature", crowded.as_bytes());
    let extended = checkpoint_body(LOG_ORIGIN, 7, &signed.root, &["ext line".to_string()]);
    corpus.write(
        "checkpoint",
        "extension-unsigned",
        format!("{extended}\n— x AAAAAAA=\n").as_bytes(),
    );

    // Witness requests and tlog-proof bundles over the same tree.
    let request = AddCheckpoint {
        old_size: 3,
        proof: merkle::consistency(3, &leaves),
        checkpoint: signed.note.clone().into_bytes(),
    };
    corpus.write(
        "witness_add_checkpoint",
        "old-3",
        &tagged(0, 2, &request.to_body()),
    );
    let bundle = TlogProof {
        extra: Some(b"{\"kind\":\"dsse\"}".to_vec()),
        index: 5,
        hashes: merkle::inclusion(5, &leaves),
        checkpoint: signed.note.clone(),
    };
    corpus.write(
        "tlog_proof",
        "index-5",
        &tagged(0, 2, bundle.to_text().as_bytes()),
    );

    // Evidence packs: a real pack for the zip mode (the fuzzer mutates a
    // pack the test key signed), and bytes for the built mode.
    let pack_leaves: Vec<Vec<u8>> = (0..7)
        .map(|i| format!("{{\"kind\":\"dsse\",\"n\":{i}}}").into_bytes())
        .collect();
    let zip = evledger_fuzz::pack::build(&signer, &pack_leaves, &[1, 3, 6], &[b"sbom"]);
    corpus.write("pack_verify", "pack", &tagged(0, 2, &zip));
    corpus.write(
        "pack_verify",
        "built",
        &tagged(
            1,
            2,
            b"\x06\x03\x01\x03\x05{\"kind\":\"dsse\"}\x01sbom\x10\x00\x00\x00\x01",
        ),
    );

    // Tile paths and an entry bundle.
    for (name, path) in [
        ("full", "tile/0/x001/x234/067"),
        ("partial", "tile/1/000.p/3"),
        ("entries", "tile/entries/000.p/232"),
    ] {
        corpus.write("tile_path", name, &tagged(0, 3, path.as_bytes()));
    }
    corpus.write(
        "tile_path",
        "bundle",
        &tagged(2, 3, b"\x00\x01a\x00\x00\x00\x03xyz"),
    );

    // Searches.
    for (name, query) in [
        (
            "hash",
            json!({"hash": format!("sha256:{}", "a".repeat(64))}),
        ),
        (
            "or",
            json!({"kind": "dsse", "workflow": "build", "operator": "or", "pageSize": 10}),
        ),
        (
            "cursor",
            json!({"project": "core", "annotation": "version=1.0", "cursor": "djE6MTIz", "proofs": true}),
        ),
        (
            "key",
            json!({"publicKey": ed_pem, "predicateType": "https://slsa.dev/provenance/v1"}),
        ),
    ] {
        corpus.write("search_query", name, query.to_string().as_bytes());
    }
    corpus.write("search_cursor", "v1-123", &tagged(0, 2, b"djE6MTIz"));

    // Contracts: the module's own example, in YAML and JSON.
    let contract_yaml = "schemaVersion: v1
annotations:
  - name: version
    value: oss
materials:
  - type: CONTAINER_IMAGE
    name: control-plane
    output: true
  - type: SBOM_CYCLONEDX_JSON
    name: sbom
  - type: ARTIFACT
    name: dockerfile
    optional: true
    annotations:
      - name: kind
        value: ''
envAllowList: [CUSTOM_VAR]
runner:
  type: GITHUB_ACTION
";
    corpus.write("contract_yaml", "example", contract_yaml.as_bytes());
    let contract: evledger_contract::Contract =
        evledger_contract::Contract::parse(contract_yaml.as_bytes()).expect("the example parses");
    corpus.write(
        "contract_json",
        "example",
        &serde_json::to_vec_pretty(&contract).expect("JSON"),
    );

    // Materials: the documents of the materials module's tests.
    let materials: [(&str, &[u8]); 6] = [
        ("material_cyclonedx", br#"{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[{"type":"library","name":"serde","version":"1.0.0"}]}"#),
        ("material_cyclonedx", br#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[]}"#),
        ("material_spdx", br#"{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"app","documentNamespace":"https://example.com/app","creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: x"]}}"#),
        ("material_sarif", br#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"clippy"}},"results":[]}]}"#),
        ("material_openvex", br#"{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://example.com/vex/1","author":"ci","timestamp":"2026-01-01T00:00:00Z","statements":[{"vulnerability":{"name":"CVE-2026-1"},"status":"not_affected"}]}"#),
        ("material_junit", br#"<?xml version="1.0"?><testsuites><testsuite name="a" tests="1"><testcase name="t"/></testsuite></testsuites>"#),
    ];
    for (i, (target, doc)) in materials.iter().enumerate() {
        corpus.write(target, &format!("doc-{i}"), doc);
    }
    let image = format!("ghcr.io/acme/app@sha256:{}", "a".repeat(64));
    corpus.write("material_value", "image", image.as_bytes());
    corpus.write("material_value", "string", b"release-1.2");

    // Integration settings: Kafka (no SASL password), gRPC, webhooks, URLs.
    let kafka = json!({"bootstrapServers": "kafka-1:9092,kafka-2:9092", "tls": true,
        "saslMechanism": "SCRAM-SHA-512", "saslUsername": "evledger",
        "defaultTopic": "evledger.entries", "mode": "structured", "messageTimeoutMs": 5000});
    let mut no_password = variant(0, 5);
    no_password.push(0);
    no_password.extend_from_slice(kafka.to_string().as_bytes());
    corpus.write("integration_settings", "kafka", &no_password);
    let grpc = json!({"endpoint": "https://alerts.example:8443", "domain": "alerts.example"});
    let mut no_client_key = variant(1, 5);
    no_client_key.push(0);
    no_client_key.extend_from_slice(grpc.to_string().as_bytes());
    corpus.write("integration_settings", "grpc", &no_client_key);
    let webhook = json!({"url": "https://user:secret@hooks.example.com:8443/in?token=abc&x=1#f"});
    corpus.write(
        "integration_settings",
        "webhook",
        &tagged(2, 5, webhook.to_string().as_bytes()),
    );
    corpus.write(
        "integration_settings",
        "url-ipv6",
        &tagged(3, 5, b"http://[::ffff:10.0.0.1]/hook"),
    );

    // An alert event: entry 5 of the tree above, as the sink encodes it.
    let entry = b"{\"kind\":\"dsse\"}";
    let mut alert_tree = leaves.clone();
    alert_tree[5] = merkle::leaf(entry);
    let alert_checkpoint = signer.sign(7, merkle::root(&alert_tree)).expect("signing");
    let event = Event {
        spec_version: "1.0".into(),
        r#type: "dev.evledger.entry.v1".into(),
        id: hex::encode(alert_tree[5]),
        source: LOG_ORIGIN.into(),
        subject: "build".into(),
        data_content_type: "application/json".into(),
        data: Some(EntryData {
            log_index: 5,
            leaf_hash: alert_tree[5].to_vec(),
            entry: entry.to_vec(),
            kind: "dsse".into(),
            inclusion_proof: Some(ProtoInclusionProof {
                log_index: 5,
                tree_size: 7,
                root_hash: alert_checkpoint.root.to_vec(),
                hashes: merkle::inclusion(5, &alert_tree)
                    .iter()
                    .map(|h| h.to_vec())
                    .collect(),
            }),
            checkpoint: alert_checkpoint.note.clone(),
        }),
    };
    corpus.write(
        "alert_event",
        "event",
        &tagged(0, 3, &event.encode_to_vec()),
    );

    // Structure-driven targets: a few fixed byte patterns to start from.
    for target in [
        "signed_note",
        "dsse_envelope",
        "cosignature",
        "webhook_signature",
        "alert_event",
    ] {
        corpus.write(target, "zeros", &[0; 64]);
        corpus.write(target, "pattern", &(0..=255).collect::<Vec<u8>>());
    }
}

//! The evidence workflow end to end, through the real binary: workflow,
//! contract, robot token, crafting with `evledger att`, offline
//! verification of the saved bundle, and every refusal the contract,
//! the tokens and CAS owe.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use sha2::{Digest, Sha256};

const CONTRACT: &str = "schemaVersion: v1
materials:
  - type: CONTAINER_IMAGE
    name: image
    output: true
  - type: SBOM_CYCLONEDX_JSON
    name: sbom
  - type: SARIF
    name: scan
    optional: true
envAllowList: [BUILD_FLAVOUR]
";

const SBOM: &str = r#"{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[{"type":"library","name":"serde","version":"1.0.0"}]}"#;

/// Runs the CLI against `server` with `token`, from `dir` (where the crafting state lives).
fn evledger(server: &Server, token: &str, dir: &Path, args: &[&str]) -> Output {
    cli_against(server, token, dir, &[("BUILD_FLAVOUR", "release")], args)
}

fn image() -> String {
    format!(
        "ghcr.io/acme/app@sha256:{}",
        hex::encode(Sha256::digest(b"image"))
    )
}

#[test]
fn attestation_crafted_with_the_cli_meets_its_contract_and_verifies_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let work = dir.path();
    let contract = write_file(work, "contract.yaml", CONTRACT.as_bytes());
    let sbom = write_file(work, "sbom.cdx.json", SBOM.as_bytes());

    assert_ok(&evledger(
        &server,
        ADMIN_TOKEN,
        work,
        &[
            "workflow",
            "create",
            "--name",
            "build",
            "--project",
            "app",
            "--team",
            "core",
        ],
    ));
    let out = assert_ok(&evledger(
        &server,
        ADMIN_TOKEN,
        work,
        &["contract", "update", "--workflow", "build", "-f", &contract],
    ));
    assert!(out.contains("contract revision 1"), "{out}");
    let robot = assert_ok(&evledger(
        &server,
        ADMIN_TOKEN,
        work,
        &[
            "robot-account",
            "create",
            "--workflow",
            "build",
            "-o",
            "json",
        ],
    ));
    let robot: serde_json::Value = serde_json::from_str(&robot).expect("JSON");
    let token = robot["token"]
        .as_str()
        .expect("token shown once")
        .to_string();
    let robot_id = robot["id"].as_str().expect("id").to_string();

    // Craft: init, add the SBOM (uploaded to CAS) and the image, push.
    assert_ok(&evledger(
        &server,
        &token,
        work,
        &["att", "init", "--workflow", "build"],
    ));
    assert_ok(&evledger(
        &server,
        &token,
        work,
        &[
            "att",
            "add",
            "--name",
            "sbom",
            "--value",
            &sbom,
            "--annotation",
            "tool=syft",
        ],
    ));
    let status = assert_ok(&evledger(&server, &token, work, &["att", "status"]));
    assert!(status.contains("missing: image"), "{status}");
    assert_ok(&evledger(
        &server,
        &token,
        work,
        &["att", "add", "--name", "image", "--value", &image()],
    ));
    let status = assert_ok(&evledger(&server, &token, work, &["att", "status"]));
    assert!(status.contains("ready to push"), "{status}");
    let key_file = dir.path().join("signer.pem");
    assert_ok(&cli(&["keygen", "--out", &key_file.display().to_string()]));
    let pushed = assert_ok(&evledger(
        &server,
        &token,
        work,
        &[
            "att",
            "push",
            "--key",
            &key_file.display().to_string(),
            "--bundle",
            "build.tlog-proof",
        ],
    ));
    assert!(pushed.contains("attestation logged at index 1"), "{pushed}");

    // Offline verification of the saved bundle, with nothing but the log key.
    let bundle = work.join("build.tlog-proof").display().to_string();
    assert_ok(&cli(&[
        "verify",
        "bundle",
        "--key",
        &server.verifier_key,
        &bundle,
    ]));

    // The SBOM is in CAS under its digest.
    let digest = hex::encode(Sha256::digest(SBOM.as_bytes()));
    let (status, blob) = server.get(&format!("/cas/sha256/{digest}"));
    assert_eq!((status, blob.as_slice()), (200, SBOM.as_bytes()));

    // The same push without the required SBOM: 422 naming it; nothing appended.
    let size = server.tree_size();
    let state = work.join("missing");
    std::fs::create_dir(&state).expect("dir");
    assert_ok(&evledger(
        &server,
        &token,
        &state,
        &["att", "init", "--workflow", "build"],
    ));
    assert_ok(&evledger(
        &server,
        &token,
        &state,
        &["att", "add", "--name", "image", "--value", &image()],
    ));
    let err = assert_fails(&evledger(
        &server,
        &token,
        &state,
        &["att", "push", "--key", &key_file.display().to_string()],
    ));
    assert!(err.contains("422 contract_unmet"), "{err}");
    assert!(
        err.contains("material \"sbom\" (SBOM_CYCLONEDX_JSON) is required"),
        "{err}"
    );
    assert_eq!(server.tree_size(), size);

    // Revision 2 requires the scan; the attestation accepted under
    // revision 1 still verifies, and revision 1 is unchanged.
    let stricter = write_file(
        work,
        "contract2.yaml",
        CONTRACT.replace("    optional: true\n", "").as_bytes(),
    );
    let out = assert_ok(&evledger(
        &server,
        ADMIN_TOKEN,
        work,
        &["contract", "update", "--workflow", "build", "-f", &stricter],
    ));
    assert!(out.contains("contract revision 2"), "{out}");
    assert_ok(&cli(&[
        "verify",
        "bundle",
        "--key",
        &server.verifier_key,
        &bundle,
    ]));
    let (_, first) = server.get_json("/api/v1/workflows/build/contract?revision=1");
    assert_eq!(first["contract"]["materials"][2]["optional"], true);
    assert_eq!(first["logIndex"], 0);

    // A revoked token gets 401.
    assert_ok(&evledger(
        &server,
        ADMIN_TOKEN,
        work,
        &["robot-account", "revoke", "--id", &robot_id],
    ));
    let err = assert_fails(&evledger(
        &server,
        &token,
        work,
        &["att", "push", "--key", &key_file.display().to_string()],
    ));
    assert!(err.contains("401 unauthorized"), "{err}");
    let list = assert_ok(&evledger(
        &server,
        ADMIN_TOKEN,
        work,
        &["robot-account", "list", "--workflow", "build", "-o", "json"],
    ));
    let list: serde_json::Value = serde_json::from_str(&list).expect("JSON");
    assert!(list["robotAccounts"][0]["revokedAt"].is_u64(), "{list}");
    assert!(list["robotAccounts"][0]["lastUsedAt"].is_u64(), "{list}");
    assert!(
        list["robotAccounts"][0].get("tokenHash").is_none(),
        "{list}"
    );
}

#[test]
fn cas_stores_only_what_hashes_to_its_name_and_writes_need_a_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let good = hex::encode(Sha256::digest(b"blob"));
    let wrong = hex::encode(Sha256::digest(b"other"));

    let put = |client: &reqwest::blocking::Client, digest: &str, body: &[u8]| {
        let r = client
            .put(format!("{}/cas/sha256/{digest}", server.url))
            .body(body.to_vec())
            .send()
            .expect("PUT");
        let status = r.status().as_u16();
        (status, r.json::<serde_json::Value>().expect("JSON"))
    };
    let (status, body) = put(&http(), &wrong, b"blob");
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "digest_mismatch");
    assert_eq!(
        server.get(&format!("/cas/sha256/{wrong}")).0,
        404,
        "nothing stored"
    );
    let (status, body) = put(&anonymous_http(), &good, b"blob");
    assert_eq!(status, 401, "{body}");
    assert_eq!(server.get(&format!("/cas/sha256/{good}")).0, 404);
    let (status, _) = put(&http(), &good, b"blob");
    assert_eq!(status, 201);
    let head = anonymous_http()
        .head(format!("{}/cas/sha256/{good}", server.url))
        .send()
        .expect("HEAD");
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(put(&http(), "not-a-digest", b"blob").0, 400);
    // Blobs may exceed the API's 256 KiB body limit: CAS has its own.
    let big = vec![7u8; 3 << 20];
    let (status, body) = put(&http(), &hex::encode(Sha256::digest(&big)), &big);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["size"], 3 << 20);

    // Log writes need a token too; reads stay public.
    let key = TestKey::ed25519();
    let r = anonymous_http()
        .post(format!("{}/api/v1/log/entries", server.url))
        .json(&attestation(&key, "anon"))
        .send()
        .expect("POST");
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(server.tree_size(), 0);
    let r = anonymous_http()
        .get(format!("{}/api/v1/log", server.url))
        .send()
        .expect("GET");
    assert_eq!(r.status().as_u16(), 200);

    // Contracts are validated with the field named; nothing is logged.
    let r = http()
        .post(format!("{}/api/v1/workflows", server.url))
        .json(&serde_json::json!({"name": "build", "project": "app"}))
        .send()
        .expect("POST");
    assert_eq!(r.status().as_u16(), 201);
    let bad = CONTRACT.replace("output: true", "outptu: true");
    let r = http()
        .put(format!("{}/api/v1/workflows/build/contract", server.url))
        .body(bad)
        .send()
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 400);
    let body: serde_json::Value = r.json().expect("JSON");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("outptu"),
        "{body}"
    );
    assert_eq!(server.tree_size(), 0);
}

//! The auditor console end to end: a real ledger with a workflow, contract
//! revisions, attestations and 1,000 entries; Debian's Chromium driven by
//! Playwright (tests/console/console.test.mjs) pins the key, searches,
//! verifies, pages, checks consistency, meets a forging proxy and runs
//! without JavaScript; then the evidence packs it and the CLI downloaded
//! are verified offline, and a pack with one byte changed is refused.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Entries in the test log.
const ENTRIES: u64 = 1000;

const CONTRACT: &str = "schemaVersion: v1
materials:
  - type: CONTAINER_IMAGE
    name: image
    output: true
  - type: SBOM_CYCLONEDX_JSON
    name: sbom
";

const SBOM: &str = r#"{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[{"type":"library","name":"console-test","version":"1.0.0"}]}"#;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

fn evledger(server: &Server, token: &str, dir: &Path, args: &[&str]) -> Output {
    cli_against(server, token, dir, &[], args)
}

/// A workflow `build` with two contract revisions and one attestation
/// under each, pushed by its robot account with the CLI.
fn workflow_with_attestations(server: &Server, work: &Path) {
    let contract = write_file(work, "contract.yaml", CONTRACT.as_bytes());
    let sbom = write_file(work, "sbom.cdx.json", SBOM.as_bytes());
    let admin = |args: &[&str]| assert_ok(&evledger(server, ADMIN_TOKEN, work, args));
    admin(&[
        "workflow",
        "create",
        "--name",
        "build",
        "--project",
        "app",
        "--team",
        "core",
    ]);
    admin(&["contract", "update", "--workflow", "build", "-f", &contract]);
    let robot = admin(&[
        "robot-account",
        "create",
        "--workflow",
        "build",
        "-o",
        "json",
    ]);
    let robot: serde_json::Value = serde_json::from_str(&robot).expect("JSON");
    let token = robot["token"].as_str().expect("token").to_string();
    let key = work.join("signer.pem").display().to_string();
    assert_ok(&cli(&["keygen", "--out", &key]));
    for (n, image) in ["one", "two"].iter().enumerate() {
        if n == 1 {
            let looser = write_file(
                work,
                "contract2.yaml",
                format!("{CONTRACT}annotations:\n  - name: release\n").as_bytes(),
            );
            admin(&["contract", "update", "--workflow", "build", "-f", &looser]);
        }
        let state = work.join(format!("craft-{image}"));
        std::fs::create_dir(&state).expect("dir");
        let push = |args: &[&str]| assert_ok(&evledger(server, &token, &state, args));
        push(&["att", "init", "--workflow", "build"]);
        push(&["att", "add", "--name", "sbom", "--value", &sbom]);
        let reference = format!(
            "ghcr.io/acme/app@sha256:{}",
            hex::encode(Sha256::digest(image.as_bytes()))
        );
        push(&["att", "add", "--name", "image", "--value", &reference]);
        if n == 1 {
            push(&[
                "att",
                "push",
                "--key",
                &key,
                "--annotation",
                "release=2026.12",
            ]);
        } else {
            push(&["att", "push", "--key", &key]);
        }
    }
}

/// A second ledger over a copy of `key_file` (or its own key), with
/// entries of its own; returns its latest checkpoint and its key.
fn other_ledger(dir: &Path, key_file: Option<&Path>) -> (String, String) {
    std::fs::create_dir_all(dir).expect("dir");
    if let Some(key) = key_file {
        std::fs::copy(key, dir.join("signing.key")).expect("copy the log key");
    }
    let server = Server::start(dir);
    let key = TestKey::ed25519();
    for i in 0..3 {
        let (status, _) = server.submit(&attestation(&key, &format!("fork-{i}")));
        assert_eq!(status, 201);
    }
    let (_, note) = server.get("/checkpoint");
    let key = server.verifier_key.clone();
    server.kill();
    (String::from_utf8(note).expect("UTF-8 checkpoint"), key)
}

#[test]
fn the_console_verifies_in_the_browser_and_its_packs_verify_offline() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "the console tests need Debian's chromium: run scripts/setup"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path();
    let data = work.join("log");
    let server = Server::start(&data);
    workflow_with_attestations(&server, work);

    let key = TestKey::ed25519();
    let size = server.tree_size();
    let mut digest = (String::new(), 0);
    for i in size..ENTRIES {
        let name = format!("artifact-{i}");
        let (status, answer) = server.submit(&attestation(&key, &name));
        assert_eq!(status, 201, "{answer}");
        if i == 500 {
            let hex = hex::encode(Sha256::digest(name.as_bytes()));
            digest = (
                format!("sha256:{hex}"),
                answer["logIndex"].as_u64().expect("index"),
            );
        }
    }
    assert_eq!(server.tree_size(), ENTRIES);
    // The index has caught up with the last entry.
    let (status, answer) = http()
        .post(format!("{}/api/v1/index/retrieve", server.url))
        .json(&json!({"hash": digest.0, "minLogIndex": ENTRIES - 1}))
        .send()
        .map(|r| {
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().expect("JSON"),
            )
        })
        .expect("search");
    assert_eq!(status, 200, "{answer}");

    let (fork, same_key) = other_ledger(&work.join("fork"), Some(&data.join("signing.key")));
    assert_eq!(same_key, server.verifier_key);
    let (other, other_key) = other_ledger(&work.join("other"), None);
    assert!(fork.starts_with(server.verifier_key.split('+').next().expect("origin")));

    let screenshots = std::env::var_os("EVLEDGER_UI_SCREENSHOTS")
        .map_or_else(|| work.join("screenshots"), PathBuf::from);
    let ui_pack = work.join("ui-pack.zip");
    let out = Command::new("node")
        .arg(repo().join("tests/console/console.test.mjs"))
        .current_dir(repo().join("tests/console"))
        .env("EVLEDGER_URL", &server.url)
        .env("EVLEDGER_KEY", &server.verifier_key)
        .env("EVLEDGER_DIGEST", &digest.0)
        .env("EVLEDGER_DIGEST_INDEX", digest.1.to_string())
        .env("EVLEDGER_ENTRIES", ENTRIES.to_string())
        .env("EVLEDGER_WORKFLOW", "build")
        .env("EVLEDGER_FORK_CHECKPOINT", &fork)
        .env("EVLEDGER_OTHER_CHECKPOINT", &other)
        .env("EVLEDGER_SIGNED_SIZE", "500")
        .env("EVLEDGER_PACK_OUT", &ui_pack)
        .env("EVLEDGER_SCREENSHOTS", &screenshots)
        .output()
        .expect("run node (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The pack the browser downloaded verifies with nothing but the key.
    let ui_pack = ui_pack.display().to_string();
    let verified = assert_ok(&cli(&[
        "verify",
        "pack",
        "--key",
        &server.verifier_key,
        &ui_pack,
    ]));
    assert!(verified.contains("2 contract"), "{verified}");

    // The same from the CLI, which verifies before it says it is done.
    let cli_pack = work.join("cli-pack.zip").display().to_string();
    assert_ok(&cli(&[
        "pack",
        "--server",
        &server.url,
        "--workflow",
        "build",
        "--blobs",
        "--key",
        &server.verifier_key,
        "--out",
        &cli_pack,
    ]));
    assert_ok(&cli(&[
        "verify",
        "pack",
        "--key",
        &server.verifier_key,
        &cli_pack,
    ]));

    // Another log's key verifies nothing in it.
    assert_fails(&cli(&["verify", "pack", "--key", &other_key, &cli_pack]));

    // One byte changed anywhere, here in an entry's leaf: refused.
    let mut bytes = std::fs::read(&cli_pack).expect("pack");
    let at = bytes
        .windows(b"\"payloadType\"".len())
        .position(|w| w == b"\"payloadType\"")
        .expect("a leaf in the pack");
    bytes[at + 2] ^= 0x20;
    let tampered = write_file(work, "tampered.zip", &bytes);
    assert_fails(&cli(&[
        "verify",
        "pack",
        "--key",
        &server.verifier_key,
        &tampered,
    ]));
}

#[test]
fn the_browser_verification_module_matches_the_reference_vectors() {
    let out = Command::new("node")
        .args(["--test", "verify.test.mjs"])
        .current_dir(repo().join("tests/console"))
        .output()
        .expect("run node (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "node --test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// GET `path` without any token; (status, content type, body).
fn page(server: &Server, path: &str) -> (u16, String, String) {
    let r = anonymous_http()
        .get(format!("{}{path}", server.url))
        .send()
        .expect("GET");
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, kind, r.text().expect("body"))
}

#[test]
fn the_console_refuses_bad_input_with_4xx_and_shows_admin_views_only_to_an_admin_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path();
    let server = Server::start(&work.join("log"));
    workflow_with_attestations(&server, work);
    let size = server.tree_size();

    for (path, status, kind) in [
        ("/entries?before=ten", 400, "text/html"),
        ("/entries/99999999999999999999", 400, "text/html"),
        ("/entries/-1", 400, "text/html"),
        (&format!("/entries/{size}") as &str, 404, "text/html"),
        ("/entries/0/envelope", 404, "text/html"),
        ("/search?hash=nothex", 400, "text/html"),
        ("/search?keyFingerprint=abc", 400, "text/html"),
        ("/workflows/nope", 404, "text/html"),
        ("/workflows/build?from=x&to=2", 400, "text/html"),
        ("/consistency?first=-3", 400, "text/html"),
        ("/assets/../Cargo.toml", 404, "application/json"),
        ("/assets/nothing.js", 404, "application/json"),
        ("/api/v1/log/checkpoints/ten", 400, "application/json"),
        (
            &format!("/api/v1/log/checkpoints/{}", size + 1) as &str,
            400,
            "application/json",
        ),
        ("/api/v1/packs", 400, "application/json"),
        (
            "/api/v1/packs?workflow=build&bogus=1",
            400,
            "application/json",
        ),
        (
            "/api/v1/packs?workflow=build&from=5&to=2",
            400,
            "application/json",
        ),
        (
            "/api/v1/packs?workflow=build&blobs=maybe",
            400,
            "application/json",
        ),
        ("/api/v1/packs?workflow=nope", 404, "application/json"),
        ("/api/v1/packs?hash=nothex", 400, "application/json"),
        ("/packs/summary?workflow=nope", 404, "text/html"),
    ] {
        let (got, got_kind, body) = page(&server, path);
        assert_eq!(got, status, "GET {path}: {body}");
        assert!(got_kind.starts_with(kind), "GET {path}: {got_kind}");
        if kind == "application/json" {
            let error: serde_json::Value = serde_json::from_str(&body).expect("JSON error");
            assert!(
                error["code"].is_string() && error["message"].is_string(),
                "{path}: {body}"
            );
        }
    }
    assert_eq!(
        server.tree_size(),
        size,
        "a refused request appended something"
    );

    // Pages carry the console's CSP; the envelope of an attestation is there.
    let r = anonymous_http()
        .get(format!("{}/entries/1", server.url))
        .send()
        .expect("GET");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .expect("CSP");
    assert!(
        csp.starts_with("default-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(page(&server, "/entries/1/envelope").0, 200);

    // Robot accounts show to an admin session only, by id, never a token.
    let (_, _, anonymous) = page(&server, "/workflows/build");
    assert!(!anonymous.contains("Robot accounts"), "shown to anyone");
    let no_redirects = || {
        reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    };
    let wrong = no_redirects()
        .post(format!("{}/login", server.url))
        .form(&[("token", "not-the-admin-token")])
        .send()
        .expect("POST /login");
    assert_eq!(wrong.status().as_u16(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    let json_body = no_redirects()
        .post(format!("{}/login", server.url))
        .json(&json!({"token": ADMIN_TOKEN}))
        .send()
        .expect("POST /login");
    assert_eq!(json_body.status().as_u16(), 400);
    let signed_in = no_redirects()
        .post(format!("{}/login", server.url))
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .expect("POST /login");
    assert_eq!(signed_in.status().as_u16(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(ADMIN_TOKEN),
        "the token itself is the cookie"
    );
    let session = cookie.split(';').next().expect("name=value").to_string();
    let admin_page = |session: &str| {
        no_redirects()
            .get(format!("{}/workflows/build", server.url))
            .header("cookie", session)
            .send()
            .expect("GET")
            .text()
            .expect("body")
    };
    let shown = admin_page(&session);
    assert!(
        shown.contains("Robot accounts") && shown.contains("ra-"),
        "not shown to the admin"
    );
    assert!(!shown.contains("evlr_"), "a robot token is shown");
    assert!(!admin_page("evledger_console=0000").contains("Robot accounts"));
    let out = no_redirects()
        .post(format!("{}/logout", server.url))
        .header("cookie", &session)
        .send()
        .expect("POST /logout");
    assert_eq!(out.status().as_u16(), 303);
    assert!(
        !admin_page(&session).contains("Robot accounts"),
        "the session outlived sign-out"
    );
}

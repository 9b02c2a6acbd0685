//! Hardening of the evidence workflow against hostile callers (issue 12),
//! through the real binary: revocation wins every race with pushes in
//! flight, an attestation cannot pick a weaker (older) contract revision,
//! revision numbers stay dense and unique when clients hang up mid-update,
//! and an unauthenticated write is refused before its body is read.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The predicate type of evledger attestations (evidence/src/attestation.rs).
const PREDICATE_TYPE: &str = "https://evledger.dev/attestation/v1";

/// A contract that asks for nothing.
const LOOSE: &str = "schemaVersion: v1\n";

/// The same contract tightened: a `version` string is required.
const STRICT: &str = "schemaVersion: v1
materials:
  - type: STRING
    name: version
";

fn create_workflow(server: &Server, name: &str, project: &str) {
    let r = http()
        .post(format!("{}/api/v1/workflows", server.url))
        .json(&json!({"name": name, "project": project}))
        .send()
        .expect("POST workflow");
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap_or_default());
}

fn update_contract(server: &Server, workflow: &str, text: &str) -> (u16, Value) {
    let r = http()
        .put(format!(
            "{}/api/v1/workflows/{workflow}/contract",
            server.url
        ))
        .body(text.to_string())
        .send()
        .expect("PUT contract");
    let status = r.status().as_u16();
    (status, r.json().expect("JSON"))
}

/// A new robot account of `workflow`: (id, token).
fn create_robot(server: &Server, workflow: &str) -> (String, String) {
    let r = http()
        .post(format!(
            "{}/api/v1/workflows/{workflow}/robot-accounts",
            server.url
        ))
        .send()
        .expect("POST robot account");
    assert_eq!(r.status().as_u16(), 201);
    let robot: Value = r.json().expect("JSON");
    (
        robot["id"].as_str().expect("id").to_string(),
        robot["token"].as_str().expect("token").to_string(),
    )
}

fn robots(server: &Server, workflow: &str) -> Vec<Value> {
    let (status, list) = server.get_json(&format!("/api/v1/workflows/{workflow}/robot-accounts"));
    assert_eq!(status, 200, "{list}");
    list["robotAccounts"]
        .as_array()
        .expect("robotAccounts")
        .clone()
}

fn robot<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("robot account {id} not listed"))
}

/// An evledger attestation about artifact `subject`, crafted under
/// `revision` of `workflow`'s contract, signed by `key`.
fn evledger_attestation(
    key: &TestKey,
    workflow: &str,
    project: &str,
    revision: u64,
    subject: &str,
    materials: Value,
) -> Value {
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": subject, "digest": {"sha256": hex::encode(Sha256::digest(subject.as_bytes()))}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "workflow": {"name": workflow, "project": project},
            "contractRevision": revision,
            "materials": materials,
            "runner": {"type": "RUNNER_TYPE_UNSPECIFIED"},
        },
    });
    let payload = serde_json::to_vec(&statement).expect("JSON");
    dsse_submission(key, "application/vnd.in-toto+json", &payload)
}

/// POSTs `submission` with `token`: (status, body).
fn push(
    client: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    submission: &Value,
) -> (u16, Value) {
    let r = client
        .post(format!("{url}/api/v1/log/entries"))
        .bearer_auth(token)
        .json(submission)
        .send()
        .expect("POST entry");
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// Revoke rounds in the race test (each with a fresh robot account).
const REVOKE_ROUNDS: usize = 20;
/// Concurrent pushers per round.
const PUSHERS: usize = 6;
/// Most pushes one pusher sends in a round.
const MAX_PUSHES: usize = 300;
/// Pushes the revoker waits for before it revokes.
const PUSHES_BEFORE_REVOKE: usize = 6;
/// Pushes sent after the DELETE answered before the pushers are stopped.
const PUSHES_AFTER_REVOKE: usize = 12;
/// Bound on each wait of a round.
const ROUND_WAIT: Duration = Duration::from_secs(30);

/// One push of a pusher: when it was sent, and the answer's status.
struct Sent {
    at: Instant,
    status: u16,
    body: Value,
}

#[test]
fn revocation_wins_every_race_with_concurrent_pushes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("log");
    let server = Server::start(&data);
    create_workflow(&server, "build", "app");
    assert_eq!(update_contract(&server, "build", LOOSE).0, 201);
    let key = TestKey::ed25519();
    let mut revoked = Vec::new();

    for round in 0..REVOKE_ROUNDS {
        let (id, token) = create_robot(&server, "build");
        let sent: Mutex<Vec<Sent>> = Mutex::new(Vec::new());
        let stop = AtomicBool::new(false);
        let count = |pred: &dyn Fn(&Sent) -> bool| {
            sent.lock()
                .expect("lock")
                .iter()
                .filter(|s| pred(s))
                .count()
        };
        let answered = std::thread::scope(|scope| {
            for pusher in 0..PUSHERS {
                let (sent, stop, key, token, url) = (&sent, &stop, &key, &token, &server.url);
                scope.spawn(move || {
                    let client = anonymous_http();
                    for n in 0..MAX_PUSHES {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let submission = evledger_attestation(
                            key,
                            "build",
                            "app",
                            1,
                            &format!("round-{round}-pusher-{pusher}-push-{n}"),
                            json!([]),
                        );
                        let at = Instant::now();
                        let (status, body) = push(&client, url, token, &submission);
                        sent.lock().expect("lock").push(Sent { at, status, body });
                    }
                });
            }
            let deadline = Instant::now() + ROUND_WAIT;
            while count(&|s| s.status == 201) < PUSHES_BEFORE_REVOKE && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            let r = http()
                .delete(format!("{}/api/v1/robot-accounts/{id}", server.url))
                .send()
                .expect("DELETE robot account");
            let answered = Instant::now();
            assert_eq!(r.status().as_u16(), 200, "round {round}: revoke");
            let deadline = Instant::now() + ROUND_WAIT;
            while count(&|s| s.at >= answered) < PUSHES_AFTER_REVOKE && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            stop.store(true, Ordering::SeqCst);
            answered
        });
        let sent = sent.into_inner().expect("lock");
        assert!(
            sent.iter().any(|s| s.status == 201),
            "round {round}: no push succeeded before the revocation: {:?}",
            sent.iter()
                .map(|s| (s.status, &s.body))
                .take(3)
                .collect::<Vec<_>>()
        );
        let after: Vec<&Sent> = sent.iter().filter(|s| s.at >= answered).collect();
        assert!(
            after.len() >= PUSHES_AFTER_REVOKE,
            "round {round}: only {} pushes were sent after the DELETE answered",
            after.len()
        );
        let late: Vec<(u16, &Value)> = after
            .iter()
            .filter(|s| s.status != 401)
            .map(|s| (s.status, &s.body["code"]))
            .collect();
        assert!(
            late.is_empty(),
            "round {round}: {} of {} pushes sent after the DELETE answered were not refused 401: {:?}",
            late.len(),
            after.len(),
            &late[..late.len().min(5)]
        );
        let list = robots(&server, "build");
        let account = robot(&list, &id);
        assert!(
            account["revokedAt"].is_u64(),
            "round {round}: revocation lost after the pushers stopped: {account}"
        );
        assert!(account["lastUsedAt"].is_u64(), "{account}");
        revoked.push((id, token));
    }

    // The revocations are durable: after a restart every account is still
    // revoked and its token still refused.
    server.kill();
    let server = Server::start(&data);
    let list = robots(&server, "build");
    for (id, token) in &revoked {
        let account = robot(&list, id);
        assert!(
            account["revokedAt"].is_u64(),
            "revocation lost at restart: {account}"
        );
        let submission = evledger_attestation(&key, "build", "app", 1, id, json!([]));
        let (status, body) = push(&anonymous_http(), &server.url, token, &submission);
        assert_eq!(status, 401, "{body}");
    }
}

#[test]
fn an_attestation_naming_an_older_contract_revision_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    create_workflow(&server, "release", "app");
    let (status, rev) = update_contract(&server, "release", LOOSE);
    assert_eq!((status, &rev["revision"]), (201, &json!(1)), "{rev}");
    let (_, token) = create_robot(&server, "release");
    let key = TestKey::ed25519();
    let client = anonymous_http();

    let (status, body) = push(
        &client,
        &server.url,
        &token,
        &evledger_attestation(&key, "release", "app", 1, "v1", json!([])),
    );
    assert_eq!(status, 201, "{body}");

    // The admin tightens the contract: revision 2 requires a version.
    let (status, rev) = update_contract(&server, "release", STRICT);
    assert_eq!((status, &rev["revision"]), (201, &json!(2)), "{rev}");

    // Pushing under revision 1 (which required nothing) is refused.
    let size = server.tree_size();
    let (status, body) = push(
        &client,
        &server.url,
        &token,
        &evledger_attestation(&key, "release", "app", 1, "v2-downgraded", json!([])),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "contract_outdated", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("revision 1") && message.contains("revision 2"),
        "the message names both revisions: {message}"
    );
    assert_eq!(server.tree_size(), size, "nothing appended");

    // Under revision 2 the new requirement applies, and meeting it works.
    let (status, body) = push(
        &client,
        &server.url,
        &token,
        &evledger_attestation(&key, "release", "app", 2, "v2-bare", json!([])),
    );
    assert_eq!(
        (status, &body["code"]),
        (422, &json!("contract_unmet")),
        "{body}"
    );
    assert_eq!(server.tree_size(), size, "nothing appended");
    let (status, body) = push(
        &client,
        &server.url,
        &token,
        &evledger_attestation(
            &key,
            "release",
            "app",
            2,
            "v2",
            json!([{"name": "version", "type": "STRING", "value": "2.0.0"}]),
        ),
    );
    assert_eq!(status, 201, "{body}");
}

/// Contract updates whose client hangs up at once.
const DROPPED_UPDATES: usize = 40;

/// Writes `head` and `body` on a fresh connection to `server` and closes
/// it without reading the answer.
fn send_and_hang_up(server: &Server, head: &str, body: &[u8]) {
    let address = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect");
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    drop(stream);
}

/// Every `contract` entry in the log: (workflow, revision, log index).
fn logged_contracts(server: &Server) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    for index in 0..server.tree_size() {
        let (status, entry) = server.get_json(&format!("/api/v1/log/entries/{index}"));
        assert_eq!(status, 200, "{entry}");
        if entry["entry"]["kind"] == "contract" {
            let spec = &entry["entry"]["spec"];
            out.push((
                spec["workflow"].as_str().expect("workflow").to_string(),
                spec["revision"].as_u64().expect("revision"),
                index,
            ));
        }
    }
    out
}

#[test]
fn contract_revisions_stay_dense_and_unique_when_clients_hang_up_mid_update() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let workflows = ["alpha", "beta"];
    for workflow in workflows {
        create_workflow(&server, workflow, "app");
    }
    let address = server.url.trim_start_matches("http://").to_string();
    for round in 0..DROPPED_UPDATES {
        let workflow = workflows[round % 2];
        let body =
            format!("schemaVersion: v1\nannotations:\n  - name: round\n    value: \"{round}\"\n");
        let head = format!(
            "PUT /api/v1/workflows/{workflow}/contract HTTP/1.1\r\nHost: {address}\r\n\
             Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/yaml\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        send_and_hang_up(&server, &head, body.as_bytes());
    }
    // Let the server finish what it started: the log stops growing.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut size = server.tree_size();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = server.tree_size();
        if now == size {
            break;
        }
        size = now;
    }
    for workflow in workflows {
        let (status, rev) = update_contract(
            &server,
            workflow,
            "schemaVersion: v1\nannotations:\n  - name: round\n    value: final\n",
        );
        assert_eq!(status, 201, "{rev}");
    }

    let logged = logged_contracts(&server);
    for workflow in workflows {
        let mut revisions: Vec<u64> = logged
            .iter()
            .filter(|(w, _, _)| w == workflow)
            .map(|(_, r, _)| *r)
            .collect();
        revisions.sort_unstable();
        let dense: Vec<u64> = (1..=revisions.len() as u64).collect();
        assert_eq!(
            revisions, dense,
            "workflow {workflow}: contract entries in the log must number 1..=n, each once"
        );
    }
    // Every logged revision is on record with its entry, and the latest is
    // the last one logged (polled: an update may still be committing).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logged = logged_contracts(&server);
        let mismatch = logged.iter().find(|(workflow, revision, index)| {
            let (status, rev) = server.get_json(&format!(
                "/api/v1/workflows/{workflow}/contract?revision={revision}"
            ));
            status != 200 || rev["logIndex"] != *index
        });
        let latest_ok = workflows.iter().all(|workflow| {
            let last = logged.iter().filter(|(w, _, _)| w == workflow).count() as u64;
            server
                .get_json(&format!("/api/v1/workflows/{workflow}/contract"))
                .1["revision"]
                == last
        });
        if mismatch.is_none() && latest_ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "revision records disagree with the log: {mismatch:?}, latest ok: {latest_ok}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How long an unauthenticated write may take to be refused.
const PROMPT: Duration = Duration::from_secs(15);

/// Sends `head` (declaring a body) on a fresh connection, never sends the
/// body, and returns the status line of the answer.
fn status_without_body(server: &Server, head: &str) -> String {
    let address = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(PROMPT)).expect("timeout");
    stream.write_all(head.as_bytes()).expect("write head");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no answer within {PROMPT:?} to {head:?}: {e}"),
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or_default().to_string()
}

#[test]
fn an_unauthenticated_write_is_refused_before_its_body_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    create_workflow(&server, "build", "app");
    let (_, robot_token) = create_robot(&server, "build");
    let address = server.url.trim_start_matches("http://").to_string();
    let writes = [
        ("POST", "/api/v1/workflows"),
        ("PUT", "/api/v1/workflows/build/contract"),
        ("POST", "/api/v1/log/entries"),
        ("POST", "/api/v1/integrations"),
        ("POST", "/api/v1/integrations/hook/attachments"),
        ("POST", "/api/v1/admin/backup"),
    ];
    // A declared body well under the request limit, never sent.
    let declared = 200_000;
    for (method, path) in writes {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {declared}\r\n\r\n"
        );
        let status = status_without_body(&server, &head);
        assert!(
            status.starts_with("HTTP/1.1 401"),
            "{method} {path}: {status}"
        );
    }
    // A robot's token on an admin write: 403, also before the body.
    for (method, path) in [
        ("POST", "/api/v1/workflows"),
        ("PUT", "/api/v1/workflows/build/contract"),
    ] {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {robot_token}\r\n\
             Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
        );
        let status = status_without_body(&server, &head);
        assert!(
            status.starts_with("HTTP/1.1 403"),
            "{method} {path}: {status}"
        );
    }
    assert_eq!(server.tree_size(), 0, "nothing appended");

    // Searching stays public; a token still works for writes with a body.
    let r = anonymous_http()
        .post(format!("{}/api/v1/index/retrieve", server.url))
        .json(&json!({"workflow": "build"}))
        .send()
        .expect("POST retrieve");
    assert_ne!(r.status().as_u16(), 401, "search is public");
    let key = TestKey::ed25519();
    let (status, body) = push(
        &anonymous_http(),
        &server.url,
        ADMIN_TOKEN,
        &attestation(&key, "hello"),
    );
    assert_eq!(status, 201, "{body}");
}

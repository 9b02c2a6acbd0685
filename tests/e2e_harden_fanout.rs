//! Hardening of the fan-out and of the log client (issue 12), against the
//! real binary: webhooks never follow redirects, sign the timestamp with
//! the body, keep credentials in their URL out of listings and logs, and
//! can be kept off private networks; `evledger monitor` tells "could not
//! check" (exit 1) from misbehaviour (exit 3) when the log fails to serve,
//! and reads no more than its cap of an endless answer.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::webhook::{expected_signature, Answer, Check, Receiver};
use common::*;
use evledger_fanout::webhook::{verify_signature, SignatureError, DEFAULT_TOLERANCE};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const SINK: &str = "hook/build";

/// Registers webhook `hook` at `url` and attaches it to the workflow.
fn register_and_attach(server: &Server, dir: &Path, url: &str, secret: &[u8]) -> String {
    let secret_file = write_file(dir, "hook.secret", secret);
    let registered = assert_ok(&admin(
        server,
        &[
            "integration",
            "register",
            "webhook",
            "--name",
            "hook",
            "--webhook-url",
            url,
            "--secret-file",
            &secret_file,
            "-o",
            "json",
        ],
    ));
    assert_ok(&admin(
        server,
        &[
            "integration",
            "attach",
            "--integration",
            "hook",
            "--workflow",
            WORKFLOW,
        ],
    ));
    registered
}

#[test]
fn webhook_redirect_is_a_failed_delivery_never_delivered() {
    const SECRET: &[u8] = b"redirect-test-secret";
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let receiver = Receiver::start(SECRET, Check::Helper);
    receiver.set_answer(Answer::Redirect);
    create_workflow(&server, dir.path());
    register_and_attach(&server, dir.path(), &receiver.url(), SECRET);
    let (status, body) = server.submit(&workflow_attestation(&TestKey::ed25519(), 0));
    assert_eq!(status, 201, "{body}");

    // Three attempts answered 302: each a failure, none followed.
    wait_for("three redirected attempts", Duration::from_secs(60), || {
        receiver.seen().len() >= 3 || receiver.moved() > 0
    });
    let failed = sink_metric(&server, SINK, "evledger_sink_failed_total");
    assert!(failed >= 2.0, "failed attempts counted: {failed}");
    assert_eq!(receiver.moved(), 0, "the sink followed the redirect");
    assert_eq!(
        sink_metric(&server, SINK, "evledger_sink_delivered_total"),
        0.0
    );
    let (_, list) = server.get_json("/api/v1/integrations");
    let cursor = &list["integrations"][0]["attachments"][0];
    assert_eq!(cursor["lag"], 1, "the entry is still waiting: {list}");
    wait_for("another failed attempt", Duration::from_secs(60), || {
        sink_metric(&server, SINK, "evledger_sink_failed_total") > failed
    });

    // The receiver answers 2xx again: the entry is delivered, once.
    receiver.set_answer(Answer::Verdict);
    wait_for("the delivery", Duration::from_secs(60), || {
        sink_metric(&server, SINK, "evledger_sink_delivered_total") >= 1.0
    });
    assert_eq!(receiver.delivered().len(), 1, "{:?}", receiver.seen());
    assert_eq!(receiver.moved(), 0);
    let (_, list) = server.get_json("/api/v1/integrations");
    assert_eq!(
        list["integrations"][0]["attachments"][0]["lag"], 0,
        "{list}"
    );
}

#[test]
fn webhook_signature_covers_the_timestamp_and_stale_ones_are_refused() {
    const SECRET: &[u8] = b"signature-test-secret";
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let receiver = Receiver::start(SECRET, Check::Helper);
    create_workflow(&server, dir.path());
    register_and_attach(&server, dir.path(), &receiver.url(), SECRET);
    let (status, body) = server.submit(&workflow_attestation(&TestKey::ed25519(), 0));
    assert_eq!(status, 201, "{body}");
    wait_for("the delivery", Duration::from_secs(60), || {
        !receiver.seen().is_empty()
    });
    let delivery = receiver.seen()[0].clone();

    // The receiver's helper accepted it, and the MAC is the documented one:
    // HMAC-SHA256(secret, "<timestamp>.<body>"), recomputed here.
    assert!(delivery.accepted, "the helper refused a genuine delivery");
    assert_eq!(
        delivery.signature,
        expected_signature(SECRET, &delivery.timestamp, &delivery.body)
    );
    let event: Value = serde_json::from_slice(&delivery.body).expect("CloudEvent");
    assert_eq!(event["deliverytime"].to_string(), delivery.timestamp);
    let sent: u64 = delivery.timestamp.parse().expect("Unix seconds");
    assert!(unix_now().abs_diff(sent) <= DEFAULT_TOLERANCE.as_secs());

    // The same delivery replayed with a fresh timestamp header: refused.
    let fresh = (sent + 1).to_string();
    assert_eq!(
        receiver.replay(&fresh, &delivery.signature, &delivery.body),
        401
    );
    assert_eq!(
        verify_signature(
            SECRET,
            &fresh,
            &delivery.signature,
            &delivery.body,
            unix_now(),
            DEFAULT_TOLERANCE
        ),
        Err(SignatureError::Mismatch)
    );
    // A correctly signed delivery from ten minutes ago: refused as stale.
    let old = (unix_now() - 600).to_string();
    let old_signature = expected_signature(SECRET, &old, &delivery.body);
    assert_eq!(receiver.replay(&old, &old_signature, &delivery.body), 401);
    assert!(matches!(
        verify_signature(
            SECRET,
            &old,
            &old_signature,
            &delivery.body,
            unix_now(),
            DEFAULT_TOLERANCE
        ),
        Err(SignatureError::Stale { .. })
    ));
    // The genuine headers still verify (dedup by event id is the
    // receiver's business), so the refusals above are the timestamp's.
    assert_eq!(
        receiver.replay(&delivery.timestamp, &delivery.signature, &delivery.body),
        200
    );
}

#[test]
fn webhook_url_credentials_are_never_listed_or_logged() {
    const SECRET: &[u8] = b"credentials-test-secret";
    const PASSWORD: &str = "pa55word-in-the-url";
    const TOKEN: &str = "t0ken-in-the-query";
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("log");
    let server = Server::start(&data_dir);
    let receiver = Receiver::start(SECRET, Check::Helper);
    // Failing first, so failed deliveries are logged (with their URL).
    receiver.set_answer(Answer::Unavailable);
    create_workflow(&server, dir.path());
    let url = format!(
        "http://alice:{PASSWORD}@{}/hook?token={TOKEN}",
        receiver.base
    );
    let registered = register_and_attach(&server, dir.path(), &url, SECRET);
    let hidden = |what: &str, text: &str| {
        assert!(
            !text.contains(PASSWORD) && !text.contains(TOKEN),
            "{what} shows the URL's credentials: {text}"
        );
    };
    hidden("the register answer", &registered);
    assert!(registered.contains("***"), "{registered}");
    let (status, body) = server.submit(&workflow_attestation(&TestKey::ed25519(), 0));
    assert_eq!(status, 201, "{body}");
    wait_for("two failed attempts", Duration::from_secs(60), || {
        sink_metric(&server, SINK, "evledger_sink_failed_total") >= 2.0
    });
    receiver.set_answer(Answer::Verdict);
    wait_for("the delivery", Duration::from_secs(60), || {
        !receiver.delivered().is_empty()
    });
    // The credentials still work: sent as basic auth, never in the path.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"));
    assert_eq!(receiver.seen()[0].authorization, format!("Basic {basic}"));

    let (status, list) = server.get("/api/v1/integrations");
    assert_eq!(status, 200);
    let list = String::from_utf8_lossy(&list).to_string();
    hidden("GET /api/v1/integrations", &list);
    assert!(list.contains("/hook?token=***"), "{list}");
    let (_, one) = server.get("/api/v1/integrations/hook");
    hidden(
        "GET /api/v1/integrations/hook",
        &String::from_utf8_lossy(&one),
    );
    hidden(
        "integration list",
        &assert_ok(&admin(&server, &["integration", "list", "-o", "json"])),
    );
    let log = std::fs::read_to_string(data_dir.with_extension("log")).expect("server log");
    assert!(
        log.contains("delivery failed"),
        "no failure was logged: {log}"
    );
    hidden("the server log", &log);
}

#[test]
fn deny_private_refuses_loopback_webhooks_at_registration_and_delivery() {
    const SECRET: &[u8] = b"ssrf-test-secret";
    const DENY: (&str, &str) = ("EVLEDGER_WEBHOOK_DENY_PRIVATE", "true");
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("log");
    let receiver = Receiver::start(SECRET, Check::Helper);

    // Registered while allowed (the default), attached, then the server
    // restarts with the setting on: the sink is not started.
    let server = Server::start(&data_dir);
    create_workflow(&server, dir.path());
    register_and_attach(&server, dir.path(), &receiver.url(), SECRET);
    server.kill();
    let server = Server::start_with_env(&data_dir, &[], &[DENY]);

    let register = |url: &str, name: &str| {
        let r = http()
            .post(format!("{}/api/v1/integrations", server.url))
            .json(&json!({
                "name": name,
                "kind": "webhook",
                "settings": {"url": url},
                "secrets": {"secret": "k"},
            }))
            .send()
            .expect("POST");
        let status = r.status().as_u16();
        (status, r.json::<Value>().expect("JSON error"))
    };
    // An IP literal is refused as it is parsed, a name once resolved.
    let port = receiver.base.rsplit(':').next().expect("port");
    for (url, want) in [
        (receiver.url(), 400),
        (format!("http://[::1]:{port}/hook"), 400),
        (format!("http://localhost:{port}/hook"), 422),
    ] {
        let (status, error) = register(&url, "other");
        assert_eq!(status, want, "{url}: {error}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("EVLEDGER_WEBHOOK_DENY_PRIVATE"),
            "{url}: {error}"
        );
    }
    let (_, list) = server.get_json("/api/v1/integrations");
    let names: Vec<&str> = list["integrations"]
        .as_array()
        .expect("integrations")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(names, ["hook"], "a refused registration changed nothing");
    assert_eq!(list["integrations"][0]["attachments"][0]["running"], false);

    let (status, body) = server.submit(&workflow_attestation(&TestKey::ed25519(), 0));
    assert_eq!(status, 201, "{body}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(receiver.seen().is_empty(), "delivered to loopback");
    assert_eq!(
        sink_metric(&server, SINK, "evledger_sink_delivered_total"),
        0.0
    );
}

// ---------------------------------------------------------------------------
// `evledger monitor` against a log that fails to serve.

/// What the fake log does with `/tile/...` requests; everything else is
/// passed on to the real log.
const TILES_PASS: u8 = 0;
const TILES_500: u8 = 1;
const TILES_RESET: u8 = 2;
const TILES_ENDLESS: u8 = 3;

/// Most an endless answer writes before it gives up and holds the
/// connection open (so an unfixed client buffers this much, then times out).
const ENDLESS_LIMIT: u64 = 256 << 20;

/// A fake log in front of a real one: raw TCP, one request per connection.
struct FakeLog {
    url: String,
    mode: Arc<AtomicU8>,
    /// Bytes of endless answers written (the client read at most this).
    endless_written: Arc<AtomicU64>,
}

impl FakeLog {
    fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let mode = Arc::new(AtomicU8::new(TILES_PASS));
        let endless_written = Arc::new(AtomicU64::new(0));
        let (m, w, upstream) = (mode.clone(), endless_written.clone(), upstream.to_string());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (m, w, upstream) = (m.clone(), w.clone(), upstream.clone());
                std::thread::spawn(move || serve_one(stream, &m, &w, &upstream));
            }
        });
        Self {
            url,
            mode,
            endless_written,
        }
    }
}

fn serve_one(mut stream: TcpStream, mode: &AtomicU8, written: &AtomicU64, upstream: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mode = mode.load(Ordering::SeqCst);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Reset: close with the request unread, which makes the kernel send RST.
    if mode == TILES_RESET {
        let mut first = [0u8; 5];
        if stream.read_exact(&mut first).is_ok() && &first == b"GET /" {
            let mut peek = [0u8; 5];
            let _ = stream.peek(&mut peek);
            if &peek == b"tile/" {
                return;
            }
        }
        head.extend_from_slice(&first);
    }
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split(' ').nth(1).unwrap_or("/").to_string();
    if path.starts_with("/tile/") && mode == TILES_500 {
        let _ = stream.write_all(
            b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 5\r\nconnection: close\r\n\r\noops\n",
        );
        return;
    }
    if path.starts_with("/tile/") && mode == TILES_ENDLESS {
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\nconnection: close\r\n\r\n",
        );
        let chunk = vec![0u8; 64 * 1024];
        while written.load(Ordering::SeqCst) < ENDLESS_LIMIT {
            if stream.write_all(&chunk).is_err() {
                return;
            }
            written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
        // Hold the connection until the client gives up (bounded).
        let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
        let _ = stream.read(&mut byte);
        return;
    }
    let answer = anonymous_http()
        .get(format!("{upstream}{path}"))
        .send()
        .expect("upstream");
    let status = answer.status();
    let body = answer.bytes().expect("upstream body");
    let _ = stream.write_all(
        format!(
            "HTTP/1.1 {} {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("?"),
            body.len()
        )
        .as_bytes(),
    );
    let _ = stream.write_all(&body);
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn monitor_exits_1_not_3_when_the_log_fails_to_serve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let key = TestKey::ed25519();
    for i in 0..3 {
        let (status, body) = server.submit(&attestation(&key, &format!("first-{i}")));
        assert_eq!(status, 201, "{body}");
    }
    let fake = FakeLog::start(&server.url);
    let state = dir.path().join("monitor.json").display().to_string();
    let vkey = server.verifier_key.clone();
    assert_ok(&monitor(&fake.url, &vkey, &state, &["--tiles-only"]));
    for i in 0..40 {
        let (status, body) = server.submit(&attestation(&key, &format!("second-{i}")));
        assert_eq!(status, 201, "{body}");
    }
    let subject = format!("sha256:{}", hex::encode(Sha256::digest(b"second-7")));

    for (mode, name) in [
        (TILES_500, "a 500"),
        (TILES_RESET, "a reset connection"),
        (TILES_ENDLESS, "an endless body"),
    ] {
        fake.mode.store(mode, Ordering::SeqCst);
        for extra in [&["--tiles-only"][..], &["--watch-subject", &subject][..]] {
            fake.endless_written.store(0, Ordering::SeqCst);
            let out = monitor(&fake.url, &vkey, &state, extra);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{name} on the tiles ({extra:?}) is \"could not check\": {}",
                describe(&out)
            );
            assert!(
                !String::from_utf8_lossy(&out.stdout).contains("MISBEHAVIOUR"),
                "{}",
                describe(&out)
            );
            if mode == TILES_ENDLESS {
                // The cap is 256 entries of 64 KiB: the client stops reading
                // past it, so the fake log can write little more (socket
                // buffers) before its writes fail.
                let written = fake.endless_written.load(Ordering::SeqCst);
                assert!(
                    written < 64 << 20,
                    "the monitor read {written} bytes of an endless body"
                );
            }
        }
    }
    // The failed checks saved nothing; a log that serves again is verified.
    fake.mode.store(TILES_PASS, Ordering::SeqCst);
    let out = monitor(&fake.url, &vkey, &state, &["--tiles-only", "-o", "json"]);
    let text = assert_ok(&out);
    let event: Value = serde_json::from_str(text.trim()).expect("JSON event");
    assert_eq!(event["previousSize"], 3, "{text}");
    assert_eq!(event["treeSize"], 43, "{text}");
}

//! Fan-out end to end: integrations registered and attached with the CLI,
//! a real Kafka-protocol broker (tansu) killed and restarted mid-stream, a
//! webhook receiver that checks every HMAC, the ledger killed with -9
//! during delivery, and the gRPC alert receiver over TLS. Every event's
//! proof is checked here, with code of the test's own (common::proof),
//! against a checkpoint signed by the log's key. The harnesses record what
//! they get and the checks run in the test's thread, so a wrong event
//! fails the test at once rather than as a timeout.

mod common;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::grpc::{certificates, AlertReceiver};
use common::kafka::{consume, Broker, Record};
use common::webhook::{Answer, Check, Receiver, Seen};
use common::*;
use evledger_ledger::CheckpointVerifier;
use serde_json::{json, Value};

/// Appends attestations from a thread, pausing `pace` between two, and
/// records what was acknowledged: leaf hash -> log index. A refused
/// request (the server being killed) is not acknowledged and not retried.
struct Appender {
    acked: Arc<Mutex<BTreeMap<String, u64>>>,
    sent: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Appender {
    fn start(url: Arc<Mutex<String>>, first: usize, count: usize, pace: Duration) -> Self {
        let acked = Arc::new(Mutex::new(BTreeMap::new()));
        let sent = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, s, st) = (acked.clone(), sent.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let key = TestKey::ed25519();
            let client = http();
            for n in first..first + count {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let base = url.lock().expect("url").clone();
                let result = client
                    .post(format!("{base}/api/v1/log/entries"))
                    .json(&workflow_attestation(&key, n))
                    .send();
                if let Ok(r) = result {
                    if r.status().as_u16() == 201 {
                        let v: Value = r.json().expect("json");
                        a.lock().expect("acked").insert(
                            v["leafHash"].as_str().expect("leafHash").to_string(),
                            v["logIndex"].as_u64().expect("logIndex"),
                        );
                    }
                }
                s.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(pace);
            }
        });
        Self {
            acked,
            sent,
            stop,
            thread: Some(thread),
        }
    }

    fn wait_sent(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.sent.load(Ordering::SeqCst) < n {
            // Ended short of n (a panic of the thread, printed above): it
            // would never get there, so fail now rather than at the deadline.
            let ended = self.thread.as_ref().is_none_or(|t| t.is_finished());
            assert!(
                !ended || self.sent.load(Ordering::SeqCst) >= n,
                "the appender ended before sending {n}"
            );
            assert!(Instant::now() < deadline, "appender stalled");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn finish(mut self) -> BTreeMap<String, u64> {
        if let Some(t) = self.thread.take() {
            t.join().expect("appender");
        }
        self.acked.lock().expect("acked").clone()
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The event data as the sinks write it.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data<'a> {
    log_index: u64,
    leaf_hash: String,
    #[serde(borrow)]
    entry: &'a serde_json::value::RawValue,
    checkpoint: String,
    inclusion_proof: Value,
}

/// Checks an event's data on its own: the leaf hash of the entry bytes,
/// the checkpoint's signature, and the inclusion proof against its root.
/// Returns (log index, leaf hash).
fn verify_data(data: &[u8], verifier: &CheckpointVerifier) -> (u64, String) {
    let data: Data = serde_json::from_slice(data).expect("event data");
    let leaf = data.entry.get().as_bytes();
    let hash = proof::leaf_hash_hex(leaf);
    assert_eq!(hash, data.leaf_hash, "leaf hash of the entry bytes");
    let checkpoint = verifier
        .verify(data.checkpoint.as_bytes())
        .expect("checkpoint signed by the log");
    assert_eq!(data.inclusion_proof["treeSize"], checkpoint.size);
    assert_eq!(data.inclusion_proof["logIndex"], data.log_index);
    let root = proof::inclusion_root(
        data.log_index,
        checkpoint.size,
        hex32(&hash),
        &hex_hashes(&data.inclusion_proof),
    );
    assert_eq!(root, Some(checkpoint.root), "inclusion proof verifies");
    (data.log_index, hash)
}

/// (log index, leaf hash) of a message that reached a sink.
type Arrival = (u64, String);

/// The arrivals at a sink, in order. Each message is checked once, by
/// `check`, in the test's thread as it polls: a wrong one fails the test
/// there and then.
struct Arrivals<'a, M> {
    messages: Box<dyn Fn() -> Vec<M> + 'a>,
    check: Box<dyn Fn(&M) -> Arrival + 'a>,
    checked: RefCell<Vec<Arrival>>,
}

impl<'a, M> Arrivals<'a, M> {
    /// `messages` lists what arrived so far, in order (a list that only
    /// grows).
    fn new(messages: impl Fn() -> Vec<M> + 'a, check: impl Fn(&M) -> Arrival + 'a) -> Self {
        Self {
            messages: Box::new(messages),
            check: Box::new(check),
            checked: RefCell::new(Vec::new()),
        }
    }

    /// Checks what arrived since the last call; returns every arrival.
    fn get(&self) -> Vec<Arrival> {
        let messages = (self.messages)();
        let mut checked = self.checked.borrow_mut();
        for message in &messages[checked.len()..] {
            let arrival = (self.check)(message);
            checked.push(arrival);
        }
        checked.clone()
    }
}

/// Every acknowledged entry arrived, first arrivals in log order.
fn assert_complete_in_order(acked: &BTreeMap<String, u64>, arrivals: &[(u64, String)]) {
    let mut seen = HashSet::new();
    let mut last = None;
    for (index, hash) in arrivals {
        if seen.insert(hash.clone()) {
            assert!(
                last.is_none_or(|l| *index > l),
                "entry {index} arrived after entry {last:?}"
            );
            last = Some(*index);
        }
    }
    let missing: Vec<_> = acked.iter().filter(|(h, _)| !seen.contains(*h)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but never delivered: {missing:?}"
    );
}

/// Checks a Kafka message: its data verifies on its own, its key is the
/// leaf hash, and its CloudEvents headers are right. Returns (log index,
/// leaf hash).
fn check_record(record: &Record, verifier: &CheckpointVerifier) -> (u64, String) {
    let payload = record.payload.as_deref().expect("payload");
    let (index, hash) = verify_data(payload, verifier);
    let key = std::str::from_utf8(record.key.as_deref().expect("key")).expect("utf-8 key");
    assert_eq!(key, hash, "message key is the leaf hash");
    assert!(record.headers.is_some(), "CloudEvents headers");
    assert_eq!(record.header("ce_id").as_deref(), Some(hash.as_str()));
    assert_eq!(
        record.header("ce_type").as_deref(),
        Some("dev.evledger.entry.v1")
    );
    assert_eq!(record.header("ce_specversion").as_deref(), Some("1.0"));
    assert_eq!(record.header("ce_subject").as_deref(), Some(WORKFLOW));
    (index, hash)
}

/// The verifier of `server`'s checkpoints.
fn log_verifier(server: &Server) -> CheckpointVerifier {
    CheckpointVerifier::new(&[server.verifier_key.as_str()]).expect("verifier key")
}

#[test]
fn kafka_gets_every_entry_in_order_through_a_broker_outage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = Broker::start(dir.path());
    let server = Server::start(&dir.path().join("log"));
    create_workflow(&server, dir.path());
    let out = assert_ok(&admin(
        &server,
        &[
            "integration",
            "register",
            "kafka",
            "--name",
            "bus",
            "--bootstrap-servers",
            &broker.bootstrap(),
            // Short, so that the outage fails rounds and the sink retries them.
            "--message-timeout-ms",
            "1000",
        ],
    ));
    assert!(out.contains("bus"), "{out}");
    assert_ok(&admin(
        &server,
        &[
            "integration",
            "attach",
            "--integration",
            "bus",
            "--workflow",
            WORKFLOW,
            "--topic",
            "ledger.build",
        ],
    ));
    let consumed = consume(&broker.bootstrap(), "ledger.build");
    let verifier = log_verifier(&server);
    let arrivals = Arrivals::new(
        || consumed.records(),
        |record| check_record(record, &verifier),
    );

    let url = Arc::new(Mutex::new(server.url.clone()));
    let appender = Appender::start(url, 0, 240, Duration::from_millis(5));
    appender.wait_sent(60);
    broker.kill();
    appender.wait_sent(150);
    std::thread::sleep(Duration::from_secs(3));
    broker.restart();
    let acked = appender.finish();
    assert!(
        acked.len() >= 200,
        "only {} appends acknowledged",
        acked.len()
    );

    let complete = || {
        let got: HashSet<String> = arrivals.get().into_iter().map(|(_, h)| h).collect();
        acked.keys().filter(|h| !got.contains(*h)).count()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while complete() > 0 {
        if Instant::now() > deadline {
            // The last lines of a log, without the repeats of one error.
            let tail = |path: PathBuf| {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let lines: Vec<&str> = text
                    .lines()
                    .filter(|l| !l.contains("UnableToSend") && !l.contains("SendError"))
                    .filter(|l| !l.contains("librdkafka"))
                    .collect();
                lines[lines.len().saturating_sub(40)..].join("\n")
            };
            panic!(
                "{} of {} acknowledged entries never reached Kafka\nledger log:\n{}\nbroker log:\n{}",
                complete(),
                acked.len(),
                tail(dir.path().join("log.log")),
                tail(dir.path().join("tansu.log")),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    consumed.stop();
    assert_complete_in_order(&acked, &arrivals.get());

    // The outage failed rounds, the sink retried them, and it caught up.
    let (_, metrics) = server.get("/metrics");
    let metrics = String::from_utf8_lossy(&metrics);
    let value = |name: &str| sink_metric_in(&metrics, "bus/build", name);
    assert!(value("evledger_sink_failed_total") > 0.0, "{metrics}");
    assert!(value("evledger_sink_retries_total") > 0.0, "{metrics}");
    assert!(
        value("evledger_sink_delivered_total") >= acked.len() as f64,
        "{metrics}"
    );
    let list = assert_ok(&admin(&server, &["integration", "list", "-o", "json"]));
    let list: Value = serde_json::from_str(&list).expect("json");
    assert_eq!(list["integrations"][0]["attachments"][0]["lag"], 0);
}

/// Checks a webhook delivery the receiver accepted (its HMAC is right): a
/// CloudEvent of the workflow whose delivery time is the signed timestamp
/// and whose data verifies on its own. Returns (log index, leaf hash).
fn check_delivery(delivery: &Seen, verifier: &CheckpointVerifier) -> (u64, String) {
    let event: Value = serde_json::from_slice(&delivery.body).expect("CloudEvent JSON");
    assert_eq!(event["type"], "dev.evledger.entry.v1", "{event}");
    assert_eq!(event["subject"], WORKFLOW, "{event}");
    assert_eq!(
        event["deliverytime"].to_string(),
        delivery.timestamp,
        "signed timestamp"
    );
    // The raw entry bytes are what is hashed: take them from the body.
    verify_data(raw_data(&delivery.body), verifier)
}

/// The bytes of the `data` member of a structured CloudEvent, verbatim.
fn raw_data(body: &[u8]) -> &[u8] {
    #[derive(serde::Deserialize)]
    struct Event<'a> {
        #[serde(borrow)]
        data: &'a serde_json::value::RawValue,
    }
    let event: Event = serde_json::from_slice(body).expect("event");
    let raw = event.data.get().as_bytes();
    let start = raw.as_ptr() as usize - body.as_ptr() as usize;
    &body[start..start + raw.len()]
}

#[test]
fn webhook_delivery_resumes_from_its_cursor_after_kill_9() {
    const SECRET: &[u8] = b"webhook-secret-not-in-any-listing";
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("log");
    let server = Server::start(&data_dir);
    let receiver = Receiver::start(SECRET, Check::OwnHmac);
    let verifier = log_verifier(&server);
    let arrivals = Arrivals::new(
        || receiver.delivered(),
        |delivery| check_delivery(delivery, &verifier),
    );
    create_workflow(&server, dir.path());
    let secret_file = write_file(dir.path(), "hook.secret", SECRET);
    assert_ok(&admin(
        &server,
        &[
            "integration",
            "register",
            "webhook",
            "--name",
            "hook",
            "--webhook-url",
            &receiver.url(),
            "--secret-file",
            &secret_file,
        ],
    ));
    assert_ok(&admin(
        &server,
        &[
            "integration",
            "attach",
            "--integration",
            "hook",
            "--workflow",
            WORKFLOW,
        ],
    ));
    // Listings name the secret, never show it.
    let list = assert_ok(&admin(&server, &["integration", "list", "-o", "json"]));
    assert!(list.contains("\"secret\""), "{list}");
    assert!(
        !list.contains(std::str::from_utf8(SECRET).expect("utf-8")),
        "{list}"
    );

    // The receiver is down for a while: nothing is dropped.
    receiver.set_answer(Answer::Unavailable);
    let url = Arc::new(Mutex::new(server.url.clone()));
    let appender = Appender::start(url.clone(), 0, 40, Duration::from_millis(2));
    let mut acked = appender.finish();
    std::thread::sleep(Duration::from_millis(800));
    assert!(arrivals.get().is_empty());
    receiver.set_answer(Answer::Verdict);
    wait_for(
        "the backlog once the receiver is back",
        Duration::from_secs(60),
        || arrivals.get().len() >= acked.len(),
    );

    // kill -9 while delivering and appending; restart on the same data.
    let appender = Appender::start(url.clone(), 1000, 200, Duration::from_millis(3));
    appender.wait_sent(80);
    let delivered_before = arrivals.get().len();
    server.kill();
    let server = Server::start(&data_dir);
    *url.lock().expect("url") = server.url.clone();
    acked.extend(appender.finish());
    wait_for(
        "every entry at the webhook",
        Duration::from_secs(60),
        || {
            let got: HashSet<String> = arrivals.get().into_iter().map(|(_, h)| h).collect();
            acked.keys().all(|h| got.contains(h))
        },
    );
    let arrivals = arrivals.get();
    assert_complete_in_order(&acked, &arrivals);
    assert!(delivered_before > 0, "the kill came before any delivery");
    let duplicates = arrivals.len()
        - arrivals
            .iter()
            .map(|(_, h)| h)
            .collect::<HashSet<_>>()
            .len();
    assert!(
        duplicates < delivered_before,
        "{duplicates} redeliveries of {delivered_before}: the sink did not resume from its cursor"
    );

    // Every delivery was signed right; a tampered one is refused.
    assert_eq!(receiver.refused(), 0);
    let Seen {
        body, signature, ..
    } = receiver.delivered()[0].clone();
    let timestamp =
        serde_json::from_slice::<Value>(&body).expect("event")["deliverytime"].to_string();
    let mut tampered = body.clone();
    let at = tampered.iter().position(|b| *b == b'"').expect("a quote") + 1;
    tampered[at] ^= 1;
    assert_eq!(receiver.replay(&timestamp, &signature, &tampered), 401);
    assert_eq!(receiver.refused(), 1);
    let log = std::fs::read_to_string(data_dir.with_extension("log")).expect("server log");
    assert!(
        !log.contains(std::str::from_utf8(SECRET).expect("utf-8")),
        "the secret is in the server log"
    );
}

#[test]
fn grpc_alerts_are_signed_verified_and_refused_without_trust() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    create_workflow(&server, dir.path());
    let (ca, cert, key) = certificates("receiver");
    let receiver =
        AlertReceiver::start(dir.path(), &cert, &key, "right-token", &server.verifier_key);
    let endpoint = receiver.url.clone();
    let ca_file = write_file(dir.path(), "ca.pem", ca.as_bytes());
    let right = write_file(dir.path(), "right.token", b"right-token");
    let wrong = write_file(dir.path(), "wrong.token", b"wrong-token");

    // A receiver whose certificate the sink does not trust is refused.
    let (other_ca, _, _) = certificates("someone else");
    let other_ca_file = write_file(dir.path(), "other-ca.pem", other_ca.as_bytes());
    let refused = assert_fails(&admin(
        &server,
        &[
            "integration",
            "register",
            "grpc",
            "--name",
            "untrusted",
            "--endpoint",
            &endpoint,
            "--domain",
            "localhost",
            "--ca-cert",
            &other_ca_file,
            "--token-file",
            &right,
        ],
    ));
    assert!(refused.contains("integration_unreachable"), "{refused}");
    // Plain HTTP is refused outright.
    let plain = assert_fails(&admin(
        &server,
        &[
            "integration",
            "register",
            "grpc",
            "--name",
            "plain",
            "--endpoint",
            "http://127.0.0.1:1",
        ],
    ));
    assert!(plain.contains("400"), "{plain}");

    for (name, token) in [("alerts", &right), ("impostor", &wrong)] {
        assert_ok(&admin(
            &server,
            &[
                "integration",
                "register",
                "grpc",
                "--name",
                name,
                "--endpoint",
                &endpoint,
                "--domain",
                "localhost",
                "--ca-cert",
                &ca_file,
                "--token-file",
                token,
            ],
        ));
        assert_ok(&admin(
            &server,
            &[
                "integration",
                "attach",
                "--integration",
                name,
                "--workflow",
                WORKFLOW,
            ],
        ));
    }
    let key = TestKey::ed25519();
    let mut acked = HashSet::new();
    for n in 0..5 {
        let (status, body) = server.submit(&workflow_attestation(&key, n));
        assert_eq!(status, 201, "{body}");
        acked.insert(body["leafHash"].as_str().expect("leafHash").to_string());
    }
    wait_for("five verified alerts", Duration::from_secs(30), || {
        receiver.lines().len() >= 5
    });
    let lines: Vec<Value> = receiver
        .lines()
        .iter()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    let ids: HashSet<String> = lines
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(
        ids, acked,
        "the receiver verified exactly the appended entries"
    );
    assert!(lines.iter().all(|l| l["subject"] == WORKFLOW));

    // The impostor's calls are refused: it delivers nothing and says so.
    wait_for(
        "the refused sink to count failures",
        Duration::from_secs(30),
        || {
            let (_, metrics) = server.get("/metrics");
            String::from_utf8_lossy(&metrics)
                .contains("evledger_sink_failed_total{sink=\"impostor/build\"}")
        },
    );
    let list = assert_ok(&admin(&server, &["integration", "list", "-o", "json"]));
    let list: Value = serde_json::from_str(&list).expect("json");
    let impostor = list["integrations"]
        .as_array()
        .expect("integrations")
        .iter()
        .find(|i| i["name"] == "impostor")
        .expect("impostor");
    assert_eq!(impostor["attachments"][0]["lag"], 5, "{impostor}");
    assert!(!list.to_string().contains("right-token"));
    let log = std::fs::read_to_string(dir.path().join("receiver.log")).expect("receiver log");
    assert!(log.contains("alert refused"), "{log}");
}

#[test]
fn integration_lifecycle_refuses_bad_input_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    create_workflow(&server, dir.path());
    let post = |path: &str, body: Value| {
        let r = http()
            .post(format!("{}{path}", server.url))
            .json(&body)
            .send()
            .expect("POST");
        let status = r.status().as_u16();
        (status, r.json::<Value>().expect("JSON answer"))
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let good = json!({"name": "hook", "kind": "webhook", "settings": {"url": hook}, "secrets": {"secret": "s"}});

    for (body, status, code) in [
        (
            json!({"name": "x", "kind": "smtp"}),
            400,
            "invalid_integration",
        ),
        (
            json!({"name": "Bad Name", "kind": "webhook", "settings": {"url": hook}, "secrets": {"secret": "s"}}),
            400,
            "bad_request",
        ),
        (
            json!({"name": "x", "kind": "webhook", "settings": {"url": hook}}),
            400,
            "invalid_integration",
        ),
        (
            json!({"name": "x", "kind": "webhook", "settings": {"url": hook, "extra": 1}, "secrets": {"secret": "s"}}),
            400,
            "invalid_integration",
        ),
        (
            json!({"name": "x", "kind": "kafka", "settings": {"bootstrapServers": "nohost"}}),
            400,
            "invalid_integration",
        ),
        (
            json!({"name": "x", "kind": "webhook", "settings": {"url": "http://127.0.0.1:1/"}, "secrets": {"secret": "s"}}),
            422,
            "integration_unreachable",
        ),
    ] {
        let (got, answer) = post("/api/v1/integrations", body.clone());
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
    }
    let r = http()
        .post(format!("{}/api/v1/integrations", server.url))
        .body("{not json")
        .send()
        .expect("POST");
    assert_eq!(r.status().as_u16(), 400);
    let r = anonymous_http()
        .post(format!("{}/api/v1/integrations", server.url))
        .json(&good)
        .send()
        .expect("POST");
    assert_eq!(r.status().as_u16(), 401);
    let (_, list) = server.get_json("/api/v1/integrations");
    assert_eq!(list["integrations"], json!([]), "refusals stored nothing");

    assert_eq!(post("/api/v1/integrations", good.clone()).0, 201);
    assert_eq!(post("/api/v1/integrations", good).0, 409);
    let (status, answer) = post(
        "/api/v1/integrations/hook/attachments",
        json!({"workflow": "nope"}),
    );
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = post(
        "/api/v1/integrations/nope/attachments",
        json!({"workflow": WORKFLOW}),
    );
    assert_eq!(status, 404, "{answer}");
    assert_eq!(
        post(
            "/api/v1/integrations/hook/attachments",
            json!({"workflow": WORKFLOW})
        )
        .0,
        201
    );
    assert_eq!(
        post(
            "/api/v1/integrations/hook/attachments",
            json!({"workflow": WORKFLOW})
        )
        .0,
        409
    );
    let delete = |path: &str| {
        http()
            .delete(format!("{}{path}", server.url))
            .send()
            .expect("DELETE")
            .status()
            .as_u16()
    };
    assert_eq!(
        delete("/api/v1/integrations/hook"),
        409,
        "attached integrations stay"
    );
    assert_eq!(delete("/api/v1/integrations/hook/attachments/build"), 200);
    assert_eq!(delete("/api/v1/integrations/hook/attachments/build"), 404);
    assert_eq!(delete("/api/v1/integrations/hook"), 200);
    let (_, list) = server.get_json("/api/v1/integrations");
    assert_eq!(list["integrations"], json!([]));
}

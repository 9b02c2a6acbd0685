//! Fan-out end to end: integrations registered and attached with the CLI,
//! a real Kafka-protocol broker (tansu) killed and restarted mid-stream, a
//! webhook receiver that checks every HMAC, the ledger killed with -9
//! during delivery, and the gRPC alert receiver over TLS. Every event's
//! proof is checked here, with code of the test's own, against a
//! checkpoint signed by the log's key.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use evledger_ledger::CheckpointVerifier;
use hmac::{Hmac, Mac};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::Producer;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

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

/// (log index, leaf hash) of each message, in arrival order.
type Arrivals = Arc<Mutex<Vec<(u64, String)>>>;

/// A webhook delivery: log index, leaf hash, body, signature header.
type Delivery = (u64, String, Vec<u8>, String);

/// RFC 9162 §2.1.3.2, written here so the test trusts no server code.
fn inclusion_root(index: u64, size: u64, leaf: [u8; 32], path: &[[u8; 32]]) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let (mut f, mut s, mut r) = (index, size - 1, leaf);
    let node = |l: &[u8; 32], r: &[u8; 32]| -> [u8; 32] {
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(l);
        h.update(r);
        h.finalize().into()
    };
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
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
    let hash = leaf_hash_hex(leaf);
    assert_eq!(hash, data.leaf_hash, "leaf hash of the entry bytes");
    let checkpoint = verifier
        .verify(data.checkpoint.as_bytes())
        .expect("checkpoint signed by the log");
    assert_eq!(data.inclusion_proof["treeSize"], checkpoint.size);
    assert_eq!(data.inclusion_proof["logIndex"], data.log_index);
    let root = inclusion_root(
        data.log_index,
        checkpoint.size,
        hex32(&hash),
        &hex_hashes(&data.inclusion_proof),
    );
    assert_eq!(root, Some(checkpoint.root), "inclusion proof verifies");
    (data.log_index, hash)
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

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A tansu broker on 127.0.0.1 whose storage (SQLite) outlives the process.
struct Broker {
    child: Option<Child>,
    port: u16,
    storage: PathBuf,
}

impl Broker {
    fn binary() -> String {
        std::env::var("EVLEDGER_TANSU").unwrap_or_else(|_| "tansu".into())
    }

    fn start(dir: &Path) -> Self {
        let mut broker = Self {
            child: None,
            port: free_port(),
            storage: dir.join("tansu.db"),
        };
        broker.restart();
        broker
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker and waits until it answers metadata requests. A
    /// restarted tansu sometimes comes up with its SQLite storage task dead
    /// (every request fails with `UnableToSend`); such a broker is killed
    /// and started again, as an operator would.
    fn restart(&mut self) {
        for _ in 0..5 {
            self.spawn();
            let probe: rdkafka::producer::BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", self.bootstrap())
                .create()
                .expect("probe client");
            if probe
                .client()
                .fetch_metadata(None, Duration::from_secs(5))
                .is_ok()
            {
                return;
            }
            self.kill();
        }
        panic!("the broker never answered metadata requests; see its log");
    }

    fn spawn(&mut self) {
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.storage.with_extension("log"))
            .expect("broker log");
        // tansu reads sqlite://NAME relative to its working directory.
        let dir = self.storage.parent().expect("storage dir");
        let name = self
            .storage
            .file_name()
            .expect("storage name")
            .to_string_lossy();
        let child = Command::new(Self::binary())
            .current_dir(dir)
            .args([
                "broker",
                "--listener-url",
                &listener,
                "--advertised-listener-url",
                &listener,
            ])
            .arg("--storage-engine")
            .arg(format!("sqlite://{name}"))
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "starting {} (install it with scripts/setup): {e}",
                    Self::binary()
                )
            });
        self.child = Some(child);
        let addr = self.bootstrap();
        wait_for("the broker to listen", Duration::from_secs(30), || {
            std::net::TcpStream::connect(&addr).is_ok()
        });
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads every message of partition 0 of `topic` from the start, in a
/// thread, verifying each: (log index, leaf hash) in arrival order.
fn consume(
    bootstrap: &str,
    topic: &str,
    verifier: CheckpointVerifier,
) -> (Arrivals, Arc<AtomicBool>) {
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (out, halt) = (arrivals.clone(), stop.clone());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "evledger-test")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&assignment).expect("assign");
    std::thread::spawn(move || {
        while !halt.load(Ordering::SeqCst) {
            let Some(result) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let Ok(message) = result else {
                continue;
            };
            let payload = message.payload().expect("payload");
            let (index, hash) = verify_data(payload, &verifier);
            let key = std::str::from_utf8(message.key().expect("key")).expect("utf-8 key");
            assert_eq!(key, hash, "message key is the leaf hash");
            let headers = message.headers().expect("CloudEvents headers");
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|h| h.key == name)
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            };
            assert_eq!(header("ce_id").as_deref(), Some(hash.as_str()));
            assert_eq!(header("ce_type").as_deref(), Some("dev.evledger.entry.v1"));
            assert_eq!(header("ce_specversion").as_deref(), Some("1.0"));
            assert_eq!(header("ce_subject").as_deref(), Some(WORKFLOW));
            out.lock().expect("arrivals").push((index, hash));
        }
    });
    (arrivals, stop)
}

fn kafka_verifier(server: &Server) -> CheckpointVerifier {
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
    let (arrivals, stop_consumer) =
        consume(&broker.bootstrap(), "ledger.build", kafka_verifier(&server));

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
        let got: HashSet<String> = arrivals
            .lock()
            .expect("arrivals")
            .iter()
            .map(|(_, h)| h.clone())
            .collect();
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
    stop_consumer.store(true, Ordering::SeqCst);
    assert_complete_in_order(&acked, &arrivals.lock().expect("arrivals"));

    // The outage failed rounds, the sink retried them, and it caught up.
    let (_, metrics) = server.get("/metrics");
    let metrics = String::from_utf8_lossy(&metrics);
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}{{sink=\"bus/build\"}} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
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

/// A webhook receiver: checks each delivery's HMAC with the shared secret
/// and records it; answers 503 while `failing`.
struct Receiver {
    url: String,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    refused: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
    _runtime: tokio::runtime::Runtime,
}

type HmacSha256 = Hmac<Sha256>;

impl Receiver {
    fn start(secret: &'static [u8], verifier: CheckpointVerifier) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(AtomicBool::new(false));
        let verifier = Arc::new(verifier);
        let (d, r, f) = (deliveries.clone(), refused.clone(), failing.clone());
        let handler = move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let (d, r, f, verifier) = (d.clone(), r.clone(), f.clone(), verifier.clone());
            async move {
                if f.load(Ordering::SeqCst) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                let signature = header("x-evledger-signature");
                // The MAC covers "<timestamp header>.<body>".
                let timestamp = header("x-evledger-timestamp");
                let mut mac = HmacSha256::new_from_slice(secret).expect("hmac");
                mac.update(timestamp.as_bytes());
                mac.update(b".");
                mac.update(&body);
                let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                if signature != expected {
                    r.fetch_add(1, Ordering::SeqCst);
                    return axum::http::StatusCode::UNAUTHORIZED;
                }
                let event: Value = serde_json::from_slice(&body).expect("CloudEvent JSON");
                assert_eq!(event["type"], "dev.evledger.entry.v1");
                assert_eq!(event["subject"], WORKFLOW);
                assert_eq!(
                    event["deliverytime"].to_string(),
                    timestamp,
                    "signed timestamp"
                );
                // The raw entry bytes are what is hashed: take them from the body.
                let (index, hash) = verify_data(raw_data(&body), &verifier);
                d.lock()
                    .expect("deliveries")
                    .push((index, hash, body.to_vec(), signature));
                axum::http::StatusCode::OK
            }
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let app = axum::Router::new().route("/hook", axum::routing::post(handler));
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            deliveries,
            refused,
            failing,
            _runtime: runtime,
        }
    }

    fn arrivals(&self) -> Vec<(u64, String)> {
        self.deliveries
            .lock()
            .expect("deliveries")
            .iter()
            .map(|(i, h, _, _)| (*i, h.clone()))
            .collect()
    }
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
    let receiver = Receiver::start(SECRET, kafka_verifier(&server));
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
            &receiver.url,
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
    receiver.failing.store(true, Ordering::SeqCst);
    let url = Arc::new(Mutex::new(server.url.clone()));
    let appender = Appender::start(url.clone(), 0, 40, Duration::from_millis(2));
    let mut acked = appender.finish();
    std::thread::sleep(Duration::from_millis(800));
    assert!(receiver.arrivals().is_empty());
    receiver.failing.store(false, Ordering::SeqCst);
    wait_for(
        "the backlog once the receiver is back",
        Duration::from_secs(60),
        || receiver.arrivals().len() >= acked.len(),
    );

    // kill -9 while delivering and appending; restart on the same data.
    let appender = Appender::start(url.clone(), 1000, 200, Duration::from_millis(3));
    appender.wait_sent(80);
    let delivered_before = receiver.arrivals().len();
    server.kill();
    let server = Server::start(&data_dir);
    *url.lock().expect("url") = server.url.clone();
    acked.extend(appender.finish());
    wait_for(
        "every entry at the webhook",
        Duration::from_secs(60),
        || {
            let got: HashSet<String> = receiver.arrivals().into_iter().map(|(_, h)| h).collect();
            acked.keys().all(|h| got.contains(h))
        },
    );
    let arrivals = receiver.arrivals();
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
    assert_eq!(receiver.refused.load(Ordering::SeqCst), 0);
    let (_, _, body, signature) = receiver.deliveries.lock().expect("deliveries")[0].clone();
    let timestamp =
        serde_json::from_slice::<Value>(&body).expect("event")["deliverytime"].to_string();
    let mut tampered = body.clone();
    let at = tampered.iter().position(|b| *b == b'"').expect("a quote") + 1;
    tampered[at] ^= 1;
    let replay = |body: Vec<u8>| {
        anonymous_http()
            .post(&receiver.url)
            .header("x-evledger-timestamp", &timestamp)
            .header("x-evledger-signature", &signature)
            .body(body)
            .send()
            .expect("POST")
            .status()
            .as_u16()
    };
    assert_eq!(replay(tampered), 401);
    assert_eq!(receiver.refused.load(Ordering::SeqCst), 1);
    let log = std::fs::read_to_string(data_dir.with_extension("log")).expect("server log");
    assert!(
        !log.contains(std::str::from_utf8(SECRET).expect("utf-8")),
        "the secret is in the server log"
    );
}

/// A CA, and a certificate it signs for 127.0.0.1 and localhost: (CA PEM,
/// cert PEM, key PEM).
fn certificates(common_name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{common_name} CA"));
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("params");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer).expect("cert");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// A running `evledger alert-receiver`; its stdout lines are collected.
struct AlertReceiver {
    child: Child,
    url: String,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl AlertReceiver {
    fn start(dir: &Path, cert: &str, key: &str, token: &str, log_key: &str) -> Self {
        use std::io::{BufRead, BufReader};
        let cert = write_file(dir, "receiver.pem", cert.as_bytes());
        let key = write_file(dir, "receiver.key", key.as_bytes());
        let token = write_file(dir, "receiver.token", token.as_bytes());
        let log = std::fs::File::create(dir.join("receiver.log")).expect("log");
        let mut child = Command::new(binary())
            .args([
                "alert-receiver",
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
            ])
            .args(["--token-file", &token, "--log-key", log_key])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn alert-receiver");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().expect("a line").expect("read");
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first}"))
            .to_string();
        let collected = Arc::new(Mutex::new(Vec::new()));
        let out = collected.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                out.lock()
                    .expect("lines")
                    .push(serde_json::from_str(&line).expect("JSON line"));
            }
        });
        Self {
            child,
            url,
            lines: collected,
        }
    }
}

impl Drop for AlertReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
        receiver.lines.lock().expect("lines").len() >= 5
    });
    let lines = receiver.lines.lock().expect("lines").clone();
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

//! Kafka for the fan-out tests: a real Kafka-protocol broker (tansu) that
//! can be killed and restarted, and a consumer that records what it reads
//! (and checks nothing: the tests check the records in their own thread).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::Producer;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::{free_port, wait_for};

/// A tansu broker on 127.0.0.1 whose storage (SQLite) outlives the process.
/// Its output goes to `tansu.log` beside the storage.
pub struct Broker {
    child: Option<Child>,
    port: u16,
    storage: PathBuf,
}

impl Broker {
    /// `$EVLEDGER_TANSU`, or `tansu` on the PATH.
    fn binary() -> String {
        std::env::var("EVLEDGER_TANSU").unwrap_or_else(|_| "tansu".into())
    }

    /// Starts a broker on a free port with its storage in `dir`.
    pub fn start(dir: &Path) -> Self {
        let mut broker = Self {
            child: None,
            port: free_port(),
            storage: dir.join("tansu.db"),
        };
        broker.restart();
        broker
    }

    /// The `bootstrap.servers` of the broker.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker and waits until it answers metadata requests. A
    /// restarted tansu sometimes comes up with its SQLite storage task dead
    /// (every request fails with `UnableToSend`); such a broker is killed
    /// and started again, as an operator would.
    pub fn restart(&mut self) {
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

    /// kill -9 (the storage stays).
    pub fn kill(&mut self) {
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

/// A message as the consumer read it, unchecked.
#[derive(Clone, Debug)]
pub struct Record {
    pub payload: Option<Vec<u8>>,
    pub key: Option<Vec<u8>>,
    /// (name, value) of each header; `None` if the message has none.
    pub headers: Option<Vec<(String, Option<Vec<u8>>)>>,
}

impl Record {
    /// The value of the first header named `name`, as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .as_ref()?
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.as_deref())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// What [`consume`] has read so far; the consumer stops when dropped.
pub struct Consumed {
    records: Arc<Mutex<Vec<Record>>>,
    stop: Arc<AtomicBool>,
}

impl Consumed {
    /// Every message read so far, in arrival order.
    pub fn records(&self) -> Vec<Record> {
        self.records.lock().expect("records").clone()
    }

    /// Stops reading.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Drop for Consumed {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads every message of partition 0 of `topic` from the start, in a
/// thread, and records it as it is (errors of the client are skipped: the
/// broker may be down).
pub fn consume(bootstrap: &str, topic: &str) -> Consumed {
    let records = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (out, halt) = (records.clone(), stop.clone());
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
            let record = Record {
                payload: message.payload().map(<[u8]>::to_vec),
                key: message.key().map(<[u8]>::to_vec),
                headers: message.headers().map(|headers| {
                    headers
                        .iter()
                        .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                        .collect()
                }),
            };
            out.lock().expect("records").push(record);
        }
    });
    Consumed { records, stop }
}

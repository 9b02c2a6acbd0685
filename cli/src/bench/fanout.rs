//! `evledger bench fanout`: the Kafka sink under load. Creates a workflow
//! and a Kafka integration on a running ledger, appends attestations for
//! the workflow at a fixed rate while consuming the topic, and reports:
//!
//! - the lag of each entry from its append (request sent) to the consumer,
//!   p50/p99/max, at the offered rate;
//! - delivery throughput: a second attachment started from the beginning
//!   of the log drains the whole backlog, timed from attach to last message;
//! - the baseline of both, measured in the same run on the same broker: an
//!   idempotent producer writing messages of the same size straight to a
//!   topic, paced at the same rate (lag) and unpaced (throughput).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use rand::Rng;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::load::{http_client, percentile_ms, signed_bodies};
use crate::craft::Algorithm;

#[derive(Args)]
pub struct FanoutArgs {
    /// Base URL of the ledger.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The ledger's admin token.
    #[arg(long, env = "EVLEDGER_TOKEN", hide_env_values = true)]
    token: String,
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_servers: String,
    /// Appends per second offered.
    #[arg(long, default_value_t = 5000)]
    rate: u64,
    /// Seconds of appending.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Arrival time of each message of a topic, by key (leaf hash).
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// Consumes partition 0 of `topic` in a thread until `stop`.
fn consume(bootstrap: &str, topic: &str, stop: Arc<AtomicBool>) -> anyhow::Result<Arrivals> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("evledger-bench-{topic}"))
        .set("enable.auto.commit", "false")
        // Measure the sink, not the consumer's long poll (500 ms by default).
        .set("fetch.wait.max.ms", "10")
        .create()
        .context("creating the Kafka consumer")?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let arrivals: Arrivals = Arc::default();
    let out = arrivals.clone();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) {
                let now = Instant::now();
                if let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) {
                    if let Ok(mut arrivals) = out.lock() {
                        arrivals.entry(key.to_string()).or_insert(now);
                    }
                }
            }
        }
    });
    Ok(arrivals)
}

/// The ledger's admin API.
struct Admin {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: reqwest::Body,
    ) -> anyhow::Result<Value> {
        let response = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{method} {path}: {status} {value}");
        }
        Ok(value)
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, body.to_string().into())
            .await
    }

    /// Registers Kafka integration `name` and attaches it to `workflow`,
    /// delivering to `topic` from `from` (`now` or `start`).
    async fn kafka_sink(
        &self,
        name: &str,
        bootstrap: &str,
        workflow: &str,
        topic: &str,
        from: &str,
    ) -> anyhow::Result<()> {
        self.post(
            "/api/v1/integrations",
            json!({"name": name, "kind": "kafka", "settings": {"bootstrapServers": bootstrap}}),
        )
        .await?;
        self.post(
            &format!("/api/v1/integrations/{name}/attachments"),
            json!({"workflow": workflow, "topic": topic, "from": from}),
        )
        .await?;
        Ok(())
    }
}

/// Waits until every key in `want` has arrived; the last arrival.
async fn wait_all(
    arrivals: &Arrivals,
    want: &[String],
    timeout: Duration,
) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = {
            let arrivals = arrivals.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            let got = want.iter().filter(|k| arrivals.contains_key(*k)).count();
            if got == want.len() {
                want.iter().filter_map(|k| arrivals.get(k)).max().copied()
            } else {
                if Instant::now() > deadline {
                    bail!("only {got} of {} messages arrived", want.len());
                }
                None
            }
        };
        if let Some(last) = last {
            return Ok(last);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The broker alone: `count` messages of `size` bytes produced straight
/// to `topic`, paced at `rate` (returns the sorted lags to the consumer),
/// then `count` more unpaced (returns messages per second).
async fn baseline(
    bootstrap: &str,
    topic: &str,
    count: u64,
    rate: u64,
    size: usize,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(Vec<Duration>, f64)> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    evledger_fanout::kafka::ensure_topic(&config, topic, 1)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let producer: rdkafka::producer::FutureProducer = config
        .clone()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()?;
    let arrivals = consume(bootstrap, topic, stop)?;
    let payload = vec![b'x'; size];
    let send = |i: u64| {
        let key = format!("{i}");
        producer
            .send_result(
                rdkafka::producer::FutureRecord::to(topic)
                    .key(&key)
                    .payload(&payload),
            )
            .map_err(|(e, _)| anyhow::anyhow!("enqueue: {e}"))
    };
    let started = Instant::now();
    let mut sent_at = Vec::with_capacity(count as usize);
    let mut pending = Vec::with_capacity(count as usize);
    for i in 0..count {
        tokio::time::sleep_until(
            (started + Duration::from_secs_f64(i as f64 / rate as f64)).into(),
        )
        .await;
        sent_at.push(Instant::now());
        pending.push(send(i)?);
    }
    for delivery in pending.drain(..) {
        let _ = delivery.await;
    }
    let keys: Vec<String> = (0..count).map(|i| i.to_string()).collect();
    wait_all(&arrivals, &keys, Duration::from_secs(120)).await?;
    let mut lags: Vec<Duration> = {
        let arrivals = arrivals.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        keys.iter()
            .zip(&sent_at)
            .filter_map(|(k, sent)| Some(arrivals.get(k)?.saturating_duration_since(*sent)))
            .collect()
    };
    lags.sort();
    let burst = Instant::now();
    for i in count..2 * count {
        pending.push(send(i)?);
    }
    for delivery in pending {
        if !matches!(delivery.await, Ok(Ok(_))) {
            bail!("the broker refused a baseline message");
        }
    }
    Ok((lags, count as f64 / burst.elapsed().as_secs_f64()))
}

/// Runs the benchmark.
pub async fn run(args: FanoutArgs) -> anyhow::Result<()> {
    let base = args.url.trim_end_matches('/').to_string();
    let token = args.token.trim().to_string();
    let client = http_client(args.clients)?;
    let run: u32 = rand::thread_rng().gen();
    let workflow = format!("bench-{run:08x}");
    let live_topic = format!("evledger.bench.{run:08x}.live");
    let drain_topic = format!("evledger.bench.{run:08x}.drain");
    let api = Admin {
        client: client.clone(),
        base: base.clone(),
        token: token.clone(),
    };
    api.post(
        "/api/v1/workflows",
        json!({"name": workflow, "project": "bench"}),
    )
    .await?;
    api.send(
        reqwest::Method::PUT,
        &format!("/api/v1/workflows/{workflow}/contract"),
        "schemaVersion: v1\n".into(),
    )
    .await?;
    api.kafka_sink(
        &workflow,
        &args.bootstrap_servers,
        &workflow,
        &live_topic,
        "now",
    )
    .await?;

    let count = args.rate * args.seconds;
    let (bodies, _) = signed_bodies(Algorithm::Ed25519, count, |i| {
        let name = format!("bench-{run}-{i}");
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": name, "digest": {"sha256": hex::encode(Sha256::digest(name.as_bytes()))}}],
            "predicateType": "https://evledger.dev/attestation/v1",
            "predicate": {
                "workflow": {"name": workflow, "project": "bench"},
                "contractRevision": 1,
                "runner": {"type": "RUNNER_TYPE_UNSPECIFIED"},
            },
        })
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    let live = consume(&args.bootstrap_servers, &live_topic, stop.clone())?;

    // Paced appends: entry i is sent at start + i/rate.
    let bodies = Arc::new(bodies);
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let next = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let url = format!("{base}/api/v1/log/entries");
    let authorization = format!("Bearer {token}");
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.clients.max(1) {
        let (client, url, bodies, sent_at, next, failures, authorization) = (
            client.clone(),
            url.clone(),
            bodies.clone(),
            sent_at.clone(),
            next.clone(),
            failures.clone(),
            authorization.clone(),
        );
        let rate = args.rate.max(1);
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
                tokio::time::sleep_until(due.into()).await;
                let sent = Instant::now();
                let answer = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("authorization", authorization.as_str())
                    .body(bodies[i as usize].clone())
                    .send()
                    .await;
                let leaf = match answer {
                    Ok(r) if r.status().as_u16() == 201 => r
                        .json::<Value>()
                        .await
                        .ok()
                        .and_then(|v| v["leafHash"].as_str().map(str::to_string)),
                    _ => None,
                };
                match leaf {
                    Some(leaf) => {
                        if let Ok(mut sent_at) = sent_at.lock() {
                            sent_at.insert(leaf, sent);
                        }
                    }
                    None => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    let append_seconds = started.elapsed().as_secs_f64();
    let sent_at = sent_at
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let keys: Vec<String> = sent_at.keys().cloned().collect();
    eprintln!(
        "appended {} in {append_seconds:.2}s ({:.0}/s); waiting for the consumer",
        keys.len(),
        keys.len() as f64 / append_seconds
    );
    wait_all(&live, &keys, Duration::from_secs(120)).await?;
    let mut lags: Vec<Duration> = {
        let arrivals = live.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        keys.iter()
            .filter_map(|k| Some(arrivals.get(k)?.saturating_duration_since(*sent_at.get(k)?)))
            .collect()
    };
    lags.sort();

    // Throughput: a second sink drains the whole workflow from the start.
    let drain = consume(&args.bootstrap_servers, &drain_topic, stop.clone())?;
    let attached = Instant::now();
    api.kafka_sink(
        &format!("{workflow}-drain"),
        &args.bootstrap_servers,
        &workflow,
        &drain_topic,
        "start",
    )
    .await?;
    let last = wait_all(&drain, &keys, Duration::from_secs(300)).await?;
    let drain_seconds = last.duration_since(attached).as_secs_f64();
    let drain_rate = keys.len() as f64 / drain_seconds;

    eprintln!("baseline: the same rate and size straight to the broker");
    let size = bodies.first().map_or(1024, |b| b.len());
    let (base_lags, base_rate) = baseline(
        &args.bootstrap_servers,
        &format!("evledger.bench.{run:08x}.baseline"),
        keys.len() as u64,
        args.rate.max(1),
        size,
        stop.clone(),
    )
    .await?;
    stop.store(true, Ordering::Relaxed);

    let p = |lags: &[Duration], q| percentile_ms(lags, q);
    let summary = json!({
        "benchmark": "fanout-kafka",
        "offeredPerSecond": args.rate,
        "appended": keys.len(),
        "appendFailures": failures.load(Ordering::Relaxed),
        "appendedPerSecond": keys.len() as f64 / append_seconds,
        "lagMs": {"p50": p(&lags, 0.5), "p99": p(&lags, 0.99), "max": p(&lags, 1.0)},
        "drainEventsPerSecond": drain_rate,
        "baseline": {
            "lagMs": {"p50": p(&base_lags, 0.5), "p99": p(&base_lags, 0.99), "max": p(&base_lags, 1.0)},
            "producePerSecond": base_rate,
        },
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "fanout-kafka: {} appended at {:.0}/s (offered {}/s, {} failed)\n  lag append->consumer ms p50 {:.1} p99 {:.1} max {:.1}; baseline produce->consumer p50 {:.1} p99 {:.1} max {:.1} (p50 {:.1}x)\n  backlog drain {:.0} events/s; baseline unpaced produce {:.0} msgs/s ({:.2}x)",
            keys.len(),
            keys.len() as f64 / append_seconds,
            args.rate,
            failures.load(Ordering::Relaxed),
            p(&lags, 0.5),
            p(&lags, 0.99),
            p(&lags, 1.0),
            p(&base_lags, 0.5),
            p(&base_lags, 0.99),
            p(&base_lags, 1.0),
            p(&lags, 0.5) / p(&base_lags, 0.5).max(0.001),
            drain_rate,
            base_rate,
            drain_rate / base_rate,
        );
    }
    Ok(())
}

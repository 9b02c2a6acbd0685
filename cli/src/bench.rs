//! Load generators: `evledger bench append` signs real DSSE envelopes and
//! submits them over HTTP with N concurrent clients; `evledger bench proofs`
//! asks a live log for inclusion and consistency proofs. Both report rate
//! and latency percentiles, and show progress on stderr once a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use evledger_ledger::entry::intoto::IN_TOTO_PAYLOAD_TYPE;
use rand::Rng;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::craft::{dsse_submission, Algorithm, SigningKey};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Submit signed DSSE entries with concurrent clients.
    Append(AppendArgs),
    /// Request inclusion and consistency proofs with concurrent clients.
    Proofs(ProofsArgs),
    /// Fan-out to Kafka: append at a fixed rate with a Kafka sink attached,
    /// consume the topic, and report delivery throughput and the lag from
    /// append to consumer.
    Fanout(crate::fanout_bench::FanoutArgs),
}

#[derive(Args)]
pub struct AppendArgs {
    /// Base URL of the log.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Entries to submit.
    #[arg(long, default_value_t = 20_000)]
    count: u64,
    /// Signature algorithm of the envelopes.
    #[arg(long, value_enum, default_value = "ed25519")]
    algorithm: Algorithm,
    /// Token to append with (the ledger's admin token).
    #[arg(long, env = "EVLEDGER_TOKEN", hide_env_values = true)]
    token: String,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ProofsArgs {
    /// Base URL of the log.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Requests of each kind.
    #[arg(long, default_value_t = 20_000)]
    count: u64,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match command {
        BenchCommand::Append(args) => runtime.block_on(append(args)),
        BenchCommand::Proofs(args) => runtime.block_on(proofs(args)),
        BenchCommand::Fanout(args) => runtime.block_on(crate::fanout_bench::run(args)),
    }
}

/// Latencies and outcome counts of one run.
pub(crate) struct Summary {
    name: &'static str,
    elapsed: Duration,
    latencies: Vec<Duration>,
    failures: u64,
}

/// The `p` quantile (0 to 1) of sorted durations, in milliseconds.
pub(crate) fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank].as_secs_f64() * 1000.0
}

impl Summary {
    fn percentile(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies, p)
    }

    pub(crate) fn report(&mut self, json_out: bool, extra: serde_json::Value) {
        self.latencies.sort();
        let ok = self.latencies.len() as f64;
        let rate = ok / self.elapsed.as_secs_f64();
        let summary = json!({
            "benchmark": self.name,
            "ok": self.latencies.len(),
            "failed": self.failures,
            "seconds": self.elapsed.as_secs_f64(),
            "perSecond": rate,
            "latencyMs": {
                "p50": self.percentile(0.50),
                "p90": self.percentile(0.90),
                "p99": self.percentile(0.99),
                "max": self.percentile(1.0),
            },
            "extra": extra,
        });
        if json_out {
            println!("{summary}");
        } else {
            println!(
                "{}: {} ok, {} failed in {:.2}s = {:.0}/s; latency ms p50 {:.2} p90 {:.2} p99 {:.2} max {:.2}",
                self.name,
                self.latencies.len(),
                self.failures,
                self.elapsed.as_secs_f64(),
                rate,
                self.percentile(0.50),
                self.percentile(0.90),
                self.percentile(0.99),
                self.percentile(1.0)
            );
            if !extra.is_null() {
                println!("  {extra}");
            }
        }
    }
}

/// Prints `done/total` to stderr once a second until `done` reaches `total`.
fn spawn_progress(
    label: &'static str,
    done: Arc<AtomicU64>,
    total: u64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let n = done.load(Ordering::Relaxed);
            let secs = started.elapsed().as_secs_f64();
            eprintln!("{label}: {n}/{total} ({:.0}/s)", n as f64 / secs);
            if n >= total {
                break;
            }
        }
    })
}

/// Runs `count` requests over `clients` workers; `request(i)` performs
/// request `i` and says whether it succeeded.
pub(crate) async fn drive<F, Fut>(
    name: &'static str,
    clients: usize,
    count: u64,
    request: F,
) -> Summary
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let progress = spawn_progress(name, done.clone(), count);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients.max(1) {
        let (request, next, done) = (request.clone(), next.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let sent = Instant::now();
                if request(i).await {
                    latencies.push(sent.elapsed());
                } else {
                    failures += 1;
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            (latencies, failures)
        }));
    }
    let mut summary = Summary {
        name,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        failures: 0,
    };
    for worker in workers {
        if let Ok((latencies, failures)) = worker.await {
            summary.latencies.extend(latencies);
            summary.failures += failures;
        }
    }
    summary.elapsed = started.elapsed();
    progress.abort();
    summary
}

pub(crate) fn http_client(clients: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")
}

/// Signs `count` DSSE submissions of the statements `statement(i)`;
/// returns them and the signing time.
pub(crate) fn signed_bodies(
    algorithm: Algorithm,
    count: u64,
    statement: impl Fn(u64) -> serde_json::Value,
) -> anyhow::Result<(Vec<bytes::Bytes>, Duration)> {
    let key = SigningKey::generate(algorithm);
    let public = key.public_pem()?;
    let started = Instant::now();
    let mut bodies = Vec::with_capacity(count as usize);
    for i in 0..count {
        let payload = serde_json::to_vec(&statement(i))?;
        let submission = dsse_submission(&key, &public, IN_TOTO_PAYLOAD_TYPE, &payload);
        bodies.push(bytes::Bytes::from(serde_json::to_vec(&submission)?));
    }
    let signing = started.elapsed();
    eprintln!(
        "signed {count} envelopes in {:.2}s ({:.0}/s)",
        signing.as_secs_f64(),
        count as f64 / signing.as_secs_f64()
    );
    Ok((bodies, signing))
}

async fn append(args: AppendArgs) -> anyhow::Result<()> {
    // Sign everything first, so the run measures the ledger, not the client.
    let run: u64 = rand::thread_rng().gen();
    let (bodies, signing) = signed_bodies(args.algorithm, args.count, |i| {
        let digest = hex::encode(Sha256::digest(format!("{run}-{i}")));
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": format!("artifact-{i}.tar.gz"), "digest": {"sha256": digest}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {"buildDefinition": {"buildType": "https://evledger.dev/bench/v1"}},
        })
    })?;

    let client = http_client(args.clients)?;
    let url = format!("{}/api/v1/log/entries", args.url.trim_end_matches('/'));
    let bodies = Arc::new(bodies);
    let authorization = Arc::new(format!("Bearer {}", args.token.trim()));
    let mut summary = drive("append", args.clients, args.count, move |i| {
        let (client, url, bodies) = (client.clone(), url.clone(), bodies.clone());
        let authorization = authorization.clone();
        async move {
            let body = bodies[i as usize].clone();
            match client
                .post(&url)
                .header("content-type", "application/json")
                .header("authorization", authorization.as_str())
                .body(body)
                .send()
                .await
            {
                Ok(r) => r.status().as_u16() == 201 && r.bytes().await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await;
    summary.report(
        args.json,
        json!({"clients": args.clients, "clientSignaturesPerSecond": args.count as f64 / signing.as_secs_f64()}),
    );
    if summary.failures > 0 {
        bail!("{} submissions failed", summary.failures);
    }
    Ok(())
}

async fn proofs(args: ProofsArgs) -> anyhow::Result<()> {
    let client = http_client(args.clients)?;
    let base = args.url.trim_end_matches('/').to_string();
    let info: serde_json::Value = client
        .get(format!("{base}/api/v1/log"))
        .send()
        .await?
        .json()
        .await?;
    let size = info["treeSize"].as_u64().context("treeSize")?;
    if size < 2 {
        bail!("the log needs at least 2 entries");
    }
    let mut summaries = Vec::new();
    for kind in ["inclusion", "consistency"] {
        let (client, base) = (client.clone(), base.clone());
        let summary = drive(
            if kind == "inclusion" {
                "inclusion-proof"
            } else {
                "consistency-proof"
            },
            args.clients,
            args.count,
            move |_| {
                let (client, base) = (client.clone(), base.clone());
                let a = rand::thread_rng().gen_range(1..size);
                let url = if kind == "inclusion" {
                    format!("{base}/api/v1/log/proof/inclusion?logIndex={a}&treeSize={size}")
                } else {
                    format!("{base}/api/v1/log/proof/consistency?firstSize={a}&lastSize={size}")
                };
                async move {
                    match client.get(&url).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    }
                }
            },
        )
        .await;
        summaries.push(summary);
    }
    for mut summary in summaries {
        summary.report(
            args.json,
            json!({"treeSize": size, "clients": args.clients}),
        );
    }
    Ok(())
}

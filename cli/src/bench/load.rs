//! What the load generators share: a pool of concurrent workers that
//! records each request's latency, the summary it prints, the HTTP client
//! and pre-signed DSSE submissions.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use evledger_ledger::entry::intoto::IN_TOTO_PAYLOAD_TYPE;
use serde_json::json;

use crate::craft::{dsse_submission, Algorithm, SigningKey};

/// Latencies and outcome counts of one run.
pub(super) struct Summary {
    name: &'static str,
    elapsed: Duration,
    latencies: Vec<Duration>,
    pub(super) failures: u64,
}

/// The `p` quantile (0 to 1) of sorted durations, in milliseconds.
pub(super) fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank].as_secs_f64() * 1000.0
}

impl Summary {
    /// Wall-clock time of the run.
    pub(super) fn elapsed(&self) -> Duration {
        self.elapsed
    }

    fn percentile(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies, p)
    }

    pub(super) fn report(&mut self, json_out: bool, extra: serde_json::Value) {
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
pub(super) async fn drive<F, Fut>(
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

/// CPU seconds (user and system) process `pid` has used so far, from
/// `/proc/<pid>/stat`.
pub(super) fn process_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    // Linux reports these times in USER_HZ, which is 100 on every
    // architecture it supports (sysconf(_SC_CLK_TCK)).
    const USER_HZ: f64 = 100.0;
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) is in parentheses and may hold spaces:
    // the fields after its closing parenthesis start at field 3 (state).
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("{path} has no command name"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime), counted from 1.
    let ticks = |n: usize| -> anyhow::Result<f64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .map(|t| t as f64 / USER_HZ)
            .with_context(|| format!("{path} has no field {n}"))
    };
    Ok(ticks(14)? + ticks(15)?)
}

/// GETs `url` and reads the whole answer: whether both succeeded.
pub(super) async fn get_ok(client: reqwest::Client, url: String) -> bool {
    match client.get(&url).send().await {
        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
        Err(_) => false,
    }
}

/// The tree size of the log at `base`, which must hold at least 2 entries.
pub(super) async fn tree_size(client: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let info: serde_json::Value = client
        .get(format!("{base}/api/v1/log"))
        .send()
        .await?
        .json()
        .await?;
    let size = info["treeSize"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("{base}/api/v1/log has no treeSize"))?;
    anyhow::ensure!(size >= 2, "the log needs at least 2 entries");
    Ok(size)
}

pub(super) fn http_client(clients: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")
}

/// Signs `count` DSSE submissions of the statements `statement(i)`;
/// returns them and the signing time.
pub(super) fn signed_bodies(
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

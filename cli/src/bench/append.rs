//! `evledger bench append`: signs every envelope first, so the run
//! measures the ledger, not the client, then submits them over HTTP and
//! checks every answer as a careful client would: a `201`, the checkpoint's
//! signature against the log's key, the entry's leaf hash, its inclusion
//! proof up to the signed root, and no log index answered twice.
//!
//! With `--server-pid` it also reports the server's CPU time per entry
//! acknowledged, from `/proc/<pid>/stat`, so the figure does not depend on
//! how much CPU the client itself uses.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use clap::Args;
use evledger_ledger::{CheckpointVerifier, SignedCheckpoint};
use rand::Rng;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::load::{drive, http_client, process_cpu_seconds, signed_bodies};
use crate::craft::Algorithm;
use crate::verify::check_entry_against;

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
    /// Process id of the server (on this machine): report its CPU time per
    /// acknowledged entry.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// What every worker checks answers against: the log's key, the
/// checkpoints already verified (a batch's entries share one), and the
/// indexes answered so far.
struct Checker {
    verifier: CheckpointVerifier,
    checkpoints: Mutex<HashMap<String, SignedCheckpoint>>,
    indexes: Mutex<HashSet<u64>>,
}

/// Checkpoints kept verified at most; past it the cache starts over.
const MAX_CACHED_CHECKPOINTS: usize = 4096;

impl Checker {
    /// Checks one `201` answer; returns why it is wrong.
    fn check(&self, body: &[u8]) -> anyhow::Result<()> {
        let answer: serde_json::Value = serde_json::from_slice(body).context("answer JSON")?;
        let note = answer["checkpoint"].as_str().context("no checkpoint")?;
        let known = self.lock_checkpoints().get(note).cloned();
        let checkpoint = match known {
            Some(checkpoint) => checkpoint,
            None => {
                let checkpoint = self
                    .verifier
                    .verify(note.as_bytes())
                    .context("checkpoint")?;
                let mut cache = self.lock_checkpoints();
                if cache.len() >= MAX_CACHED_CHECKPOINTS {
                    cache.clear();
                }
                cache.insert(note.to_string(), checkpoint.clone());
                checkpoint
            }
        };
        let (index, _) = check_entry_against(&checkpoint, &answer)?;
        let fresh = self
            .indexes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(index);
        if !fresh {
            bail!("log index {index} was answered twice");
        }
        Ok(())
    }

    fn lock_checkpoints(&self) -> std::sync::MutexGuard<'_, HashMap<String, SignedCheckpoint>> {
        self.checkpoints.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(super) async fn run(args: AppendArgs) -> anyhow::Result<()> {
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
    let base = args.url.trim_end_matches('/').to_string();
    let info: serde_json::Value = client
        .get(format!("{base}/api/v1/log"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .context("reading the log's key")?
        .json()
        .await?;
    let key = info["verifierKey"]
        .as_str()
        .context("the log info has no verifierKey")?;
    let checker = Arc::new(Checker {
        verifier: CheckpointVerifier::new(&[key.to_string()])?,
        checkpoints: Mutex::new(HashMap::new()),
        indexes: Mutex::new(HashSet::new()),
    });
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();

    let url = format!("{base}/api/v1/log/entries");
    let bodies = Arc::new(bodies);
    let authorization = Arc::new(format!("Bearer {}", args.token.trim()));
    let server_cpu_before = args.server_pid.map(process_cpu_seconds).transpose()?;
    let client_cpu_before = process_cpu_seconds(std::process::id())?;
    let errors = first_error.clone();
    let mut summary = drive("append", args.clients, args.count, move |i| {
        let (client, url, bodies) = (client.clone(), url.clone(), bodies.clone());
        let (authorization, checker, errors) =
            (authorization.clone(), checker.clone(), errors.clone());
        async move {
            let body = bodies[i as usize].clone();
            let outcome = async {
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("authorization", authorization.as_str())
                    .body(body)
                    .send()
                    .await?;
                let status = response.status();
                let answer = response.bytes().await?;
                if status != reqwest::StatusCode::CREATED {
                    bail!("{status}: {}", String::from_utf8_lossy(&answer));
                }
                checker.check(&answer)
            }
            .await;
            match outcome {
                Ok(()) => true,
                Err(e) => {
                    errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert_with(|| format!("entry {i}: {e:#}"));
                    false
                }
            }
        }
    })
    .await;
    let acknowledged = (args.count - summary.failures).max(1) as f64;
    let client_cpu = process_cpu_seconds(std::process::id())? - client_cpu_before;
    let mut extra = json!({
        "clients": args.clients,
        "clientSignaturesPerSecond": args.count as f64 / signing.as_secs_f64(),
        "clientCpuMicrosPerEntry": client_cpu * 1e6 / acknowledged,
    });
    if let (Some(pid), Some(before)) = (args.server_pid, server_cpu_before) {
        let server_cpu = process_cpu_seconds(pid)? - before;
        extra["serverCpuMicrosPerEntry"] = json!(server_cpu * 1e6 / acknowledged);
        extra["serverCores"] = json!(server_cpu / summary.elapsed().as_secs_f64());
    }
    summary.report(args.json, extra);
    if summary.failures > 0 {
        let first = first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_default();
        bail!(
            "{} submissions failed; the first: {first}",
            summary.failures
        );
    }
    Ok(())
}

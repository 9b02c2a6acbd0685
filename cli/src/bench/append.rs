//! `evledger bench append`: signs every envelope first, so the run
//! measures the ledger, not the client, then submits them over HTTP.

use std::sync::Arc;

use anyhow::bail;
use clap::Args;
use rand::Rng;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::load::{drive, http_client, signed_bodies};
use crate::craft::Algorithm;

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

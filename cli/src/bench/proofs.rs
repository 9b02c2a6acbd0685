//! `evledger bench proofs`: inclusion and consistency proofs of random
//! leaves and sizes of a live log.

use clap::Args;
use rand::Rng;
use serde_json::json;

use super::load::{drive, get_ok, http_client, tree_size};

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

pub(super) async fn run(args: ProofsArgs) -> anyhow::Result<()> {
    let client = http_client(args.clients)?;
    let base = args.url.trim_end_matches('/').to_string();
    let size = tree_size(&client, &base).await?;
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
                get_ok(client, url)
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

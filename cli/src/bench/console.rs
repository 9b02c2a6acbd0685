//! `evledger bench console`: the console's pages of a live log, each
//! requested by concurrent clients, latency per page.

use clap::Args;
use rand::Rng;
use serde_json::json;

use super::load::{drive, get_ok, http_client, tree_size};

#[derive(Args)]
pub struct ConsoleArgs {
    /// Base URL of the log.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Requests of each page.
    #[arg(long, default_value_t = 2_000)]
    count: u64,
    /// A subject digest (`sha256:<hex>`) the search page looks up
    /// (default: a search by kind `dsse`, the most members).
    #[arg(long)]
    digest: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// A page: its name and how to pick the URL of one request of it.
type Page = (&'static str, fn(u64, &str) -> String);

const PAGES: [Page; 8] = [
    ("console-overview", |_, _| "/".into()),
    ("console-entries-newest", |_, _| "/entries".into()),
    ("console-entries-page", |size, _| {
        format!("/entries?before={}", rand::thread_rng().gen_range(1..=size))
    }),
    ("console-entry", |size, _| {
        format!("/entries/{}", rand::thread_rng().gen_range(0..size))
    }),
    ("console-search", |_, query| format!("/search?{query}")),
    ("console-workflows", |_, _| "/workflows".into()),
    ("console-consistency", |_, _| "/consistency".into()),
    ("console-keys", |_, _| "/keys".into()),
];

pub(super) async fn run(args: ConsoleArgs) -> anyhow::Result<()> {
    let client = http_client(args.clients)?;
    let base = args.url.trim_end_matches('/').to_string();
    let size = tree_size(&client, &base).await?;
    let query = match &args.digest {
        Some(d) => format!("hash={d}"),
        None => "kind=dsse".into(),
    };
    let mut summaries = Vec::new();
    for (name, url_of) in PAGES {
        let (client, base, query) = (client.clone(), base.clone(), query.clone());
        let summary = drive(name, args.clients, args.count, move |_| {
            get_ok(client.clone(), format!("{base}{}", url_of(size, &query)))
        })
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

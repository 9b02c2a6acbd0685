//! `evledger reconcile`: rebuilds and follows the search index of a ledger
//! that runs elsewhere, reading its tiles and entry bundles over HTTP and
//! verifying each against a signed checkpoint; `--verify` compares index
//! and log, `--repair` fixes what differs.

use std::path::Path;

use anyhow::bail;
use clap::Args;
use evledger_ledger::CheckpointVerifier;
use evledger_reconciler::verify::verify_index;
use evledger_reconciler::{Reconciler, RemoteLog};

#[derive(Args)]
pub struct ReconcileArgs {
    /// Base URL of the ledger.
    #[arg(long, env = "EVLEDGER_URL")]
    url: String,
    /// The ledger's verifier key (checkpoints are verified with it).
    #[arg(long, env = "EVLEDGER_VERIFIER_KEY")]
    key: String,
    /// Redis URL of the index (redis://HOST:PORT/DB).
    #[arg(long, env = "EVLEDGER_REDIS_URL")]
    redis_url: String,
    /// Prefix of every Redis key of the index.
    #[arg(long, env = "EVLEDGER_REDIS_PREFIX", default_value = crate::index_store::DEFAULT_PREFIX)]
    redis_prefix: String,
    /// Catch up once and exit instead of following the log.
    #[arg(long)]
    once: bool,
    /// Compare index and log and report differences (exit 1 if any).
    #[arg(long)]
    verify: bool,
    /// With --verify: fix the differences.
    #[arg(long, requires = "verify")]
    repair: bool,
    /// Entries per atomic index write.
    #[arg(long, default_value_t = evledger_reconciler::DEFAULT_BATCH)]
    batch: usize,
}

pub fn run(args: ReconcileArgs) -> anyhow::Result<()> {
    crate::runtime::init_tracing("text");
    crate::runtime::multi_thread()?.block_on(reconcile(args))
}

async fn reconcile(args: ReconcileArgs) -> anyhow::Result<()> {
    let verifier = CheckpointVerifier::new(&[args.key.as_str()])?;
    let source = RemoteLog::new(&args.url, verifier)?;
    let store =
        crate::index_store::open_store(Some(&args.redis_url), &args.redis_prefix, Path::new(""))
            .await?;
    let reconciler = Reconciler::new(source, store).with_batch(args.batch);

    if args.verify {
        let bar = crate::runtime::progress_bar(if args.repair { "repair" } else { "verify" });
        let report = verify_index(
            reconciler.source(),
            reconciler.store(),
            args.repair,
            &|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            },
        )
        .await?;
        bar.finish_and_clear();
        println!(
            "compared {} keys over {} entries: {} keys with missing members, {} with extra members",
            report.keys,
            report.entries,
            report.missing.len(),
            report.extra.len()
        );
        for (key, members) in &report.missing {
            println!("missing {key}: {members:?}");
        }
        for (key, members) in &report.extra {
            println!("extra   {key}: {members:?}");
        }
        if report.is_clean() {
            println!("index matches the log");
        } else if args.repair {
            println!("repaired");
        } else {
            bail!("index differs from the log (run with --repair to fix)");
        }
        return Ok(());
    }

    let bar = crate::runtime::progress_bar("index");
    let indexed = reconciler
        .catch_up(&|done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .await?;
    bar.finish_and_clear();
    println!("indexed {indexed} entries");
    if args.once {
        return Ok(());
    }
    let (_stop, stop) = tokio::sync::watch::channel(false);
    reconciler.run(stop).await?;
    Ok(())
}

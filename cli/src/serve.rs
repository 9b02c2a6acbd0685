//! `evledger serve`: opens the log, starts the sequencer and the HTTP API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use evledger_ledger::{BatchPolicy, Ledger, LedgerConfig, LogSigner};
use tracing::info;

/// Default log origin (and key name) for a new ledger.
pub const DEFAULT_ORIGIN: &str = "evledger.local/log";

#[derive(Args)]
pub struct ServeArgs {
    /// Directory of the log database and the generated signing key.
    #[arg(long, env = "EVLEDGER_DATA_DIR", default_value = "./evledger-data")]
    data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "EVLEDGER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Note signer key file (PRIVATE+KEY+...). Default: <data-dir>/signing.key,
    /// generated on first start. EVLEDGER_SIGNING_KEY overrides both.
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Origin of a newly generated key (the log's name in checkpoints).
    #[arg(long, env = "EVLEDGER_ORIGIN", default_value = DEFAULT_ORIGIN)]
    origin: String,
    /// Most submissions sequenced in one batch (one fsync, one checkpoint).
    #[arg(long, default_value_t = BatchPolicy::default().max_batch)]
    batch_max: usize,
    /// Milliseconds the sequencer waits for more submissions once one has arrived.
    #[arg(long, default_value_t = 0)]
    batch_window_ms: u64,
    /// Redis URL of the search index (redis://HOST:PORT/DB). Without it, an
    /// embedded index lives in <data-dir>/index.
    #[arg(long, env = "EVLEDGER_REDIS_URL")]
    redis_url: Option<String>,
    /// Prefix of every Redis key of the index.
    #[arg(long, env = "EVLEDGER_REDIS_PREFIX", default_value = crate::reconcile::DEFAULT_PREFIX)]
    redis_prefix: String,
    /// Log format: text or json.
    #[arg(long, env = "EVLEDGER_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing(&args.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

pub fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let key_path = args
        .key_file
        .clone()
        .unwrap_or_else(|| args.data_dir.join("signing.key"));
    let (signer, generated) = LogSigner::load_or_generate(&key_path, &args.origin)?;
    if generated {
        info!(path = %key_path.display(), "generated a new signing key");
    }
    let verifier_key = signer.verifier_key().to_string();
    let ledger = Ledger::open(LedgerConfig {
        data_dir: args.data_dir.clone(),
        signer,
        batch: BatchPolicy {
            max_batch: args.batch_max.max(1),
            batch_window: Duration::from_millis(args.batch_window_ms),
        },
    })
    .context("opening the log (is another evledger serving this data dir?)")?;
    let metrics = evledger_api::metrics::install_recorder();
    let index = crate::reconcile::open_store(
        args.redis_url.as_deref(),
        &args.redis_prefix,
        &args.data_dir.join("index"),
    )
    .await?;
    // The reconciler is the only writer of the index; the API only reads it.
    let (stop_reconciler, stop) = tokio::sync::watch::channel(false);
    let reconciler = evledger_reconciler::Reconciler::new(
        evledger_reconciler::LocalLog::new(ledger.clone()),
        index.clone(),
    );
    let state = evledger_api::AppState::new(ledger.clone(), Some(index), metrics);
    let reporter = state.clone();
    let reconciling = tokio::spawn(async move {
        if let Err(e) = reconciler.run(stop).await {
            tracing::error!(error = %e, "the reconciler stopped; searches answer from a stale index");
            metrics::counter!("evledger_reconciler_failures_total").increment(1);
            reporter.report_index_failure(e.to_string());
        }
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let checkpoint = ledger.checkpoint();
    info!(
        listen = %bound,
        origin = ledger.origin(),
        tree_size = checkpoint.size,
        verifier_key = %verifier_key,
        "evledger serving"
    );
    println!("verifier key: {verifier_key}");
    // Tests and scripts read these two lines; keep their form.
    println!("listening on http://{bound}");
    evledger_api::serve(listener, state, shutdown_signal())
        .await
        .context("serving HTTP")?;
    let _ = stop_reconciler.send(true);
    let _ = reconciling.await;
    info!("shut down: every acknowledged entry is durable");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. In-flight requests (and so the batch
/// they wait on) finish before the server returns.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    info!("shutdown requested; finishing requests in flight");
}

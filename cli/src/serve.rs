//! `evledger serve`: opens the log, starts the sequencer and the HTTP API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use evledger_api::witness_client::{WitnessEndpoint, WitnessPolicy};
use evledger_ledger::{BatchPolicy, Ledger, LedgerConfig, LogSigner};
use tracing::info;

/// What failed when the log does not open. A RocksDB "lock" error here
/// means another process has the data directory open. (The text must not
/// read like the startup line, "evledger serving ...": supervisors and
/// tests watch for that line.)
const OPEN_LOG_CONTEXT: &str =
    "opening the log (a lock error means another evledger process has this data dir open)";

/// Default log origin (and key name) for a new ledger.
pub const DEFAULT_ORIGIN: &str = "evledger.local/log";

#[derive(Args)]
pub struct ServeArgs {
    /// TOML file of settings: each key is a flag's name (`batch-max = 64`);
    /// environment variables override it, flags override both.
    #[arg(long, env = "EVLEDGER_CONFIG")]
    config: Option<PathBuf>,
    /// Directory of the log database and the generated signing key.
    #[arg(long, env = "EVLEDGER_DATA_DIR", default_value = "./evledger-data")]
    data_dir: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "EVLEDGER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Note signer key file (PRIVATE+KEY+...). Default: <data-dir>/signing.key,
    /// generated on first start. EVLEDGER_SIGNING_KEY overrides both.
    #[arg(long, env = "EVLEDGER_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Origin of a newly generated key (the log's name in checkpoints).
    #[arg(long, env = "EVLEDGER_ORIGIN", default_value = DEFAULT_ORIGIN)]
    origin: String,
    /// Most submissions sequenced in one batch (one fsync, one checkpoint).
    #[arg(long, env = "EVLEDGER_BATCH_MAX", default_value_t = BatchPolicy::default().max_batch)]
    batch_max: usize,
    /// Milliseconds the sequencer waits for more submissions once one has arrived.
    #[arg(long, env = "EVLEDGER_BATCH_WINDOW_MS", default_value_t = 0)]
    batch_window_ms: u64,
    /// Redis URL of the search index (redis://HOST:PORT/DB). Without it, an
    /// embedded index lives in <data-dir>/index.
    #[arg(long, env = "EVLEDGER_REDIS_URL")]
    redis_url: Option<String>,
    /// Prefix of every Redis key of the index.
    #[arg(long, env = "EVLEDGER_REDIS_PREFIX", default_value = crate::index_store::DEFAULT_PREFIX)]
    redis_prefix: String,
    /// Log format: text or json.
    #[arg(long, env = "EVLEDGER_LOG_FORMAT", default_value = "text")]
    log_format: String,
    /// Run the index writer in this process. Set it false when a separate
    /// `evledger reconcile` writes the Redis index (the API then only reads it).
    #[arg(long, env = "EVLEDGER_RECONCILE", default_value_t = true, action = clap::ArgAction::Set)]
    reconcile: bool,
    /// File holding the admin token (needed for admin operations and for
    /// appending anything but robot-account attestations). Default:
    /// <data-dir>/admin.token, generated on first start (mode 0600).
    /// EVLEDGER_ADMIN_TOKEN overrides both.
    #[arg(long, env = "EVLEDGER_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// A witness to ask for cosignatures, as `VKEY=URL` (its cosignature/v1
    /// verifier key and submission prefix). Repeat for each witness.
    #[arg(
        long = "witness",
        env = "EVLEDGER_WITNESSES",
        value_name = "VKEY=URL",
        value_delimiter = ','
    )]
    witnesses: Vec<String>,
    /// Cosignatures a checkpoint needs to count as witnessed (default: all
    /// witnesses). Checkpoints below it are still served, and counted.
    #[arg(long, env = "EVLEDGER_WITNESS_QUORUM")]
    witness_quorum: Option<usize>,
    /// Shortest time between two witnessing rounds, in milliseconds.
    #[arg(long, env = "EVLEDGER_WITNESS_INTERVAL_MS", default_value_t = 1000)]
    witness_interval_ms: u64,
    /// Longest wait for one witness's answer, in milliseconds.
    #[arg(long, env = "EVLEDGER_WITNESS_TIMEOUT_MS", default_value_t = 5000)]
    witness_timeout_ms: u64,
    /// Run the sinks of attached integrations (Kafka, gRPC, webhooks) in
    /// this process. Their cursors live in this ledger's database, so only
    /// the process serving the log runs them.
    #[arg(long, env = "EVLEDGER_FANOUT", default_value_t = true, action = clap::ArgAction::Set)]
    fanout: bool,
    /// The latest checkpoint the log published (a signed note: the live
    /// `/checkpoint`, a witness's or a monitor's copy). A ledger restored
    /// from a backup refuses appends until given it: it must verify with
    /// the log key, be no larger than the restored tree and match its root
    /// at that size. If it does not, `serve` refuses to start: the copy
    /// cannot continue the log; start a new log (new origin and key).
    #[arg(long, env = "EVLEDGER_RESUME_FROM", value_name = "CHECKPOINT_FILE")]
    resume_from: Option<PathBuf>,
    /// Let callers without a token write through Rekor v2's API
    /// (`POST /api/v2/log/entries`), as Rekor runs: Sigstore clients send
    /// no credentials. Every signature is still verified, every evledger
    /// attestation still meets its contract, and each client IP is limited
    /// (`--rekor-open-per-minute`, `--rekor-open-burst`). Off by default:
    /// anyone who can reach the server can then add entries to the log.
    #[arg(long, env = "EVLEDGER_REKOR_OPEN_WRITES", default_value_t = false, action = clap::ArgAction::Set)]
    rekor_open_writes: bool,
    /// Open Rekor v2 writes allowed per client IP (IPv6: per /64) a minute.
    #[arg(long, env = "EVLEDGER_REKOR_OPEN_PER_MINUTE", default_value_t = 120)]
    rekor_open_per_minute: u32,
    /// Open Rekor v2 writes a client may make at once before the per-minute
    /// limit applies.
    #[arg(long, env = "EVLEDGER_REKOR_OPEN_BURST", default_value_t = 20)]
    rekor_open_burst: u32,
}

impl ServeArgs {
    /// The witness policy of the flags, if any witness is configured.
    fn witness_policy(&self) -> anyhow::Result<Option<WitnessPolicy>> {
        if self.witnesses.is_empty() {
            return Ok(None);
        }
        let witnesses = self
            .witnesses
            .iter()
            .map(|w| WitnessEndpoint::parse(w).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let quorum = self.witness_quorum.unwrap_or(witnesses.len());
        anyhow::ensure!(
            quorum <= witnesses.len(),
            "--witness-quorum {quorum} exceeds the {} witnesses given",
            witnesses.len()
        );
        Ok(Some(WitnessPolicy {
            witnesses,
            quorum,
            interval: Duration::from_millis(self.witness_interval_ms),
            timeout: Duration::from_millis(self.witness_timeout_ms.max(1)),
        }))
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    crate::runtime::init_tracing(&args.log_format);
    crate::runtime::multi_thread()?.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let witness_policy = args.witness_policy()?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let key_path = args
        .key_file
        .clone()
        .unwrap_or_else(|| args.data_dir.join("signing.key"));
    refuse_new_key_for_existing_log(&key_path, &args.data_dir)?;
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
    .context(OPEN_LOG_CONTEXT)?;
    resume(&ledger, args.resume_from.as_deref())?;
    let admin_token_path = args
        .admin_token_file
        .clone()
        .unwrap_or_else(|| args.data_dir.join("admin.token"));
    let (admin_token, admin_token_source) = admin_token(&admin_token_path)?;
    let evidence = std::sync::Arc::new(
        evledger_evidence::Evidence::open(&args.data_dir.join("evidence"), ledger.clone())
            .context("opening the evidence store")?,
    );
    let metrics = evledger_api::metrics::install_recorder();
    let index = crate::index_store::open_store(
        args.redis_url.as_deref(),
        &args.redis_prefix,
        &args.data_dir.join("index"),
    )
    .await?;
    // The reconciler is the only writer of the index; the API only reads it.
    // `stop_tasks` stops the background tasks (reconciler, witnessing) at shutdown.
    let (stop_tasks, stop) = tokio::sync::watch::channel(false);
    let reconciler = args.reconcile.then(|| {
        evledger_reconciler::Reconciler::new(
            evledger_reconciler::LocalLog::new(ledger.clone()),
            index.clone(),
        )
    });
    let state = evledger_api::AppState::new(
        ledger.clone(),
        evidence,
        Some(&admin_token),
        Some(index),
        metrics,
    );
    if args.rekor_open_writes {
        state.open_rekor_writes(args.rekor_open_per_minute, args.rekor_open_burst);
        tracing::warn!(
            per_minute = args.rekor_open_per_minute,
            burst = args.rekor_open_burst,
            "Rekor v2 writes are open to callers without a token"
        );
    }
    let fanout = args
        .fanout
        .then(|| evledger_fanout::FanOut::new(ledger.clone()));
    if let Some(fanout) = &fanout {
        let started = state
            .run_fanout(fanout.clone())
            .map_err(|e| anyhow::anyhow!("starting the integration sinks: {}", e.message))?;
        info!(sinks = started, "fan-out running");
    }
    let reporter = state.clone();
    if reconciler.is_none() {
        info!("the index is written by a separate reconciler; this server only reads it");
    }
    let reconciling = reconciler.map(|reconciler| {
        tokio::spawn(async move {
            if let Err(e) = reconciler.run(stop).await {
                tracing::error!(error = %e, "the reconciler stopped; searches answer from a stale index");
                metrics::counter!("evledger_reconciler_failures_total").increment(1);
                reporter.report_index_failure(e.to_string());
            }
        })
    });
    let witnessing = witness_policy.map(|policy| {
        info!(
            witnesses = policy.witnesses.len(),
            quorum = policy.quorum,
            "checkpoints are sent to witnesses"
        );
        let (publish, published) = tokio::sync::watch::channel(None);
        let witnesses = evledger_api::Witnesses {
            keys: policy
                .witnesses
                .iter()
                .map(|w| w.verifier.verifier_key())
                .collect(),
            quorum: policy.quorum,
        };
        state.serve_cosigned(published, witnesses);
        tokio::spawn(evledger_api::witness_client::run(
            ledger.clone(),
            policy,
            publish,
            stop_tasks.subscribe(),
        ))
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
    println!("admin token: {admin_token_source}");
    // Tests and scripts read these two lines; keep their form.
    println!("verifier key: {verifier_key}");
    println!("listening on http://{bound}");
    evledger_api::serve(listener, state, crate::runtime::shutdown_signal())
        .await
        .context("serving HTTP")?;
    let _ = stop_tasks.send(true);
    for task in reconciling.into_iter().chain(witnessing) {
        let _ = task.await;
    }
    if let Some(fanout) = fanout {
        fanout.shutdown().await;
    }
    info!("shut down: every acknowledged entry is durable");
    Ok(())
}

/// A generated key on a log that has entries would start a second log
/// under the same name: refuse when the key file is missing (and no key is
/// in [`SIGNING_KEY_ENV`]) but the data directory holds a tree.
///
/// [`SIGNING_KEY_ENV`]: evledger_ledger::checkpoint::SIGNING_KEY_ENV
fn refuse_new_key_for_existing_log(
    key_path: &std::path::Path,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    if std::env::var_os(evledger_ledger::checkpoint::SIGNING_KEY_ENV).is_some() || key_path.exists()
    {
        return Ok(());
    }
    let size = Ledger::stored_tree_size(data_dir).context(OPEN_LOG_CONTEXT)?;
    anyhow::ensure!(
        size == 0,
        "the signing key {} is missing, but the log in {} holds {size} entries: refusing to \
         generate a new key for an existing log. Give its key (--key-file or {}), or start a \
         new log in a new data directory",
        key_path.display(),
        data_dir.display(),
        evledger_ledger::checkpoint::SIGNING_KEY_ENV,
    );
    Ok(())
}

/// Largest `--resume-from` file read (a checkpoint note is far smaller).
const MAX_RESUME_FILE: u64 = evledger_ledger::checkpoint::MAX_CHECKPOINT_SIZE as u64;

/// Applies `--resume-from` (see [`Ledger::resume`]); without it, says
/// loudly that a restored copy refuses appends.
fn resume(ledger: &Ledger, resume_from: Option<&std::path::Path>) -> anyhow::Result<()> {
    let Some(path) = resume_from else {
        if let Some(halt) = ledger.halt() {
            tracing::warn!(code = halt.code(), "{halt}");
        }
        return Ok(());
    };
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading --resume-from {}", path.display()))?
        .len();
    anyhow::ensure!(
        size <= MAX_RESUME_FILE,
        "--resume-from {} is larger than {MAX_RESUME_FILE} bytes: not a checkpoint",
        path.display()
    );
    let note =
        std::fs::read(path).with_context(|| format!("reading --resume-from {}", path.display()))?;
    let from = ledger
        .resume(&note)
        .with_context(|| format!("resuming from {}", path.display()))?;
    info!(
        published = from,
        tree_size = ledger.checkpoint().size,
        "resumed: the log extends the published checkpoint"
    );
    Ok(())
}

/// Environment variable that may hold the admin token instead of a file.
pub const ADMIN_TOKEN_ENV: &str = "EVLEDGER_ADMIN_TOKEN";

/// The admin token and where it came from: [`ADMIN_TOKEN_ENV`], else the
/// file at `path`, else generated there (mode 0600). The token itself is
/// never logged.
fn admin_token(path: &std::path::Path) -> anyhow::Result<(String, String)> {
    if let Ok(token) = std::env::var(ADMIN_TOKEN_ENV) {
        anyhow::ensure!(
            token.trim().len() >= 16,
            "{ADMIN_TOKEN_ENV} is shorter than 16 characters"
        );
        return Ok((token.trim().to_string(), ADMIN_TOKEN_ENV.to_string()));
    }
    let source = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(token) => {
            let token = token.trim().to_string();
            anyhow::ensure!(
                token.len() >= 16,
                "{source} holds a token shorter than 16 characters"
            );
            Ok((token, source))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use base64::Engine;
            let mut secret = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
            let token = format!(
                "evla_{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
            );
            evledger_ledger::checkpoint::write_private(path, format!("{token}\n").as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            info!(path = %path.display(), "generated the admin token");
            Ok((token, source))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

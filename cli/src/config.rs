//! `serve --config FILE`: settings from a TOML file, under environment
//! variables and flags.
//!
//! ```toml
//! data-dir = "/var/lib/evledger"
//! listen = "0.0.0.0:8080"
//! batch-max = 2048
//! witness = ["witness.example/w1+1a2b3c4d+BA...=https://w1.example"]
//! ```
//!
//! Each key is the name of a `serve` flag. The file only fills the
//! environment variables the flags read (`batch-max` → `EVLEDGER_BATCH_MAX`)
//! that are not already set, so the order is: flag, then environment, then
//! file, then the built-in default. Unknown keys are refused, naming them.

use std::path::Path;

use anyhow::{bail, Context};
use clap::Args;

use crate::serve::ServeArgs;

/// Largest config file read.
const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

/// `(flag name, environment variable)` of every `serve` setting a file may hold.
pub fn settings() -> Vec<(String, String)> {
    ServeArgs::augment_args(clap::Command::new("serve"))
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            let env = arg.get_env()?.to_str()?;
            (long != "config").then(|| (long.to_string(), env.to_string()))
        })
        .collect()
}

/// Reads `path` and sets, for each key, its flag's environment variable
/// unless the environment already has it. Call before parsing the flags,
/// while the process has one thread.
///
/// # Errors
///
/// An unreadable or malformed file, an unknown key, or a value of a kind
/// a flag cannot take (a table).
pub fn apply(path: &Path) -> anyhow::Result<()> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading config {}", path.display()))?
        .len();
    anyhow::ensure!(
        size <= MAX_CONFIG_SIZE,
        "config {} is larger than 1 MiB",
        path.display()
    );
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
    let settings = settings();
    for (key, value) in table {
        let Some((_, env)) = settings.iter().find(|(long, _)| *long == key) else {
            let known: Vec<&str> = settings.iter().map(|(long, _)| long.as_str()).collect();
            bail!(
                "config {}: unknown key {key:?} (known: {})",
                path.display(),
                known.join(", ")
            );
        };
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => bail!(
                        "config {}: {key} holds {other}, not strings",
                        path.display()
                    ),
                })
                .collect::<anyhow::Result<Vec<_>>>()?
                .join(","),
            other => bail!(
                "config {}: {key} = {other} is not a flag value",
                path.display()
            ),
        };
        if std::env::var_os(env).is_none() {
            // Single-threaded here: nothing else reads the environment yet.
            std::env::set_var(env, text);
        }
    }
    Ok(())
}

/// The config file named on a `serve` command line (`--config FILE`,
/// `--config=FILE`) or in `EVLEDGER_CONFIG`.
pub fn requested(args: &[String]) -> Option<String> {
    if args.get(1).map(String::as_str) != Some("serve") {
        return None;
    }
    let mut iter = args.iter().skip(2);
    while let Some(arg) = iter.next() {
        if arg == "--config" {
            return iter.next().cloned();
        }
        if let Some(value) = arg.strip_prefix("--config=") {
            return Some(value.to_string());
        }
    }
    std::env::var("EVLEDGER_CONFIG").ok()
}

//! `evledger pack`: downloads an evidence pack from a ledger
//! (`GET /api/v1/packs`), scoped to a workflow and a log range or to a
//! search, writes it to `--out`, and with `--key` verifies the file
//! written exactly as `evledger verify pack` does; a pack that does not
//! verify is deleted, and the command fails naming the check.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use clap::{ArgGroup, Args};
use evledger_ledger::CheckpointVerifier;
use evledger_pack::MAX_PACK_SIZE;
use tracing::info;

use crate::workflow::ApiFailure;

/// How long the ledger may take to build and send a pack: up to
/// `MAX_PACK_ENTRIES` proofs and `MAX_PACK_BLOB_BYTES` of blobs.
const PACK_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// Bytes read from the response per step of the progress bar.
const CHUNK: usize = 64 * 1024;

#[derive(Args)]
#[command(group(
    ArgGroup::new("selection")
        .required(true)
        .multiple(true)
        .args(["workflow", "hash", "key_fingerprint", "predicate_type", "kind", "project", "annotation"])
))]
pub struct PackArgs {
    /// Base URL of the ledger.
    #[arg(long = "server", visible_alias = "url", env = "EVLEDGER_URL")]
    server: String,
    /// Bearer token, if the ledger wants one to read.
    #[arg(long, env = "EVLEDGER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Pack this workflow's attestations (and the contract revisions in force).
    #[arg(long)]
    workflow: Option<String>,
    /// First log index of the range.
    #[arg(long)]
    from: Option<u64>,
    /// Log index where the range stops (exclusive).
    #[arg(long)]
    to: Option<u64>,
    /// Include the CAS blobs the entries name.
    #[arg(long)]
    blobs: bool,
    /// With --blobs: at most this many bytes of blobs (the ledger refuses a
    /// pack that would need more).
    #[arg(long, requires = "blobs")]
    max_blob_bytes: Option<u64>,
    /// Search: a digest, `<alg>:<hex>` (subject, payload or envelope).
    #[arg(long)]
    hash: Option<String>,
    /// Search: a signer key fingerprint (SHA-256 of the SPKI, hex).
    #[arg(long)]
    key_fingerprint: Option<String>,
    /// Search: an in-toto predicate type.
    #[arg(long)]
    predicate_type: Option<String>,
    /// Search: an entry kind.
    #[arg(long)]
    kind: Option<String>,
    /// Search: a project.
    #[arg(long)]
    project: Option<String>,
    /// Search: an annotation, `name=value`.
    #[arg(long)]
    annotation: Option<String>,
    /// How the search criteria combine.
    #[arg(long, value_parser = ["and", "or"])]
    operator: Option<String>,
    /// The log's verifier key (`name+id+base64`), or a file holding it
    /// (`@FILE` or a path): verify the pack before saying it is done.
    #[arg(long)]
    key: Option<String>,
    /// Where to write the pack.
    #[arg(long)]
    out: PathBuf,
}

impl PackArgs {
    /// The query parameters of `GET /api/v1/packs`.
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        let text = [
            ("workflow", &self.workflow),
            ("hash", &self.hash),
            ("keyFingerprint", &self.key_fingerprint),
            ("predicateType", &self.predicate_type),
            ("kind", &self.kind),
            ("project", &self.project),
            ("annotation", &self.annotation),
            ("operator", &self.operator),
        ];
        for (name, value) in text {
            if let Some(value) = value {
                query.push((name, value.clone()));
            }
        }
        for (name, value) in [("from", self.from), ("to", self.to)] {
            if let Some(value) = value {
                query.push((name, value.to_string()));
            }
        }
        if self.blobs {
            query.push(("blobs", "true".into()));
        }
        if let Some(max) = self.max_blob_bytes {
            query.push(("maxBlobBytes", max.to_string()));
        }
        query
    }
}

pub fn run(args: PackArgs) -> anyhow::Result<()> {
    crate::runtime::init_tracing("text");
    if let (Some(from), Some(to)) = (args.from, args.to) {
        ensure!(
            from < to,
            "--from {from} must be below --to {to} (exclusive)"
        );
    }
    // The key is read before the download, so a bad key fails at once.
    let key = args
        .key
        .as_deref()
        .map(crate::verify::key_or_file)
        .transpose()?;
    let checkpoints = key
        .as_deref()
        .map(|k| CheckpointVerifier::new(&[k]))
        .transpose()?;

    let zip = download(&args)?;
    write(&args.out, &zip)?;
    info!(path = %args.out.display(), bytes = zip.len(), "pack written");

    let (Some(key), Some(checkpoints)) = (key, checkpoints) else {
        println!(
            "wrote {} ({} bytes); not verified: give --key, or run `evledger verify pack --key <log key> {}`",
            args.out.display(),
            zip.len(),
            args.out.display()
        );
        return Ok(());
    };
    // What is checked is the file as written, read back.
    let written =
        std::fs::read(&args.out).with_context(|| format!("reading back {}", args.out.display()))?;
    match crate::verify::verify_pack_bytes(&written, &key, &checkpoints) {
        Ok(report) => {
            crate::verify::print_pack_report(&report);
            println!("wrote {} ({} bytes)", args.out.display(), written.len());
            Ok(())
        }
        Err(e) => {
            let removed = std::fs::remove_file(&args.out);
            if let Err(r) = &removed {
                tracing::error!(path = %args.out.display(), error = %r, "could not delete the pack that failed verification");
            }
            Err(anyhow::Error::new(e).context(format!(
                "the pack from {} does not verify{}",
                args.server,
                if removed.is_ok() {
                    format!("; {} deleted", args.out.display())
                } else {
                    String::new()
                }
            )))
        }
    }
}

/// GETs the pack, with a progress bar, refusing more than `MAX_PACK_SIZE`
/// bytes; an error status is the ledger's JSON error.
fn download(args: &PackArgs) -> anyhow::Result<Vec<u8>> {
    let url = format!("{}/api/v1/packs", args.server.trim_end_matches('/'));
    let mut request = crate::client::client_with_timeout(PACK_DOWNLOAD_TIMEOUT)?
        .get(&url)
        .query(&args.query());
    if let Some(token) = &args.token {
        request = request.bearer_auth(token.trim());
    }
    info!(url = %url, "requesting an evidence pack");
    let response = request.send().with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if !status.is_success() {
        let mut body = Vec::new();
        response
            .take(crate::client::MAX_RESPONSE)
            .read_to_end(&mut body)
            .with_context(|| format!("reading {url}"))?;
        let body = serde_json::from_slice(&body)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into()));
        return Err(ApiFailure {
            status: status.as_u16(),
            body,
        })
        .with_context(|| format!("GET {url}"));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    ensure!(
        content_type.starts_with("application/zip"),
        "GET {url}: the answer is {content_type:?}, not application/zip"
    );
    let declared = response.content_length();
    if let Some(len) = declared {
        ensure!(
            len <= MAX_PACK_SIZE as u64,
            "GET {url}: the pack is {len} bytes; a pack is at most {MAX_PACK_SIZE}"
        );
    }
    let bar = crate::runtime::download_bar("pack", declared);
    let mut zip = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut body = response.take(MAX_PACK_SIZE as u64 + 1);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = body
            .read(&mut chunk)
            .with_context(|| format!("reading {url}"))?;
        if n == 0 {
            break;
        }
        zip.extend_from_slice(&chunk[..n]);
        bar.set_position(zip.len() as u64);
    }
    bar.finish_and_clear();
    if zip.len() > MAX_PACK_SIZE {
        bail!("GET {url}: the answer is larger than a pack may be ({MAX_PACK_SIZE} bytes)");
    }
    if declared.is_some_and(|len| len != zip.len() as u64) {
        bail!(
            "GET {url}: the answer ended after {} of {} bytes",
            zip.len(),
            declared.unwrap_or_default()
        );
    }
    info!(bytes = zip.len(), "pack downloaded");
    Ok(zip)
}

/// Writes the pack and flushes it to disk.
fn write(path: &std::path::Path, zip: &[u8]) -> anyhow::Result<()> {
    let mut file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(zip)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::PackArgs;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        pack: PackArgs,
    }

    fn parse(args: &[&str]) -> Result<PackArgs, clap::Error> {
        let mut argv = vec!["evledger-pack", "--server", "http://log", "--out", "p.zip"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).map(|c| c.pack)
    }

    #[test]
    fn flags_become_the_endpoints_query_parameters() {
        let args = parse(&[
            "--workflow",
            "build",
            "--from",
            "3",
            "--to",
            "9",
            "--blobs",
            "--max-blob-bytes",
            "100",
            "--hash",
            "sha256:ab",
            "--key-fingerprint",
            "ff",
            "--predicate-type",
            "p",
            "--kind",
            "dsse",
            "--project",
            "core",
            "--annotation",
            "v=1",
            "--operator",
            "or",
        ])
        .expect("parses");
        let query = args.query();
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            query,
            vec![
                ("workflow", "build"),
                ("hash", "sha256:ab"),
                ("keyFingerprint", "ff"),
                ("predicateType", "p"),
                ("kind", "dsse"),
                ("project", "core"),
                ("annotation", "v=1"),
                ("operator", "or"),
                ("from", "3"),
                ("to", "9"),
                ("blobs", "true"),
                ("maxBlobBytes", "100"),
            ]
        );
    }

    #[test]
    fn a_pack_needs_a_selection_and_blob_limits_need_blobs() {
        assert!(parse(&[]).is_err(), "no workflow and no search");
        assert!(parse(&["--from", "1"]).is_err(), "a range alone");
        assert!(parse(&["--kind", "dsse"]).is_ok(), "a search alone");
        assert!(parse(&["--workflow", "w", "--max-blob-bytes", "5"]).is_err());
        assert!(parse(&["--workflow", "w", "--operator", "xor"]).is_err());
    }
}

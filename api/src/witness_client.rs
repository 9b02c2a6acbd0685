//! Collecting witness cosignatures for the log's checkpoints, as a C2SP
//! tlog-witness client (<https://c2sp.org/tlog-witness>).
//!
//! One task follows the ledger's checkpoints. At most once per interval it
//! takes the latest, asks every witness to cosign it (`POST
//! <witness>/add-checkpoint` with a consistency proof from the size that
//! witness last cosigned), checks each answer with that witness's key, and
//! publishes the checkpoint with the cosignatures it got. `/checkpoint`
//! serves the published note. A checkpoint below its quorum is still
//! published (the log never stops for a witness) and counted in
//! `evledger_witness_quorum_missed_total`.

use std::sync::Arc;
use std::time::Duration;

use evledger_ledger::{CosignatureVerifier, Ledger, SignedCheckpoint};
use evledger_witness::AddCheckpoint;
use signed_note::Verifier as _;
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// Largest witness answer read (a few signature lines).
const MAX_WITNESS_RESPONSE: usize = 64 * 1024;

/// A witness the log asks for cosignatures.
#[derive(Debug, Clone)]
pub struct WitnessEndpoint {
    /// Submission prefix; `add-checkpoint` is appended.
    pub url: String,
    /// The witness's `cosignature/v1` key.
    pub verifier: CosignatureVerifier,
}

impl WitnessEndpoint {
    /// Parses `VKEY=URL` (the form of `evledger serve --witness`).
    ///
    /// # Errors
    ///
    /// A message naming what is malformed.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (vkey, url) = spec
            .split_once('=')
            .ok_or_else(|| format!("witness {spec:?} is not VKEY=URL"))?;
        let verifier = CosignatureVerifier::new(vkey).map_err(|e| e.to_string())?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("witness URL {url:?} is not http(s)"));
        }
        Ok(Self {
            url: url.trim_end_matches('/').to_string(),
            verifier,
        })
    }
}

/// Which witnesses to ask, how many must answer, and how often. A witness
/// key listed twice is one witness ([`run`] asks it once).
#[derive(Debug, Clone)]
pub struct WitnessPolicy {
    /// The witnesses.
    pub witnesses: Vec<WitnessEndpoint>,
    /// Cosignatures a checkpoint needs to count as witnessed.
    pub quorum: usize,
    /// Shortest time between two rounds.
    pub interval: Duration,
    /// Longest wait for one witness's answer.
    pub timeout: Duration,
}

/// Where the task stands with one witness.
struct WitnessState {
    endpoint: WitnessEndpoint,
    /// Size the witness last cosigned for us, as far as we know.
    known_size: Option<u64>,
}

/// Runs witnessing rounds until `stop` turns true; publishes each round's
/// checkpoint (with the cosignatures obtained) on `publish`.
pub async fn run(
    ledger: Ledger,
    policy: WitnessPolicy,
    publish: watch::Sender<Option<Arc<SignedCheckpoint>>>,
    mut stop: watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder().timeout(policy.timeout).build() {
        Ok(client) => client,
        Err(e) => {
            warn!(error = %e, "cannot build the witness HTTP client; checkpoints go unwitnessed");
            return;
        }
    };
    let endpoints = distinct_witnesses(&policy.witnesses);
    if endpoints.len() < policy.quorum {
        warn!(
            witnesses = endpoints.len(),
            quorum = policy.quorum,
            "fewer distinct witnesses than the quorum: no checkpoint will meet it"
        );
    }
    let mut witnesses: Vec<WitnessState> = endpoints
        .iter()
        .map(|endpoint| WitnessState {
            endpoint: endpoint.clone(),
            known_size: None,
        })
        .collect();
    let mut updates = ledger.subscribe();
    let mut last: Option<Arc<SignedCheckpoint>> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let checkpoint = ledger.checkpoint();
        if last.as_ref().is_some_and(|l| l.note == checkpoint.note) {
            // Either channel closing means the server is going away.
            let open = tokio::select! {
                changed = updates.changed() => changed.is_ok(),
                changed = stop.changed() => changed.is_ok(),
            };
            if !open {
                return;
            }
            continue;
        }
        let round = futures::future::join_all(
            witnesses
                .iter_mut()
                .map(|w| cosign(&client, &ledger, w, &checkpoint)),
        )
        .await;
        let mut note = checkpoint.note.clone();
        let mut cosigners = Vec::new();
        for (witness, result) in endpoints.iter().zip(round) {
            let name = witness.verifier.witness_name().to_string();
            match result {
                Ok(line) => {
                    metrics::counter!("evledger_witness_cosignatures_total", "witness" => name.clone()).increment(1);
                    note.push_str(&line);
                    cosigners.push(name);
                }
                Err(e) => {
                    metrics::counter!("evledger_witness_failures_total", "witness" => name.clone())
                        .increment(1);
                    warn!(witness = %name, url = %witness.url, error = %e, size = checkpoint.size, "witness did not cosign");
                }
            }
        }
        metrics::gauge!("evledger_checkpoint_cosignatures").set(cosigners.len() as f64);
        if cosigners.len() < policy.quorum {
            metrics::counter!("evledger_witness_quorum_missed_total").increment(1);
            warn!(
                size = checkpoint.size,
                cosignatures = cosigners.len(),
                quorum = policy.quorum,
                "checkpoint published below its witness quorum"
            );
        } else {
            debug!(size = checkpoint.size, cosigners = ?cosigners, "checkpoint witnessed");
        }
        let published = Arc::new(SignedCheckpoint {
            note,
            cosigners,
            ..(*checkpoint).clone()
        });
        publish.send_replace(Some(published));
        last = Some(checkpoint);
        tokio::select! {
            () = tokio::time::sleep(policy.interval) => {}
            changed = stop.changed() => if changed.is_err() { return },
        }
    }
}

/// The witnesses of `given`, each once: a witness is its public key, so
/// one key given twice (under any name or URL) is asked once and counts
/// once toward the quorum. The first spelling is kept.
fn distinct_witnesses(given: &[WitnessEndpoint]) -> Vec<WitnessEndpoint> {
    let mut distinct: Vec<WitnessEndpoint> = Vec::with_capacity(given.len());
    for endpoint in given {
        let key = endpoint.verifier.public_key();
        match distinct.iter().find(|d| d.verifier.public_key() == key) {
            Some(kept) => warn!(
                witness = %endpoint.verifier.witness_name(),
                url = %endpoint.url,
                kept = %kept.url,
                "witness key given twice; it counts once"
            ),
            None => distinct.push(endpoint.clone()),
        }
    }
    distinct
}

/// Asks one witness to cosign `checkpoint`; returns its verified signature line.
async fn cosign(
    client: &reqwest::Client,
    ledger: &Ledger,
    witness: &mut WitnessState,
    checkpoint: &SignedCheckpoint,
) -> Result<String, String> {
    let url = format!("{}/add-checkpoint", witness.endpoint.url);
    // A witness that has never heard of us answers old size 0 with a 409
    // naming its size if it has; one retry then carries the right proof.
    let mut old_size = witness.known_size.unwrap_or(0);
    for _ in 0..2 {
        if old_size > checkpoint.size {
            return Err(format!(
                "the witness holds size {old_size}, beyond this checkpoint's {}: \
                 it saw a larger tree of this log",
                checkpoint.size
            ));
        }
        let proof = if old_size == 0 {
            Vec::new()
        } else {
            let ledger = ledger.clone();
            let size = checkpoint.size;
            tokio::task::spawn_blocking(move || ledger.consistency_proof(old_size, size))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("consistency proof from {old_size}: {e}"))?
                .hashes
        };
        let body = AddCheckpoint {
            old_size,
            proof,
            checkpoint: checkpoint.note.as_bytes().to_vec(),
        }
        .to_body();
        let response = client
            .post(&url)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("POST {url}: {e}"))?;
        let status = response.status();
        let is_size = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/x.tlog.size"));
        let text = read_limited(response).await?;
        match status.as_u16() {
            200 => {
                let line = verified_line(&witness.endpoint.verifier, checkpoint, &text)?;
                witness.known_size = Some(checkpoint.size);
                return Ok(line);
            }
            409 if is_size => {
                let size: u64 = text
                    .trim_end()
                    .parse()
                    .map_err(|_| format!("409 with a malformed size {text:?}"))?;
                if size == old_size {
                    return Err(format!(
                        "409: the witness holds size {size} with another root: {}",
                        text.trim()
                    ));
                }
                info!(witness = %witness.endpoint.url, size, "witness holds another size; retrying from it");
                old_size = size;
                witness.known_size = Some(size);
            }
            _ => return Err(format!("{status}: {}", text.trim())),
        }
    }
    Err("the witness's size kept changing".into())
}

async fn read_limited(response: reqwest::Response) -> Result<String, String> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_WITNESS_RESPONSE as u64)
    {
        return Err("witness answer too large".into());
    }
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    if bytes.len() > MAX_WITNESS_RESPONSE {
        return Err("witness answer too large".into());
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| "witness answer is not UTF-8".into())
}

/// The witness's signature line from its answer, checked against its key
/// and the checkpoint body; lines by other keys are ignored.
fn verified_line(
    verifier: &CosignatureVerifier,
    checkpoint: &SignedCheckpoint,
    answer: &str,
) -> Result<String, String> {
    let body = checkpoint.body();
    for line in answer.lines() {
        let Ok(sig) = signed_note::Signature::from_bytes(line.as_bytes()) else {
            continue;
        };
        if sig.name() != verifier.name() || sig.id() != verifier.key_id() {
            continue;
        }
        if !verifier.verify(body, sig.signature()) {
            return Err("the witness's cosignature does not verify".into());
        }
        return Ok(format!("{line}\n"));
    }
    Err(format!(
        "no cosignature by {} in the answer",
        verifier.witness_name()
    ))
}

//! `evledger att`: craft an attestation in Chainloop's flow. `init` fetches
//! the workflow's contract into a local state file, `add` validates a
//! material against its type and uploads blobs to CAS, `status` shows what
//! is set and missing, `push` signs the in-toto statement in a DSSE
//! envelope, submits it with the robot token and saves the tlog-proof.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use evledger_evidence::attestation::{
    AttestedMaterial, Predicate, RunnerContext, WorkflowRef, PREDICATE_TYPE,
};
use evledger_evidence::cas::sha256_hex;
use evledger_evidence::contract::{Annotation, Contract, RunnerType};
use evledger_evidence::materials::{validate_blob, validate_value};
use evledger_ledger::entry::intoto::IN_TOTO_PAYLOAD_TYPE;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::craft::{dsse_submission, SigningKey};
use crate::workflow::{check_output, table, Endpoint};

/// Default crafting state file.
const DEFAULT_STATE: &str = ".evledger-attestation.json";

#[derive(Args, Clone)]
pub struct StateArg {
    /// The crafting state file.
    #[arg(long, env = "EVLEDGER_ATT_STATE", default_value = DEFAULT_STATE)]
    state: PathBuf,
}

#[derive(Subcommand)]
pub enum AttCommand {
    /// Start an attestation for a workflow: fetch its latest contract.
    Init {
        #[command(flatten)]
        endpoint: Endpoint,
        #[command(flatten)]
        state: StateArg,
        /// The workflow.
        #[arg(long)]
        workflow: String,
        /// Start over even if a state file exists.
        #[arg(long)]
        replace: bool,
    },
    /// Add a material: a file for blob types (validated, uploaded to CAS),
    /// a value for STRING and CONTAINER_IMAGE (`name@sha256:<hex>`).
    Add {
        #[command(flatten)]
        endpoint: Endpoint,
        #[command(flatten)]
        state: StateArg,
        /// The contract's material name.
        #[arg(long)]
        name: String,
        /// File path or value.
        #[arg(long)]
        value: String,
        /// Annotation `name=value` (repeatable).
        #[arg(long = "annotation", value_name = "NAME=VALUE")]
        annotations: Vec<String>,
    },
    /// Show the materials: set, required, output, value.
    Status {
        #[command(flatten)]
        state: StateArg,
        /// Output: table or json.
        #[arg(short = 'o', long, default_value = "table")]
        output: String,
    },
    /// Sign and submit the attestation; save the tlog-proof bundle.
    Push {
        #[command(flatten)]
        endpoint: Endpoint,
        #[command(flatten)]
        state: StateArg,
        /// Signing key (Ed25519 or ECDSA P-256, PKCS#8 PEM).
        #[arg(long)]
        key: PathBuf,
        /// Attestation annotation `name=value` (repeatable).
        #[arg(long = "annotation", value_name = "NAME=VALUE")]
        annotations: Vec<String>,
        /// Where to save the C2SP tlog-proof of the logged attestation.
        #[arg(long, default_value = "attestation.tlog-proof")]
        bundle: PathBuf,
    },
}

/// The crafting state.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Crafting {
    url: String,
    workflow: WorkflowRef,
    contract_revision: u64,
    contract: Contract,
    materials: Vec<AttestedMaterial>,
}

fn load(path: &Path) -> anyhow::Result<Crafting> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("reading {} (run `evledger att init` first)", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not an attestation state", path.display()))
}

fn save(path: &Path, crafting: &Crafting) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(crafting)?)
        .with_context(|| format!("writing {}", path.display()))
}

fn annotations(pairs: &[String]) -> anyhow::Result<Vec<Annotation>> {
    pairs
        .iter()
        .map(|pair| {
            let (name, value) = pair
                .split_once('=')
                .with_context(|| format!("annotation {pair:?} is not NAME=VALUE"))?;
            Ok(Annotation {
                name: name.to_string(),
                value: value.to_string(),
            })
        })
        .collect()
}

/// The CI system this runs in, from its environment variables.
fn detect_runner() -> RunnerContext {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (kind, url) = if var("GITHUB_ACTIONS").is_some() {
        let url = match (
            var("GITHUB_SERVER_URL"),
            var("GITHUB_REPOSITORY"),
            var("GITHUB_RUN_ID"),
        ) {
            (Some(server), Some(repo), Some(run)) => {
                Some(format!("{server}/{repo}/actions/runs/{run}"))
            }
            _ => None,
        };
        (RunnerType::GithubAction, url)
    } else if var("GITLAB_CI").is_some() {
        (RunnerType::GitlabPipeline, var("CI_JOB_URL"))
    } else if var("TF_BUILD").is_some() {
        (RunnerType::AzurePipeline, None)
    } else if var("JENKINS_URL").is_some() {
        (RunnerType::JenkinsJob, var("BUILD_URL"))
    } else if var("CIRCLECI").is_some() {
        (RunnerType::CircleciBuild, var("CIRCLE_BUILD_URL"))
    } else if var("TEKTON_PIPELINE_RUN").is_some() {
        (RunnerType::TektonPipeline, None)
    } else if var("DAGGER_SESSION_PORT").is_some() {
        (RunnerType::DaggerPipeline, None)
    } else {
        (RunnerType::RunnerTypeUnspecified, None)
    };
    RunnerContext { kind, url }
}

pub fn run(command: AttCommand) -> anyhow::Result<()> {
    match command {
        AttCommand::Init {
            endpoint,
            state,
            workflow,
            replace,
        } => init(&endpoint, &state.state, &workflow, replace),
        AttCommand::Add {
            endpoint,
            state,
            name,
            value,
            annotations: pairs,
        } => add(&endpoint, &state.state, &name, &value, &pairs),
        AttCommand::Status { state, output } => status(&state.state, &output),
        AttCommand::Push {
            endpoint,
            state,
            key,
            annotations: pairs,
            bundle,
        } => push(&endpoint, &state.state, &key, &pairs, &bundle),
    }
}

fn init(endpoint: &Endpoint, state: &Path, workflow: &str, replace: bool) -> anyhow::Result<()> {
    if state.exists() && !replace {
        bail!(
            "{} exists: an attestation is in progress (--replace to start over)",
            state.display()
        );
    }
    let info = endpoint.send(
        reqwest::Method::GET,
        &format!("/api/v1/workflows/{workflow}"),
        None,
    )?;
    let revision = endpoint.send(
        reqwest::Method::GET,
        &format!("/api/v1/workflows/{workflow}/contract"),
        None,
    )?;
    let contract: Contract = serde_json::from_value(revision["contract"].clone())
        .context("the server's contract does not parse")?;
    let crafting = Crafting {
        url: endpoint.url.clone(),
        workflow: WorkflowRef {
            name: workflow.to_string(),
            project: info["project"].as_str().unwrap_or_default().to_string(),
            team: info["team"].as_str().unwrap_or_default().to_string(),
        },
        contract_revision: revision["revision"].as_u64().context("revision missing")?,
        contract,
        materials: Vec::new(),
    };
    save(state, &crafting)?;
    println!(
        "attestation started for workflow {workflow} under contract revision {} ({} materials)",
        crafting.contract_revision,
        crafting.contract.materials.len()
    );
    Ok(())
}

fn add(
    endpoint: &Endpoint,
    state: &Path,
    name: &str,
    value: &str,
    pairs: &[String],
) -> anyhow::Result<()> {
    let mut crafting = load(state)?;
    let want = crafting
        .contract
        .material(name)
        .with_context(|| format!("the contract has no material {name:?}"))?
        .clone();
    let (digest, recorded_value) = if want.kind.needs_blob() {
        let blob = std::fs::read(value).with_context(|| format!("reading {value}"))?;
        validate_blob(want.kind, &blob).with_context(|| value.to_string())?;
        let digest = sha256_hex(&blob);
        endpoint.send(
            reqwest::Method::PUT,
            &format!("/cas/sha256/{digest}"),
            Some((blob, "application/octet-stream")),
        )?;
        let file_name = Path::new(value)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        (Some(digest), file_name)
    } else {
        let digest = validate_value(want.kind, value)?;
        (digest, Some(value.to_string()))
    };
    let material = AttestedMaterial {
        name: name.to_string(),
        kind: want.kind,
        digest: digest
            .into_iter()
            .map(|d| ("sha256".to_string(), d))
            .collect(),
        value: recorded_value,
        output: want.output,
        annotations: annotations(pairs)?,
    };
    crafting.materials.retain(|m| m.name != name);
    crafting.materials.push(material);
    save(state, &crafting)?;
    println!("added {name} ({})", want.kind);
    Ok(())
}

fn status(state: &Path, output: &str) -> anyhow::Result<()> {
    check_output(output)?;
    let crafting = load(state)?;
    let rows: Vec<Vec<String>> = crafting
        .contract
        .materials
        .iter()
        .map(|want| {
            let given = crafting.materials.iter().find(|m| m.name == want.name);
            let value = given
                .map(|m| match (m.digest.get("sha256"), &m.value) {
                    (Some(d), Some(v)) if m.kind.needs_blob() => {
                        format!("{v} (sha256:{})", &d[..12])
                    }
                    (_, Some(v)) => v.clone(),
                    (Some(d), None) => format!("sha256:{d}"),
                    (None, None) => String::new(),
                })
                .unwrap_or_default();
            vec![
                want.name.clone(),
                want.kind.to_string(),
                if given.is_some() { "yes" } else { "no" }.into(),
                if want.optional { "no" } else { "yes" }.into(),
                if want.output { "yes" } else { "no" }.into(),
                value,
            ]
        })
        .collect();
    let missing: Vec<&str> = crafting
        .contract
        .materials
        .iter()
        .filter(|m| !m.optional && !crafting.materials.iter().any(|g| g.name == m.name))
        .map(|m| m.name.as_str())
        .collect();
    if output == "json" {
        let value = json!({
            "workflow": crafting.workflow,
            "contractRevision": crafting.contract_revision,
            "materials": crafting.materials,
            "missing": missing,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "workflow {} (project {}), contract revision {}",
        crafting.workflow.name, crafting.workflow.project, crafting.contract_revision
    );
    print!(
        "{}",
        table(
            &["NAME", "TYPE", "SET", "REQUIRED", "OUTPUT", "VALUE"],
            &rows
        )
    );
    if missing.is_empty() {
        println!("ready to push");
    } else {
        println!("missing: {}", missing.join(", "));
    }
    Ok(())
}

fn push(
    endpoint: &Endpoint,
    state: &Path,
    key: &Path,
    pairs: &[String],
    bundle: &Path,
) -> anyhow::Result<()> {
    let crafting = load(state)?;
    let key = SigningKey::from_pem_file(key)?;
    let env: BTreeMap<String, String> = crafting
        .contract
        .env_allow_list
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|v| (name.clone(), v)))
        .collect();
    let predicate = Predicate {
        workflow: crafting.workflow.clone(),
        contract_revision: crafting.contract_revision,
        materials: crafting.materials.clone(),
        runner: detect_runner(),
        env,
        annotations: annotations(pairs)?,
    };
    // Outputs are the statement's subjects; with none, the attestation is
    // about its own materials.
    let mut subject: Vec<serde_json::Value> = crafting
        .materials
        .iter()
        .filter(|m| m.output)
        .filter_map(|m| {
            m.digest.get("sha256").map(|d| {
                json!({"name": m.value.clone().unwrap_or_else(|| m.name.clone()), "digest": {"sha256": d}})
            })
        })
        .collect();
    if subject.is_empty() {
        let digest = sha256_hex(&serde_json::to_vec(&predicate.materials)?);
        subject.push(json!({"name": format!("evledger-materials:{}", crafting.workflow.name), "digest": {"sha256": digest}}));
    }
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    });
    let payload = serde_json::to_vec(&statement)?;
    let submission = dsse_submission(&key, &key.public_pem()?, IN_TOTO_PAYLOAD_TYPE, &payload);
    let answer = endpoint.send(
        reqwest::Method::POST,
        "/api/v1/log/entries",
        Some((serde_json::to_vec(&submission)?, "application/json")),
    )?;
    let index = answer["logIndex"]
        .as_u64()
        .context("answer has no logIndex")?;
    let proof = crate::client::get_text(
        &endpoint.url,
        &format!("/api/v1/log/entries/{index}?format=tlog-proof"),
    )?;
    std::fs::write(bundle, proof).with_context(|| format!("writing {}", bundle.display()))?;
    println!(
        "attestation logged at index {index} (leaf {}); proof saved to {}",
        answer["leafHash"].as_str().unwrap_or_default(),
        bundle.display()
    );
    Ok(())
}

//! Admin commands of the evidence workflow, in Chainloop's shape:
//! `workflow create|list`, `contract update|describe`,
//! `robot-account create|revoke|list`. Tables for humans, `-o json` for scripts.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

/// Where the ledger is and who is calling.
#[derive(Args, Clone)]
pub struct Endpoint {
    /// Base URL of the ledger.
    #[arg(long, env = "EVLEDGER_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Bearer token: the admin token, or a robot account's for `att`.
    #[arg(long, env = "EVLEDGER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Output: table or json.
    #[arg(short = 'o', long, default_value = "table")]
    pub output: String,
}

/// An answer that is not 2xx: status, code, message and unmet requirements.
#[derive(Debug)]
pub struct ApiFailure {
    /// HTTP status.
    pub status: u16,
    /// The JSON error body.
    pub body: Value,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            self.body["code"].as_str().unwrap_or("error"),
            self.body["message"].as_str().unwrap_or_default()
        )?;
        if let Some(unmet) = self.body["unmet"].as_array() {
            for item in unmet {
                write!(f, "\n  - {}", item.as_str().unwrap_or_default())?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {}

impl Endpoint {
    /// Sends a request with the token; returns the JSON of a 2xx answer,
    /// or an [`ApiFailure`].
    pub fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut request = crate::client::client()?.request(method.clone(), &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.trim());
        }
        if let Some((bytes, content_type)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let response = request.send().with_context(|| format!("{method} {url}"))?;
        let status = response.status().as_u16();
        let text = response.text().with_context(|| format!("reading {url}"))?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !(200..300).contains(&status) {
            return Err(ApiFailure {
                status,
                body: value,
            }
            .into());
        }
        Ok(value)
    }

    /// Prints `value` as JSON, or the table `headers` × `rows`.
    pub fn print(&self, value: &Value, headers: &[&str], rows: &[Vec<String>]) {
        if self.output == "json" {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_default()
            );
        } else {
            print!("{}", table(headers, rows));
        }
    }
}

/// A plain text table, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            out.push_str(cell);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Subcommand)]
pub enum WorkflowCommand {
    /// Create a workflow (admin).
    Create {
        #[command(flatten)]
        endpoint: Endpoint,
        /// Workflow name (lowercase letters, digits, dashes).
        #[arg(long)]
        name: String,
        /// Project it belongs to.
        #[arg(long)]
        project: String,
        /// Owning team.
        #[arg(long, default_value = "")]
        team: String,
    },
    /// List workflows.
    List {
        #[command(flatten)]
        endpoint: Endpoint,
    },
}

#[derive(Subcommand)]
pub enum ContractCommand {
    /// Upload a contract (YAML or JSON file) as the workflow's next revision (admin).
    Update {
        #[command(flatten)]
        endpoint: Endpoint,
        /// The workflow.
        #[arg(long)]
        workflow: String,
        /// The contract file.
        #[arg(long, short = 'f')]
        file: PathBuf,
    },
    /// Show a contract revision (default: the latest).
    Describe {
        #[command(flatten)]
        endpoint: Endpoint,
        /// The workflow.
        #[arg(long)]
        workflow: String,
        /// The revision.
        #[arg(long)]
        revision: Option<u64>,
    },
}

#[derive(Subcommand)]
pub enum RobotCommand {
    /// Create a robot account for a workflow; prints its token once (admin).
    Create {
        #[command(flatten)]
        endpoint: Endpoint,
        /// The workflow it may push for.
        #[arg(long)]
        workflow: String,
    },
    /// Revoke a robot account (admin).
    Revoke {
        #[command(flatten)]
        endpoint: Endpoint,
        /// Its id.
        #[arg(long)]
        id: String,
    },
    /// List a workflow's robot accounts (admin).
    List {
        #[command(flatten)]
        endpoint: Endpoint,
        /// The workflow.
        #[arg(long)]
        workflow: String,
    },
}

fn time(value: &Value) -> String {
    value.as_u64().map_or_else(
        || "-".to_string(),
        |secs| {
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
            )
            .to_string()
        },
    )
}

pub fn workflow(command: WorkflowCommand) -> anyhow::Result<()> {
    match command {
        WorkflowCommand::Create {
            endpoint,
            name,
            project,
            team,
        } => {
            let body = json!({"name": name, "project": project, "team": team});
            let created = endpoint.send(
                reqwest::Method::POST,
                "/api/v1/workflows",
                Some((serde_json::to_vec(&body)?, "application/json")),
            )?;
            endpoint.print(
                &created,
                &["NAME", "PROJECT", "TEAM", "CREATED"],
                &[workflow_row(&created)],
            );
        }
        WorkflowCommand::List { endpoint } => {
            let list = endpoint.send(reqwest::Method::GET, "/api/v1/workflows", None)?;
            let rows: Vec<Vec<String>> = list["workflows"]
                .as_array()
                .map(|w| w.iter().map(workflow_row).collect())
                .unwrap_or_default();
            endpoint.print(&list, &["NAME", "PROJECT", "TEAM", "CREATED"], &rows);
        }
    }
    Ok(())
}

fn workflow_row(w: &Value) -> Vec<String> {
    vec![
        text(&w["name"]),
        text(&w["project"]),
        text(&w["team"]),
        time(&w["createdAt"]),
    ]
}

pub fn contract(command: ContractCommand) -> anyhow::Result<()> {
    let (endpoint, revision) = match command {
        ContractCommand::Update {
            endpoint,
            workflow,
            file,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let revision = endpoint.send(
                reqwest::Method::PUT,
                &format!("/api/v1/workflows/{workflow}/contract"),
                Some((bytes, "application/yaml")),
            )?;
            (endpoint, revision)
        }
        ContractCommand::Describe {
            endpoint,
            workflow,
            revision,
        } => {
            let query = revision
                .map(|r| format!("?revision={r}"))
                .unwrap_or_default();
            let revision = endpoint.send(
                reqwest::Method::GET,
                &format!("/api/v1/workflows/{workflow}/contract{query}"),
                None,
            )?;
            (endpoint, revision)
        }
    };
    if endpoint.output == "json" {
        endpoint.print(&revision, &[], &[]);
        return Ok(());
    }
    println!(
        "workflow {} contract revision {} (log index {}, leaf {})",
        text(&revision["workflow"]),
        text(&revision["revision"]),
        text(&revision["logIndex"]),
        text(&revision["leafHash"]),
    );
    let contract = &revision["contract"];
    let rows: Vec<Vec<String>> = contract["materials"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| {
                    vec![
                        text(&m["name"]),
                        text(&m["type"]),
                        if m["optional"] == true { "no" } else { "yes" }.to_string(),
                        if m["output"] == true { "yes" } else { "no" }.to_string(),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    print!(
        "{}",
        table(&["MATERIAL", "TYPE", "REQUIRED", "OUTPUT"], &rows)
    );
    if let Some(runner) = contract["runner"]["type"].as_str() {
        println!("runner: {runner}");
    }
    if let Some(env) = contract["envAllowList"].as_array() {
        let env: Vec<String> = env.iter().map(text).collect();
        println!("env allow list: {}", env.join(", "));
    }
    Ok(())
}

pub fn robot(command: RobotCommand) -> anyhow::Result<()> {
    let headers = ["ID", "WORKFLOW", "CREATED", "LAST USED", "REVOKED"];
    let row = |r: &Value| {
        vec![
            text(&r["id"]),
            text(&r["workflow"]),
            time(&r["createdAt"]),
            time(&r["lastUsedAt"]),
            time(&r["revokedAt"]),
        ]
    };
    match command {
        RobotCommand::Create { endpoint, workflow } => {
            let created = endpoint.send(
                reqwest::Method::POST,
                &format!("/api/v1/workflows/{workflow}/robot-accounts"),
                None,
            )?;
            if endpoint.output == "json" {
                endpoint.print(&created, &[], &[]);
            } else {
                print!("{}", table(&headers, &[row(&created)]));
                println!(
                    "token (shown once, store it now): {}",
                    text(&created["token"])
                );
            }
        }
        RobotCommand::Revoke { endpoint, id } => {
            let revoked = endpoint.send(
                reqwest::Method::DELETE,
                &format!("/api/v1/robot-accounts/{id}"),
                None,
            )?;
            endpoint.print(&revoked, &headers, &[row(&revoked)]);
        }
        RobotCommand::List { endpoint, workflow } => {
            let list = endpoint.send(
                reqwest::Method::GET,
                &format!("/api/v1/workflows/{workflow}/robot-accounts"),
                None,
            )?;
            let rows: Vec<Vec<String>> = list["robotAccounts"]
                .as_array()
                .map(|r| r.iter().map(row).collect())
                .unwrap_or_default();
            endpoint.print(&list, &headers, &rows);
        }
    }
    Ok(())
}

/// Fails unless `output` is a known format.
pub fn check_output(output: &str) -> anyhow::Result<()> {
    if output != "table" && output != "json" {
        bail!("-o must be table or json");
    }
    Ok(())
}

#[derive(Args)]
pub struct BackupArgs {
    #[command(flatten)]
    endpoint: Endpoint,
    /// Directory to create on the server's machine (absolute); it must not exist.
    #[arg(long)]
    to: PathBuf,
}

/// `evledger backup --to DIR`: asks the running ledger for a consistent
/// copy of its log and evidence store (admin).
pub fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let to = std::path::absolute(&args.to)
        .with_context(|| format!("resolving {}", args.to.display()))?;
    let body = json!({ "to": to });
    let answer = args.endpoint.send(
        reqwest::Method::POST,
        "/api/v1/admin/backup",
        Some((serde_json::to_vec(&body)?, "application/json")),
    )?;
    if args.endpoint.output == "json" {
        args.endpoint.print(&answer, &[], &[]);
    } else {
        println!(
            "backup written to {} (tree size at least {}, {} CAS blobs); restore with: evledger serve --data-dir {} --key-file <the signing key>",
            to.display(),
            text(&answer["treeSizeAtLeast"]),
            text(&answer["blobs"]),
            to.display()
        );
    }
    Ok(())
}

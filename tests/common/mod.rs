//! Harness of the end-to-end tests: start the real `evledger` binary, talk
//! to it over HTTP, kill it, run its CLI. The harnesses of the fan-out
//! targets and the tests' own proof checker are submodules.
//!
//! Every test binary compiles all of it and uses a part: hence no
//! dead-code warnings here (the allow covers the submodules too).
#![allow(dead_code)]

pub mod grpc;
pub mod kafka;
pub mod proof;
pub mod webhook;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::Signer as _;
use p256::pkcs8::LineEnding;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The admin token every test server runs with (EVLEDGER_ADMIN_TOKEN).
pub const ADMIN_TOKEN: &str = "evla_test-admin-token-not-secret";

/// Path of the binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_evledger")
}

/// A running `evledger serve`.
pub struct Server {
    child: Child,
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The log's verifier key as printed at start.
    pub verifier_key: String,
    /// The data directory.
    pub data_dir: PathBuf,
}

impl Server {
    /// Starts a server on a free port over `data_dir` and waits for `/healthz`.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    /// Like [`Server::start`] with extra `serve` arguments.
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_with_env(data_dir, extra, &[])
    }

    /// Like [`Server::start_with`] with extra environment variables.
    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(binary());
        command
            .envs(env.iter().copied())
            .env("EVLEDGER_ADMIN_TOKEN", ADMIN_TOKEN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra);
        let (child, url, key) = spawn_service(command, data_dir, "verifier key: ");
        let server = Self {
            child,
            url,
            verifier_key: key,
            data_dir: data_dir.to_path_buf(),
        };
        wait_healthy(&server.url);
        server
    }

    /// kill -9.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's process id (to read `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait for the process to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for server")
    }

    /// GET returning (status, body).
    pub fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let r = http()
            .get(format!("{}{path}", self.url))
            .send()
            .expect("GET");
        let status = r.status().as_u16();
        (status, r.bytes().expect("body").to_vec())
    }

    /// GET parsed as JSON.
    pub fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.get(path);
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("{path}: not JSON: {}", String::from_utf8_lossy(&body)));
        (status, value)
    }

    /// POST raw bytes to the entries endpoint.
    pub fn submit_raw(&self, body: impl Into<Vec<u8>>) -> (u16, Value) {
        let r = http()
            .post(format!("{}/api/v1/log/entries", self.url))
            .header("content-type", "application/json")
            .body(body.into())
            .send()
            .expect("POST");
        let status = r.status().as_u16();
        let body = r.bytes().expect("body");
        let value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("POST answer not JSON: {}", String::from_utf8_lossy(&body)));
        (status, value)
    }

    /// POST a submission.
    pub fn submit(&self, submission: &Value) -> (u16, Value) {
        self.submit_raw(serde_json::to_vec(submission).expect("json"))
    }

    /// The latest tree size.
    pub fn tree_size(&self) -> u64 {
        self.get_json("/api/v1/log").1["treeSize"]
            .as_u64()
            .expect("treeSize")
    }
}

/// Spawns a service that prints `<key_prefix><key>` and then
/// `listening on <url>` on stdout; its stderr goes to `<dir>.log`.
fn spawn_service(mut command: Command, dir: &Path, key_prefix: &str) -> (Child, String, String) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.with_extension("log"))
        .expect("service log file");
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn evledger");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut key = String::new();
    let mut url = String::new();
    for line in lines.by_ref() {
        let line = line.expect("read stdout");
        if let Some(k) = line.strip_prefix(key_prefix) {
            key = k.to_string();
        }
        if let Some(u) = line.strip_prefix("listening on ") {
            url = u.to_string();
            break;
        }
    }
    assert!(
        !url.is_empty(),
        "service did not start; see {}",
        dir.with_extension("log").display()
    );
    // Drain stdout so the service never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url, key)
}

fn wait_healthy(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = http().get(format!("{url}/healthz")).send() {
            if r.status() == 200 {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{url} never became healthy");
}

/// A running `evledger witness`.
pub struct Witness {
    child: Child,
    /// Base URL (the submission prefix).
    pub url: String,
    /// The witness's cosignature/v1 verifier key as printed at start.
    pub verifier_key: String,
}

impl Witness {
    /// Starts a witness over `data_dir` trusting the logs with `log_keys`.
    pub fn start(data_dir: &Path, log_keys: &[&str], listen: &str) -> Self {
        let mut command = Command::new(binary());
        command
            .args(["witness", "--listen", listen, "--data-dir"])
            .arg(data_dir);
        for key in log_keys {
            command.args(["--log", key]);
        }
        let (child, url, verifier_key) = spawn_service(command, data_dir, "witness key: ");
        wait_healthy(&url);
        Self {
            child,
            url,
            verifier_key,
        }
    }

    /// kill -9.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// POSTs an add-checkpoint body: (status, content type, body).
    pub fn add_checkpoint(&self, body: &[u8]) -> (u16, String, String) {
        let r = http()
            .post(format!("{}/add-checkpoint", self.url))
            .body(body.to_vec())
            .send()
            .expect("POST add-checkpoint");
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, content_type, r.text().expect("body"))
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTP client with a timeout (a hang is a failure) that
/// presents the admin token.
pub fn http() -> reqwest::blocking::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {ADMIN_TOKEN}").parse().expect("header"),
    );
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .default_headers(headers)
        .build()
        .expect("client")
}

/// A blocking HTTP client that presents no token.
pub fn anonymous_http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Runs the CLI with `args`.
pub fn cli(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .output()
        .expect("run evledger")
}

/// Runs the CLI against `server` with `token`, from `dir` (where the
/// crafting state lives), outside any CI runner's environment, with the
/// extra environment `env`.
pub fn cli_against(
    server: &Server,
    token: &str,
    dir: &Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> Output {
    Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env("EVLEDGER_URL", &server.url)
        .env("EVLEDGER_TOKEN", token)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .envs(env.iter().copied())
        .output()
        .expect("run evledger")
}

/// Runs `command` to its end, as `Command::output`, but gives up on a run
/// that takes longer than `limit` (kill -9) and runs it again, up to
/// `attempts` times. For outside tools (Node) that can hang on a bad
/// start; a test that needs it says which tool and why.
pub fn output_within(command: &mut Command, limit: Duration, attempts: usize) -> Output {
    let dir = tempfile::tempdir().expect("tempdir");
    for attempt in 1..=attempts {
        let stdout = dir.path().join(format!("stdout-{attempt}"));
        let stderr = dir.path().join(format!("stderr-{attempt}"));
        let mut child = command
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("spawn");
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(status) = status {
            return Output {
                status,
                stdout: std::fs::read(&stdout).expect("stdout"),
                stderr: std::fs::read(&stderr).expect("stderr"),
            };
        }
        eprintln!("{command:?} did not finish within {limit:?} (attempt {attempt} of {attempts})");
    }
    panic!("{command:?} never finished within {limit:?} in {attempts} attempts");
}

/// A key that signs DSSE envelopes in tests.
pub enum TestKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

impl TestKey {
    pub fn ed25519() -> Self {
        Self::Ed25519(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }

    pub fn p256() -> Self {
        Self::P256(p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
    }

    pub fn public_pem(&self) -> String {
        match self {
            Self::Ed25519(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
            Self::P256(k) => k.verifying_key().to_public_key_pem(LineEnding::LF),
        }
        .expect("pem")
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
            Self::P256(k) => {
                let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(k, message);
                sig.to_der().as_bytes().to_vec()
            }
        }
    }
}

/// DSSE PAE, written out here independently of the server's code.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// An in-toto Statement v1 about one artifact named `name`.
pub fn statement(name: &str) -> Vec<u8> {
    let digest = hex::encode(Sha256::digest(name.as_bytes()));
    serde_json::to_vec(&json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": digest}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"builder": {"id": "https://ci.example/runner"}},
    }))
    .expect("json")
}

/// securesystemslib's key ID of `key`: SHA-256 of its canonical key JSON
/// (raw hex key for Ed25519, PEM for ECDSA; newlines unescaped), written
/// out here independently of the server's code.
pub fn sslib_keyid(key: &TestKey) -> String {
    let (keytype, scheme, public) = match key {
        TestKey::Ed25519(k) => (
            "ed25519",
            "ed25519",
            hex::encode(k.verifying_key().as_bytes()),
        ),
        TestKey::P256(_) => ("ecdsa", "ecdsa-sha2-nistp256", key.public_pem()),
    };
    let canonical = format!(
        r#"{{"keytype":"{keytype}","keyval":{{"public":"{public}"}},"scheme":"{scheme}"}}"#
    );
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// A `dsse` submission of `payload`, signed by `key`, with the keyid the
/// log stores (so the logged entry is what was sent, for Ed25519 keys).
pub fn dsse_submission(key: &TestKey, payload_type: &str, payload: &[u8]) -> Value {
    let sig = key.sign(&pae(payload_type, payload));
    json!({
        "kind": "dsse",
        "spec": {
            "envelope": {
                "payloadType": payload_type,
                "payload": B64.encode(payload),
                "signatures": [{"keyid": sslib_keyid(key), "sig": B64.encode(sig)}],
            },
            "verifiers": [key.public_pem()],
        }
    })
}

/// A signed in-toto submission about artifact `name`.
pub fn attestation(key: &TestKey, name: &str) -> Value {
    dsse_submission(key, "application/vnd.in-toto+json", &statement(name))
}

/// Writes `contents` to `dir/name` and returns the path as a string.
pub fn write_file(dir: &Path, name: &str, contents: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write file");
    path.display().to_string()
}

/// Asserts the CLI call succeeded and returns its stdout.
pub fn assert_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}\nstdout: {}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Asserts the CLI call failed and returns its stderr.
pub fn assert_fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "command unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The hex hashes of a JSON proof's `hashes` array.
pub fn hex_hashes(proof: &Value) -> Vec<[u8; 32]> {
    proof["hashes"]
        .as_array()
        .expect("hashes")
        .iter()
        .map(|h| hex32(h.as_str().expect("hex string")))
        .collect()
}

/// A 32-byte hash from hex.
pub fn hex32(text: &str) -> [u8; 32] {
    hex::decode(text)
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

/// The workflow of the fan-out tests: its contract is empty, so
/// admin-pushed attestations for it are appended.
pub const WORKFLOW: &str = "build";

/// The CLI against `server` as admin.
pub fn admin(server: &Server, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env("EVLEDGER_URL", &server.url)
        .env("EVLEDGER_TOKEN", ADMIN_TOKEN)
        .output()
        .expect("run evledger")
}

/// A workflow with an empty contract, so admin-pushed attestations for it
/// are appended.
pub fn create_workflow(server: &Server, dir: &Path) {
    assert_ok(&admin(
        server,
        &["workflow", "create", "--name", WORKFLOW, "--project", "app"],
    ));
    let contract = write_file(dir, "contract.yaml", b"schemaVersion: v1\n");
    assert_ok(&admin(
        server,
        &[
            "contract",
            "update",
            "--workflow",
            WORKFLOW,
            "-f",
            &contract,
        ],
    ));
}

/// An evledger attestation for the workflow, unique by `n`.
pub fn workflow_attestation(key: &TestKey, n: usize) -> Value {
    let name = format!("artifact-{n}");
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": hex::encode(Sha256::digest(name.as_bytes()))}}],
        "predicateType": "https://evledger.dev/attestation/v1",
        "predicate": {
            "workflow": {"name": WORKFLOW, "project": "app"},
            "contractRevision": 1,
            "runner": {"type": "RUNNER_TYPE_UNSPECIFIED"},
        },
    });
    dsse_submission(
        key,
        "application/vnd.in-toto+json",
        &serde_json::to_vec(&statement).expect("json"),
    )
}

/// SHA-256 of `text`, in hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The log indexes of a retrieve answer's results, in order.
pub fn indexes(answer: &Value) -> Vec<u64> {
    answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|h| h["logIndex"].as_u64().expect("logIndex"))
        .collect()
}

/// Polls `done` every 50 ms; fails the test if it does not hold within
/// `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fails the test at once, with the thread's own panic, if one of
/// `threads` has ended by panicking; the ones that ended well are joined
/// and removed. Called from wait loops, so that an assertion failing in a
/// background thread is not reported later as a timeout (or a hang).
pub fn fail_if_panicked(threads: &mut Vec<JoinHandle<()>>) {
    let mut i = 0;
    while i < threads.len() {
        if threads[i].is_finished() {
            if let Err(panic) = threads.remove(i).join() {
                std::panic::resume_unwind(panic);
            }
        } else {
            i += 1;
        }
    }
}

/// A TCP port free on 127.0.0.1 a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The value of metric `name` of sink `sink` (`<integration>/<workflow>`)
/// in the text of a `/metrics` answer (0 if absent).
pub fn sink_metric_in(metrics: &str, sink: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}{{sink=\"{sink}\"}} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The value of metric `name` of sink `sink` on `server` now (0 if absent).
pub fn sink_metric(server: &Server, sink: &str, name: &str) -> f64 {
    let (_, metrics) = server.get("/metrics");
    sink_metric_in(&String::from_utf8_lossy(&metrics), sink, name)
}

/// `evledger monitor --once` of the log at `log` with verifier key `key`
/// and state file `state`.
pub fn monitor(log: &str, key: &str, state: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "monitor", "--log", log, "--key", key, "--state", state, "--once",
    ];
    args.extend_from_slice(extra);
    cli(&args)
}

/// A witness's add-checkpoint request: the old size, the consistency
/// proof from it, and the new checkpoint note.
pub fn add_checkpoint_body(old: u64, proof: &[[u8; 32]], note: &str) -> Vec<u8> {
    let mut body = format!("old {old}\n");
    for hash in proof {
        body.push_str(&B64.encode(hash));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    body.into_bytes()
}

/// The Python of the tools virtualenv (`scripts/setup`; `$EVLEDGER_TOOLS`,
/// else `python3` on the PATH), checked to import `module`.
pub fn python(module: &str) -> PathBuf {
    let venv = std::env::var("EVLEDGER_TOOLS")
        .map(|t| PathBuf::from(t).join("venv/bin/python3"))
        .ok()
        .filter(|p| p.exists());
    let python = venv.unwrap_or_else(|| PathBuf::from("python3"));
    let probe = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .expect("run python3");
    assert!(
        probe.status.success(),
        "{} cannot import {module}: run scripts/setup and set EVLEDGER_TOOLS \
         (or put its venv/bin on PATH): {}",
        python.display(),
        String::from_utf8_lossy(&probe.stderr)
    );
    python
}

//! gRPC for the fan-out tests: certificates for TLS, and the
//! `evledger alert-receiver` process, whose output lines are recorded (and
//! checked by the tests, in their own thread).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use super::{binary, write_file};

/// A CA, and a certificate it signs for 127.0.0.1 and localhost: (CA PEM,
/// cert PEM, key PEM).
pub fn certificates(common_name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{common_name} CA"));
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("params");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer).expect("cert");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// A running `evledger alert-receiver`; its stdout lines (one JSON object
/// per verified alert) are collected as they come. Its stderr goes to
/// `receiver.log` in its directory.
pub struct AlertReceiver {
    child: Child,
    /// The endpoint it listens on.
    pub url: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl AlertReceiver {
    /// Starts a receiver in `dir` serving TLS with `cert` and `key`,
    /// accepting `token` and verifying alerts with the log key `log_key`.
    pub fn start(dir: &Path, cert: &str, key: &str, token: &str, log_key: &str) -> Self {
        let cert = write_file(dir, "receiver.pem", cert.as_bytes());
        let key = write_file(dir, "receiver.key", key.as_bytes());
        let token = write_file(dir, "receiver.token", token.as_bytes());
        let log = std::fs::File::create(dir.join("receiver.log")).expect("log");
        let mut child = Command::new(binary())
            .args([
                "alert-receiver",
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
            ])
            .args(["--token-file", &token, "--log-key", log_key])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn alert-receiver");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().expect("a line").expect("read");
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first}"))
            .to_string();
        let collected = Arc::new(Mutex::new(Vec::new()));
        let out = collected.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                out.lock().expect("lines").push(line);
            }
        });
        Self {
            child,
            url,
            lines: collected,
        }
    }

    /// The lines printed after the first, so far, as they are.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }
}

impl Drop for AlertReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

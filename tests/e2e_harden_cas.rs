//! Hardening of the content-addressed store (issue 12), through the real
//! binary: a body is never read before its sender is authenticated, uploads
//! and downloads stream (the server's memory stays bounded however large or
//! many the blobs), concurrent uploads of one blob never expose a partial
//! file, and a blob damaged on disk is never served and is repaired by the
//! next upload of the right bytes.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::*;
use sha2::{Digest, Sha256};

/// The server's blob limit (evledger_evidence::cas::MAX_BLOB_SIZE).
const MAX_BLOB: u64 = 64 * 1024 * 1024;
/// Peak RSS growth allowed while 200 anonymous 64 MiB uploads hit the
/// server (generous: a streaming server needs a few MiB; one that buffers
/// bodies needs up to 12.5 GiB).
const ANONYMOUS_RSS_BOUND: u64 = 512 * 1024 * 1024;
/// Peak RSS growth allowed while one 64 MiB blob goes up and comes down
/// (a server that holds the blob in memory needs at least 64 MiB).
const STREAMING_RSS_BOUND: u64 = 40 * 1024 * 1024;
/// Size of the pieces a test client writes.
const PIECE: usize = 64 * 1024;
/// Every socket operation of a test client gives up after this.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(60);

/// A field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`).
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("cannot parse {line:?}"));
    kib * 1024
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Deterministic pseudo-random bytes (xorshift64), so a test never holds a
/// large blob in memory: the same seed yields the same stream again,
/// whatever sizes it is read in.
struct Generator {
    state: u64,
    word: [u8; 8],
    /// Bytes of `word` already handed out (8: none left).
    used: usize,
    left: u64,
}

impl Generator {
    fn new(seed: u64, len: u64) -> Self {
        Self {
            state: seed | 1,
            word: [0; 8],
            used: 8,
            left: len,
        }
    }
}

impl Read for Generator {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for byte in &mut buf[..n] {
            if self.used == 8 {
                let mut x = self.state;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                self.state = x;
                self.word = x.to_le_bytes();
                self.used = 0;
            }
            *byte = self.word[self.used];
            self.used += 1;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// SHA-256 (hex) of a generated stream.
fn generated_digest(seed: u64, len: u64) -> String {
    let mut hasher = Sha256::new();
    let mut source = Generator::new(seed, len);
    let mut buf = vec![0u8; PIECE];
    loop {
        let n = source.read(&mut buf).expect("generate");
        if n == 0 {
            return hex::encode(hasher.finalize());
        }
        hasher.update(&buf[..n]);
    }
}

/// How a raw upload frames its body.
#[derive(Clone, Copy)]
enum Framing {
    /// `Content-Length: <len>`.
    Length,
    /// `Transfer-Encoding: chunked`, no length announced.
    Chunked,
}

/// What a raw upload saw.
struct RawAnswer {
    /// HTTP status, 0 if no answer came.
    status: u16,
    /// The answer's body.
    body: String,
    /// Body bytes written before the client stopped.
    sent: u64,
    /// Whether the whole body was written.
    complete: bool,
}

/// PUTs `len` zero bytes to `path` over a raw socket: the headers, then the
/// body in pieces from a writer thread while this thread waits for the
/// answer, as a client streaming from a generator would. The writer stops
/// when the body is done, the socket fails, the answer has come, or `abort`
/// is set; nothing is ever held beyond one piece.
fn raw_put(
    url: &str,
    path: &str,
    token: Option<&str>,
    len: u64,
    framing: Framing,
    abort: Arc<AtomicBool>,
) -> RawAnswer {
    let addr = url.strip_prefix("http://").expect("http URL");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(SOCKET_TIMEOUT))
        .expect("timeout");
    stream
        .set_write_timeout(Some(SOCKET_TIMEOUT))
        .expect("timeout");
    let mut head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\n"
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    match framing {
        Framing::Length => head.push_str(&format!("Content-Length: {len}\r\n\r\n")),
        Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n\r\n"),
    }
    stream.write_all(head.as_bytes()).expect("write headers");

    let answered = Arc::new(AtomicBool::new(false));
    let mut out = stream.try_clone().expect("clone socket");
    let writer = {
        let answered = answered.clone();
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let piece = [0u8; PIECE];
                let mut sent = 0u64;
                while sent < len
                    && !answered.load(Ordering::Relaxed)
                    && !abort.load(Ordering::Relaxed)
                {
                    let n = (len - sent).min(PIECE as u64) as usize;
                    let ok = match framing {
                        Framing::Length => out.write_all(&piece[..n]),
                        Framing::Chunked => out
                            .write_all(format!("{n:x}\r\n").as_bytes())
                            .and_then(|()| out.write_all(&piece[..n]))
                            .and_then(|()| out.write_all(b"\r\n")),
                    };
                    if ok.is_err() {
                        break;
                    }
                    sent += n as u64;
                }
                let complete = sent == len;
                if complete {
                    if let Framing::Chunked = framing {
                        let _ = out.write_all(b"0\r\n\r\n");
                    }
                } else {
                    // Stop sending: the server sees the body end early.
                    let _ = out.shutdown(Shutdown::Write);
                }
                (sent, complete)
            })
            .expect("spawn writer")
    };

    // Read the answer: headers, then Content-Length bytes of body.
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + SOCKET_TIMEOUT;
    let (status, body) = loop {
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&answer[..end]).to_string();
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if answer.len() >= end + 4 + length {
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let body = String::from_utf8_lossy(&answer[end + 4..end + 4 + length]);
                break (status, body.to_string());
            }
        }
        if Instant::now() > deadline || answer.len() > 1 << 20 {
            break (0, String::new());
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break (0, String::from_utf8_lossy(&answer).to_string()),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    };
    answered.store(true, Ordering::Relaxed);
    let _ = stream.shutdown(Shutdown::Both);
    let (sent, complete) = writer.join().expect("writer thread");
    RawAnswer {
        status,
        body,
        sent,
        complete,
    }
}

/// A client presenting the admin token, patient enough for 64 MiB on a
/// loaded machine.
fn admin_client() -> reqwest::blocking::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {ADMIN_TOKEN}").parse().expect("header"),
    );
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .default_headers(headers)
        .build()
        .expect("client")
}

#[test]
fn anonymous_uploads_are_refused_before_their_bodies_are_read() {
    const CLIENTS: usize = 200;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let pid = server.pid();
    let digest = hex::encode(Sha256::digest(b"never uploaded"));
    let path = format!("/cas/sha256/{digest}");
    let baseline = proc_status_bytes(pid, "VmRSS");

    // Watch the server's memory; past the bound the clients stop sending
    // (so a server that buffers bodies fails this test instead of
    // exhausting the machine).
    let abort = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (abort, done) = (abort.clone(), done.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(600);
            while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                let rss = proc_status_bytes(pid, "VmRSS");
                if rss.saturating_sub(baseline) > ANONYMOUS_RSS_BOUND {
                    abort.store(true, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (url, path, abort) = (server.url.clone(), path.clone(), abort.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || raw_put(&url, &path, None, MAX_BLOB, Framing::Length, abort))
                .expect("spawn client")
        })
        .collect();
    let answers: Vec<RawAnswer> = clients
        .into_iter()
        .map(|c| c.join().expect("client thread"))
        .collect();
    done.store(true, Ordering::Relaxed);
    watcher.join().expect("watcher");
    let peak = proc_status_bytes(pid, "VmHWM").saturating_sub(baseline);
    let sent: u64 = answers.iter().map(|a| a.sent).sum();
    println!(
        "{CLIENTS} anonymous 64 MiB uploads: server peak RSS growth {:.1} MiB \
         (baseline {:.1} MiB), {:.1} MiB of body sent in total, {:.2?}",
        mib(peak),
        mib(baseline),
        mib(sent),
        started.elapsed()
    );
    assert!(
        !abort.load(Ordering::Relaxed) && peak < ANONYMOUS_RSS_BOUND,
        "server RSS grew by {:.1} MiB (bound {:.0} MiB): bodies are read before the token is checked",
        mib(peak),
        mib(ANONYMOUS_RSS_BOUND)
    );
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer.status, 401, "client {i}: {}", answer.body);
        let body: serde_json::Value = serde_json::from_str(&answer.body)
            .unwrap_or_else(|_| panic!("client {i}: not JSON: {}", answer.body));
        assert_eq!(body["code"], "unauthorized", "client {i}: {body}");
        assert!(
            !answer.complete,
            "client {i}: the server read all 64 MiB before answering 401"
        );
    }
    assert_eq!(server.get(&path).0, 404, "nothing was stored");
    // The server still serves.
    assert_eq!(server.get("/healthz").0, 200);
}

#[test]
fn a_large_blob_streams_up_and_down_byte_identical_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let pid = server.pid();
    let client = admin_client();
    let digest = generated_digest(42, MAX_BLOB);
    let url = format!("{}/cas/sha256/{digest}", server.url);
    let baseline = proc_status_bytes(pid, "VmRSS");

    let r = client
        .put(&url)
        .body(reqwest::blocking::Body::sized(
            Generator::new(42, MAX_BLOB),
            MAX_BLOB,
        ))
        .send()
        .expect("PUT 64 MiB");
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().expect("JSON answer");
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["digest"], format!("sha256:{digest}"));
    assert_eq!(body["size"], MAX_BLOB);
    let after_upload = proc_status_bytes(pid, "VmHWM").saturating_sub(baseline);

    let mut r = anonymous_http_patient()
        .get(&url)
        .send()
        .expect("GET 64 MiB");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()),
        Some(MAX_BLOB.to_string().as_str())
    );
    let mut expected = Generator::new(42, MAX_BLOB);
    let (mut got, mut want) = (vec![0u8; PIECE], vec![0u8; PIECE]);
    let mut total = 0u64;
    loop {
        let n = r.read(&mut got).expect("read download");
        if n == 0 {
            break;
        }
        expected.read_exact(&mut want[..n]).unwrap_or_else(|_| {
            panic!("download longer than the blob: more than {total} + {n} bytes")
        });
        assert!(
            got[..n] == want[..n],
            "download differs within bytes {total}..{}",
            total + n as u64
        );
        total += n as u64;
    }
    assert_eq!(total, MAX_BLOB, "download length");
    let after_download = proc_status_bytes(pid, "VmHWM").saturating_sub(baseline);
    println!(
        "64 MiB blob: server peak RSS growth {:.1} MiB after the upload, {:.1} MiB after the download",
        mib(after_upload),
        mib(after_download)
    );
    assert!(
        after_download < STREAMING_RSS_BOUND,
        "server RSS grew by {:.1} MiB (upload) / {:.1} MiB (download): the blob was held in memory",
        mib(after_upload),
        mib(after_download)
    );

    // One byte over the limit: refused from the announced length, and
    // while streaming when no length is announced; nothing stored.
    for framing in [Framing::Length, Framing::Chunked] {
        // Any name: the size is refused before the digest is compared.
        let over = hex::encode(Sha256::digest(b"too large"));
        let answer = raw_put(
            &server.url,
            &format!("/cas/sha256/{over}"),
            Some(ADMIN_TOKEN),
            MAX_BLOB + 1,
            framing,
            Arc::new(AtomicBool::new(false)),
        );
        assert_eq!(answer.status, 413, "{}", answer.body);
        let body: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON");
        assert_eq!(body["code"], "blob_too_large", "{body}");
        assert_eq!(server.get(&format!("/cas/sha256/{over}")).0, 404);
    }
    assert_no_upload_leftovers(&server);
}

/// No temporary upload file is left in the CAS directory.
fn assert_no_upload_leftovers(server: &Server) {
    let root = server.data_dir.join("evidence/cas/sha256");
    for shard in std::fs::read_dir(&root).expect("CAS dir") {
        for file in std::fs::read_dir(shard.expect("shard").path()).expect("shard dir") {
            let name = file.expect("entry").file_name();
            let name = name.to_string_lossy();
            assert!(
                name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()),
                "left behind in CAS: {name}"
            );
        }
    }
}

fn anonymous_http_patient() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("client")
}

#[test]
fn concurrent_uploads_of_one_blob_never_expose_a_partial_file() {
    const WRITERS: usize = 8;
    const READERS: usize = 2;
    const ROUNDS: u64 = 3;
    const SIZE: u64 = 8 * 1024 * 1024;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    for round in 0..ROUNDS {
        let mut blob = Vec::new();
        Generator::new(1000 * (round + 1), SIZE)
            .read_to_end(&mut blob)
            .expect("generate");
        let blob = Arc::new(blob);
        let digest = hex::encode(Sha256::digest(blob.as_slice()));
        let url = format!("{}/cas/sha256/{digest}", server.url);
        let start = Arc::new(Barrier::new(WRITERS + READERS));
        let writing = Arc::new(AtomicU64::new(WRITERS as u64));
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let (blob, url, start, writing) =
                    (blob.clone(), url.clone(), start.clone(), writing.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let r = admin_client().put(&url).body(blob.to_vec()).send();
                    writing.fetch_sub(1, Ordering::SeqCst);
                    let r = r.expect("PUT");
                    let status = r.status().as_u16();
                    (status, r.text().unwrap_or_default())
                })
            })
            .collect();
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let (digest, url, start, writing) =
                    (digest.clone(), url.clone(), start.clone(), writing.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let client = anonymous_http_patient();
                    let mut served = 0;
                    // Bounded: the writers finish (or time out) in bounded time.
                    for _ in 0..2_000 {
                        let done = writing.load(Ordering::SeqCst) == 0;
                        let r = client.get(&url).send().expect("GET");
                        let status = r.status().as_u16();
                        let body = r.bytes().expect("body");
                        match status {
                            404 => {}
                            200 => {
                                assert_eq!(body.len() as u64, SIZE, "a partial blob was served");
                                assert_eq!(hex::encode(Sha256::digest(&body)), digest);
                                served += 1;
                            }
                            other => {
                                panic!("GET answered {other}: {}", String::from_utf8_lossy(&body))
                            }
                        }
                        if done {
                            break;
                        }
                    }
                    served
                })
            })
            .collect();
        let statuses: Vec<(u16, String)> = writers
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect();
        for reader in readers {
            reader.join().expect("a reader saw a partial or wrong blob");
        }
        let created = statuses.iter().filter(|(s, _)| *s == 201).count();
        assert!(
            statuses.iter().all(|(s, _)| *s == 200 || *s == 201),
            "round {round}: {statuses:?}"
        );
        assert_eq!(
            created, 1,
            "round {round}: exactly one upload creates the blob: {statuses:?}"
        );
        let (status, body) = server.get(&format!("/cas/sha256/{digest}"));
        assert_eq!(status, 200);
        assert!(body == *blob, "round {round}: the stored blob differs");
    }
    assert_no_upload_leftovers(&server);
}

#[test]
fn a_blob_damaged_on_disk_is_never_served_and_the_next_upload_repairs_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("log"));
    let mut blob = Vec::new();
    Generator::new(9, 1 << 20)
        .read_to_end(&mut blob)
        .expect("generate");
    let digest = hex::encode(Sha256::digest(&blob));
    let path = format!("/cas/sha256/{digest}");
    let put = |body: &[u8]| {
        let r = admin_client()
            .put(format!("{}{path}", server.url))
            .body(body.to_vec())
            .send()
            .expect("PUT");
        let status = r.status().as_u16();
        (status, r.json::<serde_json::Value>().expect("JSON"))
    };
    assert_eq!(put(&blob).0, 201);
    let file = server
        .data_dir
        .join("evidence/cas/sha256")
        .join(&digest[..2])
        .join(&digest);
    assert!(file.is_file(), "blob at {}", file.display());

    // Damage in place: one flipped byte (same size), then a truncation.
    type Damage = fn(&std::path::Path);
    let damages: [(&str, Damage); 2] = [
        ("a flipped byte", |f| {
            let mut bytes = std::fs::read(f).expect("read blob");
            bytes[1000] ^= 0xff;
            std::fs::write(f, bytes).expect("damage blob");
        }),
        ("a truncation", |f| {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(f)
                .expect("open");
            file.set_len(4096).expect("truncate");
        }),
    ];
    for (what, damage) in damages {
        damage(&file);
        let (status, body) = server.get(&path);
        assert_eq!(
            status,
            500,
            "{what}: GET of a damaged blob answered {status} with {} bytes",
            body.len()
        );
        let error: serde_json::Value = serde_json::from_slice(&body).expect("JSON error");
        assert_eq!(error["code"], "blob_corrupt", "{what}: {error}");
        let head = anonymous_http()
            .head(format!("{}{path}", server.url))
            .send()
            .expect("HEAD");
        assert_eq!(head.status().as_u16(), 500, "{what}: HEAD");

        // Wrong bytes do not repair it.
        let (status, error) = put(b"not the blob");
        assert_eq!(status, 422, "{what}: {error}");
        assert_eq!(server.get(&path).0, 500, "{what}: still damaged");

        // The right bytes do.
        let (status, answer) = put(&blob);
        assert_eq!(status, 201, "{what}: the repair is a new copy: {answer}");
        let (status, served) = server.get(&path);
        assert_eq!(status, 200, "{what}");
        assert!(served == blob, "{what}: the repaired blob differs");
        assert_eq!(put(&blob).0, 200, "{what}: intact now, nothing to do");
    }
    assert_no_upload_leftovers(&server);
}

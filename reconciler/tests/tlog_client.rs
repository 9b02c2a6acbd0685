//! `TlogClient` against a raw TCP fake log: a 5xx, a reset connection and
//! an endless body are "could not check" (a transient [`ReconcileError::Log`],
//! retried by the reconciler), never [`ReconcileError::Untrusted`]; an
//! endless body is abandoned at the cap, not read to the end.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use evledger_reconciler::tlog_client::MAX_RESPONSE;
use evledger_reconciler::{ReconcileError, TlogClient};

/// Most an endless answer writes before holding the connection open.
const ENDLESS_LIMIT: u64 = 256 << 20;

/// Serves every connection with `answer`; returns the base URL and the
/// bytes written so far.
fn fake_log(answer: fn(&mut TcpStream, &AtomicU64)) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let written = Arc::new(AtomicU64::new(0));
    let w = written.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let w = w.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                answer(&mut stream, &w);
            });
        }
    });
    (url, written)
}

fn read_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
}

fn server_error(stream: &mut TcpStream, _: &AtomicU64) {
    read_head(stream);
    let _ = stream.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy",
    );
}

fn reset(stream: &mut TcpStream, _: &AtomicU64) {
    // Closing with the request unread makes the kernel answer with RST.
    let mut first = [0u8; 1];
    let _ = stream.read_exact(&mut first);
}

fn endless(stream: &mut TcpStream, written: &AtomicU64) {
    read_head(stream);
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    while written.load(Ordering::SeqCst) < ENDLESS_LIMIT {
        if stream.write_all(&chunk).is_err() {
            return;
        }
        written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
    }
    let mut byte = [0u8; 1];
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let _ = stream.read(&mut byte);
}

fn huge_length(stream: &mut TcpStream, _: &AtomicU64) {
    read_head(stream);
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-length: 1000000000000\r\nconnection: close\r\n\r\nxx",
    );
}

/// `GET /checkpoint` from the fake log, on a blocking thread as the
/// client's callers do.
fn checkpoint_of(url: &str) -> ReconcileError {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = TlogClient::new(url, runtime.handle().clone()).expect("client");
    client
        .checkpoint_note()
        .expect_err("the fake log serves no checkpoint")
}

fn assert_could_not_check(error: &ReconcileError, what: &str) {
    assert!(
        matches!(error, ReconcileError::Log(_)) && error.is_transient(),
        "{what} must be a transient log error, not {error:?}"
    );
}

#[test]
fn a_5xx_is_could_not_check() {
    let (url, _) = fake_log(server_error);
    let error = checkpoint_of(&url);
    assert_could_not_check(&error, "a 503");
    assert!(error.to_string().contains("503"), "{error}");
}

#[test]
fn a_reset_connection_is_could_not_check() {
    let (url, _) = fake_log(reset);
    assert_could_not_check(&checkpoint_of(&url), "a reset connection");
}

#[test]
fn an_endless_body_is_abandoned_at_the_cap() {
    let (url, written) = fake_log(endless);
    let error = checkpoint_of(&url);
    assert_could_not_check(&error, "an endless body");
    assert!(error.to_string().contains("larger than"), "{error}");
    // The client stopped reading past the cap; the server could write
    // little more than that (socket buffers) before its writes failed.
    let written = written.load(Ordering::SeqCst);
    assert!(
        written < (MAX_RESPONSE as u64) * 3,
        "{written} bytes of an endless body were read (cap {MAX_RESPONSE})"
    );
}

#[test]
fn a_body_announced_too_large_is_refused_unread() {
    let (url, _) = fake_log(huge_length);
    let error = checkpoint_of(&url);
    assert_could_not_check(&error, "a huge Content-Length");
    assert!(error.to_string().contains("larger than"), "{error}");
}

//! A webhook receiver for the fan-out tests. It records every POST to
//! `/hook` and answers it as told; it asserts nothing, so a wrong delivery
//! fails the test that reads the record, at once and in the test's thread,
//! not as a timeout.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use evledger_fanout::webhook::{verify_signature, DEFAULT_TOLERANCE};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{anonymous_http, unix_now};

/// HMAC-SHA256 of `"{timestamp}.{body}"`, computed here independently of
/// the server's code: the signature format receivers are told to check.
pub fn expected_signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("hmac");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// How the receiver tells a genuine delivery (answered 200) from one it
/// refuses (401).
#[derive(Clone, Copy, Debug)]
pub enum Check {
    /// With [`verify_signature`], the helper of the fan-out crate that
    /// receivers are given (it also refuses stale timestamps).
    Helper,
    /// With [`expected_signature`], the test's own HMAC.
    OwnHmac,
}

/// What the receiver answers `/hook` with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// 200 for a genuine delivery, 401 for another (see [`Check`]).
    Verdict,
    /// 503, whatever came.
    Unavailable,
    /// 302 to `/moved`, whatever came.
    Redirect,
}

impl Answer {
    fn from_u8(n: u8) -> Self {
        match n {
            1 => Self::Unavailable,
            2 => Self::Redirect,
            _ => Self::Verdict,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Self::Verdict => 0,
            Self::Unavailable => 1,
            Self::Redirect => 2,
        }
    }
}

/// One POST the receiver got: headers we care about and the body.
#[derive(Clone, Debug)]
pub struct Seen {
    pub timestamp: String,
    pub signature: String,
    pub authorization: String,
    pub body: Vec<u8>,
    /// Whether the signature helper ([`verify_signature`]) accepted it.
    pub accepted: bool,
    /// Whether the signature is the test's own HMAC of it.
    pub authentic: bool,
    /// What the receiver answered.
    pub status: u16,
}

/// A webhook receiver on 127.0.0.1 that records every POST to `/hook` and
/// answers it according to its [`Answer`] (at first [`Answer::Verdict`]).
/// `/moved` counts anything that reaches it: a redirect followed.
pub struct Receiver {
    /// `127.0.0.1:<port>`.
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    moved: Arc<AtomicUsize>,
    answer: Arc<AtomicU8>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    /// Starts a receiver sharing `secret` with the sink, telling genuine
    /// deliveries by `check`.
    pub fn start(secret: &'static [u8], check: Check) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let moved = Arc::new(AtomicUsize::new(0));
        let answer = Arc::new(AtomicU8::new(Answer::Verdict.to_u8()));
        let (s, a) = (seen.clone(), answer.clone());
        let hook = move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let (s, a) = (s.clone(), a.clone());
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                let (timestamp, signature) = (
                    header("x-evledger-timestamp"),
                    header("x-evledger-signature"),
                );
                let accepted = verify_signature(
                    secret,
                    &timestamp,
                    &signature,
                    &body,
                    unix_now(),
                    DEFAULT_TOLERANCE,
                )
                .is_ok();
                // The MAC covers "<timestamp header>.<body>".
                let authentic = signature == expected_signature(secret, &timestamp, &body);
                let genuine = match check {
                    Check::Helper => accepted,
                    Check::OwnHmac => authentic,
                };
                let mut response = axum::http::Response::builder();
                let status = match Answer::from_u8(a.load(Ordering::SeqCst)) {
                    Answer::Redirect => {
                        response = response.header("location", "/moved");
                        302
                    }
                    Answer::Unavailable => 503,
                    Answer::Verdict if genuine => 200,
                    Answer::Verdict => 401,
                };
                s.lock().expect("seen").push(Seen {
                    authorization: header("authorization"),
                    timestamp,
                    signature,
                    body: body.to_vec(),
                    accepted,
                    authentic,
                    status,
                });
                response
                    .status(status)
                    .body(axum::body::Body::empty())
                    .expect("response")
            }
        };
        let m = moved.clone();
        let moved_to = move || {
            let m = m.clone();
            async move {
                m.fetch_add(1, Ordering::SeqCst);
                axum::http::StatusCode::OK
            }
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let base = format!("127.0.0.1:{}", listener.local_addr().expect("addr").port());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .route("/moved", axum::routing::any(moved_to));
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            base,
            seen,
            moved,
            answer,
            _runtime: runtime,
        }
    }

    /// The URL to register: `http://127.0.0.1:<port>/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.base)
    }

    /// From now on, answer `/hook` with `answer`.
    pub fn set_answer(&self, answer: Answer) {
        self.answer.store(answer.to_u8(), Ordering::SeqCst);
    }

    /// Every POST to `/hook` so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }

    /// The POSTs answered 200, in arrival order.
    pub fn delivered(&self) -> Vec<Seen> {
        self.with_status(200)
    }

    /// How many POSTs were refused (answered 401).
    pub fn refused(&self) -> usize {
        self.with_status(401).len()
    }

    fn with_status(&self, status: u16) -> Vec<Seen> {
        let seen = self.seen.lock().expect("seen");
        seen.iter()
            .filter(|s| s.status == status)
            .cloned()
            .collect()
    }

    /// How many requests reached `/moved`.
    pub fn moved(&self) -> usize {
        self.moved.load(Ordering::SeqCst)
    }

    /// POSTs a delivery to `/hook` by hand: the answer's status.
    pub fn replay(&self, timestamp: &str, signature: &str, body: &[u8]) -> u16 {
        anonymous_http()
            .post(self.url())
            .header("x-evledger-timestamp", timestamp)
            .header("x-evledger-signature", signature)
            .body(body.to_vec())
            .send()
            .expect("POST")
            .status()
            .as_u16()
    }
}

//! Who is calling: `Authorization: Bearer <token>` is the admin token
//! configured at start, or a robot account's token. Reads of the log are
//! public; every write needs one of the two.
//!
//! Writes are authenticated before their body is read: the
//! [`authenticate_writes`] middleware runs in front of every route, refuses
//! a write without a valid token (401) before any extractor touches the
//! body, and leaves the [`Caller`] in the request's extensions, where the
//! [`Caller`] and [`Admin`] extractors find it: the token is looked up once
//! per request. Writes anyone may make are listed in [`PUBLIC_WRITES`].

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use evledger_evidence::{token_hash, Pusher, RobotAccount};

use crate::error::ApiError;
use crate::AppState;

/// Paths whose POST anyone may call: they search, they write nothing.
pub(crate) const PUBLIC_WRITES: &[&str] = &["/api/v1/index/retrieve"];

/// An authenticated caller.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// The operator: may do anything.
    Admin,
    /// A robot account: may push attestations and blobs for its workflow.
    Robot(RobotAccount),
    /// No token, on a write the operator opened to everyone (Rekor v2's).
    Anonymous,
}

impl Caller {
    /// The caller as the evidence workflow's admission sees it.
    pub(crate) fn pusher(&self) -> Pusher {
        match self {
            Self::Admin => Pusher::Admin,
            Self::Robot(robot) => Pusher::Robot(robot.clone()),
            Self::Anonymous => Pusher::Anonymous,
        }
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// Whether a request with `method` to `path` must carry a token before its
/// body is read: every method but the reads, except [`PUBLIC_WRITES`].
pub(crate) fn needs_token(method: &Method, path: &str) -> bool {
    let read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    !read && !PUBLIC_WRITES.contains(&path)
}

/// Middleware: authenticates every write before its body is read (401
/// without a valid token), and hands the [`Caller`] on in the request's
/// extensions. Reads and [`PUBLIC_WRITES`] pass untouched.
pub(crate) async fn authenticate_writes(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if !needs_token(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    if let Some(limit) = open_write_limit(&state, &request) {
        let client = request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        if let Err(wait) = limit.take(client) {
            let mut answer = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many writes without a token from this client: retry in {wait} s"),
            )
            .into_response();
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, wait.into());
            return answer;
        }
        request.extensions_mut().insert(Caller::Anonymous);
        return next.run(request).await;
    }
    match caller(&state, request.headers()).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        // The body is never read: hyper closes the connection after this
        // answer rather than wait for it.
        Err(e) => e.into_response(),
    }
}

/// The limit of a write without a token that the operator opened to
/// everyone (a Rekor v2 write, with `--rekor-open-writes`), if this is one.
fn open_write_limit<'a>(
    state: &'a AppState,
    request: &Request,
) -> Option<&'a crate::rate_limit::PerClient> {
    let anonymous = !request.headers().contains_key(header::AUTHORIZATION);
    let rekor =
        request.method() == Method::POST && request.uri().path() == crate::rekor::ENTRIES_PATH;
    state.open_rekor_limit().filter(|_| anonymous && rekor)
}

/// The caller of a write, or 401.
pub(crate) async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "this write needs a token: Authorization: Bearer <token>",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthorized("Authorization must be `Bearer <token>`"))?;
    // Compare hashes, not tokens: the time taken says nothing about the token.
    if state
        .admin_token_hash()
        .is_some_and(|admin| admin == token_hash(token))
    {
        return Ok(Caller::Admin);
    }
    let evidence = state.evidence().clone();
    let token = token.to_string();
    let robot = crate::blocking(move || Ok(evidence.authenticate(&token)?)).await?;
    robot
        .map(Caller::Robot)
        .ok_or_else(|| unauthorized("the token is unknown or revoked"))
}

fn require_admin(caller: Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Admin => Ok(()),
        Caller::Robot(_) | Caller::Anonymous => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this operation needs the admin token",
        )),
    }
}

/// Extractor: the caller [`authenticate_writes`] found, or (on a route
/// it lets through, a read) the caller the headers name, else 401. Put it
/// before the body among a handler's arguments: extractors run in order.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        caller(state, &parts.headers).await
    }
}

/// Extractor: the caller is the admin (401 without a token, 403 for a
/// robot account).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        require_admin(Caller::from_request_parts(parts, state).await?).map(|()| Admin)
    }
}

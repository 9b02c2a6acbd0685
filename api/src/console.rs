//! The auditor console's routes: HTML pages rendered by
//! [`evledger_console`] from what the ledger, the index and the evidence
//! store hold. Handlers here read and fill page models, nothing more; the
//! browser verifies what it is shown (see the console crate).
//!
//! Every page costs bounded work whatever the size of the log: a page is
//! at most [`evledger_console::PAGE_SIZE`] entries read by index, one
//! index query within its budget, or 1,440 per-minute counters.
//!
//! These routes are not part of the JSON API and not in its OpenAPI
//! document; they answer HTML, errors included.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use evledger_console::entries::{EntryDetail, EntryList, EntryRow, Material, Signer};
use evledger_console::overview::{Lag, Overview, Witness};
use evledger_console::search::{Outcome, SearchForm, SearchPage};
use evledger_console::workflows::{
    AttestationRow, IntegrationRow, RevisionRow, RobotRow, WorkflowPage, WorkflowRow,
};
use evledger_console::{Nav, Session, PAGE_SIZE};
use evledger_evidence::attestation::Predicate;
use evledger_indexer::search::SearchQuery;
use evledger_ledger::cosignature::unix_millis;
use evledger_ledger::entry::rekor::HashAlgorithm;
use evledger_ledger::entry::{Entry, EntryBody};
use evledger_ledger::verifier::CheckpointVerifier;
use maud::Markup;

use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::{blocking, AppState};

/// Name of the admin session cookie.
const SESSION_COOKIE: &str = "evledger_console";
/// How long an admin session lasts.
const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Most admin sessions kept; the oldest goes first.
const MAX_SESSIONS: usize = 256;
/// Attestations per page of a workflow.
const ATTESTATIONS_PER_PAGE: usize = 20;
/// Minutes in the overview's chart.
const CHART_MINUTES: u64 = 24 * 60;
/// Signed tree sizes listed on the consistency page.
const SIGNED_SIZES_LISTED: usize = 10;

/// Admin sessions of the console: random ids, kept in memory (a restart
/// signs everyone out), never the token itself.
#[derive(Default)]
pub(crate) struct Sessions {
    ids: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    fn open(&self) -> String {
        let id = hex::encode(rand::random::<[u8; 32]>());
        if let Ok(mut ids) = self.ids.lock() {
            let now = Instant::now();
            ids.retain(|_, started| now.duration_since(*started) < SESSION_LIFETIME);
            if ids.len() >= MAX_SESSIONS {
                if let Some(oldest) = ids.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone()) {
                    ids.remove(&oldest);
                }
            }
            ids.insert(id.clone(), now);
        }
        id
    }

    fn is_open(&self, id: &str) -> bool {
        self.ids
            .lock()
            .ok()
            .and_then(|ids| ids.get(id).copied())
            .is_some_and(|started| started.elapsed() < SESSION_LIFETIME)
    }

    fn close(&self, id: &str) {
        if let Ok(mut ids) = self.ids.lock() {
            ids.remove(id);
        }
    }
}

/// The console's routes.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(overview))
        .route("/entries", get(entry_list))
        .route("/entries/{index}", get(entry_detail))
        .route("/entries/{index}/envelope", get(envelope))
        .route("/search", get(search))
        .route("/workflows", get(workflow_list))
        .route("/workflows/{name}", get(workflow))
        .route("/consistency", get(consistency))
        .route("/keys", get(keys))
        .route("/packs/summary", get(crate::pack::summary))
        .route("/assets/{name}", get(asset))
        .route("/login", post(login))
        .route("/logout", post(logout))
}

/// An HTML answer with the console's security headers.
fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup).into_response();
    secure(response.headers_mut());
    response
}

/// The headers every console answer carries: the CSP, no sniffing, no
/// framing, no referrer, no caching of pages that change.
pub(crate) fn secure(headers: &mut HeaderMap) {
    let set = |headers: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        evledger_console::CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
}

/// A console error: an HTML page with the API error's status and message.
pub(crate) struct PageError(Box<Failure>);

struct Failure {
    nav: Nav,
    error: ApiError,
    session: Session,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let failure = *self.0;
        if failure.error.status.is_server_error() {
            tracing::error!(code = failure.error.code, message = %failure.error.message, "console page failed");
        }
        let title = match failure.error.status {
            StatusCode::NOT_FOUND => "Not found",
            s if s.is_client_error() => "Bad request",
            _ => "Server error",
        };
        html(
            failure.error.status,
            evledger_console::error_page(
                &failure.session,
                failure.nav,
                title,
                &failure.error.message,
            ),
        )
    }
}

/// The session of a request: the origin, and whether it carries an open
/// admin session cookie.
pub(crate) fn session(state: &AppState, headers: &HeaderMap) -> Session {
    let admin = session_id(headers).is_some_and(|id| state.inner.sessions.is_open(&id));
    Session {
        origin: state.ledger().origin().to_string(),
        announced_key: state.ledger().verifier_key().to_string(),
        admin,
        admin_configured: state.admin_token_hash().is_some(),
    }
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

/// Runs `f` off the async workers, turning its error into an HTML page.
pub(crate) async fn page_work<T: Send + 'static>(
    nav: Nav,
    session: &Session,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, PageError> {
    blocking(f)
        .await
        .map_err(|error| page_error(nav, session, error))
}

fn page_error(nav: Nav, session: &Session, error: ApiError) -> PageError {
    PageError(Box::new(Failure {
        nav,
        error,
        session: session.clone(),
    }))
}

fn parse_index(nav: Nav, session: &Session, name: &str, value: &str) -> Result<u64, PageError> {
    value.parse::<u64>().map_err(|_| {
        page_error(
            nav,
            session,
            ApiError::bad_request(format!("{name} must be a log index, not {value:?}")),
        )
    })
}

// ---- the overview ------------------------------------------------------

async fn overview(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let session = session(&state, &headers);
    let checkpoint = state.served_checkpoint();
    let witnesses = state.witnesses();
    let index_lag = match state.index() {
        Some(store) => {
            let lag = crate::index::indexed_size(store).await;
            let size = state.ledger().checkpoint().size;
            Some(match lag {
                Ok(indexed) => Lag {
                    name: "index".into(),
                    entries: Some(size.saturating_sub(indexed)),
                    note: match state.index_failure() {
                        Some(why) => format!("the reconciler stopped: {why}"),
                        None => match store {
                            evledger_indexer::AnyStore::Redis(_) => "Redis".into(),
                            evledger_indexer::AnyStore::Embedded(_) => "embedded store".into(),
                        },
                    },
                },
                Err(e) => Lag {
                    name: "index".into(),
                    entries: None,
                    note: format!("the index does not answer: {e}"),
                },
            })
        }
        None => None,
    };
    let reader = state.clone();
    let model = page_work(Nav::Overview, &session, move || {
        let ledger = reader.ledger();
        let now_ms = unix_millis();
        let now_minute = now_ms / 60_000;
        let from = (now_minute + 1).saturating_sub(CHART_MINUTES);
        let mut per_minute = vec![0u64; CHART_MINUTES as usize];
        for (minute, count) in ledger.entries_per_minute(from, now_minute + 1)? {
            if let Some(slot) = per_minute.get_mut((minute - from) as usize) {
                *slot = count;
            }
        }
        let cosigners = CheckpointVerifier::new(&[ledger.verifier_key()])
            .and_then(|v| v.with_witnesses(&witnesses.keys, 0))
            .and_then(|v| v.verify(checkpoint.note.as_bytes()))
            .map(|c| c.cosigners)
            .unwrap_or_default();
        let witness_rows = witnesses
            .keys
            .iter()
            .map(|key| {
                let name = key.split('+').next().unwrap_or_default().to_string();
                Witness {
                    cosigned: cosigners.contains(&name),
                    name,
                    key: key.clone(),
                }
            })
            .collect();
        let mut lags: Vec<Lag> = index_lag.into_iter().collect();
        lags.extend(sink_lags(&reader, None)?.into_iter().map(|i| Lag {
            name: i.name,
            entries: i.lag,
            note: i.kind,
        }));
        Ok(Overview {
            origin: checkpoint.origin.clone(),
            tree_size: checkpoint.size,
            root_hex: hex::encode(checkpoint.root),
            checkpoint: checkpoint.note.clone(),
            verifier_key: ledger.verifier_key().to_string(),
            witnesses: witness_rows,
            witness_quorum: witnesses.quorum,
            per_minute,
            now_ms,
            lags,
        })
    })
    .await?;
    Ok(html(
        StatusCode::OK,
        evledger_console::overview::render(&session, &model),
    ))
}

/// The sinks of attached integrations (of `workflow`, or all) and their lag.
fn sink_lags(state: &AppState, workflow: Option<&str>) -> Result<Vec<IntegrationRow>, ApiError> {
    let size = state.ledger().checkpoint().size;
    let evidence = state.evidence();
    let kinds: HashMap<String, String> = evidence
        .store()
        .integrations()?
        .into_iter()
        .map(|i| (i.name, i.kind))
        .collect();
    Ok(evidence
        .attachments(None)?
        .into_iter()
        .filter(|a| workflow.is_none_or(|w| a.workflow == w))
        .map(|a| {
            let name = evledger_fanout::targets::sink_name(&a.integration, &a.workflow);
            let cursor = state.ledger().cursor(&name).ok().flatten();
            IntegrationRow {
                kind: kinds.get(&a.integration).cloned().unwrap_or_default(),
                lag: cursor.map(|c| size.saturating_sub(c)),
                name,
            }
        })
        .collect())
}

// ---- entries -----------------------------------------------------------

/// The list facts of a logged leaf, read from its parsed `entry`; a leaf
/// that does not parse (`None`) is listed as what it is.
pub(crate) fn entry_row(index: u64, entry: Option<&Entry>, time_ms: Option<u64>) -> EntryRow {
    let mut row = EntryRow {
        index,
        time_ms,
        kind: "unreadable".into(),
        workflow: None,
        subjects: Vec::new(),
        predicate_type: None,
    };
    let Some(entry) = entry else {
        return row;
    };
    row.kind = entry.kind.clone();
    let statement = match &entry.body {
        EntryBody::Dsse(dsse) => dsse.statement.as_ref(),
        EntryBody::Rekor(rekor) => {
            if let Some(digest) = rekor.digest() {
                let algorithm = HashAlgorithm::of_name(&digest.algorithm).map_or_else(
                    || digest.algorithm.clone(),
                    |a| a.digest_set_name().to_string(),
                );
                row.subjects
                    .push(format!("{algorithm}:{}", hex::encode(&digest.digest.0)));
            }
            rekor.statement.as_ref()
        }
        EntryBody::Contract(contract) => {
            row.workflow = Some(contract.workflow.clone());
            row.subjects
                .push(format!("contract revision {}", contract.revision));
            None
        }
    };
    if let Some(statement) = statement {
        row.predicate_type = Some(statement.predicate_type.clone());
        for subject in &statement.subject {
            let digest = subject
                .digest
                .iter()
                .next()
                .map(|(alg, d)| format!("{alg}:{}", d.get(..12).unwrap_or(d)))
                .unwrap_or_default();
            row.subjects.push(match &subject.name {
                Some(name) if !name.is_empty() => format!("{name} ({digest}…)"),
                _ => format!("{digest}…"),
            });
        }
        if let Some(predicate) = &statement.predicate {
            if let Some(name) = predicate["workflow"]["name"].as_str() {
                row.workflow = Some(name.to_string());
            }
        }
    }
    row
}

fn rows(state: &AppState, indexes: &[u64]) -> Result<Vec<EntryRow>, ApiError> {
    let ledger = state.ledger();
    indexes
        .iter()
        .map(|&index| {
            let leaf = ledger
                .entry(index)?
                .ok_or_else(|| ApiError::internal(format!("entry {index} is not in the log")))?;
            let entry = Entry::parse_logged(&leaf).ok();
            Ok(entry_row(index, entry.as_ref(), ledger.entry_time(index)?))
        })
        .collect()
}

async fn entry_list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let session = session(&state, &headers);
    let size = state.ledger().checkpoint().size;
    let before = match params.get("before") {
        Some(v) => parse_index(Nav::Entries, &session, "before", v)?.min(size),
        None => size,
    };
    let reader = state.clone();
    let model = page_work(Nav::Entries, &session, move || {
        let from = before.saturating_sub(PAGE_SIZE as u64);
        let leaves = reader
            .ledger()
            .entries(from, usize::try_from(before - from).unwrap_or(PAGE_SIZE))?;
        let mut rows = Vec::with_capacity(leaves.len());
        for (offset, leaf) in leaves.iter().enumerate().rev() {
            let index = from + offset as u64;
            let entry = Entry::parse_logged(leaf).ok();
            rows.push(entry_row(
                index,
                entry.as_ref(),
                reader.ledger().entry_time(index)?,
            ));
        }
        Ok(EntryList {
            tree_size: size,
            rows,
            older: (from > 0).then_some(from),
            has_newer: before < size,
        })
    })
    .await?;
    Ok(html(
        StatusCode::OK,
        evledger_console::entries::render_list(&session, &model),
    ))
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

async fn entry_detail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(index): Path<String>,
) -> Result<Response, PageError> {
    let session = session(&state, &headers);
    let index = parse_index(Nav::Entries, &session, "the entry", &index)?;
    let reader = state.clone();
    let model = page_work(Nav::Entries, &session, move || detail(&reader, index)).await?;
    Ok(html(
        StatusCode::OK,
        evledger_console::entries::render_detail(&session, &model),
    ))
}

fn detail(state: &AppState, index: u64) -> Result<EntryDetail, ApiError> {
    let checkpoint = state.ledger().checkpoint();
    if index >= checkpoint.size {
        return Err(ApiError::not_found(format!(
            "no entry at log index {index} (the log has {} entries)",
            checkpoint.size
        )));
    }
    let (leaf, proof) = state.ledger().proven_entry(index, checkpoint.size)?;
    let parsed = Entry::parse_logged(&leaf).ok();
    let row = entry_row(index, parsed.as_ref(), state.ledger().entry_time(index)?);
    let leaf_hash = evledger_ledger::leaf_hash(&leaf);
    let mut model = EntryDetail {
        row,
        leaf_hash: hex::encode(leaf_hash),
        leaf: String::from_utf8_lossy(&leaf).into_owned(),
        statement: None,
        predicate: None,
        contract: None,
        materials: Vec::new(),
        signers: Vec::new(),
        proof_size: proof.tree_size,
        proof_root: hex::encode(proof.root),
        proof_hashes: proof.hashes.iter().map(hex::encode).collect(),
        has_envelope: false,
        has_sigstore_bundle: false,
    };
    let Some(entry) = parsed else {
        return Ok(model);
    };
    let no_payload: &[u8] = &[];
    let (statement, payload) = match &entry.body {
        EntryBody::Dsse(dsse) => {
            model.has_envelope = true;
            model.signers = dsse
                .keys
                .iter()
                .map(|k| Signer {
                    fingerprint: k.fingerprint.clone(),
                    algorithm: match k.key {
                        evledger_ledger::entry::keys::PublicKey::Ed25519(_) => "Ed25519".into(),
                        evledger_ledger::entry::keys::PublicKey::P256(_) => "ECDSA P-256".into(),
                    },
                })
                .collect();
            (dsse.statement.as_ref(), dsse.payload.as_slice())
        }
        EntryBody::Rekor(rekor) => {
            model.has_sigstore_bundle = true;
            model.has_envelope = rekor.logged.spec.dsse.is_some()
                && state.evidence().store().envelope(&leaf_hash)?.is_some();
            model.signers = rekor
                .verifiers
                .iter()
                .map(|v| Signer {
                    fingerprint: v.fingerprint.clone(),
                    algorithm: serde_json::to_value(&v.json)
                        .ok()
                        .and_then(|j| j["keyDetails"].as_str().map(str::to_string))
                        .unwrap_or_else(|| "unknown".into()),
                })
                .collect();
            (rekor.statement.as_ref(), no_payload)
        }
        EntryBody::Contract(contract) => {
            model.contract = Some(pretty(&contract.contract));
            (None, no_payload)
        }
    };
    if let Some(statement) = statement {
        if let Ok(mut shown) = serde_json::from_slice::<serde_json::Value>(payload) {
            if let Some(map) = shown.as_object_mut() {
                map.remove("predicate");
            }
            model.statement = Some(pretty(&shown));
        }
        if let Some(predicate) = &statement.predicate {
            model.predicate = Some(pretty(predicate));
            if let Ok(Some(ours)) = Predicate::of(statement) {
                model.materials = materials(state, &ours)?;
            }
        }
    }
    Ok(model)
}

fn materials(state: &AppState, predicate: &Predicate) -> Result<Vec<Material>, ApiError> {
    let cas = state.evidence().cas();
    predicate
        .materials
        .iter()
        .map(|m| {
            let sha256 = m
                .digest
                .get("sha256")
                .filter(|d| evledger_evidence::cas::is_sha256_hex(d));
            let blob = match sha256 {
                Some(d) => cas.open(d)?.map(|b| (d.clone(), b.len)),
                None => None,
            };
            let kind = serde_json::to_value(m.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            Ok(Material {
                name: m.name.clone(),
                kind,
                digests: m.digest.iter().map(|(a, d)| format!("{a}:{d}")).collect(),
                value: m.value.clone(),
                blob_href: blob.as_ref().map(|(d, _)| format!("/cas/sha256/{d}")),
                blob_size: blob.map(|(_, len)| len),
            })
        })
        .collect()
}

/// The DSSE envelope of an entry, as JSON: the logged one of an evledger
/// DSSE entry, the kept one of a Rekor v2 DSSE entry.
async fn envelope(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(index): Path<String>,
) -> Result<Response, PageError> {
    let session = session(&state, &headers);
    let index = parse_index(Nav::Entries, &session, "the entry", &index)?;
    let reader = state.clone();
    let body = page_work(Nav::Entries, &session, move || {
        let leaf = reader
            .ledger()
            .entry(index)?
            .ok_or_else(|| ApiError::not_found(format!("no entry at log index {index}")))?;
        let none = || ApiError::not_found(format!("entry {index} has no DSSE envelope"));
        let envelope = match Entry::parse_logged(&leaf).map(|e| e.body) {
            Ok(EntryBody::Dsse(dsse)) => dsse.spec.envelope,
            Ok(EntryBody::Rekor(_)) => reader
                .evidence()
                .store()
                .envelope(&evledger_ledger::leaf_hash(&leaf))?
                .ok_or_else(none)?,
            _ => return Err(none()),
        };
        serde_json::to_vec_pretty(&envelope).map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    let mut response = (
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"entry-{index}.dsse.json\""),
            ),
        ],
        body,
    )
        .into_response();
    secure(response.headers_mut());
    Ok(response)
}

// ---- search ------------------------------------------------------------

/// The search form of a query string.
pub(crate) fn search_form(params: &HashMap<String, String>) -> SearchForm {
    let get = |name: &str| params.get(name).cloned().unwrap_or_default();
    SearchForm {
        hash: get("hash"),
        key_fingerprint: get("keyFingerprint"),
        workflow: get("workflow"),
        project: get("project"),
        annotation: get("annotation"),
        predicate_type: get("predicateType"),
        kind: get("kind"),
        operator: get("operator"),
    }
}

/// The index query of a search form.
pub(crate) fn search_query(
    form: &SearchForm,
    cursor: Option<String>,
    page_size: usize,
) -> SearchQuery {
    let field = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    SearchQuery {
        hash: field(&form.hash),
        key_fingerprint: field(&form.key_fingerprint),
        workflow: field(&form.workflow),
        project: field(&form.project),
        annotation: field(&form.annotation),
        predicate_type: field(&form.predicate_type),
        kind: field(&form.kind),
        operator: field(&form.operator),
        cursor,
        page_size: Some(page_size),
        ..SearchQuery::default()
    }
}

async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let session = session(&state, &headers);
    let form = search_form(&params);
    let outcome = if form.fields().is_empty() {
        Outcome::Empty
    } else {
        let query = search_query(&form, params.get("cursor").cloned(), PAGE_SIZE);
        match run_search(&state, query).await {
            Ok(page) => {
                let reader = state.clone();
                let hits = page.hits.clone();
                let rows = page_work(Nav::Search, &session, move || rows(&reader, &hits)).await?;
                Outcome::Hits {
                    rows,
                    next_cursor: page.next,
                    partial: page.partial.map(|p| match p {
                        evledger_indexer::search::Partial::ScanLimit => {
                            "it examined as many index members as one page may".to_string()
                        }
                        evledger_indexer::search::Partial::Deadline => {
                            "it ran out of the time one page may take".to_string()
                        }
                    }),
                }
            }
            Err(e) if e.status.is_client_error() => Outcome::Refused(e.message),
            Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => Outcome::Refused(e.message),
            Err(e) => return Err(page_error(Nav::Search, &session, e)),
        }
    };
    let status = match outcome {
        Outcome::Refused(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    Ok(html(
        status,
        evledger_console::search::render(&session, &SearchPage { form, outcome }),
    ))
}

/// Runs an index query as `POST /api/v1/index/retrieve` would.
pub(crate) async fn run_search(
    state: &AppState,
    query: SearchQuery,
) -> Result<evledger_indexer::search::Page, ApiError> {
    let plan = query
        .plan()
        .map_err(evledger_indexer::search::SearchError::from)?;
    let store = crate::index::configured_store(state)?;
    crate::index::search(store, plan).await
}

// ---- workflows ---------------------------------------------------------

async fn workflow_list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let session = session(&state, &headers);
    let evidence = state.evidence().clone();
    let rows = page_work(Nav::Workflows, &session, move || {
        evidence
            .store()
            .workflows()?
            .into_iter()
            .map(|w| {
                let revision = evidence.store().revision(&w.name, None)?;
                Ok(WorkflowRow {
                    team: w.team,
                    revision: revision.map_or(0, |r| r.revision),
                    name: w.name,
                    project: w.project,
                    created_at: w.created_at,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()
    })
    .await?;
    Ok(html(
        StatusCode::OK,
        evledger_console::workflows::render_list(&session, &rows),
    ))
}

/// The number in query parameter `name`, if it is there and not empty.
fn optional_number(
    nav: Nav,
    session: &Session,
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<u64>, PageError> {
    match params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        Some(v) => parse_index(nav, session, name, v).map(Some),
        None => Ok(None),
    }
}

async fn workflow(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let session = session(&state, &headers);
    let diff = match (
        optional_number(Nav::Workflows, &session, &params, "from")?,
        optional_number(Nav::Workflows, &session, &params, "to")?,
    ) {
        (Some(a), Some(b)) => Some((a.min(b), a.max(b))),
        _ => None,
    };
    // The workflow's attestations, oldest first, a page at a time.
    let form = SearchForm {
        workflow: name.clone(),
        predicate_type: evledger_evidence::attestation::PREDICATE_TYPE.into(),
        ..SearchForm::default()
    };
    let query = search_query(&form, params.get("before").cloned(), ATTESTATIONS_PER_PAGE);
    let page = match run_search(&state, query).await {
        Ok(page) => Some(page),
        Err(e) if e.status.is_client_error() => {
            return Err(page_error(Nav::Workflows, &session, e))
        }
        // No index: the page still shows the contract revisions.
        Err(_) => None,
    };
    let admin = session.admin;
    let reader = state.clone();
    let model = page_work(Nav::Workflows, &session, move || {
        let evidence = reader.evidence();
        let workflow = evidence.workflow(&name)?;
        let latest = evidence.store().revision(&name, None)?;
        let mut revisions = Vec::new();
        for n in (1..=latest.as_ref().map_or(0, |r| r.revision)).rev() {
            if let Some(r) = evidence.store().revision(&name, Some(n))? {
                revisions.push(RevisionRow {
                    revision: r.revision,
                    log_index: Some(r.log_index),
                    created_at: r.created_at,
                    text: pretty(&r.contract),
                });
            }
        }
        let hits = page.as_ref().map(|p| p.hits.clone()).unwrap_or_default();
        let attestations = hits
            .iter()
            .map(|&i| attestation_row(&reader, &name, i))
            .collect::<Result<Vec<_>, ApiError>>()?;
        let robots = if admin {
            Some(
                evidence
                    .robots(Some(&name))?
                    .into_iter()
                    .map(|r| RobotRow {
                        id: r.id,
                        created_at: r.created_at,
                        last_used_at: r.last_used_at,
                        revoked_at: r.revoked_at,
                    })
                    .collect(),
            )
        } else {
            None
        };
        let integrations = if admin {
            Some(sink_lags(&reader, Some(&name))?)
        } else {
            None
        };
        Ok(WorkflowPage {
            workflow: WorkflowRow {
                team: workflow.team,
                revision: latest.map_or(0, |r| r.revision),
                name: workflow.name,
                project: workflow.project,
                created_at: workflow.created_at,
            },
            revisions,
            diff,
            attestations,
            older: page.and_then(|p| p.next),
            robots,
            integrations,
        })
    })
    .await?;
    Ok(html(
        StatusCode::OK,
        evledger_console::workflows::render(&session, &model),
    ))
}

/// An attestation of `workflow`, checked again against the contract
/// revision it names, exactly as the push was.
fn attestation_row(
    state: &AppState,
    workflow: &str,
    index: u64,
) -> Result<AttestationRow, ApiError> {
    let leaf = state
        .ledger()
        .entry(index)?
        .ok_or_else(|| ApiError::internal(format!("entry {index} is not in the log")))?;
    let parsed = Entry::parse_logged(&leaf).ok();
    let row = entry_row(index, parsed.as_ref(), state.ledger().entry_time(index)?);
    let mut out = AttestationRow {
        index,
        time_ms: row.time_ms,
        revision: None,
        failures: Vec::new(),
        subjects: row.subjects,
    };
    let statement = match parsed.map(|e| e.body) {
        Some(EntryBody::Dsse(dsse)) => dsse.statement,
        _ => None,
    };
    let Some(statement) = statement else {
        out.failures.push("not an in-toto attestation".into());
        return Ok(out);
    };
    let predicate = match Predicate::of(&statement) {
        Ok(Some(p)) => p,
        Ok(None) => {
            out.failures.push("not an evledger attestation".into());
            return Ok(out);
        }
        Err(e) => {
            out.failures.push(e);
            return Ok(out);
        }
    };
    out.revision = Some(predicate.contract_revision);
    let evidence = state.evidence();
    match evidence.enforced_revision(workflow, predicate.contract_revision) {
        Ok(revision) => match serde_json::from_value(revision.contract) {
            Ok(contract) => {
                out.failures = evledger_evidence::attestation::check(
                    &contract,
                    workflow,
                    &statement,
                    &predicate,
                    evidence.cas(),
                )
            }
            Err(e) => out
                .failures
                .push(format!("the contract does not parse: {e}")),
        },
        Err(e) => out.failures.push(e.to_string()),
    }
    Ok(out)
}

// ---- consistency, keys, assets, sessions --------------------------------

async fn consistency(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let session = session(&state, &headers);
    let first = optional_number(Nav::Consistency, &session, &params, "first")?;
    let second = optional_number(Nav::Consistency, &session, &params, "second")?;
    let reader = state.clone();
    let model = page_work(Nav::Consistency, &session, move || {
        let ledger = reader.ledger();
        Ok(evledger_console::consistency::ConsistencyPage {
            tree_size: ledger.checkpoint().size,
            signed_sizes: ledger.signed_sizes_before(u64::MAX, SIGNED_SIZES_LISTED)?,
            first,
            second,
        })
    })
    .await?;
    Ok(html(
        StatusCode::OK,
        evledger_console::consistency::render(&session, &model),
    ))
}

async fn keys(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session = session(&state, &headers);
    let model = evledger_console::keys::KeysPage {
        announced_key: state.ledger().verifier_key().to_string(),
        announced_witnesses: state.witnesses().keys,
    };
    html(
        StatusCode::OK,
        evledger_console::keys::render(&session, &model),
    )
}

async fn asset(Path(name): Path<String>) -> Response {
    match evledger_console::assets::get(&name) {
        Some(asset) => {
            let mut response = (
                [
                    (header::CONTENT_TYPE, asset.content_type),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                asset.body,
            )
                .into_response();
            secure(response.headers_mut());
            response
        }
        None => ApiError::not_found(format!("no asset {name:?}")).into_response(),
    }
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let session = session(&state, &headers);
    let Ok(Form(form)) = form else {
        return html(
            StatusCode::BAD_REQUEST,
            evledger_console::error_page(
                &session,
                Nav::Overview,
                "Not signed in",
                "The sign-in form was not sent as a form.",
            ),
        );
    };
    let token = form.get("token").map(String::as_str).unwrap_or_default();
    let valid = !token.is_empty()
        && state
            .admin_token_hash()
            .is_some_and(|hash| hash == evledger_evidence::token_hash(token));
    if !valid {
        return html(
            StatusCode::UNAUTHORIZED,
            evledger_console::error_page(
                &session,
                Nav::Overview,
                "Not signed in",
                "That is not the admin token.",
            ),
        );
    }
    let id = state.inner.sessions.open();
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_LIFETIME.as_secs()
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    secure(response.headers_mut());
    response
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        state.inner.sessions.close(&id);
    }
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("evledger_console=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    secure(response.headers_mut());
    response
}

//! The OpenAPI 3.1 document of `evledger serve`
//! (<https://spec.openapis.org/oas/v3.1.0>), served at
//! `GET /api/v1/openapi.json`.
//!
//! ```json
//! {"openapi": "3.1.0", "info": {"title": "evledger", ...},
//!  "paths": {"/api/v1/log": {"get": {"operationId": "getLogInfo", ...}}, ...},
//!  "components": {"schemas": {"Error": {...}, ...}, "securitySchemes": {"bearer": {...}}}}
//! ```
//!
//! The document is generated, never written: each operation comes from
//! the `#[utoipa::path]` attribute of its handler, registered with its
//! route in [`crate::routes`], and each schema from the type the handler
//! serialises (`#[derive(ToSchema)]`). What the router adds to every route
//! is added here once, by [`finish`], from the same rule the router
//! applies: the token that writes need ([`crate::auth`]) and the request
//! body limit ([`crate::MAX_REQUEST_BODY`]).
//!
//! Request bodies parsed by other crates (a log submission, a search) are
//! described by the schema types below; unit tests compare them with the
//! fields those crates accept, so that a field added there fails here.

use std::sync::LazyLock;

use axum::http::{header, Method};
use axum::response::IntoResponse;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

/// Name of the security scheme of writes and admin reads:
/// `Authorization: Bearer <token>`.
pub const BEARER: &str = "bearer";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "evledger",
        description = "A transparency log for build evidence: C2SP tlog-tiles static paths, \
            the REST API under /api/v1, and operations endpoints. Reads are public; writes \
            (and a few admin reads) need `Authorization: Bearer <token>`: the admin token or \
            a robot account's. Every error is JSON `{\"code\", \"message\"}` (the `Error` schema). \
            Prose reference: docs/API.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    tags(
        (name = "c2sp", description = "C2SP tlog-tiles static paths: checkpoint and tiles"),
        (name = "log", description = "Submit entries; read entries and proofs"),
        (name = "index", description = "Search the index"),
        (name = "evidence", description = "Workflows, contracts, robot accounts"),
        (name = "cas", description = "The content-addressed store"),
        (name = "integrations", description = "Fan-out to Kafka, gRPC and webhooks (admin)"),
        (name = "sigstore", description = "Rekor v2's write API for Sigstore clients, and the trusted root of this log"),
        (name = "operations", description = "Backup, health, metrics, this document"),
    ),
    components(schemas(crate::error::ErrorBody))
)]
struct Document;

/// The document before any operation: info, tags, the `Error` schema and
/// the bearer security scheme.
pub(crate) fn base() -> OpenApi {
    let mut document = <Document as utoipa::OpenApi>::openapi();
    document
        .components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token (EVLEDGER_ADMIN_TOKEN or --admin-token-file), or a \
                         robot account's token (`evlr_...`)",
                    ))
                    .build(),
            ),
        );
    document
}

/// An error response with the shared `Error` schema.
fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        )
        .build()
        .into()
}

/// Adds to every operation what the router adds to every route: writes
/// (every method but GET, HEAD and OPTIONS, except the public searches)
/// need a token, checked before the body is read (`401`); a request body
/// may be at most [`crate::MAX_REQUEST_BODY`] bytes (`413`). An operation
/// that documents either itself (CAS, with its own limit) keeps its own.
/// A binary body may be empty (the empty blob), so it is not required.
pub(crate) fn finish(document: &mut OpenApi) {
    for (path, item) in document.paths.paths.iter_mut() {
        for (method, operation) in crate::routes::operations_mut(item) {
            let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
            if crate::auth::needs_token(&method, path) && operation.security.is_none() {
                operation.security = Some(vec![SecurityRequirement::new::<_, _, &str>(BEARER, [])]);
            }
            let responses = &mut operation.responses.responses;
            if operation.security.is_some() {
                responses.entry("401".into()).or_insert_with(|| {
                    error_response(
                        "`unauthorized`: no token, or one unknown or revoked (a write's token \
                         is checked before its body is read)",
                    )
                });
            }
            if let Some(RefOr::T(body)) = &mut operation.request_body {
                responses.entry("413".into()).or_insert_with(|| {
                    error_response(&format!(
                        "`body_too_large`: the request body exceeds {} KiB",
                        crate::MAX_REQUEST_BODY / 1024
                    ))
                });
                // Bytes may be none at all: an empty blob is a blob.
                if body.content.keys().all(|t| t == "application/octet-stream") {
                    body.required = None;
                }
            }
        }
    }
}

/// The document as served: built once.
static DOCUMENT: LazyLock<Vec<u8>> = LazyLock::new(|| {
    // Serialising the document's own types cannot fail: every map key is
    // a string.
    serde_json::to_vec(&crate::openapi()).expect("the OpenAPI document serialises")
});

/// This document: OpenAPI 3.1 of every endpoint.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "getOpenApiDocument",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of every endpoint",
            content_type = "application/json", body = Object),
    )
)]
pub(crate) async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_slice(),
    )
}

/// Bytes of any kind (a tile, a blob): OpenAPI 3.1 writes a binary body as
/// a string with `contentMediaType`.
pub(crate) struct Octets;

impl PartialSchema for Octets {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type("application/octet-stream")
            .into()
    }
}

impl ToSchema for Octets {}

/// The kind of a submitted entry: only `dsse` is accepted from clients.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // A schema: evledger_entry parses submissions.
pub(crate) enum SubmissionKind {
    /// A DSSE envelope with the keys that verify it.
    Dsse,
}

/// A submission to the log (`POST /api/v1/log/entries`), as
/// `evledger_ledger::entry::Entry::from_submission` parses it.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // A schema: evledger_entry parses submissions.
pub(crate) struct Submission {
    /// The entry kind.
    kind: SubmissionKind,
    /// The kind's content.
    spec: DsseSpec,
}

/// The `spec` of a `dsse` submission.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // A schema: evledger_entry parses submissions.
pub(crate) struct DsseSpec {
    /// The DSSE envelope.
    envelope: Envelope,
    /// PEM SubjectPublicKeyInfo public keys (Ed25519 or ECDSA P-256), each
    /// of which signed the envelope; at most 16.
    #[schema(max_items = 16)]
    verifiers: Vec<String>,
}

/// A DSSE envelope (<https://github.com/secure-systems-lab/dsse>).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // A schema: evledger_entry parses submissions.
pub(crate) struct Envelope {
    /// Media type of the payload; `application/vnd.in-toto+json` payloads
    /// must be in-toto Statements v1.
    #[serde(rename = "payloadType")]
    payload_type: String,
    /// The payload, base64.
    payload: String,
    /// Signatures over the DSSE PAE; at most 16.
    #[schema(max_items = 16)]
    signatures: Vec<EnvelopeSignature>,
}

/// One DSSE signature.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // A schema: evledger_entry parses submissions.
pub(crate) struct EnvelopeSignature {
    /// Unauthenticated key hint, ignored: the log writes the
    /// securesystemslib key ID of the verifier that checked the signature.
    keyid: Option<String>,
    /// The signature, base64 (ECDSA: DER or r‖s).
    sig: String,
}

/// How the criteria of a search combine.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // A schema: evledger_indexer parses searches.
pub(crate) enum SearchOperator {
    /// Entries matching every criterion (the default).
    And,
    /// Entries matching any criterion.
    Or,
}

/// A search (`POST /api/v1/index/retrieve`), as
/// `evledger_indexer::search::SearchQuery` parses it. At least one
/// criterion (`hash`, `publicKey`, `keyFingerprint`, `predicateType`,
/// `kind`, `workflow`, `project`, `annotation`), at most 8.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(examples(json!({"hash": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"})))]
#[allow(dead_code)] // A schema: evledger_indexer parses searches.
pub(crate) struct SearchQuery {
    /// A digest, `<alg>:<hex>`: a subject's, the payload's or the envelope's.
    hash: Option<String>,
    /// A signer's PEM public key.
    public_key: Option<String>,
    /// A signer key fingerprint: SHA-256 of the SPKI, hex.
    key_fingerprint: Option<String>,
    /// An in-toto predicate type.
    predicate_type: Option<String>,
    /// An entry kind (`dsse`, `contract`).
    kind: Option<String>,
    /// A workflow (attestations and contract revisions).
    workflow: Option<String>,
    /// A project.
    project: Option<String>,
    /// An annotation, `name=value`.
    annotation: Option<String>,
    /// `and` (default) or `or`.
    operator: Option<SearchOperator>,
    /// The `nextCursor` of the previous page.
    #[schema(max_length = 64)]
    cursor: Option<String>,
    /// Results per page, 1 to 1000 (with `proofs`, pages hold at most 100).
    #[schema(minimum = 1, maximum = 1000)]
    page_size: Option<u64>,
    /// Wait (at most 5 s) until the index covers this log index.
    min_log_index: Option<u64>,
    /// Add an inclusion proof to every hit, against the answer's `checkpoint`.
    #[serde(default)]
    proofs: bool,
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeSet;

    use serde::de::DeserializeOwned;
    use serde::Serialize;

    use super::*;

    /// `record`, a type of a store sent as it is, serialises as `ours`, the
    /// type that documents it, member for member.
    pub(crate) fn same_json(record: impl Serialize, ours: impl Serialize) {
        assert_eq!(
            serde_json::to_value(record).expect("json"),
            serde_json::to_value(ours).expect("json")
        );
    }

    /// The fields a `deny_unknown_fields` type accepts, read from serde's
    /// refusal of an unknown one ("expected one of `a`, `b`").
    fn accepted_fields(error: &str) -> BTreeSet<String> {
        let expected = error.split("expected").nth(1).unwrap_or_default();
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    fn fields_of<T: DeserializeOwned>() -> BTreeSet<String> {
        let error = serde_json::from_str::<T>(r#"{"surely not a field": 1}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        accepted_fields(&error)
    }

    fn object<T: PartialSchema>() -> utoipa::openapi::schema::Object {
        match T::schema() {
            RefOr::T(Schema::Object(object)) => object,
            _ => panic!("not an object schema"),
        }
    }

    fn properties<T: PartialSchema>() -> BTreeSet<String> {
        object::<T>().properties.keys().cloned().collect()
    }

    #[test]
    fn the_submission_schemas_name_the_fields_the_entry_crate_accepts() {
        use evledger_ledger::entry::dsse;
        assert_eq!(properties::<DsseSpec>(), fields_of::<dsse::DsseSpec>());
        assert_eq!(properties::<Envelope>(), fields_of::<dsse::Envelope>());
        assert_eq!(
            properties::<EnvelopeSignature>(),
            fields_of::<dsse::EnvelopeSignature>()
        );
        // The top level is private to the entry crate: ask its parser.
        let error = evledger_ledger::entry::Entry::from_submission(br#"{"surely not a field": 1}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(properties::<Submission>(), accepted_fields(&error));
    }

    #[test]
    fn the_search_schema_names_the_fields_the_indexer_accepts() {
        assert_eq!(
            properties::<SearchQuery>(),
            fields_of::<evledger_indexer::search::SearchQuery>()
        );
    }

    #[test]
    fn schema_limits_are_the_parsers_limits() {
        use evledger_indexer::search::{MAX_CURSOR_LEN, MAX_PAGE_SIZE};
        use evledger_ledger::entry::dsse::MAX_SIGNATURES;
        let document = serde_json::to_value(crate::openapi()).expect("document");
        let schemas = &document["components"]["schemas"];
        let search = &schemas["SearchQuery"]["properties"];
        let number = |v: &serde_json::Value| v.as_f64().expect("a number");
        assert_eq!(number(&search["pageSize"]["maximum"]), MAX_PAGE_SIZE as f64);
        assert_eq!(
            number(&search["cursor"]["maxLength"]),
            MAX_CURSOR_LEN as f64
        );
        let verifiers = &schemas["DsseSpec"]["properties"]["verifiers"]["maxItems"];
        assert_eq!(number(verifiers), MAX_SIGNATURES as f64);
        let signatures = &schemas["Envelope"]["properties"]["signatures"]["maxItems"];
        assert_eq!(number(signatures), MAX_SIGNATURES as f64);
    }

    #[test]
    fn every_write_needs_the_bearer_token_and_admits_401() {
        let document = crate::openapi();
        let mut writes = 0;
        for (path, item) in document.paths.paths.clone().iter_mut() {
            for (method, operation) in crate::routes::operations_mut(item) {
                let method = Method::from_bytes(method.as_bytes()).expect("method");
                if crate::auth::needs_token(&method, path) {
                    writes += 1;
                    assert!(operation.security.is_some(), "{method} {path}");
                    assert!(
                        operation.responses.responses.contains_key("401"),
                        "{method} {path}"
                    );
                }
            }
        }
        assert!(writes > 10, "only {writes} writes");
    }
}

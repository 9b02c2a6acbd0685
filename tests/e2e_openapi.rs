//! The OpenAPI document (issue 13) against the real binary: the served
//! document validates as OpenAPI 3.1 with a validator from PyPI, it lists
//! exactly the routes the router serves (and the live server answers each
//! of them, and only them), every error answer has the shared `Error`
//! schema, and docs/API.md lists the same operations.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use common::*;
use serde_json::Value;

/// An operation: method (upper case) and path template.
type Operation = (String, String);

const METHODS: [&str; 8] = [
    "get", "head", "post", "put", "delete", "patch", "options", "trace",
];

/// The operations of an OpenAPI document.
fn operations(document: &Value) -> BTreeSet<Operation> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

fn fetch_document(server: &Server) -> Value {
    let r = anonymous_http()
        .get(format!("{}/api/v1/openapi.json", server.url))
        .send()
        .expect("GET openapi.json");
    assert_eq!(r.status().as_u16(), 200);
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(content_type, "application/json");
    r.json().expect("the document is JSON")
}

/// Runs openapi-spec-validator on `document` as OpenAPI 3.1: Ok, or its
/// complaint.
fn validate(python: &PathBuf, dir: &std::path::Path, document: &Value) -> Result<(), String> {
    let file = write_file(dir, "openapi.json", document.to_string().as_bytes());
    let out = Command::new(python)
        .args(["-m", "openapi_spec_validator", "--schema", "3.1", &file])
        .output()
        .expect("run openapi_spec_validator");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn the_served_document_validates_as_openapi_3_1() {
    let python = python("openapi_spec_validator");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let document = fetch_document(&server);
    assert_eq!(document["openapi"], "3.1.0");
    // The live document is the one the API crate generates.
    assert_eq!(
        document,
        serde_json::to_value(evledger_api::openapi()).unwrap()
    );
    if let Err(complaint) = validate(&python, dir.path(), &document) {
        panic!("the served document is not valid OpenAPI 3.1: {complaint}");
    }

    // The validator does look: a path parameter left undeclared fails.
    let mut broken = document.clone();
    let item = broken["paths"]["/api/v1/workflows/{name}"]["get"]
        .as_object_mut()
        .expect("GET /api/v1/workflows/{name}");
    item.remove("parameters");
    assert!(
        validate(&python, dir.path(), &broken).is_err(),
        "the validator accepted an undeclared path parameter"
    );
}

#[test]
fn every_error_answer_has_the_shared_error_schema() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let document = fetch_document(&server);
    assert!(document["components"]["schemas"]["Error"]["properties"]["code"].is_object());
    let mut errors = 0;
    for (method, path) in operations(&document) {
        let responses = &document["paths"][&path][method.to_lowercase()]["responses"];
        for (status, response) in responses.as_object().expect("responses") {
            let status: u16 = status.parse().expect("numeric status");
            // The two answers that are not errors: /readyz says why it is
            // not ready, a duplicate submission gets the entry already
            // logged. A HEAD answer has no body.
            let not_errors = [
                ("GET", "/readyz", 503),
                ("POST", "/api/v1/log/entries", 409),
            ];
            if status < 400
                || method == "HEAD"
                || not_errors.contains(&(method.as_str(), path.as_str(), status))
            {
                continue;
            }
            errors += 1;
            assert_eq!(
                response["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error",
                "{method} {path} {status}"
            );
        }
    }
    assert!(errors > 50, "only {errors} error answers documented");
}

/// A plausible value for a path parameter, so that the route matches.
fn sample(parameter: &str) -> &'static str {
    match parameter {
        "log_index" => "0",
        "name" | "workflow" => WORKFLOW,
        "id" => "ra-0000000000000000",
        "digest" => "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "path" => "0/000.p/1",
        "size" => "1",
        other => panic!("no sample for path parameter {other:?}"),
    }
}

fn fill(path: &str) -> String {
    let mut filled = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').expect("closing brace") + open;
        filled.push_str(&rest[..open]);
        filled.push_str(sample(&rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    filled.push_str(rest);
    filled
}

/// Sends `method path` with the admin token and no body; returns the
/// status and the error code and message, if the answer has them.
fn probe(server: &Server, method: &str, path: &str) -> (u16, String, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let r = http()
        .request(method, format!("{}{path}", server.url))
        .send()
        .expect("request");
    let status = r.status().as_u16();
    let body: Value = r.json().unwrap_or(Value::Null);
    let text = |key: &str| body[key].as_str().unwrap_or_default().to_string();
    (status, text("code"), text("message"))
}

/// Whether the document's `template` matches the request path `path`: a
/// `{name}` is one segment, a rest-of-path `{path}` (the tiles') the rest.
fn matches(template: &str, path: &str) -> bool {
    if let Some(prefix) = template.strip_suffix("{path}") {
        return path.starts_with(prefix) && path.len() > prefix.len();
    }
    let (template, path): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template
            .iter()
            .zip(&path)
            .all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
}

fn is_fallback((status, code, message): &(u16, String, String)) -> bool {
    *status == 405 || (*status == 404 && code == "not_found" && message == "no such endpoint")
}

#[test]
fn the_document_lists_exactly_the_routes_the_server_serves() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let document = fetch_document(&server);
    let documented = operations(&document);

    // The router's own list (its route table) against the document's.
    // Both come from one table today, so this pins that design; the live
    // probes below check that the server answers each route itself.
    let routes = evledger_api::served_routes();
    let served: BTreeSet<Operation> = routes
        .iter()
        .map(|r| (r.method.to_string(), r.path.clone()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not documented: {undocumented:?}; documented but not served: {unserved:?}"
    );
    let tiles = routes
        .iter()
        .find(|r| r.path == "/tile/{path}")
        .expect("the tile route");
    assert_eq!(tiles.router_path, "/tile/{*path}");
    assert_eq!(
        document["paths"]["/tile/{path}"]["get"]["parameters"][0]["x-rest-of-path"],
        true
    );

    // Fixtures, so that reads by name and HEAD of a blob find something.
    create_workflow(&server, dir.path());
    let digest = sample("digest");
    let r = http()
        .put(format!("{}/cas/sha256/{digest}", server.url))
        .body(Vec::new())
        .send()
        .expect("PUT the empty blob");
    assert_eq!(r.status().as_u16(), 201);

    // The live server answers every documented operation itself, not with
    // its fallbacks, and an error it answers is a JSON error of a status
    // the operation documents...
    for (method, path) in &documented {
        let answer = probe(&server, method, &fill(path));
        assert!(
            !is_fallback(&answer),
            "{method} {path} got the fallback: {answer:?}"
        );
        if answer.0 >= 400 && method != "HEAD" {
            assert!(!answer.1.is_empty(), "{method} {path}: {answer:?}");
            let responses = &document["paths"][path][method.to_lowercase()]["responses"];
            assert!(
                responses.get(answer.0.to_string()).is_some(),
                "{method} {path} answered an undocumented {answer:?}"
            );
        }
    }
    assert_eq!(probe(&server, "HEAD", &fill("/cas/sha256/{digest}")).0, 200);
    assert_eq!(probe(&server, "GET", "/tile/0/000.p/1").0, 200);

    // ...and answers anything else with them: unknown paths get the 404
    // fallback, and methods an endpoint does not take a 405, both JSON.
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    // (`/` is the console's, outside the API: its pages answer HTML.)
    let mut unknown = vec![
        "/nothing".to_string(),
        "/api".into(),
        "/api/v1/nothing".into(),
    ];
    for path in &paths {
        unknown.push(format!("{}/nothing", fill(path)));
    }
    // Not those a documented template matches (`/api/v1/integrations/{name}`
    // takes `/api/v1/integrations/nothing`; `/tile/{path}` all below it).
    unknown.retain(|candidate| !paths.iter().any(|template| matches(template, candidate)));
    assert!(
        unknown.len() > 15,
        "only {} unknown paths: {unknown:?}",
        unknown.len()
    );
    for path in &unknown {
        let answer = probe(&server, "GET", path);
        assert_eq!(answer.0, 404, "GET {path}: {answer:?}");
        assert_eq!(answer.2, "no such endpoint", "GET {path}: {answer:?}");
    }
    for path in &paths {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if documented.contains(&(method.to_string(), (*path).clone())) {
                continue;
            }
            let answer = probe(&server, method, &fill(path));
            assert_eq!(answer.0, 405, "{method} {path}: {answer:?}");
            assert_eq!(
                answer.1, "method_not_allowed",
                "{method} {path}: {answer:?}"
            );
        }
    }
}

/// The operations docs/API.md names: `METHOD /path` in backticks, the
/// query string and optional parts (`[...]`) cut off. The first set is the
/// Endpoints table, the second every mention in the sections about
/// `evledger serve` (the witness is another server).
fn documented_in_api_md() -> (BTreeSet<Operation>, BTreeSet<Operation>) {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/API.md"))
        .expect("docs/API.md");
    let serve = text.split("\n## Witness").next().unwrap_or_default();
    let parse = |span: &str| -> Option<Operation> {
        let (method, path) = span.split_once(' ')?;
        let known = METHODS.iter().any(|m| m.eq_ignore_ascii_case(method));
        if !known || method.to_uppercase() != method || !path.starts_with('/') {
            return None;
        }
        let path = path.split(['?', '[', ' ']).next().unwrap_or_default();
        Some((method.to_string(), path.to_string()))
    };
    let spans = |text: &str| -> Vec<String> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let table_text = serve
        .split("\n## Endpoints")
        .nth(1)
        .and_then(|t| t.split("\n## ").next())
        .expect("an Endpoints section in docs/API.md");
    let table: BTreeSet<Operation> = table_text
        .lines()
        .filter(|line| line.starts_with("| `"))
        .filter_map(|line| spans(line).first().and_then(|s| parse(s)))
        .collect();
    let mentioned = spans(serve).iter().filter_map(|s| parse(s)).collect();
    (table, mentioned)
}

#[test]
fn docs_api_md_lists_the_operations_of_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let documented = operations(&fetch_document(&server));
    let (table, mentioned) = documented_in_api_md();

    let missing: Vec<_> = documented.difference(&table).collect();
    let extra: Vec<_> = table.difference(&documented).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/API.md's Endpoints table lacks {missing:?} and has {extra:?}, \
         which the OpenAPI document does not"
    );
    let unknown: Vec<_> = mentioned.difference(&documented).collect();
    assert!(
        unknown.is_empty(),
        "docs/API.md names operations the server does not have: {unknown:?}"
    );
}

/// Each was a 5xx, a plain-text answer or a 5 s hold before the OpenAPI
/// work; each is now a prompt `4xx`/`503` JSON error.
#[test]
fn bad_input_is_a_prompt_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"));
    let json_error = |method: &str, path: &str, body: &str| {
        let r = http()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}{path}", server.url),
            )
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .expect("request");
        let status = r.status().as_u16();
        let content_type = r.headers()[reqwest::header::CONTENT_TYPE].clone();
        assert_eq!(content_type, "application/json", "{method} {path}");
        let body: Value = r.json().unwrap_or_else(|_| panic!("{path}: not JSON"));
        (
            status,
            body["code"].as_str().unwrap_or_default().to_string(),
            body["message"].as_str().unwrap_or_default().to_string(),
        )
    };
    let code = |method: &str, path: &str, body: &str| {
        let (status, code, _) = json_error(method, path, body);
        (status, code)
    };
    // A tree larger than the log's: schemathesis's 500 ("corrupt log:
    // entry 884 missing").
    assert_eq!(
        code(
            "GET",
            "/api/v1/log/proof/inclusion?logIndex=884&treeSize=1796178123",
            ""
        ),
        (400, "out_of_range".into())
    );
    assert_eq!(
        code(
            "GET",
            "/api/v1/log/proof/consistency?firstSize=0&lastSize=9",
            ""
        ),
        (400, "out_of_range".into())
    );
    // A path segment that is not UTF-8: was axum's text/plain 400.
    assert_eq!(
        code("GET", "/api/v1/workflows/%FF", ""),
        (400, "bad_request".into())
    );
    // A method the endpoint does not take: was an empty 405.
    assert_eq!(
        code("DELETE", "/api/v1/log", ""),
        (405, "method_not_allowed".into())
    );
    // Backup targets that cannot be a new directory: a NUL was a 500, and
    // `.` inside a path passed; none of them creates anything.
    let root = dir.path().join("backups");
    for to in [
        format!("{}/a/b\u{0}c", root.display()),
        format!("{}/a/../b", root.display()),
        format!("{}/a/./b", root.display()),
        format!("{}/a/{}", root.display(), "x".repeat(256)),
    ] {
        let body = serde_json::json!({ "to": to }).to_string();
        assert_eq!(
            code("POST", "/api/v1/admin/backup", &body),
            (400, "bad_request".into()),
            "{to:?}"
        );
    }
    assert!(
        !root.exists(),
        "a refused backup created {}",
        root.display()
    );
    // Waiting for the index to cover an entry the log does not have: a
    // 400 at once, not a 503 after the 5 s wait (schemathesis's 5xx).
    let (status, code, message) = json_error(
        "POST",
        "/api/v1/index/retrieve",
        r#"{"kind": "dsse", "minLogIndex": 5}"#,
    );
    assert_eq!((status, code.as_str()), (400, "out_of_range"));
    assert!(message.contains("is not in the log"), "{message}");
}

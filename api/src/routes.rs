//! The route table of `evledger serve`: every route is registered here,
//! from the `#[utoipa::path]` attribute of its handler, which gives the
//! method, the path and the operation's OpenAPI description at once. The
//! router and the OpenAPI document (`GET /api/v1/openapi.json`, see
//! [`crate::openapi`]) are two outputs of this one table, so they cannot
//! disagree; [`Route`]s list what the router serves.
//!
//! A path parameter marked with [`REST_OF_PATH`] (`/tile/{path}`) is the
//! rest of the path, slashes included: axum's `{*path}`.

use axum::Router;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::{OpenApi, RefOr};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use crate::{
    backup, cas, evidence, index, integrations, log, openapi, pack, rekor, tiles, AppState,
};

/// The OpenAPI extension marking a path parameter that spans the rest of
/// the path (slashes included), as axum's `{*name}` matches it.
pub const REST_OF_PATH: &str = "x-rest-of-path";

/// A route the router serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    /// HTTP method, upper case (`GET`).
    pub method: &'static str,
    /// Path as the OpenAPI document writes it (`/api/v1/workflows/{name}`).
    pub path: String,
    /// Path as the router matches it (`/tile/{*path}` for `/tile/{path}`).
    pub router_path: String,
}

/// Builds the router and its document together.
pub(crate) struct RouteTable {
    router: Router<AppState>,
    document: OpenApi,
    routes: Vec<Route>,
}

/// The operations of a path item, with their methods.
pub(crate) fn operations_mut(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("GET", &mut item.get),
        ("HEAD", &mut item.head),
        ("POST", &mut item.post),
        ("PUT", &mut item.put),
        ("DELETE", &mut item.delete),
        ("PATCH", &mut item.patch),
        ("OPTIONS", &mut item.options),
        ("TRACE", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|op| (method, op)))
    .collect()
}

/// `path` as the router matches it: `{name}` becomes `{*name}` for each
/// path parameter of `item` marked [`REST_OF_PATH`].
fn router_path(path: &str, item: &mut PathItem) -> String {
    let mut rest = Vec::new();
    for (_, operation) in operations_mut(item) {
        for parameter in operation.parameters.iter().flatten() {
            if let RefOr::T(p) = parameter {
                let marked = p
                    .extensions
                    .as_ref()
                    .and_then(|e| e.get(REST_OF_PATH))
                    .is_some_and(|v| v == &serde_json::Value::Bool(true));
                if marked && p.parameter_in == ParameterIn::Path {
                    rest.push(p.name.clone());
                }
            }
        }
    }
    rest.iter().fold(path.to_string(), |path, name| {
        path.replace(&format!("{{{name}}}"), &format!("{{*{name}}}"))
    })
}

impl RouteTable {
    fn new() -> Self {
        Self {
            router: Router::new(),
            document: openapi::base(),
            routes: Vec::new(),
        }
    }

    /// Registers the handlers of one `routes!(...)` (handlers of one path):
    /// their routes, their operations and the schemas they name.
    fn add(mut self, (schemas, paths, method_router): UtoipaMethodRouter<AppState>) -> Self {
        for (path, mut item) in paths.paths {
            let router_path = router_path(&path, &mut item);
            for (method, _) in operations_mut(&mut item) {
                self.routes.push(Route {
                    method,
                    path: path.clone(),
                    router_path: router_path.clone(),
                });
            }
            self.router = self.router.route(&router_path, method_router.clone());
            match self.document.paths.paths.get_mut(&path) {
                Some(existing) => existing.merge_operations(item),
                None => {
                    self.document.paths.paths.insert(path, item);
                }
            }
        }
        self.document
            .components
            .get_or_insert_with(Default::default)
            .schemas
            .extend(schemas);
        self
    }

    /// The router (without state or layers), the finished document and
    /// the routes.
    pub(crate) fn into_parts(mut self) -> (Router<AppState>, OpenApi, Vec<Route>) {
        openapi::finish(&mut self.document);
        self.routes.sort();
        (self.router, self.document, self.routes)
    }
}

/// Every route of `evledger serve`.
pub(crate) fn table() -> RouteTable {
    RouteTable::new()
        // C2SP tlog-tiles static paths.
        .add(routes!(tiles::checkpoint))
        .add(routes!(tiles::tile))
        // The log.
        .add(routes!(log::submit, log::entry_by_leaf_hash))
        .add(routes!(log::entry_by_index))
        .add(routes!(log::log_info))
        .add(routes!(log::checkpoint_at_size))
        .add(routes!(log::inclusion_proof))
        .add(routes!(log::consistency_proof))
        .add(routes!(index::retrieve))
        .add(routes!(rekor::create_entry))
        .add(routes!(rekor::trusted_root))
        // Evidence.
        .add(routes!(evidence::create_workflow, evidence::list_workflows))
        .add(routes!(evidence::get_workflow))
        .add(routes!(evidence::update_contract, evidence::get_contract))
        .add(routes!(evidence::create_robot, evidence::list_robots))
        .add(routes!(evidence::revoke_robot))
        .add(routes!(pack::download))
        // CAS streams its bodies and enforces its own limit
        // (evledger_evidence::cas::MAX_BLOB_SIZE) while reading them.
        .add(routes!(cas::put_blob, cas::get_blob, cas::head_blob))
        // Integrations.
        .add(routes!(integrations::register, integrations::list))
        .add(routes!(integrations::get, integrations::delete))
        .add(routes!(integrations::attach))
        .add(routes!(integrations::detach))
        // Operations.
        .add(routes!(backup::backup))
        .add(routes!(crate::healthz))
        .add(routes!(crate::readyz))
        .add(routes!(crate::render_metrics))
        .add(routes!(openapi::document))
}

//! Operations: online rebuilds of the projections, dry run or swapped in, and their progress.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use domain::{Code, Rejection};
use engine::RebuildMode;
use projection::RuleChange;

use super::{
    authenticate, durable, error_response, json_response, query, read, Segment, Shared, AUDIT_READ, OPERATOR,
};
use crate::openapi::{roles, BadRequest, Conflict, NotFound, TokenErrors};
use crate::render::RebuildState;

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(get_rebuild)).routes(routes!(post_rebuild))
}

/// The projections an operator may rebuild. They live in one state rebuilt together from the
/// log; the name picks what the diff summary reports on.
pub const PROJECTIONS: &[&str] = &["all", "balances", "bindings", "settlements"];

/// A projection's name: one of `PROJECTIONS` (another is 404).
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
struct ProjectionName(String);

impl PartialSchema for ProjectionName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::String).enum_values(Some(PROJECTIONS.iter().copied())).into()
    }
}

impl ToSchema for ProjectionName {}

/// `{name}`: a projection.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct ProjectionPath {
    #[param(inline, example = "all")]
    name: ProjectionName,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RebuildQuery {
    /// Compare only; never swap (default false).
    dry_run: Option<bool>,
}

/// An online rebuild of a projection: `idle` before any, then `running`, `done` or `failed`;
/// a read adds what the projection's views depend on.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RebuildStatus {
    name: ProjectionName,
    status: RebuildState,
    /// Compare only, never swap.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    dry_run: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    events_done: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    events_total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 0)]
    events_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, minimum = 0)]
    seconds: Option<f64>,
    /// Whether the rebuilt copy replaced the live one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    swapped: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    diff: Option<RebuildDiff>,
    /// Why a rebuild failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    error: Option<String>,
    /// The rule parameters the projection's views depend on.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    depends_on: Option<Vec<&'static str>>,
    /// Always false: rule-dependent figures are computed under the rules in force when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    stale: Option<bool>,
    /// Every rule version that changed a parameter the projection's views depend on.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    rule_changes: Option<Vec<RuleChange>>,
}

impl RebuildStatus {
    fn new(name: &str, status: RebuildState) -> RebuildStatus {
        RebuildStatus {
            name: ProjectionName(name.to_owned()),
            status,
            dry_run: None,
            events_done: None,
            events_total: None,
            events_per_second: None,
            seconds: None,
            swapped: None,
            diff: None,
            error: None,
            depends_on: None,
            stale: None,
            rule_changes: None,
        }
    }
}

/// What a finished rebuild found different from the live projections.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct RebuildDiff {
    accounts_changed: u64,
    bindings_changed: u64,
    settlements_changed: u64,
    /// The first differences found.
    first: Vec<String>,
}

/// Rebuild a projection online from the log, compare it and swap it in (no body)
///
/// Starts an online rebuild: a shadow copy is built from the log while the service keeps
/// serving, compared with the live one, and swapped in atomically (unless `dry_run=true`).
#[utoipa::path(post, path = "/v1/admin/projections/{name}/rebuild", tag = "admin", operation_id = "rebuild",
    description = roles(OPERATOR), params(ProjectionPath, RebuildQuery),
    responses((status = 202, description = "started: the rebuild's status", body = RebuildStatus),
        TokenErrors, BadRequest, NotFound, Conflict))]
async fn post_rebuild(
    State(app): State<Shared>,
    Segment(name): Segment,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let started = authenticate(&app, &headers, OPERATOR).and_then(|_| {
        if !PROJECTIONS.contains(&name.as_str()) {
            return Err(Rejection::new(Code::NotFound, "no such projection").with("name", &name));
        }
        let q: RebuildQuery = query(uri.query())?;
        let dry_run = q.dry_run.unwrap_or(false);
        let mut rebuilds = app.rebuilds.lock().unwrap_or_else(|p| p.into_inner());
        if rebuilds.get(&name).is_some_and(|s| s.status == RebuildState::Running) {
            return Err(Rejection::new(Code::AlreadyExists, "a rebuild of this projection is running"));
        }
        let status = RebuildStatus {
            dry_run: Some(dry_run),
            events_done: Some(0),
            events_total: Some(0),
            ..RebuildStatus::new(&name, RebuildState::Running)
        };
        rebuilds.insert(name.clone(), status.clone());
        Ok((dry_run, status))
    });
    let (dry_run, status) = match started {
        Ok(started) => started,
        Err(rejection) => return error_response(&rejection),
    };
    let worker = app.clone();
    let key = name.clone();
    tokio::task::spawn_blocking(move || {
        let began = std::time::Instant::now();
        let mut progress = |done: u64, total: u64| {
            let mut rebuilds = worker.rebuilds.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(status) = rebuilds.get_mut(&key) {
                status.events_done = Some(done);
                status.events_total = Some(total);
                status.events_per_second =
                    Some((done as f64 / began.elapsed().as_secs_f64().max(1e-6)).round());
            }
        };
        let mode = if dry_run { RebuildMode::DryRun } else { RebuildMode::Swap };
        let result = worker.engine.rebuild(mode, &mut progress);
        let mut rebuilds = worker.rebuilds.lock().unwrap_or_else(|p| p.into_inner());
        let status =
            rebuilds.entry(key.clone()).or_insert_with(|| RebuildStatus::new(&key, RebuildState::Running));
        match result {
            Ok(report) => {
                let d = &report.diff;
                let (accounts, bindings, settlements) = match key.as_str() {
                    "balances" => (d.accounts_changed, 0, 0),
                    "bindings" => (0, d.bindings_changed, 0),
                    "settlements" => (0, 0, d.settlements_changed),
                    _ => (d.accounts_changed, d.bindings_changed, d.settlements_changed),
                };
                status.status = RebuildState::Done;
                status.swapped = Some(report.swapped);
                status.events_done = Some(report.events);
                status.events_total = Some(report.events);
                status.seconds = Some(report.seconds);
                status.events_per_second = Some((report.events as f64 / report.seconds.max(1e-6)).round());
                status.diff = Some(RebuildDiff {
                    accounts_changed: accounts,
                    bindings_changed: bindings,
                    settlements_changed: settlements,
                    first: d.first.clone(),
                });
            }
            Err(error) => {
                status.status = RebuildState::Failed;
                status.error = Some(error.to_string());
            }
        }
    });
    json_response(StatusCode::ACCEPTED, &status)
}

/// The latest rebuild of a projection
#[utoipa::path(get, path = "/v1/admin/projections/{name}", tag = "admin", operation_id = "getRebuild",
    description = roles(AUDIT_READ), params(ProjectionPath),
    responses((status = 200, description = "the rebuild's status", body = RebuildStatus), TokenErrors, NotFound))]
async fn get_rebuild(State(app): State<Shared>, Segment(name): Segment, headers: HeaderMap) -> Response {
    read(&app, &headers, AUDIT_READ, |_| {
        if !PROJECTIONS.contains(&name.as_str()) {
            return Err(Rejection::new(Code::NotFound, "no such projection").with("name", &name));
        }
        // The rebuild's progress is written under the projections' write lock: take the two
        // locks one after the other, never one inside the other.
        let mut status = {
            let rebuilds = app.rebuilds.lock().unwrap_or_else(|p| p.into_inner());
            rebuilds.get(&name).cloned().unwrap_or_else(|| RebuildStatus::new(&name, RebuildState::Idle))
        };
        let depends_on: Vec<&str> = projection::RULE_DEPENDENCIES
            .iter()
            .filter(|(view, _)| name == "all" || *view == name)
            .flat_map(|(_, parameters)| parameters.iter().copied())
            .collect();
        status.depends_on = Some(depends_on);
        // Rule-dependent figures are computed under the rules in force when read: never stale.
        status.stale = Some(false);
        status.rule_changes = Some(durable(&app, |view| {
            Ok(view.rule_changes().filter(|c| name == "all" || c.view == name).cloned().collect())
        })?);
        Ok(status)
    })
}

//! Operations: online rebuilds of the projections, dry run or swapped in, and their progress.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use domain::{Code, Rejection};
use engine::RebuildMode;

use super::{
    authenticate, durable, error_response, json_response, query, read, Segment, Shared, AUDIT_READ, OPERATOR,
};

/// Adds the read routes of this resource.
pub(crate) fn routes(router: Router<Shared>) -> Router<Shared> {
    router
        .route("/v1/admin/projections/{name}", get(get_rebuild))
        .route("/v1/admin/projections/{name}/rebuild", post(post_rebuild))
}

/// The projections an operator may rebuild. They live in one state rebuilt together from the
/// log; the name picks what the diff summary reports on.
pub const PROJECTIONS: &[&str] = &["all", "balances", "bindings", "settlements"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RebuildQuery {
    dry_run: Option<bool>,
}

/// Starts an online rebuild: a shadow copy is built from the log while the service keeps
/// serving, compared with the live one, and swapped in atomically (unless `dry_run=true`).
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
        if rebuilds.get(&name).is_some_and(|s| s["status"] == "running") {
            return Err(Rejection::new(Code::AlreadyExists, "a rebuild of this projection is running"));
        }
        let status = json!({"name": name, "status": "running", "dry_run": dry_run, "events_done": 0, "events_total": 0});
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
                status["events_done"] = json!(done);
                status["events_total"] = json!(total);
                status["events_per_second"] =
                    json!((done as f64 / began.elapsed().as_secs_f64().max(1e-6)).round());
            }
        };
        let mode = if dry_run { RebuildMode::DryRun } else { RebuildMode::Swap };
        let result = worker.engine.rebuild(mode, &mut progress);
        let mut rebuilds = worker.rebuilds.lock().unwrap_or_else(|p| p.into_inner());
        let status = rebuilds.entry(key.clone()).or_insert_with(|| json!({"name": key}));
        match result {
            Ok(report) => {
                let d = &report.diff;
                let (accounts, bindings, settlements) = match key.as_str() {
                    "balances" => (d.accounts_changed, 0, 0),
                    "bindings" => (0, d.bindings_changed, 0),
                    "settlements" => (0, 0, d.settlements_changed),
                    _ => (d.accounts_changed, d.bindings_changed, d.settlements_changed),
                };
                status["status"] = json!("done");
                status["swapped"] = json!(report.swapped);
                status["events_done"] = json!(report.events);
                status["events_total"] = json!(report.events);
                status["seconds"] = json!(report.seconds);
                status["events_per_second"] =
                    json!((report.events as f64 / report.seconds.max(1e-6)).round());
                status["diff"] = json!({
                    "accounts_changed": accounts,
                    "bindings_changed": bindings,
                    "settlements_changed": settlements,
                    "first": d.first,
                });
            }
            Err(error) => {
                status["status"] = json!("failed");
                status["error"] = json!(error.to_string());
            }
        }
    });
    json_response(StatusCode::ACCEPTED, &status)
}

async fn get_rebuild(State(app): State<Shared>, Segment(name): Segment, headers: HeaderMap) -> Response {
    read(&app, &headers, AUDIT_READ, |_| {
        if !PROJECTIONS.contains(&name.as_str()) {
            return Err(Rejection::new(Code::NotFound, "no such projection").with("name", &name));
        }
        // The rebuild's progress is written under the projections' write lock: take the two
        // locks one after the other, never one inside the other.
        let mut status = {
            let rebuilds = app.rebuilds.lock().unwrap_or_else(|p| p.into_inner());
            rebuilds.get(&name).cloned().unwrap_or_else(|| json!({"name": name, "status": "idle"}))
        };
        let depends_on: Vec<&str> = projection::RULE_DEPENDENCIES
            .iter()
            .filter(|(view, _)| name == "all" || *view == name)
            .flat_map(|(_, parameters)| parameters.iter().copied())
            .collect();
        status["depends_on"] = json!(depends_on);
        // Rule-dependent figures are computed under the rules in force when read: never stale.
        status["stale"] = json!(false);
        status["rule_changes"] = durable(&app, |view| {
            let changes: Vec<&projection::RuleChange> =
                view.rule_changes().filter(|c| name == "all" || c.view == name).collect();
            Ok(json!(changes))
        })?;
        Ok(status)
    })
}

//! The HTTP API of api.md §4: routes, roles, strict bodies, idempotent answers. This module
//! holds the router and the pipeline every route shares; each resource's routes are in a
//! module of their own (`registry`: rules, institutions and persons; `accounts`; `bindings`;
//! `settlements`; `premiums`; `audit`; `admin`; `batch`; `session`).
//!
//! Every mutating route goes the same way: authenticate and check the role (401/403), read at
//! most 64 KiB (413), parse the body strictly (400), check that an institution acts for
//! itself (403), hand the request to the engine, and render its outcome. Only the engine
//! writes; a request refused here never reaches it. The mutating routes are one table
//! (`MUTATIONS`), which the router and `POST /v1/batch` (`batch`) both run requests
//! through, so a batch's item is checked exactly as the route would check it.

use std::sync::Arc;

mod accounts;
mod admin;
mod audit;
pub mod batch;
mod bindings;
mod premiums;
mod registry;
mod session;
mod settlements;

pub use admin::{RebuildStatus, PROJECTIONS};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use domain::limits::BODY_BYTES_MAX;
use domain::{Code, Origin, Rejection, Request, Timestamp};
use engine::{Engine, EngineError, Outcome};
use projection::{Durable, InFlight};

use crate::auth::{require, Denied, Principal, Role, Tokens};
use crate::metrics::Metrics;
use crate::render::{self, ErrorBody, ErrorDetail};
use crate::wire;

/// What every handler shares.
pub struct App {
    pub engine: Engine,
    pub tokens: Tokens,
    pub metrics: Arc<Metrics>,
    /// Online rebuilds by projection name: the latest status of each.
    pub rebuilds: std::sync::Mutex<std::collections::BTreeMap<String, admin::RebuildStatus>>,
    /// How long a request body may take to arrive in full (the idle timeout of api.md §1: a
    /// connection with a request in hand is not idle-timed, so its body is timed here).
    pub body_deadline: std::time::Duration,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

/// The engine, for what drives it from outside the HTTP layer (the follower of a replicated log).
impl AsRef<Engine> for App {
    fn as_ref(&self) -> &Engine {
        &self.engine
    }
}

pub(crate) type Shared = Arc<App>;

/// The routes with their OpenAPI description: each resource's, and the service's own.
pub(crate) fn api() -> OpenApiRouter<Shared> {
    OpenApiRouter::with_openapi(crate::openapi::Api::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .merge(registry::routes())
        .merge(accounts::routes())
        .merge(bindings::routes())
        .merge(settlements::routes())
        .merge(premiums::routes())
        .merge(batch::routes())
        .merge(audit::routes())
        .merge(admin::routes())
        .merge(session::routes())
}

pub fn router(app: Shared) -> Router {
    let (router, _) = api().split_for_parts();
    router
        .merge(crate::console::routes())
        .fallback(|| async { error_response(&Rejection::new(Code::NotFound, "no such route")) })
        .method_not_allowed_fallback(|| async {
            error_response(&Rejection::new(Code::MethodNotAllowed, "this route does not take this method"))
        })
        .layer(axum::middleware::from_fn(trace_request))
        .with_state(app)
}

static REQUEST_NUMBER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Gives every request an id (the caller's `X-Request-Id` when it is a valid id, else a
/// counter), logs it with method, path, status and latency, and returns it as a header.
/// Bodies are never logged, so no personal data (resident ID numbers) reaches the logs.
async fn trace_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| domain::ids::is_valid_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            format!("req-{}", REQUEST_NUMBER.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
        });
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let span = tracing::info_span!("http", request_id = %id, %method, %path);
    let mut response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(status, micros = started.elapsed().as_micros() as u64, "request");
    });
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// What a mutating route's handler is given: the app, the path's segment (as `Segment`), the
/// headers and the body, for `write` to run through the route's `Mutation`.
pub(crate) struct Sent {
    app: Shared,
    segment: String,
    headers: HeaderMap,
    body: Body,
}

impl axum::extract::FromRequest<Shared> for Sent {
    type Rejection = std::convert::Infallible;

    async fn from_request(request: axum::extract::Request, app: &Shared) -> Result<Sent, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let Segment(segment) = Segment::from_request_parts(&mut parts, app).await?;
        Ok(Sent { app: app.clone(), segment, headers: parts.headers, body })
    }
}

impl Sent {
    /// The whole pipeline of the mutating route `mutation`.
    pub(crate) async fn write(self, mutation: &Mutation) -> Response {
        write(self.app, self.headers, self.body, mutation, &self.segment).await
    }
}

/// A path segment as text. A segment that does not decode (not UTF-8) becomes empty, which no
/// id accepts, so it is refused as `invalid_request` after the token check, in JSON.
pub(crate) struct Segment(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Segment {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Segment, Self::Rejection> {
        Ok(Segment(Path::<String>::from_request_parts(parts, state).await.map(|p| p.0).unwrap_or_default()))
    }
}

// ---- responses -------------------------------------------------------------------------

/// A JSON answer. The body goes through a `serde_json::Value`, whose objects keep their keys
/// sorted: every answer lists its fields in alphabetical order, whatever its type's order.
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(&json_value(body)).expect("json values serialize");
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// An answer's body as a JSON value.
pub(crate) fn json_value(body: &impl Serialize) -> Value {
    serde_json::to_value(body).expect("answers serialize")
}

pub fn status_of(code: Code) -> StatusCode {
    match code {
        Code::InvalidRequest => StatusCode::BAD_REQUEST,
        Code::Unauthorized => StatusCode::UNAUTHORIZED,
        Code::Forbidden => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::IdempotencyConflict
        | Code::AlreadyExists
        | Code::BindingExists
        | Code::BindingNotPending
        | Code::PremiumAlreadyPaid
        | Code::RuleVersionNotNewer
        | Code::YearAlreadyClosed
        | Code::SettlementNotHeld
        | Code::StatusUnchanged => StatusCode::CONFLICT,
        Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Code::StorageFailure | Code::NotPrimary => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// A rejection's status and the JSON error body of api.md §2.
pub(crate) fn error_body(rejection: &Rejection) -> (StatusCode, Value) {
    let body = ErrorBody {
        error: ErrorDetail {
            code: rejection.code,
            message: rejection.message.clone(),
            details: rejection.details.clone(),
        },
    };
    (status_of(rejection.code), json_value(&body))
}

pub fn error_response(rejection: &Rejection) -> Response {
    let (status, body) = error_body(rejection);
    json_response(status, &body)
}

pub(crate) fn denied(denied: Denied) -> Rejection {
    match denied {
        Denied::Unauthorized => Rejection::new(Code::Unauthorized, "a valid bearer token is required"),
        Denied::Forbidden => Rejection::new(Code::Forbidden, "this token may not do this"),
    }
}

pub(crate) fn engine_error(error: EngineError) -> Rejection {
    if let EngineError::NotPrimary { primary } = error {
        let rejection = Rejection::new(
            Code::NotPrimary,
            "this node follows the primary's log and serves reads only; send writes to the primary",
        );
        return match primary {
            Some(address) => rejection.with("primary", address),
            None => rejection,
        };
    }
    tracing::error!(%error, "engine failure");
    Rejection::new(
        Code::StorageFailure,
        "the ledger cannot write now and the outcome is unknown: the write may have reached the disk; \
         retry with the same request_id, which is always safe",
    )
}

// ---- the request pipeline -----------------------------------------------------------------

pub(crate) fn authenticate(app: &App, headers: &HeaderMap, roles: &[Role]) -> Result<Principal, Rejection> {
    // Two Authorization headers are refused, not resolved: taking either one would let a proxy
    // and the service disagree about who is calling.
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let header = match (values.next(), values.next()) {
        (Some(_), Some(_)) => {
            return Err(Rejection::new(Code::Unauthorized, "give exactly one Authorization header"))
        }
        (value, _) => value.and_then(|v| v.to_str().ok()),
    };
    let principal = app.tokens.authenticate(header).map_err(denied)?;
    require(&principal, roles).map_err(denied)?;
    Ok(principal)
}

pub(crate) fn too_large() -> Rejection {
    Rejection::new(Code::PayloadTooLarge, "the body is larger than 64 KiB").with("limit", BODY_BYTES_MAX)
}

/// Reads at most 64 KiB; a body that is larger (whatever its Content-Length said) is refused.
async fn read_body(app: &App, body: Body) -> Result<Bytes, Rejection> {
    read_body_within(app, body, BODY_BYTES_MAX, too_large).await
}

/// Reads at most `limit` bytes, refusing a larger body with `too_large()`, within the app's
/// body deadline. A body that stops arriving (the connection closed, or the deadline passed)
/// is not "too large".
pub(crate) async fn read_body_within(
    app: &App,
    body: Body,
    limit: usize,
    too_large: fn() -> Rejection,
) -> Result<Bytes, Rejection> {
    let deadline = app.body_deadline;
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(error)) => Err(if error.into_inner().is::<http_body_util::LengthLimitError>() {
            too_large()
        } else {
            Rejection::invalid("body", "did not arrive in full")
        }),
        Err(_) => {
            Err(Rejection::invalid("body", "did not arrive in full in time")
                .with("seconds", deadline.as_secs()))
        }
    }
}

/// What a mutating request's outcome answers: its status and JSON body. A committed request
/// is rendered from its events; an authorization also names the binding's parties, read from
/// the state (they never change, and the binding is durable by then, so the read never waits).
pub(crate) fn answer(
    app: &App,
    kind: &'static str,
    success: StatusCode,
    outcome: Result<Outcome, EngineError>,
) -> (StatusCode, Value) {
    match outcome {
        Ok(Outcome::Committed { events, replayed }) => {
            app.metrics.command(kind, if replayed { "replayed" } else { "committed" });
            let body = render::committed(&events, |binding| {
                let parties = |view: Durable<'_>| {
                    Ok(view.binding_parties(binding).map(|(a, b, r)| (a.clone(), b.clone(), r)))
                };
                app.engine.read(parties).ok().flatten()
            });
            (success, json_value(&body))
        }
        Ok(Outcome::Rejected { rejection, replayed }) => {
            app.metrics.command(kind, if replayed { "replayed" } else { "rejected" });
            error_body(&rejection)
        }
        Ok(Outcome::Preview { charge }) => {
            app.metrics.command(kind, "preview");
            (StatusCode::OK, json_value(&render::preview(&charge)))
        }
        Err(error) => {
            app.metrics.command(kind, "error");
            error_body(&engine_error(error))
        }
    }
}

/// A mutating route of api.md §4: who may send it, what it answers when it succeeds, and how
/// its path segment and body become a request. The route handlers and `POST /v1/batch` both
/// run a request through its entry here, so an item of a batch is checked exactly as if it
/// had been sent alone.
pub struct Mutation {
    pub method: axum::http::Method,
    /// The route, with at most one `{segment}`.
    pub path: &'static str,
    pub roles: &'static [Role],
    /// What it answers when it succeeds: 201 when it creates something, else 200.
    pub success: StatusCode,
    pub(crate) build: fn(&Item<'_>) -> Result<Request, Rejection>,
}

impl std::fmt::Debug for Mutation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// What a route's `build` reads: the caller, the path's segment (empty when it has none),
/// the body's bytes and, when they are JSON, its value.
#[derive(Clone, Copy)]
pub(crate) struct Item<'a> {
    pub app: &'a App,
    pub principal: &'a Principal,
    pub segment: &'a str,
    pub bytes: &'a [u8],
    pub json: Option<&'a Value>,
}

/// Every mutating route, resource by resource.
pub fn mutations() -> impl Iterator<Item = &'static Mutation> {
    [
        registry::MUTATIONS,
        accounts::MUTATIONS,
        bindings::MUTATIONS,
        settlements::MUTATIONS,
        premiums::MUTATIONS,
    ]
    .into_iter()
    .flatten()
}

/// A request from its body, for a caller whose role the route allows: the body parsed as JSON
/// once (a key given twice refused at any depth), for what the route checks before the
/// body's shape and for the digest; the route's `build` reads the request strictly from the
/// bytes (the first wrong field is the one named).
pub(crate) fn prepare(
    app: &App,
    principal: &Principal,
    mutation: &Mutation,
    segment: &str,
    bytes: &[u8],
) -> Result<(Request, Origin), Rejection> {
    let value: Option<Value> = wire::parse_json(bytes)?;
    let item = Item { app, principal, segment, bytes, json: value.as_ref() };
    let request = (mutation.build)(&item)?;
    // The body parsed into `request`, so it is JSON; its value is what a retry must repeat.
    // It must be an object: serde reads a struct from an array too (`["r1"]`).
    let value = match value {
        Some(object @ Value::Object(_)) => object,
        _ => return Err(Rejection::invalid("body", "is not a JSON object")),
    };
    let origin = Origin {
        institution: principal.institution.clone().filter(|_| principal.role == Role::Institution),
        digest: Some(request.wire_digest(&value)),
    };
    Ok((request, origin))
}

/// The whole pipeline of a mutating route.
async fn write(app: Shared, headers: HeaderMap, body: Body, mutation: &Mutation, segment: &str) -> Response {
    let prepared = async {
        // A body declared too large is refused before anything else (api.md §2).
        if declared_too_large(&headers, BODY_BYTES_MAX) {
            return Err(too_large());
        }
        let principal = authenticate(&app, &headers, mutation.roles)?;
        let bytes = read_body(&app, body).await?;
        prepare(&app, &principal, mutation, segment, &bytes)
    }
    .await;
    let (request, origin) = match prepared {
        Ok(prepared) => prepared,
        Err(rejection) => return error_response(&rejection),
    };
    let kind = request.command.kind();
    let (sender, receiver) = tokio::sync::oneshot::channel();
    app.engine.submit_from(
        request,
        origin,
        Box::new(move |outcome| {
            let _ = sender.send(outcome);
        }),
    );
    let outcome = receiver.await.unwrap_or(Err(EngineError::Stopped));
    let (status, body) = answer(&app, kind, mutation.success, outcome);
    json_response(status, &body)
}

/// The request's Content-Length, if it gives one.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok())
}

/// Whether the request's Content-Length is above `limit` bytes.
pub(crate) fn declared_too_large(headers: &HeaderMap, limit: usize) -> bool {
    declared_length(headers).is_some_and(|declared| declared > limit)
}

/// The pipeline of a read route.
pub(crate) fn read<T, F>(app: &App, headers: &HeaderMap, roles: &[Role], view: F) -> Response
where
    T: Serialize,
    F: FnOnce(&Principal) -> Result<T, Rejection>,
{
    match authenticate(app, headers, roles).and_then(|principal| view(&principal)) {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(rejection) => error_response(&rejection),
    }
}

/// Reads the projections up to the durable head (`engine::Engine::read`); an engine that
/// stopped short of the record read answers as a command would (503).
pub(crate) fn durable<T>(
    app: &App,
    view: impl FnMut(Durable<'_>) -> Result<T, InFlight>,
) -> Result<T, Rejection> {
    app.engine.read(view).map_err(engine_error)
}

// ---- who may call what ----------------------------------------------------------------------

pub(crate) const OPERATOR: &[Role] = &[Role::Operator];
pub(crate) const CHANNEL: &[Role] = &[Role::Channel];
pub(crate) const INSTITUTION: &[Role] = &[Role::Institution];
pub(crate) const AUDIT_READ: &[Role] = &[Role::Operator, Role::Auditor];
pub(crate) const PERSON_READ: &[Role] = &[Role::Operator, Role::Channel, Role::Auditor];

// ---- queries -----------------------------------------------------------------------------------

/// `?as_of=` / `?as_of_seq=` of the reads that look back (read as text, so that a bad value is
/// named in a 400 of ours).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AsOfQuery {
    /// The account as it was at this time: RFC 3339, years 1900-9999; percent-encode a +
    /// offset as %2B.
    #[param(value_type = Option<String>, format = DateTime)]
    as_of: Option<String>,
    /// The account as it was after this event (not with as_of).
    #[param(value_type = Option<u64>, minimum = 0)]
    as_of_seq: Option<String>,
}

pub(crate) fn parse_as_of(query: &AsOfQuery) -> Result<(Option<Timestamp>, Option<u64>), Rejection> {
    let at = match &query.as_of {
        Some(text) => Some(
            Timestamp::parse(text).ok_or_else(|| Rejection::invalid("as_of", "is not an RFC 3339 time"))?,
        ),
        None => None,
    };
    let seq = match &query.as_of_seq {
        Some(text) => Some(
            text.parse::<u64>().map_err(|_| Rejection::invalid("as_of_seq", "is not a sequence number"))?,
        ),
        None => None,
    };
    if at.is_some() && seq.is_some() {
        return Err(Rejection::invalid("as_of", "give as_of or as_of_seq, not both"));
    }
    Ok((at, seq))
}

/// A page's `?after_seq=` (default 0) and `?limit=` (1 to `max`, default `max`), read as text
/// so that a bad value is named in a 400 of ours.
pub(crate) fn parse_page(
    after_seq: &Option<String>,
    limit: &Option<String>,
    max: usize,
) -> Result<(u64, usize), Rejection> {
    let after_seq = match after_seq {
        Some(text) => {
            text.parse::<u64>().map_err(|_| Rejection::invalid("after_seq", "is not a sequence number"))?
        }
        None => 0,
    };
    let limit = match limit {
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| Rejection::invalid("limit", format!("must be an integer from 1 to {max}")))?,
        None => max,
    };
    Ok((after_seq, limit))
}

/// Query strings are parsed here rather than by an extractor, so that 401/403 come before 400.
pub(crate) fn query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T, Rejection> {
    serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| {
        let message = e.to_string();
        let field = message.split('`').nth(1).unwrap_or("query").to_owned();
        Rejection::invalid(&field, message)
    })
}

/// The time reads are answered at: the wall clock, never before the log's last event.
pub(crate) fn engine_now(view: &Durable<'_>) -> Timestamp {
    let wall = engine::Clock::now(&engine::SystemClock);
    view.head_time().map_or(wall, |head| wall.max(head))
}

/// Liveness
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz", security(()),
    responses((status = 200, description = "the process answers", body = render::Health)))]
async fn healthz() -> Response {
    json_response(StatusCode::OK, &render::Health { status: render::Live::Ok })
}

/// Readiness: the log is open and projected
///
/// Ready once the log is verified and projected (the service listens only then), and for as
/// long as the writer accepts work: after a storage failure it is not.
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz", security(()),
    responses(
        (status = 200, description = "ready, with the head of the log", body = render::Ready),
        (status = 503, description = "the writer has stopped after a storage failure", body = render::NotReady),
    ))]
async fn readyz(State(app): State<Shared>) -> Response {
    let head_seq = app.engine.durable_head();
    if !app.engine.is_serving() {
        let body = render::NotReady { status: render::FailedStatus::Failed, head_seq };
        return json_response(StatusCode::SERVICE_UNAVAILABLE, &body);
    }
    json_response(StatusCode::OK, &render::Ready { status: render::ReadyStatus::Ready, head_seq })
}

/// Prometheus metrics (OpenMetrics text)
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics", security(()),
    responses((status = 200, description = "the metrics", body = String, content_type = "text/plain")))]
async fn metrics(State(app): State<Shared>) -> Response {
    app.metrics.set_head_seq(app.engine.durable_head());
    (StatusCode::OK, [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], app.metrics.render()).into_response()
}

/// This document
#[utoipa::path(get, path = "/openapi.json", tag = "operations", operation_id = "openapi", security(()),
    responses((status = 200, description = "the OpenAPI document", body = Object)))]
async fn openapi_json() -> Response {
    json_response(StatusCode::OK, crate::openapi::document())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves every mutating route is in the document at the path and method its `Mutation`
    // names, so `POST /v1/batch` finds an item's route where the router has it.
    #[test]
    fn mutations_are_routed_where_they_say() {
        let document = crate::openapi::document();
        for mutation in mutations() {
            let method = mutation.method.as_str().to_lowercase();
            let operation = &document["paths"][mutation.path][&method];
            assert!(operation.is_object(), "{mutation:?} is documented");
            assert_eq!(
                operation["description"],
                Value::from(crate::openapi::roles(mutation.roles)),
                "{mutation:?}"
            );
        }
    }

    // Pins every error code and its HTTP status (api.md §2): a stable wire contract.
    #[test]
    fn codes_and_statuses() {
        let table: Vec<(&str, u16)> =
            Code::ALL.iter().map(|c| (c.as_str(), status_of(*c).as_u16())).collect();
        assert_eq!(
            table,
            vec![
                ("invalid_request", 400),
                ("unauthorized", 401),
                ("forbidden", 403),
                ("not_found", 404),
                ("idempotency_conflict", 409),
                ("already_exists", 409),
                ("region_rules_missing", 422),
                ("person_not_active", 422),
                ("authorizer_not_employee", 422),
                ("no_personal_account", 422),
                ("relation_not_allowed", 422),
                ("cross_region_not_allowed", 422),
                ("self_binding", 422),
                ("binding_exists", 409),
                ("binding_limit_reached", 422),
                ("beneficiary_already_bound", 422),
                ("authorizer_no_balance", 422),
                ("binding_not_pending", 409),
                ("binding_not_active", 422),
                ("category_not_allowed", 422),
                ("insufficient_funds", 422),
                ("settlement_not_held", 409),
                ("capture_exceeds_held", 422),
                ("refund_exceeds_settled", 422),
                ("year_already_closed", 409),
                ("status_unchanged", 409),
                ("premium_already_paid", 409),
                ("premium_relatives_limit_reached", 422),
                ("premium_year_not_open", 422),
                ("premium_amount_mismatch", 422),
                ("beneficiary_not_resident", 422),
                ("institution_unknown", 422),
                ("institution_region_mismatch", 422),
                ("rule_version_not_newer", 409),
                ("payload_too_large", 413),
                ("method_not_allowed", 405),
                ("storage_failure", 503),
                ("not_primary", 503),
            ]
        );
    }
}

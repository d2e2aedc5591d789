//! The HTTP API of api.md §4: routes, roles, strict bodies, idempotent answers.
//!
//! Every mutating route goes the same way: authenticate and check the role (401/403), read at
//! most 64 KiB (413), parse the body strictly (400), check that an institution acts for
//! itself (403), hand the request to the engine, and render its outcome. Only the engine
//! writes; a request refused here never reaches it. The mutating routes are one table
//! (`MUTATIONS`), which the router and `POST /v1/batch` (`batch.rs`) both run requests
//! through, so a batch's item is checked exactly as the route would check it.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use domain::limits::{BODY_BYTES_MAX, EVENTS_PAGE_MAX};
use domain::{BindingId, Code, Command, Origin, PersonId, Rejection, Request, SettlementId, Timestamp};
use engine::{Engine, EngineError, Outcome};
use projection::{Durable, InFlight};

use crate::auth::{require, require_institution, Denied, Principal, Role, Tokens};
use crate::metrics::Metrics;
use crate::render;
use crate::wire::{self, path_id, path_region};

/// What every handler shares.
pub struct App {
    pub engine: Engine,
    pub tokens: Tokens,
    pub metrics: Arc<Metrics>,
    /// Online rebuilds by projection name: the latest status of each.
    pub rebuilds: std::sync::Mutex<std::collections::BTreeMap<String, Value>>,
    /// How long a request body may take to arrive in full (the idle timeout of api.md §1: a
    /// connection with a request in hand is not idle-timed, so its body is timed here).
    pub body_deadline: std::time::Duration,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

pub(crate) type Shared = Arc<App>;

pub fn router(app: Shared) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(|| async { json_response(StatusCode::OK, &json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(|| async { json_response(StatusCode::OK, &crate::openapi::document()) }))
        .route("/v1/regions/{region}/rules", get(get_rules))
        .route("/v1/persons/{person_id}", get(get_person))
        .route("/v1/persons/{person_id}/bindings", get(get_bindings))
        .route("/v1/accounts/{person_id}", get(get_account))
        .route("/v1/settlements/{settlement_id}", get(get_settlement))
        .route("/v1/batch", post(crate::batch::post_batch))
        .route("/v1/events", get(get_events))
        .route("/v1/audit/verify", get(get_verify))
        .route("/v1/admin/projections/{name}", get(get_rebuild))
        .route("/v1/admin/projections/{name}/rebuild", post(post_rebuild));
    for mutation in MUTATIONS {
        let handler = move |State(app): State<Shared>,
                            Segment(segment): Segment,
                            headers: HeaderMap,
                            body: Body| async move {
            write(app, headers, body, mutation, &segment).await
        };
        let method_router = match mutation.method {
            Method::PUT => put(handler),
            _ => post(handler),
        };
        // A path that also has a read route gets its method added to that route.
        router = router.route(mutation.path, method_router);
    }
    router
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

/// A path segment as text. A segment that does not decode (not UTF-8) becomes empty, which no
/// id accepts, so it is refused as `invalid_request` after the token check, in JSON.
struct Segment(String);

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

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).expect("json values serialize");
    (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
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
        Code::StorageFailure => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// A rejection's status and the JSON error body of api.md §2.
pub(crate) fn error_body(rejection: &Rejection) -> (StatusCode, Value) {
    let body = json!({"error": {
        "code": rejection.code.as_str(),
        "message": rejection.message,
        "details": rejection.details,
    }});
    (status_of(rejection.code), body)
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

fn engine_error(error: EngineError) -> Rejection {
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
    created: bool,
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
            (if created { StatusCode::CREATED } else { StatusCode::OK }, body)
        }
        Ok(Outcome::Rejected { rejection, replayed }) => {
            app.metrics.command(kind, if replayed { "replayed" } else { "rejected" });
            error_body(&rejection)
        }
        Ok(Outcome::Preview { charge }) => {
            app.metrics.command(kind, "preview");
            (StatusCode::OK, render::charge_body(&charge, "preview", None))
        }
        Err(error) => {
            app.metrics.command(kind, "error");
            error_body(&engine_error(error))
        }
    }
}

pub(crate) fn command_kind(command: &Command) -> &'static str {
    match command {
        Command::PublishRules { .. } => "publish_rules",
        Command::RegisterInstitution { .. } => "register_institution",
        Command::RegisterPerson { .. } => "register_person",
        Command::SetStatus { .. } => "set_status",
        Command::Credit { .. } => "credit",
        Command::CloseYear { .. } => "close_year",
        Command::RequestBinding { .. } => "request_binding",
        Command::ApproveBinding { .. } => "approve_binding",
        Command::RejectBinding { .. } => "reject_binding",
        Command::RevokeBinding { .. } => "revoke_binding",
        Command::Authorize { .. } => "authorize",
        Command::Settle { .. } => "settle",
        Command::Capture { .. } => "capture",
        Command::Void { .. } => "void",
        Command::Refund { .. } => "refund",
        Command::PayPremium { .. } => "pay_premium",
        Command::Expire { .. } => "expire",
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
    /// 201 when it succeeds (it creates something), else 200.
    pub created: bool,
    build: fn(&Item<'_>) -> Result<Request, Rejection>,
}

impl std::fmt::Debug for Mutation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// What a route's `build` reads: the caller, the path's segment (empty when it has none),
/// the body's bytes and, when they are JSON, its value.
#[derive(Clone, Copy)]
struct Item<'a> {
    app: &'a App,
    principal: &'a Principal,
    segment: &'a str,
    bytes: &'a [u8],
    json: Option<&'a Value>,
}

pub const MUTATIONS: &[Mutation] = &[
    Mutation {
        method: Method::POST,
        path: "/v1/regions/{region}/rules",
        roles: OPERATOR,
        created: true,
        build: build_rules,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/regions/{region}/year-end",
        roles: OPERATOR,
        created: false,
        build: build_year_end,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/institutions",
        roles: OPERATOR,
        created: true,
        build: build_institution,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/persons",
        roles: OPERATOR,
        created: true,
        build: build_person,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/persons/{person_id}/status",
        roles: OPERATOR,
        created: false,
        build: build_status,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/accounts/{person_id}/credits",
        roles: OPERATOR,
        created: false,
        build: build_credit,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/bindings",
        roles: CHANNEL,
        created: true,
        build: build_binding,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/bindings/{binding_id}/approve",
        roles: OPERATOR,
        created: false,
        build: build_approve,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/bindings/{binding_id}/reject",
        roles: OPERATOR,
        created: false,
        build: build_reject,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/bindings/{binding_id}/revoke",
        roles: &[Role::Channel, Role::Operator],
        created: false,
        build: build_revoke,
    },
    Mutation {
        method: Method::PUT,
        path: "/v1/bindings/{binding_id}/authorization",
        roles: CHANNEL,
        created: false,
        build: build_authorization,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/settlements",
        roles: INSTITUTION,
        created: true,
        build: build_settlement,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/settlements/{settlement_id}/capture",
        roles: INSTITUTION,
        created: false,
        build: build_capture,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/settlements/{settlement_id}/void",
        roles: INSTITUTION,
        created: false,
        build: build_void,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/settlements/{settlement_id}/refunds",
        roles: INSTITUTION,
        created: true,
        build: build_refund,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/premiums",
        roles: CHANNEL,
        created: true,
        build: build_premium,
    },
];

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
    let kind = command_kind(&request.command);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    app.engine.submit_from(
        request,
        origin,
        Box::new(move |outcome| {
            let _ = sender.send(outcome);
        }),
    );
    let outcome = receiver.await.unwrap_or(Err(EngineError::Stopped));
    let (status, body) = answer(&app, kind, mutation.created, outcome);
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
fn read<F>(app: &App, headers: &HeaderMap, roles: &[Role], view: F) -> Response
where
    F: FnOnce(&Principal) -> Result<Value, Rejection>,
{
    match authenticate(app, headers, roles).and_then(|principal| view(&principal)) {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(rejection) => error_response(&rejection),
    }
}

/// An institution may act on a settlement only if it is its own (or it does not exist yet:
/// the engine then answers `not_found`).
fn own_settlement(app: &App, principal: &Principal, settlement_id: &SettlementId) -> Result<(), Rejection> {
    let owner = durable(app, |view| Ok(view.settlement_institution(settlement_id).cloned()))?;
    match owner {
        Some(institution) => require_institution(principal, institution.as_str()).map_err(denied),
        None => Ok(()),
    }
}

/// Reads the projections up to the durable head (`engine::Engine::read`); an engine that
/// stopped short of the record read answers as a command would (503).
fn durable<T>(app: &App, view: impl FnMut(Durable<'_>) -> Result<T, InFlight>) -> Result<T, Rejection> {
    app.engine.read(view).map_err(engine_error)
}

const OPERATOR: &[Role] = &[Role::Operator];
const CHANNEL: &[Role] = &[Role::Channel];
const INSTITUTION: &[Role] = &[Role::Institution];
const AUDIT_READ: &[Role] = &[Role::Operator, Role::Auditor];
const PERSON_READ: &[Role] = &[Role::Operator, Role::Channel, Role::Auditor];

// ---- handlers: rules, institutions, persons, accounts -------------------------------------

fn build_rules(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { segment: region, bytes, .. } = *item;
    let region = path_region(region)?;
    let (request_id, rules) = wire::parse_rules(bytes)?;
    Ok(Request { request_id, command: Command::PublishRules { region, rules } })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AsOfQuery {
    as_of: Option<String>,
    as_of_seq: Option<String>,
}

fn parse_as_of(query: &AsOfQuery) -> Result<(Option<Timestamp>, Option<u64>), Rejection> {
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

/// Query strings are parsed here rather than by an extractor, so that 401/403 come before 400.
fn query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T, Rejection> {
    serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| {
        let message = e.to_string();
        let field = message.split('`').nth(1).unwrap_or("query").to_owned();
        Rejection::invalid(&field, message)
    })
}

async fn get_rules(
    State(app): State<Shared>,
    Segment(region): Segment,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    read(&app, &headers, AUDIT_READ, |_| {
        let region = path_region(&region)?;
        let query: AsOfQuery = query(uri.query())?;
        let (at, seq) = parse_as_of(&query)?;
        if seq.is_some() {
            return Err(Rejection::invalid("as_of_seq", "is not supported here; use as_of"));
        }
        let rules = durable(&app, |view| {
            let now = at.unwrap_or_else(|| engine_now(&view));
            Ok(view
                .rules_at(&region, now)?
                .map(|rules| serde_json::to_value(rules).expect("rules serialize")))
        })?;
        let mut body = rules.ok_or_else(|| {
            Rejection::new(Code::NotFound, "the region has no rule set in force").with("region", region)
        })?;
        body["region"] = json!(region);
        Ok(body)
    })
}

/// The time reads are answered at: the wall clock, never before the log's last event.
fn engine_now(view: &Durable<'_>) -> Timestamp {
    let wall = engine::Clock::now(&engine::SystemClock);
    view.head_time().map_or(wall, |head| wall.max(head))
}

fn build_year_end(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { segment: region, bytes, .. } = *item;
    let region = path_region(region)?;
    let body: wire::YearEndBody = wire::parse(bytes)?;
    Ok(Request { request_id: body.request_id, command: Command::CloseYear { region, year: body.year } })
}

fn build_institution(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { bytes, .. } = *item;
    let b: wire::InstitutionBody = wire::parse(bytes)?;
    Ok(Request {
        request_id: b.request_id,
        command: Command::RegisterInstitution {
            institution_id: b.institution_id,
            region: b.region,
            kind: b.kind,
            name: b.name,
        },
    })
}

fn build_person(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { bytes, .. } = *item;
    let b: wire::PersonBody = wire::parse(bytes)?;
    Ok(Request {
        request_id: b.request_id,
        command: Command::RegisterPerson {
            person_id: b.person_id,
            region: b.region,
            scheme: b.scheme,
            name: b.name,
            id_number: b.id_number,
        },
    })
}

async fn get_person(State(app): State<Shared>, Segment(person_id): Segment, headers: HeaderMap) -> Response {
    read(&app, &headers, PERSON_READ, |_| {
        let person_id = path_id("person_id", &person_id, PersonId::new)?;
        let person = durable(&app, |view| {
            Ok(view.person(&person_id)?.map(|person| {
                json!({
                    "person_id": person_id,
                    "region": person.region,
                    "scheme": person.scheme,
                    "status": person.status,
                    "name": person.name(),
                    "id_number": person.id_number_masked(),
                })
            }))
        })?;
        person.ok_or_else(|| Rejection::new(Code::NotFound, "no such person").with("person_id", &person_id))
    })
}

fn build_status(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { segment: person_id, bytes, .. } = *item;
    let person_id = path_id("person_id", person_id, PersonId::new)?;
    let b: wire::StatusBody = wire::parse(bytes)?;
    Ok(Request {
        request_id: b.request_id,
        command: Command::SetStatus { person_id, status: b.status, reason: b.reason },
    })
}

fn build_credit(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { segment: person_id, bytes, .. } = *item;
    let person_id = path_id("person_id", person_id, PersonId::new)?;
    let b: wire::CreditBody = wire::parse(bytes)?;
    Ok(Request {
        request_id: b.request_id,
        command: Command::Credit { person_id, amount: b.amount.0, bucket: b.bucket, reason: b.reason },
    })
}

async fn get_account(
    State(app): State<Shared>,
    Segment(person_id): Segment,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    read(&app, &headers, PERSON_READ, |_| {
        let person_id = path_id("person_id", &person_id, PersonId::new)?;
        let query: AsOfQuery = query(uri.query())?;
        let (at, seq) = parse_as_of(&query)?;
        let view = durable(&app, |view| {
            let seq = match (at, seq) {
                (Some(at), _) => Some(view.seq_at(at)),
                (None, seq) => seq,
            };
            Ok(view.account_view(&person_id, seq))
        })?;
        let view = view.ok_or_else(|| {
            Rejection::new(Code::NotFound, "no personal account (a resident has none)")
                .with("person_id", &person_id)
        })?;
        Ok(serde_json::to_value(view).expect("views serialize"))
    })
}

// ---- handlers: bindings ---------------------------------------------------------------------

fn build_binding(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { bytes, .. } = *item;
    let b: wire::BindingBody = wire::parse(bytes)?;
    Ok(Request {
        request_id: b.request_id,
        command: Command::RequestBinding {
            authorizer: b.authorizer,
            beneficiary: b.beneficiary,
            relation: b.relation,
        },
    })
}

fn build_approve(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { segment: id, bytes, .. } = *item;
    let binding_id = path_id("binding_id", id, BindingId::new)?;
    let b: wire::RequestOnlyBody = wire::parse(bytes)?;
    Ok(Request { request_id: b.request_id, command: Command::ApproveBinding { binding_id } })
}

fn build_reject(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { segment: id, bytes, .. } = *item;
    let binding_id = path_id("binding_id", id, BindingId::new)?;
    let b: wire::RejectBody = wire::parse(bytes)?;
    Ok(Request { request_id: b.request_id, command: Command::RejectBinding { binding_id, reason: b.reason } })
}

fn build_revoke(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { segment: id, bytes, .. } = *item;
    let binding_id = path_id("binding_id", id, BindingId::new)?;
    let b: wire::RequestOnlyBody = wire::parse(bytes)?;
    Ok(Request { request_id: b.request_id, command: Command::RevokeBinding { binding_id } })
}

fn build_authorization(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { segment: id, bytes, .. } = *item;
    let binding_id = path_id("binding_id", id, BindingId::new)?;
    let b: wire::AuthorizationBody = wire::parse(bytes)?;
    let (monthly_limit, annual_limit) = b.limits();
    if b.priority.is_some_and(|p| p == 0 || p > domain::limits::PRIORITY_MAX) {
        return Err(Rejection::invalid("priority", "must be an integer from 1 to 1000 or null"));
    }
    Ok(Request {
        request_id: b.request_id,
        command: Command::Authorize { binding_id, priority: b.priority, monthly_limit, annual_limit },
    })
}

async fn get_bindings(
    State(app): State<Shared>,
    Segment(person_id): Segment,
    headers: HeaderMap,
) -> Response {
    read(&app, &headers, PERSON_READ, |_| {
        let person_id = path_id("person_id", &person_id, PersonId::new)?;
        let view = durable(&app, |view| view.bindings_view(&person_id, engine_now(&view)))?
            .ok_or_else(|| Rejection::new(Code::NotFound, "no such person").with("person_id", &person_id))?;
        Ok(serde_json::to_value(view).expect("views serialize"))
    })
}

// ---- handlers: settlements and premiums -------------------------------------------------------

fn build_settlement(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { principal, bytes, json, .. } = *item;
    // The institution acts only for itself: checked before the body's shape (403 before 400).
    if let Some(Value::String(institution)) = json.and_then(|body| body.get("institution")) {
        require_institution(principal, institution).map_err(denied)?;
    }
    let b: wire::SettlementBody = wire::parse(bytes)?;
    require_institution(principal, b.institution.as_str()).map_err(denied)?;
    let mode = wire::mode(&b);
    Ok(Request {
        request_id: b.request_id,
        command: Command::Settle {
            settlement_id: b.settlement_id,
            institution: b.institution,
            beneficiary: b.beneficiary,
            category: b.category,
            amount: b.amount.0,
            occurred_at: b.occurred_at,
            mode,
        },
    })
}

fn build_capture(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { app, principal, segment: id, bytes, .. } = *item;
    let settlement_id = path_id("settlement_id", id, SettlementId::new)?;
    own_settlement(app, principal, &settlement_id)?;
    let b: wire::CaptureBody = wire::parse(bytes)?;
    Ok(Request {
        request_id: b.request_id.clone(),
        command: Command::Capture { settlement_id, amount: b.amount() },
    })
}

fn build_void(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { app, principal, segment: id, bytes, .. } = *item;
    let settlement_id = path_id("settlement_id", id, SettlementId::new)?;
    own_settlement(app, principal, &settlement_id)?;
    let b: wire::RequestOnlyBody = wire::parse(bytes)?;
    Ok(Request { request_id: b.request_id, command: Command::Void { settlement_id } })
}

fn build_refund(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { app, principal, segment: id, bytes, .. } = *item;
    let settlement_id = path_id("settlement_id", id, SettlementId::new)?;
    own_settlement(app, principal, &settlement_id)?;
    let b: wire::RefundBody = wire::parse(bytes)?;
    Ok(Request {
        request_id: b.request_id,
        command: Command::Refund {
            settlement_id,
            refund_id: b.refund_id,
            amount: b.amount.0,
            reason: b.reason,
        },
    })
}

async fn get_settlement(State(app): State<Shared>, Segment(id): Segment, headers: HeaderMap) -> Response {
    read(&app, &headers, &[Role::Institution, Role::Operator, Role::Auditor], |principal| {
        let settlement_id = path_id("settlement_id", &id, SettlementId::new)?;
        let view = durable(&app, |view| view.settlement_view(&settlement_id))?.ok_or_else(|| {
            Rejection::new(Code::NotFound, "no such settlement").with("settlement_id", &settlement_id)
        })?;
        require_institution(principal, view.institution.as_str()).map_err(denied)?;
        Ok(serde_json::to_value(view).expect("views serialize"))
    })
}

fn build_premium(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { bytes, .. } = *item;
    let b: wire::PremiumBody = wire::parse(bytes)?;
    Ok(Request {
        request_id: b.request_id,
        command: Command::PayPremium {
            payer: b.payer,
            beneficiary: b.beneficiary,
            year: b.year,
            amount: b.amount.0,
        },
    })
}

// ---- handlers: audit and operations ----------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    after_seq: Option<String>,
    limit: Option<String>,
}

async fn get_events(State(app): State<Shared>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let principal = authenticate(&app, &headers, AUDIT_READ);
    let result = principal.and_then(|_| {
        let q: EventsQuery = query(uri.query())?;
        let after_seq = match &q.after_seq {
            Some(text) => text
                .parse::<u64>()
                .map_err(|_| Rejection::invalid("after_seq", "is not a sequence number"))?,
            None => 0,
        };
        let limit = match &q.limit {
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=EVENTS_PAGE_MAX).contains(n))
                .ok_or_else(|| Rejection::invalid("limit", "must be an integer from 1 to 1000"))?,
            None => EVENTS_PAGE_MAX,
        };
        let mut body = Vec::with_capacity(limit * 512);
        body.extend_from_slice(b"{\"events\":[");
        for (index, stored) in app.engine.log().events(after_seq).take(limit).enumerate() {
            let stored = stored.map_err(|e| engine_error(EngineError::Storage(e.to_string())))?;
            if index > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&engine::envelope::to_json(&stored).map_err(engine_error)?);
        }
        body.extend_from_slice(b"]}");
        Ok(body)
    });
    match result {
        Ok(body) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(rejection) => error_response(&rejection),
    }
}

async fn get_verify(State(app): State<Shared>, headers: HeaderMap) -> Response {
    read(&app, &headers, AUDIT_READ, |_| {
        let report = app
            .engine
            .log()
            .verify(ledger::VerifyFrom::Genesis)
            .map_err(|e| engine_error(EngineError::Storage(e.to_string())))?;
        let mut body = json!({
            "ok": report.ok,
            "ledger_id": report.ledger_id,
            "head_seq": report.head_seq,
            "head_hash": report.head_hash,
        });
        if let Some(broken) = report.broken {
            body["broken"] = json!({"seq": broken.seq, "reason": broken.reason});
        }
        Ok(body)
    })
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
        let result = worker.engine.rebuild(dry_run, &mut progress);
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

/// Ready once the log is verified and projected (the service listens only then), and for as
/// long as the writer accepts work: after a storage failure it is not.
async fn readyz(State(app): State<Shared>) -> Response {
    let head_seq = app.engine.durable_head();
    if !app.engine.is_serving() {
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "failed", "head_seq": head_seq}),
        );
    }
    json_response(StatusCode::OK, &json!({"status": "ready", "head_seq": head_seq}))
}

async fn metrics(State(app): State<Shared>) -> Response {
    app.metrics.set_head_seq(app.engine.durable_head());
    (StatusCode::OK, [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], app.metrics.render()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ]
        );
    }
}

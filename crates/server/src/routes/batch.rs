//! `POST /v1/batch` (api.md §4 "Batches"): many mutating requests in one round trip — the
//! monthly allocation to every account, a provincial platform forwarding its hospitals'
//! settlements, imports.
//!
//! Each item goes through its route's own pipeline (`routes::mutations`: role, 64 KiB, shape,
//! the institution acting for itself) with the batch's token, exactly as if it had been sent
//! alone; the items that pass are handed to the engine together (`Engine::submit_batch`), which
//! decides them one after the other in the batch's order, each under its own `request_id`.
//! The batch is answered once every item's events are durable, one result per item, in order.
//! Only the batch's own shape (401, 413, 400) is refused whole, and then nothing is decided.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{value::RawValue, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use domain::limits::{BATCH_BODY_BYTES_MAX, BATCH_MIB_IN_FLIGHT_MAX, BATCH_REQUESTS_MAX, BODY_BYTES_MAX};
use domain::{Code, Rejection};
use engine::{EngineError, Reply};

use super::{self as http, Mutation, Shared};
use crate::auth::{require, Principal, Role};
use crate::openapi::{roles, BatchErrors, TokenErrors};
use crate::wire;

/// MiB of batch bodies read or being decided at once (`limits::BATCH_MIB_IN_FLIGHT_MAX`).
static IN_FLIGHT: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(BATCH_MIB_IN_FLIGHT_MAX as usize);

/// Every role may send a batch; each item is held to what the role may do.
pub(crate) const ANY_ROLE: &[Role] = &[Role::Operator, Role::Channel, Role::Institution, Role::Auditor];

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(post_batch))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"requests": [
    {"method": "POST", "path": "/v1/accounts/P1/credits",
     "body": {"request_id": "credit-2026-12-P1", "amount": "500.00", "bucket": "current", "reason": "monthly allocation"}},
    {"method": "POST", "path": "/v1/accounts/P2/credits",
     "body": {"request_id": "credit-2026-12-P2", "amount": "320.00", "bucket": "current", "reason": "monthly allocation"}},
]}))]
struct BatchBody {
    #[schema(min_items = 1, max_items = 8192)]
    requests: Vec<BatchItem>,
}

/// One request of a batch; its body is kept as sent, to be read exactly as a request's body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BatchItem {
    /// POST or PUT, as the route takes it; another method on a mutating route is the item's 405.
    method: String,
    /// A mutating route of the API; any other path is the item's 404.
    path: String,
    /// The route's request body, at most 64 KiB.
    #[schema(value_type = Object)]
    body: Box<RawValue>,
}

/// The answer to a batch.
#[derive(Debug, Serialize, ToSchema)]
struct BatchResults {
    /// One per request, in order: the status and body it would have had alone.
    results: Vec<BatchResult>,
}

#[derive(Debug, Serialize, ToSchema)]
struct BatchResult {
    #[schema(minimum = 200, maximum = 599)]
    status: u16,
    #[schema(value_type = Object)]
    body: Value,
}

fn batch_too_large() -> Rejection {
    Rejection::new(Code::PayloadTooLarge, "the batch is larger than 16 MiB")
        .with("limit", BATCH_BODY_BYTES_MAX)
}

/// An item waiting for the engine: where its result goes, and how to render it.
struct Waiting {
    index: usize,
    kind: &'static str,
    success: StatusCode,
    outcome: tokio::sync::oneshot::Receiver<Result<engine::Outcome, EngineError>>,
}

/// Many mutating requests in one round trip, each decided in order as if sent alone with this token; answered once all are durable
#[utoipa::path(post, path = "/v1/batch", tag = "batches", operation_id = "batch", description = roles(ANY_ROLE),
    request_body = BatchBody,
    responses((status = 200, description = "one result per request, in order", body = BatchResults),
        TokenErrors, BatchErrors))]
async fn post_batch(State(app): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let batch = async {
        if http::declared_too_large(&headers, BATCH_BODY_BYTES_MAX) {
            return Err(batch_too_large());
        }
        let principal = http::authenticate(&app, &headers, ANY_ROLE)?;
        // Memory: wait for room for this batch among those in flight (its declared size, or
        // the most a batch may be), held until it is answered.
        let declared = http::declared_length(&headers).unwrap_or(BATCH_BODY_BYTES_MAX);
        let mib = u32::try_from(declared.div_ceil(1 << 20).max(1)).unwrap_or(u32::MAX);
        let room =
            IN_FLIGHT.acquire_many(mib.min(BATCH_MIB_IN_FLIGHT_MAX)).await.expect("the semaphore stays open");
        let bytes = http::read_body_within(&app, body, BATCH_BODY_BYTES_MAX, batch_too_large).await?;
        let batch: BatchBody = wire::parse(&bytes)?;
        if !(1..=BATCH_REQUESTS_MAX).contains(&batch.requests.len()) {
            return Err(Rejection::invalid("requests", "must hold 1 to 8192 requests")
                .with("count", batch.requests.len()));
        }
        Ok((principal, batch, room))
    }
    .await;
    let (principal, batch, _room) = match batch {
        Ok(batch) => batch,
        Err(rejection) => return http::error_response(&rejection),
    };
    let count = batch.requests.len();
    let mut results: Vec<Option<(StatusCode, Value)>> = Vec::with_capacity(count);
    let mut submitted: Vec<(domain::Request, domain::Origin, Reply)> = Vec::with_capacity(count);
    let mut waiting: Vec<Waiting> = Vec::with_capacity(count);
    for (index, item) in batch.requests.iter().enumerate() {
        match prepare(&app, &principal, item) {
            Ok((request, origin, mutation)) => {
                let (sender, outcome) = tokio::sync::oneshot::channel();
                let kind = request.command.kind();
                waiting.push(Waiting { index, kind, success: mutation.success, outcome });
                let reply: Reply = Box::new(move |outcome| {
                    let _ = sender.send(outcome);
                });
                submitted.push((request, origin, reply));
                results.push(None);
            }
            Err(rejection) => results.push(Some(http::error_body(&rejection))),
        }
    }
    drop(batch);
    if !submitted.is_empty() {
        app.engine.submit_batch(submitted);
    }
    let mut outcomes = Vec::with_capacity(waiting.len());
    for mut item in waiting {
        let outcome = (&mut item.outcome).await.unwrap_or(Err(EngineError::Stopped));
        outcomes.push((item, outcome));
    }
    // An item's answer reads the projections only to name a binding's parties, each on its own.
    for (item, outcome) in outcomes {
        let answer = http::answer(&app, item.kind, item.success, outcome);
        results[item.index] = Some(answer);
    }
    let results = results
        .into_iter()
        .map(|result| {
            let (status, body) = result.expect("every item has its result");
            BatchResult { status: status.as_u16(), body }
        })
        .collect();
    http::json_response(StatusCode::OK, &BatchResults { results })
}

/// An item's request, through its route's pipeline as if sent alone with the batch's token.
fn prepare(
    app: &http::App,
    principal: &Principal,
    item: &BatchItem,
) -> Result<(domain::Request, domain::Origin, &'static Mutation), Rejection> {
    let (mutation, segment) = route(&item.method, &item.path)?;
    require(principal, mutation.roles).map_err(http::denied)?;
    let bytes = item.body.get().as_bytes();
    if bytes.len() > BODY_BYTES_MAX {
        return Err(http::too_large());
    }
    let (request, origin) = http::prepare(app, principal, mutation, &segment, bytes)?;
    Ok((request, origin, mutation))
}

/// The mutating route a method and path name, with the path's segment; `not_found` when no
/// mutating route has this path, `method_not_allowed` when one has it for another method.
fn route(method: &str, path: &str) -> Result<(&'static Mutation, String), Rejection> {
    let mut path_known = false;
    for mutation in http::mutations() {
        if let Some(segment) = matches(mutation.path, path) {
            if mutation.method.as_str() == method {
                return Ok((mutation, segment));
            }
            path_known = true;
        }
    }
    Err(if path_known {
        Rejection::new(Code::MethodNotAllowed, "this route does not take this method")
            .with("method", method)
            .with("path", path)
    } else {
        Rejection::new(Code::NotFound, "no mutating route has this path").with("path", path)
    })
}

/// The segment `path` gives the pattern's `{…}` (percent-decoded, as the router decodes it;
/// empty if the pattern has none, or if it does not decode to UTF-8, which no id accepts), or
/// `None` when the path does not fit the pattern.
fn matches(pattern: &str, path: &str) -> Option<String> {
    let (mut patterns, mut parts) = (pattern.split('/'), path.split('/'));
    let mut segment = String::new();
    loop {
        match (patterns.next(), parts.next()) {
            (None, None) => return Some(segment),
            (Some(expected), Some(part)) if expected.starts_with('{') => {
                if part.is_empty() {
                    return None;
                }
                segment = percent_encoding::percent_decode_str(part)
                    .decode_utf8()
                    .map(|s| s.into_owned())
                    .unwrap_or_default();
            }
            (Some(expected), Some(part)) if expected == part => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves an item's method and path find their route and segment as the router would, and
    // that a path no mutating route has is not_found, one with another method
    // method_not_allowed.
    #[test]
    fn items_find_their_route() {
        let (mutation, segment) = route("POST", "/v1/settlements/S%2D1/refunds").unwrap();
        assert_eq!((mutation.path, segment.as_str()), ("/v1/settlements/{settlement_id}/refunds", "S-1"));
        let (mutation, segment) = route("POST", "/v1/settlements").unwrap();
        assert_eq!((mutation.path, segment.as_str()), ("/v1/settlements", ""));
        let (mutation, _) = route("PUT", "/v1/bindings/B1/authorization").unwrap();
        assert!(mutation.roles.contains(&Role::Channel));
        for (method, path, code) in [
            ("GET", "/v1/settlements", Code::MethodNotAllowed),
            ("post", "/v1/persons", Code::MethodNotAllowed),
            ("POST", "/v1/bindings/B1/authorization", Code::MethodNotAllowed),
            ("GET", "/v1/accounts/P1", Code::NotFound),
            ("POST", "/v1/batch", Code::NotFound),
            ("POST", "/v1/admin/projections/all/rebuild", Code::NotFound),
            ("POST", "/v1/settlements/", Code::NotFound),
            ("POST", "/v1/settlements//refunds", Code::NotFound),
            ("POST", "v1/persons", Code::NotFound),
        ] {
            assert_eq!(route(method, path).unwrap_err().code, code, "{method} {path}");
        }
    }
}

//! Audit: the event log, paged, and the hash chain verified.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::Response;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use domain::limits::EVENTS_PAGE_MAX;
use domain::{Event, Rejection, RequestId, Timestamp};
use engine::EngineError;

use super::{authenticate, engine_error, error_response, query, read, Shared, AUDIT_READ};
use crate::openapi::{roles, BadRequest, StorageFailure, TokenErrors};
use crate::render::{Broken, Verification};

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(get_events)).routes(routes!(get_verify))
}

/// The page's query (read as text, so that a bad value is named in a 400 of ours).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Events after this seq (default 0).
    #[param(value_type = Option<u64>, minimum = 0)]
    after_seq: Option<String>,
    /// At most this many events (default 1000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// A page of events. The page is written as bytes, envelope by envelope
/// (`engine::envelope::to_json`): these types describe what it writes.
#[derive(ToSchema)]
#[allow(dead_code)]
struct Events {
    #[schema(max_items = 1000)]
    events: Vec<Envelope>,
}

/// A stored event, as `engine::envelope::to_json` renders it.
#[derive(ToSchema)]
#[allow(dead_code)]
struct Envelope {
    #[schema(minimum = 1)]
    seq: u64,
    recorded_at: Timestamp,
    #[schema(schema_with = event_kind)]
    kind: String,
    #[schema(minimum = 1)]
    version: u32,
    /// The request that wrote the event.
    #[schema(required = false)]
    request_id: RequestId,
    /// The digest of that request's body.
    #[schema(required = false)]
    request_digest: String,
    /// The event's fields (docs/events.md).
    #[schema(value_type = Object)]
    payload: (),
    #[schema(pattern = "^[0-9a-f]{64}$")]
    prev_hash: String,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    hash: String,
}

/// The schema of an event's kind: one of `Event::KINDS`.
fn event_kind() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(Event::KINDS.iter().copied()))
        .build()
}

/// The stored event envelopes, in order
#[utoipa::path(get, path = "/v1/events", tag = "audit", operation_id = "getEvents",
    description = roles(AUDIT_READ), params(EventsQuery),
    responses((status = 200, description = "a page of events", body = Events), TokenErrors, BadRequest, StorageFailure))]

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
            let stored = stored.map_err(|e| engine_error(EngineError::from(e)))?;
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

/// Recompute the hash chain
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", operation_id = "verify",
    description = roles(AUDIT_READ),
    responses((status = 200, description = "the verification", body = Verification), TokenErrors, StorageFailure))]
async fn get_verify(State(app): State<Shared>, headers: HeaderMap) -> Response {
    read(&app, &headers, AUDIT_READ, |_| {
        let report = app.engine.log().verify().map_err(|e| engine_error(EngineError::from(e)))?;
        Ok(Verification {
            ok: report.ok,
            ledger_id: report.ledger_id,
            head_seq: report.head_seq,
            head_hash: report.head_hash,
            broken: report.broken.map(|broken| Broken { seq: broken.seq, reason: broken.reason }),
        })
    })
}

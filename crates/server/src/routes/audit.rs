//! Audit: the event log, paged, and the hash chain verified.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::Response;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use domain::limits::{EVENTS_PAGE_MAX, EVENTS_SCAN_MAX};
use domain::{BindingId, Event, PersonId, Rejection, RequestId, Timestamp};
use engine::EngineError;

use super::{
    authenticate, durable, engine_error, error_response, parse_page, query, read, App, Shared, AUDIT_READ,
};
use crate::openapi::{roles, BadRequest, StorageFailure, TokenErrors};
use crate::render::{event_kind, Broken, Verification};
use crate::wire::path_id;

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
    /// Only events of this kind.
    #[param(value_type = Option<String>, schema_with = event_kind)]
    kind: Option<String>,
    /// Only events that name this person (as the person, an authorizer, a beneficiary, a
    /// payer or an account drawn on or refunded), or a binding of theirs.
    #[param(value_type = Option<String>)]
    person: Option<String>,
}

/// A page of events. The page is written as bytes, envelope by envelope
/// (`engine::envelope::to_json`): these types describe what it writes.
#[derive(ToSchema)]
#[allow(dead_code)]
struct Events {
    #[schema(max_items = 1000)]
    events: Vec<Envelope>,
    /// The last seq this page looked at: the `after_seq` of the next page. A filtered page
    /// looks at no more than 100,000 events, so it may be short before the log's end.
    next_after_seq: u64,
    /// The head of the log when the page was read: the log's end.
    head_seq: u64,
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

/// The stored event envelopes, in order
#[utoipa::path(get, path = "/v1/events", tag = "audit", operation_id = "getEvents",
    description = roles(AUDIT_READ), params(EventsQuery),
    responses((status = 200, description = "a page of events", body = Events), TokenErrors, BadRequest, StorageFailure))]

async fn get_events(State(app): State<Shared>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let principal = authenticate(&app, &headers, AUDIT_READ);
    let result = principal.and_then(|_| {
        let page = Page::read(&query(uri.query())?)?;
        let head_seq = app.engine.durable_head();
        let mut body = Vec::with_capacity(page.limit * 512);
        body.extend_from_slice(b"{\"events\":[");
        let (mut found, mut next_after_seq) = (0, page.after_seq);
        let scan = if page.filtered() { EVENTS_SCAN_MAX } else { page.limit };
        for stored in app.engine.log().events(page.after_seq).take(scan) {
            let stored = stored.map_err(|e| engine_error(EngineError::from(e)))?;
            next_after_seq = stored.seq;
            if page.filtered()
                && !page.admits(&app, &engine::decode_event(&stored).map_err(engine_error)?.event)?
            {
                continue;
            }
            if found > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&engine::envelope::to_json(&stored).map_err(engine_error)?);
            found += 1;
            if found == page.limit {
                break;
            }
        }
        body.extend_from_slice(
            format!("],\"next_after_seq\":{next_after_seq},\"head_seq\":{head_seq}}}").as_bytes(),
        );
        Ok(body)
    });
    match result {
        Ok(body) => (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(rejection) => error_response(&rejection),
    }
}

/// A page of `GET /v1/events` asked for: where it starts, how long it is, what it keeps.
struct Page {
    after_seq: u64,
    limit: usize,
    kind: Option<&'static str>,
    person: Option<PersonId>,
}

/// The payload fields that name a person.
const PERSON_FIELDS: &[&str] = &["person_id", "authorizer", "beneficiary", "payer", "account"];

impl Page {
    fn read(q: &EventsQuery) -> Result<Page, Rejection> {
        let (after_seq, limit) = parse_page(&q.after_seq, &q.limit, EVENTS_PAGE_MAX)?;
        let kind = match &q.kind {
            Some(kind) => {
                let known = Event::KINDS.iter().find(|known| **known == kind.as_str());
                Some(*known.ok_or_else(|| Rejection::invalid("kind", "is not an event kind"))?)
            }
            None => None,
        };
        let person = match &q.person {
            Some(person) => Some(path_id("person", person, PersonId::new)?),
            None => None,
        };
        Ok(Page { after_seq, limit, kind, person })
    }

    fn filtered(&self) -> bool {
        self.kind.is_some() || self.person.is_some()
    }

    /// Whether the page keeps this event.
    fn admits(&self, app: &App, event: &Event) -> Result<bool, Rejection> {
        if self.kind.is_some_and(|kind| kind != event.kind()) {
            return Ok(false);
        }
        let Some(person) = &self.person else { return Ok(true) };
        let payload = serde_json::to_value(event).expect("events serialize");
        let mut names = false;
        let mut bindings = Vec::new();
        visit_strings(&payload, &mut |key, value| {
            names |= PERSON_FIELDS.contains(&key) && value == person.as_str();
            if key == "binding_id" {
                bindings.push(value.to_owned());
            }
        });
        if names || bindings.is_empty() {
            return Ok(names);
        }
        durable(app, |view| {
            Ok(bindings
                .iter()
                .filter_map(|id| BindingId::new(id))
                .any(|id| view.binding_parties(&id).is_some_and(|(a, b, _)| a == person || b == person)))
        })
    }
}

/// Calls `found(key, value)` for every string value under a key, at any depth.
fn visit_strings(value: &serde_json::Value, found: &mut impl FnMut(&str, &str)) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match value {
                    serde_json::Value::String(text) => found(key, text),
                    other => visit_strings(other, found),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| visit_strings(item, found)),
        _ => {}
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

//! Audit: the event log, paged, and the hash chain verified.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::json;

use domain::limits::EVENTS_PAGE_MAX;
use domain::Rejection;
use engine::EngineError;

use super::{authenticate, engine_error, error_response, query, read, Shared, AUDIT_READ};

/// Adds the read routes of this resource.
pub(crate) fn routes(router: Router<Shared>) -> Router<Shared> {
    router.route("/v1/events", get(get_events)).route("/v1/audit/verify", get(get_verify))
}

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

async fn get_verify(State(app): State<Shared>, headers: HeaderMap) -> Response {
    read(&app, &headers, AUDIT_READ, |_| {
        let report = app.engine.log().verify().map_err(|e| engine_error(EngineError::from(e)))?;
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

//! Settlements: a bill's personal-burden part settled or held, a hold captured or voided, refunds, and a settlement as it stands. An institution acts only on its own.

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use domain::{Code, Command, Rejection, Request, SettlementId};

use super::{denied, durable, read, App, Item, Mutation, Segment, Shared, INSTITUTION};
use crate::auth::{require_institution, Principal, Role};
use crate::wire::{self, path_id};

/// The mutating routes of this resource.
pub(crate) const MUTATIONS: &[Mutation] = &[
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
];

/// Adds the read routes of this resource.
pub(crate) fn routes(router: Router<Shared>) -> Router<Shared> {
    router.route("/v1/settlements/{settlement_id}", get(get_settlement))
}

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

/// An institution may act on a settlement only if it is its own (or it does not exist yet:
/// the engine then answers `not_found`).
fn own_settlement(app: &App, principal: &Principal, settlement_id: &SettlementId) -> Result<(), Rejection> {
    let owner = durable(app, |view| Ok(view.settlement_institution(settlement_id).cloned()))?;
    match owner {
        Some(institution) => require_institution(principal, institution.as_str()).map_err(denied),
        None => Ok(()),
    }
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

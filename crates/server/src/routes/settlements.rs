//! Settlements: a bill's personal-burden part settled or held, a hold captured or voided, refunds, and a settlement as it stands. An institution acts only on its own.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use domain::limits::{SETTLEMENTS_PAGE_MAX, SETTLEMENTS_SCAN_MAX};
use domain::{Code, Command, InstitutionId, Rejection, Request, SettlementId};
use projection::SettlementView;

use super::{
    denied, durable, parse_page, query, read, App, Item, Mutation, Segment, Sent, Shared, INSTITUTION,
};
use crate::auth::{require_institution, Principal, Role};
use crate::openapi::{
    roles, BadRequest, CommandErrors, NotFound, SettlementPath, TokenErrors, Unprocessable,
};
use crate::render::{Captured, Preview, Refunded, Settled, Settlements, Voided};
use crate::wire::{self, path_id};

const SETTLE: Mutation = Mutation {
    method: Method::POST,
    path: "/v1/settlements",
    roles: INSTITUTION,
    success: StatusCode::CREATED,
    build: build_settlement,
};
const CAPTURE: Mutation = Mutation {
    method: Method::POST,
    path: "/v1/settlements/{settlement_id}/capture",
    roles: INSTITUTION,
    success: StatusCode::OK,
    build: build_capture,
};
const VOID: Mutation = Mutation {
    method: Method::POST,
    path: "/v1/settlements/{settlement_id}/void",
    roles: INSTITUTION,
    success: StatusCode::OK,
    build: build_void,
};
const REFUND: Mutation = Mutation {
    method: Method::POST,
    path: "/v1/settlements/{settlement_id}/refunds",
    roles: INSTITUTION,
    success: StatusCode::CREATED,
    build: build_refund,
};

/// The mutating routes of this resource.
pub(crate) const MUTATIONS: &[Mutation] = &[SETTLE, CAPTURE, VOID, REFUND];

/// Who may read a settlement (an institution only its own).
const SETTLEMENT_READ: &[Role] = &[Role::Institution, Role::Operator, Role::Auditor];

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(settle, list_settlements))
        .routes(routes!(get_settlement))
        .routes(routes!(capture))
        .routes(routes!(void))
        .routes(routes!(refund))
}

/// Settle, hold or preview the personal-burden part of a bill
#[utoipa::path(post, path = SETTLE.path, tag = "settlements", operation_id = "settle",
    description = roles(SETTLE.roles), request_body = wire::SettlementBody,
    responses((status = 201, description = "settled or held", body = Settled),
        (status = 200, description = "a preview: computed, nothing written", body = Preview),
        TokenErrors, CommandErrors, NotFound, Unprocessable))]
async fn settle(sent: Sent) -> Response {
    sent.write(&SETTLE).await
}

/// Capture a hold (the rest is released)
#[utoipa::path(post, path = CAPTURE.path, tag = "settlements", operation_id = "capture",
    description = roles(CAPTURE.roles), params(SettlementPath), request_body = wire::CaptureBody,
    responses((status = 200, description = "captured", body = Captured),
        TokenErrors, CommandErrors, NotFound, Unprocessable))]
async fn capture(sent: Sent) -> Response {
    sent.write(&CAPTURE).await
}

/// Release a hold
#[utoipa::path(post, path = VOID.path, tag = "settlements", operation_id = "void",
    description = roles(VOID.roles), params(SettlementPath), request_body = wire::RequestOnlyBody,
    responses((status = 200, description = "voided", body = Voided), TokenErrors, CommandErrors, NotFound))]
async fn void(sent: Sent) -> Response {
    sent.write(&VOID).await
}

/// Refund a settlement to the accounts that paid
#[utoipa::path(post, path = REFUND.path, tag = "settlements", operation_id = "refund",
    description = roles(REFUND.roles), params(SettlementPath), request_body = wire::RefundBody,
    responses((status = 201, description = "refunded", body = Refunded),
        TokenErrors, CommandErrors, NotFound, Unprocessable))]
async fn refund(sent: Sent) -> Response {
    sent.write(&REFUND).await
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
            reason: b.reason.0,
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

/// A settlement with its refunds
#[utoipa::path(get, path = "/v1/settlements/{settlement_id}", tag = "settlements", operation_id = "getSettlement",
    description = roles(SETTLEMENT_READ), params(SettlementPath),
    responses((status = 200, description = "the settlement", body = SettlementView),
        TokenErrors, BadRequest, NotFound))]
async fn get_settlement(State(app): State<Shared>, Segment(id): Segment, headers: HeaderMap) -> Response {
    read(&app, &headers, SETTLEMENT_READ, |principal| {
        let settlement_id = path_id("settlement_id", &id, SettlementId::new)?;
        let view = durable(&app, |view| view.settlement_view(&settlement_id))?.ok_or_else(|| {
            Rejection::new(Code::NotFound, "no such settlement").with("settlement_id", &settlement_id)
        })?;
        require_institution(principal, view.institution.as_str()).map_err(denied)?;
        Ok(view)
    })
}

/// A page of settlements' query (read as text, so that a bad value is named in a 400 of ours).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SettlementsQuery {
    /// Settlements created after this seq (default 0).
    #[param(value_type = Option<u64>, minimum = 0)]
    after_seq: Option<String>,
    /// At most this many settlements (default 1000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// Only this institution's settlements (an institution's token: its own, which is also
    /// the default).
    #[param(value_type = Option<String>)]
    institution: Option<String>,
}

/// The settlements, in the order created (extension of api.md)
///
/// A page of settlements with their refunds, in the order they were created; an institution's
/// token reads only its own. A page filtered by institution looks at no more than 100,000
/// settlements, so it may be short before the end: `more` says whether any are left.
#[utoipa::path(get, path = SETTLE.path, tag = "settlements", operation_id = "listSettlements",
    description = roles(SETTLEMENT_READ), params(SettlementsQuery),
    responses((status = 200, description = "a page of settlements", body = Settlements), TokenErrors, BadRequest))]
async fn list_settlements(State(app): State<Shared>, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    read(&app, &headers, SETTLEMENT_READ, |principal| {
        let q: SettlementsQuery = query(uri.query())?;
        let (after_seq, limit) = parse_page(&q.after_seq, &q.limit, SETTLEMENTS_PAGE_MAX)?;
        let asked = match &q.institution {
            Some(institution) => Some(path_id("institution", institution, InstitutionId::new)?),
            None => None,
        };
        if let Some(institution) = &asked {
            require_institution(principal, institution.as_str()).map_err(denied)?;
        }
        let own = principal.institution.clone().filter(|_| principal.role == Role::Institution);
        let institution = own.or(asked);
        let page = durable(&app, |view| {
            view.settlements_after(after_seq, institution.as_ref(), limit, SETTLEMENTS_SCAN_MAX)
        })?;
        let head_seq = app.engine.durable_head();
        Ok(Settlements {
            settlements: page.settlements,
            next_after_seq: page.next_after_seq,
            more: page.more,
            head_seq,
        })
    })
}

//! Bindings: a relative bound to an employee's account, its approval, rejection, revocation and authorization, and a person's bindings both ways.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use domain::{BindingId, Code, Command, PersonId, Rejection, Request};
use projection::BindingsView;

use super::{
    durable, engine_now, read, Item, Mutation, Segment, Sent, Shared, CHANNEL, OPERATOR, PERSON_READ,
};
use crate::auth::Role;
use crate::openapi::{
    roles, BadRequest, BindingPath, CommandErrors, NotFound, PersonPath, TokenErrors, Unprocessable,
};
use crate::render::{AuthorizationSet, BindingRequested, BindingReviewed};
use crate::wire::{self, path_id};

const REQUEST: Mutation = Mutation {
    method: Method::POST,
    path: "/v1/bindings",
    roles: CHANNEL,
    success: StatusCode::CREATED,
    build: build_binding,
};
const APPROVE: Mutation = Mutation {
    method: Method::POST,
    path: "/v1/bindings/{binding_id}/approve",
    roles: OPERATOR,
    success: StatusCode::OK,
    build: build_approve,
};
const REJECT: Mutation = Mutation {
    method: Method::POST,
    path: "/v1/bindings/{binding_id}/reject",
    roles: OPERATOR,
    success: StatusCode::OK,
    build: build_reject,
};
const REVOKE: Mutation = Mutation {
    method: Method::POST,
    path: "/v1/bindings/{binding_id}/revoke",
    roles: &[Role::Channel, Role::Operator],
    success: StatusCode::OK,
    build: build_revoke,
};
const AUTHORIZE: Mutation = Mutation {
    method: Method::PUT,
    path: "/v1/bindings/{binding_id}/authorization",
    roles: CHANNEL,
    success: StatusCode::OK,
    build: build_authorization,
};

/// The mutating routes of this resource.
pub(crate) const MUTATIONS: &[Mutation] = &[REQUEST, APPROVE, REJECT, REVOKE, AUTHORIZE];

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(request_binding))
        .routes(routes!(approve_binding))
        .routes(routes!(reject_binding))
        .routes(routes!(revoke_binding))
        .routes(routes!(authorize))
        .routes(routes!(get_bindings))
}

/// Request a family binding
#[utoipa::path(post, path = REQUEST.path, tag = "bindings", operation_id = "requestBinding",
    description = roles(REQUEST.roles), request_body = wire::BindingBody,
    responses((status = 201, description = "requested: active when the rules auto-approve, else pending",
        body = BindingRequested), TokenErrors, CommandErrors, NotFound, Unprocessable))]
async fn request_binding(sent: Sent) -> Response {
    sent.write(&REQUEST).await
}

/// Approve a pending binding
#[utoipa::path(post, path = APPROVE.path, tag = "bindings", operation_id = "approveBinding",
    description = roles(APPROVE.roles), params(BindingPath), request_body = wire::RequestOnlyBody,
    responses((status = 200, description = "approved", body = BindingReviewed), TokenErrors, CommandErrors, NotFound))]
async fn approve_binding(sent: Sent) -> Response {
    sent.write(&APPROVE).await
}

/// Reject a pending binding
#[utoipa::path(post, path = REJECT.path, tag = "bindings", operation_id = "rejectBinding",
    description = roles(REJECT.roles), params(BindingPath), request_body = wire::RejectBody,
    responses((status = 200, description = "rejected", body = BindingReviewed), TokenErrors, CommandErrors, NotFound))]
async fn reject_binding(sent: Sent) -> Response {
    sent.write(&REJECT).await
}

/// Revoke a pending or active binding from now on
#[utoipa::path(post, path = REVOKE.path, tag = "bindings", operation_id = "revokeBinding",
    description = roles(REVOKE.roles), params(BindingPath), request_body = wire::RequestOnlyBody,
    responses((status = 200, description = "revoked", body = BindingReviewed),
        TokenErrors, CommandErrors, NotFound, Unprocessable))]
async fn revoke_binding(sent: Sent) -> Response {
    sent.write(&REVOKE).await
}

/// Set an active binding's priority and limits
#[utoipa::path(put, path = AUTHORIZE.path, tag = "bindings", operation_id = "authorize",
    description = roles(AUTHORIZE.roles), params(BindingPath), request_body = wire::AuthorizationBody,
    responses((status = 200, description = "set: the binding", body = AuthorizationSet),
        TokenErrors, CommandErrors, NotFound, Unprocessable))]
async fn authorize(sent: Sent) -> Response {
    sent.write(&AUTHORIZE).await
}

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
    Ok(Request {
        request_id: b.request_id,
        command: Command::RejectBinding { binding_id, reason: b.reason.0 },
    })
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

/// A person's bindings, in the order requested
#[utoipa::path(get, path = "/v1/persons/{person_id}/bindings", tag = "bindings", operation_id = "getBindings",
    description = roles(PERSON_READ), params(PersonPath),
    responses((status = 200, description = "the bindings", body = BindingsView), TokenErrors, BadRequest, NotFound))]
async fn get_bindings(
    State(app): State<Shared>,
    Segment(person_id): Segment,
    headers: HeaderMap,
) -> Response {
    read(&app, &headers, PERSON_READ, |_| {
        let person_id = path_id("person_id", &person_id, PersonId::new)?;
        let view = durable(&app, |view| view.bindings_view(&person_id, engine_now(&view)))?
            .ok_or_else(|| Rejection::new(Code::NotFound, "no such person").with("person_id", &person_id))?;
        Ok(view)
    })
}

//! Bindings: a relative bound to an employee's account, its approval, rejection, revocation and authorization, and a person's bindings both ways.

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use domain::{BindingId, Code, Command, PersonId, Rejection, Request};

use super::{durable, engine_now, read, Item, Mutation, Segment, Shared, CHANNEL, OPERATOR, PERSON_READ};
use crate::auth::Role;
use crate::wire::{self, path_id};

/// The mutating routes of this resource.
pub(crate) const MUTATIONS: &[Mutation] = &[
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
];

/// Adds the read routes of this resource.
pub(crate) fn routes(router: Router<Shared>) -> Router<Shared> {
    router.route("/v1/persons/{person_id}/bindings", get(get_bindings))
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

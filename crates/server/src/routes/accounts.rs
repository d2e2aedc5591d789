//! Accounts: credits into a personal account, and the account as it stands or stood.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use domain::{Code, Command, PersonId, Rejection, Request};
use projection::AccountView;

use super::{
    durable, parse_as_of, query, read, AsOfQuery, Item, Mutation, Segment, Sent, Shared, OPERATOR,
    PERSON_READ,
};
use crate::openapi::{roles, BadRequest, CommandErrors, NotFound, PersonPath, TokenErrors, Unprocessable};
use crate::render::Credited;
use crate::wire::{self, path_id};

const CREDIT: Mutation = Mutation {
    method: Method::POST,
    path: "/v1/accounts/{person_id}/credits",
    roles: OPERATOR,
    success: StatusCode::OK,
    build: build_credit,
};

/// The mutating routes of this resource.
pub(crate) const MUTATIONS: &[Mutation] = &[CREDIT];

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(get_account)).routes(routes!(credit))
}

/// Credit an account (monthly allocation, transfer in)
#[utoipa::path(post, path = CREDIT.path, tag = "persons", operation_id = "credit",
    description = roles(CREDIT.roles), params(PersonPath), request_body = wire::CreditBody,
    responses((status = 200, description = "credited: the account after it", body = Credited),
        TokenErrors, CommandErrors, NotFound, Unprocessable))]
async fn credit(sent: Sent) -> Response {
    sent.write(&CREDIT).await
}

fn build_credit(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { segment: person_id, bytes, .. } = *item;
    let person_id = path_id("person_id", person_id, PersonId::new)?;
    let b: wire::CreditBody = wire::parse(bytes)?;
    Ok(Request {
        request_id: b.request_id,
        command: Command::Credit { person_id, amount: b.amount.0, bucket: b.bucket, reason: b.reason.0 },
    })
}

/// An employee's personal account
#[utoipa::path(get, path = "/v1/accounts/{person_id}", tag = "persons", operation_id = "getAccount",
    description = roles(PERSON_READ), params(PersonPath, AsOfQuery),
    responses((status = 200, description = "the account", body = AccountView), TokenErrors, BadRequest, NotFound))]
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
        Ok(view)
    })
}

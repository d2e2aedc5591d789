//! Accounts: credits into a personal account, and the account as it stands or stood.

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use domain::{Code, Command, PersonId, Rejection, Request};

use super::{
    durable, parse_as_of, query, read, AsOfQuery, Item, Mutation, Segment, Shared, OPERATOR, PERSON_READ,
};
use crate::wire::{self, path_id};

/// The mutating routes of this resource.
pub(crate) const MUTATIONS: &[Mutation] = &[Mutation {
    method: Method::POST,
    path: "/v1/accounts/{person_id}/credits",
    roles: OPERATOR,
    created: false,
    build: build_credit,
}];

/// Adds the read routes of this resource.
pub(crate) fn routes(router: Router<Shared>) -> Router<Shared> {
    router.route("/v1/accounts/{person_id}", get(get_account))
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

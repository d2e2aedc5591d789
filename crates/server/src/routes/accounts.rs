//! Accounts: credits into a personal account, and the account as it stands or stood.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use domain::limits::HISTORY_ENTRIES_MAX;
use domain::{Code, Command, PersonId, Rejection, Request};
use engine::EngineError;
use projection::AccountView;

use super::{
    durable, engine_error, parse_as_of, query, read, AsOfQuery, Item, Mutation, Segment, Sent, Shared,
    OPERATOR, PERSON_READ,
};
use crate::openapi::{
    roles, BadRequest, CommandErrors, NotFound, PersonPath, StorageFailure, TokenErrors, Unprocessable,
};
use crate::render::{AccountHistory, Credited, HistoryEntry};
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
    OpenApiRouter::new().routes(routes!(get_account)).routes(routes!(get_history)).routes(routes!(credit))
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
        view.ok_or_else(|| no_account(&person_id))
    })
}

fn no_account(person_id: &PersonId) -> Rejection {
    Rejection::new(Code::NotFound, "no personal account (a resident has none)").with("person_id", person_id)
}

/// An account's balance after every event that changed it (extension of api.md)
///
/// The latest 1000 entries, ascending by seq, each with the kind of the event that moved the
/// balance: the points `?as_of_seq=` of `GET /v1/accounts/{person_id}` can look back to.
#[utoipa::path(get, path = "/v1/accounts/{person_id}/history", tag = "persons", operation_id = "getAccountHistory",
    description = roles(PERSON_READ), params(PersonPath),
    responses((status = 200, description = "the account's history", body = AccountHistory),
        TokenErrors, BadRequest, NotFound, StorageFailure))]
async fn get_history(State(app): State<Shared>, Segment(person_id): Segment, headers: HeaderMap) -> Response {
    read(&app, &headers, PERSON_READ, |_| {
        let person_id = path_id("person_id", &person_id, PersonId::new)?;
        let (head_seq, history) =
            durable(&app, |view| Ok((view.head_seq(), view.balance_history(&person_id))))?;
        let history = history.ok_or_else(|| no_account(&person_id))?;
        let skipped = history.len().saturating_sub(HISTORY_ENTRIES_MAX);
        let mut entries = Vec::with_capacity(history.len() - skipped);
        for (seq, recorded_at, balance) in &history[skipped..] {
            // The kind is read from the log: the event is durable, so it is there.
            let stored = app.engine.log().event(*seq).map_err(|e| engine_error(EngineError::from(e)))?;
            let stored = stored.ok_or_else(|| {
                engine_error(EngineError::Corrupt(format!("event {seq} is not in the log")))
            })?;
            let kind = engine::decode_event(&stored).map_err(engine_error)?.event.kind();
            entries.push(HistoryEntry {
                seq: *seq,
                recorded_at: *recorded_at,
                kind,
                current: balance.current,
                historic: balance.historic,
                held: balance.held,
                available: balance.available(),
            });
        }
        Ok(AccountHistory { person_id, head_seq, truncated: skipped > 0, entries })
    })
}

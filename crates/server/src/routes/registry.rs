//! Rules, institutions and persons: a region's rule sets and its year end, the institutions that settle, and the persons who hold or draw on accounts.

use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;

use domain::{Code, Command, PersonId, Rejection, Request};

use super::{
    durable, engine_now, parse_as_of, query, read, AsOfQuery, Item, Mutation, Segment, Shared, AUDIT_READ,
    OPERATOR, PERSON_READ,
};
use crate::wire::{self, path_id, path_region};

/// The mutating routes of this resource.
pub(crate) const MUTATIONS: &[Mutation] = &[
    Mutation {
        method: Method::POST,
        path: "/v1/regions/{region}/rules",
        roles: OPERATOR,
        created: true,
        build: build_rules,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/regions/{region}/year-end",
        roles: OPERATOR,
        created: false,
        build: build_year_end,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/institutions",
        roles: OPERATOR,
        created: true,
        build: build_institution,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/persons",
        roles: OPERATOR,
        created: true,
        build: build_person,
    },
    Mutation {
        method: Method::POST,
        path: "/v1/persons/{person_id}/status",
        roles: OPERATOR,
        created: false,
        build: build_status,
    },
];

/// Adds the read routes of this resource.
pub(crate) fn routes(router: Router<Shared>) -> Router<Shared> {
    router
        .route("/v1/regions/{region}/rules", get(get_rules))
        .route("/v1/persons/{person_id}", get(get_person))
}

fn build_rules(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { segment: region, bytes, .. } = *item;
    let region = path_region(region)?;
    let (request_id, rules) = wire::parse_rules(bytes)?;
    Ok(Request { request_id, command: Command::PublishRules { region, rules } })
}

fn build_year_end(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { segment: region, bytes, .. } = *item;
    let region = path_region(region)?;
    let body: wire::YearEndBody = wire::parse(bytes)?;
    Ok(Request { request_id: body.request_id, command: Command::CloseYear { region, year: body.year } })
}

fn build_institution(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { bytes, .. } = *item;
    let b: wire::InstitutionBody = wire::parse(bytes)?;
    Ok(Request {
        request_id: b.request_id,
        command: Command::RegisterInstitution {
            institution_id: b.institution_id,
            region: b.region,
            kind: b.kind,
            name: b.name,
        },
    })
}

fn build_person(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { bytes, .. } = *item;
    let b: wire::PersonBody = wire::parse(bytes)?;
    Ok(Request {
        request_id: b.request_id,
        command: Command::RegisterPerson {
            person_id: b.person_id,
            region: b.region,
            scheme: b.scheme,
            name: b.name,
            id_number: b.id_number,
        },
    })
}

fn build_status(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { segment: person_id, bytes, .. } = *item;
    let person_id = path_id("person_id", person_id, PersonId::new)?;
    let b: wire::StatusBody = wire::parse(bytes)?;
    Ok(Request {
        request_id: b.request_id,
        command: Command::SetStatus { person_id, status: b.status, reason: b.reason },
    })
}

async fn get_rules(
    State(app): State<Shared>,
    Segment(region): Segment,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    read(&app, &headers, AUDIT_READ, |_| {
        let region = path_region(&region)?;
        let query: AsOfQuery = query(uri.query())?;
        let (at, seq) = parse_as_of(&query)?;
        if seq.is_some() {
            return Err(Rejection::invalid("as_of_seq", "is not supported here; use as_of"));
        }
        let rules = durable(&app, |view| {
            let now = at.unwrap_or_else(|| engine_now(&view));
            Ok(view
                .rules_at(&region, now)?
                .map(|rules| serde_json::to_value(rules).expect("rules serialize")))
        })?;
        let mut body = rules.ok_or_else(|| {
            Rejection::new(Code::NotFound, "the region has no rule set in force").with("region", region)
        })?;
        body["region"] = json!(region);
        Ok(body)
    })
}

async fn get_person(State(app): State<Shared>, Segment(person_id): Segment, headers: HeaderMap) -> Response {
    read(&app, &headers, PERSON_READ, |_| {
        let person_id = path_id("person_id", &person_id, PersonId::new)?;
        let person = durable(&app, |view| {
            Ok(view.person(&person_id)?.map(|person| {
                json!({
                    "person_id": person_id,
                    "region": person.region,
                    "scheme": person.scheme,
                    "status": person.status,
                    "name": person.name(),
                    "id_number": person.id_number_masked(),
                })
            }))
        })?;
        person.ok_or_else(|| Rejection::new(Code::NotFound, "no such person").with("person_id", &person_id))
    })
}

//! Rules, institutions and persons: a region's rule sets and its year end, the institutions that settle, and the persons who hold or draw on accounts.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use domain::{Code, Command, PersonId, Rejection, Request, Timestamp};

use super::{
    durable, engine_now, parse_as_of, query, read, AsOfQuery, Item, Mutation, Segment, Sent, Shared,
    AUDIT_READ, OPERATOR, PERSON_READ,
};
use crate::openapi::{
    roles, BadRequest, CommandErrors, NotFound, PersonPath, RegionPath, TokenErrors, Unprocessable,
};
use crate::render::{
    self, InstitutionRegistered, PersonRegistered, RegionRules, Regions, RulesInForce, RulesPublished,
    StatusChanged, YearClosed,
};
use crate::wire::{self, path_id, path_region};

const RULES: Mutation = Mutation {
    method: Method::POST,
    path: "/v1/regions/{region}/rules",
    roles: OPERATOR,
    success: StatusCode::CREATED,
    build: build_rules,
};
const YEAR_END: Mutation = Mutation {
    method: Method::POST,
    path: "/v1/regions/{region}/year-end",
    roles: OPERATOR,
    success: StatusCode::OK,
    build: build_year_end,
};
const INSTITUTION: Mutation = Mutation {
    method: Method::POST,
    path: "/v1/institutions",
    roles: OPERATOR,
    success: StatusCode::CREATED,
    build: build_institution,
};
const PERSON: Mutation = Mutation {
    method: Method::POST,
    path: "/v1/persons",
    roles: OPERATOR,
    success: StatusCode::CREATED,
    build: build_person,
};
const STATUS: Mutation = Mutation {
    method: Method::POST,
    path: "/v1/persons/{person_id}/status",
    roles: OPERATOR,
    success: StatusCode::OK,
    build: build_status,
};

/// The mutating routes of this resource.
pub(crate) const MUTATIONS: &[Mutation] = &[RULES, YEAR_END, INSTITUTION, PERSON, STATUS];

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(get_rules, publish_rules))
        .routes(routes!(get_regions))
        .routes(routes!(close_year))
        .routes(routes!(register_institution))
        .routes(routes!(register_person))
        .routes(routes!(get_person))
        .routes(routes!(set_status))
}

/// Publish a rule set version for a region
#[utoipa::path(post, path = RULES.path, tag = "rules", operation_id = "publishRules",
    description = roles(RULES.roles), params(RegionPath), request_body = wire::RulesBody,
    responses((status = 201, description = "published", body = RulesPublished), TokenErrors, CommandErrors))]
async fn publish_rules(sent: Sent) -> Response {
    sent.write(&RULES).await
}

/// Move every account's current-year balance to historic
#[utoipa::path(post, path = YEAR_END.path, tag = "rules", operation_id = "closeYear",
    description = roles(YEAR_END.roles), params(RegionPath), request_body = wire::YearEndBody,
    responses((status = 200, description = "closed", body = YearClosed), TokenErrors, CommandErrors))]
async fn close_year(sent: Sent) -> Response {
    sent.write(&YEAR_END).await
}

/// Register a hospital or pharmacy
#[utoipa::path(post, path = INSTITUTION.path, tag = "institutions", operation_id = "registerInstitution",
    description = roles(INSTITUTION.roles), request_body = wire::InstitutionBody,
    responses((status = 201, description = "registered", body = InstitutionRegistered), TokenErrors, CommandErrors))]
async fn register_institution(sent: Sent) -> Response {
    sent.write(&INSTITUTION).await
}

/// Register an insured person
#[utoipa::path(post, path = PERSON.path, tag = "persons", operation_id = "registerPerson",
    description = roles(PERSON.roles), request_body = wire::PersonBody,
    responses((status = 201, description = "registered", body = PersonRegistered), TokenErrors, CommandErrors))]
async fn register_person(sent: Sent) -> Response {
    sent.write(&PERSON).await
}

/// Set a person's status
#[utoipa::path(post, path = STATUS.path, tag = "persons", operation_id = "setStatus",
    description = roles(STATUS.roles), params(PersonPath), request_body = wire::StatusBody,
    responses((status = 200, description = "changed", body = StatusChanged),
        TokenErrors, CommandErrors, NotFound, Unprocessable))]
async fn set_status(sent: Sent) -> Response {
    sent.write(&STATUS).await
}

fn build_rules(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { segment: region, bytes, .. } = *item;
    let region = path_region(region)?;
    let body = wire::parse_rules(bytes)?;
    Ok(Request { request_id: body.request_id, command: Command::PublishRules { region, rules: body.rules } })
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
            name: b.name.0,
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
            name: b.name.map(|name| name.0),
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
        command: Command::SetStatus { person_id, status: b.status, reason: b.reason.0 },
    })
}

/// The rule set in force, complete with defaults
#[utoipa::path(get, path = RULES.path, tag = "rules", operation_id = "getRules", description = roles(AUDIT_READ),
    params(RegionPath, ("as_of" = inline(Option<Timestamp>), Query,
        description = "the rule set in force at this time (default now); as_of_seq is refused here")),
    responses((status = 200, description = "the rule set", body = RulesInForce), TokenErrors, BadRequest, NotFound))]
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
            Ok(view.rules_at(&region, now)?.cloned())
        })?;
        let rules = rules.ok_or_else(|| {
            Rejection::new(Code::NotFound, "the region has no rule set in force").with("region", region)
        })?;
        Ok(RulesInForce { region, rules })
    })
}

/// Every region's rule versions (extension of api.md)
///
/// Each region with every rule set version published for it, complete with defaults, in
/// version order: what a side-by-side comparison of two versions reads.
#[utoipa::path(get, path = "/v1/regions", tag = "rules", operation_id = "getRegions", description = roles(AUDIT_READ),
    responses((status = 200, description = "the regions and their rule versions", body = Regions), TokenErrors))]
async fn get_regions(State(app): State<Shared>, headers: HeaderMap) -> Response {
    read(&app, &headers, AUDIT_READ, |_| {
        let regions = durable(&app, |view| {
            let versions = view.rule_versions()?;
            Ok(versions
                .into_iter()
                .map(|(region, versions)| RegionRules { region, versions: versions.to_vec() })
                .collect())
        })?;
        Ok(Regions { regions })
    })
}

/// A person (extension of api.md; the ID number masked)
#[utoipa::path(get, path = "/v1/persons/{person_id}", tag = "persons", operation_id = "getPerson",
    description = roles(PERSON_READ), params(PersonPath),
    responses((status = 200, description = "the person", body = render::Person), TokenErrors, BadRequest, NotFound))]
async fn get_person(State(app): State<Shared>, Segment(person_id): Segment, headers: HeaderMap) -> Response {
    read(&app, &headers, PERSON_READ, |_| {
        let person_id = path_id("person_id", &person_id, PersonId::new)?;
        let person = durable(&app, |view| {
            Ok(view.person(&person_id)?.map(|person| render::Person {
                person_id: person_id.clone(),
                region: person.region,
                scheme: person.scheme,
                status: person.status,
                name: person.name().map(str::to_owned),
                id_number: person.id_number_masked().map(str::to_owned),
            }))
        })?;
        person.ok_or_else(|| Rejection::new(Code::NotFound, "no such person").with("person_id", &person_id))
    })
}

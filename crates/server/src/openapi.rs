//! `/openapi.json`: the OpenAPI document of the contract (api.md), generated from the code.
//!
//! Every route is a handler annotated with `#[utoipa::path]` and routed through
//! `utoipa_axum::routes!`, so a route is in the document exactly when it is in the router. Its
//! request and response bodies are described from their types (`wire`, `render`,
//! `projection::views`, the `domain` types), with the patterns and bounds those types enforce.
//! This module adds what belongs to the document as a whole: its info and tags, the bearer
//! security scheme, the error answers every route shares, and the roles line of a route's
//! description.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoParams, Modify, PartialSchema, ToSchema};

use crate::auth::Role;
use crate::render::ErrorBody;

/// The document's info, tags and security; the paths and their schemas come from the routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Gongji",
        version = "1",
        description = "Gongji (共济): the event-sourced ledger of employee medical-insurance personal \
            accounts and their family mutual aid. Every mutating request carries a `request_id`: the \
            same request again returns the original answer, the same id with another body or route \
            answers 409 idempotency_conflict. Money is a JSON string in yuan; responses always render \
            two decimals. Request bodies are at most 64 KiB and unknown fields are rejected.",
    ),
    tags(
        (name = "operations", description = "Health, readiness, metrics and this document (no token)."),
        (name = "rules", description = "Rule sets and year-end (operator)."),
        (name = "institutions", description = "Designated hospitals and pharmacies (operator)."),
        (name = "persons", description = "Insured persons and their accounts."),
        (name = "bindings", description = "Family bindings and authorizations (channel; review by operator)."),
        (name = "settlements", description = "Settlements, holds and refunds (institution)."),
        (name = "premiums", description = "Resident premiums paid from a personal account (channel)."),
        (name = "batches", description = "Many mutating requests in one round trip (any role)."),
        (name = "audit", description = "The event log and its verification (auditor, operator)."),
        (name = "admin", description = "Online projection rebuilds (operator; status also auditor)."),
        (name = "session", description = "Who a token is (any role)."),
    ),
    security(("bearerAuth" = [])),
    modifiers(&Shared),
)]
pub(crate) struct Api;

/// The bearer scheme and the error answers, added to the document's components.
struct Shared;

impl Modify for Shared {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token of the tokens file; its role (operator, channel, institution, auditor) \
                         decides what it may do.",
                    ))
                    .build(),
            ),
        );
        for (_, name, description) in ERRORS {
            let content =
                ContentBuilder::new().schema(Some(Ref::from_schema_name(ErrorBody::name()))).build();
            let response =
                ResponseBuilder::new().description(*description).content("application/json", content);
            components.responses.insert((*name).to_owned(), response.build().into());
        }
        let mut schemas = vec![(ErrorBody::name().into_owned(), ErrorBody::schema())];
        ErrorBody::schemas(&mut schemas);
        components.schemas.extend(schemas);
    }
}

/// Every error status a route may answer, as a reusable response with the error body.
const ERRORS: &[(u16, &str, &str)] = &[
    (
        400,
        "BadRequest",
        "invalid_request: the shape, a type, an unknown field, a bad id or amount, a bad query",
    ),
    (401, "Unauthorized", "unauthorized: no token or an unknown one"),
    (403, "Forbidden", "forbidden: the token's role may not do this, or an institution acts for another"),
    (404, "NotFound", "not_found: something named does not exist"),
    (
        409,
        "Conflict",
        "idempotency_conflict, already_exists, binding_exists, binding_not_pending, premium_already_paid, \
         rule_version_not_newer, year_already_closed, settlement_not_held, status_unchanged",
    ),
    (413, "PayloadTooLarge", "payload_too_large: the body is larger than 64 KiB"),
    (422, "Unprocessable", "a business rejection (api.md §5); the command wrote nothing"),
    (
        503,
        "StorageFailure",
        "storage_failure: the ledger cannot write or read now (its disk, or a replicated log without \
         quorum); the outcome is unknown, the write may have reached the disk (retrying with the same \
         request_id is always safe). not_primary: a write sent to a follower; details.primary names \
         the primary when known",
    ),
];

fn error_references(statuses: &[u16]) -> BTreeMap<String, RefOr<Response>> {
    statuses
        .iter()
        .map(|status| {
            let (_, name, _) =
                ERRORS.iter().find(|(s, _, _)| s == status).expect("a documented error status");
            (status.to_string(), Ref::from_response_name(*name).into())
        })
        .collect()
}

macro_rules! errors {
    ($($(#[$doc:meta])* $name:ident = [$($status:literal),+];)*) => {$(
        $(#[$doc])*
        pub(crate) struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                error_references(&[$($status),+])
            }
        }
    )*};
}

errors! {
    /// A route that needs a token: none or an unknown one (401), another role (403).
    TokenErrors = [401, 403];
    /// A mutating request: its shape (400), its `request_id` used with another body or route
    /// (409), its size (413), a ledger that cannot write (503).
    CommandErrors = [400, 409, 413, 503];
    /// A path segment or a query that may be malformed.
    BadRequest = [400];
    NotFound = [404];
    Conflict = [409];
    Unprocessable = [422];
    StorageFailure = [503];
    /// A batch refused whole: its own shape (400) or size (413).
    BatchErrors = [400, 413];
}

/// The description of a route: who may call it.
pub(crate) fn roles(roles: &[Role]) -> String {
    let names: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
    format!("Roles: {}.", names.join(", "))
}

// ---- path parameters ------------------------------------------------------------------------

/// `{region}`: six digits (else 400).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct RegionPath {
    #[param(inline, example = "210100")]
    region: domain::Region,
}

/// `{person_id}`: an identifier (else 400).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct PersonPath {
    #[param(inline, example = "P1")]
    person_id: domain::PersonId,
}

/// `{binding_id}`: an identifier (else 400).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct BindingPath {
    #[param(inline, example = "B1")]
    binding_id: domain::BindingId,
}

/// `{settlement_id}`: an identifier (else 400).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct SettlementPath {
    #[param(inline, example = "S1")]
    settlement_id: domain::SettlementId,
}

// ---- the document ---------------------------------------------------------------------------

/// The whole document, as JSON (built once).
pub fn document() -> &'static serde_json::Value {
    static DOCUMENT: OnceLock<serde_json::Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let (_, openapi) = crate::routes::api().split_for_parts();
        serde_json::to_value(openapi).expect("the document serializes")
    })
}

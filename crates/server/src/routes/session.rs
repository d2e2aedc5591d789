//! The session: who a token is, so that a client (the console) shows only what its role may do.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::batch::ANY_ROLE;
use super::{read, Shared};
use crate::openapi::{roles, TokenErrors};
use crate::render::Session;

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(get_session))
}

/// Who the token is (extension of api.md)
///
/// The token's role and, for an institution, the institution it acts for. An unknown token is
/// 401, like everywhere.
#[utoipa::path(get, path = "/v1/session", tag = "session", operation_id = "getSession",
    description = roles(ANY_ROLE),
    responses((status = 200, description = "the caller", body = Session), TokenErrors))]
async fn get_session(State(app): State<Shared>, headers: HeaderMap) -> Response {
    read(&app, &headers, ANY_ROLE, |principal| {
        Ok(Session { role: principal.role, institution: principal.institution.clone() })
    })
}

//! Premiums: a relative's resident-insurance premium paid from an employee's account.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use domain::{Command, Rejection, Request};

use super::{Item, Mutation, Sent, Shared, CHANNEL};
use crate::openapi::{roles, CommandErrors, NotFound, TokenErrors, Unprocessable};
use crate::render::PremiumPaid;
use crate::wire::{self};

const PREMIUM: Mutation = Mutation {
    method: Method::POST,
    path: "/v1/premiums",
    roles: CHANNEL,
    success: StatusCode::CREATED,
    build: build_premium,
};

/// The mutating routes of this resource.
pub(crate) const MUTATIONS: &[Mutation] = &[PREMIUM];

/// The routes of this resource.
pub(crate) fn routes() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(pay_premium))
}

/// Pay a relative's resident premium from a personal account
#[utoipa::path(post, path = PREMIUM.path, tag = "premiums", operation_id = "payPremium",
    description = roles(PREMIUM.roles), request_body = wire::PremiumBody,
    responses((status = 201, description = "paid", body = PremiumPaid),
        TokenErrors, CommandErrors, NotFound, Unprocessable))]
async fn pay_premium(sent: Sent) -> Response {
    sent.write(&PREMIUM).await
}

fn build_premium(item: &Item<'_>) -> Result<Request, Rejection> {
    let Item { bytes, .. } = *item;
    let b: wire::PremiumBody = wire::parse(bytes)?;
    Ok(Request {
        request_id: b.request_id,
        command: Command::PayPremium {
            payer: b.payer,
            beneficiary: b.beneficiary,
            year: b.year,
            amount: b.amount.0,
        },
    })
}

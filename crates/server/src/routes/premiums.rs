//! Premiums: a relative's resident-insurance premium paid from an employee's account.

use axum::http::Method;

use domain::{Command, Rejection, Request};

use super::{Item, Mutation, CHANNEL};
use crate::wire::{self};

/// The mutating routes of this resource.
pub(crate) const MUTATIONS: &[Mutation] = &[Mutation {
    method: Method::POST,
    path: "/v1/premiums",
    roles: CHANNEL,
    created: true,
    build: build_premium,
}];

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

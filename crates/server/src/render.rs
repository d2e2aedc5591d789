//! Success responses, rendered from the events a request wrote. Because they depend only on
//! those events (and on facts that never change afterwards), a replayed request renders the
//! same bytes as the first answer.

use serde_json::{json, Value};

use domain::{BindingId, Charge, Event, PersonId, Relation};
use engine::Recorded;
use projection::SplitView;

/// Whom a binding joins and how: (authorizer, beneficiary, relation).
pub type Parties = (PersonId, PersonId, Relation);

/// The body of a committed request's answer. `parties` names whom a binding joins (it never
/// changes once requested).
pub fn committed(events: &[Recorded], parties: impl FnOnce(&BindingId) -> Option<Parties>) -> Value {
    let first = events.first().expect("a committed request wrote at least one event");
    let seq = events.last().map_or(0, |e| e.seq);
    match &first.event {
        Event::RulesPublished(e) => json!({
            "region": e.region, "version": e.rules.version, "effective_from": e.rules.effective_from, "seq": seq,
        }),
        Event::InstitutionRegistered(e) => json!({
            "institution_id": e.institution_id, "region": e.region, "kind": e.kind, "name": e.name, "seq": seq,
        }),
        Event::PersonRegistered(e) => json!({
            "person_id": e.person_id, "region": e.region, "scheme": e.scheme, "status": "active", "seq": seq,
        }),
        Event::PersonStatusChanged(e) => json!({
            "person_id": e.person_id, "status": e.status, "ended_bindings": events.len() - 1, "seq": seq,
        }),
        Event::Credited(e) => json!({
            "person_id": e.person_id,
            "current": e.balance.current,
            "historic": e.balance.historic,
            "held": e.balance.held,
            "available": e.balance.available(),
            "seq": seq,
        }),
        Event::YearClosed(e) => json!({
            "region": e.region, "year": e.year, "accounts": e.accounts, "moved": e.moved, "seq": seq,
        }),
        Event::BindingRequested(e) => json!({
            "binding_id": e.binding_id,
            "authorizer": e.authorizer,
            "beneficiary": e.beneficiary,
            "relation": e.relation,
            "status": e.status,
            "seq": seq,
        }),
        Event::BindingApproved(e) => json!({"binding_id": e.binding_id, "status": "active", "seq": seq}),
        Event::BindingRejected(e) => json!({"binding_id": e.binding_id, "status": "rejected", "seq": seq}),
        Event::BindingRevoked(e) => json!({"binding_id": e.binding_id, "status": "revoked", "seq": seq}),
        Event::AuthorizationSet(e) => {
            // Who the binding joins never changes; at the time of authorization it was active.
            let (authorizer, beneficiary, relation) =
                parties(&e.binding_id).expect("an authorized binding exists");
            json!({
                "binding_id": e.binding_id,
                "authorizer": authorizer,
                "beneficiary": beneficiary,
                "relation": relation,
                "status": "active",
                "priority": e.priority,
                "monthly_limit": e.monthly_limit,
                "annual_limit": e.annual_limit,
                "used_month": e.used_month,
                "used_year": e.used_year,
                "seq": seq,
            })
        }
        Event::Settled(charge) => charge_body(charge, "settled", Some(seq)),
        Event::Held(charge) => charge_body(charge, "held", Some(seq)),
        Event::Captured(e) => json!({
            "settlement_id": e.settlement_id,
            "status": "settled",
            "captured": e.amount,
            "splits": SplitView::of(&e.draws),
            "out_of_pocket": e.out_of_pocket,
            "released": domain::Money::sum(e.released.iter().map(|d| d.amount)),
            "seq": seq,
        }),
        Event::Voided(e) => json!({
            "settlement_id": e.settlement_id,
            "status": "voided",
            "released": domain::Money::sum(e.released.iter().map(|d| d.amount)),
            "seq": seq,
        }),
        Event::Refunded(e) => json!({
            "refund_id": e.refund_id,
            "settlement_id": e.settlement_id,
            "amount": e.amount,
            "splits": SplitView::of(&e.returns),
            "out_of_pocket": e.out_of_pocket,
            "seq": seq,
        }),
        Event::PremiumPaid(e) => json!({
            "payer": e.payer,
            "beneficiary": e.beneficiary,
            "year": e.year,
            "amount": e.amount,
            "splits": SplitView::of(&e.draws),
            "seq": seq,
        }),
        Event::BindingEnded(_) | Event::Expired(_) => {
            unreachable!("no request begins with {}", first.event.kind())
        }
    }
}

/// A settlement's answer; a preview has no `seq`.
pub fn charge_body(charge: &Charge, status: &str, seq: Option<u64>) -> Value {
    let mut body = json!({
        "settlement_id": charge.settlement_id,
        "status": status,
        "amount": charge.amount,
        "splits": SplitView::of(&charge.draws),
        "out_of_pocket": charge.out_of_pocket,
        "rule_version": charge.rule_version,
        "explain": charge.explain,
    });
    if let Some(seq) = seq {
        body["seq"] = json!(seq);
    }
    if let Some(expires_at) = charge.expires_at {
        body["expires_at"] = json!(expires_at);
    }
    body
}

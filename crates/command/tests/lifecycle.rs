//! The ends of a binding's review and of a hold that the other suites only pass through: a
//! binding rejected (and what it may no longer do), and a hold that expires (and what it gives
//! back).

mod common;

use command::SettlementStatus;
use common::given::Given;
use domain::{BindingId, BindingStatus, Code, Event, SettlementId};
use serde_json::json;

fn binding_status(given: &Given, binding: &str) -> BindingStatus {
    let id = BindingId::from_number(binding.trim_start_matches('B').parse().unwrap());
    given.state.binding(&id).expect("the binding exists").status
}

fn settlement_status(given: &Given, settlement: &str) -> SettlementStatus {
    given.state.settlements[&SettlementId::new(settlement).unwrap()].status
}

/// P1, an employee with 100.00 current, and C1, a resident, bound as parent and child with
/// review required, pending.
fn pending_binding() -> (Given, String) {
    let mut given = Given::new();
    given.rules(json!({"auto_approve": false}));
    given.employee("P1", "100.00", "0.00");
    given.person("C1", "resident");
    let binding = given.bind("P1", "C1");
    assert_eq!(binding_status(&given, &binding), BindingStatus::Pending);
    (given, binding)
}

// Proves a pending binding is rejected with its reason recorded, is then neither approved nor
// rejected again (binding_not_pending), draws nothing for the beneficiary, and leaves the pair
// free to ask again.
#[test]
fn a_rejected_binding_ends_its_review() {
    let (mut given, binding) = pending_binding();
    let events = given.ok(json!({"command": "reject_binding", "binding_id": binding, "reason": "no proof"}));
    match &events[..] {
        [Event::BindingRejected(reviewed)] => {
            assert_eq!(reviewed.binding_id.as_str(), binding);
            assert_eq!(reviewed.reason.as_deref(), Some("no proof"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(binding_status(&given, &binding), BindingStatus::Rejected);
    let again = json!({"command": "reject_binding", "binding_id": binding, "reason": "again"});
    assert_eq!(given.outcome(again), Err(Code::BindingNotPending));
    let approve = json!({"command": "approve_binding", "binding_id": binding});
    assert_eq!(given.outcome(approve), Err(Code::BindingNotPending));
    let authorize = json!({"command": "authorize", "binding_id": binding, "priority": null,
        "monthly_limit": null, "annual_limit": null});
    assert_eq!(given.outcome(authorize), Err(Code::BindingNotActive));

    // The beneficiary's bill is paid out of pocket: the rejected binding draws nothing.
    let charge = given.settle("S1", "C1", "pharmacy", "30.00");
    assert_eq!(charge["draws"], json!([]));
    assert_eq!(charge["out_of_pocket"], json!("30.00"));
    assert_eq!(given.available("P1"), "100.00");

    // The pair may ask again; the new request is a binding of its own.
    let second = given.bind("P1", "C1");
    assert_ne!(second, binding);
    assert_eq!(binding_status(&given, &second), BindingStatus::Pending);
}

// Proves only a pending binding is rejected: an active one is binding_not_pending, an unknown
// one not_found, and a reason must be given.
#[test]
fn only_a_pending_binding_is_rejected() {
    let (mut given, binding) = pending_binding();
    let unknown = json!({"command": "reject_binding", "binding_id": "B999", "reason": "r"});
    assert_eq!(given.outcome(unknown), Err(Code::NotFound));
    let no_reason = json!({"command": "reject_binding", "binding_id": binding, "reason": ""});
    assert_eq!(given.outcome(no_reason), Err(Code::InvalidRequest));
    given.ok(json!({"command": "approve_binding", "binding_id": binding}));
    let active = json!({"command": "reject_binding", "binding_id": binding, "reason": "late"});
    assert_eq!(given.outcome(active), Err(Code::BindingNotPending));
    assert_eq!(binding_status(&given, &binding), BindingStatus::Active);
}

// Proves a hold expires only once its timeout (30 minutes by default) has passed; then every
// held fen goes back where it was held, the settlement is expired, and it can be neither
// captured, voided nor expired again.
#[test]
fn a_hold_expires_after_its_timeout_and_gives_everything_back() {
    let mut given = Given::new();
    given.employee("P1", "100.00", "20.00");
    given.hold("S1", "P1", "pharmacy", "110.00");
    assert_eq!(given.available("P1"), "10.00");
    assert_eq!(settlement_status(&given, "S1"), SettlementStatus::Held);

    let expire = json!({"command": "expire", "settlement_id": "S1"});
    given.now = given.now.plus_micros(29 * 60 * 1_000_000);
    assert_eq!(given.outcome(expire.clone()), Err(Code::SettlementNotHeld), "29 minutes: not yet");

    given.now = given.now.plus_micros(60 * 1_000_000);
    let released = given.event(expire.clone());
    assert_eq!(released["released"], json!(["P1 own current 100.00", "P1 own historic 10.00"]));
    assert_eq!(settlement_status(&given, "S1"), SettlementStatus::Expired);
    assert_eq!(
        given.balance("P1"),
        json!({"current": "100.00", "historic": "20.00", "held_current": "0.00", "held_historic": "0.00"})
    );
    assert_eq!(given.available("P1"), "120.00");

    assert_eq!(given.outcome(expire), Err(Code::SettlementNotHeld));
    let capture = json!({"command": "capture", "settlement_id": "S1", "amount": null});
    assert_eq!(given.outcome(capture), Err(Code::SettlementNotHeld));
    let void = json!({"command": "void", "settlement_id": "S1"});
    assert_eq!(given.outcome(void), Err(Code::SettlementNotHeld));
}

// Proves what is not a hold does not expire: a settled bill (settlement_not_held) and an
// unknown settlement (not_found).
#[test]
fn only_a_hold_expires() {
    let mut given = Given::new();
    given.employee("P1", "100.00", "0.00");
    given.settle("S1", "P1", "pharmacy", "10.00");
    given.now = given.now.plus_micros(24 * 3600 * 1_000_000);
    let settled = json!({"command": "expire", "settlement_id": "S1"});
    assert_eq!(given.outcome(settled), Err(Code::SettlementNotHeld));
    let unknown = json!({"command": "expire", "settlement_id": "S404"});
    assert_eq!(given.outcome(unknown), Err(Code::NotFound));
    assert_eq!(settlement_status(&given, "S1"), SettlementStatus::Settled);
}

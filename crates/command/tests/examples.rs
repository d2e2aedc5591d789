//! The worked examples of domain.md §7, decided by the pure core: given events, when a
//! command, then the events (splits and `explain`) or the rejection.

mod common;

use common::given::{splits, Given};
use common::{premium, ts as at};
use domain::Event;
use serde_json::{json, Value};

/// A settlement as domain.md §7 gives it: its splits, out of pocket and `explain` (not the draws by
/// bucket, which explain.rs asserts).
fn as_in_the_spec(mut charge: Value) -> Value {
    charge.as_object_mut().unwrap().remove("draws");
    charge
}

// Proves example 1: P1 (historic 500.00) pays C's 80.00 of medicine; P1 has 420.00 left.
#[test]
fn example_1_parent_pays_for_child() {
    let mut g = Given::new();
    g.person("P1", "employee");
    g.person("C", "resident");
    g.credit("P1", "500.00", "historic");
    g.bind("P1", "C");
    let split = as_in_the_spec(g.settle("S1", "C", "pharmacy", "80.00"));
    assert_eq!(
        split,
        json!({
            "splits": [{"account": "P1", "source": "family", "amount": "80.00"}],
            "out_of_pocket": "0.00",
            "explain": [{"account": "P1", "source": "family", "paid": "80.00"}],
        })
    );
    assert_eq!(g.available("P1"), "420.00");
}

// Proves example 2: B's own 30.00 first, then P1's family money for the rest.
#[test]
fn example_2_own_account_first() {
    let mut g = Given::new();
    g.person("P1", "employee");
    g.person("B", "employee");
    g.credit("P1", "500.00", "historic");
    g.credit("B", "30.00", "current");
    g.bind_as("P1", "B", "spouse");
    let split = as_in_the_spec(g.settle("S1", "B", "outpatient", "100.00"));
    assert_eq!(
        split,
        json!({
            "splits": [{"account": "B", "source": "own", "amount": "30.00"}, {"account": "P1", "source": "family", "amount": "70.00"}],
            "out_of_pocket": "0.00",
            "explain": [
                {"account": "B", "source": "own", "paid": "30.00", "reason": "own_balance_exhausted"},
                {"account": "P1", "source": "family", "paid": "70.00"},
            ],
        })
    );
}

// Proves example 3: inpatient is not for family here, so C pays all out of pocket.
#[test]
fn example_3_inpatient_not_for_family() {
    let mut g = Given::new();
    g.person("P1", "employee");
    g.person("C", "resident");
    g.credit("P1", "500.00", "historic");
    g.bind("P1", "C");
    let split = as_in_the_spec(g.settle("S1", "C", "inpatient", "200.00"));
    assert_eq!(
        split,
        json!({
            "splits": [],
            "out_of_pocket": "200.00",
            "explain": [{"account": null, "source": "family", "paid": "0.00", "reason": "category_not_for_family"}],
        })
    );
}

// Proves example 4: priorities order the family accounts; with one account per settlement the
// second is skipped as already used.
#[test]
fn example_4_priorities_and_one_account() {
    for one in [false, true] {
        let mut g = Given::new();
        if one {
            g.rules(json!({"family_accounts_per_settlement": 1}));
        }
        g.person("P1", "employee");
        g.person("M", "employee");
        g.person("C", "resident");
        g.credit("P1", "50.00", "historic");
        g.credit("M", "20.00", "historic");
        let p1 = g.bind("P1", "C");
        let m = g.bind("M", "C");
        g.authorize(&p1, Some(2), None, None);
        g.authorize(&m, Some(1), None, None);
        let split = as_in_the_spec(g.settle("S1", "C", "pharmacy", "60.00"));
        let expected = if one {
            json!({
                "splits": [{"account": "M", "source": "family", "amount": "20.00"}],
                "out_of_pocket": "40.00",
                "explain": [
                    {"account": "M", "source": "family", "paid": "20.00", "reason": "family_balance_exhausted"},
                    {"account": "P1", "source": "family", "paid": "0.00", "reason": "family_account_already_used"},
                ],
            })
        } else {
            json!({
                "splits": [{"account": "M", "source": "family", "amount": "20.00"}, {"account": "P1", "source": "family", "amount": "40.00"}],
                "out_of_pocket": "0.00",
                "explain": [
                    {"account": "M", "source": "family", "paid": "20.00", "reason": "family_balance_exhausted"},
                    {"account": "P1", "source": "family", "paid": "40.00"},
                ],
            })
        };
        assert_eq!(split, expected, "family_accounts_per_settlement one = {one}");
    }
}

// Proves example 5: a monthly limit caps family money, and the 1st of the next month (+08:00)
// opens the window again.
#[test]
fn example_5_monthly_limit_and_the_next_month() {
    let mut g = Given::new();
    g.now = at("2026-03-31T10:00:00+08:00");
    g.person("P1", "employee");
    g.person("C", "resident");
    g.credit("P1", "500.00", "historic");
    let b = g.bind("P1", "C");
    g.authorize(&b, None, Some("50.00"), None);
    let first = g.settle("S1", "C", "pharmacy", "80.00");
    assert_eq!(first["out_of_pocket"], json!("30.00"));
    assert_eq!(
        first["explain"],
        json!([{"account": "P1", "source": "family", "paid": "50.00", "reason": "monthly_limit_reached"}])
    );
    let second = g.settle("S2", "C", "pharmacy", "10.00");
    assert_eq!(second["out_of_pocket"], json!("10.00"));
    assert_eq!(
        second["explain"],
        json!([{"account": "P1", "source": "family", "paid": "0.00", "reason": "monthly_limit_reached"}])
    );
    // 2026-04-01T00:00 +08:00 is still March 31st in UTC.
    g.now = at("2026-03-31T16:00:00Z");
    let third = g.settle("S3", "C", "pharmacy", "10.00");
    assert_eq!(third["splits"], json!([{"account": "P1", "source": "family", "amount": "10.00"}]));
}

// Proves example 6: a refund of 30.00 of a 100.00 settlement (own 20 / family 50 / cash 30):
// reverse returns the cash first; pro_rata returns 6 / 15 / 9.
#[test]
fn example_6_refund_orders() {
    for (order, expected) in [
        ("reverse", json!({"returns": [], "out_of_pocket": "30.00"})),
        (
            "pro_rata",
            json!({"returns": [{"account": "B", "source": "own", "amount": "6.00"}, {"account": "P1", "source": "family", "amount": "15.00"}], "out_of_pocket": "9.00"}),
        ),
    ] {
        let mut g = Given::new();
        g.rules(json!({"refund_order": order}));
        g.person("P1", "employee");
        g.person("B", "employee");
        g.credit("P1", "50.00", "historic");
        g.credit("B", "20.00", "current");
        g.bind_as("P1", "B", "spouse");
        let split = as_in_the_spec(g.settle("S1", "B", "outpatient", "100.00"));
        assert_eq!(split["out_of_pocket"], json!("30.00"));
        let events = g.ok(json!({"command": "refund", "settlement_id": "S1", "refund_id": "R1", "amount": "30.00", "reason": "returned"}));
        let Event::Refunded(refund) = &events[0] else { panic!("{events:?}") };
        let returns = splits(&refund.returns);
        assert_eq!(json!({"returns": returns, "out_of_pocket": refund.out_of_pocket}), expected, "{order}");
    }
}

// Proves example 7: a premium paid once per relative and year, and at most 12 relatives a year.
#[test]
fn example_7_premiums() {
    let mut g = Given::new();
    g.person("P1", "employee");
    g.credit("P1", "10000.00", "historic");
    for n in 0..13 {
        let relative = format!("C{n}");
        g.person(&relative, "resident");
        g.bind("P1", &relative);
    }
    let pay = |who: &str| premium("P1", who, 2026, "400.00");
    let events = g.ok(pay("C0"));
    assert!(matches!(&events[0], Event::PremiumPaid(p) if p.amount.to_string() == "400.00"));
    assert_eq!(g.when(pay("C0")).unwrap_err().code, domain::Code::PremiumAlreadyPaid);
    for n in 1..12 {
        g.ok(pay(&format!("C{n}")));
    }
    assert_eq!(g.when(pay("C12")).unwrap_err().code, domain::Code::PremiumRelativesLimitReached);
    assert_eq!(g.available("P1"), "5200.00");
}

// Proves a rolling monthly limit holds in every 30-day window a charge lies in: a charge
// backdated before one already counted draws only what that window still has room for.
#[test]
fn rolling_limit_holds_for_backdated_charges() {
    let mut g = Given::new();
    g.rules(json!({"limit_window": "rolling"}));
    g.person("P1", "employee");
    g.person("C", "resident");
    g.credit("P1", "500.00", "historic");
    let b = g.bind("P1", "C");
    g.authorize(&b, None, Some("50.00"), None);
    let first = g.settle("S1", "C", "pharmacy", "30.00");
    assert_eq!(first["splits"], json!([{"account": "P1", "source": "family", "amount": "30.00"}]));
    // Ten days back: the window (S2 − 30 days, S2] does not hold S1, but the window ending at
    // S1 holds both, so only 20.00 of room is left.
    let events = g.ok(json!({"command": "settle", "settlement_id": "S2", "institution": "PH1",
        "beneficiary": "C", "category": "pharmacy", "amount": "30.00",
        "occurred_at": "2026-02-28T10:00:00+08:00", "mode": "settle"}));
    let Event::Settled(charge) = &events[0] else { panic!("{events:?}") };
    assert_eq!(charge.out_of_pocket.to_string(), "10.00");
    assert_eq!(
        serde_json::to_value(&charge.explain).unwrap(),
        json!([{"account": "P1", "source": "family", "paid": "20.00", "reason": "monthly_limit_reached"}])
    );
}

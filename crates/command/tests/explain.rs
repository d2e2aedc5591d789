//! The settlement `explain` and the money paths around it, decided by the pure core: every
//! reason code of domain.md §3 and the tie-break rules of §8, the drawing orders, holds and
//! their captures, year-ends, refund rounding and premiums. Each scenario asserts the exact
//! draws, splits and `explain` the spec gives.

mod common;

use common::given::{lines, Given};
use common::{premium, settle, ts};
use domain::{Code, Event};
use serde_json::{json, Value};

/// A setup step of a table: builds the history a case settles on.
type Setup = fn(&mut Given);

// Proves every reason code of domain.md §3 appears where the spec puts it, with the exact
// split and the exact `explain` (§8 shape), each from the smallest history that leads to it.
#[test]
fn every_reason() {
    let cases: Vec<(&str, Setup, &str, &str, &str, Value)> = vec![
        (
            "category_not_for_own: an employee with money, the category only for family",
            |g| {
                g.rules(json!({"own_categories": ["outpatient", "chronic_outpatient", "medical_device",
                    "medical_consumable", "inpatient"]}));
                g.employee("B", "30.00", "0.00");
                g.employee("P1", "0.00", "500.00");
                g.bind("P1", "B");
            },
            "B",
            "pharmacy",
            "50.00",
            json!({
                "draws": ["P1 family historic 50.00 B1"],
                "splits": [{"account": "P1", "source": "family", "amount": "50.00"}],
                "out_of_pocket": "0.00",
                "explain": [
                    {"account": "B", "source": "own", "paid": "0.00", "reason": "category_not_for_own"},
                    {"account": "P1", "source": "family", "paid": "50.00"},
                ],
            }),
        ),
        (
            "own_balance_exhausted: own current then historic, then family",
            |g| {
                g.employee("B", "30.00", "20.00");
                g.employee("P1", "0.00", "500.00");
                g.bind("P1", "B");
            },
            "B",
            "outpatient",
            "100.00",
            json!({
                "draws": ["B own current 30.00", "B own historic 20.00", "P1 family historic 50.00 B1"],
                "splits": [{"account": "B", "source": "own", "amount": "50.00"},
                    {"account": "P1", "source": "family", "amount": "50.00"}],
                "out_of_pocket": "0.00",
                "explain": [
                    {"account": "B", "source": "own", "paid": "50.00", "reason": "own_balance_exhausted"},
                    {"account": "P1", "source": "family", "paid": "50.00"},
                ],
            }),
        ),
        (
            "authorizer_suspended: the binding stays but is skipped",
            |g| {
                g.person("C", "resident");
                g.employee("P1", "0.00", "100.00");
                g.employee("M", "0.00", "100.00");
                g.bind("P1", "C");
                g.bind("M", "C");
                g.status("P1", "suspended");
            },
            "C",
            "pharmacy",
            "60.00",
            json!({
                "draws": ["M family historic 60.00 B2"],
                "splits": [{"account": "M", "source": "family", "amount": "60.00"}],
                "out_of_pocket": "0.00",
                "explain": [
                    {"account": "P1", "source": "family", "paid": "0.00", "reason": "authorizer_suspended"},
                    {"account": "M", "source": "family", "paid": "60.00"},
                ],
            }),
        ),
        (
            "authorizer_terminated: the termination ended the binding",
            |g| {
                g.person("C", "resident");
                g.employee("P1", "0.00", "100.00");
                g.bind("P1", "C");
                g.status("P1", "terminated");
            },
            "C",
            "pharmacy",
            "60.00",
            json!({
                "draws": [],
                "splits": [],
                "out_of_pocket": "60.00",
                "explain": [{"account": "P1", "source": "family", "paid": "0.00", "reason": "authorizer_terminated"}],
            }),
        ),
        (
            "binding_revoked",
            |g| {
                g.person("C", "resident");
                g.employee("P1", "0.00", "100.00");
                let b = g.bind("P1", "C");
                g.revoke(&b);
            },
            "C",
            "pharmacy",
            "60.00",
            json!({
                "draws": [],
                "splits": [],
                "out_of_pocket": "60.00",
                "explain": [{"account": "P1", "source": "family", "paid": "0.00", "reason": "binding_revoked"}],
            }),
        ),
        (
            "bucket_not_for_family: family draws historic only, the money is in current",
            |g| {
                g.rules(json!({"family_buckets": ["historic"]}));
                g.person("C", "resident");
                g.employee("P1", "100.00", "0.00");
                g.bind("P1", "C");
            },
            "C",
            "pharmacy",
            "60.00",
            json!({
                "draws": [],
                "splits": [],
                "out_of_pocket": "60.00",
                "explain": [{"account": "P1", "source": "family", "paid": "0.00", "reason": "bucket_not_for_family"}],
            }),
        ),
        (
            "family_balance_exhausted: historic then current by the default family_buckets",
            |g| {
                g.person("C", "resident");
                g.employee("P1", "10.00", "20.00");
                g.bind("P1", "C");
            },
            "C",
            "pharmacy",
            "50.00",
            json!({
                "draws": ["P1 family historic 20.00 B1", "P1 family current 10.00 B1"],
                "splits": [{"account": "P1", "source": "family", "amount": "30.00"}],
                "out_of_pocket": "20.00",
                "explain": [{"account": "P1", "source": "family", "paid": "30.00", "reason": "family_balance_exhausted"}],
            }),
        ),
        (
            "monthly_limit_reached",
            |g| {
                g.person("C", "resident");
                g.employee("P1", "0.00", "500.00");
                let b = g.bind("P1", "C");
                g.authorize(&b, None, Some("40.00"), None);
            },
            "C",
            "pharmacy",
            "50.00",
            json!({
                "draws": ["P1 family historic 40.00 B1"],
                "splits": [{"account": "P1", "source": "family", "amount": "40.00"}],
                "out_of_pocket": "10.00",
                "explain": [{"account": "P1", "source": "family", "paid": "40.00", "reason": "monthly_limit_reached"}],
            }),
        ),
        (
            "annual_limit_reached",
            |g| {
                g.person("C", "resident");
                g.employee("P1", "0.00", "500.00");
                let b = g.bind("P1", "C");
                g.authorize(&b, None, None, Some("40.00"));
            },
            "C",
            "pharmacy",
            "50.00",
            json!({
                "draws": ["P1 family historic 40.00 B1"],
                "splits": [{"account": "P1", "source": "family", "amount": "40.00"}],
                "out_of_pocket": "10.00",
                "explain": [{"account": "P1", "source": "family", "paid": "40.00", "reason": "annual_limit_reached"}],
            }),
        ),
        (
            "family_account_already_used: one family account per settlement",
            |g| {
                g.rules(json!({"family_accounts_per_settlement": 1}));
                g.person("C", "resident");
                g.employee("P1", "0.00", "10.00");
                g.employee("M", "0.00", "100.00");
                g.bind("P1", "C");
                g.bind("M", "C");
            },
            "C",
            "pharmacy",
            "50.00",
            json!({
                "draws": ["P1 family historic 10.00 B1"],
                "splits": [{"account": "P1", "source": "family", "amount": "10.00"}],
                "out_of_pocket": "40.00",
                "explain": [
                    {"account": "P1", "source": "family", "paid": "10.00", "reason": "family_balance_exhausted"},
                    {"account": "M", "source": "family", "paid": "0.00", "reason": "family_account_already_used"},
                ],
            }),
        ),
        (
            "no_binding: a resident bound to nobody",
            |g| g.person("C", "resident"),
            "C",
            "pharmacy",
            "30.00",
            json!({
                "draws": [],
                "splits": [],
                "out_of_pocket": "30.00",
                "explain": [{"account": null, "source": "family", "paid": "0.00", "reason": "no_binding"}],
            }),
        ),
        (
            "no_binding: after the own account of an employee bound to nobody",
            |g| g.employee("B", "20.00", "0.00"),
            "B",
            "outpatient",
            "30.00",
            json!({
                "draws": ["B own current 20.00"],
                "splits": [{"account": "B", "source": "own", "amount": "20.00"}],
                "out_of_pocket": "10.00",
                "explain": [
                    {"account": "B", "source": "own", "paid": "20.00", "reason": "own_balance_exhausted"},
                    {"account": null, "source": "family", "paid": "0.00", "reason": "no_binding"},
                ],
            }),
        ),
        (
            "no_binding: a pending binding was never active",
            |g| {
                g.rules(json!({"auto_approve": false}));
                g.person("C", "resident");
                g.employee("P1", "0.00", "100.00");
                g.bind("P1", "C");
            },
            "C",
            "pharmacy",
            "30.00",
            json!({
                "draws": [],
                "splits": [],
                "out_of_pocket": "30.00",
                "explain": [{"account": null, "source": "family", "paid": "0.00", "reason": "no_binding"}],
            }),
        ),
        (
            "no_binding: a binding revoked while pending was never active",
            |g| {
                g.rules(json!({"auto_approve": false}));
                g.person("C", "resident");
                g.employee("P1", "0.00", "100.00");
                let b = g.bind("P1", "C");
                g.revoke(&b);
            },
            "C",
            "pharmacy",
            "30.00",
            json!({
                "draws": [],
                "splits": [],
                "out_of_pocket": "30.00",
                "explain": [{"account": null, "source": "family", "paid": "0.00", "reason": "no_binding"}],
            }),
        ),
        (
            "category_not_for_family: one null-account entry, the binding not listed",
            |g| {
                g.employee("B", "50.00", "0.00");
                g.employee("P1", "0.00", "500.00");
                g.bind("P1", "B");
            },
            "B",
            "inpatient",
            "200.00",
            json!({
                "draws": ["B own current 50.00"],
                "splits": [{"account": "B", "source": "own", "amount": "50.00"}],
                "out_of_pocket": "150.00",
                "explain": [
                    {"account": "B", "source": "own", "paid": "50.00", "reason": "own_balance_exhausted"},
                    {"account": null, "source": "family", "paid": "0.00", "reason": "category_not_for_family"},
                ],
            }),
        ),
    ];
    for (name, setup, beneficiary, category, amount, expected) in cases {
        let mut g = Given::new();
        setup(&mut g);
        assert_eq!(g.settle("S1", beneficiary, category, amount), expected, "{name}");
    }
}

// Proves ended bindings are listed after the family step, in the order they ended (not the
// order they were made), only while money is still owed.
#[test]
fn ended_bindings_follow_the_family_step_in_the_order_they_ended() {
    let mut g = Given::new();
    g.person("C", "resident");
    g.employee("P1", "0.00", "100.00");
    g.employee("M", "0.00", "100.00");
    g.employee("Q", "0.00", "10.00");
    g.bind("P1", "C");
    let m = g.bind("M", "C");
    g.bind("Q", "C");
    g.revoke(&m);
    g.status("P1", "terminated");
    assert_eq!(
        g.settle("S1", "C", "pharmacy", "60.00"),
        json!({
            "draws": ["Q family historic 10.00 B3"],
            "splits": [{"account": "Q", "source": "family", "amount": "10.00"}],
            "out_of_pocket": "50.00",
            "explain": [
                {"account": "Q", "source": "family", "paid": "10.00", "reason": "family_balance_exhausted"},
                {"account": "M", "source": "family", "paid": "0.00", "reason": "binding_revoked"},
                {"account": "P1", "source": "family", "paid": "0.00", "reason": "authorizer_terminated"},
            ],
        })
    );
    // Covered by the active binding: the ended ones are not listed.
    g.credit("Q", "100.00", "historic");
    assert_eq!(
        g.settle("S2", "C", "pharmacy", "20.00")["explain"],
        json!([{"account": "Q", "source": "family", "paid": "20.00"}])
    );
}

// Proves the §8 tie-breaks of reasons: a skipped account is always
// `family_account_already_used`; then a suspended authorizer is always
// `authorizer_suspended`; otherwise the tightest constraint names it, limits win ties, monthly
// before annual.
#[test]
fn reason_tie_breaks() {
    let cases: Vec<(&str, Setup, &str, Value)> = vec![
        (
            "already used wins over a suspended authorizer",
            |g| {
                g.rules(json!({"family_accounts_per_settlement": 1}));
                g.employee("P1", "0.00", "10.00");
                g.employee("M", "0.00", "100.00");
                g.bind("P1", "C");
                g.bind("M", "C");
                g.status("M", "suspended");
            },
            "50.00",
            json!([
                {"account": "P1", "source": "family", "paid": "10.00", "reason": "family_balance_exhausted"},
                {"account": "M", "source": "family", "paid": "0.00", "reason": "family_account_already_used"},
            ]),
        ),
        (
            "already used wins over an empty balance",
            |g| {
                g.rules(json!({"family_accounts_per_settlement": 1}));
                g.employee("P1", "0.00", "10.00");
                g.person("M", "employee");
                g.bind("P1", "C");
                g.bind("M", "C");
            },
            "50.00",
            json!([
                {"account": "P1", "source": "family", "paid": "10.00", "reason": "family_balance_exhausted"},
                {"account": "M", "source": "family", "paid": "0.00", "reason": "family_account_already_used"},
            ]),
        ),
        (
            "already used wins over a reached limit",
            |g| {
                g.rules(json!({"family_accounts_per_settlement": 1}));
                // P1 is empty at first, so M pays S0 up to its monthly limit; then P1 has money.
                g.person("P1", "employee");
                g.employee("M", "0.00", "100.00");
                g.bind("P1", "C");
                let m = g.bind("M", "C");
                g.authorize(&m, None, Some("20.00"), None);
                g.settle("S0", "C", "pharmacy", "30.00");
                g.credit("P1", "10.00", "historic");
            },
            "50.00",
            json!([
                {"account": "P1", "source": "family", "paid": "10.00", "reason": "family_balance_exhausted"},
                {"account": "M", "source": "family", "paid": "0.00", "reason": "family_account_already_used"},
            ]),
        ),
        (
            "an account that paid nothing does not use up the one allowed",
            |g| {
                g.rules(json!({"family_accounts_per_settlement": 1}));
                g.person("P1", "employee");
                g.employee("M", "0.00", "30.00");
                g.employee("Q", "0.00", "100.00");
                g.bind("P1", "C");
                g.bind("M", "C");
                g.bind("Q", "C");
            },
            "50.00",
            json!([
                {"account": "P1", "source": "family", "paid": "0.00", "reason": "family_balance_exhausted"},
                {"account": "M", "source": "family", "paid": "30.00", "reason": "family_balance_exhausted"},
                {"account": "Q", "source": "family", "paid": "0.00", "reason": "family_account_already_used"},
            ]),
        ),
        (
            "suspended wins over an empty balance and a reached limit",
            |g| {
                g.employee("P1", "0.00", "50.00");
                let b = g.bind("P1", "C");
                g.authorize(&b, None, Some("50.00"), Some("50.00"));
                g.settle("S0", "C", "pharmacy", "50.00");
                g.status("P1", "suspended");
            },
            "10.00",
            json!([{"account": "P1", "source": "family", "paid": "0.00", "reason": "authorizer_suspended"}]),
        ),
        (
            "suspended wins over a bucket not for family",
            |g| {
                g.rules(json!({"family_buckets": ["historic"]}));
                g.employee("P1", "100.00", "0.00");
                g.bind("P1", "C");
                g.status("P1", "suspended");
            },
            "10.00",
            json!([{"account": "P1", "source": "family", "paid": "0.00", "reason": "authorizer_suspended"}]),
        ),
        (
            "the balance is tightest",
            |g| {
                g.employee("P1", "0.00", "30.00");
                let b = g.bind("P1", "C");
                g.authorize(&b, None, Some("50.00"), Some("40.00"));
            },
            "60.00",
            json!([{"account": "P1", "source": "family", "paid": "30.00", "reason": "family_balance_exhausted"}]),
        ),
        (
            "the annual limit is tightest",
            |g| {
                g.employee("P1", "0.00", "100.00");
                let b = g.bind("P1", "C");
                g.authorize(&b, None, Some("50.00"), Some("40.00"));
            },
            "60.00",
            json!([{"account": "P1", "source": "family", "paid": "40.00", "reason": "annual_limit_reached"}]),
        ),
        (
            "the monthly limit is tightest",
            |g| {
                g.employee("P1", "0.00", "100.00");
                let b = g.bind("P1", "C");
                g.authorize(&b, None, Some("40.00"), Some("50.00"));
            },
            "60.00",
            json!([{"account": "P1", "source": "family", "paid": "40.00", "reason": "monthly_limit_reached"}]),
        ),
        (
            "the monthly room left, not the limit, is what binds",
            |g| {
                g.employee("P1", "0.00", "100.00");
                let b = g.bind("P1", "C");
                g.authorize(&b, None, Some("50.00"), Some("60.00"));
                g.settle("S0", "C", "pharmacy", "30.00");
            },
            "40.00",
            json!([{"account": "P1", "source": "family", "paid": "20.00", "reason": "monthly_limit_reached"}]),
        ),
        (
            "balance and monthly tie: the limit",
            |g| {
                g.employee("P1", "0.00", "40.00");
                let b = g.bind("P1", "C");
                g.authorize(&b, None, Some("40.00"), None);
            },
            "60.00",
            json!([{"account": "P1", "source": "family", "paid": "40.00", "reason": "monthly_limit_reached"}]),
        ),
        (
            "balance and annual tie: the limit",
            |g| {
                g.employee("P1", "0.00", "40.00");
                let b = g.bind("P1", "C");
                g.authorize(&b, None, None, Some("40.00"));
            },
            "60.00",
            json!([{"account": "P1", "source": "family", "paid": "40.00", "reason": "annual_limit_reached"}]),
        ),
        (
            "monthly and annual tie: monthly",
            |g| {
                g.employee("P1", "0.00", "100.00");
                let b = g.bind("P1", "C");
                g.authorize(&b, None, Some("40.00"), Some("40.00"));
            },
            "60.00",
            json!([{"account": "P1", "source": "family", "paid": "40.00", "reason": "monthly_limit_reached"}]),
        ),
        (
            "all three tie: monthly",
            |g| {
                g.employee("P1", "0.00", "40.00");
                let b = g.bind("P1", "C");
                g.authorize(&b, None, Some("40.00"), Some("40.00"));
            },
            "60.00",
            json!([{"account": "P1", "source": "family", "paid": "40.00", "reason": "monthly_limit_reached"}]),
        ),
        (
            "balance and monthly room both zero: the limit",
            |g| {
                g.employee("P1", "0.00", "50.00");
                let b = g.bind("P1", "C");
                g.authorize(&b, None, Some("50.00"), None);
                g.settle("S0", "C", "pharmacy", "50.00");
            },
            "10.00",
            json!([{"account": "P1", "source": "family", "paid": "0.00", "reason": "monthly_limit_reached"}]),
        ),
        (
            "a limit tighter than the money in family buckets",
            |g| {
                g.rules(json!({"family_buckets": ["historic"]}));
                g.employee("P1", "100.00", "40.00");
                let b = g.bind("P1", "C");
                g.authorize(&b, None, Some("30.00"), None);
            },
            "60.00",
            json!([{"account": "P1", "source": "family", "paid": "30.00", "reason": "monthly_limit_reached"}]),
        ),
        (
            "room for all that is owed: no reason",
            |g| {
                g.employee("P1", "0.00", "100.00");
                let b = g.bind("P1", "C");
                g.authorize(&b, None, Some("50.00"), Some("50.00"));
            },
            "30.00",
            json!([{"account": "P1", "source": "family", "paid": "30.00"}]),
        ),
    ];
    for (name, setup, amount, expected) in cases {
        let mut g = Given::new();
        g.person("C", "resident");
        setup(&mut g);
        assert_eq!(g.settle("S1", "C", "pharmacy", amount)["explain"], expected, "{name}");
    }
}

// Proves `family_order: "balance_desc"`: the most usable money first (balance in family
// buckets, minus holds, capped by limits), ties by priority order (explicit first, then the
// order bindings became active).
#[test]
fn balance_desc_draws_the_most_usable_money_first() {
    let cast = |g: &mut Given| {
        g.rules(json!({"family_order": "balance_desc"}));
        g.person("C", "resident");
        g.employee("P1", "0.00", "30.00");
        g.employee("M", "0.00", "80.00");
        g.employee("Q", "0.00", "80.00");
        g.employee("R", "0.00", "200.00");
        g.bind("P1", "C");
        g.bind("M", "C");
        g.bind("Q", "C");
        let r = g.bind("R", "C");
        g.authorize(&r, None, Some("20.00"), None);
    };

    // M and Q tie at 80.00: M became active first. R's 200.00 is capped at 20.00 by its limit.
    let mut g = Given::new();
    cast(&mut g);
    assert_eq!(
        g.settle("S1", "C", "pharmacy", "200.00"),
        json!({
            "draws": ["M family historic 80.00 B2", "Q family historic 80.00 B3", "P1 family historic 30.00 B1",
                "R family historic 10.00 B4"],
            "splits": [{"account": "M", "source": "family", "amount": "80.00"},
                {"account": "Q", "source": "family", "amount": "80.00"},
                {"account": "P1", "source": "family", "amount": "30.00"},
                {"account": "R", "source": "family", "amount": "10.00"}],
            "out_of_pocket": "0.00",
            "explain": [
                {"account": "M", "source": "family", "paid": "80.00", "reason": "family_balance_exhausted"},
                {"account": "Q", "source": "family", "paid": "80.00", "reason": "family_balance_exhausted"},
                {"account": "P1", "source": "family", "paid": "30.00", "reason": "family_balance_exhausted"},
                {"account": "R", "source": "family", "paid": "10.00"},
            ],
        })
    );

    // An explicit priority breaks the tie before the activation order.
    let mut g = Given::new();
    cast(&mut g);
    g.authorize("B3", Some(1), None, None);
    assert_eq!(
        g.settle("S1", "C", "pharmacy", "100.00")["explain"],
        json!([
            {"account": "Q", "source": "family", "paid": "80.00", "reason": "family_balance_exhausted"},
            {"account": "M", "source": "family", "paid": "20.00"},
        ])
    );

    // A hold takes 60.00 of M's usable money: M (20.00) now ties R (20.00 of room) and comes
    // before it by activation; R's room is the limit.
    let mut g = Given::new();
    cast(&mut g);
    assert_eq!(g.hold("S0", "C", "pharmacy", "60.00")["draws"], json!(["M family historic 60.00 B2"]));
    assert_eq!(
        g.settle("S1", "C", "pharmacy", "200.00"),
        json!({
            "draws": ["Q family historic 80.00 B3", "P1 family historic 30.00 B1", "M family historic 20.00 B2",
                "R family historic 20.00 B4"],
            "splits": [{"account": "Q", "source": "family", "amount": "80.00"},
                {"account": "P1", "source": "family", "amount": "30.00"},
                {"account": "M", "source": "family", "amount": "20.00"},
                {"account": "R", "source": "family", "amount": "20.00"}],
            "out_of_pocket": "50.00",
            "explain": [
                {"account": "Q", "source": "family", "paid": "80.00", "reason": "family_balance_exhausted"},
                {"account": "P1", "source": "family", "paid": "30.00", "reason": "family_balance_exhausted"},
                {"account": "M", "source": "family", "paid": "20.00", "reason": "family_balance_exhausted"},
                {"account": "R", "source": "family", "paid": "20.00", "reason": "monthly_limit_reached"},
            ],
        })
    );
}

// Proves the priority order (§8): explicit priorities first, ascending, ties by activation;
// then those without one, in the order they became active (not the order requested); later
// bindings are not listed once the amount is covered.
#[test]
fn explicit_priorities_before_the_default_order() {
    let mut g = Given::new();
    g.person("C", "resident");
    for id in ["P1", "M", "Q", "R", "S"] {
        g.employee(id, "0.00", "10.00");
        g.bind(id, "C");
    }
    g.authorize("B2", Some(5), None, None);
    g.authorize("B3", Some(2), None, None);
    g.authorize("B5", Some(2), None, None);
    assert_eq!(
        g.settle("S1", "C", "pharmacy", "45.00"),
        json!({
            "draws": ["Q family historic 10.00 B3", "S family historic 10.00 B5", "M family historic 10.00 B2",
                "P1 family historic 10.00 B1", "R family historic 5.00 B4"],
            "splits": [{"account": "Q", "source": "family", "amount": "10.00"},
                {"account": "S", "source": "family", "amount": "10.00"},
                {"account": "M", "source": "family", "amount": "10.00"},
                {"account": "P1", "source": "family", "amount": "10.00"},
                {"account": "R", "source": "family", "amount": "5.00"}],
            "out_of_pocket": "0.00",
            "explain": [
                {"account": "Q", "source": "family", "paid": "10.00", "reason": "family_balance_exhausted"},
                {"account": "S", "source": "family", "paid": "10.00", "reason": "family_balance_exhausted"},
                {"account": "M", "source": "family", "paid": "10.00", "reason": "family_balance_exhausted"},
                {"account": "P1", "source": "family", "paid": "10.00", "reason": "family_balance_exhausted"},
                {"account": "R", "source": "family", "paid": "5.00"},
            ],
        })
    );

    // Under review, the default order is the order of approval.
    let mut g = Given::new();
    g.rules(json!({"auto_approve": false}));
    g.person("C", "resident");
    g.employee("P1", "0.00", "10.00");
    g.employee("M", "0.00", "10.00");
    let p1 = g.bind("P1", "C");
    let m = g.bind("M", "C");
    g.ok(json!({"command": "approve_binding", "binding_id": m}));
    g.ok(json!({"command": "approve_binding", "binding_id": p1}));
    assert_eq!(
        g.settle("S1", "C", "pharmacy", "5.00")["explain"],
        json!([{"account": "M", "source": "family", "paid": "5.00"}])
    );
    assert_eq!(
        g.settle("S2", "C", "pharmacy", "15.00")["explain"],
        json!([
            {"account": "M", "source": "family", "paid": "5.00", "reason": "family_balance_exhausted"},
            {"account": "P1", "source": "family", "paid": "10.00"},
        ])
    );
}

// Proves a hold reserves exactly its split: available money drops, another settlement cannot
// use it, and held family money counts against the limits until released.
#[test]
fn a_hold_reserves_money() {
    let mut g = Given::new();
    g.person("C", "resident");
    g.employee("P1", "0.00", "100.00");
    g.bind("P1", "C");
    let asked_at = g.now;
    let events = g.ok(settle("S1", "PH1", "C", "pharmacy", "60.00", "hold"));
    let Event::Held(hold) = &events[0] else { panic!("{events:?}") };
    assert_eq!(lines(&hold.draws), ["P1 family historic 60.00 B1"]);
    assert_eq!(hold.expires_at, Some(asked_at.plus_micros(30 * 60 * 1_000_000)), "hold_timeout_minutes 30");
    assert_eq!(
        g.balance("P1"),
        json!({"current": "0.00", "historic": "100.00", "held_current": "0.00", "held_historic": "60.00"})
    );
    assert_eq!(g.available("P1"), "40.00");
    assert_eq!(
        g.settle("S2", "C", "pharmacy", "50.00"),
        json!({
            "draws": ["P1 family historic 40.00 B1"],
            "splits": [{"account": "P1", "source": "family", "amount": "40.00"}],
            "out_of_pocket": "10.00",
            "explain": [{"account": "P1", "source": "family", "paid": "40.00", "reason": "family_balance_exhausted"}],
        })
    );
    assert_eq!(g.available("P1"), "0.00");

    // Held money counts against the monthly limit while held, and not once voided.
    let mut g = Given::new();
    g.person("C", "resident");
    g.employee("P1", "0.00", "500.00");
    let b = g.bind("P1", "C");
    g.authorize(&b, None, Some("70.00"), None);
    g.hold("S1", "C", "pharmacy", "60.00");
    assert_eq!(g.usage(&b), ("60.00".to_owned(), "60.00".to_owned()));
    assert_eq!(
        g.settle("S2", "C", "pharmacy", "30.00")["explain"],
        json!([{"account": "P1", "source": "family", "paid": "10.00", "reason": "monthly_limit_reached"}])
    );
    g.ok(json!({"command": "void", "settlement_id": "S1"}));
    assert_eq!(g.usage(&b), ("10.00".to_owned(), "10.00".to_owned()));
    assert_eq!(
        g.settle("S3", "C", "pharmacy", "30.00")["explain"],
        json!([{"account": "P1", "source": "family", "paid": "30.00"}])
    );
}

// Proves a capture of less than held takes in the split's order (own, family by the split's
// order, out of pocket) and releases the rest; refunds are then bounded by the capture.
#[test]
fn a_partial_capture_releases_the_rest_in_split_order() {
    let mut g = Given::new();
    g.employee("B", "20.00", "0.00");
    g.employee("P1", "0.00", "50.00");
    g.employee("M", "0.00", "100.00");
    g.bind("P1", "B");
    let m = g.bind("M", "B");
    assert_eq!(
        g.hold("S1", "B", "outpatient", "100.00"),
        json!({
            "draws": ["B own current 20.00", "P1 family historic 50.00 B1", "M family historic 30.00 B2"],
            "splits": [{"account": "B", "source": "own", "amount": "20.00"},
                {"account": "P1", "source": "family", "amount": "50.00"},
                {"account": "M", "source": "family", "amount": "30.00"}],
            "out_of_pocket": "0.00",
            "explain": [
                {"account": "B", "source": "own", "paid": "20.00", "reason": "own_balance_exhausted"},
                {"account": "P1", "source": "family", "paid": "50.00", "reason": "family_balance_exhausted"},
                {"account": "M", "source": "family", "paid": "30.00"},
            ],
        })
    );
    assert_eq!(
        g.event(json!({"command": "capture", "settlement_id": "S1", "amount": "60.00"})),
        json!({
            "settlement_id": "S1", "institution": "HO1", "region": "210100", "amount": "60.00",
            "draws": ["B own current 20.00", "P1 family historic 40.00 B1"],
            "out_of_pocket": "0.00",
            "released": ["P1 family historic 10.00 B1", "M family historic 30.00 B2"],
        })
    );
    assert_eq!(g.available("B"), "0.00");
    assert_eq!(g.available("P1"), "10.00");
    assert_eq!(g.available("M"), "100.00");
    assert_eq!(g.usage(&m), ("0.00".to_owned(), "0.00".to_owned()));
    let refund = json!({"command": "refund", "settlement_id": "S1", "refund_id": "R1", "amount": "60.01",
        "reason": "returned"});
    assert_eq!(g.when(refund).unwrap_err().code, Code::RefundExceedsSettled);

    // A capture beyond the held account money takes the rest out of pocket.
    let mut g = Given::new();
    g.person("C", "resident");
    g.employee("P1", "0.00", "50.00");
    g.bind("P1", "C");
    assert_eq!(g.hold("S1", "C", "pharmacy", "80.00")["out_of_pocket"], json!("30.00"));
    assert_eq!(
        g.event(json!({"command": "capture", "settlement_id": "S1", "amount": "70.00"})),
        json!({
            "settlement_id": "S1", "institution": "PH1", "region": "210100", "amount": "70.00",
            "draws": ["P1 family historic 50.00 B1"],
            "out_of_pocket": "20.00",
            "released": [],
        })
    );
    assert_eq!(g.available("P1"), "0.00");
}

// Proves a void releases every held draw: the balances are as before the hold, the limit
// usage is gone, and the hold cannot be voided or captured again.
#[test]
fn a_void_releases_everything() {
    let mut g = Given::new();
    g.employee("B", "20.00", "5.00");
    g.employee("P1", "0.00", "50.00");
    let b = g.bind("P1", "B");
    g.authorize(&b, None, Some("100.00"), None);
    g.hold("S1", "B", "outpatient", "60.00");
    assert_eq!(
        g.event(json!({"command": "void", "settlement_id": "S1"})),
        json!({
            "settlement_id": "S1", "institution": "HO1", "region": "210100",
            "released": ["B own current 20.00", "B own historic 5.00", "P1 family historic 35.00 B1"],
        })
    );
    assert_eq!(
        g.balance("B"),
        json!({"current": "20.00", "historic": "5.00", "held_current": "0.00", "held_historic": "0.00"})
    );
    assert_eq!(
        g.balance("P1"),
        json!({"current": "0.00", "historic": "50.00", "held_current": "0.00", "held_historic": "0.00"})
    );
    assert_eq!(g.usage(&b), ("0.00".to_owned(), "0.00".to_owned()));
    for again in [
        json!({"command": "void", "settlement_id": "S1"}),
        json!({"command": "capture", "settlement_id": "S1", "amount": null}),
    ] {
        assert_eq!(g.when(again).unwrap_err().code, Code::SettlementNotHeld);
    }
}

// Proves a year-end with an open hold moves the held current money to historic with the rest,
// and the hold follows its money: its capture and its release are from historic.
#[test]
fn year_end_moves_held_current_money_to_historic() {
    for capture in [true, false] {
        let mut g = Given::at("2026-12-31T23:50:00+08:00");
        g.person("C", "resident");
        g.employee("P1", "100.00", "0.00");
        g.bind("P1", "C");
        assert_eq!(g.hold("S1", "C", "pharmacy", "60.00")["draws"], json!(["P1 family current 60.00 B1"]));
        g.now = ts("2027-01-01T00:05:00+08:00");
        let events = g.ok(json!({"command": "close_year", "region": "210100", "year": 2026}));
        assert_eq!(
            serde_json::to_value(&events[0]).unwrap(),
            json!({"region": "210100", "year": 2026, "accounts": 1, "moved": "100.00"})
        );
        assert_eq!(
            g.balance("P1"),
            json!({"current": "0.00", "historic": "100.00", "held_current": "0.00", "held_historic": "60.00"})
        );
        g.credit("P1", "30.00", "current");
        if capture {
            assert_eq!(
                g.event(json!({"command": "capture", "settlement_id": "S1", "amount": "40.00"})),
                json!({
                    "settlement_id": "S1", "institution": "PH1", "region": "210100", "amount": "40.00",
                    "draws": ["P1 family historic 40.00 B1"],
                    "out_of_pocket": "0.00",
                    "released": ["P1 family historic 20.00 B1"],
                })
            );
            assert_eq!(
                g.balance("P1"),
                json!({"current": "30.00", "historic": "60.00", "held_current": "0.00", "held_historic": "0.00"})
            );
        } else {
            assert_eq!(
                g.event(json!({"command": "void", "settlement_id": "S1"})),
                json!({"settlement_id": "S1", "institution": "PH1", "region": "210100",
                    "released": ["P1 family historic 60.00 B1"]})
            );
            assert_eq!(
                g.balance("P1"),
                json!({"current": "30.00", "historic": "100.00", "held_current": "0.00", "held_historic": "0.00"})
            );
        }
    }
}

// Proves refunds after a year-end: money that came from `current` of the closed year goes back
// to `historic` (within an account, the last bucket drawn first), while money from the new
// year's `current` goes back to `current`.
#[test]
fn refunds_after_a_year_end_return_closed_current_money_to_historic() {
    let mut g = Given::at("2026-12-31T20:00:00+08:00");
    g.employee("B", "50.00", "10.00");
    g.employee("P1", "100.00", "10.00");
    g.bind("P1", "B");
    assert_eq!(
        g.settle("S1", "B", "outpatient", "100.00"),
        json!({
            "draws": ["B own current 50.00", "B own historic 10.00", "P1 family historic 10.00 B1",
                "P1 family current 30.00 B1"],
            "splits": [{"account": "B", "source": "own", "amount": "60.00"},
                {"account": "P1", "source": "family", "amount": "40.00"}],
            "out_of_pocket": "0.00",
            "explain": [
                {"account": "B", "source": "own", "paid": "60.00", "reason": "own_balance_exhausted"},
                {"account": "P1", "source": "family", "paid": "40.00"},
            ],
        })
    );
    g.now = ts("2027-01-01T09:00:00+08:00");
    g.ok(json!({"command": "close_year", "region": "210100", "year": 2026}));
    g.credit("B", "5.00", "current");
    // Reverse: P1's 40.00 (current part first), then 30.00 of B's own (historic part first).
    assert_eq!(
        g.refund("S1", "R1", "70.00"),
        json!({
            "returns": ["B own historic 20.00", "B own historic 10.00", "P1 family historic 10.00 B1",
                "P1 family historic 30.00 B1"],
            "out_of_pocket": "0.00",
        })
    );
    assert_eq!(
        g.balance("B"),
        json!({"current": "5.00", "historic": "30.00", "held_current": "0.00", "held_historic": "0.00"})
    );
    assert_eq!(
        g.balance("P1"),
        json!({"current": "0.00", "historic": "110.00", "held_current": "0.00", "held_historic": "0.00"})
    );
    // The new year's current money goes back to current.
    assert_eq!(g.settle("S2", "B", "outpatient", "5.00")["draws"], json!(["B own current 5.00"]));
    assert_eq!(
        g.refund("S2", "R2", "5.00"),
        json!({"returns": ["B own current 5.00"], "out_of_pocket": "0.00"})
    );
    assert_eq!(
        g.balance("B"),
        json!({"current": "5.00", "historic": "30.00", "held_current": "0.00", "held_historic": "0.00"})
    );
}

// Proves `pro_rata` rounding (§8) on amounts that do not divide evenly: shares of what each
// source still holds, cut to the fen, the remaining fens one each to the largest cut-off
// fractions; within an account the last bucket drawn is refunded first.
#[test]
fn pro_rata_gives_the_remaining_fens_to_the_largest_fractions() {
    let mut g = Given::new();
    g.rules(json!({"refund_order": "pro_rata"}));
    g.employee("B", "25.00", "5.00");
    g.employee("P1", "0.00", "50.00");
    g.bind("P1", "B");
    assert_eq!(
        g.settle("S1", "B", "outpatient", "100.00")["draws"],
        json!(["B own current 25.00", "B own historic 5.00", "P1 family historic 50.00 B1"])
    );
    // Holds 30.00 / 50.00 / 20.00: exact shares 9.999 / 16.665 / 6.666; cut 9.99 / 16.66 /
    // 6.66; the two fens left go to the fractions .9 (own) and .6 (out of pocket).
    assert_eq!(
        g.refund("S1", "R1", "33.33"),
        json!({
            "returns": ["B own current 5.00", "B own historic 5.00", "P1 family historic 16.66 B1"],
            "out_of_pocket": "6.67",
        })
    );
    // Now 20.00 / 33.34 / 13.33 remain: exact 2.99985 / 5.00075 / 1.99940; the fens left go
    // to own and out of pocket, not to the largest source.
    assert_eq!(
        g.refund("S1", "R2", "10.00"),
        json!({"returns": ["B own current 3.00", "P1 family historic 5.00 B1"], "out_of_pocket": "2.00"})
    );
    assert_eq!(
        g.balance("B"),
        json!({"current": "8.00", "historic": "5.00", "held_current": "0.00", "held_historic": "0.00"})
    );
}

// Proves `pro_rata` ties of cut-off fractions go in split order.
#[test]
fn pro_rata_ties_go_in_split_order() {
    let mut g = Given::new();
    g.rules(json!({"refund_order": "pro_rata"}));
    g.person("C", "resident");
    for id in ["P1", "M", "Q"] {
        g.employee(id, "0.00", "10.00");
        g.bind(id, "C");
    }
    assert_eq!(g.settle("S1", "C", "pharmacy", "40.00")["out_of_pocket"], json!("10.00"));
    // Four sources of 10.00: 0.30 is 7.5 fen each, cut to 7; the two fens left go to the
    // first two in split order.
    assert_eq!(
        g.refund("S1", "R1", "0.30"),
        json!({
            "returns": ["P1 family historic 0.08 B1", "M family historic 0.08 B2", "Q family historic 0.07 B3"],
            "out_of_pocket": "0.07",
        })
    );
}

// Proves premiums are paid in full from the payer's family buckets in the order listed, minus
// holds, or refused with `insufficient_funds` writing nothing.
#[test]
fn premiums_draw_the_family_buckets_in_order() {
    // (name, rules, current, historic, held by another settlement, the draws or the code)
    type Case =
        (&'static str, Value, &'static str, &'static str, &'static str, Result<Vec<&'static str>, Code>);
    let cases: Vec<Case> = vec![
        (
            "default: historic first",
            json!({}),
            "200.00",
            "300.00",
            "0.00",
            Ok(vec!["P1 family historic 300.00", "P1 family current 100.00"]),
        ),
        (
            "current first",
            json!({"family_buckets": ["current", "historic"]}),
            "200.00",
            "300.00",
            "0.00",
            Ok(vec!["P1 family current 200.00", "P1 family historic 200.00"]),
        ),
        (
            "current only, exactly enough",
            json!({"family_buckets": ["current"]}),
            "400.00",
            "300.00",
            "0.00",
            Ok(vec!["P1 family current 400.00"]),
        ),
        (
            "historic only, not enough there",
            json!({"family_buckets": ["historic"]}),
            "500.00",
            "300.00",
            "0.00",
            Err(Code::InsufficientFunds),
        ),
        (
            "enough only with the held money",
            json!({}),
            "0.00",
            "500.00",
            "200.00",
            Err(Code::InsufficientFunds),
        ),
        (
            "the rest after a hold",
            json!({}),
            "0.00",
            "600.00",
            "200.00",
            Ok(vec!["P1 family historic 400.00"]),
        ),
    ];
    for (name, rules, current, historic, held, expected) in cases {
        let mut g = Given::new();
        g.rules(rules);
        g.person("C", "resident");
        g.person("H", "resident");
        g.employee("P1", current, historic);
        g.bind("P1", "C");
        g.bind("P1", "H");
        if held != "0.00" {
            g.hold("S0", "H", "pharmacy", held);
        }
        let pay = premium("P1", "C", 2026, "400.00");
        match expected {
            Ok(draws) => assert_eq!(
                g.event(pay),
                json!({"payer": "P1", "beneficiary": "C", "region": "210100", "year": 2026,
                    "amount": "400.00", "draws": draws}),
                "{name}"
            ),
            Err(code) => {
                let head = g.seq;
                assert_eq!(g.outcome(pay), Err(code), "{name}");
                assert_eq!(g.seq, head, "{name}: a rejection writes nothing");
            }
        }
    }
}

// Proves premiums do not count against a binding's limits: a premium above the annual limit is
// paid, the usage stays zero, and the next settlement has the whole monthly room.
#[test]
fn premiums_do_not_count_against_limits() {
    let mut g = Given::new();
    g.person("C", "resident");
    g.employee("P1", "0.00", "1000.00");
    let b = g.bind("P1", "C");
    g.authorize(&b, None, Some("50.00"), Some("100.00"));
    g.ok(premium("P1", "C", 2026, "400.00"));
    assert_eq!(g.usage(&b), ("0.00".to_owned(), "0.00".to_owned()));
    assert_eq!(g.available("P1"), "600.00");
    assert_eq!(
        g.settle("S1", "C", "pharmacy", "60.00"),
        json!({
            "draws": ["P1 family historic 50.00 B1"],
            "splits": [{"account": "P1", "source": "family", "amount": "50.00"}],
            "out_of_pocket": "10.00",
            "explain": [{"account": "P1", "source": "family", "paid": "50.00", "reason": "monthly_limit_reached"}],
        })
    );
}

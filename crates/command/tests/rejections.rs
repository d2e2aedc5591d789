//! Every rejection code the core produces (api.md §5), each from the smallest history that
//! leads to it, and the order of checks where a command breaks several rules at once.

mod common;

use common::given::Given;
use common::{bind, premium, settle, status};
use domain::Code;
use serde_json::{json, Value};

/// `Given` (region 210100 with default rules, a pharmacy PH1 and a hospital HO1) with employees
/// E1 (500.00 historic) and E2, residents R1 and R2, E1 → R1 bound; region 220100 without
/// rules, with employee F1 and institution PH2; region 210200 (same province) with rules and
/// resident S1.
fn world() -> Given {
    let mut g = Given::new();
    g.ok(json!({"command": "publish_rules", "region": "210200", "rules": {"version": 1, "effective_from": "2026-01-01T00:00:00+08:00"}}));
    g.ok(json!({"command": "register_institution", "institution_id": "PH2", "region": "220100", "kind": "pharmacy", "name": "P"}));
    for (id, region, scheme) in [
        ("E1", "210100", "employee"),
        ("E2", "210100", "employee"),
        ("R1", "210100", "resident"),
        ("R2", "210100", "resident"),
        ("F1", "220100", "employee"),
        ("S1", "210200", "resident"),
    ] {
        g.person_in(id, region, scheme);
    }
    g.credit("E1", "500.00", "historic");
    g.bind("E1", "R1");
    g
}

// Proves each code of api.md §5 that `decide` produces, from a minimal history (`setup` runs
// first, then `command` must fail with `code`).
#[test]
fn every_code() {
    let cases: Vec<(&str, Vec<Value>, Value, Code)> = vec![
        ("zero amount", vec![], settle("S", "PH1", "R1", "pharmacy", "0", "settle"), Code::InvalidRequest),
        (
            "occurred_at too old",
            vec![],
            json!({"command": "settle", "settlement_id": "S", "institution": "PH1",
            "beneficiary": "R1", "category": "pharmacy", "amount": "1", "occurred_at": "2026-01-01T00:00:00Z", "mode": "settle"}),
            Code::InvalidRequest,
        ),
        (
            "occurred_at in the future",
            vec![],
            json!({"command": "settle", "settlement_id": "S", "institution": "PH1",
            "beneficiary": "R1", "category": "pharmacy", "amount": "1", "occurred_at": "2026-03-10T02:06:00Z", "mode": "settle"}),
            Code::InvalidRequest,
        ),
        (
            "priority 0",
            vec![],
            json!({"command": "authorize", "binding_id": "B1", "priority": 0, "monthly_limit": null, "annual_limit": null}),
            Code::InvalidRequest,
        ),
        (
            "year-end of a future year",
            vec![],
            json!({"command": "close_year", "region": "210100", "year": 2027}),
            Code::InvalidRequest,
        ),
        (
            "unknown person",
            vec![],
            json!({"command": "credit", "person_id": "X", "amount": "1", "bucket": "current", "reason": "x"}),
            Code::NotFound,
        ),
        ("unknown binding", vec![], json!({"command": "revoke_binding", "binding_id": "B9"}), Code::NotFound),
        ("unknown settlement", vec![], json!({"command": "void", "settlement_id": "S9"}), Code::NotFound),
        (
            "person taken",
            vec![],
            json!({"command": "register_person", "person_id": "E1", "region": "210100", "scheme": "employee", "name": null, "id_number": null}),
            Code::AlreadyExists,
        ),
        (
            "institution taken",
            vec![],
            json!({"command": "register_institution", "institution_id": "PH1", "region": "210100", "kind": "pharmacy", "name": "P"}),
            Code::AlreadyExists,
        ),
        (
            "settlement taken",
            vec![settle("S", "PH1", "R1", "pharmacy", "1", "settle")],
            settle("S", "PH1", "R1", "pharmacy", "1", "settle"),
            Code::AlreadyExists,
        ),
        (
            "refund taken",
            vec![
                settle("S", "PH1", "R1", "pharmacy", "10", "settle"),
                json!({"command": "refund", "settlement_id": "S", "refund_id": "F", "amount": "1", "reason": "x"}),
            ],
            json!({"command": "refund", "settlement_id": "S", "refund_id": "F", "amount": "1", "reason": "x"}),
            Code::AlreadyExists,
        ),
        (
            "no rules for the authorizer's region",
            vec![],
            bind("F1", "E1", "spouse"),
            Code::RegionRulesMissing,
        ),
        (
            "no rules for the institution's region",
            vec![],
            settle("S", "PH2", "F1", "pharmacy", "1", "settle"),
            Code::RegionRulesMissing,
        ),
        (
            "suspended authorizer",
            vec![status("E2", "suspended")],
            bind("E2", "R2", "child"),
            Code::PersonNotActive,
        ),
        (
            "suspended beneficiary",
            vec![status("R1", "suspended")],
            settle("S", "PH1", "R1", "pharmacy", "1", "settle"),
            Code::PersonNotActive,
        ),
        (
            "credit to a terminated person",
            vec![status("E2", "terminated")],
            json!({"command": "credit", "person_id": "E2", "amount": "1", "bucket": "current", "reason": "x"}),
            Code::PersonNotActive,
        ),
        ("resident authorizer", vec![], bind("R1", "R2", "spouse"), Code::AuthorizerNotEmployee),
        ("resident payer", vec![], premium("R1", "R2", 2026, "400.00"), Code::AuthorizerNotEmployee),
        (
            "credit to a resident",
            vec![],
            json!({"command": "credit", "person_id": "R1", "amount": "1", "bucket": "current", "reason": "x"}),
            Code::NoPersonalAccount,
        ),
        ("in-law", vec![], bind("E1", "R2", "parent_in_law"), Code::RelationNotAllowed),
        (
            "sibling not in the default relations",
            vec![],
            bind("E1", "R2", "sibling"),
            Code::RelationNotAllowed,
        ),
        ("another province", vec![], bind("E1", "F1", "spouse"), Code::CrossRegionNotAllowed),
        ("same province, rules say none", vec![], bind("E1", "S1", "child"), Code::CrossRegionNotAllowed),
        ("self", vec![], bind("E1", "E1", "spouse"), Code::SelfBinding),
        ("pair already bound", vec![], bind("E1", "R1", "child"), Code::BindingExists),
        (
            "no balance to bind",
            vec![json!({"command": "publish_rules", "region": "210100", "rules": {"version": 2,
            "effective_from": "2026-01-01T00:00:00+08:00", "bind_requires_balance": true}})],
            bind("E2", "R2", "child"),
            Code::AuthorizerNoBalance,
        ),
        (
            "beneficiaries cap",
            vec![json!({"command": "publish_rules", "region": "210100", "rules": {"version": 2,
            "effective_from": "2026-01-01T00:00:00+08:00", "beneficiaries_per_authorizer_max": 1}})],
            bind("E1", "R2", "child"),
            Code::BindingLimitReached,
        ),
        (
            "authorizers cap",
            vec![json!({"command": "publish_rules", "region": "210100", "rules": {"version": 2,
            "effective_from": "2026-01-01T00:00:00+08:00", "authorizers_per_beneficiary_max": 1}})],
            bind("E2", "R1", "child"),
            Code::BeneficiaryAlreadyBound,
        ),
        (
            "second review",
            vec![],
            json!({"command": "approve_binding", "binding_id": "B1"}),
            Code::BindingNotPending,
        ),
        (
            "revoke twice",
            vec![json!({"command": "revoke_binding", "binding_id": "B1"})],
            json!({"command": "revoke_binding", "binding_id": "B1"}),
            Code::BindingNotActive,
        ),
        ("premium without a binding", vec![], premium("E1", "R2", 2026, "400.00"), Code::BindingNotActive),
        (
            "category not listed",
            vec![json!({"command": "publish_rules", "region": "210100", "rules": {"version": 2,
            "effective_from": "2026-01-01T00:00:00+08:00", "own_categories": ["outpatient"], "family_categories": ["outpatient"]}})],
            settle("S", "PH1", "R1", "pharmacy", "1", "settle"),
            Code::CategoryNotAllowed,
        ),
        (
            "premium beyond the balance",
            vec![bind("E2", "R2", "child")],
            premium("E2", "R2", 2026, "400.00"),
            Code::InsufficientFunds,
        ),
        (
            "capture of a settled one",
            vec![settle("S", "PH1", "R1", "pharmacy", "1", "settle")],
            json!({"command": "capture", "settlement_id": "S", "amount": null}),
            Code::SettlementNotHeld,
        ),
        (
            "capture above the hold",
            vec![settle("S", "PH1", "R1", "pharmacy", "10", "hold")],
            json!({"command": "capture", "settlement_id": "S", "amount": "10.01"}),
            Code::CaptureExceedsHeld,
        ),
        (
            "refund above settled",
            vec![settle("S", "PH1", "R1", "pharmacy", "10", "settle")],
            json!({"command": "refund", "settlement_id": "S", "refund_id": "F", "amount": "10.01", "reason": "x"}),
            Code::RefundExceedsSettled,
        ),
        (
            "year closed twice",
            vec![json!({"command": "close_year", "region": "210100", "year": 2025})],
            json!({"command": "close_year", "region": "210100", "year": 2025}),
            Code::YearAlreadyClosed,
        ),
        ("same status", vec![], status("E1", "active"), Code::StatusUnchanged),
        (
            "terminated again",
            vec![status("E2", "terminated")],
            status("E2", "terminated"),
            Code::StatusUnchanged,
        ),
        (
            "premium paid twice",
            vec![premium("E1", "R1", 2026, "400.00")],
            premium("E1", "R1", 2026, "400.00"),
            Code::PremiumAlreadyPaid,
        ),
        (
            "premium relatives cap",
            vec![
                json!({"command": "publish_rules", "region": "210100", "rules": {"version": 2,
            "effective_from": "2026-01-01T00:00:00+08:00", "premium_relatives_per_year_max": 1}}),
                premium("E1", "R1", 2026, "400.00"),
                bind("E1", "R2", "child"),
            ],
            premium("E1", "R2", 2026, "400.00"),
            Code::PremiumRelativesLimitReached,
        ),
        ("premium year not open", vec![], premium("E1", "R1", 2028, "400.00"), Code::PremiumYearNotOpen),
        ("premium amount", vec![], premium("E1", "R1", 2026, "399.00"), Code::PremiumAmountMismatch),
        (
            "premium for an employee",
            vec![bind("E1", "E2", "spouse")],
            premium("E1", "E2", 2026, "400.00"),
            Code::BeneficiaryNotResident,
        ),
        (
            "unknown institution",
            vec![],
            settle("S", "PHX", "R1", "pharmacy", "1", "settle"),
            Code::InstitutionUnknown,
        ),
        (
            "institution of another region",
            vec![json!({"command": "publish_rules", "region": "220100", "rules": {"version": 1,
            "effective_from": "2026-01-01T00:00:00+08:00"}})],
            settle("S", "PH2", "R1", "pharmacy", "1", "settle"),
            Code::InstitutionRegionMismatch,
        ),
        (
            "rule version not newer",
            vec![],
            json!({"command": "publish_rules", "region": "210100", "rules": {"version": 1, "effective_from": "2026-06-01T00:00:00+08:00"}}),
            Code::RuleVersionNotNewer,
        ),
        (
            "rule version taking effect earlier",
            vec![
                json!({"command": "publish_rules", "region": "210100", "rules": {"version": 2, "effective_from": "2026-09-01T00:00:00+08:00"}}),
            ],
            json!({"command": "publish_rules", "region": "210100", "rules": {"version": 3, "effective_from": "2026-06-01T00:00:00+08:00"}}),
            Code::RuleVersionNotNewer,
        ),
    ];
    for (name, setup, command, code) in cases {
        let mut g = world();
        for step in setup {
            g.ok(step);
        }
        let head = g.seq;
        assert_eq!(g.outcome(command), Err(code), "{name}");
        assert_eq!(g.seq, head, "{name}: a rejection writes nothing");
    }
}

// Proves the order of checks when a command breaks several rules: the first listed names it.
#[test]
fn order_of_checks() {
    let cases: Vec<(&str, Vec<Value>, Value, Code)> = vec![
        (
            "already_exists before institution_unknown",
            vec![settle("S", "PH1", "R1", "pharmacy", "1", "settle")],
            settle("S", "PHX", "R1", "pharmacy", "1", "settle"),
            Code::AlreadyExists,
        ),
        (
            "institution_unknown before a suspended beneficiary",
            vec![status("R1", "suspended")],
            settle("S", "PHX", "R1", "pharmacy", "1", "settle"),
            Code::InstitutionUnknown,
        ),
        ("not_found before region_rules_missing", vec![], bind("F1", "X", "spouse"), Code::NotFound),
        (
            "region_rules_missing before the authorizer's scheme",
            vec![json!({"command": "register_person", "person_id": "G1",
            "region": "220100", "scheme": "resident", "name": null, "id_number": null})],
            bind("G1", "E1", "spouse"),
            Code::RegionRulesMissing,
        ),
        (
            "authorizer_not_employee before person_not_active",
            vec![status("R2", "suspended")],
            bind("R2", "E2", "spouse"),
            Code::AuthorizerNotEmployee,
        ),
        (
            "person_not_active before self_binding",
            vec![status("E2", "suspended")],
            bind("E2", "E2", "spouse"),
            Code::PersonNotActive,
        ),
        (
            "self_binding before relation_not_allowed",
            vec![],
            bind("E1", "E1", "parent_in_law"),
            Code::SelfBinding,
        ),
        ("relation before cross_region", vec![], bind("E1", "F1", "parent_in_law"), Code::RelationNotAllowed),
        (
            "credits check the scheme before the status",
            vec![status("R1", "terminated")],
            json!({"command": "credit", "person_id": "R1", "amount": "1", "bucket": "current", "reason": "x"}),
            Code::NoPersonalAccount,
        ),
        (
            "terminated cannot become active",
            vec![status("E2", "terminated")],
            status("E2", "active"),
            Code::PersonNotActive,
        ),
        (
            "refund_id taken before an unknown settlement",
            vec![
                settle("S", "PH1", "R1", "pharmacy", "10", "settle"),
                json!({"command": "refund", "settlement_id": "S", "refund_id": "F", "amount": "1", "reason": "x"}),
            ],
            json!({"command": "refund", "settlement_id": "S9", "refund_id": "F", "amount": "1", "reason": "x"}),
            Code::AlreadyExists,
        ),
        (
            "binding_not_active before beneficiary_not_resident",
            vec![],
            premium("E1", "E2", 2026, "400.00"),
            Code::BindingNotActive,
        ),
        (
            "premium_already_paid before insufficient funds",
            vec![bind("E2", "R1", "child"), premium("E1", "R1", 2026, "400.00")],
            premium("E2", "R1", 2026, "400.00"),
            Code::PremiumAlreadyPaid,
        ),
    ];
    for (name, setup, command, code) in cases {
        let mut g = world();
        for step in setup {
            g.ok(step);
        }
        assert_eq!(g.outcome(command), Err(code), "{name}");
    }
}

//! Every error code of api.md §5 over the wire, each with its status, from the smallest
//! history that leads to it. (The core's own table is crates/command/tests/rejections.rs.)

mod support;

use serde_json::{json, Value};
use support::{Home, Service, CHANNEL, H1, H2, OPERATOR};

/// Region 210100 with default rules (and 210200 with rules, 220100 without), pharmacy
/// H21010000001 (210100) — H21010000002 has a token but is not registered — employees E1 (500.00) and E2, residents
/// R1 and R2 in 210100, employee F1 in 220100; E1 → R1 bound.
fn world(service: &Service) {
    let premiums = json!({"resident_premium": support::premium_prices()});
    support::region_with_institutions(service, premiums.clone(), &[support::PHARMACY]);
    support::publish_rules(service, "210200", premiums);
    for (id, region, scheme) in [
        ("E1", "210100", "employee"),
        ("E2", "210100", "employee"),
        ("R1", "210100", "resident"),
        ("R2", "210100", "resident"),
        ("F1", "220100", "employee"),
    ] {
        let body =
            json!({"request_id": format!("p-{id}"), "person_id": id, "region": region, "scheme": scheme});
        assert_eq!(service.post(OPERATOR, "/v1/persons", body).0, 201);
    }
    let credit = json!({"request_id": "c1", "amount": "500.00", "bucket": "historic", "reason": "x"});
    assert_eq!(service.post(OPERATOR, "/v1/accounts/E1/credits", credit).0, 200);
    let bind = json!({"request_id": "b1", "authorizer": "E1", "beneficiary": "R1", "relation": "child"});
    assert_eq!(service.post(CHANNEL, "/v1/bindings", bind).0, 201);
    let settle = json!({"request_id": "s1", "settlement_id": "S1", "institution": "H21010000001", "beneficiary": "R1",
        "category": "pharmacy", "amount": "10.00"});
    assert_eq!(service.post(H1, "/v1/settlements", settle).0, 201);
}

fn settle(id: &str, institution: &str, beneficiary: &str, amount: &str) -> Value {
    json!({"request_id": id, "settlement_id": id, "institution": institution, "beneficiary": beneficiary,
        "category": "pharmacy", "amount": amount})
}

fn bind(id: &str, authorizer: &str, beneficiary: &str, relation: &str) -> Value {
    json!({"request_id": id, "authorizer": authorizer, "beneficiary": beneficiary, "relation": relation})
}

// Proves each code with its status: the request, the role that sends it, the answer.
#[test]
fn every_code_over_http() {
    let home = Home::new();
    let service = home.start();
    world(&service);
    let events = service.events();
    let year =
        domain::Timestamp::parse(events.last().unwrap()["recorded_at"].as_str().unwrap()).unwrap().cst_year();
    let premium = |id: &str, payer: &str, beneficiary: &str, amount: &str| json!({"request_id": id, "payer": payer, "beneficiary": beneficiary, "year": year, "amount": amount});
    // (token, method, path, body, status, code)
    let cases: Vec<(&str, &str, String, Value, u16, &str)> = vec![
        (OPERATOR, "POST", "/v1/persons".into(), json!({"request_id": "x"}), 400, "invalid_request"),
        ("nobody-token", "POST", "/v1/persons".into(), json!({}), 401, "unauthorized"),
        (H2, "POST", "/v1/settlements".into(), settle("q1", "H21010000001", "R1", "1"), 403, "forbidden"),
        (H1, "GET", "/v1/settlements/S1".into(), Value::Null, 200, ""),
        (H2, "GET", "/v1/settlements/S1".into(), Value::Null, 403, "forbidden"),
        (OPERATOR, "GET", "/v1/accounts/NOBODY".into(), Value::Null, 404, "not_found"),
        (
            OPERATOR,
            "POST",
            "/v1/accounts/E1/credits".into(),
            json!({"request_id": "c1", "amount": "1.00", "bucket": "historic", "reason": "x"}),
            409,
            "idempotency_conflict",
        ),
        (
            OPERATOR,
            "POST",
            "/v1/persons".into(),
            json!({"request_id": "q2", "person_id": "E1", "region": "210100", "scheme": "employee"}),
            409,
            "already_exists",
        ),
        (
            CHANNEL,
            "POST",
            "/v1/bindings".into(),
            bind("q3", "F1", "E1", "spouse"),
            422,
            "region_rules_missing",
        ),
        (
            CHANNEL,
            "POST",
            "/v1/bindings".into(),
            bind("q4", "R2", "E2", "spouse"),
            422,
            "authorizer_not_employee",
        ),
        (
            OPERATOR,
            "POST",
            "/v1/accounts/R1/credits".into(),
            json!({"request_id": "q5", "amount": "1", "bucket": "current", "reason": "x"}),
            422,
            "no_personal_account",
        ),
        (
            CHANNEL,
            "POST",
            "/v1/bindings".into(),
            bind("q6", "E1", "R2", "parent_in_law"),
            422,
            "relation_not_allowed",
        ),
        (
            CHANNEL,
            "POST",
            "/v1/bindings".into(),
            bind("q7", "E1", "F1", "spouse"),
            422,
            "cross_region_not_allowed",
        ),
        (CHANNEL, "POST", "/v1/bindings".into(), bind("q8", "E1", "E1", "spouse"), 422, "self_binding"),
        (CHANNEL, "POST", "/v1/bindings".into(), bind("q9", "E1", "R1", "child"), 409, "binding_exists"),
        (
            OPERATOR,
            "POST",
            "/v1/bindings/B1/approve".into(),
            json!({"request_id": "q10"}),
            409,
            "binding_not_pending",
        ),
        (
            CHANNEL,
            "POST",
            "/v1/premiums".into(),
            premium("q11", "E1", "R2", "400.00"),
            422,
            "binding_not_active",
        ),
        (
            H1,
            "POST",
            "/v1/settlements/S1/capture".into(),
            json!({"request_id": "q12"}),
            409,
            "settlement_not_held",
        ),
        (
            H1,
            "POST",
            "/v1/settlements/S1/refunds".into(),
            json!({"request_id": "q13", "refund_id": "F1", "amount": "10.01", "reason": "x"}),
            422,
            "refund_exceeds_settled",
        ),
        (
            OPERATOR,
            "POST",
            "/v1/persons/E1/status".into(),
            json!({"request_id": "q14", "status": "active", "reason": "x"}),
            409,
            "status_unchanged",
        ),
        (
            CHANNEL,
            "POST",
            "/v1/premiums".into(),
            premium("q15", "E1", "R1", "399.00"),
            422,
            "premium_amount_mismatch",
        ),
        (
            CHANNEL,
            "POST",
            "/v1/premiums".into(),
            json!({"request_id": "q16", "payer": "E1", "beneficiary": "R1", "year": year + 3, "amount": "1.00"}),
            422,
            "premium_year_not_open",
        ),
        (
            H2,
            "POST",
            "/v1/settlements".into(),
            settle("q17", "H21010000002", "R1", "1"),
            422,
            "institution_unknown",
        ),
        (
            OPERATOR,
            "POST",
            "/v1/regions/210100/rules".into(),
            json!({"request_id": "q19", "version": 1, "effective_from": "2026-01-01T00:00:00+08:00"}),
            409,
            "rule_version_not_newer",
        ),
    ];
    for (token, method, path, body, status, code) in cases {
        let body = (!body.is_null()).then_some(body);
        let (got, answer) = service.call(method, Some(token), &path, body.as_ref());
        assert_eq!(
            (got, answer["error"]["code"].as_str().unwrap_or_default()),
            (status, code),
            "{method} {path}: {answer}"
        );
        if status >= 400 {
            assert!(
                answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
                "a readable message: {answer}"
            );
        }
    }
}

// Proves the codes that need a little more history: capture above the hold, year closed twice,
// premium paid twice, insufficient funds, a beneficiary not resident, the binding caps, no
// balance to bind, a binding no longer active, a category not listed, a suspended
// beneficiary, an institution of another region, and an oversized body.
#[test]
fn codes_after_some_history() {
    let home = Home::new();
    let service = home.start();
    world(&service);
    let expect = |token: &str, method: &str, path: &str, body: Value, status: u16, code: &str| {
        let (got, answer) = service.call(method, Some(token), path, Some(&body));
        assert_eq!(
            (got, answer["error"]["code"].as_str().unwrap_or_default()),
            (status, code),
            "{path}: {answer}"
        );
    };
    let ok = |token: &str, method: &str, path: &str, body: Value| {
        let (got, answer) = service.call(method, Some(token), path, Some(&body));
        assert!(got < 300, "{path}: {answer}");
    };
    ok(
        H1,
        "POST",
        "/v1/settlements",
        json!({"request_id": "h1", "settlement_id": "H1", "institution": "H21010000001",
        "beneficiary": "R1", "category": "pharmacy", "amount": "10.00", "mode": "hold"}),
    );
    expect(
        H1,
        "POST",
        "/v1/settlements/H1/capture",
        json!({"request_id": "h2", "amount": "10.01"}),
        422,
        "capture_exceeds_held",
    );
    ok(OPERATOR, "POST", "/v1/regions/210100/year-end", json!({"request_id": "y1", "year": 2025}));
    expect(
        OPERATOR,
        "POST",
        "/v1/regions/210100/year-end",
        json!({"request_id": "y2", "year": 2025}),
        409,
        "year_already_closed",
    );
    let year = {
        let events = service.events();
        domain::Timestamp::parse(events.last().unwrap()["recorded_at"].as_str().unwrap()).unwrap().cst_year()
    };
    let premium = |id: &str, payer: &str, who: &str| json!({"request_id": id, "payer": payer, "beneficiary": who, "year": year, "amount": "400.00"});
    ok(CHANNEL, "POST", "/v1/premiums", premium("m1", "E1", "R1"));
    expect(CHANNEL, "POST", "/v1/premiums", premium("m2", "E1", "R1"), 409, "premium_already_paid");
    ok(CHANNEL, "POST", "/v1/bindings", bind("b2", "E2", "R2", "child"));
    expect(CHANNEL, "POST", "/v1/premiums", premium("m3", "E2", "R2"), 422, "insufficient_funds");
    ok(CHANNEL, "POST", "/v1/bindings", bind("b3", "E2", "E1", "spouse"));
    expect(CHANNEL, "POST", "/v1/premiums", premium("m4", "E2", "E1"), 422, "beneficiary_not_resident");
    // A stricter rule version: caps, balance to bind, review, one relative a year, no pharmacy.
    ok(
        OPERATOR,
        "POST",
        "/v1/regions/210100/rules",
        json!({"request_id": "r3", "version": 2,
        "effective_from": "2026-01-01T00:00:00+08:00", "beneficiaries_per_authorizer_max": 2,
        "authorizers_per_beneficiary_max": 1, "bind_requires_balance": true, "auto_approve": false,
        "premium_relatives_per_year_max": 1, "own_categories": ["outpatient"], "family_categories": ["outpatient"],
        "resident_premium": support::premium_prices()}),
    );
    expect(CHANNEL, "POST", "/v1/premiums", premium("m5", "E1", "R2"), 422, "binding_not_active");
    expect(CHANNEL, "POST", "/v1/bindings", bind("b4", "E2", "R1", "child"), 422, "authorizer_no_balance");
    expect(
        CHANNEL,
        "POST",
        "/v1/bindings",
        bind("b5", "E1", "R2", "child"),
        422,
        "beneficiary_already_bound",
    );
    ok(
        OPERATOR,
        "POST",
        "/v1/accounts/E2/credits",
        json!({"request_id": "c9", "amount": "1.00", "bucket": "historic", "reason": "x"}),
    );
    ok(CHANNEL, "POST", "/v1/bindings/B2/revoke", json!({"request_id": "v1"}));
    expect(CHANNEL, "POST", "/v1/bindings/B2/revoke", json!({"request_id": "v2"}), 422, "binding_not_active");
    let (status, pending) = service.post(CHANNEL, "/v1/bindings", bind("b6", "E1", "E2", "spouse"));
    assert_eq!((status, pending["status"].clone()), (201, json!("pending")));
    expect(CHANNEL, "POST", "/v1/bindings", bind("b7", "E1", "R2", "child"), 422, "binding_limit_reached");
    ok(
        OPERATOR,
        "POST",
        &format!("/v1/bindings/{}/reject", pending["binding_id"].as_str().unwrap()),
        json!({"request_id": "j1", "reason": "x"}),
    );
    expect(
        H1,
        "POST",
        "/v1/settlements",
        settle("s9", "H21010000001", "R1", "1"),
        422,
        "category_not_allowed",
    );
    ok(
        OPERATOR,
        "POST",
        "/v1/persons/R1/status",
        json!({"request_id": "t1", "status": "suspended", "reason": "x"}),
    );
    expect(H1, "POST", "/v1/settlements", settle("s10", "H21010000001", "R1", "1"), 422, "person_not_active");
    expect(
        H1,
        "POST",
        "/v1/settlements",
        settle("s11", "H21010000001", "F1", "1"),
        422,
        "institution_region_mismatch",
    );
    let status = service.post_unread(OPERATOR, "/v1/persons", &vec![b'x'; 65 * 1024 + 1]);
    assert_eq!(status, 413, "payload_too_large");
}

//! The contract over the wire: the real binary on a free port, a temporary sled directory.

mod support;

use serde_json::{json, Value};
use support::{Home, Service, AUDITOR, CHANNEL, H1, H2, OPERATOR};

fn person(service: &Service, id: &str, scheme: &str) {
    let body =
        json!({"request_id": format!("person-{id}"), "person_id": id, "region": "210100", "scheme": scheme});
    let (status, answer) = service.post(OPERATOR, "/v1/persons", body);
    assert_eq!(status, 201, "{answer}");
}

fn credit(service: &Service, id: &str, amount: &str, bucket: &str) -> Value {
    let body = json!({"request_id": format!("credit-{id}-{amount}-{bucket}"), "amount": amount, "bucket": bucket,
        "reason": "allocation"});
    let (status, answer) = service.post(OPERATOR, &format!("/v1/accounts/{id}/credits"), body);
    assert_eq!(status, 200, "{answer}");
    answer
}

// Proves worked example 1 end to end: a child's pharmacy bill is paid from the parent's account.
#[test]
fn worked_example_1_family_pays_for_medicine() {
    let home = Home::new();
    let service = home.start();
    support::region_with_pharmacy(&service);
    person(&service, "P1", "employee");
    person(&service, "C", "resident");
    credit(&service, "P1", "500.00", "historic");
    let binding =
        json!({"request_id": "bind-1", "authorizer": "P1", "beneficiary": "C", "relation": "child"});
    let (status, answer) = service.post(CHANNEL, "/v1/bindings", binding);
    assert_eq!((status, answer["status"].clone()), (201, json!("active")));
    let settle = json!({"request_id": "s-1", "settlement_id": "S1", "institution": "H21010000001",
        "beneficiary": "C", "category": "pharmacy", "amount": "80.00"});
    let (status, answer) = service.post(H1, "/v1/settlements", settle);
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["splits"], json!([{"account": "P1", "source": "family", "amount": "80.00"}]));
    assert_eq!(answer["out_of_pocket"], json!("0.00"));
    assert_eq!(answer["explain"], json!([{"account": "P1", "source": "family", "paid": "80.00"}]));
    let (_, account) = service.get(OPERATOR, "/v1/accounts/P1");
    assert_eq!(account["available"], json!("420.00"));
}

// Proves idempotency across the wire: the same body (as a JSON value) answers the original
// status and bytes, rejections included; another body or another route under the same
// request_id is 409; a malformed body is 400 whatever its request_id; nothing is written twice.
#[test]
fn idempotent_retry_and_conflict() {
    let home = Home::new();
    let service = home.start();
    support::region_with_pharmacy(&service);
    person(&service, "P1", "employee");
    person(&service, "R", "resident");
    let path = "/v1/accounts/P1/credits";
    let body = br#"{"request_id": "c-1", "amount": "10.00", "bucket": "current", "reason": "allocation"}"#;
    let (status, first) = service.raw("POST", Some(OPERATOR), path, body);
    assert_eq!(status, 200);
    // The same JSON value with other key order and spacing: the same bytes back.
    let reordered =
        br#"{ "reason": "allocation", "bucket": "current", "amount": "10.00", "request_id": "c-1" }"#;
    assert_eq!(service.raw("POST", Some(OPERATOR), path, reordered), (200, first.clone()));
    // Another JSON value, even one meaning the same amount, is another body.
    for changed in [
        json!({"request_id": "c-1", "amount": "11.00", "bucket": "current", "reason": "allocation"}),
        json!({"request_id": "c-1", "amount": "10", "bucket": "current", "reason": "allocation"}),
    ] {
        let (status, conflict) = service.post(OPERATOR, path, changed);
        assert_eq!((status, conflict["error"]["code"].clone()), (409, json!("idempotency_conflict")));
    }
    // The same request_id on another route.
    let elsewhere =
        json!({"request_id": "c-1", "amount": "10.00", "bucket": "current", "reason": "allocation"});
    let (status, conflict) = service.post(OPERATOR, "/v1/accounts/R/credits", elsewhere);
    assert_eq!((status, conflict["error"]["code"].clone()), (409, json!("idempotency_conflict")));
    // A malformed body is refused for its shape before its request_id is looked up.
    let zero = json!({"request_id": "c-1", "amount": "0", "bucket": "current", "reason": "allocation"});
    let (status, refused) = service.post(OPERATOR, path, zero);
    assert_eq!((status, refused["error"]["code"].clone()), (400, json!("invalid_request")));
    // A business rejection is remembered and replayed byte for byte.
    let resident = br#"{"request_id": "c-2", "amount": "5.00", "bucket": "current", "reason": "allocation"}"#;
    let (status, rejected) = service.raw("POST", Some(OPERATOR), "/v1/accounts/R/credits", resident);
    assert_eq!(status, 422);
    assert_eq!(
        serde_json::from_str::<Value>(&rejected).unwrap()["error"]["code"],
        json!("no_personal_account")
    );
    assert_eq!(service.raw("POST", Some(OPERATOR), "/v1/accounts/R/credits", resident), (422, rejected));
    let (_, account) = service.get(OPERATOR, "/v1/accounts/P1");
    assert_eq!(account["current"], json!("10.00"));
    let credits = service.events().iter().filter(|e| e["kind"] == json!("credited")).count();
    assert_eq!(credits, 1, "nothing is written twice");
}

// Proves an institution acts only on its own settlements: another institution's capture,
// void or refund is 403 (whatever its body) and writes nothing, and the owner's still works.
#[test]
fn institutions_act_only_on_their_own_settlements() {
    let home = Home::new();
    let service = home.start();
    support::region_with_institutions(
        &service,
        json!({}),
        &[support::PHARMACY, ("H21010000002", "hospital")],
    );
    person(&service, "P1", "employee");
    credit(&service, "P1", "100.00", "current");
    let hold = json!({"request_id": "h-1", "settlement_id": "S1", "institution": "H21010000001",
        "beneficiary": "P1", "category": "pharmacy", "amount": "30.00", "mode": "hold"});
    assert_eq!(service.post(H1, "/v1/settlements", hold).0, 201);
    let settle = json!({"request_id": "s-2", "settlement_id": "S2", "institution": "H21010000001",
        "beneficiary": "P1", "category": "pharmacy", "amount": "20.00"});
    assert_eq!(service.post(H1, "/v1/settlements", settle).0, 201);
    let head = service.events().len();
    let attempts = [
        ("/v1/settlements/S1/capture", json!({"request_id": "x-1"})),
        ("/v1/settlements/S1/void", json!({"request_id": "x-2"})),
        (
            "/v1/settlements/S2/refunds",
            json!({"request_id": "x-3", "refund_id": "F1", "amount": "1.00", "reason": "r"}),
        ),
    ];
    for (path, body) in &attempts {
        let (status, answer) = service.post(H2, path, body.clone());
        assert_eq!((status, answer["error"]["code"].clone()), (403, json!("forbidden")), "{path}");
        // Ownership is checked before the body's shape: a broken body is still 403.
        for broken in [&b"{\"request_id\":"[..], b"", b"[1]"] {
            let (status, answer) = service.raw("POST", Some(H2), path, broken);
            assert_eq!(status, 403, "{path} {answer}");
        }
    }
    assert_eq!(service.events().len(), head, "a forbidden request writes nothing");
    // The refusals were not remembered: the owner may use the same request ids.
    let (status, captured) = service.post(H1, "/v1/settlements/S1/capture", json!({"request_id": "x-1"}));
    assert_eq!((status, captured["status"].clone()), (200, json!("settled")));
}

// Proves the role rules: no token 401, wrong role 403, another institution 403, auditor read-only.
#[test]
fn roles_are_enforced() {
    let home = Home::new();
    let service = home.start();
    support::region_with_pharmacy(&service);
    person(&service, "C", "resident");
    let person_body = json!({"request_id": "x", "person_id": "X", "region": "210100", "scheme": "resident"});
    assert_eq!(service.call("POST", None, "/v1/persons", Some(&person_body)).0, 401);
    assert_eq!(service.post("wrong-token", "/v1/persons", person_body.clone()).0, 401);
    assert_eq!(service.post(AUDITOR, "/v1/persons", person_body.clone()).0, 403);
    assert_eq!(service.post(CHANNEL, "/v1/persons", person_body).0, 403);
    let settle = json!({"request_id": "s", "settlement_id": "S", "institution": "H21010000001",
        "beneficiary": "C", "category": "pharmacy", "amount": "1.00"});
    assert_eq!(service.post(H2, "/v1/settlements", settle).0, 403);
    assert_eq!(service.get(AUDITOR, "/v1/audit/verify").0, 200);
    assert_eq!(service.call("GET", None, "/healthz", None).0, 200);
}

// Proves bad input is refused with the field named and nothing is written.
#[test]
fn bad_input_writes_nothing() {
    let home = Home::new();
    let service = home.start();
    support::region_with_pharmacy(&service);
    person(&service, "P1", "employee");
    let (_, before) = service.get(AUDITOR, "/v1/audit/verify");
    for (body, field) in [
        (json!({"request_id": "b1", "amount": "1.001", "bucket": "current", "reason": "x"}), "amount"),
        (json!({"request_id": "b2", "amount": "-1", "bucket": "current", "reason": "x"}), "amount"),
        (json!({"request_id": "b3", "amount": "1000000.01", "bucket": "current", "reason": "x"}), "amount"),
        (json!({"request_id": "b4", "amount": 5, "bucket": "current", "reason": "x"}), "amount"),
        (json!({"request_id": "b5", "amount": "1", "bucket": "current", "reason": "x", "extra": 1}), "extra"),
        (json!({"request_id": "bad id", "amount": "1", "bucket": "current", "reason": "x"}), "request_id"),
        (json!({"request_id": "b7", "amount": "0", "bucket": "current", "reason": "x"}), "amount"),
    ] {
        let (status, answer) = service.post(OPERATOR, "/v1/accounts/P1/credits", body);
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["code"], json!("invalid_request"));
        assert_eq!(answer["error"]["details"]["field"], json!(field), "{answer}");
    }
    let big = vec![b' '; 70 * 1024];
    assert_eq!(service.post_unread(OPERATOR, "/v1/accounts/P1/credits", &big), 413);
    let (status, text) =
        service.raw("POST", Some(OPERATOR), "/v1/accounts/P1/credits", br#"{"request_id": "m1", "amount": "#);
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((status, answer["error"]["details"]["field"].clone()), (400, json!("body")), "malformed JSON");
    for not_an_object in [&br#"["m1", "1.00", "current", "x"]"#[..], br#""m1""#, b"null"] {
        let (status, text) = service.raw("POST", Some(OPERATOR), "/v1/accounts/P1/credits", not_an_object);
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!((status, answer["error"]["details"]["field"].clone()), (400, json!("body")), "{text}");
    }
    let (status, answer) = service.post(
        OPERATOR,
        "/v1/accounts/bad%20id/credits",
        json!({"request_id": "m2", "amount": "1", "bucket": "current", "reason": "x"}),
    );
    assert_eq!(
        (status, answer["error"]["details"]["field"].clone()),
        (400, json!("person_id")),
        "bad path id"
    );
    for occurred_at in ["2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z", "yesterday"] {
        let body = json!({"request_id": "m3", "settlement_id": "S1", "institution": "H21010000001", "beneficiary": "P1",
            "category": "pharmacy", "amount": "1.00", "occurred_at": occurred_at});
        let (status, answer) = service.post(H1, "/v1/settlements", body);
        assert_eq!(
            (status, answer["error"]["details"]["field"].clone()),
            (400, json!("occurred_at")),
            "{occurred_at}"
        );
    }
    let (_, after) = service.get(AUDITOR, "/v1/audit/verify");
    assert_eq!(before["head_seq"], after["head_seq"], "nothing was written");
    // The refusals were not remembered: the corrected request goes through under the same id.
    let body = json!({"request_id": "m3", "settlement_id": "S1", "institution": "H21010000001", "beneficiary": "P1",
        "category": "pharmacy", "amount": "1.00"});
    assert_eq!(service.post(H1, "/v1/settlements", body).0, 201);
}

// Proves SIGTERM exits 0 and a restart (here with a small sled cache) serves the same state.
#[test]
fn graceful_shutdown_and_restart() {
    let home = Home::new();
    let mut service = home.start();
    support::region_with_pharmacy(&service);
    person(&service, "P1", "employee");
    credit(&service, "P1", "12.30", "current");
    assert!(service.terminate().success());
    // Restarted with a 1 MiB page cache: the same ledger, read back from disk.
    let tokens = home.tokens();
    let service =
        Service::start(&home.data(), &["--tokens", tokens.to_str().unwrap(), "--sled-cache-mib", "1"]);
    let (_, account) = service.get(OPERATOR, "/v1/accounts/P1");
    assert_eq!(account["current"], json!("12.30"));
    let (code, report) = support::tool(&["verify", "--data", home.data().to_str().unwrap()]);
    assert_ne!(code, 0, "verify refuses while the service holds the store: {report}");
}

// Proves every error is a JSON error body: a method a route does not take (405), and a path
// segment that is not UTF-8 — refused only after the token check (401 first, then 400).
#[test]
fn errors_are_json_even_at_the_router() {
    let home = Home::new();
    let service = home.start();
    let (status, body) = service.call("DELETE", Some(OPERATOR), "/v1/persons", None);
    assert_eq!((status, body["error"]["code"].clone()), (405, json!("method_not_allowed")));
    let (status, body) = service.call("GET", None, "/v1/persons/%FF", None);
    assert_eq!((status, body["error"]["code"].clone()), (401, json!("unauthorized")));
    let (status, body) = service.call("GET", Some(OPERATOR), "/v1/persons/%FF", None);
    assert_eq!((status, body["error"]["code"].clone()), (400, json!("invalid_request")));
    assert_eq!(body["error"]["details"]["field"], json!("person_id"));
}

// Proves the role table of api.md §3 on every route: a role that may not use a route gets
// 403 before its (here empty, so invalid) body is read; a role that may gets past the role
// check (400 for the empty body, or a 2xx/404 read). No token at all is 401 everywhere.
#[test]
fn role_table() {
    let home = Home::new();
    let service = home.start();
    let o = "operator";
    let c = "channel";
    let i = "institution";
    let a = "auditor";
    let routes: Vec<(&str, &str, Vec<&str>)> = vec![
        ("POST", "/v1/regions/210100/rules", vec![o]),
        ("GET", "/v1/regions/210100/rules", vec![o, a]),
        ("POST", "/v1/regions/210100/year-end", vec![o]),
        ("POST", "/v1/institutions", vec![o]),
        ("POST", "/v1/persons", vec![o]),
        ("GET", "/v1/persons/P1", vec![o, c, a]),
        ("POST", "/v1/persons/P1/status", vec![o]),
        ("POST", "/v1/accounts/P1/credits", vec![o]),
        ("GET", "/v1/accounts/P1", vec![o, c, a]),
        ("POST", "/v1/bindings", vec![c]),
        ("POST", "/v1/bindings/B1/approve", vec![o]),
        ("POST", "/v1/bindings/B1/reject", vec![o]),
        ("POST", "/v1/bindings/B1/revoke", vec![c, o]),
        ("PUT", "/v1/bindings/B1/authorization", vec![c]),
        ("GET", "/v1/persons/P1/bindings", vec![o, c, a]),
        ("POST", "/v1/settlements", vec![i]),
        ("GET", "/v1/settlements/S1", vec![i, o, a]),
        ("POST", "/v1/settlements/S1/capture", vec![i]),
        ("POST", "/v1/settlements/S1/void", vec![i]),
        ("POST", "/v1/settlements/S1/refunds", vec![i]),
        ("POST", "/v1/premiums", vec![c]),
        ("GET", "/v1/events", vec![o, a]),
        ("GET", "/v1/audit/verify", vec![o, a]),
        ("GET", "/v1/admin/projections/all", vec![o, a]),
    ];
    let tokens = [(o, OPERATOR), (c, CHANNEL), (i, H1), (a, AUDITOR)];
    for (method, path, allowed) in routes {
        let body = (method != "GET").then(|| json!({}));
        let (status, _) = service.call(method, None, path, body.as_ref());
        assert_eq!(status, 401, "{method} {path} without a token");
        for (role, token) in tokens {
            let (status, answer) = service.call(method, Some(token), path, body.as_ref());
            if allowed.contains(&role) {
                assert_ne!(status, 403, "{role} may {method} {path}: {answer}");
                assert_ne!(status, 401, "{role} {method} {path}");
            } else {
                assert_eq!(status, 403, "{role} may not {method} {path}: {answer}");
                assert_eq!(answer["error"]["code"], json!("forbidden"));
            }
        }
    }
    let (_, verify) = service.get(AUDITOR, "/v1/audit/verify");
    assert_eq!(verify["head_seq"], json!(0), "nothing was written");
}

// Proves a storage failure is fail-stop: once the writer cannot fsync (its directory has gone
// away under it), writes answer 503 storage_failure and /readyz 503, reads still answer; with
// the directory back, a restart verifies the chain and keeps everything acknowledged.
#[test]
fn storage_failure_is_fail_stop() {
    let home = Home::new();
    let mut service = home.start();
    support::region_with_pharmacy(&service);
    person(&service, "P1", "employee");
    credit(&service, "P1", "10.00", "current");
    assert_eq!(service.call("GET", None, "/readyz", None).0, 200);
    let moved = home.dir.path().join("moved");
    std::fs::rename(home.data(), &moved).unwrap();
    let body = json!({"request_id": "c-lost", "amount": "1.00", "bucket": "current", "reason": "allocation"});
    let (status, answer) = service.post(OPERATOR, "/v1/accounts/P1/credits", body);
    assert_eq!((status, answer["error"]["code"].clone()), (503, json!("storage_failure")), "{answer}");
    let (status, ready) = service.call("GET", None, "/readyz", None);
    assert_eq!((status, ready["status"].clone()), (503, json!("failed")));
    let again =
        json!({"request_id": "c-after", "amount": "1.00", "bucket": "current", "reason": "allocation"});
    assert_eq!(service.post(OPERATOR, "/v1/accounts/P1/credits", again).0, 503, "the writer stays stopped");
    assert_eq!(service.get(OPERATOR, "/v1/accounts/P1").1["current"], json!("10.00"), "reads still answer");
    service.kill();
    std::fs::rename(&moved, home.data()).unwrap();
    let service = home.start();
    let (_, verify) = service.get(AUDITOR, "/v1/audit/verify");
    assert_eq!(verify["ok"], json!(true));
    let (_, account) = service.get(OPERATOR, "/v1/accounts/P1");
    // The unacknowledged credit may or may not have reached the disk; the acknowledged one has.
    assert!(["10.00", "11.00"].contains(&account["current"].as_str().unwrap()), "{account}");
    assert_eq!(service.call("GET", None, "/readyz", None).0, 200);
}

// Proves `gongji serve` refuses to start without a tokens file (unless --insecure-dev), says
// why, and writes no ledger.
#[test]
fn serve_refuses_to_start_without_tokens() {
    let home = Home::new();
    let output = std::process::Command::new(support::binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(home.data())
        .env_remove("GONGJI_TOKENS")
        .output()
        .expect("gongji runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--tokens") && stderr.contains("--insecure-dev"), "{stderr}");
    assert!(!home.data().exists(), "nothing was written");
}

// Proves a sled cache of 0 MiB is refused before anything is opened, naming the flag.
#[test]
fn serve_refuses_an_empty_sled_cache() {
    let home = Home::new();
    let output = std::process::Command::new(support::binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--insecure-dev", "--sled-cache-mib", "0", "--data"])
        .arg(home.data())
        .output()
        .expect("gongji runs");
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--sled-cache-mib"), "{stderr}");
    assert!(!home.data().exists(), "nothing was written");
}

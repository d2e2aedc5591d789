//! `POST /v1/batch` (api.md §4 "Batches") against the real binary: each item answered as if it
//! had been sent alone, in order, with the batch's token; the batch's own shape refused whole
//! with nothing decided; every answered item durable.

mod support;

use serde_json::{json, Value};
use support::{Home, Service, AUDITOR, CHANNEL, H1, OPERATOR};

fn item(method: &str, path: &str, body: Value) -> Value {
    json!({"method": method, "path": path, "body": body})
}

/// Sends a batch; returns each item's (status, body), checking the batch itself is 200.
fn batch(service: &Service, token: &str, items: Vec<Value>) -> Vec<(u16, Value)> {
    let (status, answer) = service.post(token, "/v1/batch", json!({"requests": items}));
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), items.len(), "one result per item");
    results.into_iter().map(|r| (r["status"].as_u64().unwrap() as u16, r["body"].clone())).collect()
}

fn head_seq(service: &Service) -> Value {
    service.get(AUDITOR, "/v1/audit/verify").1["head_seq"].clone()
}

fn code(result: &(u16, Value)) -> (u16, &str) {
    (result.0, result.1["error"]["code"].as_str().unwrap_or("-"))
}

// Proves a batch is decided item by item as if each were sent alone: items see the effects of
// the ones before them, each has its own status (201, 200, 400, 403, 404, 405, 409, 413) and
// body, a repeated request_id replays or conflicts, one item's failure changes nothing for the
// others; a single retry of an item gets the item's answer back; everything answered survives
// a SIGKILL.
#[test]
fn items_are_answered_as_if_sent_alone() {
    let home = Home::new();
    let mut service = home.start();
    let rules = json!({"request_id": "r1", "version": 1, "effective_from": "2026-01-01T00:00:00+08:00"});
    let credit =
        json!({"request_id": "c1", "amount": "500.00", "bucket": "historic", "reason": "allocation"});
    let mut oversized = json!({"request_id": "c-big", "amount": "1.00", "bucket": "current", "reason": "x"});
    oversized["reason"] = json!("x".repeat(70 * 1024));
    let results = batch(
        &service,
        OPERATOR,
        vec![
            item("POST", "/v1/regions/210100/rules", rules),
            item(
                "POST",
                "/v1/institutions",
                json!({"request_id": "i1", "institution_id": "H21010000001",
                "region": "210100", "kind": "pharmacy", "name": "Pharmacy One"}),
            ),
            item(
                "POST",
                "/v1/persons",
                json!({"request_id": "p1", "person_id": "E1", "region": "210100", "scheme": "employee"}),
            ),
            item(
                "POST",
                "/v1/persons",
                json!({"request_id": "p2", "person_id": "R1", "region": "210100", "scheme": "resident"}),
            ),
            item("POST", "/v1/accounts/E1/credits", credit.clone()),
            item("POST", "/v1/accounts/E1/credits", credit.clone()),
            item(
                "POST",
                "/v1/accounts/E1/credits",
                json!({"request_id": "c1", "amount": "9.00", "bucket": "historic", "reason": "allocation"}),
            ),
            item(
                "POST",
                "/v1/accounts/R1/credits",
                json!({"request_id": "c2", "amount": "1.00", "bucket": "current", "reason": "x"}),
            ),
            item(
                "POST",
                "/v1/persons",
                json!({"request_id": "p3", "person_id": "E1", "region": "210100", "scheme": "employee"}),
            ),
            item(
                "POST",
                "/v1/accounts/E1/credits",
                json!({"request_id": "c3", "amount": "1.500", "bucket": "current", "reason": "x"}),
            ),
            item(
                "POST",
                "/v1/bindings",
                json!({"request_id": "b1", "authorizer": "E1", "beneficiary": "R1", "relation": "child"}),
            ),
            item("GET", "/v1/accounts/E1", json!({})),
            item("POST", "/v1/nowhere", json!({})),
            item("GET", "/v1/persons", json!({"request_id": "p9"})),
            item("POST", "/v1/accounts/E1/credits", oversized),
            item("POST", "/v1/accounts/E1/credits", json!(["c4", "1.00"])),
            item(
                "POST",
                "/v1/accounts/E1/credits",
                json!({"request_id": "c5", "amount": "2.00", "bucket": "current", "reason": "x"}),
            ),
        ],
    );
    let codes: Vec<(u16, &str)> = results.iter().map(code).collect();
    assert_eq!(
        codes,
        vec![
            (201, "-"),
            (201, "-"),
            (201, "-"),
            (201, "-"),
            (200, "-"),
            (200, "-"),
            (409, "idempotency_conflict"),
            (422, "no_personal_account"),
            (409, "already_exists"),
            (400, "invalid_request"),
            (403, "forbidden"),
            (404, "not_found"),
            (404, "not_found"),
            (405, "method_not_allowed"),
            (413, "payload_too_large"),
            (400, "invalid_request"),
            (200, "-"),
        ],
        "{results:#?}"
    );
    assert_eq!(results[4].1, results[5].1, "a repeated request_id replays the first answer");
    assert_eq!(results[4].1["historic"], json!("500.00"));
    assert_eq!(results[16].1["current"], json!("2.00"), "the last credit saw the ones before it");
    // Sent alone afterwards, an item's request gets the item's answer back.
    let (status, alone) = service.post(OPERATOR, "/v1/accounts/E1/credits", credit);
    assert_eq!((status, &alone), (200, &results[4].1));
    let (status, alone) = service.post(
        OPERATOR,
        "/v1/accounts/R1/credits",
        json!({"request_id": "c2", "amount": "1.00", "bucket": "current", "reason": "x"}),
    );
    assert_eq!((status, alone["error"]["code"].clone()), (422, json!("no_personal_account")), "remembered");

    let results = batch(
        &service,
        CHANNEL,
        vec![
            item(
                "POST",
                "/v1/bindings",
                json!({"request_id": "b1", "authorizer": "E1", "beneficiary": "R1", "relation": "child"}),
            ),
            item(
                "POST",
                "/v1/accounts/E1/credits",
                json!({"request_id": "c6", "amount": "1.00", "bucket": "current", "reason": "x"}),
            ),
        ],
    );
    assert_eq!(results.iter().map(code).collect::<Vec<_>>(), vec![(201, "-"), (403, "forbidden")]);
    let binding = results[0].1["binding_id"].as_str().unwrap().to_owned();
    assert_eq!(results[0].1["status"], json!("active"));

    let settle = |id: &str, institution: &str, amount: &str, mode: &str| {
        item(
            "POST",
            "/v1/settlements",
            json!({"request_id": id, "settlement_id": id, "institution": institution,
            "beneficiary": "R1", "category": "pharmacy", "amount": amount, "mode": mode}),
        )
    };
    let results = batch(
        &service,
        H1,
        vec![
            settle("S1", "H21010000001", "80.00", "settle"),
            settle("S2", "H21010000001", "30.00", "hold"),
            item("POST", "/v1/settlements/S2/capture", json!({"request_id": "cap-S2", "amount": "20.00"})),
            settle("S3", "H21010000001", "1000.00", "preview"),
            settle("S4", "H21010000002", "10.00", "settle"),
            item(
                "POST",
                "/v1/settlements/S1/refunds",
                json!({"request_id": "rf1", "refund_id": "RF1", "amount": "5.00", "reason": "returned"}),
            ),
            item("POST", "/v1/settlements/S9/void", json!({"request_id": "v9"})),
        ],
    );
    assert_eq!(
        results.iter().map(code).collect::<Vec<_>>(),
        vec![
            (201, "-"),
            (201, "-"),
            (200, "-"),
            (200, "-"),
            (403, "forbidden"),
            (201, "-"),
            (404, "not_found")
        ],
        "{results:#?}"
    );
    assert_eq!(results[0].1["splits"], json!([{"account": "E1", "source": "family", "amount": "80.00"}]));
    assert_eq!(results[2].1["captured"], json!("20.00"));
    assert_eq!(results[3].1["status"], json!("preview"));
    assert!(results[3].1.get("seq").is_none(), "a preview writes nothing");
    // 500.00 + 2.00 credited, 80.00 settled, 20.00 captured (10.00 released), 5.00 refunded.
    let (_, account) = service.get(OPERATOR, "/v1/accounts/E1");
    assert_eq!(account["available"], json!("407.00"), "{account}");

    // Everything answered is durable: killed without a chance to flush, the ledger keeps it.
    let seq = head_seq(&service);
    service.kill();
    let service = home.start();
    assert_eq!(head_seq(&service), seq);
    assert_eq!(service.get(OPERATOR, "/v1/accounts/E1").1["available"], json!("407.00"));
    let (status, bindings) = service.get(OPERATOR, "/v1/persons/E1/bindings");
    assert_eq!((status, bindings["as_authorizer"][0]["binding_id"].clone()), (200, json!(binding)));
    let (_, verify) = service.get(AUDITOR, "/v1/audit/verify");
    assert_eq!(verify["ok"], json!(true));
}

// Proves a batch whose own shape is wrong is refused whole, with nothing decided: no token,
// an empty list, too many items, an item without a body, an unknown field, a body that is not
// the batch object, a body over 16 MiB.
#[test]
fn a_malformed_batch_decides_nothing() {
    let home = Home::new();
    let service = home.start();
    let rules = |n: usize| {
        item(
            "POST",
            "/v1/regions/210100/rules",
            json!({"request_id": format!("r{n}"), "version": n + 1,
            "effective_from": "2026-01-01T00:00:00+08:00"}),
        )
    };
    let (status, answer) = service.call("POST", None, "/v1/batch", Some(&json!({"requests": [rules(0)]})));
    assert_eq!((status, answer["error"]["code"].clone()), (401, json!("unauthorized")));
    let too_many: Vec<Value> = (0..8193).map(rules).collect();
    let mut no_body = rules(0);
    no_body.as_object_mut().unwrap().remove("body");
    for body in [
        json!({"requests": []}),
        json!({"requests": too_many}),
        json!({"requests": [rules(0), no_body]}),
        json!({"requests": [rules(0)], "atomic": true}),
        json!({"requests": [{"method": "POST", "path": "/v1/persons", "body": {}, "headers": {}}]}),
        json!([rules(0)]),
        json!({"requests": "all"}),
    ] {
        let (status, answer) = service.post(OPERATOR, "/v1/batch", body);
        assert_eq!((status, answer["error"]["code"].clone()), (400, json!("invalid_request")), "{answer}");
    }
    let (status, text) =
        service.raw("POST", Some(OPERATOR), "/v1/batch", br#"{"requests": [], "requests": []}"#);
    assert_eq!(status, 400, "{text}");
    let huge = format!(
        r#"{{"requests": [{{"method": "POST", "path": "/v1/persons", "body": {{"name": "{}"}}}}]}}"#,
        "x".repeat(17 << 20)
    );
    assert_eq!(service.post_unread(OPERATOR, "/v1/batch", huge.as_bytes()), 413);
    assert_eq!(head_seq(&service), json!(0), "nothing was decided");
}

// Proves the largest batch the contract allows, 8,192 credits, is answered whole and in order:
// every item 200, each credit's seq one after the one before, the balance their sum.
#[test]
fn the_largest_batch_is_answered_in_order() {
    let home = Home::new();
    let service = home.start();
    let setup = batch(
        &service,
        OPERATOR,
        vec![
            item(
                "POST",
                "/v1/regions/210100/rules",
                json!({"request_id": "r1", "version": 1,
                "effective_from": "2026-01-01T00:00:00+08:00"}),
            ),
            item(
                "POST",
                "/v1/persons",
                json!({"request_id": "p1", "person_id": "E1", "region": "210100", "scheme": "employee"}),
            ),
        ],
    );
    assert!(setup.iter().all(|(status, _)| *status == 201), "{setup:?}");
    let credits: Vec<Value> = (0..8192)
        .map(|n| {
            item(
                "POST",
                "/v1/accounts/E1/credits",
                json!({"request_id": format!("c{n}"), "amount": "0.01",
                "bucket": "current", "reason": "monthly allocation"}),
            )
        })
        .collect();
    let results = batch(&service, OPERATOR, credits);
    let seqs: Vec<u64> = results
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body["seq"].as_u64().unwrap()
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "in the batch's order");
    assert_eq!(results.last().unwrap().1["current"], json!("81.92"));
    assert_eq!(service.get(OPERATOR, "/v1/accounts/E1").1["current"], json!("81.92"));
}

//! The worked examples of domain.md §7 over the wire, and a graceful shutdown under load.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use support::{Home, Service, CHANNEL, H1, OPERATOR};

/// A running service with region 210100 (rules version 1 with the premium prices, plus
/// `extra`) and its pharmacy H21010000001.
fn region(home: &Home, mut extra: Value) -> Service {
    let service = home.start();
    extra["resident_premium"] = support::premium_prices();
    support::region_with_institutions(&service, extra, &[support::PHARMACY]);
    service
}

fn person(service: &Service, id: &str, scheme: &str, credit: Option<(&str, &str)>) {
    let body =
        json!({"request_id": format!("p-{id}"), "person_id": id, "region": "210100", "scheme": scheme});
    assert_eq!(service.post(OPERATOR, "/v1/persons", body).0, 201);
    if let Some((amount, bucket)) = credit {
        let body = json!({"request_id": format!("c-{id}"), "amount": amount, "bucket": bucket, "reason": "allocation"});
        assert_eq!(service.post(OPERATOR, &format!("/v1/accounts/{id}/credits"), body).0, 200);
    }
}

fn bind(service: &Service, authorizer: &str, beneficiary: &str) -> String {
    let body = json!({"request_id": format!("b-{authorizer}-{beneficiary}"), "authorizer": authorizer, "beneficiary": beneficiary, "relation": "child"});
    let (status, answer) = service.post(CHANNEL, "/v1/bindings", body);
    assert_eq!(status, 201, "{answer}");
    answer["binding_id"].as_str().unwrap().to_owned()
}

fn authorize(service: &Service, binding: &str, priority: Option<u32>, monthly: Option<&str>) {
    let body = json!({"request_id": format!("a-{binding}"), "priority": priority, "monthly_limit": monthly, "annual_limit": null});
    let (status, answer) = service.put(CHANNEL, &format!("/v1/bindings/{binding}/authorization"), body);
    assert_eq!(status, 200, "{answer}");
}

fn settle(service: &Service, id: &str, beneficiary: &str, category: &str, amount: &str) -> Value {
    let body = json!({"request_id": id, "settlement_id": id, "institution": "H21010000001", "beneficiary": beneficiary,
        "category": category, "amount": amount});
    let (status, answer) = service.post(H1, "/v1/settlements", body);
    assert_eq!(status, 201, "{answer}");
    json!({"splits": answer["splits"], "out_of_pocket": answer["out_of_pocket"], "explain": answer["explain"]})
}

// Proves example 2 over HTTP: own account first, then family.
#[test]
fn example_2() {
    let home = Home::new();
    let service = region(&home, json!({}));
    person(&service, "P1", "employee", Some(("500.00", "historic")));
    person(&service, "B", "employee", Some(("30.00", "current")));
    bind(&service, "P1", "B");
    assert_eq!(
        settle(&service, "S1", "B", "outpatient", "100.00"),
        json!({
            "splits": [{"account": "B", "source": "own", "amount": "30.00"}, {"account": "P1", "source": "family", "amount": "70.00"}],
            "out_of_pocket": "0.00",
            "explain": [{"account": "B", "source": "own", "paid": "30.00", "reason": "own_balance_exhausted"},
                        {"account": "P1", "source": "family", "paid": "70.00"}],
        })
    );
}

// Proves example 3 over HTTP: inpatient is not for family.
#[test]
fn example_3() {
    let home = Home::new();
    let service = region(&home, json!({}));
    person(&service, "P1", "employee", Some(("500.00", "historic")));
    person(&service, "C", "resident", None);
    bind(&service, "P1", "C");
    assert_eq!(
        settle(&service, "S1", "C", "inpatient", "200.00"),
        json!({
            "splits": [], "out_of_pocket": "200.00",
            "explain": [{"account": null, "source": "family", "paid": "0.00", "reason": "category_not_for_family"}],
        })
    );
}

// Proves example 4 over HTTP: priority order, and one family account per settlement.
#[test]
fn example_4() {
    for one in [false, true] {
        let home = Home::new();
        let service =
            region(&home, if one { json!({"family_accounts_per_settlement": 1}) } else { json!({}) });
        person(&service, "P1", "employee", Some(("50.00", "historic")));
        person(&service, "M", "employee", Some(("20.00", "historic")));
        person(&service, "C", "resident", None);
        let p1 = bind(&service, "P1", "C");
        let m = bind(&service, "M", "C");
        authorize(&service, &p1, Some(2), None);
        authorize(&service, &m, Some(1), None);
        let split = settle(&service, "S1", "C", "pharmacy", "60.00");
        if one {
            assert_eq!(split["splits"], json!([{"account": "M", "source": "family", "amount": "20.00"}]));
            assert_eq!(split["out_of_pocket"], json!("40.00"));
        } else {
            assert_eq!(
                split["splits"],
                json!([{"account": "M", "source": "family", "amount": "20.00"}, {"account": "P1", "source": "family", "amount": "40.00"}])
            );
        }
    }
}

// Proves example 5 over HTTP within one month: the limit caps, then nothing more this month.
// (The month boundary itself is proven on the core's clock in crates/command/tests/examples.rs.)
#[test]
fn example_5() {
    let home = Home::new();
    let service = region(&home, json!({}));
    person(&service, "P1", "employee", Some(("500.00", "historic")));
    person(&service, "C", "resident", None);
    let b = bind(&service, "P1", "C");
    authorize(&service, &b, None, Some("50.00"));
    let first = settle(&service, "S1", "C", "pharmacy", "80.00");
    assert_eq!(
        (first["out_of_pocket"].clone(), first["explain"][0]["reason"].clone()),
        (json!("30.00"), json!("monthly_limit_reached"))
    );
    let second = settle(&service, "S2", "C", "pharmacy", "10.00");
    assert_eq!(second["out_of_pocket"], json!("10.00"));
    let (_, bindings) = service.get(CHANNEL, "/v1/persons/C/bindings");
    assert_eq!(bindings["as_beneficiary"][0]["used_month"], json!("50.00"));
}

// Proves example 6 over HTTP: reverse and pro-rata refunds of 30.00.
#[test]
fn example_6() {
    for (order, splits, cash) in [
        ("reverse", json!([]), "30.00"),
        (
            "pro_rata",
            json!([{"account": "B", "source": "own", "amount": "6.00"}, {"account": "P1", "source": "family", "amount": "15.00"}]),
            "9.00",
        ),
    ] {
        let home = Home::new();
        let service = region(&home, json!({"refund_order": order}));
        person(&service, "P1", "employee", Some(("50.00", "historic")));
        person(&service, "B", "employee", Some(("20.00", "current")));
        bind(&service, "P1", "B");
        settle(&service, "S1", "B", "outpatient", "100.00");
        let (status, refund) = service.post(
            H1,
            "/v1/settlements/S1/refunds",
            json!({"request_id": "r1", "refund_id": "F1", "amount": "30.00", "reason": "returned"}),
        );
        assert_eq!(status, 201);
        assert_eq!(
            (refund["splits"].clone(), refund["out_of_pocket"].clone()),
            (splits, json!(cash)),
            "{order}"
        );
    }
}

// Proves example 7 over HTTP: a premium once per relative and year.
#[test]
fn example_7() {
    let home = Home::new();
    let service = region(&home, json!({"premium_relatives_per_year_max": 1}));
    person(&service, "P1", "employee", Some(("1000.00", "historic")));
    person(&service, "C", "resident", None);
    person(&service, "D", "resident", None);
    bind(&service, "P1", "C");
    bind(&service, "P1", "D");
    let (_, events) = service.get(support::AUDITOR, "/v1/events?after_seq=0&limit=1");
    let year =
        domain::Timestamp::parse(events["events"][0]["recorded_at"].as_str().unwrap()).unwrap().cst_year();
    let pay = |who: &str, id: &str| json!({"request_id": id, "payer": "P1", "beneficiary": who, "year": year, "amount": "400.00"});
    let (status, answer) = service.post(CHANNEL, "/v1/premiums", pay("C", "q1"));
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["splits"], json!([{"account": "P1", "source": "family", "amount": "400.00"}]));
    let (status, answer) = service.post(CHANNEL, "/v1/premiums", pay("C", "q2"));
    assert_eq!((status, answer["error"]["code"].clone()), (409, json!("premium_already_paid")));
    let (status, answer) = service.post(CHANNEL, "/v1/premiums", pay("D", "q3"));
    assert_eq!((status, answer["error"]["code"].clone()), (422, json!("premium_relatives_limit_reached")));
}

// Proves SIGTERM under load: in-flight requests finish, the process exits 0, and every
// acknowledged request is there after a restart, once.
#[test]
fn graceful_shutdown_under_load() {
    let home = Home::new();
    let mut service = region(&home, json!({}));
    person(&service, "P1", "employee", None);
    let acked: Arc<Mutex<Vec<(String, Value)>>> = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let client = Service::client(&service.base, &service.data);
            let acked = acked.clone();
            std::thread::spawn(move || {
                for n in 0.. {
                    let id = format!("g{c}-{n}");
                    let body = json!({"request_id": id, "amount": "1.00", "bucket": "current", "reason": "allocation"});
                    match client.try_call("POST", Some(OPERATOR), "/v1/accounts/P1/credits", Some(&body)) {
                        Ok((200, answer)) => acked.lock().unwrap().push((id, answer)),
                        Ok((status, answer)) => panic!("unexpected {status} {answer}"),
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    assert!(service.terminate().success(), "SIGTERM exits 0");
    for client in clients {
        client.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(!acked.is_empty());
    let service = home.start();
    for (id, answer) in &acked {
        let body = json!({"request_id": id, "amount": "1.00", "bucket": "current", "reason": "allocation"});
        assert_eq!(
            &service.post(OPERATOR, "/v1/accounts/P1/credits", body).1,
            answer,
            "{id} is there, as answered"
        );
    }
    let (_, account) = service.get(OPERATOR, "/v1/accounts/P1");
    let current: f64 = account["current"].as_str().unwrap().parse().unwrap();
    let credits = service.events().iter().filter(|e| e["kind"] == "credited").count();
    assert!(credits >= acked.len(), "every acknowledged credit is logged");
    assert_eq!(current, credits as f64, "the balance is exactly the logged credits, none twice");
}

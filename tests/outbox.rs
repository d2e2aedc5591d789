//! Settlement events over NATS JetStream through the real binary and a real nats-server:
//! exactly once, in ledger order, with the contract's subject, headers and payload, through
//! NATS outages and service crashes; and `gongji reconcile` finding what differs.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::nats::{self, Nats};
use support::{Home, Service, AUDITOR, CHANNEL, H1, OPERATOR};

const TOKENS: &str = r#"{"tokens": [
  {"token": "op-secret", "role": "operator"},
  {"token": "app-secret", "role": "channel"},
  {"token": "h1-secret", "role": "institution", "institution": "H21010000001"},
  {"token": "dot-secret", "role": "institution", "institution": "H2.1"},
  {"token": "audit-secret", "role": "auditor"}
]}"#;

fn start(home: &Home, nats: Option<&Nats>) -> Service {
    let tokens = home.dir.path().join("tokens-dot.json");
    std::fs::write(&tokens, TOKENS).unwrap();
    let mut args = vec!["--tokens".to_owned(), tokens.to_str().unwrap().to_owned()];
    if let Some(nats) = nats {
        args.extend(["--nats".to_owned(), nats.url()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Service::start(&home.data(), &args)
}

fn setup(service: &Service) {
    for (path, body) in [
        (
            "/v1/regions/210100/rules",
            json!({"request_id": "r", "version": 1, "effective_from": "2026-01-01T00:00:00+08:00"}),
        ),
        (
            "/v1/institutions",
            json!({"request_id": "i1", "institution_id": "H21010000001", "region": "210100", "kind": "pharmacy", "name": "P"}),
        ),
        (
            "/v1/institutions",
            json!({"request_id": "i2", "institution_id": "H2.1", "region": "210100", "kind": "hospital", "name": "H"}),
        ),
        (
            "/v1/persons",
            json!({"request_id": "p1", "person_id": "P1", "region": "210100", "scheme": "employee"}),
        ),
        (
            "/v1/persons",
            json!({"request_id": "p2", "person_id": "C", "region": "210100", "scheme": "resident"}),
        ),
        (
            "/v1/accounts/P1/credits",
            json!({"request_id": "c1", "amount": "100000.00", "bucket": "historic", "reason": "x"}),
        ),
    ] {
        let (status, answer) = service.post(OPERATOR, path, body);
        assert!(status < 300, "{path}: {answer}");
    }
    let (status, _) = service.post(
        CHANNEL,
        "/v1/bindings",
        json!({"request_id": "b", "authorizer": "P1", "beneficiary": "C", "relation": "child"}),
    );
    assert_eq!(status, 201);
}

fn settle(service: &Service, id: &str, mode: &str) -> u16 {
    let body = json!({"request_id": id, "settlement_id": id, "institution": "H21010000001", "beneficiary": "C",
        "category": "pharmacy", "amount": "10.00", "mode": mode});
    service.post(H1, "/v1/settlements", body).0
}

const SETTLEMENT_KINDS: &[&str] =
    &["settled", "held", "captured", "voided", "expired", "refunded", "premium_paid"];

fn settlement_events(events: &[Value]) -> Vec<Value> {
    events.iter().filter(|e| SETTLEMENT_KINDS.contains(&e["kind"].as_str().unwrap())).cloned().collect()
}

/// Waits (bounded) until the stream holds `count` messages.
fn wait_for(url: &str, count: usize) -> Vec<nats::Message> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let messages = nats::read_stream(url);
        if messages.len() >= count {
            return messages;
        }
        assert!(Instant::now() < deadline, "the stream reaches {count} messages (has {})", messages.len());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each settlement-side event of the log is in the stream exactly once, in ledger order.
fn assert_exactly_once(messages: &[nats::Message], expected: &[Value]) {
    let seqs: Vec<u64> = messages.iter().map(|m| m.gongji_seq).collect();
    let want: Vec<u64> = expected.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, want, "every settlement event once, in ledger order");
}

// Proves every settlement-side kind arrives once, in order, with its subject (a dot in an
// institution id written %2E; a premium under "-"), Nats-Msg-Id {ledger_id}:{seq}, Gongji-Seq,
// and the stored envelope byte for byte as the payload.
#[test]
fn every_settlement_event_exactly_once() {
    let nats = Nats::start();
    let home = Home::new();
    let mut service = start(&home, Some(&nats));
    setup(&service);
    assert_eq!(settle(&service, "S1", "settle"), 201);
    assert_eq!(settle(&service, "S2", "hold"), 201);
    assert_eq!(
        service.post(H1, "/v1/settlements/S2/capture", json!({"request_id": "cap", "amount": "4.00"})).0,
        200
    );
    assert_eq!(settle(&service, "S3", "hold"), 201);
    assert_eq!(service.post(H1, "/v1/settlements/S3/void", json!({"request_id": "void"})).0, 200);
    let refund = json!({"request_id": "ref", "refund_id": "F1", "amount": "3.00", "reason": "returned"});
    assert_eq!(service.post(H1, "/v1/settlements/S1/refunds", refund).0, 201);
    // The current premium year (+08:00), from the ledger clock; the default rules price 2026.
    let last = service.events().pop().unwrap();
    let year = domain::Timestamp::parse(last["recorded_at"].as_str().unwrap()).unwrap().cst_year();
    let premium =
        json!({"request_id": "prem", "payer": "P1", "beneficiary": "C", "year": year, "amount": "400.00"});
    let (status, answer) = service.post(CHANNEL, "/v1/premiums", premium);
    assert_eq!(status, 201, "{answer}");
    let dotted = json!({"request_id": "dot", "settlement_id": "S4", "institution": "H2.1", "beneficiary": "C",
        "category": "outpatient", "amount": "5.00"});
    assert_eq!(service.post("dot-secret", "/v1/settlements", dotted).0, 201);

    let expected = settlement_events(&service.events());
    let messages = wait_for(&nats.url(), expected.len());
    assert_exactly_once(&messages, &expected);
    let (_, verify) = service.get(AUDITOR, "/v1/audit/verify");
    let ledger_id = verify["ledger_id"].as_str().unwrap();
    for (message, event) in messages.iter().zip(&expected) {
        let kind = event["kind"].as_str().unwrap();
        let institution = match kind {
            "premium_paid" => "-".to_owned(),
            _ => event["payload"]["institution"].as_str().unwrap().replace('.', "%2E"),
        };
        assert_eq!(message.subject, format!("gongji.settlement.210100.{institution}.{kind}"));
        assert_eq!(message.msg_id, format!("{ledger_id}:{}", event["seq"]));
        assert_eq!(serde_json::from_slice::<Value>(&message.payload).unwrap(), *event);
    }
    let kinds: Vec<&str> = expected.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in ["settled", "held", "captured", "voided", "refunded", "premium_paid"] {
        assert!(kinds.contains(&kind), "{kind} is covered: {kinds:?}");
    }
    assert!(messages.iter().any(|m| m.subject.contains("H2%2E1")));
    // Byte for byte: the payload is the stored envelope as the export writes it.
    assert!(service.terminate().success());
    let (_, export) = support::tool(&["export", "--data", home.data().to_str().unwrap()]);
    let lines: std::collections::BTreeMap<u64, &str> = export
        .lines()
        .map(|line| (serde_json::from_str::<Value>(line).unwrap()["seq"].as_u64().unwrap(), line))
        .collect();
    for message in &messages {
        assert_eq!(message.payload, lines[&message.gongji_seq].as_bytes());
    }
}

// Proves a NATS outage loses nothing: commands are accepted meanwhile, /readyz stays ready,
// and when NATS returns the backlog drains with nothing missing and nothing twice.
#[test]
fn nats_outage_then_recovery() {
    let mut nats = Nats::start();
    let home = Home::new();
    let service = start(&home, Some(&nats));
    setup(&service);
    for n in 0..5 {
        assert_eq!(settle(&service, &format!("A{n}"), "settle"), 201);
    }
    wait_for(&nats.url(), 5);
    nats.stop();
    for n in 0..20 {
        assert_eq!(
            settle(&service, &format!("B{n}"), "settle"),
            201,
            "commands are accepted while NATS is down"
        );
    }
    assert_eq!(service.call("GET", None, "/readyz", None).0, 200);
    nats.restart();
    let expected = settlement_events(&service.events());
    assert_eq!(expected.len(), 25);
    let messages = wait_for(&nats.url(), expected.len());
    std::thread::sleep(Duration::from_millis(300));
    assert_exactly_once(&nats::read_stream(&nats.url()), &expected);
    assert_eq!(messages.len(), 25);
}

// Proves a service SIGKILLed in the middle of a burst, then restarted, leaves the stream with
// every settlement event of the log once.
#[test]
fn service_killed_while_publishing() {
    let nats = Nats::start();
    let home = Home::new();
    let mut service = start(&home, Some(&nats));
    setup(&service);
    let base = service.base.clone();
    let data = service.data.clone();
    let burst = std::thread::spawn(move || {
        let client = Service::client(&base, &data);
        let mut acknowledged = 0;
        for n in 0..400 {
            let body = json!({"request_id": format!("K{n}"), "settlement_id": format!("K{n}"), "institution": "H21010000001",
                "beneficiary": "C", "category": "pharmacy", "amount": "1.00"});
            match client.try_call("POST", Some(H1), "/v1/settlements", Some(&body)) {
                Ok((201, _)) => acknowledged += 1,
                _ => break,
            }
        }
        acknowledged
    });
    // Kill once the stream has started receiving the burst.
    wait_for(&nats.url(), 20);
    service.kill();
    let acknowledged = burst.join().unwrap();
    assert!(acknowledged >= 20);
    let service = start(&home, Some(&nats));
    let expected = settlement_events(&service.events());
    assert!(expected.len() >= acknowledged, "every acknowledged settlement is in the log");
    wait_for(&nats.url(), expected.len());
    std::thread::sleep(Duration::from_millis(300));
    assert_exactly_once(&nats::read_stream(&nats.url()), &expected);
}

fn reconcile(home: &Home, nats: &Nats, repair: bool) -> (i32, String) {
    let data = home.data();
    let url = nats.url();
    let mut args = vec!["reconcile", "--nats", url.as_str(), "--data", data.to_str().unwrap()];
    if repair {
        args.push("--repair");
    }
    support::tool(&args)
}

// Proves reconcile: OK on a healthy stream; a deleted message is reported missing by seq (and
// cannot be resent inside the duplicate window, which it says); a foreign message is extra;
// events that never reached the stream are republished by --repair.
#[test]
fn reconcile_finds_and_repairs() {
    let nats = Nats::start();
    let home = Home::new();
    let mut service = start(&home, Some(&nats));
    setup(&service);
    for n in 0..6 {
        assert_eq!(settle(&service, &format!("R{n}"), "settle"), 201);
    }
    let expected = settlement_events(&service.events());
    let messages = wait_for(&nats.url(), expected.len());
    assert!(service.terminate().success());
    let (code, report) = reconcile(&home, &nats, false);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("reconcile: OK"));

    // Events written while the service ran without NATS never reached the stream.
    let mut offline = start(&home, None);
    for n in 0..3 {
        assert_eq!(settle(&offline, &format!("O{n}"), "settle"), 201);
    }
    assert!(offline.terminate().success());
    let (code, report) = reconcile(&home, &nats, false);
    assert_eq!(code, 1);
    assert!(report.contains("missing: 3"), "{report}");
    let (code, report) = reconcile(&home, &nats, true);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("republished"), "{report}");
    let (code, report) = reconcile(&home, &nats, false);
    assert_eq!(code, 0, "after the repair: {report}");

    // A deleted message: missing, named by its ledger seq; inside the window it cannot be resent.
    let victim = &messages[2];
    nats::delete_message(&nats.url(), victim.stream_seq);
    let (code, report) = reconcile(&home, &nats, false);
    assert_eq!(code, 1);
    assert!(report.contains(&format!("missing: 1 (seq {})", victim.gongji_seq)), "{report}");
    let (code, report) = reconcile(&home, &nats, true);
    assert_eq!(code, 1);
    assert!(report.contains("duplicate window"), "{report}");

    // A foreign message on a settlement subject: extra.
    nats::publish_foreign(&nats.url());
    let (code, report) = reconcile(&home, &nats, false);
    assert_eq!(code, 1);
    assert!(report.contains("extra: 1"), "{report}");
}

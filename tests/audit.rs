//! Auditors and operators through the real binary: the export reproduces what the live service
//! reports, verifies alone and names a tampered line; online rebuilds run beside the service
//! and report a diff; the offline rebuild replays with progress.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{Home, Service, AUDITOR, CHANNEL, H1, OPERATOR};

fn populate(service: &Service) {
    let calls = [
        (
            "/v1/regions/210100/rules",
            json!({"request_id": "r", "version": 1, "effective_from": "2026-01-01T00:00:00+08:00"}),
        ),
        (
            "/v1/institutions",
            json!({"request_id": "i", "institution_id": "H21010000001", "region": "210100", "kind": "pharmacy", "name": "P"}),
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
            json!({"request_id": "c1", "amount": "300.00", "bucket": "historic", "reason": "carried"}),
        ),
    ];
    for (path, body) in calls {
        let (status, answer) = service.post(OPERATOR, path, body);
        assert!(status < 300, "{path}: {answer}");
    }
    let (status, _) = service.post(
        CHANNEL,
        "/v1/bindings",
        json!({"request_id": "b", "authorizer": "P1", "beneficiary": "C", "relation": "child"}),
    );
    assert_eq!(status, 201);
    for n in 0..5 {
        let body = json!({"request_id": format!("s{n}"), "settlement_id": format!("S{n}"), "institution": "H21010000001",
            "beneficiary": "C", "category": "pharmacy", "amount": format!("{}.50", 10 + n)});
        assert_eq!(service.post(H1, "/v1/settlements", body).0, 201);
    }
}

// Proves an export replays to exactly what the live service reported as of a point, verifies on
// its own with the live head hash, and a changed byte is named by seq.
#[test]
fn export_reproduces_the_live_service() {
    let home = Home::new();
    let mut service = home.start();
    populate(&service);
    let events = service.events();
    let middle = &events[events.len() - 3];
    let (seq, at) = (middle["seq"].as_u64().unwrap(), middle["recorded_at"].as_str().unwrap().to_owned());
    let (_, live_by_time) = service.get(OPERATOR, &format!("/v1/accounts/P1?as_of={at}"));
    let (_, live_by_seq) = service.get(OPERATOR, &format!("/v1/accounts/P1?as_of_seq={seq}"));
    assert_eq!(live_by_time, live_by_seq);
    let (_, verify) = service.get(AUDITOR, "/v1/audit/verify");
    assert!(service.terminate().success());

    let data = home.data();
    let (code, export) = support::tool(&["export", "--data", data.to_str().unwrap()]);
    assert_eq!(code, 0);
    let file = home.dir.path().join("export.jsonl");
    std::fs::write(&file, &export).unwrap();
    let last: Value = serde_json::from_str(export.lines().last().unwrap()).unwrap();
    assert_eq!(last["hash"], verify["head_hash"], "the export ends at the live head hash");

    let (code, replayed) =
        support::tool(&["replay", "--from-export", file.to_str().unwrap(), "--as-of", &at]);
    assert_eq!(code, 0);
    let balance: Value = replayed
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["type"] == "balance" && l["person_id"] == "P1")
        .unwrap();
    for field in ["current", "historic", "held", "available", "as_of_seq"] {
        assert_eq!(balance[field], live_by_time[field], "{field}");
    }
    let (_, from_data) = support::tool(&["replay", "--data", data.to_str().unwrap(), "--as-of", &at]);
    assert_eq!(replayed, from_data, "export and data directory replay alike");

    let (code, report) = support::tool(&["verify", "--from-export", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    let tampered = export.replacen("\"12.50\"", "\"12.51\"", 1);
    assert_ne!(tampered, export);
    std::fs::write(&file, tampered).unwrap();
    let (code, report) = support::tool(&["verify", "--from-export", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(report.contains("hash chain broken at seq"), "{report}");
}

fn wait_done(service: &Service, name: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = service.get(OPERATOR, &format!("/v1/admin/projections/{name}"));
        assert_eq!(status, 200);
        if body["status"] != "running" {
            return body;
        }
        assert!(Instant::now() < deadline, "the rebuild finishes");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// Proves an online rebuild (dry run, then real) builds a shadow copy while serving, reports an
// empty diff for a healthy ledger and swaps; operators only; the offline rebuild succeeds.
#[test]
fn online_and_offline_rebuilds() {
    let home = Home::new();
    let mut service = home.start();
    populate(&service);
    assert_eq!(service.post(AUDITOR, "/v1/admin/projections/all/rebuild", json!({})).0, 403);
    assert_eq!(service.post(OPERATOR, "/v1/admin/projections/nope/rebuild", json!({})).0, 404);
    let (status, started) =
        service.post(OPERATOR, "/v1/admin/projections/all/rebuild?dry_run=true", json!({}));
    assert_eq!((status, started["status"].clone()), (202, json!("running")));
    let done = wait_done(&service, "all");
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["swapped"], false);
    assert_eq!(
        done["diff"],
        json!({"accounts_changed": 0, "bindings_changed": 0, "settlements_changed": 0, "first": []})
    );
    let (_, bindings) = service.get(OPERATOR, "/v1/admin/projections/bindings");
    assert_eq!(
        (bindings["depends_on"].clone(), bindings["stale"].clone()),
        (json!(["limit_window"]), json!(false)),
        "binding usage depends on limit_window and is computed under the rules in force"
    );
    let (status, _) = service.post(OPERATOR, "/v1/admin/projections/balances/rebuild", json!({}));
    assert_eq!(status, 202);
    let done = wait_done(&service, "balances");
    assert_eq!((done["status"].clone(), done["swapped"].clone()), (json!("done"), json!(true)));
    let (_, account) = service.get(OPERATOR, "/v1/accounts/P1");
    assert_eq!(account["historic"], json!("237.50"), "the swapped projections serve the same balances");
    assert!(service.terminate().success());
    let (code, out) = support::tool(&["rebuild", "--data", home.data().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["snapshot_seq"], summary["events"]);
}

//! Auditors and operators through the real binary: the export reproduces what the live service
//! reports, verifies alone and names a tampered line; online rebuilds run beside the service
//! and report a diff; the offline rebuild replays with progress, equals a replay from scratch
//! and refuses names it does not know; `replay` from the data directory (snapshot + tail)
//! prints the same with and without snapshots.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{Home, Service, AUDITOR, CHANNEL, H1, OPERATOR};

fn populate(service: &Service) {
    support::region_with_pharmacy(service);
    let calls = [
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

/// `populate`, then a second employee and authorizer of the same beneficiary, more credits,
/// settlements drawn from either family account, and a hold captured: balances and binding
/// usage that differ from one point of the log to the next.
fn populate_family(service: &Service) {
    populate(service);
    let calls = [
        (
            OPERATOR,
            "/v1/persons",
            json!({"request_id": "p3", "person_id": "P2", "region": "210100", "scheme": "employee"}),
        ),
        (
            OPERATOR,
            "/v1/accounts/P2/credits",
            json!({"request_id": "c2", "amount": "80.00", "bucket": "current", "reason": "allocation"}),
        ),
        (
            CHANNEL,
            "/v1/bindings",
            json!({"request_id": "b2", "authorizer": "P2", "beneficiary": "C", "relation": "child"}),
        ),
        (
            H1,
            "/v1/settlements",
            json!({"request_id": "s10", "settlement_id": "S10", "institution": "H21010000001",
                "beneficiary": "P2", "category": "pharmacy", "amount": "15.25"}),
        ),
        (
            H1,
            "/v1/settlements",
            json!({"request_id": "s11", "settlement_id": "S11", "institution": "H21010000001",
                "beneficiary": "C", "category": "pharmacy", "amount": "40.00", "mode": "hold"}),
        ),
        (H1, "/v1/settlements/S11/capture", json!({"request_id": "s11c", "amount": "30.00"})),
        (
            OPERATOR,
            "/v1/accounts/P1/credits",
            json!({"request_id": "c3", "amount": "25.00", "bucket": "current", "reason": "allocation"}),
        ),
        (
            H1,
            "/v1/settlements",
            json!({"request_id": "s12", "settlement_id": "S12", "institution": "H21010000001",
                "beneficiary": "C", "category": "pharmacy", "amount": "7.75"}),
        ),
    ];
    for (token, path, body) in calls {
        let (status, answer) = service.post(token, path, body);
        assert!(status < 300, "{path}: {status} {answer}");
    }
}

fn text(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// `gongji replay` with `args`; it must succeed.
fn replay(args: &[&str]) -> String {
    let (code, out) = support::tool(&[&["replay"], args].concat());
    assert_eq!(code, 0, "replay {args:?}: {out}");
    out
}

/// The replay lines of one `type` ("balance" or "binding"), parsed.
fn lines_of(replayed: &str, kind: &str) -> Vec<Value> {
    replayed
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("replay lines are JSON"))
        .filter(|line| line["type"] == kind)
        .collect()
}

/// The seqs of the snapshots stored in a stopped ledger.
fn snapshot_seqs(data: &Path) -> Vec<u64> {
    let store = ledger::Store::open(data).expect("the ledger opens");
    store.reader().snapshot_seqs(u64::MAX).expect("snapshots are listed")
}

// Proves `replay --from-export FILE --as-of T` prints exactly the balance and binding lines of
// `replay --data DIR --as-of T` at several points (before the first event, inside the log, at
// its head), and that the live service's `/v1/accounts/{id}?as_of=T` agrees for every account.
#[test]
fn export_replay_equals_data_replay_and_live_at_many_points() {
    let home = Home::new();
    let mut service = home.start();
    populate_family(&service);
    let events = service.events();
    let times: Vec<String> = [events.len() / 3, 2 * events.len() / 3, events.len() - 1]
        .iter()
        .map(|index| events[*index]["recorded_at"].as_str().unwrap().to_owned())
        .chain(["2000-01-01T00:00:00Z".to_owned()])
        .collect();
    let persons = ["P1", "P2", "C"];
    // What the live service answers for each account at each point (status, body).
    let live: Vec<Vec<(u16, Value)>> = times
        .iter()
        .map(|at| {
            persons
                .iter()
                .map(|person| service.get(OPERATOR, &format!("/v1/accounts/{person}?as_of={at}")))
                .collect()
        })
        .collect();
    assert!(service.terminate().success());

    let data = home.data();
    let (code, export) = support::tool(&["export", "--data", text(&data)]);
    assert_eq!(code, 0);
    let file = home.dir.path().join("export.jsonl");
    std::fs::write(&file, &export).unwrap();
    let mut bindings_seen = 0;
    for (at, live) in times.iter().zip(&live) {
        let from_export = replay(&["--from-export", text(&file), "--as-of", at]);
        let from_data = replay(&["--data", text(&data), "--as-of", at]);
        for kind in ["balance", "binding"] {
            assert_eq!(lines_of(&from_export, kind), lines_of(&from_data, kind), "{kind} lines at {at}");
        }
        assert_eq!(from_export, from_data, "every line at {at}");
        bindings_seen += lines_of(&from_data, "binding").len();
        let balances = lines_of(&from_data, "balance");
        for (person, (status, account)) in persons.iter().zip(live) {
            match balances.iter().find(|line| line["person_id"] == *person) {
                Some(line) => {
                    assert_eq!(*status, 200, "{person} at {at}: {account}");
                    for field in ["person_id", "current", "historic", "held", "available", "as_of_seq"] {
                        assert_eq!(line[field], account[field], "{person}.{field} at {at}");
                    }
                }
                None => assert_eq!(*status, 404, "{person} had no account at {at}: {account}"),
            }
        }
    }
    assert!(bindings_seen > 0, "some point has bindings to compare");
    assert_eq!(replay(&["--data", text(&data), "--as-of", &times[3]]), "", "nothing before the first event");
}

// Proves `replay --data DIR --as-of-seq N` (and `--as-of T`) prints the same bytes at every seq
// with the snapshots a service wrote every few events as after deleting them all, and the same
// as a fold of the export from its first event.
#[test]
fn replay_is_the_same_with_and_without_snapshots() {
    let home = Home::new();
    let data = home.data();
    let mut service = Service::start(&data, &["--tokens", text(&home.tokens()), "--snapshot-every", "3"]);
    populate_family(&service);
    let events = service.events();
    assert!(service.terminate().success());
    let head = events.len() as u64;
    let snapshots = snapshot_seqs(&data);
    assert!(
        snapshots.iter().any(|seq| (1..head).contains(seq)),
        "a snapshot below the head exists, so replays start from one: {snapshots:?}"
    );
    let (code, export) = support::tool(&["export", "--data", text(&data)]);
    assert_eq!(code, 0);
    let file = home.dir.path().join("export.jsonl");
    std::fs::write(&file, &export).unwrap();

    let points: Vec<String> = (0..=head + 1).map(|seq| seq.to_string()).collect();
    let times: Vec<&str> = events.iter().step_by(4).map(|e| e["recorded_at"].as_str().unwrap()).collect();
    let replay_all = |origin: &[&str]| -> Vec<String> {
        let by_seq = points.iter().map(|seq| replay(&[origin, &["--as-of-seq", seq]].concat()));
        let by_time = times.iter().map(|at| replay(&[origin, &["--as-of", at]].concat()));
        by_seq.chain(by_time).collect()
    };
    let with_snapshots = replay_all(&["--data", text(&data)]);
    let from_export = replay_all(&["--from-export", text(&file)]);
    ledger::Store::open(&data).unwrap().reader().clear_snapshots().unwrap();
    assert_eq!(snapshot_seqs(&data), Vec::<u64>::new(), "every snapshot is deleted");
    let without_snapshots = replay_all(&["--data", text(&data)]);
    for (n, ((with, without), export)) in
        with_snapshots.iter().zip(&without_snapshots).zip(&from_export).enumerate()
    {
        assert_eq!(with, without, "replay {n}: snapshot + tail equals the log alone");
        assert_eq!(with, export, "replay {n}: the data directory equals the export");
    }
    assert!(with_snapshots[head as usize].contains("\"P2\""), "the head replay has every account");
    assert_eq!(with_snapshots[head as usize], with_snapshots[head as usize + 1], "past the head is the head");
}

// Proves the offline rebuild equals a replay from scratch: every replay after `gongji rebuild`
// (which deletes the snapshots and stores one at the head) prints what it printed before, the
// ledger still verifies, each valid name succeeds, and an unknown name fails with the list of
// valid ones and changes nothing.
#[test]
fn offline_rebuild_equals_from_scratch_and_refuses_unknown_names() {
    let home = Home::new();
    let data = home.data();
    let mut service = Service::start(&data, &["--tokens", text(&home.tokens()), "--snapshot-every", "4"]);
    populate_family(&service);
    let events = service.events();
    assert!(service.terminate().success());
    let head = events.len() as u64;
    let middle = events[events.len() / 2]["recorded_at"].as_str().unwrap().to_owned();
    let replay_points = || -> Vec<String> {
        let mut out: Vec<String> = [1, head / 2, head - 1, head]
            .iter()
            .map(|seq| replay(&["--data", text(&data), "--as-of-seq", &seq.to_string()]))
            .collect();
        out.push(replay(&["--data", text(&data), "--as-of", &middle]));
        out
    };
    let before = replay_points();

    let (code, out) = support::tool(&["rebuild", "--data", text(&data)]);
    assert_eq!(code, 0, "{out}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((summary["events"].clone(), summary["snapshot_seq"].clone()), (json!(head), json!(head)));
    assert_eq!(summary["rebuilt"], json!(["balances", "bindings", "settlements", "requests"]));
    let summary_indexed = summary["requests_indexed"].clone();
    assert!(summary_indexed.as_u64().is_some_and(|n| n > 0 && n <= head), "{summary}");
    assert_eq!(snapshot_seqs(&data), vec![head], "the rebuild leaves one snapshot, at the head");
    assert_eq!(replay_points(), before, "after the rebuild every replay is as before");

    // The views and the idempotency index are one replay and one snapshot: naming any of
    // them rebuilds them all.
    for name in ["bindings", "requests", "all"] {
        let (code, out) = support::tool(&["rebuild", "--data", text(&data), "--projection", name]);
        assert_eq!(code, 0, "{name}: {out}");
        let summary: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (summary["projection"].clone(), summary["rebuilt"].clone()),
            (json!(name), json!(["balances", "bindings", "settlements", "requests"]))
        );
        assert_eq!(summary["requests_indexed"], summary_indexed, "{name}");
    }

    let refused = Command::new(support::binary())
        .args(["rebuild", "--data", text(&data), "--projection", "nosuch"])
        .output()
        .expect("gongji runs");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "an unknown projection is refused: {stderr}");
    assert!(refused.stdout.is_empty(), "nothing is reported as rebuilt");
    assert!(stderr.contains("invalid value 'nosuch' for '--projection"), "{stderr}");
    assert!(stderr.contains("[possible values: all, balances, bindings, settlements, requests]"), "{stderr}");
    assert_eq!(snapshot_seqs(&data), vec![head], "a refused rebuild touches nothing");
    assert_eq!(replay_points(), before);
    let (code, report) = support::tool(&["verify", "--data", text(&data)]);
    assert_eq!(code, 0, "{report}");
}

// Proves `replay --data DIR` (by seq and by time) starts at the nearest snapshot rather than at
// event 1: with the event just before the newest snapshot made undecodable, a replay at that
// snapshot still prints what it printed before, while a replay that must pass the event fails.
#[test]
fn replay_from_data_starts_at_the_nearest_snapshot() {
    let home = Home::new();
    let data = home.data();
    let mut service = Service::start(&data, &["--tokens", text(&home.tokens()), "--snapshot-every", "3"]);
    populate_family(&service);
    let events = service.events();
    assert!(service.terminate().success());
    let snapshots = snapshot_seqs(&data);
    let newest = *snapshots.first().expect("snapshots are stored");
    assert!(newest >= 2 && snapshots.get(1).is_none_or(|older| *older < newest - 1), "{snapshots:?}");
    let at = events[newest as usize - 1]["recorded_at"].as_str().unwrap().to_owned();
    let by_seq = ["--data", text(&data), "--as-of-seq", &newest.to_string()];
    let by_time = ["--data", text(&data), "--as-of", &at];
    let before = replay(&by_seq);
    assert_eq!(replay(&by_time), before);
    {
        // The event's fields still read (so its hash and time are known), its kind is none
        // the ledger has (the kind code is bytes 16..18 of the canonical bytes).
        let store = ledger::Store::open(&data).unwrap();
        store.tamper(newest - 1, |event| event.bytes[16..18].copy_from_slice(&[0xff, 0xff]));
    }
    let (code, _) =
        support::tool(&["replay", "--data", text(&data), "--as-of-seq", &(newest - 1).to_string()]);
    assert_ne!(code, 0, "a replay through the broken event fails");
    assert_eq!(replay(&by_seq), before, "the newest snapshot is used: {snapshots:?}");
    assert_eq!(replay(&by_time), before, "the newest snapshot is used for a time too");
}

//! Crash test on the real store: the real binary under concurrent load is killed with SIGKILL
//! at pseudo-random moments, several times. After each restart every acknowledged request is
//! still there (its retry answers the original outcome), nothing was written twice, and the
//! hash chain verifies.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use support::{Home, Service, CHANNEL, H1, OPERATOR};

const ROUNDS: u64 = 4;
const CLIENTS: u64 = 4;
const PERSONS: u64 = 4;

/// A small deterministic generator, so a failing run can be repeated.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Region 210100 with the default rules, H21010000001 as a hospital (the load's settlements
/// are outpatient), and the persons the load credits and settles for.
fn setup(service: &Service) {
    support::region_with_institutions(service, json!({}), &[("H21010000001", "hospital")]);
    for p in 0..PERSONS {
        let person = json!({"request_id": format!("person-{p}"), "person_id": format!("P{p}"),
            "region": "210100", "scheme": "employee"});
        assert_eq!(service.post(OPERATOR, "/v1/persons", person).0, 201);
    }
    let _ = CHANNEL;
}

/// One request of the load: a credit, or a settlement that draws on what was credited.
fn load_request(round: u64, client: u64, n: u64) -> (String, &'static str, String, Value) {
    let person = format!("P{}", (client + n) % PERSONS);
    let id = format!("r{round}-c{client}-n{n}");
    if n % 3 == 2 {
        let body = json!({"request_id": id, "settlement_id": format!("S-{id}"), "institution": "H21010000001",
            "beneficiary": person, "category": "outpatient", "amount": "0.50"});
        (id, H1, "/v1/settlements".to_owned(), body)
    } else {
        let body = json!({"request_id": id, "amount": "1.00", "bucket": "current", "reason": "allocation"});
        (id, OPERATOR, format!("/v1/accounts/{person}/credits"), body)
    }
}

type Acked = Arc<Mutex<BTreeMap<String, (&'static str, String, Value, u16, Value)>>>;

#[test]
fn acknowledged_requests_survive_sigkill() {
    let home = Home::new();
    let mut service = home.start();
    setup(&service);
    let acked: Acked = Arc::new(Mutex::new(BTreeMap::new()));
    let mut random = XorShift(0x9E37_79B9_7F4A_7C15);

    for round in 0..ROUNDS {
        let base = service.base.clone();
        let data = service.data.clone();
        let mut clients = Vec::new();
        for client in 0..CLIENTS {
            let acked = Arc::clone(&acked);
            let target = Service::client(&base, &data);
            clients.push(std::thread::spawn(move || {
                for n in 0.. {
                    let (id, token, path, body) = load_request(round, client, n);
                    match target.try_call("POST", Some(token), &path, Some(&body)) {
                        Ok((status, answer)) => {
                            assert!(status < 500, "no 5xx under load: {status} {answer}");
                            acked.lock().unwrap().insert(id, (token, path, body, status, answer));
                        }
                        Err(_) => break,
                    }
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(150 + random.next() % 600));
        service.kill();
        for client in clients {
            client.join().expect("a client thread ends when the service dies");
        }
        service = Service::start(&home.data(), &["--tokens", home.tokens().to_str().unwrap()]);
        check(&service, &acked.lock().unwrap());
    }
    assert!(acked.lock().unwrap().len() as u64 >= ROUNDS, "the load acknowledged requests in every round");
}

/// Every acknowledged request answers its original outcome again; the log holds each request
/// id's events once; balances are what the logged credits and draws make them; the chain verifies.
fn check(service: &Service, acked: &BTreeMap<String, (&'static str, String, Value, u16, Value)>) {
    for (id, (token, path, body, status, answer)) in acked {
        let (again_status, again) = service.post(token, path, body.clone());
        assert_eq!((again_status, &again), (*status, answer), "request {id} answers as it was acknowledged");
    }
    let events = service.events();
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for event in &events {
        if let Some(id) = event["request_id"].as_str() {
            *seen.entry(id.to_owned()).or_default() += 1;
        }
    }
    for (id, (_, _, _, status, _)) in acked {
        if *status < 300 {
            assert_eq!(seen.get(id), Some(&1), "acknowledged request {id} is in the log exactly once");
        }
    }
    let (status, verify) = service.get(support::AUDITOR, "/v1/audit/verify");
    assert_eq!(status, 200);
    assert_eq!(verify["ok"], json!(true), "the chain verifies: {verify}");
    assert_eq!(verify["head_seq"].as_u64().unwrap(), events.len() as u64);
    for p in 0..PERSONS {
        let person = format!("P{p}");
        let credited: u64 = events
            .iter()
            .filter(|e| e["kind"] == "credited" && e["payload"]["person_id"] == json!(person))
            .count() as u64
            * 100;
        let drawn: u64 = events
            .iter()
            .filter(|e| e["kind"] == "settled")
            .flat_map(|e| e["payload"]["draws"].as_array().unwrap().clone())
            .filter(|d| d["account"] == json!(person))
            .map(|d| fen(&d["amount"]))
            .sum();
        let (_, account) = service.get(OPERATOR, &format!("/v1/accounts/{person}"));
        assert_eq!(
            fen(&account["current"]) + fen(&account["historic"]),
            credited - drawn,
            "balance of {person}"
        );
    }
}

fn fen(amount: &Value) -> u64 {
    let text = amount.as_str().expect("money is a string");
    let (yuan, cents) = text.split_once('.').expect("two decimals");
    yuan.parse::<u64>().unwrap() * 100 + cents.parse::<u64>().unwrap()
}

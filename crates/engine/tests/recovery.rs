//! Recovery at start: a broken chain is refused; the idempotency index of committed requests
//! comes back from the log (through a snapshot or a replay), so a retry after a restart
//! answers the original outcome instead of deciding again; a candidate the index names for
//! another request is told apart by the log.

mod common;

use common::{clock, credit, register_p1};
use domain::PersonId;
use engine::{Engine, EngineConfig, EngineError, Outcome};

fn setup(engine: &Engine) {
    register_p1(engine);
    assert!(matches!(engine.execute(credit("c1", 1000)).unwrap(), Outcome::Committed { .. }));
}

// Proves the engine refuses to serve a log whose stored bytes were altered, naming the seq.
#[test]
fn broken_chain_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), Box::new(clock()), EngineConfig::default()).unwrap();
    setup(&engine);
    engine.shutdown();
    {
        let store = ledger::Store::open(dir.path()).unwrap();
        // Put the checkpoint before the altered event, as if it changed after the last start.
        store.tamper(2, |event| *event.bytes.last_mut().unwrap() ^= 0x01);
        store.set_checkpoint(1, store.event(1).unwrap().unwrap().hash).unwrap();
    }
    match Engine::open(dir.path(), Box::new(clock()), EngineConfig::default()) {
        Err(EngineError::Corrupt(reason)) => assert!(reason.contains("seq 2"), "{reason}"),
        other => panic!("a broken chain must be refused, got {other:?}"),
    }
}

/// Credits `c2` and returns its events.
fn credit_c2(engine: &Engine) -> Vec<engine::Recorded> {
    match engine.execute(credit("c2", 1000)).unwrap() {
        Outcome::Committed { events, replayed: false } => events,
        other => panic!("credit refused: {other:?}"),
    }
}

/// Retries `c2`: it must be answered with `first`, from the log, and P1 credited once.
fn retry_c2(engine: &Engine, first: &[engine::Recorded]) {
    match engine.execute(credit("c2", 1000)).unwrap() {
        Outcome::Committed { events, replayed } => {
            assert!(replayed, "the retry is answered from the log");
            assert_eq!(events, first);
        }
        other => panic!("retry refused: {other:?}"),
    }
    let balance = engine.projections().unwrap().account_view(&PersonId::new("P1").unwrap(), None).unwrap();
    assert_eq!(balance.current.to_string(), "20.00", "credited once per request");
}

// Proves a retry after a restart is answered from the log, with the index of committed
// requests rebuilt by replaying the log from the start (no snapshot), and again with it loaded
// from a snapshot; a record of a committed request that an older version left in the requests
// tree changes nothing.
#[test]
fn committed_requests_survive_a_restart() {
    for snapshot in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config =
            || EngineConfig { snapshot_every_events: snapshot.then_some(1), ..EngineConfig::default() };
        let engine = Engine::open(dir.path(), Box::new(clock()), config()).unwrap();
        setup(&engine);
        let first = credit_c2(&engine);
        engine.shutdown();
        {
            let store = ledger::Store::open(dir.path()).unwrap();
            let seqs = store.reader().snapshot_seqs(u64::MAX).unwrap();
            assert_eq!(!seqs.is_empty(), snapshot, "snapshots: {seqs:?}");
            // What an older version wrote for every committed request: now deleted at start.
            let stale =
                ledger::RequestRecord::Committed { digest: "00".repeat(16), first_seq: 1, last_seq: 1 };
            store.raw_requests().insert("c2", stale.encode()).unwrap();
        }
        let engine = Engine::open(dir.path(), Box::new(clock()), config()).unwrap();
        assert_eq!(engine.projections().unwrap().requests().len(), 3, "p1, c1 and c2");
        retry_c2(&engine, &first);
        assert!(engine.log().request("c2").unwrap().is_none(), "the stale record is gone");
    }
}

// Proves the index's candidates are checked against the log: an id whose fingerprint names
// another request's events (a collision) is decided as the new request it is, and the other
// request is still answered from the log.
#[test]
fn a_candidate_of_another_request_is_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), Box::new(clock()), EngineConfig::default()).unwrap();
    setup(&engine);
    let first = credit_c2(&engine);
    let c2_seq = first[0].seq;
    engine.tamper_requests(|requests| requests.insert_fingerprint(projection::fingerprint("c3"), c2_seq));
    match engine.execute(credit("c3", 500)).unwrap() {
        Outcome::Committed { events, replayed: false } => assert!(events[0].seq > c2_seq),
        other => panic!("c3 must be decided afresh: {other:?}"),
    }
    // c3 again is now its own request's repeat, and c2's too.
    match engine.execute(credit("c3", 500)).unwrap() {
        Outcome::Committed { replayed: true, .. } => {}
        other => panic!("c3's retry must be a replay: {other:?}"),
    }
    let balance = engine.projections().unwrap().account_view(&PersonId::new("P1").unwrap(), None).unwrap();
    assert_eq!(balance.current.to_string(), "25.00");
    match engine.execute(credit("c2", 1000)).unwrap() {
        Outcome::Committed { events, replayed: true } => assert_eq!(events, first),
        other => panic!("c2's retry must be a replay: {other:?}"),
    }
}

// Proves replay stops with a clear error at an event that chains but does not decode, in a
// later chunk of the pipelined replay (no hang, no partial success), and replays up to the
// event before it.
#[test]
fn an_undecodable_event_stops_replay_at_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = ledger::Store::open(dir.path()).unwrap();
    let institution = |n: u64| {
        let event = domain::Event::from_json(
            "institution_registered",
            1,
            format!(r#"{{"institution_id":"I{n}","region":"210100","kind":"hospital","name":"H"}}"#)
                .as_bytes(),
        )
        .unwrap();
        ledger::NewEvent {
            recorded_at: 1_800_000_000_000_000 + n as i64,
            kind: event.kind_code(),
            version: 1,
            request: None,
            payload: event.encode(),
        }
    };
    for batch in 0..10u64 {
        store.commit((batch * 1000..(batch + 1) * 1000).map(&institution).collect(), Vec::new()).unwrap();
    }
    let mut bad = institution(10_000);
    bad.payload = vec![0xff; 3];
    store.commit(vec![bad, institution(10_001)], Vec::new()).unwrap();
    let reader = store.reader();
    match engine::replay_from_genesis(&reader, None) {
        Err(EngineError::Corrupt(reason)) => assert!(reason.contains("seq 10001"), "{reason}"),
        other => panic!("an undecodable event is corruption, got {:?}", other.map(|p| p.head_seq())),
    }
    let before = engine::replay_from_genesis(&reader, Some(10_000)).unwrap();
    assert_eq!(before.head_seq(), 10_000);
    assert_eq!(before.state().institutions.len(), 10_000);
}

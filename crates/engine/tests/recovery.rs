//! Recovery at start: a broken chain is refused; a request record lost beside its events
//! (the two trees are separate sled batches) is restored from the log, so a retry after a
//! crash answers the original outcome instead of deciding again.

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

// Proves a request record lost in a crash is restored from the log at start: the retry
// answers the original events and nothing is credited twice.
#[test]
fn lost_request_record_is_restored() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), Box::new(clock()), EngineConfig::default()).unwrap();
    setup(&engine);
    let first = match engine.execute(credit("c2", 1000)).unwrap() {
        Outcome::Committed { events, .. } => events,
        other => panic!("credit refused: {other:?}"),
    };
    engine.shutdown();
    {
        let store = ledger::Store::open(dir.path()).unwrap();
        store.raw_requests().remove("c2").unwrap();
        // As after a crash: the checkpoint is before the lost record's events.
        store.set_checkpoint(1, store.event(1).unwrap().unwrap().hash).unwrap();
    }
    let engine = Engine::open(dir.path(), Box::new(clock()), EngineConfig::default()).unwrap();
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

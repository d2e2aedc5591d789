//! The group-commit pipeline: the writer decides a batch while the one before it is being
//! written. A request id repeated in the next batch, while its first batch is still in flight,
//! must be answered from that first decision (replayed, or a conflict for another body),
//! never decided twice; and every answer still reflects only durable state.

mod common;

use std::sync::mpsc;

use common::{clock, credit, register_p1};
use domain::{Code, Money, PersonId};
use engine::{Engine, EngineConfig, Outcome};

const CREDITS: usize = 300;

// Proves that under a burst of small batches, each request id is decided once: a repeat with
// the same body replays the first outcome's seqs, one with another body is a conflict, and the
// log holds exactly one event per distinct request.
#[test]
fn a_request_id_in_flight_is_never_decided_twice() {
    let dir = tempfile::tempdir().unwrap();
    // Small batches, so a repeat a few places later falls in a later batch, decided while the
    // batch with its original is still being written.
    let config = EngineConfig { batch_commands_max: 4, ..EngineConfig::default() };
    let engine = Engine::open(dir.path(), Box::new(clock()), config).unwrap();
    register_p1(&engine);

    // (index in the burst, request id, amount in fen): every id once, then again 5 places
    // later with the same body, and every seventh id a third time with another amount.
    let mut burst: Vec<(String, u64)> = Vec::new();
    for n in 0..CREDITS {
        burst.push((format!("c{n}"), 1000));
        if n >= 5 {
            burst.push((format!("c{}", n - 5), 1000));
        }
        if n >= 9 && (n - 9) % 7 == 0 {
            burst.push((format!("c{}", n - 9), 2000));
        }
    }
    let (sender, receiver) = mpsc::channel();
    for (index, (id, fen)) in burst.iter().enumerate() {
        let sender = sender.clone();
        engine.submit(credit(id, *fen), Box::new(move |outcome| sender.send((index, outcome)).unwrap()));
    }
    drop(sender);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; burst.len()];
    for (index, outcome) in receiver.iter().take(burst.len()) {
        outcomes[index] = Some(outcome.unwrap());
    }

    let mut first_seq: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    let (mut replayed, mut conflicts) = (0, 0);
    for ((id, fen), outcome) in burst.iter().zip(&outcomes) {
        match outcome.as_ref().expect("every request is answered") {
            Outcome::Committed { events, replayed: false } => {
                assert_eq!(*fen, 1000);
                assert!(first_seq.insert(id, events[0].seq).is_none(), "{id} was decided twice");
            }
            Outcome::Committed { events, replayed: true } => {
                assert_eq!(first_seq.get(id.as_str()), Some(&events[0].seq), "{id} replayed other seqs");
                replayed += 1;
            }
            Outcome::Rejected { rejection, .. } => {
                assert_eq!(rejection.code, Code::IdempotencyConflict, "{id}: {rejection:?}");
                assert_eq!(*fen, 2000);
                conflicts += 1;
            }
            other => panic!("{id}: unexpected {other:?}"),
        }
    }
    assert_eq!(first_seq.len(), CREDITS);
    assert_eq!(replayed, CREDITS - 5);
    assert_eq!(conflicts, burst.len() - CREDITS - replayed);
    // One event per distinct request, and the balance counts each credit once.
    let projections = engine.projections().unwrap();
    assert_eq!(projections.head_seq(), 1 + CREDITS as u64);
    let account = projections.state().account(&PersonId::new("P1").unwrap()).unwrap();
    assert_eq!(account.current, Money::from_fen(1000 * CREDITS as u64));
    drop(projections);
    assert_eq!(engine.log().head_seq().unwrap(), 1 + CREDITS as u64);
}

// Proves a submitted batch is decided in its order, each request as if alone: across several
// group commits (the writer's batches hold 4), its events are consecutive, a credit to a person
// registered earlier in the same batch is taken, a repeated id replays, a conflict changes
// nothing for the rest, every request is answered, and single requests queued behind it follow.
#[test]
fn a_batch_is_decided_in_order_each_as_if_alone() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig { batch_commands_max: 4, ..EngineConfig::default() };
    let engine = Engine::open(dir.path(), Box::new(clock()), config).unwrap();
    let mut requests = vec![common::request(
        "p1",
        domain::Command::RegisterPerson {
            person_id: PersonId::new("P1").unwrap(),
            region: domain::Region::new("210100").unwrap(),
            scheme: domain::Scheme::Employee,
            name: None,
            id_number: None,
        },
    )];
    for n in 0..40 {
        requests.push(credit(&format!("b{n}"), 100));
    }
    requests.push(credit("b3", 100)); // a retry: replayed
    requests.push(credit("b5", 999)); // the same id, another body: a conflict
    let count = requests.len();
    let (sender, receiver) = mpsc::channel();
    let batch = requests
        .into_iter()
        .enumerate()
        .map(|(index, request)| {
            let sender = sender.clone();
            let reply: engine::Reply = Box::new(move |outcome| sender.send((index, outcome)).unwrap());
            (request, domain::Origin::default(), reply)
        })
        .collect();
    engine.submit_batch(batch);
    // Singles queued behind the batch are decided after all of it.
    let singles: Vec<_> = (0..10).map(|n| engine.execute(credit(&format!("s{n}"), 1))).collect();
    drop(sender);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; count];
    for (index, outcome) in receiver.iter().take(count) {
        outcomes[index] = Some(outcome.unwrap());
    }
    let seqs: Vec<u64> = outcomes[..41]
        .iter()
        .map(|o| match o.as_ref().expect("answered") {
            Outcome::Committed { events, replayed: false } => events[0].seq,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "the batch's events are consecutive: {seqs:?}");
    assert!(
        matches!(&outcomes[41], Some(Outcome::Committed { events, replayed: true }) if events[0].seq == seqs[4])
    );
    assert!(
        matches!(&outcomes[42], Some(Outcome::Rejected { rejection, .. }) if rejection.code == Code::IdempotencyConflict)
    );
    for single in singles {
        assert!(matches!(single.unwrap(), Outcome::Committed { replayed: false, .. }));
    }
    let projections = engine.projections().unwrap();
    let account = projections.state().account(&PersonId::new("P1").unwrap()).unwrap();
    assert_eq!(account.current, Money::from_fen(40 * 100 + 10));
    assert_eq!(projections.head_seq(), 1 + 40 + 10);
}

//! One state, read only up to the durable head. The writer evolves the state as it decides,
//! ahead of the disk; a reader must never see what a crash could take back. A commit observer
//! that blocks holds a batch written but not yet shown to readers: the batch is then in
//! flight exactly as it is while its fsync runs.

mod common;

use std::sync::{mpsc, Arc, Condvar, Mutex};

use common::{clock, credit, register_p1, request};
use domain::{Command, Money, PersonId, PersonStatus};
use engine::{CommitObserver, Engine, EngineConfig, Outcome};

/// Holds the committer after each commit while closed, and says which head it holds.
struct Gate {
    closed: Mutex<bool>,
    opened: Condvar,
    held: Mutex<mpsc::Sender<u64>>,
}

impl CommitObserver for Gate {
    fn committed(&self, _requests: usize, _events: usize, _seconds: f64, head_seq: u64) {
        let mut closed = self.closed.lock().unwrap();
        if *closed {
            self.held.lock().unwrap().send(head_seq).unwrap();
        }
        while *closed {
            closed = self.opened.wait(closed).unwrap();
        }
    }
}

impl Gate {
    fn set(&self, closed: bool) {
        *self.closed.lock().unwrap() = closed;
        self.opened.notify_all();
    }
}

fn p1() -> PersonId {
    PersonId::new("P1").unwrap()
}

fn current(engine: &Engine) -> (Money, u64) {
    engine.read(|view| Ok(view.account_view(&p1(), None).map(|a| (a.current, a.as_of_seq)).unwrap())).unwrap()
}

// Proves that a batch decided and written, but not yet durable for readers, is invisible: a
// balance read shows the state before it, a read of a record it changed waits for it and then
// shows it, and the caller is answered only after.
#[test]
fn readers_see_the_one_state_only_up_to_the_durable_head() {
    let dir = tempfile::tempdir().unwrap();
    let (held_sender, held) = mpsc::channel();
    let gate =
        Arc::new(Gate { closed: Mutex::new(false), opened: Condvar::new(), held: Mutex::new(held_sender) });
    let config = EngineConfig { observer: Some(gate.clone()), ..EngineConfig::default() };
    let engine = Arc::new(Engine::open(dir.path(), Box::new(clock()), config).unwrap());
    register_p1(&engine);
    assert!(matches!(engine.execute(credit("c1", 1000)).unwrap(), Outcome::Committed { .. }));
    let (before, durable) = current(&engine);
    assert_eq!(before, Money::from_fen(1000));

    // A credit in flight: decided and folded into the state, not yet durable.
    gate.set(true);
    let (answered, answers) = mpsc::channel();
    let sender = answered.clone();
    engine.submit(credit("c2", 500), Box::new(move |outcome| sender.send(outcome).unwrap()));
    let credit_seq = held.recv().unwrap();
    assert_eq!(credit_seq, durable + 1);
    assert_eq!(engine.durable_head(), durable);
    assert_eq!(current(&engine), (before, durable), "the balance is read as of the durable head");
    assert!(answers.try_recv().is_err(), "no answer before the batch is durable");
    gate.set(false);
    assert!(matches!(answers.recv().unwrap().unwrap(), Outcome::Committed { .. }));
    assert_eq!(current(&engine), (Money::from_fen(1500), credit_seq));

    // A status change in flight: a reader of the person waits for it.
    gate.set(true);
    let suspend =
        Command::SetStatus { person_id: p1(), status: PersonStatus::Suspended, reason: "review".into() };
    let sender = answered.clone();
    engine.submit(request("s1", suspend), Box::new(move |outcome| sender.send(outcome).unwrap()));
    let status_seq = held.recv().unwrap();
    let (reading, read) = mpsc::channel();
    let reader = {
        let engine = Arc::clone(&engine);
        std::thread::spawn(move || {
            let mut calls = Vec::new();
            let status = engine
                .read(|view| {
                    calls.push(view.head_seq());
                    let _ = reading.send(());
                    Ok(view.person(&p1())?.map(|p| p.status))
                })
                .unwrap();
            (status, calls)
        })
    };
    read.recv().unwrap();
    assert_eq!(engine.durable_head(), credit_seq);
    assert_eq!(current(&engine), (Money::from_fen(1500), credit_seq), "records it did not change are read");
    gate.set(false);
    let (status, calls) = reader.join().unwrap();
    assert_eq!(status, Some(PersonStatus::Suspended));
    assert_eq!(calls.first(), Some(&credit_seq), "the first read met the change in flight");
    assert_eq!(calls.last(), Some(&status_seq), "it read again once the change was durable");
    assert!(matches!(answers.recv().unwrap().unwrap(), Outcome::Committed { .. }));
    assert_eq!(engine.log().head_seq().unwrap(), status_seq);
}

//! Time travel and snapshots: as-of reads at many points equal a naive fold of the log;
//! snapshot + tail equals a replay from the start; a corrupted snapshot is detected and
//! ignored; deleting every snapshot changes nothing but speed.

use domain::{
    Bucket, Category, Command, InstitutionId, InstitutionKind, Money, PersonId, Region, Request, RequestId,
    RuleSet, Scheme, SettleMode, SettlementId, Timestamp,
};
use engine::{Engine, EngineConfig, ManualClock, Outcome};

const PERSONS: u64 = 6;

fn request(n: u64, command: Command) -> Request {
    Request { request_id: RequestId::new(&format!("q{n}")).unwrap(), command }
}

fn person(p: u64) -> PersonId {
    PersonId::new(&format!("P{p}")).unwrap()
}

/// A ledger of a few hundred events: credits and settlements among a few employees.
fn build(dir: &std::path::Path, snapshot_every_events: Option<u64>) -> (Engine, ManualClock) {
    let clock = ManualClock::new(Timestamp::parse("2026-03-01T09:00:00+08:00").unwrap());
    let config = EngineConfig { snapshot_every_events, ..EngineConfig::default() };
    let engine = Engine::open(dir, Box::new(clock.clone()), config).unwrap();
    let region = Region::new("210100").unwrap();
    let mut commands = vec![
        Command::PublishRules {
            region,
            rules: RuleSet::with_defaults(1, Timestamp::parse("2026-01-01T00:00:00Z").unwrap()),
        },
        Command::RegisterInstitution {
            institution_id: InstitutionId::new("H1").unwrap(),
            region,
            kind: InstitutionKind::Hospital,
            name: "H".into(),
        },
    ];
    for p in 0..PERSONS {
        commands.push(Command::RegisterPerson {
            person_id: person(p),
            region,
            scheme: Scheme::Employee,
            name: None,
            id_number: None,
        });
    }
    for n in 0..300u64 {
        commands.push(if n % 3 == 0 {
            Command::Credit {
                person_id: person(n % PERSONS),
                amount: Money::from_fen(1000 + n),
                bucket: Bucket::Current,
                reason: "allocation".into(),
            }
        } else {
            Command::Settle {
                settlement_id: SettlementId::new(&format!("S{n}")).unwrap(),
                institution: InstitutionId::new("H1").unwrap(),
                beneficiary: person(n % PERSONS),
                category: Category::Outpatient,
                amount: Money::from_fen(100 + n),
                occurred_at: None,
                mode: SettleMode::Settle,
            }
        });
    }
    for (n, command) in commands.into_iter().enumerate() {
        clock.advance_micros(60_000_000);
        assert!(matches!(engine.execute(request(n as u64, command)).unwrap(), Outcome::Committed { .. }));
    }
    (engine, clock)
}

// Proves as-of reads by seq and by time at many points equal a naive fold of the log up to there.
#[test]
fn as_of_equals_a_naive_fold() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = build(dir.path(), None);
    let projections = engine.projections().unwrap();
    let head = projections.head_seq();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..60 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let seq = 1 + x % head;
        let folded = engine::replay_from_genesis(engine.log(), Some(seq)).unwrap();
        let at = folded.head_time().unwrap();
        assert_eq!(projections.seq_at(at), seq, "the time index finds the seq recorded at that time");
        for p in 0..PERSONS {
            let live = projections.account_view(&person(p), Some(seq));
            let naive = folded.account_view(&person(p), None);
            assert_eq!(
                live.map(|v| (v.current, v.historic, v.held)),
                naive.map(|v| (v.current, v.historic, v.held)),
                "P{p} as of seq {seq}"
            );
        }
    }
}

// Proves snapshots are taken, a restart from one equals the state before, snapshot + tail equals
// a replay from the start at many points, a corrupted snapshot is ignored, and deleting them all
// changes nothing.
#[test]
fn snapshots_are_shortcuts_only() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, clock) = build(dir.path(), Some(50));
    let before = engine.projections().unwrap().clone();
    let head = before.head_seq();
    // The snapshot thread works off the writer's path (skipping a snapshot while it is busy
    // with the previous one); wait, bounded, until it has stored at least two.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while engine.log().snapshot_seqs(head).unwrap().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "snapshots are stored");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let seqs = engine.log().snapshot_seqs(head).unwrap();
    assert!(seqs.len() >= 2, "{seqs:?}");
    // Every stored snapshot loads back as exactly the replay to its seq (a snapshot that
    // cannot be read would be skipped silently, and only speed would show it).
    for seq in &seqs {
        let loaded = engine::load_snapshot(engine.log(), *seq).unwrap().expect("the snapshot loads");
        assert_eq!(loaded.head_seq(), *seq);
        assert!(loaded == engine::replay_from_genesis(engine.log(), Some(*seq)).unwrap());
    }
    for seq in (1..=head).step_by(37) {
        let fast = engine::replay(engine.log(), Some(seq)).unwrap();
        let slow = engine::replay_from_genesis(engine.log(), Some(seq)).unwrap();
        assert!(fast == slow, "snapshot + tail equals replay at seq {seq}");
    }
    engine.shutdown();

    let engine = Engine::open(dir.path(), Box::new(clock.clone()), EngineConfig::default()).unwrap();
    assert!(*engine.projections().unwrap() == before, "a restart from a snapshot rebuilds the same state");
    // Corrupt the newest snapshot: it is detected, an older one is used, the state is the same.
    let newest = engine.log().snapshot_seqs(head).unwrap()[0];
    let path = engine.log().snapshot_path(newest);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    assert!(engine.log().snapshot(newest).is_err(), "the corruption is detected");
    assert!(engine::replay(engine.log(), None).unwrap() == before);
    engine.shutdown();

    let engine = Engine::open(dir.path(), Box::new(clock.clone()), EngineConfig::default()).unwrap();
    assert!(*engine.projections().unwrap() == before, "a corrupted snapshot is ignored at start");
    engine.log().clear_snapshots().unwrap();
    engine.shutdown();
    let engine = Engine::open(dir.path(), Box::new(clock), EngineConfig::default()).unwrap();
    assert!(*engine.projections().unwrap() == before, "without snapshots, the same state from the log");
}

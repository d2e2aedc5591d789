//! Durable settlements per second through the engine, with group commit and with a flush
//! per command (batches of one). Real sled on disk; every answer waits for its fsync.
//!
//! `cargo run --release -p engine --example group_commit [SETTLEMENTS] [CLIENTS]`

use std::sync::Arc;
use std::time::Instant;

use domain::{
    Bucket, Category, Command, InstitutionId, InstitutionKind, Money, PersonId, Region, Request, RequestId,
    RuleSet, Scheme, SettleMode, SettlementId, Timestamp,
};
use engine::{Engine, EngineConfig, Outcome, SystemClock};

const PERSONS: usize = 1000;

fn request(id: String, command: Command) -> Request {
    Request { request_id: RequestId::new(&id).unwrap(), command }
}

fn run(batch_commands_max: usize, settlements: usize, clients: usize) -> f64 {
    let dir = tempfile::tempdir_in(".").unwrap();
    let config = EngineConfig { batch_commands_max, ..EngineConfig::default() };
    let engine = Arc::new(Engine::open(dir.path(), Box::new(SystemClock), config).unwrap());
    let region = Region::new("210100").unwrap();
    let rules = RuleSet::with_defaults(1, Timestamp::parse("2026-01-01T00:00:00Z").unwrap());
    let setup = [
        Command::PublishRules { region, rules },
        Command::RegisterInstitution {
            institution_id: InstitutionId::new("H1").unwrap(),
            region,
            kind: InstitutionKind::Hospital,
            name: "H".into(),
        },
    ];
    for (n, command) in setup.into_iter().enumerate() {
        assert!(matches!(
            engine.execute(request(format!("setup-{n}"), command)).unwrap(),
            Outcome::Committed { .. }
        ));
    }
    for p in 0..PERSONS {
        let person_id = PersonId::new(&format!("P{p}")).unwrap();
        let register = Command::RegisterPerson {
            person_id: person_id.clone(),
            region,
            scheme: Scheme::Employee,
            name: None,
            id_number: None,
        };
        engine.execute(request(format!("person-{p}"), register)).unwrap();
        let credit = Command::Credit {
            person_id,
            amount: Money::from_fen(10_000_000),
            bucket: Bucket::Current,
            reason: "allocation".into(),
        };
        engine.execute(request(format!("credit-{p}"), credit)).unwrap();
    }
    let started = Instant::now();
    let per_client = settlements / clients;
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let engine = Arc::clone(&engine);
            std::thread::spawn(move || {
                // Each client keeps a window of requests in flight, as many HTTP connections would.
                let (sender, receiver) = std::sync::mpsc::channel();
                for n in 0..per_client {
                    let id = format!("s-{client}-{n}");
                    let command = Command::Settle {
                        settlement_id: SettlementId::new(&id).unwrap(),
                        institution: InstitutionId::new("H1").unwrap(),
                        beneficiary: PersonId::new(&format!("P{}", (client * 7 + n) % PERSONS)).unwrap(),
                        category: Category::Outpatient,
                        amount: Money::from_fen(1234),
                        occurred_at: None,
                        mode: SettleMode::Settle,
                    };
                    let sender = sender.clone();
                    engine.submit(
                        request(id, command),
                        Box::new(move |outcome| {
                            let _ = sender.send(matches!(outcome, Ok(Outcome::Committed { .. })));
                        }),
                    );
                }
                drop(sender);
                receiver.iter().filter(|committed| *committed).count()
            })
        })
        .collect();
    let committed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(committed, per_client * clients);
    committed as f64 / seconds
}

fn main() {
    let mut args = std::env::args().skip(1);
    let settlements: usize = args.next().map_or(20_000, |a| a.parse().unwrap());
    let clients: usize = args.next().map_or(8, |a| a.parse().unwrap());
    let grouped = run(domain::limits::BATCH_COMMANDS_MAX, settlements, clients);
    let single = run(1, settlements.min(2_000), clients);
    println!(
        "durable settlements/s, group commit (batches up to {}): {grouped:.0}",
        domain::limits::BATCH_COMMANDS_MAX
    );
    println!("durable settlements/s, a flush + fsync per command:      {single:.0}");
    println!("ratio: {:.1}x", grouped / single);
}

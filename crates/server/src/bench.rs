//! `gongji bench`: the load generator and benchmark. It builds a realistic population through
//! the engine (persons in a few regions with different rule sets, about a third employees
//! with balances, families of 1–4 beneficiaries bound to 1–2 authorizers), runs a realistic
//! mix (≈70 % settlements, 10 % refunds, 10 % hold + capture/void, 5 % credits, 5 % bindings
//! and premiums, plus balance reads) from concurrent clients, and reports figures beside the
//! limit of the same bytes on raw sled, and replay and as-of speed. It reports; it asserts
//! nothing about time.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use domain::{
    Bucket, Category, Command, InstitutionId, InstitutionKind, Money, PersonId, PersonStatus, Region,
    Request, RequestId, RuleSet, Scheme, SettleMode, SettlementId, Timestamp,
};
use engine::{Engine, EngineConfig, Outcome, SystemClock};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Persons in the population.
    #[arg(long, default_value_t = 100_000)]
    pub persons: u64,
    /// Operations of the mix to run after the population is built.
    #[arg(long, default_value_t = 200_000)]
    pub ops: u64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    pub clients: u64,
    /// Where to put the ledger (a fresh temporary directory inside it).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// As-of lookups to time.
    #[arg(long, default_value_t = 100_000)]
    pub as_of_lookups: u64,
}

const REGIONS: [&str; 3] = ["210100", "310100", "440100"];

fn rules(region: usize) -> RuleSet {
    let mut rules = RuleSet::with_defaults(1, Timestamp::parse("2026-01-01T00:00:00+08:00").expect("a time"));
    match region {
        1 => {
            rules.limit_window = domain::LimitWindow::Rolling;
            rules.family_buckets = vec![Bucket::Historic];
            rules.family_accounts_per_settlement = Some(1);
        }
        2 => {
            rules.refund_order = domain::RefundOrder::ProRata;
            rules.family_order = domain::FamilyOrder::BalanceDesc;
        }
        _ => {}
    }
    rules
}

/// A tiny deterministic generator: the same run every time.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn person(n: u64) -> PersonId {
    PersonId::new(&format!("P{n}")).expect("a valid id")
}

fn region_of(n: u64) -> usize {
    (n % 3) as usize
}

/// About a third of the persons are employees, spread over every region.
fn is_employee(n: u64) -> bool {
    (n / 3) % 3 == 0
}

fn institution(region: usize) -> InstitutionId {
    InstitutionId::new(&format!("H{}", REGIONS[region])).expect("a valid id")
}

struct Counter(AtomicU64);

impl Counter {
    fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

fn request(id: u64, command: Command) -> Request {
    Request { request_id: RequestId::new(&format!("b{id}")).expect("a valid id"), command }
}

/// Submits many requests concurrently and waits for all; returns how many committed.
fn submit_all(engine: &Engine, requests: Vec<Request>) -> u64 {
    let (sender, receiver) = std::sync::mpsc::channel();
    let total = requests.len();
    for request in requests {
        let sender = sender.clone();
        engine.submit(
            request,
            Box::new(move |outcome| {
                let _ = sender.send(matches!(outcome, Ok(Outcome::Committed { .. })));
            }),
        );
    }
    drop(sender);
    let committed = receiver.iter().take(total).filter(|c| *c).count();
    committed as u64
}

fn build_population(engine: &Engine, persons: u64, ids: &Counter) -> anyhow::Result<Vec<(u64, u64)>> {
    let mut setup = Vec::new();
    for (index, region) in REGIONS.iter().enumerate() {
        let region = Region::new(region).expect("a region");
        setup.push(Command::PublishRules { region: region.clone(), rules: rules(index) });
        setup.push(Command::RegisterInstitution {
            institution_id: institution(index),
            region,
            kind: InstitutionKind::Hospital,
            name: "Hospital".into(),
        });
    }
    submit_all(engine, setup.into_iter().map(|c| request(ids.next(), c)).collect());
    let mut batch = Vec::new();
    for n in 0..persons {
        let region = Region::new(REGIONS[region_of(n)]).expect("a region");
        let scheme = if is_employee(n) { Scheme::Employee } else { Scheme::Resident };
        batch.push(request(
            ids.next(),
            Command::RegisterPerson { person_id: person(n), region, scheme, name: None, id_number: None },
        ));
        if is_employee(n) {
            for (bucket, fen) in
                [(Bucket::Current, 50_000 + n % 1000 * 100), (Bucket::Historic, 200_000 + n % 777 * 100)]
            {
                batch.push(request(
                    ids.next(),
                    Command::Credit {
                        person_id: person(n),
                        amount: Money::from_fen(fen),
                        bucket,
                        reason: "allocation".into(),
                    },
                ));
            }
        }
        if batch.len() >= 20_000 {
            submit_all(engine, std::mem::take(&mut batch));
        }
    }
    submit_all(engine, batch);
    // Families: each employee authorizes the next 1–4 persons of its region (same region, so
    // the binding is allowed everywhere); some beneficiaries get a second authorizer.
    let mut random = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut bindings = Vec::new();
    let mut requests = Vec::new();
    for n in (0..persons).filter(|n| is_employee(*n)) {
        for k in 1..=1 + random.below(4) {
            let beneficiary = n + 3 * k;
            if beneficiary >= persons {
                continue;
            }
            bindings.push((n, beneficiary));
            requests.push(request(
                ids.next(),
                Command::RequestBinding {
                    authorizer: person(n),
                    beneficiary: person(beneficiary),
                    relation: "child".into(),
                },
            ));
        }
        if requests.len() >= 20_000 {
            submit_all(engine, std::mem::take(&mut requests));
        }
    }
    submit_all(engine, requests);
    Ok(bindings)
}

/// One operation of the mix; returns the request (or `None` for a read) for client `c`.
fn next_op(
    random: &mut XorShift,
    persons: u64,
    bindings: &[(u64, u64)],
    ids: &Counter,
    settled: &[String],
) -> Option<Request> {
    let roll = random.below(100);
    let id = ids.next();
    let beneficiary = random.below(persons);
    let region = region_of(beneficiary);
    let settle = |mode: SettleMode, fen: u64| Command::Settle {
        settlement_id: SettlementId::new(&format!("S{id}")).expect("a valid id"),
        institution: institution(region),
        beneficiary: person(beneficiary),
        category: Category::ALL[(id % 5) as usize],
        amount: Money::from_fen(fen),
        occurred_at: None,
        mode,
    };
    let command = match roll {
        0..=69 => settle(SettleMode::Settle, 500 + random.below(20_000)),
        70..=79 => {
            let target = settled.get(random.below(settled.len() as u64) as usize)?;
            Command::Refund {
                settlement_id: SettlementId::new(target).expect("a valid id"),
                refund_id: domain::RefundId::new(&format!("F{id}")).expect("a valid id"),
                amount: Money::from_fen(100 + random.below(500)),
                reason: "returned".into(),
            }
        }
        80..=89 => settle(SettleMode::Hold, 500 + random.below(20_000)),
        90..=94 => Command::Credit {
            person_id: person(beneficiary - beneficiary % 9),
            amount: Money::from_fen(10_000),
            bucket: Bucket::Current,
            reason: "allocation".into(),
        },
        _ => {
            let (payer, relative) = bindings.get(random.below(bindings.len() as u64) as usize)?;
            if random.below(2) == 0 {
                Command::PayPremium {
                    payer: person(*payer),
                    beneficiary: person(*relative),
                    year: 2026,
                    amount: Money::from_fen(40_000),
                }
            } else {
                Command::SetStatus {
                    person_id: person(*relative),
                    status: PersonStatus::Active,
                    reason: "review".into(),
                }
            }
        }
    };
    Some(request(id, command))
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

fn dir_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_bytes(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        .map_or(0, |kb| kb * 1024)
}

pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir_in(&args.dir)?;
    let data = dir.path().join("ledger");
    let config = EngineConfig { snapshot_every_events: None, ..EngineConfig::default() };
    let engine = Arc::new(Engine::open(&data, Box::new(SystemClock), config)?);
    let ids = Arc::new(Counter(AtomicU64::new(1)));
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(format!("building a population of {} persons", args.persons));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let started = Instant::now();
    let bindings = Arc::new(build_population(&engine, args.persons, &ids)?);
    let population_seconds = started.elapsed().as_secs_f64();
    let population_events = engine.projections().head_seq();
    bar.finish_and_clear();

    // The mix, from concurrent clients each waiting for its answer.
    let bar = indicatif::ProgressBar::new(args.ops);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{spinner} mix [{bar:40}] {pos}/{len} ops {per_sec} eta {eta}",
    )?);
    let per_client = args.ops / args.clients.max(1);
    let started = Instant::now();
    let head_before = engine.projections().head_seq();
    let threads: Vec<_> = (0..args.clients)
        .map(|client| {
            let (engine, ids, bindings, bar) = (engine.clone(), ids.clone(), bindings.clone(), bar.clone());
            let persons = args.persons;
            std::thread::spawn(move || {
                let mut random = XorShift(0x2545_F491_4F6C_DD1D ^ (client + 1).wrapping_mul(0x9E37_79B9));
                let mut latencies = Vec::with_capacity(per_client as usize);
                let (mut settlements, mut reads) = (0u64, 0u64);
                let mut settled: Vec<String> = Vec::new();
                let mut held: Vec<String> = Vec::new();
                for _ in 0..per_client {
                    // Balance reads ride along: one per operation, from the projections.
                    let _ = engine.projections().account_view(&person(random.below(persons)), None);
                    reads += 1;
                    let Some(request) = next_op(&mut random, persons, &bindings, &ids, &settled) else {
                        continue;
                    };
                    let (is_settle, hold_id) = match &request.command {
                        Command::Settle { settlement_id, mode, .. } => {
                            (true, (*mode == SettleMode::Hold).then(|| settlement_id.to_string()))
                        }
                        _ => (false, None),
                    };
                    let t = Instant::now();
                    let outcome = engine.execute(request);
                    latencies.push(t.elapsed().as_micros() as u64);
                    if let Ok(Outcome::Committed { events, .. }) = &outcome {
                        if is_settle {
                            settlements += 1;
                            match (&events[0].event, hold_id) {
                                (domain::Event::Settled(c), _) => settled.push(c.settlement_id.to_string()),
                                (domain::Event::Held(_), Some(id)) => held.push(id),
                                _ => {}
                            }
                        }
                    }
                    // Holds are captured (partly) or voided by the same client.
                    if let Some(id) = held.pop() {
                        let settlement_id = SettlementId::new(&id).expect("a valid id");
                        let command = if random.below(3) == 0 {
                            Command::Void { settlement_id }
                        } else {
                            Command::Capture { settlement_id, amount: None }
                        };
                        let t = Instant::now();
                        let _ = engine.execute(request_for(&ids, command));
                        latencies.push(t.elapsed().as_micros() as u64);
                    }
                    bar.inc(1);
                }
                (latencies, settlements, reads)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let (mut settlements, mut reads) = (0u64, 0u64);
    for thread in threads {
        let (l, s, r) = thread.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
        latencies.extend(l);
        settlements += s;
        reads += r;
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    latencies.sort_unstable();
    let head = engine.projections().head_seq();
    let events = head - head_before;
    let disk = dir_bytes(&data);

    // Replay speed, from the log alone.
    let t = Instant::now();
    let replayed = engine::replay_from_genesis(engine.log(), None)?;
    let replay_seconds = t.elapsed().as_secs_f64();
    drop(replayed);

    // As-of lookups of random accounts at random points.
    let mut random = XorShift(7);
    let mut as_of = Vec::with_capacity(args.as_of_lookups as usize);
    {
        let projections = engine.projections();
        for _ in 0..args.as_of_lookups {
            let who = person(random.below(args.persons / 3) * 9);
            let seq = 1 + random.below(head);
            let t = Instant::now();
            let view = projections.account_view(&who, Some(seq));
            as_of.push(t.elapsed().as_nanos() as u64);
            std::hint::black_box(view);
        }
    }
    as_of.sort_unstable();

    // The limit: the same envelopes on raw sled, batches of the average size seen.
    let envelopes: Vec<Vec<u8>> =
        engine.log().events(0).take(200_000).map(|e| e.map(|e| e.bytes)).collect::<Result<_, _>>()?;
    let batch = ((events as f64) / (latencies.len() as f64 / args.clients as f64).max(1.0)).clamp(1.0, 1024.0)
        as usize;
    let raw_dir = dir.path().join("raw");
    let raw = ledger::raw_append_limit(&raw_dir, &envelopes, batch)?;

    let report = json!({
        "population": {"persons": args.persons, "events": population_events, "seconds": population_seconds},
        "mix": {
            "clients": args.clients,
            "requests": latencies.len(),
            "settlements": settlements,
            "balance_reads": reads,
            "seconds": seconds,
            "requests_per_second": (latencies.len() as f64 / seconds).round(),
            "settlements_per_second": (settlements as f64 / seconds).round(),
            "events_per_second": (events as f64 / seconds).round(),
            "latency_ms": {"p50": percentile(&latencies, 0.50), "p99": percentile(&latencies, 0.99), "p999": percentile(&latencies, 0.999)},
        },
        "disk": {"events": head, "bytes": disk, "bytes_per_event": disk / head.max(1)},
        "peak_rss_bytes": peak_rss_bytes(),
        "rss_bytes_per_person": peak_rss_bytes() / args.persons.max(1),
        "replay": {"events": head, "seconds": replay_seconds, "events_per_second": (head as f64 / replay_seconds).round()},
        "as_of": {"lookups": as_of.len(), "history_events": head, "p50_us": percentile(&as_of, 0.5), "p99_us": percentile(&as_of, 0.99)},
        "raw_sled_limit": {"events": envelopes.len(), "batch": batch, "events_per_second": raw.round()},
        "ratio_events_per_second_to_raw_sled": ((events as f64 / seconds) / raw * 100.0).round() / 100.0,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

fn request_for(ids: &Counter, command: Command) -> Request {
    request(ids.next(), command)
}

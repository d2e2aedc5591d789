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

mod http;
use http::run_http;
pub use http::HttpTarget;

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
    /// Keep the ledger the in-process run wrote (its path is in the report), for the offline
    /// tools (`gongji rebuild`, `verify`, `replay`) on a realistic log.
    #[arg(long)]
    pub keep: bool,
    /// As-of lookups to time.
    #[arg(long, default_value_t = 100_000)]
    pub as_of_lookups: u64,
    /// Bench a running service over HTTP instead of the engine in-process.
    #[arg(long)]
    pub url: Option<String>,
    /// In process: replicate the log through the JetStream of this NATS URL (as `gongji serve
    /// --replicate` does) before each answer.
    #[arg(long, conflicts_with = "url")]
    pub replicate: Option<String>,
    /// Bulk mode: instead of the mix, `--ops` settlements in batches of this many
    /// (`Engine::submit_batch` in process, `POST /v1/batch` with `--url`), `--clients`
    /// batches in flight at once.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=domain::limits::BATCH_REQUESTS_MAX as u64))]
    pub batch: Option<u64>,
    #[arg(long, default_value = "op-secret")]
    pub operator_token: String,
    #[arg(long, default_value = "app-secret")]
    pub channel_token: String,
    #[arg(long, default_value = "h1-secret")]
    pub institution_token: String,
    /// The institution the institution token acts for (in region 210100).
    #[arg(long, default_value = "H21010000001")]
    pub institution_id: String,
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
    (n / 3).is_multiple_of(3)
}

fn institution(region: usize) -> InstitutionId {
    InstitutionId::new(&format!("H{}", REGIONS[region])).expect("a valid id")
}

struct Counter(AtomicU64);

/// Counts the engine's group commits: how many, their events, and the time spent writing.
#[derive(Default)]
struct Commits {
    batches: AtomicU64,
    events: AtomicU64,
    micros: AtomicU64,
}

impl engine::CommitObserver for Commits {
    fn committed(&self, _requests: usize, events: usize, seconds: f64, _head_seq: u64) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.events.fetch_add(events as u64, Ordering::Relaxed);
        self.micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }
}

impl Commits {
    fn read(&self) -> (u64, u64, u64) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        (load(&self.batches), load(&self.events), load(&self.micros))
    }
}

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
        setup.push(Command::PublishRules { region, rules: rules(index) });
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

/// The median, p99 and p99.9 of latencies in microseconds, sorted, as milliseconds.
fn latency_ms(sorted: &[u64]) -> serde_json::Value {
    json!({"p50": percentile(sorted, 0.50), "p99": percentile(sorted, 0.99), "p999": percentile(sorted, 0.999)})
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
    status_bytes("VmHWM:")
}

/// A memory figure of this process from /proc/self/status, in bytes (0 where unreadable).
fn status_bytes(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        .map_or(0, |kb| kb * 1024)
}

/// Times `--as-of-lookups` reads of random accounts at random points of the log; sorted, in
/// nanoseconds.
fn as_of_lookups(engine: &Engine, args: &BenchArgs, head: u64) -> anyhow::Result<Vec<u64>> {
    let mut random = XorShift(7);
    let mut as_of = Vec::with_capacity(args.as_of_lookups as usize);
    let projections = engine.projections()?;
    for _ in 0..args.as_of_lookups {
        let who = person(random.below(args.persons / 3) * 9);
        let seq = 1 + random.below(head);
        let t = Instant::now();
        let view = projections.account_view(&who, Some(seq));
        as_of.push(t.elapsed().as_nanos() as u64);
        std::hint::black_box(view);
    }
    as_of.sort_unstable();
    Ok(as_of)
}

/// The limit of the same bytes on raw sled: the log's first 200,000 stored events appended in
/// `dir` in batches of `events_per_commit` (rounded, 1 to 1,024). Returns the events, the
/// batch size and the events per second.
fn raw_sled_limit(
    engine: &Engine,
    dir: &Path,
    events_per_commit: f64,
) -> anyhow::Result<(usize, usize, f64)> {
    let envelopes: Vec<ledger::StoredEvent> =
        engine.log().events(0).take(200_000).collect::<Result<_, _>>()?;
    let batch = events_per_commit.round().clamp(1.0, 1024.0) as usize;
    let raw = ledger::raw_append_limit(dir, &envelopes, batch)?;
    Ok((envelopes.len(), batch, raw))
}

/// The report of a bulk run: its phase is `bulk`, where a request is a whole batch (its
/// latency the batch's), with no balance reads.
fn as_bulk(report: &mut serde_json::Value, batch: Option<u64>) {
    let mut bulk = report["mix"].take();
    bulk["batch"] = json!(batch);
    let fields = bulk.as_object_mut().expect("an object");
    let batches = fields.remove("requests").unwrap_or_default();
    fields.remove("balance_reads");
    fields.remove("requests_per_second");
    bulk["batches"] = batches;
    report.as_object_mut().expect("an object").remove("mix");
    report["bulk"] = bulk;
}

/// Runs the benchmark; in process, each group commit is first appended to `replica` when one
/// is given (`--replicate`: the log replicated through JetStream).
pub fn run(args: BenchArgs, replica: Option<Arc<dyn engine::Replica>>) -> anyhow::Result<ExitCode> {
    if let Some(url) = &args.url {
        let target = HttpTarget {
            url: url.trim_end_matches('/').to_owned(),
            operator: args.operator_token.clone(),
            channel: args.channel_token.clone(),
            institution: args.institution_token.clone(),
            institution_id: args.institution_id.clone(),
        };
        return run_http(&args, target);
    }
    let dir = tempfile::tempdir_in(&args.dir)?;
    let data = dir.path().join("ledger");
    let commits = Arc::new(Commits::default());
    let observer: Arc<dyn engine::CommitObserver> = commits.clone();
    let config =
        EngineConfig { snapshot_every_events: None, observer: Some(observer), replica, ..Default::default() };
    let engine = Arc::new(Engine::open(&data, Box::new(SystemClock), config)?);
    let ids = Arc::new(Counter(AtomicU64::new(1)));
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(format!("building a population of {} persons", args.persons));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let started = Instant::now();
    let bindings = Arc::new(build_population(&engine, args.persons, &ids)?);
    let population_seconds = started.elapsed().as_secs_f64();
    let population_events = engine.durable_head();
    bar.finish_and_clear();

    let head_before = engine.durable_head();
    let commits_before = commits.read();
    let started = Instant::now();
    let (phase, (mut latencies, settlements, reads)) = match args.batch {
        Some(batch) => ("bulk", run_bulk(&engine, &args, &ids, batch)?),
        None => ("mix", run_mix(&engine, &args, &ids, &bindings)?),
    };
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let head = engine.durable_head();
    let events = head - head_before;
    let commits_after = commits.read();
    let (batches, batch_events, write_micros) = (
        commits_after.0 - commits_before.0,
        commits_after.1 - commits_before.1,
        commits_after.2 - commits_before.2,
    );
    let disk = dir_bytes(&data);
    // What the running engine holds, before the measurements below build more beside it.
    let engine_rss = status_bytes("VmRSS:");

    // Replay speed, from the log alone.
    let t = Instant::now();
    let replayed = engine::replay_from_genesis(engine.log(), None)?;
    let replay_seconds = t.elapsed().as_secs_f64();
    drop(replayed);

    let as_of = as_of_lookups(&engine, &args, head)?;
    // The limit: the same stored events on raw sled, in batches of the size the engine
    // committed on average during the mix.
    let events_per_commit = batch_events as f64 / batches.max(1) as f64;
    let raw_dir = dir.path().join("raw");
    let (envelopes, batch, raw) = raw_sled_limit(&engine, &raw_dir, events_per_commit)?;

    drop(engine);
    let kept = args.keep.then(|| {
        let _ = std::fs::remove_dir_all(&raw_dir);
        dir.keep().join("ledger")
    });
    let mut report = json!({
        "ledger": kept,
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
            "latency_ms": latency_ms(&latencies),
            "group_commits": batches,
            "events_committed": batch_events,
            "events_per_commit": (events_per_commit * 10.0).round() / 10.0,
            "commit_ms_mean": (write_micros as f64 / batches.max(1) as f64 / 10.0).round() / 100.0,
        },
        "disk": {"events": head, "bytes": disk, "bytes_per_event": disk / head.max(1)},
        "peak_rss_bytes": peak_rss_bytes(),
        "rss_bytes_per_person": peak_rss_bytes() / args.persons.max(1),
        "engine_rss_bytes": engine_rss,
        "replay": {"events": head, "seconds": replay_seconds, "events_per_second": (head as f64 / replay_seconds).round()},
        "as_of": {"lookups": as_of.len(), "history_events": head, "p50_us": percentile(&as_of, 0.5), "p99_us": percentile(&as_of, 0.99)},
        "raw_sled_limit": {"events": envelopes, "batch": batch, "events_per_second": raw.round()},
        "ratio_events_per_second_to_raw_sled": ((events as f64 / seconds) / raw * 100.0).round() / 100.0,
    });
    if phase == "bulk" {
        as_bulk(&mut report, args.batch);
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// The mix, from `--clients` concurrent clients each waiting for its answer: every request's
/// latency in microseconds, the settlements committed, the balance reads.
fn run_mix(
    engine: &Arc<Engine>,
    args: &BenchArgs,
    ids: &Arc<Counter>,
    bindings: &Arc<Vec<(u64, u64)>>,
) -> anyhow::Result<(Vec<u64>, u64, u64)> {
    let bar = indicatif::ProgressBar::new(args.ops);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{spinner} mix [{bar:40}] {pos}/{len} ops {per_sec} eta {eta}",
    )?);
    let per_client = args.ops / args.clients.max(1);
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
                    let who = person(random.below(persons));
                    let _ = engine.read(|view| Ok(view.account_view(&who, None)));
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
    bar.finish_and_clear();
    Ok((latencies, settlements, reads))
}

/// Bulk: `--ops` settlements in batches of `batch` through `Engine::submit_batch`, from
/// `--clients` threads each with one batch in flight: every batch's latency in microseconds
/// (from its submission to its last answer), the settlements committed, no reads.
fn run_bulk(
    engine: &Arc<Engine>,
    args: &BenchArgs,
    ids: &Arc<Counter>,
    batch: u64,
) -> anyhow::Result<(Vec<u64>, u64, u64)> {
    let bar = indicatif::ProgressBar::new(args.ops);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{spinner} bulk [{bar:40}] {pos}/{len} settlements {per_sec} eta {eta}",
    )?);
    let remaining = Arc::new(AtomicU64::new(args.ops));
    let threads: Vec<_> = (0..args.clients.max(1))
        .map(|client| {
            let (engine, ids, bar, remaining) = (engine.clone(), ids.clone(), bar.clone(), remaining.clone());
            let persons = args.persons;
            std::thread::spawn(move || {
                let mut random = XorShift(0x5851_F42D_4C95_7F2D ^ (client + 1).wrapping_mul(0x9E37_79B9));
                let (mut latencies, mut settlements) = (Vec::new(), 0u64);
                loop {
                    let taken = remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                        (left > 0).then(|| left - left.min(batch))
                    });
                    let Ok(left) = taken else { break };
                    let count = left.min(batch) as usize;
                    let (sender, receiver) = std::sync::mpsc::channel();
                    let requests: Vec<(Request, domain::Origin, engine::Reply)> = (0..count)
                        .map(|_| {
                            let id = ids.next();
                            let beneficiary = random.below(persons);
                            let command = Command::Settle {
                                settlement_id: SettlementId::new(&format!("S{id}")).expect("a valid id"),
                                institution: institution(region_of(beneficiary)),
                                beneficiary: person(beneficiary),
                                category: Category::Pharmacy,
                                amount: Money::from_fen(500 + random.below(20_000)),
                                occurred_at: None,
                                mode: SettleMode::Settle,
                            };
                            let sender = sender.clone();
                            let reply: engine::Reply = Box::new(move |outcome| {
                                let _ = sender.send(matches!(outcome, Ok(Outcome::Committed { .. })));
                            });
                            (request(id, command), domain::Origin::default(), reply)
                        })
                        .collect();
                    drop(sender);
                    let t = Instant::now();
                    engine.submit_batch(requests);
                    settlements += receiver.iter().filter(|committed| *committed).count() as u64;
                    latencies.push(t.elapsed().as_micros() as u64);
                    bar.inc(count as u64);
                }
                (latencies, settlements)
            })
        })
        .collect();
    let (mut latencies, mut settlements) = (Vec::new(), 0u64);
    for thread in threads {
        let (l, s) = thread.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
        latencies.extend(l);
        settlements += s;
    }
    bar.finish_and_clear();
    Ok((latencies, settlements, 0))
}

fn request_for(ids: &Counter, command: Command) -> Request {
    request(ids.next(), command)
}

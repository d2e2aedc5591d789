//! The offline tools: `verify`, `replay` and `export` read a stopped ledger's directory.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use domain::{Event, Money, Timestamp};
use ledger::{Store, StoredEvent, VerifyFrom};
use projection::Projections;

/// Decodes a stored envelope into (seq, recorded_at, event).
fn decode(stored: &StoredEvent) -> anyhow::Result<(u64, Timestamp, Event)> {
    let (recorded, _) = engine::decode(stored)?;
    Ok((recorded.seq, recorded.recorded_at, recorded.event))
}

pub fn open(data: &Path) -> anyhow::Result<Store> {
    anyhow::ensure!(
        data.join("db").exists() || data.join("conf").exists(),
        "{} holds no ledger",
        data.display()
    );
    Store::open(data)
        .with_context(|| format!("cannot open the ledger in {} (is the service running?)", data.display()))
}

/// Money that entered and left accounts along the log, to check against the balances.
#[derive(Default)]
struct Flows {
    credited: Money,
    drawn: Money,
    refunded: Money,
}

impl Flows {
    fn add(&mut self, event: &Event) {
        let sum = |draws: &[domain::Draw]| Money::sum(draws.iter().map(|d| d.amount));
        match event {
            Event::Credited(e) => self.credited = self.credited.plus(e.amount),
            Event::Settled(c) => self.drawn = self.drawn.plus(sum(&c.draws)),
            Event::Captured(e) => self.drawn = self.drawn.plus(sum(&e.draws)),
            Event::PremiumPaid(e) => self.drawn = self.drawn.plus(sum(&e.draws)),
            Event::Refunded(e) => self.refunded = self.refunded.plus(sum(&e.returns)),
            _ => {}
        }
    }
}

/// Where the offline tools read the log from: a stopped ledger's directory, or an export
/// (JSON lines of envelopes, as `gongji export` writes them).
#[derive(Clone, Copy, Debug)]
pub enum Origin<'a> {
    Data(&'a Path),
    Export(&'a Path),
}

/// Calls `visit` with every stored event in order until it returns `false`.
fn each_event(
    origin: Origin<'_>,
    mut visit: impl FnMut(StoredEvent) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    match origin {
        Origin::Data(data) => {
            let store = open(data)?;
            for stored in store.events(0) {
                if !visit(stored?)? {
                    break;
                }
            }
        }
        Origin::Export(file) => {
            for line in export_lines(file)? {
                let mut stored = StoredEvent { seq: 0, bytes: line };
                stored.seq = stored.parts()?.seq;
                if !visit(stored)? {
                    break;
                }
            }
        }
    }
    Ok(())
}

fn export_lines(file: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(bytes.split(|b| *b == b'\n').filter(|line| !line.is_empty()).map(<[u8]>::to_vec).collect())
}

/// `gongji verify`: the chain from genesis, then every event replayed with the state's
/// invariants on, then money conserved: credits − draws + refunds = the sum of balances.
pub fn verify(origin: Origin<'_>) -> anyhow::Result<ExitCode> {
    let report = match origin {
        Origin::Data(data) => open(data)?.verify(VerifyFrom::Genesis)?,
        Origin::Export(file) => ledger::verify_envelopes(export_lines(file)?.into_iter()),
    };
    let mut problems: Vec<String> = Vec::new();
    if let Some(broken) = &report.broken {
        problems.push(format!("hash chain broken at seq {}: {}", broken.seq, broken.reason));
    }
    let mut replayed = 0u64;
    if report.ok {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            || -> anyhow::Result<(u64, Option<String>)> {
                let mut projections = Projections::new();
                let mut flows = Flows::default();
                each_event(origin, |stored| {
                    let (seq, recorded_at, event) = decode(&stored)?;
                    flows.add(&event);
                    projections.apply(seq, recorded_at, &event);
                    Ok(true)
                })?;
                let expected = flows.credited.plus(flows.refunded).checked_sub(flows.drawn);
                let total = projections.state().total_balance();
                let problem = (expected != Some(total)).then(|| {
                    format!(
                        "money not conserved: credits {} − draws {} + refunds {} ≠ balances {total}",
                        flows.credited, flows.drawn, flows.refunded
                    )
                });
                Ok((projections.head_seq(), problem))
            },
        ));
        match outcome {
            Ok(Ok((seq, problem))) => {
                replayed = seq;
                problems.extend(problem);
            }
            Ok(Err(error)) => problems.push(format!("cannot replay: {error:#}")),
            Err(_) => {
                problems.push("an invariant failed during replay (see the panic message above)".to_owned())
            }
        }
    }
    let ok = problems.is_empty();
    let body = json!({
        "ok": ok,
        "ledger_id": report.ledger_id,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
        "events_replayed": replayed,
        "problems": problems,
    });
    println!("{}", serde_json::to_string_pretty(&body)?);
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `gongji replay`: state after event `as_of_seq`, or after the last event at or before `as_of`.
pub fn replay(origin: Origin<'_>, as_of: Option<&str>, as_of_seq: Option<u64>) -> anyhow::Result<ExitCode> {
    let at = match as_of {
        Some(text) => Some(
            Timestamp::parse(text).with_context(|| format!("--as-of {text:?} is not an RFC 3339 time"))?,
        ),
        None => None,
    };
    let mut projections = Projections::new();
    each_event(origin, |stored| {
        let (seq, recorded_at, event) = decode(&stored)?;
        let past = match (at, as_of_seq) {
            (Some(at), _) => recorded_at > at,
            (None, Some(limit)) => seq > limit,
            (None, None) => false,
        };
        if !past {
            projections.apply(seq, recorded_at, &event);
        }
        Ok(!past)
    })?;
    let now = at.or(projections.head_time()).unwrap_or_default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in projections.replay_lines(now) {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `gongji export`: the stored envelopes as JSON lines, byte for byte.
pub fn export(data: &Path, from_seq: u64) -> anyhow::Result<ExitCode> {
    let store = open(data)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for stored in store.events(from_seq) {
        out.write_all(stored?.envelope())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `gongji rebuild`: rebuilds from the log, with a progress bar, what is derived from it: the
/// projections (replayed from the first event and stored as a fresh snapshot at the head) and
/// the idempotency index. `projection` names one of `all`, `balances`, `bindings`,
/// `settlements`, `requests`.
pub fn rebuild(data: &Path, projection: &str) -> anyhow::Result<ExitCode> {
    const NAMES: &[&str] = &["all", "balances", "bindings", "settlements", "requests"];
    anyhow::ensure!(NAMES.contains(&projection), "--projection must be one of {}", NAMES.join(", "));
    let store = open(data)?;
    let report = store.verify(VerifyFrom::Genesis)?;
    anyhow::ensure!(report.ok, "the log does not verify: {:?}; nothing rebuilt", report.broken);
    let started = std::time::Instant::now();
    let mut summary = json!({"projection": projection, "events": report.head_seq});
    if projection != "requests" {
        let bar = indicatif::ProgressBar::new(report.head_seq);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} replay [{bar:40}] {pos}/{len} events  {per_sec}  eta {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        let mut projections = Projections::new();
        let reader = store.reader();
        engine::catch_up(&reader, &mut projections, None, &mut |done, _| bar.set_position(done))?;
        bar.finish();
        let replay_seconds = started.elapsed().as_secs_f64();
        reader.clear_snapshots()?;
        if projections.head_seq() > 0 {
            engine::take_snapshot(&reader, &projections)?;
        }
        summary["replay_seconds"] = json!(replay_seconds);
        summary["events_per_second"] = json!((report.head_seq as f64 / replay_seconds.max(1e-9)).round());
        summary["snapshot_seq"] = json!(projections.head_seq());
    }
    if projection == "all" || projection == "requests" {
        summary["requests_restored"] = json!(store.rebuild_requests()?);
    }
    summary["seconds"] = json!(started.elapsed().as_secs_f64());
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(ExitCode::SUCCESS)
}

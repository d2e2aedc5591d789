//! The offline tools: `verify`, `replay`, `export` and `rebuild` read a stopped ledger's
//! directory (`verify` and `replay` also an export, alone). They decode the log in parallel
//! and apply it in order; `replay` from a directory starts at the nearest good snapshot.
//! Depends on `engine` for decoding, snapshots and catch-up, never on the running service.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use domain::{Event, Money, Timestamp};
use engine::Recorded;
use ledger::{Reader, Store, StoredEvent, VerifyFrom};
use projection::Projections;

/// Opens a stopped ledger to write to it (`rebuild`), naming what stands in the way: no
/// ledger there, a running service holding its lock, a read-only file system, no space.
pub fn open(data: &Path) -> anyhow::Result<Store> {
    holds_ledger(data)?;
    Store::open(data).map_err(|error| {
        if error.to_string().contains("could not acquire lock") {
            anyhow::anyhow!("the ledger in {} is in use: a running service holds its lock", data.display())
        } else {
            anyhow::Error::from(error)
                .context(format!("cannot open the ledger in {} for writing", data.display()))
        }
    })
}

/// Opens a stopped ledger to read it (`verify`, `replay`, `export`, `reconcile`) without
/// writing to its directory: through a private copy under the temporary directory (`TMPDIR`),
/// so a read-only copy of a ledger works too (`ledger::Store::open_copy`).
pub fn open_read(data: &Path) -> anyhow::Result<ledger::CopiedStore> {
    Store::open_copy(data, &std::env::temp_dir())
        .with_context(|| format!("cannot read the ledger in {}", data.display()))
}

fn holds_ledger(data: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(data.join("db")) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => match std::fs::metadata(data) {
            Ok(_) => anyhow::bail!("{} holds no ledger (it has no sled file db)", data.display()),
            Err(error) => anyhow::bail!("cannot read {}: {error}", data.display()),
        },
        Err(error) => anyhow::bail!("cannot read the ledger in {}: {error}", data.display()),
    }
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

/// The log once opened: the store, or an export's envelopes turned back into the stored
/// events they render (`Err`: a line that cannot be read, and why).
enum Log {
    Store(Box<ledger::CopiedStore>),
    Export(Vec<Result<StoredEvent, String>>),
}

impl Log {
    fn open(origin: Origin<'_>) -> anyhow::Result<Log> {
        match origin {
            Origin::Data(data) => Ok(Log::Store(Box::new(open_read(data)?))),
            Origin::Export(file) => Ok(Log::Export(export_events(file)?)),
        }
    }

    /// Calls `visit` with every event in log order until it returns `false`, reading and
    /// decoding ahead of it on other threads (`engine::fold_decoded`).
    fn each_event(self, visit: impl FnMut(&Recorded) -> bool) -> anyhow::Result<()> {
        match self {
            Log::Store(store) => {
                engine::fold_decoded(store.events(0).map(|e| e.map_err(anyhow::Error::from)), decode, visit)
            }
            Log::Export(envelopes) => engine::fold_decoded(
                envelopes
                    .into_iter()
                    .map(|e| e.map_err(|reason| anyhow::anyhow!("an exported line: {reason}"))),
                decode,
                visit,
            ),
        }
    }
}

/// Decodes a stored envelope.
fn decode(stored: &mut StoredEvent) -> anyhow::Result<Recorded> {
    Ok(engine::decode_event(stored)?)
}

fn export_events(file: &Path) -> anyhow::Result<Vec<Result<StoredEvent, String>>> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(engine::envelope::from_json)
        .collect())
}

/// `gongji verify`: the chain from genesis, then every event replayed with the state's
/// invariants on, then money conserved: credits − draws + refunds = the sum of balances.
///
/// The replay decodes ahead in parallel like `engine::catch_up`, through the same
/// `engine::fold_decoded`: the money check sees every decoded event beside the projections.
pub fn verify(origin: Origin<'_>) -> anyhow::Result<ExitCode> {
    let log = Log::open(origin)?;
    let report = match &log {
        Log::Store(store) => store.verify(VerifyFrom::Genesis)?,
        Log::Export(envelopes) => ledger::verify_events(envelopes.iter().cloned()),
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
                log.each_event(|recorded| {
                    flows.add(&recorded.event);
                    projections.apply(
                        recorded.seq,
                        recorded.recorded_at,
                        &recorded.event,
                        recorded.request_id.as_ref(),
                    );
                    true
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
///
/// From a data directory it is the nearest good snapshot plus the tail of the log
/// (`engine::replay`), the point in time found by binary search over the log; from an export,
/// the export alone, folded from its first event. Both print the same lines.
pub fn replay(origin: Origin<'_>, as_of: Option<&str>, as_of_seq: Option<u64>) -> anyhow::Result<ExitCode> {
    let at = match as_of {
        Some(text) => Some(
            Timestamp::parse(text).with_context(|| format!("--as-of {text:?} is not an RFC 3339 time"))?,
        ),
        None => None,
    };
    let projections = match origin {
        Origin::Data(data) => {
            let store = open_read(data)?;
            let reader = store.reader();
            let head = reader.head_seq()?;
            let until = match (at, as_of_seq) {
                (Some(at), _) => seq_at(&reader, head, at)?,
                (None, Some(limit)) => limit.min(head),
                (None, None) => head,
            };
            engine::replay(&reader, Some(until))?
        }
        Origin::Export(_) => {
            let mut projections = Projections::new();
            Log::open(origin)?.each_event(|recorded| {
                let past = match (at, as_of_seq) {
                    (Some(at), _) => recorded.recorded_at > at,
                    (None, Some(limit)) => recorded.seq > limit,
                    (None, None) => false,
                };
                if !past {
                    projections.apply(
                        recorded.seq,
                        recorded.recorded_at,
                        &recorded.event,
                        recorded.request_id.as_ref(),
                    );
                }
                !past
            })?;
            projections
        }
    };
    let now = at.or(projections.head_time()).unwrap_or_default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in projections.replay_lines(now) {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The last seq recorded at or before `at` (0 when none), of the log up to `head`: a binary
/// search, since `recorded_at` is strictly increasing along the log, reading O(log n) events.
fn seq_at(reader: &Reader, head: u64, at: Timestamp) -> anyhow::Result<u64> {
    let recorded_at = |seq: u64| -> anyhow::Result<Timestamp> {
        let stored = reader.event(seq)?.with_context(|| format!("event {seq} is missing from the log"))?;
        Ok(Timestamp::from_micros(stored.fields()?.recorded_at))
    };
    // Every seq ≤ `low` is at or before `at`; every seq > `high` is after it.
    let (mut low, mut high) = (0, head);
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        if recorded_at(middle)? <= at {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    Ok(low)
}

/// `gongji export`: the stored events as JSON lines, the envelopes `GET /v1/events` serves.
pub fn export(data: &Path, from_seq: u64) -> anyhow::Result<ExitCode> {
    let store = open_read(data)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for stored in store.events(from_seq) {
        out.write_all(&engine::envelope::to_json(&stored?)?)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The names `gongji rebuild --projection` accepts: `all`; each view of the projections; and
/// `requests`, the idempotency index of committed requests. They are one replay and one
/// snapshot, so naming any of them rebuilds them all together.
/// What `gongji rebuild --projection` names. Offline, every one rebuilds the whole of what is
/// derived (one replay serves them all); the name is what the operator asked for, and the
/// report says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Rebuilt {
    /// Every projection and the idempotency index.
    All,
    /// Balances, their histories and the accounts.
    Balances,
    /// Bindings, authorizations and limit usage.
    Bindings,
    /// Settlements, holds and refunds.
    Settlements,
    /// The idempotency index of committed requests.
    Requests,
}

impl Rebuilt {
    fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self).expect("no variant is skipped").get_name().to_owned()
    }
}

/// Every name `--projection` takes, in order: `all`, each view of
/// `projection::RULE_DEPENDENCIES`, `requests`.
fn rebuild_names() -> Vec<String> {
    <Rebuilt as clap::ValueEnum>::value_variants().iter().map(|r| r.name()).collect()
}

/// `gongji rebuild`: rebuilds from the log, with a progress bar, what is derived from it: the
/// projections and the idempotency index of committed requests, replayed from the first event
/// and stored as a fresh snapshot at the head, the older snapshots deleted.
pub fn rebuild(data: &Path, projection: Rebuilt) -> anyhow::Result<ExitCode> {
    let names = rebuild_names();
    let projection = projection.name();
    let store = open(data)?;
    let report = store.verify(VerifyFrom::Genesis)?;
    anyhow::ensure!(report.ok, "the log does not verify: {:?}; nothing rebuilt", report.broken);
    let started = std::time::Instant::now();
    let mut summary = json!({"projection": projection, "events": report.head_seq});
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
    let rebuilt: Vec<String> = names.into_iter().filter(|name| name != "all").collect();
    summary["replay_seconds"] = json!(replay_seconds);
    summary["events_per_second"] = json!((report.head_seq as f64 / replay_seconds.max(1e-9)).round());
    summary["snapshot_seq"] = json!(projections.head_seq());
    summary["requests_indexed"] = json!(projections.requests().len());
    summary["rebuilt"] = json!(rebuilt);
    summary["seconds"] = json!(started.elapsed().as_secs_f64());
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(ExitCode::SUCCESS)
}

/// `gongji migrate --from 1 --to 2`: re-records a stopped ledger's log in format 2 and proves
/// it the same log. The old log's own hash chain is checked as it is read; the same events,
/// in the same order with the same times and request ids, are written as format 2 segments
/// beside it; the new chain is verified; both logs are replayed, each on its own, and the
/// two states must be equal. Only then is the ledger switched over and the old log dropped.
/// A migration stopped before the switch changes nothing and is run again. The ledger id
/// changes (it is the first event's hash, and the hashes are now over the binary form).
pub fn migrate(data: &Path, from: u32, to: u32) -> anyhow::Result<ExitCode> {
    if (from, to) != (1, ledger::LOG_FORMAT) {
        anyhow::bail!("this gongji migrates a log from format 1 to format {} only", ledger::LOG_FORMAT);
    }
    let legacy = ledger::LegacyLedger::open(data)?;
    let mut old_state = Projections::new();
    let mut failure: Option<anyhow::Error> = None;
    let converted = legacy.events().map_while(|envelope| {
        let converted = envelope.map_err(anyhow::Error::from).and_then(|envelope| {
            let event = Event::from_json(&envelope.kind, envelope.version, envelope.payload.get().as_bytes())
                .map_err(|e| anyhow::anyhow!("event {}: {e}", envelope.seq))?;
            let recorded_at = Timestamp::parse(&envelope.recorded_at)
                .with_context(|| format!("event {}: recorded_at is not a time", envelope.seq))?;
            let request_id = match &envelope.request_id {
                Some(id) => Some(
                    domain::RequestId::new(id)
                        .with_context(|| format!("event {}: a malformed request id", envelope.seq))?,
                ),
                None => None,
            };
            old_state.apply(envelope.seq, recorded_at, &event, request_id.as_ref());
            engine::envelope::new_event(recorded_at, &event, envelope.request_id.zip(envelope.request_digest))
                .map_err(|e| anyhow::anyhow!("event {}: {e}", envelope.seq))
        });
        match converted {
            Ok(event) => Some(Ok(event)),
            Err(error) => {
                failure = Some(error);
                None
            }
        }
    });
    let reader = legacy.write(converted)?;
    if let Some(error) = failure {
        return Err(error.context("the old log cannot be migrated; nothing was changed"));
    }
    let report = reader.verify()?;
    if !report.ok || report.head_seq != old_state.head_seq() {
        anyhow::bail!("the new log does not verify ({report:?}); nothing was changed");
    }
    let new_state = engine::replay_from_genesis(&reader, None)?;
    if new_state != old_state {
        anyhow::bail!("the new log replays to another state than the old one; nothing was changed");
    }
    let digest = |state: &Projections| -> anyhow::Result<String> {
        use sha2::Digest;
        Ok(hex::encode(sha2::Sha256::digest(rmp_serde::to_vec_named(state)?)))
    };
    let summary = serde_json::json!({
        "from": from,
        "to": to,
        "events": report.head_seq,
        "head_hash": report.head_hash,
        "ledger_id": report.ledger_id,
        "state_equal": true,
        "state_digest": digest(&new_state)?,
    });
    legacy.finish()?;
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves `--projection` takes `all`, every view the projections know, and `requests`, so a
    // new view cannot be missing from the command.
    #[test]
    fn rebuild_names_every_view() {
        let views = projection::RULE_DEPENDENCIES.iter().map(|(view, _)| view.to_string());
        let expected: Vec<String> = std::iter::once("all".to_owned())
            .chain(views)
            .chain(std::iter::once("requests".to_owned()))
            .collect();
        assert_eq!(rebuild_names(), expected);
    }
}

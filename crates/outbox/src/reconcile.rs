//! `gongji reconcile`: a reference downstream consumer. It reads the whole settlement stream
//! with its own ordered consumer and compares it with the log: every settlement-side event
//! must be there exactly once with identical bytes and subject, and nothing else of this
//! ledger. Then the count and sum of `settled`, `refunded` and `premium_paid` per institution
//! and +08:00 day from both sides. `--repair` republishes what is missing. A message that
//! arrives after a higher seq of the ledger (a repair) is listed as late, for information only:
//! consumers order by `Gongji-Seq`, so it is still placed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;

use domain::{Event, Money};

use crate::publish::{message_id, subject, STREAM};

/// A settlement-side event of the log.
struct Expected {
    subject: String,
    envelope: Vec<u8>,
    event: Event,
    recorded_at: domain::Timestamp,
}

/// A message read from the stream.
struct Received {
    stream_seq: u64,
    subject: String,
    msg_id: Option<String>,
    ledger_seq: Option<u64>,
    payload: Vec<u8>,
}

/// (institution, +08:00 day, kind) → (count, sum).
type Totals = BTreeMap<(String, String, &'static str), (u64, Money)>;

fn add_total(totals: &mut Totals, event: &Event, recorded_at: domain::Timestamp) {
    let (institution, amount, kind) = match event {
        Event::Settled(c) => (c.institution.to_string(), c.amount, "settled"),
        Event::Captured(c) => (c.institution.to_string(), c.amount, "settled"),
        Event::Refunded(r) => (r.institution.to_string(), r.amount, "refunded"),
        Event::PremiumPaid(p) => ("-".to_owned(), p.amount, "premium_paid"),
        _ => return,
    };
    let day = {
        let local = recorded_at.plus_micros(8 * 3600 * 1_000_000).to_string();
        local[..10].to_owned()
    };
    let entry = totals.entry((institution, day, kind)).or_insert((0, Money::ZERO));
    entry.0 += 1;
    entry.1 = entry.1.plus(amount);
}

/// What `gongji reconcile` does with the events the stream is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// List them; the exit code says they are missing.
    Report,
    /// Publish them again (`--repair`).
    Republish,
}

pub fn run(nats: &str, data: &Path, missing: Missing) -> anyhow::Result<ExitCode> {
    let store = ledger::Store::open_copy(data, &std::env::temp_dir())
        .with_context(|| format!("cannot read the ledger in {}", data.display()))?;
    let ledger_id = store.ledger_id()?.unwrap_or_default();
    let mut expected: BTreeMap<u64, Expected> = BTreeMap::new();
    for stored in store.events(0) {
        let stored = stored?;
        let recorded = engine::decode_event(&stored)?;
        if let Some(subject) = subject(&recorded.event) {
            expected.insert(
                stored.seq,
                Expected {
                    subject,
                    envelope: engine::envelope::to_json(&stored)?,
                    event: recorded.event,
                    recorded_at: recorded.recorded_at,
                },
            );
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(compare(nats, &ledger_id, &expected, missing))
}

/// What the stream holds against what the log says it should.
#[derive(Default)]
struct Findings {
    /// Settlement-side seqs of the log with no message.
    missing: Vec<u64>,
    /// Seqs with more than one message.
    duplicated: Vec<u64>,
    /// Seqs whose first message differs from the log (bytes, subject or id).
    altered: Vec<u64>,
    /// Seqs whose first message came after a message of a higher seq (republished later).
    late: Vec<u64>,
    /// Messages that are not this ledger's settlement events.
    extra: Vec<String>,
    /// The stream's totals, from the first message of each seq.
    totals: Totals,
}

/// Sets the stream's messages against the log's settlement events.
fn examine(received: &[Received], expected: &BTreeMap<u64, Expected>, ledger_id: &str) -> Findings {
    let prefix = format!("{ledger_id}:");
    let mut found = Findings::default();
    let mut seen: BTreeMap<u64, u64> = BTreeMap::new();
    let mut seq_max_seen = 0;
    for message in received {
        let ours = message.msg_id.as_deref().is_some_and(|id| id.starts_with(&prefix));
        let known = message.ledger_seq.and_then(|seq| expected.get(&seq).map(|e| (seq, e)));
        let Some((seq, want)) = known.filter(|_| ours) else {
            found.extra.push(format!(
                "stream seq {} (subject {}, id {})",
                message.stream_seq,
                message.subject,
                message.msg_id.as_deref().unwrap_or("none")
            ));
            continue;
        };
        *seen.entry(seq).or_default() += 1;
        if seen[&seq] > 1 {
            continue;
        }
        if seq < seq_max_seen {
            found.late.push(seq);
        }
        seq_max_seen = seq_max_seen.max(seq);
        if message.payload != want.envelope
            || message.subject != want.subject
            || message.msg_id.as_deref() != Some(message_id(ledger_id, seq).as_str())
        {
            found.altered.push(seq);
        }
        if let Ok(envelope) = serde_json::from_slice::<serde_json::Value>(&message.payload) {
            let kind = envelope["kind"].as_str().unwrap_or_default();
            let payload = serde_json::to_vec(&envelope["payload"]).unwrap_or_default();
            let at = envelope["recorded_at"].as_str().and_then(domain::Timestamp::parse);
            if let (Ok(event), Some(at)) = (Event::from_json(kind, 1, &payload), at) {
                add_total(&mut found.totals, &event, at);
            }
        }
    }
    found.late.sort_unstable();
    found.duplicated = seen.iter().filter(|(_, n)| **n > 1).map(|(seq, _)| *seq).collect();
    found.missing = expected.keys().filter(|seq| !seen.contains_key(seq)).copied().collect();
    found
}

/// Prints the findings and both sides' totals; whether the totals agree.
fn print_findings(found: &Findings, ledger_totals: &Totals) -> bool {
    report("missing", &found.missing);
    report("duplicated", &found.duplicated);
    report("altered", &found.altered);
    report("late (republished)", &found.late);
    if !found.late.is_empty() {
        println!("  (information only: consumers order by Gongji-Seq, so a late message is still placed)");
    }
    if found.extra.is_empty() {
        println!("extra: none");
    } else {
        println!("extra: {}", found.extra.len());
        for line in &found.extra {
            println!("  {line}");
        }
    }
    println!("totals per institution and day (+08:00): kind, ledger count/sum, stream count/sum");
    let keys: std::collections::BTreeSet<_> =
        ledger_totals.keys().chain(found.totals.keys()).cloned().collect();
    let mut totals_agree = true;
    for key in keys {
        let ledger = ledger_totals.get(&key).copied().unwrap_or((0, Money::ZERO));
        let stream = found.totals.get(&key).copied().unwrap_or((0, Money::ZERO));
        let mark = if ledger == stream { "" } else { "  <- differs" };
        totals_agree &= ledger == stream;
        println!(
            "  {} {} {}: {}/{} vs {}/{}{mark}",
            key.0, key.1, key.2, ledger.0, ledger.1, stream.0, stream.1
        );
    }
    totals_agree
}

/// Publishes the missing seqs again; how many the stream still refused as duplicates (their
/// ids are inside its duplicate window).
async fn republish(
    context: &jetstream::Context,
    ledger_id: &str,
    expected: &BTreeMap<u64, Expected>,
    missing: &[u64],
) -> anyhow::Result<usize> {
    let mut still_missing = 0;
    for seq in missing {
        let want = &expected[seq];
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, message_id(ledger_id, *seq).as_str());
        headers.insert("Gongji-Seq", seq.to_string().as_str());
        let ack = context
            .publish_with_headers(want.subject.clone(), headers, want.envelope.clone().into())
            .await
            .map_err(|e| anyhow::anyhow!("republish of seq {seq}: {e}"))?
            .await
            .map_err(|e| anyhow::anyhow!("ack of seq {seq}: {e}"))?;
        if ack.duplicate {
            still_missing += 1;
            println!(
                "repair: seq {seq} not resent: its id is still inside the stream's duplicate window; run again once it has passed"
            );
        } else {
            println!("repair: seq {seq} republished");
        }
    }
    Ok(still_missing)
}

async fn compare(
    nats: &str,
    ledger_id: &str,
    expected: &BTreeMap<u64, Expected>,
    on_missing: Missing,
) -> anyhow::Result<ExitCode> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(5))
        .connect(crate::publish::servers(nats)?)
        .await
        .with_context(|| format!("cannot connect to {nats}"))?;
    let context = jetstream::new(client);
    let received = read_stream(&context).await?;
    let found = examine(&received, expected, ledger_id);
    let mut ledger_totals = Totals::new();
    for want in expected.values() {
        add_total(&mut ledger_totals, &want.event, want.recorded_at);
    }
    println!(
        "ledger {ledger_id}: {} settlement events in the log, {} messages in {STREAM}",
        expected.len(),
        received.len()
    );
    let totals_agree = print_findings(&found, &ledger_totals);
    let sound = found.duplicated.is_empty() && found.altered.is_empty() && found.extra.is_empty();
    let mut ok = sound && found.missing.is_empty() && totals_agree;
    if on_missing == Missing::Republish && !found.missing.is_empty() {
        let still_missing = republish(&context, ledger_id, expected, &found.missing).await?;
        ok = still_missing == 0 && sound;
        if ok {
            println!("repair: every missing event republished");
        }
    }
    println!("{}", if ok { "reconcile: OK" } else { "reconcile: DIFFERENCES FOUND" });
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn report(what: &str, seqs: &[u64]) {
    if seqs.is_empty() {
        println!("{what}: none");
    } else {
        let list: Vec<String> = seqs.iter().map(u64::to_string).collect();
        println!("{what}: {} (seq {})", seqs.len(), list.join(", "));
    }
}

/// Every message of the stream, in stream order, through an ordered consumer of our own.
async fn read_stream(context: &jetstream::Context) -> anyhow::Result<Vec<Received>> {
    let mut stream = context.get_stream(STREAM).await.map_err(|e| anyhow::anyhow!("stream {STREAM}: {e}"))?;
    let state = stream.info().await.map_err(|e| anyhow::anyhow!("stream info: {e}"))?.state.clone();
    let mut received = Vec::new();
    if state.messages == 0 {
        return Ok(received);
    }
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("consumer: {e}"))?;
    let mut messages = consumer.messages().await.map_err(|e| anyhow::anyhow!("consume: {e}"))?;
    loop {
        let next = tokio::time::timeout(Duration::from_secs(5), messages.next()).await;
        let Ok(Some(message)) = next else { break };
        let message = message.map_err(|e| anyhow::anyhow!("read: {e}"))?;
        let info = message.info().map_err(|e| anyhow::anyhow!("message info: {e}"))?;
        let (stream_seq, pending) = (info.stream_sequence, info.pending);
        let headers = message.headers.clone().unwrap_or_default();
        received.push(Received {
            stream_seq,
            subject: message.subject.to_string(),
            msg_id: headers.get(async_nats::header::NATS_MESSAGE_ID).map(|v| v.as_str().to_owned()),
            ledger_seq: headers.get("Gongji-Seq").and_then(|v| v.as_str().parse().ok()),
            payload: message.payload.to_vec(),
        });
        if pending == 0 || stream_seq >= state.last_sequence {
            break;
        }
    }
    Ok(received)
}

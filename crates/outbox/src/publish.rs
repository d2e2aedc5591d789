//! The publisher: the log is the outbox. One task reads settlement-side events from its
//! cursor, publishes each to JetStream with `Nats-Msg-Id: {ledger_id}:{seq}` and a `Gongji-Seq`
//! header, pipelines acks in windows, and advances the cursor only after every ack of a
//! window. On start it resumes from the later of the cursor and the stream's tail (the highest
//! seq of this ledger among the last messages, since a repair may have appended an old one), so
//! nothing is skipped and, within the stream's duplicate window, nothing is stored twice. It
//! refuses to publish to a stream whose config, read back, lacks what delivery relies on.
//! Without a NATS URL only the lag is kept up to date: the events wait in the outbox.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, stream};
use tokio::sync::Notify;

use domain::Event;
use ledger::{OutboxCursor, Reader, StoredEvent};

pub use async_nats::jetstream::publish::PublishAck;

/// Told what the publisher does, for the service's metrics.
pub trait PublishObserver: Send + Sync {
    /// JetStream acknowledged one message (its ack says whether the stream already held the
    /// message id).
    fn published(&self, ack: &PublishAck);
    /// Events in the log after the cursor, and how long the oldest of them has waited.
    fn lag(&self, events: u64, seconds: f64);
    /// Whether the publisher holds a connection to NATS and its stream (false while it
    /// reconnects).
    fn connected(&self, _connected: bool) {}
}

pub const STREAM: &str = "GONGJI_SETTLEMENTS";
pub const SUBJECTS: &str = "gongji.settlement.>";
/// The stream keeps message ids this long for deduplication.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Messages published before their acks are awaited.
const WINDOW_MESSAGES_MAX: usize = 256;
const RETRY_DELAY_MAX: Duration = Duration::from_secs(5);
/// Messages inspected back from the end of the stream to find this ledger's highest seq.
const TAIL_MESSAGES_MAX: u64 = 1024;
/// The most replicas a JetStream stream can have.
pub const REPLICAS_MAX: u64 = 5;
/// How long an idle task waits for a commit to wake it before it looks at the log again.
const IDLE_WAIT_MAX: Duration = Duration::from_millis(500);

/// The stream exists but its config, read back, is not one the publisher can rely on (or the
/// server refused to create it as asked). Unlike an unavailable server this needs an operator.
#[derive(Debug)]
pub struct StreamRefused(pub String);

impl std::fmt::Display for StreamRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StreamRefused {}

fn refuse(message: String) -> anyhow::Error {
    anyhow::Error::new(StreamRefused(message))
}

/// The subject of a settlement-side event, or `None` for other events.
pub fn subject(event: &Event) -> Option<String> {
    let (region, institution, kind) = event.settlement_subject()?;
    let institution = institution.map_or_else(|| "-".to_owned(), |i| i.as_str().replace('.', "%2E"));
    Some(format!("gongji.settlement.{region}.{institution}.{kind}"))
}

/// `Nats-Msg-Id` of the event at `seq`.
pub fn message_id(ledger_id: &str, seq: u64) -> String {
    format!("{ledger_id}:{seq}")
}

/// The stream, created if missing with `replicas` replicas, with its config read back and
/// checked: file storage, a long enough duplicate window, our subjects, the replica count.
pub async fn ensure_stream(context: &jetstream::Context, replicas: usize) -> anyhow::Result<stream::Stream> {
    let created = context
        .get_or_create_stream(stream::Config {
            name: STREAM.to_owned(),
            subjects: vec![SUBJECTS.to_owned()],
            storage: stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            num_replicas: replicas,
            ..Default::default()
        })
        .await;
    let mut stream = match created {
        Ok(stream) => stream,
        // The server answered, and said no: the request itself is wrong for this server.
        Err(e) if matches!(e.kind(), jetstream::context::CreateStreamErrorKind::JetStream(_)) => {
            return Err(refuse(format!("cannot create stream {STREAM} with {replicas} replicas: {e}")))
        }
        Err(e) => anyhow::bail!("cannot create or read stream {STREAM}: {e}"),
    };
    let config =
        stream.info().await.map_err(|e| anyhow::anyhow!("cannot read stream {STREAM}: {e}"))?.config.clone();
    check_config(&config, replicas).map_err(refuse)?;
    Ok(stream)
}

/// What the publisher needs of the stream's config as the server reports it.
fn check_config(config: &stream::Config, replicas: usize) -> Result<(), String> {
    if config.storage != stream::StorageType::File {
        return Err(format!("stream {STREAM} must use file storage"));
    }
    if config.duplicate_window < Duration::from_secs(600) {
        return Err(format!(
            "stream {STREAM} has a duplicate window of {:?}; at least 10 minutes is needed",
            config.duplicate_window
        ));
    }
    if !config.subjects.iter().any(|s| s == SUBJECTS) {
        return Err(format!("stream {STREAM} does not take subjects {SUBJECTS}"));
    }
    if config.num_replicas != replicas {
        return Err(format!(
            "stream {STREAM} has {} replicas but --nats-replicas asks for {replicas}; edit the stream or the flag",
            config.num_replicas
        ));
    }
    Ok(())
}

/// The highest ledger seq this ledger has among the last `TAIL_MESSAGES_MAX` messages of the
/// stream (0 when none). The highest, not the last: `reconcile --repair` may have appended an
/// old seq after newer ones.
async fn stream_tail(stream: &mut stream::Stream, ledger_id: &str) -> anyhow::Result<u64> {
    let state = stream.info().await.map_err(|e| anyhow::anyhow!("stream info: {e}"))?.state.clone();
    if state.messages == 0 {
        return Ok(0);
    }
    let first = state.first_sequence.max(1);
    let prefix = format!("{ledger_id}:");
    let mut tail = 0;
    // Look at every message in reach: deleted ones and other ledgers' are passed over.
    let mut sequence = state.last_sequence;
    let mut looked = 0;
    while sequence >= first && looked < TAIL_MESSAGES_MAX {
        if let Ok(message) = stream.get_raw_message(sequence).await {
            let ours = message
                .headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .is_some_and(|id| id.as_str().starts_with(&prefix));
            let seq = message.headers.get("Gongji-Seq").and_then(|s| s.as_str().parse::<u64>().ok());
            if let (true, Some(seq)) = (ours, seq) {
                tail = tail.max(seq);
            }
        }
        sequence -= 1;
        looked += 1;
    }
    Ok(tail)
}

/// What the publisher reads and writes of the ledger: the log, and its own cursor in it.
#[derive(Clone, Debug)]
pub struct Outbox {
    pub reader: Reader,
    pub cursor: OutboxCursor,
}

/// The servers of `--nats`: one URL, or a cluster's as a comma-separated list. The client
/// connects to one of them and moves to another when it goes (it also learns the cluster's
/// other members from the server).
pub fn servers(list: &str) -> anyhow::Result<Vec<async_nats::ServerAddr>> {
    list.split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(|url| url.parse().with_context(|| format!("{url:?} is not a NATS server URL")))
        .collect::<anyhow::Result<Vec<_>>>()
        .and_then(|servers| {
            anyhow::ensure!(!servers.is_empty(), "no NATS server given");
            Ok(servers)
        })
}

/// Runs the publisher until the process ends: connects (retrying), then publishes forever to a
/// stream of `replicas` replicas. A refused stream is retried too, so that an operator's fix
/// (`nats stream edit`, or the flag) takes effect without a restart of the service.
pub async fn run(
    url: String,
    replicas: usize,
    outbox: Outbox,
    observer: Arc<dyn PublishObserver>,
    wake: Arc<Notify>,
) {
    let mut delay = Duration::from_millis(100);
    loop {
        match publish(&url, replicas, &outbox, &*observer, &wake).await {
            Ok(()) => return,
            Err(error) => {
                observer.connected(false);
                if let Some(refused) = error.downcast_ref::<StreamRefused>() {
                    tracing::error!(error = %refused, "publisher: refusing to publish; events wait in the outbox");
                    delay = RETRY_DELAY_MAX;
                } else {
                    tracing::warn!(error = %format!("{error:#}"), "publisher: NATS unavailable; events wait in the outbox");
                }
                update_lag(&outbox, &*observer);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RETRY_DELAY_MAX);
            }
        }
    }
}

/// Without a NATS URL: keeps the publisher lag in `/metrics` current (refreshed on every
/// commit) while the events wait in the outbox for a start with a URL.
pub async fn watch_lag(outbox: Outbox, observer: Arc<dyn PublishObserver>, wake: Arc<Notify>) {
    loop {
        update_lag(&outbox, &*observer);
        tokio::time::timeout(IDLE_WAIT_MAX, wake.notified()).await.ok();
    }
}

async fn publish(
    url: &str,
    replicas: usize,
    outbox: &Outbox,
    observer: &dyn PublishObserver,
    wake: &Notify,
) -> anyhow::Result<()> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .request_timeout(Some(Duration::from_secs(5)))
        .connect(servers(url)?)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    let context = jetstream::new(client.clone());
    let mut stream = ensure_stream(&context, replicas).await?;
    observer.connected(true);
    loop {
        let Some(ledger_id) = outbox.reader.ledger_id()? else {
            // Nothing in the log yet.
            tokio::time::timeout(IDLE_WAIT_MAX, wake.notified()).await.ok();
            continue;
        };
        let tail = stream_tail(&mut stream, &ledger_id).await?;
        let stored = outbox.cursor.get()?;
        let mut cursor = stored.max(tail);
        if cursor > stored {
            // The stream holds more than the cursor says (an ack lost to an outage, then
            // stored as the cluster recovered): the cursor moves up to it now, not with the
            // next window, so the lag says what is really waiting.
            outbox.cursor.set(cursor)?;
            update_lag(outbox, observer);
        }
        tracing::info!(cursor, tail, "publisher: resuming");
        loop {
            let window: Vec<StoredEvent> =
                outbox.reader.events(cursor).take(WINDOW_MESSAGES_MAX * 4).collect::<Result<_, _>>()?;
            if window.is_empty() {
                update_lag(outbox, observer);
                observer.connected(client.connection_state() == async_nats::connection::State::Connected);
                tokio::time::timeout(IDLE_WAIT_MAX, wake.notified()).await.ok();
                continue;
            }
            let mut acks = Vec::with_capacity(WINDOW_MESSAGES_MAX);
            let mut last_scanned = cursor;
            for stored in &window {
                let recorded = engine::decode_event(stored)?;
                if let Some(subject) = subject(&recorded.event) {
                    if acks.len() == WINDOW_MESSAGES_MAX {
                        break;
                    }
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert(
                        async_nats::header::NATS_MESSAGE_ID,
                        message_id(&ledger_id, stored.seq).as_str(),
                    );
                    headers.insert("Gongji-Seq", stored.seq.to_string().as_str());
                    let ack = context
                        .publish_with_headers(subject, headers, engine::envelope::to_json(stored)?.into())
                        .await
                        .map_err(|e| anyhow::anyhow!("publish of seq {}: {e}", stored.seq))?;
                    acks.push((stored.seq, ack));
                }
                last_scanned = stored.seq;
            }
            for (seq, ack) in acks {
                let ack = ack.await.map_err(|e| anyhow::anyhow!("ack of seq {seq}: {e}"))?;
                observer.published(&ack);
            }
            cursor = last_scanned;
            outbox.cursor.set(cursor)?;
            update_lag(outbox, observer);
        }
    }
}

/// Publisher lag: events in the log after the cursor, and how long the oldest has waited.
fn update_lag(outbox: &Outbox, observer: &dyn PublishObserver) {
    let cursor = outbox.cursor.get().unwrap_or(0);
    let head = outbox.reader.head_seq().unwrap_or(0);
    let waiting_since = outbox
        .reader
        .events(cursor)
        .next()
        .and_then(|e| e.ok())
        .and_then(|e| engine::decode_event(&e).ok())
        .map(|recorded| recorded.recorded_at);
    let now = engine::Clock::now(&engine::SystemClock);
    let seconds = waiting_since.map_or(0.0, |t| (now.micros() - t.micros()).max(0) as f64 / 1e6);
    observer.lag(head.saturating_sub(cursor), seconds);
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves `--nats` takes one URL or a comma-separated cluster, and refuses an empty list
    // or a URL that is none.
    #[test]
    fn servers_of_a_list() {
        assert_eq!(servers("nats://127.0.0.1:4222").unwrap().len(), 1);
        let cluster = servers("nats://10.0.0.1:4222, nats://10.0.0.2:4222,nats://10.0.0.3:4222").unwrap();
        assert_eq!(cluster.len(), 3);
        assert_eq!(cluster[1].host(), "10.0.0.2");
        assert!(servers("").is_err());
        assert!(servers(" , ").is_err());
        assert!(servers("nats://127.0.0.1:4222,http://[::1").is_err());
    }

    // Proves subjects: dots in institution ids are escaped, premiums have "-".
    #[test]
    fn subjects() {
        let event: Event = serde_json::from_value::<domain::Released>(serde_json::json!({
            "settlement_id": "S1", "institution": "H.1", "region": "210100", "released": []
        }))
        .map(Event::Voided)
        .unwrap();
        assert_eq!(subject(&event).unwrap(), "gongji.settlement.210100.H%2E1.voided");
        let premium = Event::PremiumPaid(
            serde_json::from_value(serde_json::json!({
                "payer": "P1", "beneficiary": "C", "region": "210100", "year": 2026, "amount": "400.00", "draws": []
            }))
            .unwrap(),
        );
        assert_eq!(subject(&premium).unwrap(), "gongji.settlement.210100.-.premium_paid");
        assert_eq!(message_id("abcd", 7), "abcd:7");
    }

    // Proves the stream config read back is refused unless it has the replica count asked for,
    // file storage, a duplicate window of at least 10 minutes and our subjects.
    #[test]
    fn stream_config_checks() {
        let good = stream::Config {
            name: STREAM.to_owned(),
            subjects: vec![SUBJECTS.to_owned()],
            storage: stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            num_replicas: 1,
            ..Default::default()
        };
        assert_eq!(check_config(&good, 1), Ok(()));
        let refused = check_config(&good, 3).unwrap_err();
        assert!(refused.contains("1 replicas") && refused.contains("asks for 3"), "{refused}");
        let three = stream::Config { num_replicas: 3, ..good.clone() };
        assert_eq!(check_config(&three, 3), Ok(()));
        assert!(check_config(&three, 1).is_err());
        let memory = stream::Config { storage: stream::StorageType::Memory, ..good.clone() };
        assert!(check_config(&memory, 1).unwrap_err().contains("file storage"));
        let short = stream::Config { duplicate_window: Duration::from_secs(60), ..good.clone() };
        assert!(check_config(&short, 1).unwrap_err().contains("duplicate window"));
        let other = stream::Config { subjects: vec!["other.>".to_owned()], ..good };
        assert!(check_config(&other, 1).unwrap_err().contains("subjects"));
    }
}

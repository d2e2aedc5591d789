//! The publisher: the log is the outbox. One task reads settlement-side events from its
//! cursor, publishes each to JetStream with `Nats-Msg-Id: {ledger_id}:{seq}` and a `Gongji-Seq`
//! header, pipelines acks in windows, and advances the cursor only after every ack of a
//! window. On start it resumes from the later of the cursor and the stream's tail, so nothing
//! is skipped and, within the stream's duplicate window, nothing is stored twice.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, stream};
use tokio::sync::Notify;

use domain::Event;
use ledger::{Reader, StoredEvent};

use crate::metrics::Metrics;

pub const STREAM: &str = "GONGJI_SETTLEMENTS";
pub const SUBJECTS: &str = "gongji.settlement.>";
/// The stream keeps message ids this long for deduplication.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Messages published before their acks are awaited.
const WINDOW_MESSAGES_MAX: usize = 256;
const RETRY_DELAY_MAX: Duration = Duration::from_secs(5);

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

/// The stream, created if missing, with its config read back and checked.
pub async fn ensure_stream(context: &jetstream::Context) -> anyhow::Result<stream::Stream> {
    let mut stream = context
        .get_or_create_stream(stream::Config {
            name: STREAM.to_owned(),
            subjects: vec![SUBJECTS.to_owned()],
            storage: stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot create or read stream {STREAM}: {e}"))?;
    let config =
        stream.info().await.map_err(|e| anyhow::anyhow!("cannot read stream {STREAM}: {e}"))?.config.clone();
    anyhow::ensure!(config.storage == stream::StorageType::File, "stream {STREAM} must use file storage");
    anyhow::ensure!(
        config.duplicate_window >= Duration::from_secs(600),
        "stream {STREAM} has a duplicate window of {:?}; at least 10 minutes is needed",
        config.duplicate_window
    );
    anyhow::ensure!(
        config.subjects.iter().any(|s| s == SUBJECTS),
        "stream {STREAM} does not take subjects {SUBJECTS}"
    );
    Ok(stream)
}

/// The highest ledger seq this ledger has in the stream (0 when none).
async fn stream_tail(stream: &mut stream::Stream, ledger_id: &str) -> anyhow::Result<u64> {
    let last = stream.info().await.map_err(|e| anyhow::anyhow!("stream info: {e}"))?.state.last_sequence;
    let prefix = format!("{ledger_id}:");
    // Walk back over messages that are deleted or belong to another ledger.
    let mut sequence = last;
    let mut looked = 0;
    while sequence > 0 && looked < 1024 {
        if let Ok(message) = stream.get_raw_message(sequence).await {
            let ours = message
                .headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .is_some_and(|id| id.as_str().starts_with(&prefix));
            if ours {
                if let Some(seq) =
                    message.headers.get("Gongji-Seq").and_then(|s| s.as_str().parse::<u64>().ok())
                {
                    return Ok(seq);
                }
            }
        }
        sequence -= 1;
        looked += 1;
    }
    Ok(0)
}

/// Runs the publisher until the process ends: connects (retrying), then publishes forever.
pub async fn run(url: String, reader: Reader, metrics: Arc<Metrics>, wake: Arc<Notify>) {
    let mut delay = Duration::from_millis(100);
    loop {
        match publish(&url, &reader, &metrics, &wake).await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "publisher: NATS unavailable; events wait in the outbox");
                update_lag(&reader, &metrics);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RETRY_DELAY_MAX);
            }
        }
    }
}

async fn publish(url: &str, reader: &Reader, metrics: &Metrics, wake: &Notify) -> anyhow::Result<()> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .request_timeout(Some(Duration::from_secs(5)))
        .connect(url)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    let context = jetstream::new(client);
    let mut stream = ensure_stream(&context).await?;
    loop {
        let Some(ledger_id) = reader.ledger_id()? else {
            // Nothing in the log yet.
            tokio::time::timeout(Duration::from_millis(500), wake.notified()).await.ok();
            continue;
        };
        let tail = stream_tail(&mut stream, &ledger_id).await?;
        let mut cursor = reader.outbox_cursor()?.max(tail);
        tracing::info!(cursor, tail, "publisher: resuming");
        loop {
            let window: Vec<StoredEvent> =
                reader.events(cursor).take(WINDOW_MESSAGES_MAX * 4).collect::<Result<_, _>>()?;
            if window.is_empty() {
                update_lag(reader, metrics);
                tokio::time::timeout(Duration::from_millis(500), wake.notified()).await.ok();
                continue;
            }
            let mut acks = Vec::with_capacity(WINDOW_MESSAGES_MAX);
            let mut last_scanned = cursor;
            for stored in &window {
                let (recorded, _) = engine::decode(stored)?;
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
                        .publish_with_headers(subject, headers, stored.envelope().to_vec().into())
                        .await
                        .map_err(|e| anyhow::anyhow!("publish of seq {}: {e}", stored.seq))?;
                    acks.push((stored.seq, ack));
                }
                last_scanned = stored.seq;
            }
            for (seq, ack) in acks {
                let ack = ack.await.map_err(|e| anyhow::anyhow!("ack of seq {seq}: {e}"))?;
                metrics.published(ack.duplicate);
            }
            cursor = last_scanned;
            reader.set_outbox_cursor(cursor)?;
            update_lag(reader, metrics);
        }
    }
}

/// Publisher lag: events in the log after the cursor, and how long the oldest has waited.
fn update_lag(reader: &Reader, metrics: &Metrics) {
    let cursor = reader.outbox_cursor().unwrap_or(0);
    let head = reader.head_seq().unwrap_or(0);
    let waiting_since = reader
        .events(cursor)
        .next()
        .and_then(|e| e.ok())
        .and_then(|e| engine::decode(&e).ok())
        .map(|(recorded, _)| recorded.recorded_at);
    let now = engine::Clock::now(&engine::SystemClock);
    let seconds = waiting_since.map_or(0.0, |t| (now.micros() - t.micros()).max(0) as f64 / 1e6);
    metrics.set_publisher_lag(head.saturating_sub(cursor), seconds);
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

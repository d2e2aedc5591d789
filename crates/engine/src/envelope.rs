//! The JSON envelope that leaves the ledger, rendered from the stored binary form: a page of
//! `GET /v1/events`, a line of `gongji export`, a NATS message body.
//!
//! `{seq, recorded_at, kind, version, request_id?, request_digest?, payload, prev_hash, hash}`,
//! keys in that order, `payload` the event's JSON (`docs/events.md`). The hashes are those of
//! the binary form, so an auditor turns an envelope back into its canonical bytes
//! (`from_json`) to check them: the JSON form is a rendering, the bytes are the record.

use domain::{Event, Timestamp, EVENT_VERSION};
use ledger::{digest_bytes, NewEvent, StoredEvent};
use serde::Deserialize;

use crate::EngineError;

/// The envelope of a stored event, as JSON bytes.
pub fn to_json(stored: &StoredEvent) -> Result<Vec<u8>, EngineError> {
    let fields = stored.fields()?;
    let recorded = crate::writer::recorded(stored, &fields)?;
    let mut out = Vec::with_capacity(stored.bytes.len() * 3 + 256);
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(stored.seq.to_string().as_bytes());
    out.extend_from_slice(b",\"recorded_at\":\"");
    out.extend_from_slice(recorded.recorded_at.to_string().as_bytes());
    out.extend_from_slice(b"\",\"kind\":\"");
    out.extend_from_slice(recorded.event.kind().as_bytes());
    out.extend_from_slice(b"\",\"version\":");
    out.extend_from_slice(fields.version.to_string().as_bytes());
    if let (Some(id), Some(digest)) = (&recorded.request_id, fields.request_digest) {
        // Ids are `[A-Za-z0-9_.:-]` and digests hex: nothing in them needs escaping, but the
        // serializer is the one place that decides that.
        out.extend_from_slice(b",\"request_id\":");
        serde_json::to_writer(&mut out, id).expect("request ids serialize");
        out.extend_from_slice(b",\"request_digest\":");
        serde_json::to_writer(&mut out, &hex::encode(digest)).expect("hex serializes");
    }
    out.extend_from_slice(b",\"payload\":");
    serde_json::to_writer(&mut out, &recorded.event).expect("events serialize");
    out.extend_from_slice(b",\"prev_hash\":\"");
    out.extend_from_slice(hex::encode(stored.prev_hash).as_bytes());
    out.extend_from_slice(b"\",\"hash\":\"");
    out.extend_from_slice(hex::encode(stored.hash).as_bytes());
    out.extend_from_slice(b"\"}");
    Ok(out)
}

/// The fields of a JSON envelope.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    seq: u64,
    recorded_at: String,
    kind: String,
    version: u32,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    request_digest: Option<String>,
    payload: Box<serde_json::value::RawValue>,
    prev_hash: String,
    hash: String,
}

/// A JSON envelope (a line of an export) turned back into the stored event it renders: its
/// canonical bytes rebuilt from its fields, and the hashes it claims. Whether those hashes
/// hold is for `ledger::verify_events` to judge. `Err` says why the line cannot be read.
pub fn from_json(line: &[u8]) -> Result<StoredEvent, String> {
    let envelope: Envelope = serde_json::from_slice(line).map_err(|e| format!("not an envelope: {e}"))?;
    let event = Event::from_json(&envelope.kind, envelope.version, envelope.payload.get().as_bytes())?;
    let recorded_at =
        Timestamp::parse(&envelope.recorded_at).ok_or_else(|| "recorded_at is not a time".to_owned())?;
    let request = match (envelope.request_id, envelope.request_digest) {
        (Some(id), Some(digest)) => Some((id, digest)),
        (None, None) => None,
        _ => return Err("request_id and request_digest come together".into()),
    };
    let new = new_event(recorded_at, &event, request)?;
    let hash = |text: &str| {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out)
            .map(|()| out)
            .map_err(|_| "a hash is not 64 hex digits".to_owned())
    };
    Ok(StoredEvent {
        seq: envelope.seq,
        bytes: new.canonical_bytes(envelope.seq),
        prev_hash: hash(&envelope.prev_hash)?,
        hash: hash(&envelope.hash)?,
    })
}

/// The stored form of `event`, recorded at `recorded_at` by `request` (its id, and its
/// digest as 32 hex digits), at the schema version written today: what the writer seals, and
/// what an export or a format 1 envelope is turned back into.
pub fn new_event(
    recorded_at: Timestamp,
    event: &Event,
    request: Option<(String, String)>,
) -> Result<NewEvent, String> {
    let request = match request {
        Some((id, digest)) => Some((id, digest_bytes(&digest).ok_or("request_digest is not 32 hex digits")?)),
        None => None,
    };
    Ok(NewEvent {
        recorded_at: recorded_at.0,
        kind: event.kind_code(),
        version: EVENT_VERSION as u16,
        request,
        payload: event.encode(),
    })
}

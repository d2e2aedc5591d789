//! The log's binary layout (format 2): an event's canonical bytes, over which the hash chain
//! runs, and the segment, a sled value that holds a run of a group commit's events.
//!
//! An event's canonical bytes (`docs/events.md` "Envelope and segment"), every field always
//! present, integers little-endian:
//!
//! ```text
//! seq             u64
//! recorded_at     i64   microseconds since the Unix epoch, UTC
//! kind            u16   the payload's kind code (the caller's; opaque here)
//! version         u16   the payload's schema version
//! request_id      u8 length (0: written by no request) + that many bytes of UTF-8
//! request_digest  16 bytes (zeros when written by no request)
//! payload         the rest: the caller's bytes, opaque here
//! ```
//!
//! `hash = SHA-256(prev_hash ‖ canonical bytes)`, with 32 zero bytes before event 1.
//!
//! A segment, stored under the big-endian seq of its first event:
//!
//! ```text
//! format     u8 = 2
//! prev_hash  [32]  the hash of the event before its first
//! count      u32
//! count × { length u32, canonical bytes, hash [32] }
//! ```
//!
//! Each event's hash is stored beside it, so any one event is proved (and a changed one named)
//! without hashing the segment from its start.

use crate::StorageError;

/// The layout of the log this build writes and reads.
pub const LOG_FORMAT: u32 = 2;

/// Bytes of an event's fixed fields before its request id's bytes.
const FIXED_BYTES: usize = 8 + 8 + 2 + 2 + 1;
/// Bytes of a request digest.
pub const DIGEST_BYTES: usize = 16;
/// Bytes of a hash in the chain (SHA-256).
const HASH_BYTES: usize = 32;
/// Bytes of a segment's header: format, prev_hash, count.
const SEGMENT_HEADER_BYTES: usize = 1 + HASH_BYTES + 4;

/// An event to append: the ledger assigns its seq and chains its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// Microseconds since the Unix epoch, UTC.
    pub recorded_at: i64,
    /// The payload's kind, as the caller numbers kinds.
    pub kind: u16,
    pub version: u16,
    /// The request that wrote it: its id (1–255 bytes) and the 16 bytes of its digest.
    pub request: Option<(String, [u8; DIGEST_BYTES])>,
    pub payload: Vec<u8>,
}

/// The 16 bytes of a request digest written as 32 hex digits; `None` if it is not that.
pub fn digest_bytes(digest: &str) -> Option<[u8; DIGEST_BYTES]> {
    let mut out = [0u8; DIGEST_BYTES];
    hex::decode_to_slice(digest, &mut out).ok().map(|()| out)
}

/// A stored event: its canonical bytes and its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: u64,
    /// The canonical bytes (see the module doc).
    pub bytes: Vec<u8>,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// The fields of an event's canonical bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fields<'a> {
    pub seq: u64,
    pub recorded_at: i64,
    pub kind: u16,
    pub version: u16,
    pub request_id: Option<&'a str>,
    pub request_digest: Option<&'a [u8; DIGEST_BYTES]>,
    pub payload: &'a [u8],
}

impl NewEvent {
    /// The canonical bytes of this event at `seq`.
    ///
    /// Panics on a request id longer than 255 bytes: ids are checked to 64 characters of
    /// ASCII long before they reach the log.
    pub fn canonical_bytes(&self, seq: u64) -> Vec<u8> {
        let (id, digest) = match &self.request {
            Some((id, digest)) => (id.as_bytes(), *digest),
            None => (&[][..], [0u8; DIGEST_BYTES]),
        };
        let id_len = u8::try_from(id.len()).expect("request ids are at most 255 bytes");
        let mut bytes = Vec::with_capacity(FIXED_BYTES + id.len() + DIGEST_BYTES + self.payload.len());
        bytes.extend_from_slice(&seq.to_le_bytes());
        bytes.extend_from_slice(&self.recorded_at.to_le_bytes());
        bytes.extend_from_slice(&self.kind.to_le_bytes());
        bytes.extend_from_slice(&self.version.to_le_bytes());
        bytes.push(id_len);
        bytes.extend_from_slice(id);
        bytes.extend_from_slice(&digest);
        bytes.extend_from_slice(&self.payload);
        bytes
    }
}

impl StoredEvent {
    /// The fields of its canonical bytes.
    pub fn fields(&self) -> Result<Fields<'_>, StorageError> {
        parse_fields(&self.bytes).ok_or_else(|| StorageError::Corrupt {
            seq: self.seq,
            reason: "the event's bytes are too short for its fields".into(),
        })
    }

    pub fn hash(&self) -> [u8; 32] {
        self.hash
    }

    pub fn prev_hash(&self) -> [u8; 32] {
        self.prev_hash
    }
}

/// Reads the fields of canonical bytes; `None` if they are too short.
pub fn parse_fields(bytes: &[u8]) -> Option<Fields<'_>> {
    let seq = u64::from_le_bytes(bytes.get(0..8)?.try_into().ok()?);
    let recorded_at = i64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
    let kind = u16::from_le_bytes(bytes.get(16..18)?.try_into().ok()?);
    let version = u16::from_le_bytes(bytes.get(18..20)?.try_into().ok()?);
    let id_len = usize::from(*bytes.get(20)?);
    let id = bytes.get(FIXED_BYTES..FIXED_BYTES + id_len)?;
    let digest_at = FIXED_BYTES + id_len;
    let digest: &[u8; DIGEST_BYTES] = bytes.get(digest_at..digest_at + DIGEST_BYTES)?.try_into().ok()?;
    let payload = bytes.get(digest_at + DIGEST_BYTES..)?;
    let (request_id, request_digest) =
        if id_len == 0 { (None, None) } else { (Some(std::str::from_utf8(id).ok()?), Some(digest)) };
    Some(Fields { seq, recorded_at, kind, version, request_id, request_digest, payload })
}

/// The most bytes a segment value holds, unless one event alone is larger.
///
/// sled 0.34 keeps a leaf of up to 17 values as one page, and stores a page of more than a
/// quarter of its 512 KiB io buffer as a blob: a file of its own, fsynced with its directory,
/// and held in memory for good, because its cache weighs a blob by its pointer. 17 values of
/// 6 KiB stay under that, so the log's pages are weighed by their size and evicted like any.
pub const SEGMENT_BYTES_MAX: usize = 6 * 1024;

/// sled 0.34's io buffer (`Config::segment_size`, left at its default) and the most values a
/// leaf of its tree holds (it splits a leaf of more than 16).
const SLED_IO_BUFFER_BYTES: usize = 512 * 1024;
const SLED_LEAF_VALUES_MAX: usize = 17;

// The layout's constants, tied together where the compiler checks them.
const _: () = {
    use std::mem::size_of;
    // seq, recorded_at, kind, version, and the one byte of the request id's length.
    assert!(FIXED_BYTES == size_of::<u64>() + size_of::<i64>() + 2 * size_of::<u16>() + size_of::<u8>());
    // format, prev_hash, count.
    assert!(SEGMENT_HEADER_BYTES == size_of::<u8>() + HASH_BYTES + size_of::<u32>());
    // A full leaf of segments (each with its 8-byte key and sled's few bytes of framing)
    // stays under the quarter of the io buffer above which sled makes a page a blob.
    assert!(SLED_LEAF_VALUES_MAX * (SEGMENT_BYTES_MAX + 8 + 16) < SLED_IO_BUFFER_BYTES / 4 - 64);
    // The smallest segment, one event with no request and no payload, fits the bound.
    assert!(SEGMENT_HEADER_BYTES + 4 + FIXED_BYTES + DIGEST_BYTES + HASH_BYTES <= SEGMENT_BYTES_MAX);
};

/// The bytes `event` takes in a segment.
fn stored_len(event: &StoredEvent) -> usize {
    4 + event.bytes.len() + HASH_BYTES
}

/// `events` cut, in order, into the runs that are each one segment: as many events as fit in
/// `SEGMENT_BYTES_MAX`, and at least one.
pub fn segments(events: &[StoredEvent]) -> impl Iterator<Item = &[StoredEvent]> {
    let mut rest = events;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut size = SEGMENT_HEADER_BYTES + stored_len(&rest[0]);
        let mut end = 1;
        while let Some(next) = rest.get(end) {
            size += stored_len(next);
            if size > SEGMENT_BYTES_MAX {
                break;
            }
            end += 1;
        }
        let (run, after) = rest.split_at(end);
        rest = after;
        Some(run)
    })
}

/// The segment value holding `events`, which continue one another's chain.
pub fn encode_segment(events: &[StoredEvent]) -> Vec<u8> {
    let size: usize = events.iter().map(stored_len).sum();
    let mut value = Vec::with_capacity(SEGMENT_HEADER_BYTES + size);
    value.push(LOG_FORMAT as u8);
    value.extend_from_slice(&events.first().map_or([0; 32], |e| e.prev_hash));
    value.extend_from_slice(
        &u32::try_from(events.len()).expect("a segment holds under 4G events").to_le_bytes(),
    );
    for event in events {
        let length = u32::try_from(event.bytes.len()).expect("an event is under 4 GiB");
        value.extend_from_slice(&length.to_le_bytes());
        value.extend_from_slice(&event.bytes);
        value.extend_from_slice(&event.hash);
    }
    value
}

/// The events of the segment stored under `first_seq`, numbered from it. The stored bytes are
/// returned as they are: whether they hash to their stored hashes and say their seqs is for
/// verification to judge (`Chain`).
pub fn decode_segment(first_seq: u64, value: &[u8]) -> Result<Vec<StoredEvent>, StorageError> {
    let mut events = Vec::new();
    walk_segment(first_seq, value, |seq, bytes, prev_hash, hash| {
        events.push(StoredEvent { seq, bytes: bytes.to_vec(), prev_hash, hash });
    })?;
    Ok(events)
}

/// Event `seq` of the segment stored under `first_seq`, copying no other event's bytes.
pub fn find_in_segment(first_seq: u64, value: &[u8], seq: u64) -> Result<Option<StoredEvent>, StorageError> {
    let mut found = None;
    walk_segment(first_seq, value, |at, bytes, prev_hash, hash| {
        if at == seq {
            found = Some(StoredEvent { seq, bytes: bytes.to_vec(), prev_hash, hash });
        }
    })?;
    Ok(found)
}

/// Calls `visit(seq, canonical bytes, prev_hash, hash)` for each event of a segment, after
/// checking the segment's framing (its format, and lengths that end exactly at its end).
fn walk_segment(
    first_seq: u64,
    value: &[u8],
    mut visit: impl FnMut(u64, &[u8], [u8; 32], [u8; 32]),
) -> Result<(), StorageError> {
    let corrupt =
        |reason: &str| StorageError::Corrupt { seq: first_seq, reason: format!("segment: {reason}") };
    if value.len() < SEGMENT_HEADER_BYTES {
        return Err(corrupt("shorter than its header"));
    }
    if u32::from(value[0]) != LOG_FORMAT {
        return Err(corrupt(&format!("format {} where {LOG_FORMAT} was expected", value[0])));
    }
    let mut prev: [u8; 32] = value[1..33].try_into().expect("32 bytes");
    let count = u32::from_le_bytes(value[33..37].try_into().expect("4 bytes")) as usize;
    let mut at = SEGMENT_HEADER_BYTES;
    for i in 0..count {
        let seq = first_seq + i as u64;
        let cut = |reason: &str| StorageError::Corrupt { seq, reason: format!("segment: {reason}") };
        let length = value.get(at..at + 4).ok_or_else(|| cut("cut short before an event's length"))?;
        let length = u32::from_le_bytes(length.try_into().expect("4 bytes")) as usize;
        at += 4;
        let bytes = value.get(at..at + length).ok_or_else(|| cut("cut short in an event"))?;
        at += length;
        let hash: [u8; 32] =
            value.get(at..at + 32).ok_or_else(|| cut("cut short in a hash"))?.try_into().expect("32 bytes");
        at += 32;
        visit(seq, bytes, prev, hash);
        prev = hash;
    }
    if at != value.len() {
        return Err(corrupt("bytes after its last event"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_event(n: u8, request: bool) -> NewEvent {
        NewEvent {
            recorded_at: 1_772_323_200_000_000 + i64::from(n),
            kind: 12,
            version: 1,
            request: request.then(|| (format!("r{n}"), [n; DIGEST_BYTES])),
            payload: vec![n; 5],
        }
    }

    // Proves the canonical bytes' exact layout, and that the fields read back.
    #[test]
    fn canonical_bytes_layout() {
        let event = new_event(7, true);
        let bytes = event.canonical_bytes(3);
        let mut expected = Vec::new();
        expected.extend_from_slice(&3u64.to_le_bytes());
        expected.extend_from_slice(&1_772_323_200_000_007i64.to_le_bytes());
        expected.extend_from_slice(&[12, 0, 1, 0, 2, b'r', b'7']);
        expected.extend_from_slice(&[7; 16]);
        expected.extend_from_slice(&[7; 5]);
        assert_eq!(bytes, expected);
        let fields = parse_fields(&bytes).unwrap();
        assert_eq!(fields.seq, 3);
        assert_eq!(fields.request_id, Some("r7"));
        assert_eq!(fields.request_digest, Some(&[7; 16]));
        assert_eq!(fields.payload, &[7; 5]);
        let bytes_none = new_event(1, false).canonical_bytes(1);
        let none = parse_fields(&bytes_none).unwrap();
        assert_eq!((none.request_id, none.request_digest), (None, None));
        assert!(parse_fields(&bytes[..20]).is_none());
    }

    // Proves a segment decodes to the events it was made of, and refuses one cut short or
    // with bytes after its end.
    #[test]
    fn segments_round_trip() {
        let mut prev = [9u8; 32];
        let events: Vec<StoredEvent> = (0..3u8)
            .map(|n| {
                let hash = [n + 100; 32];
                let stored = StoredEvent {
                    seq: 10 + u64::from(n),
                    bytes: new_event(n, n % 2 == 0).canonical_bytes(10 + u64::from(n)),
                    prev_hash: prev,
                    hash,
                };
                prev = hash;
                stored
            })
            .collect();
        let value = encode_segment(&events);
        assert_eq!(decode_segment(10, &value).unwrap(), events);
        assert_eq!(find_in_segment(10, &value, 11).unwrap().as_ref(), Some(&events[1]));
        assert_eq!(find_in_segment(10, &value, 13).unwrap(), None);
        assert!(decode_segment(10, &value[..value.len() - 1]).is_err());
        let mut longer = value.clone();
        longer.push(0);
        assert!(decode_segment(10, &longer).is_err());
        let mut other = value;
        other[0] = 1;
        assert!(decode_segment(10, &other).is_err());
    }

    // Proves a commit is cut into runs that keep every event once and in order, each within
    // SEGMENT_BYTES_MAX unless it is one event larger than that.
    #[test]
    fn segments_fit_their_bound() {
        let event = |seq: u64, len: usize| StoredEvent {
            seq,
            bytes: vec![1; len],
            prev_hash: [0; 32],
            hash: [0; 32],
        };
        let mut events: Vec<StoredEvent> =
            (1..=500).map(|seq| event(seq, 50 + (seq as usize * 37) % 300)).collect();
        events.push(event(501, SEGMENT_BYTES_MAX * 2));
        events.push(event(502, 10));
        let runs: Vec<&[StoredEvent]> = segments(&events).collect();
        assert!(runs.len() > 10);
        let seqs: Vec<u64> = runs.iter().flat_map(|run| run.iter().map(|e| e.seq)).collect();
        assert_eq!(seqs, (1..=502).collect::<Vec<_>>());
        for run in &runs {
            let size = encode_segment(run).len();
            assert!(size <= SEGMENT_BYTES_MAX || run.len() == 1, "{} events in {size} bytes", run.len());
            assert!(!run.is_empty());
        }
        let big = runs.iter().find(|run| run[0].seq == 501).unwrap();
        assert_eq!(big.len(), 1);
        assert_eq!(segments(&[]).count(), 0);
    }
}

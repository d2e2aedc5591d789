//! Format 1 of the log, read only to migrate it (`gongji migrate --from 1 --to 2`).
//!
//! Format 1 stored one JSON envelope per event in the `log` tree, under the big-endian seq:
//! `{seq, recorded_at, kind, version, request_id?, request_digest?, payload, prev_hash, hash}`
//! with `hash = SHA-256(prev_hash ‖ the envelope without its two hash fields)`. Migration
//! reads it, checking that chain as it goes, and writes the same events as format 2 segments
//! beside it; only once the caller has proved the new log equal does `finish` switch the
//! ledger over. A migration stopped before that leaves format 1 in force and is run again.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use serde::Deserialize;

use crate::{
    chain_hash, key_seq, open_db, stored_format, sync_dir, NewEvent, Reader, RequestRecord, Sealer,
    StorageError, Synced, CACHE_BYTES_DEFAULT, CHECKPOINT_KEY, LEGACY_LOG_TREE, LOG_FORMAT, LOG_FORMAT_KEY,
    SEGMENTS_TREE, SNAPSHOTS_DIR, ZERO_HASH,
};

/// Bytes of a format 1 envelope's tail: `,"prev_hash":"<64>","hash":"<64>"}`.
const SUFFIX_BYTES: usize = 154;

/// Events a migration writes at a time (as segments of `log::SEGMENT_BYTES_MAX`).
const EVENTS_PER_WRITE: usize = 4096;

/// One event of format 1, its hash checked.
#[derive(Debug, Deserialize)]
pub struct LegacyEnvelope {
    pub seq: u64,
    pub recorded_at: String,
    pub kind: String,
    pub version: u32,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub request_digest: Option<String>,
    pub payload: Box<serde_json::value::RawValue>,
}

/// A ledger in format 1, opened to be migrated.
pub struct LegacyLedger {
    path: PathBuf,
    db: sled::Db,
    legacy: sled::Tree,
    segments: sled::Tree,
    meta: sled::Tree,
    requests: sled::Tree,
}

impl std::fmt::Debug for LegacyLedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyLedger").field("path", &self.path).finish_non_exhaustive()
    }
}

impl LegacyLedger {
    /// Opens the ledger in `dir` for migration from format 1; refuses one in another format.
    pub fn open(dir: &Path) -> Result<LegacyLedger, StorageError> {
        if !dir.join(crate::SLED_DATA_FILE).exists() {
            return Err(StorageError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} holds no ledger", dir.display()),
            )));
        }
        let db = open_db(dir, CACHE_BYTES_DEFAULT)?;
        let meta = db.open_tree("meta")?;
        let has_legacy = db.tree_names().iter().any(|name| name.as_ref() == LEGACY_LOG_TREE.as_bytes());
        match stored_format(&meta)? {
            None if has_legacy => {}
            found => {
                return Err(StorageError::Io(std::io::Error::other(format!(
                    "the ledger in {} is in log format {}, not 1: there is nothing to migrate",
                    dir.display(),
                    found.unwrap_or(LOG_FORMAT)
                ))))
            }
        }
        Ok(LegacyLedger {
            path: dir.to_owned(),
            legacy: db.open_tree(LEGACY_LOG_TREE)?,
            segments: db.open_tree(SEGMENTS_TREE)?,
            requests: db.open_tree("requests")?,
            meta,
            db,
        })
    }

    /// The events of format 1 in order, each checked against the chain of format 1: the
    /// first one that breaks it is an `Err` naming its seq, and nothing after it is read.
    pub fn events(&self) -> impl Iterator<Item = Result<LegacyEnvelope, StorageError>> + '_ {
        let mut expected = 1u64;
        let mut prev = ZERO_HASH;
        let mut failed = false;
        self.legacy.iter().map_while(move |item| {
            if failed {
                return None;
            }
            let checked = item.map_err(StorageError::from).and_then(|(key, value)| {
                let seq = key_seq(&key)?;
                let corrupt =
                    |reason: &str| StorageError::Corrupt { seq: expected, reason: reason.to_owned() };
                if seq != expected {
                    return Err(corrupt(&format!("event {expected} is missing (next stored is {seq})")));
                }
                let (body, stored_prev, hash) =
                    split(&value).ok_or_else(|| corrupt("not a format 1 envelope"))?;
                if stored_prev != prev || chain_hash(&prev, &body) != hash {
                    return Err(corrupt("the format 1 hash chain is broken here"));
                }
                let envelope: LegacyEnvelope = serde_json::from_slice(&value)
                    .map_err(|e| corrupt(&format!("not a format 1 envelope: {e}")))?;
                if envelope.seq != seq {
                    return Err(corrupt(&format!("the envelope says seq {}", envelope.seq)));
                }
                prev = hash;
                expected += 1;
                Ok(envelope)
            });
            failed = checked.is_err();
            Some(checked)
        })
    }

    /// Writes `events`, in order from seq 1, as format 2 segments beside the old log (after
    /// removing any a stopped migration left), flushed and fsynced. Returns a reader of them.
    pub fn write(
        &self,
        events: impl Iterator<Item = Result<NewEvent, StorageError>>,
    ) -> Result<Reader, StorageError> {
        self.segments.clear()?;
        let mut sealer = Sealer { next_seq: 1, prev: ZERO_HASH };
        let mut segment = Vec::with_capacity(EVENTS_PER_WRITE);
        let mut head = 0;
        let put = |segment: &mut Vec<crate::StoredEvent>| -> Result<(), StorageError> {
            self.segments.apply_batch(crate::segment_batch(segment))?;
            segment.clear();
            Ok(())
        };
        for event in events {
            let stored = sealer.seal(&event?);
            head = stored.seq;
            segment.push(stored);
            if segment.len() == EVENTS_PER_WRITE {
                put(&mut segment)?;
            }
        }
        put(&mut segment)?;
        self.sync()?;
        Ok(Reader {
            log: self.segments.clone(),
            requests: self.requests.clone(),
            meta: self.meta.clone(),
            snapshots: self.path.join(SNAPSHOTS_DIR),
            durable_seq: Arc::new(AtomicU64::new(head)),
        })
    }

    /// Switches the ledger to format 2 once the caller has proved the new log: records the
    /// format, forgets the verified checkpoint and the snapshots (both name format 1's hashes),
    /// and drops the old log. The request index and the outbox cursor name seqs, which are
    /// unchanged, and stay.
    pub fn finish(self) -> Result<(), StorageError> {
        // Format 1 stored request records as JSON; one already converted by a migration that
        // stopped after this step reads as a record and stays.
        let mut batch = sled::Batch::default();
        for item in self.requests.iter() {
            let (key, value) = item?;
            if let Ok(record) = serde_json::from_slice::<RequestRecord>(&value) {
                batch.insert(key, record.encode());
            } else if RequestRecord::decode(&value).is_none() {
                let id = String::from_utf8_lossy(&key).into_owned();
                return Err(StorageError::Corrupt {
                    seq: 0,
                    reason: format!("request record {id} is unreadable"),
                });
            }
        }
        self.requests.apply_batch(batch)?;
        self.meta.remove(CHECKPOINT_KEY)?;
        self.meta.insert(LOG_FORMAT_KEY, &LOG_FORMAT.to_be_bytes())?;
        self.sync()?;
        // From here the ledger is format 2; `Store::open` drops the old tree if this stops here.
        self.db.drop_tree(LEGACY_LOG_TREE)?;
        match std::fs::remove_dir_all(self.path.join(SNAPSHOTS_DIR)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error.into()),
            _ => {}
        }
        self.sync()
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.db.flush()?;
        Synced::default().sync(&self.path)?;
        sync_dir(&self.path)
    }
}

/// A format 1 envelope's hashed body (the envelope without its hash fields), prev_hash and hash.
fn split(envelope: &[u8]) -> Option<(Vec<u8>, [u8; 32], [u8; 32])> {
    let cut = envelope.len().checked_sub(SUFFIX_BYTES)?;
    let suffix = &envelope[cut..];
    if !suffix.starts_with(br#","prev_hash":""#)
        || suffix.get(78..88)? != br#"","hash":""#
        || !suffix.ends_with(b"\"}")
    {
        return None;
    }
    let mut prev = [0u8; 32];
    hex::decode_to_slice(suffix.get(14..78)?, &mut prev).ok()?;
    let mut hash = [0u8; 32];
    hex::decode_to_slice(suffix.get(88..152)?, &mut hash).ok()?;
    let mut body = envelope[..cut].to_vec();
    body.push(b'}');
    Some((body, prev, hash))
}

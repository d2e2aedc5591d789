//! The sled event store of Gongji: append a batch, read a range, the hash chain, verification,
//! the verified checkpoint, the idempotency index and the outbox cursor.
//!
//! It stores events as bytes and must not know the business: payloads are opaque bytes, and
//! kinds are numbers. The log's layout is in `log` (format 2, a group commit's events in
//! segments of at most 6 KiB); `legacy` reads format 1 to migrate it.
//! It is the only crate that imports sled. Depends on sled (pinned 0.34.7), sha2, serde.
//!
//! Durability: a commit writes one sled batch to the `log` tree, one to `requests` (the
//! remembered rejections it is handed; committed requests are implied by the log, and the
//! engine indexes them in its state), calls
//! `flush()`, and then fsyncs sled's files itself, because sled 0.34's flush ends in
//! `sync_file_range`, which does not empty the drive's write cache (an acknowledged write
//! must survive power loss, not just a process crash). Sled batches are atomic per tree only,
//! so the `log` tree alone is the source of truth: `requests` and `meta` are derived from it
//! (or, for remembered rejections, harmless to lose for a request never acknowledged).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod legacy;
mod log;

pub use legacy::{LegacyEnvelope, LegacyLedger};
pub use log::{
    decode_segment, digest_bytes, encode_segment, parse_fields, Fields, NewEvent, StoredEvent, DIGEST_BYTES,
    LOG_FORMAT, SEGMENT_BYTES_MAX,
};

const ZERO_HASH: [u8; 32] = [0; 32];
/// A snapshot is written in pieces of this many bytes, each synced before the next.
const SNAPSHOT_PIECE_BYTES: usize = 1 << 20;
/// The pause after each piece of a snapshot: at most a piece per this long goes to the disk.
const SNAPSHOT_PIECE_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);
const CHECKPOINT_KEY: &[u8] = b"checkpoint";
const OUTBOX_CURSOR_KEY: &[u8] = b"outbox_cursor";
const REPLICA_CURSOR_KEY: &[u8] = b"replica_cursor";
/// The meta key naming the log's layout (`LOG_FORMAT`, big-endian u32).
const LOG_FORMAT_KEY: &[u8] = b"log_format";
/// The tree of segments (format 2), keyed by the big-endian seq of each one's first event.
const SEGMENTS_TREE: &str = "segments";
/// The tree of format 1: one JSON envelope per event. A ledger with events in it and no
/// `log_format` is in format 1 and must be migrated (`LegacyLedger`).
const LEGACY_LOG_TREE: &str = "log";

/// The fail-stop tier: IO, sled, corruption. Never a business outcome.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("corrupt at seq {seq}: {reason}")]
    Corrupt { seq: u64, reason: String },
    #[error("the store stopped writing after an earlier failure")]
    Poisoned,
    #[error(
        "the ledger in {dir} is in log format {found}, and this gongji reads format {LOG_FORMAT}: \
         stop the service and run `gongji migrate --from {found} --to {LOG_FORMAT} --data {dir}`, \
         which re-records the same events and proves the replayed state equal"
    )]
    Format { dir: String, found: u32 },
}

/// What the idempotency index remembers of a request id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestRecord {
    /// The request wrote events `first_seq..=last_seq`.
    Committed { digest: String, first_seq: u64, last_seq: u64 },
    /// The request was refused by the rules; `rejection` is opaque JSON.
    Rejected { digest: String, rejection: Vec<u8> },
}

impl RequestRecord {
    /// The stored form: `0 | digest (16 bytes) | first_seq u64 | last_seq u64` (33 bytes) for a
    /// committed request, `1 | digest (16 bytes) | the rejection's bytes` for a refused one;
    /// integers little-endian. Digests are the 32 hex digits the ledger computes, kept as their
    /// 16 bytes.
    ///
    /// Panics on a digest that is not 32 hex digits: the ledger makes every one.
    pub fn encode(&self) -> Vec<u8> {
        let digest = |text: &str| digest_bytes(text).expect("request digests are 32 hex digits");
        match self {
            RequestRecord::Committed { digest: text, first_seq, last_seq } => {
                let mut out = Vec::with_capacity(1 + DIGEST_BYTES + 16);
                out.push(0);
                out.extend_from_slice(&digest(text));
                out.extend_from_slice(&first_seq.to_le_bytes());
                out.extend_from_slice(&last_seq.to_le_bytes());
                out
            }
            RequestRecord::Rejected { digest: text, rejection } => {
                let mut out = Vec::with_capacity(1 + DIGEST_BYTES + rejection.len());
                out.push(1);
                out.extend_from_slice(&digest(text));
                out.extend_from_slice(rejection);
                out
            }
        }
    }

    /// The record stored as `bytes`, or `None` if they are not one.
    pub fn decode(bytes: &[u8]) -> Option<RequestRecord> {
        let digest = hex::encode(bytes.get(1..1 + DIGEST_BYTES)?);
        let rest = &bytes[1 + DIGEST_BYTES..];
        match bytes[0] {
            0 if rest.len() == 16 => Some(RequestRecord::Committed {
                digest,
                first_seq: u64::from_le_bytes(rest[..8].try_into().ok()?),
                last_seq: u64::from_le_bytes(rest[8..].try_into().ok()?),
            }),
            1 => Some(RequestRecord::Rejected { digest, rejection: rest.to_vec() }),
            _ => None,
        }
    }
}

/// `SHA-256(prev_hash ‖ canonical bytes)`.
pub fn chain_hash(prev_hash: &[u8; 32], body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(body);
    hasher.finalize().into()
}

/// The sled batch that stores request records under their ids.
fn request_batch(records: &[(String, RequestRecord)]) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for (request_id, record) in records {
        batch.insert(request_id.as_bytes(), record.encode());
    }
    batch
}

/// Numbers and chains events into envelopes, ahead of the store: the writer seals one batch
/// while the store writes the one before. `Store::commit_sealed` checks that what it is handed
/// continues its chain.
#[derive(Clone, Debug)]
pub struct Sealer {
    next_seq: u64,
    prev: [u8; 32],
}

impl Sealer {
    /// `event` at the next seq, chained to the one sealed before it.
    pub fn seal(&mut self, event: &NewEvent) -> StoredEvent {
        let seq = self.next_seq;
        let bytes = event.canonical_bytes(seq);
        let hash = chain_hash(&self.prev, &bytes);
        let stored = StoredEvent { seq, bytes, prev_hash: self.prev, hash };
        self.next_seq += 1;
        self.prev = hash;
        stored
    }
}

/// Where verification starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyFrom {
    /// Event 1: the whole chain.
    Genesis,
    /// The last verified checkpoint (after confirming it still matches the log).
    Checkpoint,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Broken {
    pub seq: u64,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub head_seq: u64,
    pub head_hash: String,
    pub ledger_id: Option<String>,
    /// Events hashed by this verification.
    pub checked: u64,
    pub broken: Option<Broken>,
}

/// Checks a chain of envelopes in order from `start_seq` with `prev` as the hash before it.
struct Chain {
    expected_seq: u64,
    prev: [u8; 32],
    checked: u64,
    ledger_id: Option<String>,
}

impl Chain {
    fn new(start_seq: u64, prev: [u8; 32]) -> Chain {
        Chain { expected_seq: start_seq, prev, checked: 0, ledger_id: None }
    }

    /// Checks the next event: it is the seq expected, says so in its bytes, continues the
    /// chain, and its bytes hash to its stored hash.
    fn check(&mut self, event: &StoredEvent) -> Result<(), Broken> {
        let seq = self.expected_seq;
        let broken = |reason: &str| Broken { seq, reason: reason.to_owned() };
        if event.seq != seq {
            return Err(broken(&format!("event {seq} is missing (next stored is {})", event.seq)));
        }
        match parse_fields(&event.bytes) {
            None => return Err(broken("the event's bytes are too short for its fields")),
            Some(fields) if fields.seq != seq => {
                return Err(broken(&format!("the event's bytes say seq {}", fields.seq)))
            }
            Some(_) => {}
        }
        if event.prev_hash != self.prev {
            return Err(broken("prev_hash does not match the previous event's hash"));
        }
        if chain_hash(&event.prev_hash, &event.bytes) != event.hash {
            return Err(broken("hash does not match the stored bytes"));
        }
        if seq == 1 {
            self.ledger_id = Some(hex::encode(event.hash)[..16].to_owned());
        }
        self.prev = event.hash;
        self.expected_seq += 1;
        self.checked += 1;
        Ok(())
    }

    fn report(self, broken: Option<Broken>) -> VerifyReport {
        VerifyReport {
            ok: broken.is_none(),
            head_seq: self.expected_seq - 1,
            head_hash: hex::encode(self.prev),
            ledger_id: self.ledger_id,
            checked: self.checked,
            broken,
        }
    }
}

/// Verifies events read from elsewhere (an auditor's export, turned back into canonical
/// bytes), from event 1, no store needed. An `Err` item is an event that could not be read,
/// named at the seq where it stands.
pub fn verify_events<I: Iterator<Item = Result<StoredEvent, String>>>(events: I) -> VerifyReport {
    let mut chain = Chain::new(1, ZERO_HASH);
    for event in events {
        let checked = match event {
            Ok(event) => chain.check(&event),
            Err(reason) => Err(Broken { seq: chain.expected_seq, reason }),
        };
        if let Err(broken) = checked {
            return chain.report(Some(broken));
        }
    }
    chain.report(None)
}

/// Checks that `events`, received from elsewhere (a replicated log), continue the chain whose
/// last event is `prev_seq` with hash `prev`: each is the next seq, says so in its bytes, is
/// chained to the one before, and hashes to its stored hash.
pub fn check_continues(prev_seq: u64, prev: [u8; 32], events: &[StoredEvent]) -> Result<(), Broken> {
    let mut chain = Chain::new(prev_seq + 1, prev);
    events.iter().try_for_each(|event| chain.check(event))
}

/// Read access to a store, cheap to clone, usable beside the writer.
///
/// A reader sees the log only up to the durable head: sled makes a batch visible as soon as
/// it is applied, before the flush and fsync that make it durable, and nothing may leave the
/// ledger (a page of `/v1/events`, a message to JetStream) that a crash could still take back.
#[derive(Clone)]
pub struct Reader {
    log: sled::Tree,
    requests: sled::Tree,
    meta: sled::Tree,
    /// Where snapshots are stored, one file each, beside sled's files and outside them.
    snapshots: PathBuf,
    /// The last seq known to be on disk: what was there at open, then each commit's head
    /// after its fsync.
    durable_seq: Arc<AtomicU64>,
}

/// A cursor kept in the ledger's metadata beside the writer: the outbox's (the seq up to which
/// the publisher has had every settlement-side event acknowledged), or a follower's (the
/// stream sequence of the last message of the replicated log it applied). Each is a handle of
/// its own, handed out by the store, and not something every `Reader` can write.
#[derive(Clone)]
pub struct Cursor {
    meta: sled::Tree,
    key: &'static [u8],
}

/// The publisher's cursor.
pub type OutboxCursor = Cursor;

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor").field("key", &String::from_utf8_lossy(self.key)).finish_non_exhaustive()
    }
}

impl Cursor {
    /// Where the cursor stands (0 before anything).
    pub fn get(&self) -> Result<u64, StorageError> {
        match self.meta.get(self.key)? {
            Some(bytes) => Ok(key_seq(&bytes)?),
            None => Ok(0),
        }
    }

    /// Moves the cursor. It is written without an fsync of its own: it only saves work after a
    /// restart (the publisher also resumes from the stream's tail and the stream deduplicates
    /// by message id; a follower skips what it already holds).
    pub fn set(&self, value: u64) -> Result<(), StorageError> {
        self.meta.insert(self.key, &value.to_be_bytes())?;
        Ok(())
    }
}

/// Shows readers the log up to a seq that the store has written (`Store::shower`).
#[derive(Clone, Debug)]
pub struct Shower {
    shown: Arc<AtomicU64>,
}

impl Shower {
    /// Shows readers the log up to `seq`, which the store has written and fsynced. The shown
    /// head never moves back.
    pub fn show(&self, seq: u64) {
        self.shown.fetch_max(seq, Ordering::AcqRel);
    }
}

/// The folder of a ledger's directory that holds its snapshots (`{seq:020}.snap` each).
/// Snapshots live outside sled: a snapshot is the whole state, and written into sled it rode
/// along with the next group commit's flush and fsync, stalling every request behind it.
pub const SNAPSHOTS_DIR: &str = "snapshots";

/// A stored snapshot of the projections after event `seq`, checked on load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub seq: u64,
    /// The hash of event `seq` when the snapshot was taken: it must still match the log.
    pub log_hash: [u8; 32],
    /// Opaque bytes (the caller's serialization of its projections).
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

impl Reader {
    /// Stores a snapshot: `[SHA-256 of payload][log hash][payload]` in its own file, written
    /// under a temporary name and renamed into place, so a reader never sees half of one.
    /// Snapshots are never needed for correctness (the log is), so this write has no fsync of
    /// its own: one a crash tore fails its digest and is skipped.
    pub fn put_snapshot(&self, snapshot: &Snapshot) -> Result<(), StorageError> {
        let digest: [u8; 32] = Sha256::digest(&snapshot.payload).into();
        std::fs::create_dir_all(&self.snapshots)?;
        let path = self.snapshot_path(snapshot.seq);
        let partial = path.with_extension("partial");
        {
            use std::io::Write;
            let mut file = File::create(&partial)?;
            file.write_all(&digest)?;
            file.write_all(&snapshot.log_hash)?;
            // In small pieces, each on disk before the next, with a pause between: left to the
            // kernel, the file's megabytes of writeback went out in bursts beside the group
            // commits' fsyncs on the same disk, and the requests waiting on those paid for it.
            for piece in snapshot.payload.chunks(SNAPSHOT_PIECE_BYTES) {
                file.write_all(piece)?;
                file.sync_data()?;
                std::thread::sleep(SNAPSHOT_PIECE_PAUSE);
            }
        }
        std::fs::rename(&partial, &path)?;
        Ok(())
    }

    /// The file of the snapshot at `seq`.
    pub fn snapshot_path(&self, seq: u64) -> PathBuf {
        self.snapshots.join(format!("{seq:020}.snap"))
    }

    /// The seqs of stored snapshots at or before `seq`, newest first.
    pub fn snapshot_seqs(&self, seq: u64) -> Result<Vec<u64>, StorageError> {
        let entries = match std::fs::read_dir(&self.snapshots) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error.into()),
        };
        let mut seqs = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            let found =
                name.to_str().and_then(|n| n.strip_suffix(".snap")).and_then(|n| n.parse::<u64>().ok());
            if let Some(found) = found.filter(|found| *found <= seq) {
                seqs.push(found);
            }
        }
        seqs.sort_unstable_by(|a, b| b.cmp(a));
        Ok(seqs)
    }

    /// The snapshot at `seq`, checked: its own digest, and its log hash against the log.
    /// `Err` names what is wrong; the caller then ignores it and uses an older one.
    pub fn snapshot(&self, seq: u64) -> Result<Snapshot, StorageError> {
        let corrupt = |reason: &str| StorageError::Corrupt { seq, reason: format!("snapshot: {reason}") };
        let value = match std::fs::read(self.snapshot_path(seq)) {
            Ok(value) => value,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(corrupt("missing")),
            Err(error) => return Err(error.into()),
        };
        if value.len() < 64 {
            return Err(corrupt("too short"));
        }
        let digest: [u8; 32] = Sha256::digest(&value[64..]).into();
        if digest[..] != value[..32] {
            return Err(corrupt("its bytes do not match their digest"));
        }
        let log_hash: [u8; 32] = value[32..64].try_into().expect("32 bytes");
        let event = self.event(seq)?.ok_or_else(|| corrupt("its event is not in the log"))?;
        if event.hash != log_hash {
            return Err(corrupt("it was taken of another log"));
        }
        Ok(Snapshot { seq, log_hash, payload: value[64..].to_vec() })
    }

    /// Deletes every snapshot (they are only ever a shortcut), and any a crash left half written.
    pub fn clear_snapshots(&self) -> Result<(), StorageError> {
        match std::fs::remove_dir_all(&self.snapshots) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error.into()),
            _ => Ok(()),
        }
    }

    /// Event `seq`, if it is durable.
    pub fn event(&self, seq: u64) -> Result<Option<StoredEvent>, StorageError> {
        if seq == 0 || seq > self.durable_seq() {
            return Ok(None);
        }
        let Some((key, value)) = self.log.range(..=seq.to_be_bytes()).next_back().transpose()? else {
            return Ok(None);
        };
        log::find_in_segment(key_seq(&key)?, &value, seq)
    }

    /// What the `requests` tree holds for a request id: a remembered rejection (committed
    /// requests are indexed in the engine's state, from the log).
    pub fn request(&self, request_id: &str) -> Result<Option<RequestRecord>, StorageError> {
        match self.requests.get(request_id.as_bytes())? {
            Some(bytes) => RequestRecord::decode(&bytes).map(Some).ok_or_else(|| StorageError::Corrupt {
                seq: 0,
                reason: format!("request record {request_id}: not a record"),
            }),
            None => Ok(None),
        }
    }

    /// The durable events after `after_seq`, in order, up to the durable head as it is now.
    pub fn events(&self, after_seq: u64) -> impl Iterator<Item = Result<StoredEvent, StorageError>> + '_ {
        Events::new(&self.log, after_seq.saturating_add(1), self.durable_seq())
    }

    /// The durable head: the last seq a reader may see.
    pub fn head_seq(&self) -> Result<u64, StorageError> {
        Ok(self.durable_seq())
    }

    fn durable_seq(&self) -> u64 {
        self.durable_seq.load(Ordering::Acquire)
    }

    /// Recomputes the chain from `start_seq` (with `prev` the hash before it) to the durable
    /// head; anything stored beyond it (a batch not yet fsynced) is not the reader's to judge.
    fn verify_range(&self, start_seq: u64, prev: [u8; 32]) -> Result<VerifyReport, StorageError> {
        let mut chain = Chain::new(start_seq, prev);
        let mut broken = None;
        for event in Events::new(&self.log, start_seq, self.durable_seq()) {
            let checked = match event {
                Ok(event) => chain.check(&event),
                // A segment that cannot be read at all is named where the chain stands.
                Err(StorageError::Corrupt { reason, .. }) => Err(Broken { seq: chain.expected_seq, reason }),
                Err(other) => return Err(other),
            };
            if let Err(b) = checked {
                broken = Some(b);
                break;
            }
        }
        if chain.ledger_id.is_none() {
            chain.ledger_id = self.ledger_id()?;
        }
        Ok(chain.report(broken))
    }

    /// The whole chain from event 1.
    pub fn verify(&self) -> Result<VerifyReport, StorageError> {
        self.verify_range(1, ZERO_HASH)
    }

    /// The first 16 hex digits of event 1's hash.
    pub fn ledger_id(&self) -> Result<Option<String>, StorageError> {
        match self.event(1)? {
            Some(first) => Ok(Some(hex::encode(first.hash)[..16].to_owned())),
            None => Ok(None),
        }
    }
}

fn key_seq(key: &[u8]) -> Result<u64, StorageError> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| StorageError::Corrupt { seq: 0, reason: "a log key is not 8 bytes".into() })?;
    Ok(u64::from_be_bytes(bytes))
}

/// The events from `start` to `end` (inclusive), read segment by segment.
struct Events {
    segments: sled::Iter,
    pending: std::vec::IntoIter<StoredEvent>,
    start: u64,
    end: u64,
    done: bool,
}

impl Events {
    fn new(log: &sled::Tree, start: u64, end: u64) -> Events {
        // From the segment that holds `start`: the last one stored under a seq at or before it.
        let first_key = match log.range(..=start.to_be_bytes()).next_back() {
            Some(Ok((key, _))) => key.to_vec(),
            _ => start.to_be_bytes().to_vec(),
        };
        Events {
            segments: log.range(first_key..),
            pending: Vec::new().into_iter(),
            start,
            end,
            done: start > end,
        }
    }
}

impl Iterator for Events {
    type Item = Result<StoredEvent, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.pending.next() {
                if event.seq < self.start {
                    continue;
                }
                if event.seq > self.end {
                    self.done = true;
                    return None;
                }
                return Some(Ok(event));
            }
            let decoded = match self.segments.next()? {
                Ok((key, value)) => key_seq(&key).and_then(|first| {
                    if first > self.end {
                        Ok(Vec::new())
                    } else {
                        log::decode_segment(first, &value)
                    }
                }),
                Err(error) => Err(error.into()),
            };
            match decoded {
                Ok(events) if events.is_empty() => {
                    self.done = true;
                    return None;
                }
                Ok(events) => self.pending = events.into_iter(),
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
    }
}

/// The store, owned by the one writer.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    reader: Reader,
    meta: sled::Tree,
    /// The seq of the last event written and fsynced (readers may be shown less, see
    /// `Store::show`).
    head_seq: u64,
    /// The hash of the head event.
    head_hash: [u8; 32],
    poisoned: bool,
    synced: std::sync::Mutex<Synced>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("head_seq", &self.head_seq())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store in `dir` with sled's default page cache
    /// (`CACHE_BYTES_DEFAULT`) and recovers the head from the last log entry. Does not verify:
    /// the caller decides how much to check.
    pub fn open(dir: &Path) -> Result<Store, StorageError> {
        Store::open_with_cache(dir, CACHE_BYTES_DEFAULT)
    }

    /// `open`, with sled's page cache at `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Store, StorageError> {
        let created = !dir.exists();
        std::fs::create_dir_all(dir)?;
        let db = open_db(dir, cache_bytes)?;
        let meta = db.open_tree("meta")?;
        check_format(&db, &meta, dir)?;
        let log = db.open_tree(SEGMENTS_TREE)?;
        let requests = db.open_tree("requests")?;
        // Snapshots were once stored in sled; they are files now, and only ever a shortcut.
        if db.tree_names().iter().any(|name| name.as_ref() == b"snapshots") {
            db.drop_tree("snapshots")?;
        }
        let snapshots = dir.join(SNAPSHOTS_DIR);
        let (head_seq, head_hash) = match log.last()? {
            Some((key, value)) => {
                let last = log::decode_segment(key_seq(&key)?, &value)?.pop().ok_or_else(|| {
                    StorageError::Corrupt {
                        seq: key_seq(&key).unwrap_or(0),
                        reason: "an empty segment".into(),
                    }
                })?;
                (last.seq, last.hash)
            }
            None => (0, ZERO_HASH),
        };
        let reader = Reader {
            log,
            requests,
            meta: meta.clone(),
            snapshots,
            durable_seq: Arc::new(AtomicU64::new(head_seq)),
        };
        let store = Store {
            path: dir.to_owned(),
            db,
            reader,
            meta,
            head_seq,
            head_hash,
            poisoned: false,
            synced: std::sync::Mutex::new(Synced::default()),
        };
        if created {
            store.db.flush()?;
            store.sync_files()?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        Ok(store)
    }

    /// Opens a private copy of the stopped ledger in `source`, never writing to `source`: what
    /// the offline readers (`verify`, `replay`, `export`, `reconcile`) use, so a read-only copy
    /// (backup media, a read-only mount, another user's files) works. sled 0.34 cannot open a
    /// directory without writing to it (it takes its lock by opening `db` for writing and may
    /// write a snapshot of its page table on open), so the files are copied first, into a
    /// temporary directory under `scratch`, while a shared lock on `source/db` keeps a service
    /// from starting on it meanwhile. The copy is removed when the returned store is dropped.
    pub fn open_copy(source: &Path, scratch: &Path) -> Result<CopiedStore, StorageError> {
        let db = source.join(SLED_DATA_FILE);
        let lock = File::open(&db).map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => std::io::Error::new(
                error.kind(),
                format!("{} holds no ledger (no sled file {})", source.display(), db.display()),
            ),
            _ => std::io::Error::new(error.kind(), format!("cannot read {}: {error}", db.display())),
        })?;
        match lock.try_lock_shared() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StorageError::Io(std::io::Error::other(format!(
                    "the ledger in {} is in use: a running service (or a writing tool) holds its lock; \
                     stop it, or read a copy",
                    source.display()
                ))))
            }
            // A file system without locks (some network mounts): nothing can hold one either.
            Err(std::fs::TryLockError::Error(error)) if error.kind() == std::io::ErrorKind::Unsupported => {}
            Err(std::fs::TryLockError::Error(error)) => return Err(StorageError::Io(error)),
        }
        let copy = tempfile::Builder::new().prefix("gongji-read-").tempdir_in(scratch).map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!("cannot make a directory in {}: {error}", scratch.display()),
            )
        })?;
        copy_tree(source, copy.path()).map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!(
                    "cannot copy the ledger from {} to {} (set TMPDIR to a directory with room): {error}",
                    source.display(),
                    copy.path().display()
                ),
            )
        })?;
        drop(lock);
        let store = Store::open(copy.path())?;
        Ok(CopiedStore { store, _copy: copy })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The seq of the last event on disk (written and fsynced).
    pub fn head_seq(&self) -> u64 {
        self.head_seq
    }

    /// The last seq readers are shown.
    pub fn shown_seq(&self) -> u64 {
        self.reader.durable_seq()
    }

    pub fn head_hash(&self) -> [u8; 32] {
        self.head_hash
    }

    pub fn ledger_id(&self) -> Result<Option<String>, StorageError> {
        self.reader.ledger_id()
    }

    /// The publisher's cursor (see `OutboxCursor`).
    pub fn outbox_cursor(&self) -> OutboxCursor {
        Cursor { meta: self.reader.meta.clone(), key: OUTBOX_CURSOR_KEY }
    }

    /// A follower's cursor in the replicated log (see `Cursor`).
    pub fn replica_cursor(&self) -> Cursor {
        Cursor { meta: self.reader.meta.clone(), key: REPLICA_CURSOR_KEY }
    }

    /// A read handle for other threads.
    pub fn reader(&self) -> Reader {
        self.reader.clone()
    }

    /// Group commit: numbers and chains `events`, writes them and `requests`, flushes, fsyncs,
    /// and only then returns. After a failure the store refuses every further commit.
    pub fn commit(
        &mut self,
        events: Vec<NewEvent>,
        requests: Vec<(String, RequestRecord)>,
    ) -> Result<Vec<StoredEvent>, StorageError> {
        let mut sealer = self.sealer();
        let sealed: Vec<StoredEvent> = events.iter().map(|event| sealer.seal(event)).collect();
        self.commit_sealed(&sealed, requests)?;
        Ok(sealed)
    }

    /// A sealer that continues the chain from the store's head.
    pub fn sealer(&self) -> Sealer {
        Sealer { next_seq: self.head_seq() + 1, prev: self.head_hash }
    }

    /// Group commit of events sealed ahead (by a `Sealer` started at this store's head and
    /// fed every event since): checks they continue the chain, writes them and `requests`,
    /// flushes, fsyncs, and only then returns. After a failure the store refuses every further
    /// commit.
    pub fn commit_sealed(
        &mut self,
        sealed: &[StoredEvent],
        requests: Vec<(String, RequestRecord)>,
    ) -> Result<(), StorageError> {
        self.commit_unshown(sealed, requests)?;
        self.show(self.head_seq);
        Ok(())
    }

    /// As `commit_sealed`, but readers are not shown the events yet: they are on disk, and
    /// the caller shows them (`show`) once they may leave the ledger, e.g. once a replica
    /// holds them too.
    pub fn commit_unshown(
        &mut self,
        sealed: &[StoredEvent],
        requests: Vec<(String, RequestRecord)>,
    ) -> Result<(), StorageError> {
        if self.poisoned {
            return Err(StorageError::Poisoned);
        }
        let result = self.write_sealed(sealed, requests);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    /// A handle that shows readers the log (as `show`) from another thread: the stage that
    /// replicates batches the store's owner has written.
    pub fn shower(&self) -> Shower {
        Shower { shown: Arc::clone(&self.reader.durable_seq) }
    }

    /// Shows readers the log up to `seq`, which is on disk. The shown head never moves back.
    pub fn show(&self, seq: u64) {
        assert!(seq <= self.head_seq, "only what is on disk is shown: {seq} > {}", self.head_seq);
        self.reader.durable_seq.fetch_max(seq, Ordering::AcqRel);
    }

    /// Discards every event after `seq`, durably: a follower's tail that the replicated log
    /// does not hold (a deposed primary's last writes, which no replica took and so nobody
    /// was answered). Readers are shown the log up to `seq` from here; the checkpoint and the
    /// snapshots past it go too. The only way the log ever gets shorter.
    pub fn discard_after(&mut self, seq: u64) -> Result<(), StorageError> {
        if seq >= self.head_seq {
            return Ok(());
        }
        let log = &self.reader.log;
        let mut batch = sled::Batch::default();
        let mut kept = None;
        if let Some((key, value)) = log.range(..=seq.to_be_bytes()).next_back().transpose()? {
            let first = key_seq(&key)?;
            let events = log::decode_segment(first, &value)?;
            let keep: Vec<StoredEvent> = events.into_iter().filter(|event| event.seq <= seq).collect();
            kept = keep.last().map(|event| event.hash);
            batch.insert(key, log::encode_segment(&keep));
        }
        for key in log.range((seq + 1).to_be_bytes()..).keys() {
            batch.remove(key?);
        }
        log.apply_batch(batch)?;
        if self.checkpoint()?.is_some_and(|(at, _)| at > seq) {
            self.meta.remove(CHECKPOINT_KEY)?;
        }
        self.db.flush()?;
        self.sync_files()?;
        self.reader.clear_snapshots()?;
        self.head_seq = seq;
        self.head_hash = kept.unwrap_or(ZERO_HASH);
        self.reader.durable_seq.store(seq, Ordering::Release);
        Ok(())
    }

    fn write_sealed(
        &mut self,
        sealed: &[StoredEvent],
        requests: Vec<(String, RequestRecord)>,
    ) -> Result<(), StorageError> {
        let (mut seq, mut prev) = (self.head_seq(), self.head_hash);
        for event in sealed {
            // A sealer that skipped or repeated an event would break the chain on disk.
            if event.seq != seq + 1 || event.prev_hash != prev {
                return Err(StorageError::Corrupt {
                    seq: event.seq,
                    reason: format!("a sealed event does not continue the chain at seq {}", seq + 1),
                });
            }
            seq = event.seq;
            prev = event.hash;
        }
        // The log first: if a crash separates the two writes, the log is what recovery trusts.
        self.reader.log.apply_batch(segment_batch(sealed))?;
        self.reader.requests.apply_batch(request_batch(&requests))?;
        self.db.flush()?;
        self.sync_files()?;
        self.head_hash = prev;
        self.head_seq = seq;
        Ok(())
    }

    fn sync_files(&self) -> Result<(), StorageError> {
        self.synced.lock().unwrap_or_else(|p| p.into_inner()).sync(&self.path)
    }

    pub fn event(&self, seq: u64) -> Result<Option<StoredEvent>, StorageError> {
        self.reader.event(seq)
    }

    pub fn events(&self, after_seq: u64) -> impl Iterator<Item = Result<StoredEvent, StorageError>> + '_ {
        self.reader.events(after_seq)
    }

    pub fn request(&self, request_id: &str) -> Result<Option<RequestRecord>, StorageError> {
        self.reader.request(request_id)
    }

    /// The seq of the last verified checkpoint (0 when none).
    pub fn checkpoint_seq(&self) -> Result<u64, StorageError> {
        Ok(self.checkpoint()?.map_or(0, |(seq, _)| seq))
    }

    fn checkpoint(&self) -> Result<Option<(u64, [u8; 32])>, StorageError> {
        let Some(bytes) = self.meta.get(CHECKPOINT_KEY)? else { return Ok(None) };
        if bytes.len() != 40 {
            return Err(StorageError::Corrupt {
                seq: 0,
                reason: "the checkpoint record is malformed".into(),
            });
        }
        let seq = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        let hash: [u8; 32] = bytes[8..].try_into().expect("32 bytes");
        Ok(Some((seq, hash)))
    }

    /// Verifies the chain: from event 1, or from the checkpoint after confirming the
    /// checkpoint's event still carries the hash recorded for it.
    pub fn verify(&self, from: VerifyFrom) -> Result<VerifyReport, StorageError> {
        match (from, self.checkpoint()?) {
            (VerifyFrom::Checkpoint, Some((seq, hash))) if seq > 0 => {
                let stored = match self.event(seq)? {
                    Some(stored) => stored,
                    None => return Ok(self.broken(seq, "the checkpointed event is missing")),
                };
                if stored.hash != hash {
                    return Ok(self.broken(seq, "the checkpointed event's hash changed"));
                }
                let mut report = self.reader.verify_range(seq + 1, hash)?;
                if report.checked == 0 && report.ok {
                    report.head_seq = seq;
                    report.head_hash = hex::encode(hash);
                }
                Ok(report)
            }
            _ => self.reader.verify_range(1, ZERO_HASH),
        }
    }

    fn broken(&self, seq: u64, reason: &str) -> VerifyReport {
        VerifyReport {
            ok: false,
            head_seq: self.head_seq(),
            head_hash: hex::encode(self.head_hash),
            ledger_id: self.reader.ledger_id().ok().flatten(),
            checked: 0,
            broken: Some(Broken { seq, reason: reason.to_owned() }),
        }
    }

    /// Records `seq`/`hash` as verified, durably.
    pub fn set_checkpoint(&self, seq: u64, hash: [u8; 32]) -> Result<(), StorageError> {
        let mut value = Vec::with_capacity(40);
        value.extend_from_slice(&seq.to_be_bytes());
        value.extend_from_slice(&hash);
        self.meta.insert(CHECKPOINT_KEY, value)?;
        self.db.flush()?;
        self.sync_files()
    }

    /// Every remembered rejection in the `requests` tree, by request id. Records of committed
    /// requests that an older version wrote there (the log implies them, and the engine now
    /// indexes them in its state) are deleted on the way.
    pub fn load_rejections(&self) -> Result<Vec<(String, RequestRecord)>, StorageError> {
        let mut rejections = Vec::new();
        let mut stale = sled::Batch::default();
        let mut stale_count = 0u64;
        for item in self.reader.requests.iter() {
            let (key, value) = item?;
            match RequestRecord::decode(&value) {
                Some(record @ RequestRecord::Rejected { .. }) => {
                    let request_id = String::from_utf8(key.to_vec()).map_err(|_| StorageError::Corrupt {
                        seq: 0,
                        reason: "a request id in the requests tree is not UTF-8".into(),
                    })?;
                    rejections.push((request_id, record));
                }
                Some(RequestRecord::Committed { .. }) => {
                    stale.remove(key);
                    stale_count += 1;
                }
                None => {
                    return Err(StorageError::Corrupt {
                        seq: 0,
                        reason: format!("request record {}: not a record", String::from_utf8_lossy(&key)),
                    })
                }
            }
        }
        if stale_count > 0 {
            self.reader.requests.apply_batch(stale)?;
            self.db.flush()?;
            self.sync_files()?;
        }
        Ok(rejections)
    }

    /// Test support: the raw requests tree, to lose a record as a crash could.
    #[doc(hidden)]
    pub fn raw_requests(&self) -> &sled::Tree {
        &self.reader.requests
    }

    /// Test support: the raw tree of segments.
    #[doc(hidden)]
    pub fn raw_log(&self) -> &sled::Tree {
        &self.reader.log
    }

    /// Test support: rewrites the stored event `seq` in place in its segment (its bytes, or
    /// its stored hashes), as a disk fault or a forger could.
    #[doc(hidden)]
    pub fn tamper(&self, seq: u64, change: impl FnOnce(&mut StoredEvent)) {
        let (key, value) = self.reader.log.range(..=seq.to_be_bytes()).next_back().unwrap().unwrap();
        let mut events = log::decode_segment(key_seq(&key).unwrap(), &value).unwrap();
        change(events.iter_mut().find(|event| event.seq == seq).expect("the event is stored"));
        self.reader.log.insert(key, log::encode_segment(&events)).unwrap();
    }
}

/// How long `Store::open` waits for sled's lock on the directory. sled releases it only when
/// the last reference to its files goes, and its shared IO threads may still hold one for a
/// write queued before the previous handle (in this process) was dropped; another process
/// holding the ledger still gets a clear error, just this much later.
const LOCK_WAIT_MILLIS_MAX: u64 = 5_000;

/// sled's page cache. The ledger's writes append (the log), and its reads are the log's tail
/// and the first event of the odd repeated request id, so the cache
/// needs the trees' upper levels and the pages being filled, not the history: in-process
/// throughput and replay measured the same at 64 MiB as at 256 MiB, and the process held
/// 228 MiB less (100,000 persons, 300,000 operations). sled keeps about 1.15 times this.
pub const CACHE_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;

fn sled_config(dir: &Path, cache_bytes: u64) -> sled::Config {
    sled::Config::new().path(dir).cache_capacity(cache_bytes).mode(sled::Mode::HighThroughput)
}

fn open_db(dir: &Path, cache_bytes: u64) -> Result<sled::Db, StorageError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(LOCK_WAIT_MILLIS_MAX);
    loop {
        let opened = sled_config(dir, cache_bytes).open();
        match opened {
            Err(sled::Error::Io(error))
                if error.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return Ok(other?),
        }
    }
}

/// A store opened on a private copy of a ledger's directory (`Store::open_copy`); the copy is
/// removed when this is dropped.
#[derive(Debug)]
pub struct CopiedStore {
    pub store: Store,
    _copy: tempfile::TempDir,
}

impl std::ops::Deref for CopiedStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

/// Copies the files and folders under `from` into `to`, which exists.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            std::fs::create_dir(&target)?;
            copy_tree(&entry.path(), &target)?;
        } else if entry.file_name().to_str().is_some_and(|name| name.ends_with(".partial")) {
            // A snapshot a crash left half written: never read, not worth copying.
            continue;
        } else {
            std::fs::copy(entry.path(), &target)?;
            // The copy is written, whatever the source's mode: sled opens its files for writing.
            let mut permissions = std::fs::metadata(&target)?.permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            permissions.set_readonly(false);
            std::fs::set_permissions(&target, permissions)?;
        }
    }
    Ok(())
}

/// What has been fsynced of sled's files, so each commit syncs what changed and no more.
///
/// sled's own flush stops at `sync_file_range`, which does not survive a power loss, so the
/// store fsyncs the files itself. sled writes every page to `db`, in place, so `db` is fsynced
/// at every sync. Its other files (`conf`, the `snap.*` files, `blobs/`) are written under new
/// names and never overwritten in place: each is fsynced when it first appears or when its
/// size or modification time moved since it was last synced, and a directory is fsynced
/// when the names in it changed.
///
/// A blob (`blobs/{lsn}`) is written once, whole, when sled creates it (`create_new`, then
/// its bytes) and only ever read or deleted after. Once two syncs in a row found it unchanged
/// it is settled and not looked at again. The ledger no longer makes blobs (a segment is
/// kept under `log::SEGMENT_BYTES_MAX`), but one written in bulk before that, when a
/// 1,024-event segment was a blob of its own, may hold thousands.
#[derive(Debug, Default)]
struct Synced {
    /// Per directory, each file's name and its (length, modification time) when last fsynced,
    /// `None` once settled.
    files: std::collections::BTreeMap<PathBuf, std::collections::BTreeMap<std::ffi::OsString, Option<Stamp>>>,
    /// Per directory, the names in it when it was last fsynced, sorted.
    names: std::collections::BTreeMap<PathBuf, Vec<std::ffi::OsString>>,
}

type Stamp = (u64, Option<std::time::SystemTime>);

/// The file sled writes in place, fsynced every time.
const SLED_DATA_FILE: &str = "db";
/// sled's directory of blobs.
const SLED_BLOBS_DIR: &str = "blobs";

impl Synced {
    fn sync(&mut self, dir: &Path) -> Result<(), StorageError> {
        let mut names = Vec::new();
        // What was synced of this directory's files; what is found now replaces it, so the
        // files that are gone are forgotten and the map does not grow with every blob.
        let synced = self.files.remove(dir).unwrap_or_default();
        let blobs = dir.file_name().is_some_and(|name| name == SLED_BLOBS_DIR);
        let mut found = std::collections::BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            // sled removes a blob once nothing points to it, and may do so between the listing
            // and the fsync: a file gone needs no fsync, and its name's going is the
            // directory's fsync's to make durable.
            let gone = |error: &std::io::Error| error.kind() == std::io::ErrorKind::NotFound;
            if entry.file_type()?.is_dir() {
                // Snapshots are not sled's and need no fsync (`Reader::put_snapshot`).
                if name != SNAPSHOTS_DIR {
                    self.sync(&entry.path())?;
                }
            } else if blobs && synced.get(&name) == Some(&None) {
                found.insert(name.clone(), None);
            } else {
                // Read before the fsync: a write after it makes the next sync see a change.
                let meta = match entry.metadata() {
                    Err(error) if gone(&error) => continue,
                    meta => meta?,
                };
                let stamp = (meta.len(), meta.modified().ok());
                let unchanged = synced.get(&name) == Some(&Some(stamp));
                if name == SLED_DATA_FILE || !unchanged {
                    match File::open(entry.path()) {
                        Err(error) if gone(&error) => continue,
                        file => file?.sync_all()?,
                    }
                }
                found.insert(name.clone(), (!(blobs && unchanged)).then_some(stamp));
            }
            names.push(name);
        }
        self.files.insert(dir.to_owned(), found);
        names.sort();
        if self.names.get(dir) != Some(&names) {
            sync_dir(dir)?;
            self.names.insert(dir.to_owned(), names);
        }
        Ok(())
    }
}

/// `events` as the segments that hold them (`log::segments`), one sled batch, which sled
/// applies whole or not at all.
pub(crate) fn segment_batch(events: &[StoredEvent]) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for run in log::segments(events) {
        batch.insert(&run[0].seq.to_be_bytes(), log::encode_segment(run));
    }
    batch
}

/// The limit a ledger on sled can reach: `events` appended in batches of `batch`, each
/// written as the ledger writes a commit's segments, with `flush` and an fsync of the files per batch, no logic at all (the
/// bytes and the writes of the ledger's own commits, nothing decided). Returns events/s.
pub fn raw_append_limit(dir: &Path, events: &[StoredEvent], batch: usize) -> Result<f64, StorageError> {
    let db = sled_config(dir, CACHE_BYTES_DEFAULT).open()?;
    let tree = db.open_tree(SEGMENTS_TREE)?;
    let mut synced = Synced::default();
    let started = std::time::Instant::now();
    for chunk in events.chunks(batch.max(1)) {
        tree.apply_batch(segment_batch(chunk))?;
        db.flush()?;
        synced.sync(dir)?;
    }
    Ok(events.len() as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

/// Checks the log's layout is the one this build reads, and marks a new ledger with it.
fn check_format(db: &sled::Db, meta: &sled::Tree, dir: &Path) -> Result<(), StorageError> {
    let legacy_events = db.tree_names().iter().any(|name| name.as_ref() == LEGACY_LOG_TREE.as_bytes())
        && !db.open_tree(LEGACY_LOG_TREE)?.is_empty();
    match stored_format(meta)? {
        Some(LOG_FORMAT) => {
            // A migration that stopped after its switch left the old tree behind.
            if legacy_events {
                db.drop_tree(LEGACY_LOG_TREE)?;
            }
            Ok(())
        }
        Some(found) => Err(StorageError::Format { dir: dir.display().to_string(), found }),
        None if legacy_events => Err(StorageError::Format { dir: dir.display().to_string(), found: 1 }),
        None => {
            meta.insert(LOG_FORMAT_KEY, &LOG_FORMAT.to_be_bytes())?;
            Ok(())
        }
    }
}

/// The `log_format` recorded in `meta`, if any.
fn stored_format(meta: &sled::Tree) -> Result<Option<u32>, StorageError> {
    match meta.get(LOG_FORMAT_KEY)? {
        None => Ok(None),
        Some(bytes) => {
            let bytes: [u8; 4] = bytes.as_ref().try_into().map_err(|_| StorageError::Corrupt {
                seq: 0,
                reason: "the log_format record is malformed".into(),
            })?;
            Ok(Some(u32::from_be_bytes(bytes)))
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves what the fsync pass keeps of sled's files: `db` and the files outside `blobs/` are
    // checked at every pass; a blob is checked until two passes in a row found it unchanged,
    // then settled; a file gone is forgotten.
    #[test]
    fn blobs_settle_and_the_rest_is_checked_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join(SLED_BLOBS_DIR);
        std::fs::create_dir(&blobs).unwrap();
        std::fs::write(dir.path().join(SLED_DATA_FILE), b"pages").unwrap();
        std::fs::write(dir.path().join("conf"), b"conf").unwrap();
        std::fs::write(blobs.join("7"), b"a segment").unwrap();
        let mut synced = Synced::default();
        let state = |synced: &Synced, dir: &Path, name: &str| {
            synced.files[dir].get(std::ffi::OsStr::new(name)).cloned()
        };

        synced.sync(dir.path()).unwrap();
        assert!(matches!(state(&synced, &blobs, "7"), Some(Some(_))), "a new blob is synced and stamped");
        synced.sync(dir.path()).unwrap();
        assert_eq!(state(&synced, &blobs, "7"), Some(None), "unchanged at the next pass: settled");
        std::fs::write(blobs.join("8"), b"another").unwrap();
        std::fs::remove_file(blobs.join("7")).unwrap();
        synced.sync(dir.path()).unwrap();
        assert_eq!(state(&synced, &blobs, "7"), None, "a blob gone is forgotten");
        assert!(matches!(state(&synced, &blobs, "8"), Some(Some(_))));
        for _ in 0..3 {
            synced.sync(dir.path()).unwrap();
            assert!(
                matches!(state(&synced, dir.path(), "conf"), Some(Some(_))),
                "outside blobs/, never settled"
            );
        }
        let mut names = synced.names[&blobs].clone();
        names.sort();
        assert_eq!(names, vec![std::ffi::OsString::from("8")]);
    }
}

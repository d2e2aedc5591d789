//! The single writer of a ledger: it ties `decide`, the sled log and the projections together.
//!
//! Group commit as a pipeline of three threads (see `writer.rs`): the writer takes requests
//! from a bounded queue and decides them in order against the one state (each sees the
//! effects of the ones before), applying their events to it and sealing them into a batch;
//! the committer writes a batch to the log, flushes and fsyncs once, and moves the durable
//! head; the applier then answers every caller. While batch N is written, batch N+1 fills up
//! and is decided, and it is handed over the moment the committer is free. The writer stamps
//! `recorded_at` from its `Clock`, strictly increasing, and expires holds whose timeout has
//! passed. Readers see only what is durable: they read the state through
//! `projection::Durable` at the durable head (`Engine::read`), and the log's readers stop at
//! that head too.
//!
//! A storage error is fail-stop: the engine answers `storage_failure` to everything from then
//! on, because its memory may now be ahead of the disk; a restart recovers from the log.
//! Depends on `domain`, `command`, `projection` and `ledger`; knows nothing of HTTP or tokio.

mod clock;
pub mod envelope;
mod snapshot;
mod writer;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;

use crossbeam_channel::{Receiver, Sender};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;

use domain::limits::{BATCH_COMMANDS_MAX, QUEUE_COMMANDS_MAX};
use domain::{Charge, Event, Origin, Rejection, Request, Timestamp};
use projection::{Durable, InFlight, Projections};

pub use clock::{Clock, ManualClock, SystemClock};
pub use snapshot::{
    catch_up, fold_decoded, load_snapshot, replay, replay_from_genesis, take_snapshot, SnapshotError,
};
pub use writer::decode_event;

/// An event as recorded: its place in the log, its time and the request that wrote it (none
/// for what the engine's clock decided: a hold's expiry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub seq: u64,
    pub recorded_at: Timestamp,
    pub event: Event,
    pub request_id: Option<domain::RequestId>,
}

/// What became of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Written and durable. `replayed`: the request id had already been answered so.
    Committed { events: Vec<Recorded>, replayed: bool },
    /// Refused by the rules (or, `replayed`, refused so before). Nothing was written.
    Rejected { rejection: Rejection, replayed: bool },
    /// A preview: the split as it would be, nothing written, nothing remembered.
    Preview { charge: Charge },
}

/// What an online rebuild does with the copy it builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RebuildMode {
    /// Compare only: the live projections stay.
    DryRun,
    /// Compare, then put the copy in place of the live projections.
    Swap,
}

/// What a rebuild found and did.
#[derive(Clone, Debug, PartialEq)]
pub struct RebuildReport {
    /// Events replayed.
    pub events: u64,
    pub seconds: f64,
    pub swapped: bool,
    pub diff: Diff,
}

/// How a rebuilt copy differs from the live projections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub accounts_changed: u64,
    pub bindings_changed: u64,
    pub settlements_changed: u64,
    /// The first few differences, as `live → rebuilt` lines.
    pub first: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.accounts_changed == 0 && self.bindings_changed == 0 && self.settlements_changed == 0
    }
}

/// Compares two projections view by view.
pub fn diff(live: &Projections, rebuilt: &Projections, now: Timestamp) -> Diff {
    const FIRST_MAX: usize = 5;
    let mut diff = Diff::default();
    // Replay lines keyed by what they describe: ("balance", person) or ("binding", id).
    let keyed = |projections: &Projections| -> std::collections::BTreeMap<(String, String), String> {
        projections
            .replay_lines(now)
            .into_iter()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(&line).expect("replay lines are JSON");
                let kind = value["type"].as_str().unwrap_or_default().to_owned();
                let id = value["person_id"]
                    .as_str()
                    .or(value["binding_id"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                ((kind, id), line)
            })
            .collect()
    };
    let (live_lines, rebuilt_lines) = (keyed(live), keyed(rebuilt));
    let keys: std::collections::BTreeSet<&(String, String)> =
        live_lines.keys().chain(rebuilt_lines.keys()).collect();
    for key in keys {
        let (a, b) = (live_lines.get(key), rebuilt_lines.get(key));
        if a != b {
            if key.0 == "balance" {
                diff.accounts_changed += 1;
            } else {
                diff.bindings_changed += 1;
            }
            if diff.first.len() < FIRST_MAX {
                diff.first.push(format!("{} {}: live {a:?} → rebuilt {b:?}", key.0, key.1));
            }
        }
    }
    let ids: std::collections::BTreeSet<&domain::SettlementId> =
        live.state().settlements.keys().chain(rebuilt.state().settlements.keys()).collect();
    for id in ids {
        let (a, b) = (live.settlement_view(id), rebuilt.settlement_view(id));
        if a != b {
            diff.settlements_changed += 1;
            if diff.first.len() < FIRST_MAX {
                diff.first.push(format!("settlement {id}: live {a:?} → rebuilt {b:?}"));
            }
        }
    }
    diff
}

/// Failures of the engine itself, as opposed to business rejections. Each carries its cause:
/// the store's error as the store gave it, shared (`Arc`) because one failure answers every
/// caller of a batch.
#[derive(Debug, thiserror::Error, Clone)]
pub enum EngineError {
    /// The store failed; after a failed write the engine has stopped writing (fail-stop).
    #[error("storage failure: {0}")]
    Storage(#[source] Arc<ledger::StorageError>),
    /// A snapshot could not be stored or read back.
    #[error("snapshot: {0}")]
    Snapshot(#[source] Arc<SnapshotError>),
    /// The log does not verify, or what it holds does not decode: the engine refuses to serve.
    #[error("the event log is corrupt: {0}")]
    Corrupt(String),
    /// The replica did not take a batch (`EngineConfig::replica`). While it is `Unavailable`
    /// the engine refuses requests and retries the batch (which is on the local disk, shown to
    /// no reader, its callers told the outcome is unknown); once `Fenced`, it has stopped
    /// writing (fail-stop).
    #[error("the log could not be replicated: {0}")]
    Replication(#[source] Arc<ReplicaError>),
    /// This engine follows another's log (`Engine::follow`) and takes no request; `primary`
    /// is where the primary was last known to listen.
    #[error("this node is a follower; the primary takes writes")]
    NotPrimary { primary: Option<String> },
    /// A thread of the engine could not be started.
    #[error("cannot start a thread of the engine: {0}")]
    Spawn(#[source] Arc<std::io::Error>),
    /// The engine is shutting down or has stopped.
    #[error("the engine has stopped")]
    Stopped,
}

impl From<ledger::StorageError> for EngineError {
    fn from(error: ledger::StorageError) -> EngineError {
        EngineError::Storage(Arc::new(error))
    }
}

impl From<SnapshotError> for EngineError {
    fn from(error: SnapshotError) -> EngineError {
        EngineError::Snapshot(Arc::new(error))
    }
}

/// Where a caller's answer goes: called once, from the writer thread, after the commit.
pub type Reply = Box<dyn FnOnce(Result<Outcome, EngineError>) + Send>;

/// Where the log is replicated before any of it leaves the ledger: a group commit is shown to
/// readers and answered only once `append` has returned.
pub trait Replica: Send + Sync {
    /// Where the replica's copy of the ledger `ledger_id` ends: the seq and hash of its last
    /// event (0 and zeros when it holds none).
    fn head(&self, ledger_id: &str) -> Result<(u64, [u8; 32]), ReplicaError>;

    /// Appends one group commit, as sealed, right after what was appended before; returns
    /// once the replica holds it durably. `Unavailable` may be retried with the same commit.
    fn append(&self, commit: &Commit<'_>) -> Result<(), ReplicaError>;
}

/// One group commit as it is replicated: its events and the rejections it remembered (which
/// the log does not hold, and a follower that takes over must still answer the same).
#[derive(Clone, Copy, Debug)]
pub struct Commit<'a> {
    pub events: &'a [ledger::StoredEvent],
    pub rejections: &'a [(String, ledger::RequestRecord)],
}

/// Why a replica did not take a group commit.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// Not reached, or no answer in time (no quorum): the append may be retried.
    #[error("the replica is unavailable: {0}")]
    Unavailable(String),
    /// The replica holds appends this ledger did not make, or is ahead of it: another primary
    /// has taken over, and this one must stop writing.
    #[error("the replica refuses this primary: {0}")]
    Fenced(String),
}

/// Told of every group commit, for metrics.
pub trait CommitObserver: Send + Sync {
    /// `requests` decided in one batch wrote `events`; the write, flush and fsync took `seconds`.
    fn committed(&self, requests: usize, events: usize, seconds: f64, head_seq: u64);
}

#[derive(Clone)]
pub struct EngineConfig {
    /// Requests decided and committed together, at most.
    pub batch_commands_max: usize,
    /// Jobs waiting for the writer (a request, or a batch of them); `submit` blocks when the
    /// queue is full. Over HTTP, the connection cap bounds the single requests and the batch
    /// memory limit the batches.
    pub queue_commands_max: usize,
    pub observer: Option<Arc<dyn CommitObserver>>,
    /// Where each group commit is replicated before it is shown and answered (`None`: this
    /// disk alone).
    pub replica: Option<Arc<dyn Replica>>,
    /// How long a batch's callers wait while the replica does not take it (a JetStream leader
    /// election takes a second or two) before they are told the outcome is unknown and
    /// requests are refused until it does.
    pub replicate_grace: std::time::Duration,
    /// A snapshot of the projections is stored every this many events (`None`: never).
    pub snapshot_every_events: Option<u64>,
    /// sled's page cache, in bytes.
    pub sled_cache_bytes: u64,
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("batch_commands_max", &self.batch_commands_max)
            .field("queue_commands_max", &self.queue_commands_max)
            .field("snapshot_every_events", &self.snapshot_every_events)
            .field("sled_cache_bytes", &self.sled_cache_bytes)
            .finish_non_exhaustive()
    }
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            batch_commands_max: BATCH_COMMANDS_MAX,
            queue_commands_max: QUEUE_COMMANDS_MAX,
            observer: None,
            replica: None,
            replicate_grace: std::time::Duration::from_secs(6),
            snapshot_every_events: Some(domain::limits::SNAPSHOT_EVERY_EVENTS),
            sled_cache_bytes: ledger::CACHE_BYTES_DEFAULT,
        }
    }
}

// Nearly every job is a request; boxing it would add an allocation per request for nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Job {
    Request(Request, Origin, Reply),
    /// Requests decided one after the other, in order, as if each had been submitted alone.
    Batch(Vec<(Request, Origin, Reply)>),
    /// A follower's: events and rejections of the primary's log, to write and apply.
    Replicated(Replicated, Box<dyn FnOnce(Result<u64, EngineError>) + Send>),
    /// A follower's: become the primary, appending to this replica.
    Promote(Arc<dyn Replica>, Box<dyn FnOnce(Result<(), EngineError>) + Send>),
    Shutdown,
}

/// A piece of the primary's log as a follower receives it.
#[derive(Clone, Debug, Default)]
pub struct Replicated {
    pub events: Vec<ledger::StoredEvent>,
    pub rejections: Vec<(String, ledger::RequestRecord)>,
}

/// Whether this engine writes, and where the primary is when it does not.
#[derive(Debug, Default)]
pub(crate) struct Role {
    following: AtomicBool,
    primary_address: std::sync::RwLock<Option<String>>,
}

impl Role {
    pub(crate) fn is_following(&self) -> bool {
        self.following.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn lead(&self) {
        self.following.store(false, std::sync::atomic::Ordering::Release);
    }

    pub(crate) fn not_primary(&self) -> EngineError {
        let primary = self.primary_address.read().unwrap_or_else(|p| p.into_inner()).clone();
        EngineError::NotPrimary { primary }
    }
}

/// Attempts of `Engine::read` that wait for the durable head without holding the projections.
const READ_ATTEMPTS_UNLOCKED: usize = 2;

/// A running ledger: submit requests, read projections, read the log.
pub struct Engine {
    sender: Sender<Job>,
    /// The one state, evolved by the writer as it decides; read through `read` (up to the
    /// durable head) or `projections` (once all of it is durable).
    projections: Arc<RwLock<Projections>>,
    durability: Arc<writer::Durability>,
    reader: ledger::Reader,
    cursors: writer::Cursors,
    writer: Option<JoinHandle<()>>,
    serving: Arc<AtomicBool>,
    role: Arc<Role>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens the ledger in `dir`: verifies the hash chain from the last checkpoint (refusing
    /// a broken one), rebuilds the projections by replay, and starts the writer.
    ///
    /// With a replica (`EngineConfig::replica`), the replica is first given what this disk
    /// holds beyond it (a tail a crash or a stall left unreplicated); a replica ahead of this
    /// disk, or on another chain, refuses this primary (`ReplicaError::Fenced`).
    pub fn open(dir: &Path, clock: Box<dyn Clock>, config: EngineConfig) -> Result<Engine, EngineError> {
        Engine::start(dir, clock, config, Role::default())
    }

    /// Opens the ledger in `dir` as a follower of another primary's log: it serves reads, is
    /// given the primary's log (`apply_replicated`), refuses every request
    /// (`EngineError::NotPrimary`), and may become the primary (`promote`).
    pub fn follow(dir: &Path, clock: Box<dyn Clock>, config: EngineConfig) -> Result<Engine, EngineError> {
        let config = EngineConfig { replica: None, ..config };
        Engine::start(dir, clock, config, Role { following: AtomicBool::new(true), ..Role::default() })
    }

    fn start(
        dir: &Path,
        clock: Box<dyn Clock>,
        config: EngineConfig,
        role: Role,
    ) -> Result<Engine, EngineError> {
        let serving = Arc::new(AtomicBool::new(true));
        let role = Arc::new(role);
        let (writer, reader, cursors) =
            writer::Writer::recover(dir, clock, config.clone(), Arc::clone(&serving), Arc::clone(&role))?;
        let (projections, durability) = writer.shared();
        let (sender, receiver): (Sender<Job>, Receiver<Job>) =
            crossbeam_channel::bounded(config.queue_commands_max);
        let handle = std::thread::Builder::new()
            .name("gongji-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| EngineError::Spawn(Arc::new(e)))?;
        Ok(Engine { sender, projections, durability, reader, cursors, writer: Some(handle), serving, role })
    }

    /// Whether the writer still accepts work: false after a storage failure (fail-stop) or
    /// once it has stopped. What `/readyz` reports.
    pub fn is_serving(&self) -> bool {
        self.serving.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether this engine follows another's log (`follow`) rather than writing its own.
    pub fn is_following(&self) -> bool {
        self.role.is_following()
    }

    /// Where a follower says the primary is, in its `NotPrimary` answers.
    pub fn set_primary_address(&self, address: Option<String>) {
        *self.role.primary_address.write().unwrap_or_else(|p| p.into_inner()) = address;
    }

    /// A follower's: writes a piece of the primary's log (after checking it continues this
    /// ledger's chain, every hash included) and applies it to the projections; returns the
    /// new head. What this ledger already holds is skipped.
    pub fn apply_replicated(&self, replicated: Replicated) -> Result<u64, EngineError> {
        self.ask(|reply| Job::Replicated(replicated, reply))
    }

    /// A follower's: becomes the primary, appending each group commit to `replica`, once the
    /// replica holds exactly this ledger's log (otherwise `Fenced`, and it goes on following).
    pub fn promote(&self, replica: Arc<dyn Replica>) -> Result<(), EngineError> {
        self.ask(|reply| Job::Promote(replica, reply))
    }

    /// Queues the job `make` builds around a reply, and waits for the reply (`Stopped` when
    /// the writer has gone, the job and its reply dropped unanswered).
    fn ask<T: Send + 'static>(
        &self,
        make: impl FnOnce(Box<dyn FnOnce(Result<T, EngineError>) + Send>) -> Job,
    ) -> Result<T, EngineError> {
        let (sender, receiver) = mpsc::sync_channel(1);
        let _ = self.sender.send(make(Box::new(move |result| {
            let _ = sender.send(result);
        })));
        receiver.recv().unwrap_or(Err(EngineError::Stopped))
    }

    /// Stops this primary writing: another node leads now. Every request is refused from here
    /// on (fail-stop); what was written stays, and the node may follow after a restart.
    pub fn depose(&self) {
        let error =
            EngineError::Replication(Arc::new(ReplicaError::Fenced("another node holds the lease".into())));
        self.durability.fail(error);
    }

    /// Queues a request; `reply` is called once its outcome is durable (or known).
    pub fn submit(&self, request: Request, reply: Reply) {
        self.submit_from(request, Origin::default(), reply);
    }

    /// Queues a request that came over the wire, with who sent it and in what form.
    pub fn submit_from(&self, request: Request, origin: Origin, reply: Reply) {
        if let Err(crossbeam_channel::SendError(Job::Request(_, _, reply))) =
            self.sender.send(Job::Request(request, origin, reply))
        {
            reply(Err(EngineError::Stopped));
        }
    }

    /// Queues requests to be decided one after the other, in this order, each exactly as if
    /// it had been submitted alone (its own checks, its own `request_id`, its own reply once
    /// its events are durable); one's rejection changes nothing for the others. The batch
    /// takes one place in the queue, so nothing else is decided between its requests.
    pub fn submit_batch(&self, requests: Vec<(Request, Origin, Reply)>) {
        if let Err(crossbeam_channel::SendError(Job::Batch(requests))) =
            self.sender.send(Job::Batch(requests))
        {
            for (_, _, reply) in requests {
                reply(Err(EngineError::Stopped));
            }
        }
    }

    /// Submits and waits for the outcome.
    pub fn execute(&self, request: Request) -> Result<Outcome, EngineError> {
        let (sender, receiver) = mpsc::sync_channel(1);
        self.submit(
            request,
            Box::new(move |outcome| {
                let _ = sender.send(outcome);
            }),
        );
        receiver.recv().unwrap_or(Err(EngineError::Stopped))
    }

    /// Reads the projections up to the durable head: `view` sees only what a crash cannot
    /// take back. When it meets a record a batch in flight changed (`InFlight`), it is called
    /// again once that batch is durable (at most an fsync later). The first attempts do not
    /// hold the projections while they wait; the last does, so the writer cannot change the
    /// record again meanwhile, and it then sees everything durable.
    pub fn read<T>(
        &self,
        mut view: impl FnMut(Durable<'_>) -> Result<T, InFlight>,
    ) -> Result<T, EngineError> {
        for _ in 0..READ_ATTEMPTS_UNLOCKED {
            let projections = writer::read_lock(&self.projections);
            match view(projections.at(self.durability.head())) {
                Ok(answer) => return Ok(answer),
                Err(InFlight(seq)) => {
                    drop(projections);
                    self.durability.wait_for(seq)?;
                }
            }
        }
        let projections = self.projections()?;
        Ok(view(projections.durable()).expect("every event applied is durable"))
    }

    /// The whole projections once every event applied to them is durable: the writer waits
    /// while this is held. For a consistent look at everything (tests, the benchmark, a
    /// rebuild's comparison); `read` is the reader's way, and does not stop the writer.
    pub fn projections(&self) -> Result<RwLockReadGuard<'_, Projections>, EngineError> {
        self.durability.read_all_durable(&self.projections)
    }

    /// Test support: changes the idempotency index of the one state by hand (to give a request
    /// id a candidate that is another request's, as a fingerprint collision would).
    #[doc(hidden)]
    pub fn tamper_requests(&self, change: impl FnOnce(&mut projection::Requests)) {
        change(self.projections.write().unwrap_or_else(|p| p.into_inner()).requests_mut());
    }

    /// The last seq flushed and fsynced: what readers see.
    pub fn durable_head(&self) -> u64 {
        self.durability.head()
    }

    /// Read access to the log.
    pub fn log(&self) -> &ledger::Reader {
        &self.reader
    }

    /// The publisher's cursor, the one piece of metadata written outside the writer.
    pub fn outbox_cursor(&self) -> &ledger::OutboxCursor {
        &self.cursors.outbox
    }

    /// A follower's place in the replicated log (see `ledger::Cursor`).
    pub fn replica_cursor(&self) -> &ledger::Cursor {
        &self.cursors.replica
    }

    /// Rebuilds the projections from the log beside the live ones (a shadow copy), while the
    /// engine keeps serving; then, holding the write lock so no batch is in flight, catches the
    /// shadow up with the tail, compares it with the live projections and, in `Swap` mode,
    /// puts it in their place. `progress(done, total)` is called as the replay advances.
    pub fn rebuild(
        &self,
        mode: RebuildMode,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<RebuildReport, EngineError> {
        let started = std::time::Instant::now();
        let mut shadow = Projections::new();
        // The bulk of the replay, up to what is durable now, while the engine serves.
        let live_head = self.durable_head();
        snapshot::catch_up(&self.reader, &mut shadow, Some(live_head), progress)?;
        // The writer waits while this is held: once what it decided is durable, the live
        // projections are all on disk and the shadow can catch up with them exactly.
        let mut live = self.projections.write().unwrap_or_else(|p| p.into_inner());
        let head = live.head_seq();
        self.durability.wait_for(head)?;
        snapshot::catch_up(&self.reader, &mut shadow, Some(head), progress)?;
        let now = live.head_time().unwrap_or_default();
        let diff = diff(&live, &shadow, now);
        let swapped = mode == RebuildMode::Swap;
        if swapped {
            *live = shadow;
        }
        Ok(RebuildReport { events: head, seconds: started.elapsed().as_secs_f64(), swapped, diff })
    }

    /// Finishes every request queued so far, stops the writer and waits for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.sender.send(Job::Shutdown);
        if let Some(handle) = self.writer.take() {
            join_thread(handle);
        }
    }
}

/// Waits for one of the engine's threads to end. One that panicked is reported by name with
/// its message (the panic itself was printed when it happened); the caller goes on stopping
/// the rest. Returns whether the thread ended normally.
pub(crate) fn join_thread(handle: JoinHandle<()>) -> bool {
    let name = handle.thread().name().unwrap_or("an engine thread").to_owned();
    match handle.join() {
        Ok(()) => true,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(thread = %name, %message, "an engine thread panicked");
            false
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a thread's end is checked: one that returned is told apart from one that
    // panicked (which is reported, not dropped).
    #[test]
    fn a_panicked_thread_is_told_apart() {
        let normal = std::thread::Builder::new().name("gongji-test-ok".into()).spawn(|| {}).unwrap();
        assert!(join_thread(normal));
        let panicked = std::thread::Builder::new()
            .name("gongji-test-panics".into())
            .spawn(|| panic!("a test panic, on purpose"))
            .unwrap();
        assert!(!join_thread(panicked));
    }

    /// A replica in memory: what it was given; it refuses while `unavailable` counts down, or
    /// fences every append off when `fenced`.
    #[derive(Default)]
    struct Recording {
        events: std::sync::Mutex<Vec<ledger::StoredEvent>>,
        rejections: std::sync::Mutex<Vec<String>>,
        unavailable: std::sync::atomic::AtomicUsize,
        fenced: bool,
    }

    impl Replica for Recording {
        fn head(&self, _: &str) -> Result<(u64, [u8; 32]), ReplicaError> {
            let events = self.events.lock().unwrap();
            Ok(events.last().map_or((0, [0; 32]), |last| (last.seq, last.hash)))
        }

        fn append(&self, commit: &Commit<'_>) -> Result<(), ReplicaError> {
            if self.fenced {
                return Err(ReplicaError::Fenced("another primary appended".into()));
            }
            let left = self.unavailable.load(std::sync::atomic::Ordering::SeqCst);
            if left > 0 {
                self.unavailable.store(left - 1, std::sync::atomic::Ordering::SeqCst);
                return Err(ReplicaError::Unavailable("no quorum".into()));
            }
            self.events.lock().unwrap().extend_from_slice(commit.events);
            self.rejections.lock().unwrap().extend(commit.rejections.iter().map(|(id, _)| id.clone()));
            Ok(())
        }
    }

    fn open(dir: &Path, replica: Option<Arc<dyn Replica>>) -> Engine {
        let replicate_grace = std::time::Duration::from_millis(50);
        let config = EngineConfig { replica, replicate_grace, ..EngineConfig::default() };
        Engine::open(dir, Box::new(SystemClock), config).unwrap()
    }

    fn rules(n: u64) -> Request {
        let rules = serde_json::json!({"version": n, "effective_from": "2026-01-01T00:00:00+08:00"});
        Request {
            request_id: domain::RequestId::new(&format!("rules-{n}")).unwrap(),
            command: domain::Command::PublishRules {
                region: domain::Region::new("210100").unwrap(),
                rules: serde_json::from_value(rules).unwrap(),
            },
        }
    }

    fn committed_seq(outcome: Result<Outcome, EngineError>) -> u64 {
        match outcome {
            Ok(Outcome::Committed { events, .. }) => events.last().unwrap().seq,
            other => panic!("not committed: {other:?}"),
        }
    }

    // Proves a replicated engine gives the replica every event, in order, byte for byte as
    // the log holds it, before the caller is answered; remembered rejections go with them.
    #[test]
    fn a_replica_is_given_every_event_before_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        let replica = Arc::new(Recording::default());
        let engine = open(dir.path(), Some(replica.clone()));
        for n in 1..=3 {
            assert_eq!(committed_seq(engine.execute(rules(n))), n);
            let given = replica.events.lock().unwrap().len() as u64;
            assert_eq!(given, engine.durable_head(), "answered only once the replica holds it");
        }
        let logged: Vec<ledger::StoredEvent> = engine.log().events(0).collect::<Result<_, _>>().unwrap();
        let given = replica.events.lock().unwrap().clone();
        assert_eq!(given.len(), 3);
        for (given, logged) in given.iter().zip(&logged) {
            assert_eq!((given.seq, &given.bytes, given.hash), (logged.seq, &logged.bytes, logged.hash));
        }
        // A version not newer is refused, and the refusal is remembered: the replica has it.
        let mut stale = rules(2);
        stale.request_id = domain::RequestId::new("rules-stale").unwrap();
        assert!(matches!(engine.execute(stale), Ok(Outcome::Rejected { .. })));
        assert_eq!(*replica.rejections.lock().unwrap(), ["rules-stale"]);
    }

    // Proves that while the replica is unavailable the batch's caller is told the outcome is
    // unknown, nothing is shown, requests are refused; and that once the replica is back the
    // batch is replicated and shown, the engine takes requests again, and a retry of the
    // first request under its id finds it committed.
    #[test]
    fn an_unavailable_replica_stalls_writes_until_it_takes_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let replica = Arc::new(Recording { unavailable: 5.into(), ..Recording::default() });
        let engine = open(dir.path(), Some(replica.clone()));
        assert!(matches!(engine.execute(rules(1)), Err(EngineError::Replication(_))));
        // Refused at once while the batch is retried (or taken in the meantime).
        match engine.execute(rules(2)) {
            Err(EngineError::Replication(_)) => {}
            outcome => assert_eq!(committed_seq(outcome), 2),
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while engine.durable_head() < 1 {
            assert!(std::time::Instant::now() < deadline, "the batch is replicated once the replica is back");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(engine.is_serving());
        let replay = engine.execute(rules(1)).unwrap();
        assert!(matches!(replay, Outcome::Committed { replayed: true, .. }), "{replay:?}");
        let next = committed_seq(engine.execute(rules(3)));
        assert_eq!(replica.events.lock().unwrap().last().unwrap().seq, next);
        assert_eq!(engine.log().head_seq().unwrap(), next);
    }

    // Proves a batch the replica fences off is answered with the failure and shown to no
    // reader, and the engine stops writing (fail-stop); the batch is on the local disk all the
    // same, and a start with a replica that holds less of the log gives it that tail first.
    #[test]
    fn a_fenced_replication_stops_the_writer_and_shows_nothing() {
        let dir = tempfile::tempdir().unwrap();
        {
            let engine = open(dir.path(), Some(Arc::new(Recording { fenced: true, ..Recording::default() })));
            assert!(matches!(engine.execute(rules(1)), Err(EngineError::Replication(_))));
            assert!(!engine.is_serving());
            assert_eq!(engine.log().head_seq().unwrap(), 0, "no reader sees the batch");
            assert!(matches!(engine.execute(rules(2)), Err(EngineError::Replication(_))));
            engine.shutdown();
        }
        let replica = Arc::new(Recording::default());
        let engine = open(dir.path(), Some(replica.clone()));
        assert_eq!(engine.durable_head(), 1);
        assert_eq!(replica.events.lock().unwrap().len(), 1, "the local tail is replicated at start");
        assert_eq!(committed_seq(engine.execute(rules(2))), 2);
    }

    // Proves a start whose replica is ahead of the local disk, or holds another event at the
    // disk's head, is refused as fenced: another primary has written.
    #[test]
    fn a_replica_ahead_or_apart_refuses_the_start() {
        let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let replica = Arc::new(Recording::default());
        let primary = open(first.path(), Some(replica.clone()));
        committed_seq(primary.execute(rules(1)));
        committed_seq(primary.execute(rules(2)));
        primary.shutdown();
        // Another ledger's disk, one event long: the replica is ahead of it, then apart from it.
        committed_seq(open(second.path(), None).execute(rules(1)));
        let start = |replica: &Arc<Recording>| {
            let config = EngineConfig { replica: Some(replica.clone()), ..EngineConfig::default() };
            Engine::open(second.path(), Box::new(SystemClock), config)
        };
        let fenced = |opened: Result<Engine, EngineError>| matches!(opened, Err(EngineError::Replication(e)) if matches!(*e, ReplicaError::Fenced(_)));
        assert!(fenced(start(&replica)), "ahead of the disk");
        replica.events.lock().unwrap().truncate(1);
        assert!(fenced(start(&replica)), "another event at the disk's head");
        // The replica's own ledger starts against it.
        assert_eq!(open(first.path(), Some(replica.clone())).durable_head(), 2);
        assert_eq!(replica.events.lock().unwrap().len(), 2, "its tail given back");
    }

    fn has_version(engine: &Engine, version: u64) -> bool {
        let region = domain::Region::new("210100").unwrap();
        engine.read(|view| Ok(view.rules_version(&region, version)?.is_some())).unwrap()
    }

    // Proves a follower whose disk holds a tail the log does not (a deposed primary's last
    // write, which no replica took) discards it when the log's own event at that seq arrives,
    // and rebuilds its state without it: the chain is the log's, and so is every view.
    #[test]
    fn a_follower_discards_a_tail_the_log_does_not_hold() {
        let (primary_dir, deposed_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let replica = Arc::new(Recording::default());
        let primary = open(primary_dir.path(), Some(replica.clone()));
        committed_seq(primary.execute(rules(1)));
        committed_seq(primary.execute(rules(2)));
        let piece =
            |events: &[ledger::StoredEvent]| Replicated { events: events.to_vec(), rejections: vec![] };
        {
            // The deposed node led once: it wrote a seq 3 of its own that no replica holds.
            let deposed =
                Engine::follow(deposed_dir.path(), Box::new(SystemClock), EngineConfig::default()).unwrap();
            deposed.apply_replicated(piece(&replica.events.lock().unwrap())).unwrap();
            let own = Arc::new(Recording::default());
            own.events.lock().unwrap().extend(replica.events.lock().unwrap().iter().cloned());
            deposed.promote(own).unwrap();
            assert_eq!(committed_seq(deposed.execute(rules(3))), 3);
            deposed.shutdown();
        }
        assert_eq!(committed_seq(primary.execute(rules(4))), 3);
        let follower =
            Engine::follow(deposed_dir.path(), Box::new(SystemClock), EngineConfig::default()).unwrap();
        assert!(has_version(&follower, 3));
        let log = replica.events.lock().unwrap().clone();
        assert_eq!(follower.apply_replicated(piece(&log[2..])).unwrap(), 3);
        assert!(!has_version(&follower, 3) && has_version(&follower, 4), "the state is the log's");
        let chain: Vec<ledger::StoredEvent> = follower.log().events(0).collect::<Result<_, _>>().unwrap();
        assert_eq!(chain.last().unwrap().hash, log[2].hash);
        assert!(ledger::verify_events(chain.into_iter().map(Ok)).ok);
        committed_seq(primary.execute(rules(5)));
        let log = replica.events.lock().unwrap().clone();
        assert_eq!(follower.apply_replicated(piece(&log[3..])).unwrap(), 4);
    }

    // Proves a follower writes and applies the primary's log as given, every hash checked,
    // refuses requests naming the primary, and once promoted continues the same chain.
    #[test]
    fn a_follower_applies_the_log_and_takes_over_the_chain() {
        let (primary_dir, follower_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let replica = Arc::new(Recording::default());
        let primary = open(primary_dir.path(), Some(replica.clone()));
        for n in 1..=3 {
            committed_seq(primary.execute(rules(n)));
        }
        let follower =
            Engine::follow(follower_dir.path(), Box::new(SystemClock), EngineConfig::default()).unwrap();
        follower.set_primary_address(Some("http://127.0.0.1:8080".into()));
        let given = replica.events.lock().unwrap().clone();
        let mut forged = given[1].clone();
        forged.bytes[20] ^= 1;
        let piece =
            |events: &[ledger::StoredEvent]| Replicated { events: events.to_vec(), rejections: vec![] };
        assert_eq!(follower.apply_replicated(piece(&given[..1])).unwrap(), 1);
        assert!(matches!(follower.apply_replicated(piece(&[forged])), Err(EngineError::Corrupt(_))));
        assert!(
            matches!(follower.apply_replicated(piece(&given[2..])), Err(EngineError::Corrupt(_))),
            "a gap"
        );
        assert_eq!(follower.apply_replicated(piece(&given)).unwrap(), 3, "what it holds is skipped");

        assert_eq!(follower.durable_head(), 3);
        assert!(follower.is_following());
        match follower.execute(rules(4)) {
            Err(EngineError::NotPrimary { primary }) => {
                assert_eq!(primary.as_deref(), Some("http://127.0.0.1:8080"))
            }
            other => panic!("a follower takes no request: {other:?}"),
        }
        assert!(has_version(&follower, 3));
        primary.shutdown();
        follower.promote(replica.clone()).unwrap();
        assert!(!follower.is_following());
        assert_eq!(committed_seq(follower.execute(rules(4))), 4);
        let chain: Vec<ledger::StoredEvent> = follower.log().events(0).collect::<Result<_, _>>().unwrap();
        assert_eq!(ledger::verify_events(chain.into_iter().map(Ok)).head_seq, 4);
        assert_eq!(replica.events.lock().unwrap().len(), 4);
    }
}

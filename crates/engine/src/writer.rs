//! The writer: recovery at start, then the group-commit pipeline.
//!
//! Three threads share the work, each on its own batch. The writer (`gongji-writer`) decides
//! requests as they arrive against the one state, applies their events to it and seals them
//! into batch N+1; the committer (`gongji-commit`) writes batch N to the log, flushes, fsyncs
//! and moves the durable head, which shows it to the readers; the applier (`gongji-apply`)
//! answers the callers of batch N−1. A batch is handed to the committer through a rendezvous
//! the moment the committer is free, and batches stay in order from stage to stage, so every
//! answer, a rejection included, waits for its batch and all before it to be durable.
//!
//! Idempotency: the request ids that wrote events are indexed in the one state as their first
//! event is applied (`projection::Requests`, a fingerprint and a seq each), so a repeat is
//! found the moment its first is decided; the candidate's first event, read from the log once
//! durable, confirms the id and gives the digest. Remembered rejections, which the log does
//! not hold, are kept in memory beside it and written to the `requests` tree with their batch.

use crossbeam_channel::{bounded, Receiver, Select, Sender};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};
use std::time::Duration;

use domain::{Code, Command, Event, Origin, Rejection, Request, SettlementId, Timestamp};
use ledger::{RequestRecord, Sealer, Store, StoredEvent, VerifyFrom};
use projection::Projections;

use crate::{
    Clock, Commit, EngineConfig, EngineError, Job, Outcome, Recorded, Replica, ReplicaError, Replicated,
    Reply, Role,
};

/// Times the writer tries the state's lock again, yielding between, before it hands its batch
/// over and waits for the lock.
const WRITE_LOCK_TRIES: usize = 16;

/// How long the writer sleeps at most when idle, so hold expiry is never late by more.
const IDLE_WAIT_MILLIS_MAX: u64 = 200;

/// The deciding half of the writer.
pub(crate) struct Writer {
    /// What the committer and applier threads take when `run` starts.
    stages: Option<Stages>,
    reader: ledger::Reader,
    clock: Box<dyn Clock>,
    config: EngineConfig,
    /// Set by the committer on the first storage failure: from then on every request is refused.
    failed: Arc<OnceLock<EngineError>>,
    /// Shared with the `Engine`: true while this writer accepts work (not failed, not stopped).
    serving: Arc<AtomicBool>,
    /// The one state: the writer evolves it as it decides, ahead of the disk by the batches
    /// in flight; readers see it only up to the durable head (`projection::Durable`).
    projections: Arc<RwLock<Projections>>,
    /// The durable head, moved by the committer after each fsync.
    durability: Arc<Durability>,
    /// The last seq decided (ahead of the store's head by the events in flight).
    head_seq: u64,
    /// Numbers and chains each decided event into its envelope, continuing the batches in
    /// flight, so the committer only writes.
    sealer: Sealer,
    /// `recorded_at` of the last event decided.
    head_time: Option<Timestamp>,
    /// Remembered rejections by request id: those stored in the `requests` tree, and those
    /// decided since (written with their batch).
    rejections: HashMap<String, RequestRecord>,
    /// Whether this writer decides requests or follows another primary's log.
    role: Arc<Role>,
}

/// The cursors kept in the ledger's metadata beside the writer (see `ledger::Cursor`).
pub(crate) struct Cursors {
    pub(crate) outbox: ledger::Cursor,
    pub(crate) replica: ledger::Cursor,
}

/// What the writer hands to its later stages when it starts them.
struct Stages {
    store: Store,
    applier: Applier,
}

/// A batch being decided: requests join it as they arrive, while the batch before it is
/// written.
struct Building {
    /// The seq of the batch's first event (the store's head + 1 when it was opened).
    first_seq: u64,
    next_seq: u64,
    /// The next `recorded_at`, in micros: strictly increasing, never behind the clock.
    next_time: i64,
    events: Vec<StoredEvent>,
    records: BTreeMap<String, RequestRecord>,
    answers: Vec<(Reply, Answer)>,
}

impl Building {
    fn is_empty(&self) -> bool {
        self.answers.is_empty() && self.events.is_empty()
    }
}

/// A decided batch on its way to the log.
struct Decided {
    /// The batch's envelopes, sealed.
    events: Vec<StoredEvent>,
    /// Remembered rejections: not implied by the log, so written and synced with the batch.
    rejections: Vec<(String, RequestRecord)>,
    /// Every caller of the batch with what it will be told, in the order decided.
    answers: Vec<(Reply, Answer)>,
    /// The seq of the batch's last event (its first is the store's head + 1).
    expected_head: u64,
}

/// The writing stage: owns the store; writes, flushes and fsyncs one batch at a time.
struct Committer {
    store: Store,
    config: EngineConfig,
    durability: Arc<Durability>,
    failed: Arc<OnceLock<EngineError>>,
    serving: Arc<AtomicBool>,
    /// Durable batches go on to be shown to the readers and answered.
    applier: Sender<Durable>,
    /// Replicated, written batches go to the replicating stage first (and its thread).
    replicator: Option<(Sender<Written>, std::thread::JoinHandle<()>)>,
}

/// A batch written and fsynced but shown to nobody, on its way to the replica.
struct Written {
    events: Vec<StoredEvent>,
    rejections: Vec<(String, RequestRecord)>,
    answers: Vec<(Reply, Answer)>,
    first_seq: u64,
    expected_head: u64,
    started: std::time::Instant,
}

/// The replicating stage (`gongji-replicate`): appends each written batch to the replica, in
/// order, while the committer writes and fsyncs the next; then shows it, moves the durable head
/// and hands it to be answered.
struct Replicator {
    replica: Arc<dyn crate::Replica>,
    config: EngineConfig,
    durability: Arc<Durability>,
    failed: Arc<OnceLock<EngineError>>,
    serving: Arc<AtomicBool>,
    shower: ledger::Shower,
    applier: Sender<Durable>,
}

/// Written batches waiting for the replicator; the committer waits when this many are queued.
const WRITTEN_BATCHES_QUEUED_MAX: usize = 1;

/// A batch on disk, on its way to the readers and its callers.
struct Durable {
    first_seq: u64,
    expected_head: u64,
    answers: Vec<(Reply, Answer)>,
}

/// The last stage: answers the callers of durable batches, in log order, and triggers the
/// snapshots.
struct Applier {
    reader: ledger::Reader,
    snapshot_every_events: Option<u64>,
    /// Where the seqs to snapshot at go, to be built and stored off this thread.
    snapshots: SyncSender<u64>,
    snapshotter: std::thread::JoinHandle<()>,
}

/// After storing a snapshot, the snapshot thread rests this many times as long as it took, so
/// that it is busy at most a quarter of the time: snapshots due while it rests are skipped.
const SNAPSHOT_REST_FACTOR: u32 = 3;

/// Durable batches waiting for the applier; the committer waits when this many are queued.
const DURABLE_BATCHES_QUEUED_MAX: usize = 4;

/// A thread that stores snapshots; one at a time, later ones skipped while busy or resting
/// (`SNAPSHOT_REST_FACTOR`).
///
/// Each is a copy of the one state once all of it is durable, taken under the read lock:
/// records are shared (`Arc`), so the copy takes the maps' indexes, not the records, and the
/// writer copies a record only when it changes one the snapshot still holds. The writer waits
/// for the copy (see `Durability::wait_for` and `Writer::take`), then the copy is serialized
/// and stored here, off every path a request waits on. A deep copy used to hold the lock for
/// as long as it took to copy the whole state (p99 400 ms under 64 connections at 100,000
/// persons' worth of state), and replaying the log instead evolved every event twice.
fn spawn_snapshotter(
    reader: ledger::Reader,
    projections: Arc<RwLock<Projections>>,
    durability: Arc<Durability>,
) -> (SyncSender<u64>, std::thread::JoinHandle<()>) {
    let (sender, receiver) = sync_channel::<u64>(1);
    let handle = std::thread::Builder::new()
        .name("gongji-snapshot".into())
        .spawn(move || {
            // A snapshot's cost grows with the state: back to back under a heavy load they
            // would take a core from the requests. So each is followed by a rest.
            let mut resting_until: Option<std::time::Instant> = None;
            for _ in receiver {
                let started = std::time::Instant::now();
                if resting_until.is_some_and(|until| started < until) {
                    continue;
                }
                match snapshot(&reader, &projections, &durability) {
                    Ok((seq, copy_micros)) => tracing::info!(seq, copy_micros, "snapshot stored"),
                    Err(error) => tracing::warn!(%error, "snapshot not stored"),
                }
                let now = std::time::Instant::now();
                resting_until = Some(now + (now - started) * SNAPSHOT_REST_FACTOR);
            }
        })
        .expect("the snapshot thread starts");
    (sender, handle)
}

/// Copies the one state once all of it is durable and stores the copy as a snapshot; the
/// seq it was taken at, and how long the writer waited for the copy, in microseconds.
fn snapshot(
    reader: &ledger::Reader,
    projections: &RwLock<Projections>,
    durability: &Durability,
) -> Result<(u64, u64), EngineError> {
    let started = std::time::Instant::now();
    let copy = durability.read_all_durable(projections)?.clone();
    let copy_micros = started.elapsed().as_micros() as u64;
    let seq = crate::take_snapshot(reader, &copy)?;
    Ok((seq, copy_micros))
}

/// A request's digest and what its request id's record says, if there is one.
struct Known {
    digest: String,
    record: Result<Option<RequestRecord>, EngineError>,
}

/// What a request will be answered once the batch is durable.
enum Answer {
    /// The events the request wrote.
    Committed(Vec<Recorded>),
    /// A repeat of a committed request: its events, read back once durable.
    Replay { first_seq: u64, last_seq: u64 },
    /// Refused; `replayed` when this is a repeat of a request refused before.
    Rejected { rejection: Rejection, replayed: bool },
    /// A charge computed and not recorded.
    Preview(domain::Charge),
    /// The request could not be decided: what it needed to read failed.
    Failed(EngineError),
}

impl Writer {
    /// Opens the store, verifies it, replays it into fresh projections (the idempotency index
    /// of committed requests with them) and loads the remembered rejections.
    pub(crate) fn recover(
        dir: &Path,
        clock: Box<dyn Clock>,
        config: EngineConfig,
        serving: Arc<AtomicBool>,
        role: Arc<Role>,
    ) -> Result<(Writer, ledger::Reader, Cursors), EngineError> {
        let store = Store::open_with_cache(dir, config.sled_cache_bytes)?;
        let cursors = Cursors { outbox: store.outbox_cursor(), replica: store.replica_cursor() };
        let report = store.verify(VerifyFrom::Checkpoint)?;
        if !report.ok {
            let broken = report.broken.map(|b| format!("seq {}: {}", b.seq, b.reason)).unwrap_or_default();
            return Err(EngineError::Corrupt(broken));
        }
        if let Some(replica) = &config.replica {
            catch_up_replica(&store, replica.as_ref())?;
        }
        let reader = store.reader();
        // The nearest good snapshot, then the tail of the log.
        let mut projections = match crate::load_snapshot(&reader, store.head_seq()) {
            Ok(Some(projections)) => projections,
            Ok(None) => Projections::new(),
            Err(error) => {
                tracing::warn!(%error, "snapshots unreadable; replaying the whole log");
                Projections::new()
            }
        };
        let from_snapshot = projections.head_seq();
        crate::snapshot::catch_up(&reader, &mut projections, None, &mut |_, _| {})?;
        tracing::info!(from_snapshot, head_seq = projections.head_seq(), "projections rebuilt");
        let rejections = store.load_rejections()?.into_iter().collect();
        store.set_checkpoint(store.head_seq(), store.head_hash())?;
        tracing::info!(head_seq = store.head_seq(), "ledger recovered");
        let head_time = projections.head_time();
        let failed = Arc::new(OnceLock::new());
        let durability =
            Arc::new(Durability::new(store.head_seq(), Arc::clone(&failed), Arc::clone(&serving)));
        let projections = Arc::new(RwLock::new(projections));
        let (snapshots, snapshotter) =
            spawn_snapshotter(reader.clone(), Arc::clone(&projections), Arc::clone(&durability));
        let (head_seq, sealer) = (store.head_seq(), store.sealer());
        let applier = Applier {
            reader: reader.clone(),
            snapshot_every_events: config.snapshot_every_events,
            snapshots,
            snapshotter,
        };
        let stages = Stages { store, applier };
        let writer = Writer {
            stages: Some(stages),
            reader: reader.clone(),
            clock,
            config,
            failed,
            serving,
            projections,
            durability,
            head_seq,
            sealer,
            head_time,
            rejections,
            role,
        };
        Ok((writer, reader, cursors))
    }

    /// The one state and the durable head, for the engine's readers.
    pub(crate) fn shared(&self) -> (Arc<RwLock<Projections>>, Arc<Durability>) {
        (Arc::clone(&self.projections), Arc::clone(&self.durability))
    }

    /// Starts the committer and the applier; the writer's end of the committer's channel.
    fn start_stages(&mut self) -> (Sender<Decided>, [std::thread::JoinHandle<()>; 2]) {
        // A rendezvous: a batch is handed over the moment the committer is free, and until
        // then the writer keeps adding the requests that arrive to it. So a batch is as large
        // as the load while the one before it is written, with no waiting when idle.
        let (to_committer, batches) = bounded::<Decided>(0);
        let (to_applier, durable) = bounded::<Durable>(DURABLE_BATCHES_QUEUED_MAX);
        let Stages { store, applier } = self.stages.take().expect("the stages are started once");
        let replicator = self.config.replica.clone().map(|replica| {
            let (to_replicator, written) = bounded::<Written>(WRITTEN_BATCHES_QUEUED_MAX);
            let replicator = Replicator {
                replica,
                config: self.config.clone(),
                durability: Arc::clone(&self.durability),
                failed: Arc::clone(&self.failed),
                serving: Arc::clone(&self.serving),
                shower: store.shower(),
                applier: to_applier.clone(),
            };
            let thread = std::thread::Builder::new()
                .name("gongji-replicate".into())
                .spawn(move || replicator.run(written))
                .expect("the replicating thread starts");
            (to_replicator, thread)
        });
        let committer = Committer {
            store,
            config: self.config.clone(),
            durability: Arc::clone(&self.durability),
            failed: Arc::clone(&self.failed),
            serving: Arc::clone(&self.serving),
            applier: to_applier,
            replicator,
        };
        let applier = std::thread::Builder::new()
            .name("gongji-apply".into())
            .spawn(move || applier.run(durable))
            .expect("the applier thread starts");
        let committer = std::thread::Builder::new()
            .name("gongji-commit".into())
            .spawn(move || committer.run(batches))
            .expect("the committer thread starts");
        (to_committer, [committer, applier])
    }

    /// Adds what one job asks to the batch being built. `false` when the writer is to stop
    /// (a shutdown, or a committer that is gone); what a batch job had left is refused.
    fn take_job(
        &mut self,
        building: &mut Option<Building>,
        to_committer: &Sender<Decided>,
        job: Job,
    ) -> bool {
        match job {
            Job::Request(request, origin, reply) => self.take(building, to_committer, request, origin, reply),
            Job::Batch(requests) => {
                let mut requests = requests.into_iter();
                for (request, origin, reply) in requests.by_ref() {
                    if !self.take(building, to_committer, request, origin, reply) {
                        for (_, _, reply) in requests {
                            reply(Err(EngineError::Stopped));
                        }
                        return false;
                    }
                }
                true
            }
            Job::Replicated(_, reply) => {
                reply(Err(EngineError::Corrupt("a primary is given no replicated log".into())));
                true
            }
            Job::Promote(_, reply) => {
                reply(Ok(()));
                true
            }
            Job::Shutdown => false,
        }
    }

    pub(crate) fn run(mut self, jobs: Receiver<Job>) {
        if self.role.is_following() && !self.follow(&jobs) {
            if let Some(Stages { applier, .. }) = self.stages.take() {
                drop(applier.snapshots);
                crate::join_thread(applier.snapshotter);
            }
            self.serving.store(false, Ordering::Release);
            tracing::info!(head_seq = self.head_seq, "follower stopped");
            return;
        }
        let (to_committer, [committer, applier]) = self.start_stages();
        let mut building: Option<Building> = None;
        loop {
            // While the replica does not take the log, the callers of the batch being built
            // are not kept waiting: they are told the outcome is unknown. Its events stay in
            // it, already in the state, and are committed once the replica is back.
            if let (Some(stalled), Some(batch)) = (self.durability.stalled(), building.as_mut()) {
                refuse(std::mem::take(&mut batch.answers), &stalled);
            }
            let mut select = Select::new();
            let receive = select.recv(&jobs);
            let hand_over = building.as_ref().filter(|b| !b.is_empty()).map(|_| select.send(&to_committer));
            let Ok(operation) = select.select_timeout(self.idle_wait()) else {
                // Idle: a fresh batch holds the holds that are now due, if any (an empty one
                // has changed nothing and is dropped).
                if building.as_ref().is_none_or(Building::is_empty) {
                    let shared = Arc::clone(&self.projections);
                    let mut projections = write_lock(&shared);
                    building = Some(self.open(&mut projections));
                }
                continue;
            };
            if Some(operation.index()) == hand_over {
                let batch = building.take().expect("only a batch with requests is handed over");
                if let Err(unsent) = operation.send(&to_committer, self.close(batch)) {
                    refuse(unsent.into_inner().answers, &EngineError::Stopped);
                    break;
                }
                continue;
            }
            debug_assert_eq!(operation.index(), receive);
            let mut next = operation.recv(&jobs).ok();
            let mut shutdown = next.is_none();
            // Take everything already queued before the batch can be handed over.
            while let Some(job) = next.take() {
                if !self.take_job(&mut building, &to_committer, job) {
                    shutdown = true;
                    break;
                }
                next = jobs.try_recv().ok();
            }
            if shutdown {
                self.durability.request_stop();
                if let Some(batch) = building.take().filter(|b| !b.is_empty()) {
                    self.hand_over(&to_committer, batch);
                }
                break;
            }
        }
        // Answer what was queued behind the shutdown (or a committer that is gone), then stop.
        while let Ok(job) = jobs.try_recv() {
            answer_all(job, || EngineError::Stopped);
        }
        // The committer and then the applier finish the batches handed to them, then stop.
        drop(to_committer);
        crate::join_thread(committer);
        crate::join_thread(applier);
        self.serving.store(false, Ordering::Release);
        tracing::info!(head_seq = self.head_seq, "writer stopped");
    }

    /// Adds a request to the batch being built, opening one if none is; a batch that is then
    /// full is handed to the committer. `false` when the committer is gone.
    fn take(
        &mut self,
        building: &mut Option<Building>,
        to_committer: &Sender<Decided>,
        request: Request,
        origin: Origin,
        reply: Reply,
    ) -> bool {
        // What needs no state is done before the lock, so that readers wait only for the
        // decision itself: the digest (`None` for a preview, which has none).
        let digest = (!request.command.is_preview())
            .then(|| origin.digest.clone().unwrap_or_else(|| request.digest()));
        let shared = Arc::clone(&self.projections);
        // Never wait for a reader while this batch holds events no committer has: a reader
        // may hold the lock until they are durable (`Engine::projections`). Hand it over first.
        // Most readers hold the lock for microseconds, so try a few times before that: a batch
        // handed over early is a smaller group commit.
        let mut attempt = shared.try_write();
        for _ in 0..WRITE_LOCK_TRIES {
            if !matches!(attempt, Err(std::sync::TryLockError::WouldBlock)) {
                break;
            }
            std::thread::yield_now();
            attempt = shared.try_write();
        }
        let mut projections = match attempt {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                if let Some(batch) = building.take().filter(|b| !b.is_empty()) {
                    if !self.hand_over(to_committer, batch) {
                        reply(Err(EngineError::Stopped));
                        return false;
                    }
                }
                write_lock(&shared)
            }
        };
        let batch = building.get_or_insert_with(|| self.open(&mut projections));
        let known = digest.map(|digest| Known {
            record: self.lookup(&projections, batch, request.request_id.as_str()),
            digest,
        });
        self.add(&mut projections, batch, request, origin, reply, known);
        drop(projections);
        if batch.answers.len() < self.config.batch_commands_max {
            return true;
        }
        // Full: wait for the committer.
        let batch = building.take().expect("the batch being built");
        self.hand_over(to_committer, batch)
    }

    /// Closes a batch and waits for the committer to take it: `false` when the committer is
    /// gone, its callers then answered `stopped`.
    fn hand_over(&mut self, to_committer: &Sender<Decided>, batch: Building) -> bool {
        match to_committer.send(self.close(batch)) {
            Ok(()) => true,
            Err(unsent) => {
                refuse(unsent.into_inner().answers, &EngineError::Stopped);
                false
            }
        }
    }

    fn idle_wait(&self) -> Duration {
        // Never block on the lock here: the batch being built may hold events that a reader
        // holding it waits for (see `take`). Look again shortly instead.
        let Ok(projections) = self.projections.try_read() else { return Duration::from_millis(1) };
        let next_expiry = projections.state().hold_expiry.first().map(|(at, _)| *at);
        drop(projections);
        let max = Duration::from_millis(IDLE_WAIT_MILLIS_MAX);
        match next_expiry {
            Some(at) => {
                let micros = at.micros().saturating_sub(self.clock.now().micros()).max(1000);
                Duration::from_micros(micros as u64).min(max)
            }
            None => max,
        }
    }

    /// Starts a batch: the holds past their timeout are released first, by the clock, with
    /// no request id.
    fn open(&mut self, projections: &mut Projections) -> Building {
        let head_time = self.head_time.map_or(i64::MIN, |t| t.micros());
        let mut batch = Building {
            first_seq: self.head_seq + 1,
            next_seq: self.head_seq + 1,
            next_time: self.clock.now().micros().max(head_time.saturating_add(1)),
            events: Vec::new(),
            records: BTreeMap::new(),
            answers: Vec::new(),
        };
        if self.failed.get().is_some() || self.durability.stalled().is_some() {
            return batch;
        }
        let due: Vec<SettlementId> = projections
            .state()
            .hold_expiry
            .iter()
            .take_while(|(at, _)| at.micros() <= batch.next_time)
            .take(self.config.batch_commands_max)
            .map(|(_, id)| id.clone())
            .collect();
        for settlement_id in due {
            let command = Command::Expire { settlement_id };
            let now = Timestamp::from_micros(batch.next_time);
            if let Ok(decided) = command::decide(projections.state(), &command, now) {
                record(projections, &mut self.sealer, decided, None, &mut batch);
            }
        }
        batch
    }

    /// Decides one request against the one state, after every one before it.
    fn add(
        &mut self,
        projections: &mut Projections,
        batch: &mut Building,
        request: Request,
        origin: Origin,
        reply: Reply,
        known: Option<Known>,
    ) {
        if let Some(failure) = self.failed.get() {
            reply(Err(failure.clone()));
            return;
        }
        if let Some(stalled) = self.durability.stalled() {
            reply(Err(stalled));
            return;
        }
        batch.next_time = batch.next_time.max(self.clock.now().micros());
        let now = Timestamp::from_micros(batch.next_time);
        // The role and shape checks come before the request id's record is consulted, and
        // their refusals are not remembered (api.md §2's order of checks); those against the
        // clock come after it (see `command::check_shape`).
        if let Err(rejection) = check_origin(projections.state(), &request.command, &origin)
            .and_then(|()| command::check_shape(&request.command))
        {
            batch.answers.push((reply, Answer::Rejected { rejection, replayed: false }));
            return;
        }
        let Some(Known { digest, record: seen }) = known else {
            let answer = match command::decide(projections.state(), &request.command, now) {
                Ok(mut decided) => match decided.pop() {
                    Some(Event::Settled(charge)) => Answer::Preview(charge),
                    _ => unreachable!("a preview decides one settlement"),
                },
                Err(rejection) => Answer::Rejected { rejection, replayed: false },
            };
            batch.answers.push((reply, answer));
            return;
        };
        let request_id = request.request_id.as_str().to_owned();
        let known = match seen {
            Ok(known) => known,
            Err(error) => {
                batch.answers.push((reply, Answer::Failed(error)));
                return;
            }
        };
        let answer = match known {
            Some(record) if record_digest(&record) != digest => Answer::Rejected {
                rejection: Rejection::new(
                    Code::IdempotencyConflict,
                    "this request_id was used for a different request",
                )
                .with("request_id", &request_id),
                replayed: false,
            },
            Some(RequestRecord::Committed { first_seq, last_seq, .. }) => {
                Answer::Replay { first_seq, last_seq }
            }
            Some(RequestRecord::Rejected { rejection, .. }) => {
                match serde_json::from_slice::<Rejection>(&rejection) {
                    Ok(rejection) => Answer::Rejected { rejection, replayed: true },
                    Err(error) => Answer::Failed(EngineError::Corrupt(format!(
                        "the remembered rejection of request {request_id} does not decode: {error}"
                    ))),
                }
            }
            None => match command::decide(projections.state(), &request.command, now) {
                Ok(decided) => {
                    let first_seq = batch.next_seq;
                    let recorded = record(
                        projections,
                        &mut self.sealer,
                        decided,
                        Some((&request.request_id, &digest)),
                        batch,
                    );
                    let last_seq = batch.next_seq - 1;
                    batch
                        .records
                        .insert(request_id, RequestRecord::Committed { digest, first_seq, last_seq });
                    Answer::Committed(recorded)
                }
                Err(rejection) => {
                    if rejection.is_remembered() {
                        let bytes = serde_json::to_vec(&rejection).expect("rejections serialize");
                        batch
                            .records
                            .insert(request_id, RequestRecord::Rejected { digest, rejection: bytes });
                    }
                    Answer::Rejected { rejection, replayed: false }
                }
            },
        };
        batch.answers.push((reply, answer));
    }

    /// Ends a batch. After a storage failure its callers are answered so and what is handed
    /// over is empty.
    fn close(&mut self, batch: Building) -> Decided {
        let Building { next_seq, next_time, mut events, records, mut answers, .. } = batch;
        let mut records: Vec<(String, RequestRecord)> = records.into_iter().collect();
        if let Some(failure) = self.failed.get() {
            refuse(std::mem::take(&mut answers), &failure.clone());
            (events, records) = (Vec::new(), Vec::new());
        }
        if !events.is_empty() {
            self.head_seq = next_seq - 1;
            assert!(self.durability.head() <= self.head_seq, "decided >= durable");
            self.head_time = Some(Timestamp::from_micros(next_time - 1));
        }
        // Committed requests are in the state's index already; the log is their record.
        let rejections: Vec<(String, RequestRecord)> = records
            .into_iter()
            .filter(|(_, record)| matches!(record, RequestRecord::Rejected { .. }))
            .collect();
        for (request_id, record) in &rejections {
            self.rejections.insert(request_id.clone(), record.clone());
        }
        Decided { events, rejections, answers, expected_head: self.head_seq }
    }

    /// What is known of a request id before its request is decided: its record in this batch,
    /// among the remembered rejections, or in the index of committed requests. An index
    /// candidate decided in an earlier batch is confirmed by its first event's request id, read
    /// from the log once durable (waiting for it here, under the lock, is safe: the batch is
    /// with the committer, which needs nothing of the writer to finish it).
    fn lookup(
        &self,
        projections: &Projections,
        batch: &Building,
        request_id: &str,
    ) -> Result<Option<RequestRecord>, EngineError> {
        if let Some(record) = batch.records.get(request_id).or_else(|| self.rejections.get(request_id)) {
            return Ok(Some(record.clone()));
        }
        for first_seq in projections.requests().candidates(request_id) {
            // This batch's own requests are in its records: a candidate here is another id.
            if first_seq >= batch.first_seq {
                continue;
            }
            self.durability.wait_for(first_seq)?;
            if let Some(record) = committed_record(&self.reader, first_seq, request_id)? {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }
}

/// Answers every request of a job with `error()`, and a job that is no request as a writer
/// that is not there would.
fn answer_all(job: Job, error: impl Fn() -> EngineError) {
    match job {
        Job::Request(_, _, reply) => reply(Err(error())),
        Job::Batch(requests) => {
            for (_, _, reply) in requests {
                reply(Err(error()));
            }
        }
        Job::Replicated(_, reply) => reply(Err(EngineError::Stopped)),
        Job::Promote(_, reply) => reply(Err(EngineError::Stopped)),
        Job::Shutdown => {}
    }
}

impl Writer {
    /// A follower's loop: writes and applies the primary's log as it is given, refuses every
    /// request, until it is promoted (`true`: the writer goes on as the primary) or stopped.
    fn follow(&mut self, jobs: &Receiver<Job>) -> bool {
        for job in jobs {
            match job {
                Job::Replicated(replicated, reply) => reply(self.apply_replicated(replicated)),
                Job::Promote(replica, reply) => {
                    let store = &self.stages.as_ref().expect("a follower's stages are not started").store;
                    match catch_up_replica(store, replica.as_ref()) {
                        Ok(()) => {
                            tracing::info!(head_seq = self.head_seq, "promoted: this node is the primary");
                            self.config.replica = Some(replica);
                            self.role.lead();
                            reply(Ok(()));
                            return true;
                        }
                        Err(error) => reply(Err(error)),
                    }
                }
                Job::Shutdown => return false,
                request => answer_all(request, || self.role.not_primary()),
            }
        }
        false
    }

    /// Writes a piece of the primary's log that continues this one (what it already holds is
    /// skipped), shows it, and applies it to the one state.
    fn apply_replicated(&mut self, replicated: Replicated) -> Result<u64, EngineError> {
        let Replicated { mut events, rejections } = replicated;
        let Stages { store, applier } = self.stages.as_mut().expect("a follower's stages are not started");
        let first_seq = events.first().map_or(store.head_seq() + 1, |event| event.seq);
        if first_seq <= store.head_seq() {
            // What this disk holds already is skipped. Where it holds other events than the
            // log, its tail is a deposed primary's last writes, which no replica took and so
            // nobody was answered: they are discarded and the state rebuilt without them.
            let mut diverged = None;
            for event in events.iter().filter(|event| event.seq <= store.head_seq()) {
                if store.event(event.seq)?.map(|local| local.hash) != Some(event.hash) {
                    diverged = Some(event.seq);
                    break;
                }
            }
            if let Some(seq) = diverged {
                tracing::warn!(
                    from = seq,
                    to = store.head_seq(),
                    "discarding the tail the replicated log does not hold"
                );
                store.discard_after(seq - 1)?;
                let mut rebuilt = Projections::new();
                crate::snapshot::catch_up(&self.reader, &mut rebuilt, None, &mut |_, _| {})?;
                self.head_time = rebuilt.head_time();
                *write_lock(&self.projections) = rebuilt;
                self.head_seq = store.head_seq();
                self.sealer = store.sealer();
                self.durability.rewind(store.head_seq());
            }
            events.retain(|event| event.seq > store.head_seq());
            if events.is_empty() {
                return Ok(store.head_seq());
            }
        }
        ledger::check_continues(store.head_seq(), store.head_hash(), &events).map_err(|broken| {
            EngineError::Corrupt(format!(
                "the replicated log breaks at seq {}: {}",
                broken.seq, broken.reason
            ))
        })?;
        let recorded: Vec<Recorded> = events.iter().map(decode_event).collect::<Result<_, _>>()?;
        store.commit_sealed(&events, rejections.clone())?;
        let (previous, head) = (self.head_seq, store.head_seq());
        {
            let mut projections = write_lock(&self.projections);
            for event in &recorded {
                projections.apply(event.seq, event.recorded_at, &event.event, event.request_id.as_ref());
            }
        }
        self.rejections.extend(rejections);
        self.head_seq = head;
        self.sealer = store.sealer();
        if let Some(last) = recorded.last() {
            self.head_time = Some(last.recorded_at);
        }
        if let Some(every) = applier.snapshot_every_events.filter(|every| *every > 0) {
            if head / every > previous / every {
                let _ = applier.snapshots.try_send(head);
            }
        }
        self.durability.advance(head);
        Ok(head)
    }
}

/// Before a replicated engine writes, its replica must hold exactly this disk's log: what a
/// crash or a stall left on this disk alone is appended first. A replica ahead of this disk, or
/// on another chain at this disk's place, means another primary has written: `Fenced`.
fn catch_up_replica(store: &Store, replica: &dyn Replica) -> Result<(), EngineError> {
    let Some(ledger_id) = store.ledger_id()? else { return Ok(()) };
    let replication = |error: ReplicaError| EngineError::Replication(Arc::new(error));
    let fenced = |reason: String| replication(ReplicaError::Fenced(reason));
    let (replicated, hash) = replica.head(&ledger_id).map_err(replication)?;
    let local = store.head_seq();
    if replicated > local {
        return Err(fenced(format!(
            "the replicated log of ledger {ledger_id} reaches seq {replicated} and this disk seq {local}: \
             another primary has written since; this node may only follow"
        )));
    }
    if replicated > 0 && store.event(replicated)?.map(|event| event.hash) != Some(hash) {
        return Err(fenced(format!(
            "the replicated log of ledger {ledger_id} and this disk differ at seq {replicated}: \
             this disk holds writes no replica took; this node may only follow"
        )));
    }
    if replicated < local {
        tracing::warn!(from = replicated + 1, to = local, "giving the replica the tail only this disk holds");
        let tail: Vec<StoredEvent> = store.events(replicated).collect::<Result<_, _>>()?;
        replica.append(&Commit { events: &tail, rejections: &[] }).map_err(replication)?;
    }
    Ok(())
}

/// The record of the request that wrote the events from `first_seq` on, if its id is
/// `request_id`: its digest and its last event's seq, as the log says.
fn committed_record(
    reader: &ledger::Reader,
    first_seq: u64,
    request_id: &str,
) -> Result<Option<RequestRecord>, EngineError> {
    let mut digest = None;
    let mut last_seq = first_seq;
    for stored in reader.events(first_seq - 1) {
        let stored = stored?;
        let fields = stored.fields()?;
        if fields.request_id != Some(request_id) {
            break;
        }
        if digest.is_none() {
            digest = fields.request_digest.map(hex::encode);
        }
        last_seq = stored.seq;
    }
    Ok(digest.map(|digest| RequestRecord::Committed { digest, first_seq, last_seq }))
}

impl Committer {
    fn run(mut self, batches: Receiver<Decided>) {
        for batch in batches {
            self.commit(batch);
        }
        if let Some((to_replicator, thread)) = self.replicator.take() {
            drop(to_replicator);
            crate::join_thread(thread);
        }
        tracing::info!(head_seq = self.store.head_seq(), "committer stopped");
    }

    /// Writes one batch, flushes and fsyncs once, then hands it on to be shown and answered
    /// (replicated, to be replicated first).
    fn commit(&mut self, batch: Decided) {
        let Decided { events, rejections, answers, expected_head } = batch;
        if let Some(failure) = self.failed.get() {
            // Decided on top of a batch that never became durable.
            refuse(answers, &failure.clone());
            return;
        }
        let first_seq = self.store.head_seq() + 1;
        if events.is_empty() && rejections.is_empty() {
            self.hand_on(Durable { first_seq, expected_head, answers });
            return;
        }
        let started = std::time::Instant::now();
        if let Some((to_replicator, _)) = &self.replicator {
            // Replicated, the batch is shown to readers only once the replica holds it too.
            if let Err(error) = self.store.commit_unshown(&events, rejections.clone()) {
                fail(&self.failed, &self.serving, EngineError::from(error), answers);
                return;
            }
            assert_eq!(self.store.head_seq(), expected_head, "the store numbers events as the writer did");
            let written = Written { events, rejections, answers, first_seq, expected_head, started };
            if let Err(unsent) = to_replicator.send(written) {
                refuse(unsent.into_inner().answers, &EngineError::Stopped);
            }
            return;
        }
        if let Err(error) = self.store.commit_sealed(&events, rejections) {
            fail(&self.failed, &self.serving, EngineError::from(error), answers);
            return;
        }
        assert_eq!(self.store.head_seq(), expected_head, "the store numbers events as the writer did");
        if let Some(observer) = &self.config.observer {
            observer.committed(answers.len(), events.len(), started.elapsed().as_secs_f64(), expected_head);
        }
        // From here readers see the batch.
        self.durability.advance(expected_head);
        self.hand_on(Durable { first_seq, expected_head, answers });
    }

    fn hand_on(&self, durable: Durable) {
        if let Err(unsent) = self.applier.send(durable) {
            refuse(unsent.into_inner().answers, &EngineError::Stopped);
        }
    }
}

impl Replicator {
    fn run(self, written: Receiver<Written>) {
        // Batches written while one is retried wait here, their callers already answered.
        let mut pending = std::collections::VecDeque::new();
        while let Some(batch) = pending.pop_front().or_else(|| written.recv().ok()) {
            self.replicate_batch(batch, &written, &mut pending);
        }
    }

    /// Appends one written batch to the replica, then shows it, moves the durable head and
    /// hands it to be answered.
    fn replicate_batch(
        &self,
        batch: Written,
        written: &Receiver<Written>,
        pending: &mut std::collections::VecDeque<Written>,
    ) {
        let Written { events, rejections, answers, first_seq, expected_head, started } = batch;
        if let Some(failure) = self.failed.get() {
            refuse(answers, &failure.clone());
            return;
        }
        let commit = Commit { events: &events, rejections: &rejections };
        let answers = match self.replicate(&commit, answers, written, pending) {
            Ok(answers) => answers,
            Err(error) => {
                fail(&self.failed, &self.serving, error, Vec::new());
                return;
            }
        };
        self.shower.show(expected_head);
        if let Some(observer) = &self.config.observer {
            observer.committed(answers.len(), events.len(), started.elapsed().as_secs_f64(), expected_head);
        }
        // From here readers see the batch.
        self.durability.advance(expected_head);
        if let Err(unsent) = self.applier.send(Durable { first_seq, expected_head, answers }) {
            refuse(unsent.into_inner().answers, &EngineError::Stopped);
        }
    }
}

/// The longest pause between two attempts to give the replica a batch it could not take.
const REPLICATE_RETRY_MAX: Duration = Duration::from_secs(1);

impl Replicator {
    /// Gives the replica one batch, already on the local disk. While the replica is
    /// unavailable past `EngineConfig::replicate_grace`, the batch's callers are told the outcome is unknown (it may yet be
    /// replicated, and a retry under the same request id is safe), the engine refuses new
    /// requests (`Durability::stall`), and the batch is offered again until it is taken: only
    /// then does the engine take requests again. Returns the callers still to be answered; an
    /// error when the replica fences this primary off, or the engine stops meanwhile.
    ///
    /// The batches the committer writes meanwhile are taken into `pending` as they come, their
    /// callers answered so too, and appended after this one.
    fn replicate(
        &self,
        commit: &Commit<'_>,
        answers: Vec<(Reply, Answer)>,
        written: &Receiver<Written>,
        pending: &mut std::collections::VecDeque<Written>,
    ) -> Result<Vec<(Reply, Answer)>, EngineError> {
        let replica = &self.replica;
        let mut answers = Some(answers);
        let mut pause = Duration::from_millis(20);
        let started = std::time::Instant::now();
        loop {
            let error = match replica.append(commit) {
                Ok(()) => {
                    if answers.is_none() {
                        tracing::info!("the replica took the log again; taking requests");
                        self.durability.resume();
                    }
                    return Ok(answers.unwrap_or_default());
                }
                Err(error @ ReplicaError::Fenced(_)) => {
                    let error = EngineError::Replication(Arc::new(error));
                    refuse(answers.unwrap_or_default(), &error);
                    return Err(error);
                }
                Err(error) => EngineError::Replication(Arc::new(error)),
            };
            if answers.is_some() && started.elapsed() >= self.config.replicate_grace {
                tracing::warn!(%error, "the replica does not take the log; refusing requests while it is retried");
                self.durability.stall(error.clone());
                refuse(answers.take().unwrap_or_default(), &error);
            }
            if answers.is_none() {
                while let Ok(mut next) = written.try_recv() {
                    refuse(std::mem::take(&mut next.answers), &error);
                    pending.push_back(next);
                }
            }
            if self.durability.is_stopping() {
                return Err(error);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(REPLICATE_RETRY_MAX);
        }
    }
}

/// The first failure to make a batch durable (the store's, or the replica's): the engine stops
/// writing and answers every caller so.
fn fail(
    failed: &OnceLock<EngineError>,
    serving: &AtomicBool,
    error: EngineError,
    answers: Vec<(Reply, Answer)>,
) {
    tracing::error!(%error, "the writer stops writing");
    let _ = failed.set(error.clone());
    serving.store(false, Ordering::Release);
    refuse(answers, &error);
}

/// Gives every caller of a batch the same error.
fn refuse(answers: Vec<(Reply, Answer)>, error: &EngineError) {
    for (reply, _) in answers {
        reply(Err(error.clone()));
    }
}

impl Applier {
    fn run(self, batches: Receiver<Durable>) {
        for batch in batches {
            self.apply(batch);
        }
        // Let a snapshot in progress finish before the store closes.
        drop(self.snapshots);
        crate::join_thread(self.snapshotter);
    }

    /// Answers the callers of a durable batch (the readers already see it).
    fn apply(&self, batch: Durable) {
        let Durable { first_seq, expected_head, answers } = batch;
        assert!(
            self.reader.head_seq().is_ok_and(|durable| expected_head <= durable),
            "durable >= applied: a batch is answered only once the store's durable head has passed it"
        );
        if expected_head >= first_seq {
            if let Some(every) = self.snapshot_every_events {
                // A multiple of `every` fell inside this batch: snapshot the state after it.
                if every > 0 && expected_head / every > (first_seq - 1) / every {
                    let _ = self.snapshots.try_send(expected_head);
                }
            }
        }
        for (reply, answer) in answers {
            let outcome = match answer {
                Answer::Committed(events) => Ok(Outcome::Committed { events, replayed: false }),
                Answer::Replay { first_seq, last_seq } => self
                    .read_range(first_seq, last_seq)
                    .map(|events| Outcome::Committed { events, replayed: true }),
                Answer::Rejected { rejection, replayed } => Ok(Outcome::Rejected { rejection, replayed }),
                Answer::Preview(charge) => Ok(Outcome::Preview { charge }),
                Answer::Failed(error) => Err(error),
            };
            reply(outcome);
        }
    }

    fn read_range(&self, first_seq: u64, last_seq: u64) -> Result<Vec<Recorded>, EngineError> {
        (first_seq..=last_seq)
            .map(|seq| {
                let stored = self
                    .reader
                    .event(seq)?
                    .ok_or_else(|| EngineError::Corrupt(format!("seq {seq} is missing")))?;
                decode_event(&stored)
            })
            .collect()
    }
}

/// Folds decided events into the one state (once each) and seals them into the batch.
fn record(
    projections: &mut Projections,
    sealer: &mut Sealer,
    decided: Vec<Event>,
    request: Option<(&domain::RequestId, &str)>,
    batch: &mut Building,
) -> Vec<Recorded> {
    let mut recorded = Vec::with_capacity(decided.len());
    for event in decided {
        let seq = batch.next_seq;
        let recorded_at = Timestamp::from_micros(batch.next_time);
        batch.next_seq += 1;
        batch.next_time += 1;
        let request_id = request.map(|(id, _)| id);
        projections.apply(seq, recorded_at, &event, request_id);
        let new = crate::envelope::new_event(
            recorded_at,
            &event,
            request.map(|(id, digest)| (id.as_str().to_owned(), digest.to_owned())),
        )
        .expect("request digests are 32 hex digits");
        let sealed = sealer.seal(&new);
        debug_assert_eq!(sealed.seq, seq, "the sealer numbers events as the writer does");
        batch.events.push(sealed);
        recorded.push(Recorded { seq, recorded_at, event, request_id: request_id.cloned() });
    }
    recorded
}

fn record_digest(record: &RequestRecord) -> &str {
    match record {
        RequestRecord::Committed { digest, .. } | RequestRecord::Rejected { digest, .. } => digest,
    }
}

/// Decodes a stored event, with the id of the request that wrote it.
pub fn decode_event(stored: &ledger::StoredEvent) -> Result<Recorded, EngineError> {
    recorded(stored, &stored.fields()?)
}

/// As `decode_event`, from the event's fields already parsed.
pub(crate) fn recorded(
    stored: &ledger::StoredEvent,
    fields: &ledger::Fields<'_>,
) -> Result<Recorded, EngineError> {
    let corrupt = |reason: String| EngineError::Corrupt(format!("seq {}: {reason}", stored.seq));
    let event =
        Event::from_binary(fields.kind, u32::from(fields.version), fields.payload).map_err(corrupt)?;
    let request_id = match fields.request_id {
        Some(id) => Some(domain::RequestId::new(id).ok_or_else(|| corrupt("a malformed request id".into()))?),
        None => None,
    };
    Ok(Recorded {
        seq: stored.seq,
        recorded_at: Timestamp::from_micros(fields.recorded_at),
        event,
        request_id,
    })
}

/// An institution acts only for itself: on its own settlements, as the writer's state knows
/// them (a settlement created earlier in the same batch included).
fn check_origin(state: &command::State, command: &Command, origin: &Origin) -> Result<(), Rejection> {
    let Some(institution) = &origin.institution else { return Ok(()) };
    let acting_for = match command {
        Command::Settle { institution, .. } => Some(institution),
        Command::Capture { settlement_id, .. }
        | Command::Void { settlement_id }
        | Command::Refund { settlement_id, .. } => {
            state.settlements.get(settlement_id).map(|s| &s.institution)
        }
        _ => None,
    };
    match acting_for {
        Some(owner) if owner != institution => {
            Err(Rejection::new(Code::Forbidden, "this token may not do this"))
        }
        _ => Ok(()),
    }
}

fn write_lock(projections: &RwLock<Projections>) -> std::sync::RwLockWriteGuard<'_, Projections> {
    projections.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn read_lock(projections: &RwLock<Projections>) -> std::sync::RwLockReadGuard<'_, Projections> {
    projections.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The durable head: the last seq flushed and fsynced. The committer moves it; readers wait
/// on it for a record a batch in flight changed.
///
/// The pipeline's invariant, asserted where each moves (once a batch, so in release builds
/// too): **decided ≥ durable ≥ applied**. The writer's head (the last seq decided) is never
/// behind the durable head, the durable head only moves forward, and the applier answers a
/// batch only once the store's durable head has passed its last event.
pub(crate) struct Durability {
    head: Mutex<u64>,
    moved: Condvar,
    failed: Arc<OnceLock<EngineError>>,
    serving: Arc<AtomicBool>,
    /// Set while the replica does not take the log (`Committer::replicate`): requests are
    /// refused with it, and nobody waits for the durable head meanwhile.
    stalled: Mutex<Option<EngineError>>,
    /// Set when the engine is asked to stop: a batch the replica does not take is then given up.
    stopping: AtomicBool,
}

/// How often a reader waiting for the durable head looks whether the writer has stopped.
const DURABLE_WAIT_POLL: Duration = Duration::from_millis(50);

impl Durability {
    fn new(head: u64, failed: Arc<OnceLock<EngineError>>, serving: Arc<AtomicBool>) -> Durability {
        Durability {
            head: Mutex::new(head),
            moved: Condvar::new(),
            failed,
            serving,
            stalled: Mutex::new(None),
            stopping: AtomicBool::new(false),
        }
    }

    fn stall(&self, error: EngineError) {
        *self.stalled.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
        self.moved.notify_all();
    }

    fn resume(&self) {
        *self.stalled.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Why requests are refused for now, if they are (see `stall`).
    pub(crate) fn stalled(&self) -> Option<EngineError> {
        self.stalled.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A follower's: the log was cut back to `head` (`Store::discard_after`).
    fn rewind(&self, head: u64) {
        *self.head.lock().unwrap_or_else(|p| p.into_inner()) = head;
    }

    /// Fails the writer from outside (`Engine::depose`), as a storage failure would.
    pub(crate) fn fail(&self, error: EngineError) {
        tracing::error!(%error, "the writer stops writing");
        let _ = self.failed.set(error);
        self.serving.store(false, Ordering::Release);
        self.moved.notify_all();
    }

    pub(crate) fn request_stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    pub(crate) fn head(&self) -> u64 {
        *self.head.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn advance(&self, head: u64) {
        let mut durable = self.head.lock().unwrap_or_else(|p| p.into_inner());
        assert!(head >= *durable, "the durable head only moves forward: {head} < {}", *durable);
        *durable = head;
        drop(durable);
        self.moved.notify_all();
    }

    /// Read access to the whole state once every event applied to it is durable: the writer
    /// waits while this is held (it hands its batch over first, see `Writer::take`).
    pub(crate) fn read_all_durable<'a>(
        &self,
        projections: &'a RwLock<Projections>,
    ) -> Result<std::sync::RwLockReadGuard<'a, Projections>, EngineError> {
        let projections = read_lock(projections);
        self.wait_for(projections.head_seq())?;
        Ok(projections)
    }

    /// Waits until `seq` is durable. Fails once the writer has stopped short of it (a storage
    /// failure, or a shutdown): what it decided beyond the durable head will never be.
    pub(crate) fn wait_for(&self, seq: u64) -> Result<u64, EngineError> {
        let mut head = self.head.lock().unwrap_or_else(|p| p.into_inner());
        while *head < seq {
            if let Some(stalled) = self.stalled() {
                return Err(stalled);
            }
            if !self.serving.load(Ordering::Acquire) {
                return Err(match self.failed.get() {
                    Some(failure) => failure.clone(),
                    None => EngineError::Stopped,
                });
            }
            head = self.moved.wait_timeout(head, DURABLE_WAIT_POLL).unwrap_or_else(|p| p.into_inner()).0;
        }
        Ok(*head)
    }
}

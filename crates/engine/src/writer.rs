//! The writer thread: recovery at start, then the group-commit loop.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use domain::{Code, Command, Event, Origin, Rejection, Request, SettlementId, Timestamp, EVENT_VERSION};
use ledger::{NewEvent, RequestRecord, Store, VerifyFrom};
use projection::Projections;

use crate::{Clock, EngineConfig, EngineError, Job, Outcome, Recorded, Reply};

/// How long the writer sleeps at most when idle, so hold expiry is never late by more.
const IDLE_WAIT_MILLIS_MAX: u64 = 200;

pub(crate) struct Writer {
    store: Store,
    clock: Box<dyn Clock>,
    config: EngineConfig,
    /// Set on the first storage failure: from then on every request is refused.
    failed: Option<String>,
    /// Shared with the `Engine`: true while this writer accepts work (not failed, not stopped).
    serving: Arc<AtomicBool>,
    /// Where copies of the projections go to be snapshotted, off the writer's thread.
    snapshots: SyncSender<Projections>,
    snapshotter: std::thread::JoinHandle<()>,
    /// The writer's own decision state, ahead of the shared projections by at most the batch
    /// being committed: readers of the projections never wait for an fsync, and never see a
    /// batch before it is durable.
    state: command::State,
    /// `recorded_at` of the last event written.
    head_time: Option<Timestamp>,
}

/// A thread that serializes and stores snapshots; one at a time, later ones skipped while busy.
fn spawn_snapshotter(reader: ledger::Reader) -> (SyncSender<Projections>, std::thread::JoinHandle<()>) {
    let (sender, receiver) = sync_channel::<Projections>(1);
    let handle = std::thread::Builder::new()
        .name("gongji-snapshot".into())
        .spawn(move || {
            for projections in receiver {
                match crate::take_snapshot(&reader, &projections) {
                    Ok(seq) => tracing::info!(seq, "snapshot stored"),
                    Err(error) => tracing::warn!(%error, "snapshot not stored"),
                }
            }
        })
        .expect("the snapshot thread starts");
    (sender, handle)
}

/// What a request will be answered once the batch is durable.
enum Pending {
    Committed(Vec<Recorded>),
    Replay { first_seq: u64, last_seq: u64 },
    Rejected(Rejection, bool),
    Preview(domain::Charge),
}

impl Writer {
    /// Opens the store, verifies it, replays it into fresh projections and mends the
    /// idempotency index for the tail written since the last checkpoint.
    pub(crate) fn recover(
        dir: &Path,
        clock: Box<dyn Clock>,
        config: EngineConfig,
        serving: Arc<AtomicBool>,
    ) -> Result<(Writer, Projections, ledger::Reader), EngineError> {
        let store = Store::open(dir).map_err(storage)?;
        let report = store.verify(VerifyFrom::Checkpoint).map_err(storage)?;
        if !report.ok {
            let broken = report.broken.map(|b| format!("seq {}: {}", b.seq, b.reason)).unwrap_or_default();
            return Err(EngineError::Corrupt(broken));
        }
        let checkpoint_seq = store.checkpoint_seq().map_err(storage)?;
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
        // Request records are written beside the log, not in the same atomic batch: after a
        // crash the log may hold a command whose record was lost. Restore those from the log.
        let mut missing: BTreeMap<String, RequestRecord> = BTreeMap::new();
        for stored in store.events(checkpoint_seq) {
            let stored = stored.map_err(storage)?;
            let (recorded, request) = decode(&stored)?;
            if let Some((request_id, digest)) = request {
                missing
                    .entry(request_id)
                    .and_modify(|r| {
                        if let RequestRecord::Committed { last_seq, .. } = r {
                            *last_seq = recorded.seq;
                        }
                    })
                    .or_insert(RequestRecord::Committed {
                        digest,
                        first_seq: recorded.seq,
                        last_seq: recorded.seq,
                    });
            }
        }
        let mut store = store;
        if !missing.is_empty() {
            store.commit(Vec::new(), missing.into_iter().collect()).map_err(storage)?;
        }
        store.set_checkpoint(store.head_seq(), store.head_hash()).map_err(storage)?;
        tracing::info!(head_seq = store.head_seq(), "ledger recovered");
        let (snapshots, snapshotter) = spawn_snapshotter(reader.clone());
        let (state, head_time) = (projections.state().clone(), projections.head_time());
        let writer =
            Writer { store, clock, config, failed: None, serving, snapshots, snapshotter, state, head_time };
        Ok((writer, projections, reader))
    }

    pub(crate) fn run(mut self, receiver: Receiver<Job>, projections: Arc<RwLock<Projections>>) {
        let mut last_batch = 0usize;
        loop {
            let wait = self.idle_wait();
            let mut jobs = Vec::new();
            match receiver.recv_timeout(wait) {
                Ok(job) => jobs.push(job),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Under load (the last batch held more than one request), linger briefly for the
            // callers just answered to send their next request, so one fsync serves them all.
            let linger = if last_batch > 1 { self.config.drain_micros_max } else { 0 };
            let deadline = std::time::Instant::now() + Duration::from_micros(linger);
            while jobs.len() < self.config.batch_commands_max {
                match receiver.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => {
                        let left = deadline.saturating_duration_since(std::time::Instant::now());
                        if left.is_zero() || jobs.len() >= last_batch {
                            break;
                        }
                        match receiver.recv_timeout(left) {
                            Ok(job) => jobs.push(job),
                            Err(_) => break,
                        }
                    }
                }
            }
            last_batch = jobs.len();
            let shutdown = jobs.iter().any(|job| matches!(job, Job::Shutdown));
            let requests: Vec<(Request, Origin, Reply)> = jobs
                .into_iter()
                .filter_map(|job| match job {
                    Job::Request(request, origin, reply) => Some((request, origin, reply)),
                    Job::Shutdown => None,
                })
                .collect();
            self.process(requests, &projections);
            if shutdown {
                // Answer what was queued behind the shutdown, then stop.
                while let Ok(job) = receiver.try_recv() {
                    if let Job::Request(_, _, reply) = job {
                        reply(Err(EngineError::Stopped));
                    }
                }
                break;
            }
        }
        self.serving.store(false, Ordering::Release);
        tracing::info!(head_seq = self.store.head_seq(), "writer stopped");
        // Let a snapshot in progress finish before the store closes.
        drop(self.snapshots);
        let _ = self.snapshotter.join();
    }

    fn idle_wait(&self) -> Duration {
        let next_expiry = self.state.hold_expiry.first().map(|(at, _)| *at);
        let max = Duration::from_millis(IDLE_WAIT_MILLIS_MAX);
        match next_expiry {
            Some(at) => {
                let micros = at.micros().saturating_sub(self.clock.now().micros()).max(1000);
                Duration::from_micros(micros as u64).min(max)
            }
            None => max,
        }
    }

    /// One group commit: decide every request in order, write once, then answer.
    fn process(&mut self, requests: Vec<(Request, Origin, Reply)>, projections: &RwLock<Projections>) {
        if let Some(failure) = &self.failed {
            for (_, _, reply) in requests {
                reply(Err(EngineError::Storage(failure.clone())));
            }
            return;
        }
        let head_time = self.head_time.map_or(i64::MIN, |t| t.micros());
        let mut next_time = self.clock.now().micros().max(head_time.saturating_add(1));
        let mut next_seq = self.store.head_seq() + 1;
        let mut events: Vec<NewEvent> = Vec::new();
        let mut records: BTreeMap<String, RequestRecord> = BTreeMap::new();
        let mut answers: Vec<(Reply, Pending)> = Vec::with_capacity(requests.len());
        let mut batch: Vec<Recorded> = Vec::new();

        // Holds past their timeout are released first, by the clock, with no request id.
        let due: Vec<SettlementId> = self
            .state
            .hold_expiry
            .iter()
            .take_while(|(at, _)| at.micros() <= next_time)
            .take(self.config.batch_commands_max)
            .map(|(_, id)| id.clone())
            .collect();
        for settlement_id in due {
            let command = Command::Expire { settlement_id };
            let now = Timestamp::from_micros(next_time);
            if let Ok(decided) = command::decide(&self.state, &command, now) {
                let recorded =
                    record(&mut self.state, decided, None, &mut next_seq, &mut next_time, &mut events);
                batch.extend(recorded);
            }
        }

        for (request, origin, reply) in requests {
            let now = Timestamp::from_micros(next_time);
            // The role and shape checks come before the request id is looked up, and their
            // refusals are not remembered (api.md §2's order of checks); those against the
            // clock come after it (see `command::check_shape`).
            if let Err(rejection) = check_origin(&self.state, &request.command, &origin)
                .and_then(|()| command::check_shape(&request.command))
            {
                answers.push((reply, Pending::Rejected(rejection, false)));
                continue;
            }
            if request.command.is_preview() {
                let pending = match command::decide(&self.state, &request.command, now) {
                    Ok(mut decided) => match decided.pop() {
                        Some(Event::Settled(charge)) => Pending::Preview(charge),
                        _ => unreachable!("a preview decides one settlement"),
                    },
                    Err(rejection) => Pending::Rejected(rejection, false),
                };
                answers.push((reply, pending));
                continue;
            }
            let digest = origin.digest.clone().unwrap_or_else(|| request.digest());
            let request_id = request.request_id.as_str().to_owned();
            let known = match records.get(&request_id) {
                Some(record) => Some(record.clone()),
                None => match self.lookup(&request_id) {
                    Ok(known) => known,
                    Err(error) => {
                        answers.push((reply, Pending::Rejected(storage_rejection(&error), false)));
                        continue;
                    }
                },
            };
            let pending = match known {
                Some(record) if record_digest(&record) != digest => Pending::Rejected(
                    Rejection::new(
                        Code::IdempotencyConflict,
                        "this request_id was used for a different request",
                    )
                    .with("request_id", &request_id),
                    false,
                ),
                Some(RequestRecord::Committed { first_seq, last_seq, .. }) => {
                    Pending::Replay { first_seq, last_seq }
                }
                Some(RequestRecord::Rejected { rejection, .. }) => {
                    match serde_json::from_slice::<Rejection>(&rejection) {
                        Ok(rejection) => Pending::Rejected(rejection, true),
                        Err(error) => Pending::Rejected(storage_rejection(&error), false),
                    }
                }
                None => match command::decide(&self.state, &request.command, now) {
                    Ok(decided) => {
                        let first_seq = next_seq;
                        let recorded = record(
                            &mut self.state,
                            decided,
                            Some((&request_id, &digest)),
                            &mut next_seq,
                            &mut next_time,
                            &mut events,
                        );
                        records.insert(
                            request_id,
                            RequestRecord::Committed { digest, first_seq, last_seq: next_seq - 1 },
                        );
                        batch.extend(recorded.iter().cloned());
                        Pending::Committed(recorded)
                    }
                    Err(rejection) => {
                        if rejection.is_remembered() {
                            let bytes = serde_json::to_vec(&rejection).expect("rejections serialize");
                            records.insert(request_id, RequestRecord::Rejected { digest, rejection: bytes });
                        }
                        Pending::Rejected(rejection, false)
                    }
                },
            };
            answers.push((reply, pending));
        }

        if !events.is_empty() || !records.is_empty() {
            let expected_head = next_seq - 1;
            let event_count = events.len();
            let started = std::time::Instant::now();
            match self.store.commit(events, records.into_iter().collect()) {
                Ok(written) => {
                    // Durable: now the readers may see the batch.
                    let mut guard = projections.write().unwrap_or_else(|p| p.into_inner());
                    for recorded in &batch {
                        guard.apply(recorded.seq, recorded.recorded_at, &recorded.event);
                    }
                    let first_seq = written.first().map_or(expected_head + 1, |e| e.seq);
                    if let Some(every) = self.config.snapshot_every_events {
                        // A multiple of `every` fell inside this batch: snapshot the state after it.
                        if every > 0 && expected_head / every > (first_seq - 1) / every {
                            let _ = self.snapshots.try_send(guard.clone());
                        }
                    }
                    drop(guard);
                    if let Some(last) = batch.last() {
                        self.head_time = Some(last.recorded_at);
                    }
                    if let Some(observer) = &self.config.observer {
                        let seconds = started.elapsed().as_secs_f64();
                        observer.committed(answers.len(), event_count, seconds, expected_head);
                    }
                    assert_eq!(
                        self.store.head_seq(),
                        expected_head,
                        "the store numbers events as the writer did"
                    );
                    assert!(written.last().is_none_or(|e| e.seq == expected_head));
                }
                Err(error) => {
                    tracing::error!(%error, "storage failure: the writer stops writing");
                    let failure = error.to_string();
                    self.failed = Some(failure.clone());
                    self.serving.store(false, Ordering::Release);
                    for (reply, _) in answers {
                        reply(Err(EngineError::Storage(failure.clone())));
                    }
                    return;
                }
            }
        }
        for (reply, pending) in answers {
            let outcome = match pending {
                Pending::Committed(events) => Ok(Outcome::Committed { events, replayed: false }),
                Pending::Replay { first_seq, last_seq } => self
                    .read_range(first_seq, last_seq)
                    .map(|events| Outcome::Committed { events, replayed: true }),
                Pending::Rejected(rejection, _) if rejection.code == Code::StorageFailure => {
                    Err(EngineError::Storage(rejection.message))
                }
                Pending::Rejected(rejection, replayed) => Ok(Outcome::Rejected { rejection, replayed }),
                Pending::Preview(charge) => Ok(Outcome::Preview { charge }),
            };
            reply(outcome);
        }
    }

    /// The stored record of a request id, ignoring one whose events the log does not hold
    /// (its batch was lost in a crash before it was acknowledged).
    fn lookup(&self, request_id: &str) -> Result<Option<RequestRecord>, ledger::StorageError> {
        let Some(record) = self.store.request(request_id)? else { return Ok(None) };
        if let RequestRecord::Committed { first_seq, .. } = &record {
            let owner = match self.store.event(*first_seq)? {
                Some(stored) => stored.parts()?.request_id,
                None => None,
            };
            if owner.as_deref() != Some(request_id) {
                return Ok(None);
            }
        }
        Ok(Some(record))
    }

    fn read_range(&self, first_seq: u64, last_seq: u64) -> Result<Vec<Recorded>, EngineError> {
        (first_seq..=last_seq)
            .map(|seq| {
                let stored = self
                    .store
                    .event(seq)
                    .map_err(storage)?
                    .ok_or_else(|| EngineError::Corrupt(format!("seq {seq} is missing")))?;
                decode(&stored).map(|(recorded, _)| recorded)
            })
            .collect()
    }
}

/// Folds decided events into the writer's state and queues them for the log.
fn record(
    state: &mut command::State,
    decided: Vec<Event>,
    request: Option<(&str, &str)>,
    next_seq: &mut u64,
    next_time: &mut i64,
    events: &mut Vec<NewEvent>,
) -> Vec<Recorded> {
    let mut recorded = Vec::with_capacity(decided.len());
    for event in decided {
        let seq = *next_seq;
        let recorded_at = Timestamp::from_micros(*next_time);
        *next_seq += 1;
        *next_time += 1;
        state.evolve(&event, seq, recorded_at);
        events.push(NewEvent {
            recorded_at: recorded_at.to_string(),
            kind: event.kind(),
            version: EVENT_VERSION,
            request_id: request.map(|(id, _)| id.to_owned()),
            request_digest: request.map(|(_, digest)| digest.to_owned()),
            payload: serde_json::to_vec(&event).expect("events serialize"),
        });
        recorded.push(Recorded { seq, recorded_at, event });
    }
    recorded
}

fn record_digest(record: &RequestRecord) -> &str {
    match record {
        RequestRecord::Committed { digest, .. } | RequestRecord::Rejected { digest, .. } => digest,
    }
}

/// Decodes a stored envelope into the event and the request that wrote it.
pub fn decode(stored: &ledger::StoredEvent) -> Result<(Recorded, Option<(String, String)>), EngineError> {
    let parts = stored.parts().map_err(storage)?;
    let corrupt = |reason: String| EngineError::Corrupt(format!("seq {}: {reason}", stored.seq));
    let event = Event::decode(&parts.kind, parts.version, parts.payload.get().as_bytes()).map_err(corrupt)?;
    let recorded_at =
        Timestamp::parse(&parts.recorded_at).ok_or_else(|| corrupt("recorded_at is not a time".into()))?;
    let request = parts.request_id.zip(parts.request_digest);
    Ok((Recorded { seq: stored.seq, recorded_at, event }, request))
}

fn storage(error: impl std::fmt::Display) -> EngineError {
    EngineError::Storage(error.to_string())
}

fn storage_rejection(error: &dyn std::fmt::Display) -> Rejection {
    Rejection::new(Code::StorageFailure, error.to_string())
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

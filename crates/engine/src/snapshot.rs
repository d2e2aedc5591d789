//! Snapshots of the projections: a shortcut for start-up and time travel, never a source of
//! truth. A snapshot is the projections after event `seq`, serialized (MessagePack with field
//! names: self-describing, so fields the wire form leaves out when empty decode back), stored with
//! its digest and the log's hash at `seq`, and checked on load; a bad one is ignored and an
//! older one (or the log from the start) is used instead, so deleting them changes nothing
//! but speed.

use ledger::{Reader, Snapshot};
use projection::Projections;

use crate::{decode_event, EngineError};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("storage: {0}")]
    Storage(#[from] ledger::StorageError),
    #[error("the snapshot does not decode: {0}")]
    Decode(String),
    #[error("the snapshot says seq {found}, its key {expected}")]
    Mismatch { expected: u64, found: u64 },
}

/// Serializes `projections` (after event `seq`) and stores them.
pub fn take_snapshot(reader: &Reader, projections: &Projections) -> Result<u64, SnapshotError> {
    let seq = projections.head_seq();
    let log_hash = match reader.event(seq)? {
        Some(event) => event.hash,
        None => return Err(SnapshotError::Mismatch { expected: seq, found: 0 }),
    };
    let payload = rmp_serde::to_vec_named(projections).map_err(|e| SnapshotError::Decode(e.to_string()))?;
    reader.put_snapshot(&Snapshot { seq, log_hash, payload })?;
    Ok(seq)
}

/// The newest snapshot at or before `seq` that checks out, skipping (and logging) bad ones.
pub fn load_snapshot(reader: &Reader, seq: u64) -> Result<Option<Projections>, SnapshotError> {
    for candidate in reader.snapshot_seqs(seq)? {
        let loaded = reader.snapshot(candidate).map_err(SnapshotError::from).and_then(|snapshot| {
            let projections: Projections =
                rmp_serde::from_slice(&snapshot.payload).map_err(|e| SnapshotError::Decode(e.to_string()))?;
            if projections.head_seq() != candidate {
                return Err(SnapshotError::Mismatch { expected: candidate, found: projections.head_seq() });
            }
            Ok(projections)
        });
        match loaded {
            Ok(projections) => return Ok(Some(projections)),
            Err(error) => tracing::warn!(seq = candidate, %error, "ignoring a bad snapshot"),
        }
    }
    Ok(None)
}

/// Applies the log's events after the projections' head, up to `until_seq`, calling
/// `progress(done, total)` now and then.
pub fn catch_up(
    reader: &Reader,
    projections: &mut Projections,
    until_seq: Option<u64>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(), EngineError> {
    let total = until_seq.unwrap_or(reader.head_seq()?);
    let events = reader
        .events(projections.head_seq())
        .take_while(|e| e.as_ref().map_or(true, |e| e.seq <= total))
        .map(|e| e.map_err(EngineError::from));
    let decode_one = |stored: &mut ledger::StoredEvent| decode_event(stored);
    fold_decoded(events, decode_one, |recorded| {
        projections.apply(recorded.seq, recorded.recorded_at, &recorded.event, recorded.request_id.as_ref());
        if recorded.seq % CHUNK_EVENTS as u64 == 0 {
            progress(recorded.seq, total);
        }
        true
    })?;
    progress(projections.head_seq(), total);
    Ok(())
}

/// Events read and decoded per chunk, and chunks decoded ahead of the one being visited.
const CHUNK_EVENTS: usize = 8192;
const CHUNKS_AHEAD: usize = 2;

/// Calls `visit` with every event of `events`, decoded by `decode_one`, in log order, until it
/// returns `false`.
///
/// Reading the log and decoding it (JSON, the costly part, independent per event, so each
/// chunk is decoded in parallel) run on another thread, a few chunks ahead; visiting stays on
/// this thread, in order. The two overlap instead of taking turns. An event that cannot be
/// read or decoded is an error only when its turn comes, exactly as if the log were decoded
/// one event after the other.
pub fn fold_decoded<T: Send, E: Send>(
    events: impl Iterator<Item = Result<ledger::StoredEvent, E>> + Send,
    decode_one: fn(&mut ledger::StoredEvent) -> Result<T, E>,
    mut visit: impl FnMut(&T) -> bool,
) -> Result<(), E> {
    use rayon::prelude::*;
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<Result<T, E>>>(CHUNKS_AHEAD);
        scope.spawn(move || {
            let mut events = events;
            loop {
                let mut chunk = Vec::with_capacity(CHUNK_EVENTS);
                let mut read_error = None;
                for item in events.by_ref().take(CHUNK_EVENTS) {
                    match item {
                        Ok(stored) => chunk.push(stored),
                        Err(error) => {
                            read_error = Some(error);
                            break;
                        }
                    }
                }
                let last = chunk.len() < CHUNK_EVENTS || read_error.is_some();
                let mut decoded: Vec<Result<T, E>> =
                    chunk.into_par_iter().map(|mut stored| decode_one(&mut stored)).collect();
                decoded.extend(read_error.map(Err));
                // A closed channel means the visiting side has stopped: so does this one.
                if decoded.is_empty() || sender.send(decoded).is_err() || last {
                    return;
                }
            }
        });
        for chunk in receiver {
            for recorded in chunk {
                if !visit(&recorded?) {
                    return Ok(());
                }
            }
        }
        Ok(())
    })
}

/// The projections after event `until_seq` (the head when `None`) from the log alone.
pub fn replay_from_genesis(reader: &Reader, until_seq: Option<u64>) -> Result<Projections, EngineError> {
    let mut projections = Projections::new();
    catch_up(reader, &mut projections, until_seq, &mut |_, _| {})?;
    Ok(projections)
}

/// The projections after event `until_seq` (the head when `None`): the nearest good snapshot
/// plus the tail of the log.
pub fn replay(reader: &Reader, until_seq: Option<u64>) -> Result<Projections, EngineError> {
    let limit = match until_seq {
        Some(seq) => seq,
        None => reader.head_seq()?,
    };
    let mut projections = load_snapshot(reader, limit)?.unwrap_or_default();
    catch_up(reader, &mut projections, Some(limit), &mut |_, _| {})?;
    Ok(projections)
}

//! Snapshots of the projections: a shortcut for start-up and time travel, never a source of
//! truth. A snapshot is the projections after event `seq`, serialized (MessagePack with field
//! names: self-describing, so fields the wire form leaves out when empty decode back), stored with
//! its digest and the log's hash at `seq`, and checked on load; a bad one is ignored and an
//! older one (or the log from the start) is used instead, so deleting them changes nothing
//! but speed.

use ledger::{Reader, Snapshot};
use projection::Projections;

use crate::{decode, EngineError};

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
        Some(event) => event.hash()?,
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
    use rayon::prelude::*;
    // Reading the log and decoding it (JSON, the costly part, independent per event) run on
    // another thread, a chunk ahead, decoding each chunk in parallel; applying stays on this
    // thread, in log order. The two overlap instead of taking turns.
    const CHUNK_EVENTS: usize = 8192;
    const CHUNKS_AHEAD: usize = 2;
    let total = until_seq.unwrap_or(reader.head_seq().map_err(storage)?);
    let start = projections.head_seq();
    std::thread::scope(|scope| {
        let (sender, receiver) =
            std::sync::mpsc::sync_channel::<Result<Vec<crate::Recorded>, EngineError>>(CHUNKS_AHEAD);
        scope.spawn(move || {
            let mut events = reader.events(start).take_while(|e| e.as_ref().map_or(true, |e| e.seq <= total));
            loop {
                let chunk: Result<Vec<ledger::StoredEvent>, _> = events.by_ref().take(CHUNK_EVENTS).collect();
                let decoded = match chunk {
                    Ok(chunk) if chunk.is_empty() => return,
                    Ok(chunk) => chunk
                        .into_par_iter()
                        .map(|stored| decode(&stored).map(|(recorded, _)| recorded))
                        .collect::<Result<Vec<_>, _>>(),
                    Err(error) => Err(storage(error)),
                };
                let failed = decoded.is_err();
                // A closed channel means the applying side has stopped: so does this one.
                if sender.send(decoded).is_err() || failed {
                    return;
                }
            }
        });
        for decoded in receiver {
            for recorded in &decoded? {
                projections.apply(recorded.seq, recorded.recorded_at, &recorded.event);
            }
            progress(projections.head_seq(), total);
        }
        progress(projections.head_seq(), total);
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
        None => reader.head_seq().map_err(storage)?,
    };
    let mut projections = load_snapshot(reader, limit).map_err(storage)?.unwrap_or_default();
    catch_up(reader, &mut projections, Some(limit), &mut |_, _| {})?;
    Ok(projections)
}

fn storage(error: impl std::fmt::Display) -> EngineError {
    EngineError::Storage(error.to_string())
}

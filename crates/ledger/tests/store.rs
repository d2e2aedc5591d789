//! The sled store on real disk: segments, the hash chain, verification, tampering,
//! checkpoints, the idempotency index and the log's format.

use ledger::{chain_hash, verify_events, NewEvent, RequestRecord, StorageError, Store, VerifyFrom};
use sha2::{Digest, Sha256};

const DIGEST: [u8; 16] = [0xd1; 16];

fn event(n: u64, request: Option<&str>) -> NewEvent {
    NewEvent {
        recorded_at: 1_772_323_200_000_000 + n as i64,
        kind: 5,
        version: 1,
        request: request.map(|id| (id.to_owned(), DIGEST)),
        payload: format!("line {n}").into_bytes(),
    }
}

fn fill(store: &mut Store, batches: u64, per_batch: u64) {
    for b in 0..batches {
        let events = (0..per_batch).map(|i| event(b * per_batch + i, Some(&format!("r{b}")))).collect();
        let record = RequestRecord::Committed {
            digest: hex::encode(DIGEST),
            first_seq: store.head_seq() + 1,
            last_seq: store.head_seq() + per_batch,
        };
        store.commit(events, vec![(format!("r{b}"), record)]).unwrap();
    }
}

// Proves batches append in order, survive a reopen, verify, and keep a stable ledger id.
#[test]
fn append_reopen_verify() {
    let dir = tempfile::tempdir().unwrap();
    let ledger_id;
    {
        let mut store = Store::open(dir.path()).unwrap();
        fill(&mut store, 5, 3);
        assert_eq!(store.head_seq(), 15);
        ledger_id = store.ledger_id().unwrap().unwrap();
        assert_eq!(ledger_id.len(), 16);
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.head_seq(), 15);
    assert_eq!(store.ledger_id().unwrap().unwrap(), ledger_id);
    let seqs: Vec<u64> = store.events(0).map(|e| e.unwrap().seq).collect();
    assert_eq!(seqs, (1..=15).collect::<Vec<_>>());
    let report = store.verify(VerifyFrom::Genesis).unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!((report.head_seq, report.checked), (15, 15));
    assert_eq!(report.head_hash, hex::encode(store.head_hash()));
    assert_eq!(store.events(13).count(), 2);
}

// Proves a large group commit is stored as several segments of at most SEGMENT_BYTES_MAX,
// each keyed by its first seq, none of them a sled blob, and that every event reads back
// in order, one at a time and all together, and verifies after a reopen.
#[test]
fn a_large_commit_is_cut_into_bounded_segments() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<NewEvent> = (1..=1000)
        .map(|n| NewEvent { payload: vec![b'x'; 100 + (n as usize % 150)], ..event(n, None) })
        .collect();
    let written = {
        let mut store = Store::open(dir.path()).unwrap();
        store.commit(vec![event(0, Some("r0"))], Vec::new()).unwrap();
        store.commit(events, Vec::new()).unwrap()
    };
    let store = Store::open(dir.path()).unwrap();
    let segments: Vec<(u64, usize)> = store
        .raw_log()
        .iter()
        .map(|kv| {
            let (k, v) = kv.unwrap();
            (u64::from_be_bytes(k.as_ref().try_into().unwrap()), v.len())
        })
        .collect();
    assert!(segments.len() > 20, "{} segments", segments.len());
    assert_eq!(segments[0].0, 1);
    assert_eq!(segments[1].0, 2);
    assert!(segments.iter().all(|&(_, len)| len <= ledger::SEGMENT_BYTES_MAX), "{segments:?}");
    let read: Vec<_> = store.events(1).map(|e| e.unwrap()).collect();
    assert_eq!(read, written);
    for event in written.iter().step_by(97) {
        assert_eq!(store.event(event.seq).unwrap().as_ref(), Some(event));
    }
    let report = store.verify(VerifyFrom::Genesis).unwrap();
    assert!(report.ok && report.checked == 1001, "{report:?}");
    let blobs = std::fs::read_dir(dir.path().join("blobs")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(blobs, 0);
}

// Proves what is stored: one segment per group commit, keyed by its first seq, and
// hash = SHA-256(prev_hash ‖ canonical bytes) over bytes that carry every field.
#[test]
fn one_segment_per_commit_and_the_hash_rule() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let written = store.commit(vec![event(1, Some("r1")), event(2, None)], Vec::new()).unwrap();
    store.commit(vec![event(3, None)], Vec::new()).unwrap();
    let keys: Vec<u64> = store
        .raw_log()
        .iter()
        .keys()
        .map(|k| u64::from_be_bytes(k.unwrap().as_ref().try_into().unwrap()))
        .collect();
    assert_eq!(keys, vec![1, 3]);
    let first = &written[0];
    let fields = first.fields().unwrap();
    assert_eq!((fields.seq, fields.kind, fields.version, fields.request_id), (1, 5, 1, Some("r1")));
    assert_eq!(fields.request_digest, Some(&DIGEST));
    assert_eq!(fields.payload, b"line 1");
    let mut hasher = Sha256::new();
    hasher.update([0u8; 32]);
    hasher.update(&first.bytes);
    let expected: [u8; 32] = hasher.finalize().into();
    assert_eq!(first.hash, expected);
    assert_eq!(written[1].prev_hash, expected);
    assert_eq!(chain_hash(&expected, &written[1].bytes), written[1].hash);
    assert_eq!(written[1].fields().unwrap().request_id, None);
    assert_eq!(store.event(2).unwrap().unwrap(), written[1]);
    assert_eq!(store.event(3).unwrap().unwrap().prev_hash, written[1].hash);
}

// Proves a flipped byte in a stored event, a forged hash, or a deleted segment is found and
// named by seq.
#[test]
fn tampering_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    fill(&mut store, 4, 5);
    store.tamper(7, |event| *event.bytes.last_mut().unwrap() ^= 0x01);
    let report = store.verify(VerifyFrom::Genesis).unwrap();
    assert!(!report.ok);
    assert_eq!(report.broken.unwrap().seq, 7);

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    fill(&mut store, 4, 5);
    // A forger who rehashes the event still breaks the next event's link.
    store.tamper(8, |event| {
        event.bytes[30] ^= 0x01;
        event.hash = chain_hash(&event.prev_hash, &event.bytes);
    });
    assert_eq!(store.verify(VerifyFrom::Genesis).unwrap().broken.unwrap().seq, 9);

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    fill(&mut store, 4, 5);
    store.raw_log().remove(11u64.to_be_bytes()).unwrap();
    let broken = store.verify(VerifyFrom::Genesis).unwrap().broken.unwrap();
    assert_eq!(broken.seq, 11, "{broken:?}");
    assert!(broken.reason.contains("missing"), "{broken:?}");
}

// Proves verification from a checkpoint skips what was verified, yet notices a checkpointed
// event whose hash changed and a break after the checkpoint.
#[test]
fn checkpoint_verification() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    fill(&mut store, 2, 5);
    store.set_checkpoint(store.head_seq(), store.head_hash()).unwrap();
    fill(&mut store, 1, 5);
    let report = store.verify(VerifyFrom::Checkpoint).unwrap();
    assert!(report.ok);
    assert_eq!((report.checked, report.head_seq), (5, 15));
    assert_eq!(store.checkpoint_seq().unwrap(), 10);

    store.tamper(13, |event| event.bytes[20] ^= 0x02);
    assert_eq!(store.verify(VerifyFrom::Checkpoint).unwrap().broken.unwrap().seq, 13);

    store.tamper(10, |event| event.hash[31] ^= 0x01);
    assert_eq!(store.verify(VerifyFrom::Checkpoint).unwrap().broken.unwrap().seq, 10);
}

// Proves the requests tree keeps the remembered rejections written with a batch, and that
// records of committed requests an older version kept there (the log implies them; the
// engine indexes them in its state) are deleted when the rejections are loaded.
#[test]
fn requests_tree_keeps_rejections_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    fill(&mut store, 3, 2);
    let rejected = RequestRecord::Rejected {
        digest: hex::encode([0x0f; 16]),
        rejection: b"{\"code\":\"not_found\"}".to_vec(),
    };
    let committed = RequestRecord::Committed { digest: hex::encode(DIGEST), first_seq: 3, last_seq: 4 };
    store
        .commit(Vec::new(), vec![("refused".into(), rejected.clone()), ("r1".into(), committed.clone())])
        .unwrap();
    assert_eq!(store.raw_requests().get("r1").unwrap().unwrap().len(), 33, "tag, digest, two seqs");
    assert_eq!(store.request("r1").unwrap(), Some(committed));
    assert_eq!(store.load_rejections().unwrap(), vec![("refused".to_owned(), rejected.clone())]);
    assert_eq!(store.request("r1").unwrap(), None, "the committed record is gone");
    assert_eq!(store.request("refused").unwrap(), Some(rejected.clone()));
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.load_rejections().unwrap(), vec![("refused".to_owned(), rejected)]);
    assert_eq!(store.request("nobody").unwrap(), None);
}

// Proves events read from elsewhere (an export turned back into canonical bytes) verify on
// their own, to the same head as the store, and that a change to one is named.
#[test]
fn events_verify_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    fill(&mut store, 3, 4);
    let events: Vec<_> = store.events(0).map(|e| e.unwrap()).collect();
    let report = verify_events(events.clone().into_iter().map(Ok));
    let from_store = store.verify(VerifyFrom::Genesis).unwrap();
    assert!(report.ok);
    assert_eq!(
        (report.head_seq, &report.head_hash, &report.ledger_id),
        (12, &from_store.head_hash, &from_store.ledger_id)
    );
    let mut altered = events.clone();
    altered[4].bytes[12] ^= 0x01;
    assert_eq!(verify_events(altered.into_iter().map(Ok)).broken.unwrap().seq, 5);
    let unreadable =
        events.into_iter().enumerate().map(|(i, e)| if i == 2 { Err("no".to_owned()) } else { Ok(e) });
    assert_eq!(verify_events(unreadable).broken.unwrap().seq, 3);
}

// Proves readers stop at the durable head: an entry in the log tree past the last fsynced
// commit (what sled shows of a batch applied but not yet flushed) is neither listed, nor
// served by seq, nor counted in the head, nor judged by verify; the next commit moves it.
#[test]
fn readers_stop_at_the_durable_head() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    fill(&mut store, 2, 2);
    let reader = store.reader();
    let pending = store.raw_log().get(3u64.to_be_bytes()).unwrap().unwrap();
    store.raw_log().insert(5u64.to_be_bytes(), pending).unwrap();
    assert_eq!(reader.head_seq().unwrap(), 4);
    assert_eq!(reader.events(0).count(), 4);
    assert_eq!(reader.events(4).count(), 0);
    assert!(reader.event(5).unwrap().is_none());
    assert!(reader.event(4).unwrap().is_some());
    let report = reader.verify().unwrap();
    assert!(report.ok && report.head_seq == 4, "{report:?}");
    // A commit overwrites seq 5 with its own event, and readers see it once it is durable.
    store.raw_log().remove(5u64.to_be_bytes()).unwrap();
    fill(&mut store, 1, 1);
    assert_eq!(reader.head_seq().unwrap(), 5);
    assert_eq!(reader.events(4).count(), 1);
}

// Proves a commit can leave readers where they were: the events are on disk (the store's head,
// the next seal, a reopen) but readers see them only once shown, the shown head never moves
// back, and only what is on disk can be shown.
#[test]
fn events_written_unshown_wait_for_show() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = Store::open(dir.path()).unwrap();
        fill(&mut store, 2, 2);
        let reader = store.reader();
        let mut sealer = store.sealer();
        let sealed: Vec<_> = (10..13).map(|n| sealer.seal(&event(n, None))).collect();
        store.commit_unshown(&sealed, Vec::new()).unwrap();
        assert_eq!((store.head_seq(), store.shown_seq()), (7, 4));
        assert_eq!(reader.head_seq().unwrap(), 4);
        assert_eq!(reader.events(0).count(), 4);
        assert!(reader.event(5).unwrap().is_none());
        assert_eq!(store.sealer().seal(&event(13, None)).seq, 8, "the next seal continues the disk");
        store.show(6);
        assert_eq!(reader.events(4).map(|e| e.unwrap().seq).collect::<Vec<_>>(), [5, 6]);
        store.show(5);
        assert_eq!(reader.head_seq().unwrap(), 6, "the shown head never moves back");
        let beyond = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.show(8)));
        assert!(beyond.is_err(), "what is not on disk is not shown");
    }
    // What was on disk is the log after a restart.
    let store = Store::open(dir.path()).unwrap();
    assert_eq!((store.head_seq(), store.shown_seq()), (7, 7));
    assert!(store.verify(VerifyFrom::Genesis).unwrap().ok);
}

// Proves a tail discarded after a seq in the middle of a segment leaves exactly the events up
// to it, durably (a reopen agrees), shown to readers at that head, the chain verifying, and the
// next seal continuing from it with other events; discarding past the head changes nothing.
#[test]
fn a_tail_is_discarded_inside_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let kept_hash;
    {
        let mut store = Store::open(dir.path()).unwrap();
        fill(&mut store, 3, 3);
        let reader = store.reader();
        store.set_checkpoint(9, store.head_hash()).unwrap();
        store.discard_after(20).unwrap();
        assert_eq!(store.head_seq(), 9);
        store.discard_after(5).unwrap();
        kept_hash = reader.event(5).unwrap().unwrap().hash;
        assert_eq!((store.head_seq(), store.shown_seq(), store.head_hash()), (5, 5, kept_hash));
        assert_eq!(reader.events(0).count(), 5);
        assert!(reader.event(6).unwrap().is_none());
        let mut sealer = store.sealer();
        let other: Vec<_> = (50..52).map(|n| sealer.seal(&event(n, None))).collect();
        store.commit_sealed(&other, Vec::new()).unwrap();
        assert_eq!(reader.head_seq().unwrap(), 7);
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.head_seq(), 7);
    assert_eq!(store.event(5).unwrap().unwrap().hash, kept_hash);
    let report = store.verify(VerifyFrom::Checkpoint).unwrap();
    assert!(report.ok && report.head_seq == 7, "the checkpoint past the cut went with it: {report:?}");
}

// Proves a ledger in format 1 (JSON envelopes in the `log` tree, no `log_format`) is refused
// with a message naming the migration, and a new ledger is marked with format 2.
#[test]
fn a_ledger_in_format_1_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("log").unwrap().insert(1u64.to_be_bytes(), &b"{\"seq\":1}"[..]).unwrap();
        db.flush().unwrap();
    }
    let error = Store::open(dir.path()).unwrap_err();
    assert!(matches!(error, StorageError::Format { found: 1, .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("gongji migrate --from 1 --to 2"), "{message}");

    let fresh = tempfile::tempdir().unwrap();
    drop(Store::open(fresh.path()).unwrap());
    let db = sled::open(fresh.path()).unwrap();
    let format = db.open_tree("meta").unwrap().get(b"log_format").unwrap().unwrap();
    assert_eq!(format.as_ref(), &2u32.to_be_bytes());
}

//! The sled store on real disk: envelopes, the hash chain, verification, tampering,
//! checkpoints and the idempotency index.

use ledger::{
    chain_hash, verify_envelopes, NewEvent, RequestRecord, Store, VerifyFrom, ENVELOPE_SUFFIX_BYTES,
};
use sha2::{Digest, Sha256};

fn event(n: u64, request: Option<&str>) -> NewEvent {
    NewEvent {
        recorded_at: format!("2026-03-01T00:00:{:02}.000000Z", n % 60),
        kind: "credited",
        version: 1,
        request_id: request.map(str::to_owned),
        request_digest: request.map(|_| "d1gest".to_owned()),
        payload: format!("{{\"n\":{n},\"text\":\"line \\\"{n}\\\"\"}}").into_bytes(),
    }
}

fn fill(store: &mut Store, batches: u64, per_batch: u64) {
    for b in 0..batches {
        let events = (0..per_batch).map(|i| event(b * per_batch + i, Some(&format!("r{b}")))).collect();
        let record = RequestRecord::Committed {
            digest: "d1gest".into(),
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

// Proves the exact envelope: body fields in order, a 154-byte hash suffix, and
// hash = SHA-256(prev_hash ‖ body) over the stored bytes.
#[test]
fn envelope_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let written = store.commit(vec![event(1, Some("r1")), event(2, None)], Vec::new()).unwrap();
    let first = &written[0];
    let text = std::str::from_utf8(first.envelope()).unwrap();
    assert!(text.starts_with(r#"{"seq":1,"recorded_at":"2026-03-01T00:00:01.000000Z","kind":"credited","version":1,"request_id":"r1","request_digest":"d1gest","payload":{"n":1"#), "{text}");
    let body = first.body().unwrap();
    assert_eq!(first.envelope().len() - (body.len() - 1), ENVELOPE_SUFFIX_BYTES);
    let mut hasher = Sha256::new();
    hasher.update([0u8; 32]);
    hasher.update(&body);
    let expected: [u8; 32] = hasher.finalize().into();
    assert_eq!(first.hash().unwrap(), expected);
    assert_eq!(written[1].prev_hash().unwrap(), expected);
    assert_eq!(chain_hash(&expected, &written[1].body().unwrap()), written[1].hash().unwrap());
    let second = std::str::from_utf8(written[1].envelope()).unwrap();
    assert!(!second.contains("request_id"), "no request fields without a request");
    let parsed: serde_json::Value = serde_json::from_str(second).unwrap();
    assert_eq!(parsed["payload"]["text"], "line \"2\"");
    let parts = written[1].parts().unwrap();
    assert_eq!((parts.seq, parts.kind.as_str(), parts.version), (2, "credited", 1));
}

// Proves a flipped byte in a stored event, or a deleted event, is found and named by seq.
#[test]
fn tampering_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    fill(&mut store, 4, 5);
    let key = 7u64.to_be_bytes();
    let mut bytes = store.raw_log().get(key).unwrap().unwrap().to_vec();
    let at = bytes.iter().position(|b| *b == b'n').unwrap();
    bytes[at + 4] ^= 0x01;
    store.raw_log().insert(key, bytes).unwrap();
    let report = store.verify(VerifyFrom::Genesis).unwrap();
    assert!(!report.ok);
    assert_eq!(report.broken.unwrap().seq, 7);

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    fill(&mut store, 4, 5);
    store.raw_log().remove(12u64.to_be_bytes()).unwrap();
    let report = store.verify(VerifyFrom::Genesis).unwrap();
    assert_eq!(report.broken.unwrap().seq, 12);
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

    let mut bytes = store.raw_log().get(13u64.to_be_bytes()).unwrap().unwrap().to_vec();
    bytes[20] ^= 0x02;
    store.raw_log().insert(13u64.to_be_bytes(), bytes).unwrap();
    assert_eq!(store.verify(VerifyFrom::Checkpoint).unwrap().broken.unwrap().seq, 13);

    let mut bytes = store.raw_log().get(10u64.to_be_bytes()).unwrap().unwrap().to_vec();
    let len = bytes.len();
    bytes[len - 5] = if bytes[len - 5] == b'0' { b'1' } else { b'0' };
    store.raw_log().insert(10u64.to_be_bytes(), bytes).unwrap();
    assert_eq!(store.verify(VerifyFrom::Checkpoint).unwrap().broken.unwrap().seq, 10);
}

// Proves request records round-trip and the committed ones are rebuilt from the log alone,
// while remembered rejections are kept.
#[test]
fn requests_index_rebuilds_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    fill(&mut store, 3, 2);
    let rejected =
        RequestRecord::Rejected { digest: "x".into(), rejection: b"{\"code\":\"not_found\"}".to_vec() };
    store.commit(Vec::new(), vec![("refused".into(), rejected.clone())]).unwrap();
    let committed = RequestRecord::Committed { digest: "d1gest".into(), first_seq: 3, last_seq: 4 };
    assert_eq!(store.request("r1").unwrap(), Some(committed.clone()));
    assert_eq!(store.rebuild_requests().unwrap(), 3);
    assert_eq!(store.request("r1").unwrap(), Some(committed));
    assert_eq!(store.request("refused").unwrap(), Some(rejected));
    assert_eq!(store.request("nobody").unwrap(), None);
}

// Proves an export (the envelopes as lines) verifies on its own, to the same head as the store,
// and that a change to one line is named.
#[test]
fn exported_envelopes_verify_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    fill(&mut store, 3, 4);
    let lines: Vec<Vec<u8>> = store.events(0).map(|e| e.unwrap().bytes).collect();
    let report = verify_envelopes(lines.clone().into_iter());
    let from_store = store.verify(VerifyFrom::Genesis).unwrap();
    assert!(report.ok);
    assert_eq!(
        (report.head_seq, &report.head_hash, &report.ledger_id),
        (12, &from_store.head_hash, &from_store.ledger_id)
    );
    let mut altered = lines;
    altered[4][12] ^= 0x01;
    assert_eq!(verify_envelopes(altered.into_iter()).broken.unwrap().seq, 5);
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
    let pending = store.event(4).unwrap().unwrap().bytes;
    store.raw_log().insert(5u64.to_be_bytes(), pending).unwrap();
    assert_eq!(reader.head_seq().unwrap(), 4);
    assert_eq!(reader.events(0).count(), 4);
    assert_eq!(reader.events(4).count(), 0);
    assert!(reader.event(5).unwrap().is_none());
    assert!(reader.event(4).unwrap().is_some());
    let report = reader.verify(VerifyFrom::Genesis).unwrap();
    assert!(report.ok && report.head_seq == 4, "{report:?}");
    // A commit overwrites seq 5 with its own event, and readers see it once it is durable.
    store.raw_log().remove(5u64.to_be_bytes()).unwrap();
    fill(&mut store, 1, 1);
    assert_eq!(reader.head_seq().unwrap(), 5);
    assert_eq!(reader.events(4).count(), 1);
}

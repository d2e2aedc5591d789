//! A ledger written by an older gongji (log format 1: one JSON envelope per event) is refused
//! by `serve` and the tools with a message naming the migration, and `gongji migrate --from 1
//! --to 2` re-records it: the same events, the same replayed state, a new chain that verifies.
//!
//! The fixture (`tests/fixtures/format-1/`, see its README) was written by gongji at commit
//! 692351d, the last in format 1: the ledger as that binary left it, its replay at the head
//! and its export.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{Service, AUDITOR, OPERATOR};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/format-1").join(name)
}

/// The fixture's ledger, unpacked into a new temporary directory.
fn unpack() -> (tempfile::TempDir, PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(fixture("ledger.tar.gz"))
        .arg("-C")
        .arg(home.path())
        .status()
        .expect("tar runs");
    assert!(status.success());
    let data = home.path().join("ledger");
    assert!(data.join("db").exists(), "the fixture holds a sled ledger");
    (home, data)
}

/// Runs a `gongji` tool: its exit code, and what it printed to stdout then stderr.
fn tool(args: &[&str]) -> (i32, String) {
    let output = Command::new(support::binary()).args(args).output().expect("gongji runs");
    let mut printed = String::from_utf8_lossy(&output.stdout).into_owned();
    printed.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.code().unwrap_or(-1), printed)
}

/// What a `gongji` tool printed to stdout, which must succeed.
fn stdout_of(args: &[&str]) -> String {
    let output = Command::new(support::binary()).args(args).output().expect("gongji runs");
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The old export, one JSON value per line.
fn old_export() -> Vec<Value> {
    let output = Command::new("gzip").arg("-dc").arg(fixture("export.jsonl.gz")).output().expect("gzip runs");
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// An envelope without its hashes: what a migration keeps.
fn without_hashes(mut envelope: Value) -> Value {
    let object = envelope.as_object_mut().unwrap();
    object.remove("hash");
    object.remove("prev_hash");
    envelope
}

// Proves a format 1 ledger is refused, not misread: `serve` exits at once, and `verify`
// and `export` fail, each naming `gongji migrate --from 1 --to 2`; the ledger stays whole in
// format 1 (a migration afterwards finds every event).
#[test]
fn a_format_1_ledger_is_refused_with_the_migration_named() {
    let (_home, data) = unpack();
    let serve = Command::new(support::binary())
        .args(["serve", "--insecure-dev", "--listen", "127.0.0.1:0", "--data", text(&data)])
        .output()
        .expect("serve runs");
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(!serve.status.success(), "{stderr}");
    assert!(stderr.contains("gongji migrate --from 1 --to 2"), "{stderr}");
    for args in [vec!["verify", "--data", text(&data)], vec!["export", "--data", text(&data)]] {
        let (code, output) = tool(&args);
        assert_ne!(code, 0, "{args:?}: {output}");
        assert!(output.contains("gongji migrate --from 1 --to 2"), "{args:?}: {output}");
    }
    // Still format 1, whole: the migration finds every event.
    let output = stdout_of(&["migrate", "--data", text(&data), "--from", "1", "--to", "2"]);
    let summary: Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(summary["events"].as_u64(), Some(old_export().len() as u64));
}

// Proves the migration re-records the same log and the same state: the summary says the
// states are equal; the new chain verifies; the replay at the head is what the old binary
// printed; every event keeps its seq, time, kind, version, request and payload (only the
// hashes change); a second migration finds nothing to do; and the service starts on it.
#[test]
fn migration_keeps_every_event_and_the_state() {
    let (_home, data) = unpack();
    let old = old_export();
    let head = old.len() as u64;

    let output = stdout_of(&["migrate", "--data", text(&data), "--from", "1", "--to", "2"]);
    let summary: Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!((summary["events"].as_u64(), &summary["state_equal"]), (Some(head), &Value::Bool(true)));

    stdout_of(&["verify", "--data", text(&data)]);

    let replay = stdout_of(&["replay", "--data", text(&data), "--as-of-seq", &head.to_string()]);
    let expected = std::fs::read_to_string(fixture("replay.jsonl")).unwrap();
    assert_eq!(replay.trim_end(), expected.trim_end(), "the state the old binary replayed");

    let export = stdout_of(&["export", "--data", text(&data)]);
    let new: Vec<Value> = export.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(new.len(), old.len());
    for (new, old) in new.iter().zip(&old) {
        assert_ne!(new["hash"], old["hash"], "the hashes are over the binary form now");
        assert_eq!(without_hashes(new.clone()), without_hashes(old.clone()));
    }
    assert_eq!(summary["head_hash"], new.last().unwrap()["hash"]);

    let (code, output) = tool(&["migrate", "--data", text(&data), "--from", "1", "--to", "2"]);
    assert_ne!(code, 0);
    assert!(output.contains("nothing to migrate"), "{output}");

    let tokens = support::Home::new();
    let service = Service::start(&data, &["--tokens", text(&tokens.tokens())]);
    let (status, verify) = service.get(AUDITOR, "/v1/audit/verify");
    assert_eq!(status, 200);
    assert_eq!(verify["ok"], Value::Bool(true), "{verify}");
    // Holds past their timeout may expire as the service starts, after the migrated events.
    assert!(verify["head_seq"].as_u64().unwrap() >= head, "{verify}");
    assert_eq!(verify["ledger_id"], summary["ledger_id"]);
    // The old requests are still known: `b2` registered an institution; the same id with
    // another body is a conflict, not a new institution.
    let body = serde_json::json!({"request_id": "b2", "institution_id": "H999999", "region": "210100",
        "kind": "pharmacy", "name": "Another"});
    let (status, answer) = service.call("POST", Some(OPERATOR), "/v1/institutions", Some(&body));
    assert_eq!((status, &answer["error"]["code"]), (409, &Value::from("idempotency_conflict")), "{answer}");
}

//! Tidy: the dependency direction of the architecture is a test. `cargo metadata` lists every
//! workspace crate's dependencies; an edge the architecture forbids fails here.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// Each workspace crate and the workspace crates it may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("command", &["domain"]),
    ("projection", &["domain", "command"]),
    ("ledger", &[]),
    ("engine", &["domain", "command", "projection", "ledger"]),
    ("server", &["domain", "command", "projection", "ledger", "engine"]),
];

/// External crates only one workspace crate may use: sled is the ledger's; HTTP, NATS and
/// tokio are the server's.
const OWNED: &[(&str, &str)] =
    &[("sled", "ledger"), ("axum", "server"), ("tokio", "server"), ("async-nats", "server")];

fn metadata() -> Value {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("cargo metadata is JSON")
}

// Proves every workspace crate depends only on the workspace crates the architecture allows,
// and that sled, axum, tokio and async-nats each stay inside their one crate (tests aside).
#[test]
fn dependency_direction() {
    let metadata = metadata();
    let packages = metadata["packages"].as_array().unwrap();
    let mut found: BTreeMap<String, Vec<(String, Option<String>)>> = BTreeMap::new();
    for package in packages {
        let name = package["name"].as_str().unwrap().to_owned();
        let deps = package["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["name"].as_str().unwrap().to_owned(), d["kind"].as_str().map(str::to_owned)))
            .collect();
        found.insert(name, deps);
    }
    let workspace: Vec<&str> = ALLOWED.iter().map(|(name, _)| *name).collect();
    assert_eq!(found.keys().map(String::as_str).collect::<Vec<_>>().len(), ALLOWED.len(), "{found:?}");
    for (name, allowed) in ALLOWED {
        let deps = found.get(*name).unwrap_or_else(|| panic!("workspace crate {name} exists"));
        for (dep, kind) in deps {
            if workspace.contains(&dep.as_str()) && kind.is_none() {
                assert!(allowed.contains(&dep.as_str()), "{name} must not depend on {dep}");
            }
            for (external, owner) in OWNED {
                if dep == external && kind.is_none() {
                    assert_eq!(name, owner, "only {owner} may depend on {external}");
                }
            }
        }
    }
}

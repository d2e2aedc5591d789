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
    ("server", &["domain", "projection", "engine"]),
    ("outbox", &["domain", "ledger", "engine"]),
    ("bench", &["domain", "ledger", "engine"]),
    ("gongji", &["domain", "projection", "ledger", "engine", "server", "outbox", "bench"]),
];

/// External crates only some workspace crates may use: sled is the ledger's; the HTTP server
/// the server's; NATS the outbox's; tokio belongs to the crates that do IO at the edge, never
/// to the core (domain, command, projection, ledger, engine).
const OWNED: &[(&str, &[&str])] = &[
    ("sled", &["ledger"]),
    ("axum", &["server"]),
    ("async-nats", &["outbox"]),
    ("hyper", &["server", "bench"]),
    ("tokio", &["server", "outbox", "bench", "gongji"]),
];

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
// and that sled, axum, hyper, tokio and async-nats each stay inside the crates that own them
// (tests aside).
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
            for (external, owners) in OWNED {
                if dep == external && kind.is_none() {
                    assert!(owners.contains(name), "only {owners:?} may depend on {external}, not {name}");
                }
            }
        }
    }
}

/// Functions over this many lines are flagged: a new one fails, and the ones that were longer
/// when this test came are listed in `LONG_FUNCTIONS` and may only shrink.
const FUNCTION_LINES_MAX: usize = 100;

/// The functions that were over `FUNCTION_LINES_MAX` lines when the ratchet came, with their
/// length then (signature to closing brace). Shortening one lowers its entry; splitting it
/// below the bound removes it.
const LONG_FUNCTIONS: &[(&str, usize)] = &[
    ("crates/command/src/split.rs split", 119),
    ("crates/command/tests/explain.rs every_reason", 291),
    ("crates/command/tests/explain.rs reason_tie_breaks", 214),
    ("crates/command/tests/rejections.rs every_code", 254),
    ("crates/domain/tests/codec.rs samples", 108),
    ("tests/batch.rs items_are_answered_as_if_sent_alone", 182),
    ("tests/http_codes.rs codes_after_some_history", 115),
    ("tests/http_codes.rs every_code_over_http", 163),
    ("tests/openapi.rs real_answers_match_their_schemas", 213),
];

/// Every function of the workspace's sources (`crates/` and `tests/`): where it is and its
/// lines, from `fn` to its closing brace.
fn function_lengths() -> BTreeMap<String, usize> {
    struct Lengths<'a> {
        file: &'a str,
        owner: Vec<String>,
        found: &'a mut BTreeMap<String, usize>,
    }
    impl Lengths<'_> {
        fn add(&mut self, name: &syn::Ident, sig: &syn::Signature, block: &syn::Block) {
            let lines = block.brace_token.span.close().end().line + 1 - sig.fn_token.span.start().line;
            let mut key = format!("{} ", self.file);
            for owner in &self.owner {
                key.push_str(owner);
                key.push_str("::");
            }
            key.push_str(&name.to_string());
            // Two functions of one name and owner in a file (cfg'd twins): keep the longer.
            let entry = self.found.entry(key).or_default();
            *entry = (*entry).max(lines);
        }
    }
    impl<'ast> syn::visit::Visit<'ast> for Lengths<'_> {
        fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
            self.add(&item.sig.ident, &item.sig, &item.block);
            syn::visit::visit_item_fn(self, item);
        }
        fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
            let ty = &item.self_ty;
            self.owner.push(type_name(ty));
            syn::visit::visit_item_impl(self, item);
            self.owner.pop();
        }
        fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
            self.add(&item.sig.ident, &item.sig, &item.block);
            syn::visit::visit_impl_item_fn(self, item);
        }
        fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
            if let Some(block) = &item.default {
                self.add(&item.sig.ident, &item.sig, block);
            }
            syn::visit::visit_trait_item_fn(self, item);
        }
    }
    fn type_name(ty: &syn::Type) -> String {
        match ty {
            syn::Type::Path(path) => {
                path.path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default()
            }
            _ => "impl".to_owned(),
        }
    }
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                if !path.ends_with("target") {
                    sources(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).canonicalize().unwrap();
    let mut files = Vec::new();
    sources(&root.join("crates"), &mut files);
    sources(&root.join("tests"), &mut files);
    let mut found = BTreeMap::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{} parses: {e}", path.display()));
        let relative = path.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
        let mut lengths = Lengths { file: &relative, owner: Vec::new(), found: &mut found };
        syn::visit::Visit::visit_file(&mut lengths, &file);
    }
    found
}

// Proves no function grew past FUNCTION_LINES_MAX lines unless it was listed when the ratchet
// came, that a listed one has not grown, and that the list names only functions still over
// the bound (so it shrinks as they do).
#[test]
fn long_functions_only_shrink() {
    let lengths = function_lengths();
    assert!(lengths.len() > 500, "the sources were read: {} functions", lengths.len());
    let listed: BTreeMap<&str, usize> = LONG_FUNCTIONS.iter().copied().collect();
    let mut problems = Vec::new();
    for (name, &lines) in &lengths {
        match listed.get(name.as_str()) {
            None if lines > FUNCTION_LINES_MAX => {
                problems.push(format!("{name}: {lines} lines, over {FUNCTION_LINES_MAX}: split it"))
            }
            Some(&was) if lines > was => {
                problems.push(format!("{name}: {lines} lines, listed at {was}: it may only shrink"))
            }
            _ => {}
        }
    }
    for (name, was) in &listed {
        match lengths.get(*name) {
            None => problems.push(format!("{name} (listed at {was}) is gone: remove it from LONG_FUNCTIONS")),
            Some(&lines) if lines <= FUNCTION_LINES_MAX => problems.push(format!(
                "{name} is {lines} lines now, within the bound: remove it from LONG_FUNCTIONS"
            )),
            _ => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

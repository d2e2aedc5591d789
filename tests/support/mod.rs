//! Shared harness of the end-to-end tests: the real `gongji` binary on a free loopback port,
//! with a temporary sled directory, driven over HTTP.

#![allow(dead_code)]

pub mod nats;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const OPERATOR: &str = "op-secret";
pub const CHANNEL: &str = "app-secret";
pub const H1: &str = "h1-secret";
pub const H2: &str = "h2-secret";
pub const AUDITOR: &str = "audit-secret";

pub const TOKENS: &str = r#"{"tokens": [
  {"token": "op-secret", "role": "operator"},
  {"token": "app-secret", "role": "channel"},
  {"token": "h1-secret", "role": "institution", "institution": "H21010000001"},
  {"token": "h2-secret", "role": "institution", "institution": "H21010000002"},
  {"token": "audit-secret", "role": "auditor"}
]}"#;

/// A rule set's `resident_premium`: 400.00 for each year from the one before the machine's
/// current +08:00 year to two after, so a test paying a premium for the ledger's current or
/// next year meets the same price whatever the date it runs on (the default rules price only
/// 2026 and 2027).
pub fn premium_prices() -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let year = domain::Timestamp::from_micros(now.as_micros() as i64).cst_year();
    Value::Object((year - 1..=year + 2).map(|y| (y.to_string(), Value::from("400.00"))).collect())
}

/// The pharmacy H21010000001 of region 210100 (its token is H1), as an institution to register:
/// its id and kind.
pub const PHARMACY: (&str, &str) = ("H21010000001", "pharmacy");

/// Publishes version 1 of `region`'s rules, in force from 2026-01-01 (+08:00): the defaults with
/// `extra` over them (`{"resident_premium": premium_prices()}` where a test pays premiums).
pub fn publish_rules(service: &Service, region: &str, extra: Value) {
    let mut rules = json!({"request_id": format!("rules-{region}"), "version": 1,
        "effective_from": "2026-01-01T00:00:00+08:00"});
    for (key, value) in extra.as_object().expect("rule fields") {
        rules[key] = value.clone();
    }
    let (status, answer) = service.post(OPERATOR, &format!("/v1/regions/{region}/rules"), rules);
    assert_eq!(status, 201, "{answer}");
}

/// Region 210100: its rules as `publish_rules` makes them with `extra_rules`, and `institutions`
/// (id, kind) registered in it, in that order.
pub fn region_with_institutions(service: &Service, extra_rules: Value, institutions: &[(&str, &str)]) {
    publish_rules(service, "210100", extra_rules);
    for (id, kind) in institutions {
        let body = json!({"request_id": format!("institution-{id}"), "institution_id": id, "region": "210100",
            "kind": kind, "name": format!("{kind} {id}")});
        let (status, answer) = service.post(OPERATOR, "/v1/institutions", body);
        assert_eq!(status, 201, "{answer}");
    }
}

/// Region 210100 with the default rules and the pharmacy H21010000001.
pub fn region_with_pharmacy(service: &Service) {
    region_with_institutions(service, json!({}), &[PHARMACY]);
}

/// The employee P1 with 100,000.00 in the historic bucket and the resident C, P1's child, bound
/// to draw on P1's account (region 210100, whose rules must be published).
pub fn employee_with_child(service: &Service) {
    for (path, body) in [
        (
            "/v1/persons",
            json!({"request_id": "p1", "person_id": "P1", "region": "210100", "scheme": "employee"}),
        ),
        (
            "/v1/persons",
            json!({"request_id": "p2", "person_id": "C", "region": "210100", "scheme": "resident"}),
        ),
        (
            "/v1/accounts/P1/credits",
            json!({"request_id": "c1", "amount": "100000.00", "bucket": "historic", "reason": "x"}),
        ),
    ] {
        let (status, answer) = service.post(OPERATOR, path, body);
        assert!(status < 300, "{path}: {answer}");
    }
    let binding = json!({"request_id": "b", "authorizer": "P1", "beneficiary": "C", "relation": "child"});
    let (status, answer) = service.post(CHANNEL, "/v1/bindings", binding);
    assert_eq!(status, 201, "{answer}");
}

/// A running `gongji serve`.
pub struct Service {
    child: Option<Child>,
    pub base: String,
    pub data: PathBuf,
}

/// A temporary home for a test: the data directory and the tokens file.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("tokens.json"), TOKENS).expect("tokens written");
        Home { dir }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("ledger")
    }

    pub fn tokens(&self) -> PathBuf {
        self.dir.path().join("tokens.json")
    }

    pub fn start(&self) -> Service {
        Service::start(&self.data(), &["--tokens", self.tokens().to_str().unwrap()])
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_gongji")
}

impl Service {
    /// Starts the binary and waits for its "listening" line.
    pub fn start(data: &Path, args: &[&str]) -> Service {
        Service::start_as("serve", data, args)
    }

    /// Starts `gongji {command}` (`serve` or `follow`) and waits for its "listening" line.
    pub fn start_as(command: &str, data: &Path, args: &[&str]) -> Service {
        let mut child = Command::new(binary())
            .arg(command)
            .arg("--data")
            .arg(data)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .args(args)
            // GONGJI_TEST_LOG=warn (or info) shows more of the service while a test runs.
            .env("GONGJI_LOG", std::env::var("GONGJI_TEST_LOG").unwrap_or_else(|_| "error".to_owned()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("gongji starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("gongji prints its address");
        let base = line
            .trim()
            .strip_prefix("gongji listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Service { child: Some(child), base, data: data.to_owned() }
    }

    /// A handle that talks to an already running service (it does not own the process).
    pub fn client(base: &str, data: &Path) -> Service {
        Service { child: None, base: base.to_owned(), data: data.to_owned() }
    }

    pub fn call(&self, method: &str, token: Option<&str>, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.try_call(method, token, path, body).unwrap_or_else(|error| panic!("{method} {path}: {error}"))
    }

    /// As `call`, but a transport failure (the service died) is an `Err`.
    pub fn try_call(
        &self,
        method: &str,
        token: Option<&str>,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
        let mut request = agent.request(method, &format!("{}{}", self.base, path));
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        let result = match body {
            Some(body) => request.send_json(body.clone()),
            None => request.call(),
        };
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(error) => return Err(error.to_string()),
        };
        let status = response.status();
        let text = response.into_string().map_err(|e| e.to_string())?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    pub fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", Some(token), path, Some(&body))
    }

    pub fn put(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.call("PUT", Some(token), path, Some(&body))
    }

    pub fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.call("GET", Some(token), path, None)
    }

    /// Sends raw bytes; returns status and body text.
    /// The status a POST of `body` gets when the service may answer before reading it all
    /// (a body over the limit): the request goes over a plain socket, write errors after the
    /// answer are expected, and the status line is read back.
    pub fn post_unread(&self, token: &str, path: &str, body: &[u8]) -> u16 {
        use std::io::{Read, Write};
        let address = self.base.strip_prefix("http://").expect("an http base");
        let mut stream = std::net::TcpStream::connect(address).expect("the service accepts");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("the head is sent");
        // The service may answer and close while the body is still on its way.
        let _ = stream.write_all(body);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        let status = answer.split_whitespace().nth(1).unwrap_or_else(|| panic!("no status line: {answer:?}"));
        status.parse().expect("a numeric status")
    }

    pub fn raw(&self, method: &str, token: Option<&str>, path: &str, body: &[u8]) -> (u16, String) {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
        let mut request =
            agent.request(method, &format!("{}{}", self.base, path)).set("Content-Type", "application/json");
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        match request.send_bytes(body) {
            Ok(response) => (response.status(), response.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(status, response)) => {
                (status, response.into_string().unwrap_or_default())
            }
            Err(error) => panic!("{method} {path}: {error}"),
        }
    }

    /// Every event of the log, through `GET /v1/events`, page by page.
    pub fn events(&self) -> Vec<Value> {
        let mut events: Vec<Value> = Vec::new();
        loop {
            let after = events.last().map_or(0, |e| e["seq"].as_u64().expect("a seq"));
            let (status, page) = self.get(AUDITOR, &format!("/v1/events?after_seq={after}&limit=1000"));
            assert_eq!(status, 200, "{page}");
            let page = page["events"].as_array().expect("an events page").clone();
            if page.is_empty() {
                return events;
            }
            events.extend(page);
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe_free_kill(child.id() as i32, libc::SIGKILL);
            let _ = child.wait();
        }
    }

    /// Waits (bounded) for the process to exit by itself.
    pub fn wait_for_exit(&mut self, within: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().expect("the child's status") {
                self.child = None;
                return status;
            }
            assert!(Instant::now() < deadline, "gongji exits within {within:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM and wait for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        unsafe_free_kill(child.id() as i32, libc::SIGTERM);
        child.wait().expect("gongji exits")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends a signal with the `kill` command, keeping the tests free of `unsafe`.
fn unsafe_free_kill(pid: i32, signal: i32) {
    let status =
        Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid} succeeded");
}

/// Runs an offline tool of the binary; returns exit code and stdout.
pub fn tool(args: &[&str]) -> (i32, String) {
    let output = Command::new(binary()).args(args).output().expect("gongji runs");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The value of one series of `/metrics` (`name` or `name{labels}`), if it is there.
pub fn metric(service: &Service, series: &str) -> Option<f64> {
    let (status, text) = service.call("GET", None, "/metrics", None);
    assert_eq!(status, 200);
    let text = text.as_str().expect("metrics are text").to_owned();
    text.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().expect("a numeric sample"))
    })
}

/// Waits (bounded) until the series has a value that `want` accepts; returns it.
pub fn wait_for_metric(service: &Service, series: &str, want: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let value = metric(service, series);
        if let Some(value) = value.filter(|v| want(*v)) {
            return value;
        }
        assert!(Instant::now() < deadline, "{series} reaches the wanted value (is {value:?})");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub const SETTLEMENT_KINDS: &[&str] =
    &["settled", "held", "captured", "voided", "expired", "refunded", "premium_paid"];

/// The settlement-side events of `events` (what the settlement stream carries).
pub fn settlement_events(events: &[Value]) -> Vec<Value> {
    events.iter().filter(|e| SETTLEMENT_KINDS.contains(&e["kind"].as_str().unwrap())).cloned().collect()
}

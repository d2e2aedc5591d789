//! Settlement events over NATS JetStream through the real binary and a real nats-server:
//! exactly once, in ledger order, with the contract's subject, headers and payload, through
//! NATS outages and service crashes; and `gongji reconcile` finding what differs.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::nats::{self, Cluster, Nats};
use support::{Home, Service, AUDITOR, CHANNEL, H1};

const TOKENS: &str = r#"{"tokens": [
  {"token": "op-secret", "role": "operator"},
  {"token": "app-secret", "role": "channel"},
  {"token": "h1-secret", "role": "institution", "institution": "H21010000001"},
  {"token": "dot-secret", "role": "institution", "institution": "H2.1"},
  {"token": "audit-secret", "role": "auditor"}
]}"#;

fn start(home: &Home, nats: Option<&Nats>) -> Service {
    start_with(home, nats, &[])
}

/// The `serve` arguments of `start`, then `extra`.
fn serve_args(home: &Home, nats: Option<&Nats>, extra: &[&str]) -> Vec<String> {
    let tokens = home.dir.path().join("tokens-dot.json");
    std::fs::write(&tokens, TOKENS).unwrap();
    let mut args = vec!["--tokens".to_owned(), tokens.to_str().unwrap().to_owned()];
    if let Some(nats) = nats {
        args.extend(["--nats".to_owned(), nats.url()]);
    }
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args
}

fn start_with(home: &Home, nats: Option<&Nats>, extra: &[&str]) -> Service {
    let args = serve_args(home, nats, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Service::start(&home.data(), &args)
}

/// A `gongji serve` whose JSON log lines (level error and above) the test reads.
struct Logged {
    child: Child,
    service: Service,
    lines: mpsc::Receiver<String>,
}

impl Logged {
    fn start(home: &Home, nats: &Nats, env: &[(&str, &str)]) -> Logged {
        let mut child = Command::new(support::binary())
            .arg("serve")
            .arg("--data")
            .arg(home.data())
            .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(serve_args(home, Some(nats), &[]))
            .env("GONGJI_LOG", "error")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gongji starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("gongji prints its address");
        let base = line.trim().strip_prefix("gongji listening on ").expect("the listening line").to_owned();
        let (sender, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Logged { child, service: Service::client(&base, &home.data()), lines }
    }

    /// Waits (bounded) for a log line containing `text`.
    fn wait_for_log(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(_) => panic!("the service logs a line containing {text:?}"),
            }
        }
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const LAG: &str = "gongji_publisher_lag_events";

fn head_seq(service: &Service) -> u64 {
    service.events().last().map_or(0, |e| e["seq"].as_u64().unwrap())
}

fn setup(service: &Service) {
    let premiums = json!({"resident_premium": support::premium_prices()});
    support::region_with_institutions(service, premiums, &[support::PHARMACY, ("H2.1", "hospital")]);
    support::employee_with_child(service);
}

fn settle(service: &Service, id: &str, mode: &str) -> u16 {
    let body = json!({"request_id": id, "settlement_id": id, "institution": "H21010000001", "beneficiary": "C",
        "category": "pharmacy", "amount": "10.00", "mode": mode});
    service.post(H1, "/v1/settlements", body).0
}

// Proves every settlement-side kind arrives once, in order, with its subject (a dot in an
// institution id written %2E; a premium under "-"), Nats-Msg-Id {ledger_id}:{seq}, Gongji-Seq,
// and the stored envelope byte for byte as the payload.
#[test]
fn every_settlement_event_exactly_once() {
    let nats = Nats::start();
    let home = Home::new();
    let mut service = start(&home, Some(&nats));
    setup(&service);
    assert_eq!(settle(&service, "S1", "settle"), 201);
    assert_eq!(settle(&service, "S2", "hold"), 201);
    assert_eq!(
        service.post(H1, "/v1/settlements/S2/capture", json!({"request_id": "cap", "amount": "4.00"})).0,
        200
    );
    assert_eq!(settle(&service, "S3", "hold"), 201);
    assert_eq!(service.post(H1, "/v1/settlements/S3/void", json!({"request_id": "void"})).0, 200);
    let refund = json!({"request_id": "ref", "refund_id": "F1", "amount": "3.00", "reason": "returned"});
    assert_eq!(service.post(H1, "/v1/settlements/S1/refunds", refund).0, 201);
    // The current premium year (+08:00), from the ledger clock; the rules price it 400.00.
    let last = service.events().pop().unwrap();
    let year = domain::Timestamp::parse(last["recorded_at"].as_str().unwrap()).unwrap().cst_year();
    let premium =
        json!({"request_id": "prem", "payer": "P1", "beneficiary": "C", "year": year, "amount": "400.00"});
    let (status, answer) = service.post(CHANNEL, "/v1/premiums", premium);
    assert_eq!(status, 201, "{answer}");
    let dotted = json!({"request_id": "dot", "settlement_id": "S4", "institution": "H2.1", "beneficiary": "C",
        "category": "outpatient", "amount": "5.00"});
    assert_eq!(service.post("dot-secret", "/v1/settlements", dotted).0, 201);

    let expected = support::settlement_events(&service.events());
    let messages = nats::wait_for_messages(&nats.url(), expected.len());
    nats::assert_exactly_once(&messages, &expected);
    let (_, verify) = service.get(AUDITOR, "/v1/audit/verify");
    let ledger_id = verify["ledger_id"].as_str().unwrap();
    for (message, event) in messages.iter().zip(&expected) {
        let kind = event["kind"].as_str().unwrap();
        let institution = match kind {
            "premium_paid" => "-".to_owned(),
            _ => event["payload"]["institution"].as_str().unwrap().replace('.', "%2E"),
        };
        assert_eq!(message.subject, format!("gongji.settlement.210100.{institution}.{kind}"));
        assert_eq!(message.msg_id, format!("{ledger_id}:{}", event["seq"]));
        assert_eq!(serde_json::from_slice::<Value>(&message.payload).unwrap(), *event);
    }
    let kinds: Vec<&str> = expected.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in ["settled", "held", "captured", "voided", "refunded", "premium_paid"] {
        assert!(kinds.contains(&kind), "{kind} is covered: {kinds:?}");
    }
    assert!(messages.iter().any(|m| m.subject.contains("H2%2E1")));
    // Byte for byte: the payload is the stored envelope as the export writes it.
    assert!(service.terminate().success());
    let (_, export) = support::tool(&["export", "--data", home.data().to_str().unwrap()]);
    let lines: std::collections::BTreeMap<u64, &str> = export
        .lines()
        .map(|line| (serde_json::from_str::<Value>(line).unwrap()["seq"].as_u64().unwrap(), line))
        .collect();
    for message in &messages {
        assert_eq!(message.payload, lines[&message.gongji_seq].as_bytes());
    }
}

// Proves a NATS outage loses nothing: commands are accepted meanwhile, /readyz stays ready,
// and when NATS returns the backlog drains with nothing missing and nothing twice.
#[test]
fn nats_outage_then_recovery() {
    let mut nats = Nats::start();
    let home = Home::new();
    let service = start(&home, Some(&nats));
    setup(&service);
    for n in 0..5 {
        assert_eq!(settle(&service, &format!("A{n}"), "settle"), 201);
    }
    nats::wait_for_messages(&nats.url(), 5);
    nats.stop();
    for n in 0..20 {
        assert_eq!(
            settle(&service, &format!("B{n}"), "settle"),
            201,
            "commands are accepted while NATS is down"
        );
    }
    assert_eq!(service.call("GET", None, "/readyz", None).0, 200);
    nats.restart();
    let expected = support::settlement_events(&service.events());
    assert_eq!(expected.len(), 25);
    let messages = nats::wait_for_messages(&nats.url(), expected.len());
    std::thread::sleep(Duration::from_millis(300));
    nats::assert_exactly_once(&nats::read_stream(&nats.url()), &expected);
    assert_eq!(messages.len(), 25);
}

// Proves the publisher on a 3-node JetStream cluster (`--nats` listing every node,
// `--nats-replicas 3`): the stream is R3; with the node it is connected to stopped the others
// keep quorum and events still arrive; with two nodes down (quorum lost) commands are still
// accepted and the lag grows; when a node returns the backlog drains; and through it all every
// settlement event is in the stream exactly once, in ledger order, as every node reports it.
#[test]
fn an_r3_stream_through_the_loss_of_a_node_and_of_quorum() {
    let mut cluster = Cluster::start(3);
    let home = Home::new();
    let urls = cluster.urls();
    let service = start_with(&home, None, &["--nats", &urls, "--nats-replicas", "3"]);
    setup(&service);
    for n in 0..5 {
        assert_eq!(settle(&service, &format!("A{n}"), "settle"), 201);
    }
    nats::wait_for_messages(&cluster.nodes[1].url(), 5);
    assert_eq!(nats::stream_replicas(&cluster.nodes[2].url()), 3);

    // The first node, which the service meets first, goes: two of three keep quorum.
    cluster.nodes[0].stop();
    for n in 0..5 {
        assert_eq!(settle(&service, &format!("B{n}"), "settle"), 201);
    }
    nats::wait_for_messages(&cluster.nodes[1].url(), 10);
    nats::assert_exactly_once(
        &nats::read_stream(&cluster.nodes[2].url()),
        &support::settlement_events(&service.events()),
    );

    // A second node goes: no quorum, nothing is stored, the ledger still answers.
    cluster.nodes[1].stop();
    for n in 0..5 {
        assert_eq!(settle(&service, &format!("C{n}"), "settle"), 201, "the ledger answers without quorum");
    }
    support::wait_for_metric(&service, LAG, |lag| lag >= 5.0);
    assert_eq!(service.call("GET", None, "/readyz", None).0, 200);

    // Quorum comes back: the backlog drains, once.
    cluster.nodes[1].restart();
    let expected = support::settlement_events(&service.events());
    assert_eq!(expected.len(), 15);
    nats::wait_for_messages(&cluster.nodes[2].url(), expected.len());
    support::wait_for_metric(&service, LAG, |lag| lag == 0.0);
    for node in [1, 2] {
        nats::assert_exactly_once(&nats::read_stream(&cluster.nodes[node].url()), &expected);
    }
    cluster.nodes[0].restart();
    nats::wait_for_jetstream(&cluster.nodes[0].url());
    nats::assert_exactly_once(&nats::read_stream(&cluster.nodes[0].url()), &expected);
}

// Proves a service SIGKILLed in the middle of a burst, then restarted, leaves the stream with
// every settlement event of the log once.
#[test]
fn service_killed_while_publishing() {
    let nats = Nats::start();
    let home = Home::new();
    let mut service = start(&home, Some(&nats));
    setup(&service);
    let base = service.base.clone();
    let data = service.data.clone();
    let counted = Arc::new(AtomicUsize::new(0));
    let burst = {
        let counted = counted.clone();
        std::thread::spawn(move || {
            let client = Service::client(&base, &data);
            for n in 0..400 {
                let body = json!({"request_id": format!("K{n}"), "settlement_id": format!("K{n}"), "institution": "H21010000001",
                    "beneficiary": "C", "category": "pharmacy", "amount": "1.00"});
                match client.try_call("POST", Some(H1), "/v1/settlements", Some(&body)) {
                    Ok((201, _)) => counted.fetch_add(1, Ordering::SeqCst),
                    _ => break,
                };
            }
            counted.load(Ordering::SeqCst)
        })
    };
    // Kill once the stream has started receiving the burst and 20 answers have come back (a
    // settlement can be published before its caller has read its 201).
    nats::wait_for_messages(&nats.url(), 20);
    let deadline = Instant::now() + Duration::from_secs(30);
    while counted.load(Ordering::SeqCst) < 20 {
        assert!(Instant::now() < deadline, "the burst goes on");
        std::thread::sleep(Duration::from_millis(5));
    }
    service.kill();
    let acknowledged = burst.join().unwrap();
    assert!(acknowledged >= 20);
    let service = start(&home, Some(&nats));
    let expected = support::settlement_events(&service.events());
    assert!(expected.len() >= acknowledged, "every acknowledged settlement is in the log");
    nats::wait_for_messages(&nats.url(), expected.len());
    std::thread::sleep(Duration::from_millis(300));
    nats::assert_exactly_once(&nats::read_stream(&nats.url()), &expected);
}

fn reconcile(home: &Home, nats: &Nats, repair: bool) -> (i32, String) {
    let data = home.data();
    let url = nats.url();
    let mut args = vec!["reconcile", "--nats", url.as_str(), "--data", data.to_str().unwrap()];
    if repair {
        args.push("--repair");
    }
    support::tool(&args)
}

// Proves reconcile: OK on a healthy stream; a deleted message is reported missing by seq (and
// cannot be resent inside the duplicate window, which it says); once resent by --repair it is
// listed as late (republished) without failing the check; a foreign message is extra; events
// that never reached the stream are republished by --repair.
#[test]
fn reconcile_finds_and_repairs() {
    let mut nats = Nats::start();
    let home = Home::new();
    let mut service = start(&home, Some(&nats));
    setup(&service);
    for n in 0..6 {
        assert_eq!(settle(&service, &format!("R{n}"), "settle"), 201);
    }
    let expected = support::settlement_events(&service.events());
    let messages = nats::wait_for_messages(&nats.url(), expected.len());
    assert!(service.terminate().success());
    let (code, report) = reconcile(&home, &nats, false);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("reconcile: OK"));
    assert!(report.contains("late (republished): none"), "{report}");

    // Events written while the service ran without NATS never reached the stream.
    let mut offline = start(&home, None);
    for n in 0..3 {
        assert_eq!(settle(&offline, &format!("O{n}"), "settle"), 201);
    }
    assert!(offline.terminate().success());
    let (code, report) = reconcile(&home, &nats, false);
    assert_eq!(code, 1);
    assert!(report.contains("missing: 3"), "{report}");
    let (code, report) = reconcile(&home, &nats, true);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("republished"), "{report}");
    let (code, report) = reconcile(&home, &nats, false);
    assert_eq!(code, 0, "after the repair: {report}");

    // A deleted message: missing, named by its ledger seq; inside the window it cannot be resent.
    let victim = &messages[2];
    nats::delete_message(&nats.url(), victim.stream_seq);
    let (code, report) = reconcile(&home, &nats, false);
    assert_eq!(code, 1);
    assert!(report.contains(&format!("missing: 1 (seq {})", victim.gongji_seq)), "{report}");
    let (code, report) = reconcile(&home, &nats, true);
    assert_eq!(code, 1);
    assert!(report.contains("duplicate window"), "{report}");

    // A restarted server remembers only the ids of the messages it holds, so --repair can now
    // resend the deleted one; it arrives after higher seqs: late, listed, not a difference.
    nats.stop();
    nats.restart();
    let (code, report) = reconcile(&home, &nats, true);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains(&format!("repair: seq {} republished", victim.gongji_seq)), "{report}");
    let (code, report) = reconcile(&home, &nats, false);
    assert_eq!(code, 0, "a late message alone is not a difference: {report}");
    assert!(report.contains(&format!("late (republished): 1 (seq {})", victim.gongji_seq)), "{report}");
    assert!(report.contains("missing: none") && report.contains("duplicated: none"), "{report}");

    // A foreign message on a settlement subject: extra.
    nats::publish_foreign(&nats.url());
    let (code, report) = reconcile(&home, &nats, false);
    assert_eq!(code, 1);
    assert!(report.contains("extra: 1"), "{report}");
}

// Proves that without --nats /metrics shows the publisher lag (events after the outbox cursor)
// growing as settlements pile up; a later start of the same data dir with --nats drains the
// backlog, every settlement event once and in ledger order, and the lag returns to 0.
#[test]
fn lag_without_nats_then_backlog_drains() {
    let nats = Nats::start();
    let home = Home::new();
    let mut offline = start(&home, None);
    setup(&offline);
    assert_eq!(settle(&offline, "L0", "settle"), 201);
    let head_first = head_seq(&offline);
    let lag_first = support::wait_for_metric(&offline, LAG, |lag| lag == head_first as f64);
    assert!(lag_first > 0.0);
    for n in 1..6 {
        assert_eq!(settle(&offline, &format!("L{n}"), "settle"), 201);
    }
    let head = head_seq(&offline);
    let lag = support::wait_for_metric(&offline, LAG, |lag| lag == head as f64);
    assert!(lag > lag_first, "the lag grows while events wait: {lag_first} then {lag}");
    assert!(nats::read_stream(&nats.url()).is_empty(), "nothing was published without --nats");
    assert!(offline.terminate().success());

    let service = start(&home, Some(&nats));
    let expected = support::settlement_events(&service.events());
    assert_eq!(expected.len(), 6);
    nats::wait_for_messages(&nats.url(), expected.len());
    support::wait_for_metric(&service, LAG, |lag| lag == 0.0);
    nats::assert_exactly_once(&nats::read_stream(&nats.url()), &expected);
}

// Proves --nats-replicas: given as 1 the stream is created with one replica and events flow; a
// later start asking for 3 (through GONGJI_NATS_REPLICAS) finds the config read back at 1, logs
// an error and publishes nothing, while commands are still accepted and the lag shows them.
#[test]
fn stream_replicas_from_the_flag() {
    let nats = Nats::start();
    let home = Home::new();
    let mut service = start_with(&home, Some(&nats), &["--nats-replicas", "1"]);
    setup(&service);
    assert_eq!(settle(&service, "N0", "settle"), 201);
    nats::wait_for_messages(&nats.url(), 1);
    assert_eq!(nats::stream_replicas(&nats.url()), 1);
    assert!(service.terminate().success());

    let refusing = Logged::start(&home, &nats, &[("GONGJI_NATS_REPLICAS", "3")]);
    assert_eq!(settle(&refusing.service, "N1", "settle"), 201, "commands are accepted meanwhile");
    let line = refusing.wait_for_log("asks for 3");
    assert!(line.contains("\"ERROR\"") && line.contains("has 1 replicas"), "{line}");
    // Every attempt stops at the config check, before any publish.
    assert_eq!(nats::read_stream(&nats.url()).len(), 1, "nothing published to a refused stream");
    support::wait_for_metric(&refusing.service, LAG, |lag| lag > 0.0);
    assert_eq!(nats::stream_replicas(&nats.url()), 1);
}

// Proves the publisher resumes after the highest seq of this ledger among the stream's last
// messages, not the last message's: after `reconcile --repair` appended an old seq behind newer
// ones, a start whose cursor is behind those newer ones re-sends nothing the stream holds.
#[test]
fn resumes_after_the_highest_seq_in_the_tail() {
    let mut nats = Nats::start();
    let home = Home::new();
    let mut service = start(&home, Some(&nats));
    setup(&service);
    for n in 0..4 {
        assert_eq!(settle(&service, &format!("T{n}"), "settle"), 201);
    }
    let published = nats::wait_for_messages(&nats.url(), 4);
    assert!(service.terminate().success());
    // Events written without NATS and then published by reconcile: the cursor stays behind them.
    let mut offline = start(&home, None);
    for n in 0..2 {
        assert_eq!(settle(&offline, &format!("U{n}"), "settle"), 201);
    }
    assert!(offline.terminate().success());
    let (code, report) = reconcile(&home, &nats, true);
    assert_eq!(code, 0, "{report}");
    // An old message lost and republished once the server no longer remembers its id.
    let victim = &published[1];
    nats::delete_message(&nats.url(), victim.stream_seq);
    nats.stop();
    nats.restart();
    let (code, report) = reconcile(&home, &nats, true);
    assert_eq!(code, 0, "{report}");
    let stream = nats::read_stream(&nats.url());
    assert_eq!(stream.last().unwrap().gongji_seq, victim.gongji_seq, "the stream ends with an old seq");
    let seq_max = stream.iter().map(|m| m.gongji_seq).max().unwrap();
    assert!(seq_max > victim.gongji_seq);

    let service = start(&home, Some(&nats));
    assert_eq!(settle(&service, "V0", "settle"), 201);
    let expected = support::settlement_events(&service.events());
    nats::wait_for_messages(&nats.url(), expected.len());
    // Acks are counted in publish order, so once V0's is, any re-sent message's is too.
    support::wait_for_metric(&service, "gongji_published_total{duplicate=\"false\"}", |n| n == 1.0);
    assert_eq!(
        support::metric(&service, "gongji_published_total{duplicate=\"true\"}").unwrap_or(0.0),
        0.0,
        "nothing the stream holds is sent again"
    );
    let mut seqs: Vec<u64> = nats::read_stream(&nats.url()).iter().map(|m| m.gongji_seq).collect();
    seqs.sort_unstable();
    let want: Vec<u64> = expected.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, want, "every settlement event once");
}

// Proves /metrics is Prometheus's text format as Prometheus itself reads it: once commands,
// commits and publishing have filled every family, `promtool check metrics` (Debian's
// `prometheus` package, installed by scripts/test.sh) accepts it without a finding, and each
// family has its HELP and TYPE under the name its samples carry.
#[test]
fn metrics_pass_promtool() {
    let nats = Nats::start();
    let home = Home::new();
    let service = start(&home, Some(&nats));
    setup(&service);
    assert_eq!(settle(&service, "M0", "settle"), 201);
    nats::wait_for_messages(&nats.url(), 1);
    support::wait_for_metric(&service, "gongji_published_total{duplicate=\"false\"}", |n| n >= 1.0);
    let (status, text) = service.call("GET", None, "/metrics", None);
    assert_eq!(status, 200);
    let text = text.as_str().expect("metrics are text").to_owned();
    for family in
        ["gongji_commands_total counter", "gongji_commit_seconds histogram", "gongji_log_head_seq gauge"]
    {
        assert!(text.contains(&format!("# TYPE {family}\n")), "{family} in:\n{text}");
    }
    let promtool = std::env::var("GONGJI_PROMTOOL").unwrap_or_else(|_| "promtool".to_owned());
    let mut check = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{promtool} (scripts/test.sh installs it): {e}"));
    std::io::Write::write_all(&mut check.stdin.take().expect("stdin"), text.as_bytes())
        .expect("metrics to promtool");
    let output = check.wait_with_output().expect("promtool finishes");
    let findings =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && findings.trim().is_empty(), "promtool: {findings}\n{text}");
}

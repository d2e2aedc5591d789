//! The log replicated through JetStream, end to end: real `nats-server` processes (one, or a
//! 3-node cluster on loopback), the real binary as primary and follower, over HTTP.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::nats::{self, Cluster, Nats};
use support::{Home, Service, AUDITOR, H1};

/// The lease's time to live in these tests: a follower leads this long after the primary is lost.
const LEASE_TTL_SECS: &str = "2";

/// `gongji {command}` (`serve --replicate` or `follow`) on `home`'s disk, replicating through
/// `urls` with `replicas` replicas.
fn node(command: &str, home: &Home, urls: &str, replicas: &str) -> Service {
    node_with_ttl(command, home, urls, replicas, LEASE_TTL_SECS)
}

fn node_with_ttl(command: &str, home: &Home, urls: &str, replicas: &str, ttl: &str) -> Service {
    let tokens = home.tokens();
    let mut args = vec!["--tokens", tokens.to_str().unwrap(), "--nats", urls, "--nats-replicas", replicas];
    args.extend(["--lease-ttl-secs", ttl]);
    if command == "serve" {
        args.push("--replicate");
    }
    Service::start_as(command, &home.data(), &args)
}

/// Waits (bounded) until the node leads (`gongji_primary` 1).
fn wait_until_primary(service: &Service, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if support::metric(service, "gongji_primary") == Some(1.0) {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "the node leads within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (bounded) until `follower` has applied the log up to `head`.
fn wait_for_head(follower: &Service, head: u64) {
    support::wait_for_metric(follower, "gongji_log_head_seq", |seq| seq >= head as f64);
}

fn head(service: &Service) -> u64 {
    support::metric(service, "gongji_log_head_seq").unwrap() as u64
}

/// The pharmacy, an employee P1 with 100,000.00, and P1's child C bound to draw on it.
fn setup(service: &Service) {
    support::region_with_pharmacy(service);
    support::employee_with_child(service);
}

fn settlement(id: &str) -> Value {
    json!({"request_id": id, "settlement_id": id, "institution": "H21010000001", "beneficiary": "C",
        "category": "pharmacy", "amount": "1.00"})
}

/// Settles from a thread until told to stop; the ids answered 201, and every other answer.
struct Load {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(Vec<String>, Vec<u16>)>,
}

impl Load {
    fn start(base: &str, data: &Path, prefix: &'static str) -> Load {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (base, data, flag) = (base.to_owned(), data.to_owned(), stop.clone());
        let thread = std::thread::spawn(move || {
            let client = Service::client(&base, &data);
            let (mut acknowledged, mut others) = (Vec::new(), Vec::new());
            for n in 0..100_000 {
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let id = format!("{prefix}{n}");
                match client.try_call("POST", Some(H1), "/v1/settlements", Some(&settlement(&id))) {
                    Ok((201, _)) => acknowledged.push(id),
                    Ok((status, _)) => others.push(status),
                    Err(_) => others.push(0),
                }
            }
            (acknowledged, others)
        });
        Load { stop, thread }
    }

    fn stop(self) -> (Vec<String>, Vec<u16>) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

// Proves, on a 3-node cluster with the log R3: a follower builds the ledger from the stream,
// serves the same reads as the primary and answers writes 503 not_primary naming the primary;
// when the primary's machine is lost (kill -9, its disk deleted) under concurrent settlements,
// the follower leads within 10 s with every acknowledged settlement, a chain that verifies, and
// a settlement stream with no gap and no duplicate; and the old primary, restarted on a copy of
// its old disk, does not take writes.
#[test]
fn a_follower_takes_over_when_the_primary_machine_is_lost() {
    let cluster = Cluster::start(3);
    let urls = cluster.urls();
    let (home_a, home_b) = (Home::new(), Home::new());
    let mut primary = node("serve", &home_a, &urls, "3");
    wait_until_primary(&primary, Duration::from_secs(30));
    setup(&primary);
    let follower = node("follow", &home_b, &urls, "3");
    wait_for_head(&follower, head(&primary));
    assert_eq!(support::metric(&follower, "gongji_primary"), Some(0.0));
    assert_eq!(support::metric(&follower, "gongji_follower_lag_messages"), Some(0.0));
    assert_eq!(follower.get(AUDITOR, "/v1/accounts/P1"), primary.get(AUDITOR, "/v1/accounts/P1"));
    let (status, refused) = follower.post(H1, "/v1/settlements", settlement("on-follower"));
    assert_eq!((status, refused["error"]["code"].as_str()), (503, Some("not_primary")), "{refused}");
    assert_eq!(refused["error"]["details"]["primary"], json!(primary.base));

    // Settlements go on while the primary's machine is lost.
    let load = Load::start(&primary.base, &primary.data, "L");
    let deadline = Instant::now() + Duration::from_secs(30);
    while head(&primary) < 60 {
        assert!(Instant::now() < deadline, "the load goes on");
        std::thread::sleep(Duration::from_millis(20));
    }
    primary.kill();
    let killed = Instant::now();
    let old_disk = tempfile::tempdir().unwrap();
    copy_dir(&home_a.data(), &old_disk.path().join("ledger"));
    std::fs::remove_dir_all(home_a.data()).unwrap();
    let (acknowledged, _) = load.stop();
    assert!(acknowledged.len() >= 10, "settlements were acknowledged before the loss");

    let took = wait_until_primary(&follower, Duration::from_secs(10));
    eprintln!("the follower led {took:?} after it saw the lease; {:?} after the kill", killed.elapsed());
    for id in &acknowledged {
        let (status, answer) = follower.get(H1, &format!("/v1/settlements/{id}"));
        assert_eq!(status, 200, "acknowledged settlement {id} survives: {answer}");
    }
    let (status, verified) = follower.get(AUDITOR, "/v1/audit/verify");
    assert_eq!((status, verified["ok"].clone()), (200, json!(true)), "{verified}");
    assert_eq!(follower.post(H1, "/v1/settlements", settlement("after-failover")).0, 201);

    // The settlement stream: every settlement event of the new primary's log, once, in order.
    let expected = support::settlement_events(&follower.events());
    nats::wait_for_messages(&cluster.nodes[0].url(), expected.len());
    std::thread::sleep(Duration::from_millis(300));
    nats::assert_exactly_once(&nats::read_stream(&cluster.nodes[0].url()), &expected);

    // The old primary comes back on its old disk: it follows (a tail of its own that the log
    // does not hold is discarded), and takes no write.
    let old = Service::start(
        &old_disk.path().join("ledger"),
        &[
            "--tokens",
            home_a.tokens().to_str().unwrap(),
            "--nats",
            &urls,
            "--nats-replicas",
            "3",
            "--replicate",
        ],
    );
    let (status, refused) = old.post(H1, "/v1/settlements", settlement("on-the-old-primary"));
    assert_eq!((status, refused["error"]["code"].as_str()), (503, Some("not_primary")), "{refused}");
    assert_eq!(support::metric(&old, "gongji_primary"), Some(0.0));
    assert_eq!(follower.post(H1, "/v1/settlements", settlement("still-the-primary")).0, 201);
    wait_for_head(&old, head(&follower));
    assert_eq!(old.get(H1, "/v1/settlements/still-the-primary").0, 200);
    assert_eq!(
        old.get(AUDITOR, "/v1/audit/verify").1["head_hash"],
        follower.get(AUDITOR, "/v1/audit/verify").1["head_hash"]
    );
}

// Proves a primary that loses its lease to another node stops writing and exits (code 3), so
// that, started again, it follows: and that, started again on its disk, it follows the node
// now holding the lease instead of writing.
#[test]
fn a_primary_that_loses_the_lease_stops() {
    let nats = Nats::start();
    let home = Home::new();
    // A lease that outlives the test's steps: only the other node's taking it ends this one's.
    let mut primary = node_with_ttl("serve", &home, &nats.url(), "1", "20");
    wait_until_primary(&primary, Duration::from_secs(30));
    setup(&primary);
    // Another node takes the lease (as one would once it lapsed while this one was cut off).
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let other = json!({"node": "another", "address": "http://127.0.0.1:9", "ledger_id": null});
    let taken = runtime.block_on(async {
        let context = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
        let kv = context.get_key_value("GONGJI_LEASE").await.unwrap();
        kv.put("primary", serde_json::to_vec(&other).unwrap().into()).await.unwrap();
        let entry = kv.entry("primary").await.unwrap().unwrap();
        serde_json::from_slice::<Value>(&entry.value).unwrap()
    });
    assert_eq!(taken["node"], json!("another"));
    let status = primary.wait_for_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(3), "a deposed primary exits 3");
    // Started again while the other holds the lease, it follows and names the other.
    runtime.block_on(async {
        let context = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
        let kv = context.get_key_value("GONGJI_LEASE").await.unwrap();
        kv.put("primary", serde_json::to_vec(&other).unwrap().into()).await.unwrap();
    });
    let again = node_with_ttl("serve", &home, &nats.url(), "1", "20");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, refused) = again.post(H1, "/v1/settlements", settlement("after-deposition"));
        assert_eq!((status, refused["error"]["code"].as_str()), (503, Some("not_primary")), "{refused}");
        if refused["error"]["details"]["primary"] == json!("http://127.0.0.1:9") {
            break;
        }
        assert!(Instant::now() < deadline, "the follower names the primary: {refused}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(support::metric(&again, "gongji_primary"), Some(0.0));
}

/// The index of a cluster node that leads none of the streams the ledger writes (the log and
/// the lease): stopping it takes no leader away, so no election pauses the writes.
fn node_leading_nothing(cluster: &Cluster) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let leaders: Vec<String> = runtime.block_on(async {
        let client = async_nats::connect(cluster.nodes[0].url()).await.unwrap();
        let context = async_nats::jetstream::new(client);
        let mut leaders = Vec::new();
        for name in ["GONGJI_LOG", "KV_GONGJI_LEASE"] {
            let mut stream = context.get_stream(name).await.unwrap();
            let info = stream.info().await.unwrap();
            leaders.push(info.cluster.as_ref().and_then(|c| c.leader.clone()).unwrap_or_default());
        }
        leaders
    });
    (0..cluster.nodes.len())
        .find(|i| !leaders.contains(&format!("node-{}", i + 1)))
        .expect("a node leads nothing")
}

// Proves that with the log R3 on a 3-node cluster, writes go on with a node down; with two
// down they are refused 503 (outcome unknown: nothing is acknowledged that the log does not
// hold); and once a node is back, writes resume, and every acknowledged settlement is in the
// replicated log, as a follower builds it.
#[test]
fn writes_need_a_quorum_of_the_log() {
    let mut cluster = Cluster::start(3);
    let urls = cluster.urls();
    let home = Home::new();
    // A lease longer than an election, so that no failover happens here.
    let primary = node_with_ttl("serve", &home, &urls, "3", "20");
    wait_until_primary(&primary, Duration::from_secs(30));
    setup(&primary);
    let acknowledged = Mutex::new(Vec::new());
    let settle = |id: String| {
        let (status, answer) = primary.post(H1, "/v1/settlements", settlement(&id));
        if status == 201 {
            acknowledged.lock().unwrap().push(id);
        }
        (status, answer)
    };
    let first = node_leading_nothing(&cluster);
    cluster.nodes[first].stop();
    for n in 0..5 {
        assert_eq!(settle(format!("one-down-{n}")).0, 201, "two of three keep quorum");
    }
    let second = (first + 1) % 3;
    cluster.nodes[second].stop();
    // The first write without quorum waits out the grace; then writes are refused.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, answer) = settle(format!("no-quorum-{}", acknowledged.lock().unwrap().len()));
        if status == 503 {
            assert_eq!(answer["error"]["code"], json!("storage_failure"), "{answer}");
            break;
        }
        assert!(Instant::now() < deadline, "writes are refused without quorum");
    }
    for n in 0..3 {
        let (status, answer) = settle(format!("refused-{n}"));
        assert_eq!(status, 503, "no quorum: {answer}");
    }

    cluster.nodes[second].restart();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 0;
    while settle(format!("resumed-{n}")).0 != 201 {
        assert!(Instant::now() < deadline, "writes resume once quorum is back");
        std::thread::sleep(Duration::from_millis(100));
        n += 1;
    }
    let follower_home = Home::new();
    let follower = node_with_ttl("follow", &follower_home, &cluster.nodes[second].url(), "3", "20");
    wait_for_head(&follower, head(&primary));
    let acknowledged = acknowledged.lock().unwrap();
    assert!(acknowledged.len() >= 6);
    for id in acknowledged.iter() {
        assert_eq!(follower.get(H1, &format!("/v1/settlements/{id}")).0, 200, "{id} is replicated");
    }
}

fn log_messages(url: &str) -> Vec<(u64, String, async_nats::HeaderMap, Vec<u8>)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let context = async_nats::jetstream::new(client);
        let mut stream = context.get_stream("GONGJI_LOG").await.unwrap();
        let state = stream.info().await.unwrap().state.clone();
        let mut out = Vec::new();
        for seq in state.first_sequence..=state.last_sequence {
            let message = stream.get_raw_message(seq).await.unwrap();
            out.push((seq, message.subject.to_string(), message.headers, message.payload.to_vec()));
        }
        out
    })
}

fn rules_request(n: u64) -> domain::Request {
    let rules = json!({"version": n, "effective_from": "2026-01-01T00:00:00+08:00"});
    domain::Request {
        request_id: domain::RequestId::new(&format!("rules-{n}")).unwrap(),
        command: domain::Command::PublishRules {
            region: domain::Region::new("210100").unwrap(),
            rules: serde_json::from_value(rules).unwrap(),
        },
    }
}

// Proves an engine replicating to JetStream appends each group commit as a message of
// GONGJI_LOG on gongji.log.{ledger_id} whose segment holds exactly the log's events, byte for
// byte, with the rejections it remembered; and that a replica that did not make the last append
// (a deposed primary) is fenced off.
#[test]
fn group_commits_are_replicated_to_the_log_stream() {
    use outbox::replicate::{decode_message, JetStreamReplica};
    let nats = Nats::start();
    let dir = tempfile::tempdir().unwrap();
    let replica = Arc::new(JetStreamReplica::connect(&nats.url(), 1).unwrap());
    let config = engine::EngineConfig { replica: Some(replica), ..engine::EngineConfig::default() };
    let engine = engine::Engine::open(dir.path(), Box::new(engine::SystemClock), config).unwrap();
    for n in 1..=3 {
        assert!(matches!(engine.execute(rules_request(n)).unwrap(), engine::Outcome::Committed { .. }));
    }
    let mut stale = rules_request(1);
    stale.request_id = domain::RequestId::new("stale").unwrap();
    assert!(matches!(engine.execute(stale).unwrap(), engine::Outcome::Rejected { .. }));
    let ledger_id = engine.log().ledger_id().unwrap().unwrap();
    let logged: Vec<ledger::StoredEvent> = engine.log().events(0).collect::<Result<_, _>>().unwrap();
    let messages = log_messages(&nats.url());
    assert_eq!(messages.len(), 4, "one message per group commit");
    let (mut replicated, mut rejections) = (Vec::new(), Vec::new());
    for (_, subject, headers, payload) in &messages {
        assert_eq!(subject, &format!("gongji.log.{ledger_id}"));
        let piece = decode_message(Some(headers), payload).unwrap();
        replicated.extend(piece.events);
        rejections.extend(piece.rejections.into_iter().map(|(id, _)| id));
    }
    assert_eq!(rejections, ["stale"]);
    assert_eq!(replicated.len(), logged.len());
    for (replicated, logged) in replicated.iter().zip(&logged) {
        assert_eq!(
            (replicated.seq, &replicated.bytes, replicated.hash),
            (logged.seq, &logged.bytes, logged.hash)
        );
    }

    // A second replica takes its place as the last appender; the first, behind, is fenced off.
    let deposed = JetStreamReplica::connect(&nats.url(), 1).unwrap();
    assert_eq!(engine::Replica::head(&deposed, &ledger_id).unwrap(), (3, logged[2].hash));
    assert!(matches!(engine.execute(rules_request(4)).unwrap(), engine::Outcome::Committed { .. }));
    // Its own seq 4, another event than the one the log holds there.
    let mut own = engine.log().event(4).unwrap().unwrap();
    own.hash[0] ^= 1;
    let commit = engine::Commit { events: std::slice::from_ref(&own), rejections: &[] };
    let refused = engine::Replica::append(&deposed, &commit);
    assert!(matches!(refused, Err(engine::ReplicaError::Fenced(_))), "{refused:?}");
    assert_eq!(log_messages(&nats.url()).len(), 5, "nothing was appended by the deposed replica");
    engine.shutdown();
}

//! A real `nats-server` with JetStream for the tests, on a free loopback port, its store in a
//! temporary directory; and a reader of the settlement stream.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The pinned server: `GONGJI_NATS_SERVER`, or `.tools/bin/nats-server` (installed on demand).
fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("GONGJI_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join(".tools/bin/nats-server");
    if !path.exists() {
        let status = Command::new("bash")
            .arg("scripts/install-nats.sh")
            .current_dir(&root)
            .status()
            .expect("bash runs");
        assert!(status.success(), "scripts/install-nats.sh installs the NATS server");
    }
    path
}

pub struct Nats {
    child: Option<Child>,
    pub port: u16,
    pub store: tempfile::TempDir,
    /// A node of a cluster: its name, the port it takes routes on, and the routes it solicits.
    node: Option<(String, u16, String)>,
}

impl Nats {
    /// A server on a port it picks itself (`-p -1`), read back from its ports file: no other
    /// process can take the port between a pick and the bind.
    pub fn start() -> Nats {
        let mut nats = Nats { child: None, port: 0, store: tempfile::tempdir().unwrap(), node: None };
        nats.port = nats.spawn("-1");
        nats
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on the same port and store.
    pub fn restart(&mut self) {
        let port = self.spawn(&self.port.to_string());
        assert_eq!(port, self.port);
    }

    /// Spawns the server on `port` and waits for the ports file it writes once it listens:
    /// the port this very process bound. Panics if it exits first (the port was taken); the
    /// child is held from the start, so a panic here still stops it (`Drop`).
    fn spawn(&mut self, port: &str) -> u16 {
        assert!(self.child.is_none(), "the server is stopped before a restart");
        let ports = self.store.path().join("ports");
        std::fs::create_dir_all(&ports).unwrap();
        let mut command = Command::new(binary());
        command.args(["-js", "-a", "127.0.0.1", "-p", port, "--ports_file_dir"]).arg(&ports);
        command.arg("-sd").arg(self.store.path());
        if let Some((name, route_port, routes)) = &self.node {
            command.args(["--server_name", name, "--cluster_name", "gongji-test"]);
            command.args(["--cluster", &format!("nats://127.0.0.1:{route_port}"), "--routes", routes]);
        }
        let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("nats-server starts");
        let file = ports.join(format!("nats-server_{}.ports", child.id()));
        let child = self.child.insert(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(
                child.try_wait().expect("the child's status").is_none(),
                "nats-server exited on port {port}"
            );
            let listening = std::fs::read_to_string(&file)
                .ok()
                .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
                .and_then(|ports| {
                    ports["nats"][0].as_str().and_then(|url| url.rsplit(':').next()?.parse().ok())
                });
            if let Some(bound) = listening {
                return bound;
            }
            assert!(Instant::now() < deadline, "nats-server listens");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A JetStream cluster of real servers on loopback, each node with its own store, its client
/// port picked by itself and its route port chosen up front (every node must name them all).
pub struct Cluster {
    pub nodes: Vec<Nats>,
}

impl Cluster {
    /// `size` nodes, once JetStream answers through every one of them (a meta leader is elected).
    pub fn start(size: usize) -> Cluster {
        let route_ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let routes: Vec<String> = route_ports.iter().map(|port| format!("nats://127.0.0.1:{port}")).collect();
        let nodes = route_ports
            .iter()
            .enumerate()
            .map(|(index, route_port)| {
                let node = Some((format!("node-{}", index + 1), *route_port, routes.join(",")));
                let mut nats = Nats { child: None, port: 0, store: tempfile::tempdir().unwrap(), node };
                nats.port = nats.spawn("-1");
                nats
            })
            .collect();
        let cluster = Cluster { nodes };
        for node in &cluster.nodes {
            wait_for_jetstream(&node.url());
        }
        cluster
    }

    /// Every node's client URL, comma-separated (as `--nats` takes a cluster).
    pub fn urls(&self) -> String {
        self.nodes.iter().map(Nats::url).collect::<Vec<_>>().join(",")
    }
}

/// A loopback port free now (the kernel's pick, released at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until the JetStream API answers through `url` (a cluster answers only once it has
/// elected its meta leader).
pub fn wait_for_jetstream(url: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(client) = async_nats::connect(url).await {
                if async_nats::jetstream::new(client).query_account().await.is_ok() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "JetStream answers through {url}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

/// A message of the settlement stream.
#[derive(Clone, Debug)]
pub struct Message {
    pub stream_seq: u64,
    pub subject: String,
    pub msg_id: String,
    pub gongji_seq: u64,
    pub payload: Vec<u8>,
}

/// Every message of GONGJI_SETTLEMENTS, in stream order (empty if the stream does not exist).
pub fn read_stream(url: &str) -> Vec<Message> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(url).await.expect("connects");
        let context = async_nats::jetstream::new(client);
        let Ok(mut stream) = context.get_stream("GONGJI_SETTLEMENTS").await else { return Vec::new() };
        let state = stream.info().await.unwrap().state.clone();
        let mut out = Vec::new();
        for seq in state.first_sequence..=state.last_sequence {
            if state.messages == 0 {
                break;
            }
            let Ok(message) = stream.get_raw_message(seq).await else { continue };
            out.push(Message {
                stream_seq: seq,
                subject: message.subject.to_string(),
                msg_id: message
                    .headers
                    .get(async_nats::header::NATS_MESSAGE_ID)
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default(),
                gongji_seq: message
                    .headers
                    .get("Gongji-Seq")
                    .and_then(|v| v.as_str().parse().ok())
                    .unwrap_or(0),
                payload: message.payload.to_vec(),
            });
        }
        out
    })
}

/// Deletes one message of the stream by its stream sequence.
pub fn delete_message(url: &str, stream_seq: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let context = async_nats::jetstream::new(client);
        let stream = context.get_stream("GONGJI_SETTLEMENTS").await.unwrap();
        assert!(stream.delete_message(stream_seq).await.unwrap());
    });
}

/// Publishes a message that is not the ledger's onto a settlement subject.
pub fn publish_foreign(url: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let context = async_nats::jetstream::new(client);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, "ffffffffffffffff:1");
        headers.insert("Gongji-Seq", "1");
        let ack = context
            .publish_with_headers("gongji.settlement.210100.X.settled", headers, "{}".into())
            .await
            .unwrap();
        ack.await.unwrap();
    });
}

/// The replica count of GONGJI_SETTLEMENTS as the server reports its config.
pub fn stream_replicas(url: &str) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let context = async_nats::jetstream::new(client);
        let mut stream = context.get_stream("GONGJI_SETTLEMENTS").await.unwrap();
        stream.info().await.unwrap().config.num_replicas
    })
}

/// Waits (bounded) until the stream holds `count` messages.
pub fn wait_for_messages(url: &str, count: usize) -> Vec<Message> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let messages = read_stream(url);
        if messages.len() >= count {
            return messages;
        }
        assert!(Instant::now() < deadline, "the stream reaches {count} messages (has {})", messages.len());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each settlement-side event of the log is in the stream exactly once, in ledger order.
pub fn assert_exactly_once(messages: &[Message], expected: &[serde_json::Value]) {
    let seqs: Vec<u64> = messages.iter().map(|m| m.gongji_seq).collect();
    let want: Vec<u64> = expected.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, want, "every settlement event once, in ledger order");
}

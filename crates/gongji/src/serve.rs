//! `gongji serve`: open the engine, publish start-up rules, listen, shut down gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tokio::sync::Notify;

use domain::{Command, Region, Request, RequestId, RuleSet};
use engine::{Engine, EngineConfig, Outcome, SystemClock};

use outbox::publish::{self, PublishAck, PublishObserver};
use outbox::replicate;
use server::auth::Tokens;
use server::listen;
use server::metrics::{Metrics, Stored};
use server::routes::{router, App};

use crate::DataDir;

/// Told of every group commit and of the publisher's progress: updates the metrics, and wakes
/// the publisher after a commit.
struct Observer {
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
}

impl engine::CommitObserver for Observer {
    fn committed(&self, requests: usize, events: usize, seconds: f64, head_seq: u64) {
        self.metrics.committed(requests, events, seconds, head_seq);
        self.wake.notify_one();
    }
}

impl replicate::FollowObserver for Observer {
    fn followed(&self, head_seq: u64, lag_messages: u64) {
        self.metrics.followed(head_seq, lag_messages);
    }

    fn promoted(&self) {
        self.metrics.set_primary(true);
    }
}

impl PublishObserver for Observer {
    fn published(&self, ack: &PublishAck) {
        self.metrics.published(if ack.duplicate { Stored::Duplicate } else { Stored::New });
    }

    fn lag(&self, events: u64, seconds: f64) {
        self.metrics.set_publisher_lag(events, seconds);
    }

    fn connected(&self, connected: bool) {
        self.metrics.set_publisher_connected(connected);
    }
}

/// How the service writes its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataDir,
    /// The HTTP listen address; port 0 picks a free port.
    #[arg(long, env = "GONGJI_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The NATS server, or a cluster's servers comma-separated; without it events wait in the
    /// outbox.
    #[arg(long, env = "GONGJI_NATS")]
    pub nats: Option<String>,
    /// Replicas of the settlement stream when the service creates it (3 on a 3-node cluster);
    /// the service refuses to publish to a stream that has another count.
    #[arg(long, env = "GONGJI_NATS_REPLICAS", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=publish::REPLICAS_MAX))]
    pub nats_replicas: u64,
    /// The bearer tokens file.
    #[arg(long, env = "GONGJI_TOKENS")]
    pub tokens: Option<PathBuf>,
    /// Rule sets to publish at start-up, keyed by region.
    #[arg(long, env = "GONGJI_RULES")]
    pub rules: Option<PathBuf>,
    /// Run without a tokens file: requests without a token act as an operator.
    #[arg(long)]
    pub insecure_dev: bool,
    /// Store a snapshot of the projections every this many events (0: never).
    #[arg(long, env = "GONGJI_SNAPSHOT_EVERY", default_value_t = domain::limits::SNAPSHOT_EVERY_EVENTS)]
    pub snapshot_every: u64,
    /// sled's page cache, in MiB (the process holds about 1.15 times this for it).
    #[arg(long, env = "GONGJI_SLED_CACHE_MIB", default_value_t = ledger::CACHE_BYTES_DEFAULT >> 20,
          value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub sled_cache_mib: u64,
    /// Seconds a request's headers may take to arrive, from the connection opening or from
    /// the previous answer; then the connection is closed.
    #[arg(long, env = "GONGJI_HEADER_TIMEOUT_SECS", default_value_t = domain::limits::HEADER_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub header_timeout_secs: u64,
    /// Seconds a connection may stay with no byte moving either way (an idle keep-alive
    /// connection, a body or an answer that stalls); then it is closed.
    #[arg(long, env = "GONGJI_IDLE_TIMEOUT_SECS", default_value_t = domain::limits::IDLE_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout_secs: u64,
    /// Connections open at once; at the cap a new one closes the one that has waited longest
    /// for a request. Never more than the open-file limit leaves room for.
    #[arg(long, env = "GONGJI_MAX_CONNECTIONS", default_value_t = domain::limits::CONNECTIONS_MAX,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Log format.
    #[arg(long, env = "GONGJI_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Replicate the log through JetStream (`GONGJI_LOG` on the `--nats` cluster, with
    /// `--nats-replicas` replicas) before answering, and follow it while another node leads.
    #[arg(long, env = "GONGJI_REPLICATE")]
    pub replicate: bool,
    /// Seconds the primary's lease lives unless renewed: a follower leads this long (and a
    /// little more) after the primary is lost.
    #[arg(long, env = "GONGJI_LEASE_TTL_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub lease_ttl_secs: u64,
    /// The URL a follower names as the primary's in its `not_primary` answers (default: the
    /// listen address).
    #[arg(long, env = "GONGJI_ADVERTISE")]
    pub advertise: Option<String>,
}

/// The listener's limits from the flags (connections capped by the open-file limit, which is
/// raised first as far as allowed), and that open-file limit.
fn connection_limits(args: &ServeArgs) -> (listen::Limits, u64) {
    let open_files = listen::raise_open_files_limit();
    let asked = usize::try_from(args.max_connections).unwrap_or(usize::MAX);
    let limits = listen::Limits {
        header_timeout: std::time::Duration::from_secs(args.header_timeout_secs),
        idle_timeout: std::time::Duration::from_secs(args.idle_timeout_secs),
        connections_max: listen::connections_cap(asked, open_files),
    };
    if limits.connections_max > asked {
        tracing::warn!(
            asked,
            connections_max = limits.connections_max,
            "--max-connections is below the fewest connections the service allows; using the fewest"
        );
    } else if limits.connections_max < asked {
        tracing::warn!(
            open_files,
            connections_max = limits.connections_max,
            "the open-file limit caps connections below --max-connections"
        );
    }
    (limits, open_files)
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    let (limits, open_files) = connection_limits(&args);
    let tokens = match (&args.tokens, args.insecure_dev) {
        (Some(path), _) => Tokens::load(path)?,
        (None, true) => {
            tracing::warn!("--insecure-dev: requests without a token act as an operator");
            Tokens::insecure_dev()
        }
        (None, false) => {
            anyhow::bail!("no tokens file: give --tokens FILE (or --insecure-dev for local development)")
        }
    };
    match &args.nats {
        Some(url) => drop(publish::servers(url).context("--nats")?),
        None if args.replicate => {
            anyhow::bail!("a replicated node needs --nats: the cluster that holds the log")
        }
        None => {}
    }
    let startup_rules = match &args.rules {
        Some(path) => read_rules(path)?,
        None => Vec::new(),
    };
    let metrics = Arc::new(Metrics::new());
    let wake = Arc::new(Notify::new());
    let observer = Arc::new(Observer { metrics: metrics.clone(), wake: wake.clone() });
    let config = EngineConfig {
        observer: Some(observer.clone()),
        snapshot_every_events: (args.snapshot_every > 0).then_some(args.snapshot_every),
        sled_cache_bytes: args.sled_cache_mib << 20,
        ..EngineConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(args.listen))
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    // Replicated, every node starts as a follower and leads once it holds the lease.
    let opened = match args.replicate {
        false => Engine::open(&args.data.data, Box::new(SystemClock), config),
        true => Engine::follow(&args.data.data, Box::new(SystemClock), config),
    };
    let engine = opened.with_context(|| format!("cannot open the ledger in {}", args.data.data.display()))?;
    if !args.replicate {
        publish_startup_rules(&engine, &startup_rules)?;
    }
    metrics.set_head_seq(engine.durable_head());
    metrics.set_primary(!args.replicate);

    let body_deadline = limits.idle_timeout;
    let app = Arc::new(App { engine, tokens, metrics, rebuilds: Default::default(), body_deadline });
    let outbox =
        publish::Outbox { reader: app.engine.log().clone(), cursor: app.engine.outbox_cursor().clone() };
    // Set when a replicated primary stops leading: the process then stops, to come back as a
    // follower (its supervisor restarts it).
    let deposed = Arc::new(Deposed::default());
    let primary = Primary { startup_rules, outbox, observer, wake, deposed: deposed.clone() };
    spawn_background(&runtime, &args, app.clone(), format!("http://{address}"), primary);
    runtime.block_on(async {
        println!("gongji listening on http://{address}");
        tracing::info!(%address, open_files, connections_max = limits.connections_max, "listening");
        let stop = async {
            tokio::select! {
                () = shutdown_signal() => {}
                () = deposed.stop.notified() => {}
            }
        };
        listen::serve(listener, router(app.clone()), limits, stop).await?;
        anyhow::Ok(())
    })?;
    // Every in-flight request has been answered; stop the writer after what it has queued.
    drop(runtime);
    match Arc::try_unwrap(app) {
        Ok(app) => app.engine.shutdown(),
        Err(_) => tracing::warn!("handlers still hold the engine; it stops when they drop"),
    }
    tracing::info!("stopped");
    if deposed.happened.load(std::sync::atomic::Ordering::Acquire) {
        eprintln!("gongji: this node no longer leads the ledger; start it again to follow");
        return Ok(ExitCode::from(DEPOSED_EXIT));
    }
    Ok(ExitCode::SUCCESS)
}

/// The exit code of a replicated primary that stopped leading (its lease lost, its append
/// fenced off, or its disk failed): started again, it follows.
pub const DEPOSED_EXIT: u8 = 3;

/// A replicated primary that stopped leading: whether it happened, and the wake-up that stops
/// the listener.
#[derive(Default)]
struct Deposed {
    happened: std::sync::atomic::AtomicBool,
    stop: Notify,
}

/// Starts what runs beside the listener: replicated, the follower that leads once it can;
/// otherwise the settlement publisher (or, without NATS, the watch on its lag).
fn spawn_background(
    runtime: &tokio::runtime::Runtime,
    args: &ServeArgs,
    app: Arc<App>,
    listening: String,
    primary: Primary,
) {
    let replicas = usize::try_from(args.nats_replicas).expect("--nats-replicas is at most 5");
    let Primary { outbox, observer, wake, .. } = match (&args.nats, args.replicate) {
        (Some(url), true) => {
            let cluster = replicate::Cluster { servers: url.clone(), replicas };
            let holder = replicate::Holder {
                node: node_id(),
                address: args.advertise.clone().unwrap_or(listening),
                ledger_id: None,
            };
            let ttl = std::time::Duration::from_secs(args.lease_ttl_secs);
            runtime.spawn(lead_when_possible(app, cluster, holder, ttl, primary));
            return;
        }
        _ => primary,
    };
    match &args.nats {
        Some(url) => drop(runtime.spawn(publish::run(url.clone(), replicas, outbox, observer, wake))),
        None => {
            tracing::warn!("no --nats: settlement events wait in the outbox until a start with a NATS URL");
            drop(runtime.spawn(publish::watch_lag(outbox, observer, wake)));
        }
    }
}

/// What a replicated node starts once it leads.
struct Primary {
    startup_rules: Vec<(Region, RuleSet)>,
    outbox: publish::Outbox,
    observer: Arc<Observer>,
    wake: Arc<Notify>,
    deposed: Arc<Deposed>,
}

/// This run's name in the lease: the process id and the start time.
fn node_id() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}", std::process::id())
}

/// A replicated node: follows the log until it holds the lease, then leads: publishes the
/// start-up rules, starts the settlement publisher, and renews the lease until it is lost.
async fn lead_when_possible(
    app: Arc<App>,
    cluster: replicate::Cluster,
    holder: replicate::Holder,
    ttl: std::time::Duration,
    primary: Primary,
) {
    let lease = loop {
        match replicate::Lease::open(&cluster, ttl, holder.clone()).await {
            Ok(lease) => break lease,
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "the lease bucket: trying again");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    };
    let Primary { startup_rules, outbox, observer, wake, deposed } = primary;
    let lease = match replicate::follow_until_primary(app.clone(), &cluster, lease, observer.clone()).await {
        Ok(lease) => lease,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "following the log stopped");
            return;
        }
    };
    tracing::info!(address = %holder.address, "this node leads the ledger");
    let rules_app = app.clone();
    match tokio::task::spawn_blocking(move || publish_startup_rules(&rules_app.engine, &startup_rules)).await
    {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!(error = %format!("{error:#}"), "start-up rules"),
        Err(error) => tracing::error!(%error, "start-up rules"),
    }
    tokio::spawn(publish::run(cluster.servers.clone(), cluster.replicas, outbox, observer, wake));
    if let Err(error) = replicate::hold_lease(app, lease).await {
        tracing::error!(error = %format!("{error:#}"), "holding the lease");
    }
    tracing::error!("this node no longer leads the ledger: stopping, to come back as a follower");
    deposed.happened.store(true, std::sync::atomic::Ordering::Release);
    deposed.stop.notify_one();
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GONGJI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// The `--rules` file: `{region: rule set body without request_id}`.
fn read_rules(path: &std::path::Path) -> anyhow::Result<Vec<(Region, RuleSet)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let object: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&text).with_context(|| format!("{} is not a JSON object", path.display()))?;
    object
        .into_iter()
        .map(|(region, value)| {
            let region =
                Region::new(&region).with_context(|| format!("{region:?} is not a 6-digit region"))?;
            let rules: RuleSet = serde_json::from_value(value)
                .with_context(|| format!("the rule set of {region} is not valid"))?;
            rules
                .validate()
                .map_err(|(field, problem)| anyhow::anyhow!("rules of {region}: {field} {problem}"))?;
            Ok((region, rules))
        })
        .collect()
}

/// Publishes each start-up rule set whose version the log does not hold yet.
fn publish_startup_rules(engine: &Engine, rules: &[(Region, RuleSet)]) -> anyhow::Result<()> {
    for (region, rules) in rules.iter().cloned() {
        let known = engine.read(|view| Ok(view.rules_version(&region, rules.version)?.is_some()))?;
        if known {
            continue;
        }
        let request_id = RequestId::new(&format!("startup-rules-{region}-v{}", rules.version))
            .expect("start-up request ids are valid");
        let version = rules.version;
        match engine.execute(Request { request_id, command: Command::PublishRules { region, rules } })? {
            Outcome::Committed { .. } => tracing::info!(%region, version, "published start-up rules"),
            Outcome::Rejected { rejection, .. } => {
                anyhow::bail!("start-up rules for {region} v{version} refused: {rejection}")
            }
            Outcome::Preview { .. } => unreachable!("rules are not previewed"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ServeArgs;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parse(args: &[&str]) -> Result<super::ServeArgs, clap::Error> {
        let argv = std::iter::once("serve").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|cli| cli.serve)
    }

    // Proves replication is off unless asked for, and the lease's TTL takes 1 to 300 seconds,
    // 5 by default.
    #[test]
    fn replication_flags() {
        let command = <Cli as clap::CommandFactory>::command();
        let argument = |id: &str| command.get_arguments().find(|a| a.get_id() == id).unwrap().clone();
        assert_eq!(argument("replicate").get_env(), Some(std::ffi::OsStr::new("GONGJI_REPLICATE")));
        assert_eq!(argument("lease_ttl_secs").get_default_values(), ["5"]);
        let replicated =
            parse(&["--replicate", "--nats", "nats://127.0.0.1:4222", "--lease-ttl-secs", "2"]).unwrap();
        assert!(replicated.replicate);
        assert_eq!(replicated.lease_ttl_secs, 2);
        assert!(parse(&["--lease-ttl-secs", "0"]).is_err());
        assert!(parse(&["--lease-ttl-secs", "301"]).is_err());
    }

    fn replicas(args: &[&str]) -> Result<u64, clap::Error> {
        let argv = std::iter::once("serve").chain(args.iter().copied());
        Cli::try_parse_from(argv).map(|cli| cli.serve.nats_replicas)
    }

    // Proves --nats-replicas defaults to 1, takes 1 to 5, and refuses 0 and more than JetStream
    // allows.
    #[test]
    fn nats_replicas_flag() {
        // The default as declared, whatever GONGJI_NATS_REPLICAS the environment holds.
        let command = <Cli as clap::CommandFactory>::command();
        let argument = command.get_arguments().find(|a| a.get_id() == "nats_replicas").unwrap();
        assert_eq!(argument.get_default_values(), ["1"]);
        assert_eq!(argument.get_env(), Some(std::ffi::OsStr::new("GONGJI_NATS_REPLICAS")));
        assert_eq!(replicas(&["--nats-replicas", "3"]).unwrap(), 3);
        assert_eq!(replicas(&["--nats-replicas", "1"]).unwrap(), 1);
        assert_eq!(replicas(&["--nats-replicas=5"]).unwrap(), 5);
        assert!(replicas(&["--nats-replicas", "0"]).is_err());
        assert!(replicas(&["--nats-replicas", "6"]).is_err());
        assert!(replicas(&["--nats-replicas", "three"]).is_err());
    }
}

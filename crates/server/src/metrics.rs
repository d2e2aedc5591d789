//! `/metrics` in Prometheus text: commands by kind and outcome, group-commit batch size and
//! commit latency, the log's head seq, and the publisher's acks, lag (events after the
//! outbox cursor, kept current with or without a NATS URL) and whether it is connected. It only holds and renders values;
//! the publisher and the HTTP edge set them.

use prometheus::{
    exponential_buckets, Encoder, Gauge, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// How the settlement stream took a published message: the `duplicate` label of
/// `gongji_published_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// Stored for the first time.
    New,
    /// The stream already held its message id (a republish within the duplicate window).
    Duplicate,
}

pub struct Metrics {
    registry: Registry,
    commands: IntCounterVec,
    batch_requests: Histogram,
    batch_events: Histogram,
    commit_seconds: Histogram,
    head_seq: IntGauge,
    published: IntCounterVec,
    publisher_lag_events: IntGauge,
    publisher_lag_seconds: Gauge,
    primary: IntGauge,
    follower_lag_messages: IntGauge,
    publisher_connected: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Registers a collector; the names below are fixed and distinct, so this cannot fail.
fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, collector: C) -> C {
    registry.register(Box::new(collector.clone())).expect("metric names are distinct and valid");
    collector
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let histogram =
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("a valid histogram");
    register(registry, histogram)
}

fn doubling(start: f64, count: usize) -> Vec<f64> {
    exponential_buckets(start, 2.0, count).expect("valid buckets")
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counters = |name: &str, help: &str, labels: &[&str]| {
            let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter");
            register(&registry, counter)
        };
        let gauge =
            |name: &str, help: &str| register(&registry, IntGauge::new(name, help).expect("a valid gauge"));
        Metrics {
            commands: counters(
                "gongji_commands_total",
                "Mutating requests by command kind and outcome",
                &["kind", "outcome"],
            ),
            batch_requests: histogram(
                &registry,
                "gongji_commit_batch_requests",
                "Requests per group commit",
                doubling(1.0, 12),
            ),
            batch_events: histogram(
                &registry,
                "gongji_commit_batch_events",
                "Events per group commit",
                doubling(1.0, 12),
            ),
            commit_seconds: histogram(
                &registry,
                "gongji_commit_seconds",
                "Write, flush and fsync time of one group commit",
                doubling(0.000_25, 16),
            ),
            head_seq: gauge("gongji_log_head_seq", "The seq of the last event in the log"),
            published: counters(
                "gongji_published_total",
                "Settlement events acknowledged by JetStream",
                &["duplicate"],
            ),
            publisher_lag_events: gauge(
                "gongji_publisher_lag_events",
                "Events in the log after the publisher's cursor",
            ),
            publisher_lag_seconds: register(
                &registry,
                Gauge::new(
                    "gongji_publisher_lag_seconds",
                    "How long the oldest unpublished event has waited",
                )
                .expect("a valid gauge"),
            ),
            primary: gauge(
                "gongji_primary",
                "1 while this node writes the ledger (the primary, or a node without replication), 0 while it follows",
            ),
            follower_lag_messages: gauge(
                "gongji_follower_lag_messages",
                "Messages of the replicated log a follower has not applied yet",
            ),
            publisher_connected: gauge(
                "gongji_publisher_connected",
                "1 while the publisher holds a NATS connection and its stream; 0 without a NATS URL or while it reconnects",
            ),
            registry,
        }
    }

    /// Whether this node writes the ledger (1) or follows another's log (0).
    pub fn set_primary(&self, primary: bool) {
        self.primary.set(i64::from(primary));
    }

    /// A follower applied the log up to `head_seq`, `lag_messages` behind the stream.
    pub fn followed(&self, head_seq: u64, lag_messages: u64) {
        self.set_head_seq(head_seq);
        self.follower_lag_messages.set(i64::try_from(lag_messages).unwrap_or(i64::MAX));
    }

    pub fn command(&self, kind: &str, outcome: &str) {
        self.commands.with_label_values(&[kind, outcome]).inc();
    }

    pub fn set_head_seq(&self, seq: u64) {
        self.head_seq.set(i64::try_from(seq).unwrap_or(i64::MAX));
    }

    pub fn published(&self, stored: Stored) {
        let duplicate = match stored {
            Stored::New => "false",
            Stored::Duplicate => "true",
        };
        self.published.with_label_values(&[duplicate]).inc();
    }

    pub fn set_publisher_lag(&self, events: u64, seconds: f64) {
        self.publisher_lag_events.set(i64::try_from(events).unwrap_or(i64::MAX));
        self.publisher_lag_seconds.set(seconds);
    }

    pub fn set_publisher_connected(&self, connected: bool) {
        self.publisher_connected.set(i64::from(connected));
    }

    /// The Prometheus text format (version 0.0.4), as `promtool check metrics` reads it.
    pub fn render(&self) -> String {
        let mut text = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut text).expect("metrics encode to a buffer");
        String::from_utf8(text).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl engine::CommitObserver for Metrics {
    fn committed(&self, requests: usize, events: usize, seconds: f64, head_seq: u64) {
        self.batch_requests.observe(requests as f64);
        self.batch_events.observe(events as f64);
        self.commit_seconds.observe(seconds);
        self.set_head_seq(head_seq);
    }
}

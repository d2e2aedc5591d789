//! `/metrics` in Prometheus text: commands by kind and outcome, group-commit batch size and
//! commit latency, the log's head seq, and the publisher's acks and lag (events after the
//! outbox cursor, kept current with or without a NATS URL). It only holds and renders values;
//! the publisher and the HTTP edge set them.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    kind: String,
    outcome: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    commands: Family<CommandLabels, Counter>,
    batch_requests: Histogram,
    batch_events: Histogram,
    commit_seconds: Histogram,
    head_seq: Gauge,
    published: Family<PublishedLabels, Counter>,
    publisher_lag_events: Gauge,
    publisher_lag_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PublishedLabels {
    duplicate: String,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let commands = Family::<CommandLabels, Counter>::default();
        registry.register(
            "gongji_commands",
            "Mutating requests by command kind and outcome",
            commands.clone(),
        );
        let batch_requests = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register(
            "gongji_commit_batch_requests",
            "Requests per group commit",
            batch_requests.clone(),
        );
        let batch_events = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register("gongji_commit_batch_events", "Events per group commit", batch_events.clone());
        let commit_seconds = Histogram::new(exponential_buckets(0.000_25, 2.0, 16));
        registry.register(
            "gongji_commit_seconds",
            "Write, flush and fsync time of one group commit",
            commit_seconds.clone(),
        );
        let head_seq = Gauge::default();
        registry.register("gongji_log_head_seq", "The seq of the last event in the log", head_seq.clone());
        let published = Family::<PublishedLabels, Counter>::default();
        registry.register(
            "gongji_published",
            "Settlement events acknowledged by JetStream",
            published.clone(),
        );
        let publisher_lag_events = Gauge::default();
        registry.register(
            "gongji_publisher_lag_events",
            "Events in the log after the publisher's cursor",
            publisher_lag_events.clone(),
        );
        let publisher_lag_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "gongji_publisher_lag_seconds",
            "How long the oldest unpublished event has waited",
            publisher_lag_seconds.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            commands,
            batch_requests,
            batch_events,
            commit_seconds,
            head_seq,
            published,
            publisher_lag_events,
            publisher_lag_seconds,
        }
    }

    pub fn command(&self, kind: &str, outcome: &str) {
        self.commands
            .get_or_create(&CommandLabels { kind: kind.to_owned(), outcome: outcome.to_owned() })
            .inc();
    }

    pub fn set_head_seq(&self, seq: u64) {
        self.head_seq.set(i64::try_from(seq).unwrap_or(i64::MAX));
    }

    pub fn published(&self, duplicate: bool) {
        self.published.get_or_create(&PublishedLabels { duplicate: duplicate.to_string() }).inc();
    }

    pub fn set_publisher_lag(&self, events: u64, seconds: f64) {
        self.publisher_lag_events.set(i64::try_from(events).unwrap_or(i64::MAX));
        self.publisher_lag_seconds.set(seconds);
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("metrics encode to a string");
        text
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

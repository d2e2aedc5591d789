//! The log replicated through JetStream (`gongji serve --replicate`): each group commit is one
//! message of the stream `GONGJI_LOG` on subject `gongji.log.{ledger_id}`, its payload the
//! commit's events as one segment of the log's own format (`ledger::encode_segment`), with a
//! `Gongji-First-Seq` header. Every append says which message it follows
//! (`Nats-Expected-Last-Subject-Sequence`), so a primary that another has replaced cannot
//! append: its next append is refused, and it must stop writing.
//!
//! Work in progress: the engine calls `append` from its committer thread, blocking on the ack.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, stream};

use engine::{Replica, ReplicaError};
use ledger::StoredEvent;

pub const LOG_STREAM: &str = "GONGJI_LOG";
pub const LOG_SUBJECTS: &str = "gongji.log.>";

/// The subject of one ledger's log.
pub fn log_subject(ledger_id: &str) -> String {
    format!("gongji.log.{ledger_id}")
}

/// The ledger id of a log whose first event is `first`: the first 16 hex digits of its hash.
fn ledger_id_of(first: &StoredEvent) -> String {
    let mut id = String::with_capacity(16);
    for byte in &first.hash[..8] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// Where the replica stands: the ledger's subject once known, and the stream sequence of the
/// last message on it (0 before the first).
struct Position {
    subject: Option<String>,
    last: u64,
}

/// A `Replica` on a JetStream stream, from a runtime of its own (the committer is no tokio
/// thread).
pub struct JetStreamReplica {
    runtime: tokio::runtime::Runtime,
    context: jetstream::Context,
    position: Mutex<Position>,
}

impl std::fmt::Debug for JetStreamReplica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamReplica").finish_non_exhaustive()
    }
}

impl JetStreamReplica {
    /// Connects to `servers` (one URL or a comma-separated cluster), makes sure `GONGJI_LOG`
    /// exists with `replicas` replicas, and finds the last message of `ledger_id` (the
    /// ledger's id, or `None` for a ledger with no event yet).
    pub fn connect(
        servers: &str,
        replicas: usize,
        ledger_id: Option<&str>,
    ) -> anyhow::Result<JetStreamReplica> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (context, last) = runtime.block_on(async {
            let client = async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_secs(2))
                .request_timeout(Some(Duration::from_secs(5)))
                .connect(crate::publish::servers(servers)?)
                .await
                .with_context(|| format!("cannot connect to {servers}"))?;
            let context = jetstream::new(client);
            let stream = context
                .get_or_create_stream(stream::Config {
                    name: LOG_STREAM.to_owned(),
                    subjects: vec![LOG_SUBJECTS.to_owned()],
                    storage: stream::StorageType::File,
                    num_replicas: replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| anyhow::anyhow!("cannot create or read stream {LOG_STREAM}: {e}"))?;
            let last = match ledger_id {
                Some(id) => match stream.get_last_raw_message_by_subject(&log_subject(id)).await {
                    Ok(message) => message.sequence,
                    Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => 0,
                    Err(e) => anyhow::bail!("cannot read the last message of ledger {id}: {e}"),
                },
                None => 0,
            };
            anyhow::Ok((context, last))
        })?;
        let subject = ledger_id.map(log_subject);
        Ok(JetStreamReplica { runtime, context, position: Mutex::new(Position { subject, last }) })
    }
}

impl Replica for JetStreamReplica {
    fn append(&self, events: &[StoredEvent]) -> Result<(), ReplicaError> {
        let Some(first) = events.first() else { return Ok(()) };
        let mut position = self.position.lock().unwrap_or_else(|p| p.into_inner());
        if position.subject.is_none() && first.seq == 1 {
            position.subject = Some(log_subject(&ledger_id_of(first)));
        }
        let subject = position
            .subject
            .clone()
            .ok_or_else(|| ReplicaError(format!("the ledger's id is not known at seq {}", first.seq)))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            position.last.to_string().as_str(),
        );
        headers.insert("Gongji-First-Seq", first.seq.to_string().as_str());
        let payload = ledger::encode_segment(events);
        let ack = self.runtime.block_on(async {
            self.context
                .publish_with_headers(subject, headers, payload.into())
                .await
                .map_err(|e| ReplicaError(format!("append of seq {}: {e}", first.seq)))?
                .await
                .map_err(|e| ReplicaError(format!("ack of seq {}: {e}", first.seq)))
        })?;
        position.last = ack.sequence;
        Ok(())
    }
}

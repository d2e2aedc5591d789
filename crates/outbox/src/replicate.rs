//! The log replicated through JetStream (`gongji serve --replicate`, `gongji follow`).
//!
//! Each group commit is appended to the stream `GONGJI_LOG` on subject
//! `gongji.log.{ledger_id}` as one message (or a few, when it is larger than a message may be):
//! its events as one segment of the log's own format (`ledger::encode_segment`), then the
//! rejections the batch remembered. Headers say where the piece stands: `Gongji-First-Seq`,
//! `Gongji-Head-Seq` and `Gongji-Head-Hash` (the log's head once it is applied), and
//! `Gongji-Segment-Bytes`. Every append says which message it follows
//! (`Nats-Expected-Last-Subject-Sequence`), so a primary that another has replaced cannot
//! append: its next append is refused (`ReplicaError::Fenced`), and it stops writing. A retry
//! of an append whose ack was lost carries the same `Nats-Msg-Id`, so the stream keeps it once.
//!
//! A follower reads the subject with an ordered consumer and gives each piece to its engine
//! (`Engine::apply_replicated`), which checks that it continues the chain, every hash
//! included. Who is primary is a lease in the KV bucket `GONGJI_LEASE` (see `Lease`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer, kv, stream};
use futures::StreamExt;

use engine::{Commit, Engine, Replica, ReplicaError, Replicated};
use ledger::{RequestRecord, StoredEvent};

pub const LOG_STREAM: &str = "GONGJI_LOG";
pub const LOG_SUBJECTS: &str = "gongji.log.>";

const FIRST_SEQ: &str = "Gongji-First-Seq";
const HEAD_SEQ: &str = "Gongji-Head-Seq";
const HEAD_HASH: &str = "Gongji-Head-Hash";
const SEGMENT_BYTES: &str = "Gongji-Segment-Bytes";

/// Room left in a message for its headers.
const HEADER_ROOM: usize = 4096;
/// How long an append waits for its ack; then it is retried (the engine refuses requests
/// meanwhile).
const ACK_WAIT: Duration = Duration::from_secs(2);

/// The subject of one ledger's log.
pub fn log_subject(ledger_id: &str) -> String {
    format!("gongji.log.{ledger_id}")
}

/// The ledger id of a log whose first event is `first`: the first 16 hex digits of its hash.
fn ledger_id_of(first: &StoredEvent) -> String {
    first.hash[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}

fn hex32(hash: &[u8; 32]) -> String {
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let mut hash = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(hash)
}

/// The bytes an event takes in a segment, and a remembered rejection after it.
fn event_bytes(event: &StoredEvent) -> usize {
    4 + event.bytes.len() + 32
}

fn rejection_bytes((request_id, record): &(String, RequestRecord)) -> usize {
    2 + request_id.len() + 4 + record.encode().len()
}

/// One message of the replicated log: a run of a commit's events, and rejections.
struct Piece<'a> {
    events: &'a [StoredEvent],
    rejections: &'a [(String, RequestRecord)],
}

/// Cuts a commit into pieces of at most `budget` bytes each (at least one event or rejection
/// each), events first; a commit with neither is no piece.
fn pieces<'a>(commit: &Commit<'a>, budget: usize) -> Vec<Piece<'a>> {
    let mut pieces = Vec::new();
    let (mut events, mut rejections) = (commit.events, commit.rejections);
    while !events.is_empty() || !rejections.is_empty() {
        let mut size = 37;
        let mut take_events = 0;
        while take_events < events.len()
            && (take_events == 0 || size + event_bytes(&events[take_events]) <= budget)
        {
            size += event_bytes(&events[take_events]);
            take_events += 1;
        }
        let mut take_rejections = 0;
        while take_rejections < rejections.len()
            && ((take_events == 0 && take_rejections == 0)
                || size + rejection_bytes(&rejections[take_rejections]) <= budget)
        {
            size += rejection_bytes(&rejections[take_rejections]);
            take_rejections += 1;
        }
        pieces.push(Piece { events: &events[..take_events], rejections: &rejections[..take_rejections] });
        events = &events[take_events..];
        rejections = &rejections[take_rejections..];
    }
    pieces
}

/// A piece's payload: the segment, then each rejection as `u16 id length, id, u32 record
/// length, record`.
fn encode_piece(piece: &Piece<'_>) -> (Vec<u8>, usize) {
    let mut payload = ledger::encode_segment(piece.events);
    let segment_bytes = payload.len();
    for (request_id, record) in piece.rejections {
        let record = record.encode();
        let id_len = u16::try_from(request_id.len()).expect("request ids are at most 64 bytes");
        payload.extend_from_slice(&id_len.to_le_bytes());
        payload.extend_from_slice(request_id.as_bytes());
        payload.extend_from_slice(&u32::try_from(record.len()).expect("a record is small").to_le_bytes());
        payload.extend_from_slice(&record);
    }
    (payload, segment_bytes)
}

fn header<'a>(headers: Option<&'a async_nats::HeaderMap>, name: &str) -> Result<&'a str, String> {
    headers
        .and_then(|headers| headers.get(name))
        .map(|value| value.as_str())
        .ok_or_else(|| format!("a log message without {name}"))
}

fn header_u64(headers: Option<&async_nats::HeaderMap>, name: &str) -> Result<u64, String> {
    let text = header(headers, name)?;
    text.parse().map_err(|_| format!("{name}: {text:?} is not a number"))
}

/// The piece of the log one message holds.
pub fn decode_message(headers: Option<&async_nats::HeaderMap>, payload: &[u8]) -> Result<Replicated, String> {
    let first_seq = header_u64(headers, FIRST_SEQ)?;
    let segment_bytes = usize::try_from(header_u64(headers, SEGMENT_BYTES)?).unwrap_or(usize::MAX);
    let segment = payload.get(..segment_bytes).ok_or("the segment is longer than the message")?;
    let events = ledger::decode_segment(first_seq, segment).map_err(|e| e.to_string())?;
    let mut rest = &payload[segment_bytes..];
    let mut rejections = Vec::new();
    let take = |n: usize, rest: &mut &[u8]| -> Result<Vec<u8>, String> {
        let (head, tail) = rest.split_at_checked(n).ok_or("a rejection is cut short")?;
        *rest = tail;
        Ok(head.to_vec())
    };
    while !rest.is_empty() {
        let id_len = u16::from_le_bytes(take(2, &mut rest)?.try_into().expect("2 bytes"));
        let id = String::from_utf8(take(usize::from(id_len), &mut rest)?)
            .map_err(|_| "a request id is not UTF-8")?;
        let record_len = u32::from_le_bytes(take(4, &mut rest)?.try_into().expect("4 bytes"));
        let bytes = take(record_len as usize, &mut rest)?;
        let record = RequestRecord::decode(&bytes).ok_or("a remembered rejection does not decode")?;
        rejections.push((id, record));
    }
    Ok(Replicated { events, rejections })
}

/// Connects to `servers` (one URL or a comma-separated cluster) with the timeouts the log
/// needs: a lost server is noticed in seconds.
async fn connect(servers: &str) -> anyhow::Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .request_timeout(Some(ACK_WAIT))
        .retry_on_initial_connect()
        .connect(crate::publish::servers(servers)?)
        .await
        .with_context(|| format!("cannot connect to {servers}"))
}

/// The log's stream, created if missing with `replicas` replicas.
async fn log_stream(context: &jetstream::Context, replicas: usize) -> anyhow::Result<stream::Stream> {
    context
        .get_or_create_stream(stream::Config {
            name: LOG_STREAM.to_owned(),
            subjects: vec![LOG_SUBJECTS.to_owned()],
            storage: stream::StorageType::File,
            num_replicas: replicas,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot create or read stream {LOG_STREAM}: {e}"))
}

/// Where the replica stands: the ledger's id once known, the stream sequence of the last
/// message on its subject (0 before the first), and the log's head (seq and hash) it holds.
struct Position {
    ledger_id: Option<String>,
    last: u64,
    head: (u64, [u8; 32]),
}

/// A `Replica` on a JetStream stream, from a runtime of its own (the committer is no tokio
/// thread).
pub struct JetStreamReplica {
    runtime: tokio::runtime::Runtime,
    context: jetstream::Context,
    stream: stream::Stream,
    max_payload: usize,
    position: Mutex<Position>,
}

impl std::fmt::Debug for JetStreamReplica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamReplica").finish_non_exhaustive()
    }
}

impl JetStreamReplica {
    /// Connects to `servers` and makes sure `GONGJI_LOG` exists with `replicas` replicas.
    pub fn connect(servers: &str, replicas: usize) -> anyhow::Result<JetStreamReplica> {
        // A worker of its own keeps the connection alive between appends.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("gongji-replica")
            .enable_all()
            .build()?;
        let (context, stream, max_payload) = runtime.block_on(async {
            let client = connect(servers).await?;
            let max_payload = client.server_info().max_payload;
            let context = jetstream::new(client);
            let stream = log_stream(&context, replicas).await?;
            anyhow::Ok((context, stream, max_payload))
        })?;
        let position = Mutex::new(Position { ledger_id: None, last: 0, head: (0, [0; 32]) });
        Ok(JetStreamReplica { runtime, context, stream, max_payload, position })
    }

    /// Appends one piece after stream sequence `last`; its stream sequence.
    async fn append_piece(
        &self,
        ledger_id: &str,
        last: u64,
        piece: &Piece<'_>,
        head: (u64, [u8; 32]),
    ) -> Result<u64, ReplicaError> {
        let first_seq = piece.events.first().map_or(head.0 + 1, |event| event.seq);
        let (payload, segment_bytes) = encode_piece(piece);
        // The same append, retried, has the same id; another primary's at the same place not.
        let tag = match piece.events.last() {
            Some(event) => hex32(&event.hash)[..16].to_owned(),
            None => format!("r{}", piece.rejections.first().map_or("", |(id, _)| id.as_str())),
        };
        let message_id = format!("{ledger_id}:{last}:{tag}");
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, last.to_string().as_str());
        headers.insert(async_nats::header::NATS_MESSAGE_ID, message_id.as_str());
        headers.insert(FIRST_SEQ, first_seq.to_string().as_str());
        headers.insert(HEAD_SEQ, head.0.to_string().as_str());
        headers.insert(HEAD_HASH, hex32(&head.1).as_str());
        headers.insert(SEGMENT_BYTES, segment_bytes.to_string().as_str());
        let subject = log_subject(ledger_id);
        let unavailable =
            |e: &dyn std::fmt::Display| ReplicaError::Unavailable(format!("append of seq {first_seq}: {e}"));
        let published = self
            .context
            .publish_with_headers(subject.clone(), headers, payload.into())
            .await
            .map_err(|e| unavailable(&e))?;
        match published.await {
            Ok(ack) => Ok(ack.sequence),
            Err(error) if error.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                // Either this very append was stored and its ack lost, or another primary's was.
                let last_message = self
                    .stream
                    .get_last_raw_message_by_subject(&subject)
                    .await
                    .map_err(|e| unavailable(&e))?;
                let stored_id = last_message
                    .headers
                    .get(async_nats::header::NATS_MESSAGE_ID)
                    .map(|v| v.as_str().to_owned());
                if stored_id.as_deref() == Some(message_id.as_str()) {
                    return Ok(last_message.sequence);
                }
                Err(ReplicaError::Fenced(format!(
                    "the log of ledger {ledger_id} has moved past stream sequence {last}: another primary appends to it"
                )))
            }
            Err(error) => Err(unavailable(&error)),
        }
    }
}

impl Replica for JetStreamReplica {
    fn head(&self, ledger_id: &str) -> Result<(u64, [u8; 32]), ReplicaError> {
        let unavailable =
            |e: &dyn std::fmt::Display| ReplicaError::Unavailable(format!("the log's last message: {e}"));
        let last =
            self.runtime.block_on(self.stream.get_last_raw_message_by_subject(&log_subject(ledger_id)));
        let (last, head) = match last {
            Ok(message) => {
                let head_seq = header_u64(Some(&message.headers), HEAD_SEQ).map_err(|e| unavailable(&e))?;
                let head_hash =
                    parse_hex32(header(Some(&message.headers), HEAD_HASH).map_err(|e| unavailable(&e))?)
                        .ok_or_else(|| unavailable(&"a malformed head hash"))?;
                (message.sequence, (head_seq, head_hash))
            }
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => (0, (0, [0; 32])),
            Err(e) => return Err(unavailable(&e)),
        };
        *self.position.lock().unwrap_or_else(|p| p.into_inner()) =
            Position { ledger_id: Some(ledger_id.to_owned()), last, head };
        Ok(head)
    }

    fn append(&self, commit: &Commit<'_>) -> Result<(), ReplicaError> {
        let mut position = self.position.lock().unwrap_or_else(|p| p.into_inner());
        if position.ledger_id.is_none() {
            match commit.events.first() {
                Some(first) if first.seq == 1 => position.ledger_id = Some(ledger_id_of(first)),
                _ if commit.events.is_empty() && position.last == 0 => {
                    // Rejections before the ledger's first event: nothing to name them by.
                    return Ok(());
                }
                _ => return Err(ReplicaError::Unavailable("the ledger's id is not known yet".into())),
            }
        }
        let ledger_id = position.ledger_id.clone().expect("set above");
        let budget = self.max_payload.saturating_sub(HEADER_ROOM).max(HEADER_ROOM);
        for piece in pieces(commit, budget) {
            // The head once this piece is applied: its last event, or the head before it.
            let head = piece.events.last().map_or(position.head, |event| (event.seq, event.hash));
            position.last =
                self.runtime.block_on(self.append_piece(&ledger_id, position.last, &piece, head))?;
            position.head = head;
        }
        Ok(())
    }
}

/// The ledgers whose logs `GONGJI_LOG` holds (one per cluster in practice).
async fn ledgers_in(stream: &stream::Stream) -> anyhow::Result<Vec<String>> {
    let mut subjects = stream.info_with_subjects(LOG_SUBJECTS).await?;
    let mut ledgers = Vec::new();
    while let Some(subject) = subjects.next().await {
        let (subject, _) = subject?;
        if let Some(id) = subject.strip_prefix("gongji.log.") {
            ledgers.push(id.to_owned());
        }
    }
    ledgers.sort();
    Ok(ledgers)
}

pub const LEASE_BUCKET: &str = "GONGJI_LEASE";
const LEASE_KEY: &str = "primary";

/// Who holds the lease: a node (a random id for each run of the process), where it listens,
/// and the ledger it writes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    pub node: String,
    pub address: String,
    pub ledger_id: Option<String>,
}

/// The primary's lease: the key `primary` of the KV bucket `GONGJI_LEASE`, whose entries live
/// `ttl` (the bucket's max age). The primary creates it, and renews it (an update at the
/// revision it last wrote) several times a TTL; a follower takes it only once it has lapsed.
/// It decides who may try to write; the log's expected sequences decide whose write counts.
pub struct Lease {
    kv: kv::Store,
    ttl: Duration,
    holder: Holder,
    revision: Option<u64>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("holder", &self.holder).field("revision", &self.revision).finish()
    }
}

/// A lease renewal's outcome.
#[derive(Debug, PartialEq, Eq)]
pub enum Renewed {
    Held,
    /// Another node holds it now (or nobody and we cannot tell): stop writing.
    Lost,
}

impl Lease {
    /// Connects to the cluster and opens (creating if missing) the bucket, with entries that
    /// live `ttl`.
    pub async fn open(cluster: &Cluster, ttl: Duration, holder: Holder) -> anyhow::Result<Lease> {
        let context = jetstream::new(connect(&cluster.servers).await?);
        let kv = match context.get_key_value(LEASE_BUCKET).await {
            Ok(kv) => kv,
            Err(_) => context
                .create_key_value(kv::Config {
                    bucket: LEASE_BUCKET.to_owned(),
                    history: 1,
                    max_age: ttl,
                    storage: stream::StorageType::File,
                    num_replicas: cluster.replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| anyhow::anyhow!("cannot create the lease bucket {LEASE_BUCKET}: {e}"))?,
        };
        Ok(Lease { kv, ttl, holder, revision: None })
    }

    /// Who holds the lease now, if anyone.
    pub async fn current(&self) -> anyhow::Result<Option<Holder>> {
        let entry = self.kv.entry(LEASE_KEY).await?;
        Ok(match entry {
            Some(entry) if entry.operation == kv::Operation::Put => serde_json::from_slice(&entry.value).ok(),
            _ => None,
        })
    }

    /// Takes the lease if nobody holds it: `false` when another does.
    pub async fn acquire(&mut self) -> anyhow::Result<bool> {
        let value = serde_json::to_vec(&self.holder)?;
        match self.kv.create(LEASE_KEY, value.into()).await {
            Ok(revision) => {
                self.revision = Some(revision);
                Ok(true)
            }
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Renews the lease held (saying the ledger it writes, once it has one). An update that
    /// fails may have landed all the same (its ack lost, as when quorum returns): the entry
    /// then names this node at a later revision, and the lease is still held. An entry that
    /// names another node means the lease is lost; none at all, that it lapsed, and it is
    /// taken again if nobody else has.
    pub async fn renew(&mut self, ledger_id: Option<String>) -> anyhow::Result<Renewed> {
        let Some(revision) = self.revision else { return Ok(Renewed::Lost) };
        self.holder.ledger_id = ledger_id.or(self.holder.ledger_id.take());
        let value = serde_json::to_vec(&self.holder)?;
        let failed = match self.kv.update(LEASE_KEY, value.into(), revision).await {
            Ok(revision) => {
                self.revision = Some(revision);
                return Ok(Renewed::Held);
            }
            Err(error) => error,
        };
        let entry =
            self.kv.entry(LEASE_KEY).await.with_context(|| format!("renewing the lease: {failed}"))?;
        match entry.filter(|entry| entry.operation == kv::Operation::Put) {
            Some(entry) => match serde_json::from_slice::<Holder>(&entry.value) {
                Ok(holder) if holder.node == self.holder.node => {
                    self.revision = Some(entry.revision);
                    Ok(Renewed::Held)
                }
                _ => {
                    self.revision = None;
                    Ok(Renewed::Lost)
                }
            },
            None => {
                self.revision = None;
                Ok(if self.acquire().await? { Renewed::Held } else { Renewed::Lost })
            }
        }
    }

    /// Gives the lease up (a promotion that failed), so that another may take it at once.
    pub async fn release(&mut self) {
        if self.revision.take().is_some() {
            if let Err(error) = self.kv.delete(LEASE_KEY).await {
                tracing::warn!(%error, "cannot give the lease up; it lapses by itself");
            }
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn holder(&self) -> &Holder {
        &self.holder
    }
}

/// Told what a follower does, for the service's metrics.
pub trait FollowObserver: Send + Sync {
    /// The follower applied the log up to `head_seq`; `lag_messages` more are in the stream.
    fn followed(&self, head_seq: u64, lag_messages: u64);
    /// This node became the primary.
    fn promoted(&self);
}

/// What a replicated node connects with.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// The NATS servers, comma-separated.
    pub servers: String,
    /// Replicas of `GONGJI_LOG` and of the lease bucket (3 on a 3-node cluster).
    pub replicas: usize,
}

/// How often a follower looks at the lease.
const LEASE_POLL: Duration = Duration::from_millis(250);

/// Follows the ledger's log in `GONGJI_LOG` into the engine until this node becomes the
/// primary; then returns the lease it holds. The node takes the lease when nobody holds it (at
/// start, or once it lapses) and it has applied the log's last message; a node whose disk holds
/// no ledger never leads while the stream holds one. Trouble reaching the cluster is waited
/// out; a log that does not continue this disk's chain stops the follower (the engine refuses
/// it, and it is tried again at every poll, never applied).
pub async fn follow_until_primary<A>(
    app: Arc<A>,
    cluster: &Cluster,
    mut lease: Lease,
    observer: Arc<dyn FollowObserver>,
) -> anyhow::Result<Lease>
where
    A: AsRef<Engine> + Send + Sync + 'static,
{
    let client = connect(&cluster.servers).await?;
    let context = jetstream::new(client);
    let stream = log_stream(&context, cluster.replicas).await?;
    loop {
        // The ledger to follow: this disk's, or the one the stream holds.
        let engine = || app.as_ref().as_ref();
        let local = engine().log().ledger_id()?;
        let in_stream = ledgers_in(&stream).await.unwrap_or_default();
        let ledger_id = match (&local, in_stream.as_slice()) {
            (Some(id), _) => Some(id.clone()),
            (None, [only]) => Some(only.clone()),
            (None, []) => None,
            (None, many) => {
                anyhow::bail!(
                    "{LOG_STREAM} holds the logs of several ledgers ({many:?}); give this node a disk"
                )
            }
        };
        let caught_up = match &ledger_id {
            None => true,
            Some(id) => match stream.get_last_raw_message_by_subject(&log_subject(id)).await {
                Ok(message) => message.sequence <= engine().replica_cursor().get()?,
                Err(e) => e.kind() == stream::LastRawMessageErrorKind::NoMessageFound,
            },
        };
        let holder = lease.current().await;
        if let Ok(holder) = &holder {
            engine().set_primary_address(holder.as_ref().map(|h| h.address.clone()));
        }
        let may_lead = matches!(holder, Ok(None)) && caught_up && (local.is_some() || ledger_id.is_none());
        if may_lead && lease.acquire().await.unwrap_or(false) {
            match promote(&app, cluster).await {
                Ok(()) => {
                    engine().set_primary_address(Some(lease.holder().address.clone()));
                    observer.promoted();
                    return Ok(lease);
                }
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "cannot lead: following");
                    lease.release().await;
                }
            }
        }
        let followed = match &ledger_id {
            Some(id) => apply_from_stream(&app, &stream, id, &lease, observer.as_ref()).await,
            None => {
                tokio::time::sleep(LEASE_POLL).await;
                Ok(())
            }
        };
        if let Err(error) = followed {
            tracing::warn!(error = %format!("{error:#}"), "following the log: trying again");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Makes the engine the primary, appending to `GONGJI_LOG`.
async fn promote<A>(app: &Arc<A>, cluster: &Cluster) -> anyhow::Result<()>
where
    A: AsRef<Engine> + Send + Sync + 'static,
{
    let (servers, replicas) = (cluster.servers.clone(), cluster.replicas);
    let replica =
        tokio::task::spawn_blocking(move || JetStreamReplica::connect(&servers, replicas)).await??;
    let app = app.clone();
    tokio::task::spawn_blocking(move || app.as_ref().as_ref().promote(Arc::new(replica))).await??;
    Ok(())
}

/// Applies what the stream holds of the ledger past this node's cursor, until it has been
/// idle for a lease poll with the lease held by someone (then the caller looks at the lease).
async fn apply_from_stream<A>(
    app: &Arc<A>,
    stream: &stream::Stream,
    ledger_id: &str,
    lease: &Lease,
    observer: &dyn FollowObserver,
) -> anyhow::Result<()>
where
    A: AsRef<Engine> + Send + Sync + 'static,
{
    let cursor = app.as_ref().as_ref().replica_cursor().get()?;
    let deliver_policy = match cursor {
        0 => consumer::DeliverPolicy::All,
        at => consumer::DeliverPolicy::ByStartSequence { start_sequence: at + 1 },
    };
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: log_subject(ledger_id),
            deliver_policy,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    loop {
        let next = tokio::time::timeout(LEASE_POLL, messages.next()).await;
        let message = match next {
            Err(_) => {
                // Idle: back to the lease, unless the primary still holds it.
                match lease.current().await {
                    Ok(Some(holder)) => app.as_ref().as_ref().set_primary_address(Some(holder.address)),
                    _ => return Ok(()),
                }
                continue;
            }
            Ok(None) => return Ok(()),
            Ok(Some(message)) => message?,
        };
        let info = message.info().map_err(|e| anyhow::anyhow!("a log message without its info: {e}"))?;
        let (stream_sequence, pending) = (info.stream_sequence, info.pending);
        let replicated = decode_message(message.headers.as_ref(), &message.payload)
            .map_err(|e| anyhow::anyhow!("log message {stream_sequence}: {e}"))?;
        let applier = app.clone();
        let head =
            tokio::task::spawn_blocking(move || applier.as_ref().as_ref().apply_replicated(replicated))
                .await?
                .with_context(|| format!("log message {stream_sequence}"))?;
        app.as_ref().as_ref().replica_cursor().set(stream_sequence)?;
        observer.followed(head, pending);
    }
}

/// Renews the lease of a primary until it is lost (then stops the engine writing, `depose`)
/// or the engine stops writing by itself (an append fenced off, a storage failure); then
/// returns, so that the node can stop and come back as a follower. A renewal that cannot reach
/// the cluster is tried again: if the lease lapses meanwhile and another node leads, this
/// node's next append is fenced off by the log.
pub async fn hold_lease<A>(app: Arc<A>, mut lease: Lease) -> anyhow::Result<()>
where
    A: AsRef<Engine> + Send + Sync + 'static,
{
    let mut ticks = tokio::time::interval(lease.ttl() / 5);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let engine = || app.as_ref().as_ref();
    loop {
        ticks.tick().await;
        if !engine().is_serving() {
            tracing::error!("this primary has stopped writing; giving the lease up");
            lease.release().await;
            return Ok(());
        }
        match lease.renew(engine().log().ledger_id()?).await {
            Ok(Renewed::Held) => {}
            Ok(Renewed::Lost) => {
                tracing::error!("the lease is lost: another node leads; this node stops writing");
                engine().depose();
                return Ok(());
            }
            Err(error) => tracing::warn!(%error, "cannot renew the lease; trying again"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(count: u64, bytes: usize) -> Vec<StoredEvent> {
        let mut sealer = ledger::Store::open(tempfile::tempdir().unwrap().path()).unwrap().sealer();
        (0..count)
            .map(|_| {
                let event = ledger::NewEvent {
                    recorded_at: 1,
                    kind: 1,
                    version: 1,
                    request: None,
                    payload: vec![7; bytes],
                };
                sealer.seal(&event)
            })
            .collect()
    }

    fn rejection(id: &str) -> (String, RequestRecord) {
        (id.to_owned(), RequestRecord::Rejected { digest: "ab".repeat(16), rejection: b"{}".to_vec() })
    }

    // Proves a commit larger than a message is cut into pieces of at most the budget (or one
    // event, whatever its size), in order, with the rejections after the events; and that
    // each piece decodes to exactly what it holds.
    #[test]
    fn a_commit_is_cut_into_pieces_that_decode_to_it() {
        let events = events(10, 100);
        let rejections = vec![rejection("r1"), rejection("r2")];
        let commit = Commit { events: &events, rejections: &rejections };
        let budget = 37 + 3 * event_bytes(&events[0]);
        let cut = pieces(&commit, budget);
        assert_eq!(
            cut.iter().map(|p| (p.events.len(), p.rejections.len())).collect::<Vec<_>>(),
            [(3, 0), (3, 0), (3, 0), (1, 2)]
        );
        let mut decoded = Replicated::default();
        for piece in &cut {
            let (payload, segment_bytes) = encode_piece(piece);
            assert!(payload.len() <= budget + rejections.iter().map(rejection_bytes).sum::<usize>());
            let mut headers = async_nats::HeaderMap::new();
            let first = piece.events.first().map_or(11, |e| e.seq);
            headers.insert(FIRST_SEQ, first.to_string().as_str());
            headers.insert(SEGMENT_BYTES, segment_bytes.to_string().as_str());
            let piece = decode_message(Some(&headers), &payload).unwrap();
            decoded.events.extend(piece.events);
            decoded.rejections.extend(piece.rejections);
        }
        assert_eq!(decoded.events, events);
        assert_eq!(decoded.rejections, rejections);
        // One event larger than the budget is a piece alone; nothing at all is no piece.
        let big = self::events(1, 1000);
        assert_eq!(pieces(&Commit { events: &big, rejections: &[] }, 100).len(), 1);
        assert!(pieces(&Commit { events: &[], rejections: &[] }, 100).is_empty());
        // A cut message is refused, not misread.
        let (payload, segment_bytes) = encode_piece(&cut[3]);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(FIRST_SEQ, "10");
        headers.insert(SEGMENT_BYTES, segment_bytes.to_string().as_str());
        assert!(decode_message(Some(&headers), &payload[..payload.len() - 1]).is_err());
    }
}

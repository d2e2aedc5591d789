//! Connections (api.md §1 "Connections"): the accept loop of `gongji serve` and what bounds
//! each connection, so that a hostile or broken client cannot take the service down.
//!
//! - A request's headers must arrive within `header_timeout` of the connection opening or of
//!   the previous answer (hyper's header-read timer), else the connection is closed.
//! - A connection on which no byte moves either way for `idle_timeout` while it has no request
//!   in hand is closed (an answer the client stops reading; an idle keep-alive connection, when
//!   the header timeout is the longer). A body that stops arriving is bounded by the handler's
//!   deadline for reading it, the same `idle_timeout` (`App::body_deadline`).
//! - At most `connections_max` connections are open. The next one does not refuse everything:
//!   it closes the connection that has waited longest for a request (one whose request began
//!   meanwhile finishes and answers it first), so a flood of silent connections costs the
//!   oldest of them, not the service's answers. Only when every open connection has a request
//!   in hand is the newest answered `503` and closed.
//! - The errors hyper answers itself, before any route (a malformed request line or header
//!   400, headers too large 431, a URI too long 414), carry the JSON error body of api.md §2
//!   like every other error.
//!
//! Serves HTTP/1.1. Owns no business: it hands each request to the axum `Router`.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// What bounds the connections.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub connections_max: usize,
}

/// File descriptors kept back from connections for everything else the service opens: sled's
/// files, the NATS connection, the runtime's own, stdio.
pub const FDS_RESERVED: u64 = 128;

/// The fewest connections the cap allows, however low the open-file limit.
pub const CONNECTIONS_MIN: usize = 16;

/// Raises the process's open-file soft limit to its hard limit; returns the soft limit now in
/// force (the one before, if it cannot be raised).
pub fn raise_open_files_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "the open-file soft limit could not be raised");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// The connection cap under an open-file limit: what the caller asked for, but never so many
/// that accepting them would leave the service without descriptors.
pub fn connections_cap(asked: usize, open_files: u64) -> usize {
    let room = usize::try_from(open_files.saturating_sub(FDS_RESERVED)).unwrap_or(usize::MAX);
    asked.min(room).max(CONNECTIONS_MIN)
}

/// Accepts and serves connections until `shutdown` resolves, then stops accepting, lets every
/// connection finish the request it is on, and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let registry = Arc::new(Registry::new(limits.connections_max));
    let (stop_sender, stop) = tokio::sync::watch::channel(());
    let (open_sender, open) = tokio::sync::watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or a connection reset before it was taken: the
                    // listener stays good; try again shortly rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers go out as soon as they are written, never held back by Nagle's algorithm
        // waiting for the client's delayed acknowledgement.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "TCP_NODELAY not set on a connection");
        }
        let Some(admitted) = registry.admit() else {
            refuse(stream, limits.connections_max);
            continue;
        };
        let router = router.clone();
        let mut stop = stop.clone();
        let open = open.clone();
        tokio::spawn(async move {
            serve_connection(stream, router, limits, admitted, &mut stop).await;
            drop(open);
        });
    }
    drop(listener);
    drop(stop_sender);
    drop(open);
    open_sender.closed().await;
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    admitted: Admitted,
    stop: &mut tokio::sync::watch::Receiver<()>,
) {
    let (registry, slot) = (admitted.registry.clone(), admitted.slot.clone());
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let busy = Busy::begin(&registry, &slot);
        let answer = tower::ServiceExt::oneshot(router.clone(), request.map(axum::body::Body::new));
        async move {
            // The connection stays busy until hyper has taken the whole answer and dropped it.
            let response = answer.await;
            response
                .map(|response| response.map(|body| axum::body::Body::new(Answering { body, _busy: busy })))
        }
    });
    let io = TokioIo::new(Guarded::new(stream, limits.idle_timeout, admitted.slot.clone()));
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper's read buffer limit alone is not a bound on the head: a read may fill the buffer's
    // whole spare capacity past it, and a head that arrives complete in it is taken.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(domain::limits::HEAD_BYTES_MAX)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let evicted = admitted.slot.evict.notified();
    tokio::pin!(evicted);
    let (mut stopping, mut evicting) = (false, false);
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection closed");
                }
                return;
            }
            () = &mut evicted, if !evicting => {
                // Chosen while it waited for a request; one may have begun since (on this
                // task, so `busy` is current): that one is finished and answered first.
                evicting = true;
                if admitted.slot.busy.load(Ordering::Acquire) == 0 {
                    tracing::debug!("connection closed to make room for a new one");
                    return;
                }
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = stop.changed(), if !stopping => {
                // Shutting down (the sender is gone): finish the request in hand, then close.
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Every open connection is busy: the newest is told so, as far as its socket takes it now,
/// and closed. Nothing of it was read, so nothing was decided.
fn refuse(stream: TcpStream, connections_max: usize) {
    let body = serde_json::json!({"error": {
        "code": "too_many_connections",
        "message": "the service has as many connections open as it allows, each with a request in hand; retry shortly",
        "details": {"limit": connections_max},
    }})
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(answer.as_bytes());
}

// ---- the registry of open connections ---------------------------------------------------------

/// The open connections, by the order they were accepted.
struct Registry {
    connections_max: usize,
    open: Mutex<BTreeMap<u64, Arc<Slot>>>,
    accepted: AtomicU64,
    epoch: std::time::Instant,
}

/// One open connection as the registry sees it.
struct Slot {
    id: u64,
    /// Requests being answered on it now.
    busy: AtomicU32,
    /// Milliseconds since the registry's epoch when it last had nothing in hand: when it was
    /// accepted, or when its last answer was ready.
    waiting_since_ms: AtomicU64,
    evict: tokio::sync::Notify,
}

/// A connection's place in the registry, given back when the connection ends.
struct Admitted {
    registry: Arc<Registry>,
    slot: Arc<Slot>,
}

impl Registry {
    fn new(connections_max: usize) -> Registry {
        Registry {
            connections_max,
            open: Mutex::new(BTreeMap::new()),
            accepted: AtomicU64::new(0),
            epoch: std::time::Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A place for a new connection. At the cap, the connection that has waited longest for a
    /// request is told to close and gives its place; `None` if every one has a request in hand.
    fn admit(self: &Arc<Registry>) -> Option<Admitted> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= self.connections_max {
            let victim = open
                .values()
                .filter(|slot| slot.busy.load(Ordering::Acquire) == 0)
                .min_by_key(|slot| (slot.waiting_since_ms.load(Ordering::Acquire), slot.id))
                .cloned()?;
            open.remove(&victim.id);
            victim.evict.notify_one();
        }
        let id = self.accepted.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            id,
            busy: AtomicU32::new(0),
            waiting_since_ms: AtomicU64::new(self.now_ms()),
            evict: tokio::sync::Notify::new(),
        });
        open.insert(id, slot.clone());
        Some(Admitted { registry: self.clone(), slot })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.registry.open.lock().unwrap_or_else(|p| p.into_inner());
        open.remove(&self.slot.id);
    }
}

/// An answer's body, holding its connection busy until hyper has sent it all and dropped it.
struct Answering {
    body: axum::body::Body,
    _busy: Busy,
}

impl hyper::body::Body for Answering {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// A request in hand on a connection, from the moment hyper has its head until its answer
/// has been sent.
struct Busy {
    registry: Arc<Registry>,
    slot: Arc<Slot>,
}

impl Busy {
    fn begin(registry: &Arc<Registry>, slot: &Arc<Slot>) -> Busy {
        slot.busy.fetch_add(1, Ordering::AcqRel);
        Busy { registry: registry.clone(), slot: slot.clone() }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.slot.waiting_since_ms.store(self.registry.now_ms(), Ordering::Release);
        self.slot.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

// ---- the guarded socket ---------------------------------------------------------------------

/// A TCP stream that fails a read or write once no byte has moved for `idle` while the
/// connection has no request in hand (while one is being decided the client is only waiting,
/// and a body that stalls is bounded by the handler's own deadline), and that gives hyper's
/// own error answers (a bare 4xx head with no body) the JSON error body.
struct Guarded {
    stream: TcpStream,
    slot: Arc<Slot>,
    idle: Duration,
    last_moved: Instant,
    timer: Pin<Box<Sleep>>,
    /// Bytes of a rewritten answer not yet on the socket, written before anything else.
    pending: Vec<u8>,
}

impl Guarded {
    fn new(stream: TcpStream, idle: Duration, slot: Arc<Slot>) -> Guarded {
        let now = Instant::now();
        let timer = Box::pin(tokio::time::sleep_until(now + idle));
        Guarded { stream, slot, idle, last_moved: now, timer, pending: Vec::new() }
    }
    fn moved(&mut self) {
        self.last_moved = Instant::now();
    }

    /// `Ready` with a timeout error once nothing has moved for `idle`; else arms the timer so
    /// the task is woken when that time comes.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if self.slot.busy.load(Ordering::Acquire) > 0 {
            // The service has the request in hand: the client waits for it, not idle.
            self.moved();
            return Poll::Pending;
        }
        loop {
            let deadline = self.last_moved + self.idle;
            if Instant::now() >= deadline {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection was idle too long",
                ));
            }
            if self.timer.deadline() != deadline {
                self.timer.as_mut().reset(deadline);
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    /// Writes what is pending of a rewritten answer; `Ready(Ok)` once none is left.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            match Pin::new(&mut self.stream).poll_write(cx, &self.pending) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(written)) => {
                    self.pending.drain(..written);
                    self.moved();
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    return match self.poll_idle(cx) {
                        Poll::Ready(error) => Poll::Ready(Err(error)),
                        Poll::Pending => Poll::Pending,
                    }
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Guarded {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => match this.poll_idle(cx) {
                Poll::Ready(error) => Poll::Ready(Err(error)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if let Some(answer) = json_error_answer(buf) {
            this.pending = answer;
            // The caller's bytes are taken whole; what the socket has not taken yet goes
            // before anything else, and a flush waits for it.
            return match this.poll_pending(cx) {
                Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
                _ => Poll::Ready(Ok(buf.len())),
            };
        }
        match Pin::new(&mut this.stream).poll_write(cx, buf) {
            Poll::Ready(Ok(written)) => {
                if written > 0 {
                    this.moved();
                }
                Poll::Ready(Ok(written))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => match this.poll_idle(cx) {
                Poll::Ready(error) => Poll::Ready(Err(error)),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

/// hyper's own answer to a request it could not read — one head, a 4xx status, an empty body —
/// rewritten with the JSON error body every error carries (api.md §2); `None` for anything
/// else. The service itself never answers a 4xx without a body, so a bare 4xx head is hyper's.
fn json_error_answer(written: &[u8]) -> Option<Vec<u8>> {
    let head = std::str::from_utf8(written).ok()?;
    let lines = head.strip_suffix("\r\n\r\n")?;
    if lines.contains("\r\n\r\n") {
        return None;
    }
    let mut lines = lines.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))?
        .get(..3)?
        .parse()
        .ok()?;
    if !(400..500).contains(&status) {
        return None;
    }
    let mut headers = Vec::new();
    let mut bodiless = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        if name.eq_ignore_ascii_case("content-length") {
            bodiless = value.trim() == "0";
        } else if !name.eq_ignore_ascii_case("connection") {
            headers.push(line);
        }
    }
    if !bodiless {
        return None;
    }
    let (code, message) = match status {
        431 => ("headers_too_large", "the request's headers are too many or too large"),
        414 => ("uri_too_long", "the request's URI is too long"),
        413 => ("payload_too_large", "the body is larger than the service takes"),
        _ => (
            "invalid_request",
            "the request could not be read as HTTP/1.1 (request line, headers or framing)",
        ),
    };
    let body = serde_json::json!({"error": {"code": code, "message": message, "details": {}}}).to_string();
    let mut answer = format!("{status_line}\r\n");
    for header in headers {
        answer.push_str(header);
        answer.push_str("\r\n");
    }
    answer.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    Some(answer.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a bare 4xx head (hyper's own answer) gets the JSON error body, and that nothing
    // else is touched: an answer with a body, a 2xx, two heads, bytes that are not a head.
    #[test]
    fn hyper_errors_get_the_json_body() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 00:00:00 GMT\r\n\r\n";
        let answer = String::from_utf8(json_error_answer(bare).unwrap()).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{head}");
        assert!(head.contains("\r\ndate: Thu, 03 Dec 2026 00:00:00 GMT"), "{head}");
        assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())), "{head}");
        assert!(head.contains("\r\nconnection: close"), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "headers_too_large");
        let bad = json_error_answer(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").unwrap();
        assert!(String::from_utf8(bad).unwrap().contains("\"code\":\"invalid_request\""));
        for untouched in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nHTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            b"{\"events\":[]}",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
        ] {
            assert_eq!(json_error_answer(untouched), None, "{}", String::from_utf8_lossy(untouched));
        }
    }

    // Proves the cap: at the limit the connection waiting longest gives its place; one with a
    // request in hand never does; with every connection busy the newest is not admitted.
    #[test]
    fn the_cap_closes_the_longest_waiting() {
        let registry = Arc::new(Registry::new(2));
        let first = registry.admit().unwrap();
        let second = registry.admit().unwrap();
        let busy = Busy::begin(&registry, &first.slot);
        let third = registry.admit().expect("the idle second gives its place");
        assert!(registry.open.lock().unwrap().contains_key(&first.slot.id), "busy: kept");
        assert!(!registry.open.lock().unwrap().contains_key(&second.slot.id), "idle: evicted");
        let _busy_third = Busy::begin(&registry, &third.slot);
        assert!(registry.admit().is_none(), "every connection has a request in hand");
        drop(busy);
        let fourth = registry.admit().expect("the first, now waiting, gives its place");
        assert!(!registry.open.lock().unwrap().contains_key(&first.slot.id));
        drop(fourth);
        assert_eq!(registry.open.lock().unwrap().len(), 1);
        assert_eq!(connections_cap(4096, 1024), 896);
        assert_eq!(connections_cap(64, 1_048_576), 64);
        assert_eq!(connections_cap(4096, 20), CONNECTIONS_MIN);
    }
}

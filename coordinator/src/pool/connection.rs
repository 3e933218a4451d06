//! One multiplexed connection to a node, after its handshake: requests are encoded straight
//! into the connection's output buffer by whoever sends them; a writer task writes whatever
//! has gathered there in one go (woken once per burst of requests, see [`super::cork`]); a
//! reader task hands each response to its waiter by stream id; and a heartbeat sends OPTIONS
//! when the connection has been idle and closes it when the heartbeat goes unanswered.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ringgate_protocol::frame::{Decoded, Envelope, Flags, FrameCodec, FrameError, Header};
use ringgate_protocol::{Direction, Opcode, ProtocolVersion};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use super::cork;
use super::streams::Streams;

/// Senders wait for the writer while this many bytes are waiting to be written.
const HIGH_WATER: usize = 4 * 1024 * 1024;
/// The read buffer grows by at most this much ahead of the bytes that arrived.
const READ_CHUNK: usize = 64 * 1024;

/// Why a request on a connection failed, or why the connection closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// The socket failed.
    #[error("I/O error talking to {addr}: {message}")]
    Io {
        /// The node.
        addr: SocketAddr,
        /// The error kind.
        kind: std::io::ErrorKind,
        /// The error's text.
        message: String,
    },
    /// The node sent bytes that are not a valid envelope stream.
    #[error("protocol error from {addr}: {error}")]
    Frame {
        /// The node.
        addr: SocketAddr,
        /// What was wrong.
        error: FrameError,
    },
    /// The connection is closed (or closing); the request was not answered.
    #[error("connection to {addr} closed: {reason}")]
    Closed {
        /// The node.
        addr: SocketAddr,
        /// Why it closed.
        reason: String,
    },
    /// No response arrived in time. The request may still have been executed.
    #[error("request to {addr} timed out after {after:?}")]
    Timeout {
        /// The node.
        addr: SocketAddr,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// No stream id came free (or the send queue stayed full) in time: the request was never
    /// sent. The connection carries as much as it may.
    #[error("connection to {addr} busy: no free stream id within {after:?}")]
    Busy {
        /// The node.
        addr: SocketAddr,
        /// The timeout that elapsed.
        after: Duration,
    },
}

/// Settings of one connection.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Stream ids the connection may have in flight at once (at most 32,768).
    pub max_in_flight: usize,
    /// Send OPTIONS after this long without any byte from the node.
    pub heartbeat_interval: Duration,
    /// Close the connection when a heartbeat is not answered within this time.
    pub heartbeat_timeout: Duration,
    /// Close the connection (the pool opens a fresh one) when more stream ids than this are
    /// held by requests that timed out and were never answered.
    pub max_orphaned: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            max_in_flight: super::streams::MAX_STREAMS,
            heartbeat_interval: Duration::from_secs(30),
            heartbeat_timeout: Duration::from_secs(10),
            max_orphaned: 1024,
        }
    }
}

/// What waits to be written.
struct Outgoing {
    /// Frames the envelopes (v5 segments, compression) as they are added.
    codec: FrameCodec,
    /// Bytes ready to write.
    buf: BytesMut,
    /// The writer was woken and has not taken `buf` yet.
    scheduled: bool,
}

struct Shared {
    addr: SocketAddr,
    version: ProtocolVersion,
    streams: Streams<Envelope, ConnectionError>,
    outgoing: std::sync::Mutex<Outgoing>,
    /// Wakes the writer: bytes are waiting.
    writer: Arc<Notify>,
    /// Wakes senders waiting for the buffer to drain below [`HIGH_WATER`].
    drained: Notify,
    /// Wakes the sweep of expired requests: a deadline earlier than the one it waits for.
    sweep: Arc<Notify>,
    /// Set once, with the reason, when the connection closes.
    closed: watch::Sender<Option<String>>,
    /// Milliseconds since `epoch` at which the last bytes arrived.
    last_read_ms: AtomicU64,
    epoch: Instant,
    max_orphaned: usize,
}

impl Shared {
    fn close(&self, reason: String) {
        let first = self.closed.send_if_modified(|state| {
            if state.is_none() {
                *state = Some(reason.clone());
                true
            } else {
                false
            }
        });
        if first {
            tracing::debug!(addr = %self.addr, %reason, "connection closed");
            let addr = self.addr;
            self.streams.close(|| ConnectionError::Closed {
                addr,
                reason: reason.clone(),
            });
            self.drained.notify_waiters();
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_read_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_read_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }

    fn outgoing(&self) -> std::sync::MutexGuard<'_, Outgoing> {
        // Every change to `Outgoing` is complete between statements: a panic elsewhere while
        // the lock was held leaves it consistent.
        self.outgoing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Encodes an envelope into the output buffer and wakes the writer (now, or when the
    /// thread's cork comes off). `false`: too many bytes wait already.
    fn enqueue(&self, envelope: &Envelope) -> Result<bool, FrameError> {
        let mut out = self.outgoing();
        if out.buf.len() >= HIGH_WATER {
            return Ok(false);
        }
        let Outgoing { codec, buf, .. } = &mut *out;
        codec.encode(envelope, buf)?;
        if !out.scheduled {
            out.scheduled = true;
            drop(out);
            cork::wake(&self.writer);
        }
        Ok(true)
    }
}

/// A handle to an established, multiplexed connection. Cloning it is cheap; the connection
/// closes when [`Connection::close`] is called, the socket fails, or a heartbeat goes
/// unanswered — not when handles are dropped while requests are still running.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.shared.addr)
            .field("version", &self.shared.version)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Connection {
    /// Starts the tasks of a connection whose handshake is done: `codec` has been switched to
    /// the settled mode and `read_buf` holds any bytes already read past the handshake.
    /// Server events (stream -1) go to `events` when given.
    pub fn start<S>(
        socket: S,
        addr: SocketAddr,
        version: ProtocolVersion,
        codec: FrameCodec,
        read_buf: BytesMut,
        config: &ConnectionConfig,
        events: Option<mpsc::Sender<Envelope>>,
    ) -> Connection
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (reader, writer) = tokio::io::split(socket);
        let shared = Arc::new(Shared {
            addr,
            version,
            streams: Streams::new(config.max_in_flight),
            outgoing: std::sync::Mutex::new(Outgoing {
                codec: codec.clone(),
                buf: BytesMut::new(),
                scheduled: false,
            }),
            writer: Arc::new(Notify::new()),
            drained: Notify::new(),
            sweep: Arc::new(Notify::new()),
            closed: watch::Sender::new(None),
            last_read_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            max_orphaned: config.max_orphaned,
        });
        tokio::spawn(cork::Corked::new(read_loop(
            Arc::clone(&shared),
            reader,
            codec,
            read_buf,
            events,
        )));
        tokio::spawn(write_loop(Arc::clone(&shared), writer));
        tokio::spawn(sweep_loop(
            Arc::downgrade(&shared),
            Arc::clone(&shared.sweep),
            shared.closed.subscribe(),
        ));
        tokio::spawn(heartbeat_loop(Arc::downgrade(&shared), config.clone()));
        Connection { shared }
    }

    /// The node's address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The protocol version the connection speaks.
    pub fn version(&self) -> ProtocolVersion {
        self.shared.version
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.borrow().is_some()
    }

    /// Resolves when the connection closes, with the reason.
    pub async fn closed(&self) -> String {
        let mut rx = self.shared.closed.subscribe();
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                return "connection dropped".to_owned();
            }
        }
    }

    /// Closes the connection: every request in flight fails with [`ConnectionError::Closed`].
    pub fn close(&self, reason: impl Into<String>) {
        self.shared.close(reason.into());
    }

    /// Stream ids in flight, and how many of those belong to requests that timed out and
    /// whose responses have not arrived yet.
    pub fn in_flight(&self) -> (usize, usize) {
        self.shared.streams.in_flight()
    }

    /// Stream ids free right now: how much more this connection can take without waiting.
    pub fn available_streams(&self) -> usize {
        self.shared.streams.available()
    }

    /// Sends a request and waits for its response, at most `timeout` (which includes waiting
    /// for a free stream id when all are in flight).
    pub async fn request(
        &self,
        opcode: Opcode,
        flags: Flags,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Envelope, ConnectionError> {
        let addr = self.shared.addr;
        let deadline = Instant::now() + timeout;
        let busy = || ConnectionError::Busy {
            addr,
            after: timeout,
        };
        let streams = &self.shared.streams;
        // A free id is the common case: no timer unless one has to be waited for. The
        // response's deadline is the connection's sweep's to watch.
        let claimed = match streams.try_claim(deadline) {
            Some(claimed) => Some(claimed),
            None if self.is_closed() => None,
            None => tokio::time::timeout_at(deadline, streams.claim(deadline))
                .await
                .map_err(|_| busy())?,
        }
        .ok_or_else(|| self.closed_error())?;
        if claimed.sweep_sooner {
            self.shared.sweep.notify_one();
        }
        let mut header = Header::new(
            self.shared.version,
            Direction::Request,
            claimed.stream,
            opcode,
        );
        header.flags = flags;
        let envelope = Envelope::new(header, body);
        // Until the envelope is queued, nothing can answer on this id: give it back if the
        // send fails, times out, or this future is dropped (a lost speculative execution).
        let unsent = AbandonOnDrop {
            shared: &self.shared,
            stream: Some(claimed.stream),
        };
        loop {
            let drained = self.shared.drained.notified();
            match self.shared.enqueue(&envelope) {
                Ok(true) => break,
                Ok(false) => {
                    if self.is_closed() {
                        return Err(self.closed_error());
                    }
                    tokio::time::timeout_at(deadline, drained)
                        .await
                        .map_err(|_| busy())?;
                }
                // Our own envelope could not be framed: this request fails, not the connection.
                Err(error) => return Err(ConnectionError::Frame { addr, error }),
            }
        }
        unsent.disarm();
        match streams.reply(claimed).await {
            Some(Ok(envelope)) => Ok(envelope),
            Some(Err(ConnectionError::Timeout { .. })) => Err(ConnectionError::Timeout {
                addr,
                after: timeout,
            }),
            Some(Err(e)) => Err(e),
            None => Err(self.closed_error()),
        }
    }

    fn closed_error(&self) -> ConnectionError {
        ConnectionError::Closed {
            addr: self.shared.addr,
            reason: self
                .shared
                .closed
                .borrow()
                .clone()
                .unwrap_or_else(|| "closing".to_owned()),
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    shared: Arc<Shared>,
    mut reader: R,
    mut codec: FrameCodec,
    mut buf: BytesMut,
    events: Option<mpsc::Sender<Envelope>>,
) {
    let mut closed = shared.closed.subscribe();
    let reason = loop {
        match codec.decode(&mut buf) {
            Ok(Decoded::Ready(envelope)) => {
                dispatch(&shared, envelope, events.as_ref());
                continue;
            }
            Ok(Decoded::NeedMore(n)) => buf.reserve(n.min(READ_CHUNK)),
            Err(error) => {
                break ConnectionError::Frame {
                    addr: shared.addr,
                    error,
                }
                .to_string();
            }
        }
        tokio::select! {
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) => break "the node closed the connection".to_owned(),
                Ok(_) => shared.touch(),
                Err(e) => break format!("read failed: {e}"),
            },
            _ = closed.changed() => return,
        }
    };
    shared.close(reason);
}

fn dispatch(shared: &Shared, envelope: Envelope, events: Option<&mpsc::Sender<Envelope>>) {
    let stream = envelope.header.stream;
    if stream < 0 {
        if envelope.header.opcode == Opcode::Event
            && let Some(events) = events
            && events.try_send(envelope).is_err()
        {
            tracing::warn!(addr = %shared.addr, "event queue full or gone: event dropped");
        }
        return;
    }
    if !shared.streams.complete(stream, Ok(envelope)) {
        tracing::warn!(addr = %shared.addr, stream, "response on a stream id with no request");
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(shared: Arc<Shared>, mut writer: W) {
    let mut closed = shared.closed.subscribe();
    let mut spare = BytesMut::new();
    let reason = loop {
        tokio::select! {
            () = shared.writer.notified() => {}
            _ = closed.changed() => break None,
        }
        // Let every task that is ready to run now (other connections' readers handing out
        // responses, clients sending their next requests) add to the buffer first: one
        // write instead of one per sender.
        tokio::task::yield_now().await;
        // Take everything gathered so far, leaving an empty buffer for the senders.
        let (flushed, mut pending) = {
            let mut out = shared.outgoing();
            out.scheduled = false;
            let Outgoing { codec, buf, .. } = &mut *out;
            let flushed = codec.flush(buf);
            (flushed, std::mem::replace(buf, std::mem::take(&mut spare)))
        };
        shared.drained.notify_waiters();
        if let Err(e) = flushed {
            break Some(format!("encoding failed: {e}"));
        }
        if pending.is_empty() {
            spare = pending;
            continue;
        }
        if let Err(e) = writer.write_all(&pending).await {
            break Some(format!("write failed: {e}"));
        }
        pending.clear();
        spare = pending;
    };
    let _ = writer.shutdown().await;
    if let Some(reason) = reason {
        shared.close(reason);
    }
}

/// Tells requests whose deadline passed that they timed out, each time the earliest
/// deadline is due (once per timeout period under steady traffic), and recycles a connection
/// that holds too many stream ids for requests nobody waits for any more.
async fn sweep_loop(
    shared: std::sync::Weak<Shared>,
    wake: Arc<Notify>,
    mut closed: watch::Receiver<Option<String>>,
) {
    let mut due: Option<Instant> = None;
    loop {
        let sleep = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {}
            () = wake.notified() => {}
            _ = closed.changed() => return,
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let addr = shared.addr;
        due = shared
            .streams
            .expire(Instant::now(), || ConnectionError::Timeout {
                addr,
                after: Duration::ZERO,
            });
        let (_, orphaned) = shared.streams.in_flight();
        if orphaned > shared.max_orphaned {
            shared.close(format!(
                "{orphaned} stream ids held by requests that were never answered"
            ));
            return;
        }
    }
}

async fn heartbeat_loop(shared: std::sync::Weak<Shared>, config: ConnectionConfig) {
    let period = config.heartbeat_interval.max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(period).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared.closed.borrow().is_some() {
            return;
        }
        if shared.idle_for() < period {
            continue;
        }
        let connection = Connection {
            shared: Arc::clone(&shared),
        };
        let options = connection
            .request(
                Opcode::Options,
                Flags::empty(),
                Bytes::new(),
                config.heartbeat_timeout,
            )
            .await;
        match options {
            Ok(response) if response.header.opcode == Opcode::Supported => {}
            Ok(response) => shared.close(format!(
                "heartbeat answered with {:?} instead of SUPPORTED",
                response.header.opcode
            )),
            Err(e) => shared.close(format!("heartbeat failed: {e}")),
        }
    }
}

/// Gives a claimed stream id back when dropped armed: the request never left.
struct AbandonOnDrop<'a> {
    shared: &'a Shared,
    stream: Option<i16>,
}

impl AbandonOnDrop<'_> {
    /// The request was queued: its answer will free the id.
    fn disarm(mut self) {
        self.stream = None;
    }
}

impl Drop for AbandonOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(stream) = self.stream {
            self.shared.streams.abandon(stream);
        }
    }
}

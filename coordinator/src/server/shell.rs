//! [`serve`]: the tokio shell around [`ServerSession`]. One task per client moves bytes
//! between the socket (TCP, or TLS when the config has it) and the session; a [`Handler`]
//! forwards requests, the configured [`Authenticator`](super::Authenticator) checks
//! credentials. [`serve_until`] stops gracefully when its [`Drain`] is started.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use ringgate_protocol::message::{ErrorDetails, ErrorResponse, Event, Response};

use super::auth::{AuthFailure, AuthenticatedUser};
use super::config::ServerConfig;
use super::drain::{self, ClientTicket, Clients, Drain};
use super::event::{ForwardRequest, Reply, SessionEvent};
use super::metrics::{REQUEST_OPCODES, ServerMetrics, opcode_index, outcome};
use super::session::ServerSession;

/// What a Ringgate node does with the requests it does not answer itself.
pub trait Handler: Send + Sync + 'static {
    /// Sends `request` to the cluster and returns the response for the client (on the request's
    /// stream, laid out for its version). Failures are replies too: an ERROR message.
    fn request(&self, request: ForwardRequest) -> BoxFuture<'static, Reply>;

    /// Server events for REGISTERed clients (already rewritten to speak of Ringgate nodes);
    /// each connection subscribes once. `None`: no events.
    fn events(&self) -> Option<broadcast::Receiver<Event>> {
        None
    }
}

/// Read buffer reserved before each read: room for many small requests; a larger envelope
/// grows it. Kept small: every busy client connection holds one.
const READ_CHUNK: usize = 16 * 1024;

/// The longest a client may take over its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts clients on `listener` until it fails, serving each on its own task. The connection
/// tasks belong to this future: dropping it (on shutdown, say) ends every connection.
/// [`serve_until`] stops gracefully instead.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
) -> io::Result<()> {
    serve_until(listener, config, handler, Drain::new()).await
}

/// As [`serve`], until `drain` is started: then the listener closes (new clients are
/// refused), every request already received is answered, requests that arrive afterwards
/// get an OVERLOADED error saying the node is shutting down, and once no client has a request
/// left to answer, every client is closed (together: a driver takes a closed connection for a
/// node going away, and would fail what still runs on its other connections). Returns once
/// every client is gone, or once
/// [`ServerConfig::drain_grace`] has passed (the clients left are then closed).
pub async fn serve_until<H: Handler>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    drain: Drain,
) -> io::Result<()> {
    let mut connections = JoinSet::new();
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let mut draining = drain.subscribe();
    let clients = Clients::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        config.metrics.connection_refused();
                        tracing::warn!(%peer, limit = config.max_connections, "too many clients");
                        drop(socket);
                        continue;
                    };
                    let (config, handler, drain) = (config.clone(), handler.clone(), drain.subscribe());
                    let ticket = clients.enter();
                    connections.spawn(async move {
                        let _open = OpenConnection::new(&config.metrics);
                        let client = Client { peer, drain, ticket };
                        // Corked: the requests one poll sends reach each node in one write.
                        let served = crate::pool::cork::Corked::new(accept_client(socket, client, &config, handler));
                        if let Err(e) = served.await {
                            tracing::debug!(%peer, error = %e, "client connection ended");
                        }
                        drop(permit);
                    });
                }
                // Out of file descriptors or a connection reset before accept: keep serving.
                Err(e) if is_transient(&e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = drain::started(&mut draining) => break,
        }
    }
    drop(listener);
    let clients = connections.len();
    tracing::info!(
        clients,
        grace = ?config.drain_grace,
        "draining: new clients refused; answering what is in flight"
    );
    let drained = tokio::time::timeout(config.drain_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    match drained {
        Ok(()) => tracing::info!(clients, "drained: every client had its last answer"),
        Err(_) => {
            tracing::warn!(
                left = connections.len(),
                "drain grace period over: closing the clients left"
            );
            connections.shutdown().await;
        }
    }
    Ok(())
}

/// Counts a client as connected while it lives (also when its task is aborted).
struct OpenConnection<'a>(&'a ServerMetrics);

impl<'a> OpenConnection<'a> {
    fn new(metrics: &'a ServerMetrics) -> Self {
        metrics.connection_opened();
        OpenConnection(metrics)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || e
        .raw_os_error()
        .is_some_and(|code| code == 24 || code == 23)
}

/// What a connection task waits on besides the socket.
enum Done {
    /// A reply on a stream, to a request of this opcode (an index of `REQUEST_OPCODES`).
    Reply(i16, u8, Reply),
    Auth(Result<AuthenticatedUser, AuthFailure>),
}

/// A client connection's address and its part in a drain.
struct Client {
    peer: SocketAddr,
    drain: watch::Receiver<bool>,
    ticket: ClientTicket,
}

/// Runs the TLS handshake when the listener has TLS, then serves the client.
async fn accept_client<H: Handler>(
    socket: TcpStream,
    client: Client,
    config: &Arc<ServerConfig>,
    handler: Arc<H>,
) -> io::Result<()> {
    socket.set_nodelay(true)?;
    let peer = client.peer;
    let Some(tls) = &config.tls else {
        return connection(socket, client, config.clone(), handler).await;
    };
    let failure = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(socket)).await {
        Ok(Ok(stream)) => return connection(stream, client, config.clone(), handler).await,
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no handshake within {TLS_HANDSHAKE_TIMEOUT:?}"),
    };
    config.metrics.tls_handshake_failed();
    tracing::warn!(%peer, error = %failure, "client refused: TLS handshake failed");
    Ok(())
}

/// Serves one client until it disconnects, the session closes, or (draining) it and every
/// other client have had their last answers.
async fn connection<S, H>(
    mut socket: S,
    client: Client,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Handler,
{
    let Client {
        peer,
        mut drain,
        mut ticket,
    } = client;
    let mut all_idle = ticket.all_idle();
    let metrics = config.metrics.clone();
    let mut session = ServerSession::new(config.clone());
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut pending: FuturesUnordered<BoxFuture<'static, Done>> = FuturesUnordered::new();
    let mut events = handler.events();
    let mut draining = *drain.borrow();
    // Whether the session's new events come from bytes read (after the drain started, such
    // requests are refused) rather than from held requests it released.
    let mut from_read = false;
    let idle_timeout = config.idle_timeout;
    let mut last_active = tokio::time::Instant::now();
    // One timer for the connection's life, reset only when it fires early.
    let mut idle_timer = std::pin::pin!(tokio::time::sleep(
        idle_timeout.unwrap_or(Duration::from_secs(3600))
    ));
    loop {
        while let Some(event) = session.poll_event() {
            match event {
                SessionEvent::Request(request) if draining && from_read => {
                    let reply = shutting_down();
                    metrics.request(opcode_index(request.opcode), outcome(&reply).0);
                    session.reply(request.stream, reply);
                }
                SessionEvent::Request(request) => {
                    pending.push(dispatch(&*handler, request, peer));
                }
                SessionEvent::Authenticate { credentials, .. } => match &config.authenticator {
                    Some(authenticator) => {
                        let outcome = authenticator.authenticate(credentials);
                        pending.push(Box::pin(async move { Done::Auth(outcome.await) }));
                    }
                    None => session.authenticated(Err(AuthFailure::new("no authenticator"))),
                },
                SessionEvent::Registered(_) => {}
            }
        }
        from_read = false;
        if session.has_output() && !pending.is_empty() {
            // More answers may be about to come in from other nodes' connections: let their
            // readers run first, and send everything ready then in one write.
            tokio::task::yield_now().await;
            while let Some(Some(done)) = pending.next().now_or_never() {
                finish(&mut session, &metrics, done);
            }
        }
        if let Some(bytes) = session.transmit() {
            // While this write waits for a client that does not read, nothing else is read
            // from it: its requests stay in its socket, not in the node's memory.
            write_within(&mut socket, &bytes, config.idle_timeout).await?;
            metrics.bytes_out(bytes.len());
            if idle_timeout.is_some() {
                // An answer just went out: the client's silence counts from now.
                last_active = tokio::time::Instant::now();
            }
        }
        if session.is_closed() {
            return socket.shutdown().await;
        }
        if draining && pending.is_empty() && session.held() == 0 {
            ticket.idle();
            if *all_idle.borrow() {
                return close_lingering(socket).await;
            }
        }
        input.reserve(READ_CHUNK);
        // Idle: nothing of the client's is in flight, so only what it sends can end the wait.
        let idle = idle_timeout.is_some() && pending.is_empty() && session.held() == 0;
        tokio::select! {
            read = socket.read_buf(&mut input) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                if idle_timeout.is_some() {
                    last_active = tokio::time::Instant::now();
                }
                metrics.bytes_in(n);
                from_read = true;
                session.receive(&mut input);
            }
            Some(done) = pending.next(), if !pending.is_empty() => {
                finish(&mut session, &metrics, done);
                // Every other answer ready now goes out in the same write.
                while let Some(Some(done)) = pending.next().now_or_never() {
                    finish(&mut session, &metrics, done);
                }
            }
            Some(event) = next_event(&mut events) => {
                session.push_event(&event);
            }
            () = drain::started(&mut drain), if !draining => {
                draining = true;
            }
            _ = all_idle.changed(), if ticket.is_idle() => {}
            () = idle_timer.as_mut(), if idle => {
                // The timer was set at the last read or write before it, or earlier: what
                // counts is how long ago the connection last moved bytes.
                let limit = idle_timeout.unwrap_or_default();
                let deadline = last_active + limit;
                if deadline <= tokio::time::Instant::now() {
                    tracing::info!(%peer, timeout = ?limit, "closing a client idle too long");
                    return Ok(());
                }
                idle_timer.as_mut().reset(deadline);
            }
        }
    }
}

/// Writes `bytes` (and flushes them), failing with `TimedOut` when the client takes more than
/// `limit` to make room for them. No timer is set when the socket takes them at once.
async fn write_within<S: AsyncWrite + Unpin>(
    socket: &mut S,
    bytes: &[u8],
    limit: Option<Duration>,
) -> io::Result<()> {
    let write = async {
        socket.write_all(bytes).await?;
        // A no-op on TCP; over TLS it sends what the TLS layer still holds.
        socket.flush().await
    };
    let mut write = std::pin::pin!(write);
    if let std::task::Poll::Ready(done) = futures::poll!(write.as_mut()) {
        return done;
    }
    let Some(limit) = limit else {
        return write.await;
    };
    match tokio::time::timeout(limit, write).await {
        Ok(done) => done,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client read none of its responses for {limit:?}"),
        )),
    }
}

/// How long a drained connection reads (and drops) what the client still sends after its
/// last answer, before it is closed.
const LINGER: Duration = Duration::from_secs(2);

/// Closes a drained connection: the write side first, then what the client still sends is
/// read and dropped until it closes too (or [`LINGER`] passes). Closing at once would reset
/// the connection when those bytes arrive, and a reset can make the client's system drop the
/// last answers before the client reads them.
async fn close_lingering<S: AsyncRead + AsyncWrite + Unpin>(mut socket: S) -> io::Result<()> {
    socket.shutdown().await?;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(n) = socket.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    Ok(())
}

/// Hands `request` to the handler; at debug level, inside a span of its own that records the
/// client, the outcome and the latency (the request path adds keyspace, table, token and
/// replica where it knows them).
fn dispatch<H: Handler>(
    handler: &H,
    request: ForwardRequest,
    peer: SocketAddr,
) -> BoxFuture<'static, Done> {
    let stream = request.stream;
    let opcode = opcode_index(request.opcode);
    if tracing::level_enabled!(tracing::Level::DEBUG) {
        let span = tracing::debug_span!(
            "request",
            client = %peer,
            stream,
            opcode = REQUEST_OPCODES[usize::from(opcode)],
            keyspace = request.keyspace.as_deref(),
            table = tracing::field::Empty,
            token = tracing::field::Empty,
            replica = tracing::field::Empty,
            outcome = tracing::field::Empty,
            latency_us = tracing::field::Empty,
        );
        if !span.is_disabled() {
            let reply = span.in_scope(|| handler.request(request));
            let started = Instant::now();
            return Box::pin(async move {
                let reply = reply.instrument(span.clone()).await;
                span.record("outcome", outcome(&reply).1);
                span.record(
                    "latency_us",
                    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                );
                Done::Reply(stream, opcode, reply)
            });
        }
    }
    let reply = handler.request(request);
    Box::pin(async move { Done::Reply(stream, opcode, reply.await) })
}

/// The answer to a request that arrives while the node drains.
fn shutting_down() -> Reply {
    Reply::Message(Response::Error(ErrorResponse::new(
        ErrorDetails::Overloaded,
        "this Ringgate node is shutting down",
    )))
}

/// Hands a finished request or authentication to the session.
fn finish(session: &mut ServerSession, metrics: &ServerMetrics, done: Done) {
    match done {
        Done::Reply(stream, opcode, reply) => {
            metrics.request(opcode, outcome(&reply).0);
            session.reply(stream, reply);
        }
        Done::Auth(outcome) => session.authenticated(outcome),
    }
}

/// The next event of the subscription; never resolves without one.
async fn next_event(events: &mut Option<broadcast::Receiver<Event>>) -> Option<Event> {
    loop {
        let Some(receiver) = events else {
            return std::future::pending().await;
        };
        match receiver.recv().await {
            Ok(event) => return Some(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "client connection fell behind on events");
            }
            Err(broadcast::error::RecvError::Closed) => *events = None,
        }
    }
}

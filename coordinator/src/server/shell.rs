//! [`serve`]: the tokio shell around [`ServerSession`]. One task per client moves bytes
//! between the socket and the session; a [`Handler`] forwards requests, the configured
//! [`Authenticator`](super::Authenticator) checks credentials.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast};
use tokio::task::JoinSet;

use crate::protocol::message::Event;

use super::auth::{AuthFailure, Identity};
use super::config::ServerConfig;
use super::event::{ForwardRequest, Reply, SessionEvent};
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

/// Accepts clients on `listener` until it fails, serving each on its own task. The connection
/// tasks belong to this future: dropping it (on shutdown, say) ends every connection.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
) -> io::Result<()> {
    let mut connections = JoinSet::new();
    let permits = Arc::new(Semaphore::new(config.max_connections));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, limit = config.max_connections, "too many clients");
                        drop(socket);
                        continue;
                    };
                    let (config, handler) = (config.clone(), handler.clone());
                    connections.spawn(async move {
                        // Corked: the requests one poll sends reach each node in one write.
                        let served = crate::pool::cork::Corked::new(connection(socket, config, handler));
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
        }
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
    Reply(i16, Reply),
    Auth(Result<Identity, AuthFailure>),
}

/// Serves one client until it disconnects or the session closes.
async fn connection<H: Handler>(
    socket: TcpStream,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
) -> io::Result<()> {
    socket.set_nodelay(true)?;
    let (mut reader, mut writer) = socket.into_split();
    let mut session = ServerSession::new(config.clone());
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut pending: FuturesUnordered<BoxFuture<'static, Done>> = FuturesUnordered::new();
    let mut events = handler.events();
    loop {
        while let Some(event) = session.poll_event() {
            match event {
                SessionEvent::Request(request) => {
                    let stream = request.stream;
                    let reply = handler.request(request);
                    pending.push(Box::pin(async move { Done::Reply(stream, reply.await) }));
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
        if session.has_output() && !pending.is_empty() {
            // More answers may be about to come in from other nodes' connections: let their
            // readers run first, and send everything ready then in one write.
            tokio::task::yield_now().await;
            while let Some(Some(done)) = pending.next().now_or_never() {
                finish(&mut session, done);
            }
        }
        if let Some(bytes) = session.transmit() {
            writer.write_all(&bytes).await?;
        }
        if session.is_closed() {
            return writer.shutdown().await;
        }
        input.reserve(READ_CHUNK);
        tokio::select! {
            read = reader.read_buf(&mut input) => {
                if read? == 0 {
                    return Ok(());
                }
                session.receive(&mut input);
            }
            Some(done) = pending.next(), if !pending.is_empty() => {
                finish(&mut session, done);
                // Every other answer ready now goes out in the same write.
                while let Some(Some(done)) = pending.next().now_or_never() {
                    finish(&mut session, done);
                }
            }
            Some(event) = next_event(&mut events) => {
                session.push_event(&event);
            }
        }
    }
}

/// Hands a finished request or authentication to the session.
fn finish(session: &mut ServerSession, done: Done) {
    match done {
        Done::Reply(stream, reply) => session.reply(stream, reply),
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

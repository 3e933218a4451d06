//! The connections to one node: a fixed number of slots, each kept filled by a task that
//! reconnects with exponential backoff; the node counts as up while any slot is connected.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use ringgate_protocol::message::ErrorResponse;
use tokio::sync::watch;

use super::Connection;

/// Opens one ready-to-use connection (handshake and authentication done) to a node.
pub trait Connector: Send + Sync + 'static {
    /// Connects to `addr`.
    fn connect(&self, addr: SocketAddr) -> ConnectFuture;
}

/// The future [`Connector::connect`] returns.
pub type ConnectFuture = Pin<Box<dyn Future<Output = Result<Connection, ConnectError>> + Send>>;

/// Why a connection could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The node refused the credentials: retrying will not help.
    #[error("authentication failed on {addr}: {}", .error.message)]
    Authentication {
        /// The node.
        addr: SocketAddr,
        /// The node's AuthenticationError; when this side gave up (no credentials configured,
        /// a SASL mechanism other than PLAIN), an AuthenticationError saying so.
        error: Box<ErrorResponse>,
    },
    /// The node speaks no protocol version this crate speaks.
    #[error("{addr} speaks no supported protocol version: {message}")]
    UnsupportedVersion {
        /// The node.
        addr: SocketAddr,
        /// The node's last answer.
        message: String,
    },
    /// Anything else: refused, reset, timed out, an unexpected answer.
    #[error("cannot connect to {addr}: {message}")]
    Failed {
        /// The node.
        addr: SocketAddr,
        /// What happened.
        message: String,
    },
}

impl ConnectError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ConnectError::Failed { .. })
    }
}

/// Settings of a node's pool.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Connections kept open to each node.
    pub connections_per_node: usize,
    /// The first reconnection delay; it doubles on each failure up to `reconnect_max`.
    pub reconnect_base: Duration,
    /// The longest reconnection delay.
    pub reconnect_max: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            connections_per_node: 2,
            reconnect_base: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(30),
        }
    }
}

/// Whether a node can take requests, as its pool sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// No connection attempt has finished yet.
    Connecting,
    /// At least one connection is open.
    Up,
    /// No connection is open; the last error says why.
    Down(String),
}

struct Shared {
    addr: SocketAddr,
    /// The open connections, swapped whole on change so that readers never lock.
    live: ArcSwap<Vec<Connection>>,
    slots: std::sync::Mutex<Vec<Option<Connection>>>,
    health: watch::Sender<Health>,
    /// Counts the reports that the node is up. A slot notes the count before each attempt
    /// and, once the attempt has failed, cuts its backoff short if the count moved: a report
    /// that arrives while an attempt is under way is not lost.
    wake: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn set_slot(&self, slot: usize, connection: Option<Connection>, error: Option<String>) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slots.get_mut(slot) {
            *s = connection;
        }
        let live: Vec<Connection> = slots.iter().flatten().cloned().collect();
        let health = if !live.is_empty() {
            Health::Up
        } else if let Some(error) = error {
            Health::Down(error)
        } else {
            Health::Down("connection closed".to_owned())
        };
        self.live.store(Arc::new(live));
        self.health.send_if_modified(|h| {
            let changed = *h != health;
            *h = health;
            changed
        });
    }
}

/// The pool of connections to one node. Dropping the last handle, or [`NodePool::shutdown`],
/// closes every connection and stops reconnecting.
pub struct NodePool {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for NodePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodePool")
            .field("addr", &self.shared.addr)
            .field("health", &*self.shared.health.borrow())
            .field("connections", &self.shared.live.load().len())
            .finish()
    }
}

impl NodePool {
    /// Starts a pool to `addr`: one task per connection slot connects, reconnects after a
    /// failure or a close with exponential backoff, and keeps the pool's health current.
    pub fn start(addr: SocketAddr, connector: Arc<dyn Connector>, config: PoolConfig) -> Self {
        let slots = config.connections_per_node.max(1);
        let shared = Arc::new(Shared {
            addr,
            live: ArcSwap::from_pointee(Vec::new()),
            slots: std::sync::Mutex::new(vec![None; slots]),
            health: watch::Sender::new(Health::Connecting),
            wake: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
        });
        for slot in 0..slots {
            tokio::spawn(keep_slot_filled(
                Arc::clone(&shared),
                slot,
                Arc::clone(&connector),
                config.clone(),
            ));
        }
        NodePool { shared }
    }

    /// The node's address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The node's health now.
    pub fn health(&self) -> Health {
        self.shared.health.borrow().clone()
    }

    /// A receiver that sees every change of the node's health.
    pub fn watch_health(&self) -> watch::Receiver<Health> {
        self.shared.health.subscribe()
    }

    /// The open connection with the most free stream ids, if any. Lock-free.
    pub fn connection(&self) -> Option<Connection> {
        let live = self.shared.live.load();
        live.iter()
            .filter(|c| !c.is_closed())
            .max_by_key(|c| c.available_streams())
            .cloned()
    }

    /// As [`NodePool::connection`], but a pool still making its first connection (just
    /// started, say for a user who just logged in) is waited for, at most `timeout`.
    pub async fn ready_connection(&self, timeout: Duration) -> Option<Connection> {
        if let Some(conn) = self.connection() {
            return Some(conn);
        }
        let mut health = self.watch_health();
        let settled = health.wait_for(|h| *h != Health::Connecting);
        let _ = tokio::time::timeout(timeout, settled).await;
        self.connection()
    }

    /// Stream ids in flight over every open connection, and how many of those belong to
    /// requests that timed out and whose responses have not arrived yet.
    pub fn in_flight(&self) -> (usize, usize) {
        self.shared
            .live
            .load()
            .iter()
            .map(Connection::in_flight)
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
    }

    /// How many connections are open.
    pub fn open_connections(&self) -> usize {
        self.shared
            .live
            .load()
            .iter()
            .filter(|c| !c.is_closed())
            .count()
    }

    /// The node was reported up (an UP event): retry every empty slot now instead of waiting
    /// out its backoff.
    pub fn node_up(&self) {
        self.shared.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Closes every connection and stops reconnecting.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        for c in self.shared.live.load().iter() {
            c.close("pool shut down");
        }
    }
}

impl Drop for NodePool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn keep_slot_filled(
    shared: Arc<Shared>,
    slot: usize,
    connector: Arc<dyn Connector>,
    config: PoolConfig,
) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut wake = shared.wake.subscribe();
    let mut delay = config.reconnect_base;
    loop {
        if *shutdown.borrow() {
            return;
        }
        // Reports from before this attempt are answered by it; a later one wakes the backoff.
        wake.mark_unchanged();
        let attempt = tokio::select! {
            r = connector.connect(shared.addr) => r,
            _ = shutdown.changed() => return,
        };
        match attempt {
            Ok(connection) => {
                delay = config.reconnect_base;
                shared.set_slot(slot, Some(connection.clone()), None);
                tracing::debug!(addr = %shared.addr, slot, "connected");
                let reason = tokio::select! {
                    reason = connection.closed() => reason,
                    _ = shutdown.changed() => {
                        connection.close("pool shut down");
                        return;
                    }
                };
                tracing::info!(addr = %shared.addr, slot, %reason, "connection lost");
                shared.set_slot(slot, None, Some(reason));
                // Reconnect at once after losing an established connection.
                continue;
            }
            Err(error) => {
                tracing::debug!(addr = %shared.addr, slot, %error, ?delay, "connect failed");
                if !error.is_retryable() {
                    // Wrong credentials or no common version: retrying soon will not help.
                    delay = config.reconnect_max;
                }
                shared.set_slot(slot, None, Some(error.to_string()));
            }
        }
        // Wait out the backoff, or less if the node was reported up since the attempt began.
        tokio::select! {
            _ = tokio::time::sleep(jittered(delay, slot)) => {}
            Ok(()) = wake.changed() => {}
            _ = shutdown.changed() => return,
        }
        delay = (delay * 2).min(config.reconnect_max);
    }
}

/// Spreads the slots' retries so that they do not hit a recovering node all at once: up to a
/// quarter of the delay, different per slot.
fn jittered(delay: Duration, slot: usize) -> Duration {
    let quarter = delay / 4;
    let step = u32::try_from(slot % 8).unwrap_or(0);
    delay + quarter * step / 8
}

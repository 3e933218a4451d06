//! [`Cluster`]: the handle to the cluster view that the rest of the crate (and gateways)
//! hold — the current snapshot, its changes, the schema events, the control node, schema
//! agreement — with its configuration and errors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use ringgate_protocol::message::Event;
use tokio::sync::watch;
use tokio::time::Instant;

use super::control;
use super::query::{QueryError, is_invalid_query, query_rows};
use super::system_rows::SystemRow;
use super::view::{ClusterView, NodeState, ViewError};
use super::writer::{ViewChange, ViewWriter};
use crate::pool::{ConnectOptions, Connection};

/// Settings of the cluster view.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Nodes to join through, tried in order.
    pub contact_points: Vec<SocketAddr>,
    /// How the control connection connects (version, compression, credentials).
    pub connect: ConnectOptions,
    /// Events arriving within this window are handled with one refresh.
    pub debounce: Duration,
    /// Timeout of each control query.
    pub query_timeout: Duration,
    /// The first delay between rounds of reconnection attempts; doubles up to `reconnect_max`.
    pub reconnect_base: Duration,
    /// The longest delay between rounds of reconnection attempts.
    pub reconnect_max: Duration,
}

impl ClusterConfig {
    /// Defaults, with these contact points.
    pub fn new(contact_points: Vec<SocketAddr>) -> Self {
        ClusterConfig {
            contact_points,
            connect: ConnectOptions::default(),
            debounce: Duration::from_millis(200),
            query_timeout: Duration::from_secs(10),
            reconnect_base: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
        }
    }
}

/// Why joining the cluster failed, or a cluster operation did.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClusterError {
    /// No contact point could be reached; each one's reason.
    #[error("no contact point could be reached: {0:?}")]
    NoContactPoint(Vec<(SocketAddr, String)>),
    /// A control query failed.
    #[error("control query failed: {0}")]
    Query(#[from] QueryError),
    /// The cluster's topology does not form a ring.
    #[error(transparent)]
    View(#[from] ViewError),
    /// A wait ran out.
    #[error("{0}")]
    Timeout(String),
    /// The cluster handle was shut down.
    #[error("the cluster view is shut down")]
    Shutdown,
}

/// How many schema events a slow [`Cluster::schema_events`] receiver may fall behind.
pub const SCHEMA_EVENTS_BUFFER: usize = 1024;

/// What the handle and the control task share.
pub(crate) struct Shared {
    pub(crate) config: ClusterConfig,
    /// The view's one writer: every change goes through it.
    pub(crate) view: ViewWriter,
    pub(crate) control: ArcSwapOption<Connection>,
    /// How many times the control connection has found a node again after losing its own.
    pub(crate) control_joins: std::sync::atomic::AtomicU64,
    pub(crate) shutdown: watch::Sender<bool>,
    /// The cluster's SCHEMA_CHANGE events, for front ends that pass them on to clients.
    pub(crate) schema_events: tokio::sync::broadcast::Sender<Event>,
}

/// A live view of the cluster. Cloning is cheap; [`Cluster::shutdown`] stops the control
/// connection.
#[derive(Clone)]
pub struct Cluster {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("control", &self.control_node())
            .field("nodes", &self.view().nodes().count())
            .finish()
    }
}

impl Cluster {
    /// Joins the cluster through the first contact point that answers, reads its topology and
    /// schema, and starts following its events.
    pub async fn connect(config: ClusterConfig) -> Result<Cluster, ClusterError> {
        let mut failures = Vec::new();
        for &addr in &config.contact_points {
            match control::open(addr, &config).await {
                Ok((conn, events, view)) => {
                    let shared = Arc::new(Shared {
                        view: ViewWriter::new(view),
                        control: ArcSwapOption::from_pointee(conn.clone()),
                        control_joins: std::sync::atomic::AtomicU64::new(0),
                        shutdown: watch::Sender::new(false),
                        schema_events: tokio::sync::broadcast::Sender::new(SCHEMA_EVENTS_BUFFER),
                        config,
                    });
                    tokio::spawn(control::run(Arc::clone(&shared), conn, events));
                    return Ok(Cluster { shared });
                }
                Err(e) => failures.push((addr, e)),
            }
        }
        Err(ClusterError::NoContactPoint(failures))
    }

    /// The current snapshot. Lock-free.
    pub fn view(&self) -> Arc<ClusterView> {
        self.shared.view.load()
    }

    /// A receiver that sees every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterView>> {
        self.shared.view.subscribe()
    }

    /// The cluster's SCHEMA_CHANGE events as the control connection receives them (a front
    /// end passes them on to its REGISTERed clients). A receiver that falls more than
    /// [`SCHEMA_EVENTS_BUFFER`] events behind loses the oldest.
    pub fn schema_events(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.shared.schema_events.subscribe()
    }

    /// The node the control connection is on, if it is connected.
    pub fn control_node(&self) -> Option<SocketAddr> {
        self.shared.control.load().as_ref().map(|c| c.addr())
    }

    /// How many times the control connection has found a node again after losing its own;
    /// it counts up before the view that move brings is published.
    pub(crate) fn control_joins(&self) -> u64 {
        self.shared
            .control_joins
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The protocol version the control connection speaks (the newest both sides know), if it
    /// is connected.
    pub fn protocol_version(&self) -> Option<ringgate_protocol::ProtocolVersion> {
        self.shared.control.load().as_ref().map(|c| c.version())
    }

    /// Waits until every up node reports the same schema version (after DDL), polling the
    /// control node's `system.local` and `system.peers_v2`, for at most `timeout`.
    ///
    /// After a DDL statement prefer [`Cluster::wait_for_schema_agreement_on`] with a
    /// connection to the node that ran it: the control node may not have applied the change
    /// yet while its gossip still shows every peer on the old version, which looks like
    /// agreement on the schema from before the change.
    pub async fn wait_for_schema_agreement(
        &self,
        timeout: Duration,
    ) -> Result<[u8; 16], ClusterError> {
        self.wait_for_schema_agreement_on(None, timeout).await
    }

    /// Waits until every up node reports the same schema version, polling `system.local`
    /// and `system.peers_v2` on `conn` (the control connection when `None`), for at most
    /// `timeout`.
    ///
    /// Given a connection to the node that coordinated a DDL statement, agreement means every
    /// up node has applied that change: that node's own version already includes it, and
    /// gossip can show a peer on that version only once the peer has it too.
    pub async fn wait_for_schema_agreement_on(
        &self,
        conn: Option<&Connection>,
        timeout: Duration,
    ) -> Result<[u8; 16], ClusterError> {
        let deadline = Instant::now() + timeout;
        loop {
            let control = self.shared.control.load_full();
            let on = conn.or(control.as_deref());
            if let Some(on) = on
                && let Ok(Some(version)) = self.agreed_schema(on).await
            {
                return Ok(version);
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::Timeout(format!(
                    "no schema agreement within {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn agreed_schema(&self, conn: &Connection) -> Result<Option<[u8; 16]>, QueryError> {
        let t = self.shared.config.query_timeout;
        let local = query_rows(
            conn,
            "SELECT schema_version FROM system.local WHERE key='local'",
            t,
        )
        .await?;
        let peers = match query_rows(
            conn,
            "SELECT peer, native_address, native_port, schema_version FROM system.peers_v2",
            t,
        )
        .await
        {
            Err(e) if is_invalid_query(&e) => {
                query_rows(
                    conn,
                    "SELECT peer, rpc_address, schema_version FROM system.peers",
                    t,
                )
                .await?
            }
            other => other?,
        };
        let view = self.view();
        let up = |row: &SystemRow| {
            // A peer the view knows as down does not take part in agreement.
            let addr = row
                .get::<Option<std::net::IpAddr>>("native_address")
                .ok()
                .flatten()
                .or_else(|| {
                    row.get::<Option<std::net::IpAddr>>("rpc_address")
                        .ok()
                        .flatten()
                });
            !view
                .nodes()
                .any(|n| Some(n.addr.ip()) == addr && n.state == NodeState::Down)
        };
        let mut versions = local
            .iter()
            .chain(peers.iter().filter(|r| up(r)))
            .map(|r| r.get::<Option<[u8; 16]>>("schema_version").ok().flatten());
        let Some(Some(first)) = versions.next() else {
            return Ok(None);
        };
        Ok(versions.all(|v| v == Some(first)).then_some(first))
    }

    /// Sets a node's state (e.g. from its pool's health); publishes a new view when it
    /// changes anything.
    pub fn set_node_state(&self, addr: SocketAddr, state: NodeState) {
        self.shared
            .view
            .apply(ViewChange::NodeState { addr, state });
    }

    /// Stops the control connection.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        if let Some(c) = self.shared.control.swap(None) {
            c.close("cluster view shut down");
        }
    }
}

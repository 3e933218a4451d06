//! The control connection: it reads the topology and schema from one node, REGISTERs for
//! events, keeps the view current (debouncing bursts), and moves to another node when its
//! node goes away.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use ringgate_protocol::frame::Envelope;
use ringgate_protocol::message::{
    Event, EventType, Register, Request, Response, SchemaChangeTarget, StatusChangeType,
};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::query::{QueryError, decode_response, is_invalid_query, query_rows, round_trip};
use super::system::{SchemaRows, SystemRow, keyspaces, local_node, peer_node};
use super::view::{ClusterView, Node, NodeState, ViewError};
use crate::pool::{ConnectError, ConnectOptions, Connection, connect};

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

struct Shared {
    config: ClusterConfig,
    view: ArcSwap<ClusterView>,
    changes: watch::Sender<Arc<ClusterView>>,
    control: ArcSwapOption<Connection>,
    shutdown: watch::Sender<bool>,
    /// The cluster's SCHEMA_CHANGE events, for front ends that pass them on to clients.
    schema_events: tokio::sync::broadcast::Sender<Event>,
}

impl Shared {
    fn publish(&self, view: ClusterView) {
        let view = Arc::new(view);
        self.view.store(Arc::clone(&view));
        self.changes.send_replace(view);
    }
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
            match open_control(addr, &config).await {
                Ok((conn, events, view)) => {
                    let view = Arc::new(view);
                    let shared = Arc::new(Shared {
                        view: ArcSwap::new(Arc::clone(&view)),
                        changes: watch::Sender::new(view),
                        control: ArcSwapOption::from_pointee(conn.clone()),
                        shutdown: watch::Sender::new(false),
                        schema_events: tokio::sync::broadcast::Sender::new(SCHEMA_EVENTS_BUFFER),
                        config,
                    });
                    tokio::spawn(run(Arc::clone(&shared), conn, events));
                    return Ok(Cluster { shared });
                }
                Err(e) => failures.push((addr, e)),
            }
        }
        Err(ClusterError::NoContactPoint(failures))
    }

    /// The current snapshot. Lock-free.
    pub fn view(&self) -> Arc<ClusterView> {
        self.shared.view.load_full()
    }

    /// A receiver that sees every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterView>> {
        self.shared.changes.subscribe()
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
        if let Some(view) = self.shared.view.load().with_node_state(addr, state) {
            self.shared.publish(view);
        }
    }

    /// Stops the control connection.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        if let Some(c) = self.shared.control.swap(None) {
            c.close("cluster view shut down");
        }
    }
}

type Events = mpsc::Receiver<Envelope>;

/// Opens a control connection to `addr`: connect, REGISTER, read topology and schema.
async fn open_control(
    addr: SocketAddr,
    config: &ClusterConfig,
) -> Result<(Connection, Events, ClusterView), String> {
    let (tx, events) = mpsc::channel(256);
    let (conn, _) = connect(addr, &config.connect, Some(tx))
        .await
        .map_err(|e: ConnectError| e.to_string())?;
    let register = Request::Register(Register {
        events: vec![
            EventType::TopologyChange,
            EventType::StatusChange,
            EventType::SchemaChange,
        ],
    });
    match round_trip(&conn, &register, config.query_timeout).await {
        Ok(Response::Ready) => {}
        Ok(other) => return Err(format!("REGISTER answered with {:?}", other.opcode())),
        Err(e) => return Err(e.to_string()),
    }
    let view = read_view(&conn, config, None)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        control = %addr,
        cluster = %view.cluster_name,
        nodes = view.nodes().count(),
        version = %conn.version(),
        "joined the cluster"
    );
    Ok((conn, events, view))
}

/// Reads the whole view: topology, and the schema (all of it, or — with `previous` and
/// `only` — just the named keyspaces, keeping the others from `previous`).
async fn read_view(
    conn: &Connection,
    config: &ClusterConfig,
    refresh: Option<(&ClusterView, &Refresh)>,
) -> Result<ClusterView, ClusterError> {
    let t = config.query_timeout;
    let local = query_rows(conn, "SELECT * FROM system.local WHERE key='local'", t).await?;
    let local_row = local
        .first()
        .ok_or_else(|| QueryError::Unexpected("system.local is empty".to_owned()))?;
    let mut nodes = vec![local_node(local_row, conn.addr()).map_err(QueryError::Unexpected)?];
    let (peers, v2) = match query_rows(conn, "SELECT * FROM system.peers_v2", t).await {
        Ok(rows) => (rows, true),
        Err(e) if is_invalid_query(&e) => (
            query_rows(conn, "SELECT * FROM system.peers", t).await?,
            false,
        ),
        Err(e) => return Err(e.into()),
    };
    for row in &peers {
        match peer_node(row, v2, conn.addr().port()) {
            Ok(node) => nodes.push(node),
            Err(e) => tracing::warn!(error = %e, "skipping a malformed peer row"),
        }
    }
    if let Some((previous, _)) = refresh {
        // Liveness comes from events and pools, not from the system tables: keep it.
        for node in &mut nodes {
            if let Some(old) = previous.node(&node.addr) {
                node.state = old.state;
            }
        }
    }
    let cluster_name = local_row
        .get::<Option<String>>("cluster_name")
        .ok()
        .flatten()
        .unwrap_or_default();
    let partitioner = local_row
        .get::<Option<String>>("partitioner")
        .ok()
        .flatten()
        .unwrap_or_default();

    let keyspace_list = match refresh {
        Some((previous, r)) if !r.all_schema => {
            let mut kept: Vec<_> = previous
                .keyspaces()
                .filter(|k| !r.keyspaces.contains(&k.name))
                .map(|k| (**k).clone())
                .collect();
            for name in &r.keyspaces {
                kept.extend(read_schema(conn, t, Some(name)).await?);
            }
            kept
        }
        Some((previous, r)) if !r.any_schema() => {
            previous.keyspaces().map(|k| (**k).clone()).collect()
        }
        _ => read_schema(conn, t, None).await?,
    };
    Ok(ClusterView::new(
        cluster_name,
        partitioner,
        nodes,
        keyspace_list,
    )?)
}

/// Reads the schema tables, all of them or one keyspace's rows.
async fn read_schema(
    conn: &Connection,
    t: Duration,
    keyspace: Option<&str>,
) -> Result<Vec<super::KeyspaceMeta>, QueryError> {
    let filter = match keyspace {
        // Keyspace names come from the node's own events; quote them as CQL strings.
        Some(k) => format!(" WHERE keyspace_name = '{}'", k.replace('\'', "''")),
        None => String::new(),
    };
    let q =
        |table: &str, columns: &str| format!("SELECT {columns} FROM system_schema.{table}{filter}");
    let mut views = query_rows(conn, &q("views", "keyspace_name, view_name"), t).await?;
    for v in &mut views {
        let name = v.get::<Option<String>>("view_name").ok().flatten();
        let ks = v.get::<Option<String>>("keyspace_name").ok().flatten();
        *v = SystemRow::new([
            (
                "keyspace_name".to_owned(),
                ks.map(ringgate_protocol::types::CqlValue::Text),
            ),
            (
                "table_name".to_owned(),
                name.map(ringgate_protocol::types::CqlValue::Text),
            ),
        ]);
    }
    let mut tables = query_rows(conn, &q("tables", "keyspace_name, table_name"), t).await?;
    tables.extend(views);
    let rows = SchemaRows {
        keyspaces: query_rows(
            conn,
            &q("keyspaces", "keyspace_name, durable_writes, replication"),
            t,
        )
        .await?,
        tables,
        columns: query_rows(
            conn,
            &q(
                "columns",
                "keyspace_name, table_name, column_name, kind, position, type",
            ),
            t,
        )
        .await?,
        types: query_rows(
            conn,
            &q(
                "types",
                "keyspace_name, type_name, field_names, field_types",
            ),
            t,
        )
        .await?,
    };
    Ok(keyspaces(&rows))
}

/// What a burst of events asks to re-read.
#[derive(Debug, Default)]
struct Refresh {
    topology: bool,
    all_schema: bool,
    keyspaces: BTreeSet<String>,
}

impl Refresh {
    fn any_schema(&self) -> bool {
        self.all_schema || !self.keyspaces.is_empty()
    }

    fn is_empty(&self) -> bool {
        !self.topology && !self.any_schema()
    }
}

/// The control task: follows events on `conn` until it closes, then reconnects elsewhere.
async fn run(shared: Arc<Shared>, mut conn: Connection, mut events: Events) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let reason = follow(&shared, &conn, &mut events, &mut shutdown).await;
        let Some(reason) = reason else {
            return; // shut down
        };
        if *shutdown.borrow() {
            return; // shut down, the connection closed first
        }
        tracing::warn!(control = %conn.addr(), %reason, "control connection lost; moving");
        shared.control.store(None);
        // The node the control connection was on is not to be trusted until events say so.
        let lost = conn.addr();
        if let Some(view) = shared.view.load().with_node_state(lost, NodeState::Down) {
            shared.publish(view);
        }
        match reconnect(&shared, lost, &mut shutdown).await {
            Some((c, e)) => {
                conn = c;
                events = e;
            }
            None => return,
        }
    }
}

/// Handles events until the connection closes (`Some(reason)`) or shutdown (`None`).
async fn follow(
    shared: &Shared,
    conn: &Connection,
    events: &mut Events,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<String> {
    let mut pending = Refresh::default();
    let mut due: Option<Instant> = None;
    loop {
        let sleep = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.changed() => return None,
            reason = conn.closed() => return Some(reason),
            Some(envelope) = events.recv() => {
                if let Some(event) = decode_event(&envelope, conn) {
                    handle_event(shared, event, &mut pending);
                    if !pending.is_empty() && due.is_none() {
                        due = Some(Instant::now() + shared.config.debounce);
                    }
                }
            }
            () = sleep => {
                due = None;
                let work = std::mem::take(&mut pending);
                let previous = shared.view.load_full();
                match read_view(conn, &shared.config, Some((&previous, &work))).await {
                    Ok(view) => shared.publish(view),
                    Err(e) => {
                        tracing::warn!(error = %e, "refresh failed; retrying");
                        pending = work;
                        due = Some(Instant::now() + shared.config.debounce * 5);
                    }
                }
            }
        }
    }
}

fn decode_event(envelope: &Envelope, conn: &Connection) -> Option<Event> {
    match decode_response(envelope, conn.version()) {
        Ok(Response::Event(event)) => Some(event),
        Ok(other) => {
            tracing::warn!(opcode = ?other.opcode(), "unexpected message on stream -1");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "undecodable event");
            None
        }
    }
}

fn handle_event(shared: &Shared, event: Event, pending: &mut Refresh) {
    tracing::debug!(?event, "event");
    match event {
        Event::StatusChange { change, node } => {
            let state = match change {
                StatusChangeType::Up => NodeState::Up,
                StatusChangeType::Down => NodeState::Down,
            };
            match shared.view.load().with_node_state(node, state) {
                Some(view) => shared.publish(view),
                // Not a node we know: re-read the topology.
                None if shared.view.load().node(&node).is_none() => pending.topology = true,
                None => {}
            }
        }
        Event::TopologyChange { .. } => pending.topology = true,
        Event::SchemaChange(change) => {
            // Nobody listening is fine.
            let _ = shared
                .schema_events
                .send(Event::SchemaChange(change.clone()));
            let keyspace = match &change.target {
                SchemaChangeTarget::Keyspace(k) => k,
                SchemaChangeTarget::Table { keyspace, .. }
                | SchemaChangeTarget::Type { keyspace, .. }
                | SchemaChangeTarget::Function { keyspace, .. }
                | SchemaChangeTarget::Aggregate { keyspace, .. } => keyspace,
            };
            // Re-reading the keyspace also covers DROPPED: no rows come back, so it is gone.
            pending.keyspaces.insert(keyspace.clone());
        }
    }
}

/// Finds a new control node: up nodes of the view first, then the contact points, in rounds
/// with exponential backoff. `None` on shutdown.
async fn reconnect(
    shared: &Shared,
    lost: SocketAddr,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(Connection, Events)> {
    let mut delay = shared.config.reconnect_base;
    loop {
        let view = shared.view.load_full();
        let mut candidates: Vec<SocketAddr> = view
            .nodes()
            .filter(|n: &&Node| n.state == NodeState::Up && n.addr != lost)
            .map(|n| n.addr)
            .collect();
        for addr in view
            .nodes()
            .map(|n| n.addr)
            .chain(shared.config.contact_points.iter().copied())
        {
            if !candidates.contains(&addr) {
                candidates.push(addr);
            }
        }
        for addr in candidates {
            if *shutdown.borrow() {
                return None;
            }
            match open_control(addr, &shared.config).await {
                Ok((conn, events, mut fresh)) => {
                    // Keep what events told us about liveness; the new node is up.
                    for node in view.nodes().filter(|n| n.state == NodeState::Down) {
                        if node.addr != addr
                            && let Some(v) = fresh.with_node_state(node.addr, NodeState::Down)
                        {
                            fresh = v;
                        }
                    }
                    shared.control.store(Some(Arc::new(conn.clone())));
                    shared.publish(fresh);
                    tracing::info!(control = %addr, "control connection moved");
                    return Some((conn, events));
                }
                Err(e) => tracing::debug!(%addr, error = %e, "control candidate failed"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return None,
        }
        delay = (delay * 2).min(shared.config.reconnect_max);
    }
}

//! The control connection: it reads the topology and schema from one node, REGISTERs for
//! events, keeps the view current through the view's writer (debouncing bursts into one
//! re-read), and moves to another node when its node goes away.

use std::net::SocketAddr;
use std::sync::Arc;

use ringgate_protocol::frame::Envelope;
use ringgate_protocol::message::{
    Event, EventType, Register, Request, Response, SchemaChangeTarget, StatusChangeType,
};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::handle::{ClusterConfig, Shared};
use super::query::{response_or_error, round_trip};
use super::read::{Refresh, read_view};
use super::view::{ClusterView, Node, NodeState};
use super::writer::ViewChange;
use crate::pool::{ConnectError, Connection, connect};

/// Events from the control connection (stream -1).
pub(crate) type Events = mpsc::Receiver<Envelope>;

/// Opens a control connection to `addr`: connect, REGISTER, read topology and schema.
pub(crate) async fn open(
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

/// The control task: follows events on `conn` until it closes, then reconnects elsewhere.
pub(crate) async fn run(shared: Arc<Shared>, mut conn: Connection, mut events: Events) {
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
        shared.view.apply(ViewChange::NodeState {
            addr: lost,
            state: NodeState::Down,
        });
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
                if let Some(event) = decode_event(&envelope) {
                    handle_event(shared, event, &mut pending);
                    if !pending.is_empty() && due.is_none() {
                        due = Some(Instant::now() + shared.config.debounce);
                    }
                }
            }
            () = sleep => {
                due = None;
                let work = std::mem::take(&mut pending);
                let previous = shared.view.load();
                match read_view(conn, &shared.config, Some((&previous, &work))).await {
                    // Applied to the view as it is now: states set while the tables were
                    // read are kept.
                    Ok(view) => {
                        shared.view.apply(ViewChange::Reread(view));
                    }
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

fn decode_event(envelope: &Envelope) -> Option<Event> {
    match response_or_error(envelope) {
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
            // Not a node we know: re-read the topology.
            if shared.view.load().node(&node).is_none() {
                pending.topology = true;
            } else {
                shared
                    .view
                    .apply(ViewChange::NodeState { addr: node, state });
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
        let view = shared.view.load();
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
            match open(addr, &shared.config).await {
                Ok((conn, events, fresh)) => {
                    // What events and pools told of liveness stays; the new node is up.
                    shared.control.store(Some(Arc::new(conn.clone())));
                    shared
                        .control_joins
                        .fetch_add(1, std::sync::atomic::Ordering::Release);
                    shared.view.apply(ViewChange::Reread(fresh));
                    shared.view.apply(ViewChange::NodeState {
                        addr,
                        state: NodeState::Up,
                    });
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

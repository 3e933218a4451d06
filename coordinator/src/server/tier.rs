//! A tier of Ringgate nodes: each node watches the others and tells its clients about them, as
//! a Cassandra node tells its clients about the other nodes of its cluster.
//!
//! Every node of a tier is given the tier's nodes ([`TierConfig::peers`]; a shared list that
//! includes the node itself is fine: it is skipped). A node watches each peer over one CQL
//! connection of its own: OPTIONS, answered by SUPPORTED, every [`TierConfig::probe_interval`]
//! (a Ringgate node answers OPTIONS before any STARTUP, so a tier that checks passwords needs
//! no credentials for it). The peer is *up* while it answers within
//! [`TierConfig::probe_timeout`]; it is *down* as soon as that connection closes or is refused
//! (the peer stopped), or an answer is late.
//!
//! What clients see follows Cassandra's own conventions for the nodes of a ring:
//!
//! - A peer joins the ring — is listed in `system.peers` and `system.peers_v2`, and the ring's
//!   tokens are split again among the listed nodes — the first time it is seen serving. Its
//!   REGISTERed clients get `TOPOLOGY_CHANGE NEW_NODE` and `STATUS_CHANGE UP` for it. A peer
//!   already serving when the node starts is listed from the start (the node probes every peer
//!   once before [`Tier::start`] returns). A peer never seen is never listed: drivers do not
//!   chase an address nothing answers on.
//! - A listed peer that stops stays listed (a stopped Cassandra node stays in the ring too);
//!   clients get `STATUS_CHANGE DOWN`. When it serves again, `STATUS_CHANGE UP`: drivers then
//!   reconnect to it at once, rather than when their own reconnection schedule says.
//!
//! Events name a peer by the address and port its clients connect to (`rpc_address` /
//! `native_address` and `native_port`), as drivers look their hosts up.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast;

use ringgate_protocol::frame::{Decoded, Envelope, EnvelopeDecoder, FrameCodec, Header};
use ringgate_protocol::message::{Event, StatusChangeType, TopologyChangeType};
use ringgate_protocol::{Direction, Opcode, ProtocolVersion};

use super::served_tables::{RinggateNode, SystemTables};

/// How a node watches the other nodes of its tier.
#[derive(Debug, Clone)]
pub struct TierConfig {
    /// The tier's other nodes, as clients reach them (a node's own entry is skipped).
    pub peers: Vec<RinggateNode>,
    /// How often each peer is asked for OPTIONS.
    pub probe_interval: Duration,
    /// How long a peer may take to connect or answer before it counts as down.
    pub probe_timeout: Duration,
}

impl TierConfig {
    /// Watching `peers` once a second, down after 3 seconds without an answer.
    pub fn new(peers: Vec<RinggateNode>) -> Self {
        TierConfig {
            peers,
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_secs(3),
        }
    }
}

/// What a node knows of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// Not probed yet.
    Unknown,
    /// Serving: it answered the last probe.
    Up,
    /// Not serving: refused, closed, or late.
    Down,
}

/// How many tier events a slow client connection may fall behind.
pub const TIER_EVENTS_BUFFER: usize = 256;

/// One peer's watch: its state and whether it is listed in the system tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Watch {
    state: PeerState,
    listed: bool,
}

/// What a probe's outcome changes, for the system tables and the clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// Seen serving for the first time: list it, then NEW_NODE and UP.
    Joined,
    /// Serving again: UP.
    Up,
    /// Stopped serving: DOWN.
    Down,
}

impl Watch {
    const NEW: Watch = Watch {
        state: PeerState::Unknown,
        listed: false,
    };

    /// The state after a probe that found the peer `up` (or not), and what that changes.
    fn observe(&mut self, up: bool) -> Option<Change> {
        let before = self.state;
        self.state = if up { PeerState::Up } else { PeerState::Down };
        match (up, before) {
            (true, _) if !self.listed => {
                self.listed = true;
                Some(Change::Joined)
            }
            (true, PeerState::Up) | (false, PeerState::Down | PeerState::Unknown) => None,
            (true, _) => Some(Change::Up),
            (false, PeerState::Up) => Some(Change::Down),
        }
    }
}

struct Shared {
    tables: Arc<SystemTables>,
    events: broadcast::Sender<Event>,
    /// Each peer and its watch, in configuration order.
    peers: Mutex<Vec<(RinggateNode, Watch)>>,
}

impl Shared {
    /// Records a probe's outcome for peer `index`: lists a peer that joined, and tells clients.
    fn observe(&self, index: usize, up: bool) {
        let (node, change) = {
            let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
            let Some((node, watch)) = peers.get_mut(index) else {
                return;
            };
            (node.clone(), watch.observe(up))
        };
        let Some(change) = change else { return };
        let addr = SocketAddr::new(node.address, node.native_port);
        match change {
            Change::Joined => {
                if let Err(e) = self.tables.update(|info| {
                    if !info.peers.contains(&node) {
                        info.peers.push(node.clone());
                    }
                }) {
                    tracing::warn!(peer = %addr, error = %e, "cannot list the peer");
                    return;
                }
                tracing::info!(peer = %addr, "Ringgate peer joined");
                self.send(Event::TopologyChange {
                    change: TopologyChangeType::NewNode,
                    node: addr,
                });
                self.send(Event::StatusChange {
                    change: StatusChangeType::Up,
                    node: addr,
                });
            }
            Change::Up => {
                tracing::info!(peer = %addr, "Ringgate peer is up");
                self.send(Event::StatusChange {
                    change: StatusChangeType::Up,
                    node: addr,
                });
            }
            Change::Down => {
                tracing::info!(peer = %addr, "Ringgate peer is down");
                self.send(Event::StatusChange {
                    change: StatusChangeType::Down,
                    node: addr,
                });
            }
        }
    }

    fn send(&self, event: Event) {
        // No client registered is fine.
        let _ = self.events.send(event);
    }
}

/// A node's watch over the other nodes of its tier (see the module documentation). Dropping
/// it stops the watch.
pub struct Tier {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tier")
            .field("peers", &self.peers())
            .finish()
    }
}

impl Drop for Tier {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Tier {
    /// Starts watching `config.peers` for the node whose system tables are `tables` (the
    /// node's own entry, `tables.info().local`, is skipped, as are repeats). Returns once each
    /// peer has been probed once (at most `config.probe_timeout`), so that peers already
    /// serving are listed before the node serves its first client.
    pub async fn start(tables: Arc<SystemTables>, config: TierConfig) -> Tier {
        let local = tables.info().local;
        let mut peers: Vec<RinggateNode> = Vec::new();
        for peer in config.peers {
            let same =
                |n: &RinggateNode| (n.address, n.native_port) == (peer.address, peer.native_port);
            if !same(&local) && !peers.iter().any(same) {
                peers.push(peer);
            }
        }
        let shared = Arc::new(Shared {
            tables,
            events: broadcast::Sender::new(TIER_EVENTS_BUFFER),
            peers: Mutex::new(peers.iter().map(|p| (p.clone(), Watch::NEW)).collect()),
        });
        let mut first_probes = Vec::new();
        let mut tasks = Vec::new();
        for (index, peer) in peers.into_iter().enumerate() {
            let (probed, first) = tokio::sync::oneshot::channel();
            first_probes.push(first);
            tasks.push(tokio::spawn(watch_peer(
                Arc::clone(&shared),
                index,
                SocketAddr::new(peer.address, peer.native_port),
                config.probe_interval,
                config.probe_timeout,
                probed,
            )));
        }
        let _ = tokio::time::timeout(
            config.probe_timeout,
            futures::future::join_all(first_probes),
        )
        .await;
        Tier { shared, tasks }
    }

    /// The events about the tier's nodes (TOPOLOGY_CHANGE, STATUS_CHANGE) from now on, for a
    /// front end to pass to its REGISTERed clients (see
    /// [`CoordinatorHandler::with_events`](super::CoordinatorHandler::with_events)). A
    /// receiver more than [`TIER_EVENTS_BUFFER`] events behind loses the oldest.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    /// Every peer watched and what the node knows of it now.
    pub fn peers(&self) -> Vec<(RinggateNode, PeerState)> {
        let peers = self.shared.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers.iter().map(|(n, w)| (n.clone(), w.state)).collect()
    }
}

/// Watches one peer until the tier is dropped: probes it over a connection kept open, opens
/// another when it fails, and records every outcome. `probed` fires after the first one.
async fn watch_peer(
    shared: Arc<Shared>,
    index: usize,
    addr: SocketAddr,
    interval: Duration,
    timeout: Duration,
    probed: tokio::sync::oneshot::Sender<()>,
) {
    let mut probed = Some(probed);
    let mut report = |up: bool| {
        shared.observe(index, up);
        if let Some(probed) = probed.take() {
            let _ = probed.send(());
        }
    };
    loop {
        match Probe::connect(addr, timeout).await {
            Ok(mut probe) => loop {
                let answered = probe.ask(timeout).await;
                report(answered.is_ok());
                if let Err(e) = answered {
                    tracing::debug!(peer = %addr, error = %e, "probe failed");
                    break;
                }
                // Between probes, a closed connection is news at once.
                if let Err(e) = probe.idle(interval).await {
                    tracing::debug!(peer = %addr, error = %e, "probe connection closed");
                    report(false);
                    break;
                }
            },
            Err(e) => {
                tracing::debug!(peer = %addr, error = %e, "cannot reach the peer");
                report(false);
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// The largest answer a probe reads (SUPPORTED is a few hundred bytes).
const MAX_ANSWER: usize = 64 * 1024;

/// A CQL connection that only ever asks OPTIONS.
struct Probe {
    socket: TcpStream,
    codec: FrameCodec,
    input: BytesMut,
    stream: i16,
}

impl Probe {
    async fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<Probe> {
        let socket = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
            })??;
        socket.set_nodelay(true)?;
        let envelopes = EnvelopeDecoder::new()
            .expecting(Direction::Response)
            .with_max_body_len(MAX_ANSWER);
        Ok(Probe {
            socket,
            codec: FrameCodec::new(envelopes),
            input: BytesMut::with_capacity(1024),
            stream: 0,
        })
    }

    /// Sends OPTIONS and waits for SUPPORTED, at most `timeout`.
    async fn ask(&mut self, timeout: Duration) -> std::io::Result<()> {
        self.stream = self.stream.wrapping_add(1) & 0x7fff;
        let header = Header::new(
            ProtocolVersion::V4,
            Direction::Request,
            self.stream,
            Opcode::Options,
        );
        let mut out = BytesMut::new();
        self.codec
            .encode(&Envelope::new(header, Bytes::new()), &mut out)
            .map_err(invalid)?;
        let exchange = async {
            self.socket.write_all(&out).await?;
            loop {
                match self.codec.decode(&mut self.input).map_err(invalid)? {
                    Decoded::Ready(answer) if answer.header.stream == self.stream => {
                        return if answer.header.opcode == Opcode::Supported {
                            Ok(())
                        } else {
                            Err(invalid(format!(
                                "OPTIONS answered with {:?}",
                                answer.header.opcode
                            )))
                        };
                    }
                    Decoded::Ready(_) => {} // a late answer to an earlier probe
                    Decoded::NeedMore(n) => {
                        self.input.reserve(n.min(MAX_ANSWER));
                        if self.socket.read_buf(&mut self.input).await? == 0 {
                            return Err(closed());
                        }
                    }
                }
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time"))?
    }

    /// Waits `interval`, failing as soon as the peer closes the connection.
    async fn idle(&mut self, interval: Duration) -> std::io::Result<()> {
        let sleep = tokio::time::sleep(interval);
        tokio::pin!(sleep);
        loop {
            if self.input.len() > MAX_ANSWER {
                return Err(invalid("the peer sends what it was not asked for"));
            }
            self.input.reserve(1024);
            tokio::select! {
                () = &mut sleep => return Ok(()),
                read = self.socket.read_buf(&mut self.input) => {
                    if read? == 0 {
                        return Err(closed());
                    }
                }
            }
        }
    }
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

fn closed() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "the peer closed the connection",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_joins_once_then_goes_down_and_up() {
        let mut w = Watch::NEW;
        // Not there at first: nothing to tell, not listed.
        assert_eq!(w.observe(false), None);
        assert_eq!(w.observe(false), None);
        assert!(!w.listed);
        assert_eq!(w.observe(true), Some(Change::Joined));
        assert_eq!(w.observe(true), None);
        assert_eq!(w.observe(false), Some(Change::Down));
        assert_eq!(w.observe(false), None);
        assert_eq!(w.observe(true), Some(Change::Up));
        assert!(w.listed);
        assert_eq!(w.state, PeerState::Up);
    }
}

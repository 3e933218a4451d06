//! [`SystemInfo`]: the configuration behind Ringgate's system tables, and the rows built from
//! it.

use std::net::IpAddr;

use ringgate_protocol::types::CqlValue;

use super::tables::SystemTable;
use super::topology::{RinggateNode, TokenSpace, split_tokens};

/// What Ringgate's `system.local` and `system.peers(_v2)` say: this node, the other Ringgate
/// nodes, and what the cluster behind them reports about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemInfo {
    /// This Ringgate node (the one a driver reading `system.local` is connected to).
    pub local: RinggateNode,
    /// The other Ringgate nodes, listed in `system.peers(_v2)`.
    pub peers: Vec<RinggateNode>,
    /// The cluster's name.
    pub cluster_name: String,
    /// The partitioner's class name (Murmur3 or Random: Ringgate splits their token range).
    pub partitioner: String,
    /// The release version to report (the cluster's, e.g. `5.0.8`).
    pub release_version: String,
    /// The CQL version to report.
    pub cql_version: String,
    /// The cluster's agreed schema version.
    pub schema_version: [u8; 16],
    /// How many tokens each Ringgate node owns (1 to 256).
    pub tokens_per_node: u16,
    /// The `gossip_generation` reported (Cassandra's is the node's start time in seconds).
    pub gossip_generation: i32,
}

/// Why a [`SystemInfo`] cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SystemInfoError {
    /// The partitioner's token range is not one Ringgate can split.
    #[error("cannot split the token range of partitioner {0}")]
    Partitioner(String),
    /// `tokens_per_node` is outside 1..=256.
    #[error("tokens per node must be 1 to 256, not {0}")]
    TokensPerNode(u16),
    /// Two Ringgate nodes have the same address and port.
    #[error("Ringgate node {0}:{1} is listed twice")]
    DuplicateNode(IpAddr, u16),
    /// More peers than the system tables list.
    #[error("{0} Ringgate peers exceed the limit of {MAX_PEERS}")]
    TooManyPeers(usize),
}

/// The most Ringgate peers a node lists.
pub const MAX_PEERS: usize = 1024;

impl SystemInfo {
    /// Info for a single Ringgate node at `local`, with Cassandra 5.0's defaults for the rest:
    /// Murmur3, release 5.0.8, CQL 3.4.7, one token, a nil schema version.
    pub fn new(local: RinggateNode, cluster_name: impl Into<String>) -> Self {
        SystemInfo {
            local,
            peers: Vec::new(),
            cluster_name: cluster_name.into(),
            partitioner: "org.apache.cassandra.dht.Murmur3Partitioner".to_owned(),
            release_version: "5.0.8".to_owned(),
            cql_version: "3.4.7".to_owned(),
            schema_version: [0; 16],
            tokens_per_node: 1,
            gossip_generation: 0,
        }
    }
}

/// The rows of the three tables, cells in `SELECT *` order (`None` is null).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) local: Vec<Option<CqlValue>>,
    pub(crate) peers: Vec<Vec<Option<CqlValue>>>,
    pub(crate) peers_v2: Vec<Vec<Option<CqlValue>>>,
}

impl Snapshot {
    pub(crate) fn rows(&self, table: SystemTable) -> &[Vec<Option<CqlValue>>] {
        match table {
            SystemTable::Local => std::slice::from_ref(&self.local),
            SystemTable::Peers => &self.peers,
            SystemTable::PeersV2 => &self.peers_v2,
        }
    }

    /// Builds the rows. Nodes are ordered by address and port to split the ring, so every
    /// Ringgate node given the same set of nodes computes the same tokens. A Ringgate node has
    /// no internode port: its native port stands for it (`broadcast_port`, `listen_port`,
    /// `peer_port`), so that `system.peers_v2`'s primary key (`peer`, `peer_port`), by which
    /// drivers look a node up, is a node's own also when several share an address.
    pub(crate) fn build(info: &SystemInfo) -> Result<Self, SystemInfoError> {
        let space = TokenSpace::of_partitioner(&info.partitioner)
            .ok_or_else(|| SystemInfoError::Partitioner(info.partitioner.clone()))?;
        if !(1..=256).contains(&info.tokens_per_node) {
            return Err(SystemInfoError::TokensPerNode(info.tokens_per_node));
        }
        if info.peers.len() > MAX_PEERS {
            return Err(SystemInfoError::TooManyPeers(info.peers.len()));
        }
        let mut nodes: Vec<&RinggateNode> =
            std::iter::once(&info.local).chain(&info.peers).collect();
        nodes.sort_by_key(|n| (n.address, n.native_port));
        for pair in nodes.windows(2) {
            if let [a, b] = pair {
                if (a.address, a.native_port) == (b.address, b.native_port) {
                    return Err(SystemInfoError::DuplicateNode(a.address, a.native_port));
                }
            }
        }
        let split = split_tokens(space, nodes.len(), usize::from(info.tokens_per_node));
        let tokens_of = |node: &RinggateNode| -> CqlValue {
            let index = nodes.iter().position(|n| std::ptr::eq(*n, node));
            let mut tokens = index
                .and_then(|i| split.get(i))
                .cloned()
                .unwrap_or_default();
            // Cassandra returns set<text> sorted by its (UTF-8 byte) order.
            tokens.sort();
            CqlValue::Set(tokens.into_iter().map(CqlValue::Text).collect())
        };
        let text = |s: &str| Some(CqlValue::Text(s.to_owned()));
        let port = |p: u16| Some(CqlValue::Int(i32::from(p)));
        let schema = Some(CqlValue::Uuid(info.schema_version));
        let me = &info.local;
        let local = vec![
            text("local"),
            text("COMPLETED"),
            Some(CqlValue::Inet(me.address)),
            port(me.native_port),
            text(&info.cluster_name),
            text(&info.cql_version),
            text(&me.data_center),
            Some(CqlValue::Int(info.gossip_generation)),
            Some(CqlValue::Uuid(me.host_id())),
            Some(CqlValue::Inet(me.address)),
            port(me.native_port),
            text("5"),
            text(&info.partitioner),
            text(&me.rack),
            text(&info.release_version),
            Some(CqlValue::Inet(me.address)),
            port(me.native_port),
            schema.clone(),
            Some(tokens_of(me)),
            None,
        ];
        let peers = info
            .peers
            .iter()
            .map(|p| {
                vec![
                    Some(CqlValue::Inet(p.address)),
                    text(&p.data_center),
                    Some(CqlValue::Uuid(p.host_id())),
                    None,
                    text(&p.rack),
                    text(&info.release_version),
                    Some(CqlValue::Inet(p.address)),
                    schema.clone(),
                    Some(tokens_of(p)),
                ]
            })
            .collect();
        let peers_v2 = info
            .peers
            .iter()
            .map(|p| {
                vec![
                    Some(CqlValue::Inet(p.address)),
                    port(p.native_port),
                    text(&p.data_center),
                    Some(CqlValue::Uuid(p.host_id())),
                    Some(CqlValue::Inet(p.address)),
                    port(p.native_port),
                    None,
                    None,
                    text(&p.rack),
                    text(&info.release_version),
                    schema.clone(),
                    Some(tokens_of(p)),
                ]
            })
            .collect();
        Ok(Snapshot {
            local,
            peers,
            peers_v2,
        })
    }
}

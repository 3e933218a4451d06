//! The cluster view: an immutable snapshot of nodes, schema, and the token ring with every
//! keyspace's replica sets. A new snapshot replaces the old one whole; readers hold an `Arc`
//! and never lock.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use ringgate_routing::{
    NodeIndex, NodeInfo, PlacementId, ReplicaSets, ReplicationStrategy, TokenRing,
};

use super::schema::KeyspaceMeta;

/// Whether a node is serving, as far as the coordinator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Events or the pools say it serves requests.
    Up,
    /// A DOWN event, or its pool lost every connection.
    Down,
}

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The node's host id.
    pub host_id: [u8; 16],
    /// Where its native protocol listens.
    pub addr: SocketAddr,
    /// Its datacenter.
    pub dc: String,
    /// Its rack.
    pub rack: String,
    /// Its tokens (Murmur3), sorted.
    pub tokens: Vec<i64>,
    /// Its Cassandra release, e.g. `5.0.8`.
    pub release_version: String,
    /// The schema version it last reported.
    pub schema_version: Option<[u8; 16]>,
    /// Whether it is up.
    pub state: NodeState,
}

impl Node {
    /// The node's id in the routing crate's terms: its native address.
    pub fn routing_id(&self) -> String {
        self.addr.to_string()
    }
}

/// An immutable snapshot of the cluster.
#[derive(Debug)]
pub struct ClusterView {
    /// The cluster's name.
    pub cluster_name: String,
    /// The partitioner's class name.
    pub partitioner: String,
    nodes: BTreeMap<SocketAddr, Node>,
    keyspaces: HashMap<String, Arc<KeyspaceMeta>>,
    ring: Option<Arc<TokenRing>>,
    replicas: Option<Arc<ReplicaSets>>,
    /// Each ring node's address, by ring node index.
    ring_addrs: Vec<Option<SocketAddr>>,
}

/// Why a view could not be built from what the cluster reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// The nodes' tokens do not form a valid ring.
    #[error("cannot build the token ring: {0}")]
    Ring(#[from] ringgate_routing::RingError),
}

impl ClusterView {
    /// A view of `nodes` and `keyspaces`. Nodes without tokens take no part in the ring.
    /// Keyspaces whose replication the routing crate cannot read have no replica sets (their
    /// requests are routed without token awareness), with a warning.
    pub fn new(
        cluster_name: String,
        partitioner: String,
        nodes: impl IntoIterator<Item = Node>,
        keyspaces: impl IntoIterator<Item = KeyspaceMeta>,
    ) -> Result<Self, ViewError> {
        let nodes: BTreeMap<SocketAddr, Node> = nodes.into_iter().map(|n| (n.addr, n)).collect();
        let keyspaces: HashMap<String, Arc<KeyspaceMeta>> = keyspaces
            .into_iter()
            .map(|k| (k.name.clone(), Arc::new(k)))
            .collect();
        let infos: Vec<NodeInfo> = nodes
            .values()
            .filter(|n| !n.tokens.is_empty())
            .map(|n| NodeInfo {
                id: n.routing_id(),
                dc: n.dc.clone(),
                rack: n.rack.clone(),
                tokens: n.tokens.clone(),
            })
            .collect();
        let (ring, replicas, ring_addrs) = if infos.is_empty() {
            (None, None, Vec::new())
        } else {
            let ring = Arc::new(TokenRing::new(&infos)?);
            let by_id: HashMap<String, SocketAddr> =
                nodes.values().map(|n| (n.routing_id(), n.addr)).collect();
            let ring_addrs = ring
                .nodes()
                .iter()
                .map(|n| by_id.get(n.id()).copied())
                .collect();
            let strategies: Vec<(String, ReplicationStrategy)> = keyspaces
                .values()
                .filter_map(|k| {
                    match ReplicationStrategy::from_pairs(
                        k.replication.iter().map(|(a, b)| (a.as_str(), b.as_str())),
                    ) {
                        Ok(s) => Some((k.name.clone(), s)),
                        Err(e) => {
                            tracing::warn!(keyspace = %k.name, error = %e, "replication not understood: no token-aware routing");
                            None
                        }
                    }
                })
                .collect();
            let replicas = ReplicaSets::build(
                Arc::clone(&ring),
                strategies.iter().map(|(name, s)| (name.as_str(), s)),
            );
            (Some(ring), Some(Arc::new(replicas)), ring_addrs)
        };
        Ok(ClusterView {
            cluster_name,
            partitioner,
            nodes,
            keyspaces,
            ring,
            replicas,
            ring_addrs,
        })
    }

    /// Every node, by address.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    /// The node at `addr`.
    pub fn node(&self, addr: &SocketAddr) -> Option<&Node> {
        self.nodes.get(addr)
    }

    /// Every keyspace.
    pub fn keyspaces(&self) -> impl Iterator<Item = &Arc<KeyspaceMeta>> {
        self.keyspaces.values()
    }

    /// The keyspace `name`.
    pub fn keyspace(&self, name: &str) -> Option<&Arc<KeyspaceMeta>> {
        self.keyspaces.get(name)
    }

    /// The token ring, when any node has tokens.
    pub fn ring(&self) -> Option<&Arc<TokenRing>> {
        self.ring.as_ref()
    }

    /// The placement of `keyspace`'s replicas, for [`ClusterView::replicas`].
    pub fn placement(&self, keyspace: &str) -> Option<PlacementId> {
        self.replicas.as_ref()?.keyspace(keyspace)
    }

    /// The replicas of `token` under `placement`, in Cassandra's order, as addresses. One
    /// binary search; no allocation.
    pub fn replicas(
        &self,
        placement: PlacementId,
        token: i64,
    ) -> impl Iterator<Item = SocketAddr> + '_ {
        let indexes: &[NodeIndex] = match &self.replicas {
            Some(sets) => sets.replicas(placement, &token),
            None => &[],
        };
        indexes
            .iter()
            .filter_map(|i| self.ring_addrs.get(i.get()).copied().flatten())
    }

    /// The schema version every up node reports, or `None` while they disagree (or a node
    /// has not reported one).
    pub fn agreed_schema_version(&self) -> Option<[u8; 16]> {
        let mut versions = self
            .nodes
            .values()
            .filter(|n| n.state == NodeState::Up)
            .map(|n| n.schema_version);
        let first = versions.next()??;
        versions.all(|v| v == Some(first)).then_some(first)
    }

    /// This view, with each node that `current` also has in the state `current` gives it.
    pub(crate) fn keeping_states_of(mut self, current: &ClusterView) -> ClusterView {
        for (addr, node) in &mut self.nodes {
            if let Some(known) = current.nodes.get(addr) {
                node.state = known.state;
            }
        }
        self
    }

    /// A copy of this view with node `addr` in `state`; `None` when nothing changes.
    pub fn with_node_state(&self, addr: SocketAddr, state: NodeState) -> Option<ClusterView> {
        let node = self.nodes.get(&addr)?;
        if node.state == state {
            return None;
        }
        let mut nodes = self.nodes.clone();
        if let Some(n) = nodes.get_mut(&addr) {
            n.state = state;
        }
        // The ring does not depend on liveness: share it.
        Some(ClusterView {
            cluster_name: self.cluster_name.clone(),
            partitioner: self.partitioner.clone(),
            nodes,
            keyspaces: self.keyspaces.clone(),
            ring: self.ring.clone(),
            replicas: self.replicas.clone(),
            ring_addrs: self.ring_addrs.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(last: u8, dc: &str, rack: &str, token: i64, schema: u8) -> Node {
        Node {
            host_id: [last; 16],
            addr: SocketAddr::from(([127, 0, 0, last], 9042)),
            dc: dc.into(),
            rack: rack.into(),
            tokens: vec![token],
            release_version: "5.0.8".into(),
            schema_version: Some([schema; 16]),
            state: NodeState::Up,
        }
    }

    fn keyspace(name: &str, replication: &[(&str, &str)]) -> KeyspaceMeta {
        KeyspaceMeta {
            name: name.into(),
            replication: replication
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            durable_writes: true,
            tables: Default::default(),
            user_types: Default::default(),
        }
    }

    fn two_dc(schema3: u8) -> ClusterView {
        ClusterView::new(
            "test".into(),
            "org.apache.cassandra.dht.Murmur3Partitioner".into(),
            [
                node(1, "dc1", "rack1", i64::MIN, 7),
                node(2, "dc1", "rack2", 0, 7),
                node(3, "dc2", "rack1", i64::MIN + 100, schema3),
            ],
            [
                keyspace(
                    "ks",
                    &[
                        (
                            "class",
                            "org.apache.cassandra.locator.NetworkTopologyStrategy",
                        ),
                        ("dc1", "2"),
                        ("dc2", "1"),
                    ],
                ),
                keyspace("odd", &[("class", "com.example.Unknown")]),
            ],
        )
        .unwrap()
    }

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, last], 9042))
    }

    #[test]
    fn replicas_are_addresses_in_ring_order() {
        let view = two_dc(7);
        let ks = view.placement("ks").unwrap();
        // Token 5 is owned by the next token up, i64::MIN wrapping: node 1; then the walk
        // meets node 3 (dc2) and node 2 (dc1, the other rack).
        let replicas: Vec<SocketAddr> = view.replicas(ks, 5).collect();
        assert_eq!(replicas, vec![addr(1), addr(3), addr(2)]);
        let replicas: Vec<SocketAddr> = view.replicas(ks, -5).collect();
        assert_eq!(replicas, vec![addr(2), addr(1), addr(3)]);
        assert!(
            view.placement("odd").is_none(),
            "unknown strategies are not routed by token"
        );
    }

    #[test]
    fn schema_agreement_counts_only_up_nodes() {
        assert_eq!(two_dc(7).agreed_schema_version(), Some([7; 16]));
        let split = two_dc(8);
        assert_eq!(split.agreed_schema_version(), None);
        let down = split.with_node_state(addr(3), NodeState::Down).unwrap();
        assert_eq!(down.agreed_schema_version(), Some([7; 16]));
        assert!(
            down.with_node_state(addr(3), NodeState::Down).is_none(),
            "no change"
        );
        assert_eq!(down.node(&addr(3)).unwrap().state, NodeState::Down);
    }
}

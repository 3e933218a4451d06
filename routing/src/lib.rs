//! `ringgate-routing`: tokens, partitioners, the token ring and replica placement, exactly as
//! Apache Cassandra computes them.
//!
//! Pure data: no I/O, no async. The coordinator asks this crate which replicas own a partition
//! key, and the answer must equal Cassandra's own.
//!
//! # Tokens
//!
//! A partition key is serialized ([`serialize_partition_key`]: one column as is, several as a
//! composite) and hashed by the cluster's partitioner ([`murmur3_token`] for the default
//! `Murmur3Partitioner`; [`RandomPartitioner`] and [`ByteOrderedPartitioner`] too):
//!
//! ```
//! use ringgate_routing::{murmur3_token, serialize_partition_key};
//!
//! // A text key is its UTF-8 bytes.
//! assert_eq!(murmur3_token(b"hello"), -3758069500696749310);
//! // An int key is 4 big-endian bytes.
//! let key = serialize_partition_key(&[&42i32.to_be_bytes()]);
//! assert_eq!(key, 42i32.to_be_bytes());
//! // A composite (int, text) key frames each component: [u16 length][bytes][0x00].
//! let key = serialize_partition_key(&[&1i32.to_be_bytes(), b"a"]);
//! assert_eq!(key, [0, 4, 0, 0, 0, 1, 0, 0, 1, b'a', 0]);
//! let _token = murmur3_token(&key);
//! ```
//!
//! # Replicas
//!
//! [`replicas_for`] answers one question from scratch, given the nodes and a keyspace's
//! replication map as `system_schema.keyspaces` stores it:
//!
//! ```
//! use std::collections::HashMap;
//! use ringgate_routing::{replicas_for, NodeInfo};
//!
//! let node = |id: &str, dc: &str, rack: &str, token: i64| NodeInfo {
//!     id: id.into(), dc: dc.into(), rack: rack.into(), tokens: vec![token],
//! };
//! let nodes = [node("n1", "dc1", "r1", 0), node("n2", "dc1", "r1", 100), node("n3", "dc1", "r1", 200)];
//! let simple = HashMap::from([
//!     ("class".to_string(), "org.apache.cassandra.locator.SimpleStrategy".to_string()),
//!     ("replication_factor".to_string(), "2".to_string()),
//! ]);
//! assert_eq!(replicas_for(&nodes, &simple, 0)?, ["n1", "n2"]);
//! assert_eq!(replicas_for(&nodes, &simple, 200)?, ["n3", "n1"]);
//! assert_eq!(replicas_for(&nodes, &simple, 150)?, ["n3", "n1"]); // owned by 200
//!
//! // NetworkTopologyStrategy: rack-aware per datacenter, in the order the ring walk meets them.
//! let nodes = [
//!     node("a", "dc1", "r1", 0), node("b", "dc1", "r1", 10),
//!     node("c", "dc1", "r2", 20), node("x", "dc2", "r1", 30),
//! ];
//! let nts = HashMap::from([
//!     ("class".to_string(), "NetworkTopologyStrategy".to_string()),
//!     ("dc1".to_string(), "2".to_string()),
//!     ("dc2".to_string(), "1".to_string()),
//! ]);
//! // From a: a (rack r1), b skipped (r1 already used, no repeats left), c (r2), x (dc2).
//! assert_eq!(replicas_for(&nodes, &nts, 0)?, ["a", "c", "x"]);
//! # Ok::<(), ringgate_routing::RoutingError>(())
//! ```
//!
//! On the request path, build a [`TokenRing`] and [`ReplicaSets`] once per topology (off the
//! request path) and look replicas up without allocating:
//!
//! ```
//! use std::sync::Arc;
//! use ringgate_routing::{NodeInfo, ReplicaSets, ReplicationStrategy, TokenRing, murmur3_token};
//!
//! let nodes: Vec<NodeInfo> = (0..3)
//!     .map(|i| NodeInfo {
//!         id: format!("127.0.0.{}", i + 1),
//!         dc: "dc1".into(),
//!         rack: format!("rack{i}"),
//!         tokens: vec![i64::MIN / 2 + i * (i64::MAX / 3)],
//!     })
//!     .collect();
//! let ring = Arc::new(TokenRing::new(&nodes)?);
//! let strategy = ReplicationStrategy::from_pairs([
//!     ("class", "NetworkTopologyStrategy"),
//!     ("dc1", "2"),
//! ])?;
//! let sets = ReplicaSets::build(ring.clone(), [("shop", &strategy)]);
//! let table = sets.keyspace("shop").expect("built above");
//! let replicas = sets.replicas(table, &murmur3_token(b"some key"));
//! assert_eq!(replicas.len(), 2);
//! let first = ring.node(replicas[0]).id();
//! assert!(first.starts_with("127.0.0."));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

//! # Layout
//!
//! A [`TokenRing`] holds the sorted tokens, each position's owner as a dense 16-bit
//! [`NodeIndex`], and a bucket index over the top bits of the tokens, so a lookup reads one
//! bucket and binary-searches the few tokens in it. [`ReplicaSets`] holds, per distinct
//! [`Placement`] (a strategy resolved against the ring; keyspaces with equivalent replication
//! share one), a flat array of `stride` node indexes per ring position. For 3 datacenters × 8
//! nodes × 256 vnodes with RF 3 in each, the ring and one table take about 210 KB.

mod murmur3;
mod partition_key;
mod partitioner;
mod placement;
mod replica_sets;
mod replication;
mod ring;

use std::collections::HashMap;

pub use murmur3::murmur3_token;
pub use partition_key::{
    KeyComponent, PartitionKeyError, serialize_partition_key, write_partition_key,
};
pub use partitioner::{
    ByteOrderedPartitioner, ByteOrderedToken, Murmur3Partitioner, Partitioner, PartitionerName,
    RandomPartitioner, RandomToken, TokenParseError,
};
pub use placement::Placement;
pub use replica_sets::{PlacementId, ReplicaSets};
pub use replication::{ReplicationError, ReplicationFactor, ReplicationStrategy};
pub use ring::{
    Datacenter, MAX_NODES, NodeIndex, NodeInfo, RingBuilder, RingError, RingNode, RingToken,
    TokenRing,
};

/// Why [`replicas_for`] could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// The nodes do not form a valid ring.
    #[error(transparent)]
    Ring(#[from] RingError),
    /// The replication map is not understood.
    #[error(transparent)]
    Replication(#[from] ReplicationError),
}

/// The replicas of `token` among `nodes` under a keyspace's `replication` map (as stored in
/// `system_schema.keyspaces.replication`), as node ids in Cassandra's order: the order the
/// ring walk from the token's owner accepts them.
///
/// A convenience that builds the ring and walks it once; the request path uses
/// [`ReplicaSets`]. `LocalStrategy` yields an empty list (no replica to route to; any node
/// serves its own copy), as does a ring without tokens.
pub fn replicas_for(
    nodes: &[NodeInfo],
    replication: &HashMap<String, String>,
    token: i64,
) -> Result<Vec<String>, RoutingError> {
    let ring = TokenRing::new(nodes)?;
    let strategy = ReplicationStrategy::from_options(replication)?;
    let placement = Placement::new(&strategy, &ring);
    let mut replicas = Vec::with_capacity(placement.replica_count());
    if let Some(start) = ring.position(&token) {
        placement::Walker::default().walk(&ring, &placement, start, &mut replicas);
    }
    Ok(replicas
        .into_iter()
        .map(|index| ring.node(index).id().to_owned())
        .collect())
}

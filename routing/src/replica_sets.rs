//! Precomputed replica sets: for one ring and each distinct placement, the replicas of every
//! ring range, so that a request finds its replicas with one (bucketed) binary search and an
//! index.
//!
//! A [`ReplicaSets`] is immutable. When the topology or the schema changes, the owner builds a
//! new one off the request path (it is plain CPU work) and swaps it in; readers keep using the
//! old one until they drop it.

use std::collections::HashMap;
use std::sync::Arc;

use crate::placement::{Placement, Walker};
use crate::replication::ReplicationStrategy;
use crate::ring::{NodeIndex, RingToken, TokenRing};

/// Names one placement's table inside one [`ReplicaSets`] (meaningless in another).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlacementId(u32);

/// The replicas of every ring range for one placement, in one flat array: range `i`'s replicas
/// are `slab[i * stride .. (i + 1) * stride]`.
#[derive(Debug)]
struct ReplicaTable {
    placement: Placement,
    stride: usize,
    slab: Box<[NodeIndex]>,
}

/// The precomputed replica sets of a ring, one table per distinct placement, shared by every
/// keyspace whose replication resolves to it.
#[derive(Debug)]
pub struct ReplicaSets<T = i64> {
    ring: Arc<TokenRing<T>>,
    tables: Vec<ReplicaTable>,
    by_placement: HashMap<Placement, PlacementId>,
    by_keyspace: HashMap<String, PlacementId>,
}

impl<T: RingToken> ReplicaSets<T> {
    /// Precomputes the replica sets of `ring` for each keyspace's strategy; keyspaces whose
    /// strategies resolve to the same placement share one table.
    pub fn build<'a, K>(ring: Arc<TokenRing<T>>, keyspaces: K) -> Self
    where
        K: IntoIterator<Item = (&'a str, &'a ReplicationStrategy)>,
    {
        let mut sets = Self {
            ring,
            tables: Vec::new(),
            by_placement: HashMap::new(),
            by_keyspace: HashMap::new(),
        };
        for (keyspace, strategy) in keyspaces {
            let id = sets.insert(strategy);
            sets.by_keyspace.insert(keyspace.to_owned(), id);
        }
        sets
    }

    /// Precomputes the replica sets of `ring` for strategies not tied to keyspace names; find
    /// each one's table with [`ReplicaSets::placement`].
    pub fn for_strategies<'a>(
        ring: Arc<TokenRing<T>>,
        strategies: impl IntoIterator<Item = &'a ReplicationStrategy>,
    ) -> Self {
        let mut sets = Self::build(ring, std::iter::empty());
        for strategy in strategies {
            sets.insert(strategy);
        }
        sets
    }

    fn insert(&mut self, strategy: &ReplicationStrategy) -> PlacementId {
        let placement = Placement::new(strategy, &self.ring);
        if let Some(&id) = self.by_placement.get(&placement) {
            return id;
        }
        let stride = placement.replica_count();
        let mut slab = Vec::with_capacity(stride * self.ring.len());
        // One walker per placement: it carries state from one start to the next.
        let mut walker = Walker::default();
        for start in 0..self.ring.len() {
            let before = slab.len();
            walker.walk(&self.ring, &placement, start, &mut slab);
            debug_assert_eq!(
                slab.len() - before,
                stride,
                "every range has `stride` replicas"
            );
        }
        let id = PlacementId(self.tables.len() as u32);
        self.tables.push(ReplicaTable {
            placement: placement.clone(),
            stride,
            slab: slab.into_boxed_slice(),
        });
        self.by_placement.insert(placement, id);
        id
    }

    /// The ring these sets were computed for.
    pub fn ring(&self) -> &Arc<TokenRing<T>> {
        &self.ring
    }

    /// The table of a keyspace given to [`ReplicaSets::build`].
    pub fn keyspace(&self, name: &str) -> Option<PlacementId> {
        self.by_keyspace.get(name).copied()
    }

    /// The table of a strategy, if one was computed for it (or for an equivalent one).
    pub fn placement(&self, strategy: &ReplicationStrategy) -> Option<PlacementId> {
        self.by_placement
            .get(&Placement::new(strategy, &self.ring))
            .copied()
    }

    /// How many distinct tables were computed.
    pub fn table_count(&self) -> usize {
        self.tables.len()
    }

    /// The replicas of `token` under placement `id`, in Cassandra's order; empty on an empty
    /// ring or for `LocalStrategy`. One bucketed binary search and a slice, no allocation.
    ///
    /// # Panics
    /// If `id` comes from another [`ReplicaSets`] with more tables.
    pub fn replicas(&self, id: PlacementId, token: &T) -> &[NodeIndex] {
        let table = &self.tables[id.0 as usize];
        match self.ring.position(token) {
            Some(at) => &table.slab[at * table.stride..(at + 1) * table.stride],
            None => &[],
        }
    }

    /// The placement a table was computed for.
    pub fn placement_of(&self, id: PlacementId) -> &Placement {
        &self.tables[id.0 as usize].placement
    }

    /// Heap bytes of the precomputed data: the ring's token and owner arrays plus every table
    /// (node names and the lookup maps excluded).
    pub fn heap_bytes(&self) -> usize {
        self.ring.token_bytes()
            + self
                .tables
                .iter()
                .map(|t| t.slab.len() * std::mem::size_of::<NodeIndex>())
                .sum::<usize>()
    }
}

//! Replica placement: a replication strategy resolved against one ring ([`Placement`]), and the
//! ring walk that lists a range's replicas in Cassandra's order.
//!
//! Every strategy walks the ring from the position that owns the token (the first ring token
//! ≥ it) and accepts nodes in the order met; that acceptance order is the replica order.
//!
//! - SimpleStrategy accepts each distinct node until it has `min(rf, nodes)`.
//! - NetworkTopologyStrategy (Cassandra 5.0) fills each datacenter with `rf > 0` that has nodes,
//!   up to `min(rf, nodes in dc)` replicas. A node in a rack of its datacenter not yet used is
//!   always accepted; a node in an already-used rack is accepted only while the datacenter has
//!   rack repeats left, starting from `rf - racks in dc` (none when that is ≤ 0). Once every
//!   datacenter is full the walk stops.
//! - EverywhereStrategy accepts every distinct node.
//! - LocalStrategy has no replicas to route to (see [`crate::ReplicationStrategy::Local`]).
//!
//! NetworkTopologyStrategy walks each datacenter's own ring positions separately (nothing in
//! one datacenter's walk depends on another's) and merges the accepted nodes by their distance
//! from the start, which is the order the whole-ring walk would accept them in.
//!
//! Because a datacenter's new racks are always accepted and its repeats are bounded by
//! `rf - racks`, a full walk always yields exactly `min(rf, nodes in dc)` replicas per
//! datacenter: every range of a placement has the same number of replicas, its stride.

use crate::replication::ReplicationStrategy;
use crate::ring::{NodeIndex, RingToken, TokenRing};

/// A replication strategy resolved against one ring: everything the walk needs, and nothing
/// that cannot change its result, so equal placements have equal replica sets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Placement {
    rule: Rule,
    stride: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Rule {
    Local,
    /// Distinct nodes until `stride` are found (Simple and Everywhere).
    Distinct,
    /// Per datacenter index: `None` when it takes no replicas, else its quota.
    PerDatacenter(Vec<Option<DatacenterQuota>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DatacenterQuota {
    /// `min(rf, nodes in dc)`.
    replicas: u32,
    /// `rf - racks in dc`: how many nodes of already-used racks may still be taken.
    rack_repeats: i64,
}

impl Placement {
    /// Resolves `strategy` against `ring`.
    pub fn new<T: RingToken>(strategy: &ReplicationStrategy, ring: &TokenRing<T>) -> Self {
        let owners = ring.owner_count();
        match strategy {
            ReplicationStrategy::Local => Self {
                rule: Rule::Local,
                stride: 0,
            },
            ReplicationStrategy::Everywhere => Self {
                rule: Rule::Distinct,
                stride: owners,
            },
            ReplicationStrategy::Simple { replication_factor } => Self {
                rule: Rule::Distinct,
                stride: owners.min(replication_factor.all as usize),
            },
            ReplicationStrategy::NetworkTopology { datacenters } => {
                let quotas: Vec<Option<DatacenterQuota>> = ring
                    .datacenters()
                    .iter()
                    .map(|dc| {
                        let rf = datacenters.get(dc.name())?.all;
                        let nodes = u32::try_from(dc.node_count()).unwrap_or(u32::MAX);
                        (rf > 0 && nodes > 0).then(|| DatacenterQuota {
                            replicas: rf.min(nodes),
                            rack_repeats: i64::from(rf) - dc.rack_count() as i64,
                        })
                    })
                    .collect();
                let stride = quotas.iter().flatten().map(|q| q.replicas as usize).sum();
                Self {
                    rule: Rule::PerDatacenter(quotas),
                    stride,
                }
            }
        }
    }

    /// How many replicas every range has under this placement.
    pub fn replica_count(&self) -> usize {
        self.stride
    }
}

/// Reusable scratch space for ring walks, so that walking allocates nothing once warm. One
/// walker serves one ring and one placement: its cursors carry over from a walk at position
/// `p` to one at `p + 1`.
#[derive(Debug, Default)]
pub(crate) struct Walker {
    /// `node_mark[n] == mark` when node `n` is already a replica in the current walk.
    node_mark: Vec<u32>,
    /// `rack_mark[r] == mark` when (datacenter, rack) `r` is already used in the current walk.
    rack_mark: Vec<u32>,
    mark: u32,
    /// Accepted nodes before merging, each as `distance from start << 16 | node index`, so
    /// that sorting the integers sorts by distance.
    picked: Vec<u64>,
    /// Per datacenter: the index in its position list of the first position ≥ `last_start`.
    cursors: Vec<usize>,
    /// The previous walk's start, when `cursors` belong to it and to the same ring.
    last_start: Option<usize>,
}

impl Walker {
    /// Appends to `out` the replicas of the range ending at ring position `start`, in order.
    pub(crate) fn walk<T: RingToken>(
        &mut self,
        ring: &TokenRing<T>,
        placement: &Placement,
        start: usize,
        out: &mut Vec<NodeIndex>,
    ) {
        if placement.stride == 0 || ring.is_empty() {
            return;
        }
        self.next_mark(ring);
        let owners = ring.owners();
        let order = owners[start..].iter().chain(&owners[..start]);
        match &placement.rule {
            Rule::Local => {}
            Rule::Distinct => {
                let mut left = placement.stride;
                for &node in order {
                    if self.take_node(node) {
                        out.push(node);
                        left -= 1;
                        if left == 0 {
                            break;
                        }
                    }
                }
            }
            Rule::PerDatacenter(quotas) => {
                // Datacenters fill independently (racks, nodes and quotas are all per
                // datacenter), so each walks only its own positions; merging the accepted
                // nodes by their distance from `start` gives the order of the whole-ring walk.
                self.picked.clear();
                let locations = ring.locations();
                let len = ring.len();
                let sequential = self.last_start.is_some_and(|last| last + 1 == start)
                    && self.cursors.len() == quotas.len();
                if !sequential {
                    self.cursors.clear();
                    self.cursors.resize(quotas.len(), 0);
                }
                self.last_start = Some(start);
                for (dc, quota) in quotas.iter().enumerate() {
                    let Some(quota) = quota else { continue };
                    let positions = ring.dc_positions(dc);
                    // The first of the datacenter's positions ≥ start: one step on from the
                    // previous start's when walks go round the ring in order (precompute),
                    // else a binary search.
                    let cursor = &mut self.cursors[dc];
                    if sequential {
                        if positions
                            .get(*cursor)
                            .is_some_and(|&p| (p as usize) < start)
                        {
                            *cursor += 1;
                        }
                    } else {
                        *cursor = positions.partition_point(|&p| (p as usize) < start);
                    }
                    let first = *cursor;
                    let (before, after) = positions.split_at(first);
                    let mut wanted = quota.replicas;
                    let mut repeats = quota.rack_repeats;
                    for &position in after.iter().chain(before) {
                        let node_index = owners[position as usize];
                        let node = node_index.get();
                        if self.node_mark[node] == self.mark {
                            continue;
                        }
                        let rack = usize::from(locations[node].rack);
                        if self.rack_mark[rack] != self.mark {
                            self.rack_mark[rack] = self.mark;
                        } else if repeats > 0 {
                            repeats -= 1;
                        } else {
                            continue;
                        }
                        self.node_mark[node] = self.mark;
                        let position = position as usize;
                        let distance = if position >= start {
                            position - start
                        } else {
                            position + len - start
                        };
                        self.picked.push(((distance as u64) << 16) | node as u64);
                        wanted -= 1;
                        if wanted == 0 {
                            break;
                        }
                    }
                }
                self.picked.sort_unstable();
                out.extend(
                    self.picked
                        .iter()
                        .map(|&packed| NodeIndex::from_raw(packed as u16)),
                );
            }
        }
    }

    /// Starts a new walk: a fresh mark, with the mark arrays sized for `ring`.
    fn next_mark<T: RingToken>(&mut self, ring: &TokenRing<T>) {
        if self.mark == u32::MAX
            || self.node_mark.len() != ring.nodes().len()
            || self.rack_mark.len() != ring.rack_count()
        {
            self.node_mark.clear();
            self.node_mark.resize(ring.nodes().len(), 0);
            self.rack_mark.clear();
            self.rack_mark.resize(ring.rack_count(), 0);
            self.mark = 0;
        }
        self.mark += 1;
    }

    /// Marks `node` as taken; false if it already was in this walk.
    fn take_node(&mut self, node: NodeIndex) -> bool {
        let slot = &mut self.node_mark[node.get()];
        let fresh = *slot != self.mark;
        *slot = self.mark;
        fresh
    }
}

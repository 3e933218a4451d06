//! Load balancing: which nodes a request tries, in which order.
//!
//! The order, from first to last:
//!
//! 1. With a token: the token's replicas in the local datacenter, those in the local rack
//!    first when one is configured, each group in Cassandra's replica order rotated
//!    round-robin — except for lightweight transactions, whose replicas keep Cassandra's order
//!    so that every coordinator proposes through the same replica and Paxos rounds collide
//!    less.
//! 2. The other nodes of the local datacenter, round-robin.
//! 3. Only when the consistency level is not a `LOCAL_*` one (a `LOCAL_*` level is counted
//!    in the coordinator's datacenter, so a remote coordinator would change its meaning): the
//!    token's replicas in other datacenters (same rotation rule), then the other remote nodes,
//!    round-robin.
//!
//! Only nodes the view holds as up take part; when the view holds none up (every node marked
//! down, e.g. after a network blip), every known node does, so a request can still try.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use ringgate_protocol::message::Consistency;
use ringgate_routing::PlacementId;
use smallvec::SmallVec;

use super::query_plan::{INLINE_NODES, QueryPlan};
use crate::cluster::{ClusterView, Node, NodeState};

/// Whether `consistency` is counted in the coordinator's own datacenter (`LOCAL_ONE`,
/// `LOCAL_QUORUM`, `LOCAL_SERIAL`), so a request at that level must not be coordinated by a
/// node of another datacenter.
pub fn is_local_consistency(consistency: Consistency) -> bool {
    matches!(
        consistency,
        Consistency::LocalOne | Consistency::LocalQuorum | Consistency::LocalSerial
    )
}

/// A replica with where it stands, computed once per plan.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    addr: SocketAddr,
    local: bool,
    local_rack: bool,
}

/// The load-balancing policy: where the coordinator is, and a round-robin counter shared by
/// every request planned with it.
#[derive(Debug, Default)]
pub struct LoadBalancing {
    /// The local datacenter. `None` treats every datacenter as local (and so never holds a
    /// request back from any node).
    pub local_dc: Option<String>,
    /// The local rack within `local_dc`; its replicas come first. Ignored without `local_dc`,
    /// since rack names repeat across datacenters.
    pub local_rack: Option<String>,
    next: AtomicUsize,
}

impl LoadBalancing {
    /// A policy for a coordinator in `local_dc` (and `local_rack` within it).
    pub fn new(local_dc: Option<String>, local_rack: Option<String>) -> Self {
        LoadBalancing {
            local_dc,
            local_rack,
            next: AtomicUsize::new(0),
        }
    }

    /// The plan for one request.
    ///
    /// `routing` is the request's placement and token when known (a bound partition key of a
    /// keyspace with replica sets); without it the plan is the local nodes round-robin, then
    /// the remote ones when `consistency` allows. For a conditional update (`lwt`), pass the
    /// more local of its consistency and serial consistency: either being `LOCAL_*` keeps the
    /// request in the local datacenter.
    pub fn plan(
        &self,
        view: &ClusterView,
        routing: Option<(PlacementId, i64)>,
        consistency: Consistency,
        lwt: bool,
    ) -> QueryPlan {
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let replica_turn = if lwt { 0 } else { turn };
        let any_up = view.nodes().any(|n| n.state == NodeState::Up);
        let usable = |n: &Node| !any_up || n.state == NodeState::Up;
        let remote_allowed = !is_local_consistency(consistency);

        // The token's usable replicas, in Cassandra's order, each placed once.
        let mut replicas: SmallVec<[Candidate; INLINE_NODES]> = SmallVec::new();
        if let Some((placement, token)) = routing {
            for addr in view.replicas(placement, token) {
                if let Some(node) = view.node(&addr) {
                    if usable(node) && !replicas.iter().any(|r| r.addr == addr) {
                        replicas.push(Candidate {
                            addr,
                            local: self.is_local(node),
                            local_rack: self.is_local_rack(node),
                        });
                    }
                }
            }
        }

        let mut plan = QueryPlan::with_capacity(view.nodes().size_hint().0);
        // 1. Local replicas: the local rack's first (the flag is never set without a rack).
        for rack_first in [true, false] {
            let start = plan.len();
            for r in replicas
                .iter()
                .filter(|r| r.local && r.local_rack == rack_first)
            {
                plan.push(r.addr);
            }
            plan.rotate_tail(start, replica_turn);
        }
        // 2. The other local nodes; the other remote ones wait for step 3.
        let mut remote_others: SmallVec<[SocketAddr; INLINE_NODES]> = SmallVec::new();
        let start = plan.len();
        for n in view.nodes().filter(|n| usable(n)) {
            if replicas.iter().any(|r| r.addr == n.addr) {
                continue;
            }
            if self.is_local(n) {
                plan.push(n.addr);
            } else if remote_allowed {
                remote_others.push(n.addr);
            }
        }
        plan.rotate_tail(start, turn);
        if !remote_allowed {
            return plan;
        }
        // 3. Remote replicas, then the other remote nodes.
        let start = plan.len();
        for r in replicas.iter().filter(|r| !r.local) {
            plan.push(r.addr);
        }
        plan.rotate_tail(start, replica_turn);
        let start = plan.len();
        for addr in remote_others {
            plan.push(addr);
        }
        plan.rotate_tail(start, turn);
        plan
    }

    fn local_rack_name(&self) -> Option<&str> {
        self.local_dc.as_ref()?;
        self.local_rack.as_deref()
    }

    fn is_local(&self, node: &Node) -> bool {
        self.local_dc.as_deref().is_none_or(|dc| node.dc == dc)
    }

    fn is_local_rack(&self, node: &Node) -> bool {
        self.local_rack_name().is_some_and(|rack| node.rack == rack)
    }
}

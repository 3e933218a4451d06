//! Keeps the cluster view and the pools in step: every node of the view gets a pool, a node
//! reported up makes its pools reconnect at once, a node that left has its pools closed, and a
//! node whose pool loses (or regains) every connection is marked down (or up) in the view.
//! When the control connection finds a node again after losing its own, the pools of every
//! node still down retry at once too: nodes that come back together send no UP event about
//! each other over a control connection opened after they met.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::cluster::{Cluster, ClusterView, NodeState};
use crate::pool::{Health, LoginAs, Pools};

/// Starts the task that links `cluster` and `pools`; it ends when the cluster view does.
pub fn link(cluster: &Cluster, pools: Arc<Pools>) -> JoinHandle<()> {
    let cluster = cluster.clone();
    tokio::spawn(async move {
        let mut views = cluster.subscribe();
        let mut watchers: HashMap<SocketAddr, JoinHandle<()>> = HashMap::new();
        let mut up: BTreeSet<SocketAddr> = BTreeSet::new();
        let mut joins = cluster.control_joins();
        loop {
            let view = views.borrow_and_update().clone();
            let joined_now = cluster.control_joins();
            let rejoined = joined_now != joins;
            joins = joined_now;
            let present: BTreeSet<SocketAddr> = view.nodes().map(|n| n.addr).collect();
            for node in view.nodes() {
                if !watchers.contains_key(&node.addr)
                    && let Some(pool) = pools.pool(node.addr, &LoginAs::Service)
                {
                    watchers.insert(node.addr, watch_pool(cluster.clone(), node.addr, pool));
                }
            }
            for addr in to_wake(&view, &mut up, rejoined) {
                pools.node_up(addr);
            }
            watchers.retain(|addr, task| {
                let keep = present.contains(addr);
                if !keep {
                    task.abort();
                    pools.remove_node(*addr);
                    up.remove(addr);
                }
                keep
            });
            if views.changed().await.is_err() {
                break;
            }
        }
        for task in watchers.into_values() {
            task.abort();
        }
    })
}

/// The nodes whose pools are to retry at once for `view`: those up in it that were not up in
/// the view before (`up` holds those, and is brought up to date), and, when the control
/// connection has `rejoined` since that view, every node down in it too.
fn to_wake(view: &ClusterView, up: &mut BTreeSet<SocketAddr>, rejoined: bool) -> Vec<SocketAddr> {
    let mut wake = Vec::new();
    for node in view.nodes() {
        if node.state == NodeState::Up {
            if up.insert(node.addr) {
                wake.push(node.addr);
            }
        } else {
            up.remove(&node.addr);
            if rejoined {
                wake.push(node.addr);
            }
        }
    }
    wake
}

/// Marks `addr` down in the view when its service pool loses every connection, and up when
/// the pool connects again.
fn watch_pool(
    cluster: Cluster,
    addr: SocketAddr,
    pool: Arc<crate::pool::NodePool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut health = pool.watch_health();
        loop {
            let state = match &*health.borrow_and_update() {
                Health::Up => Some(NodeState::Up),
                Health::Down(_) => Some(NodeState::Down),
                Health::Connecting => None,
            };
            if let Some(state) = state {
                cluster.set_node_state(addr, state);
            }
            if health.changed().await.is_err() {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Node;

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], 9042))
    }

    /// Nodes 1-3, with the states given.
    fn view(states: [NodeState; 3]) -> ClusterView {
        let nodes = (1u8..=3).zip(states).map(|(last, state)| Node {
            host_id: [last; 16],
            addr: addr(last),
            dc: "dc1".into(),
            rack: "rack1".into(),
            tokens: vec![i64::from(last) * 1000],
            release_version: "5.0.8".into(),
            schema_version: None,
            state,
        });
        ClusterView::new("c".into(), "Murmur3Partitioner".into(), nodes, Vec::new()).unwrap()
    }

    #[test]
    fn a_node_turning_up_is_woken_once() {
        use NodeState::{Down, Up};
        let mut up = BTreeSet::new();
        assert_eq!(to_wake(&view([Up, Up, Up]), &mut up, false).len(), 3);
        assert!(to_wake(&view([Up, Up, Up]), &mut up, false).is_empty());
        assert!(to_wake(&view([Up, Down, Up]), &mut up, false).is_empty());
        assert_eq!(to_wake(&view([Up, Up, Up]), &mut up, false), [addr(2)]);
    }

    #[test]
    fn the_control_connection_joining_again_wakes_every_node_still_down() {
        use NodeState::{Down, Up};
        let mut up = BTreeSet::new();
        to_wake(&view([Up, Up, Up]), &mut up, false);
        // Every node went down; the control connection found node 1 again, and nodes 2 and
        // 3, started beside it, sent no UP event about each other.
        assert!(to_wake(&view([Down, Down, Down]), &mut up, false).is_empty());
        assert_eq!(
            to_wake(&view([Up, Down, Down]), &mut up, true),
            [addr(1), addr(2), addr(3)]
        );
        assert!(to_wake(&view([Up, Down, Down]), &mut up, false).is_empty());
    }
}

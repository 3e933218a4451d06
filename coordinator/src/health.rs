//! Keeps the cluster view and the pools in step: every node of the view gets a pool, a node
//! reported up makes its pools reconnect at once, a node that left has its pools closed, and a
//! node whose pool loses (or regains) every connection is marked down (or up) in the view.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::cluster::{Cluster, NodeState};
use crate::pool::{Health, LoginAs, Pools};

/// Starts the task that links `cluster` and `pools`; it ends when the cluster view does.
pub fn link(cluster: &Cluster, pools: Arc<Pools>) -> JoinHandle<()> {
    let cluster = cluster.clone();
    tokio::spawn(async move {
        let mut views = cluster.subscribe();
        let mut watchers: HashMap<SocketAddr, JoinHandle<()>> = HashMap::new();
        let mut up: BTreeSet<SocketAddr> = BTreeSet::new();
        loop {
            let view = views.borrow_and_update().clone();
            let present: BTreeSet<SocketAddr> = view.nodes().map(|n| n.addr).collect();
            for node in view.nodes() {
                if !watchers.contains_key(&node.addr)
                    && let Some(pool) = pools.pool(node.addr, &LoginAs::Service)
                {
                    watchers.insert(node.addr, watch_pool(cluster.clone(), node.addr, pool));
                }
                let is_up = node.state == NodeState::Up;
                if is_up && up.insert(node.addr) {
                    pools.node_up(node.addr);
                } else if !is_up {
                    up.remove(&node.addr);
                }
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

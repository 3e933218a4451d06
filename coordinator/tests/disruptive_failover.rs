//! Node failures on the real cluster: a stopped node is marked down and comes back up, the
//! control connection moves when its node dies and still follows schema changes, and the
//! pools recover after a restart.
//!
//! These tests stop and start nodes, so the test command runs `disruptive_*` files on their
//! own, one test at a time, after everything else.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ringgate::cluster::{Cluster, ClusterConfig, ClusterView, NodeState};
use ringgate::pool::{ConnectOptions, Health, LoginAs, PoolConfig, Pools};
use scylla::client::session_builder::SessionBuilder;
use support::{RestartOnDrop, cluster_script, node_addr};
use tokio::sync::watch;

async fn next_view_where(
    rx: &mut watch::Receiver<Arc<ClusterView>>,
    what: &str,
    want: impl Fn(&ClusterView) -> bool,
) -> Arc<ClusterView> {
    support::next_view_where(rx, what, Duration::from_secs(60), want).await
}

fn state_of(view: &ClusterView, addr: SocketAddr) -> Option<NodeState> {
    view.node(&addr).map(|n| n.state)
}

async fn stop(n: u8) {
    tokio::task::spawn_blocking(move || cluster_script(&["stop", &n.to_string()]))
        .await
        .unwrap();
}

async fn start(n: u8) {
    tokio::task::spawn_blocking(move || cluster_script(&["start", &n.to_string()]))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_is_marked_down_then_up_and_its_pool_recovers() {
    let mut restore = RestartOnDrop(Vec::new());
    let config = ClusterConfig::new(vec![node_addr(1), node_addr(2)]);
    let cluster = Cluster::connect(config).await.expect("join");
    let mut rx = cluster.subscribe();
    // A minute of backoff: only the link's reaction to the UP event can reconnect in time.
    let slow = PoolConfig {
        reconnect_base: Duration::from_secs(60),
        reconnect_max: Duration::from_secs(60),
        ..PoolConfig::default()
    };
    let pools = Arc::new(Pools::new(ConnectOptions::default(), slow));
    let link = ringgate::health::link(&cluster, Arc::clone(&pools));
    let pool = pools.pool(node_addr(3), &LoginAs::Service).unwrap();
    let mut health = pool.watch_health();
    tokio::time::timeout(
        Duration::from_secs(20),
        health.wait_for(|h| *h == Health::Up),
    )
    .await
    .unwrap()
    .unwrap();

    restore.0.push(3);
    stop(3).await;
    next_view_where(&mut rx, "node 3 is down", |v| {
        state_of(v, node_addr(3)) == Some(NodeState::Down)
    })
    .await;
    tokio::time::timeout(
        Duration::from_secs(30),
        health.wait_for(|h| matches!(h, Health::Down(_))),
    )
    .await
    .expect("the pool notices")
    .unwrap();

    start(3).await;
    restore.0.clear();
    let view = next_view_where(&mut rx, "node 3 is up", |v| {
        state_of(v, node_addr(3)) == Some(NodeState::Up)
    })
    .await;
    assert_eq!(view.nodes().count(), 3);
    // The link passes the UP event on to the pools: they reconnect at once, not after their
    // backoff.
    tokio::time::timeout(
        Duration::from_secs(30),
        health.wait_for(|h| *h == Health::Up),
    )
    .await
    .expect("the pool reconnects")
    .unwrap();
    assert!(pool.connection().is_some());
    link.abort();
    cluster.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_connection_moves_when_its_node_dies() {
    let mut restore = RestartOnDrop(Vec::new());
    let config = ClusterConfig::new(vec![node_addr(1)]);
    let cluster = Cluster::connect(config).await.expect("join");
    assert_eq!(cluster.control_node(), Some(node_addr(1)));
    let mut rx = cluster.subscribe();

    restore.0.push(1);
    stop(1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while cluster.control_node().is_none_or(|a| a == node_addr(1)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the control connection did not move"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let moved_to = cluster.control_node().unwrap();
    assert_ne!(moved_to, node_addr(1));

    // A schema change made now, through node 2, still reaches the view.
    let session = SessionBuilder::new()
        .known_node_addr(node_addr(2))
        .build()
        .await
        .expect("a session through node 2");
    let _ = session
        .query_unpaged("DROP KEYSPACE IF EXISTS rg_failover", ())
        .await;
    session
        .query_unpaged(
            "CREATE KEYSPACE rg_failover WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 1}",
            (),
        )
        .await
        .unwrap();
    next_view_where(&mut rx, "rg_failover exists", |v| {
        v.keyspace("rg_failover").is_some()
    })
    .await;

    start(1).await;
    restore.0.clear();
    next_view_where(&mut rx, "node 1 is up again", |v| {
        state_of(v, node_addr(1)) == Some(NodeState::Up)
    })
    .await;
    // Node 1 missed the CREATE while it was down: it catches up after it starts, and a DROP
    // it coordinated before that would not find the keyspace.
    cluster
        .wait_for_schema_agreement(Duration::from_secs(60))
        .await
        .expect("node 1 catches up with the schema");
    session
        .query_unpaged("DROP KEYSPACE rg_failover", ())
        .await
        .unwrap();
    next_view_where(&mut rx, "rg_failover is gone", |v| {
        v.keyspace("rg_failover").is_none()
    })
    .await;
    cluster.shutdown();
}

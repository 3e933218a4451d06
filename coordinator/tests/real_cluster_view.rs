//! The cluster view against the real `two-dc` cluster: its topology, replica sets equal to
//! Cassandra's, and schema changes made by another client reaching the view through events.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ringgate::cluster::{Cluster, ClusterConfig, ClusterView, NodeState};
use ringgate::protocol::types::ColumnType;
use ringgate_routing::murmur3_token;
use support::{node_addr, two_dc_nodes};
use tokio::sync::watch;

async fn join() -> Cluster {
    let config = ClusterConfig::new(vec![node_addr(1)]);
    match Cluster::connect(config).await {
        Ok(c) => c,
        Err(e) => panic!(
            "cannot join: {e}\nnode 1 log:\n{}",
            support::log_tail(1, 50)
        ),
    }
}

/// Waits for a view, pushed by an event, that satisfies `want`.
async fn next_view_where(
    rx: &mut watch::Receiver<Arc<ClusterView>>,
    what: &str,
    want: impl Fn(&ClusterView) -> bool,
) -> Arc<ClusterView> {
    support::next_view_where(rx, what, Duration::from_secs(15), want).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_shows_the_configured_topology() {
    let cluster = join().await;
    let view = cluster.view();
    assert_eq!(view.cluster_name, "ringgate-test");
    assert_eq!(
        view.partitioner,
        "org.apache.cassandra.dht.Murmur3Partitioner"
    );
    let got: Vec<_> = view
        .nodes()
        .map(|n| {
            (
                n.addr.ip(),
                n.dc.clone(),
                n.rack.clone(),
                n.tokens.iter().copied().collect::<BTreeSet<_>>(),
                n.state,
            )
        })
        .collect();
    let want: Vec<_> = two_dc_nodes()
        .into_iter()
        .map(|n| {
            (
                n.ip,
                n.dc.to_owned(),
                n.rack.to_owned(),
                n.tokens,
                NodeState::Up,
            )
        })
        .collect();
    assert_eq!(got, want);
    assert!(view.nodes().all(|n| n.release_version == "5.0.8"));
    // Other tests run DDL concurrently: agreement is something to wait for, not a given.
    cluster
        .wait_for_schema_agreement(Duration::from_secs(30))
        .await
        .expect("the nodes agree on a schema version");
    // System keyspaces are there, with their tables and key columns.
    let local = view.keyspace("system").expect("system keyspace");
    let pk: Vec<&str> = local.tables["local"]
        .partition_key
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(pk, ["key"]);
    cluster.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_sets_equal_cassandras() {
    let session = support::session().await;
    session
        .query_unpaged(
            "CREATE KEYSPACE IF NOT EXISTS rg_view_replicas WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}",
            (),
        )
        .await
        .unwrap();
    session
        .query_unpaged(
            "CREATE TABLE IF NOT EXISTS rg_view_replicas.t (k text PRIMARY KEY)",
            (),
        )
        .await
        .unwrap();
    let cluster = join().await;
    cluster
        .wait_for_schema_agreement(Duration::from_secs(30))
        .await
        .unwrap();
    let mut rx = cluster.subscribe();
    let view = if cluster.view().placement("rg_view_replicas").is_some() {
        cluster.view()
    } else {
        next_view_where(&mut rx, "the keyspace exists", |v| {
            v.placement("rg_view_replicas").is_some()
        })
        .await
    };
    let placement = view.placement("rg_view_replicas").unwrap();
    for key in ["a", "boiler", "porch", "zeta", "k-17"] {
        // Our token equals Cassandra's...
        session
            .query_unpaged("INSERT INTO rg_view_replicas.t (k) VALUES (?)", (key,))
            .await
            .unwrap();
        let (token,): (i64,) = session
            .query_unpaged(
                "SELECT token(k) FROM rg_view_replicas.t WHERE k = ?",
                (key,),
            )
            .await
            .unwrap()
            .into_rows_result()
            .unwrap()
            .single_row()
            .unwrap();
        assert_eq!(token, murmur3_token(key.as_bytes()), "{key}");
        // ...and the replicas, in Cassandra's order, equal nodetool's set.
        let ours: BTreeSet<String> = view
            .replicas(placement, token)
            .map(|a| a.ip().to_string())
            .collect();
        let theirs: BTreeSet<String> = support::cluster_script(&[
            "nodetool",
            "1",
            "getendpoints",
            "rg_view_replicas",
            "t",
            key,
        ])
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("127."))
        .map(str::to_owned)
        .collect();
        assert_eq!(ours, theirs, "replicas of {key}");
        assert_eq!(ours.len(), 3);
    }
    cluster.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_changes_by_another_client_reach_the_view_through_events() {
    let session = support::session().await;
    let _ = session
        .query_unpaged("DROP KEYSPACE IF EXISTS rg_view_ddl", ())
        .await;
    let cluster = join().await;
    let mut rx = cluster.subscribe();
    rx.borrow_and_update();

    session
        .query_unpaged(
            "CREATE KEYSPACE rg_view_ddl WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 2}",
            (),
        )
        .await
        .unwrap();
    let view = next_view_where(&mut rx, "rg_view_ddl exists", |v| {
        v.keyspace("rg_view_ddl").is_some()
    })
    .await;
    assert_eq!(
        view.keyspace("rg_view_ddl").unwrap().replication["replication_factor"],
        "2"
    );

    session
        .query_unpaged("CREATE TYPE rg_view_ddl.addr (street text, zip int)", ())
        .await
        .unwrap();
    session
        .query_unpaged(
            "CREATE TABLE rg_view_ddl.people (country text, id int, at frozen<addr>, tags set<text>, \
             PRIMARY KEY ((country, id)))",
            (),
        )
        .await
        .unwrap();
    let view = next_view_where(&mut rx, "the table exists", |v| {
        v.keyspace("rg_view_ddl")
            .is_some_and(|k| k.tables.contains_key("people"))
    })
    .await;
    let table = &view.keyspace("rg_view_ddl").unwrap().tables["people"];
    let pk: Vec<&str> = table
        .partition_key
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(pk, ["country", "id"]);
    assert!(matches!(&table.columns["at"].cql_type, ColumnType::Udt(u) if u.name == "addr"));

    session
        .query_unpaged("ALTER TABLE rg_view_ddl.people ADD nickname text", ())
        .await
        .unwrap();
    next_view_where(&mut rx, "the new column exists", |v| {
        v.keyspace("rg_view_ddl")
            .and_then(|k| k.tables.get("people"))
            .is_some_and(|t| t.columns.contains_key("nickname"))
    })
    .await;

    session
        .query_unpaged("DROP KEYSPACE rg_view_ddl", ())
        .await
        .unwrap();
    next_view_where(&mut rx, "the keyspace is gone", |v| {
        v.keyspace("rg_view_ddl").is_none()
    })
    .await;
    cluster.shutdown();
}

//! Replica placement cases worked out by hand from Cassandra's rules.

use std::collections::HashMap;
use std::sync::Arc;

use ringgate_routing::{
    NodeInfo, ReplicaSets, ReplicationError, ReplicationStrategy, RingError, RoutingError,
    TokenRing, replicas_for,
};

fn node(id: &str, dc: &str, rack: &str, tokens: &[i64]) -> NodeInfo {
    NodeInfo {
        id: id.into(),
        dc: dc.into(),
        rack: rack.into(),
        tokens: tokens.to_vec(),
    }
}

fn options(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn simple(rf: &str) -> HashMap<String, String> {
    options(&[
        ("class", "org.apache.cassandra.locator.SimpleStrategy"),
        ("replication_factor", rf),
    ])
}

fn nts(dcs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut map = options(dcs);
    map.insert(
        "class".into(),
        "org.apache.cassandra.locator.NetworkTopologyStrategy".into(),
    );
    map
}

fn three_nodes() -> Vec<NodeInfo> {
    vec![
        node("n1", "dc1", "rack1", &[0]),
        node("n2", "dc1", "rack1", &[100]),
        node("n3", "dc1", "rack1", &[200]),
    ]
}

#[test]
fn simple_strategy_issue_cases() {
    let nodes = three_nodes();
    assert_eq!(replicas_for(&nodes, &simple("2"), 0).unwrap(), ["n1", "n2"]);
    assert_eq!(
        replicas_for(&nodes, &simple("2"), 200).unwrap(),
        ["n3", "n1"]
    );
    assert_eq!(
        replicas_for(&nodes, &simple("3"), 100).unwrap(),
        ["n2", "n3", "n1"]
    );
    assert_eq!(
        replicas_for(&nodes, &simple("2"), 150).unwrap(),
        replicas_for(&nodes, &simple("2"), 200).unwrap()
    );
    // Past the last token the walk wraps to the first.
    assert_eq!(replicas_for(&nodes, &simple("1"), 201).unwrap(), ["n1"]);
    assert_eq!(
        replicas_for(&nodes, &simple("1"), i64::MIN).unwrap(),
        ["n1"]
    );
}

#[test]
fn simple_strategy_caps_at_node_count_and_skips_repeated_nodes() {
    let nodes = vec![
        node("a", "dc1", "r", &[0, 10]),
        node("b", "dc1", "r", &[20]),
        node("c", "dc2", "r", &[5]),
    ];
    // Walk from 10: a (10), b (20), a (0, repeat), c (5).
    assert_eq!(
        replicas_for(&nodes, &simple("3"), 7).unwrap(),
        ["a", "b", "c"]
    );
    assert_eq!(
        replicas_for(&nodes, &simple("9"), 7).unwrap(),
        ["a", "b", "c"]
    );
    assert!(replicas_for(&nodes, &simple("0"), 7).unwrap().is_empty());
    // Transient replicas are still replicas.
    assert_eq!(
        replicas_for(&nodes, &simple("3/1"), 7).unwrap(),
        ["a", "b", "c"]
    );
}

#[test]
fn nts_prefers_new_racks_then_allows_rf_minus_racks_repeats() {
    // dc1: racks r1 (a, b, d) and r2 (c); ring order a b c d.
    let nodes = vec![
        node("a", "dc1", "r1", &[0]),
        node("b", "dc1", "r1", &[10]),
        node("c", "dc1", "r2", &[20]),
        node("d", "dc1", "r1", &[30]),
    ];
    // rf 2, 2 racks: no repeats; b is skipped for its rack.
    assert_eq!(
        replicas_for(&nodes, &nts(&[("dc1", "2")]), 0).unwrap(),
        ["a", "c"]
    );
    // rf 3, 2 racks: one repeat, taken by the first repeated-rack node met (b).
    assert_eq!(
        replicas_for(&nodes, &nts(&[("dc1", "3")]), 0).unwrap(),
        ["a", "b", "c"]
    );
    // From d: d (r1), a (r1, the one repeat), b (r1, no repeats left), c (r2).
    assert_eq!(
        replicas_for(&nodes, &nts(&[("dc1", "3")]), 25).unwrap(),
        ["d", "a", "c"]
    );
    // rf above the node count: every node, in walk order.
    assert_eq!(
        replicas_for(&nodes, &nts(&[("dc1", "7")]), 15).unwrap(),
        ["c", "d", "a", "b"]
    );
}

#[test]
fn nts_fills_datacenters_independently_in_walk_order() {
    let nodes = vec![
        node("a1", "dc1", "r1", &[0]),
        node("x1", "dc2", "r1", &[5]),
        node("a2", "dc1", "r2", &[10]),
        node("x2", "dc2", "r1", &[15]),
        node("a3", "dc1", "r1", &[20]),
    ];
    let replication = nts(&[("dc1", "2"), ("dc2", "2")]);
    // Racks are per datacenter: dc2's r1 does not block dc1's r1, and vice versa.
    // dc2 has one rack, rf 2: one repeat allowed there.
    assert_eq!(
        replicas_for(&nodes, &replication, 1).unwrap(),
        ["x1", "a2", "x2", "a3"]
    );
    // A datacenter the ring lacks, or with rf 0, takes nothing.
    let replication = nts(&[("dc1", "1"), ("dc2", "0"), ("dc9", "3")]);
    assert_eq!(replicas_for(&nodes, &replication, 1).unwrap(), ["a2"]);
    // Transient '3/1' in dc1: 3 replicas for routing.
    let replication = nts(&[("dc1", "3/1")]);
    assert_eq!(
        replicas_for(&nodes, &replication, 1).unwrap(),
        ["a2", "a3", "a1"]
    );
}

#[test]
fn nts_counts_racks_and_nodes_of_token_owners_only() {
    // b has no tokens: dc1 has one node in one rack, so rf 2 gives one replica.
    let nodes = vec![node("a", "dc1", "r1", &[0]), node("b", "dc1", "r2", &[])];
    assert_eq!(
        replicas_for(&nodes, &nts(&[("dc1", "2")]), 0).unwrap(),
        ["a"]
    );
}

#[test]
fn everywhere_and_local() {
    let nodes = vec![
        node("a", "dc1", "r1", &[0, 30]),
        node("b", "dc2", "r1", &[10]),
        node("c", "dc1", "r2", &[20]),
        node("idle", "dc1", "r2", &[]),
    ];
    let everywhere = options(&[("class", "EverywhereStrategy")]);
    assert_eq!(
        replicas_for(&nodes, &everywhere, 15).unwrap(),
        ["c", "a", "b"]
    );
    let local = options(&[("class", "org.apache.cassandra.locator.LocalStrategy")]);
    assert!(replicas_for(&nodes, &local, 15).unwrap().is_empty());
}

#[test]
fn errors_are_typed() {
    let nodes = three_nodes();
    assert_eq!(
        replicas_for(&nodes, &options(&[("class", "Nope")]), 0),
        Err(RoutingError::Replication(ReplicationError::UnknownClass(
            "Nope".into()
        )))
    );
    assert!(matches!(
        replicas_for(&nodes, &simple("three"), 0),
        Err(RoutingError::Replication(
            ReplicationError::InvalidReplicationFactor { .. }
        ))
    ));
    let clash = vec![node("a", "d", "r", &[1]), node("b", "d", "r", &[1])];
    assert!(matches!(
        replicas_for(&clash, &simple("1"), 0),
        Err(RoutingError::Ring(RingError::DuplicateToken { .. }))
    ));
    assert!(replicas_for(&[], &simple("3"), 0).unwrap().is_empty());
}

#[test]
fn replica_sets_share_tables_between_equivalent_keyspaces() {
    let ring = Arc::new(
        TokenRing::new(&[
            node("a", "dc1", "r1", &[0]),
            node("b", "dc1", "r2", &[10]),
            node("c", "dc2", "r1", &[20]),
        ])
        .unwrap(),
    );
    let s2 = ReplicationStrategy::from_options(&simple("2")).unwrap();
    let s2_transient = ReplicationStrategy::from_options(&simple("2/1")).unwrap();
    let n = ReplicationStrategy::from_options(&nts(&[("dc1", "2"), ("dc9", "1")])).unwrap();
    let n_same = ReplicationStrategy::from_options(&nts(&[("dc1", "2")])).unwrap();
    let local = ReplicationStrategy::Local;
    let sets = ReplicaSets::build(
        ring.clone(),
        [
            ("k1", &s2),
            ("k2", &s2_transient),
            ("k3", &n),
            ("k4", &n_same),
            ("system", &local),
        ],
    );
    assert_eq!(sets.table_count(), 3);
    assert_eq!(sets.keyspace("k1"), sets.keyspace("k2"));
    assert_eq!(sets.keyspace("k3"), sets.keyspace("k4"));
    assert_ne!(sets.keyspace("k1"), sets.keyspace("k3"));
    assert_eq!(sets.keyspace("nope"), None);

    let ids = |table, token: i64| -> Vec<&str> {
        sets.replicas(table, &token)
            .iter()
            .map(|&i| ring.node(i).id())
            .collect()
    };
    let k1 = sets.keyspace("k1").unwrap();
    assert_eq!(ids(k1, 15), ["c", "a"]);
    assert_eq!(ids(k1, 21), ["a", "b"]);
    let k3 = sets.keyspace("k3").unwrap();
    assert_eq!(ids(k3, 15), ["a", "b"]);
    assert!(ids(sets.keyspace("system").unwrap(), 15).is_empty());
    assert_eq!(sets.placement(&n_same), Some(k3));
    assert!(sets.heap_bytes() > 0);
}

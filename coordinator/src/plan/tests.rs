//! Load-balancing rules on hand-built views, and their invariants on random ones.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use proptest::prelude::*;
use ringgate_protocol::message::Consistency;

use super::{LoadBalancing, QueryPlan, is_local_consistency};
use crate::cluster::{ClusterView, KeyspaceMeta, Node, NodeState};

fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, last], 9042))
}

fn node(last: u8, dc: &str, rack: &str, token: i64) -> Node {
    Node {
        host_id: [last; 16],
        addr: addr(last),
        dc: dc.into(),
        rack: rack.into(),
        tokens: vec![token],
        release_version: "5.0.8".into(),
        schema_version: None,
        state: NodeState::Up,
    }
}

fn nts(rf: &[(&str, u32)]) -> KeyspaceMeta {
    let mut replication: std::collections::BTreeMap<String, String> = rf
        .iter()
        .map(|(dc, n)| (dc.to_string(), n.to_string()))
        .collect();
    replication.insert(
        "class".into(),
        "org.apache.cassandra.locator.NetworkTopologyStrategy".into(),
    );
    KeyspaceMeta {
        name: "ks".into(),
        replication,
        durable_writes: true,
        tables: Default::default(),
        user_types: Default::default(),
    }
}

fn view_of(nodes: Vec<Node>, rf: &[(&str, u32)]) -> ClusterView {
    ClusterView::new(
        "test".into(),
        "org.apache.cassandra.dht.Murmur3Partitioner".into(),
        nodes,
        [nts(rf)],
    )
    .unwrap()
}

/// dc1: nodes 1 (rack1), 2 (rack2), 3 (rack1); dc2: nodes 4, 5, 6 (racks 1, 2, 1); tokens
/// interleaved around the ring.
fn six_nodes() -> Vec<Node> {
    let t = |i: i64| i64::MIN / 2 + i * (i64::MAX / 4);
    vec![
        node(1, "dc1", "rack1", t(0)),
        node(4, "dc2", "rack1", t(0) + 10),
        node(2, "dc1", "rack2", t(1)),
        node(5, "dc2", "rack2", t(1) + 10),
        node(3, "dc1", "rack1", t(2)),
        node(6, "dc2", "rack1", t(2) + 10),
    ]
}

fn two_dc(rf: u32) -> ClusterView {
    view_of(six_nodes(), &[("dc1", rf), ("dc2", rf)])
}

fn dc_of(view: &ClusterView, a: &SocketAddr) -> String {
    view.node(a).unwrap().dc.clone()
}

fn local(dc: &str) -> LoadBalancing {
    LoadBalancing::new(Some(dc.into()), None)
}

const TOKEN: i64 = 42;

fn routed(view: &ClusterView) -> Option<(ringgate_routing::PlacementId, i64)> {
    Some((view.placement("ks").unwrap(), TOKEN))
}

fn replicas(view: &ClusterView) -> Vec<SocketAddr> {
    view.replicas(view.placement("ks").unwrap(), TOKEN)
        .collect()
}

fn set(addrs: &[SocketAddr]) -> BTreeSet<SocketAddr> {
    addrs.iter().copied().collect()
}

#[test]
fn token_plan_goes_local_replicas_local_nodes_remote_replicas_remote_nodes() {
    let view = two_dc(2);
    let reps = replicas(&view);
    let local_reps: Vec<_> = reps
        .iter()
        .copied()
        .filter(|a| dc_of(&view, a) == "dc1")
        .collect();
    let remote_reps: Vec<_> = reps
        .iter()
        .copied()
        .filter(|a| dc_of(&view, a) == "dc2")
        .collect();
    assert_eq!((local_reps.len(), remote_reps.len()), (2, 2));
    let lb = local("dc1");
    for _ in 0..4 {
        let plan = lb.plan(&view, routed(&view), Consistency::Quorum, false);
        assert_eq!(plan.len(), 6);
        assert_eq!(set(&plan[0..2]), set(&local_reps));
        assert_eq!(dc_of(&view, &plan[2]), "dc1");
        assert!(!reps.contains(&plan[2]));
        assert_eq!(set(&plan[3..5]), set(&remote_reps));
        assert_eq!(dc_of(&view, &plan[5]), "dc2");
        assert!(!reps.contains(&plan[5]));
    }
}

#[test]
fn local_rack_replicas_come_first() {
    let view = two_dc(2);
    // NTS spreads dc1's two replicas over its two racks.
    let local_reps: Vec<_> = replicas(&view)
        .into_iter()
        .filter(|a| dc_of(&view, a) == "dc1")
        .collect();
    let racks: BTreeSet<_> = local_reps
        .iter()
        .map(|a| view.node(a).unwrap().rack.clone())
        .collect();
    assert_eq!(racks.len(), 2);
    for rack in ["rack1", "rack2"] {
        let lb = LoadBalancing::new(Some("dc1".into()), Some(rack.into()));
        for _ in 0..6 {
            let plan = lb.plan(&view, routed(&view), Consistency::LocalQuorum, false);
            assert_eq!(view.node(&plan[0]).unwrap().rack, rack);
            assert!(local_reps.contains(&plan[0]));
            assert!(local_reps.contains(&plan[1]));
        }
    }
    // Without a local datacenter the rack means nothing (rack names repeat across DCs).
    let lb = LoadBalancing::new(None, Some("rack2".into()));
    let firsts: BTreeSet<_> = (0..12)
        .map(|_| lb.plan(&view, routed(&view), Consistency::One, false)[0])
        .collect();
    assert_eq!(firsts, set(&replicas(&view)));
}

#[test]
fn round_robin_is_fair_among_local_replicas() {
    let view = two_dc(3);
    let local_reps: Vec<_> = replicas(&view)
        .into_iter()
        .filter(|a| dc_of(&view, a) == "dc1")
        .collect();
    assert_eq!(local_reps.len(), 3);
    let lb = local("dc1");
    let n = 300;
    let mut firsts: HashMap<SocketAddr, usize> = HashMap::new();
    for _ in 0..n {
        let plan = lb.plan(&view, routed(&view), Consistency::One, false);
        *firsts.entry(plan[0]).or_default() += 1;
        assert_eq!(set(&plan[0..3]), set(&local_reps));
    }
    assert_eq!(firsts.len(), 3);
    for (a, count) in firsts {
        assert!(local_reps.contains(&a));
        assert!(count.abs_diff(n / 3) <= 1, "{a}: {count}");
    }
}

#[test]
fn lwt_keeps_cassandras_replica_order() {
    let view = two_dc(3);
    let reps = replicas(&view);
    let local_reps: Vec<_> = reps
        .iter()
        .copied()
        .filter(|a| dc_of(&view, a) == "dc1")
        .collect();
    let remote_reps: Vec<_> = reps
        .iter()
        .copied()
        .filter(|a| dc_of(&view, a) == "dc2")
        .collect();
    let lb = local("dc1");
    for _ in 0..10 {
        // Interleave other requests so the round-robin counter moves.
        lb.plan(&view, routed(&view), Consistency::One, false);
        let plan = lb.plan(&view, routed(&view), Consistency::Serial, true);
        assert_eq!(&plan[0..3], local_reps.as_slice());
        assert_eq!(&plan[3..6], remote_reps.as_slice());
    }
}

#[test]
fn local_levels_never_leave_the_local_datacenter() {
    let view = two_dc(2);
    let lb = local("dc2");
    for cl in Consistency::ALL {
        for routing in [routed(&view), None] {
            let plan = lb.plan(&view, routing, cl, false);
            let dcs: BTreeSet<_> = plan.iter().map(|a| dc_of(&view, a)).collect();
            if is_local_consistency(cl) {
                assert_eq!(plan.len(), 3, "{cl}");
                assert_eq!(dcs, BTreeSet::from(["dc2".to_string()]), "{cl}");
            } else {
                assert_eq!(plan.len(), 6, "{cl}");
                assert_eq!(dc_of(&view, &plan[0]), "dc2", "{cl}");
            }
        }
    }
}

#[test]
fn local_consistency_levels() {
    let local: Vec<_> = Consistency::ALL
        .into_iter()
        .filter(|c| is_local_consistency(*c))
        .collect();
    assert_eq!(
        local,
        [
            Consistency::LocalQuorum,
            Consistency::LocalSerial,
            Consistency::LocalOne
        ]
    );
}

#[test]
fn down_nodes_are_skipped() {
    let view = two_dc(2);
    let local_reps: Vec<_> = replicas(&view)
        .into_iter()
        .filter(|a| dc_of(&view, a) == "dc1")
        .collect();
    let down = local_reps[0];
    let view = view.with_node_state(down, NodeState::Down).unwrap();
    let lb = local("dc1");
    for _ in 0..4 {
        let plan = lb.plan(&view, routed(&view), Consistency::One, false);
        assert_eq!(plan.len(), 5);
        assert!(!plan.contains(&down));
        assert_eq!(plan[0], local_reps[1]);
        let unrouted = lb.plan(&view, None, Consistency::One, false);
        assert!(!unrouted.contains(&down));
    }
}

#[test]
fn with_no_node_up_every_known_node_is_tried() {
    let mut view = two_dc(2);
    for a in (1..=6).map(addr) {
        view = view.with_node_state(a, NodeState::Down).unwrap();
    }
    let lb = local("dc1");
    let plan = lb.plan(&view, routed(&view), Consistency::One, false);
    assert_eq!(set(&plan), set(&(1..=6).map(addr).collect::<Vec<_>>()));
    assert_eq!(dc_of(&view, &plan[0]), "dc1");
    assert!(replicas(&view).contains(&plan[0]));
    // The datacenter rule still holds.
    let plan = lb.plan(&view, None, Consistency::LocalOne, false);
    assert_eq!(plan.len(), 3);
}

#[test]
fn an_empty_view_gives_an_empty_plan() {
    let view = view_of(Vec::new(), &[("dc1", 1)]);
    assert!(view.placement("ks").is_none());
    let plan = local("dc1").plan(&view, None, Consistency::One, false);
    assert!(plan.is_empty());
    assert_eq!(plan, QueryPlan::default());
}

#[test]
fn without_a_local_datacenter_every_node_is_local() {
    let view = two_dc(1);
    let lb = LoadBalancing::default();
    let reps = replicas(&view);
    for _ in 0..4 {
        let plan = lb.plan(&view, routed(&view), Consistency::LocalOne, false);
        assert_eq!(plan.len(), 6);
        assert!(reps.contains(&plan[0]));
        assert!(reps.contains(&plan[1]));
    }
}

#[test]
fn without_a_token_local_nodes_take_turns() {
    let view = two_dc(2);
    let lb = local("dc1");
    let mut firsts: HashMap<SocketAddr, usize> = HashMap::new();
    for _ in 0..30 {
        let plan = lb.plan(&view, None, Consistency::Quorum, false);
        assert_eq!(set(&plan[0..3]), set(&[addr(1), addr(2), addr(3)]));
        assert_eq!(set(&plan[3..6]), set(&[addr(4), addr(5), addr(6)]));
        *firsts.entry(plan[0]).or_default() += 1;
    }
    assert_eq!(firsts.len(), 3);
    assert!(firsts.values().all(|c| *c == 10), "{firsts:?}");
}

#[test]
fn small_plans_stay_inline() {
    let view = two_dc(2);
    let plan = local("dc1").plan(&view, routed(&view), Consistency::One, false);
    assert!(!plan.spilled());
}

/// A random cluster: up to three datacenters of one to five nodes over two racks, random
/// states, distinct tokens, and a replication factor per datacenter.
#[derive(Debug, Clone)]
struct Cluster {
    nodes: Vec<(u8, bool, i64)>, // (dc index, up, token)
    racks: Vec<u8>,
    rf: Vec<u32>,
}

fn cluster() -> impl Strategy<Value = Cluster> {
    (1usize..=3)
        .prop_flat_map(|dcs| {
            (
                prop::collection::vec((0..dcs as u8, any::<bool>(), any::<i64>(), 0u8..2), 1..=12),
                prop::collection::vec(1u32..=3, dcs),
            )
        })
        .prop_map(|(raw, rf)| {
            let mut seen = BTreeSet::new();
            let mut nodes = Vec::new();
            let mut racks = Vec::new();
            for (dc, up, token, rack) in raw {
                if seen.insert(token) {
                    nodes.push((dc, up, token));
                    racks.push(rack);
                }
            }
            Cluster { nodes, racks, rf }
        })
}

fn build(c: &Cluster) -> ClusterView {
    let nodes = c
        .nodes
        .iter()
        .zip(&c.racks)
        .enumerate()
        .map(|(i, ((dc, up, token), rack))| {
            let mut n = node(
                u8::try_from(i + 1).unwrap(),
                &format!("dc{dc}"),
                &format!("rack{rack}"),
                *token,
            );
            if !up {
                n.state = NodeState::Down;
            }
            n
        });
    let names: Vec<String> = (0..c.rf.len()).map(|d| format!("dc{d}")).collect();
    let rf: Vec<(&str, u32)> = names
        .iter()
        .map(String::as_str)
        .zip(c.rf.iter().copied())
        .collect();
    view_of(nodes.collect(), &rf)
}

proptest! {
    #[test]
    fn plans_hold_each_node_once_and_start_where_they_should(
        c in cluster(),
        local_dc in prop::option::of(0u8..3),
        local_rack in prop::option::of(0u8..2),
        cl in prop::sample::select(Consistency::ALL.to_vec()),
        lwt in any::<bool>(),
        token in any::<i64>(),
        turns in 1usize..4,
    ) {
        let view = build(&c);
        let lb = LoadBalancing::new(
            local_dc.map(|d| format!("dc{d}")),
            local_rack.map(|r| format!("rack{r}")),
        );
        let is_local = |a: &SocketAddr| {
            local_dc.is_none_or(|d| view.node(a).unwrap().dc == format!("dc{d}"))
        };
        let any_up = view.nodes().any(|n| n.state == NodeState::Up);
        let usable = |a: &SocketAddr| !any_up || view.node(a).unwrap().state == NodeState::Up;
        let placement = view.placement("ks").unwrap();
        let reps: Vec<SocketAddr> = view.replicas(placement, token).collect();
        for _ in 0..turns {
            // Without a token: every usable local node exactly once, before any remote one.
            let plan = lb.plan(&view, None, cl, lwt);
            prop_assert_eq!(set(&plan).len(), plan.len(), "duplicates in {:?}", plan);
            let local_nodes: BTreeSet<_> =
                view.nodes().map(|n| n.addr).filter(|a| is_local(a) && usable(a)).collect();
            prop_assert_eq!(set(&plan[..local_nodes.len()]), local_nodes);
            prop_assert!(plan.iter().all(usable));
            if is_local_consistency(cl) {
                prop_assert!(plan.iter().all(is_local));
            } else {
                prop_assert_eq!(plan.len(), view.nodes().filter(|n| usable(&n.addr)).count());
            }

            // With a token: a usable local replica, when there is one, comes first.
            let plan = lb.plan(&view, Some((placement, token)), cl, lwt);
            prop_assert_eq!(set(&plan).len(), plan.len(), "duplicates in {:?}", plan);
            prop_assert!(plan.iter().all(usable));
            if reps.iter().any(|a| is_local(a) && usable(a)) {
                prop_assert!(reps.contains(&plan[0]) && is_local(&plan[0]));
            }
            let local_reps: BTreeSet<_> =
                reps.iter().copied().filter(|a| is_local(a) && usable(a)).collect();
            prop_assert_eq!(set(&plan[..local_reps.len()]), local_reps);
            if let (Some(d), Some(r)) = (local_dc, local_rack) {
                let in_rack = |a: &SocketAddr| {
                    let n = view.node(a).unwrap();
                    n.dc == format!("dc{d}") && n.rack == format!("rack{r}")
                };
                if reps.iter().any(|a| in_rack(a) && usable(a)) {
                    prop_assert!(reps.contains(&plan[0]) && in_rack(&plan[0]));
                }
            }
            if lwt {
                // Cassandra's replica order, the local rack's replicas first when one is set.
                let rack_first = |a: &SocketAddr| match (local_dc, local_rack) {
                    (Some(_), Some(r)) => view.node(a).unwrap().rack == format!("rack{r}"),
                    _ => false,
                };
                let local_reps = || reps.iter().copied().filter(|a| is_local(a) && usable(a));
                let expected: Vec<_> = local_reps()
                    .filter(|a| rack_first(a))
                    .chain(local_reps().filter(|a| !rack_first(a)))
                    .collect();
                prop_assert_eq!(&plan[..expected.len()], expected.as_slice());
            }
        }
    }
}

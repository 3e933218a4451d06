//! Property tests: the crate's answers agree with a naive reference that follows Cassandra's
//! algorithms step by step on strings and sets, on random rings, strategies and tokens; and the
//! Murmur3 token agrees with the reference MurmurHash3 where Cassandra's variant does.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use proptest::prelude::*;
use ringgate_routing::{
    NodeInfo, ReplicaSets, ReplicationStrategy, TokenRing, murmur3_token, replicas_for,
};

/// Cassandra's replica calculation, written for clarity rather than speed.
fn reference_replicas(
    nodes: &[NodeInfo],
    strategy: &ReplicationStrategy,
    token: i64,
) -> Vec<String> {
    let ring: BTreeMap<i64, &NodeInfo> = nodes
        .iter()
        .flat_map(|n| n.tokens.iter().map(move |&t| (t, n)))
        .collect();
    // The ring walk: from the first token >= `token`, all the way round.
    let walk: Vec<&NodeInfo> = ring
        .range(token..)
        .chain(ring.range(..token))
        .map(|(_, n)| *n)
        .collect();
    let mut replicas: Vec<String> = Vec::new();
    let distinct = |limit: usize, replicas: &mut Vec<String>| {
        for node in &walk {
            if replicas.len() == limit {
                break;
            }
            if !replicas.contains(&node.id) {
                replicas.push(node.id.clone());
            }
        }
    };
    match strategy {
        ReplicationStrategy::Local => {}
        ReplicationStrategy::Everywhere => distinct(usize::MAX, &mut replicas),
        ReplicationStrategy::Simple { replication_factor } => {
            distinct(replication_factor.all as usize, &mut replicas)
        }
        ReplicationStrategy::NetworkTopology { datacenters } => {
            let owners: Vec<&NodeInfo> = nodes.iter().filter(|n| !n.tokens.is_empty()).collect();
            // Per datacenter: replicas still wanted, rack repeats left.
            let mut state: HashMap<&str, (i64, i64)> = HashMap::new();
            for (dc, rf) in datacenters {
                let in_dc: Vec<&&NodeInfo> = owners.iter().filter(|n| &n.dc == dc).collect();
                let racks: HashSet<&str> = in_dc.iter().map(|n| n.rack.as_str()).collect();
                let rf = i64::from(rf.all);
                if rf > 0 && !in_dc.is_empty() {
                    let wanted = rf.min(in_dc.len() as i64);
                    state.insert(dc, (wanted, rf - racks.len() as i64));
                }
            }
            let mut to_fill = state.len();
            let mut seen_racks: HashSet<(&str, &str)> = HashSet::new();
            for node in &walk {
                if to_fill == 0 {
                    break;
                }
                let Some((wanted, repeats)) = state.get_mut(node.dc.as_str()) else {
                    continue;
                };
                if *wanted == 0 || replicas.contains(&node.id) {
                    continue;
                }
                if seen_racks.insert((&node.dc, &node.rack)) {
                    // A new rack.
                } else if *repeats > 0 {
                    *repeats -= 1;
                } else {
                    continue;
                }
                replicas.push(node.id.clone());
                *wanted -= 1;
                if *wanted == 0 {
                    to_fill -= 1;
                }
            }
        }
    }
    replicas
}

/// Random rings: up to `max_nodes` nodes over 3 datacenters and 3 racks each, up to
/// `max_tokens` distinct tokens (some nodes without any), drawn from a narrow range so that
/// test tokens land on them.
fn ring_strategy(max_nodes: usize, max_tokens: usize) -> impl Strategy<Value = Vec<NodeInfo>> {
    (1usize..max_nodes)
        .prop_flat_map(move |count| {
            (
                proptest::collection::vec((0usize..3, 0usize..3), count),
                proptest::collection::btree_set(-1000i64..1000, 0..max_tokens),
                proptest::collection::vec(0usize..1000, max_tokens),
            )
        })
        .prop_map(
            |(places, tokens, owners): (Vec<(usize, usize)>, BTreeSet<i64>, Vec<usize>)| {
                let mut nodes: Vec<NodeInfo> = places
                    .iter()
                    .enumerate()
                    .map(|(i, &(dc, rack))| NodeInfo {
                        id: format!("n{i}"),
                        dc: format!("dc{dc}"),
                        rack: format!("r{rack}"),
                        tokens: Vec::new(),
                    })
                    .collect();
                let count = nodes.len();
                for (token, owner) in tokens.into_iter().zip(owners) {
                    nodes[owner % count].tokens.push(token);
                }
                nodes
            },
        )
}

fn strategy_strategy() -> impl Strategy<Value = HashMap<String, String>> {
    let rf = || {
        (0u32..6, 0u32..3).prop_map(|(all, t)| {
            if t > 0 && t < all {
                format!("{all}/{t}")
            } else {
                all.to_string()
            }
        })
    };
    prop_oneof![
        rf().prop_map(|rf| HashMap::from([
            ("class".to_string(), "SimpleStrategy".to_string()),
            ("replication_factor".to_string(), rf),
        ])),
        proptest::collection::btree_map(
            prop_oneof![Just("dc0"), Just("dc1"), Just("dc2"), Just("dc9")],
            rf(),
            0..4
        )
        .prop_map(|dcs| {
            let mut map: HashMap<String, String> =
                dcs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            map.insert(
                "class".into(),
                "org.apache.cassandra.locator.NetworkTopologyStrategy".into(),
            );
            map
        }),
        Just(HashMap::from([(
            "class".to_string(),
            "EverywhereStrategy".to_string()
        )])),
        Just(HashMap::from([(
            "class".to_string(),
            "LocalStrategy".to_string()
        )])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn lookups_agree_with_the_reference(
        nodes in ring_strategy(12, 40),
        options in strategy_strategy(),
        probes in proptest::collection::vec(-1100i64..1100, 1..20),
    ) {
        let strategy = ReplicationStrategy::from_options(&options).unwrap();
        let ring = Arc::new(TokenRing::new(&nodes).unwrap());
        let sets = ReplicaSets::build(ring.clone(), [("ks", &strategy)]);
        let table = sets.keyspace("ks").unwrap();
        let extremes = [i64::MIN, i64::MAX];
        let ring_tokens = ring.tokens().to_vec();
        for &token in probes.iter().chain(&extremes).chain(&ring_tokens) {
            let expected = reference_replicas(&nodes, &strategy, token);
            prop_assert_eq!(&replicas_for(&nodes, &options, token).unwrap(), &expected);
            let precomputed: Vec<&str> =
                sets.replicas(table, &token).iter().map(|&i| ring.node(i).id()).collect();
            prop_assert_eq!(precomputed, expected);
        }
    }

    #[test]
    fn murmur3_matches_the_reference_hash_when_tail_bytes_are_ascii(
        blocks in 0usize..=3,
        body in proptest::collection::vec(any::<u8>(), 48),
        tail in proptest::collection::vec(0u8..0x80, 0..16),
    ) {
        let mut key = body[..blocks * 16].to_vec();
        key.extend_from_slice(&tail);
        prop_assume!(!key.is_empty());
        let reference = murmur3::murmur3_x64_128(&mut key.as_slice(), 0).unwrap();
        let first_half = reference as u64 as i64;
        let expected = if first_half == i64::MIN { i64::MAX } else { first_half };
        prop_assert_eq!(murmur3_token(&key), expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn lookups_agree_with_the_reference_on_vnode_rings(
        nodes in ring_strategy(30, 600),
        options in strategy_strategy(),
    ) {
        let strategy = ReplicationStrategy::from_options(&options).unwrap();
        let ring = Arc::new(TokenRing::new(&nodes).unwrap());
        let sets = ReplicaSets::build(ring.clone(), [("ks", &strategy)]);
        let table = sets.keyspace("ks").unwrap();
        for token in ring.tokens().iter().map(|t| t - 1).chain([i64::MAX]) {
            let expected = reference_replicas(&nodes, &strategy, token);
            let precomputed: Vec<&str> =
                sets.replicas(table, &token).iter().map(|&i| ring.node(i).id()).collect();
            prop_assert_eq!(precomputed, expected);
        }
    }
}

#[test]
fn murmur3_differs_from_the_reference_hash_on_high_tail_bytes() {
    // The sign extension matters: the reference algorithm gives a different token here.
    let key = [0xfeu8; 8];
    let reference = murmur3::murmur3_x64_128(&mut key.as_slice(), 0).unwrap() as u64 as i64;
    assert_ne!(murmur3_token(&key), reference);
    assert_eq!(murmur3_token(&key), -8927430733708461935);
}

/// The position of the first ring token ≥ `token`, wrapping, by a linear scan.
fn linear_position<T: Ord>(tokens: &[T], token: &T) -> Option<usize> {
    if tokens.is_empty() {
        return None;
    }
    Some(tokens.iter().position(|t| t >= token).unwrap_or(0))
}

fn ring_of<T: ringgate_routing::RingToken>(tokens: impl IntoIterator<Item = T>) -> TokenRing<T> {
    let mut builder = TokenRing::builder();
    for (i, token) in tokens.into_iter().enumerate() {
        builder
            .add_node(&format!("n{i}"), "dc", "rack", [token])
            .expect("distinct ids");
    }
    builder.build().expect("distinct tokens")
}

proptest! {
    #[test]
    fn murmur3_ring_positions_agree_with_a_linear_scan(
        tokens in proptest::collection::btree_set(any::<i64>(), 0..300),
        probes in proptest::collection::vec(any::<i64>(), 0..50),
    ) {
        let ring = ring_of(tokens.iter().copied());
        let near: Vec<i64> = tokens
            .iter()
            .flat_map(|&t| [t.saturating_sub(1), t, t.saturating_add(1)])
            .chain([i64::MIN, i64::MAX, 0])
            .collect();
        for token in probes.iter().chain(&near) {
            prop_assert_eq!(ring.position(token), linear_position(ring.tokens(), token));
        }
    }

    #[test]
    fn other_partitioners_ring_positions_agree_with_a_linear_scan(
        keys in proptest::collection::btree_set(proptest::collection::vec(any::<u8>(), 0..10), 0..100),
        probes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..10), 0..30),
    ) {
        use ringgate_routing::{ByteOrderedPartitioner, Partitioner, RandomPartitioner};
        let ordered = ring_of(keys.iter().map(|k| ByteOrderedPartitioner.token(k)));
        let random_tokens: BTreeSet<_> = keys.iter().map(|k| RandomPartitioner.token(k)).collect();
        let random = ring_of(random_tokens);
        for probe in probes.iter().chain(&keys) {
            let token = ByteOrderedPartitioner.token(probe);
            prop_assert_eq!(ordered.position(&token), linear_position(ordered.tokens(), &token));
            let token = RandomPartitioner.token(probe);
            prop_assert_eq!(random.position(&token), linear_position(random.tokens(), &token));
        }
    }
}

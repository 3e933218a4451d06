//! Allocation and memory checks (counts and bytes, never time): a replica lookup allocates
//! nothing, and the precomputed sets stay within the memory budget.
//!
//! `allocation-counter` replaces the global allocator in this test binary only.

use std::sync::Arc;

use ringgate_routing::{NodeInfo, ReplicaSets, ReplicationStrategy, TokenRing, murmur3_token};

/// `dcs` datacenters of `per_dc` nodes over three racks each, `vnodes` pseudo-random tokens
/// per node.
fn topology(dcs: usize, per_dc: usize, vnodes: usize) -> Vec<NodeInfo> {
    let mut state = 0x5eed_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let z = (state ^ (state >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as i64
    };
    (0..dcs * per_dc)
        .map(|i| NodeInfo {
            id: format!("node{i}"),
            dc: format!("dc{}", i / per_dc + 1),
            rack: format!("rack{}", i % 3 + 1),
            tokens: (0..vnodes).map(|_| next()).collect(),
        })
        .collect()
}

fn nts(dcs: usize, rf: &str) -> ReplicationStrategy {
    let names: Vec<String> = (1..=dcs).map(|d| format!("dc{d}")).collect();
    ReplicationStrategy::from_pairs(
        std::iter::once(("class", "NetworkTopologyStrategy"))
            .chain(names.iter().map(|dc| (dc.as_str(), rf))),
    )
    .unwrap()
}

#[test]
fn a_replica_lookup_allocates_nothing() {
    let ring = Arc::new(TokenRing::new(&topology(2, 50, 256)).unwrap());
    let sets = ReplicaSets::build(ring, [("ks", &nts(2, "3"))]);
    let table = sets.keyspace("ks").unwrap();
    let keys: Vec<[u8; 16]> = (0u128..1000).map(|i| i.to_be_bytes()).collect();
    let mut found = 0;
    let info = allocation_counter::measure(|| {
        for key in &keys {
            let token = murmur3_token(key);
            found += sets.replicas(table, &token).len();
        }
    });
    assert_eq!(
        found,
        6 * keys.len(),
        "every lookup found RF 3 + 3 replicas"
    );
    assert_eq!(info.count_total, 0, "lookups allocated: {info:?}");
}

#[test]
fn precomputed_sets_for_3_dcs_of_8_nodes_with_256_vnodes_fit_in_0_8_mb() {
    let nodes = topology(3, 8, 256);
    let strategy = nts(3, "3");
    let mut sets = None;
    let info = allocation_counter::measure(|| {
        let ring = Arc::new(TokenRing::new(&nodes).unwrap());
        sets = Some(ReplicaSets::build(ring, [("ks", &strategy)]));
    });
    let sets = sets.unwrap();
    let retained = u64::try_from(info.bytes_current).unwrap();
    eprintln!(
        "3 DCs x 8 nodes x 256 vnodes, NTS RF 3 per DC: heap_bytes {} B, retained {} B in {} \
         allocations, peak while building {} B",
        sets.heap_bytes(),
        retained,
        info.count_current,
        info.bytes_max
    );
    assert!(
        retained >= sets.heap_bytes() as u64,
        "heap_bytes undercounts"
    );
    assert!(retained <= 800_000, "retained {retained} B");
    assert!(info.bytes_max <= 800_000, "peak {} B", info.bytes_max);
}

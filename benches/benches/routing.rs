//! Routing benchmarks: the Murmur3 token of a 16-byte key (beside the `scylla` crate's
//! Murmur3 partitioner as a baseline), a replica lookup in precomputed sets (100 nodes × 256
//! vnodes, NetworkTopologyStrategy over two datacenters, RF 3 each), and precomputing the ring
//! and replica sets on a topology change (3 datacenters × 8 nodes × 256 vnodes, and 1,000 nodes
//! × 16 vnodes over two datacenters). The `scylla` crate keeps its replica locator's constructor private, so its
//! lookup and precompute cannot be run outside a live session and have no baseline here.
//!
//! Memory of the precomputed sets is printed once per topology (`ReplicaSets::heap_bytes`);
//! allocation counts are asserted in `routing/tests/allocations.rs`.
//!
//! Run short: `cargo bench -p ringgate-benches --bench routing -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_main};
use ringgate_routing::{NodeInfo, ReplicaSets, ReplicationStrategy, TokenRing, murmur3_token};
use scylla::routing::partitioner::{Murmur3Partitioner, Partitioner};

/// Deterministic pseudo-random numbers (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `dcs` datacenters of `per_dc` nodes each, spread over three racks per datacenter, every
/// node with `vnodes` random tokens (distinct).
fn topology(dcs: usize, per_dc: usize, vnodes: usize) -> Vec<NodeInfo> {
    let mut rng = Rng(0x5eed);
    let mut seen = std::collections::HashSet::new();
    (0..dcs * per_dc)
        .map(|i| NodeInfo {
            id: format!("10.{}.{}.{}", i / per_dc, (i % per_dc) / 256, i % 256),
            dc: format!("dc{}", i / per_dc + 1),
            rack: format!("rack{}", i % 3 + 1),
            tokens: std::iter::repeat_with(|| rng.next() as i64)
                .filter(|t| seen.insert(*t))
                .take(vnodes)
                .collect(),
        })
        .collect()
}

fn nts(dcs: usize, rf: u32) -> ReplicationStrategy {
    let names: Vec<String> = (1..=dcs).map(|d| format!("dc{d}")).collect();
    let rf = rf.to_string();
    ReplicationStrategy::from_pairs(
        std::iter::once(("class", "NetworkTopologyStrategy"))
            .chain(names.iter().map(|dc| (dc.as_str(), rf.as_str()))),
    )
    .expect("a valid replication map")
}

fn precompute(nodes: &[NodeInfo], strategy: &ReplicationStrategy) -> ReplicaSets {
    let ring = Arc::new(TokenRing::new(nodes).expect("distinct tokens"));
    ReplicaSets::build(ring, [("ks", strategy)])
}

fn murmur3(c: &mut Criterion) {
    let mut group = c.benchmark_group("murmur3_16B");
    group.throughput(Throughput::Elements(1));
    let key: [u8; 16] = *b"\x01\x92\xff\x10user-4711\x80\x7f\x00";
    group.bench_function("ringgate", |b| b.iter(|| murmur3_token(black_box(&key))));
    group.bench_function("scylla", |b| {
        b.iter(|| Murmur3Partitioner.hash_one(black_box(&key)).value())
    });
    group.finish();
    // The baseline computes the same token.
    assert_eq!(
        murmur3_token(&key),
        Murmur3Partitioner.hash_one(&key).value(),
        "scylla and ringgate agree on the token"
    );
}

fn lookup(c: &mut Criterion) {
    let nodes = topology(2, 50, 256);
    let sets = precompute(&nodes, &nts(2, 3));
    let table = sets.keyspace("ks").expect("built above");
    eprintln!(
        "lookup topology 2 DCs x 50 nodes x 256 vnodes, NTS RF 3+3: {} ring tokens, {} bytes precomputed",
        sets.ring().len(),
        sets.heap_bytes()
    );
    let mut rng = Rng(7);
    let tokens: Vec<i64> = (0..4096).map(|_| rng.next() as i64).collect();
    let mut group = c.benchmark_group("replica_lookup_100x256_nts_2dc_rf3");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("ringgate", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            let replicas = sets.replicas(table, black_box(&tokens[i]));
            black_box(replicas.first().copied())
        })
    });
    group.finish();
}

fn precompute_benches(c: &mut Criterion) {
    let cases = [
        (
            "3dc_x_8_nodes_x_256_vnodes_nts_rf3",
            topology(3, 8, 256),
            nts(3, 3),
        ),
        (
            "1000_nodes_x_16_vnodes_nts_2dc_rf3",
            topology(2, 500, 16),
            nts(2, 3),
        ),
    ];
    let mut group = c.benchmark_group("precompute");
    group.sample_size(20);
    for (name, nodes, strategy) in &cases {
        let sets = precompute(nodes, strategy);
        eprintln!(
            "precompute {name}: {} nodes, {} ring tokens, {} replicas per range, {} bytes precomputed",
            nodes.len(),
            sets.ring().len(),
            sets.replicas(sets.keyspace("ks").expect("built"), &0).len(),
            sets.heap_bytes()
        );
        group.bench_function(*name, |b| b.iter(|| precompute(black_box(nodes), strategy)));
        let ring = Arc::new(TokenRing::new(nodes).expect("distinct tokens"));
        group.bench_function(format!("{name}/ring_only"), |b| {
            b.iter(|| TokenRing::new(black_box(nodes)).expect("distinct tokens"))
        });
        group.bench_function(format!("{name}/sets_only"), |b| {
            b.iter(|| ReplicaSets::build(ring.clone(), [("ks", strategy)]))
        });
    }
    group.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    murmur3(&mut c);
    lookup(&mut c);
    precompute_benches(&mut c);
}

criterion_main!(benches);

//! Request-path decisions: building a query plan (2 datacenters × 3 nodes × 16 vnodes with a
//! NetworkTopologyStrategy keyspace, RF 3 each; and 2 × 50 nodes, whose plans spill to the
//! heap), and recording into the per-node metrics (uncontended by address and through a
//! `NodeRecorder`, two threads on one node, a percentile read as speculative execution does
//! it, cached and not, a snapshot).
//!
//! The `scylla` crate's load-balancing policy needs a cluster state only a live session
//! builds, so it has no baseline here.
//!
//! Run short: `cargo bench -p ringgate-benches --bench plan -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_main};
use ringgate::cluster::{ClusterView, KeyspaceMeta, Node, NodeState};
use ringgate::metrics::Metrics;
use ringgate::plan::LoadBalancing;
use ringgate::protocol::message::Consistency;

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

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, (i / 256) as u8, (i % 256) as u8], 9042))
}

/// Two datacenters of `per_dc` nodes over three racks each, 16 random tokens a node, and a
/// keyspace `ks` replicated 3 + 3.
fn view(per_dc: usize) -> ClusterView {
    let mut rng = Rng(0x5eed);
    let nodes = (0..2 * per_dc).map(|i| Node {
        host_id: [0; 16],
        addr: addr(i),
        dc: format!("dc{}", i / per_dc + 1),
        rack: format!("rack{}", i % 3 + 1),
        tokens: {
            let mut t: Vec<i64> = (0..16).map(|_| rng.next() as i64).collect();
            t.sort_unstable();
            t
        },
        release_version: "5.0.8".into(),
        schema_version: None,
        state: NodeState::Up,
    });
    let keyspace = KeyspaceMeta {
        name: "ks".into(),
        replication: [
            (
                "class",
                "org.apache.cassandra.locator.NetworkTopologyStrategy",
            ),
            ("dc1", "3"),
            ("dc2", "3"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        durable_writes: true,
        tables: Default::default(),
        user_types: Default::default(),
    };
    ClusterView::new(
        "bench".into(),
        "org.apache.cassandra.dht.Murmur3Partitioner".into(),
        nodes,
        [keyspace],
    )
    .expect("distinct tokens")
}

fn plans(c: &mut Criterion) {
    let mut group = c.benchmark_group("plan");
    for per_dc in [3, 50] {
        let view = view(per_dc);
        let placement = view.placement("ks").expect("ks has replica sets");
        let lb = LoadBalancing::new(Some("dc1".into()), Some("rack1".into()));
        let tokens: Vec<i64> = {
            let mut rng = Rng(7);
            (0..1024).map(|_| rng.next() as i64).collect()
        };
        let cases = [
            ("token_quorum", true, Consistency::Quorum, false),
            ("token_local_quorum", true, Consistency::LocalQuorum, false),
            ("token_lwt", true, Consistency::Serial, true),
            ("no_token", false, Consistency::Quorum, false),
        ];
        // The view's own part: the replica lookup and one node lookup per replica.
        let mut i = 0usize;
        group.bench_function(format!("{}_nodes/view_lookups_only", 2 * per_dc), |b| {
            b.iter(|| {
                i = (i + 1) % tokens.len();
                view.replicas(placement, black_box(tokens[i]))
                    .filter_map(|a| view.node(&a))
                    .count()
            })
        });
        for (name, routed, cl, lwt) in cases {
            let mut i = 0usize;
            group.bench_function(format!("{}_nodes/{name}", 2 * per_dc), |b| {
                b.iter(|| {
                    i = (i + 1) % tokens.len();
                    let routing = routed.then(|| (placement, tokens[i]));
                    lb.plan(black_box(&view), black_box(routing), cl, lwt)
                })
            });
        }
    }
    group.finish();
}

fn metrics(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics");
    let metrics = Metrics::new();
    let nodes: Vec<SocketAddr> = (0..6).map(addr).collect();
    let mut i = 0usize;
    group.bench_function("record_latency", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let micros = 200 + (i % 4096) as u64;
            metrics.record_latency(black_box(nodes[i % 6]), Duration::from_micros(micros));
        })
    });
    let recorder = metrics.node(nodes[0]);
    group.bench_function("record_latency/recorder", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let micros = 200 + (i % 4096) as u64;
            black_box(&recorder).record_latency(Duration::from_micros(micros));
        })
    });
    group.bench_function("record_latency/2_threads_one_node", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for j in 0..iters {
                            let d = Duration::from_micros(200 + j % 4096);
                            metrics.record_latency(black_box(nodes[0]), d);
                        }
                    });
                }
            });
            // Each thread made `iters` recordings in this time, side by side: the time per
            // recording as one of two contending threads sees it.
            start.elapsed()
        })
    });
    group.bench_function("latency_percentile_p99", |b| {
        b.iter(|| metrics.latency_percentile(black_box(nodes[1]), black_box(99.0)))
    });
    group.bench_function("latency_percentile_p99/uncached", |b| {
        // Alternating percentiles defeat the cache: the cost of walking the histogram.
        let mut flip = false;
        b.iter(|| {
            flip = !flip;
            recorder.latency_percentile(if flip { 99.0 } else { 98.0 })
        })
    });
    group.bench_function("snapshot_6_nodes", |b| b.iter(|| metrics.snapshot()));
    group.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    plans(&mut c);
    metrics(&mut c);
}

criterion_main!(benches);

//! What an operator's admin endpoint serves, without the HTTP: [`MetricsExporter`] renders a
//! coordinator's and a front end's metrics as OpenMetrics text (with `prometheus-client`), and
//! [`readiness`] tells whether the node can serve (its cluster view established, a replica
//! reachable for every range of the local datacenter).
//!
//! Everything is read when asked (a scrape, a probe): the request path only bumps atomic
//! counters and the per-node histograms it already keeps.

use std::net::SocketAddr;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::cluster::{ClusterView, NodeState};
use crate::pool::{Health, LoginAs};
use crate::request::Coordinator;
use crate::server::ServerMetrics;

/// The content type of [`MetricsExporter::render`]'s text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The upper bounds of the replica latency histogram's buckets, in microseconds.
pub const LATENCY_BUCKETS_MICROS: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// Renders the metrics of a coordinator (and of the front end serving clients over it) as
/// OpenMetrics text: Prometheus scrapes it as it is.
///
/// Metric families (all prefixed `ringgate_`):
/// - `requests_total{opcode,outcome}`: client requests by opcode and outcome (`ok` or the
///   CQL error's name);
/// - `client_connections`, `client_connections_accepted_total`,
///   `client_connections_refused_total`, `client_tls_handshake_failures_total`,
///   `client_read_bytes_total`, `client_written_bytes_total`;
/// - `coordinator_requests_total`, `coordinator_errors_total`, `retries_total`,
///   `speculative_executions_total`, `reprepares_total`, `timeouts_total`,
///   `stream_ids_exhausted_total`: the request path's counters;
/// - `replica_read_bytes_total`, `replica_written_bytes_total` (the whole process's);
/// - `replica_latency_seconds{replica}` (a histogram), `replica_errors_total{replica}`;
/// - `pool_connections`, `pool_in_flight`, `pool_orphaned_streams`, `pool_up`, each
///   `{replica,identity,version}` (`version`: the protocol version a pool is kept to for
///   clients that speak it, or `newest`).
#[derive(Debug)]
pub struct MetricsExporter {
    registry: Registry,
}

impl MetricsExporter {
    /// An exporter of `coordinator`'s metrics and, when given, a front end's.
    pub fn new(coordinator: Coordinator, server: Option<ServerMetrics>) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Sources {
            coordinator,
            server,
        }));
        MetricsExporter { registry }
    }

    /// Every metric now, as OpenMetrics text (content type [`OPENMETRICS_CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail; the encoders' own errors come from it only.
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
            out.push_str("# EOF\n");
        }
        out
    }
}

#[derive(Debug)]
struct Sources {
    coordinator: Coordinator,
    server: Option<ServerMetrics>,
}

type Fmt = Result<(), std::fmt::Error>;

/// Reads one gauge of a pool.
type PoolGauge = fn(&crate::pool::PoolSnapshot) -> i64;

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Fmt {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> Fmt {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn identity_label(identity: &LoginAs) -> String {
    match identity {
        LoginAs::Service => "service".to_owned(),
        LoginAs::User(name) => format!("user/{name}"),
    }
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Collector for Sources {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Fmt {
        if let Some(server) = &self.server {
            let s = server.snapshot();
            let mut family = encoder.encode_descriptor(
                "ringgate_requests",
                "Client requests by opcode and outcome (ok, or the CQL error).",
                None,
                MetricType::Counter,
            )?;
            for (opcode, outcome, count) in &s.requests {
                let labels = [("opcode", *opcode), ("outcome", *outcome)];
                ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
            }
            gauge(
                &mut encoder,
                "ringgate_client_connections",
                "Clients connected now.",
                i64::try_from(s.connections_open).unwrap_or(i64::MAX),
            )?;
            for (name, help, value) in [
                (
                    "ringgate_client_connections_accepted",
                    "Client connections accepted.",
                    s.connections_accepted,
                ),
                (
                    "ringgate_client_connections_refused",
                    "Client connections closed at once: the client limit was reached.",
                    s.connections_refused,
                ),
                (
                    "ringgate_client_tls_handshake_failures",
                    "Clients refused because their TLS handshake failed.",
                    s.tls_handshake_failures,
                ),
                (
                    "ringgate_client_read_bytes",
                    "Bytes read from clients.",
                    s.bytes_in,
                ),
                (
                    "ringgate_client_written_bytes",
                    "Bytes written to clients.",
                    s.bytes_out,
                ),
            ] {
                counter(&mut encoder, name, help, value)?;
            }
        }

        let m = self.coordinator.metrics().snapshot();
        for (name, help, value) in [
            (
                "ringgate_coordinator_requests",
                "Requests the coordinator ran (attempts not counted).",
                m.requests,
            ),
            (
                "ringgate_coordinator_errors",
                "Requests that ended in an error.",
                m.errors,
            ),
            (
                "ringgate_retries",
                "Retries, on the same replica or the next.",
                m.retries,
            ),
            (
                "ringgate_speculative_executions",
                "Speculative executions started.",
                m.speculative_executions,
            ),
            (
                "ringgate_reprepares",
                "Statements prepared again after an UNPREPARED answer.",
                m.reprepares,
            ),
            (
                "ringgate_timeouts",
                "Attempts that got no answer in time.",
                m.timeouts,
            ),
            (
                "ringgate_stream_ids_exhausted",
                "Attempts not sent: no stream id came free in time on the replica's connections.",
                m.stream_ids_exhausted,
            ),
        ] {
            counter(&mut encoder, name, help, value)?;
        }

        let (read, written) = crate::pool::replica_bytes();
        counter(
            &mut encoder,
            "ringgate_replica_read_bytes",
            "Bytes read from replicas (every connection of the process).",
            read,
        )?;
        counter(
            &mut encoder,
            "ringgate_replica_written_bytes",
            "Bytes written to replicas (every connection of the process).",
            written,
        )?;

        let histograms = self
            .coordinator
            .metrics()
            .latency_histograms(&LATENCY_BUCKETS_MICROS);
        if !histograms.is_empty() {
            let mut family = encoder.encode_descriptor(
                "ringgate_replica_latency_seconds",
                "Response time of each replica (every answer, errors included).",
                None,
                MetricType::Histogram,
            )?;
            for h in &histograms {
                let replica = h.addr.to_string();
                let labels = [("replica", replica.as_str())];
                let mut buckets: Vec<(f64, u64)> = LATENCY_BUCKETS_MICROS
                    .iter()
                    .map(|b| *b as f64 / 1e6)
                    .chain(std::iter::once(f64::MAX))
                    .zip(h.buckets.iter().copied())
                    .collect();
                // `buckets` has one more entry than the bounds: +Inf.
                buckets.truncate(LATENCY_BUCKETS_MICROS.len() + 1);
                family
                    .encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(
                        h.sum_micros as f64 / 1e6,
                        h.count,
                        &buckets,
                        None,
                    )?;
            }
            let mut family = encoder.encode_descriptor(
                "ringgate_replica_errors",
                "Failed attempts on each replica.",
                None,
                MetricType::Counter,
            )?;
            for n in &m.nodes {
                let replica = n.addr.to_string();
                let labels = [("replica", replica.as_str())];
                ConstCounter::new(n.errors).encode(family.encode_family(&labels)?)?;
            }
        }

        let pools = self.coordinator.pools().snapshot();
        if !pools.is_empty() {
            let labelled: Vec<(String, String, String)> = pools
                .iter()
                .map(|p| {
                    let version = p
                        .version
                        .map_or_else(|| "newest".to_owned(), |v| format!("v{}", v as u8));
                    (p.addr.to_string(), identity_label(&p.identity), version)
                })
                .collect();
            let values: [(&str, &str, PoolGauge); 4] = [
                (
                    "ringgate_pool_connections",
                    "Open connections of each pool (replica and identity).",
                    |p| to_i64(p.open_connections),
                ),
                (
                    "ringgate_pool_in_flight",
                    "Stream ids in flight over each pool's connections.",
                    |p| to_i64(p.in_flight),
                ),
                (
                    "ringgate_pool_orphaned_streams",
                    "Stream ids held by requests that timed out unanswered, per pool.",
                    |p| to_i64(p.orphaned),
                ),
                (
                    "ringgate_pool_up",
                    "Whether each pool has a connection (1) or not (0).",
                    |p| i64::from(p.up),
                ),
            ];
            for (name, help, value) in values {
                let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
                for (pool, (replica, identity, version)) in pools.iter().zip(&labelled) {
                    let labels = [
                        ("replica", replica.as_str()),
                        ("identity", identity.as_str()),
                        ("version", version.as_str()),
                    ];
                    ConstGauge::new(value(pool)).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}

/// Whether a node can serve, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Ready to serve.
    pub ready: bool,
    /// What was found: a short sentence for the operator.
    pub reason: String,
}

/// Whether `coordinator` can serve: its cluster view has a token ring, a node of the local
/// datacenter (any node when none is configured) is reachable, and for every keyspace every
/// token range with replicas in the local datacenter has one reachable. Reachable: up in the
/// view and its connection pool connected.
pub fn readiness(coordinator: &Coordinator) -> Readiness {
    let view = coordinator.cluster().view();
    let pools = coordinator.pools();
    readiness_of(&view, coordinator.local_dc(), |addr| {
        pools.health(addr) == Some(Health::Up)
    })
}

/// [`readiness`] over `view`, with `connected` telling which nodes' pools are connected.
pub fn readiness_of(
    view: &ClusterView,
    local_dc: Option<&str>,
    connected: impl Fn(SocketAddr) -> bool,
) -> Readiness {
    let not = |reason: String| Readiness {
        ready: false,
        reason,
    };
    let Some(ring) = view.ring() else {
        return not("the cluster view has no token ring yet".to_owned());
    };
    let local =
        |addr: &SocketAddr| local_dc.is_none_or(|dc| view.node(addr).is_some_and(|n| n.dc == dc));
    let reachable = |addr: &SocketAddr| {
        view.node(addr).is_some_and(|n| n.state == NodeState::Up) && connected(*addr)
    };
    let dc = local_dc.unwrap_or("any datacenter");
    let locals = view.nodes().filter(|n| local(&n.addr)).count();
    let up = view
        .nodes()
        .filter(|n| local(&n.addr) && reachable(&n.addr))
        .count();
    if up == 0 {
        return not(format!(
            "no node of {dc} is reachable ({locals} known there)"
        ));
    }
    let mut keyspaces: Vec<&str> = view.keyspaces().map(|k| k.name.as_str()).collect();
    keyspaces.sort_unstable();
    for keyspace in keyspaces {
        let Some(placement) = view.placement(keyspace) else {
            continue;
        };
        for token in ring.tokens() {
            let mut replicas = view.replicas(placement, *token).filter(local).peekable();
            if replicas.peek().is_none() {
                continue;
            }
            if !replicas.any(|r| reachable(&r)) {
                return not(format!(
                    "keyspace {keyspace}: no replica in {dc} is reachable for the range ending at token {token}"
                ));
            }
        }
    }
    Readiness {
        ready: true,
        reason: format!("{up} of {locals} nodes of {dc} reachable; every range has a replica"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{KeyspaceMeta, Node};

    fn node(last: u8, dc: &str, token: i64) -> Node {
        Node {
            host_id: [last; 16],
            addr: addr(last),
            dc: dc.into(),
            rack: "rack1".into(),
            tokens: vec![token],
            release_version: "5.0.8".into(),
            schema_version: Some([1; 16]),
            state: NodeState::Up,
        }
    }

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, last], 9042))
    }

    fn keyspace(name: &str, dc1: &str) -> KeyspaceMeta {
        KeyspaceMeta {
            name: name.into(),
            replication: [
                (
                    "class".to_owned(),
                    "org.apache.cassandra.locator.NetworkTopologyStrategy".to_owned(),
                ),
                ("dc1".to_owned(), dc1.to_owned()),
                ("dc2".to_owned(), "1".to_owned()),
            ]
            .into_iter()
            .collect(),
            durable_writes: true,
            tables: Default::default(),
            user_types: Default::default(),
        }
    }

    fn view(rf: &str) -> ClusterView {
        ClusterView::new(
            "test".into(),
            "org.apache.cassandra.dht.Murmur3Partitioner".into(),
            [
                node(1, "dc1", i64::MIN),
                node(2, "dc1", 0),
                node(3, "dc2", i64::MIN + 100),
            ],
            [keyspace("ks", rf)],
        )
        .unwrap()
    }

    #[test]
    fn ready_when_every_local_range_has_a_reachable_replica() {
        let all = |_: SocketAddr| true;
        let r = readiness_of(&view("1"), Some("dc1"), all);
        assert!(r.ready, "{r:?}");
        // dc2 down does not matter to dc1.
        let r = readiness_of(&view("1"), Some("dc1"), |a| a != addr(3));
        assert!(r.ready, "{r:?}");
        // One replica per range in dc1: node 2 down leaves its range without one.
        let r = readiness_of(&view("1"), Some("dc1"), |a| a != addr(2));
        assert!(!r.ready);
        assert!(r.reason.contains("keyspace ks"), "{r:?}");
        // Two replicas per range: either node serves every range.
        let r = readiness_of(&view("2"), Some("dc1"), |a| a != addr(2));
        assert!(r.ready, "{r:?}");
        // A node down in the view is not reachable, whatever its pool says.
        let down = view("2").with_node_state(addr(1), NodeState::Down).unwrap();
        let r = readiness_of(&down, Some("dc1"), |a| a != addr(2));
        assert!(!r.ready);
        assert!(r.reason.contains("no node of dc1"), "{r:?}");
        let r = readiness_of(&view("1"), Some("dc9"), all);
        assert!(!r.ready);
        assert!(r.reason.contains("dc9"), "{r:?}");
        let empty = ClusterView::new("t".into(), "p".into(), [], []).unwrap();
        assert!(!readiness_of(&empty, None, all).ready);
    }
}

//! Request metrics: per-node latency histograms and request counters, readable as plain data
//! ([`Metrics::snapshot`]) and as Prometheus text ([`render_prometheus`]).
//!
//! Recording is cheap: counters are relaxed atomics, and a latency goes into its node's
//! histogram under that node's own mutex (held for one increment), found in a concurrent map
//! without a global lock.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use dashmap::DashMap;
use hdrhistogram::Histogram;

/// The highest latency a histogram tells apart, in microseconds (one minute); longer ones are
/// recorded as this.
pub const MAX_TRACKED_MICROS: u64 = 60_000_000;

/// Samples a node's histogram needs before [`Metrics::latency_percentile`] answers.
pub const MIN_SAMPLES: u64 = 100;

/// Shared request metrics. Cloning is cheap and every clone records into the same data.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    nodes: DashMap<SocketAddr, Arc<NodeMetrics>, crate::FastHash>,
    requests: AtomicU64,
    errors: AtomicU64,
    retries: AtomicU64,
    speculative_executions: AtomicU64,
    reprepares: AtomicU64,
    timeouts: AtomicU64,
}

#[derive(Debug)]
struct NodeMetrics {
    /// `None` only if the histogram could not be built (its bounds are constants it accepts).
    latency: Option<Mutex<Latency>>,
    errors: AtomicU64,
}

#[derive(Debug)]
struct Latency {
    histogram: Histogram<u64>,
    sum_micros: u64,
    /// The last percentile computed, reused until the histogram grows by 1/64.
    cached: Option<CachedPercentile>,
}

#[derive(Debug, Clone, Copy)]
struct CachedPercentile {
    percentile: f64,
    at_len: u64,
    micros: u64,
}

impl NodeMetrics {
    fn new() -> Self {
        let latency = Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 2)
            .ok()
            .map(|histogram| {
                Mutex::new(Latency {
                    histogram,
                    sum_micros: 0,
                    cached: None,
                })
            });
        NodeMetrics {
            latency,
            errors: AtomicU64::new(0),
        }
    }

    fn record_latency(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if let Some(l) = &self.latency {
            let mut l = l.lock().unwrap_or_else(PoisonError::into_inner);
            l.histogram.saturating_record(micros.max(1));
            l.sum_micros = l.sum_micros.saturating_add(micros);
        }
    }

    fn record_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    fn latency_percentile(&self, percentile: f64) -> Option<Duration> {
        if !(0.0..=100.0).contains(&percentile) {
            return None;
        }
        let mut l = self
            .latency
            .as_ref()?
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let len = l.histogram.len();
        if len < MIN_SAMPLES {
            return None;
        }
        // Walking the histogram costs a few hundred buckets; a percentile moves little while
        // the histogram grows by under 1/64, so the last answer stands until then.
        if let Some(c) = l.cached {
            if c.percentile == percentile && len < c.at_len.saturating_add(c.at_len / 64) {
                return Some(Duration::from_micros(c.micros));
            }
        }
        let micros = l.histogram.value_at_percentile(percentile);
        l.cached = Some(CachedPercentile {
            percentile,
            at_len: len,
            micros,
        });
        Some(Duration::from_micros(micros))
    }
}

/// One node's metrics, for a caller that records into them often (the request layer, once
/// per node): recording through it skips looking the node up. Cheap to clone.
#[derive(Debug, Clone)]
pub struct NodeRecorder {
    node: Arc<NodeMetrics>,
}

impl NodeRecorder {
    /// As [`Metrics::record_latency`] for this node.
    pub fn record_latency(&self, latency: Duration) {
        self.node.record_latency(latency);
    }

    /// As [`Metrics::record_node_error`] for this node.
    pub fn record_error(&self) {
        self.node.record_error();
    }

    /// As [`Metrics::latency_percentile`] for this node.
    pub fn latency_percentile(&self, percentile: f64) -> Option<Duration> {
        self.node.latency_percentile(percentile)
    }
}

/// A global counter [`Metrics`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Requests started by the caller (not attempts).
    Requests,
    /// Requests that ended in an error for the caller.
    Errors,
    /// Retries, on the same node or the next.
    Retries,
    /// Speculative executions started.
    SpeculativeExecutions,
    /// Statements re-prepared after an UNPREPARED answer.
    Reprepares,
    /// Attempts that got no answer within the client-side timeout.
    Timeouts,
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one to `counter`.
    pub fn increment(&self, counter: Counter) {
        self.counter(counter).fetch_add(1, Ordering::Relaxed);
    }

    fn counter(&self, counter: Counter) -> &AtomicU64 {
        let i = &self.inner;
        match counter {
            Counter::Requests => &i.requests,
            Counter::Errors => &i.errors,
            Counter::Retries => &i.retries,
            Counter::SpeculativeExecutions => &i.speculative_executions,
            Counter::Reprepares => &i.reprepares,
            Counter::Timeouts => &i.timeouts,
        }
    }

    /// Records that `node` answered one attempt after `latency` (any answer, errors included:
    /// it is the node's response time).
    pub fn record_latency(&self, node: SocketAddr, latency: Duration) {
        self.with_node(node, |n| n.record_latency(latency));
    }

    /// Records that an attempt on `node` failed (an ERROR, a broken connection, a timeout).
    pub fn record_node_error(&self, node: SocketAddr) {
        self.with_node(node, NodeMetrics::record_error);
    }

    /// `node`'s metrics, created when new, to record into without looking it up each time.
    /// After [`Metrics::retain_nodes`] drops the node, what it records is no longer reported.
    pub fn node(&self, node: SocketAddr) -> NodeRecorder {
        let node = match self.inner.nodes.get(&node) {
            Some(n) => Arc::clone(&n),
            None => Arc::clone(
                &self
                    .inner
                    .nodes
                    .entry(node)
                    .or_insert_with(|| Arc::new(NodeMetrics::new())),
            ),
        };
        NodeRecorder { node }
    }

    fn with_node(&self, node: SocketAddr, f: impl FnOnce(&NodeMetrics)) {
        if let Some(n) = self.inner.nodes.get(&node) {
            return f(&n);
        }
        let n = self
            .inner
            .nodes
            .entry(node)
            .or_insert_with(|| Arc::new(NodeMetrics::new()));
        f(&n);
    }

    /// `node`'s latency at `percentile` (0–100), once its histogram holds at least
    /// [`MIN_SAMPLES`] samples; `None` before, for an unknown node, or for a percentile out
    /// of range. The histogram covers every answer since the node was first seen.
    pub fn latency_percentile(&self, node: SocketAddr, percentile: f64) -> Option<Duration> {
        self.inner.nodes.get(&node)?.latency_percentile(percentile)
    }

    /// Forgets every node whose address `keep` rejects (nodes that left the cluster).
    pub fn retain_nodes(&self, mut keep: impl FnMut(&SocketAddr) -> bool) {
        self.inner.nodes.retain(|addr, _| keep(addr));
    }

    /// A copy of every counter and of each node's latency summary, nodes sorted by address.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let load = |c| self.counter(c).load(Ordering::Relaxed);
        let mut nodes: Vec<NodeSnapshot> = self
            .inner
            .nodes
            .iter()
            .map(|entry| {
                let mut s = NodeSnapshot {
                    addr: *entry.key(),
                    count: 0,
                    errors: entry.errors.load(Ordering::Relaxed),
                    sum_micros: 0,
                    p50_micros: 0,
                    p90_micros: 0,
                    p99_micros: 0,
                    p999_micros: 0,
                    max_micros: 0,
                };
                if let Some(l) = &entry.latency {
                    let l = l.lock().unwrap_or_else(PoisonError::into_inner);
                    let h = &l.histogram;
                    s.count = h.len();
                    s.sum_micros = l.sum_micros;
                    if !h.is_empty() {
                        s.p50_micros = h.value_at_quantile(0.5);
                        s.p90_micros = h.value_at_quantile(0.9);
                        s.p99_micros = h.value_at_quantile(0.99);
                        s.p999_micros = h.value_at_quantile(0.999);
                        s.max_micros = h.max();
                    }
                }
                s
            })
            .collect();
        nodes.sort_by_key(|n| n.addr);
        MetricsSnapshot {
            requests: load(Counter::Requests),
            errors: load(Counter::Errors),
            retries: load(Counter::Retries),
            speculative_executions: load(Counter::SpeculativeExecutions),
            reprepares: load(Counter::Reprepares),
            timeouts: load(Counter::Timeouts),
            nodes,
        }
    }
}

/// The metrics at one moment, as plain data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    /// Requests started.
    pub requests: u64,
    /// Requests that failed for the caller.
    pub errors: u64,
    /// Retries.
    pub retries: u64,
    /// Speculative executions started.
    pub speculative_executions: u64,
    /// Re-prepares after UNPREPARED.
    pub reprepares: u64,
    /// Attempts timed out on the client side.
    pub timeouts: u64,
    /// Each node's attempts, by address.
    pub nodes: Vec<NodeSnapshot>,
}

/// One node's attempts. Latencies are in microseconds, at the histogram's precision (two
/// significant digits); all zero while `count` is zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSnapshot {
    /// The node.
    pub addr: SocketAddr,
    /// Answers timed.
    pub count: u64,
    /// Attempts that failed.
    pub errors: u64,
    /// The sum of the timed latencies.
    pub sum_micros: u64,
    /// Median latency.
    pub p50_micros: u64,
    /// 90th percentile.
    pub p90_micros: u64,
    /// 99th percentile.
    pub p99_micros: u64,
    /// 99.9th percentile.
    pub p999_micros: u64,
    /// The highest latency.
    pub max_micros: u64,
}

/// `snapshot` in the Prometheus text exposition format (version 0.0.4): the counters as
/// `ringgate_*_total`, each node's latency as the summary `ringgate_node_latency_seconds`
/// (quantiles, `_sum`, `_count`), its errors and its highest latency, labelled `node`.
pub fn render_prometheus(snapshot: &MetricsSnapshot) -> String {
    let mut out = String::with_capacity(1024 + snapshot.nodes.len() * 512);
    let counters = [
        ("requests", "Requests started.", snapshot.requests),
        ("errors", "Requests that failed.", snapshot.errors),
        ("retries", "Retries.", snapshot.retries),
        (
            "speculative_executions",
            "Speculative executions started.",
            snapshot.speculative_executions,
        ),
        (
            "reprepares",
            "Statements re-prepared after UNPREPARED.",
            snapshot.reprepares,
        ),
        ("timeouts", "Attempts timed out.", snapshot.timeouts),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP ringgate_{name}_total {help}");
        let _ = writeln!(out, "# TYPE ringgate_{name}_total counter");
        let _ = writeln!(out, "ringgate_{name}_total {value}");
    }
    if snapshot.nodes.is_empty() {
        return out;
    }
    let seconds = |micros: u64| micros as f64 / 1e6;
    out.push_str("# HELP ringgate_node_latency_seconds Response time of each node.\n");
    out.push_str("# TYPE ringgate_node_latency_seconds summary\n");
    for n in &snapshot.nodes {
        let node = escape_label(&n.addr.to_string());
        for (q, v) in [
            ("0.5", n.p50_micros),
            ("0.9", n.p90_micros),
            ("0.99", n.p99_micros),
            ("0.999", n.p999_micros),
        ] {
            let _ = writeln!(
                out,
                "ringgate_node_latency_seconds{{node=\"{node}\",quantile=\"{q}\"}} {}",
                seconds(v)
            );
        }
        let _ = writeln!(
            out,
            "ringgate_node_latency_seconds_sum{{node=\"{node}\"}} {}",
            seconds(n.sum_micros)
        );
        let _ = writeln!(
            out,
            "ringgate_node_latency_seconds_count{{node=\"{node}\"}} {}",
            n.count
        );
    }
    out.push_str("# HELP ringgate_node_latency_max_seconds Highest response time of each node.\n");
    out.push_str("# TYPE ringgate_node_latency_max_seconds gauge\n");
    for n in &snapshot.nodes {
        let node = escape_label(&n.addr.to_string());
        let _ = writeln!(
            out,
            "ringgate_node_latency_max_seconds{{node=\"{node}\"}} {}",
            seconds(n.max_micros)
        );
    }
    out.push_str("# HELP ringgate_node_errors_total Failed attempts on each node.\n");
    out.push_str("# TYPE ringgate_node_errors_total counter\n");
    for n in &snapshot.nodes {
        let node = escape_label(&n.addr.to_string());
        let _ = writeln!(
            out,
            "ringgate_node_errors_total{{node=\"{node}\"}} {}",
            n.errors
        );
    }
    out
}

/// A label value with `\`, `"` and newlines escaped as the exposition format requires.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], 9042))
    }

    #[test]
    fn concurrent_recording_sums_correctly() {
        let metrics = Metrics::new();
        let threads = 4u64;
        let per_thread = 5_000u64;
        std::thread::scope(|s| {
            for t in 0..threads {
                let m = metrics.clone();
                s.spawn(move || {
                    for i in 0..per_thread {
                        // Two nodes shared by every thread, so the same histograms contend.
                        let node = addr(u8::try_from(i % 2).unwrap() + 1);
                        m.record_latency(node, Duration::from_micros(100 + t));
                        m.increment(Counter::Requests);
                        if i % 10 == 0 {
                            m.increment(Counter::Retries);
                            m.record_node_error(node);
                        }
                    }
                });
            }
        });
        let snap = metrics.snapshot();
        assert_eq!(snap.requests, threads * per_thread);
        assert_eq!(snap.retries, threads * per_thread / 10);
        assert_eq!(snap.nodes.len(), 2);
        assert_eq!(
            snap.nodes.iter().map(|n| n.count).sum::<u64>(),
            threads * per_thread
        );
        assert_eq!(
            snap.nodes.iter().map(|n| n.errors).sum::<u64>(),
            threads * per_thread / 10
        );
        let expected_sum: u64 = (0..threads).map(|t| (100 + t) * per_thread).sum();
        assert_eq!(
            snap.nodes.iter().map(|n| n.sum_micros).sum::<u64>(),
            expected_sum
        );
        assert_eq!(snap.nodes[0].addr, addr(1));
    }

    #[test]
    fn percentiles_follow_the_recorded_distribution() {
        let metrics = Metrics::new();
        let node = addr(1);
        // 1..=1000 µs, once each.
        for us in 1..=1000 {
            metrics.record_latency(node, Duration::from_micros(us));
        }
        metrics.record_latency(node, Duration::from_secs(3600)); // saturates at the bound
        let n = &metrics.snapshot().nodes[0];
        assert_eq!(n.count, 1001);
        let near = |got: u64, want: u64| got.abs_diff(want) * 100 <= want; // within 1 %
        assert!(near(n.p50_micros, 500), "{n:?}");
        assert!(near(n.p90_micros, 900), "{n:?}");
        assert!(near(n.p99_micros, 990), "{n:?}");
        assert!(n.p50_micros <= n.p90_micros && n.p90_micros <= n.p99_micros);
        assert!(n.p99_micros <= n.p999_micros && n.p999_micros <= n.max_micros);
        assert!(near(n.max_micros, MAX_TRACKED_MICROS), "{n:?}");
        let p90 = metrics.latency_percentile(node, 90.0).unwrap();
        assert!(near(u64::try_from(p90.as_micros()).unwrap(), 900));
        assert_eq!(metrics.latency_percentile(node, 101.0), None);
        assert_eq!(metrics.latency_percentile(node, f64::NAN), None);
        assert_eq!(metrics.latency_percentile(addr(2), 50.0), None);
    }

    #[test]
    fn percentiles_wait_for_enough_samples() {
        let metrics = Metrics::new();
        for _ in 1..MIN_SAMPLES {
            metrics.record_latency(addr(1), Duration::from_millis(1));
        }
        assert_eq!(metrics.latency_percentile(addr(1), 99.0), None);
        metrics.record_latency(addr(1), Duration::from_millis(1));
        assert!(metrics.latency_percentile(addr(1), 99.0).is_some());
        metrics.retain_nodes(|a| *a != addr(1));
        assert_eq!(metrics.latency_percentile(addr(1), 99.0), None);
        assert!(metrics.snapshot().nodes.is_empty());
    }

    #[test]
    fn recorders_share_the_node_and_percentiles_follow_growth() {
        let metrics = Metrics::new();
        let rec = metrics.node(addr(3));
        for _ in 0..200 {
            rec.record_latency(Duration::from_millis(1));
        }
        metrics.record_latency(addr(3), Duration::from_millis(1));
        rec.record_error();
        let p99 = rec.latency_percentile(99.0).unwrap();
        assert!(p99 <= Duration::from_micros(1_010), "{p99:?}");
        assert_eq!(
            metrics.latency_percentile(addr(3), 99.0),
            Some(p99),
            "cached"
        );
        // Enough slow answers to move the 99th percentile, and to outgrow the cached one.
        for _ in 0..100 {
            rec.record_latency(Duration::from_millis(50));
        }
        let p99 = metrics.latency_percentile(addr(3), 99.0).unwrap();
        assert!(p99 >= Duration::from_millis(49), "{p99:?}");
        let p50 = rec.latency_percentile(50.0).unwrap();
        assert!(
            p50 <= Duration::from_micros(1_010),
            "another percentile is computed anew"
        );
        let snap = metrics.snapshot();
        assert_eq!((snap.nodes[0].count, snap.nodes[0].errors), (301, 1));
    }

    /// Splits one exposition line into (name, labels, value), or fails the test.
    fn parse_sample(line: &str) -> (String, Vec<(String, String)>, f64) {
        let (series, value) = line.rsplit_once(' ').expect("a value");
        let value: f64 = value.parse().expect("a number");
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), Vec::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("closing brace");
                let labels = body
                    .split("\",")
                    .map(|pair| {
                        let (k, v) = pair.split_once("=\"").expect("key=\"value\"");
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (name.to_string(), labels)
            }
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "metric name {name:?}"
        );
        (name, labels, value)
    }

    #[test]
    fn prometheus_text_is_name_labels_value_lines() {
        let metrics = Metrics::new();
        for us in [100, 200, 300] {
            metrics.record_latency(addr(1), Duration::from_micros(us));
        }
        metrics.record_latency("[::1]:9042".parse().unwrap(), Duration::from_millis(2));
        metrics.increment(Counter::Requests);
        metrics.increment(Counter::Reprepares);
        metrics.increment(Counter::Reprepares);
        let text = render_prometheus(&metrics.snapshot());
        let mut samples = Vec::new();
        for line in text.lines() {
            if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
                continue;
            }
            samples.push(parse_sample(line));
        }
        let find = |name: &str, node: Option<&str>| {
            samples
                .iter()
                .find(|(n, l, _)| {
                    n == name && node.is_none_or(|a| l.iter().any(|(k, v)| k == "node" && v == a))
                })
                .map(|(_, _, v)| *v)
        };
        assert_eq!(find("ringgate_requests_total", None), Some(1.0));
        assert_eq!(find("ringgate_reprepares_total", None), Some(2.0));
        assert_eq!(find("ringgate_retries_total", None), Some(0.0));
        assert_eq!(
            find("ringgate_node_latency_seconds_count", Some("10.0.0.1:9042")),
            Some(3.0)
        );
        assert_eq!(
            find("ringgate_node_latency_seconds_sum", Some("10.0.0.1:9042")),
            Some(0.0006)
        );
        assert_eq!(
            find("ringgate_node_latency_seconds_count", Some("[::1]:9042")),
            Some(1.0)
        );
        let quantiles = samples
            .iter()
            .filter(|(n, _, _)| n == "ringgate_node_latency_seconds")
            .count();
        assert_eq!(quantiles, 8, "four quantiles for each of two nodes");
        assert!(text.ends_with('\n'));
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

//! Speculative execution: when an idempotent request is slow on its node, the same request
//! also goes to the next node of its plan, and the first answer wins.
//!
//! Only idempotent requests may be speculated (the caller checks): a write sent twice may be
//! applied twice.

use std::time::Duration;

use crate::metrics::NodeRecorder;

/// When to start speculative executions.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum SpeculativeExecution {
    /// Never.
    #[default]
    None,
    /// After a fixed delay without an answer.
    Fixed {
        /// How long to wait for an answer before starting each next execution.
        delay: Duration,
        /// The most executions started beside the first.
        max_executions: u32,
    },
    /// After the node's latency at a percentile: a request slower than, say, 99 % of its
    /// node's answers is likely stuck behind something.
    Percentile {
        /// The percentile (0–100) of the node's latency histogram, e.g. 99.0.
        percentile: f64,
        /// The most executions started beside the first.
        max_executions: u32,
    },
}

impl SpeculativeExecution {
    /// How long to wait before starting the next execution of a request running on the node
    /// whose metrics are `node` ([`crate::metrics::Metrics::node`]),
    /// of which `started` speculative executions were already started (0 before the first);
    /// `None` for no further execution.
    ///
    /// A percentile policy speculates only once `node` has enough samples
    /// ([`crate::metrics::MIN_SAMPLES`]): before that its percentile says nothing.
    pub fn next_delay(&self, node: &NodeRecorder, started: u32) -> Option<Duration> {
        match *self {
            Self::None => None,
            Self::Fixed {
                delay,
                max_executions,
            } => (started < max_executions).then_some(delay),
            Self::Percentile {
                percentile,
                max_executions,
            } => {
                if started >= max_executions {
                    return None;
                }
                node.latency_percentile(percentile)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::metrics::Metrics;

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], 9042))
    }

    #[test]
    fn none_never_speculates() {
        let m = Metrics::new();
        assert_eq!(
            SpeculativeExecution::None.next_delay(&m.node(addr(1)), 0),
            None
        );
    }

    #[test]
    fn fixed_speculates_up_to_the_limit() {
        let m = Metrics::new();
        let s = SpeculativeExecution::Fixed {
            delay: Duration::from_millis(5),
            max_executions: 2,
        };
        assert_eq!(
            s.next_delay(&m.node(addr(1)), 0),
            Some(Duration::from_millis(5))
        );
        assert_eq!(
            s.next_delay(&m.node(addr(1)), 1),
            Some(Duration::from_millis(5))
        );
        assert_eq!(s.next_delay(&m.node(addr(1)), 2), None);
        let zero = SpeculativeExecution::Fixed {
            delay: Duration::from_millis(5),
            max_executions: 0,
        };
        assert_eq!(zero.next_delay(&m.node(addr(1)), 0), None);
    }

    #[test]
    fn percentile_waits_for_samples_then_follows_the_node() {
        let m = Metrics::new();
        let s = SpeculativeExecution::Percentile {
            percentile: 99.0,
            max_executions: 1,
        };
        for _ in 0..50 {
            m.record_latency(addr(1), Duration::from_micros(1_000));
        }
        assert_eq!(s.next_delay(&m.node(addr(1)), 0), None, "too few samples");
        for i in 0..950u64 {
            // Mostly 1 ms, a slow tail of 20 ms on 2 %.
            let us = if i % 50 == 0 { 20_000 } else { 1_000 };
            m.record_latency(addr(1), Duration::from_micros(us));
        }
        let d = s.next_delay(&m.node(addr(1)), 0).unwrap();
        assert!(
            d >= Duration::from_micros(19_800) && d <= Duration::from_micros(20_200),
            "{d:?}"
        );
        assert_eq!(s.next_delay(&m.node(addr(1)), 1), None, "limit reached");
        assert_eq!(
            s.next_delay(&m.node(addr(2)), 0),
            None,
            "another node has no samples"
        );
        let median = SpeculativeExecution::Percentile {
            percentile: 50.0,
            max_executions: 1,
        };
        let d = median.next_delay(&m.node(addr(1)), 0).unwrap();
        assert!(d <= Duration::from_micros(1_010), "{d:?}");
    }
}

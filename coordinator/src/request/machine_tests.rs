//! Every path of the request loop, driven with scripted outcomes and times.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use ringgate_protocol::message::{Consistency, ErrorDetails, ErrorResponse, WriteType};

use super::*;
use crate::pool::ConnectionError;

fn node(n: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, n], 9042))
}

fn plan(n: u8) -> std::vec::IntoIter<SocketAddr> {
    (1..=n).map(node).collect::<Vec<_>>().into_iter()
}

fn server(details: ErrorDetails) -> NodeFailure {
    NodeFailure::Server(Box::new(ErrorResponse::new(details, "scripted")))
}

fn unavailable() -> NodeFailure {
    server(ErrorDetails::Unavailable {
        consistency: Consistency::Quorum,
        required: 2,
        alive: 1,
    })
}

fn unprepared() -> NodeFailure {
    server(ErrorDetails::Unprepared {
        id: Bytes::from_static(b"id"),
    })
}

fn broken() -> NodeFailure {
    NodeFailure::Connection(ConnectionError::Closed {
        addr: node(9),
        reason: "reset".into(),
    })
}

/// No speculative executions.
struct NoSpeculation;

impl Speculation for NoSpeculation {
    fn delay(&self, _: SocketAddr, _: u32) -> Option<Duration> {
        None
    }
}

/// Speculates after a fixed delay, at most `max` times.
struct Fixed(Duration, u32);

impl Speculation for Fixed {
    fn delay(&self, _: SocketAddr, started: u32) -> Option<Duration> {
        (started < self.1).then_some(self.0)
    }
}

fn start(attempt: AttemptId, n: u8, reason: Reason) -> Action {
    Action::Start {
        attempt,
        node: node(n),
        reason,
    }
}

fn actions<P: Iterator<Item = SocketAddr>>(m: &mut RequestLoop<'_, P>) -> Vec<Action> {
    std::iter::from_fn(|| m.poll_action()).collect()
}

#[test]
fn the_first_answer_is_the_requests() {
    let t0 = Instant::now();
    let mut m = RequestLoop::new(plan(3), false, RetryPolicy::Default, &NoSpeculation, t0);
    assert_eq!(actions(&mut m), [start(0, 1, Reason::First)]);
    assert_eq!(m.deadline(), None);
    m.answered(0);
    assert_eq!(actions(&mut m), [Action::Finish(Ok(node(1)))]);
    // Late news of a finished request changes nothing.
    m.answered(0);
    m.failed(0, broken(), t0);
    assert_eq!(actions(&mut m), []);
}

#[test]
fn an_empty_plan_fails_at_once() {
    let mut m = RequestLoop::new(
        plan(0),
        true,
        RetryPolicy::Default,
        &NoSpeculation,
        Instant::now(),
    );
    assert_eq!(
        actions(&mut m),
        [Action::Finish(Err(RequestError::NoHostAvailable(vec![])))]
    );
}

#[test]
fn unavailable_moves_to_the_next_node_once() {
    let t0 = Instant::now();
    let mut m = RequestLoop::new(plan(3), false, RetryPolicy::Default, &NoSpeculation, t0);
    actions(&mut m);
    m.failed(0, unavailable(), t0);
    assert_eq!(actions(&mut m), [start(1, 2, Reason::Retry)]);
    // A second Unavailable is the cluster's truth: returned.
    m.failed(1, unavailable(), t0);
    let [Action::Finish(Err(RequestError::Server { node: n, error }))] = &actions(&mut m)[..]
    else {
        panic!("the second unavailable is returned")
    };
    assert_eq!(*n, node(2));
    assert_eq!(error.details.code(), 0x1000);
}

#[test]
fn a_write_that_may_have_run_is_not_retried_unless_idempotent() {
    let t0 = Instant::now();
    for (idempotent, expect_retry) in [(false, false), (true, true)] {
        let mut m = RequestLoop::new(
            plan(2),
            idempotent,
            RetryPolicy::Default,
            &NoSpeculation,
            t0,
        );
        actions(&mut m);
        m.failed(0, NodeFailure::Timeout(Duration::from_secs(1)), t0);
        let next = actions(&mut m);
        if expect_retry {
            assert_eq!(next, [start(1, 2, Reason::Retry)]);
        } else {
            assert_eq!(
                next,
                [Action::Finish(Err(RequestError::Timeout {
                    after: Duration::from_secs(1)
                }))]
            );
        }
        let mut m = RequestLoop::new(
            plan(2),
            idempotent,
            RetryPolicy::Default,
            &NoSpeculation,
            t0,
        );
        actions(&mut m);
        m.failed(0, broken(), t0);
        assert_eq!(
            matches!(actions(&mut m)[..], [Action::Start { .. }]),
            expect_retry
        );
    }
}

#[test]
fn a_request_never_sent_goes_to_the_next_node_even_when_not_idempotent() {
    let t0 = Instant::now();
    let mut m = RequestLoop::new(plan(2), false, RetryPolicy::Never, &NoSpeculation, t0);
    actions(&mut m);
    m.failed(0, NodeFailure::NotSent("no connection".into()), t0);
    assert_eq!(actions(&mut m), [start(1, 2, Reason::Retry)]);
}

#[test]
fn every_node_busy_is_overloaded_with_each_nodes_failure() {
    let t0 = Instant::now();
    let busy = || NodeFailure::Busy(Duration::from_millis(5));
    let mut m = RequestLoop::new(plan(2), false, RetryPolicy::Default, &NoSpeculation, t0);
    actions(&mut m);
    m.failed(0, busy(), t0);
    assert_eq!(actions(&mut m), [start(1, 2, Reason::Retry)]);
    m.failed(1, busy(), t0);
    assert_eq!(
        actions(&mut m),
        [Action::Finish(Err(RequestError::Overloaded(vec![
            NodeError {
                node: node(1),
                failure: busy()
            },
            NodeError {
                node: node(2),
                failure: busy()
            },
        ])))]
    );
}

#[test]
fn an_exhausted_plan_lists_each_nodes_typed_failure() {
    let t0 = Instant::now();
    let mut m = RequestLoop::new(plan(2), true, RetryPolicy::Default, &NoSpeculation, t0);
    actions(&mut m);
    m.failed(0, NodeFailure::NotSent("down".into()), t0);
    actions(&mut m);
    m.failed(1, broken(), t0);
    assert_eq!(
        actions(&mut m),
        [Action::Finish(Err(RequestError::NoHostAvailable(vec![
            NodeError {
                node: node(1),
                failure: NodeFailure::NotSent("down".into())
            },
            NodeError {
                node: node(2),
                failure: broken()
            },
        ])))]
    );
}

#[test]
fn a_read_timeout_with_enough_replicas_retries_the_same_node_once() {
    let t0 = Instant::now();
    let timeout = || {
        server(ErrorDetails::ReadTimeout {
            consistency: Consistency::Quorum,
            received: 2,
            block_for: 2,
            data_present: false,
        })
    };
    let mut m = RequestLoop::new(plan(3), false, RetryPolicy::Default, &NoSpeculation, t0);
    actions(&mut m);
    m.failed(0, timeout(), t0);
    assert_eq!(actions(&mut m), [start(1, 1, Reason::Retry)]);
    m.failed(1, timeout(), t0);
    assert!(matches!(
        actions(&mut m)[..],
        [Action::Finish(Err(RequestError::Server { .. }))]
    ));
}

#[test]
fn a_batch_log_write_timeout_is_retried_only_when_idempotent() {
    let t0 = Instant::now();
    let timeout = || {
        server(ErrorDetails::WriteTimeout {
            consistency: Consistency::Quorum,
            received: 0,
            block_for: 2,
            write_type: WriteType::BatchLog,
            contentions: None,
        })
    };
    let mut m = RequestLoop::new(plan(3), true, RetryPolicy::Default, &NoSpeculation, t0);
    actions(&mut m);
    m.failed(0, timeout(), t0);
    assert_eq!(actions(&mut m), [start(1, 1, Reason::Retry)]);
}

#[test]
fn unprepared_is_healed_on_the_same_node_up_to_five_times_in_a_row() {
    let t0 = Instant::now();
    let mut m = RequestLoop::new(plan(3), false, RetryPolicy::Default, &NoSpeculation, t0);
    actions(&mut m);
    // Lost again right after each heal (a schema change spreading): healed again.
    for _ in 0..5 {
        m.failed(0, unprepared(), t0);
        assert_eq!(
            actions(&mut m),
            [Action::Reprepare {
                attempt: 0,
                node: node(1),
                id: Bytes::from_static(b"id"),
            }]
        );
        assert_eq!(m.running(), 1, "a re-prepare keeps the attempt alive");
        m.reprepared(0, Ok(()), t0);
        assert_eq!(actions(&mut m), [start(0, 1, Reason::Reprepared)]);
    }
    // Still unprepared after five heals: that is the node's answer now.
    m.failed(0, unprepared(), t0);
    let [Action::Finish(Err(RequestError::Server { error, .. }))] = &actions(&mut m)[..] else {
        panic!("the sixth UNPREPARED in a row is returned")
    };
    assert!(matches!(error.details, ErrorDetails::Unprepared { .. }));
}

#[test]
fn a_batchs_lost_statements_are_healed_one_after_another() {
    let t0 = Instant::now();
    let lost = |id: &'static [u8]| {
        server(ErrorDetails::Unprepared {
            id: Bytes::from_static(id),
        })
    };
    let mut m = RequestLoop::new(plan(3), false, RetryPolicy::Default, &NoSpeculation, t0);
    actions(&mut m);
    for id in [&b"a"[..], b"b", b"a", b"a", b"a", b"a", b"a"] {
        m.failed(0, lost(id), t0);
        assert_eq!(
            actions(&mut m),
            [Action::Reprepare {
                attempt: 0,
                node: node(1),
                id: Bytes::from_static(id),
            }]
        );
        m.reprepared(0, Ok(()), t0);
        assert_eq!(actions(&mut m), [start(0, 1, Reason::Reprepared)]);
    }
    // The statement just healed five times in a row, lost again: that is the node's answer.
    m.failed(0, lost(b"a"), t0);
    assert!(matches!(
        &actions(&mut m)[..],
        [Action::Finish(Err(RequestError::Server { .. }))]
    ));
}

#[test]
fn a_failed_reprepare_counts_as_the_attempts_failure() {
    let t0 = Instant::now();
    let mut m = RequestLoop::new(plan(2), false, RetryPolicy::Default, &NoSpeculation, t0);
    actions(&mut m);
    m.failed(0, unprepared(), t0);
    actions(&mut m);
    m.reprepared(0, Err(NodeFailure::NotSent("gone".into())), t0);
    assert_eq!(actions(&mut m), [start(1, 2, Reason::Retry)]);
}

#[test]
fn a_slow_idempotent_request_is_speculated_on_the_next_node() {
    let t0 = Instant::now();
    let delay = Duration::from_millis(10);
    let policy = Fixed(delay, 1);
    let mut m = RequestLoop::new(plan(3), true, RetryPolicy::Default, &policy, t0);
    assert_eq!(actions(&mut m), [start(0, 1, Reason::First)]);
    assert_eq!(m.deadline(), Some(t0 + delay));
    m.tick(t0 + delay / 2);
    assert_eq!(actions(&mut m), [], "not due yet");
    m.tick(t0 + delay);
    assert_eq!(actions(&mut m), [start(1, 2, Reason::Speculative)]);
    assert_eq!(m.deadline(), None, "at most one speculative execution");
    m.answered(1);
    assert_eq!(actions(&mut m), [Action::Finish(Ok(node(2)))]);
}

#[test]
fn a_zero_delay_speculates_before_anything_is_awaited() {
    let t0 = Instant::now();
    let policy = Fixed(Duration::ZERO, 2);
    let mut m = RequestLoop::new(plan(3), true, RetryPolicy::Default, &policy, t0);
    assert_eq!(m.deadline(), Some(t0), "due at once");
    m.tick(t0);
    m.tick(t0);
    assert_eq!(
        actions(&mut m),
        [
            start(0, 1, Reason::First),
            start(1, 2, Reason::Speculative),
            start(2, 3, Reason::Speculative)
        ]
    );
    assert_eq!(m.running(), 3);
}

#[test]
fn writes_that_are_not_idempotent_are_never_speculated() {
    let policy = Fixed(Duration::ZERO, 2);
    let m = RequestLoop::new(
        plan(3),
        false,
        RetryPolicy::Default,
        &policy,
        Instant::now(),
    );
    assert_eq!(m.deadline(), None);
}

#[test]
fn an_error_waits_for_a_speculative_execution_still_running() {
    let t0 = Instant::now();
    let policy = Fixed(Duration::ZERO, 1);
    let mut m = RequestLoop::new(plan(3), true, RetryPolicy::Default, &policy, t0);
    m.tick(t0);
    actions(&mut m);
    let invalid = || server(ErrorDetails::Invalid);
    m.failed(0, invalid(), t0);
    assert_eq!(
        actions(&mut m),
        [],
        "the speculative execution may still succeed"
    );
    m.answered(1);
    assert_eq!(actions(&mut m), [Action::Finish(Ok(node(2)))]);

    // When it fails too and nothing else runs, its own error is the request's.
    let mut m = RequestLoop::new(plan(3), true, RetryPolicy::Default, &policy, t0);
    m.tick(t0);
    actions(&mut m);
    m.failed(0, invalid(), t0);
    m.failed(1, invalid(), t0);
    let [Action::Finish(Err(RequestError::Server { node: n, .. }))] = &actions(&mut m)[..] else {
        panic!("an error is returned")
    };
    assert_eq!(*n, node(2));

    // A held error outlives an exhausted plan.
    let mut m = RequestLoop::new(plan(2), true, RetryPolicy::Default, &policy, t0);
    m.tick(t0);
    actions(&mut m);
    m.failed(0, invalid(), t0);
    m.failed(1, NodeFailure::NotSent("down".into()), t0);
    let [Action::Finish(Err(RequestError::Server { node: n, .. }))] = &actions(&mut m)[..] else {
        panic!("the held error is returned")
    };
    assert_eq!(*n, node(1));
}

//! The request loop's decisions, without I/O: which node an attempt goes to, what a failure
//! leads to (the retry policy), when a speculative execution starts, when an UNPREPARED
//! answer is healed, and what the caller finally gets.
//!
//! The shell ([`super::send`]) feeds it what happens — an attempt answered
//! ([`RequestLoop::answered`]), failed ([`RequestLoop::failed`]), a re-prepare finished
//! ([`RequestLoop::reprepared`]), time passed ([`RequestLoop::tick`]) — and carries out the
//! [`Action`]s it asks for ([`RequestLoop::poll_action`]) until one is [`Action::Finish`].
//! Tests drive it the same way, with scripted outcomes and times.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use ringgate_protocol::message::ErrorDetails;
use smallvec::SmallVec;
use tokio::time::Instant;

use super::error::{NodeError, NodeFailure, RequestError};
use crate::plan::{Failure, RetryContext, RetryDecision, RetryPolicy};

/// Identifies one attempt of a request.
pub(crate) type AttemptId = u32;

/// Why an attempt starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The request's first attempt.
    First,
    /// The retry policy asked for it after a failure.
    Retry,
    /// A speculative execution: the running ones are slow.
    Speculative,
    /// Again on the same node, after the statement was prepared there anew.
    Reprepared,
}

/// What the shell must do next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Send the request to `node`, as attempt `attempt`.
    Start {
        /// The attempt.
        attempt: AttemptId,
        /// Where.
        node: SocketAddr,
        /// Why.
        reason: Reason,
    },
    /// `node` lost the prepared statement (it answered UNPREPARED to `attempt`): prepare it
    /// there again, then report with [`RequestLoop::reprepared`].
    Reprepare {
        /// The attempt that was answered UNPREPARED.
        attempt: AttemptId,
        /// The node.
        node: SocketAddr,
        /// The prepared id the node does not know.
        id: Bytes,
    },
    /// The request is over: the node whose answer the caller gets, or the error. Attempts
    /// still running are of no further interest.
    Finish(Result<SocketAddr, RequestError>),
}

/// When to start speculative executions, as the loop sees it: how long to wait before the
/// next one on the node that runs the newest attempt, `None` for no more.
pub(crate) trait Speculation {
    /// The delay before speculative execution number `started + 1`, with the newest attempt
    /// on `node`.
    fn delay(&self, node: SocketAddr, started: u32) -> Option<Duration>;
}

/// How many UNPREPARED answers one attempt heals before it fails with the last one.
const MAX_HEALS_PER_ATTEMPT: u8 = 16;

/// How many times in a row one attempt heals the same statement. A node drops the prepared
/// statements of a table each time the table's schema changes (a column added, an index
/// created), so DDL still spreading through the cluster — a table and its indexes created
/// one after the other — can take a statement away again right after its heal. Past this,
/// the node's UNPREPARED is the answer (it cannot keep the statement, e.g. a full cache).
const MAX_HEALS_OF_ONE_STATEMENT: u8 = 5;

/// A statement id, hashed: what an attempt remembers of the statement it healed last.
fn id_hash(id: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

#[derive(Debug, Clone, Copy)]
struct Running {
    attempt: AttemptId,
    node: SocketAddr,
    /// How many UNPREPARED answers this attempt healed: a batch names the statements its node
    /// lost one at a time, so an attempt heals up to [`MAX_HEALS_PER_ATTEMPT`], each statement
    /// up to [`MAX_HEALS_OF_ONE_STATEMENT`] times in a row.
    heals: u8,
    /// The statement healed last ([`id_hash`]).
    last_healed: Option<u64>,
    /// How many heals in a row were of `last_healed`.
    healed_in_a_row: u8,
}

/// One request's loop over its query plan. See the module documentation.
pub(crate) struct RequestLoop<'s, P: Iterator<Item = SocketAddr>> {
    plan: P,
    idempotent: bool,
    retry: RetryPolicy,
    speculation: &'s (dyn Speculation + Sync),
    running: SmallVec<[Running; 2]>,
    /// Re-prepares under way: they are attempts still alive.
    repreparing: SmallVec<[Running; 1]>,
    /// Actions not yet taken, oldest first (rarely more than one).
    actions: SmallVec<[Action; 2]>,
    next_attempt: AttemptId,
    retries: u32,
    speculated: u32,
    /// The node of the newest attempt: speculation delays are its latencies.
    newest: Option<SocketAddr>,
    speculate_at: Option<Instant>,
    /// The failures of nodes given up on, for the final error.
    failures: Vec<NodeError>,
    /// An error to return once the attempts still running fail too.
    held: Option<RequestError>,
    /// Whether every failure so far was a node without a free stream id.
    all_busy: bool,
    finished: bool,
}

impl<'s, P: Iterator<Item = SocketAddr>> RequestLoop<'s, P> {
    /// A loop over `plan`'s nodes, started at `now`: the first action is its first attempt
    /// (or its failure, when the plan is empty). Only an `idempotent` request is retried
    /// after it may have run, and speculated.
    pub(crate) fn new(
        plan: P,
        idempotent: bool,
        retry: RetryPolicy,
        speculation: &'s (dyn Speculation + Sync),
        now: Instant,
    ) -> Self {
        let mut machine = RequestLoop {
            plan,
            idempotent,
            retry,
            speculation,
            running: SmallVec::new(),
            repreparing: SmallVec::new(),
            actions: SmallVec::new(),
            next_attempt: 0,
            retries: 0,
            speculated: 0,
            newest: None,
            speculate_at: None,
            failures: Vec::new(),
            held: None,
            all_busy: true,
            finished: false,
        };
        if !machine.start_next(Reason::First) {
            machine.finish(Err(RequestError::NoHostAvailable(Vec::new())));
        }
        machine.schedule_speculation(now);
        machine
    }

    /// The next thing to do, if any.
    pub(crate) fn poll_action(&mut self) -> Option<Action> {
        (!self.actions.is_empty()).then(|| self.actions.remove(0))
    }

    /// When [`RequestLoop::tick`] has something to do: the next speculative execution.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.speculate_at.filter(|_| !self.finished)
    }

    /// Attempts running now (re-prepares included).
    pub(crate) fn running(&self) -> usize {
        self.running.len() + self.repreparing.len()
    }

    /// Time passed: starts a speculative execution that is due.
    pub(crate) fn tick(&mut self, now: Instant) {
        if self.finished || self.speculate_at.is_none_or(|at| at > now) {
            return;
        }
        self.speculate_at = None;
        if self.start_next(Reason::Speculative) {
            self.speculated += 1;
            self.schedule_speculation(now);
        }
    }

    /// Attempt `attempt` was answered (with anything but an ERROR): that answer is the
    /// request's.
    pub(crate) fn answered(&mut self, attempt: AttemptId) {
        if let Some(run) = self.take_running(attempt) {
            self.finish(Ok(run.node));
        }
    }

    /// Attempt `attempt` failed at `now`.
    pub(crate) fn failed(&mut self, attempt: AttemptId, failure: NodeFailure, now: Instant) {
        let Some(run) = self.take_running(attempt) else {
            return;
        };
        if self.finished {
            return;
        }
        if let NodeFailure::Server(error) = &failure
            && let ErrorDetails::Unprepared { id } = &error.details
            && run.heals < MAX_HEALS_PER_ATTEMPT
            && (run.last_healed != Some(id_hash(id))
                || run.healed_in_a_row < MAX_HEALS_OF_ONE_STATEMENT)
        {
            let again = run.last_healed == Some(id_hash(id));
            self.repreparing.push(Running {
                heals: run.heals + 1,
                last_healed: Some(id_hash(id)),
                healed_in_a_row: if again { run.healed_in_a_row + 1 } else { 1 },
                ..run
            });
            self.actions.push(Action::Reprepare {
                attempt,
                node: run.node,
                id: id.clone(),
            });
            return;
        }
        self.all_busy &= matches!(failure, NodeFailure::Busy(_));
        let decision = self.retry.decide(&RetryContext {
            failure: policy_failure(&failure),
            idempotent: self.idempotent,
            retries: self.retries,
        });
        self.retries += 1;
        match decision {
            RetryDecision::RetrySameNode => self.start(run.node, Reason::Retry, false),
            RetryDecision::TryNextNode => {
                self.failures.push(NodeError {
                    node: run.node,
                    failure,
                });
                self.start_next(Reason::Retry);
            }
            RetryDecision::ReturnError => {
                let error = RequestError::from_failure(run.node, failure);
                if self.running() == 0 {
                    return self.finish(Err(error));
                }
                // A speculative execution still runs and may yet succeed.
                self.held.get_or_insert(error);
            }
        }
        if self.speculate_at.is_none() && self.running() > 0 {
            self.schedule_speculation(now);
        }
        if self.running() == 0 {
            self.give_up();
        }
    }

    /// The re-prepare of `attempt` finished: on success the request goes to the same node
    /// again; a failure counts as the attempt's.
    pub(crate) fn reprepared(
        &mut self,
        attempt: AttemptId,
        outcome: Result<(), NodeFailure>,
        now: Instant,
    ) {
        let Some(index) = self.repreparing.iter().position(|r| r.attempt == attempt) else {
            return;
        };
        let run = self.repreparing.swap_remove(index);
        match outcome {
            Ok(()) if !self.finished => {
                // The same attempt, sent again (it may name another lost statement).
                self.running.push(run);
                self.actions.push(Action::Start {
                    attempt,
                    node: run.node,
                    reason: Reason::Reprepared,
                });
            }
            Ok(()) => {}
            Err(failure) => {
                self.running.push(run);
                self.failed(attempt, failure, now);
            }
        }
    }

    fn take_running(&mut self, attempt: AttemptId) -> Option<Running> {
        let index = self.running.iter().position(|r| r.attempt == attempt)?;
        Some(self.running.swap_remove(index))
    }

    /// Starts an attempt on the plan's next node; false when the plan is exhausted.
    fn start_next(&mut self, reason: Reason) -> bool {
        match self.plan.next() {
            Some(node) => {
                self.start(node, reason, true);
                true
            }
            None => false,
        }
    }

    fn start(&mut self, node: SocketAddr, reason: Reason, newest: bool) {
        let attempt = self.next_attempt;
        self.next_attempt += 1;
        self.running.push(Running {
            attempt,
            node,
            heals: 0,
            last_healed: None,
            healed_in_a_row: 0,
        });
        if newest || self.newest.is_none() {
            self.newest = Some(node);
        }
        self.actions.push(Action::Start {
            attempt,
            node,
            reason,
        });
    }

    fn schedule_speculation(&mut self, now: Instant) {
        if !self.idempotent || self.finished {
            return;
        }
        let Some(node) = self.newest else { return };
        self.speculate_at = self
            .speculation
            .delay(node, self.speculated)
            .map(|d| now + d);
    }

    /// Every attempt failed and the plan is exhausted.
    fn give_up(&mut self) {
        let failures = std::mem::take(&mut self.failures);
        let error = self
            .held
            .take()
            .unwrap_or(if self.all_busy && !failures.is_empty() {
                RequestError::Overloaded(failures)
            } else {
                RequestError::NoHostAvailable(failures)
            });
        self.finish(Err(error));
    }

    fn finish(&mut self, outcome: Result<SocketAddr, RequestError>) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.speculate_at = None;
        self.actions.push(Action::Finish(outcome));
    }
}

/// A failure as the retry policy sees it.
fn policy_failure(failure: &NodeFailure) -> Failure<'_> {
    match failure {
        NodeFailure::Server(e) => Failure::Server(&e.details),
        NodeFailure::Timeout(_) => Failure::ClientTimeout,
        // Never sent: as safe to try elsewhere as a connection that was not there.
        NodeFailure::Busy(_) | NodeFailure::NotSent(_) | NodeFailure::Connect(_) => {
            Failure::ConnectionBroken { written: false }
        }
        NodeFailure::Connection(_) => Failure::ConnectionBroken { written: true },
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;

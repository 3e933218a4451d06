//! The retry policy: what to do after a request failed on one node.
//!
//! The rules follow Cassandra's meaning of each error and the defaults of the DataStax
//! drivers, and never risk applying a non-idempotent write twice:
//!
//! | failure | decision | why |
//! |---|---|---|
//! | Read_timeout, `received >= block_for`, no data, first retry | same node | enough replicas answered, only the data replica was slow; asking again usually finds the data read-repaired or cached. A read timeout is raised by a read phase only, which writes nothing (a Paxos round that times out reading has proposed nothing), so idempotence does not matter |
//! | Read_timeout, otherwise | error | too few replicas answered (retrying at the same level would likely time out again), or the data came and a digest was missing |
//! | Write_timeout `BATCH_LOG`, idempotent, first retry | same node | only the write to the batch log timed out; the batch was not applied yet and the coordinator will write it anew |
//! | Write_timeout, otherwise | error | the write may have been applied on some replicas: retrying a non-idempotent one could apply it twice, and other write types are not known to be safe to repeat |
//! | Unavailable, first retry | next node | the coordinator refused before executing anything; another coordinator may see more live replicas |
//! | Unavailable, later | error | the cluster really lacks live replicas |
//! | Is_bootstrapping | next node | a bootstrapping node refuses every request before executing it |
//! | Overloaded, idempotent | next node | another coordinator may have room |
//! | Overloaded, not idempotent | error | Cassandra also raises it while a write is under way (too many hints in flight): the mutations of a multi-partition write checked before it may already have gone out |
//! | Server_error, idempotent | next node | a bug or a transient fault on that node; another may serve it |
//! | Server_error, not idempotent | error | the write may have been applied |
//! | connection broken before the request was written | next node | no node saw the request |
//! | connection broken after it was written, idempotent | next node | the node may have executed it, which is harmless |
//! | connection broken after it was written, not idempotent | error | the node may have executed it |
//! | client-side timeout, idempotent | next node | as above |
//! | client-side timeout, not idempotent | error | as above |
//! | Read_failure, Write_failure, Function_failure, CDC_write_failure | error | replicas failed the request itself (tombstones, a failing function, CDC space): it would fail again |
//! | CAS_write_unknown | error | the Paxos outcome is unknown; only the application can tell |
//! | Truncate_error | error | the truncation may have happened in part; TRUNCATE is the caller's to repeat |
//! | Syntax, Invalid, Unauthorized, Config, Already_exists, Protocol, Authentication, unknown codes | error | the request or the credentials are wrong; any node says the same |
//! | Unprepared | error | not a retry: the request layer re-prepares and sends again itself |
//!
//! A retry on the "next node" takes the next node of the request's [`QueryPlan`]; when the
//! plan is exhausted the request fails with the last error.
//!
//! [`QueryPlan`]: super::QueryPlan

use ringgate_protocol::message::{ErrorDetails, WriteType};

/// What went wrong with one attempt.
#[derive(Debug, Clone, Copy)]
pub enum Failure<'a> {
    /// The node answered with an ERROR.
    Server(&'a ErrorDetails),
    /// The connection broke before the answer came. `written` says whether any byte of the
    /// request may have been sent (false only when it surely was not).
    ConnectionBroken {
        /// Whether the request may have reached the node.
        written: bool,
    },
    /// No answer came within the client-side timeout.
    ClientTimeout,
}

/// Everything the policy looks at to decide.
#[derive(Debug, Clone, Copy)]
pub struct RetryContext<'a> {
    /// What failed.
    pub failure: Failure<'a>,
    /// Whether the request can be applied twice with the same effect (reads are; the caller
    /// marks writes).
    pub idempotent: bool,
    /// Retries already made for this request (0 on the first failure).
    pub retries: u32,
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryDecision {
    /// Send the request again to the node that failed it.
    RetrySameNode,
    /// Send the request to the next node of the plan.
    TryNextNode,
    /// Give the error to the caller.
    ReturnError,
}

/// The retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetryPolicy {
    /// Cassandra's and the drivers' default rules (the table in this module's documentation).
    #[default]
    Default,
    /// Never retry, except on another node when the request surely reached none.
    Never,
}

impl RetryPolicy {
    /// The decision for one failure.
    pub fn decide(&self, ctx: &RetryContext<'_>) -> RetryDecision {
        use RetryDecision::{RetrySameNode, ReturnError, TryNextNode};
        let first = ctx.retries == 0;
        let next_if = |ok: bool| if ok { TryNextNode } else { ReturnError };
        match (self, ctx.failure) {
            (_, Failure::ConnectionBroken { written: false }) => TryNextNode,
            (RetryPolicy::Never, _) => ReturnError,
            (RetryPolicy::Default, Failure::ConnectionBroken { written: true }) => {
                next_if(ctx.idempotent)
            }
            (RetryPolicy::Default, Failure::ClientTimeout) => next_if(ctx.idempotent),
            (RetryPolicy::Default, Failure::Server(details)) => match details {
                ErrorDetails::ReadTimeout {
                    received,
                    block_for,
                    data_present,
                    ..
                } => {
                    if first && received >= block_for && !data_present {
                        RetrySameNode
                    } else {
                        ReturnError
                    }
                }
                ErrorDetails::WriteTimeout { write_type, .. } => {
                    if first && ctx.idempotent && *write_type == WriteType::BatchLog {
                        RetrySameNode
                    } else {
                        ReturnError
                    }
                }
                ErrorDetails::Unavailable { .. } => next_if(first),
                ErrorDetails::IsBootstrapping => TryNextNode,
                ErrorDetails::Overloaded | ErrorDetails::ServerError => next_if(ctx.idempotent),
                ErrorDetails::ReadFailure { .. }
                | ErrorDetails::WriteFailure { .. }
                | ErrorDetails::FunctionFailure { .. }
                | ErrorDetails::CdcWriteFailure
                | ErrorDetails::CasWriteUnknown { .. }
                | ErrorDetails::TruncateError
                | ErrorDetails::SyntaxError
                | ErrorDetails::Invalid
                | ErrorDetails::Unauthorized
                | ErrorDetails::ConfigError
                | ErrorDetails::AlreadyExists { .. }
                | ErrorDetails::ProtocolError
                | ErrorDetails::AuthenticationError
                | ErrorDetails::Unprepared { .. }
                | ErrorDetails::Other { .. } => ReturnError,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use ringgate_protocol::message::{Consistency, Failures};

    use super::RetryDecision::{RetrySameNode, ReturnError, TryNextNode};
    use super::*;

    fn decide(failure: Failure<'_>, idempotent: bool, retries: u32) -> RetryDecision {
        RetryPolicy::Default.decide(&RetryContext {
            failure,
            idempotent,
            retries,
        })
    }

    /// The decision for `details` in all four combinations of (idempotent, first retry),
    /// in the order (idem+first, idem+later, non-idem+first, non-idem+later).
    fn four(details: &ErrorDetails) -> [RetryDecision; 4] {
        let f = Failure::Server(details);
        [
            decide(f, true, 0),
            decide(f, true, 1),
            decide(f, false, 0),
            decide(f, false, 1),
        ]
    }

    fn read_timeout(received: i32, block_for: i32, data_present: bool) -> ErrorDetails {
        ErrorDetails::ReadTimeout {
            consistency: Consistency::Quorum,
            received,
            block_for,
            data_present,
        }
    }

    fn write_timeout(write_type: WriteType) -> ErrorDetails {
        ErrorDetails::WriteTimeout {
            consistency: Consistency::Quorum,
            received: 1,
            block_for: 2,
            write_type,
            contentions: None,
        }
    }

    #[test]
    fn read_timeout_retries_once_on_the_same_node_when_only_data_was_missing() {
        let t = read_timeout(2, 2, false);
        assert_eq!(
            four(&t),
            [RetrySameNode, ReturnError, RetrySameNode, ReturnError]
        );
        // More answers than needed still counts as enough.
        assert_eq!(
            decide(Failure::Server(&read_timeout(3, 2, false)), true, 0),
            RetrySameNode
        );
    }

    #[test]
    fn read_timeout_with_too_few_answers_or_with_data_is_returned() {
        assert_eq!(four(&read_timeout(1, 2, false)), [ReturnError; 4]);
        assert_eq!(four(&read_timeout(2, 2, true)), [ReturnError; 4]);
        assert_eq!(four(&read_timeout(1, 2, true)), [ReturnError; 4]);
    }

    #[test]
    fn write_timeout_retries_only_an_idempotent_batch_log_write_once() {
        assert_eq!(
            four(&write_timeout(WriteType::BatchLog)),
            [RetrySameNode, ReturnError, ReturnError, ReturnError]
        );
        for wt in [
            WriteType::Simple,
            WriteType::Batch,
            WriteType::UnloggedBatch,
            WriteType::Counter,
            WriteType::Cas,
            WriteType::View,
            WriteType::Cdc,
            WriteType::Other("NEW".into()),
        ] {
            assert_eq!(four(&write_timeout(wt.clone())), [ReturnError; 4], "{wt:?}");
        }
    }

    #[test]
    fn unavailable_tries_the_next_node_once() {
        let u = ErrorDetails::Unavailable {
            consistency: Consistency::LocalQuorum,
            required: 2,
            alive: 1,
        };
        assert_eq!(
            four(&u),
            [TryNextNode, ReturnError, TryNextNode, ReturnError]
        );
    }

    #[test]
    fn bootstrapping_always_moves_on_overloaded_and_server_error_only_when_idempotent() {
        assert_eq!(four(&ErrorDetails::IsBootstrapping), [TryNextNode; 4]);
        for d in [ErrorDetails::Overloaded, ErrorDetails::ServerError] {
            assert_eq!(
                four(&d),
                [TryNextNode, TryNextNode, ReturnError, ReturnError],
                "{d:?}"
            );
        }
    }

    #[test]
    fn connection_failures_and_client_timeouts() {
        let before = Failure::ConnectionBroken { written: false };
        let after = Failure::ConnectionBroken { written: true };
        for retries in [0, 3] {
            assert_eq!(decide(before, true, retries), TryNextNode);
            assert_eq!(decide(before, false, retries), TryNextNode);
            assert_eq!(decide(after, true, retries), TryNextNode);
            assert_eq!(decide(after, false, retries), ReturnError);
            assert_eq!(decide(Failure::ClientTimeout, true, retries), TryNextNode);
            assert_eq!(decide(Failure::ClientTimeout, false, retries), ReturnError);
        }
    }

    #[test]
    fn request_and_replica_failures_are_returned() {
        let failures = || Failures::Count(1);
        let errors = [
            ErrorDetails::ReadFailure {
                consistency: Consistency::One,
                received: 0,
                block_for: 1,
                failures: failures(),
                data_present: false,
            },
            ErrorDetails::WriteFailure {
                consistency: Consistency::One,
                received: 0,
                block_for: 1,
                failures: failures(),
                write_type: WriteType::Simple,
            },
            ErrorDetails::FunctionFailure {
                keyspace: "ks".into(),
                function: "f".into(),
                arg_types: vec![],
            },
            ErrorDetails::CdcWriteFailure,
            ErrorDetails::CasWriteUnknown {
                consistency: Consistency::Serial,
                received: 0,
                block_for: 1,
            },
            ErrorDetails::TruncateError,
            ErrorDetails::SyntaxError,
            ErrorDetails::Invalid,
            ErrorDetails::Unauthorized,
            ErrorDetails::ConfigError,
            ErrorDetails::AlreadyExists {
                keyspace: "ks".into(),
                table: "t".into(),
            },
            ErrorDetails::ProtocolError,
            ErrorDetails::AuthenticationError,
            ErrorDetails::Unprepared {
                id: Bytes::from_static(b"id"),
            },
            ErrorDetails::Other {
                code: 0x7777,
                extra: Bytes::new(),
            },
        ];
        for e in &errors {
            assert_eq!(four(e), [ReturnError; 4], "{e:?}");
        }
    }

    #[test]
    fn the_never_policy_only_moves_on_when_nothing_was_sent() {
        let never = |failure, idempotent| {
            RetryPolicy::Never.decide(&RetryContext {
                failure,
                idempotent,
                retries: 0,
            })
        };
        assert_eq!(
            never(Failure::ConnectionBroken { written: false }, false),
            TryNextNode
        );
        assert_eq!(
            never(Failure::ConnectionBroken { written: true }, true),
            ReturnError
        );
        assert_eq!(never(Failure::ClientTimeout, true), ReturnError);
        let timeout = read_timeout(2, 2, false);
        assert_eq!(never(Failure::Server(&timeout), true), ReturnError);
        assert_eq!(
            never(Failure::Server(&ErrorDetails::IsBootstrapping), true),
            ReturnError
        );
    }
}

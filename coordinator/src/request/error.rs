//! The one error type of the request API.

use std::net::SocketAddr;
use std::time::Duration;

use ringgate_protocol::Opcode;
use ringgate_protocol::message::ErrorResponse;
use ringgate_protocol::primitives::{DecodeError, EncodeError};

use crate::cluster::ClusterError;
use crate::pool::{ConnectError, ConnectionError};

/// How one attempt on one node failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NodeFailure {
    /// The node answered with a CQL error.
    #[error("error {:#06x}: {}", .0.details.code(), .0.message)]
    Server(Box<ErrorResponse>),
    /// No answer within the timeout. The node may still have executed the request.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The node's connections had no free stream id (or room in their send buffers) for the
    /// whole timeout: the request was never sent.
    #[error("no free stream id within {0:?}")]
    Busy(Duration),
    /// No open connection to the node (it is down, or its pool is still connecting): the
    /// request was never sent.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The connection failed with the request possibly sent.
    #[error(transparent)]
    Connection(ConnectionError),
    /// No connection could be opened to the node (when logging in, say).
    #[error(transparent)]
    Connect(ConnectError),
}

impl NodeFailure {
    /// Whether the request may have reached the node.
    pub fn may_have_run(&self) -> bool {
        !matches!(
            self,
            NodeFailure::Busy(_) | NodeFailure::NotSent(_) | NodeFailure::Connect(_)
        )
    }
}

/// One node's failure, as [`RequestError::NoHostAvailable`] and
/// [`RequestError::Overloaded`] list them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{node}: {failure}")]
pub struct NodeError {
    /// The node.
    pub node: SocketAddr,
    /// What happened there.
    pub failure: NodeFailure,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// A node answered with a CQL error; `error.details` carries every field of its code
    /// (consistency, replicas, write type, reason map, …).
    #[error("{node} answered error {:#06x}: {}", .error.details.code(), .error.message)]
    Server {
        /// The node that answered.
        node: SocketAddr,
        /// The error, as the node sent it.
        error: Box<ErrorResponse>,
    },
    /// No node could take the request; how each tried node failed.
    #[error("no host available: {}", describe(.0))]
    NoHostAvailable(Vec<NodeError>),
    /// No answer arrived in time. The request may still have been executed.
    #[error("no answer within {after:?}")]
    Timeout {
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The coordinator is overloaded: every node tried had all its stream ids in use (or its
    /// send queue full) for the whole timeout, so the request was never sent.
    #[error("overloaded: {}", describe(.0))]
    Overloaded(Vec<NodeError>),
    /// The node refused the credentials.
    #[error("{node} refused the credentials: {}", .error.message)]
    Authentication {
        /// The node that refused them.
        node: SocketAddr,
        /// Its AuthenticationError (see [`ConnectError::Authentication`]).
        error: Box<ErrorResponse>,
    },
    /// The request is not valid as given, found here before any node saw it (wrong number of
    /// values, a USE on a shared handle, an opcode that is not a request, …). What a node
    /// finds invalid comes back as [`RequestError::Server`].
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A node answered with a message its request does not take (a RESULT was due, say).
    #[error("{node} answered {opcode:?} where {expected} was due")]
    UnexpectedAnswer {
        /// The node.
        node: SocketAddr,
        /// What it sent.
        opcode: Opcode,
        /// What the request takes.
        expected: &'static str,
    },
    /// A fault of this crate, reported rather than hung on or panicked over.
    #[error("internal error: {0}")]
    Internal(String),
    /// The request could not be encoded.
    #[error("cannot encode the request: {0}")]
    Encode(#[from] EncodeError),
    /// A node's answer could not be decoded.
    #[error("undecodable answer: {0}")]
    Decode(#[from] DecodeError),
    /// An EXECUTE or BATCH (forwarded from a client) names a prepared id this coordinator
    /// never prepared: the client must prepare the statement again.
    #[error("unknown prepared statement id {0:02x?}")]
    UnknownPrepared(bytes::Bytes),
    /// Joining or following the cluster failed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

fn describe(failures: &[NodeError]) -> String {
    if failures.is_empty() {
        return "no node to try".to_owned();
    }
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl RequestError {
    /// The CQL error code, when a node answered with an error.
    pub fn code(&self) -> Option<i32> {
        match self {
            RequestError::Server { error, .. } => Some(error.details.code()),
            _ => None,
        }
    }

    /// The error a request gets when its last attempt failed this way and no other attempt
    /// is left.
    pub(crate) fn from_failure(node: SocketAddr, failure: NodeFailure) -> Self {
        match failure {
            NodeFailure::Server(error) => RequestError::Server { node, error },
            NodeFailure::Timeout(after) => RequestError::Timeout { after },
            failure @ NodeFailure::Busy(_) => {
                RequestError::Overloaded(vec![NodeError { node, failure }])
            }
            failure => RequestError::NoHostAvailable(vec![NodeError { node, failure }]),
        }
    }
}

//! The one error type of the request API.

use std::net::SocketAddr;
use std::time::Duration;

use ringgate_protocol::message::ErrorResponse;
use ringgate_protocol::primitives::{DecodeError, EncodeError};

use crate::cluster::ClusterError;

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
    /// No node could take the request; the reason each tried node failed.
    #[error("no host available: {}", describe(.0))]
    NoHostAvailable(Vec<(SocketAddr, String)>),
    /// No answer arrived in time. The request may still have been executed.
    #[error("no answer within {after:?}")]
    Timeout {
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The coordinator is overloaded: every node tried had all its stream ids in use (or its
    /// send queue full) for the whole timeout, so the request was never sent.
    #[error("overloaded: {}", describe(.0))]
    Overloaded(Vec<(SocketAddr, String)>),
    /// The node refused the credentials.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The request is not valid as given (wrong number of values, unknown statement, …).
    #[error("invalid request: {0}")]
    Invalid(String),
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

fn describe(failures: &[(SocketAddr, String)]) -> String {
    if failures.is_empty() {
        return "no node to try".to_owned();
    }
    failures
        .iter()
        .map(|(node, why)| format!("{node}: {why}"))
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
}

//! What a session asks of its shell ([`SessionEvent`]) and what the shell answers with
//! ([`Reply`]).

use std::sync::Arc;

use bytes::Bytes;

use ringgate_protocol::frame::Flags;
use ringgate_protocol::message::{EventType, Response};
use ringgate_protocol::{Opcode, ProtocolVersion};

use super::auth::{AuthenticatedUser, Credentials};

/// Something only the shell can do, raised by a session while it reads client bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A request to send to the cluster. Answer it with
    /// [`ServerSession::reply`](super::ServerSession::reply) on the same stream.
    Request(ForwardRequest),
    /// Credentials to check. Answer with
    /// [`ServerSession::authenticated`](super::ServerSession::authenticated).
    Authenticate {
        /// The stream the AUTH_RESPONSE came on.
        stream: i16,
        /// What the client sent.
        credentials: Credentials,
    },
    /// The client REGISTERed for these event types (all it is registered for now). Push events
    /// with [`ServerSession::push_event`](super::ServerSession::push_event).
    Registered(Vec<EventType>),
}

/// A client request Ringgate does not answer itself: QUERY, PREPARE, EXECUTE or BATCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardRequest {
    /// The client's stream id; the reply goes back on it.
    pub stream: i16,
    /// The protocol version the client speaks; the body is laid out for it, and so must the
    /// reply's be.
    pub version: ProtocolVersion,
    /// The message.
    pub opcode: Opcode,
    /// The envelope flags (tracing, custom payload, beta), compression flag cleared.
    pub flags: Flags,
    /// The body, decompressed, with any custom payload prefix still in front.
    pub body: Bytes,
    /// The session's keyspace (from `USE`), if any.
    pub keyspace: Option<Arc<str>>,
    /// Who the session is authenticated as, when the node requires authentication.
    pub identity: Option<Arc<AuthenticatedUser>>,
}

/// The shell's answer to a [`ForwardRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A response as the cluster sent it: opcode, flags (tracing, warning, custom payload; the
    /// compression flag is ignored) and the uncompressed body laid out for the client's version.
    Raw {
        /// The response opcode.
        opcode: Opcode,
        /// The envelope flags.
        flags: Flags,
        /// The body.
        body: Bytes,
    },
    /// A response built by Ringgate (an error, typically).
    Message(Response),
}

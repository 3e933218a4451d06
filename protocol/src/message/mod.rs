//! Messages: every request and response body, in every version, both directions.
//!
//! - [`Request`] and [`Response`] decode a body given its opcode and protocol version, and
//!   encode it back; each message is its own type ([`Query`], [`Execute`], [`ResultBody`], …).
//!   Names are `String`s; blobs (values, ids, paging states, tokens, rows) are [`Bytes`]
//!   slices of the body, never copies. Trailing bytes after a message are an error.
//! - [`split_response_body`] / [`split_request_body`] separate what envelope flags put in
//!   front of a body (tracing id, warnings, custom payload).
//! - [`peek`] reads what a coordinator routes on (ids, consistency, bound values) straight
//!   from a body without decoding the rest, and rewrites the consistency in place;
//!   [`rewrite`] replaces a v5 body's keyspace.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use ringgate_protocol::message::{Consistency, Query, QueryParameters, Request};
//! use ringgate_protocol::{Opcode, ProtocolVersion};
//!
//! let q = Request::Query(Query::new(
//!     "SELECT * FROM ks.t",
//!     QueryParameters::new(Consistency::LocalQuorum).with_page_size(100),
//! ));
//! let mut buf = BytesMut::new();
//! q.encode(ProtocolVersion::V4, &mut buf).unwrap();
//! let back = Request::decode(Opcode::Query, &buf.freeze(), ProtocolVersion::V4).unwrap();
//! assert_eq!(back, q);
//! ```
//!
//! [`Bytes`]: bytes::Bytes

mod consistency;
pub mod peek;
mod prefix;
mod query_params;
mod request;
mod response;
pub mod rewrite;
mod value;

pub use consistency::{
    Consistency, SerialConsistency, consistency, put_consistency, serial_consistency,
};
pub use prefix::{
    CustomPayload, ResponsePrefix, put_request_prefix, put_response_prefix, response_message,
    split_request_body, split_response_body,
};
pub use query_params::{QueryParameters, flags};
pub use request::{
    AuthToken, Batch, BatchQuery, BatchStatement, BatchType, COMPRESSION, CQL_VERSION, DRIVER_NAME,
    DRIVER_VERSION, EventType, Execute, Prepare, Query, Register, Request, Startup,
    THROW_ON_OVERLOAD,
};
pub use response::{
    ColumnSpec, ErrorCode, ErrorDetails, ErrorResponse, Event, Failures, Prepared,
    PreparedMetadata, Response, ResultBody, ResultKind, Rows, RowsMetadata, SchemaChange,
    SchemaChangeTarget, SchemaChangeType, StatusChangeType, Supported, TableSpec,
    TopologyChangeType, WriteType,
};
pub use value::{Value, Values, put_value_in, value_in};

use crate::frame::{Envelope, Flags};
use crate::primitives::DecodeError;

/// The prefix (tracing id, warnings, custom payload) and message of a response envelope, in
/// its header's version.
pub fn decode_response(envelope: &Envelope) -> Result<(ResponsePrefix, Response), DecodeError> {
    let flags = envelope.header.flags;
    let (prefix, body) = split_response_body(
        &envelope.body,
        flags.contains(Flags::TRACING),
        flags.contains(Flags::WARNING),
        flags.contains(Flags::CUSTOM_PAYLOAD),
    )?;
    let response = Response::decode(envelope.header.opcode, &body, envelope.header.version)?;
    Ok((prefix, response))
}

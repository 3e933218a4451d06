//! EVENT (§4.2.6): topology, status and schema changes pushed on a registered connection.
//!
//! `MOVED_NODE` is listed by the v3 spec only, but it is accepted (and written) in every
//! version: servers have kept sending it for token moves.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};

use crate::ProtocolVersion;
use crate::primitives::{self, DecodeError, EncodeError, decode_all, fail};

use super::schema_change::SchemaChange;
use crate::message::request::{EventType, event_type};

/// A change in the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopologyChangeType {
    /// `NEW_NODE`.
    NewNode,
    /// `REMOVED_NODE`.
    RemovedNode,
    /// `MOVED_NODE`.
    MovedNode,
}

impl TopologyChangeType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewNode => "NEW_NODE",
            Self::RemovedNode => "REMOVED_NODE",
            Self::MovedNode => "MOVED_NODE",
        }
    }
}

/// A node going up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusChangeType {
    /// `UP`.
    Up,
    /// `DOWN`.
    Down,
}

impl StatusChangeType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "UP",
            Self::Down => "DOWN",
        }
    }
}

/// An EVENT body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `TOPOLOGY_CHANGE`: a node joined, left or moved.
    TopologyChange {
        /// What happened.
        change: TopologyChangeType,
        /// The node's native transport address.
        node: SocketAddr,
    },
    /// `STATUS_CHANGE`: a node went up or down.
    StatusChange {
        /// What happened.
        change: StatusChangeType,
        /// The node's native transport address.
        node: SocketAddr,
    },
    /// `SCHEMA_CHANGE`.
    SchemaChange(SchemaChange),
}

impl Event {
    /// The event's type (what a client REGISTERs for).
    pub fn event_type(&self) -> EventType {
        match self {
            Self::TopologyChange { .. } => EventType::TopologyChange,
            Self::StatusChange { .. } => EventType::StatusChange,
            Self::SchemaChange(_) => EventType::SchemaChange,
        }
    }

    /// Decodes an EVENT body.
    pub fn decode(body: &Bytes, version: ProtocolVersion) -> Result<Self, DecodeError> {
        decode_all(body, |input| {
            let (rest, t) = event_type(input)?;
            match t {
                EventType::TopologyChange => {
                    let (rest, change) = primitives::string(rest)?;
                    let change = match change {
                        "NEW_NODE" => TopologyChangeType::NewNode,
                        "REMOVED_NODE" => TopologyChangeType::RemovedNode,
                        "MOVED_NODE" => TopologyChangeType::MovedNode,
                        _ => return Err(fail(DecodeError::Malformed("topology change"))),
                    };
                    let (rest, node) = primitives::inet(rest)?;
                    Ok((rest, Self::TopologyChange { change, node }))
                }
                EventType::StatusChange => {
                    let (rest, change) = primitives::string(rest)?;
                    let change = match change {
                        "UP" => StatusChangeType::Up,
                        "DOWN" => StatusChangeType::Down,
                        _ => return Err(fail(DecodeError::Malformed("status change"))),
                    };
                    let (rest, node) = primitives::inet(rest)?;
                    Ok((rest, Self::StatusChange { change, node }))
                }
                EventType::SchemaChange => {
                    let (rest, c) = SchemaChange::parse(rest, version)?;
                    Ok((rest, Self::SchemaChange(c)))
                }
            }
        })
    }

    /// Encodes an EVENT body.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        primitives::put_string(buf, self.event_type().as_str())?;
        match self {
            Self::TopologyChange { change, node } => {
                primitives::put_string(buf, change.as_str())?;
                primitives::put_inet(buf, *node);
                Ok(())
            }
            Self::StatusChange { change, node } => {
                primitives::put_string(buf, change.as_str())?;
                primitives::put_inet(buf, *node);
                Ok(())
            }
            Self::SchemaChange(c) => c.encode(version, buf),
        }
    }
}

//! REGISTER (§4.1.8): the event types a connection wants pushed.

use bytes::{Bytes, BytesMut};

use crate::primitives::{self, DecodeError, EncodeError, Parsed, decode_all, fail};

/// An event type a client can REGISTER for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `TOPOLOGY_CHANGE`: nodes joining, leaving or moving.
    TopologyChange,
    /// `STATUS_CHANGE`: nodes going up or down.
    StatusChange,
    /// `SCHEMA_CHANGE`: keyspaces, tables, types, functions, aggregates.
    SchemaChange,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TopologyChange => "TOPOLOGY_CHANGE",
            Self::StatusChange => "STATUS_CHANGE",
            Self::SchemaChange => "SCHEMA_CHANGE",
        }
    }

    /// The event type for a wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::TopologyChange, Self::StatusChange, Self::SchemaChange]
            .into_iter()
            .find(|t| t.as_str() == name)
    }
}

/// Parses an event type `[string]`; unknown names are an error.
pub(crate) fn event_type(input: &[u8]) -> Parsed<'_, EventType> {
    let (rest, name) = primitives::string(input)?;
    let t = EventType::from_name(name).ok_or(fail(DecodeError::Malformed("event type")))?;
    Ok((rest, t))
}

/// A REGISTER body: a `[string list]` of event types.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Register {
    /// The event types, in wire order.
    pub events: Vec<EventType>,
}

impl Register {
    /// Decodes a REGISTER body.
    pub fn decode(body: &Bytes) -> Result<Self, DecodeError> {
        let names = decode_all(body, primitives::string_list)?;
        let events = names
            .into_iter()
            .map(|n| EventType::from_name(n).ok_or(DecodeError::Malformed("event type")))
            .collect::<Result<_, _>>()?;
        Ok(Self { events })
    }

    /// Encodes a REGISTER body.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        let names: Vec<&str> = self.events.iter().map(|e| e.as_str()).collect();
        primitives::put_string_list(buf, &names)
    }
}

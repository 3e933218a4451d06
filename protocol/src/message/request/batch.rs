//! BATCH (§4.1.7): several statements (query strings or prepared ids) applied together.
//!
//! The "names for values" flag (0x40) is refused when decoding: the spec itself says it
//! cannot work for BATCH (CASSANDRA-10246) and Cassandra does not implement it, so a body that
//! sets it is malformed for every server this crate talks to.

use bytes::{BufMut, Bytes, BytesMut};

use crate::ProtocolVersion;
use crate::primitives::{self, DecodeError, EncodeError, Parsed, decode_all, fail};

use crate::message::consistency::{
    Consistency, SerialConsistency, consistency, put_consistency, serial_consistency,
};
use crate::message::query_params::{flags, put_query_flags, query_flags, require_v5};
use crate::message::value::{Value, put_value_in, value_in};

/// The flags BATCH accepts.
const BATCH_FLAGS: u32 =
    flags::SERIAL_CONSISTENCY | flags::TIMESTAMP | flags::KEYSPACE | flags::NOW_IN_SECONDS;

/// The kind of batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BatchType {
    /// A logged batch (0): atomic through the batch log.
    #[default]
    Logged,
    /// An unlogged batch (1).
    Unlogged,
    /// A counter batch (2).
    Counter,
}

impl BatchType {
    /// The wire byte.
    pub fn code(self) -> u8 {
        match self {
            Self::Logged => 0,
            Self::Unlogged => 1,
            Self::Counter => 2,
        }
    }

    /// The batch type for a wire byte.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::Logged),
            1 => Some(Self::Unlogged),
            2 => Some(Self::Counter),
            _ => None,
        }
    }
}

/// What a batch statement runs: a query string (kind 0) or a prepared id (kind 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchQuery {
    /// A CQL string (`[long string]`).
    Query(String),
    /// A prepared statement id (`[short bytes]`), a slice of the body when decoded.
    Prepared(Bytes),
}

/// One statement of a batch and its positional values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStatement {
    /// The query string or prepared id.
    pub query: BatchQuery,
    /// Values for its bind markers, by position.
    pub values: Vec<Value>,
}

/// A BATCH body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    /// Logged, unlogged or counter.
    pub batch_type: BatchType,
    /// The statements, in order.
    pub statements: Vec<BatchStatement>,
    /// The consistency level.
    pub consistency: Consistency,
    /// The consistency of the Paxos phase of conditional updates.
    pub serial_consistency: Option<SerialConsistency>,
    /// The default timestamp, in microseconds.
    pub timestamp: Option<i64>,
    /// The keyspace to run in (v5).
    pub keyspace: Option<String>,
    /// "Now" in seconds (v5).
    pub now_in_seconds: Option<i32>,
}

fn statement<'a>(
    input: &'a [u8],
    body: &Bytes,
    version: ProtocolVersion,
) -> Parsed<'a, BatchStatement> {
    let (rest, kind) = primitives::byte(input)?;
    let (rest, query) = match kind {
        0 => {
            let (rest, q) = primitives::long_string(rest)?;
            (rest, BatchQuery::Query(q.to_owned()))
        }
        1 => {
            let (rest, id) = primitives::short_bytes(rest)?;
            (rest, BatchQuery::Prepared(body.slice_ref(id)))
        }
        other => {
            return Err(fail(DecodeError::InvalidValue {
                what: "batch statement kind",
                value: i64::from(other),
            }));
        }
    };
    let (mut rest, n) = primitives::short(rest)?;
    let mut values =
        Vec::with_capacity(primitives::bounded_capacity(usize::from(n), rest.len(), 4));
    for _ in 0..n {
        let (r, v) = value_in(version)(rest)?;
        values.push(Value::from_raw(v, body));
        rest = r;
    }
    Ok((rest, BatchStatement { query, values }))
}

impl Batch {
    /// Decodes a BATCH body.
    pub fn decode(body: &Bytes, version: ProtocolVersion) -> Result<Self, DecodeError> {
        decode_all(body, |input| {
            let (rest, t) = primitives::byte(input)?;
            let batch_type = BatchType::from_code(t).ok_or(fail(DecodeError::InvalidValue {
                what: "batch type",
                value: i64::from(t),
            }))?;
            let (mut rest, n) = primitives::short(rest)?;
            let cap = primitives::bounded_capacity(usize::from(n), rest.len(), 5);
            let mut statements = Vec::with_capacity(cap);
            for _ in 0..n {
                let (r, s) = statement(rest, body, version)?;
                statements.push(s);
                rest = r;
            }
            let (rest, consistency) = consistency(rest)?;
            let (mut rest, bits) = query_flags(rest, version, BATCH_FLAGS)?;
            let mut b = Self {
                batch_type,
                statements,
                consistency,
                ..Self::default()
            };
            if bits & flags::SERIAL_CONSISTENCY != 0 {
                let (r, s) = serial_consistency(rest)?;
                b.serial_consistency = Some(s);
                rest = r;
            }
            if bits & flags::TIMESTAMP != 0 {
                let (r, t) = primitives::long(rest)?;
                b.timestamp = Some(t);
                rest = r;
            }
            if bits & flags::KEYSPACE != 0 {
                let (r, k) = primitives::string(rest)?;
                b.keyspace = Some(k.to_owned());
                rest = r;
            }
            if bits & flags::NOW_IN_SECONDS != 0 {
                let (r, n) = primitives::int(rest)?;
                b.now_in_seconds = Some(n);
                rest = r;
            }
            Ok((rest, b))
        })
    }

    /// The flags word this batch encodes to.
    pub fn flags(&self) -> u32 {
        let mut bits = 0;
        for (present, bit) in [
            (self.serial_consistency.is_some(), flags::SERIAL_CONSISTENCY),
            (self.timestamp.is_some(), flags::TIMESTAMP),
            (self.keyspace.is_some(), flags::KEYSPACE),
            (self.now_in_seconds.is_some(), flags::NOW_IN_SECONDS),
        ] {
            if present {
                bits |= bit;
            }
        }
        bits
    }

    /// Encodes a BATCH body; keyspace and now_in_seconds need v5.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        require_v5(version, self.keyspace.is_some(), "keyspace")?;
        require_v5(version, self.now_in_seconds.is_some(), "now_in_seconds")?;
        buf.put_u8(self.batch_type.code());
        primitives::put_count_u16(buf, "batch statements", self.statements.len())?;
        for s in &self.statements {
            match &s.query {
                BatchQuery::Query(q) => {
                    buf.put_u8(0);
                    primitives::put_long_string(buf, q)?;
                }
                BatchQuery::Prepared(id) => {
                    buf.put_u8(1);
                    primitives::put_short_bytes(buf, id)?;
                }
            }
            primitives::put_count_u16(buf, "bound values", s.values.len())?;
            for v in &s.values {
                put_value_in(buf, version, v)?;
            }
        }
        put_consistency(buf, self.consistency);
        put_query_flags(buf, version, self.flags());
        if let Some(s) = self.serial_consistency {
            put_consistency(buf, s.into());
        }
        if let Some(t) = self.timestamp {
            buf.put_i64(t);
        }
        if let Some(k) = &self.keyspace {
            primitives::put_string(buf, k)?;
        }
        if let Some(n) = self.now_in_seconds {
            buf.put_i32(n);
        }
        Ok(())
    }
}

//! PREPARE (§4.1.5): a CQL string to prepare; v5 adds `[int]` flags and an optional keyspace.

use bytes::{BufMut, Bytes, BytesMut};

use crate::ProtocolVersion;
use crate::primitives::{self, DecodeError, EncodeError, decode_all, fail};

use crate::message::query_params::require_v5;

/// The PREPARE flag announcing a keyspace (v5).
const WITH_KEYSPACE: i32 = 0x01;

/// A PREPARE body: `<query>` and, in v5, `<flags>[<keyspace>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare {
    /// The CQL text (`[long string]`).
    pub query: String,
    /// The keyspace to prepare in, overriding the connection's (v5).
    pub keyspace: Option<String>,
}

impl Prepare {
    /// A PREPARE of `query` with no keyspace.
    pub fn new(query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            keyspace: None,
        }
    }

    /// Decodes a PREPARE body.
    pub fn decode(body: &Bytes, version: ProtocolVersion) -> Result<Self, DecodeError> {
        decode_all(body, |input| {
            let (rest, query) = primitives::long_string(input)?;
            let mut out = Self::new(query);
            if version < ProtocolVersion::V5 {
                return Ok((rest, out));
            }
            let (rest, bits) = primitives::int(rest)?;
            if bits & !WITH_KEYSPACE != 0 {
                return Err(fail(DecodeError::InvalidValue {
                    what: "PREPARE flags",
                    value: i64::from(bits),
                }));
            }
            if bits & WITH_KEYSPACE == 0 {
                return Ok((rest, out));
            }
            let (rest, ks) = primitives::string(rest)?;
            out.keyspace = Some(ks.to_owned());
            Ok((rest, out))
        })
    }

    /// Encodes a PREPARE body; a keyspace needs v5.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        require_v5(version, self.keyspace.is_some(), "PREPARE keyspace")?;
        primitives::put_long_string(buf, &self.query)?;
        if version >= ProtocolVersion::V5 {
            match &self.keyspace {
                Some(ks) => {
                    buf.put_i32(WITH_KEYSPACE);
                    primitives::put_string(buf, ks)?;
                }
                None => buf.put_i32(0),
            }
        }
        Ok(())
    }
}

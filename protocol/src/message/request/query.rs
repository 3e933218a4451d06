//! QUERY (§4.1.4): a CQL string and its parameters.

use bytes::{Bytes, BytesMut};

use crate::ProtocolVersion;
use crate::primitives::{self, DecodeError, EncodeError, decode_all};

use crate::message::query_params::QueryParameters;

/// A QUERY body: `<query><query_parameters>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The CQL text (`[long string]`).
    pub query: String,
    /// Consistency, values, paging and the rest.
    pub params: QueryParameters,
}

impl Query {
    /// A query with these parameters.
    pub fn new(query: impl Into<String>, params: QueryParameters) -> Self {
        Self {
            query: query.into(),
            params,
        }
    }

    /// Decodes a QUERY body.
    pub fn decode(body: &Bytes, version: ProtocolVersion) -> Result<Self, DecodeError> {
        decode_all(body, |input| {
            let (rest, query) = primitives::long_string(input)?;
            let (rest, params) = QueryParameters::parse(rest, body, version)?;
            Ok((
                rest,
                Self {
                    query: query.to_owned(),
                    params,
                },
            ))
        })
    }

    /// Encodes a QUERY body.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        primitives::put_long_string(buf, &self.query)?;
        self.params.encode(version, buf)
    }
}

//! EXECUTE (§4.1.6): a prepared statement's id, (v5) its result metadata id, and parameters.

use bytes::{Bytes, BytesMut};

use crate::ProtocolVersion;
use crate::primitives::{self, DecodeError, EncodeError, decode_all};

use crate::message::query_params::QueryParameters;

/// An EXECUTE body: `<id>[<result_metadata_id>]<query_parameters>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execute {
    /// The prepared statement id (`[short bytes]`), a slice of the body when decoded.
    pub id: Bytes,
    /// The result metadata id the client last saw (`[short bytes]`): present exactly in v5.
    pub result_metadata_id: Option<Bytes>,
    /// Consistency, values, paging and the rest.
    pub params: QueryParameters,
}

impl Execute {
    /// An EXECUTE of prepared statement `id`; `result_metadata_id` must be given exactly in v5.
    pub fn new(id: Bytes, result_metadata_id: Option<Bytes>, params: QueryParameters) -> Self {
        Self {
            id,
            result_metadata_id,
            params,
        }
    }

    /// Decodes an EXECUTE body.
    pub fn decode(body: &Bytes, version: ProtocolVersion) -> Result<Self, DecodeError> {
        decode_all(body, |input| {
            let (mut rest, id) = primitives::short_bytes(input)?;
            let mut result_metadata_id = None;
            if version >= ProtocolVersion::V5 {
                let (r, md) = primitives::short_bytes(rest)?;
                result_metadata_id = Some(body.slice_ref(md));
                rest = r;
            }
            let (rest, params) = QueryParameters::parse(rest, body, version)?;
            Ok((
                rest,
                Self {
                    id: body.slice_ref(id),
                    result_metadata_id,
                    params,
                },
            ))
        })
    }

    /// Encodes an EXECUTE body. v5 needs a result metadata id; earlier versions have none.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        primitives::put_short_bytes(buf, &self.id)?;
        match (&self.result_metadata_id, version >= ProtocolVersion::V5) {
            (Some(md), true) => primitives::put_short_bytes(buf, md)?,
            (None, false) => {}
            (None, true) => {
                return Err(EncodeError::Invalid {
                    what: "EXECUTE",
                    reason: "v5 needs a result metadata id",
                });
            }
            (Some(_), false) => {
                return Err(EncodeError::Invalid {
                    what: "EXECUTE result metadata id",
                    reason: "needs protocol v5",
                });
            }
        }
        self.params.encode(version, buf)
    }
}

//! AUTH_RESPONSE (§4.1.2): a client's SASL token.

use bytes::{Bytes, BytesMut};

use crate::primitives::{self, DecodeError, EncodeError, decode_all};

/// A SASL token (`[bytes]`, possibly null), the body of AUTH_RESPONSE, AUTH_CHALLENGE and
/// AUTH_SUCCESS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthToken {
    /// The token; `None` is a null `[bytes]`.
    pub token: Option<Bytes>,
}

impl AuthToken {
    /// A token with these bytes.
    pub fn new(token: impl Into<Bytes>) -> Self {
        Self {
            token: Some(token.into()),
        }
    }

    /// Decodes a token body (no copy: the token is a slice of `body`).
    pub fn decode(body: &Bytes) -> Result<Self, DecodeError> {
        let token = decode_all(body, primitives::bytes)?;
        Ok(Self {
            token: token.map(|t| body.slice_ref(t)),
        })
    }

    /// Encodes a token body.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        primitives::put_bytes(buf, self.token.as_deref())
    }
}

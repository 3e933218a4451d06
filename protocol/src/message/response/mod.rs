//! Responses: what a server sends (ERROR, READY, AUTHENTICATE, SUPPORTED, RESULT, EVENT,
//! AUTH_CHALLENGE, AUTH_SUCCESS), one file per message.

mod error;
mod event;
mod metadata;
mod result;
mod schema_change;

pub use error::{ErrorCode, ErrorDetails, ErrorResponse, Failures, WriteType};
pub use event::{Event, StatusChangeType, TopologyChangeType};
pub use metadata::{ColumnSpec, PreparedMetadata, RowsMetadata, TableSpec};
pub use result::{Prepared, ResultBody, ResultKind, Rows};
pub use schema_change::{SchemaChange, SchemaChangeTarget, SchemaChangeType};

use bytes::{Bytes, BytesMut};

use super::request::AuthToken;
use crate::primitives::{self, DecodeError, EncodeError, decode_all};
use crate::{Opcode, ProtocolVersion};

/// The options a server supports (SUPPORTED, a `[string multimap]`), in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Supported {
    /// Option name and its supported values, e.g. `("COMPRESSION", ["lz4", "snappy"])`.
    pub options: Vec<(String, Vec<String>)>,
}

impl Supported {
    /// The values listed for option `name`.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// A response body, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// ERROR.
    Error(ErrorResponse),
    /// READY (empty body).
    Ready,
    /// AUTHENTICATE: the authenticator's class name.
    Authenticate(String),
    /// SUPPORTED.
    Supported(Supported),
    /// RESULT.
    Result(ResultBody),
    /// EVENT.
    Event(Event),
    /// AUTH_CHALLENGE.
    AuthChallenge(AuthToken),
    /// AUTH_SUCCESS.
    AuthSuccess(AuthToken),
}

impl Response {
    /// Decodes the body of a response envelope with `opcode` (after any tracing id,
    /// warnings and custom payload; see [`split_response_body`](super::split_response_body)).
    /// A request opcode is an error.
    pub fn decode(
        opcode: Opcode,
        body: &Bytes,
        version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        Ok(match opcode {
            Opcode::Error => Self::Error(ErrorResponse::decode(body, version)?),
            Opcode::Ready => {
                if !body.is_empty() {
                    return Err(DecodeError::TrailingBytes(body.len()));
                }
                Self::Ready
            }
            Opcode::Authenticate => {
                Self::Authenticate(decode_all(body, primitives::string)?.to_owned())
            }
            Opcode::Supported => {
                let map = decode_all(body, primitives::string_multimap)?;
                let options = map
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
                    .collect();
                Self::Supported(Supported { options })
            }
            Opcode::Result => Self::Result(ResultBody::decode(body, version)?),
            Opcode::Event => Self::Event(Event::decode(body, version)?),
            Opcode::AuthChallenge => Self::AuthChallenge(AuthToken::decode(body)?),
            Opcode::AuthSuccess => Self::AuthSuccess(AuthToken::decode(body)?),
            other => {
                return Err(DecodeError::InvalidValue {
                    what: "response opcode",
                    value: i64::from(other as u8),
                });
            }
        })
    }

    /// Appends this response's body, as `version` lays it out, to `buf`.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Self::Error(m) => m.encode(version, buf),
            Self::Ready => Ok(()),
            Self::Authenticate(class) => primitives::put_string(buf, class),
            Self::Supported(s) => primitives::put_string_multimap(buf, &s.options),
            Self::Result(m) => m.encode(version, buf),
            Self::Event(m) => m.encode(version, buf),
            Self::AuthChallenge(m) | Self::AuthSuccess(m) => m.encode(buf),
        }
    }

    /// The opcode this response travels under.
    pub fn opcode(&self) -> Opcode {
        match self {
            Self::Error(_) => Opcode::Error,
            Self::Ready => Opcode::Ready,
            Self::Authenticate(_) => Opcode::Authenticate,
            Self::Supported(_) => Opcode::Supported,
            Self::Result(_) => Opcode::Result,
            Self::Event(_) => Opcode::Event,
            Self::AuthChallenge(_) => Opcode::AuthChallenge,
            Self::AuthSuccess(_) => Opcode::AuthSuccess,
        }
    }
}

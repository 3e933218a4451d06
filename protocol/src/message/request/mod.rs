//! Requests: what a client sends (STARTUP, OPTIONS, QUERY, PREPARE, EXECUTE, REGISTER, BATCH,
//! AUTH_RESPONSE), one file per message.

mod auth;
mod batch;
mod execute;
mod prepare;
mod query;
mod register;
mod startup;

pub use auth::AuthToken;
pub use batch::{Batch, BatchQuery, BatchStatement, BatchType};
pub use execute::Execute;
pub use prepare::Prepare;
pub use query::Query;
pub(crate) use register::event_type;
pub use register::{EventType, Register};
pub use startup::{
    COMPRESSION, CQL_VERSION, DRIVER_NAME, DRIVER_VERSION, Startup, THROW_ON_OVERLOAD,
};

use bytes::{Bytes, BytesMut};

use crate::primitives::{DecodeError, EncodeError};
use crate::{Opcode, ProtocolVersion};

/// A request body, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// STARTUP.
    Startup(Startup),
    /// OPTIONS (empty body).
    Options,
    /// QUERY.
    Query(Query),
    /// PREPARE.
    Prepare(Prepare),
    /// EXECUTE.
    Execute(Execute),
    /// REGISTER.
    Register(Register),
    /// BATCH.
    Batch(Batch),
    /// AUTH_RESPONSE.
    AuthResponse(AuthToken),
}

impl Request {
    /// Decodes the body of a request envelope with `opcode` (after any custom payload prefix;
    /// see [`split_request_body`](super::split_request_body)). A response opcode is an error.
    pub fn decode(
        opcode: Opcode,
        body: &Bytes,
        version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        Ok(match opcode {
            Opcode::Startup => Self::Startup(Startup::decode(body)?),
            Opcode::Options => {
                if !body.is_empty() {
                    return Err(DecodeError::TrailingBytes(body.len()));
                }
                Self::Options
            }
            Opcode::Query => Self::Query(Query::decode(body, version)?),
            Opcode::Prepare => Self::Prepare(Prepare::decode(body, version)?),
            Opcode::Execute => Self::Execute(Execute::decode(body, version)?),
            Opcode::Register => Self::Register(Register::decode(body)?),
            Opcode::Batch => Self::Batch(Batch::decode(body, version)?),
            Opcode::AuthResponse => Self::AuthResponse(AuthToken::decode(body)?),
            other => {
                return Err(DecodeError::InvalidValue {
                    what: "request opcode",
                    value: i64::from(other as u8),
                });
            }
        })
    }

    /// Appends this request's body, as `version` lays it out, to `buf`.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Self::Startup(m) => m.encode(buf),
            Self::Options => Ok(()),
            Self::Query(m) => m.encode(version, buf),
            Self::Prepare(m) => m.encode(version, buf),
            Self::Execute(m) => m.encode(version, buf),
            Self::Register(m) => m.encode(buf),
            Self::Batch(m) => m.encode(version, buf),
            Self::AuthResponse(m) => m.encode(buf),
        }
    }

    /// The opcode this request travels under.
    pub fn opcode(&self) -> Opcode {
        match self {
            Self::Startup(_) => Opcode::Startup,
            Self::Options => Opcode::Options,
            Self::Query(_) => Opcode::Query,
            Self::Prepare(_) => Opcode::Prepare,
            Self::Execute(_) => Opcode::Execute,
            Self::Register(_) => Opcode::Register,
            Self::Batch(_) => Opcode::Batch,
            Self::AuthResponse(_) => Opcode::AuthResponse,
        }
    }
}

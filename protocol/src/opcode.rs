//! Message opcodes (the fifth byte of an envelope header).

/// The opcode of a native protocol message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// ERROR (server to client).
    Error = 0x00,
    /// STARTUP (client to server).
    Startup = 0x01,
    /// READY (server to client).
    Ready = 0x02,
    /// AUTHENTICATE (server to client).
    Authenticate = 0x03,
    /// OPTIONS (client to server).
    Options = 0x05,
    /// SUPPORTED (server to client).
    Supported = 0x06,
    /// QUERY (client to server).
    Query = 0x07,
    /// RESULT (server to client).
    Result = 0x08,
    /// PREPARE (client to server).
    Prepare = 0x09,
    /// EXECUTE (client to server).
    Execute = 0x0A,
    /// REGISTER (client to server).
    Register = 0x0B,
    /// EVENT (server to client).
    Event = 0x0C,
    /// BATCH (client to server).
    Batch = 0x0D,
    /// AUTH_CHALLENGE (server to client).
    AuthChallenge = 0x0E,
    /// AUTH_RESPONSE (client to server).
    AuthResponse = 0x0F,
    /// AUTH_SUCCESS (server to client).
    AuthSuccess = 0x10,
}

impl Opcode {
    /// The opcode for a byte, or `None` for a byte no version defines (0x04 and above 0x10).
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0x00 => Self::Error,
            0x01 => Self::Startup,
            0x02 => Self::Ready,
            0x03 => Self::Authenticate,
            0x05 => Self::Options,
            0x06 => Self::Supported,
            0x07 => Self::Query,
            0x08 => Self::Result,
            0x09 => Self::Prepare,
            0x0A => Self::Execute,
            0x0B => Self::Register,
            0x0C => Self::Event,
            0x0D => Self::Batch,
            0x0E => Self::AuthChallenge,
            0x0F => Self::AuthResponse,
            0x10 => Self::AuthSuccess,
            _ => return None,
        })
    }

    /// The opcode's name as the spec (and Cassandra's errors) write it, e.g. `AUTH_RESPONSE`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Error => "ERROR",
            Self::Startup => "STARTUP",
            Self::Ready => "READY",
            Self::Authenticate => "AUTHENTICATE",
            Self::Options => "OPTIONS",
            Self::Supported => "SUPPORTED",
            Self::Query => "QUERY",
            Self::Result => "RESULT",
            Self::Prepare => "PREPARE",
            Self::Execute => "EXECUTE",
            Self::Register => "REGISTER",
            Self::Event => "EVENT",
            Self::Batch => "BATCH",
            Self::AuthChallenge => "AUTH_CHALLENGE",
            Self::AuthResponse => "AUTH_RESPONSE",
            Self::AuthSuccess => "AUTH_SUCCESS",
        }
    }

    /// Whether a client sends this opcode (as opposed to a server).
    pub fn is_request(self) -> bool {
        matches!(
            self,
            Self::Startup
                | Self::Options
                | Self::Query
                | Self::Prepare
                | Self::Execute
                | Self::Register
                | Self::Batch
                | Self::AuthResponse
        )
    }
}

//! ERROR (§4.2.1, codes in v5 §8 / v4 §9 / v3 §9): a code, a message and per-code fields.
//!
//! Codes a version does not define (including any a newer server adds) decode as
//! [`ErrorDetails::Other`], which keeps the code and the bytes after the message, so they can
//! be passed on unchanged.

use std::net::IpAddr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::ProtocolVersion;
use crate::primitives::{self, DecodeError, EncodeError, Parsed, decode_all};

use crate::message::consistency::{Consistency, consistency, put_consistency};

/// The error codes the spec defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorCode {
    /// Server error (0x0000): a server-side bug.
    ServerError = 0x0000,
    /// Protocol error (0x000A): the client broke the protocol.
    ProtocolError = 0x000A,
    /// Authentication error (0x0100; "Bad credentials" in v3).
    AuthenticationError = 0x0100,
    /// Unavailable (0x1000): not enough live replicas for the consistency level.
    Unavailable = 0x1000,
    /// Overloaded (0x1001).
    Overloaded = 0x1001,
    /// Is_bootstrapping (0x1002).
    IsBootstrapping = 0x1002,
    /// Truncate_error (0x1003).
    TruncateError = 0x1003,
    /// Write_timeout (0x1100).
    WriteTimeout = 0x1100,
    /// Read_timeout (0x1200).
    ReadTimeout = 0x1200,
    /// Read_failure (0x1300, v4+).
    ReadFailure = 0x1300,
    /// Function_failure (0x1400, v4+).
    FunctionFailure = 0x1400,
    /// Write_failure (0x1500, v4+).
    WriteFailure = 0x1500,
    /// CDC_WRITE_FAILURE (0x1600, v5).
    CdcWriteFailure = 0x1600,
    /// CAS_WRITE_UNKNOWN (0x1700, v5).
    CasWriteUnknown = 0x1700,
    /// Syntax_error (0x2000).
    SyntaxError = 0x2000,
    /// Unauthorized (0x2100).
    Unauthorized = 0x2100,
    /// Invalid (0x2200).
    Invalid = 0x2200,
    /// Config_error (0x2300).
    ConfigError = 0x2300,
    /// Already_exists (0x2400).
    AlreadyExists = 0x2400,
    /// Unprepared (0x2500).
    Unprepared = 0x2500,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 20] = [
        Self::ServerError,
        Self::ProtocolError,
        Self::AuthenticationError,
        Self::Unavailable,
        Self::Overloaded,
        Self::IsBootstrapping,
        Self::TruncateError,
        Self::WriteTimeout,
        Self::ReadTimeout,
        Self::ReadFailure,
        Self::FunctionFailure,
        Self::WriteFailure,
        Self::CdcWriteFailure,
        Self::CasWriteUnknown,
        Self::SyntaxError,
        Self::Unauthorized,
        Self::Invalid,
        Self::ConfigError,
        Self::AlreadyExists,
        Self::Unprepared,
    ];

    /// The wire code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The first protocol version that defines this code.
    pub fn since(self) -> ProtocolVersion {
        match self {
            Self::ReadFailure | Self::FunctionFailure | Self::WriteFailure => ProtocolVersion::V4,
            Self::CdcWriteFailure | Self::CasWriteUnknown => ProtocolVersion::V5,
            _ => ProtocolVersion::V3,
        }
    }

    /// The code for `code` if `version` defines it.
    pub fn from_code(code: i32, version: ProtocolVersion) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.code() == code && c.since() <= version)
    }
}

/// What kind of write timed out or failed (`<writeType>`); unknown names are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum WriteType {
    /// `SIMPLE`: a single, non-counter write.
    Simple,
    /// `BATCH`: a logged batch (the batch log was written).
    Batch,
    /// `UNLOGGED_BATCH`.
    UnloggedBatch,
    /// `COUNTER`.
    Counter,
    /// `BATCH_LOG`: the write to the batch log itself.
    BatchLog,
    /// `CAS`: a compare-and-set (Paxos) write.
    Cas,
    /// `VIEW`: a materialized view update.
    View,
    /// `CDC`: CDC space exhausted.
    Cdc,
    /// Any other name a server sends.
    Other(String),
}

impl WriteType {
    const NAMED: [(WriteType, &'static str); 8] = [
        (Self::Simple, "SIMPLE"),
        (Self::Batch, "BATCH"),
        (Self::UnloggedBatch, "UNLOGGED_BATCH"),
        (Self::Counter, "COUNTER"),
        (Self::BatchLog, "BATCH_LOG"),
        (Self::Cas, "CAS"),
        (Self::View, "VIEW"),
        (Self::Cdc, "CDC"),
    ];

    /// The write type for a wire name.
    pub fn from_name(name: &str) -> Self {
        Self::NAMED
            .iter()
            .find(|(_, n)| *n == name)
            .map_or_else(|| Self::Other(name.to_owned()), |(t, _)| t.clone())
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(name) => name,
            known => Self::NAMED
                .iter()
                .find(|(t, _)| t == known)
                .map_or("", |(_, n)| n),
        }
    }
}

/// How a Read_failure or Write_failure counts its failed replicas.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Failures {
    /// v4: `<numfailures>`, a count.
    Count(i32),
    /// v5: `<reasonmap>`, each failed replica with its failure code.
    ByEndpoint(Vec<(IpAddr, u16)>),
}

impl Failures {
    /// How many replicas failed.
    pub fn count(&self) -> usize {
        match self {
            Self::Count(n) => usize::try_from(*n).unwrap_or(0),
            Self::ByEndpoint(m) => m.len(),
        }
    }
}

/// The fields that follow an error's message, by code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorDetails {
    /// Server error.
    ServerError,
    /// Protocol error.
    ProtocolError,
    /// Authentication error.
    AuthenticationError,
    /// Unavailable: the level, replicas required and replicas alive.
    Unavailable {
        /// The consistency level of the request.
        consistency: Consistency,
        /// Replicas that had to be alive.
        required: i32,
        /// Replicas known alive.
        alive: i32,
    },
    /// Overloaded.
    Overloaded,
    /// Is_bootstrapping.
    IsBootstrapping,
    /// Truncate_error.
    TruncateError,
    /// Write_timeout.
    WriteTimeout {
        /// The consistency level of the request.
        consistency: Consistency,
        /// Replicas that acknowledged.
        received: i32,
        /// Acknowledgements required.
        block_for: i32,
        /// What kind of write.
        write_type: WriteType,
        /// v5, and only when the write type is CAS: contentions during the Paxos round.
        contentions: Option<u16>,
    },
    /// Read_timeout.
    ReadTimeout {
        /// The consistency level of the request.
        consistency: Consistency,
        /// Replicas that answered.
        received: i32,
        /// Answers required.
        block_for: i32,
        /// Whether the replica asked for data answered.
        data_present: bool,
    },
    /// Read_failure (v4+).
    ReadFailure {
        /// The consistency level of the request.
        consistency: Consistency,
        /// Replicas that answered.
        received: i32,
        /// Answers required.
        block_for: i32,
        /// The failed replicas: a count in v4, a reason map in v5.
        failures: Failures,
        /// Whether the replica asked for data answered.
        data_present: bool,
    },
    /// Function_failure (v4+).
    FunctionFailure {
        /// The function's keyspace.
        keyspace: String,
        /// The function's name.
        function: String,
        /// Its argument types, as CQL types.
        arg_types: Vec<String>,
    },
    /// Write_failure (v4+).
    WriteFailure {
        /// The consistency level of the request.
        consistency: Consistency,
        /// Replicas that answered.
        received: i32,
        /// Answers required.
        block_for: i32,
        /// The failed replicas: a count in v4, a reason map in v5.
        failures: Failures,
        /// What kind of write.
        write_type: WriteType,
    },
    /// CDC_WRITE_FAILURE (v5): no fields beyond the message.
    CdcWriteFailure,
    /// CAS_WRITE_UNKNOWN (v5).
    CasWriteUnknown {
        /// The consistency level of the request.
        consistency: Consistency,
        /// Replicas that acknowledged.
        received: i32,
        /// Acknowledgements required.
        block_for: i32,
    },
    /// Syntax_error.
    SyntaxError,
    /// Unauthorized.
    Unauthorized,
    /// Invalid.
    Invalid,
    /// Config_error.
    ConfigError,
    /// Already_exists: the keyspace, and the table ("" when the keyspace exists).
    AlreadyExists {
        /// The keyspace.
        keyspace: String,
        /// The table, or "".
        table: String,
    },
    /// Unprepared: the unknown prepared id.
    Unprepared {
        /// The id (`[short bytes]`).
        id: Bytes,
    },
    /// A code this version does not define, with the bytes after the message kept as they
    /// came.
    Other {
        /// The code.
        code: i32,
        /// Everything after the message.
        extra: Bytes,
    },
}

/// An ERROR body: `<code><message>` and the code's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// The human-readable message.
    pub message: String,
    /// The code's fields (and so the code).
    pub details: ErrorDetails,
}

impl ErrorResponse {
    /// An error with `details` and `message`.
    pub fn new(details: ErrorDetails, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            details,
        }
    }

    /// The wire code.
    pub fn code(&self) -> i32 {
        self.details.code()
    }
}

impl ErrorDetails {
    /// The wire code.
    pub fn code(&self) -> i32 {
        match self.known_code() {
            Some(c) => c.code(),
            None => match self {
                Self::Other { code, .. } => *code,
                _ => 0,
            },
        }
    }

    /// The typed code, `None` for [`ErrorDetails::Other`].
    pub fn known_code(&self) -> Option<ErrorCode> {
        Some(match self {
            Self::ServerError => ErrorCode::ServerError,
            Self::ProtocolError => ErrorCode::ProtocolError,
            Self::AuthenticationError => ErrorCode::AuthenticationError,
            Self::Unavailable { .. } => ErrorCode::Unavailable,
            Self::Overloaded => ErrorCode::Overloaded,
            Self::IsBootstrapping => ErrorCode::IsBootstrapping,
            Self::TruncateError => ErrorCode::TruncateError,
            Self::WriteTimeout { .. } => ErrorCode::WriteTimeout,
            Self::ReadTimeout { .. } => ErrorCode::ReadTimeout,
            Self::ReadFailure { .. } => ErrorCode::ReadFailure,
            Self::FunctionFailure { .. } => ErrorCode::FunctionFailure,
            Self::WriteFailure { .. } => ErrorCode::WriteFailure,
            Self::CdcWriteFailure => ErrorCode::CdcWriteFailure,
            Self::CasWriteUnknown { .. } => ErrorCode::CasWriteUnknown,
            Self::SyntaxError => ErrorCode::SyntaxError,
            Self::Unauthorized => ErrorCode::Unauthorized,
            Self::Invalid => ErrorCode::Invalid,
            Self::ConfigError => ErrorCode::ConfigError,
            Self::AlreadyExists { .. } => ErrorCode::AlreadyExists,
            Self::Unprepared { .. } => ErrorCode::Unprepared,
            Self::Other { .. } => return None,
        })
    }
}

/// `<cl><received><blockfor>`, shared by the timeout and failure errors.
fn cl_received_blockfor(input: &[u8]) -> Parsed<'_, (Consistency, i32, i32)> {
    let (rest, cl) = consistency(input)?;
    let (rest, received) = primitives::int(rest)?;
    let (rest, block_for) = primitives::int(rest)?;
    Ok((rest, (cl, received, block_for)))
}

fn failures(input: &[u8], version: ProtocolVersion) -> Parsed<'_, Failures> {
    if version < ProtocolVersion::V5 {
        let (rest, n) = primitives::int(input)?;
        return Ok((rest, Failures::Count(n)));
    }
    let (mut rest, n) = primitives::count(input)?;
    let mut map = Vec::with_capacity(primitives::bounded_capacity(n, rest.len(), 7));
    for _ in 0..n {
        let (r, ip) = primitives::inetaddr(rest)?;
        let (r, code) = primitives::short(r)?;
        map.push((ip, code));
        rest = r;
    }
    Ok((rest, Failures::ByEndpoint(map)))
}

fn put_failures(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    f: &Failures,
) -> Result<(), EncodeError> {
    match (f, version >= ProtocolVersion::V5) {
        (Failures::Count(n), false) => buf.put_i32(*n),
        (Failures::ByEndpoint(m), false) => primitives::put_count_i32(buf, "failures", m.len())?,
        (Failures::ByEndpoint(m), true) => {
            primitives::put_count_i32(buf, "reason map", m.len())?;
            for (ip, code) in m {
                primitives::put_inetaddr(buf, *ip);
                buf.put_u16(*code);
            }
        }
        (Failures::Count(_), true) => {
            return Err(EncodeError::Invalid {
                what: "failures",
                reason: "v5 needs a reason map, not a count",
            });
        }
    }
    Ok(())
}

fn details<'a>(
    code: i32,
    input: &'a [u8],
    body: &Bytes,
    version: ProtocolVersion,
) -> Parsed<'a, ErrorDetails> {
    use ErrorDetails as D;
    let Some(known) = ErrorCode::from_code(code, version) else {
        let extra = body.slice_ref(input);
        let done: &[u8] = &[];
        return Ok((done, D::Other { code, extra }));
    };
    let plain = |d| Ok((input, d));
    match known {
        ErrorCode::ServerError => plain(D::ServerError),
        ErrorCode::ProtocolError => plain(D::ProtocolError),
        ErrorCode::AuthenticationError => plain(D::AuthenticationError),
        ErrorCode::Overloaded => plain(D::Overloaded),
        ErrorCode::IsBootstrapping => plain(D::IsBootstrapping),
        ErrorCode::TruncateError => plain(D::TruncateError),
        ErrorCode::CdcWriteFailure => plain(D::CdcWriteFailure),
        ErrorCode::SyntaxError => plain(D::SyntaxError),
        ErrorCode::Unauthorized => plain(D::Unauthorized),
        ErrorCode::Invalid => plain(D::Invalid),
        ErrorCode::ConfigError => plain(D::ConfigError),
        ErrorCode::Unavailable => {
            let (rest, (consistency, required, alive)) = cl_received_blockfor(input)?;
            Ok((
                rest,
                D::Unavailable {
                    consistency,
                    required,
                    alive,
                },
            ))
        }
        ErrorCode::WriteTimeout => {
            let (rest, (consistency, received, block_for)) = cl_received_blockfor(input)?;
            let (mut rest, wt) = primitives::string(rest)?;
            let write_type = WriteType::from_name(wt);
            let mut contentions = None;
            if version >= ProtocolVersion::V5 && write_type == WriteType::Cas {
                let (r, c) = primitives::short(rest)?;
                contentions = Some(c);
                rest = r;
            }
            Ok((
                rest,
                D::WriteTimeout {
                    consistency,
                    received,
                    block_for,
                    write_type,
                    contentions,
                },
            ))
        }
        ErrorCode::ReadTimeout => {
            let (rest, (consistency, received, block_for)) = cl_received_blockfor(input)?;
            let (rest, present) = primitives::byte(rest)?;
            Ok((
                rest,
                D::ReadTimeout {
                    consistency,
                    received,
                    block_for,
                    data_present: present != 0,
                },
            ))
        }
        ErrorCode::ReadFailure => {
            let (rest, (consistency, received, block_for)) = cl_received_blockfor(input)?;
            let (rest, failures) = failures(rest, version)?;
            let (rest, present) = primitives::byte(rest)?;
            Ok((
                rest,
                D::ReadFailure {
                    consistency,
                    received,
                    block_for,
                    failures,
                    data_present: present != 0,
                },
            ))
        }
        ErrorCode::FunctionFailure => {
            let (rest, keyspace) = primitives::string(input)?;
            let (rest, function) = primitives::string(rest)?;
            let (rest, args) = primitives::string_list(rest)?;
            Ok((
                rest,
                D::FunctionFailure {
                    keyspace: keyspace.to_owned(),
                    function: function.to_owned(),
                    arg_types: args.into_iter().map(str::to_owned).collect(),
                },
            ))
        }
        ErrorCode::WriteFailure => {
            let (rest, (consistency, received, block_for)) = cl_received_blockfor(input)?;
            let (rest, failures) = failures(rest, version)?;
            let (rest, wt) = primitives::string(rest)?;
            Ok((
                rest,
                D::WriteFailure {
                    consistency,
                    received,
                    block_for,
                    failures,
                    write_type: WriteType::from_name(wt),
                },
            ))
        }
        ErrorCode::CasWriteUnknown => {
            let (rest, (consistency, received, block_for)) = cl_received_blockfor(input)?;
            Ok((
                rest,
                D::CasWriteUnknown {
                    consistency,
                    received,
                    block_for,
                },
            ))
        }
        ErrorCode::AlreadyExists => {
            let (rest, keyspace) = primitives::string(input)?;
            let (rest, table) = primitives::string(rest)?;
            Ok((
                rest,
                D::AlreadyExists {
                    keyspace: keyspace.to_owned(),
                    table: table.to_owned(),
                },
            ))
        }
        ErrorCode::Unprepared => {
            let (rest, id) = primitives::short_bytes(input)?;
            Ok((
                rest,
                D::Unprepared {
                    id: body.slice_ref(id),
                },
            ))
        }
    }
}

fn put_cl_received_blockfor(buf: &mut BytesMut, cl: Consistency, received: i32, block_for: i32) {
    put_consistency(buf, cl);
    buf.put_i32(received);
    buf.put_i32(block_for);
}

impl ErrorResponse {
    /// Decodes an ERROR body.
    pub fn decode(body: &Bytes, version: ProtocolVersion) -> Result<Self, DecodeError> {
        decode_all(body, |input| {
            let (rest, code) = primitives::int(input)?;
            let (rest, message) = primitives::string(rest)?;
            let (rest, details) = details(code, rest, body, version)?;
            Ok((
                rest,
                Self {
                    message: message.to_owned(),
                    details,
                },
            ))
        })
    }

    /// Encodes an ERROR body. Codes `version` does not define are refused (except as
    /// [`ErrorDetails::Other`], which must not reuse a code the version defines).
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        use ErrorDetails as D;
        match self.details.known_code() {
            Some(c) if c.since() > version => {
                return Err(EncodeError::Invalid {
                    what: "error code",
                    reason: "not defined in this protocol version",
                });
            }
            None if ErrorCode::from_code(self.code(), version).is_some() => {
                return Err(EncodeError::Invalid {
                    what: "error code",
                    reason: "a defined code needs its typed fields",
                });
            }
            _ => {}
        }
        buf.put_i32(self.code());
        primitives::put_string(buf, &self.message)?;
        match &self.details {
            D::ServerError
            | D::ProtocolError
            | D::AuthenticationError
            | D::Overloaded
            | D::IsBootstrapping
            | D::TruncateError
            | D::CdcWriteFailure
            | D::SyntaxError
            | D::Unauthorized
            | D::Invalid
            | D::ConfigError => {}
            D::Unavailable {
                consistency,
                required,
                alive,
            } => put_cl_received_blockfor(buf, *consistency, *required, *alive),
            D::WriteTimeout {
                consistency,
                received,
                block_for,
                write_type,
                contentions,
            } => {
                put_cl_received_blockfor(buf, *consistency, *received, *block_for);
                primitives::put_string(buf, write_type.as_str())?;
                if version >= ProtocolVersion::V5 && *write_type == WriteType::Cas {
                    let c = contentions.ok_or(EncodeError::Invalid {
                        what: "Write_timeout",
                        reason: "a v5 CAS timeout needs its contentions",
                    })?;
                    buf.put_u16(c);
                }
            }
            D::ReadTimeout {
                consistency,
                received,
                block_for,
                data_present,
            } => {
                put_cl_received_blockfor(buf, *consistency, *received, *block_for);
                buf.put_u8(u8::from(*data_present));
            }
            D::ReadFailure {
                consistency,
                received,
                block_for,
                failures,
                data_present,
            } => {
                put_cl_received_blockfor(buf, *consistency, *received, *block_for);
                put_failures(buf, version, failures)?;
                buf.put_u8(u8::from(*data_present));
            }
            D::FunctionFailure {
                keyspace,
                function,
                arg_types,
            } => {
                primitives::put_string(buf, keyspace)?;
                primitives::put_string(buf, function)?;
                primitives::put_string_list(buf, arg_types)?;
            }
            D::WriteFailure {
                consistency,
                received,
                block_for,
                failures,
                write_type,
            } => {
                put_cl_received_blockfor(buf, *consistency, *received, *block_for);
                put_failures(buf, version, failures)?;
                primitives::put_string(buf, write_type.as_str())?;
            }
            D::CasWriteUnknown {
                consistency,
                received,
                block_for,
            } => put_cl_received_blockfor(buf, *consistency, *received, *block_for),
            D::AlreadyExists { keyspace, table } => {
                primitives::put_string(buf, keyspace)?;
                primitives::put_string(buf, table)?;
            }
            D::Unprepared { id } => primitives::put_short_bytes(buf, id)?,
            D::Other { extra, .. } => buf.put_slice(extra),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_defined_from_their_version() {
        assert_eq!(ErrorCode::from_code(0x1300, ProtocolVersion::V3), None);
        assert_eq!(
            ErrorCode::from_code(0x1300, ProtocolVersion::V4),
            Some(ErrorCode::ReadFailure)
        );
        assert_eq!(ErrorCode::from_code(0x1700, ProtocolVersion::V4), None);
        assert_eq!(
            ErrorCode::from_code(0x1700, ProtocolVersion::V5),
            Some(ErrorCode::CasWriteUnknown)
        );
        assert_eq!(ErrorCode::from_code(0x2600, ProtocolVersion::V5), None);
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(c.code(), ProtocolVersion::V5), Some(c));
        }
    }

    #[test]
    fn write_type_names() {
        for name in [
            "SIMPLE",
            "BATCH",
            "UNLOGGED_BATCH",
            "COUNTER",
            "BATCH_LOG",
            "CAS",
            "VIEW",
            "CDC",
        ] {
            let t = WriteType::from_name(name);
            assert!(!matches!(t, WriteType::Other(_)), "{name}");
            assert_eq!(t.as_str(), name);
        }
        assert_eq!(WriteType::from_name("NEW"), WriteType::Other("NEW".into()));
    }

    #[test]
    fn encoding_refuses_codes_the_version_lacks() {
        let e = ErrorResponse::new(
            ErrorDetails::CasWriteUnknown {
                consistency: Consistency::Serial,
                received: 0,
                block_for: 1,
            },
            "",
        );
        assert!(e.encode(ProtocolVersion::V4, &mut BytesMut::new()).is_err());
        assert!(e.encode(ProtocolVersion::V5, &mut BytesMut::new()).is_ok());
        // An "other" error must not disguise a code the version defines.
        let disguised = ErrorResponse::new(
            ErrorDetails::Other {
                code: 0x1000,
                extra: Bytes::new(),
            },
            "",
        );
        assert!(
            disguised
                .encode(ProtocolVersion::V4, &mut BytesMut::new())
                .is_err()
        );
    }
}

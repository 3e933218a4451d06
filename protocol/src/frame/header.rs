//! The 9-byte envelope header: version and direction, flags, stream id, opcode, body length.

use std::fmt;
use std::ops::BitOr;

use bytes::BufMut;

use super::{Decoded, FrameError};
use crate::{Direction, Opcode, ProtocolVersion};

/// Length of an envelope header (v3 and later) in bytes.
pub const HEADER_LEN: usize = 9;

/// The flags byte of an envelope header.
///
/// Bits this crate does not know are kept as received, so a proxy forwards them unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// The body is compressed with the codec negotiated in STARTUP (v3/v4; ignored in v5).
    pub const COMPRESSION: Flags = Flags(0x01);
    /// Tracing requested (request) or a tracing id prefixes the body (response).
    pub const TRACING: Flags = Flags(0x02);
    /// A custom payload `[bytes map]` prefixes the body.
    pub const CUSTOM_PAYLOAD: Flags = Flags(0x04);
    /// A warnings `[string list]` prefixes the response body.
    pub const WARNING: Flags = Flags(0x08);
    /// The client opts in to a beta protocol version.
    pub const BETA: Flags = Flags(0x10);

    /// No flag set.
    pub const fn empty() -> Self {
        Flags(0)
    }

    /// The flags of a raw flags byte, unknown bits included.
    #[inline]
    pub const fn from_bits(bits: u8) -> Self {
        Flags(bits)
    }

    /// The raw flags byte.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set here.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// These flags with `other` set too.
    #[must_use]
    pub const fn with(self, other: Flags) -> Self {
        Flags(self.0 | other.0)
    }

    /// These flags with `other` cleared.
    #[must_use]
    pub const fn without(self, other: Flags) -> Self {
        Flags(self.0 & !other.0)
    }
}

impl BitOr for Flags {
    type Output = Flags;

    fn bitor(self, rhs: Flags) -> Flags {
        self.with(rhs)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(Flags, &str); 5] = [
            (Flags::COMPRESSION, "COMPRESSION"),
            (Flags::TRACING, "TRACING"),
            (Flags::CUSTOM_PAYLOAD, "CUSTOM_PAYLOAD"),
            (Flags::WARNING, "WARNING"),
            (Flags::BETA, "BETA"),
        ];
        write!(f, "Flags(")?;
        let mut rest = *self;
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                write!(f, "{}{name}", if first { "" } else { " | " })?;
                first = false;
                rest = rest.without(flag);
            }
        }
        if rest.0 != 0 || first {
            write!(f, "{}{:#04x}", if first { "" } else { " | " }, rest.0)?;
        }
        write!(f, ")")
    }
}

/// An envelope header, without the body length (which belongs to the body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// The protocol version of the envelope.
    pub version: ProtocolVersion,
    /// Request (client to server) or response (server to client).
    pub direction: Direction,
    /// The flags byte.
    pub flags: Flags,
    /// The stream id: chosen by the client, echoed by the server; -1 for server events.
    pub stream: i16,
    /// Which message the body holds.
    pub opcode: Opcode,
}

impl Header {
    /// A header with no flags set.
    pub fn new(
        version: ProtocolVersion,
        direction: Direction,
        stream: i16,
        opcode: Opcode,
    ) -> Self {
        Header {
            version,
            direction,
            flags: Flags::empty(),
            stream,
            opcode,
        }
    }

    /// Parses a header from the start of `buf`, returning it with the body length it announces.
    ///
    /// Returns [`Decoded::NeedMore`] when `buf` is too short. An unsupported version is reported
    /// as soon as the stream id is readable (the third byte for versions 1 and 2, whose headers
    /// have a one-byte stream id, the fourth otherwise), so a server can answer a v1/v2 client
    /// whose whole request is shorter than nine bytes.
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<Decoded<(Header, u32)>, FrameError> {
        let Some(&version_byte) = buf.first() else {
            return Ok(Decoded::NeedMore(HEADER_LEN));
        };
        let number = version_byte & 0x7F;
        let Some(version) = ProtocolVersion::from_number(number) else {
            return unsupported_version(buf, version_byte);
        };
        let Some(&[_, flags, s0, s1, opcode, l0, l1, l2, l3]) = buf.first_chunk::<HEADER_LEN>()
        else {
            return Ok(Decoded::NeedMore(HEADER_LEN.saturating_sub(buf.len())));
        };
        let stream = i16::from_be_bytes([s0, s1]);
        let Some(opcode) = Opcode::from_byte(opcode) else {
            return Err(FrameError::UnknownOpcode { opcode, stream });
        };
        let direction = if version_byte & 0x80 == 0 {
            Direction::Request
        } else {
            Direction::Response
        };
        let header = Header {
            version,
            direction,
            flags: Flags::from_bits(flags),
            stream,
            opcode,
        };
        Ok(Decoded::Ready((
            header,
            u32::from_be_bytes([l0, l1, l2, l3]),
        )))
    }

    /// The version byte: the version number with the direction bit.
    #[inline]
    pub fn version_byte(&self) -> u8 {
        self.version.number() | self.direction.bit()
    }

    /// The header's nine bytes, for a body of `body_len` bytes.
    #[inline]
    pub fn to_bytes(&self, body_len: u32) -> [u8; HEADER_LEN] {
        let [s0, s1] = self.stream.to_be_bytes();
        let [l0, l1, l2, l3] = body_len.to_be_bytes();
        [
            self.version_byte(),
            self.flags.bits(),
            s0,
            s1,
            self.opcode as u8,
            l0,
            l1,
            l2,
            l3,
        ]
    }

    /// Appends the header for a body of `body_len` bytes to `out`.
    #[inline]
    pub fn encode(&self, body_len: u32, out: &mut impl BufMut) {
        out.put_slice(&self.to_bytes(body_len));
    }
}

/// The error for a header whose version is unsupported, once its stream id is readable.
#[cold]
fn unsupported_version(buf: &[u8], version_byte: u8) -> Result<Decoded<(Header, u32)>, FrameError> {
    let stream = if version_byte & 0x7F < 3 {
        // Versions 1 and 2: version, flags, one signed stream byte, opcode, length.
        buf.get(2).map(|&b| i16::from(b as i8))
    } else {
        buf.get(2..4)
            .and_then(|s| s.first_chunk::<2>())
            .map(|&s| i16::from_be_bytes(s))
    };
    match stream {
        Some(stream) => Err(FrameError::UnsupportedVersion {
            version_byte,
            stream,
        }),
        None => {
            let needed = if version_byte & 0x7F < 3 { 3 } else { 4 };
            Ok(Decoded::NeedMore(needed - buf.len().min(needed)))
        }
    }
}

/// Replaces the stream id of the encoded envelope at the start of `envelope`, in place, leaving
/// every other byte (the body included) untouched. Returns the stream id it replaced.
///
/// This is the proxy's hot path: a request is forwarded to a replica under a stream id of the
/// replica connection, and the response goes back under the client's. Only the length of the
/// buffer is checked; the caller has decoded the header already.
#[inline]
pub fn rewrite_stream_id(envelope: &mut [u8], stream: i16) -> Result<i16, FrameError> {
    let len = envelope.len();
    match envelope
        .get_mut(2..4)
        .and_then(|s| s.first_chunk_mut::<2>())
    {
        Some(slot) => {
            let old = i16::from_be_bytes(*slot);
            *slot = stream.to_be_bytes();
            Ok(old)
        }
        None => Err(FrameError::ShortHeader { len }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ready(buf: &[u8]) -> (Header, u32) {
        match Header::parse(buf) {
            Ok(Decoded::Ready(h)) => h,
            other => panic!("expected a header, got {other:?}"),
        }
    }

    #[test]
    fn spec_startup_header() {
        // A v4 STARTUP request on stream 0 with a 22-byte body.
        let bytes = [0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x16];
        let (h, len) = parse_ready(&bytes);
        assert_eq!(
            h,
            Header::new(ProtocolVersion::V4, Direction::Request, 0, Opcode::Startup)
        );
        assert_eq!(len, 22);
        assert_eq!(h.to_bytes(len), bytes);
    }

    #[test]
    fn spec_event_header() {
        // A v5 EVENT response: direction bit set, stream -1, warning flag.
        let bytes = [0x85, 0x08, 0xFF, 0xFF, 0x0C, 0x00, 0x00, 0x01, 0x00];
        let (h, len) = parse_ready(&bytes);
        assert_eq!(h.version, ProtocolVersion::V5);
        assert_eq!(h.direction, Direction::Response);
        assert_eq!(h.flags, Flags::WARNING);
        assert_eq!(h.stream, -1);
        assert_eq!(h.opcode, Opcode::Event);
        assert_eq!(len, 256);
        assert_eq!(h.version_byte(), 0x85);
        assert_eq!(h.to_bytes(len), bytes);
    }

    #[test]
    fn short_input_asks_for_the_rest() {
        let bytes = [0x04, 0x00, 0x00, 0x07, 0x07, 0x00, 0x00, 0x00, 0x10];
        for n in 0..HEADER_LEN {
            assert_eq!(
                Header::parse(&bytes[..n]),
                Ok(Decoded::NeedMore(HEADER_LEN - n))
            );
        }
    }

    #[test]
    fn unsupported_versions_report_byte_and_stream() {
        let v66 = [0x42, 0x00, 0x01, 0x02, 0x05, 0x00, 0x00, 0x00, 0x00];
        let v6 = [0x06, 0x10, 0x00, 0x05];
        assert_eq!(
            Header::parse(&v66),
            Err(FrameError::UnsupportedVersion {
                version_byte: 0x42,
                stream: 0x0102
            })
        );
        assert_eq!(Header::parse(&v66[..3]), Ok(Decoded::NeedMore(1)));
        assert_eq!(
            Header::parse(&v6),
            Err(FrameError::UnsupportedVersion {
                version_byte: 6,
                stream: 5
            })
        );
        // A v2 OPTIONS is 8 bytes with a one-byte stream id.
        let v2 = [0x02, 0x00, 0xFE, 0x05, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(
            Header::parse(&v2),
            Err(FrameError::UnsupportedVersion {
                version_byte: 2,
                stream: -2
            })
        );
        assert_eq!(Header::parse(&v2[..2]), Ok(Decoded::NeedMore(1)));
    }

    #[test]
    fn unknown_opcode_is_typed() {
        for op in [0x04, 0x11, 0xFF] {
            let bytes = [0x84, 0x00, 0x00, 0x09, op, 0x00, 0x00, 0x00, 0x00];
            assert_eq!(
                Header::parse(&bytes),
                Err(FrameError::UnknownOpcode {
                    opcode: op,
                    stream: 9
                })
            );
        }
    }

    #[test]
    fn unknown_flag_bits_are_kept() {
        let bytes = [0x04, 0xE3, 0x00, 0x01, 0x07, 0x00, 0x00, 0x00, 0x00];
        let (h, len) = parse_ready(&bytes);
        assert!(h.flags.contains(Flags::COMPRESSION | Flags::TRACING));
        assert_eq!(h.to_bytes(len), bytes);
        assert_eq!(
            format!("{:?}", h.flags),
            "Flags(COMPRESSION | TRACING | 0xe0)"
        );
        assert_eq!(format!("{:?}", Flags::empty()), "Flags(0x00)");
    }

    #[test]
    fn rewrite_touches_only_the_stream() {
        let mut bytes = vec![
            0x84, 0x00, 0x00, 0x07, 0x08, 0x00, 0x00, 0x00, 0x02, 0xAB, 0xCD,
        ];
        let before = bytes.clone();
        assert_eq!(rewrite_stream_id(&mut bytes, -300), Ok(7));
        assert_eq!(&bytes[2..4], &(-300i16).to_be_bytes());
        assert_eq!(bytes[..2], before[..2]);
        assert_eq!(bytes[4..], before[4..]);
        assert_eq!(
            rewrite_stream_id(&mut bytes[..3], 1),
            Err(FrameError::ShortHeader { len: 3 })
        );
    }
}

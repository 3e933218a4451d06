//! The answer to an envelope in a protocol version Ringgate does not speak.
//!
//! Drivers open a connection with the newest version they know and step down when the server
//! answers with a protocol error whose message reads "Invalid or unsupported protocol version
//! (N); supported versions are (...)". The answer must be readable by a client that speaks N:
//! below v3 it uses the client's own version and its 8-byte header (one-byte stream id); above
//! v5 it uses a v5 header, the newest layout, as Cassandra does.

use bytes::{BufMut, BytesMut};

use ringgate_protocol::frame::{Flags, HEADER_LEN, Header};
use ringgate_protocol::message::{ErrorDetails, ErrorResponse};
use ringgate_protocol::{Direction, Opcode, ProtocolVersion};

/// The versions named in the refusal.
pub const SUPPORTED_VERSIONS: &str = "3/v3, 4/v4, 5/v5";

/// The refusal's message for version `number`.
pub fn message(number: u8) -> String {
    format!(
        "Invalid or unsupported protocol version ({number}); supported versions are ({SUPPORTED_VERSIONS})"
    )
}

/// The header length of an envelope whose version byte is `version_byte`.
pub(crate) fn header_len(version_byte: u8) -> usize {
    if version_byte & 0x7F < 3 {
        8
    } else {
        HEADER_LEN
    }
}

/// The stream id and whole length (header and body) of the envelope at the front of `input`,
/// read with the layout its version byte implies; `None` while the header is incomplete.
pub(crate) fn peek_envelope(input: &[u8]) -> Option<(i16, u64)> {
    let version_byte = *input.first()?;
    let header_len = header_len(version_byte);
    let header = input.get(..header_len)?;
    let (stream, length) = if header_len == HEADER_LEN {
        (
            i16::from_be_bytes([*header.get(2)?, *header.get(3)?]),
            header.get(5..9)?,
        )
    } else {
        (i16::from(*header.get(2)? as i8), header.get(4..8)?)
    };
    let length = u32::from_be_bytes(length.try_into().ok()?);
    Some((stream, u64::from(length) + header_len as u64))
}

/// Appends the refusal of version byte `version_byte` on `stream` to `out`.
pub(crate) fn encode(version_byte: u8, stream: i16, out: &mut BytesMut) {
    let number = version_byte & 0x7F;
    let error = ErrorResponse::new(ErrorDetails::ProtocolError, message(number));
    let mut body = BytesMut::new();
    // A protocol error's body (code and message) is laid out alike in every version; the
    // message is far below any length limit.
    if error.encode(ProtocolVersion::V5, &mut body).is_err() {
        return;
    }
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    if number < 3 {
        out.put_u8(number | Direction::Response.bit());
        out.put_u8(0);
        out.put_i8(i8::try_from(stream).unwrap_or(0));
        out.put_u8(Opcode::Error as u8);
        out.put_u32(len);
    } else {
        let mut header = Header::new(
            ProtocolVersion::V5,
            Direction::Response,
            stream,
            Opcode::Error,
        );
        header.flags = Flags::empty();
        header.encode(len, out);
    }
    out.put_slice(&body);
}

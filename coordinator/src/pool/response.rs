//! Decoding a response envelope: its prefix (tracing id, warnings, custom payload), then its
//! message.

use ringgate_protocol::ProtocolVersion;
use ringgate_protocol::frame::{Envelope, Flags};
use ringgate_protocol::message::{Response, ResponsePrefix, split_response_body};
use ringgate_protocol::primitives::DecodeError;

/// The prefix and message of a response envelope, decoded as `version` defines them.
pub fn decode_response(
    envelope: &Envelope,
    version: ProtocolVersion,
) -> Result<(ResponsePrefix, Response), DecodeError> {
    let flags = envelope.header.flags;
    let (prefix, body) = split_response_body(
        &envelope.body,
        flags.contains(Flags::TRACING),
        flags.contains(Flags::WARNING),
        flags.contains(Flags::CUSTOM_PAYLOAD),
    )?;
    let response = Response::decode(envelope.header.opcode, &body, version)?;
    Ok((prefix, response))
}

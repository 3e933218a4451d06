//! [`FrameError`]: everything that can be wrong with bytes at the frame layer.

use crate::{Direction, ProtocolVersion};

/// Why bytes could not be decoded (or an envelope encoded) at the frame layer.
///
/// Variants that concern one envelope carry its stream id, so a server can answer on the right
/// stream; [`FrameError::UnsupportedVersion`] also carries the raw version byte, so the answer
/// can be written in a version the peer reads.
///
/// Unless a variant says otherwise, an error leaves the byte stream in an unknown position and
/// the connection should be closed after answering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The version byte names a version this crate does not speak (1, 2, 6, 66, ...).
    #[error("unsupported protocol version byte {version_byte:#04x} (stream {stream})")]
    UnsupportedVersion {
        /// The version byte as received, direction bit included.
        version_byte: u8,
        /// The stream id, read with the layout of the peer's version (one byte before v3).
        stream: i16,
    },
    /// A supported version, but not the one this connection speaks.
    #[error("{actual} envelope on a {expected} connection (stream {stream})")]
    VersionMismatch {
        /// The version the connection speaks.
        expected: ProtocolVersion,
        /// The version the envelope carried.
        actual: ProtocolVersion,
        /// The envelope's stream id.
        stream: i16,
    },
    /// The direction bit says the envelope travels the wrong way (a response sent to a server,
    /// or a request sent to a client).
    #[error("envelope has the wrong direction, expected {expected:?} (stream {stream})")]
    WrongDirection {
        /// The direction this side expects to receive.
        expected: Direction,
        /// The envelope's stream id.
        stream: i16,
    },
    /// The opcode byte names no message.
    #[error("unknown opcode {opcode:#04x} (stream {stream})")]
    UnknownOpcode {
        /// The opcode byte as received.
        opcode: u8,
        /// The envelope's stream id.
        stream: i16,
    },
    /// The header announces a body larger than the configured maximum. Nothing was buffered for
    /// it. The v5 segment decoder recovers from this one: it skips the envelope and goes on.
    #[error("envelope body of {len} bytes exceeds the limit of {max} (stream {stream})")]
    BodyTooLarge {
        /// The body length the header announced (or, when encoding, the body's length).
        len: u64,
        /// The configured maximum.
        max: u64,
        /// The envelope's stream id.
        stream: i16,
    },
    /// A buffer holding an encoded envelope is shorter than an envelope header.
    #[error("{len} bytes are too few for an envelope header")]
    ShortHeader {
        /// The buffer's length.
        len: usize,
    },
    /// A v5 segment header failed its CRC24.
    #[error("segment header CRC24 mismatch: received {received:#08x}, computed {computed:#08x}")]
    SegmentHeaderCrc {
        /// The checksum in the header.
        received: u32,
        /// The checksum of the header bytes.
        computed: u32,
    },
    /// A v5 segment payload failed its CRC32.
    #[error("segment payload CRC32 mismatch: received {received:#010x}, computed {computed:#010x}")]
    SegmentPayloadCrc {
        /// The checksum in the trailer.
        received: u32,
        /// The checksum of the payload bytes.
        computed: u32,
    },
    /// A segment payload longer than [`MAX_PAYLOAD_LEN`](super::segment::MAX_PAYLOAD_LEN) was
    /// to be encoded.
    #[error("segment payload of {len} bytes exceeds the maximum of 131071")]
    SegmentPayloadTooLarge {
        /// The payload's length.
        len: usize,
    },
    /// A self-contained segment ended in the middle of an envelope.
    #[error("self-contained segment ends inside an envelope ({missing} bytes missing)")]
    PartialEnvelopeInSegment {
        /// How many bytes the envelope still needed.
        missing: usize,
    },
    /// A self-contained segment arrived while an envelope split across segments was incomplete.
    #[error("self-contained segment inside a split envelope ({missing} bytes missing)")]
    SplitEnvelopeInterrupted {
        /// How many bytes the split envelope still needed.
        missing: usize,
    },
    /// A segment continuing a split envelope carried bytes past the envelope's end.
    #[error("segment carries {extra} bytes past the end of a split envelope")]
    SplitEnvelopeOverrun {
        /// How many bytes were too many.
        extra: usize,
    },
    /// A compressed body or LZ4 segment could not be decompressed.
    #[error("{codec} decompression failed: {reason}")]
    Decompression {
        /// `"lz4"` or `"snappy"`.
        codec: &'static str,
        /// What the decompressor reported.
        reason: String,
    },
    /// A body could not be compressed (it was too large for the codec).
    #[error("{codec} compression failed: {reason}")]
    Compression {
        /// `"lz4"` or `"snappy"`.
        codec: &'static str,
        /// What the compressor reported.
        reason: String,
    },
    /// Decompression produced a different length than the one declared.
    #[error("decompressed {actual} bytes where {declared} were declared")]
    DecompressedLength {
        /// The declared uncompressed length.
        declared: u64,
        /// What came out.
        actual: u64,
    },
    /// A compressed body declares an uncompressed length above the maximum body size.
    #[error("compressed body declares {declared} bytes, above the limit of {max}")]
    DecompressedTooLarge {
        /// The declared uncompressed length.
        declared: u64,
        /// The configured maximum.
        max: u64,
    },
    /// An envelope has the compression flag but no compression was negotiated.
    #[error("compressed envelope but no compression was negotiated (stream {stream})")]
    CompressionNotNegotiated {
        /// The envelope's stream id.
        stream: i16,
    },
    /// Snappy was asked for on a v5 connection, where only LZ4 exists.
    #[error("v5 framing supports only LZ4 compression")]
    SnappyInV5,
}

impl FrameError {
    /// The stream id of the envelope the error concerns, when it is known: the stream a server
    /// answers an `ERROR` on.
    pub fn stream(&self) -> Option<i16> {
        match *self {
            Self::UnsupportedVersion { stream, .. }
            | Self::VersionMismatch { stream, .. }
            | Self::WrongDirection { stream, .. }
            | Self::UnknownOpcode { stream, .. }
            | Self::BodyTooLarge { stream, .. }
            | Self::CompressionNotNegotiated { stream } => Some(stream),
            _ => None,
        }
    }
}

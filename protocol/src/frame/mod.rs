//! The frame layer: envelopes, v5 segments, CRCs and compression.
//!
//! * [`Envelope`] is one message on the wire: a [`Header`] (version and direction, [`Flags`],
//!   stream id, [`Opcode`](crate::Opcode)) and a body kept as [`Bytes`](bytes::Bytes), sliced
//!   from the received buffer rather than copied.
//! * [`EnvelopeDecoder`] cuts envelopes off a `BytesMut`, checking each header (and the body
//!   limit) before any of the body is buffered; [`rewrite_stream_id`] and [`RawEnvelope`] let a
//!   proxy forward an envelope under another stream id without touching its body.
//! * [`segment`] is v5 framing: [`SegmentEncoder`](segment::SegmentEncoder) and
//!   [`SegmentDecoder`](segment::SegmentDecoder), with Cassandra's CRC24/CRC32 and LZ4.
//! * [`Compression`] is v3/v4 body compression (LZ4, Snappy).
//! * [`FrameCodec`] ties them together for one connection: unframed during the handshake,
//!   then framed (v5) or body-compressed (v3/v4).
//!
//! Nothing here panics on input: malformed bytes are a [`FrameError`].
//!
//! ```
//! use bytes::BytesMut;
//! use ringgate_protocol::frame::{Decoded, Envelope, EnvelopeDecoder, Flags, Header};
//! use ringgate_protocol::{Direction, Opcode, ProtocolVersion};
//!
//! let mut header = Header::new(ProtocolVersion::V4, Direction::Request, 42, Opcode::Query);
//! header.flags = Flags::TRACING;
//! let mut wire = BytesMut::new();
//! Envelope::new(header, &b"body"[..]).encode(&mut wire)?;
//! assert_eq!(&wire[..9], &[0x04, 0x02, 0x00, 0x2A, 0x07, 0x00, 0x00, 0x00, 0x04]);
//!
//! let decoder = EnvelopeDecoder::new().expecting(Direction::Request);
//! match decoder.decode(&mut wire)? {
//!     Decoded::Ready(envelope) => assert_eq!(envelope.body, &b"body"[..]),
//!     Decoded::NeedMore(n) => unreachable!("{n} more bytes needed"),
//! }
//! # Ok::<(), ringgate_protocol::frame::FrameError>(())
//! ```

mod codec;
mod compression;
mod crc;
mod envelope;
mod error;
mod header;
pub mod segment;

pub use codec::{FrameCodec, Mode};
pub use compression::Compression;
pub use envelope::{DEFAULT_MAX_BODY_LEN, Envelope, EnvelopeDecoder, RawEnvelope};
pub use error::FrameError;
pub use header::{Flags, HEADER_LEN, Header, rewrite_stream_id};

/// The outcome of a decoding step that can run out of input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Decoded<T> {
    /// A whole item, taken off the input.
    Ready(T),
    /// The input holds only part of the next item: at least this many more bytes (never zero)
    /// are needed before it can be decoded. The bytes of the incomplete item stay in the input.
    NeedMore(usize),
}

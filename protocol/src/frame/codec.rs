//! [`FrameCodec`]: one connection's frame layer, unframed during the handshake and framed
//! (v5) or body-compressed (v3/v4) after it.

use bytes::BytesMut;

use super::segment::{SegmentDecoder, SegmentEncoder, SegmentFormat};
use super::{Compression, Decoded, Envelope, EnvelopeDecoder, FrameError};
use crate::{Direction, ProtocolVersion};

/// How a connection's bytes are currently cut into envelopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bare envelopes: every version during the handshake, and v3/v4 throughout (bodies may be
    /// compressed).
    Unframed,
    /// v5 segments, after the handshake.
    Framed(SegmentFormat),
}

/// The frame layer of one connection, sans-IO: bytes in, envelopes out; envelopes in, bytes
/// out. The same type serves the server side (talking to a driver) and the client side
/// (talking to a replica).
///
/// It starts unframed. Once STARTUP has been answered with READY or AUTHENTICATE (the server
/// calls [`FrameCodec::established`] right after encoding that answer, the client right after
/// decoding it), every later envelope in both directions goes through the mode the handshake
/// settled: v5 segments (LZ4 or not), or v3/v4 envelopes whose bodies are compressed with the
/// negotiated codec.
///
/// ```
/// use bytes::BytesMut;
/// use ringgate_protocol::frame::{Compression, Decoded, Envelope, FrameCodec, Header};
/// use ringgate_protocol::{Direction, Opcode, ProtocolVersion};
///
/// let mut client = FrameCodec::client();
/// let mut server = FrameCodec::server();
/// let (mut to_server, mut to_client) = (BytesMut::new(), BytesMut::new());
/// let v5 = ProtocolVersion::V5;
///
/// // STARTUP and READY travel unframed.
/// let startup = Envelope::new(Header::new(v5, Direction::Request, 0, Opcode::Startup), &b"\0\0"[..]);
/// client.encode(&startup, &mut to_server)?;
/// let Decoded::Ready(got) = server.decode(&mut to_server)? else { unreachable!() };
/// let ready = Envelope::new(Header::new(v5, Direction::Response, got.header.stream, Opcode::Ready), &b""[..]);
/// server.encode(&ready, &mut to_client)?;
/// server.established(v5, Some(Compression::Lz4))?;
/// let Decoded::Ready(_) = client.decode(&mut to_client)? else { unreachable!() };
/// client.established(v5, Some(Compression::Lz4))?;
///
/// // From here on, LZ4 segments.
/// let query = Envelope::new(Header::new(v5, Direction::Request, 1, Opcode::Query), vec![b'q'; 64]);
/// client.encode(&query, &mut to_server)?;
/// client.flush(&mut to_server)?;
/// assert_eq!(server.decode(&mut to_server)?, Decoded::Ready(query));
/// # Ok::<(), ringgate_protocol::frame::FrameError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameCodec {
    envelopes: EnvelopeDecoder,
    /// v3/v4 body compression, once established.
    compression: Option<Compression>,
    /// v5 segments, once established.
    framed: Option<(SegmentDecoder, SegmentEncoder)>,
}

impl FrameCodec {
    /// A codec whose incoming envelopes are checked by `envelopes` (direction, body limit).
    pub fn new(envelopes: EnvelopeDecoder) -> Self {
        FrameCodec {
            envelopes,
            compression: None,
            framed: None,
        }
    }

    /// The server side of a connection: receives requests, default body limit.
    pub fn server() -> Self {
        Self::new(EnvelopeDecoder::new().expecting(Direction::Request))
    }

    /// The client side of a connection: receives responses, default body limit.
    pub fn client() -> Self {
        Self::new(EnvelopeDecoder::new().expecting(Direction::Response))
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        match &self.framed {
            Some((decoder, _)) => Mode::Framed(decoder.format()),
            None => Mode::Unframed,
        }
    }

    /// Switches to the mode the handshake settled, and pins the version: incoming envelopes of
    /// another version are a [`FrameError::VersionMismatch`] from now on. v5 switches to
    /// segments (LZ4 ones when `compression` is LZ4; Snappy is refused); v3 and v4 stay
    /// unframed and compress bodies with `compression`.
    pub fn established(
        &mut self,
        version: ProtocolVersion,
        compression: Option<Compression>,
    ) -> Result<(), FrameError> {
        if version.is_framed() {
            let format = match compression {
                None => SegmentFormat::Uncompressed,
                Some(Compression::Lz4) => SegmentFormat::Lz4,
                Some(Compression::Snappy) => return Err(FrameError::SnappyInV5),
            };
            self.envelopes.set_version(Some(version));
            let decoder = SegmentDecoder::new(format, self.envelopes.clone());
            self.framed = Some((decoder, SegmentEncoder::new(format)));
            self.compression = None;
        } else {
            self.envelopes.set_version(Some(version));
            self.compression = compression;
            self.framed = None;
        }
        Ok(())
    }

    /// Returns the next envelope from the received bytes in `buf`, with its body decompressed
    /// (v3/v4) when it carries the compression flag. See [`EnvelopeDecoder::decode`] and
    /// [`SegmentDecoder::decode`].
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded<Envelope>, FrameError> {
        match &mut self.framed {
            Some((decoder, _)) => decoder.decode(buf),
            None => match self.envelopes.decode(buf)? {
                Decoded::Ready(envelope) => {
                    let max = self.envelopes.max_body_len();
                    envelope
                        .decompress(self.compression, max)
                        .map(Decoded::Ready)
                }
                Decoded::NeedMore(n) => Ok(Decoded::NeedMore(n)),
            },
        }
    }

    /// Appends an envelope to the bytes to send. Unframed, it is written at once (compressed
    /// when a v3/v4 codec was negotiated); framed, it may wait in a partly filled segment until
    /// [`FrameCodec::flush`].
    pub fn encode(&mut self, envelope: &Envelope, out: &mut BytesMut) -> Result<(), FrameError> {
        match (&mut self.framed, self.compression) {
            (Some((_, encoder)), _) => encoder.push(envelope, out),
            (None, Some(compression)) => envelope.clone().compress(compression)?.encode(out),
            (None, None) => envelope.encode(out),
        }
    }

    /// Appends the partly filled segment, if any. Call it before writing `out` to the peer.
    pub fn flush(&mut self, out: &mut BytesMut) -> Result<(), FrameError> {
        match &mut self.framed {
            Some((_, encoder)) => encoder.flush(out),
            None => Ok(()),
        }
    }

    /// Whether encoded envelopes wait in a segment that [`FrameCodec::flush`] would close.
    pub fn has_pending(&self) -> bool {
        self.framed
            .as_ref()
            .is_some_and(|(_, encoder)| encoder.has_pending())
    }
}

//! Envelopes (`Envelope`, `RawEnvelope`) and the streaming `EnvelopeDecoder`.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::header::{HEADER_LEN, rewrite_stream_id};
use super::{Decoded, FrameError, Header};
use crate::{Direction, ProtocolVersion};

/// The largest body the spec allows, and the decoders' default limit: 256 MiB.
pub const DEFAULT_MAX_BODY_LEN: usize = 256 * 1024 * 1024;

/// One protocol message on the wire: a header and a body that is a slice of the received bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The header (the body length is the body's).
    pub header: Header,
    /// The body, exactly as it travels (compressed when the v3/v4 compression flag is set).
    pub body: Bytes,
}

impl Envelope {
    /// An envelope of this header and body.
    pub fn new(header: Header, body: impl Into<Bytes>) -> Self {
        Envelope {
            header,
            body: body.into(),
        }
    }

    /// The envelope's length on the wire: header and body.
    #[inline]
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.body.len())
    }

    /// The body length as the header's 32-bit field.
    #[inline]
    pub(crate) fn body_len_field(&self) -> Result<u32, FrameError> {
        u32::try_from(self.body.len()).map_err(|_| FrameError::BodyTooLarge {
            len: self.body.len() as u64,
            max: u64::from(u32::MAX),
            stream: self.header.stream,
        })
    }

    /// Appends the encoded envelope to `out`. Fails only for a body longer than the 32-bit
    /// length field can say.
    #[inline]
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), FrameError> {
        let len = self.body_len_field()?;
        out.reserve(self.encoded_len());
        self.header.encode(len, out);
        out.put_slice(&self.body);
        Ok(())
    }

    /// Sets the stream id.
    pub fn set_stream(&mut self, stream: i16) {
        self.header.stream = stream;
    }
}

/// An envelope kept in its encoded form, header included, in a buffer the holder owns: what a
/// proxy forwards after rewriting the stream id in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEnvelope {
    /// The decoded header (kept in step with `bytes` by [`RawEnvelope::set_stream`]).
    pub header: Header,
    bytes: BytesMut,
}

impl RawEnvelope {
    /// The encoded envelope, header and body.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Rewrites the stream id in the encoded header, touching nothing else.
    #[inline]
    pub fn set_stream(&mut self, stream: i16) {
        // The buffer always starts with a whole header, so this cannot fail; if it somehow did
        // the bytes are left as they were.
        if rewrite_stream_id(&mut self.bytes, stream).is_ok() {
            self.header.stream = stream;
        }
    }

    /// The encoded envelope, ready to be written out.
    #[inline]
    pub fn freeze(self) -> Bytes {
        self.bytes.freeze()
    }

    /// The envelope with its body split off, without copying.
    #[inline]
    pub fn into_envelope(mut self) -> Envelope {
        self.bytes.advance(HEADER_LEN.min(self.bytes.len()));
        Envelope {
            header: self.header,
            body: self.bytes.freeze(),
        }
    }
}

/// Cuts whole envelopes off the front of a byte buffer (the unframed protocol, and the inside of
/// v5 segments), checking each header before a byte of its body is buffered.
///
/// The decoder holds no state besides its configuration: a call either takes one whole envelope
/// off the buffer or leaves the buffer as it was and says how many more bytes it needs. It never
/// reserves memory: the caller reads more bytes and calls again.
///
/// ```
/// use bytes::BytesMut;
/// use ringgate_protocol::frame::{Decoded, EnvelopeDecoder};
///
/// let decoder = EnvelopeDecoder::new();
/// // A v4 OPTIONS request on stream 1, in two pieces.
/// let mut buf = BytesMut::from(&[0x04, 0x00, 0x00][..]);
/// assert_eq!(decoder.decode(&mut buf).unwrap(), Decoded::NeedMore(6));
/// buf.extend_from_slice(&[0x01, 0x05, 0x00, 0x00, 0x00, 0x00]);
/// let Decoded::Ready(envelope) = decoder.decode(&mut buf).unwrap() else { panic!() };
/// assert_eq!(envelope.header.stream, 1);
/// assert!(buf.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeDecoder {
    max_body_len: usize,
    direction: Option<Direction>,
    version: Option<ProtocolVersion>,
}

impl Default for EnvelopeDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl EnvelopeDecoder {
    /// A decoder that accepts any supported version in either direction, with bodies up to
    /// [`DEFAULT_MAX_BODY_LEN`].
    pub fn new() -> Self {
        EnvelopeDecoder {
            max_body_len: DEFAULT_MAX_BODY_LEN,
            direction: None,
            version: None,
        }
    }

    /// The same decoder with another body limit.
    #[must_use]
    pub fn with_max_body_len(mut self, max_body_len: usize) -> Self {
        self.max_body_len = max_body_len;
        self
    }

    /// The same decoder, rejecting envelopes that travel the other way: a server expects
    /// [`Direction::Request`], a client [`Direction::Response`].
    #[must_use]
    pub fn expecting(mut self, direction: Direction) -> Self {
        self.direction = Some(direction);
        self
    }

    /// Pins the version once the connection has one (after its STARTUP); `None` accepts any.
    pub fn set_version(&mut self, version: Option<ProtocolVersion>) {
        self.version = version;
    }

    /// The body limit.
    pub fn max_body_len(&self) -> usize {
        self.max_body_len
    }

    /// The direction this decoder accepts, if pinned.
    pub fn direction(&self) -> Option<Direction> {
        self.direction
    }

    /// The version this decoder accepts, if pinned.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// Parses and checks the header at the front of `buf`, returning it with the length of the
    /// whole envelope (header and body). Nothing is consumed.
    #[inline]
    pub fn check_header(&self, buf: &[u8]) -> Result<Decoded<(Header, usize)>, FrameError> {
        let (header, body_len) = match Header::parse(buf)? {
            Decoded::Ready(parsed) => parsed,
            Decoded::NeedMore(n) => return Ok(Decoded::NeedMore(n)),
        };
        let stream = header.stream;
        if let Some(expected) = self.version {
            if header.version != expected {
                return Err(FrameError::VersionMismatch {
                    expected,
                    actual: header.version,
                    stream,
                });
            }
        }
        if let Some(expected) = self.direction {
            if header.direction != expected {
                return Err(FrameError::WrongDirection { expected, stream });
            }
        }
        let too_large = || FrameError::BodyTooLarge {
            len: u64::from(body_len),
            max: self.max_body_len as u64,
            stream,
        };
        let body_len = usize::try_from(body_len).map_err(|_| too_large())?;
        if body_len > self.max_body_len {
            return Err(too_large());
        }
        let total = body_len.checked_add(HEADER_LEN).ok_or_else(too_large)?;
        Ok(Decoded::Ready((header, total)))
    }

    /// Takes one whole envelope off the front of `buf`; the body is a slice of the buffer's
    /// memory, not a copy. On [`Decoded::NeedMore`] or an error `buf` is left unchanged.
    #[inline]
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Decoded<Envelope>, FrameError> {
        Ok(match self.split(buf)? {
            Decoded::Ready((header, mut bytes)) => {
                bytes.advance(HEADER_LEN);
                Decoded::Ready(Envelope {
                    header,
                    body: bytes.freeze(),
                })
            }
            Decoded::NeedMore(n) => Decoded::NeedMore(n),
        })
    }

    /// Like [`EnvelopeDecoder::decode`], but keeps the envelope encoded, in its own mutable
    /// buffer, for forwarding.
    #[inline]
    pub fn decode_raw(&self, buf: &mut BytesMut) -> Result<Decoded<RawEnvelope>, FrameError> {
        Ok(match self.split(buf)? {
            Decoded::Ready((header, bytes)) => Decoded::Ready(RawEnvelope { header, bytes }),
            Decoded::NeedMore(n) => Decoded::NeedMore(n),
        })
    }

    /// Takes one whole envelope off the front of an immutable buffer (a v5 segment payload).
    #[inline]
    pub(crate) fn decode_bytes(&self, buf: &mut Bytes) -> Result<Decoded<Envelope>, FrameError> {
        let (header, total) = match self.check_header(buf)? {
            Decoded::Ready(checked) => checked,
            Decoded::NeedMore(n) => return Ok(Decoded::NeedMore(n)),
        };
        if buf.len() < total {
            return Ok(Decoded::NeedMore(total - buf.len()));
        }
        let mut body = buf.split_to(total);
        body.advance(HEADER_LEN);
        Ok(Decoded::Ready(Envelope { header, body }))
    }

    /// Splits the first whole envelope off `buf`, header included.
    #[inline]
    fn split(&self, buf: &mut BytesMut) -> Result<Decoded<(Header, BytesMut)>, FrameError> {
        let (header, total) = match self.check_header(buf)? {
            Decoded::Ready(checked) => checked,
            Decoded::NeedMore(n) => return Ok(Decoded::NeedMore(n)),
        };
        if buf.len() < total {
            return Ok(Decoded::NeedMore(total - buf.len()));
        }
        Ok(Decoded::Ready((header, buf.split_to(total))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Opcode;

    fn query(stream: i16, body: &'static [u8]) -> Envelope {
        Envelope::new(
            Header::new(
                ProtocolVersion::V4,
                Direction::Request,
                stream,
                Opcode::Query,
            ),
            body,
        )
    }

    #[test]
    fn decodes_back_to_back_envelopes_without_copying() {
        let mut buf = BytesMut::new();
        query(1, b"first").encode(&mut buf).unwrap();
        query(2, b"second").encode(&mut buf).unwrap();
        let start = buf.as_ptr() as usize;
        let decoder = EnvelopeDecoder::new();
        let Ok(Decoded::Ready(a)) = decoder.decode(&mut buf) else {
            panic!()
        };
        let Ok(Decoded::Ready(b)) = decoder.decode(&mut buf) else {
            panic!()
        };
        assert_eq!(a, query(1, b"first"));
        assert_eq!(b, query(2, b"second"));
        // The bodies point into the original allocation.
        assert_eq!(a.body.as_ptr() as usize, start + HEADER_LEN);
        assert_eq!(decoder.decode(&mut buf), Ok(Decoded::NeedMore(HEADER_LEN)));
    }

    #[test]
    fn partial_body_asks_for_the_rest_and_keeps_the_buffer() {
        let mut buf = BytesMut::new();
        query(3, b"0123456789").encode(&mut buf).unwrap();
        let full = buf.clone();
        buf.truncate(12);
        let decoder = EnvelopeDecoder::new();
        assert_eq!(decoder.decode(&mut buf), Ok(Decoded::NeedMore(7)));
        assert_eq!(&buf[..], &full[..12]);
    }

    #[test]
    fn body_limit_is_checked_from_the_header_alone() {
        let decoder = EnvelopeDecoder::new().with_max_body_len(1000);
        // Only the header of a 4 GiB body has arrived.
        let mut buf = BytesMut::from(&[0x04, 0x00, 0x00, 0x05, 0x07, 0xFF, 0xFF, 0xFF, 0xFF][..]);
        assert_eq!(
            decoder.decode(&mut buf),
            Err(FrameError::BodyTooLarge {
                len: 0xFFFF_FFFF,
                max: 1000,
                stream: 5
            })
        );
        assert_eq!(buf.len(), HEADER_LEN);
        assert!(buf.capacity() < 1000);
        // Exactly at the limit is fine.
        let mut buf = BytesMut::from(&[0x04, 0x00, 0x00, 0x05, 0x07, 0x00, 0x00, 0x03, 0xE8][..]);
        assert_eq!(decoder.decode(&mut buf), Ok(Decoded::NeedMore(1000)));
    }

    #[test]
    fn default_limit_is_256_mib() {
        let decoder = EnvelopeDecoder::new();
        let at = (DEFAULT_MAX_BODY_LEN as u32).to_be_bytes();
        let over = (DEFAULT_MAX_BODY_LEN as u32 + 1).to_be_bytes();
        let header = |l: [u8; 4]| [0x84, 0, 0, 0, 0x08, l[0], l[1], l[2], l[3]];
        assert!(matches!(
            decoder.check_header(&header(at)),
            Ok(Decoded::Ready(_))
        ));
        assert!(matches!(
            decoder.check_header(&header(over)),
            Err(FrameError::BodyTooLarge { .. })
        ));
    }

    #[test]
    fn direction_and_version_are_enforced_when_pinned() {
        let mut buf = BytesMut::new();
        query(4, b"").encode(&mut buf).unwrap();
        let client = EnvelopeDecoder::new().expecting(Direction::Response);
        assert_eq!(
            client.decode(&mut buf.clone()),
            Err(FrameError::WrongDirection {
                expected: Direction::Response,
                stream: 4
            })
        );
        let mut v5 = EnvelopeDecoder::new().expecting(Direction::Request);
        v5.set_version(Some(ProtocolVersion::V5));
        assert_eq!(
            v5.decode(&mut buf.clone()),
            Err(FrameError::VersionMismatch {
                expected: ProtocolVersion::V5,
                actual: ProtocolVersion::V4,
                stream: 4
            })
        );
        v5.set_version(Some(ProtocolVersion::V4));
        assert!(matches!(v5.decode(&mut buf), Ok(Decoded::Ready(_))));
    }

    #[test]
    fn raw_envelope_rewrites_the_stream_in_place() {
        let mut buf = BytesMut::new();
        query(7, b"body").encode(&mut buf).unwrap();
        let Ok(Decoded::Ready(mut raw)) = EnvelopeDecoder::new().decode_raw(&mut buf) else {
            panic!()
        };
        raw.set_stream(-12);
        assert_eq!(raw.header.stream, -12);
        let mut expected = BytesMut::new();
        query(-12, b"body").encode(&mut expected).unwrap();
        assert_eq!(raw.as_bytes(), &expected[..]);
        assert_eq!(raw.clone().into_envelope(), query(-12, b"body"));
        assert_eq!(raw.freeze(), expected.freeze());
    }
}

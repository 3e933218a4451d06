//! v5 framing: envelopes travel inside checksummed segments (the spec calls them "frames").
//!
//! A segment is a little-endian header protected by a CRC24, a payload of at most
//! [`MAX_PAYLOAD_LEN`] bytes, and a CRC32 of the payload. A *self-contained* segment carries
//! one or more whole envelopes; an envelope too large for one segment is cut into slices carried
//! by consecutive segments that are not self-contained. With LZ4 the payload is an LZ4 block,
//! or raw bytes when compression would not make it smaller.
//!
//! [`SegmentEncoder`] packs envelopes into segments and [`SegmentDecoder`] turns segments back
//! into envelopes.
//!
//! ```
//! use bytes::BytesMut;
//! use ringgate_protocol::frame::segment::{SegmentDecoder, SegmentEncoder, SegmentFormat};
//! use ringgate_protocol::frame::{Decoded, Envelope, EnvelopeDecoder, Header};
//! use ringgate_protocol::{Direction, Opcode, ProtocolVersion};
//!
//! let header = Header::new(ProtocolVersion::V5, Direction::Request, 1, Opcode::Query);
//! let small = Envelope::new(header, vec![b'q'; 100]);
//! let large = Envelope::new(header, vec![b'x'; 300_000]);
//!
//! let mut wire = BytesMut::new();
//! let mut encoder = SegmentEncoder::new(SegmentFormat::Lz4);
//! encoder.push(&small, &mut wire)?;
//! encoder.push(&large, &mut wire)?;
//! encoder.flush(&mut wire)?;
//!
//! let mut decoder = SegmentDecoder::new(SegmentFormat::Lz4, EnvelopeDecoder::new());
//! assert_eq!(decoder.decode(&mut wire)?, Decoded::Ready(small));
//! assert_eq!(decoder.decode(&mut wire)?, Decoded::Ready(large));
//! assert!(matches!(decoder.decode(&mut wire)?, Decoded::NeedMore(_)));
//! # Ok::<(), ringgate_protocol::frame::FrameError>(())
//! ```

mod decoder;
mod encoder;

pub use decoder::SegmentDecoder;
pub use encoder::{SegmentEncoder, encode_segment};

use super::crc::crc24;
use super::{Decoded, FrameError};

/// The largest payload a segment can carry: 2^17 - 1 bytes (the header's 17-bit length).
pub const MAX_PAYLOAD_LEN: usize = (1 << 17) - 1;

/// The payload Cassandra's server puts in its outgoing segments at most; pass it to
/// [`SegmentEncoder::with_max_payload`] to split exactly as Cassandra does.
pub const CASSANDRA_MAX_PAYLOAD_LEN: usize = 131_060;

/// Length of the CRC32 trailer.
pub(crate) const TRAILER_LEN: usize = 4;

/// Mask of the 17-bit length fields.
const LEN_MASK: u64 = (1 << 17) - 1;

/// Which of the two segment formats a connection uses, fixed by the STARTUP compression option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentFormat {
    /// No compression: 6-byte header (§2.1).
    Uncompressed,
    /// LZ4: 8-byte header with both lengths (§2.2).
    Lz4,
}

impl SegmentFormat {
    /// Length of this format's segment header, CRC24 included.
    pub const fn header_len(self) -> usize {
        match self {
            Self::Uncompressed => 6,
            Self::Lz4 => 8,
        }
    }

    /// Bytes of the header covered by the CRC24 (the rest is the CRC24).
    const fn fields_len(self) -> usize {
        self.header_len() - 3
    }
}

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    /// Bytes of payload on the wire (the compressed length for LZ4).
    pub(crate) payload_len: usize,
    /// LZ4 only: the length once decompressed, or 0 when the payload is stored raw.
    pub(crate) uncompressed_len: usize,
    /// Whether the payload holds whole envelopes.
    pub(crate) self_contained: bool,
}

impl SegmentHeader {
    /// Parses and checks the header at the front of `buf`.
    pub(crate) fn parse(format: SegmentFormat, buf: &[u8]) -> Result<Decoded<Self>, FrameError> {
        let len = format.header_len();
        let Some(header) = buf.get(..len) else {
            return Ok(Decoded::NeedMore(len.saturating_sub(buf.len())));
        };
        let (fields, crc) = header.split_at(format.fields_len());
        let mut raw = [0u8; 8];
        raw.iter_mut().zip(fields).for_each(|(r, &f)| *r = f);
        let bits = u64::from_le_bytes(raw);
        let received = crc
            .iter()
            .rev()
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
        let computed = crc24(fields);
        if received != computed {
            return Err(FrameError::SegmentHeaderCrc { received, computed });
        }
        // The masks keep both lengths below 2^17, so the casts are exact.
        let parsed = match format {
            SegmentFormat::Uncompressed => SegmentHeader {
                payload_len: (bits & LEN_MASK) as usize,
                uncompressed_len: 0,
                self_contained: bits & (1 << 17) != 0,
            },
            SegmentFormat::Lz4 => SegmentHeader {
                payload_len: (bits & LEN_MASK) as usize,
                uncompressed_len: ((bits >> 17) & LEN_MASK) as usize,
                self_contained: bits & (1 << 34) != 0,
            },
        };
        Ok(Decoded::Ready(parsed))
    }

    /// The header's bytes (length [`SegmentFormat::header_len`]; the first 6 or 8 of the array).
    pub(crate) fn to_bytes(self, format: SegmentFormat) -> [u8; 8] {
        let payload = self.payload_len as u64 & LEN_MASK;
        let bits = match format {
            SegmentFormat::Uncompressed => payload | (u64::from(self.self_contained) << 17),
            SegmentFormat::Lz4 => {
                payload
                    | ((self.uncompressed_len as u64 & LEN_MASK) << 17)
                    | (u64::from(self.self_contained) << 34)
            }
        };
        let mut out = bits.to_le_bytes();
        let fields = format.fields_len();
        let crc = crc24(out.get(..fields).unwrap_or_default()).to_le_bytes();
        out.iter_mut()
            .skip(fields)
            .zip(crc)
            .for_each(|(o, c)| *o = c);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_uncompressed_header() {
        let h = SegmentHeader {
            payload_len: 50,
            uncompressed_len: 0,
            self_contained: true,
        };
        let bytes = h.to_bytes(SegmentFormat::Uncompressed);
        assert_eq!(&bytes[..6], &[0x32, 0x00, 0x02, 0xa5, 0xff, 0xee]);
        assert_eq!(
            SegmentHeader::parse(SegmentFormat::Uncompressed, &bytes[..6]),
            Ok(Decoded::Ready(h))
        );
    }

    #[test]
    fn golden_lz4_raw_header() {
        // 1 raw byte: compressed length 1, uncompressed length 0, self-contained.
        let h = SegmentHeader {
            payload_len: 1,
            uncompressed_len: 0,
            self_contained: true,
        };
        let bytes = h.to_bytes(SegmentFormat::Lz4);
        assert_eq!(bytes, [0x01, 0x00, 0x00, 0x00, 0x04, 0x06, 0xa5, 0x87]);
        assert_eq!(
            SegmentHeader::parse(SegmentFormat::Lz4, &bytes),
            Ok(Decoded::Ready(h))
        );
    }

    #[test]
    fn lz4_header_fields_round_trip_at_their_extremes() {
        for (payload_len, uncompressed_len, self_contained) in [
            (MAX_PAYLOAD_LEN, MAX_PAYLOAD_LEN, false),
            (0, MAX_PAYLOAD_LEN, true),
            (77, 12345, true),
        ] {
            let h = SegmentHeader {
                payload_len,
                uncompressed_len,
                self_contained,
            };
            let bytes = h.to_bytes(SegmentFormat::Lz4);
            assert_eq!(
                SegmentHeader::parse(SegmentFormat::Lz4, &bytes),
                Ok(Decoded::Ready(h))
            );
        }
    }

    #[test]
    fn header_crc_catches_every_single_bit_flip() {
        for format in [SegmentFormat::Uncompressed, SegmentFormat::Lz4] {
            let h = SegmentHeader {
                payload_len: 1000,
                uncompressed_len: 0,
                self_contained: false,
            };
            let bytes = h.to_bytes(format);
            for bit in 0..format.header_len() * 8 {
                let mut flipped = bytes;
                flipped[bit / 8] ^= 1 << (bit % 8);
                assert!(matches!(
                    SegmentHeader::parse(format, &flipped),
                    Err(FrameError::SegmentHeaderCrc { .. })
                ));
            }
        }
    }

    #[test]
    fn short_header_asks_for_the_rest() {
        assert_eq!(
            SegmentHeader::parse(SegmentFormat::Lz4, &[1, 2, 3]),
            Ok(Decoded::NeedMore(5))
        );
        assert_eq!(
            SegmentHeader::parse(SegmentFormat::Uncompressed, &[]),
            Ok(Decoded::NeedMore(6))
        );
    }
}

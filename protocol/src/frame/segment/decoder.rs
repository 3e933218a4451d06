//! [`SegmentDecoder`]: v5 segments in, envelopes out.

use bytes::{Buf, Bytes, BytesMut};

use super::{SegmentFormat, SegmentHeader, TRAILER_LEN};
use crate::frame::crc::crc32;
use crate::frame::header::HEADER_LEN;
use crate::frame::{Decoded, Envelope, EnvelopeDecoder, FrameError};

/// Split envelopes up to this size get their whole buffer at once, once their header has been
/// checked; larger ones grow as their slices arrive, so memory follows the bytes received.
const EAGER_RESERVE_LIMIT: usize = 16 << 20;

/// Turns a stream of v5 segments back into envelopes.
///
/// Each segment's header CRC24 is checked before its length is trusted, and its payload CRC32
/// before the payload is decompressed or read. Envelopes of self-contained segments are slices
/// of the received buffer (of the decompressed payload with LZ4); a split envelope is gathered
/// into one buffer whose growth is bounded by the envelope decoder's body limit, checked from
/// the envelope header in the first slice.
///
/// Every error is fatal for the connection except [`FrameError::BodyTooLarge`], after which the
/// decoder skips the offending envelope (its slices are CRC-checked and dropped, never
/// buffered) and carries on, so a server can answer with an error and keep the connection.
#[derive(Debug, Clone)]
pub struct SegmentDecoder {
    format: SegmentFormat,
    envelopes: EnvelopeDecoder,
    /// What is left of the current self-contained payload.
    contained: Bytes,
    /// The envelope being reassembled from non-self-contained segments, if any.
    split: Option<Split>,
}

/// An envelope arriving in slices.
#[derive(Debug, Clone)]
enum Split {
    /// Gathering the slices; `total` is known once the envelope header is complete.
    Gathering { buf: BytesMut, total: Option<usize> },
    /// Dropping the slices of an envelope over the body limit.
    Skipping { remaining: usize },
}

/// A checked segment.
struct Segment {
    payload: Bytes,
    self_contained: bool,
}

impl SegmentDecoder {
    /// A decoder for segments of `format`, checking envelopes with `envelopes` (its body limit
    /// also bounds reassembly).
    pub fn new(format: SegmentFormat, envelopes: EnvelopeDecoder) -> Self {
        SegmentDecoder {
            format,
            envelopes,
            contained: Bytes::new(),
            split: None,
        }
    }

    /// The segment format.
    pub fn format(&self) -> SegmentFormat {
        self.format
    }

    /// The envelope decoder, to pin a version for instance.
    pub fn envelopes_mut(&mut self) -> &mut EnvelopeDecoder {
        &mut self.envelopes
    }

    /// Whether bytes of a received segment are held back: envelopes still to hand out, or part
    /// of a split envelope. At a clean end of stream this is false.
    pub fn is_mid_envelope(&self) -> bool {
        !self.contained.is_empty() || self.split.is_some()
    }

    /// Returns the next envelope, taking whole segments off the front of `buf` as needed.
    ///
    /// [`Decoded::NeedMore`] says how many bytes the segment being read still lacks (at least
    /// one); its bytes stay in `buf`. Whole segments before it may have been taken off `buf`
    /// already (the first slices of a split envelope): they are held in the decoder.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded<Envelope>, FrameError> {
        loop {
            if !self.contained.is_empty() {
                return self.next_contained().map(Decoded::Ready);
            }
            let segment = match self.next_segment(buf)? {
                Decoded::Ready(segment) => segment,
                Decoded::NeedMore(n) => return Ok(Decoded::NeedMore(n)),
            };
            if segment.self_contained {
                if let Some(split) = &self.split {
                    let missing = match split {
                        Split::Gathering { buf, total } => {
                            total.unwrap_or(HEADER_LEN).saturating_sub(buf.len())
                        }
                        Split::Skipping { remaining } => *remaining,
                    };
                    return Err(FrameError::SplitEnvelopeInterrupted { missing });
                }
                self.contained = segment.payload;
            } else if let Some(envelope) = self.continue_split(segment.payload)? {
                return Ok(Decoded::Ready(envelope));
            }
        }
    }

    /// The next envelope of the current self-contained payload, which must hold it whole.
    fn next_contained(&mut self) -> Result<Envelope, FrameError> {
        match self.envelopes.decode_bytes(&mut self.contained) {
            Ok(Decoded::Ready(envelope)) => Ok(envelope),
            Ok(Decoded::NeedMore(missing)) => {
                self.contained.clear();
                Err(FrameError::PartialEnvelopeInSegment { missing })
            }
            Err(e) => {
                // Skip an oversized envelope when the segment holds all of it; otherwise the
                // rest of the payload cannot be trusted.
                match e {
                    FrameError::BodyTooLarge { len, .. }
                        if HEADER_LEN as u64 + len <= self.contained.len() as u64 =>
                    {
                        let skip = usize::try_from(len)
                            .map_or(usize::MAX, |l| l.saturating_add(HEADER_LEN));
                        self.contained.advance(skip.min(self.contained.len()));
                    }
                    _ => self.contained.clear(),
                }
                Err(e)
            }
        }
    }

    /// Adds one slice of a split envelope; returns the envelope once it is complete.
    fn continue_split(&mut self, payload: Bytes) -> Result<Option<Envelope>, FrameError> {
        match self.split.take() {
            Some(Split::Skipping { remaining }) => {
                let remaining = remaining.checked_sub(payload.len()).ok_or(
                    FrameError::SplitEnvelopeOverrun {
                        extra: payload.len().saturating_sub(remaining),
                    },
                )?;
                if remaining > 0 {
                    self.split = Some(Split::Skipping { remaining });
                }
                Ok(None)
            }
            Some(Split::Gathering { mut buf, total }) => {
                if let Some(total) = total {
                    let room = total.saturating_sub(buf.len());
                    if payload.len() > room {
                        return Err(FrameError::SplitEnvelopeOverrun {
                            extra: payload.len() - room,
                        });
                    }
                }
                buf.extend_from_slice(&payload);
                self.gathered(buf, total)
            }
            None => {
                let mut buf = BytesMut::new();
                if let Ok(Decoded::Ready((_, total))) = self.envelopes.check_header(&payload) {
                    if total <= EAGER_RESERVE_LIMIT {
                        // One allocation for the whole envelope, its size checked against the
                        // limit; larger ones grow with what arrives.
                        buf.reserve(total);
                    }
                }
                buf.extend_from_slice(&payload);
                self.gathered(buf, None)
            }
        }
    }

    /// Checks the envelope header once it is complete, then hands out the envelope once all of
    /// it has arrived.
    fn gathered(
        &mut self,
        mut buf: BytesMut,
        total: Option<usize>,
    ) -> Result<Option<Envelope>, FrameError> {
        let total = match total {
            Some(total) => total,
            None => match self.envelopes.check_header(&buf) {
                Ok(Decoded::Ready((_, total))) => {
                    if buf.len() > total {
                        return Err(FrameError::SplitEnvelopeOverrun {
                            extra: buf.len() - total,
                        });
                    }
                    total
                }
                Ok(Decoded::NeedMore(_)) => {
                    self.split = Some(Split::Gathering { buf, total: None });
                    return Ok(None);
                }
                Err(e) => {
                    if let FrameError::BodyTooLarge { len, .. } = e {
                        let total = usize::try_from(len)
                            .ok()
                            .and_then(|l| l.checked_add(HEADER_LEN));
                        let total = total.unwrap_or(usize::MAX);
                        match total.checked_sub(buf.len()) {
                            Some(0) => {}
                            Some(remaining) => self.split = Some(Split::Skipping { remaining }),
                            None => {
                                let extra = buf.len() - total;
                                return Err(FrameError::SplitEnvelopeOverrun { extra });
                            }
                        }
                    }
                    return Err(e);
                }
            },
        };
        if buf.len() < total {
            self.split = Some(Split::Gathering {
                buf,
                total: Some(total),
            });
            return Ok(None);
        }
        match self.envelopes.decode(&mut buf)? {
            Decoded::Ready(envelope) => Ok(Some(envelope)),
            // Unreachable: the buffer holds exactly `total` bytes of a checked header.
            Decoded::NeedMore(missing) => Err(FrameError::PartialEnvelopeInSegment { missing }),
        }
    }

    /// Takes the next whole segment off `buf`, checked and decompressed.
    fn next_segment(&mut self, buf: &mut BytesMut) -> Result<Decoded<Segment>, FrameError> {
        let header = match SegmentHeader::parse(self.format, buf)? {
            Decoded::Ready(header) => header,
            Decoded::NeedMore(n) => return Ok(Decoded::NeedMore(n)),
        };
        let header_len = self.format.header_len();
        // Both terms are below 2^17: no overflow.
        let payload_end = header_len + header.payload_len;
        let total = payload_end + TRAILER_LEN;
        let (Some(payload), Some(&trailer)) = (
            buf.get(header_len..payload_end),
            buf.get(payload_end..total)
                .and_then(|t| t.first_chunk::<TRAILER_LEN>()),
        ) else {
            return Ok(Decoded::NeedMore(total.saturating_sub(buf.len())));
        };
        let received = u32::from_le_bytes(trailer);
        let computed = crc32(payload);
        if received != computed {
            return Err(FrameError::SegmentPayloadCrc { received, computed });
        }
        let mut segment = buf.split_to(total);
        segment.truncate(payload_end);
        segment.advance(header_len);
        let raw = segment.freeze();
        let payload = if header.uncompressed_len == 0 {
            raw
        } else {
            decompress_block(&raw, header.uncompressed_len)?
        };
        Ok(Decoded::Ready(Segment {
            payload,
            self_contained: header.self_contained,
        }))
    }
}

/// Decompresses an LZ4 segment payload into exactly `len` bytes (below 2^17, from the header).
fn decompress_block(block: &[u8], len: usize) -> Result<Bytes, FrameError> {
    let mut out = vec![0u8; len];
    let n = lz4_flex::block::decompress_into(block, &mut out).map_err(|e| {
        FrameError::Decompression {
            codec: "lz4",
            reason: e.to_string(),
        }
    })?;
    if n != len {
        return Err(FrameError::DecompressedLength {
            declared: len as u64,
            actual: n as u64,
        });
    }
    Ok(Bytes::from(out))
}

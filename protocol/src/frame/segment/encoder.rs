//! [`SegmentEncoder`]: envelopes in, v5 segments out.

use bytes::{BufMut, BytesMut};

use super::{MAX_PAYLOAD_LEN, SegmentFormat, SegmentHeader};
use crate::frame::FrameError;
use crate::frame::crc::PayloadCrc;
use crate::frame::envelope::Envelope;
use crate::frame::header::HEADER_LEN;

/// Packs envelopes into v5 segments.
///
/// Small envelopes are gathered into one self-contained segment until the next one would not
/// fit; an envelope larger than the maximum payload is cut into non-self-contained segments.
/// Envelopes come out in the order they were pushed. Call [`SegmentEncoder::flush`] before
/// writing the output to the peer: it closes the segment being filled.
#[derive(Debug, Clone)]
pub struct SegmentEncoder {
    format: SegmentFormat,
    max_payload: usize,
    /// Encoded envelopes of the self-contained segment being filled.
    pending: BytesMut,
    /// Contiguous copy of a split slice, for the LZ4 compressor.
    scratch: Vec<u8>,
}

impl SegmentEncoder {
    /// An encoder for `format`, filling segments up to [`MAX_PAYLOAD_LEN`].
    pub fn new(format: SegmentFormat) -> Self {
        SegmentEncoder {
            format,
            max_payload: MAX_PAYLOAD_LEN,
            pending: BytesMut::new(),
            scratch: Vec::new(),
        }
    }

    /// The same encoder with a smaller payload limit, clamped to `HEADER_LEN + 1 ..=`
    /// [`MAX_PAYLOAD_LEN`] (see [`super::CASSANDRA_MAX_PAYLOAD_LEN`]).
    #[must_use]
    pub fn with_max_payload(mut self, max_payload: usize) -> Self {
        self.max_payload = max_payload.clamp(HEADER_LEN + 1, MAX_PAYLOAD_LEN);
        self
    }

    /// The segment format.
    pub fn format(&self) -> SegmentFormat {
        self.format
    }

    /// Whether envelopes are waiting for [`SegmentEncoder::flush`].
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Adds an envelope. Segments that are full are appended to `out`; the last, partly filled
    /// one waits for more envelopes or for [`SegmentEncoder::flush`].
    pub fn push(&mut self, envelope: &Envelope, out: &mut BytesMut) -> Result<(), FrameError> {
        let len = envelope.encoded_len();
        if len <= self.max_payload {
            if self.pending.len().saturating_add(len) > self.max_payload {
                self.flush(out)?;
            }
            return envelope.encode(&mut self.pending);
        }
        self.flush(out)?;
        let header = envelope.header.to_bytes(envelope.body_len_field()?);
        let body: &[u8] = envelope.body.as_ref();
        // The first slice carries the envelope header and the start of the body.
        let (first, mut rest) =
            body.split_at(self.max_payload.saturating_sub(HEADER_LEN).min(body.len()));
        self.write_segment(&[&header, first], false, out)?;
        while !rest.is_empty() {
            let (slice, tail) = rest.split_at(self.max_payload.min(rest.len()));
            self.write_segment(&[slice], false, out)?;
            rest = tail;
        }
        Ok(())
    }

    /// Appends the segment being filled, if any, to `out`.
    pub fn flush(&mut self, out: &mut BytesMut) -> Result<(), FrameError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let result = self.write_segment(&[&pending], true, out);
        // Keep the allocation for the next segment.
        self.pending = pending;
        self.pending.clear();
        result
    }

    /// Appends one segment whose payload is the concatenation of `parts` (at most
    /// `max_payload` bytes in all).
    fn write_segment(
        &mut self,
        parts: &[&[u8]],
        self_contained: bool,
        out: &mut BytesMut,
    ) -> Result<(), FrameError> {
        match self.format {
            SegmentFormat::Uncompressed => {
                write_plain_segment(parts, self_contained, out);
                Ok(())
            }
            SegmentFormat::Lz4 => {
                let payload: &[u8] = match parts {
                    [one] => one,
                    _ => {
                        self.scratch.clear();
                        parts.iter().for_each(|p| self.scratch.extend_from_slice(p));
                        &self.scratch
                    }
                };
                write_lz4_segment(payload, self_contained, out)
            }
        }
    }
}

/// Appends one segment of `format` carrying `payload` as it is (whole envelopes when
/// `self_contained`, a slice of one otherwise). This is the low-level step under
/// [`SegmentEncoder`], for tests and tools that need segments of arbitrary content.
pub fn encode_segment(
    format: SegmentFormat,
    payload: &[u8],
    self_contained: bool,
    out: &mut BytesMut,
) -> Result<(), FrameError> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(FrameError::SegmentPayloadTooLarge { len: payload.len() });
    }
    match format {
        SegmentFormat::Uncompressed => {
            write_plain_segment(&[payload], self_contained, out);
            Ok(())
        }
        SegmentFormat::Lz4 => write_lz4_segment(payload, self_contained, out),
    }
}

/// Appends an uncompressed segment whose payload is the concatenation of `parts` (at most
/// [`MAX_PAYLOAD_LEN`] bytes in all).
fn write_plain_segment(parts: &[&[u8]], self_contained: bool, out: &mut BytesMut) {
    let payload_len = parts.iter().map(|p| p.len()).sum::<usize>();
    let header = SegmentHeader {
        payload_len,
        uncompressed_len: 0,
        self_contained,
    };
    out.reserve(payload_len.saturating_add(10));
    out.put_slice(
        header
            .to_bytes(SegmentFormat::Uncompressed)
            .get(..6)
            .unwrap_or_default(),
    );
    let mut crc = PayloadCrc::new();
    for part in parts {
        crc.update(part);
        out.put_slice(part);
    }
    out.put_u32_le(crc.finish());
}

/// Appends an LZ4 segment of `payload` (at most [`MAX_PAYLOAD_LEN`] bytes), stored raw when
/// compression does not make it smaller.
fn write_lz4_segment(
    payload: &[u8],
    self_contained: bool,
    out: &mut BytesMut,
) -> Result<(), FrameError> {
    let start = out.len();
    let body_start = start.saturating_add(8);
    let max = lz4_flex::block::get_maximum_output_size(payload.len());
    out.resize(body_start.saturating_add(max), 0);
    let compressed = match out.get_mut(body_start..) {
        Some(dest) => {
            lz4_flex::block::compress_into(payload, dest).map_err(|e| FrameError::Compression {
                codec: "lz4",
                reason: e.to_string(),
            })?
        }
        None => 0,
    };
    let header = if compressed > 0 && compressed < payload.len() {
        out.truncate(body_start.saturating_add(compressed));
        SegmentHeader {
            payload_len: compressed,
            uncompressed_len: payload.len(),
            self_contained,
        }
    } else {
        out.truncate(body_start);
        out.put_slice(payload);
        SegmentHeader {
            payload_len: payload.len(),
            uncompressed_len: 0,
            self_contained,
        }
    };
    if let Some(slot) = out.get_mut(start..body_start) {
        slot.copy_from_slice(&header.to_bytes(SegmentFormat::Lz4));
    }
    let crc = crate::frame::crc::crc32(out.get(body_start..).unwrap_or_default());
    out.put_u32_le(crc);
    Ok(())
}

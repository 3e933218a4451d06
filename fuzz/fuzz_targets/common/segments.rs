//! Shared by the segment targets: drives a `SegmentDecoder` over fuzzed bytes, either as they
//! come (exercising header checks) or wrapped into segments with valid checksums (exercising
//! reassembly, envelope checks and LZ4 decompression, which random bytes would never reach
//! past the CRC24).

use bytes::BytesMut;
use ringgate_protocol::frame::segment::{SegmentDecoder, SegmentFormat};
use ringgate_protocol::frame::{Decoded, EnvelopeDecoder, FrameError};

/// Runs one input through a decoder of `format`.
pub fn run(format: SegmentFormat, data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let wire = if control & 0x80 == 0 {
        rest.to_vec()
    } else {
        build_segments(format, rest)
    };
    let chunk = usize::from(control & 0x3F) * 97 + 1;
    let limits =
        EnvelopeDecoder::new().with_max_body_len(if control & 0x40 == 0 { 1 << 20 } else { 300 });
    let mut decoder = SegmentDecoder::new(format, limits);
    let mut buf = BytesMut::new();
    for piece in wire.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Decoded::Ready(envelope)) => {
                    assert!(envelope.body.len() <= decoder_limit(control));
                }
                Ok(Decoded::NeedMore(n)) => {
                    assert!(n > 0);
                    break;
                }
                // The decoder recovers from an oversized envelope; anything else ends the stream.
                Err(FrameError::BodyTooLarge { .. }) => continue,
                Err(_) => return,
            }
        }
    }
}

fn decoder_limit(control: u8) -> usize {
    if control & 0x40 == 0 { 1 << 20 } else { 300 }
}

/// Cuts `data` into segments: per segment a flags byte (bit 0: self-contained; bit 1, LZ4 only:
/// the payload is used as a compressed block with a declared length from two more bytes), a
/// two-byte payload length, then the payload.
fn build_segments(format: SegmentFormat, mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some((&flags, rest)) = data.split_first() {
        let Some((len, rest)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let self_contained = flags & 1 != 0;
        let (declared, rest) = match (format, flags & 2 != 0) {
            (SegmentFormat::Lz4, true) => match rest.split_first_chunk::<2>() {
                Some((d, rest)) => (
                    Some(u32::from(u16::from_le_bytes(*d)) << 1 | u32::from(flags >> 7)),
                    rest,
                ),
                None => break,
            },
            _ => (None, rest),
        };
        let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
        let (payload, rest) = rest.split_at(len);
        data = rest;
        let mut header = match (format, declared) {
            (SegmentFormat::Uncompressed, _) => {
                let h = len as u64 | u64::from(self_contained) << 17;
                h.to_le_bytes()[..3].to_vec()
            }
            (SegmentFormat::Lz4, declared) => {
                let h = len as u64
                    | u64::from(declared.unwrap_or(0)) << 17
                    | u64::from(self_contained) << 34;
                h.to_le_bytes()[..5].to_vec()
            }
        };
        let crc = crc24(&header);
        header.extend_from_slice(&crc.to_le_bytes()[..3]);
        out.extend_from_slice(&header);
        out.extend_from_slice(payload);
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&[0xFA, 0x2D, 0x55, 0xCA]);
        hasher.update(payload);
        out.extend_from_slice(&hasher.finalize().to_le_bytes());
    }
    out
}

/// The segment header CRC24 (init 0x875060, polynomial 0x1974F0B, bytes in wire order).
fn crc24(bytes: &[u8]) -> u32 {
    let mut crc: u32 = 0x87_5060;
    for &b in bytes {
        crc ^= u32::from(b) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x100_0000 != 0 {
                crc ^= 0x197_4F0B;
            }
        }
    }
    crc & 0xFF_FFFF
}

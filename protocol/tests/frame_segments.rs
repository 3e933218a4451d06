//! v5 segments: packing, splitting, reassembly and what the decoder refuses.

use bytes::BytesMut;
use ringgate_protocol::frame::segment::{
    CASSANDRA_MAX_PAYLOAD_LEN, MAX_PAYLOAD_LEN, SegmentDecoder, SegmentEncoder, SegmentFormat,
    encode_segment,
};
use ringgate_protocol::frame::{Decoded, Envelope, EnvelopeDecoder, FrameError, Header};
use ringgate_protocol::{Direction, Opcode, ProtocolVersion};

const FORMATS: [SegmentFormat; 2] = [SegmentFormat::Uncompressed, SegmentFormat::Lz4];

fn envelope(stream: i16, len: usize) -> Envelope {
    let header = Header::new(
        ProtocolVersion::V5,
        Direction::Response,
        stream,
        Opcode::Result,
    );
    // Mildly compressible, never constant: a counter in a few bytes.
    let body: Vec<u8> = (0..len)
        .map(|i| (i / 7 % 251) as u8 ^ (stream as u8))
        .collect();
    Envelope::new(header, body)
}

fn encoded(e: &Envelope) -> Vec<u8> {
    let mut out = BytesMut::new();
    e.encode(&mut out).unwrap();
    out.to_vec()
}

/// Walks the segment headers of a plain stream: (payload length, self-contained) of each.
fn plain_segments(mut wire: &[u8]) -> Vec<(usize, bool)> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        let h = u32::from_le_bytes([wire[0], wire[1], wire[2], 0]);
        let len = (h & 0x1FFFF) as usize;
        out.push((len, h & (1 << 17) != 0));
        wire = &wire[6 + len + 4..];
    }
    out
}

fn decode_all(
    decoder: &mut SegmentDecoder,
    wire: &mut BytesMut,
) -> Result<Vec<Envelope>, FrameError> {
    let mut out = Vec::new();
    loop {
        match decoder.decode(wire)? {
            Decoded::Ready(e) => out.push(e),
            Decoded::NeedMore(_) => return Ok(out),
        }
    }
}

#[test]
fn small_envelopes_share_one_self_contained_segment() {
    let envelopes: Vec<Envelope> = (0..50).map(|i| envelope(i, 100)).collect();
    let mut wire = BytesMut::new();
    let mut encoder = SegmentEncoder::new(SegmentFormat::Uncompressed);
    for e in &envelopes {
        encoder.push(e, &mut wire).unwrap();
    }
    assert!(
        wire.is_empty(),
        "nothing is written before the segment fills or is flushed"
    );
    assert!(encoder.has_pending());
    encoder.flush(&mut wire).unwrap();
    assert!(!encoder.has_pending());
    assert_eq!(plain_segments(&wire), vec![(50 * 109, true)]);
    let mut decoder = SegmentDecoder::new(SegmentFormat::Uncompressed, EnvelopeDecoder::new());
    assert_eq!(decode_all(&mut decoder, &mut wire).unwrap(), envelopes);
    assert!(!decoder.is_mid_envelope());
}

#[test]
fn a_full_segment_is_closed_before_the_next_envelope() {
    // 1300 envelopes of 109 bytes: 1202 fit in 131071 bytes.
    let mut wire = BytesMut::new();
    let mut encoder = SegmentEncoder::new(SegmentFormat::Uncompressed);
    for i in 0..1300 {
        encoder.push(&envelope(i, 100), &mut wire).unwrap();
    }
    encoder.flush(&mut wire).unwrap();
    let per_segment = MAX_PAYLOAD_LEN / 109;
    assert_eq!(
        plain_segments(&wire),
        vec![
            (per_segment * 109, true),
            ((1300 - per_segment) * 109, true)
        ]
    );
}

#[test]
fn large_envelope_is_split_at_the_maximum_payload() {
    let large = envelope(3, 300_000);
    let total = 300_009;
    for (max, expected) in [
        (MAX_PAYLOAD_LEN, vec![131_071, 131_071, total - 2 * 131_071]),
        (
            CASSANDRA_MAX_PAYLOAD_LEN,
            vec![131_060, 131_060, total - 2 * 131_060],
        ),
    ] {
        let mut wire = BytesMut::new();
        let mut encoder = SegmentEncoder::new(SegmentFormat::Uncompressed).with_max_payload(max);
        encoder.push(&envelope(1, 10), &mut wire).unwrap();
        encoder.push(&large, &mut wire).unwrap();
        encoder.push(&envelope(2, 10), &mut wire).unwrap();
        encoder.flush(&mut wire).unwrap();
        let mut segments = vec![(19, true)];
        segments.extend(expected.iter().map(|&l| (l, false)));
        segments.push((19, true));
        assert_eq!(plain_segments(&wire), segments);
        let mut decoder = SegmentDecoder::new(SegmentFormat::Uncompressed, EnvelopeDecoder::new());
        let got = decode_all(&mut decoder, &mut wire).unwrap();
        assert_eq!(got, vec![envelope(1, 10), large.clone(), envelope(2, 10)]);
    }
}

#[test]
fn split_envelope_over_the_limit_is_skipped_without_buffering() {
    for format in FORMATS {
        let mut wire = BytesMut::new();
        let mut encoder = SegmentEncoder::new(format);
        encoder.push(&envelope(1, 500_000), &mut wire).unwrap();
        encoder.push(&envelope(2, 10), &mut wire).unwrap();
        encoder.flush(&mut wire).unwrap();
        let limits = EnvelopeDecoder::new().with_max_body_len(200_000);
        let mut decoder = SegmentDecoder::new(format, limits);
        assert_eq!(
            decoder.decode(&mut wire),
            Err(FrameError::BodyTooLarge {
                len: 500_000,
                max: 200_000,
                stream: 1
            })
        );
        // The decoder drops the remaining slices and goes on with the next envelope.
        assert_eq!(
            decoder.decode(&mut wire),
            Ok(Decoded::Ready(envelope(2, 10)))
        );
        assert!(wire.is_empty());
    }
}

#[test]
fn oversized_envelope_inside_a_self_contained_segment_is_skipped() {
    let mut wire = BytesMut::new();
    let mut encoder = SegmentEncoder::new(SegmentFormat::Lz4);
    for (stream, len) in [(1, 10), (2, 5000), (3, 10)] {
        encoder.push(&envelope(stream, len), &mut wire).unwrap();
    }
    encoder.flush(&mut wire).unwrap();
    let mut decoder = SegmentDecoder::new(
        SegmentFormat::Lz4,
        EnvelopeDecoder::new().with_max_body_len(1000),
    );
    assert_eq!(
        decoder.decode(&mut wire),
        Ok(Decoded::Ready(envelope(1, 10)))
    );
    assert!(matches!(
        decoder.decode(&mut wire),
        Err(FrameError::BodyTooLarge { stream: 2, .. })
    ));
    assert_eq!(
        decoder.decode(&mut wire),
        Ok(Decoded::Ready(envelope(3, 10)))
    );
}

#[test]
fn self_contained_segment_must_hold_whole_envelopes() {
    let bytes = encoded(&envelope(1, 100));
    for format in FORMATS {
        let mut wire = BytesMut::new();
        encode_segment(format, &bytes[..50], true, &mut wire).unwrap();
        let mut decoder = SegmentDecoder::new(format, EnvelopeDecoder::new());
        assert_eq!(
            decoder.decode(&mut wire),
            Err(FrameError::PartialEnvelopeInSegment { missing: 59 })
        );
    }
}

#[test]
fn self_contained_segment_cannot_interrupt_a_split_envelope() {
    let bytes = encoded(&envelope(1, 100));
    let mut wire = BytesMut::new();
    encode_segment(SegmentFormat::Uncompressed, &bytes[..50], false, &mut wire).unwrap();
    encode_segment(
        SegmentFormat::Uncompressed,
        &encoded(&envelope(2, 1)),
        true,
        &mut wire,
    )
    .unwrap();
    let mut decoder = SegmentDecoder::new(SegmentFormat::Uncompressed, EnvelopeDecoder::new());
    assert_eq!(
        decoder.decode(&mut wire),
        Err(FrameError::SplitEnvelopeInterrupted { missing: 59 })
    );
}

#[test]
fn split_slices_may_not_run_past_the_envelope() {
    let mut bytes = encoded(&envelope(1, 100));
    // First slice, then the rest plus five stray bytes.
    let mut wire = BytesMut::new();
    encode_segment(SegmentFormat::Uncompressed, &bytes[..30], false, &mut wire).unwrap();
    bytes.extend_from_slice(b"stray");
    encode_segment(SegmentFormat::Uncompressed, &bytes[30..], false, &mut wire).unwrap();
    let mut decoder = SegmentDecoder::new(SegmentFormat::Uncompressed, EnvelopeDecoder::new());
    assert_eq!(
        decoder.decode(&mut wire),
        Err(FrameError::SplitEnvelopeOverrun { extra: 5 })
    );

    // Two whole envelopes in one non-self-contained segment are an overrun too.
    let mut two = encoded(&envelope(1, 10));
    two.extend_from_slice(&encoded(&envelope(2, 10)));
    let mut wire = BytesMut::new();
    encode_segment(SegmentFormat::Uncompressed, &two, false, &mut wire).unwrap();
    let mut decoder = SegmentDecoder::new(SegmentFormat::Uncompressed, EnvelopeDecoder::new());
    assert_eq!(
        decoder.decode(&mut wire),
        Err(FrameError::SplitEnvelopeOverrun { extra: 19 })
    );
}

#[test]
fn split_envelope_header_may_span_slices() {
    // A peer may cut anywhere, even inside the envelope header.
    let bytes = encoded(&envelope(9, 40));
    let mut wire = BytesMut::new();
    for chunk in [&bytes[..4], &bytes[4..4], &bytes[4..20], &bytes[20..]] {
        encode_segment(SegmentFormat::Lz4, chunk, false, &mut wire).unwrap();
    }
    let mut decoder = SegmentDecoder::new(SegmentFormat::Lz4, EnvelopeDecoder::new());
    assert_eq!(
        decoder.decode(&mut wire),
        Ok(Decoded::Ready(envelope(9, 40)))
    );
}

#[test]
fn lz4_payload_longer_than_declared_is_an_error() {
    // A valid LZ4 block of 1000 bytes, with the header claiming 999 once decompressed.
    let block = lz4_flex::block::compress(&[b'a'; 1000]);
    let mut wire = BytesMut::new();
    encode_segment(SegmentFormat::Lz4, &block, true, &mut wire).unwrap();
    // encode_segment stored it raw (uncompressed length 0); forge a header declaring 999.
    let h: u64 = block.len() as u64 | (999 << 17) | (1 << 34);
    let fields = &h.to_le_bytes()[..5];
    let mut forged = BytesMut::from(fields);
    let crc = crc24(fields);
    forged.extend_from_slice(&crc.to_le_bytes()[..3]);
    forged.extend_from_slice(&wire[8..]);
    let mut decoder = SegmentDecoder::new(SegmentFormat::Lz4, EnvelopeDecoder::new());
    assert!(matches!(
        decoder.decode(&mut forged),
        Err(FrameError::Decompression { codec: "lz4", .. })
    ));
}

/// The CRC24 as the notes define it, written independently of the crate's.
fn crc24(bytes: &[u8]) -> u32 {
    let mut crc: u32 = 0x875060;
    for &b in bytes {
        crc ^= u32::from(b) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x1000000 != 0 {
                crc ^= 0x1974F0B;
            }
        }
    }
    crc & 0xFFFFFF
}

#[test]
fn need_more_counts_the_missing_bytes_of_the_segment() {
    let mut full = BytesMut::new();
    let mut encoder = SegmentEncoder::new(SegmentFormat::Uncompressed);
    encoder.push(&envelope(1, 100), &mut full).unwrap();
    encoder.flush(&mut full).unwrap();
    let mut decoder = SegmentDecoder::new(SegmentFormat::Uncompressed, EnvelopeDecoder::new());
    for cut in [0, 3, 6, 50, full.len() - 1] {
        let mut part = BytesMut::from(&full[..cut]);
        let expected = if cut < 6 { 6 - cut } else { full.len() - cut };
        assert_eq!(decoder.decode(&mut part), Ok(Decoded::NeedMore(expected)));
        assert_eq!(part.len(), cut, "nothing consumed");
    }
}

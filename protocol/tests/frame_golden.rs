//! Golden bytes from the spec and from `protocol-notes.md` (python-driver's segment codec, run
//! against the Cassandra CRC definitions), checked in both directions.

use bytes::BytesMut;
use ringgate_protocol::frame::segment::{SegmentDecoder, SegmentFormat, encode_segment};
use ringgate_protocol::frame::{
    Decoded, Envelope, EnvelopeDecoder, Flags, FrameError, HEADER_LEN, Header,
};
use ringgate_protocol::{Direction, Opcode, ProtocolVersion};

/// The 60-byte self-contained uncompressed segment carrying `b'b' * 50`.
fn golden_plain() -> Vec<u8> {
    let mut v = vec![0x32, 0x00, 0x02, 0xa5, 0xff, 0xee];
    v.extend_from_slice(&[b'b'; 50]);
    v.extend_from_slice(&[0x7a, 0xae, 0xeb, 0x7c]);
    v
}

#[test]
fn plain_segment_encodes_to_the_golden_bytes() {
    let mut out = BytesMut::new();
    encode_segment(SegmentFormat::Uncompressed, &[b'b'; 50], true, &mut out).unwrap();
    assert_eq!(out.len(), 60);
    assert_eq!(&out[..], &golden_plain()[..]);
}

#[test]
fn plain_golden_segment_passes_both_crcs() {
    // The payload is not an envelope: its first byte, 0x62, is an unsupported version. Reaching
    // that error proves the header CRC24 and payload CRC32 were accepted.
    let mut decoder = SegmentDecoder::new(SegmentFormat::Uncompressed, EnvelopeDecoder::new());
    let mut buf = BytesMut::from(&golden_plain()[..]);
    assert_eq!(
        decoder.decode(&mut buf),
        Err(FrameError::UnsupportedVersion {
            version_byte: 0x62,
            stream: 0x6262
        })
    );
}

#[test]
fn every_corrupted_byte_of_the_golden_segment_is_a_crc_error() {
    let golden = golden_plain();
    for i in 0..golden.len() {
        for mask in [0x01, 0x80, 0xFF, 0x5A] {
            let mut bytes = golden.clone();
            bytes[i] ^= mask;
            let mut decoder =
                SegmentDecoder::new(SegmentFormat::Uncompressed, EnvelopeDecoder::new());
            let result = decoder.decode(&mut BytesMut::from(&bytes[..]));
            let expected_kind = if i < 6 { "header" } else { "payload" };
            match (expected_kind, result) {
                ("header", Err(FrameError::SegmentHeaderCrc { .. }))
                | ("payload", Err(FrameError::SegmentPayloadCrc { .. })) => {}
                (kind, other) => {
                    panic!("byte {i} mask {mask:#x}: expected {kind} CRC error, got {other:?}")
                }
            }
        }
    }
}

#[test]
fn lz4_raw_one_byte_segment_has_the_golden_header() {
    let mut out = BytesMut::new();
    encode_segment(SegmentFormat::Lz4, b"x", true, &mut out).unwrap();
    assert_eq!(&out[..8], &[0x01, 0x00, 0x00, 0x00, 0x04, 0x06, 0xa5, 0x87]);
    assert_eq!(out[8], b'x');
    assert_eq!(out.len(), 8 + 1 + 4);
}

#[test]
fn lz4_segment_compresses_when_it_pays() {
    // 1000 identical bytes shrink: the header carries both lengths.
    let mut out = BytesMut::new();
    encode_segment(SegmentFormat::Lz4, &[b'a'; 1000], false, &mut out).unwrap();
    let h = u64::from_le_bytes([out[0], out[1], out[2], out[3], out[4], 0, 0, 0]);
    let compressed = (h & 0x1FFFF) as usize;
    assert_eq!((h >> 17) & 0x1FFFF, 1000);
    assert_eq!(h >> 34, 0, "not self-contained");
    assert!(compressed < 100);
    assert_eq!(out.len(), 8 + compressed + 4);
}

#[test]
fn segment_payload_above_the_maximum_is_refused() {
    let mut out = BytesMut::new();
    for format in [SegmentFormat::Uncompressed, SegmentFormat::Lz4] {
        assert_eq!(
            encode_segment(format, &vec![0; 131_072], true, &mut out),
            Err(FrameError::SegmentPayloadTooLarge { len: 131_072 })
        );
    }
    assert!(out.is_empty());
}

#[test]
fn spec_envelope_headers() {
    // v5 §2.4: a v5 QUERY request with tracing on stream 0x0102, body of 0x10 bytes.
    let mut header = Header::new(
        ProtocolVersion::V5,
        Direction::Request,
        0x0102,
        Opcode::Query,
    );
    header.flags = Flags::TRACING;
    let mut out = BytesMut::new();
    Envelope::new(header, vec![0u8; 16])
        .encode(&mut out)
        .unwrap();
    assert_eq!(
        &out[..HEADER_LEN],
        &[0x05, 0x02, 0x01, 0x02, 0x07, 0x00, 0x00, 0x00, 0x10]
    );

    // Every response version byte has the direction bit: 0x83, 0x84, 0x85.
    for (version, byte) in [
        (ProtocolVersion::V3, 0x83),
        (ProtocolVersion::V4, 0x84),
        (ProtocolVersion::V5, 0x85),
    ] {
        let h = Header::new(version, Direction::Response, 0, Opcode::Ready);
        assert_eq!(h.to_bytes(0), [byte, 0, 0, 0, 0x02, 0, 0, 0, 0]);
    }

    // Each flag bit as the spec numbers it.
    assert_eq!(Flags::COMPRESSION.bits(), 0x01);
    assert_eq!(Flags::TRACING.bits(), 0x02);
    assert_eq!(Flags::CUSTOM_PAYLOAD.bits(), 0x04);
    assert_eq!(Flags::WARNING.bits(), 0x08);
    assert_eq!(Flags::BETA.bits(), 0x10);
}

#[test]
fn server_can_answer_unsupported_versions_on_the_right_stream() {
    let server = EnvelopeDecoder::new().expecting(Direction::Request);
    // A driver probing v6 and one sending 66 (0x42), both on stream 7.
    for version_byte in [0x06, 0x42] {
        let mut buf = BytesMut::from(&[version_byte, 0x00, 0x00, 0x07, 0x05, 0, 0, 0, 0][..]);
        let err = server.decode(&mut buf).unwrap_err();
        assert_eq!(
            err,
            FrameError::UnsupportedVersion {
                version_byte,
                stream: 7
            }
        );
        assert_eq!(err.stream(), Some(7));
    }
    // Decoded::NeedMore for a truncated header never reports a bogus version.
    assert_eq!(
        server.decode(&mut BytesMut::from(&[0x42][..])),
        Ok(Decoded::NeedMore(3))
    );
}

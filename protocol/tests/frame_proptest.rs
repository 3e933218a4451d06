//! Property tests of the frame layer: every encoder's output decodes back to its input, however
//! the bytes are cut into reads, and corrupted or random bytes give errors, never panics or
//! wrong envelopes.

use bytes::BytesMut;
use proptest::prelude::*;
use ringgate_protocol::frame::segment::{
    CASSANDRA_MAX_PAYLOAD_LEN, MAX_PAYLOAD_LEN, SegmentDecoder, SegmentEncoder, SegmentFormat,
};
use ringgate_protocol::frame::{
    Compression, Decoded, Envelope, EnvelopeDecoder, Flags, FrameError, Header,
};
use ringgate_protocol::{Direction, Opcode, ProtocolVersion};

const OPCODES: [u8; 16] = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];

fn header() -> impl Strategy<Value = Header> {
    (
        prop::sample::select(ProtocolVersion::ALL.to_vec()),
        any::<bool>(),
        any::<u8>(),
        any::<i16>(),
        prop::sample::select(OPCODES.to_vec()),
    )
        .prop_map(|(version, response, flags, stream, opcode)| Header {
            version,
            direction: if response {
                Direction::Response
            } else {
                Direction::Request
            },
            flags: Flags::from_bits(flags),
            stream,
            opcode: Opcode::from_byte(opcode).unwrap(),
        })
}

/// A body of `len` bytes, compressible or not.
fn body(len: usize, seed: u64, compressible: bool) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            if compressible {
                (i / 13 % 7) as u8 + b'a'
            } else {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            }
        })
        .collect()
}

/// Envelope sizes for segment streams: mostly small, some well over one segment.
fn sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(
        prop_oneof![6 => 0..300usize, 3 => 300..20_000usize, 1 => 131_000..400_000usize],
        1..8,
    )
}

fn v5_envelopes(sizes: &[usize], seed: u64) -> Vec<Envelope> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let header = Header::new(
                ProtocolVersion::V5,
                Direction::Response,
                i as i16,
                Opcode::Result,
            );
            Envelope::new(header, body(len, seed.wrapping_add(i as u64), i % 2 == 0))
        })
        .collect()
}

/// Feeds `wire` to `decode` in chunks of the given sizes (cycled), collecting envelopes.
fn feed_in_chunks(
    wire: &[u8],
    chunks: &[usize],
    mut decode: impl FnMut(&mut BytesMut) -> Result<Decoded<Envelope>, FrameError>,
) -> Result<Vec<Envelope>, FrameError> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = wire;
    let mut sizes = chunks.iter().cycle();
    loop {
        while let Decoded::Ready(e) = decode(&mut buf)? {
            out.push(e);
        }
        if rest.is_empty() {
            return Ok(out);
        }
        let n = (*sizes.next().unwrap()).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
    }
}

fn encode_segments(envelopes: &[Envelope], format: SegmentFormat, max_payload: usize) -> BytesMut {
    let mut wire = BytesMut::new();
    let mut encoder = SegmentEncoder::new(format).with_max_payload(max_payload);
    for e in envelopes {
        encoder.push(e, &mut wire).unwrap();
    }
    encoder.flush(&mut wire).unwrap();
    wire
}

fn formats() -> impl Strategy<Value = SegmentFormat> {
    prop::sample::select(vec![SegmentFormat::Uncompressed, SegmentFormat::Lz4])
}

fn max_payloads() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(MAX_PAYLOAD_LEN),
        Just(CASSANDRA_MAX_PAYLOAD_LEN),
        10..2_000usize
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn envelopes_round_trip_through_any_chunking(
        headers in prop::collection::vec(header(), 1..10),
        lens in prop::collection::vec(0..3000usize, 10),
        chunks in prop::collection::vec(1..600usize, 1..10),
    ) {
        let envelopes: Vec<Envelope> = headers
            .into_iter()
            .zip(lens)
            .enumerate()
            .map(|(i, (h, len))| Envelope::new(h, body(len, i as u64, false)))
            .collect();
        let mut wire = BytesMut::new();
        for e in &envelopes {
            e.encode(&mut wire).unwrap();
        }
        let decoder = EnvelopeDecoder::new();
        let got = feed_in_chunks(&wire, &chunks, |buf| decoder.decode(buf)).unwrap();
        prop_assert_eq!(got, envelopes);
    }

    #[test]
    fn raw_envelopes_rewrite_only_the_stream(h in header(), len in 0..500usize, stream in any::<i16>()) {
        let original = Envelope::new(h, body(len, 7, false));
        let mut wire = BytesMut::new();
        original.encode(&mut wire).unwrap();
        let Ok(Decoded::Ready(mut raw)) = EnvelopeDecoder::new().decode_raw(&mut wire) else {
            panic!("whole envelope")
        };
        raw.set_stream(stream);
        let mut expected = original.clone();
        expected.set_stream(stream);
        prop_assert_eq!(raw.into_envelope(), expected);
    }

    #[test]
    fn body_compression_round_trips(
        len in 0..20_000usize,
        seed in any::<u64>(),
        compressible in any::<bool>(),
        codec in prop::sample::select(vec![Compression::Lz4, Compression::Snappy]),
        version in prop::sample::select(vec![ProtocolVersion::V3, ProtocolVersion::V4]),
    ) {
        let plain = Envelope::new(
            Header::new(version, Direction::Request, 1, Opcode::Execute),
            body(len, seed, compressible),
        );
        let packed = plain.clone().compress(codec).unwrap();
        prop_assert!(packed.header.flags.contains(Flags::COMPRESSION));
        prop_assert_eq!(packed.clone().decompress(Some(codec), len).unwrap(), plain);
        if len > 0 {
            let too_small = packed.decompress(Some(codec), len - 1);
            prop_assert!(matches!(too_small, Err(FrameError::DecompressedTooLarge { .. })), "{:?}", too_small);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn segment_streams_round_trip_through_any_chunking(
        sizes in sizes(),
        seed in any::<u64>(),
        format in formats(),
        max_payload in max_payloads(),
        chunks in prop::collection::vec(prop_oneof![1..64usize, 64..70_000usize], 1..8),
    ) {
        let envelopes = v5_envelopes(&sizes, seed);
        let wire = encode_segments(&envelopes, format, max_payload);
        let mut decoder = SegmentDecoder::new(format, EnvelopeDecoder::new());
        let got = feed_in_chunks(&wire, &chunks, |buf| decoder.decode(buf)).unwrap();
        prop_assert!(!decoder.is_mid_envelope());
        prop_assert_eq!(got, envelopes);
    }

    #[test]
    fn any_corrupted_segment_byte_is_a_crc_error(
        sizes in prop::collection::vec(0..3000usize, 1..6),
        seed in any::<u64>(),
        format in formats(),
        max_payload in prop_oneof![Just(MAX_PAYLOAD_LEN), 10..1_000usize],
        position in any::<prop::sample::Index>(),
        mask in 1..=255u8,
    ) {
        let envelopes = v5_envelopes(&sizes, seed);
        let mut wire = encode_segments(&envelopes, format, max_payload);
        let i = position.index(wire.len());
        wire[i] ^= mask;
        let mut decoder = SegmentDecoder::new(format, EnvelopeDecoder::new());
        let mut got = Vec::new();
        let err = loop {
            match decoder.decode(&mut wire) {
                Ok(Decoded::Ready(e)) => got.push(e),
                Ok(Decoded::NeedMore(n)) => panic!("corruption went unnoticed, wants {n} more bytes"),
                Err(e) => break e,
            }
        };
        prop_assert!(
            matches!(err, FrameError::SegmentHeaderCrc { .. } | FrameError::SegmentPayloadCrc { .. }),
            "{:?}", err
        );
        // Whatever came out before the corrupted segment is exactly what was sent.
        prop_assert!(got.len() <= envelopes.len());
        prop_assert_eq!(&got[..], &envelopes[..got.len()]);
    }

    #[test]
    fn random_bytes_never_panic_the_decoders(
        bytes in prop::collection::vec(any::<u8>(), 0..2000),
        format in formats(),
    ) {
        let limits = EnvelopeDecoder::new().with_max_body_len(1 << 16);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Decoded::Ready(_)) = limits.decode(&mut buf) {}
        let mut decoder = SegmentDecoder::new(format, limits);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Decoded::Ready(_)) = decoder.decode(&mut buf) {}
        for codec in [Compression::Lz4, Compression::Snappy] {
            let _ = codec.decompress(&bytes, 1 << 16);
        }
    }
}

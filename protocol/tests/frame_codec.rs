//! `FrameCodec`: a client and a server codec talking through byte buffers, from the unframed
//! handshake to the established mode, for every version and compression.

use bytes::BytesMut;
use ringgate_protocol::frame::segment::SegmentFormat;
use ringgate_protocol::frame::{
    Compression, Decoded, Envelope, Flags, FrameCodec, FrameError, Header, Mode,
};
use ringgate_protocol::{Direction, Opcode, ProtocolVersion};

fn request(version: ProtocolVersion, stream: i16, opcode: Opcode, body: Vec<u8>) -> Envelope {
    Envelope::new(
        Header::new(version, Direction::Request, stream, opcode),
        body,
    )
}

fn response(version: ProtocolVersion, stream: i16, opcode: Opcode, body: Vec<u8>) -> Envelope {
    Envelope::new(
        Header::new(version, Direction::Response, stream, opcode),
        body,
    )
}

fn next(codec: &mut FrameCodec, buf: &mut BytesMut) -> Envelope {
    match codec.decode(buf) {
        Ok(Decoded::Ready(e)) => e,
        other => panic!("expected an envelope, got {other:?}"),
    }
}

/// Runs the handshake; READY and the first framed response go out in one write, so the client
/// must switch modes between two envelopes of the same buffer.
fn handshake_then_traffic(version: ProtocolVersion, compression: Option<Compression>) -> BytesMut {
    let mut client = FrameCodec::client();
    let mut server = FrameCodec::server();
    let (mut up, mut down) = (BytesMut::new(), BytesMut::new());

    let startup = request(
        version,
        0,
        Opcode::Startup,
        b"\x00\x01\x00\x03CQL\x00\x053.0.0".to_vec(),
    );
    client.encode(&startup, &mut up).unwrap();
    assert_eq!(next(&mut server, &mut up), startup);

    let ready = response(version, 0, Opcode::Ready, Vec::new());
    server.encode(&ready, &mut down).unwrap();
    server.established(version, compression).unwrap();
    let event = response(version, -1, Opcode::Event, vec![b'e'; 3000]);
    server.encode(&event, &mut down).unwrap();
    server.flush(&mut down).unwrap();
    let wire = down.clone();

    assert_eq!(next(&mut client, &mut down), ready);
    assert_eq!(client.mode(), Mode::Unframed);
    client.established(version, compression).unwrap();
    assert_eq!(next(&mut client, &mut down), event);
    assert!(down.is_empty());

    // Requests and responses of every size, both ways.
    for (stream, len) in [(1, 0), (2, 10), (3, 200_000), (4, 70_000)] {
        let q = request(version, stream, Opcode::Query, vec![stream as u8; len]);
        client.encode(&q, &mut up).unwrap();
        client.flush(&mut up).unwrap();
        assert_eq!(next(&mut server, &mut up), q);
        let r = response(version, stream, Opcode::Result, vec![!(stream as u8); len]);
        server.encode(&r, &mut down).unwrap();
        server.flush(&mut down).unwrap();
        assert_eq!(next(&mut client, &mut down), r);
    }
    wire
}

#[test]
fn v5_switches_to_plain_segments() {
    let wire = handshake_then_traffic(ProtocolVersion::V5, None);
    // READY unframed (9 bytes), then a plain segment: 6-byte header, self-contained.
    assert_eq!(&wire[..9], &[0x85, 0, 0, 0, 0x02, 0, 0, 0, 0]);
    let h = u32::from_le_bytes([wire[9], wire[10], wire[11], 0]);
    assert_eq!(h & 0x1FFFF, 3009);
    assert_ne!(h & (1 << 17), 0);
}

#[test]
fn v5_switches_to_lz4_segments() {
    let wire = handshake_then_traffic(ProtocolVersion::V5, Some(Compression::Lz4));
    let h = u64::from_le_bytes([wire[9], wire[10], wire[11], wire[12], wire[13], 0, 0, 0]);
    assert_eq!((h >> 17) & 0x1FFFF, 3009, "uncompressed length");
    assert!((h & 0x1FFFF) < 3009, "3000 equal bytes compress");
}

#[test]
fn v4_and_v3_compress_bodies() {
    for version in [ProtocolVersion::V3, ProtocolVersion::V4] {
        for compression in [None, Some(Compression::Lz4), Some(Compression::Snappy)] {
            let wire = handshake_then_traffic(version, compression);
            // After READY, the EVENT envelope is unframed, flagged when compressed.
            let flags = Flags::from_bits(wire[10]);
            assert_eq!(flags.contains(Flags::COMPRESSION), compression.is_some());
            assert_eq!(wire[13], Opcode::Event as u8);
        }
    }
}

#[test]
fn snappy_is_refused_for_v5() {
    let mut codec = FrameCodec::server();
    assert_eq!(
        codec.established(ProtocolVersion::V5, Some(Compression::Snappy)),
        Err(FrameError::SnappyInV5)
    );
    assert_eq!(codec.mode(), Mode::Unframed);
    codec
        .established(ProtocolVersion::V5, Some(Compression::Lz4))
        .unwrap();
    assert_eq!(codec.mode(), Mode::Framed(SegmentFormat::Lz4));
}

#[test]
fn established_connection_refuses_other_versions_and_directions() {
    let mut server = FrameCodec::server();
    server.established(ProtocolVersion::V4, None).unwrap();
    let mut buf = BytesMut::new();
    request(ProtocolVersion::V3, 5, Opcode::Query, vec![])
        .encode(&mut buf)
        .unwrap();
    assert_eq!(
        server.decode(&mut buf),
        Err(FrameError::VersionMismatch {
            expected: ProtocolVersion::V4,
            actual: ProtocolVersion::V3,
            stream: 5
        })
    );
    let mut buf = BytesMut::new();
    response(ProtocolVersion::V4, 6, Opcode::Result, vec![])
        .encode(&mut buf)
        .unwrap();
    assert_eq!(
        server.decode(&mut buf),
        Err(FrameError::WrongDirection {
            expected: Direction::Request,
            stream: 6
        })
    );
}

#[test]
fn compressed_envelope_without_negotiated_compression_is_an_error() {
    let mut server = FrameCodec::server();
    server.established(ProtocolVersion::V4, None).unwrap();
    let mut e = request(ProtocolVersion::V4, 8, Opcode::Query, vec![1, 2, 3]);
    e.header.flags = Flags::COMPRESSION;
    let mut buf = BytesMut::new();
    e.encode(&mut buf).unwrap();
    assert_eq!(
        server.decode(&mut buf),
        Err(FrameError::CompressionNotNegotiated { stream: 8 })
    );
}

#[test]
fn unsupported_version_before_the_handshake_is_reported_with_its_stream() {
    let mut server = FrameCodec::server();
    let mut buf = BytesMut::from(&[0x42, 0x00, 0x00, 0x03, 0x05, 0, 0, 0, 0][..]);
    let err = server.decode(&mut buf).unwrap_err();
    assert_eq!(
        err,
        FrameError::UnsupportedVersion {
            version_byte: 0x42,
            stream: 3
        }
    );
}

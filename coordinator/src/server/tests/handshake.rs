//! OPTIONS, STARTUP, compression, the v5 framing switch and version refusal.

use bytes::BytesMut;

use super::*;
use ringgate_protocol::Opcode;
use ringgate_protocol::frame::{Compression, Flags, Mode};
use ringgate_protocol::message::{
    ErrorDetails, EventType, Register, Request, Response, ResultBody, Startup,
};
use ringgate_protocol::types::CqlValue;

#[test]
fn every_version_and_compression_handshakes_and_answers_system_local() {
    let cases = [
        (V3, None),
        (V3, Some(Compression::Lz4)),
        (V3, Some(Compression::Snappy)),
        (V4, None),
        (V4, Some(Compression::Lz4)),
        (V4, Some(Compression::Snappy)),
        (V5, None),
        (V5, Some(Compression::Lz4)),
    ];
    for (version, compression) in cases {
        let (mut client, mut s) = Client::ready(version, compression);
        assert_eq!((s.version(), s.compression()), (Some(version), compression));
        let expected_mode = match (version.is_framed(), compression) {
            (false, _) => Mode::Unframed,
            (true, None) => {
                Mode::Framed(ringgate_protocol::frame::segment::SegmentFormat::Uncompressed)
            }
            (true, Some(_)) => Mode::Framed(ringgate_protocol::frame::segment::SegmentFormat::Lz4),
        };
        assert_eq!(s.codec.mode(), expected_mode);
        client.send(
            &mut s,
            7,
            &query("SELECT * FROM system.local WHERE key='local'"),
        );
        let (header, response) = client.one(&mut s);
        assert_eq!((header.stream, header.version), (7, version));
        let (names, rows) = rows_of(response, version);
        assert_eq!(names.len(), 20, "{version} {compression:?}");
        let at = |n: &str| names.iter().position(|x| x == n).unwrap();
        assert_eq!(
            rows[0][at("rpc_address")],
            Some(CqlValue::Inet("127.0.0.9".parse().unwrap()))
        );
        assert_eq!(
            rows[0][at("cluster_name")],
            Some(CqlValue::Text("ringgate".into()))
        );
        // Other queries go to the shell, and its reply comes back on the client's stream.
        client.send(&mut s, 300, &query("SELECT * FROM ks.t"));
        let Some(SessionEvent::Request(request)) = s.poll_event() else {
            panic!("not forwarded")
        };
        assert_eq!(
            (request.stream, request.opcode, request.version),
            (300, Opcode::Query, version)
        );
        assert_eq!(
            Request::decode(Opcode::Query, &request.body, version).unwrap(),
            query("SELECT * FROM ks.t")
        );
        assert_eq!(s.in_flight(), 1);
        let mut body = BytesMut::new();
        Response::Result(ResultBody::Void)
            .encode(version, &mut body)
            .unwrap();
        s.reply(
            300,
            Reply::Raw {
                opcode: Opcode::Result,
                flags: Flags::empty(),
                body: body.freeze(),
            },
        );
        let (header, response) = client.one(&mut s);
        assert_eq!(
            (header.stream, response),
            (300, Response::Result(ResultBody::Void))
        );
        assert_eq!(s.in_flight(), 0);
    }
}

#[test]
fn supported_lists_versions_compressions_and_cql_version_before_and_after_startup() {
    let (mut client, mut s) = Client::ready(V4, None);
    client.send(&mut s, 3, &Request::Options);
    let (header, Response::Supported(supported)) = client.one(&mut s) else {
        panic!()
    };
    assert_eq!(header.stream, 3);
    assert_eq!(
        supported.get("PROTOCOL_VERSIONS").unwrap(),
        ["3/v3", "4/v4", "5/v5"]
    );
    assert_eq!(supported.get("COMPRESSION").unwrap(), ["lz4", "snappy"]);
    assert_eq!(supported.get("CQL_VERSION").unwrap(), ["3.4.7"]);
}

#[test]
fn v3_v4_compress_the_ready_itself_as_cassandra_does() {
    // Cassandra 5.0.8 answered a v4 STARTUP with COMPRESSION=lz4 with exactly these bytes.
    let mut s = session();
    let mut client = Client::new(V4);
    let startup = Startup::new()
        .with_option("CQL_VERSION", "3.0.0")
        .with_option("COMPRESSION", "lz4");
    client.send(&mut s, 1, &Request::Startup(startup));
    assert_eq!(
        &s.transmit().unwrap()[..],
        &[0x84, 0x01, 0x00, 0x01, 0x02, 0, 0, 0, 5, 0, 0, 0, 0, 0]
    );
    let mut s = session();
    let startup = Startup::new()
        .with_option("CQL_VERSION", "3.0.0")
        .with_option("COMPRESSION", "snappy");
    client.send(&mut s, 1, &Request::Startup(startup));
    assert_eq!(
        &s.transmit().unwrap()[..],
        &[0x84, 0x01, 0x00, 0x01, 0x02, 0, 0, 0, 1, 0]
    );
}

#[test]
fn v5_switches_to_segments_after_ready() {
    let mut client = Client::new(V5);
    let mut s = session();
    client.handshake(&mut s, Some(Compression::Lz4));
    let ready = s.transmit().unwrap();
    assert_eq!(
        &ready[..],
        &[0x85, 0x00, 0x00, 0x01, 0x02, 0, 0, 0, 0],
        "READY is unframed"
    );
    client.received.extend_from_slice(&ready);
    client.responses(&mut s);
    client.established(Some(Compression::Lz4));
    client.send(&mut s, 2, &Request::Options);
    let framed = s.transmit().unwrap();
    assert_ne!(framed[0], 0x85, "a segment header, not an envelope");
    client.received.extend_from_slice(&framed);
    assert!(matches!(
        client.responses(&mut s)[0].1,
        Response::Supported(_)
    ));
}

#[test]
fn unsupported_versions_are_refused_readably_and_the_connection_stays_usable() {
    let text = |n: u8| {
        format!(
            "Invalid or unsupported protocol version ({n}); supported versions are (3/v3, 4/v4, 5/v5)"
        )
    };
    for (version_byte, stream) in [(66u8, 3i16), (65, 0), (6, 12), (0x42, 1)] {
        let mut s = session();
        // OPTIONS with a 2-byte body, which must be skipped.
        let mut input = BytesMut::from(
            &[
                version_byte,
                0x10,
                0,
                stream as u8,
                0x05,
                0,
                0,
                0,
                2,
                0xAA,
                0xBB,
            ][..],
        );
        s.receive(&mut input);
        assert!(input.is_empty());
        let message = text(version_byte);
        let mut expected = vec![
            0x85,
            0x00,
            0x00,
            stream as u8,
            0x00,
            0,
            0,
            0,
            (6 + message.len()) as u8,
        ];
        expected.extend_from_slice(&[0, 0, 0, 0x0A, 0, message.len() as u8]);
        expected.extend_from_slice(message.as_bytes());
        assert_eq!(
            &s.transmit().unwrap()[..],
            &expected[..],
            "version {version_byte}"
        );
        // The driver steps down on the same connection.
        let mut client = Client::new(V4);
        client.send(&mut s, 4, &Request::Options);
        assert!(matches!(client.one(&mut s), (h, Response::Supported(_)) if h.stream == 4));
        assert!(!s.is_closed());
    }
    // Version 2: an 8-byte v2 header with a one-byte stream id.
    let mut s = session();
    let mut input = BytesMut::from(&[0x02, 0x00, 0x05, 0x05, 0, 0, 0, 0][..]);
    s.receive(&mut input);
    let message = text(2);
    let mut expected = vec![0x82, 0x00, 0x05, 0x00, 0, 0, 0, (6 + message.len()) as u8];
    expected.extend_from_slice(&[0, 0, 0, 0x0A, 0, message.len() as u8]);
    expected.extend_from_slice(message.as_bytes());
    assert_eq!(&s.transmit().unwrap()[..], &expected[..]);
    // A refusal waits for the whole header, then drops the body as it arrives.
    let mut s = session();
    let mut input = BytesMut::from(&[66u8, 0, 0, 1, 5, 0, 0][..]);
    s.receive(&mut input);
    assert!(s.transmit().is_none());
    input.extend_from_slice(&[0, 4, 1, 2]);
    s.receive(&mut input);
    assert!(s.transmit().is_some());
    assert!(input.is_empty());
    input.extend_from_slice(&[3, 4]);
    s.receive(&mut input);
    assert!(input.is_empty() && s.transmit().is_none());
}

#[test]
fn requests_before_startup_and_twice_startup_are_protocol_errors() {
    let mut s = session();
    let mut client = Client::new(V4);
    client.send(&mut s, 9, &query("SELECT * FROM system.local"));
    let (header, response) = client.one(&mut s);
    let e = error_of(response);
    assert_eq!(header.stream, 9);
    assert_eq!(e.details, ErrorDetails::ProtocolError);
    assert_eq!(
        e.message,
        "Unexpected message QUERY, expecting STARTUP or OPTIONS"
    );
    client.send(
        &mut s,
        10,
        &Request::Register(Register {
            events: vec![EventType::StatusChange],
        }),
    );
    assert_eq!(
        error_of(client.one(&mut s).1).message,
        "Unexpected message REGISTER, expecting STARTUP or OPTIONS"
    );
    client.send(&mut s, 11, &Request::Startup(Startup::default()));
    assert_eq!(
        error_of(client.one(&mut s).1).message,
        "Missing value CQL_VERSION in STARTUP message"
    );
    let zstd = Startup::new()
        .with_option("CQL_VERSION", "3.0.0")
        .with_option("COMPRESSION", "zstd");
    client.send(&mut s, 12, &Request::Startup(zstd));
    assert_eq!(
        error_of(client.one(&mut s).1).message,
        "Unknown compression algorithm: zstd"
    );
    client.send(
        &mut s,
        13,
        &Request::Startup(Startup::new().with_option("CQL_VERSION", "3.0.0")),
    );
    assert_eq!(client.one(&mut s).1, Response::Ready);
    client.send(
        &mut s,
        14,
        &Request::Startup(Startup::new().with_option("CQL_VERSION", "3.0.0")),
    );
    assert_eq!(
        error_of(client.one(&mut s).1).message,
        "Unexpected message STARTUP, the connection is already initialized"
    );
    // v5 allows only LZ4.
    let mut s = session();
    let mut client = Client::new(V5);
    let snappy = Startup::new()
        .with_option("CQL_VERSION", "3.0.0")
        .with_option("COMPRESSION", "snappy");
    client.send(&mut s, 1, &Request::Startup(snappy));
    assert_eq!(
        error_of(client.one(&mut s).1).details,
        ErrorDetails::ProtocolError
    );
    assert!(!s.is_ready());
}

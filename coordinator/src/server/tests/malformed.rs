//! Malformed input: errors with the right code, never a panic.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use ringgate_protocol::frame::{Compression, Envelope, Flags, Header};
use ringgate_protocol::message::{ErrorDetails, Request, Response, ResultBody, Startup};
use ringgate_protocol::{Direction, Opcode, ProtocolVersion};

#[test]
fn malformed_envelopes_get_errors_and_recoverable_ones_keep_the_connection() {
    let (mut client, mut s) = Client::ready(V4, None);
    // Unknown opcode with a body: answered on its stream and skipped.
    let mut input = BytesMut::from(&[0x04, 0, 0, 21, 0x42, 0, 0, 0, 1, 0xFF][..]);
    s.receive(&mut input);
    let (header, response) = client.one(&mut s);
    assert_eq!(
        (header.stream, error_of(response).message),
        (21, "Unknown opcode 66".to_owned())
    );
    // A response opcode sent as a request.
    client.envelope(22, Opcode::Ready, Flags::empty(), Bytes::new());
    s.receive(&mut client.wire);
    let e = error_of(client.one(&mut s).1);
    assert!(
        e.message.starts_with("Wrong protocol direction"),
        "{}",
        e.message
    );
    // A body that does not decode.
    client.envelope(
        23,
        Opcode::Query,
        Flags::empty(),
        Bytes::from_static(&[0, 0, 0, 9, b'x']),
    );
    s.receive(&mut client.wire);
    assert_eq!(
        error_of(client.one(&mut s).1).details,
        ErrorDetails::ProtocolError
    );
    // Compressed without negotiation.
    client.envelope(
        24,
        Opcode::Options,
        Flags::COMPRESSION,
        Bytes::from_static(&[1, 2]),
    );
    s.receive(&mut client.wire);
    assert_eq!(client.one(&mut s).0.stream, 24);
    // Another version on a v4 connection.
    let mut input = BytesMut::from(&[0x03, 0, 0, 25, 0x05, 0, 0, 0, 0][..]);
    s.receive(&mut input);
    let e = error_of(client.one(&mut s).1);
    assert_eq!(
        e.message,
        "Invalid message version. Got v3 but previous messages on this connection had version v4"
    );
    // Too large: refused without buffering, skipped as it arrives.
    let mut config = ServerConfig::new(system());
    config.max_body_len = 16;
    let mut s = ServerSession::new(Arc::new(config));
    let mut input = BytesMut::from(&[0x04, 0, 0, 26, 0x05, 0, 0, 0, 30][..]);
    s.receive(&mut input);
    let e = error_of(Client::new(V4).one(&mut s).1);
    assert_eq!(
        e.message,
        "Request is too big: length 30 exceeds maximum allowed length 16"
    );
    input.extend_from_slice(&[0; 30]);
    input.extend_from_slice(&[0x04, 0, 0, 27, 0x05, 0, 0, 0, 0]);
    s.receive(&mut input);
    let (header, response) = Client::new(V4).one(&mut s);
    assert!(matches!(response, Response::Supported(_)) && header.stream == 27);
    assert!(!s.is_closed());
    // A length far past the limit is garbage: answered, then the connection closes.
    let mut input = BytesMut::from(&[0x04, 0, 0, 28, 0x07, 0x7F, 0, 0, 0][..]);
    s.receive(&mut input);
    assert!(s.is_closed());
    assert_eq!(Client::new(V4).one(&mut s).0.stream, 28);
}

#[test]
fn a_corrupt_v5_segment_closes_the_connection_after_an_error() {
    let (mut client, mut s) = Client::ready(V5, None);
    client.envelope(1, Opcode::Options, Flags::empty(), Bytes::new());
    let last = client.wire.len() - 1;
    client.wire[last] ^= 0xFF;
    s.receive(&mut client.wire);
    assert!(s.is_closed());
    let (_, response) = client.one(&mut s);
    assert_eq!(error_of(response).details, ErrorDetails::ProtocolError);
    let mut more = BytesMut::from(&[1u8, 2, 3][..]);
    s.receive(&mut more);
    assert!(s.transmit().is_none());
}

/// Bytes after a handshake in `version` (or none).
fn prefix(version: Option<ProtocolVersion>) -> BytesMut {
    let mut out = BytesMut::new();
    if let Some(v) = version {
        let mut body = BytesMut::new();
        Request::Startup(Startup::new().with_option("CQL_VERSION", "3.0.0"))
            .encode(v, &mut body)
            .unwrap();
        Envelope::new(
            Header::new(v, Direction::Request, 0, Opcode::Startup),
            body.freeze(),
        )
        .encode(&mut out)
        .unwrap();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any bytes, in any pieces, after any handshake: no panic, and output bounded by what
    /// came in (every envelope is answered at most once, errors are short).
    #[test]
    fn arbitrary_input_never_panics(
        version in prop::option::of(prop::sample::select(vec![V3, V4, V5])),
        data in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(0usize..600, 0..6),
    ) {
        let mut config = ServerConfig::new(system());
        config.max_body_len = 256;
        let mut s = ServerSession::new(Arc::new(config));
        let mut input = prefix(version);
        s.receive(&mut input);
        let _ = s.transmit();
        let mut cuts = cuts;
        cuts.push(data.len());
        cuts.sort_unstable();
        let mut at = 0;
        let mut written = 0usize;
        for cut in cuts {
            let cut = cut.min(data.len());
            input.extend_from_slice(&data[at..cut.max(at)]);
            at = cut.max(at);
            s.receive(&mut input);
            prop_assert!(input.len() <= 256 + 9 + 16 * 1024, "buffered {}", input.len());
            while let Some(event) = s.poll_event() {
                if let SessionEvent::Request(r) = event {
                    s.reply(r.stream, Reply::Message(Response::Result(ResultBody::Void)));
                }
            }
            written += s.transmit().map_or(0, |b| b.len());
        }
        prop_assert!(written <= (data.len() / 8 + 2) * 1024, "{written} bytes for {}", data.len());
    }

    /// Whole valid requests split at any point are answered exactly as if sent in one piece.
    #[test]
    fn split_input_is_answered_like_whole_input(split in 0usize..200, v5 in any::<bool>()) {
        let version = if v5 { V5 } else { V4 };
        let (mut client, mut whole) = Client::ready(version, Some(Compression::Lz4));
        let (mut other_client, mut pieces) = Client::ready(version, Some(Compression::Lz4));
        client.envelope(5, Opcode::Query, Flags::empty(), {
            let mut b = BytesMut::new();
            query("SELECT * FROM system.local").encode(version, &mut b).unwrap();
            b.freeze()
        });
        other_client.wire = client.wire.clone();
        whole.receive(&mut client.wire);
        let split = split.min(other_client.wire.len());
        let mut first = other_client.wire.split_to(split);
        pieces.receive(&mut first);
        first.extend_from_slice(&other_client.wire);
        other_client.wire.clear();
        pieces.receive(&mut first);
        prop_assert_eq!(client.responses(&mut whole), other_client.responses(&mut pieces));
    }
}

//! The session driven directly: a client made of the protocol crate's codecs talks to a
//! [`ServerSession`] through byte buffers.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use proptest::prelude::*;

use super::*;
use crate::protocol::frame::{Compression, Decoded, Envelope, Flags, FrameCodec, Header, Mode};
use crate::protocol::message::{
    AuthToken, Consistency, ErrorDetails, ErrorResponse, Event, EventType, Execute, Prepare, Query,
    QueryParameters, Register, Request, Response, ResultBody, Startup, StatusChangeType,
    split_response_body,
};
use crate::protocol::types::{CqlValue, decode_cell};
use crate::protocol::{Direction, Opcode, ProtocolVersion};
use crate::server::system::{RinggateNode, SystemInfo, SystemTables};

const V3: ProtocolVersion = ProtocolVersion::V3;
const V4: ProtocolVersion = ProtocolVersion::V4;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn system() -> Arc<SystemTables> {
    let local = RinggateNode::new("127.0.0.9".parse::<IpAddr>().unwrap(), 9042, "dc1", "rack1");
    Arc::new(SystemTables::new(SystemInfo::new(local, "ringgate")).unwrap())
}

struct Refuse;

impl Authenticator for Refuse {
    fn authenticate(&self, _: Credentials) -> BoxFuture<'static, Result<Identity, AuthFailure>> {
        Box::pin(async { Err(AuthFailure::new("unused in session tests")) })
    }
}

fn session() -> ServerSession {
    ServerSession::new(Arc::new(ServerConfig::new(system())))
}

fn auth_session() -> ServerSession {
    ServerSession::new(Arc::new(
        ServerConfig::new(system()).with_authenticator(Arc::new(Refuse)),
    ))
}

/// A client made of the protocol crate's codecs.
struct Client {
    codec: FrameCodec,
    version: ProtocolVersion,
    wire: BytesMut,
    received: BytesMut,
}

impl Client {
    fn new(version: ProtocolVersion) -> Self {
        Client {
            codec: FrameCodec::client(),
            version,
            wire: BytesMut::new(),
            received: BytesMut::new(),
        }
    }

    fn envelope(&mut self, stream: i16, opcode: Opcode, flags: Flags, body: Bytes) {
        let mut header = Header::new(self.version, Direction::Request, stream, opcode);
        header.flags = flags;
        self.codec
            .encode(&Envelope::new(header, body), &mut self.wire)
            .unwrap();
        self.codec.flush(&mut self.wire).unwrap();
    }

    fn send(&mut self, session: &mut ServerSession, stream: i16, request: &Request) {
        let mut body = BytesMut::new();
        request.encode(self.version, &mut body).unwrap();
        self.envelope(stream, request.opcode(), Flags::empty(), body.freeze());
        session.receive(&mut self.wire);
        assert!(self.wire.is_empty(), "the session takes whole envelopes");
    }

    /// Every response the session has written, decoded.
    fn responses(&mut self, session: &mut ServerSession) -> Vec<(Header, Response)> {
        if let Some(bytes) = session.transmit() {
            self.received.extend_from_slice(&bytes);
        }
        let mut out = Vec::new();
        while let Decoded::Ready(envelope) = self.codec.decode(&mut self.received).unwrap() {
            let flags = envelope.header.flags;
            let (_, body) = split_response_body(
                &envelope.body,
                flags.contains(Flags::TRACING),
                flags.contains(Flags::WARNING),
                flags.contains(Flags::CUSTOM_PAYLOAD),
            )
            .unwrap();
            let response = Response::decode(envelope.header.opcode, &body, self.version).unwrap();
            out.push((envelope.header, response));
        }
        out
    }

    fn one(&mut self, session: &mut ServerSession) -> (Header, Response) {
        let mut all = self.responses(session);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    /// OPTIONS, then STARTUP with `compression`, switching codecs where Cassandra does.
    fn handshake(&mut self, session: &mut ServerSession, compression: Option<Compression>) {
        self.send(session, 0, &Request::Options);
        let (_, supported) = self.one(session);
        assert!(matches!(supported, Response::Supported(_)));
        let mut startup = Startup::new().with_option("CQL_VERSION", "3.0.0");
        if let Some(c) = compression {
            startup = startup.with_option("COMPRESSION", c.name());
        }
        self.send(session, 1, &Request::Startup(startup));
        if !self.version.is_framed() {
            self.codec.established(self.version, compression).unwrap();
        }
    }

    fn established(&mut self, compression: Option<Compression>) {
        if self.version.is_framed() {
            self.codec.established(self.version, compression).unwrap();
        }
    }

    fn ready(version: ProtocolVersion, compression: Option<Compression>) -> (Self, ServerSession) {
        let mut client = Client::new(version);
        let mut s = session();
        client.handshake(&mut s, compression);
        let (header, ready) = client.one(&mut s);
        assert_eq!((header.stream, ready), (1, Response::Ready));
        client.established(compression);
        assert!(s.is_ready());
        (client, s)
    }
}

fn query(text: &str) -> Request {
    Request::Query(Query::new(text, QueryParameters::new(Consistency::One)))
}

fn error_of(response: Response) -> ErrorResponse {
    match response {
        Response::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn rows_of(
    response: Response,
    version: ProtocolVersion,
) -> (Vec<String>, Vec<Vec<Option<CqlValue>>>) {
    let Response::Result(ResultBody::Rows(rows)) = response else {
        panic!("expected rows, got {response:?}")
    };
    let columns = rows.metadata.columns.clone().unwrap();
    let data = rows
        .rows()
        .unwrap()
        .map(|row| {
            row.unwrap()
                .cells()
                .zip(&columns)
                .map(|(cell, spec)| decode_cell(&spec.typ, cell, version).unwrap())
                .collect()
        })
        .collect();
    (columns.into_iter().map(|c| c.name).collect(), data)
}

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
                Mode::Framed(crate::protocol::frame::segment::SegmentFormat::Uncompressed)
            }
            (true, Some(_)) => Mode::Framed(crate::protocol::frame::segment::SegmentFormat::Lz4),
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

fn sasl(user: &str, password: &str) -> Request {
    Request::AuthResponse(AuthToken::new(format!("\0{user}\0{password}").into_bytes()))
}

#[test]
fn authentication_gates_every_request() {
    for version in [V3, V4, V5] {
        let mut s = auth_session();
        let mut client = Client::new(version);
        client.handshake(&mut s, Some(Compression::Lz4));
        let (header, response) = client.one(&mut s);
        assert_eq!(
            (header.stream, response),
            (1, Response::Authenticate(PASSWORD_AUTHENTICATOR.to_owned()))
        );
        client.established(Some(Compression::Lz4));
        // Nothing is served before AUTH_SUCCESS.
        client.send(&mut s, 2, &query("SELECT * FROM system.local"));
        let e = error_of(client.one(&mut s).1);
        assert_eq!(
            (e.details, e.message.as_str()),
            (
                ErrorDetails::ProtocolError,
                "Unexpected message QUERY, expecting AUTH_RESPONSE"
            )
        );
        assert!(s.poll_event().is_none());
        // Wrong credentials: an authentication error, and the client may try again.
        client.send(&mut s, 3, &sasl("cassandra", "wrong"));
        let Some(SessionEvent::Authenticate {
            stream: 3,
            credentials,
        }) = s.poll_event()
        else {
            panic!()
        };
        assert_eq!(
            (credentials.username.as_str(), credentials.password.as_str()),
            ("cassandra", "wrong")
        );
        client.send(&mut s, 4, &query("SELECT * FROM ks.t"));
        assert_eq!(
            error_of(client.one(&mut s).1).details,
            ErrorDetails::ProtocolError
        );
        s.authenticated(Err(AuthFailure::bad_credentials("cassandra")));
        let (header, response) = client.one(&mut s);
        let e = error_of(response);
        assert_eq!((header.stream, e.code()), (3, 0x0100));
        assert_eq!(
            e.message,
            "Provided username cassandra and/or password are incorrect"
        );
        client.send(&mut s, 5, &sasl("cassandra", "cassandra"));
        assert!(matches!(
            s.poll_event(),
            Some(SessionEvent::Authenticate { stream: 5, .. })
        ));
        let identity = Identity {
            user: "cassandra".into(),
            backend: None,
        };
        s.authenticated(Ok(identity.clone()));
        assert_eq!(
            client.one(&mut s),
            (
                client_header(version, 5, Opcode::AuthSuccess),
                Response::AuthSuccess(AuthToken { token: None })
            )
        );
        client.send(&mut s, 6, &query("SELECT * FROM ks.t"));
        let Some(SessionEvent::Request(request)) = s.poll_event() else {
            panic!()
        };
        assert_eq!(request.identity.as_deref(), Some(&identity));
        // A late verdict changes nothing.
        s.authenticated(Err(AuthFailure::new("late")));
        assert!(s.is_ready() && client.responses(&mut s).is_empty());
    }
}

fn client_header(version: ProtocolVersion, stream: i16, opcode: Opcode) -> Header {
    Header::new(version, Direction::Response, stream, opcode)
}

#[test]
fn malformed_sasl_is_an_authentication_error() {
    let mut s = auth_session();
    let mut client = Client::new(V4);
    client.handshake(&mut s, None);
    client.one(&mut s);
    client.send(
        &mut s,
        2,
        &Request::AuthResponse(AuthToken::new(&b"no separators"[..])),
    );
    assert_eq!(error_of(client.one(&mut s).1).code(), 0x0100);
    assert!(s.poll_event().is_none());
}

#[test]
fn prepared_system_statements_execute_on_another_connection() {
    let tables = system();
    let config = Arc::new(ServerConfig::new(tables));
    for version in [V3, V4, V5] {
        let mut one = ServerSession::new(config.clone());
        let mut client = Client::new(version);
        client.handshake(&mut one, None);
        client.one(&mut one);
        client.established(None);
        let text = "SELECT rpc_address AS a, tokens FROM system.local WHERE key = ?";
        client.send(&mut one, 1, &Request::Prepare(Prepare::new(text)));
        let response = client.one(&mut one).1;
        let Response::Result(ResultBody::Prepared(prepared)) = response else {
            panic!("{response:?}")
        };
        let mut other = ServerSession::new(config.clone());
        let mut client = Client::new(version);
        client.handshake(&mut other, None);
        client.one(&mut other);
        client.established(None);
        let params = QueryParameters::new(Consistency::One).with_values(vec![
            crate::protocol::message::Value::Bytes(Bytes::from_static(b"local")),
        ]);
        let execute = Execute::new(
            prepared.id.clone(),
            prepared.result_metadata_id.clone(),
            params,
        );
        client.send(&mut other, 2, &Request::Execute(execute));
        let (names, rows) = rows_of(client.one(&mut other).1, version);
        assert_eq!(names, ["a", "tokens"]);
        assert_eq!(
            rows[0][0],
            Some(CqlValue::Inet("127.0.0.9".parse().unwrap()))
        );
        // An unknown id goes to the shell (the cluster answers UNPREPARED or runs it).
        let params = QueryParameters::new(Consistency::One);
        let md = (version == V5).then(|| Bytes::from_static(b"m"));
        client.send(
            &mut other,
            3,
            &Request::Execute(Execute::new(Bytes::from_static(b"other"), md, params)),
        );
        assert!(
            matches!(other.poll_event(), Some(SessionEvent::Request(r)) if r.opcode == Opcode::Execute)
        );
    }
}

#[test]
fn use_is_tracked_and_unqualified_system_tables_are_answered() {
    let (mut client, mut s) = Client::ready(V4, None);
    client.send(&mut s, 1, &query("USE system"));
    let Some(SessionEvent::Request(request)) = s.poll_event() else {
        panic!()
    };
    assert_eq!(request.keyspace, None);
    let mut body = BytesMut::new();
    // A reply with a warning prefix in front of the Set_keyspace result.
    crate::protocol::primitives::put_string_list(&mut body, &["careful".to_owned()]).unwrap();
    Response::Result(ResultBody::SetKeyspace("system".into()))
        .encode(V4, &mut body)
        .unwrap();
    s.reply(
        1,
        Reply::Raw {
            opcode: Opcode::Result,
            flags: Flags::WARNING,
            body: body.freeze(),
        },
    );
    client.responses(&mut s);
    assert_eq!(s.keyspace(), Some("system"));
    client.send(&mut s, 2, &query("SELECT peer FROM peers"));
    let (names, rows) = rows_of(client.one(&mut s).1, V4);
    assert_eq!((names.len(), rows.len()), (1, 0));
    client.send(&mut s, 3, &query("SELECT x FROM ks.t"));
    let Some(SessionEvent::Request(request)) = s.poll_event() else {
        panic!()
    };
    assert_eq!(request.keyspace.as_deref(), Some("system"));
    client.send(&mut s, 4, &query("SELECT bogus FROM system.local"));
    let e = error_of(client.one(&mut s).1);
    assert_eq!(
        (e.details, e.message.as_str()),
        (
            ErrorDetails::Invalid,
            "Undefined column name bogus in table system.local"
        )
    );
}

#[test]
fn register_then_events_are_pushed_on_stream_minus_one() {
    let (mut client, mut s) = Client::ready(V5, Some(Compression::Lz4));
    let event = Event::StatusChange {
        change: StatusChangeType::Up,
        node: "127.0.0.9:9042".parse().unwrap(),
    };
    assert!(!s.push_event(&event), "not registered yet");
    client.send(
        &mut s,
        1,
        &Request::Register(Register {
            events: vec![EventType::StatusChange, EventType::SchemaChange],
        }),
    );
    assert_eq!(client.one(&mut s).1, Response::Ready);
    assert_eq!(
        s.poll_event(),
        Some(SessionEvent::Registered(vec![
            EventType::StatusChange,
            EventType::SchemaChange
        ]))
    );
    assert!(s.push_event(&event));
    let (header, response) = client.one(&mut s);
    assert_eq!((header.stream, response), (-1, Response::Event(event)));
    let topology = Event::TopologyChange {
        change: crate::protocol::message::TopologyChangeType::NewNode,
        node: "127.0.0.9:9042".parse().unwrap(),
    };
    assert!(!s.push_event(&topology));
}

#[test]
fn too_many_in_flight_is_overloaded() {
    let mut config = ServerConfig::new(system());
    config.max_in_flight = 2;
    let mut s = ServerSession::new(Arc::new(config));
    let mut client = Client::new(V4);
    client.handshake(&mut s, None);
    client.one(&mut s);
    for stream in 1..=3 {
        client.send(&mut s, stream, &query("SELECT * FROM ks.t"));
    }
    let e = error_of(client.one(&mut s).1);
    assert_eq!(e.details, ErrorDetails::Overloaded);
    assert_eq!(s.in_flight(), 2);
    s.reply(1, Reply::Message(Response::Result(ResultBody::Void)));
    client.send(&mut s, 4, &query("SELECT * FROM ks.t"));
    assert_eq!(s.in_flight(), 2);
}

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

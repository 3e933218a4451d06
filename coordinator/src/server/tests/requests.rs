//! Requests on a ready connection: system tables, forwarding, USE, REGISTER, limits.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::*;
use ringgate_protocol::Opcode;
use ringgate_protocol::frame::{Compression, Flags};
use ringgate_protocol::message::{
    Consistency, ErrorDetails, Event, EventType, Execute, Prepare, QueryParameters, Register,
    Request, Response, ResultBody, StatusChangeType,
};
use ringgate_protocol::types::CqlValue;

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
            ringgate_protocol::message::Value::Bytes(Bytes::from_static(b"local")),
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
    ringgate_protocol::primitives::put_string_list(&mut body, &["careful".to_owned()]).unwrap();
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
        change: ringgate_protocol::message::TopologyChangeType::NewNode,
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
fn every_envelope_of_a_segment_is_handled_at_once() {
    for (version, compression) in [(V5, None), (V5, Some(Compression::Lz4)), (V4, None)] {
        let (mut client, mut s) = Client::ready(version, compression);
        // Three requests in one write (one segment in v5), nothing after them.
        let mut wire = BytesMut::new();
        for stream in [3, 4, 5] {
            let mut body = BytesMut::new();
            query("SELECT * FROM ks.t")
                .encode(version, &mut body)
                .unwrap();
            let header = ringgate_protocol::frame::Header::new(
                version,
                ringgate_protocol::Direction::Request,
                stream,
                Opcode::Query,
            );
            client
                .codec
                .encode(
                    &ringgate_protocol::frame::Envelope::new(header, body.freeze()),
                    &mut wire,
                )
                .unwrap();
        }
        client.codec.flush(&mut wire).unwrap();
        s.receive(&mut wire);
        let mut streams = Vec::new();
        while let Some(SessionEvent::Request(r)) = s.poll_event() {
            streams.push(r.stream);
        }
        assert_eq!(streams, [3, 4, 5], "{version:?} {compression:?}");
    }
}

/// Takes every request the session handed over, as (stream, opcode, keyspace).
fn forwarded(s: &mut ServerSession) -> Vec<(i16, Opcode, Option<String>)> {
    let mut out = Vec::new();
    while let Some(event) = s.poll_event() {
        if let SessionEvent::Request(r) = event {
            out.push((r.stream, r.opcode, r.keyspace.map(|k| k.to_string())));
        }
    }
    out
}

#[test]
fn requests_pipelined_after_use_wait_for_its_answer_and_run_in_its_keyspace() {
    for version in [V4, V5] {
        let (mut client, mut s) = Client::ready(version, None);
        // One write: USE, PREPARE and QUERY of unqualified tables, a system table.
        let mut body = BytesMut::new();
        for (stream, request) in [
            (10, query("USE ks")),
            (
                11,
                Request::Prepare(Prepare::new("SELECT v FROM t WHERE k = ?")),
            ),
            (12, query("SELECT v FROM t WHERE k = 1")),
            (13, query("/* again */ use \"Other\";")),
            (14, query("SELECT v FROM t")),
        ] {
            let mut message = BytesMut::new();
            request.encode(version, &mut message).unwrap();
            let header = Header::new(version, Direction::Request, stream, request.opcode());
            client
                .codec
                .encode(&Envelope::new(header, message.freeze()), &mut body)
                .unwrap();
        }
        client.codec.flush(&mut body).unwrap();
        s.receive(&mut body);
        assert!(body.is_empty());
        // Only the USE goes out; the rest waits for its answer.
        assert_eq!(forwarded(&mut s), [(10, Opcode::Query, None)]);
        assert_eq!((s.in_flight(), s.held()), (1, 4));
        s.reply(
            10,
            Reply::Message(Response::Result(ResultBody::SetKeyspace("ks".into()))),
        );
        let ks = Some("ks".to_owned());
        // Up to the next USE.
        assert_eq!(
            forwarded(&mut s),
            [
                (11, Opcode::Prepare, ks.clone()),
                (12, Opcode::Query, ks.clone()),
                (13, Opcode::Query, ks.clone()),
            ]
        );
        assert_eq!(s.held(), 1);
        // A failed USE leaves the keyspace as it was, and releases what follows it.
        let error = ErrorResponse::new(ErrorDetails::Invalid, "Keyspace 'Other' does not exist");
        s.reply(13, Reply::Message(Response::Error(error)));
        assert_eq!(forwarded(&mut s), [(14, Opcode::Query, ks.clone())]);
        for stream in [11, 12, 14] {
            s.reply(stream, Reply::Message(Response::Result(ResultBody::Void)));
        }
        let answered: Vec<i16> = client
            .responses(&mut s)
            .iter()
            .map(|(h, _)| h.stream)
            .collect();
        assert_eq!(answered, [10, 13, 11, 12, 14], "{version:?}");
        assert_eq!((s.in_flight(), s.held()), (0, 0));
    }
}

#[test]
fn system_tables_after_a_pipelined_use_are_answered_in_its_keyspace() {
    let (mut client, mut s) = Client::ready(V4, None);
    client.send(&mut s, 1, &query("USE system"));
    client.send(&mut s, 2, &query("SELECT peer FROM peers"));
    assert!(client.responses(&mut s).is_empty(), "the SELECT waits");
    assert_eq!(forwarded(&mut s), [(1, Opcode::Query, None)]);
    s.reply(
        1,
        Reply::Message(Response::Result(ResultBody::SetKeyspace("system".into()))),
    );
    let responses = client.responses(&mut s);
    assert_eq!(responses.len(), 2, "{responses:?}");
    assert_eq!(responses[1].0.stream, 2);
    let (names, rows) = rows_of(responses[1].1.clone(), V4);
    assert_eq!((names, rows.len()), (vec!["peer".to_owned()], 0));
}

#[test]
fn requests_held_behind_use_count_toward_the_in_flight_limit() {
    let mut config = ServerConfig::new(system());
    config.max_in_flight = 3;
    let mut s = ServerSession::new(Arc::new(config));
    let mut client = Client::new(V4);
    client.handshake(&mut s, None);
    client.one(&mut s);
    client.send(&mut s, 1, &query("USE ks"));
    for stream in 2..=4 {
        client.send(&mut s, stream, &query("SELECT * FROM t"));
    }
    let (header, response) = client.one(&mut s);
    assert_eq!(header.stream, 4);
    assert_eq!(error_of(response).details, ErrorDetails::Overloaded);
    assert_eq!((s.in_flight(), s.held()), (1, 2));
}

#[test]
fn only_use_statements_hold_later_requests() {
    for (cql, held) in [
        ("USE ks", true),
        ("  use \"Ks\" ;", true),
        ("-- switch\nUSE ks", true),
        ("/* x */ USE ks", true),
        ("SELECT * FROM use_log", false),
        ("user_defined_thing", false),
        ("INSERT INTO t (k) VALUES (1)", false),
        ("/* USE ks */ SELECT 1 FROM t", false),
    ] {
        let (mut client, mut s) = Client::ready(V4, None);
        client.send(&mut s, 1, &query(cql));
        client.send(&mut s, 2, &query("SELECT * FROM ks.t"));
        let streams: Vec<i16> = forwarded(&mut s).iter().map(|r| r.0).collect();
        let want: &[i16] = if held { &[1] } else { &[1, 2] };
        assert_eq!(streams, want, "{cql}");
    }
}

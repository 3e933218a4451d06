//! Golden bytes built by hand from the spec text (v5 §4 and §8, v4/v3 §4 and §9), checked in
//! both directions: the bytes decode to the message, and the message encodes to the bytes.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use ringgate_protocol::message::{
    Batch, BatchQuery, BatchStatement, BatchType, ColumnSpec, Consistency, ErrorDetails,
    ErrorResponse, Event, Execute, Failures, Prepare, Prepared, PreparedMetadata, Query,
    QueryParameters, Request, Response, ResultBody, RowsMetadata, SchemaChange, SchemaChangeTarget,
    SchemaChangeType, SerialConsistency, Startup, TableSpec, TopologyChangeType, Value, WriteType,
    response_message, split_response_body,
};
use ringgate_protocol::primitives::DecodeError;
use ringgate_protocol::types::ColumnType;
use ringgate_protocol::{Opcode, ProtocolVersion};

const V3: ProtocolVersion = ProtocolVersion::V3;
const V4: ProtocolVersion = ProtocolVersion::V4;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// Concatenates byte pieces (strings as their UTF-8).
macro_rules! body {
    ($($piece:expr),* $(,)?) => {{
        let mut v: Vec<u8> = Vec::new();
        $( v.extend_from_slice(AsRef::<[u8]>::as_ref(&$piece)); )*
        Bytes::from(v)
    }};
}

fn check_request(v: ProtocolVersion, bytes: &Bytes, expected: &Request) {
    let got = Request::decode(expected.opcode(), bytes, v).expect("decodes");
    assert_eq!(&got, expected);
    let mut buf = BytesMut::new();
    expected.encode(v, &mut buf).expect("encodes");
    assert_eq!(&buf[..], &bytes[..]);
}

fn check_response(v: ProtocolVersion, bytes: &Bytes, expected: &Response) {
    let got = Response::decode(expected.opcode(), bytes, v).expect("decodes");
    assert_eq!(&got, expected);
    let mut buf = BytesMut::new();
    expected.encode(v, &mut buf).expect("encodes");
    assert_eq!(&buf[..], &bytes[..]);
}

#[test]
fn startup_string_map() {
    // §4.1.1: a [string map]: n=1, "CQL_VERSION" -> "3.0.0".
    let bytes = body!([0, 1], [0, 11], "CQL_VERSION", [0, 5], "3.0.0");
    check_request(V4, &bytes, &Request::Startup(Startup::new()));
}

#[test]
fn v4_query_with_values_page_size_serial_and_timestamp() {
    // §4.1.4 (v4): [long string] query, [consistency] ONE, [byte] flags 0x35 =
    // Values|Page_size|Serial|Timestamp, n=1 value int 7, page size 100, LOCAL_SERIAL, ts 1.
    let bytes = body!(
        [0, 0, 0, 15],
        "SELECT * FROM t",
        [0, 1],
        [0x35],
        [0, 1],
        [0, 0, 0, 4, 0, 0, 0, 7],
        [0, 0, 0, 100],
        [0, 9],
        [0, 0, 0, 0, 0, 0, 0, 1],
    );
    let params = QueryParameters::new(Consistency::One)
        .with_values(vec![Value::from(vec![0, 0, 0, 7])])
        .with_page_size(100)
        .with_serial_consistency(SerialConsistency::LocalSerial)
        .with_timestamp(1);
    check_request(
        V4,
        &bytes,
        &Request::Query(Query::new("SELECT * FROM t", params)),
    );
    // The same body is not a valid v5 QUERY (flags are an [int] there).
    assert!(Request::decode(Opcode::Query, &bytes, V5).is_err());
}

#[test]
fn v5_query_with_keyspace_and_now_in_seconds() {
    // §4.1.4 (v5): flags [int] 0x180 = With_keyspace | With_now_in_seconds.
    let bytes = body!(
        [0, 0, 0, 8],
        "SELECT 1",
        [0, 4],
        [0, 0, 1, 0x80],
        [0, 2],
        "ks",
        [0, 0, 0, 42],
    );
    let params = QueryParameters::new(Consistency::Quorum)
        .with_keyspace("ks")
        .with_now_in_seconds(42);
    let q = Request::Query(Query::new("SELECT 1", params));
    check_request(V5, &bytes, &q);
    // v4 has no keyspace field: encoding refuses rather than dropping it.
    assert!(q.encode(V4, &mut BytesMut::new()).is_err());
}

#[test]
fn named_values() {
    // Flag 0x40: each value preceded by its [string] name.
    let bytes = body!(
        [0, 0, 0, 1],
        "q",
        [0, 1],
        [0x41],
        [0, 1],
        [0, 1],
        "k",
        [0xFF, 0xFF, 0xFF, 0xFF],
    );
    let params =
        QueryParameters::new(Consistency::One).with_named_values(vec![("k".into(), Value::Null)]);
    check_request(V4, &bytes, &Request::Query(Query::new("q", params)));
}

#[test]
fn v5_execute_with_result_metadata_id_and_unset_value() {
    // §4.1.6 (v5): <id><result_metadata_id><query_parameters>; value length -2 = not set.
    let bytes = body!(
        [0, 2, 0xAB, 0xCD],
        [0, 1, 0xEF],
        [0, 0x0A],
        [0, 0, 0, 1],
        [0, 1],
        [0xFF, 0xFF, 0xFF, 0xFE],
    );
    let exec = Request::Execute(Execute {
        id: Bytes::from_static(&[0xAB, 0xCD]),
        result_metadata_id: Some(Bytes::from_static(&[0xEF])),
        params: QueryParameters::new(Consistency::LocalOne).with_values(vec![Value::Unset]),
    });
    check_request(V5, &bytes, &exec);
}

#[test]
fn unset_values_are_an_error_in_v3() {
    // v3 §3: a [value] has no "not set"; -2 is invalid there but fine in v4.
    let bytes = body!(
        [0, 1, 0x01],
        [0, 1],
        [0x01],
        [0, 1],
        [0xFF, 0xFF, 0xFF, 0xFE]
    );
    assert!(matches!(
        Request::decode(Opcode::Execute, &bytes, V3),
        Err(DecodeError::InvalidValue { .. })
    ));
    assert!(Request::decode(Opcode::Execute, &bytes, V4).is_ok());
    let exec = Execute {
        id: Bytes::from_static(&[1]),
        result_metadata_id: None,
        params: QueryParameters::new(Consistency::One).with_values(vec![Value::Unset]),
    };
    assert!(exec.encode(V3, &mut BytesMut::new()).is_err());
}

#[test]
fn v5_prepare_flags_and_keyspace() {
    // §4.1.5 (v5): <query><flags>[<keyspace>], flag 0x01 = with keyspace.
    let bytes = body!([0, 0, 0, 1], "q", [0, 0, 0, 1], [0, 3], "app");
    let p = Request::Prepare(Prepare {
        query: "q".into(),
        keyspace: Some("app".into()),
    });
    check_request(V5, &bytes, &p);
    // v4 PREPARE is just the query string.
    check_request(
        V4,
        &body!([0, 0, 0, 1], "q"),
        &Request::Prepare(Prepare::new("q")),
    );
}

#[test]
fn v4_batch() {
    // §4.1.7 (v4): type 1 (unlogged), n=2: kind 0 query with no values, kind 1 id with one
    // value; consistency QUORUM, flags [byte] 0x20 (timestamp), timestamp 5.
    let bytes = body!(
        [1],
        [0, 2],
        [0],
        [0, 0, 0, 1],
        "a",
        [0, 0],
        [1],
        [0, 1, 0x77],
        [0, 1],
        [0, 0, 0, 0],
        [0, 4],
        [0x20],
        [0, 0, 0, 0, 0, 0, 0, 5],
    );
    let b = Request::Batch(Batch {
        batch_type: BatchType::Unlogged,
        statements: vec![
            BatchStatement {
                query: BatchQuery::Query("a".into()),
                values: vec![],
            },
            BatchStatement {
                query: BatchQuery::Prepared(Bytes::from_static(&[0x77])),
                values: vec![Value::Bytes(Bytes::new())],
            },
        ],
        consistency: Consistency::Quorum,
        timestamp: Some(5),
        ..Batch::default()
    });
    check_request(V4, &bytes, &b);
}

#[test]
fn batch_names_for_values_and_query_only_flags_are_refused() {
    // Empty batch, ONE, then flags 0x40 (names for values) or 0x01 (values): both refused.
    for flag in [0x40u8, 0x01, 0x04] {
        let bytes = body!([0], [0, 0], [0, 1], [flag]);
        assert!(matches!(
            Request::decode(Opcode::Batch, &bytes, V4),
            Err(DecodeError::InvalidValue { .. })
        ));
    }
}

#[test]
fn unavailable_error() {
    // §8: [int] 0x1000, [string] message, <cl> LOCAL_QUORUM, <required> 3, <alive> 1.
    let bytes = body!(
        [0, 0, 0x10, 0],
        [0, 4],
        "oops",
        [0, 6],
        [0, 0, 0, 3],
        [0, 0, 0, 1],
    );
    let e = Response::Error(ErrorResponse::new(
        ErrorDetails::Unavailable {
            consistency: Consistency::LocalQuorum,
            required: 3,
            alive: 1,
        },
        "oops",
    ));
    for v in ProtocolVersion::ALL {
        check_response(v, &bytes, &e);
    }
}

#[test]
fn write_timeout_contentions_only_for_cas_in_v5() {
    let head = body!([0, 0, 0x11, 0], [0, 0], [0, 1], [0, 0, 0, 0], [0, 0, 0, 1]);
    let cas = body!(head, [0, 3], "CAS");
    let timeout = |contentions| {
        Response::Error(ErrorResponse::new(
            ErrorDetails::WriteTimeout {
                consistency: Consistency::One,
                received: 0,
                block_for: 1,
                write_type: WriteType::Cas,
                contentions,
            },
            "",
        ))
    };
    check_response(V4, &cas, &timeout(None));
    check_response(V5, &body!(cas, [0, 7]), &timeout(Some(7)));
    // v5 CAS without the contentions short is truncated.
    assert_eq!(
        Response::decode(Opcode::Error, &cas, V5),
        Err(DecodeError::Truncated)
    );
    // Other write types carry no contentions in v5.
    let simple = body!(head, [0, 6], "SIMPLE");
    assert!(Response::decode(Opcode::Error, &simple, V5).is_ok());
}

#[test]
fn read_failure_count_in_v4_reason_map_in_v5() {
    let head = body!([0, 0, 0x13, 0], [0, 0], [0, 4], [0, 0, 0, 1], [0, 0, 0, 2]);
    let v4 = body!(head, [0, 0, 0, 1], [1]);
    let v5 = body!(head, [0, 0, 0, 1], [4, 10, 0, 0, 1], [0, 0], [1]);
    let failure = |failures| {
        Response::Error(ErrorResponse::new(
            ErrorDetails::ReadFailure {
                consistency: Consistency::Quorum,
                received: 1,
                block_for: 2,
                failures,
                data_present: true,
            },
            "",
        ))
    };
    check_response(V4, &v4, &failure(Failures::Count(1)));
    check_response(
        V5,
        &v5,
        &failure(Failures::ByEndpoint(vec![([10, 0, 0, 1].into(), 0)])),
    );
    // v3 has no Read_failure: the code is kept as an unknown one with its bytes.
    match Response::decode(Opcode::Error, &v4, V3).unwrap() {
        Response::Error(ErrorResponse {
            details: ErrorDetails::Other { code, extra },
            ..
        }) => {
            assert_eq!(code, 0x1300);
            assert_eq!(extra.len(), 2 + 4 + 4 + 4 + 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_error_code_keeps_code_message_and_rest() {
    let bytes = body!([0, 0, 0x77, 0x77], [0, 2], "hm", [1, 2, 3]);
    let e = Response::Error(ErrorResponse::new(
        ErrorDetails::Other {
            code: 0x7777,
            extra: Bytes::from_static(&[1, 2, 3]),
        },
        "hm",
    ));
    check_response(V5, &bytes, &e);
}

#[test]
fn rows_with_global_spec_and_paging_state() {
    // §4.2.5.2: kind 2, flags 0x0003 (Global_tables_spec | Has_more_pages), 1 column,
    // paging state 2 bytes, "ks"."t", column "k" int, 2 rows: 7, null.
    let bytes = body!(
        [0, 0, 0, 2],
        [0, 0, 0, 3],
        [0, 0, 0, 1],
        [0, 0, 0, 2, 0xCA, 0xFE],
        [0, 2],
        "ks",
        [0, 1],
        "t",
        [0, 1],
        "k",
        [0, 9],
        [0, 0, 0, 2],
        [0, 0, 0, 4, 0, 0, 0, 7],
        [0xFF, 0xFF, 0xFF, 0xFF],
    );
    let got = Response::decode(Opcode::Result, &bytes, V4).unwrap();
    let Response::Result(ResultBody::Rows(rows)) = &got else {
        panic!("{got:?}");
    };
    assert_eq!(rows.rows_count, 2);
    assert_eq!(
        rows.metadata.paging_state.as_deref(),
        Some(&[0xCA, 0xFE][..])
    );
    let cols = rows.metadata.columns.as_ref().unwrap();
    assert_eq!(
        cols,
        &vec![ColumnSpec {
            keyspace: "ks".into(),
            table: "t".into(),
            name: "k".into(),
            typ: ColumnType::Int,
        }]
    );
    assert_eq!(rows.rows().unwrap().count(), 2);
    check_response(V4, &bytes, &got);
    // A row count the bytes cannot hold is refused.
    let mut lying = bytes.to_vec();
    let count_at = bytes.len() - 16;
    lying[count_at + 3] = 9;
    assert!(Response::decode(Opcode::Result, &Bytes::from(lying), V4).is_err());
}

#[test]
fn prepared_pk_indexes_from_v4_and_metadata_id_in_v5() {
    let tail = body!(
        [0, 0, 0, 1],
        [0, 0, 0, 1],
        [0, 2],
        "ks",
        [0, 1],
        "t",
        [0, 1],
        "k",
        [0, 9],
        // result metadata: No_metadata, 0 columns
        [0, 0, 0, 4],
        [0, 0, 0, 0],
    );
    let prepared = |pk_indexes, result_metadata_id| {
        Response::Result(ResultBody::Prepared(Box::new(Prepared {
            id: Bytes::from_static(&[0x11]),
            result_metadata_id,
            metadata: PreparedMetadata {
                pk_indexes,
                global_table_spec: Some(TableSpec {
                    keyspace: "ks".into(),
                    table: "t".into(),
                }),
                columns: vec![ColumnSpec {
                    keyspace: "ks".into(),
                    table: "t".into(),
                    name: "k".into(),
                    typ: ColumnType::Int,
                }],
            },
            result_metadata: RowsMetadata {
                column_count: 0,
                columns: None,
                ..RowsMetadata::default()
            },
        })))
    };
    let split = |with_pk: bool| {
        // flags, columns_count, [pk_count, pk_index], then the rest of `tail`.
        let mut v = tail.slice(..8).to_vec();
        if with_pk {
            v.extend_from_slice(&[0, 0, 0, 1, 0, 0]);
        }
        v.extend_from_slice(&tail[8..]);
        v
    };
    let v3 = body!([0, 0, 0, 4], [0, 1, 0x11], split(false));
    let v4 = body!([0, 0, 0, 4], [0, 1, 0x11], split(true));
    let v5 = body!([0, 0, 0, 4], [0, 1, 0x11], [0, 1, 0x22], split(true));
    check_response(V3, &v3, &prepared(vec![], None));
    check_response(V4, &v4, &prepared(vec![0], None));
    check_response(
        V5,
        &v5,
        &prepared(vec![0], Some(Bytes::from_static(&[0x22]))),
    );
}

#[test]
fn schema_change_function_needs_v4() {
    let bytes = body!(
        [0, 0, 0, 5],
        [0, 7],
        "CREATED",
        [0, 8],
        "FUNCTION",
        [0, 2],
        "ks",
        [0, 1],
        "f",
        [0, 1],
        [0, 3],
        "int",
    );
    let change = Response::Result(ResultBody::SchemaChange(SchemaChange {
        change_type: SchemaChangeType::Created,
        target: SchemaChangeTarget::Function {
            keyspace: "ks".into(),
            name: "f".into(),
            arg_types: vec!["int".into()],
        },
    }));
    check_response(V4, &bytes, &change);
    assert!(Response::decode(Opcode::Result, &bytes, V3).is_err());
    assert!(change.encode(V3, &mut BytesMut::new()).is_err());
}

#[test]
fn topology_event() {
    // §4.2.6: "TOPOLOGY_CHANGE", "NEW_NODE", [inet] 127.0.0.1:9042.
    let bytes = body!(
        [0, 15],
        "TOPOLOGY_CHANGE",
        [0, 8],
        "NEW_NODE",
        [4, 127, 0, 0, 1],
        [0, 0, 0x23, 0x52],
    );
    let e = Response::Event(Event::TopologyChange {
        change: TopologyChangeType::NewNode,
        node: SocketAddr::from(([127, 0, 0, 1], 9042)),
    });
    check_response(V4, &bytes, &e);
}

#[test]
fn trailing_bytes_are_an_error() {
    let ready = body!([0]);
    assert_eq!(
        Response::decode(Opcode::Ready, &ready, V4),
        Err(DecodeError::TrailingBytes(1))
    );
    let startup = body!([0, 0], [9]);
    assert_eq!(
        Request::decode(Opcode::Startup, &startup, V4),
        Err(DecodeError::TrailingBytes(1))
    );
    // A response opcode is not a request.
    assert!(Request::decode(Opcode::Ready, &Bytes::new(), V4).is_err());
}

#[test]
fn response_prefix_order_tracing_warnings_payload() {
    // v4 §2.2: tracing id, then warnings, then custom payload, then the message.
    let bytes = body!(
        [7u8; 16],
        [0, 1, 0, 4],
        "warn",
        [0, 1, 0, 1],
        "k",
        [0, 0, 0, 1, 0x99],
        [0, 0, 0, 1],
    );
    let (prefix, rest) = split_response_body(&bytes, true, true, true).unwrap();
    assert_eq!(prefix.tracing_id, Some([7u8; 16]));
    assert_eq!(prefix.warnings, Some(vec!["warn".to_owned()]));
    assert_eq!(
        prefix.custom_payload,
        Some(vec![("k".to_owned(), Some(Bytes::from_static(&[0x99])))])
    );
    assert_eq!(
        Response::decode(Opcode::Result, &rest, V4).unwrap(),
        Response::Result(ResultBody::Void)
    );
    // Peeking past the prefix finds the same message, for every combination of flags.
    assert_eq!(
        response_message(&bytes, true, true, true).unwrap(),
        &rest[..]
    );
    assert_eq!(
        response_message(&bytes[16..], false, true, true).unwrap(),
        &rest[..]
    );
    assert_eq!(
        response_message(&rest, false, false, false).unwrap(),
        &rest[..]
    );
    // A prefix cut short is an error, never a panic.
    for cut in 0..bytes.len() - rest.len() {
        assert!(
            response_message(&bytes[..cut], true, true, true).is_err(),
            "{cut}"
        );
    }
}

#[test]
fn types_a_version_lacks_are_written_as_marshal_classes() {
    // v3 has no `date` option (0x0011): Cassandra names the marshal class in a custom
    // option (0x0000), also inside collections; v4 has the native id. `duration` is native
    // only from v5.
    let metadata = |typ: ColumnType| {
        Response::Result(ResultBody::Rows(ringgate_protocol::message::Rows {
            metadata: RowsMetadata {
                column_count: 1,
                global_table_spec: Some(TableSpec {
                    keyspace: "k".into(),
                    table: "t".into(),
                }),
                columns: Some(vec![ColumnSpec {
                    keyspace: "k".into(),
                    table: "t".into(),
                    name: "c".into(),
                    typ,
                }]),
                ..RowsMetadata::default()
            },
            rows_count: 0,
            content: Bytes::new(),
        }))
    };
    let head = body!(
        [0, 0, 0, 2],
        [0, 0, 0, 1],
        [0, 0, 0, 1],
        [0, 1],
        "k",
        [0, 1],
        "t",
        [0, 1],
        "c",
    );
    let date_class = "org.apache.cassandra.db.marshal.SimpleDateType";
    let list_of_dates = metadata(ColumnType::List(Box::new(ColumnType::Date)));
    let v3 = body!(
        head,
        [0, 0x20, 0, 0],
        (date_class.len() as u16).to_be_bytes(),
        date_class,
        [0, 0, 0, 0],
    );
    check_response(V3, &v3, &list_of_dates);
    check_response(
        V4,
        &body!(head, [0, 0x20, 0, 0x11], [0, 0, 0, 0]),
        &list_of_dates,
    );

    let duration_class = "org.apache.cassandra.db.marshal.DurationType";
    let duration = metadata(ColumnType::Duration);
    let v4 = body!(
        head,
        [0, 0],
        (duration_class.len() as u16).to_be_bytes(),
        duration_class,
        [0, 0, 0, 0],
    );
    check_response(V4, &v4, &duration);
    check_response(V5, &body!(head, [0, 0x15], [0, 0, 0, 0]), &duration);
}

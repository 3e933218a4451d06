//! Proptest strategies for every request and response, valid for the version they are built
//! for (no v5 fields before v5, no "not set" values in v3, per-version error layouts).
// Each test binary uses a different subset of these strategies.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use proptest::prelude::*;
use ringgate_protocol::ProtocolVersion;
use ringgate_protocol::message::{
    AuthToken, Batch, BatchQuery, BatchStatement, BatchType, ColumnSpec, Consistency, ErrorDetails,
    ErrorResponse, Event, EventType, Execute, Failures, Prepare, Prepared, PreparedMetadata, Query,
    QueryParameters, Register, Request, Response, ResultBody, Rows, RowsMetadata, SchemaChange,
    SchemaChangeTarget, SchemaChangeType, SerialConsistency, Startup, StatusChangeType, Supported,
    TableSpec, TopologyChangeType, Value, Values, WriteType,
};
use ringgate_protocol::types::ColumnType;

const V3: ProtocolVersion = ProtocolVersion::V3;
const V4: ProtocolVersion = ProtocolVersion::V4;
const V5: ProtocolVersion = ProtocolVersion::V5;

pub(crate) fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![Just(V3), Just(V4), Just(V5)]
}

fn blob(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn name() -> impl Strategy<Value = String> {
    "\\PC{0,8}"
}

fn names() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(name(), 0..3)
}

fn consistency() -> impl Strategy<Value = Consistency> {
    prop::sample::select(Consistency::ALL.to_vec())
}

fn serial() -> impl Strategy<Value = SerialConsistency> {
    prop_oneof![
        Just(SerialConsistency::Serial),
        Just(SerialConsistency::LocalSerial)
    ]
}

fn value(v: ProtocolVersion) -> BoxedStrategy<Value> {
    let base = prop_oneof![blob(12).prop_map(Value::Bytes), Just(Value::Null)];
    if v >= V4 {
        prop_oneof![base, Just(Value::Unset)].boxed()
    } else {
        base.boxed()
    }
}

fn values(v: ProtocolVersion) -> impl Strategy<Value = Values> {
    prop_oneof![
        prop::collection::vec(value(v), 0..5).prop_map(Values::Positional),
        prop::collection::vec((name(), value(v)), 0..4).prop_map(Values::Named),
    ]
}

/// Only in v5: `Some` of `s`; before, always `None`.
fn v5_only<T: std::fmt::Debug + Clone + 'static>(
    v: ProtocolVersion,
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    if v >= V5 {
        prop::option::of(s).boxed()
    } else {
        Just(None).boxed()
    }
}

pub(crate) fn params(v: ProtocolVersion) -> impl Strategy<Value = QueryParameters> {
    (
        consistency(),
        values(v),
        any::<bool>(),
        prop::option::of(any::<i32>()),
        prop::option::of(blob(20)),
        prop::option::of(serial()),
        prop::option::of(any::<i64>()),
        v5_only(v, name()),
        v5_only(v, any::<i32>()),
    )
        .prop_map(
            |(consistency, values, skip_metadata, page_size, paging_state, serial, ts, ks, now)| {
                QueryParameters {
                    consistency,
                    values,
                    skip_metadata,
                    page_size,
                    paging_state,
                    serial_consistency: serial,
                    timestamp: ts,
                    keyspace: ks,
                    now_in_seconds: now,
                }
            },
        )
}

fn batch(v: ProtocolVersion) -> impl Strategy<Value = Batch> {
    let statement = (
        prop_oneof![
            name().prop_map(BatchQuery::Query),
            blob(16).prop_map(BatchQuery::Prepared)
        ],
        prop::collection::vec(value(v), 0..4),
    )
        .prop_map(|(query, values)| BatchStatement { query, values });
    (
        prop_oneof![
            Just(BatchType::Logged),
            Just(BatchType::Unlogged),
            Just(BatchType::Counter)
        ],
        prop::collection::vec(statement, 0..4),
        consistency(),
        prop::option::of(serial()),
        prop::option::of(any::<i64>()),
        v5_only(v, name()),
        v5_only(v, any::<i32>()),
    )
        .prop_map(
            |(batch_type, statements, consistency, serial, ts, ks, now)| Batch {
                batch_type,
                statements,
                consistency,
                serial_consistency: serial,
                timestamp: ts,
                keyspace: ks,
                now_in_seconds: now,
            },
        )
}

fn token() -> impl Strategy<Value = AuthToken> {
    prop::option::of(blob(16)).prop_map(|token| AuthToken { token })
}

/// Any request valid in `v`.
pub(crate) fn request(v: ProtocolVersion) -> impl Strategy<Value = Request> {
    let md_id = if v >= V5 {
        blob(16).prop_map(Some).boxed()
    } else {
        Just(None).boxed()
    };
    prop_oneof![
        prop::collection::vec((name(), name()), 0..4)
            .prop_map(|options| Request::Startup(Startup { options })),
        Just(Request::Options),
        (name(), params(v)).prop_map(|(q, p)| Request::Query(Query::new(q, p))),
        (name(), v5_only(v, name()))
            .prop_map(|(query, keyspace)| Request::Prepare(Prepare { query, keyspace })),
        (blob(16), md_id, params(v)).prop_map(|(id, result_metadata_id, params)| {
            Request::Execute(Execute {
                id,
                result_metadata_id,
                params,
            })
        }),
        prop::collection::vec(
            prop::sample::select(vec![
                EventType::TopologyChange,
                EventType::StatusChange,
                EventType::SchemaChange
            ]),
            0..4
        )
        .prop_map(|events| Request::Register(Register { events })),
        batch(v).prop_map(Request::Batch),
        token().prop_map(Request::AuthResponse),
    ]
}

fn column_type() -> impl Strategy<Value = ColumnType> {
    let leaf = prop_oneof![
        Just(ColumnType::Int),
        Just(ColumnType::Varchar),
        Just(ColumnType::Blob),
        Just(ColumnType::Uuid),
        Just(ColumnType::Custom("com.example.Thing".into())),
        // Types older versions lack, sent to them as custom marshal classes.
        Just(ColumnType::Date),
        Just(ColumnType::Time),
        Just(ColumnType::Smallint),
        Just(ColumnType::Tinyint),
        Just(ColumnType::Duration),
    ];
    leaf.prop_recursive(2, 8, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| ColumnType::List(Box::new(e))),
            inner.clone().prop_map(|e| ColumnType::Set(Box::new(e))),
            (inner.clone(), inner.clone())
                .prop_map(|(k, v)| ColumnType::Map(Box::new(k), Box::new(v))),
            prop::collection::vec(inner, 1..3).prop_map(ColumnType::Tuple),
        ]
    })
}

fn table_spec() -> impl Strategy<Value = TableSpec> {
    (name(), name()).prop_map(|(keyspace, table)| TableSpec { keyspace, table })
}

/// Column specs, with a global table spec (copied into every column) or one per column.
fn column_specs() -> impl Strategy<Value = (Option<TableSpec>, Vec<ColumnSpec>)> {
    let col = (table_spec(), name(), column_type()).prop_map(|(t, name, typ)| ColumnSpec {
        keyspace: t.keyspace,
        table: t.table,
        name,
        typ,
    });
    (
        prop::option::of(table_spec()),
        prop::collection::vec(col, 0..4),
    )
        .prop_map(|(global, mut cols)| {
            if let Some(g) = &global {
                for c in &mut cols {
                    c.keyspace = g.keyspace.clone();
                    c.table = g.table.clone();
                }
            }
            (global, cols)
        })
}

fn rows_metadata(v: ProtocolVersion) -> impl Strategy<Value = RowsMetadata> {
    (
        prop::option::of(column_specs()),
        0usize..4,
        prop::option::of(blob(12)),
        v5_only(v, blob(8)),
    )
        .prop_map(|(specs, bare_count, paging_state, new_metadata_id)| {
            let (column_count, global_table_spec, columns) = match specs {
                Some((global, cols)) => (cols.len(), global, Some(cols)),
                None => (bare_count, None, None),
            };
            RowsMetadata {
                column_count,
                paging_state,
                new_metadata_id,
                global_table_spec,
                columns,
            }
        })
}

fn rows(v: ProtocolVersion) -> impl Strategy<Value = Rows> {
    (
        rows_metadata(v),
        0usize..3,
        prop::collection::vec(prop::option::of(blob(6)), 0..12),
    )
        .prop_map(|(metadata, rows_count, cells)| {
            // rows_count × column_count cells, each a [bytes]; the cell contents cycle.
            let n = rows_count * metadata.column_count;
            let mut content = Vec::new();
            for i in 0..n {
                match cells.get(i % cells.len().max(1)).cloned().flatten() {
                    Some(b) => {
                        content.extend_from_slice(&(b.len() as i32).to_be_bytes());
                        content.extend_from_slice(&b);
                    }
                    None => content.extend_from_slice(&(-1i32).to_be_bytes()),
                }
            }
            Rows {
                metadata,
                rows_count,
                content: Bytes::from(content),
            }
        })
}

fn prepared(v: ProtocolVersion) -> impl Strategy<Value = Prepared> {
    let pk = if v >= V4 {
        prop::collection::vec(any::<u16>(), 0..3).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    let md_id = if v >= V5 {
        blob(16).prop_map(Some).boxed()
    } else {
        Just(None).boxed()
    };
    (blob(16), md_id, pk, column_specs(), rows_metadata(v)).prop_map(
        |(id, result_metadata_id, pk_indexes, (global_table_spec, columns), result_metadata)| {
            Prepared {
                id,
                result_metadata_id,
                metadata: PreparedMetadata {
                    pk_indexes,
                    global_table_spec,
                    columns,
                },
                result_metadata,
            }
        },
    )
}

pub(crate) fn schema_change(v: ProtocolVersion) -> impl Strategy<Value = SchemaChange> {
    let basic = prop_oneof![
        name().prop_map(SchemaChangeTarget::Keyspace),
        (name(), name())
            .prop_map(|(keyspace, table)| SchemaChangeTarget::Table { keyspace, table }),
        (name(), name()).prop_map(|(keyspace, name)| SchemaChangeTarget::Type { keyspace, name }),
    ];
    let target = if v >= V4 {
        prop_oneof![
            basic,
            (name(), name(), names()).prop_map(|(keyspace, name, arg_types)| {
                SchemaChangeTarget::Function {
                    keyspace,
                    name,
                    arg_types,
                }
            }),
            (name(), name(), names()).prop_map(|(keyspace, name, arg_types)| {
                SchemaChangeTarget::Aggregate {
                    keyspace,
                    name,
                    arg_types,
                }
            }),
        ]
        .boxed()
    } else {
        basic.boxed()
    };
    (
        prop::sample::select(vec![
            SchemaChangeType::Created,
            SchemaChangeType::Updated,
            SchemaChangeType::Dropped,
        ]),
        target,
    )
        .prop_map(|(change_type, target)| SchemaChange {
            change_type,
            target,
        })
}

fn result(v: ProtocolVersion) -> impl Strategy<Value = ResultBody> {
    prop_oneof![
        Just(ResultBody::Void),
        rows(v).prop_map(ResultBody::Rows),
        name().prop_map(ResultBody::SetKeyspace),
        prepared(v).prop_map(|p| ResultBody::Prepared(Box::new(p))),
        schema_change(v).prop_map(ResultBody::SchemaChange),
    ]
}

fn address() -> impl Strategy<Value = SocketAddr> {
    (any::<IpAddr>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

fn event(v: ProtocolVersion) -> impl Strategy<Value = Event> {
    prop_oneof![
        (
            prop::sample::select(vec![
                TopologyChangeType::NewNode,
                TopologyChangeType::RemovedNode,
                TopologyChangeType::MovedNode,
            ]),
            address()
        )
            .prop_map(|(change, node)| Event::TopologyChange { change, node }),
        (
            prop::sample::select(vec![StatusChangeType::Up, StatusChangeType::Down]),
            address()
        )
            .prop_map(|(change, node)| Event::StatusChange { change, node }),
        schema_change(v).prop_map(Event::SchemaChange),
    ]
}

fn write_type() -> impl Strategy<Value = WriteType> {
    prop_oneof![
        Just(WriteType::Simple),
        Just(WriteType::Batch),
        Just(WriteType::UnloggedBatch),
        Just(WriteType::Counter),
        Just(WriteType::BatchLog),
        Just(WriteType::Cas),
        Just(WriteType::View),
        Just(WriteType::Cdc),
        "[a-z]{1,8}".prop_map(WriteType::Other),
    ]
}

fn failures(v: ProtocolVersion) -> BoxedStrategy<Failures> {
    if v >= V5 {
        prop::collection::vec((any::<IpAddr>(), any::<u16>()), 0..3)
            .prop_map(Failures::ByEndpoint)
            .boxed()
    } else {
        any::<i32>().prop_map(Failures::Count).boxed()
    }
}

/// Error details valid in `v`.
pub(crate) fn error_details(v: ProtocolVersion) -> impl Strategy<Value = ErrorDetails> {
    use ErrorDetails as D;
    let plain = prop::sample::select(vec![
        D::ServerError,
        D::ProtocolError,
        D::AuthenticationError,
        D::Overloaded,
        D::IsBootstrapping,
        D::TruncateError,
        D::SyntaxError,
        D::Unauthorized,
        D::Invalid,
        D::ConfigError,
    ]);
    let counts = || (consistency(), any::<i32>(), any::<i32>());
    let v3 = prop_oneof![
        plain,
        counts().prop_map(|(consistency, required, alive)| D::Unavailable {
            consistency,
            required,
            alive
        }),
        (counts(), write_type(), any::<u16>()).prop_map(
            move |((consistency, received, block_for), write_type, c)| {
                let contentions = (v >= V5 && write_type == WriteType::Cas).then_some(c);
                D::WriteTimeout {
                    consistency,
                    received,
                    block_for,
                    write_type,
                    contentions,
                }
            }
        ),
        (counts(), any::<bool>()).prop_map(|((consistency, received, block_for), data_present)| {
            D::ReadTimeout {
                consistency,
                received,
                block_for,
                data_present,
            }
        }),
        (name(), name()).prop_map(|(keyspace, table)| D::AlreadyExists { keyspace, table }),
        blob(16).prop_map(|id| D::Unprepared { id }),
        // A code no version defines keeps its trailing bytes.
        (0x3000i32..0x4000, blob(8)).prop_map(|(code, extra)| D::Other { code, extra }),
    ];
    if v < V4 {
        return v3.boxed();
    }
    let v4 = prop_oneof![
        v3,
        (counts(), failures(v), any::<bool>()).prop_map(
            |((consistency, received, block_for), failures, data_present)| D::ReadFailure {
                consistency,
                received,
                block_for,
                failures,
                data_present
            }
        ),
        (name(), name(), names()).prop_map(|(keyspace, function, arg_types)| {
            D::FunctionFailure {
                keyspace,
                function,
                arg_types,
            }
        }),
        (counts(), failures(v), write_type()).prop_map(
            |((consistency, received, block_for), failures, write_type)| D::WriteFailure {
                consistency,
                received,
                block_for,
                failures,
                write_type
            }
        ),
    ];
    if v < V5 {
        // v4 does not define 0x1600/0x1700: they are "other" codes there.
        return prop_oneof![
            v4,
            (prop::sample::select(vec![0x1600, 0x1700]), blob(8))
                .prop_map(|(code, extra)| D::Other { code, extra }),
        ]
        .boxed();
    }
    prop_oneof![
        v4,
        Just(D::CdcWriteFailure),
        counts().prop_map(|(consistency, received, block_for)| D::CasWriteUnknown {
            consistency,
            received,
            block_for
        }),
    ]
    .boxed()
}

/// Any response valid in `v`.
pub(crate) fn response(v: ProtocolVersion) -> impl Strategy<Value = Response> {
    prop_oneof![
        (error_details(v), name())
            .prop_map(|(details, message)| Response::Error(ErrorResponse { message, details })),
        Just(Response::Ready),
        name().prop_map(Response::Authenticate),
        prop::collection::vec((name(), names()), 0..3)
            .prop_map(|options| Response::Supported(Supported { options })),
        result(v).prop_map(Response::Result),
        event(v).prop_map(Response::Event),
        token().prop_map(Response::AuthChallenge),
        token().prop_map(Response::AuthSuccess),
    ]
}

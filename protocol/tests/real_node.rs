//! The raw CQL native protocol against a real Cassandra 5.0.8 node, with nothing but this
//! crate and a blocking `TcpStream`. Each test runs over v4 (none, LZ4, Snappy), v5 (none,
//! LZ4) and v3: OPTIONS/SUPPORTED, STARTUP/READY, QUERY on system tables, DDL (Schema_change
//! CREATED/UPDATED/DROPPED, Set_keyspace), a table with a column of every CQL type written by
//! QUERY with bound values and by PREPARE/EXECUTE and read back (also without metadata, and in
//! v5 with a stale result metadata id), counters, a BATCH that draws warnings, paging, a value
//! spanning several v5 segments, REGISTER and EVENT, tracing, v5 per-request keyspaces, and
//! ERRORs (syntax, invalid, unprepared, already exists, unavailable).
//!
//! Every response is decoded and re-encoded: the bytes must be the same, but for two known
//! differences that `real_node_support::assert_response_roundtrip` describes and checks
//! narrowly. Every request sent is decoded and re-encoded too.
//!
//! Needs the cluster the test command starts (`scripts/cluster up --nodes 3 --topology
//! two-dc`); fails, never skips, when node 1 is unreachable. Keyspaces are `rg_raw_*`; tables
//! that must be new are named per run.

mod real_node_support;

use bytes::{Bytes, BytesMut};
use ringgate_protocol::frame::Flags;
use ringgate_protocol::message::{
    Batch, BatchQuery, BatchStatement, BatchType, Consistency, ErrorDetails, Event, EventType,
    Execute, Prepare, Query, QueryParameters, Register, Request, Response, ResultBody,
    SchemaChange, SchemaChangeTarget, SchemaChangeType, Value,
};
use ringgate_protocol::types::{
    ColumnType, CqlDate, CqlDecimal, CqlDuration, CqlTime, CqlTimestamp, CqlValue, CqlVarint,
    UdtType, encode_value,
};
use ringgate_protocol::{Opcode, ProtocolVersion};

use real_node_support::{MATRIX, RawConn, decoded_rows};

#[test]
fn options_and_startup() {
    for setup in MATRIX {
        let mut conn = RawConn::open(setup);
        let name = setup.name();
        let compression = conn
            .supported
            .get("COMPRESSION")
            .expect("COMPRESSION offered");
        for codec in ["lz4", "snappy"] {
            assert!(
                compression.iter().any(|c| c == codec),
                "{name}: COMPRESSION {compression:?} lacks {codec}"
            );
        }
        let versions = conn
            .supported
            .get("PROTOCOL_VERSIONS")
            .expect("PROTOCOL_VERSIONS offered");
        for v in ["3/v3", "4/v4", "5/v5"] {
            assert!(
                versions.iter().any(|x| x == v),
                "{name}: PROTOCOL_VERSIONS {versions:?} lacks {v}"
            );
        }
        let cql = conn
            .supported
            .get("CQL_VERSION")
            .expect("CQL_VERSION offered");
        assert!(cql.iter().any(|v| v.starts_with("3.")), "{name}: {cql:?}");
        // OPTIONS again after STARTUP, now compressed or framed.
        let again = conn.ask(&Request::Options);
        // v3/v4 compress every answer after STARTUP; v5 compresses segments instead.
        let expected = (!setup.version.is_framed()).then_some(setup.compression.is_some());
        assert_eq!(
            again.wire_flags.map(|f| f.contains(Flags::COMPRESSION)),
            expected,
            "{name}"
        );
        assert_eq!(again.response, Response::Supported(conn.supported.clone()));
    }
}

#[test]
fn query_system_local() {
    for setup in MATRIX {
        let mut conn = RawConn::open(setup);
        let reply = conn.simple("SELECT * FROM system.local");
        let rows = reply.rows();
        assert_eq!(rows.rows_count, 1);
        let specs = rows.metadata.columns.clone().expect("metadata");
        let row = decoded_rows(rows, conn.version()).remove(0);
        let cell = |name: &str| {
            let i = specs
                .iter()
                .position(|c| c.name == name)
                .unwrap_or_else(|| panic!("no column {name}"));
            (specs[i].typ.clone(), row[i].clone())
        };
        assert_eq!(
            cell("cluster_name"),
            (
                ColumnType::Varchar,
                Some(CqlValue::Text("ringgate-test".into()))
            )
        );
        assert_eq!(
            cell("release_version"),
            (ColumnType::Varchar, Some(CqlValue::Text("5.0.8".into())))
        );
        assert_eq!(
            cell("key"),
            (ColumnType::Varchar, Some(CqlValue::Text("local".into())))
        );
        assert_eq!(
            cell("data_center"),
            (ColumnType::Varchar, Some(CqlValue::Text("dc1".into())))
        );
        let (t, tokens) = cell("tokens");
        assert_eq!(t, ColumnType::Set(Box::new(ColumnType::Varchar)));
        assert_eq!(
            tokens,
            Some(CqlValue::Set(vec![CqlValue::Text(i64::MIN.to_string())]))
        );
        let (t, addr) = cell("rpc_address");
        assert_eq!(t, ColumnType::Inet);
        assert_eq!(addr, Some(CqlValue::Inet([127, 0, 0, 1].into())));
        let (t, host_id) = cell("host_id");
        assert_eq!(t, ColumnType::Uuid);
        assert!(matches!(host_id, Some(CqlValue::Uuid(_))));
        let native = cell("native_protocol_version").1;
        assert_eq!(native, Some(CqlValue::Text("5".into())), "{}", setup.name());

        // The peers, as node 1 sees them.
        let reply = conn.simple("SELECT peer, data_center, rack, tokens FROM system.peers_v2");
        let mut peers = decoded_rows(reply.rows(), conn.version());
        peers.sort_by_key(|row| format!("{:?}", row[0]));
        let text = |s: &str| Some(CqlValue::Text(s.to_owned()));
        let token = |t: i64| Some(CqlValue::Set(vec![CqlValue::Text(t.to_string())]));
        assert_eq!(
            peers,
            vec![
                vec![
                    Some(CqlValue::Inet([127, 0, 0, 2].into())),
                    text("dc1"),
                    text("rack2"),
                    token(0),
                ],
                vec![
                    Some(CqlValue::Inet([127, 0, 0, 3].into())),
                    text("dc2"),
                    text("rack1"),
                    token(i64::MIN + 100),
                ],
            ],
            "{}",
            setup.name()
        );

        // Many rows of many types: every cell of the schema tables decodes.
        for table in ["columns", "tables", "keyspaces", "types"] {
            let reply = conn.simple(&format!("SELECT * FROM system_schema.{table}"));
            let rows = decoded_rows(reply.rows(), conn.version());
            assert!(!rows.is_empty(), "{}: system_schema.{table}", setup.name());
        }
    }
}

#[test]
fn tracing_and_v5_keyspace() {
    for setup in MATRIX {
        let mut conn = RawConn::open(setup);
        let name = setup.name();
        // A traced request: the answer carries the session id in front of the RESULT.
        let reply = conn.ask_traced(&Request::Query(Query::new(
            "SELECT key FROM system.local",
            QueryParameters::new(Consistency::One),
        )));
        assert!(
            reply.prefix.tracing_id.is_some(),
            "{name}: {:?}",
            reply.prefix
        );
        assert_eq!(reply.rows().rows_count, 1, "{name}");

        if conn.version() >= ProtocolVersion::V5 {
            // v5 names the keyspace per request: QUERY and PREPARE without USE.
            let reply = conn.query(
                "SELECT key FROM local",
                QueryParameters::new(Consistency::One).with_keyspace("system"),
            );
            assert_eq!(
                decoded_rows(reply.rows(), conn.version()),
                vec![vec![Some(CqlValue::Text("local".to_owned()))]]
            );
            let prepared = conn.ask(&Request::Prepare(Prepare {
                query: "SELECT key FROM local".to_owned(),
                keyspace: Some("system".to_owned()),
            }));
            let ResultBody::Prepared(p) = prepared.result() else {
                panic!("{name}: {:?}", prepared.response)
            };
            let spec = &p.result_metadata.columns.as_ref().expect("metadata")[0];
            assert_eq!(
                (spec.keyspace.as_str(), spec.table.as_str()),
                ("system", "local")
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Every CQL type: DDL, INSERT (QUERY with bound values, PREPARE/EXECUTE), SELECT.
// ---------------------------------------------------------------------------------------------

/// The keyspace of the every-type tables (made per run, dropped at the end).
const TYPES_KS: &str = "rg_raw_types";

/// What a column is bound to in the INSERT.
#[derive(Debug, Clone)]
enum Bind {
    Val(CqlValue),
    Null,
    /// "Not set" (v4+); v3 binds null instead.
    Unset,
}

/// One column of the every-type table: its CQL declaration, the type result metadata
/// describes it with, what is written and what Cassandra gives back.
struct Column {
    name: &'static str,
    decl: &'static str,
    typ: ColumnType,
    written: Bind,
    /// `None`: null comes back.
    read: Option<CqlValue>,
}

fn text(s: &str) -> CqlValue {
    CqlValue::Text(s.to_owned())
}

fn list(t: ColumnType) -> ColumnType {
    ColumnType::List(Box::new(t))
}

fn set(t: ColumnType) -> ColumnType {
    ColumnType::Set(Box::new(t))
}

fn map(k: ColumnType, v: ColumnType) -> ColumnType {
    ColumnType::Map(Box::new(k), Box::new(v))
}

fn uuid(s: &str) -> [u8; 16] {
    let digits: String = s.chars().filter(|c| *c != '-').collect();
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).expect("hex uuid");
    }
    out
}

/// The UDT every-type tables use (`CREATE TYPE rg_raw_types.addr`).
fn addr_type() -> ColumnType {
    ColumnType::Udt(UdtType {
        keyspace: TYPES_KS.to_owned(),
        name: "addr".to_owned(),
        fields: vec![
            ("street".to_owned(), ColumnType::Varchar),
            ("zip".to_owned(), ColumnType::Int),
            ("tags".to_owned(), set(ColumnType::Varchar)),
        ],
    })
}

/// A column of every type Cassandra 5 has (counters apart: they need a table of their own),
/// with edge values, and the normalisations Cassandra applies on the way back: sets and map
/// keys sorted, "not set" read as null.
fn every_type_columns() -> Vec<Column> {
    use Bind::{Null, Unset, Val};
    let col = |name, decl, typ, written: Bind, read| Column {
        name,
        decl,
        typ,
        written,
        read,
    };
    let same = |name, decl, typ, v: CqlValue| Column {
        name,
        decl,
        typ,
        written: Val(v.clone()),
        read: Some(v),
    };
    let big = -(1i128 << 100) - 12_345;
    let udt_value = CqlValue::Udt(vec![
        ("street".to_owned(), Some(text("1 Ring Road"))),
        ("zip".to_owned(), None),
        (
            "tags".to_owned(),
            Some(CqlValue::Set(vec![text("b"), text("a")])),
        ),
    ]);
    vec![
        same(
            "c_ascii",
            "ascii",
            ColumnType::Ascii,
            CqlValue::Ascii("plain ASCII ~!".into()),
        ),
        same(
            "c_bigint",
            "bigint",
            ColumnType::Bigint,
            CqlValue::Bigint(i64::MAX),
        ),
        same(
            "c_blob",
            "blob",
            ColumnType::Blob,
            CqlValue::Blob(Vec::new()),
        ),
        same(
            "c_blob2",
            "blob",
            ColumnType::Blob,
            CqlValue::Blob(vec![0, 0xFF, 0x80, 7]),
        ),
        same(
            "c_boolean",
            "boolean",
            ColumnType::Boolean,
            CqlValue::Boolean(true),
        ),
        same(
            "c_date",
            "date",
            ColumnType::Date,
            CqlValue::Date(CqlDate::from_days_since_epoch(-1000).expect("date")),
        ),
        same(
            "c_decimal",
            "decimal",
            ColumnType::Decimal,
            CqlValue::Decimal(CqlDecimal::new(CqlVarint::from(big), 20)),
        ),
        // NaN: compared by bits (see `same_value`).
        same(
            "c_double",
            "double",
            ColumnType::Double,
            CqlValue::Double(f64::NAN),
        ),
        same(
            "c_duration",
            "duration",
            ColumnType::Duration,
            CqlValue::Duration(CqlDuration::new(14, 3, 7_200_000_000_123).expect("duration")),
        ),
        same(
            "c_float",
            "float",
            ColumnType::Float,
            CqlValue::Float(f32::MIN_POSITIVE),
        ),
        same(
            "c_inet",
            "inet",
            ColumnType::Inet,
            CqlValue::Inet("2001:db8::ff00:42:8329".parse().expect("ipv6")),
        ),
        same("c_int", "int", ColumnType::Int, CqlValue::Int(i32::MIN)),
        same(
            "c_smallint",
            "smallint",
            ColumnType::Smallint,
            CqlValue::Smallint(i16::MIN),
        ),
        same(
            "c_text",
            "text",
            ColumnType::Varchar,
            text("héllo, wörld ✓ 🦀"),
        ),
        same("c_varchar", "varchar", ColumnType::Varchar, text("")),
        same(
            "c_time",
            "time",
            ColumnType::Time,
            CqlValue::Time(CqlTime::from_nanos(CqlTime::MAX_NANOS).expect("time")),
        ),
        same(
            "c_timestamp",
            "timestamp",
            ColumnType::Timestamp,
            CqlValue::Timestamp(CqlTimestamp(-1_234_567_890_123)),
        ),
        same(
            "c_timeuuid",
            "timeuuid",
            ColumnType::Timeuuid,
            CqlValue::Timeuuid(uuid("c0ffee00-1234-11ee-8abc-0123456789ab")),
        ),
        same(
            "c_tinyint",
            "tinyint",
            ColumnType::Tinyint,
            CqlValue::Tinyint(i8::MIN),
        ),
        same(
            "c_uuid",
            "uuid",
            ColumnType::Uuid,
            CqlValue::Uuid(uuid("550e8400-e29b-41d4-a716-446655440000")),
        ),
        same(
            "c_varint",
            "varint",
            ColumnType::Varint,
            CqlValue::Varint(CqlVarint::from(big)),
        ),
        same(
            "c_list",
            "list<int>",
            list(ColumnType::Int),
            CqlValue::List(vec![CqlValue::Int(3), CqlValue::Int(1), CqlValue::Int(3)]),
        ),
        col(
            "c_set",
            "set<text>",
            set(ColumnType::Varchar),
            Val(CqlValue::Set(vec![text("b"), text("a"), text("c")])),
            Some(CqlValue::Set(vec![text("a"), text("b"), text("c")])),
        ),
        col(
            "c_map",
            "map<text, int>",
            map(ColumnType::Varchar, ColumnType::Int),
            Val(CqlValue::Map(vec![
                (text("z"), CqlValue::Int(1)),
                (text("a"), CqlValue::Int(2)),
            ])),
            Some(CqlValue::Map(vec![
                (text("a"), CqlValue::Int(2)),
                (text("z"), CqlValue::Int(1)),
            ])),
        ),
        // An empty non-frozen collection is no collection at all: it reads back as null.
        col(
            "c_list_empty",
            "list<text>",
            list(ColumnType::Varchar),
            Val(CqlValue::List(Vec::new())),
            None,
        ),
        // A frozen empty collection is a value.
        same(
            "c_flist",
            "frozen<list<bigint>>",
            list(ColumnType::Bigint),
            CqlValue::List(Vec::new()),
        ),
        col(
            "c_fset",
            "frozen<set<int>>",
            set(ColumnType::Int),
            Val(CqlValue::Set(vec![
                CqlValue::Int(3),
                CqlValue::Int(-1),
                CqlValue::Int(2),
            ])),
            Some(CqlValue::Set(vec![
                CqlValue::Int(-1),
                CqlValue::Int(2),
                CqlValue::Int(3),
            ])),
        ),
        col(
            "c_fmap",
            "frozen<map<int, text>>",
            map(ColumnType::Int, ColumnType::Varchar),
            Val(CqlValue::Map(vec![
                (CqlValue::Int(10), text("x")),
                (CqlValue::Int(-5), text("y")),
            ])),
            Some(CqlValue::Map(vec![
                (CqlValue::Int(-5), text("y")),
                (CqlValue::Int(10), text("x")),
            ])),
        ),
        col(
            "c_nested",
            "map<text, frozen<list<int>>>",
            map(ColumnType::Varchar, list(ColumnType::Int)),
            Val(CqlValue::Map(vec![
                (
                    text("k2"),
                    CqlValue::List(vec![CqlValue::Int(3), CqlValue::Int(1)]),
                ),
                (text("k1"), CqlValue::List(Vec::new())),
            ])),
            Some(CqlValue::Map(vec![
                (text("k1"), CqlValue::List(Vec::new())),
                (
                    text("k2"),
                    CqlValue::List(vec![CqlValue::Int(3), CqlValue::Int(1)]),
                ),
            ])),
        ),
        same(
            "c_tuple",
            "tuple<int, text, double>",
            ColumnType::Tuple(vec![
                ColumnType::Int,
                ColumnType::Varchar,
                ColumnType::Double,
            ]),
            CqlValue::Tuple(vec![
                Some(CqlValue::Int(1)),
                None,
                Some(CqlValue::Double(2.5)),
            ]),
        ),
        // A bound UDT value is validated, not re-serialised: the set in its field comes back
        // in the order written (a top-level frozen set is sorted, see c_fset).
        same("c_udt", "frozen<addr>", addr_type(), udt_value.clone()),
        same("c_udt_nf", "addr", addr_type(), udt_value.clone()),
        same(
            "c_list_udt",
            "list<frozen<tuple<int, addr>>>",
            list(ColumnType::Tuple(vec![ColumnType::Int, addr_type()])),
            CqlValue::List(vec![
                CqlValue::Tuple(vec![Some(CqlValue::Int(7)), Some(udt_value)]),
                CqlValue::Tuple(vec![None, None]),
            ]),
        ),
        same(
            "c_vector",
            "vector<float, 3>",
            ColumnType::Vector {
                element: Box::new(ColumnType::Float),
                dimension: 3,
            },
            CqlValue::Vector(vec![
                CqlValue::Float(1.5),
                CqlValue::Float(-2.25),
                CqlValue::Float(3.0),
            ]),
        ),
        // Variable-width elements: each after an unsigned vint length.
        same(
            "c_vector_text",
            "vector<text, 2>",
            ColumnType::Vector {
                element: Box::new(ColumnType::Varchar),
                dimension: 2,
            },
            CqlValue::Vector(vec![text("x"), text("")]),
        ),
        // Cassandra's "empty" value of a non-string type: neither null nor a number.
        same("c_empty_int", "int", ColumnType::Int, CqlValue::Empty),
        col("c_null", "int", ColumnType::Int, Null, None),
        col("c_unset", "text", ColumnType::Varchar, Unset, None),
    ]
}

/// Equality, with NaN equal to a NaN of the same bits.
fn same_value(a: &Option<CqlValue>, b: &Option<CqlValue>) -> bool {
    match (a, b) {
        (Some(CqlValue::Double(x)), Some(CqlValue::Double(y))) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// The bound values of one row: its key and every column, encoded with `types` (the
/// expected types, or the ones PREPARE described).
fn bound_values(
    pk: i32,
    ck: i32,
    columns: &[Column],
    types: &[ColumnType],
    version: ProtocolVersion,
) -> Vec<Value> {
    let encode = |t: &ColumnType, v: &CqlValue| {
        let mut buf = BytesMut::new();
        encode_value(t, v, &mut buf).unwrap_or_else(|e| panic!("encode {v:?} as {t:?}: {e}"));
        Value::Bytes(buf.freeze())
    };
    let mut out = vec![
        encode(&ColumnType::Int, &CqlValue::Int(pk)),
        encode(&ColumnType::Int, &CqlValue::Int(ck)),
    ];
    for (c, t) in columns.iter().zip(&types[2..]) {
        out.push(match &c.written {
            Bind::Val(v) => encode(t, v),
            Bind::Null => Value::Null,
            Bind::Unset if version >= ProtocolVersion::V4 => Value::Unset,
            Bind::Unset => Value::Null,
        });
    }
    out
}

/// Checks one row read back: the key and every column as Cassandra returns it.
fn check_row(row: &[Option<CqlValue>], pk: i32, ck: i32, columns: &[Column], what: &str) {
    assert_eq!(row.len(), columns.len() + 2, "{what}");
    assert_eq!(row[0], Some(CqlValue::Int(pk)), "{what}: pk");
    assert_eq!(row[1], Some(CqlValue::Int(ck)), "{what}: ck");
    for (c, got) in columns.iter().zip(&row[2..]) {
        assert!(
            same_value(got, &c.read),
            "{what}: column {} ({}): wrote {:?}, expected {:?}, read {got:?}",
            c.name,
            c.decl,
            c.written,
            c.read
        );
    }
}

#[test]
fn every_type_roundtrips() {
    let columns = every_type_columns();
    let mut types = vec![ColumnType::Int, ColumnType::Int];
    types.extend(columns.iter().map(|c| c.typ.clone()));
    let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
    let all_names = format!("pk, ck, {}", names.join(", "));
    let markers = vec!["?"; columns.len() + 2].join(", ");
    let suffix = real_node_support::run_suffix();

    let table = format!("all_{suffix}");
    let qualified = format!("{TYPES_KS}.{table}");
    let counters = format!("{TYPES_KS}.counters_{suffix}");

    // DDL is slow on a three-node cluster (a second or more, and schema agreement): the
    // tables are made once per run, each setup uses its own keys and changes the table's
    // comment to see a Schema_change in its own version.
    let mut admin = RawConn::open(MATRIX[0]);
    admin.ddl(&format!(
        "CREATE KEYSPACE IF NOT EXISTS {TYPES_KS} WITH replication = \
         {{'class': 'NetworkTopologyStrategy', 'dc1': 1}}"
    ));
    admin.ddl(&format!(
        "CREATE TYPE IF NOT EXISTS {TYPES_KS}.addr \
         (street text, zip int, tags frozen<set<text>>)"
    ));
    let decls: Vec<String> = columns
        .iter()
        .map(|c| format!("{} {}", c.name, c.decl))
        .collect();
    let created = admin.ddl(&format!(
        "CREATE TABLE {qualified} (pk int, ck int, {}, PRIMARY KEY (pk, ck))",
        decls.join(", ")
    ));
    assert_eq!(
        created.result(),
        &ResultBody::SchemaChange(SchemaChange {
            change_type: SchemaChangeType::Created,
            target: SchemaChangeTarget::Table {
                keyspace: TYPES_KS.to_owned(),
                table: table.clone(),
            },
        })
    );
    admin.ddl(&format!(
        "CREATE TABLE {counters} (pk int PRIMARY KEY, c counter)"
    ));

    for (i, setup) in MATRIX.into_iter().enumerate() {
        let mut conn = RawConn::open(setup);
        let v = conn.version();
        let name = setup.name();
        let base = 10 * i32::try_from(i).expect("small");

        // A second connection listens to events: REGISTER is answered with READY, and the
        // ALTER below comes back as a SCHEMA_CHANGE event (in v5 inside a segment).
        let mut events = RawConn::open(setup);
        let registered = events.ask(&Request::Register(Register {
            events: vec![
                EventType::SchemaChange,
                EventType::StatusChange,
                EventType::TopologyChange,
            ],
        }));
        assert_eq!(registered.response, Response::Ready, "{name}");

        let altered = conn.ddl_no_wait(&format!("ALTER TABLE {qualified} WITH comment = '{name}'"));
        assert_eq!(
            altered.result(),
            &ResultBody::SchemaChange(SchemaChange {
                change_type: SchemaChangeType::Updated,
                target: SchemaChangeTarget::Table {
                    keyspace: TYPES_KS.to_owned(),
                    table: table.clone(),
                },
            }),
            "{name}"
        );
        let ResultBody::SchemaChange(change) = altered.result() else {
            unreachable!("checked above")
        };
        // Other tests change the schema too: skip their events.
        let event = loop {
            let reply = events.next_event();
            assert_eq!(reply.envelope.header.opcode, Opcode::Event);
            match reply.response {
                Response::Event(Event::SchemaChange(c)) if c == *change => break c,
                Response::Event(_) => {}
                other => panic!("{name}: on stream -1: {other:?}"),
            }
        };
        assert_eq!(event.target.keyspace(), TYPES_KS);

        // INSERT by QUERY with bound values, encoded with the expected types.
        let insert = format!("INSERT INTO {qualified} ({all_names}) VALUES ({markers})");
        let params = QueryParameters::new(Consistency::One).with_values(bound_values(
            base + 1,
            1,
            &columns,
            &types,
            v,
        ));
        let inserted = conn.query(&insert, params);
        assert_eq!(inserted.result(), &ResultBody::Void, "{name}");

        // SELECT it back: the metadata describes every type, every value comes back.
        let select = format!("SELECT {all_names} FROM {qualified} WHERE pk = ? AND ck = ?");
        let key = |pk: i32, ck: i32| vec![int_value(pk), int_value(ck)];
        let reply = conn.query(
            &select,
            QueryParameters::new(Consistency::One).with_values(key(base + 1, 1)),
        );
        let rows = reply.rows();
        let specs = rows.metadata.columns.as_ref().expect("metadata");
        for (spec, (want, t)) in specs
            .iter()
            .zip(["pk", "ck"].iter().chain(&names).zip(&types))
        {
            assert_eq!(spec.name, *want, "{name}");
            assert_eq!(&spec.typ, t, "{name}: type of {want}");
            assert_eq!(
                (spec.keyspace.as_str(), spec.table.as_str()),
                (TYPES_KS, table.as_str())
            );
        }
        let got = decoded_rows(rows, v);
        assert_eq!(got.len(), 1, "{name}");
        check_row(&got[0], base + 1, 1, &columns, &format!("{name} QUERY"));

        // PREPARE the INSERT: bind markers typed like the columns, the partition key at 0.
        let prepared = conn.ask(&Request::Prepare(Prepare::new(insert.clone())));
        let ResultBody::Prepared(p) = prepared.result() else {
            panic!("{name}: PREPARE answered {:?}", prepared.response)
        };
        let marker_types: Vec<ColumnType> =
            p.metadata.columns.iter().map(|c| c.typ.clone()).collect();
        assert_eq!(marker_types, types, "{name}: bind marker types");
        let want_pk: Vec<u16> = if v >= ProtocolVersion::V4 {
            vec![0]
        } else {
            vec![]
        };
        assert_eq!(p.metadata.pk_indexes, want_pk, "{name}: pk indexes");
        assert_eq!(
            p.result_metadata_id.is_some(),
            v >= ProtocolVersion::V5,
            "{name}"
        );
        assert_eq!(
            p.result_metadata.column_count, 0,
            "{name}: an INSERT returns no columns"
        );

        // EXECUTE it with values encoded by the types PREPARE gave.
        let executed = conn.ask(&Request::Execute(Execute {
            id: p.id.clone(),
            result_metadata_id: p.result_metadata_id.clone(),
            params: QueryParameters::new(Consistency::One).with_values(bound_values(
                base + 2,
                7,
                &columns,
                &marker_types,
                v,
            )),
        }));
        assert_eq!(executed.result(), &ResultBody::Void, "{name}");

        // PREPARE the SELECT and EXECUTE it without metadata: the prepared result metadata
        // decodes the rows.
        let prepared = conn.ask(&Request::Prepare(Prepare::new(select.clone())));
        let ResultBody::Prepared(ps) = prepared.result() else {
            panic!("{name}: PREPARE answered {:?}", prepared.response)
        };
        let result_types: Vec<ColumnType> = ps
            .result_metadata
            .columns
            .as_ref()
            .expect("SELECT result metadata")
            .iter()
            .map(|c| c.typ.clone())
            .collect();
        assert_eq!(result_types, types, "{name}: prepared result types");
        assert_eq!(ps.metadata.pk_indexes, want_pk, "{name}: SELECT pk indexes");
        let execute = |md_id: Option<Bytes>| {
            Request::Execute(Execute {
                id: ps.id.clone(),
                result_metadata_id: md_id,
                params: QueryParameters::new(Consistency::One)
                    .with_values(key(base + 2, 7))
                    .with_skip_metadata(true),
            })
        };
        let reply = conn.ask(&execute(ps.result_metadata_id.clone()));
        let rows = reply.rows();
        assert_eq!(rows.metadata.columns, None, "{name}: skip_metadata");
        assert_eq!(rows.metadata.new_metadata_id, None, "{name}");
        let got = real_node_support::decoded_rows_as(rows, &result_types, v);
        assert_eq!(got.len(), 1, "{name}");
        check_row(&got[0], base + 2, 7, &columns, &format!("{name} EXECUTE"));

        if v >= ProtocolVersion::V5 {
            // A stale result metadata id: the node sends the metadata and its current id.
            let reply = conn.ask(&execute(Some(Bytes::from_static(&[0xAB; 16]))));
            let rows = reply.rows();
            assert_eq!(
                rows.metadata.new_metadata_id, ps.result_metadata_id,
                "{name}"
            );
            assert_eq!(real_node_support::column_types(rows), types, "{name}");
            check_row(
                &decoded_rows(rows, v)[0],
                base + 2,
                7,
                &columns,
                &format!("{name} stale id"),
            );
        }

        // Counters: a table of their own.
        for delta in [40i64, 2, i64::from(i32::MIN)] {
            let mut d = BytesMut::new();
            encode_value(&ColumnType::Counter, &CqlValue::Counter(delta), &mut d).expect("counter");
            let reply = conn.query(
                &format!("UPDATE {counters} SET c = c + ? WHERE pk = ?"),
                QueryParameters::new(Consistency::One)
                    .with_values(vec![Value::Bytes(d.freeze()), int_value(base)]),
            );
            assert_eq!(reply.result(), &ResultBody::Void);
        }
        let reply = conn.query(
            &format!("SELECT c FROM {counters} WHERE pk = ?"),
            QueryParameters::new(Consistency::One).with_values(vec![int_value(base)]),
        );
        assert_eq!(
            real_node_support::column_types(reply.rows()),
            vec![ColumnType::Counter]
        );
        assert_eq!(
            decoded_rows(reply.rows(), v),
            vec![vec![Some(CqlValue::Counter(42 + i64::from(i32::MIN)))]],
            "{name}"
        );
    }

    // DROP TABLE: Schema_change DROPPED TABLE. Nothing uses the tables afterwards, so no
    // need to wait for agreement.
    for t in [qualified, counters] {
        let dropped = admin.ddl_no_wait(&format!("DROP TABLE {t}"));
        let ResultBody::SchemaChange(change) = dropped.result() else {
            panic!("DROP answered {:?}", dropped.response)
        };
        assert_eq!(change.change_type, SchemaChangeType::Dropped);
    }
}

// ---------------------------------------------------------------------------------------------
// Paging and BATCH.
// ---------------------------------------------------------------------------------------------

/// The keyspace of the paging tables.
const PAGING_KS: &str = "rg_raw_paging";
/// Partitions and rows per partition of each paging table: 300 rows.
const PARTITIONS: i32 = 12;
const ROWS_PER_PARTITION: i32 = 25;

fn int_value(n: i32) -> Value {
    Value::Bytes(Bytes::copy_from_slice(&n.to_be_bytes()))
}

#[test]
fn batch_and_paging() {
    let suffix = real_node_support::run_suffix();
    let table = format!("{PAGING_KS}.p_{suffix}");
    let mut admin = RawConn::open(MATRIX[0]);
    admin.ddl(&format!(
        "CREATE KEYSPACE IF NOT EXISTS {PAGING_KS} WITH replication = \
         {{'class': 'NetworkTopologyStrategy', 'dc1': 1}}"
    ));
    admin.ddl(&format!(
        "CREATE TABLE {table} (pk int, ck int, v text, PRIMARY KEY (pk, ck))"
    ));
    for (i, setup) in MATRIX.into_iter().enumerate() {
        let mut conn = RawConn::open(setup);
        let v = conn.version();
        let name = setup.name();
        // This setup's partitions.
        let base = 100 * i32::try_from(i).expect("small");
        let partitions: Vec<i32> = (base..base + PARTITIONS).collect();

        // One unlogged BATCH of every row, half as query strings and half by prepared id. It
        // spans more partitions than Cassandra's warning threshold (10) and is larger than
        // its batch size warning threshold (5 KiB): the answer carries warnings.
        let insert = format!("INSERT INTO {table} (pk, ck, v) VALUES (?, ?, ?)");
        let prepared = conn.ask(&Request::Prepare(Prepare::new(insert.clone())));
        let ResultBody::Prepared(p) = prepared.result() else {
            panic!("{name}: PREPARE answered {:?}", prepared.response)
        };
        let mut statements = Vec::new();
        for &pk in &partitions {
            for ck in 0..ROWS_PER_PARTITION {
                let query = if ck % 2 == 0 {
                    BatchQuery::Query(insert.clone())
                } else {
                    BatchQuery::Prepared(p.id.clone())
                };
                let text = format!("row {pk}/{ck} {}", "x".repeat(20));
                statements.push(BatchStatement {
                    query,
                    values: vec![
                        int_value(pk),
                        int_value(ck),
                        Value::Bytes(Bytes::from(text.into_bytes())),
                    ],
                });
            }
        }
        let batch = Batch {
            batch_type: BatchType::Unlogged,
            statements,
            consistency: Consistency::One,
            ..Batch::default()
        };
        let reply = conn.ask(&Request::Batch(batch));
        assert_eq!(reply.result(), &ResultBody::Void, "{name}");
        // Warnings are v4+; v3 has no warning flag.
        if v >= ProtocolVersion::V4 {
            let warnings = reply.prefix.warnings.clone().unwrap_or_default();
            assert!(
                warnings.iter().any(|w| w.contains("nlogged batch")),
                "{name}: expected an unlogged batch warning, got {warnings:?}"
            );
        } else {
            assert_eq!(reply.prefix.warnings, None, "{name}");
        }

        // A value larger than a v5 segment's 128 KiB payload: the request and the answer
        // each span several segments (v5), or one large compressed body (v4 LZ4/Snappy).
        let large: String = (0..300_000u32)
            .map(|i| char::from(b'a' + u8::try_from(i % 26).expect("small")))
            .collect();
        let large_pk = base + 99;
        let reply = conn.query(
            &format!("INSERT INTO {table} (pk, ck, v) VALUES (?, 0, ?)"),
            QueryParameters::new(Consistency::One).with_values(vec![
                int_value(large_pk),
                Value::Bytes(Bytes::from(large.clone().into_bytes())),
            ]),
        );
        assert_eq!(reply.result(), &ResultBody::Void, "{name}");
        let reply = conn.query(
            &format!("SELECT v FROM {table} WHERE pk = ?"),
            QueryParameters::new(Consistency::One).with_values(vec![int_value(large_pk)]),
        );
        assert_eq!(
            decoded_rows(reply.rows(), v),
            vec![vec![Some(CqlValue::Text(large))]],
            "{name}: large value"
        );

        // Page through this setup's partitions, 100 rows at a time.
        let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
        let select = format!(
            "SELECT pk, ck, v FROM {table} WHERE pk IN ({})",
            list.join(", ")
        );
        let mut seen = std::collections::BTreeSet::new();
        let mut paging_state = None;
        let mut pages = 0;
        loop {
            let mut params = QueryParameters::new(Consistency::One).with_page_size(100);
            if let Some(state) = paging_state.take() {
                params = params.with_paging_state(state);
            }
            let reply = conn.query(&select, params);
            let rows = reply.rows();
            pages += 1;
            assert!(
                rows.rows_count <= 100,
                "{name}: page of {}",
                rows.rows_count
            );
            for row in decoded_rows(rows, v) {
                let (Some(CqlValue::Int(pk)), Some(CqlValue::Int(ck))) = (&row[0], &row[1]) else {
                    panic!("{name}: row {row:?}")
                };
                let want = format!("row {pk}/{ck} {}", "x".repeat(20));
                assert_eq!(row[2], Some(CqlValue::Text(want)), "{name}");
                assert!(seen.insert((*pk, *ck)), "{name}: row {pk}/{ck} seen twice");
            }
            match &rows.metadata.paging_state {
                Some(state) => paging_state = Some(state.clone()),
                None => break,
            }
            assert!(pages < 10, "{name}: paging does not end");
        }
        let all: std::collections::BTreeSet<(i32, i32)> = partitions
            .iter()
            .flat_map(|&pk| (0..ROWS_PER_PARTITION).map(move |ck| (pk, ck)))
            .collect();
        assert_eq!(seen, all, "{name}: every row exactly once");
        assert!(pages >= 3, "{name}: 300 rows in {pages} pages of 100");
    }
    admin.ddl_no_wait(&format!("DROP TABLE {table}"));
}

// ---------------------------------------------------------------------------------------------
// Errors, and results of the other kinds.
// ---------------------------------------------------------------------------------------------

/// The keyspace of the error tests.
const ERRORS_KS: &str = "rg_raw_errors";

#[test]
fn errors() {
    let mut admin = RawConn::open(MATRIX[0]);
    admin.ddl(&format!(
        "CREATE KEYSPACE IF NOT EXISTS {ERRORS_KS} WITH replication = \
         {{'class': 'NetworkTopologyStrategy', 'dc1': 1}}"
    ));
    admin.ddl(&format!(
        "CREATE TABLE IF NOT EXISTS {ERRORS_KS}.t (pk int PRIMARY KEY, v int)"
    ));
    for setup in MATRIX {
        let mut conn = RawConn::open(setup);
        let v = conn.version();
        let name = setup.name();

        let e = conn.simple("SELEC * FROM system.local").error().clone();
        assert_eq!(e.details, ErrorDetails::SyntaxError, "{name}: {e:?}");
        assert_eq!(e.code(), 0x2000);
        assert!(!e.message.is_empty());

        let e = conn
            .simple("SELECT * FROM system.no_such_table")
            .error()
            .clone();
        assert_eq!(e.details, ErrorDetails::Invalid, "{name}: {e:?}");
        assert_eq!(e.code(), 0x2200);
        assert!(e.message.contains("no_such_table"), "{name}: {}", e.message);

        // A value of the wrong width for an int.
        let e = conn
            .query(
                &format!("INSERT INTO {ERRORS_KS}.t (pk, v) VALUES (1, ?)"),
                QueryParameters::new(Consistency::One)
                    .with_values(vec![Value::Bytes(Bytes::from_static(&[1, 2, 3]))]),
            )
            .error()
            .clone();
        assert_eq!(e.details, ErrorDetails::Invalid, "{name}: {e:?}");

        let id = Bytes::from_static(&[0x5A; 16]);
        let e = conn
            .ask(&Request::Execute(Execute {
                id: id.clone(),
                result_metadata_id: (v >= ProtocolVersion::V5)
                    .then(|| Bytes::from_static(&[1; 16])),
                params: QueryParameters::new(Consistency::One),
            }))
            .error()
            .clone();
        assert_eq!(e.details, ErrorDetails::Unprepared { id }, "{name}: {e:?}");
        assert_eq!(e.code(), 0x2500);

        let e = conn
            .simple(&format!(
                "CREATE TABLE {ERRORS_KS}.t (pk int PRIMARY KEY, v int)"
            ))
            .error()
            .clone();
        assert_eq!(
            e.details,
            ErrorDetails::AlreadyExists {
                keyspace: ERRORS_KS.to_owned(),
                table: "t".to_owned()
            },
            "{name}: {e:?}"
        );
        let e = conn
            .simple(&format!(
                "CREATE KEYSPACE {ERRORS_KS} WITH replication = \
                 {{'class': 'NetworkTopologyStrategy', 'dc1': 1}}"
            ))
            .error()
            .clone();
        assert_eq!(
            e.details,
            ErrorDetails::AlreadyExists {
                keyspace: ERRORS_KS.to_owned(),
                table: String::new()
            },
            "{name}: {e:?}"
        );

        // THREE replicas of a keyspace with one: Unavailable, with the numbers.
        let e = conn
            .query(
                &format!("SELECT * FROM {ERRORS_KS}.t WHERE pk = 1"),
                QueryParameters::new(Consistency::Three),
            )
            .error()
            .clone();
        assert_eq!(
            e.details,
            ErrorDetails::Unavailable {
                consistency: Consistency::Three,
                required: 3,
                alive: 1
            },
            "{name}: {e:?}"
        );
    }
}

#[test]
fn use_gives_set_keyspace() {
    for setup in MATRIX {
        let mut conn = RawConn::open(setup);
        let reply = conn.simple("USE system");
        assert_eq!(
            reply.result(),
            &ResultBody::SetKeyspace("system".to_owned()),
            "{}",
            setup.name()
        );
        // Unqualified names now resolve in `system`.
        let reply = conn.simple("SELECT key FROM local");
        assert_eq!(
            decoded_rows(reply.rows(), conn.version()),
            vec![vec![Some(CqlValue::Text("local".to_owned()))]]
        );
    }
}

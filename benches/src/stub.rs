//! The stub cluster: CQL nodes that answer the harness's statements at once with fixed bytes,
//! to take Cassandra's own cost out of a measurement of what sits in front of it.
//!
//! Each node is Ringgate's own CQL front end ([`ringgate::server::serve`]): it answers the
//! handshake and `system.local`/`peers`/`peers_v2` as a member of a ring of `nodes` nodes
//! (on 127.0.0.1..N, one port number for all, the ring split evenly among them, all in
//! `dc1`/`rack1`). Everything else comes to [`StubHandler`]: the schema tables a driver or a
//! coordinator reads when it joins (listing the `rg_bench` keyspace and its tables), and the
//! workloads' PREPARE, EXECUTE, QUERY and BATCH, answered from bytes built once. Real-cluster
//! runs stay the headline; the stub isolates the cost of the hop.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use ringgate::protocol::message::{
    ColumnSpec, ErrorDetails, ErrorResponse, Prepare, Prepared, PreparedMetadata, Response,
    ResultBody, Rows, RowsMetadata, TableSpec, peek, split_request_body,
};
use ringgate::protocol::types::{ColumnType, CqlValue, encode_cell};
use ringgate::protocol::{Opcode, ProtocolVersion};
use ringgate::server::served_tables::{RinggateNode, SystemInfo, SystemTables};
use ringgate::server::{ForwardRequest, Handler, Reply, ServerConfig, serve};
use tokio::net::TcpListener;

use crate::workload::{
    BATCH_ROW, BIG_READ, BIG_TABLE, BIG_VALUE_LEN, BIG_WRITE, KEYSPACE, KV_TABLE,
    LITERAL_READ_PREFIX, READ, ROWS_TABLE, WRITE,
};

/// The cluster name stub nodes report.
pub const CLUSTER_NAME: &str = "ringgate-stub";
/// The datacenter of every stub node.
pub const DATACENTER: &str = "dc1";
/// Bytes of the value a read of `kv` returns.
pub const READ_VALUE_LEN: usize = 100;

/// The address of stub node `n` (1-based): 127.0.0.n.
pub fn node_ip(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, u8::try_from(n).unwrap_or(u8::MAX)))
}

/// Serves a stub ring of `nodes` nodes on 127.0.0.1..=nodes, all on `port`, until one of
/// them fails to accept.
pub async fn run(nodes: usize, port: u16) -> std::io::Result<()> {
    let all: Vec<RinggateNode> = (1..=nodes)
        .map(|n| RinggateNode::new(node_ip(n), port, DATACENTER, "rack1"))
        .collect();
    let handler = Arc::new(StubHandler::new());
    let mut servers = tokio::task::JoinSet::new();
    for (i, me) in all.iter().enumerate() {
        let mut info = SystemInfo::new(me.clone(), CLUSTER_NAME);
        info.peers = all
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| p.clone())
            .collect();
        info.schema_version = SCHEMA_VERSION;
        let tables = SystemTables::new(info).map_err(std::io::Error::other)?;
        let config = Arc::new(ServerConfig::new(Arc::new(tables)));
        let listener = TcpListener::bind(SocketAddr::new(me.address, port)).await?;
        servers.spawn(serve(listener, config, Arc::clone(&handler)));
    }
    while let Some(done) = servers.join_next().await {
        done.map_err(std::io::Error::other)??;
    }
    Ok(())
}

/// The stub's schema version (any fixed UUID).
const SCHEMA_VERSION: [u8; 16] = [
    0x8a, 0x2b, 0x3c, 0x4d, 0x5e, 0x6f, 0x40, 0x71, 0x82, 0x93, 0xa4, 0xb5, 0xc6, 0xd7, 0xe8, 0xf9,
];

/// One of the workloads' statements, as the stub knows it.
struct Statement {
    text: &'static str,
    /// Bind markers: (column, type).
    markers: Vec<(&'static str, ColumnType)>,
    table: &'static str,
    /// The answer to an EXECUTE: rows of one blob column `v` of this many bytes, or Void.
    read_len: Option<usize>,
}

fn statements() -> Vec<Statement> {
    let key = ("k", ColumnType::Bigint);
    let value = ("v", ColumnType::Blob);
    vec![
        Statement {
            text: READ,
            markers: vec![key.clone()],
            table: KV_TABLE,
            read_len: Some(READ_VALUE_LEN),
        },
        Statement {
            text: WRITE,
            markers: vec![key.clone(), value.clone()],
            table: KV_TABLE,
            read_len: None,
        },
        Statement {
            text: BIG_READ,
            markers: vec![key.clone()],
            table: BIG_TABLE,
            read_len: Some(BIG_VALUE_LEN),
        },
        Statement {
            text: BIG_WRITE,
            markers: vec![key, value.clone()],
            table: BIG_TABLE,
            read_len: None,
        },
        Statement {
            text: BATCH_ROW,
            markers: vec![("p", ColumnType::Bigint), ("c", ColumnType::Int), value],
            table: ROWS_TABLE,
            read_len: None,
        },
    ]
}

/// A statement's prepared id: the first 16 bytes of a stable hash of its text.
fn prepared_id(text: &str) -> Bytes {
    use std::hash::{Hash, Hasher};
    let mut a = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut a);
    let mut b = std::collections::hash_map::DefaultHasher::new();
    (text, "stub").hash(&mut b);
    let mut id = a.finish().to_be_bytes().to_vec();
    id.extend_from_slice(&b.finish().to_be_bytes());
    Bytes::from(id)
}

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3,
    ProtocolVersion::V4,
    ProtocolVersion::V5,
];

/// Answers the harness's statements with bytes built once, and the schema tables.
pub struct StubHandler {
    /// EXECUTE answers by (prepared id, version, skip_metadata).
    executed: HashMap<(Bytes, ProtocolVersion, bool), Bytes>,
    /// PREPARE answers by (text, version).
    prepared: HashMap<(String, ProtocolVersion), Bytes>,
    /// The answer to the unprepared read, by version.
    literal_read: HashMap<ProtocolVersion, Bytes>,
    /// Void, by version.
    void: HashMap<ProtocolVersion, Bytes>,
    /// Schema-table SELECTs prepared by clients (drivers page through them), by id.
    schema_selects: std::sync::Mutex<HashMap<Bytes, String>>,
}

impl Default for StubHandler {
    fn default() -> Self {
        Self::new()
    }
}

impl StubHandler {
    /// A handler with every answer built.
    pub fn new() -> Self {
        let mut handler = StubHandler {
            executed: HashMap::new(),
            prepared: HashMap::new(),
            literal_read: HashMap::new(),
            void: HashMap::new(),
            schema_selects: std::sync::Mutex::new(HashMap::new()),
        };
        for version in VERSIONS {
            handler
                .void
                .insert(version, encode(&ResultBody::Void, version));
            handler.literal_read.insert(
                version,
                encode(&value_rows(KV_TABLE, READ_VALUE_LEN, false), version),
            );
            for statement in statements() {
                let id = prepared_id(statement.text);
                handler.prepared.insert(
                    (statement.text.to_owned(), version),
                    encode(&prepared(&statement, id.clone(), version), version),
                );
                for skip in [false, true] {
                    let body = match statement.read_len {
                        Some(len) => value_rows(statement.table, len, skip),
                        None => ResultBody::Void,
                    };
                    handler
                        .executed
                        .insert((id.clone(), version, skip), encode(&body, version));
                }
            }
        }
        handler
    }

    /// The answer to one request.
    fn answer(&self, request: &ForwardRequest) -> Reply {
        let version = request.version;
        let has_payload = request
            .flags
            .contains(ringgate::protocol::frame::Flags::CUSTOM_PAYLOAD);
        let Ok((_, message)) = split_request_body(&request.body, has_payload) else {
            return error(ErrorDetails::ProtocolError, "malformed body");
        };
        let raw = |body: Option<&Bytes>| match body {
            Some(body) => Reply::Raw {
                opcode: Opcode::Result,
                flags: ringgate::protocol::frame::Flags::empty(),
                body: body.clone(),
            },
            None => error(
                ErrorDetails::ServerError,
                "no answer built for this version",
            ),
        };
        match request.opcode {
            Opcode::Execute => match peek::execute(&message, version) {
                Ok(view) => {
                    let skip = view.flags & SKIP_METADATA != 0;
                    let key = (Bytes::copy_from_slice(view.id), version, skip);
                    let schema_select = || {
                        let selects = self
                            .schema_selects
                            .lock()
                            .unwrap_or_else(|p| p.into_inner());
                        selects.get(view.id).cloned()
                    };
                    match self.executed.get(&key) {
                        Some(body) => raw(Some(body)),
                        None if let Some(text) = schema_select() => match schema_select_rows(&text)
                        {
                            Ok(rows) => raw(Some(&encode(&rows, version))),
                            Err(e) => Reply::Message(Response::Error(e)),
                        },
                        None => Reply::Message(Response::Error(ErrorResponse::new(
                            ErrorDetails::Unprepared {
                                id: Bytes::copy_from_slice(view.id),
                            },
                            "unknown prepared id",
                        ))),
                    }
                }
                Err(e) => error(ErrorDetails::ProtocolError, e.to_string()),
            },
            Opcode::Prepare => match Prepare::decode(&message, version) {
                Ok(prepare) => {
                    let text = prepare.query.trim();
                    match self.prepared.get(&(text.to_owned(), version)) {
                        Some(body) => raw(Some(body)),
                        None if is_schema_select(text) => self.prepare_schema_select(text, version),
                        None => error(
                            ErrorDetails::Invalid,
                            format!("the stub cluster does not know {text:?}"),
                        ),
                    }
                }
                Err(e) => error(ErrorDetails::ProtocolError, e.to_string()),
            },
            Opcode::Batch => raw(self.void.get(&version)),
            Opcode::Query => match peek::query(&message, version) {
                Ok(view) => self.query(view.query, version, &raw),
                Err(e) => error(ErrorDetails::ProtocolError, e.to_string()),
            },
            other => error(
                ErrorDetails::ProtocolError,
                format!("{other:?} is not served by the stub"),
            ),
        }
    }

    fn query(
        &self,
        text: &str,
        version: ProtocolVersion,
        raw: &dyn Fn(Option<&Bytes>) -> Reply,
    ) -> Reply {
        let text = text.trim();
        if text.starts_with(LITERAL_READ_PREFIX) {
            return raw(self.literal_read.get(&version));
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("insert") || lower.starts_with("update") || lower.starts_with("delete")
        {
            return raw(self.void.get(&version));
        }
        if is_schema_select(text) {
            return match schema_select_rows(text) {
                Ok(rows) => Reply::Raw {
                    opcode: Opcode::Result,
                    flags: ringgate::protocol::frame::Flags::empty(),
                    body: encode(&rows, version),
                },
                Err(e) => Reply::Message(Response::Error(e)),
            };
        }
        error(
            ErrorDetails::Invalid,
            format!("the stub cluster does not serve {text:?}"),
        )
    }
}

impl StubHandler {
    /// Prepares a schema-table SELECT: its result columns come from running it once.
    fn prepare_schema_select(&self, text: &str, version: ProtocolVersion) -> Reply {
        let rows = match schema_select_rows(text) {
            Ok(ResultBody::Rows(rows)) => rows,
            Ok(_) => return error(ErrorDetails::ServerError, "not rows"),
            Err(e) => return Reply::Message(Response::Error(e)),
        };
        let id = prepared_id(text);
        self.schema_selects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), text.to_owned());
        let prepared = ResultBody::Prepared(Box::new(Prepared {
            result_metadata_id: (version >= ProtocolVersion::V5)
                .then(|| prepared_id(&format!("{text}#result"))),
            id,
            metadata: PreparedMetadata::default(),
            result_metadata: RowsMetadata {
                paging_state: None,
                ..rows.metadata
            },
        }));
        Reply::Raw {
            opcode: Opcode::Result,
            flags: ringgate::protocol::frame::Flags::empty(),
            body: encode(&prepared, version),
        }
    }
}

/// Whether `text` reads a schema table.
fn is_schema_select(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    lower.starts_with("select") && lower.contains("system_schema.")
}

/// The rows of a schema-table SELECT.
fn schema_select_rows(text: &str) -> Result<ResultBody, ErrorResponse> {
    schema_select(&text.trim().to_ascii_lowercase())
}

/// QUERY/EXECUTE flag: the client has the result metadata; leave it out.
const SKIP_METADATA: u32 = 0x02;

impl Handler for StubHandler {
    fn request(&self, request: ForwardRequest) -> BoxFuture<'static, Reply> {
        Box::pin(std::future::ready(self.answer(&request)))
    }
}

fn error(details: ErrorDetails, message: impl Into<String>) -> Reply {
    Reply::Message(Response::Error(ErrorResponse::new(details, message)))
}

fn encode(body: &ResultBody, version: ProtocolVersion) -> Bytes {
    let mut buf = BytesMut::new();
    // The stub's own, well-formed results always encode.
    if let Err(e) = Response::Result(body.clone()).encode(version, &mut buf) {
        unreachable!("a stub result does not encode: {e}")
    }
    buf.freeze()
}

fn spec(table: &str) -> TableSpec {
    TableSpec {
        keyspace: KEYSPACE.to_owned(),
        table: table.to_owned(),
    }
}

fn column(table: &str, name: &str, typ: ColumnType) -> ColumnSpec {
    ColumnSpec {
        keyspace: KEYSPACE.to_owned(),
        table: table.to_owned(),
        name: name.to_owned(),
        typ,
    }
}

/// One row with one blob column `v` of `len` bytes.
fn value_rows(table: &str, len: usize, skip_metadata: bool) -> ResultBody {
    let mut content = BytesMut::new();
    let value = CqlValue::Blob(vec![0x5a; len]);
    if encode_cell(&ColumnType::Blob, Some(&value), &mut content).is_err() {
        unreachable!("a blob cell encodes");
    }
    ResultBody::Rows(Rows {
        metadata: RowsMetadata {
            column_count: 1,
            paging_state: None,
            new_metadata_id: None,
            global_table_spec: Some(if skip_metadata {
                TableSpec::default()
            } else {
                spec(table)
            }),
            columns: (!skip_metadata).then(|| vec![column(table, "v", ColumnType::Blob)]),
        },
        rows_count: 1,
        content: content.freeze(),
    })
}

fn prepared(statement: &Statement, id: Bytes, version: ProtocolVersion) -> ResultBody {
    let result_columns = statement
        .read_len
        .map(|_| vec![column(statement.table, "v", ColumnType::Blob)]);
    ResultBody::Prepared(Box::new(Prepared {
        result_metadata_id: (version >= ProtocolVersion::V5)
            .then(|| prepared_id(&format!("{}#result", statement.text))),
        id,
        metadata: PreparedMetadata {
            pk_indexes: if version >= ProtocolVersion::V4 {
                vec![0]
            } else {
                Vec::new()
            },
            global_table_spec: Some(spec(statement.table)),
            columns: statement
                .markers
                .iter()
                .map(|(name, typ)| column(statement.table, name, typ.clone()))
                .collect(),
        },
        result_metadata: RowsMetadata {
            column_count: result_columns.as_ref().map_or(0, Vec::len),
            paging_state: None,
            new_metadata_id: None,
            global_table_spec: result_columns.as_ref().map(|_| spec(statement.table)),
            columns: result_columns,
        },
    }))
}

/// A schema table the stub serves: its columns and rows.
struct SchemaTable {
    columns: Vec<(&'static str, ColumnType)>,
    rows: Vec<Vec<CqlValue>>,
}

fn text(s: &str) -> CqlValue {
    CqlValue::Text(s.to_owned())
}

fn schema_table(name: &str) -> Option<SchemaTable> {
    let list = || ColumnType::List(Box::new(ColumnType::Varchar));
    let ks = ("keyspace_name", ColumnType::Varchar);
    Some(match name {
        "keyspaces" => SchemaTable {
            columns: vec![
                ks,
                ("durable_writes", ColumnType::Boolean),
                (
                    "replication",
                    ColumnType::Map(Box::new(ColumnType::Varchar), Box::new(ColumnType::Varchar)),
                ),
            ],
            rows: vec![vec![
                text(KEYSPACE),
                CqlValue::Boolean(true),
                CqlValue::Map(vec![
                    (
                        text("class"),
                        text("org.apache.cassandra.locator.NetworkTopologyStrategy"),
                    ),
                    (text(DATACENTER), text("1")),
                ]),
            ]],
        },
        "tables" => SchemaTable {
            columns: vec![ks, ("table_name", ColumnType::Varchar)],
            rows: [KV_TABLE, ROWS_TABLE, BIG_TABLE]
                .iter()
                .map(|t| vec![text(KEYSPACE), text(t)])
                .collect(),
        },
        "columns" => {
            let column = |table: &str, name: &str, kind: &str, position: i32, typ: &str| {
                let order = if kind == "clustering" { "asc" } else { "none" };
                vec![
                    text(KEYSPACE),
                    text(table),
                    text(name),
                    text(kind),
                    CqlValue::Int(position),
                    text(typ),
                    text(order),
                ]
            };
            SchemaTable {
                columns: vec![
                    ks,
                    ("table_name", ColumnType::Varchar),
                    ("column_name", ColumnType::Varchar),
                    ("kind", ColumnType::Varchar),
                    ("position", ColumnType::Int),
                    ("type", ColumnType::Varchar),
                    ("clustering_order", ColumnType::Varchar),
                ],
                rows: vec![
                    column(KV_TABLE, "k", "partition_key", 0, "bigint"),
                    column(KV_TABLE, "v", "regular", -1, "blob"),
                    column(ROWS_TABLE, "p", "partition_key", 0, "bigint"),
                    column(ROWS_TABLE, "c", "clustering", 0, "int"),
                    column(ROWS_TABLE, "v", "regular", -1, "blob"),
                    column(BIG_TABLE, "k", "partition_key", 0, "bigint"),
                    column(BIG_TABLE, "v", "regular", -1, "blob"),
                ],
            }
        }
        "views" => SchemaTable {
            columns: vec![
                ks,
                ("view_name", ColumnType::Varchar),
                ("base_table_name", ColumnType::Varchar),
            ],
            rows: Vec::new(),
        },
        "types" => SchemaTable {
            columns: vec![
                ks,
                ("type_name", ColumnType::Varchar),
                ("field_names", list()),
                ("field_types", list()),
            ],
            rows: Vec::new(),
        },
        "functions" | "aggregates" | "indexes" | "triggers" => SchemaTable {
            columns: vec![ks],
            rows: Vec::new(),
        },
        _ => return None,
    })
}

/// Answers `SELECT cols FROM system_schema.t [WHERE keyspace_name = 'k']` (already
/// lower-cased).
fn schema_select(cql: &str) -> Result<ResultBody, ErrorResponse> {
    let invalid = |m: String| ErrorResponse::new(ErrorDetails::Invalid, m);
    let rest = cql.strip_prefix("select").unwrap_or(cql);
    let (columns, rest) = rest
        .split_once(" from ")
        .ok_or_else(|| invalid(format!("cannot read {cql:?}")))?;
    let rest = rest.trim();
    let (table, filter) = match rest.split_once(" where ") {
        Some((t, f)) => (t.trim(), Some(f)),
        None => (rest.split_whitespace().next().unwrap_or(rest), None),
    };
    let name = table.strip_prefix("system_schema.").unwrap_or(table);
    let schema = schema_table(name).ok_or_else(|| invalid(format!("unconfigured table {name}")))?;
    let wanted_keyspace = filter.and_then(|f| {
        let value = f.split_once('=')?.1.trim();
        Some(
            value
                .trim_start_matches('\'')
                .split('\'')
                .next()?
                .to_owned(),
        )
    });
    let picked: Vec<usize> = if columns.trim() == "*" {
        (0..schema.columns.len()).collect()
    } else {
        columns
            .split(',')
            .map(|c| {
                let c = c.trim();
                schema
                    .columns
                    .iter()
                    .position(|(n, _)| *n == c)
                    .ok_or_else(|| {
                        invalid(format!(
                            "Undefined column name {c} in table system_schema.{name}"
                        ))
                    })
            })
            .collect::<Result<_, _>>()?
    };
    let mut content = BytesMut::new();
    let mut count = 0;
    for row in &schema.rows {
        if let Some(k) = &wanted_keyspace
            && row.first() != Some(&text(k))
        {
            continue;
        }
        for &i in &picked {
            encode_cell(&schema.columns[i].1, row.get(i), &mut content)
                .map_err(|e| ErrorResponse::new(ErrorDetails::ServerError, e.to_string()))?;
        }
        count += 1;
    }
    let specs = picked
        .iter()
        .map(|&i| ColumnSpec {
            keyspace: "system_schema".to_owned(),
            table: name.to_owned(),
            name: schema.columns[i].0.to_owned(),
            typ: schema.columns[i].1.clone(),
        })
        .collect::<Vec<_>>();
    Ok(ResultBody::Rows(Rows {
        metadata: RowsMetadata {
            column_count: specs.len(),
            paging_state: None,
            new_metadata_id: None,
            global_table_spec: Some(TableSpec {
                keyspace: "system_schema".to_owned(),
                table: name.to_owned(),
            }),
            columns: Some(specs),
        },
        rows_count: count,
        content: content.freeze(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_selects_pick_columns_and_filter_by_keyspace() {
        let ResultBody::Rows(rows) = schema_select(
            "select keyspace_name, table_name from system_schema.tables where keyspace_name = 'rg_bench'",
        )
        .unwrap() else {
            panic!("rows")
        };
        assert_eq!(rows.rows_count, 3);
        assert_eq!(rows.metadata.column_count, 2);
        let ResultBody::Rows(none) =
            schema_select("select * from system_schema.columns where keyspace_name = 'other'")
                .unwrap()
        else {
            panic!("rows")
        };
        assert_eq!(none.rows_count, 0);
        assert!(schema_select("select x from system_schema.scylla_tables").is_err());
        assert!(schema_select("select nope from system_schema.tables").is_err());
    }

    #[test]
    fn every_statement_has_an_answer_in_every_version() {
        let handler = StubHandler::new();
        for version in VERSIONS {
            for statement in statements() {
                let id = prepared_id(statement.text);
                assert!(
                    handler
                        .prepared
                        .contains_key(&(statement.text.to_owned(), version))
                );
                assert!(handler.executed.contains_key(&(id.clone(), version, true)));
                assert!(handler.executed.contains_key(&(id, version, false)));
            }
        }
    }
}

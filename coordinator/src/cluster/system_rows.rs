//! Reading the system tables the control connection queries: `system.local`,
//! `system.peers_v2` / `system.peers`, and `system_schema.{keyspaces,tables,views,columns,types}`.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ringgate_protocol::types::{CqlValue, FromCqlValue, UdtType};

use super::schema::{ColumnKind, ColumnMeta, KeyspaceMeta, TableMeta, parse_cql_type};
use super::view::{Node, NodeState};

/// One row of a system table: each column's value (`None` for null) by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SystemRow {
    values: HashMap<String, Option<CqlValue>>,
}

impl SystemRow {
    /// A row from (column, value) pairs.
    pub fn new(values: impl IntoIterator<Item = (String, Option<CqlValue>)>) -> Self {
        SystemRow {
            values: values.into_iter().collect(),
        }
    }

    /// The value of `column` as a `T` (an `Option` for nullable columns). A missing column or
    /// a value of another type is an error naming the column.
    pub fn get<T: FromCqlValue>(&self, column: &str) -> Result<T, String> {
        let value = self
            .values
            .get(column)
            .ok_or_else(|| format!("no column {column}"))?;
        T::from_cql(value.clone()).map_err(|e| format!("column {column}: {e}"))
    }
}

fn tokens(row: &SystemRow) -> Result<Vec<i64>, String> {
    let text: Option<Vec<String>> = row.get("tokens")?;
    let mut tokens = text
        .unwrap_or_default()
        .iter()
        .map(|t| t.parse::<i64>().map_err(|e| format!("token {t:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    tokens.sort_unstable();
    Ok(tokens)
}

fn required<T>(value: Option<T>, column: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("{column} is null"))
}

/// The node `system.local` describes; `addr` is where the control connection reached it.
pub fn local_node(row: &SystemRow, addr: SocketAddr) -> Result<Node, String> {
    Ok(Node {
        host_id: required(row.get("host_id")?, "host_id")?,
        addr,
        dc: required(row.get("data_center")?, "data_center")?,
        rack: required(row.get("rack")?, "rack")?,
        tokens: tokens(row)?,
        release_version: row
            .get::<Option<String>>("release_version")?
            .unwrap_or_default(),
        schema_version: row.get("schema_version")?,
        state: NodeState::Up,
    })
}

/// The node a `system.peers_v2` row (or, when `v2` is false, a legacy `system.peers` row)
/// describes. Legacy rows carry no native port: `default_port` is used.
pub fn peer_node(row: &SystemRow, v2: bool, default_port: u16) -> Result<Node, String> {
    let peer: IpAddr = required(row.get("peer")?, "peer")?;
    let (native, port) = if v2 {
        let port: Option<i32> = row.get("native_port")?;
        let port = match port {
            Some(p) => u16::try_from(p).map_err(|_| format!("native_port {p} out of range"))?,
            None => default_port,
        };
        (row.get::<Option<IpAddr>>("native_address")?, port)
    } else {
        (row.get::<Option<IpAddr>>("rpc_address")?, default_port)
    };
    // A node listening on every interface reports 0.0.0.0: reach it at its peer address.
    let native = match native {
        Some(ip) if !ip.is_unspecified() => ip,
        _ => peer,
    };
    Ok(Node {
        host_id: required(row.get("host_id")?, "host_id")?,
        addr: SocketAddr::new(native, port),
        dc: required(row.get("data_center")?, "data_center")?,
        rack: required(row.get("rack")?, "rack")?,
        tokens: tokens(row)?,
        release_version: row
            .get::<Option<String>>("release_version")?
            .unwrap_or_default(),
        schema_version: row.get("schema_version")?,
        state: NodeState::Up,
    })
}

/// The rows of the schema tables the view is built from.
#[derive(Debug, Clone, Default)]
pub struct SchemaRows {
    /// `system_schema.keyspaces`.
    pub keyspaces: Vec<SystemRow>,
    /// `system_schema.tables` and `system_schema.views` (`view_name` read as `table_name`).
    pub tables: Vec<SystemRow>,
    /// `system_schema.columns`.
    pub columns: Vec<SystemRow>,
    /// `system_schema.types`.
    pub types: Vec<SystemRow>,
}

/// Builds keyspace metadata from the schema tables. Rows that cannot be read are skipped with
/// a warning; a table whose column types cannot be resolved is left out.
pub fn keyspaces(rows: &SchemaRows) -> Vec<KeyspaceMeta> {
    let mut out: BTreeMap<String, KeyspaceMeta> = BTreeMap::new();
    for row in &rows.keyspaces {
        let parsed = (|| -> Result<KeyspaceMeta, String> {
            Ok(KeyspaceMeta {
                name: required(row.get("keyspace_name")?, "keyspace_name")?,
                replication: row
                    .get::<Option<BTreeMap<String, String>>>("replication")?
                    .unwrap_or_default(),
                durable_writes: row.get::<Option<bool>>("durable_writes")?.unwrap_or(true),
                tables: BTreeMap::new(),
                user_types: BTreeMap::new(),
            })
        })();
        match parsed {
            Ok(k) => {
                out.insert(k.name.clone(), k);
            }
            Err(e) => tracing::warn!(error = %e, "skipping an unreadable keyspace row"),
        }
    }
    for (keyspace, udts) in user_types(&rows.types) {
        if let Some(k) = out.get_mut(&keyspace) {
            k.user_types = udts;
        }
    }

    let mut columns: HashMap<(String, String), Vec<&SystemRow>> = HashMap::new();
    for row in &rows.columns {
        if let (Ok(Some(ks)), Ok(Some(t))) = (
            row.get::<Option<String>>("keyspace_name"),
            row.get::<Option<String>>("table_name"),
        ) {
            columns.entry((ks, t)).or_default().push(row);
        }
    }
    for row in &rows.tables {
        let (Ok(Some(ks)), Ok(Some(name))) = (
            row.get::<Option<String>>("keyspace_name"),
            row.get::<Option<String>>("table_name"),
        ) else {
            tracing::warn!("skipping a table row without keyspace_name/table_name");
            continue;
        };
        let Some(keyspace) = out.get_mut(&ks) else {
            continue;
        };
        let udts = keyspace.user_types.clone();
        let resolve = |n: &str| udts.get(n).map(|u| (**u).clone());
        let cols = columns
            .get(&(ks.clone(), name.clone()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        match cols
            .iter()
            .map(|r| column(r, &resolve))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(cols) => {
                let table = TableMeta::new(ks.clone(), name.clone(), cols);
                keyspace.tables.insert(name, Arc::new(table));
            }
            Err(e) => tracing::warn!(keyspace = %ks, table = %name, error = %e, "skipping a table"),
        }
    }
    out.into_values().collect()
}

fn column(
    row: &SystemRow,
    resolve: &dyn Fn(&str) -> Option<UdtType>,
) -> Result<ColumnMeta, String> {
    let name: String = required(row.get("column_name")?, "column_name")?;
    let kind: String = required(row.get("kind")?, "kind")?;
    let type_text: String = required(row.get("type")?, "type")?;
    Ok(ColumnMeta {
        kind: ColumnKind::from_schema(&kind)
            .ok_or_else(|| format!("column {name}: kind {kind:?}"))?,
        position: row.get::<Option<i32>>("position")?.unwrap_or(-1),
        cql_type: parse_cql_type(&type_text, resolve).map_err(|e| format!("column {name}: {e}"))?,
        type_text,
        name,
    })
}

/// Resolves each keyspace's user types. A type can only use types resolved before it, so
/// rounds resolve whatever became resolvable until nothing changes: bounded by the number of
/// types, and a type naming a missing (or its own) type stays out with a warning.
fn user_types(rows: &[SystemRow]) -> BTreeMap<String, BTreeMap<String, Arc<UdtType>>> {
    type Pending = (String, String, Vec<String>, Vec<String>);
    let mut pending: Vec<Pending> = rows
        .iter()
        .filter_map(|row| {
            let read = || -> Result<Pending, String> {
                Ok((
                    required(row.get("keyspace_name")?, "keyspace_name")?,
                    required(row.get("type_name")?, "type_name")?,
                    row.get::<Option<Vec<String>>>("field_names")?
                        .unwrap_or_default(),
                    row.get::<Option<Vec<String>>>("field_types")?
                        .unwrap_or_default(),
                ))
            };
            read()
                .map_err(|e| tracing::warn!(error = %e, "skipping an unreadable type row"))
                .ok()
        })
        .collect();
    let mut done: BTreeMap<String, BTreeMap<String, Arc<UdtType>>> = BTreeMap::new();
    loop {
        let before = pending.len();
        pending.retain(|(ks, name, field_names, field_types)| {
            let known = done.get(ks);
            let resolve = |n: &str| known.and_then(|k| k.get(n)).map(|u| (**u).clone());
            let fields: Result<Vec<_>, _> = field_names
                .iter()
                .zip(field_types)
                .map(|(f, t)| parse_cql_type(t, &resolve).map(|t| (f.clone(), t)))
                .collect();
            match fields {
                Ok(fields) if field_names.len() == field_types.len() => {
                    let udt = UdtType {
                        keyspace: ks.clone(),
                        name: name.clone(),
                        fields,
                    };
                    done.entry(ks.clone())
                        .or_default()
                        .insert(name.clone(), Arc::new(udt));
                    false
                }
                _ => true,
            }
        });
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    for (ks, name, ..) in &pending {
        tracing::warn!(keyspace = %ks, r#type = %name, "user type not resolvable: left out");
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringgate_protocol::types::ColumnType;

    fn row(pairs: &[(&str, Option<CqlValue>)]) -> SystemRow {
        SystemRow::new(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())))
    }

    fn text(s: &str) -> Option<CqlValue> {
        Some(CqlValue::Text(s.into()))
    }

    fn texts(items: &[&str]) -> Option<CqlValue> {
        Some(CqlValue::List(
            items.iter().map(|s| CqlValue::Text((*s).into())).collect(),
        ))
    }

    fn peer(native: Option<IpAddr>, host_id: Option<[u8; 16]>) -> SystemRow {
        row(&[
            ("peer", Some(CqlValue::Inet("127.0.0.2".parse().unwrap()))),
            ("native_address", native.map(CqlValue::Inet)),
            ("native_port", Some(CqlValue::Int(9042))),
            ("host_id", host_id.map(CqlValue::Uuid)),
            ("data_center", text("dc1")),
            ("rack", text("rack2")),
            (
                "tokens",
                Some(CqlValue::Set(vec![
                    CqlValue::Text("0".into()),
                    CqlValue::Text("-5".into()),
                ])),
            ),
            ("release_version", text("5.0.8")),
            ("schema_version", Some(CqlValue::Uuid([9; 16]))),
        ])
    }

    #[test]
    fn peers_v2_rows() {
        let node = peer_node(
            &peer(Some("127.0.0.2".parse().unwrap()), Some([2; 16])),
            true,
            1,
        )
        .unwrap();
        assert_eq!(node.addr, "127.0.0.2:9042".parse().unwrap());
        assert_eq!(node.tokens, vec![-5, 0], "sorted");
        assert_eq!((node.dc.as_str(), node.rack.as_str()), ("dc1", "rack2"));
        assert_eq!(node.schema_version, Some([9; 16]));
        // 0.0.0.0 means "every interface": use the peer address.
        let any = peer_node(
            &peer(Some("0.0.0.0".parse().unwrap()), Some([2; 16])),
            true,
            1,
        )
        .unwrap();
        assert_eq!(any.addr.ip(), "127.0.0.2".parse::<IpAddr>().unwrap());
        // Incomplete rows are errors (the caller skips them).
        assert!(
            peer_node(&peer(None, None), true, 1)
                .unwrap_err()
                .contains("host_id")
        );
    }

    #[test]
    fn schema_with_nested_user_types_in_any_order() {
        let rows = SchemaRows {
            keyspaces: vec![row(&[
                ("keyspace_name", text("ks")),
                ("durable_writes", Some(CqlValue::Boolean(true))),
                (
                    "replication",
                    Some(CqlValue::Map(vec![(
                        CqlValue::Text("class".into()),
                        CqlValue::Text("org.apache.cassandra.locator.SimpleStrategy".into()),
                    )])),
                ),
            ])],
            // "person" uses "address", listed first.
            types: vec![
                row(&[
                    ("keyspace_name", text("ks")),
                    ("type_name", text("person")),
                    ("field_names", texts(&["name", "home"])),
                    ("field_types", texts(&["text", "frozen<address>"])),
                ]),
                row(&[
                    ("keyspace_name", text("ks")),
                    ("type_name", text("address")),
                    ("field_names", texts(&["zip"])),
                    ("field_types", texts(&["int"])),
                ]),
                row(&[
                    ("keyspace_name", text("ks")),
                    ("type_name", text("loop")),
                    ("field_names", texts(&["me"])),
                    ("field_types", texts(&["frozen<loop>"])),
                ]),
            ],
            tables: vec![row(&[
                ("keyspace_name", text("ks")),
                ("table_name", text("t")),
            ])],
            columns: vec![
                row(&[
                    ("keyspace_name", text("ks")),
                    ("table_name", text("t")),
                    ("column_name", text("b")),
                    ("kind", text("partition_key")),
                    ("position", Some(CqlValue::Int(1))),
                    ("type", text("text")),
                ]),
                row(&[
                    ("keyspace_name", text("ks")),
                    ("table_name", text("t")),
                    ("column_name", text("a")),
                    ("kind", text("partition_key")),
                    ("position", Some(CqlValue::Int(0))),
                    ("type", text("int")),
                ]),
                row(&[
                    ("keyspace_name", text("ks")),
                    ("table_name", text("t")),
                    ("column_name", text("who")),
                    ("kind", text("regular")),
                    ("position", Some(CqlValue::Int(-1))),
                    ("type", text("frozen<person>")),
                ]),
            ],
        };
        let ks = keyspaces(&rows);
        assert_eq!(ks.len(), 1);
        let ks = &ks[0];
        assert_eq!(
            ks.user_types.len(),
            2,
            "the self-referencing type is left out"
        );
        let t = &ks.tables["t"];
        let pk: Vec<&str> = t.partition_key.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(pk, ["a", "b"], "ordered by position");
        let ColumnType::Udt(person) = &t.columns["who"].cql_type else {
            panic!("a UDT column");
        };
        assert!(matches!(&person.fields[1].1, ColumnType::Udt(a) if a.name == "address"));
    }
}

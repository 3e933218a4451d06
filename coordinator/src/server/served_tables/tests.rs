//! System tables answered and decoded back with the protocol crate.

use std::net::IpAddr;

use bytes::{Bytes, BytesMut};

use super::*;
use ringgate_protocol::message::{Response, Value};
use ringgate_protocol::types::{ColumnType, CqlValue, decode_cell};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A decoded row: one cell per column, `None` for null.
type Row = Vec<Option<CqlValue>>;

fn tables() -> SystemTables {
    let mut info = SystemInfo::new(RinggateNode::new(ip("10.0.0.2"), 9042, "dc1", "r1"), "ring");
    info.peers = vec![
        RinggateNode::new(ip("10.0.0.1"), 9042, "dc1", "r2"),
        RinggateNode::new(ip("10.0.0.3"), 9142, "dc2", "r1"),
    ];
    info.schema_version = [7; 16];
    info.gossip_generation = 1234;
    SystemTables::new(info).unwrap()
}

/// Encodes the result as a RESULT body in `version`, decodes it back, and returns the column
/// names, types and decoded rows.
fn decoded(answer: Answer, version: ProtocolVersion) -> (Vec<(String, ColumnType)>, Vec<Row>) {
    let Answer::Result(result) = answer else {
        panic!("not answered: {answer:?}")
    };
    let mut body = BytesMut::new();
    Response::Result(result).encode(version, &mut body).unwrap();
    let Ok(Response::Result(ResultBody::Rows(rows))) =
        Response::decode(ringgate_protocol::Opcode::Result, &body.freeze(), version)
    else {
        panic!("not rows")
    };
    let columns: Vec<(String, ColumnType)> = rows
        .metadata
        .columns
        .clone()
        .unwrap()
        .into_iter()
        .map(|c| {
            assert_eq!((c.keyspace.as_str(), c.table.is_empty()), ("system", false));
            (c.name, c.typ)
        })
        .collect();
    let mut out = Vec::new();
    for row in rows.rows().unwrap() {
        let row = row.unwrap();
        let cells = row
            .cells()
            .zip(&columns)
            .map(|(cell, (_, typ))| decode_cell(typ, cell, version).unwrap())
            .collect();
        out.push(cells);
    }
    (columns, out)
}

fn no_values() -> Values {
    Values::Positional(vec![])
}

#[test]
fn select_star_from_local_has_cassandra_columns_and_ringgate_values() {
    let t = tables();
    for version in ProtocolVersion::ALL {
        let answer = t.query(
            "SELECT * FROM system.local WHERE key='local'",
            None,
            &no_values(),
            version,
        );
        let (columns, rows) = decoded(answer, version);
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, SystemTable::Local.column_names().collect::<Vec<_>>());
        assert_eq!(names.len(), 20);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        let get = |name: &str| row[names.iter().position(|n| *n == name).unwrap()].clone();
        assert_eq!(get("key"), Some(CqlValue::Text("local".into())));
        assert_eq!(get("rpc_address"), Some(CqlValue::Inet(ip("10.0.0.2"))));
        assert_eq!(get("rpc_port"), Some(CqlValue::Int(9042)));
        assert_eq!(get("cluster_name"), Some(CqlValue::Text("ring".into())));
        assert_eq!(get("schema_version"), Some(CqlValue::Uuid([7; 16])));
        assert_eq!(get("gossip_generation"), Some(CqlValue::Int(1234)));
        assert_eq!(get("truncated_at"), None);
        let host = RinggateNode::new(ip("10.0.0.2"), 9042, "dc1", "r1").host_id();
        assert_eq!(get("host_id"), Some(CqlValue::Uuid(host)));
        // Three nodes ordered by address: 10.0.0.2 is the second, so it owns the second third.
        let third = (1i128 << 64) / 3;
        let token = (i128::from(i64::MIN) + third).to_string();
        assert_eq!(
            get("tokens"),
            Some(CqlValue::Set(vec![CqlValue::Text(token)]))
        );
    }
}

#[test]
fn column_types_match_cassandra_5() {
    let t = tables();
    let (columns, _) = decoded(
        t.query(
            "SELECT * FROM system.peers_v2",
            None,
            &no_values(),
            ProtocolVersion::V5,
        ),
        ProtocolVersion::V5,
    );
    let types: Vec<String> = columns.iter().map(|(n, t)| format!("{n} {t:?}")).collect();
    assert_eq!(
        types,
        [
            "peer Inet",
            "peer_port Int",
            "data_center Varchar",
            "host_id Uuid",
            "native_address Inet",
            "native_port Int",
            "preferred_ip Inet",
            "preferred_port Int",
            "rack Varchar",
            "release_version Varchar",
            "schema_version Uuid",
            "tokens Set(Varchar)",
        ]
    );
}

#[test]
fn peers_list_the_other_ringgate_nodes_and_tokens_cover_the_ring_once() {
    let t = tables();
    let v = ProtocolVersion::V4;
    let (columns, peers) = decoded(
        t.query(
            "SELECT peer, tokens AS t, rpc_address FROM system.peers",
            None,
            &no_values(),
            v,
        ),
        v,
    );
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["peer", "t", "rpc_address"]);
    assert_eq!(peers.len(), 2);
    assert_eq!(peers[0][0], Some(CqlValue::Inet(ip("10.0.0.1"))));
    assert_eq!(peers[1][2], Some(CqlValue::Inet(ip("10.0.0.3"))));
    let (_, local) = decoded(
        t.query("SELECT tokens FROM system.local", None, &no_values(), v),
        v,
    );
    let mut all: Vec<i64> = peers
        .iter()
        .map(|r| r[1].clone())
        .chain(local.iter().map(|r| r[0].clone()))
        .flat_map(|set| match set {
            Some(CqlValue::Set(items)) => items,
            other => panic!("{other:?}"),
        })
        .map(|t| t.as_str().unwrap().parse().unwrap())
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], i64::MIN);
}

#[test]
fn where_and_bound_values_filter_rows() {
    let t = tables();
    let v = ProtocolVersion::V4;
    let (_, rows) = decoded(
        t.query(
            "SELECT * FROM system.local WHERE key = 'other'",
            None,
            &no_values(),
            v,
        ),
        v,
    );
    assert!(rows.is_empty());
    let (_, rows) = decoded(
        t.query(
            "SELECT data_center FROM system.peers WHERE peer = '10.0.0.3'",
            None,
            &no_values(),
            v,
        ),
        v,
    );
    assert_eq!(rows, vec![vec![Some(CqlValue::Text("dc2".into()))]]);
    let bound = Values::Positional(vec![Value::Bytes(Bytes::from_static(&[10, 0, 0, 1]))]);
    let (_, rows) = decoded(
        t.query(
            "SELECT rack FROM system.peers_v2 WHERE peer = ?",
            None,
            &bound,
            v,
        ),
        v,
    );
    assert_eq!(rows, vec![vec![Some(CqlValue::Text("r2".into()))]]);
    let (_, rows) = decoded(
        t.query(
            "SELECT peer FROM system.peers LIMIT 1",
            None,
            &no_values(),
            v,
        ),
        v,
    );
    assert_eq!(rows.len(), 1);
    let Answer::Error(e) = t.query(
        "SELECT * FROM system.peers WHERE peer = ?",
        None,
        &no_values(),
        v,
    ) else {
        panic!()
    };
    assert_eq!(
        e.message,
        "Invalid amount of bind variables: expected 1, got 0"
    );
    let Answer::Error(e) = t.query(
        "SELECT * FROM system.peers WHERE peer = 'x'",
        None,
        &no_values(),
        v,
    ) else {
        panic!()
    };
    assert_eq!(e.message, "Unable to make inet address from 'x'");
}

#[test]
fn prepare_then_execute_on_any_session() {
    let t = tables();
    let v = ProtocolVersion::V5;
    let text = "SELECT host_id, rpc_address FROM system.local WHERE key = ?";
    let Answer::Result(ResultBody::Prepared(p)) = t.prepare(text, None, v) else {
        panic!()
    };
    assert!(p.result_metadata_id.is_some());
    assert_eq!(p.metadata.pk_indexes, vec![0]);
    assert_eq!(p.metadata.columns[0].name, "key");
    assert_eq!(p.result_metadata.column_count, 2);
    // Same text, same id.
    let Answer::Result(ResultBody::Prepared(again)) = t.prepare(text, None, v) else {
        panic!()
    };
    assert_eq!(again.id, p.id);
    assert!(t.is_prepared(&p.id));
    let bound = Values::Positional(vec![Value::Bytes(Bytes::from_static(b"local"))]);
    let (columns, rows) = decoded(t.execute(&p.id, &bound, false, v), v);
    assert_eq!(columns.len(), 2);
    assert_eq!(rows[0][1], Some(CqlValue::Inet(ip("10.0.0.2"))));
    // skip_metadata leaves the specs out but keeps the count.
    let Answer::Result(ResultBody::Rows(rows)) = t.execute(&p.id, &bound, true, v) else {
        panic!()
    };
    assert_eq!(rows.metadata.columns, None);
    assert_eq!(rows.metadata.column_count, 2);
    assert_eq!(t.execute(b"unknown id", &bound, false, v), Answer::Forward);
    assert_eq!(t.prepare("SELECT * FROM ks.t", None, v), Answer::Forward);
}

#[test]
fn schema_version_updates_every_row() {
    let t = tables();
    t.set_schema_version([9; 16]);
    let v = ProtocolVersion::V4;
    let (_, rows) = decoded(
        t.query(
            "SELECT schema_version FROM system.peers",
            None,
            &no_values(),
            v,
        ),
        v,
    );
    assert!(rows.iter().all(|r| r[0] == Some(CqlValue::Uuid([9; 16]))));
    assert_eq!(t.info().schema_version, [9; 16]);
}

#[test]
fn invalid_info_is_refused() {
    let mut info = tables().info();
    info.partitioner = "org.apache.cassandra.dht.ByteOrderedPartitioner".into();
    assert!(matches!(
        SystemTables::new(info.clone()),
        Err(SystemInfoError::Partitioner(_))
    ));
    info.partitioner = "Murmur3Partitioner".into();
    info.peers.push(info.local.clone());
    assert!(matches!(
        SystemTables::new(info.clone()),
        Err(SystemInfoError::DuplicateNode(..))
    ));
    info.peers.pop();
    info.tokens_per_node = 0;
    assert!(matches!(
        SystemTables::new(info),
        Err(SystemInfoError::TokensPerNode(0))
    ));
}

#[test]
fn count_and_unsupported_forms() {
    let t = tables();
    let v = ProtocolVersion::V4;
    let (columns, rows) = decoded(
        t.query(
            "SELECT count(*) FROM system.peers_v2",
            None,
            &no_values(),
            v,
        ),
        v,
    );
    assert_eq!(columns, vec![("count".to_owned(), ColumnType::Bigint)]);
    assert_eq!(rows, vec![vec![Some(CqlValue::Bigint(2))]]);
    let (_, rows) = decoded(
        t.query(
            "SELECT count(*) AS n FROM system.peers WHERE peer = '10.0.0.3'",
            None,
            &no_values(),
            v,
        ),
        v,
    );
    assert_eq!(rows, vec![vec![Some(CqlValue::Bigint(1))]]);
    // Never forwarded: the cluster would describe its replicas.
    let Answer::Error(e) = t.query(
        "SELECT max(rpc_port) FROM system.local",
        None,
        &no_values(),
        v,
    ) else {
        panic!()
    };
    assert_eq!(e.details, ErrorDetails::Invalid);
    assert!(
        e.message
            .starts_with("Ringgate answers system.local itself"),
        "{}",
        e.message
    );
}

#[test]
fn peers_on_one_address_are_told_apart_by_their_port() {
    // A tier on one address: each node's native port stands for its internode port, so the
    // primary key (peer, peer_port) names one node, as the Java driver looks a node up.
    let mut info = SystemInfo::new(
        RinggateNode::new(ip("127.0.0.1"), 9042, "dc1", "r1"),
        "ring",
    );
    info.peers = vec![
        RinggateNode::new(ip("127.0.0.1"), 9043, "dc1", "r1"),
        RinggateNode::new(ip("127.0.0.1"), 9044, "dc1", "r2"),
    ];
    let t = SystemTables::new(info).unwrap();
    let v = ProtocolVersion::V5;
    let named = |port: i32| {
        Values::Named(vec![
            (
                "address".into(),
                Value::Bytes(Bytes::from_static(&[127, 0, 0, 1])),
            ),
            (
                "port".into(),
                Value::Bytes(Bytes::copy_from_slice(&port.to_be_bytes())),
            ),
        ])
    };
    let refresh = "SELECT * FROM system.peers_v2 WHERE peer = :address and peer_port = :port";
    let (columns, rows) = decoded(t.query(refresh, None, &named(9044), v), v);
    let rack = columns.iter().position(|(n, _)| n == "rack").unwrap();
    let native_port = columns
        .iter()
        .position(|(n, _)| n == "native_port")
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][rack], Some(CqlValue::Text("r2".into())));
    assert_eq!(rows[0][native_port], Some(CqlValue::Int(9044)));
    let (_, rows) = decoded(t.query(refresh, None, &named(9042), v), v);
    assert!(rows.is_empty(), "the local node is not a peer");
    let (_, rows) = decoded(
        t.query(
            "SELECT broadcast_port, listen_port FROM system.local",
            None,
            &no_values(),
            v,
        ),
        v,
    );
    assert_eq!(
        rows,
        vec![vec![Some(CqlValue::Int(9042)), Some(CqlValue::Int(9042))]]
    );
    // Prepared, the two markers are bound in order; the first routes by the partition key.
    let Answer::Result(ResultBody::Prepared(prepared)) = t.prepare(refresh, None, v) else {
        panic!("prepared")
    };
    assert_eq!(prepared.metadata.columns.len(), 2);
    assert_eq!(prepared.metadata.pk_indexes, vec![0]);
    let positional = Values::Positional(vec![
        Value::Bytes(Bytes::from_static(&[127, 0, 0, 1])),
        Value::Bytes(Bytes::copy_from_slice(&9043i32.to_be_bytes())),
    ]);
    let (_, rows) = decoded(t.execute(&prepared.id, &positional, false, v), v);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][native_port], Some(CqlValue::Int(9043)));
}

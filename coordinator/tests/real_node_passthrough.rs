//! What survives the trip through a Ringgate node: clients of v3, v4 and v5 (the node speaks
//! v5 to the cluster, so v3/v4 answers are laid out again, v5's pass through as they came)
//! get the tracing id the replica recorded and the replica's warnings; a client's custom
//! payload reaches the replica intact; prepared statements run from the client's body route
//! by token (checked by the replicas' own traces); schema reads go to the control node.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ringgate::pool::{ConnectOptions, Connection, connect};
use ringgate::protocol::ProtocolVersion;
use ringgate::protocol::frame::{Envelope, Flags};
use ringgate::protocol::message::decode_response;
use ringgate::protocol::message::{
    Consistency, CustomPayload, Execute, Prepare, Prepared, Query, QueryParameters, Request,
    Response, ResponsePrefix, ResultBody, Value, put_request_prefix,
};
use ringgate::protocol::types::CqlValue;
use ringgate::request::{Coordinator, CoordinatorConfig, RequestOptions};
use ringgate::routing::murmur3_token;

const TIMEOUT: Duration = Duration::from_secs(20);

async fn client(addr: SocketAddr, version: ProtocolVersion) -> Connection {
    let options = ConnectOptions {
        max_version: version,
        ..ConnectOptions::default()
    };
    let (conn, handshake) = connect(addr, &options, None).await.unwrap();
    assert_eq!(handshake.version, version);
    conn
}

async fn send(
    conn: &Connection,
    request: &Request,
    flags: Flags,
    payload: Option<&CustomPayload>,
) -> (Envelope, ResponsePrefix, Response) {
    let mut body = BytesMut::new();
    let mut flags = flags;
    if let Some(payload) = payload {
        put_request_prefix(&mut body, payload).unwrap();
        flags = flags | Flags::CUSTOM_PAYLOAD;
    }
    request.encode(conn.version(), &mut body).unwrap();
    let envelope = conn
        .request(request.opcode(), flags, body.freeze(), TIMEOUT)
        .await
        .unwrap();
    let (prefix, response) = decode_response(&envelope).unwrap();
    if let Response::Error(e) = &response {
        panic!("{request:?} failed: {e:?}");
    }
    (envelope, prefix, response)
}

/// Prepares `cql` on `conn`.
async fn prepare(conn: &Connection, cql: &str) -> Box<Prepared> {
    match send(
        conn,
        &Request::Prepare(Prepare::new(cql)),
        Flags::empty(),
        None,
    )
    .await
    .2
    {
        Response::Result(ResultBody::Prepared(p)) => p,
        other => panic!("{other:?}"),
    }
}

/// An EXECUTE of `prepared` at LOCAL_ONE with `values`.
fn execute(prepared: &Prepared, values: Vec<Value>) -> Request {
    Request::Execute(Execute {
        id: prepared.id.clone(),
        result_metadata_id: prepared.result_metadata_id.clone(),
        params: QueryParameters::new(Consistency::LocalOne).with_values(values),
    })
}

fn query(cql: &str, values: Vec<Value>) -> Request {
    Request::Query(Query::new(
        cql,
        QueryParameters::new(Consistency::LocalOne).with_values(values),
    ))
}

/// The coordinator of a trace session, as the replicas recorded it (traces are written
/// asynchronously: waits for it).
async fn trace_coordinator(direct: &Coordinator, id: [u8; 16]) -> IpAddr {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rows = direct
            .query(
                "SELECT coordinator FROM system_traces.sessions WHERE session_id = ?",
                vec![CqlValue::Uuid(id)],
                &RequestOptions {
                    consistency: Some(Consistency::One),
                    ..RequestOptions::default()
                },
            )
            .await
            .unwrap()
            .rows()
            .unwrap();
        if let Some(row) = rows.first()
            && let Some(ip) = row.get::<Option<IpAddr>>(0).unwrap()
        {
            return ip;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "trace {id:02x?} never appeared in system_traces.sessions"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn direct() -> Coordinator {
    let mut config = CoordinatorConfig::new(vec![support::node_addr(1)]);
    config.local_dc = Some("dc1".into());
    Coordinator::connect(config)
        .await
        .unwrap_or_else(|e| panic!("cannot connect: {e}\n{}", support::log_tail(1, 40)))
}

async fn schema(direct: &Coordinator) {
    let opts = RequestOptions::default();
    direct
        .query(
            "CREATE KEYSPACE IF NOT EXISTS rg_pass WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'dc1': 1}",
            (),
            &opts,
        )
        .await
        .unwrap();
    direct
        .query(
            "CREATE TABLE IF NOT EXISTS rg_pass.kv (k int PRIMARY KEY, v int)",
            (),
            &opts,
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracing_ids_and_warnings_reach_clients_of_every_version() {
    let direct = direct().await;
    schema(&direct).await;
    let node = support::ringgate_node().await;
    for version in [
        ProtocolVersion::V3,
        ProtocolVersion::V4,
        ProtocolVersion::V5,
    ] {
        let conn = client(node, version).await;
        // An aggregate over the whole table: Cassandra warns, and the request is traced.
        let cql = "SELECT count(*) FROM rg_pass.kv";
        let (envelope, prefix, response) =
            send(&conn, &query(cql, Vec::new()), Flags::TRACING, None).await;
        assert!(matches!(response, Response::Result(ResultBody::Rows(_))));
        let id = prefix.tracing_id.expect("a tracing id");
        assert!(
            envelope.header.flags.contains(Flags::TRACING),
            "{version:?}"
        );
        // The id is the replica's own trace session.
        let coordinator = trace_coordinator(&direct, id).await;
        assert!(
            [1u8, 2, 3]
                .map(|n| support::node_addr(n).ip())
                .contains(&coordinator),
            "{coordinator}"
        );
        if version >= ProtocolVersion::V4 {
            let warnings = prefix.warnings.unwrap_or_default();
            assert!(
                warnings
                    .iter()
                    .any(|w| w.contains("Aggregation query used without partition key")),
                "{version:?}: {warnings:?}"
            );
            assert!(envelope.header.flags.contains(Flags::WARNING));
        } else {
            // v3 has no warnings in its responses.
            assert!(prefix.warnings.is_none());
            assert!(!envelope.header.flags.contains(Flags::WARNING));
        }

        // The same through a prepared statement (sent on as the client's body in v5, laid
        // out again for v3/v4 clients).
        let prepared = prepare(&conn, cql).await;
        let execute = execute(&prepared, Vec::new());
        let (envelope, prefix, _) = send(&conn, &execute, Flags::TRACING, None).await;
        assert!(prefix.tracing_id.is_some(), "{version:?}");
        assert_eq!(
            prefix.warnings.is_some(),
            version >= ProtocolVersion::V4,
            "{version:?}: {envelope:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_payloads_reach_the_replica_intact() {
    schema(&direct().await).await;
    let node = support::ringgate_node().await;
    for version in [ProtocolVersion::V4, ProtocolVersion::V5] {
        let conn = client(node, version).await;
        // A payload the replica must parse before the message: a corrupted prefix would make
        // the message itself unreadable.
        let payload: CustomPayload = vec![
            ("ringgate".into(), Some(Bytes::from_static(b"\x00\x01\x02"))),
            ("empty".into(), Some(Bytes::new())),
        ];
        let (_, _, response) = send(
            &conn,
            &query("SELECT release_version FROM system.local", Vec::new()),
            Flags::empty(),
            Some(&payload),
        )
        .await;
        assert!(matches!(response, Response::Result(ResultBody::Rows(_))));
        let (_, _, response) = send(
            &conn,
            &query("SELECT k FROM rg_pass.kv WHERE k = 1", Vec::new()),
            Flags::empty(),
            Some(&payload),
        )
        .await;
        assert!(
            matches!(response, Response::Result(ResultBody::Rows(_))),
            "{version:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_from_clients_bodies_route_by_token() {
    let direct = direct().await;
    schema(&direct).await;
    let node = support::ringgate_node().await;
    for version in [ProtocolVersion::V4, ProtocolVersion::V5] {
        let conn = client(node, version).await;
        let prepared = prepare(&conn, "SELECT v FROM rg_pass.kv WHERE k = ?").await;
        let mut traces = Vec::new();
        for k in 0..40i32 {
            let execute = execute(&prepared, vec![Value::from(k.to_be_bytes().to_vec())]);
            let (_, prefix, _) = send(&conn, &execute, Flags::TRACING, None).await;
            traces.push((k, prefix.tracing_id.expect("a tracing id")));
        }
        for (k, id) in traces {
            let want = support::dc1_owner(murmur3_token(&k.to_be_bytes()));
            assert_eq!(
                trace_coordinator(&direct, id).await,
                want,
                "{version:?} key {k}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_reads_go_to_the_control_node() {
    let direct = direct().await;
    schema(&direct).await;
    let node = support::ringgate_node().await;
    // The node's control connection is on its first contact point, node 1.
    let control = support::node_addr(1).ip();
    let conn = client(node, ProtocolVersion::V5).await;
    let cql = "SELECT keyspace_name, table_name FROM system_schema.tables";
    let prepared = prepare(&conn, cql).await;
    let mut traces = Vec::new();
    for _ in 0..10 {
        let (_, prefix, _) = send(&conn, &query(cql, Vec::new()), Flags::TRACING, None).await;
        traces.push(prefix.tracing_id.expect("a tracing id"));
        let execute = execute(&prepared, Vec::new());
        let (_, prefix, _) = send(&conn, &execute, Flags::TRACING, None).await;
        traces.push(prefix.tracing_id.expect("a tracing id"));
    }
    for id in traces {
        assert_eq!(trace_coordinator(&direct, id).await, control);
    }
    // Other reads without a key are spread over the local DC: not all on the control node.
    let mut elsewhere = 0;
    for _ in 0..20 {
        let (_, prefix, _) = send(
            &conn,
            &query("SELECT k FROM rg_pass.kv LIMIT 1", Vec::new()),
            Flags::TRACING,
            None,
        )
        .await;
        if trace_coordinator(&direct, prefix.tracing_id.unwrap()).await != control {
            elsewhere += 1;
        }
    }
    assert!(elsewhere > 0, "every keyless read ran on the control node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_is_restated_over_ringgates_nodes_and_described_as_it_is() {
    let direct = direct().await;
    schema(&direct).await;
    direct
        .query(
            "CREATE KEYSPACE IF NOT EXISTS rg_pass_two WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}",
            (),
            &RequestOptions::default(),
        )
        .await
        .unwrap();
    let node = support::ringgate_node().await;
    for version in [ProtocolVersion::V4, ProtocolVersion::V5] {
        let conn = client(node, version).await;
        let (_, _, response) = send(
            &conn,
            &query(
                "SELECT keyspace_name, replication FROM system_schema.keyspaces",
                Vec::new(),
            ),
            Flags::empty(),
            None,
        )
        .await;
        let Response::Result(ResultBody::Rows(rows)) = response else {
            panic!("{response:?}")
        };
        let columns = rows.metadata.columns.clone().unwrap();
        let mut seen = std::collections::BTreeMap::new();
        for row in rows.rows().unwrap() {
            let row = row.unwrap();
            let name = row.decode(0, &columns[0].typ, version).unwrap();
            let replication = row.decode(1, &columns[1].typ, version).unwrap();
            if let (Some(CqlValue::Text(name)), Some(CqlValue::Map(entries))) = (name, replication)
            {
                let text = |v: &CqlValue| match v {
                    CqlValue::Text(s) => s.clone(),
                    other => panic!("{other:?}"),
                };
                seen.insert(
                    name,
                    entries
                        .iter()
                        .map(|(k, v)| (text(k), text(v)))
                        .collect::<std::collections::BTreeMap<_, _>>(),
                );
            }
        }
        let nts = "org.apache.cassandra.locator.NetworkTopologyStrategy";
        // The node is one Ringgate node in dc1: every keyspace has one replica there.
        for keyspace in ["rg_pass", "rg_pass_two"] {
            let replication = &seen[keyspace];
            assert_eq!(replication.get("class").map(String::as_str), Some(nts));
            assert_eq!(
                replication.get("dc1").map(String::as_str),
                Some("1"),
                "{version:?} {keyspace}: {replication:?}"
            );
            assert_eq!(
                replication.len(),
                2,
                "{version:?} {keyspace}: {replication:?}"
            );
        }
        // Local keyspaces stay as they are.
        assert!(seen["system"]["class"].ends_with("LocalStrategy"));

        // What the cluster describes is the truth.
        let (_, _, response) = send(
            &conn,
            &query("DESCRIBE KEYSPACE rg_pass_two", Vec::new()),
            Flags::empty(),
            None,
        )
        .await;
        let Response::Result(ResultBody::Rows(rows)) = response else {
            panic!("{response:?}")
        };
        let columns = rows.metadata.columns.clone().unwrap();
        let create = rows
            .rows()
            .unwrap()
            .filter_map(|row| {
                let row = row.unwrap();
                let i = columns.iter().position(|c| c.name == "create_statement")?;
                match row.decode(i, &columns[i].typ, version).unwrap() {
                    Some(CqlValue::Text(t)) => Some(t),
                    _ => None,
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            create.contains("'dc1': '2'") && create.contains("'dc2': '1'"),
            "{create}"
        );
    }
}

//! A session's keyspace (after `USE`) through a Ringgate node, whatever the protocol version
//! between the node and the cluster: v5 carries it in each request, v4 has no place for it
//! (the node runs those requests on connections bound to the keyspace, `request::keyspaced`).
//! Cassandra resolves much more than table names against it — user types in column
//! definitions and literals, index and function names, `DESCRIBE TABLES` — so every such
//! statement runs unqualified, in two sessions of two keyspaces at once, with the `scylla`
//! crate (a v4 client) as the driver. A v5 client's own per-request keyspace reaches a v4
//! cluster the same way.
//!
//! Runs against the instance `RINGGATE_CLUSTER_ID` names (the `two-dc` cluster, or one node of
//! Cassandra 4.1 for `make cassandra-4.1`).

mod support;

use std::net::SocketAddr;

use ringgate::protocol::ProtocolVersion;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;

/// A driver session through the node at `addr`, in `keyspace`.
async fn session_in(addr: SocketAddr, keyspace: &str) -> Session {
    SessionBuilder::new()
        .known_node_addr(addr)
        .use_keyspace(keyspace, false)
        .build()
        .await
        .unwrap_or_else(|e| panic!("a session in {keyspace} through {addr}: {e}"))
}

/// Runs `cql` in `session`, panicking with the statement on failure.
async fn run(session: &Session, cql: &str) -> Vec<scylla::value::Row> {
    let result = session
        .query_unpaged(cql, ())
        .await
        .unwrap_or_else(|e| panic!("{cql}: {e}"));
    match result.into_rows_result() {
        Ok(rows) => rows
            .rows::<scylla::value::Row>()
            .unwrap_or_else(|e| panic!("{cql}: {e}"))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{cql}: {e}")),
        Err(_) => Vec::new(),
    }
}

/// The text of a row's cell, for assertions.
fn text(row: &scylla::value::Row, i: usize) -> String {
    match row.columns.get(i) {
        Some(Some(scylla::value::CqlValue::Text(t))) => t.clone(),
        other => format!("{other:?}"),
    }
}

async fn statements_in_the_sessions_keyspace(cluster_version: ProtocolVersion) {
    let addr =
        support::ringgate_node_with(|config| config.connect.max_version = cluster_version).await;
    let tag = cluster_version as u8;
    let keyspaces = [format!("rg_ks{tag}_a"), format!("rg_ks{tag}_b")];
    // The keyspaces themselves, named in full, through a session that names none.
    let plain = SessionBuilder::new()
        .known_node_addr(addr)
        .build()
        .await
        .expect("a session through the node");
    for ks in &keyspaces {
        run(&plain, &format!("DROP KEYSPACE IF EXISTS {ks}")).await;
        run(
            &plain,
            &format!(
                "CREATE KEYSPACE {ks} WITH replication = {}",
                support::replication()
            ),
        )
        .await;
    }
    let a = session_in(addr, &keyspaces[0]).await;
    let b = session_in(addr, &keyspaces[1]).await;
    for (session, name) in [(&a, "a"), (&b, "b")] {
        for ddl in [
            "CREATE TYPE pt (x int, y int)",
            "CREATE TABLE t (k int PRIMARY KEY, v text, p frozen<pt>)",
            "CREATE INDEX t_v ON t (v)",
            "CREATE FUNCTION twice (i int) RETURNS NULL ON NULL INPUT RETURNS int \
             LANGUAGE java AS 'return i * 2;'",
        ] {
            run(session, ddl).await;
        }
        run(
            session,
            &format!("INSERT INTO t (k, v, p) VALUES (21, '{name}', {{x: 1, y: 2}})"),
        )
        .await;
    }
    // Interleaved, the same texts land in each session's own keyspace.
    for _ in 0..3 {
        for (session, name) in [(&a, "a"), (&b, "b")] {
            let rows = run(session, "SELECT v, twice(k), p FROM t WHERE k = 21").await;
            assert_eq!(rows.len(), 1, "{name}");
            assert_eq!(text(&rows[0], 0), name);
            assert_eq!(
                rows[0].columns[1],
                Some(scylla::value::CqlValue::Int(42)),
                "the keyspace's function"
            );
            let by_index = run(
                session,
                &format!("SELECT k FROM t WHERE v = '{name}' ALLOW FILTERING"),
            )
            .await;
            assert_eq!(by_index.len(), 1, "{name}: the keyspace's index");
            let prepared = session
                .prepare("SELECT v FROM t WHERE k = ?")
                .await
                .unwrap_or_else(|e| panic!("{name}: prepare: {e}"));
            let (v,): (String,) = session
                .execute_unpaged(&prepared, (21,))
                .await
                .unwrap()
                .into_rows_result()
                .unwrap()
                .single_row()
                .unwrap();
            assert_eq!(v, name, "the prepared statement's keyspace");
        }
    }
    // Server-side DESCRIBE lists the session keyspace's tables only.
    for (session, ks) in [(&a, &keyspaces[0]), (&b, &keyspaces[1])] {
        let described = run(session, "DESCRIBE TABLES").await;
        assert!(!described.is_empty(), "{ks}");
        assert!(
            described.iter().all(|row| text(row, 0) == *ks),
            "{ks}: {described:?}"
        );
        run(session, "DROP INDEX t_v").await;
        run(session, "DROP FUNCTION twice").await;
    }
    for ks in &keyspaces {
        run(&plain, &format!("DROP KEYSPACE {ks}")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_run_in_the_sessions_keyspace_over_a_v4_cluster() {
    statements_in_the_sessions_keyspace(ProtocolVersion::V4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_run_in_the_sessions_keyspace_over_a_v5_cluster() {
    statements_in_the_sessions_keyspace(ProtocolVersion::V5).await;
}

/// A v5 client's own per-request keyspace (QUERY, PREPARE and BATCH flags) reaches a cluster
/// spoken to in v4 too: the node runs those requests on keyspace-bound connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v5_clients_per_request_keyspace_reaches_a_v4_cluster() {
    use ringgate::protocol::frame::Flags;
    use ringgate::protocol::message::{
        Batch, BatchQuery, BatchStatement, BatchType, Consistency, Prepare, Query, QueryParameters,
        Request, Response, ResultBody, Value,
    };

    let addr =
        support::ringgate_node_with(|config| config.connect.max_version = ProtocolVersion::V4)
            .await;
    let ks = "rg_ks_v5_client";
    let plain = SessionBuilder::new()
        .known_node_addr(addr)
        .build()
        .await
        .expect("a session through the node");
    run(&plain, &format!("DROP KEYSPACE IF EXISTS {ks}")).await;
    run(
        &plain,
        &format!(
            "CREATE KEYSPACE {ks} WITH replication = {}",
            support::replication()
        ),
    )
    .await;
    run(
        &plain,
        &format!("CREATE TABLE {ks}.t (k int PRIMARY KEY, v text)"),
    )
    .await;

    let (conn, _) = ringgate::pool::connect(addr, &ringgate::pool::ConnectOptions::default(), None)
        .await
        .expect("a v5 client of the node");
    assert_eq!(conn.version(), ProtocolVersion::V5);
    let ask = |request: Request| {
        let conn = conn.clone();
        async move {
            let mut body = bytes::BytesMut::new();
            request.encode(conn.version(), &mut body).unwrap();
            let answer = conn
                .request(
                    request.opcode(),
                    Flags::empty(),
                    body.freeze(),
                    std::time::Duration::from_secs(20),
                )
                .await
                .unwrap();
            ringgate::protocol::message::decode_response(&answer)
                .unwrap()
                .1
        }
    };
    let in_ks = || QueryParameters::new(Consistency::LocalQuorum).with_keyspace(ks);
    let text = |v: &str| Value::Bytes(bytes::Bytes::copy_from_slice(v.as_bytes()));
    let int = |n: i32| Value::Bytes(bytes::Bytes::copy_from_slice(&n.to_be_bytes()));

    let answer = ask(Request::Query(Query::new(
        "INSERT INTO t (k, v) VALUES (1, 'query')",
        in_ks(),
    )))
    .await;
    assert!(
        matches!(answer, Response::Result(ResultBody::Void)),
        "{answer:?}"
    );
    let answer = ask(Request::Batch(Batch {
        batch_type: BatchType::Logged,
        statements: vec![BatchStatement {
            query: BatchQuery::Query("INSERT INTO t (k, v) VALUES (?, ?)".into()),
            values: vec![int(2), text("batch")],
        }],
        consistency: Consistency::LocalQuorum,
        serial_consistency: None,
        timestamp: None,
        keyspace: Some(ks.into()),
        now_in_seconds: None,
    }))
    .await;
    assert!(
        matches!(answer, Response::Result(ResultBody::Void)),
        "{answer:?}"
    );
    let Response::Result(ResultBody::Prepared(prepared)) = ask(Request::Prepare(Prepare {
        query: "SELECT v FROM t WHERE k = ?".into(),
        keyspace: Some(ks.into()),
    }))
    .await
    else {
        panic!("prepared in the keyspace");
    };
    assert!(prepared.result_metadata_id.is_some(), "v5 needs one");
    for (k, want) in [(1, "query"), (2, "batch")] {
        let execute = Request::Execute(ringgate::protocol::message::Execute::new(
            prepared.id.clone(),
            prepared.result_metadata_id.clone(),
            QueryParameters::new(Consistency::LocalQuorum).with_values(vec![int(k)]),
        ));
        let Response::Result(ResultBody::Rows(rows)) = ask(execute).await else {
            panic!("rows for {k}");
        };
        let row = rows.rows().unwrap().next().unwrap().unwrap();
        let cell = row.cells().next().unwrap();
        assert_eq!(
            cell,
            ringgate::protocol::primitives::RawValue::Bytes(want.as_bytes()),
            "{k}"
        );
    }
    run(&plain, &format!("DROP KEYSPACE {ks}")).await;
}

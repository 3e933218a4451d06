//! 10,000 concurrent requests through the pools to the real cluster, with mixed timeouts:
//! every answered request gets its own row (checked by content), and once the late answers
//! are in, no stream id is left claimed.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use ringgate::pool::{
    ConnectOptions, Connection, ConnectionError, Health, LoginAs, PoolConfig, Pools,
};
use ringgate::protocol::frame::Flags;
use ringgate::protocol::message::{
    Consistency, Query, QueryParameters, Request, Response, ResultBody, Value,
};
use ringgate::protocol::types::{CqlValue, decode_cell};
use ringgate::protocol::{Opcode, ProtocolVersion};
use support::node_addr;

const ROWS: i32 = 500;
const REQUESTS: usize = 10_000;

fn read_body(k: i32, version: ProtocolVersion) -> bytes::Bytes {
    let params = QueryParameters::new(Consistency::One)
        .with_values(vec![Value::from(k.to_be_bytes().to_vec())]);
    let q = Request::Query(Query::new(
        "SELECT v FROM rg_pool_load.kv WHERE k = ?",
        params,
    ));
    let mut b = BytesMut::new();
    q.encode(version, &mut b).unwrap();
    b.freeze()
}

fn value_of(conn: &Connection, envelope: &ringgate::protocol::frame::Envelope) -> String {
    let response =
        Response::decode(envelope.header.opcode, &envelope.body, conn.version()).unwrap();
    let Response::Result(ResultBody::Rows(rows)) = response else {
        panic!("expected rows, got {response:?}");
    };
    let columns = rows.metadata.columns.clone().unwrap();
    let row = rows.rows().unwrap().next().expect("one row").unwrap();
    let cell = row.cells().next().unwrap();
    match decode_cell(&columns[0].typ, cell, conn.version()).unwrap() {
        Some(CqlValue::Text(s)) => s,
        other => panic!("unexpected cell {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_requests_with_mixed_timeouts() {
    let session = support::session().await;
    session
        .query_unpaged(
            "CREATE KEYSPACE IF NOT EXISTS rg_pool_load WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}",
            (),
        )
        .await
        .unwrap();
    session
        .query_unpaged(
            "CREATE TABLE IF NOT EXISTS rg_pool_load.kv (k int PRIMARY KEY, v text)",
            (),
        )
        .await
        .unwrap();
    let insert = session
        .prepare("INSERT INTO rg_pool_load.kv (k, v) VALUES (?, ?)")
        .await
        .unwrap();
    for k in 0..ROWS {
        session
            .execute_unpaged(&insert, (k, format!("value-{k}")))
            .await
            .unwrap();
    }

    let config = PoolConfig {
        connections_per_node: 2,
        ..PoolConfig::default()
    };
    let pools = Arc::new(Pools::new(ConnectOptions::default(), config));
    let mut conns = Vec::new();
    for n in 1..=3 {
        let pool = pools.pool(node_addr(n), &LoginAs::Service).unwrap();
        let mut health = pool.watch_health();
        tokio::time::timeout(
            Duration::from_secs(20),
            health.wait_for(|h| *h == Health::Up),
        )
        .await
        .unwrap()
        .unwrap();
        while pool.open_connections() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        conns.push(pool);
    }

    let mut tasks = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let pool = Arc::clone(&conns[i % 3]);
        let k = (i as i32 * 7919) % ROWS;
        // One request in five gets a timeout too short to be met.
        let timeout = if i % 5 == 0 {
            Duration::from_micros(200)
        } else {
            Duration::from_secs(30)
        };
        tasks.push(tokio::spawn(async move {
            let conn = pool.connection().expect("an open connection");
            let body = read_body(k, conn.version());
            match conn
                .request(Opcode::Query, Flags::empty(), body, timeout)
                .await
            {
                Ok(envelope) => {
                    assert_eq!(
                        value_of(&conn, &envelope),
                        format!("value-{k}"),
                        "request {i} got another's row"
                    );
                    true
                }
                Err(ConnectionError::Timeout { .. }) => false,
                Err(e) => panic!("request {i}: {e}"),
            }
        }));
    }
    let mut answered = 0;
    for t in tasks {
        answered += usize::from(t.await.unwrap());
    }
    assert!(answered >= REQUESTS * 3 / 4, "only {answered} answered");

    // Late answers to the timed-out requests arrive and free their ids.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let claimed: usize = conns.iter().map(|p| p.in_flight().0).sum();
        if claimed == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{claimed} stream ids still claimed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (pools_n, open) = pools.stats();
    assert_eq!((pools_n, open), (3, 6), "sockets are nodes × pool size");
}

//! The request API against the real `two-dc` cluster: DDL waits for schema agreement,
//! prepared statements execute on a local-DC replica of their key, rows come back typed.

mod support;

use std::net::SocketAddr;

use ringgate::protocol::message::Consistency;
use ringgate::protocol::types::CqlValue;
use ringgate::request::{Coordinator, CoordinatorConfig, RequestOptions};
use ringgate_routing::murmur3_token;
use support::node_addr;

async fn coordinator() -> Coordinator {
    let mut config = CoordinatorConfig::new(vec![node_addr(1), node_addr(2)]);
    config.local_dc = Some("dc1".into());
    Coordinator::connect(config)
        .await
        .unwrap_or_else(|e| panic!("cannot connect: {e}\n{}", support::log_tail(1, 40)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_run_on_a_local_replica_and_read_back() {
    let c = coordinator().await;
    let opts = RequestOptions::default();
    c.query(
        "CREATE KEYSPACE IF NOT EXISTS rg_request WITH replication = \
         {'class': 'NetworkTopologyStrategy', 'dc1': 1, 'dc2': 1}",
        (),
        &opts,
    )
    .await
    .unwrap();
    c.query(
        "CREATE TABLE IF NOT EXISTS rg_request.kv (k text PRIMARY KEY, v bigint)",
        (),
        &opts,
    )
    .await
    .unwrap();
    // The view follows the DDL through events; give it the keyspace before routing on it.
    let mut rx = c.cluster().subscribe();
    while c.cluster().view().placement("rg_request").is_none() {
        tokio::time::timeout(std::time::Duration::from_secs(15), rx.changed())
            .await
            .expect("the view learns the keyspace")
            .unwrap();
    }

    let insert = c
        .prepare("INSERT INTO rg_request.kv (k, v) VALUES (?, ?)")
        .await
        .unwrap();
    assert_eq!(insert.pk_indexes, vec![0]);
    assert_eq!(insert.keyspace.as_deref(), Some("rg_request"));
    let select = c
        .prepare("SELECT k, v FROM rg_request.kv WHERE k = ?")
        .await
        .unwrap();

    let view = c.cluster().view();
    let placement = view.placement("rg_request").unwrap();
    let one = RequestOptions {
        consistency: Some(Consistency::LocalOne),
        ..RequestOptions::default()
    };
    for i in 0..50i64 {
        let key = format!("key-{i}");
        let r = c
            .execute(
                &insert,
                vec![Some(CqlValue::Text(key.clone())), Some(CqlValue::Bigint(i))],
                &one,
            )
            .await
            .unwrap();
        // dc1 has one replica of each key: the request went exactly there.
        let replicas: Vec<SocketAddr> = view
            .replicas(placement, murmur3_token(key.as_bytes()))
            .collect();
        let local: Vec<SocketAddr> = replicas
            .iter()
            .copied()
            .filter(|a| view.node(a).is_some_and(|n| n.dc == "dc1"))
            .collect();
        assert_eq!(
            vec![r.node],
            local,
            "{key}: routed to {} (replicas {replicas:?})",
            r.node
        );

        let rows = c
            .execute(&select, vec![Some(CqlValue::Text(key.clone()))], &one)
            .await
            .unwrap()
            .rows()
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get_by_name::<String>("k").unwrap(), key);
        assert_eq!(rows[0].get::<i64>(1).unwrap(), i);
    }

    // Unprepared QUERY with values, and a server error carrying its code.
    let rows = c
        .query(
            "SELECT v FROM rg_request.kv WHERE k = ?",
            vec![CqlValue::Text("key-7".into())],
            &one,
        )
        .await
        .unwrap()
        .rows()
        .unwrap();
    assert_eq!(rows[0].get::<Option<i64>>(0).unwrap(), Some(7));
    let err = c
        .query("SELECT nope FROM rg_request.kv", (), &opts)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(0x2200), "{err}");
}

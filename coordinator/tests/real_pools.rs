//! Pools against the real cluster: one pool per (node, identity), filled to the configured
//! size, serving requests, and closed when their node leaves.

mod support;

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use ringgate::pool::{ConnectOptions, Credentials, Health, LoginAs, PoolConfig, Pools};
use ringgate::protocol::frame::Flags;
use ringgate::protocol::{Opcode, primitives};
use support::node_addr;

async fn wait_up(pools: &Pools, addr: std::net::SocketAddr, identity: &LoginAs, open: usize) {
    let pool = pools.pool(addr, identity).expect("a pool");
    let mut health = pool.watch_health();
    tokio::time::timeout(
        Duration::from_secs(20),
        health.wait_for(|h| *h == Health::Up),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{addr} never came up: {:?}\n{}",
            pool.health(),
            support::log_tail(1, 30)
        )
    })
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while pool.open_connections() < open {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr}: only {} connections",
            pool.open_connections()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pool_per_node_and_identity() {
    let config = PoolConfig {
        connections_per_node: 3,
        ..PoolConfig::default()
    };
    let pools = Pools::new(ConnectOptions::default(), config);
    let alice = LoginAs::User("alice".into());
    assert!(
        pools.pool(node_addr(1), &alice).is_none(),
        "unknown users get no pool"
    );
    pools.register_user(Credentials {
        username: "alice".into(),
        password: "secret".into(),
    });

    for n in 1..=3 {
        wait_up(&pools, node_addr(n), &LoginAs::Service, 3).await;
    }
    wait_up(&pools, node_addr(1), &alice, 3).await;
    assert_eq!(
        pools.stats(),
        (4, 12),
        "3 service pools + alice's, 3 connections each"
    );

    // The same pool comes back for the same key.
    let a = pools.pool(node_addr(1), &alice).unwrap();
    let b = pools.pool(node_addr(1), &alice).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));

    // A request through a pooled connection.
    let conn = a.connection().expect("an open connection");
    let mut body = BytesMut::new();
    primitives::put_long_string(&mut body, "SELECT key FROM system.local").unwrap();
    body.put_u16(1);
    body.put_u32(0); // the default handshake settles v5: [int] flags
    let response = conn
        .request(
            Opcode::Query,
            Flags::empty(),
            body.freeze(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(response.header.opcode, Opcode::Result);

    // A changed password replaces alice's pools; the same password does not.
    pools.register_user(Credentials {
        username: "alice".into(),
        password: "secret".into(),
    });
    assert_eq!(pools.stats().0, 4);
    pools.register_user(Credentials {
        username: "alice".into(),
        password: "other".into(),
    });
    assert_eq!(pools.stats().0, 3);

    pools.remove_node(node_addr(2));
    assert_eq!(pools.stats().0, 2);
    assert_eq!(pools.health(node_addr(2)), None);
    assert_eq!(pools.health(node_addr(3)), Some(Health::Up));
}

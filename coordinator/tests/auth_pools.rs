//! Authentication against a real PasswordAuthenticator node (`scripts/cluster up --nodes 1
//! --topology one-dc --auth`; the test command's auth phase): clear errors for missing and
//! wrong credentials, and one pool per user whose connections Cassandra itself lists under
//! that user.

mod support;

use std::time::Duration;

use ringgate::pool::{
    ConnectError, ConnectOptions, Credentials, Health, LoginAs, PoolConfig, Pools, connect,
};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use support::node_addr;

fn superuser() -> Credentials {
    Credentials {
        username: "cassandra".into(),
        password: "cassandra".into(),
    }
}

async fn admin_session() -> Session {
    SessionBuilder::new()
        .known_node_addr(node_addr(1))
        .user("cassandra", "cassandra")
        .build()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot log in as cassandra (is the auth cluster up?): {e}\n{}",
                support::log_tail(1, 50)
            )
        })
}

#[tokio::test]
async fn missing_or_wrong_credentials_are_clear_authentication_errors() {
    let none = connect(node_addr(1), &ConnectOptions::default(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&none, ConnectError::Authentication { error, .. } if error.message.contains("requires authentication")),
        "{none}"
    );
    assert!(!none.is_retryable());

    let wrong = ConnectOptions {
        credentials: Some(Credentials {
            username: "cassandra".into(),
            password: "nope".into(),
        }),
        ..ConnectOptions::default()
    };
    let err = connect(node_addr(1), &wrong, None).await.unwrap_err();
    assert!(
        matches!(&err, ConnectError::Authentication { error, .. } if error.message.contains("incorrect")),
        "{err}"
    );

    let right = ConnectOptions {
        credentials: Some(superuser()),
        ..ConnectOptions::default()
    };
    let (conn, handshake) = connect(node_addr(1), &right, None).await.unwrap();
    assert_eq!(
        handshake.authenticator.as_deref(),
        Some("org.apache.cassandra.auth.PasswordAuthenticator")
    );
    conn.close("done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_user_gets_its_own_pool_logged_in_as_that_user() {
    let admin = admin_session().await;
    admin
        .query_unpaged(
            "CREATE ROLE IF NOT EXISTS rg_alice WITH PASSWORD = 'alice-pw' AND LOGIN = true",
            (),
        )
        .await
        .unwrap();

    let config = PoolConfig {
        connections_per_node: 2,
        ..PoolConfig::default()
    };
    let service = ConnectOptions {
        credentials: Some(superuser()),
        ..ConnectOptions::default()
    };
    let pools = Pools::new(service, config);
    pools.register_user(Credentials {
        username: "rg_alice".into(),
        password: "alice-pw".into(),
    });
    let alice = LoginAs::User("rg_alice".into());
    for identity in [&LoginAs::Service, &alice] {
        let pool = pools.pool(node_addr(1), identity).unwrap();
        let mut health = pool.watch_health();
        tokio::time::timeout(
            Duration::from_secs(20),
            health.wait_for(|h| *h == Health::Up),
        )
        .await
        .unwrap_or_else(|_| panic!("{identity:?}: {:?}", pool.health()))
        .unwrap();
        while pool.open_connections() < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(pools.stats(), (2, 4));

    // Cassandra's own list of client connections: two logged in as rg_alice, from Ringgate.
    let rows = admin
        .query_unpaged("SELECT username, driver_name FROM system_views.clients", ())
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let mut alice_conns = 0;
    for row in rows.rows::<(Option<String>, Option<String>)>().unwrap() {
        let (user, driver) = row.unwrap();
        if user.as_deref() == Some("rg_alice") {
            assert_eq!(driver.as_deref(), Some("Ringgate"));
            alice_conns += 1;
        }
    }
    assert_eq!(
        alice_conns, 2,
        "alice's pool holds two connections logged in as rg_alice"
    );

    // A wrong password for a user: that user's pool stays down with the node's reason.
    pools.register_user(Credentials {
        username: "rg_alice".into(),
        password: "wrong".into(),
    });
    let pool = pools.pool(node_addr(1), &alice).unwrap();
    let mut health = pool.watch_health();
    let down = tokio::time::timeout(
        Duration::from_secs(20),
        health.wait_for(|h| matches!(h, Health::Down(_))),
    )
    .await
    .unwrap()
    .unwrap()
    .clone();
    assert!(
        matches!(&down, Health::Down(m) if m.contains("authentication failed")),
        "{down:?}"
    );
}

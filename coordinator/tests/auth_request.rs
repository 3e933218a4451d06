//! Users on a PasswordAuthenticator node (the test command's auth phase: `scripts/cluster up
//! --nodes 1 --topology one-dc --auth`): a login session runs every request as its user, so
//! Cassandra applies that user's permissions — through the request API and through the
//! `ringgate` node, whose clients log in with their own credentials or with tokens that stand
//! for cluster roles.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ringgate::pool::Credentials;
use ringgate::protocol::types::CqlValue;
use ringgate::request::{Coordinator, RequestError, RequestOptions};
use ringgate::server::{AuthenticatedUser, IssuedTokens, TokenAuthenticator};

/// A keyspace with a row, and a user who may only read it.
async fn reader(c: &Coordinator) {
    let o = RequestOptions::default();
    for cql in [
        "CREATE KEYSPACE IF NOT EXISTS rg_auth WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
        "CREATE TABLE IF NOT EXISTS rg_auth.kv (k int PRIMARY KEY, v text)",
        "INSERT INTO rg_auth.kv (k, v) VALUES (1, 'secret')",
        "CREATE ROLE IF NOT EXISTS rg_reader WITH PASSWORD = 'reader-pw' AND LOGIN = true",
        "GRANT SELECT ON KEYSPACE rg_auth TO rg_reader",
    ] {
        c.query(cql, (), &o)
            .await
            .unwrap_or_else(|e| panic!("{cql}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sessions_run_as_their_user() {
    let c = support::auth_admin().await;
    reader(&c).await;
    let o = RequestOptions::default();

    let wrong = c.login("rg_reader", "nope").await.unwrap_err();
    assert!(
        matches!(&wrong, RequestError::Authentication { error, .. } if error.message.contains("incorrect")),
        "{wrong}"
    );

    let user = c.login("rg_reader", "reader-pw").await.unwrap();
    assert_eq!(
        user.identity(),
        &ringgate::pool::LoginAs::User("rg_reader".into())
    );
    let rows = user
        .query("SELECT v FROM rg_auth.kv WHERE k = 1", (), &o)
        .await
        .unwrap()
        .rows()
        .unwrap();
    assert_eq!(rows[0].get::<String>(0).unwrap(), "secret");
    // The user may not write; the coordinator's own identity may.
    let denied = user
        .query("INSERT INTO rg_auth.kv (k, v) VALUES (2, 'x')", (), &o)
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Some(0x2100), "Unauthorized: {denied}");
    let insert = user
        .prepare("INSERT INTO rg_auth.kv (k, v) VALUES (?, ?)")
        .await
        .unwrap();
    let denied = user
        .execute(
            &insert,
            vec![CqlValue::Int(2), CqlValue::Text("x".into())],
            &o,
        )
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Some(0x2100), "{denied}");
    c.execute(
        &insert,
        vec![CqlValue::Int(2), CqlValue::Text("x".into())],
        &o,
    )
    .await
    .unwrap();

    // Cassandra itself lists the user's connections under its name.
    let clients = c
        .query("SELECT username FROM system_views.clients", (), &o)
        .await
        .unwrap()
        .rows()
        .unwrap();
    assert!(
        clients
            .iter()
            .any(|r| r.get::<Option<String>>(0).unwrap().as_deref() == Some("rg_reader")),
        "no connection logged in as rg_reader"
    );
}

const SCRIPT: &str = r#"
import sys
from cassandra.cluster import Cluster
from cassandra.auth import PlainTextAuthProvider
from cassandra import Unauthorized
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cluster = Cluster(["127.0.0.1"], port=port, auth_provider=PlainTextAuthProvider(user, password),
                  connect_timeout=20, control_connection_timeout=20)
try:
    session = cluster.connect()
except Exception as e:
    print("connect=%s" % type(e).__name__)
    sys.exit(0)
out = ["connect=ok", "read=%s" % session.execute("SELECT v FROM rg_auth.kv WHERE k = 1").one().v]
try:
    session.execute("INSERT INTO rg_auth.kv (k, v) VALUES (3, 'y')")
    out.append("write=allowed")
except Unauthorized:
    out.append("write=Unauthorized")
cluster.shutdown()
print("|".join(out))
"#;

/// What [`SCRIPT`] reports for a client logging in to the node at `addr` as `user`.
async fn login_and_write(addr: SocketAddr, user: &'static str, password: String) -> String {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(support::python())
            .args(["-c", SCRIPT, &addr.port().to_string(), user, &password])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodes_clients_log_in_with_their_own_credentials() {
    let c = support::auth_admin().await;
    reader(&c).await;
    let addr = support::auth_node(c, |handler| Arc::new(handler.authenticator())).await;
    let run = |user, password: &str| login_and_write(addr, user, password.to_owned());
    assert_eq!(
        run("rg_reader", "reader-pw").await,
        "connect=ok|read=secret|write=Unauthorized"
    );
    assert_eq!(
        run("cassandra", "cassandra").await,
        "connect=ok|read=secret|write=allowed"
    );
    assert_eq!(run("rg_reader", "wrong").await, "connect=NoHostAvailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_log_clients_in_as_the_cluster_roles_they_stand_for() {
    let c = support::auth_admin().await;
    reader(&c).await;
    let tokens = Arc::new(IssuedTokens::new());
    let day = Duration::from_secs(24 * 3600);
    // A gateway user whose requests run as the read-only role, and one that runs as the
    // node's own (superuser) connections.
    let as_reader = tokens
        .issue(
            AuthenticatedUser {
                user: "gateway-reader".into(),
                backend: Some(Credentials {
                    username: "rg_reader".into(),
                    password: "reader-pw".into(),
                }),
            },
            day,
        )
        .unwrap();
    let as_node = tokens
        .issue(
            AuthenticatedUser {
                user: "gateway-admin".into(),
                backend: None,
            },
            day,
        )
        .unwrap();
    let by_token = tokens.clone();
    let addr = support::auth_node(c, move |handler| {
        Arc::new(TokenAuthenticator::new(by_token).with_fallback(Arc::new(handler.authenticator())))
    })
    .await;
    let run = |user, password: String| login_and_write(addr, user, password);
    assert_eq!(
        run("token", as_reader.clone()).await,
        "connect=ok|read=secret|write=Unauthorized"
    );
    assert_eq!(
        run("token", as_node.clone()).await,
        "connect=ok|read=secret|write=allowed"
    );
    assert_eq!(
        run("token", "not-issued".into()).await,
        "connect=NoHostAvailable"
    );
    // Other usernames still log in with their cluster password.
    assert_eq!(
        run("rg_reader", "reader-pw".into()).await,
        "connect=ok|read=secret|write=Unauthorized"
    );
    // A revoked token no longer logs in.
    assert!(tokens.revoke(&as_reader));
    assert_eq!(run("token", as_reader).await, "connect=NoHostAvailable");
}

//! The gateway on a cluster with authentication (`make gateway-auth`: its own one-node
//! `--auth` instance, `RINGGATE_CLUSTER_ID`): passwords are checked by the cluster, and a
//! token's user may do through the gateway exactly what the cluster lets that user do
//! directly — where the cluster refuses, the gateway answers 401.

mod support;

use reqwest::Method;
use ringgate::pool::Credentials;
use ringgate::request::{Coordinator, CoordinatorConfig, RequestOptions};
use serde_json::json;
use support::{Client, Gateway, node_ip};

async fn superuser() -> Coordinator {
    let addr = format!("{}:9042", node_ip(1)).parse().expect("an address");
    let mut config = CoordinatorConfig::new(vec![addr]);
    config.credentials = Some(Credentials {
        username: "cassandra".into(),
        password: "cassandra".into(),
    });
    Coordinator::connect(config).await.unwrap_or_else(|e| {
        panic!(
            "cannot log in as cassandra at {addr} (is `RINGGATE_CLUSTER_ID={} scripts/cluster \
             up --nodes 1 --topology one-dc --auth` up?): {e}\n{}",
            support::cluster_id(),
            support::log_tail(1)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_runs_as_its_user_with_exactly_its_rights() {
    let admin = superuser().await;
    let o = RequestOptions::default();
    for cql in [
        "DROP KEYSPACE IF EXISTS gw_rights",
        "CREATE KEYSPACE gw_rights WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
        "CREATE TABLE gw_rights.open (k int PRIMARY KEY, v text)",
        "CREATE TABLE gw_rights.closed (k int PRIMARY KEY, v text)",
        "INSERT INTO gw_rights.open (k, v) VALUES (1, 'visible')",
        "INSERT INTO gw_rights.closed (k, v) VALUES (1, 'hidden')",
        "DROP ROLE IF EXISTS gw_alice",
        "CREATE ROLE gw_alice WITH PASSWORD = 'alice-pw' AND LOGIN = true",
        "GRANT SELECT ON gw_rights.open TO gw_alice",
    ] {
        admin
            .query(cql, (), &o)
            .await
            .unwrap_or_else(|e| panic!("{cql}: {e}"));
    }

    let gw = Gateway::start(&[
        "--username",
        "cassandra",
        "--password",
        "cassandra",
        "--auth-keyspace",
        "gw_auth_tokens",
    ]);

    // The cluster checks passwords.
    for (user, password) in [
        ("gw_alice", "wrong"),
        ("gw_nobody", "x"),
        ("cassandra", "nope"),
    ] {
        gw.call(
            Method::POST,
            "/v1/auth",
            None,
            Some(&json!({"username": user, "password": password}).to_string()),
        )
        .await
        .expect_error(401, "are incorrect");
    }
    let alice = Client {
        gateway: &gw,
        token: gw.token("gw_alice", "alice-pw").await,
    };
    let root = Client {
        gateway: &gw,
        token: gw.token("cassandra", "cassandra").await,
    };

    // What alice may do directly, she may do through the gateway; what the cluster refuses
    // her, the gateway refuses with 401. Her direct session says which is which.
    let direct = admin
        .login("gw_alice", "alice-pw")
        .await
        .expect("alice logs in directly");
    let may = |cql: &'static str| {
        let direct = direct.clone();
        async move {
            direct
                .query(cql, (), &RequestOptions::default())
                .await
                .is_ok()
        }
    };
    let cases: Vec<(bool, support::Answer)> = vec![
        (
            may("SELECT * FROM gw_rights.open WHERE k = 1").await,
            alice.get("/v2/keyspaces/gw_rights/open/1").await,
        ),
        (
            may("SELECT * FROM gw_rights.closed WHERE k = 1").await,
            alice.get("/v2/keyspaces/gw_rights/closed/1").await,
        ),
        (
            may("INSERT INTO gw_rights.open (k, v) VALUES (2, 'x')").await,
            alice
                .post("/v2/keyspaces/gw_rights/open", &json!({"k": 2, "v": "x"}))
                .await,
        ),
        (
            may("DELETE FROM gw_rights.open WHERE k = 1").await,
            alice.delete("/v2/keyspaces/gw_rights/open/1").await,
        ),
        (
            may("CREATE KEYSPACE gw_alices WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").await,
            alice
                .post("/v2/schemas/keyspaces", &json!({"name": "gw_alices", "replicas": 1}))
                .await,
        ),
        (
            may("ALTER TABLE gw_rights.open ADD extra int").await,
            alice
                .post(
                    "/v2/schemas/keyspaces/gw_rights/tables/open/columns",
                    &json!({"name": "extra", "typeDefinition": "int"}),
                )
                .await,
        ),
    ];
    let allowed: Vec<bool> = cases.iter().map(|(a, _)| *a).collect();
    assert_eq!(allowed, vec![true, false, false, false, false, false]);
    for (i, (allowed, answer)) in cases.iter().enumerate() {
        if *allowed {
            assert!(answer.status.is_success(), "case {i}: {answer:?}");
        } else {
            answer.expect_error(401, "Role unauthorized");
            assert!(
                answer.body["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("gw_alice") || d.contains("permission")),
                "case {i}: {answer:?}"
            );
        }
    }
    assert_eq!(
        alice
            .get("/v2/keyspaces/gw_rights/open/1?raw=true")
            .await
            .expect(200),
        &json!([{"k": 1, "v": "visible"}])
    );
    // Reading the schema is open to every user, as in Cassandra.
    alice
        .get("/v2/schemas/keyspaces/gw_rights/tables")
        .await
        .expect(200);

    // The same rights hold in GraphQL and the Document API.
    let gql = |token: String, query: &'static str| {
        let gw = &gw;
        async move {
            let body = json!({"query": query}).to_string();
            gw.call(
                Method::POST,
                "/graphql/gw_rights",
                Some(&token),
                Some(&body),
            )
            .await
            .expect(200)
            .clone()
        }
    };
    let open = gql(
        alice.token.clone(),
        "{ open(value: {k: 1}) { values { v } } }",
    )
    .await;
    assert_eq!(
        open["data"]["open"]["values"],
        json!([{"v": "visible"}]),
        "{open}"
    );
    let closed = gql(
        alice.token.clone(),
        "{ closed(value: {k: 1}) { values { v } } }",
    )
    .await;
    let message = closed["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Role unauthorized") || message.contains("permission"),
        "{closed}"
    );
    let write = gql(
        alice.token.clone(),
        "mutation { insertopen(value: {k: 3, v: \"x\"}) { applied } }",
    )
    .await;
    assert!(write["errors"][0]["message"].is_string(), "{write}");
    alice
        .post(
            "/v2/namespaces/gw_rights/collections/docs",
            &json!({"a": 1}),
        )
        .await
        .expect_error(401, "Role unauthorized");
    let by_root = gql(
        root.token.clone(),
        "{ closed(value: {k: 1}) { values { v } } }",
    )
    .await;
    assert_eq!(
        by_root["data"]["closed"]["values"],
        json!([{"v": "hidden"}]),
        "{by_root}"
    );

    // The superuser's token may do it all; alice's refusals changed nothing.
    assert_eq!(
        root.get("/v2/keyspaces/gw_rights/closed/1?raw=true")
            .await
            .expect(200),
        &json!([{"k": 1, "v": "hidden"}])
    );
    root.post(
        "/v2/keyspaces/gw_rights/open",
        &json!({"k": 2, "v": "by root"}),
    )
    .await
    .expect(201);
    assert_eq!(
        root.get("/v2/keyspaces/gw_rights/open/rows?raw=true")
            .await
            .expect(200)
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    root.get("/v2/schemas/keyspaces/gw_alices")
        .await
        .expect(404);
    assert_eq!(
        root.delete("/v2/schemas/keyspaces/gw_rights")
            .await
            .status
            .as_u16(),
        204
    );
}

//! Two roles through one Ringgate node at the same time (issue #14), on a PasswordAuthenticator
//! node (the test command's auth phase): each succeeds and fails exactly as it does directly
//! against Cassandra, with the same error codes, for reads, writes, DDL and EXECUTEs of ids
//! the other role prepared; nothing a client sends before AUTH_SUCCESS runs; a wrong password
//! is refused with the cluster's own error; sessions logged in with tokens standing for the two
//! roles, many at once, each get only their own role's answers.
//!
//! Raw protocol clients (v4), so that the codes are compared as they come and requests can be
//! sent where a driver never would: before authentication, or naming another role's statement.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ringgate::pool::Credentials;
use ringgate::protocol::frame::{Decoded, Envelope, Flags, FrameCodec, Header};
use ringgate::protocol::message::{
    AuthToken, Consistency, Execute, Prepare, Query, QueryParameters, Request, Response,
    ResultBody, Startup, split_response_body,
};
use ringgate::protocol::{Direction, ProtocolVersion};
use ringgate::request::{Coordinator, RequestOptions};
use ringgate::server::{AuthenticatedUser, IssuedTokens, TokenAuthenticator};
use support::node_addr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const V4: ProtocolVersion = ProtocolVersion::V4;

/// A raw v4 client connection.
struct Client {
    socket: TcpStream,
    codec: FrameCodec,
    received: BytesMut,
}

/// What a request got: a RESULT of some kind, or an ERROR's code (and its message).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ok(&'static str),
    Error(i32, String),
}

impl Outcome {
    /// The outcome without the message: what must be the same directly and through the node.
    fn code(&self) -> String {
        match self {
            Outcome::Ok(kind) => format!("ok {kind}"),
            Outcome::Error(code, _) => format!("error {code:#06x}"),
        }
    }
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let socket = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
        socket.set_nodelay(true).unwrap();
        let mut codec = FrameCodec::client();
        codec.established(V4, None).unwrap();
        Client {
            socket,
            codec,
            received: BytesMut::new(),
        }
    }

    async fn send_all(&mut self, requests: &[(i16, Request)]) {
        let mut out = BytesMut::new();
        for (stream, request) in requests {
            let mut body = BytesMut::new();
            request.encode(V4, &mut body).unwrap();
            let header = Header::new(V4, Direction::Request, *stream, request.opcode());
            self.codec
                .encode(&Envelope::new(header, body.freeze()), &mut out)
                .unwrap();
        }
        self.codec.flush(&mut out).unwrap();
        self.socket.write_all(&out).await.unwrap();
    }

    /// The next answer (stream, message); `None` when the connection closes.
    async fn next(&mut self) -> Option<(i16, Response)> {
        loop {
            match self.codec.decode(&mut self.received) {
                Ok(Decoded::Ready(envelope)) => {
                    let flags = envelope.header.flags;
                    let (_, body) = split_response_body(
                        &envelope.body,
                        flags.contains(Flags::TRACING),
                        flags.contains(Flags::WARNING),
                        flags.contains(Flags::CUSTOM_PAYLOAD),
                    )
                    .unwrap();
                    let response = Response::decode(envelope.header.opcode, &body, V4).unwrap();
                    return Some((envelope.header.stream, response));
                }
                Ok(Decoded::NeedMore(_)) => {}
                Err(e) => panic!("undecodable answer: {e}"),
            }
            let read = tokio::time::timeout(
                Duration::from_secs(30),
                self.socket.read_buf(&mut self.received),
            )
            .await
            .expect("an answer within 30 s");
            match read {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    async fn ask(&mut self, request: Request) -> Response {
        self.send_all(&[(5, request)]).await;
        let (stream, response) = self.next().await.expect("an answer");
        assert_eq!(stream, 5);
        response
    }

    /// STARTUP, then the SASL PLAIN exchange as `user`: `Ok` on AUTH_SUCCESS, the ERROR's code
    /// and message otherwise.
    async fn login(addr: SocketAddr, user: &str, password: &str) -> Result<Client, Outcome> {
        let mut client = Client::connect(addr).await;
        let answer = client.ask(Request::Startup(Startup::new())).await;
        assert!(
            matches!(answer, Response::Authenticate(_)),
            "STARTUP on an auth cluster: {answer:?}"
        );
        match client.ask(auth_response(user, password)).await {
            Response::AuthSuccess(_) => Ok(client),
            Response::Error(e) => Err(Outcome::Error(e.details.code(), e.message)),
            other => panic!("AUTH_RESPONSE answered {other:?}"),
        }
    }

    async fn run(&mut self, request: Request) -> Outcome {
        outcome(self.ask(request).await)
    }
}

fn auth_response(user: &str, password: &str) -> Request {
    let token = format!("\0{user}\0{password}");
    Request::AuthResponse(AuthToken::new(Bytes::from(token.into_bytes())))
}

fn outcome(response: Response) -> Outcome {
    match response {
        Response::Result(ResultBody::Rows(_)) => Outcome::Ok("rows"),
        Response::Result(ResultBody::Void) => Outcome::Ok("void"),
        Response::Result(ResultBody::Prepared(_)) => Outcome::Ok("prepared"),
        Response::Result(ResultBody::SchemaChange(_)) => Outcome::Ok("schema change"),
        Response::Result(ResultBody::SetKeyspace(_)) => Outcome::Ok("keyspace"),
        Response::Error(e) => Outcome::Error(e.details.code(), e.message),
        other => panic!("unexpected answer {other:?}"),
    }
}

fn query(cql: &str) -> Request {
    Request::Query(Query::new(cql, QueryParameters::new(Consistency::One)))
}

fn prepared_id(response: Response) -> Bytes {
    match response {
        Response::Result(ResultBody::Prepared(p)) => p.id,
        other => panic!("not PREPARED: {other:?}"),
    }
}

fn execute(id: &Bytes) -> Request {
    Request::Execute(Execute::new(
        id.clone(),
        None,
        QueryParameters::new(Consistency::One),
    ))
}

/// Keyspace `rg_iso` with tables `a` and `b`; role `rg_iso_a` may read and write `a` and
/// create tables in the keyspace, role `rg_iso_b` may only read `b`.
async fn roles(c: &Coordinator) {
    let o = RequestOptions::default();
    for cql in [
        "CREATE KEYSPACE IF NOT EXISTS rg_iso WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
        "CREATE TABLE IF NOT EXISTS rg_iso.a (k int PRIMARY KEY, v text)",
        "CREATE TABLE IF NOT EXISTS rg_iso.b (k int PRIMARY KEY, v text)",
        "INSERT INTO rg_iso.a (k, v) VALUES (1, 'a1')",
        "INSERT INTO rg_iso.b (k, v) VALUES (1, 'b1')",
        "DELETE FROM rg_iso.a WHERE k = 666",
        "CREATE ROLE IF NOT EXISTS rg_iso_a WITH PASSWORD = 'a-pw' AND LOGIN = true",
        "CREATE ROLE IF NOT EXISTS rg_iso_b WITH PASSWORD = 'b-pw' AND LOGIN = true",
        "GRANT SELECT ON TABLE rg_iso.a TO rg_iso_a",
        "GRANT MODIFY ON TABLE rg_iso.a TO rg_iso_a",
        "GRANT CREATE ON KEYSPACE rg_iso TO rg_iso_a",
        "GRANT SELECT ON TABLE rg_iso.b TO rg_iso_b",
    ] {
        c.query(cql, (), &o)
            .await
            .unwrap_or_else(|e| panic!("{cql}: {e}"));
    }
}

/// The statements each role runs, by name.
const STATEMENTS: [(&str, &str); 6] = [
    ("read a", "SELECT v FROM rg_iso.a WHERE k = 1"),
    ("read b", "SELECT v FROM rg_iso.b WHERE k = 1"),
    ("write a", "INSERT INTO rg_iso.a (k, v) VALUES (2, 'a2')"),
    ("write b", "INSERT INTO rg_iso.b (k, v) VALUES (2, 'b2')"),
    (
        "ddl",
        "CREATE TABLE IF NOT EXISTS rg_iso.made (k int PRIMARY KEY)",
    ),
    ("drop", "DROP TABLE rg_iso.b"),
];

/// Every outcome of `user` at `addr`: each statement as a QUERY, as a PREPARE then EXECUTE of
/// its own id, and as an EXECUTE of the id `other` prepared (on `other`'s connection).
async fn matrix(
    addr: SocketAddr,
    user: &str,
    password: &str,
    other: &mut Client,
) -> BTreeMap<String, Outcome> {
    let mut me = Client::login(addr, user, password)
        .await
        .unwrap_or_else(|e| panic!("{user} cannot log in at {addr}: {e:?}"));
    let mut out = BTreeMap::new();
    for (name, cql) in STATEMENTS {
        out.insert(format!("query {name}"), me.run(query(cql)).await);
        let prepare = me.ask(Request::Prepare(Prepare::new(cql))).await;
        let mine = match outcome(prepare.clone()) {
            Outcome::Ok(_) => me.run(execute(&prepared_id(prepare))).await,
            failed => failed,
        };
        out.insert(format!("execute own {name}"), mine);
        let theirs = other.ask(Request::Prepare(Prepare::new(cql))).await;
        if let Outcome::Ok(_) = outcome(theirs.clone()) {
            let id = prepared_id(theirs);
            out.insert(
                format!("execute other's {name}"),
                me.run(execute(&id)).await,
            );
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_roles_through_one_node_succeed_and_fail_exactly_as_directly() {
    let c = support::auth_admin().await;
    roles(&c).await;
    let direct = node_addr(1);
    let through = support::auth_node(support::auth_admin().await, |handler| {
        Arc::new(handler.authenticator())
    })
    .await;
    // Each run of the matrices starts without the table rg_iso_a makes (its CREATE ... IF NOT
    // EXISTS answers a schema change the first time only).
    let fresh = async || {
        c.query(
            "DROP TABLE IF EXISTS rg_iso.made",
            (),
            &RequestOptions::default(),
        )
        .await
        .unwrap();
    };

    // Directly first, one role at a time; then both roles through the node at once, a few
    // rounds over the node's shared pools.
    let mut expected = BTreeMap::new();
    for (user, password, other, other_password) in [
        ("rg_iso_a", "a-pw", "rg_iso_b", "b-pw"),
        ("rg_iso_b", "b-pw", "rg_iso_a", "a-pw"),
    ] {
        fresh().await;
        let mut peer = Client::login(direct, other, other_password).await.unwrap();
        let got = matrix(direct, user, password, &mut peer).await;
        expected.insert(user, got);
    }
    let a = &expected["rg_iso_a"];
    let b = &expected["rg_iso_b"];
    // What the grants say, as Cassandra applies them.
    assert_eq!(a["query read a"].code(), "ok rows");
    assert_eq!(a["query read b"].code(), "error 0x2100");
    assert_eq!(a["query write a"].code(), "ok void");
    assert_eq!(a["query ddl"].code(), "ok schema change");
    assert_eq!(b["query read b"].code(), "ok rows");
    assert_eq!(b["query write a"].code(), "error 0x2100");
    assert_eq!(b["execute other's write a"].code(), "error 0x2100");
    assert_eq!(a["execute other's read b"].code(), "error 0x2100");
    assert_eq!(b["query drop"].code(), "error 0x2100");

    for round in 0..3 {
        fresh().await;
        let run = |user: &'static str, password: &'static str, other, other_password| async move {
            let mut peer = Client::login(through, other, other_password).await.unwrap();
            (user, matrix(through, user, password, &mut peer).await)
        };
        let (ra, rb) = tokio::join!(
            run("rg_iso_a", "a-pw", "rg_iso_b", "b-pw"),
            run("rg_iso_b", "b-pw", "rg_iso_a", "a-pw")
        );
        for (user, got) in [ra, rb] {
            let want = &expected[user];
            let codes = |m: &BTreeMap<String, Outcome>| -> BTreeMap<String, String> {
                m.iter().map(|(k, v)| (k.clone(), v.code())).collect()
            };
            assert_eq!(
                codes(&got),
                codes(want),
                "round {round}: {user} through the node vs directly\nthrough: {got:#?}\ndirectly: {want:#?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_runs_before_auth_success_and_a_wrong_password_gets_the_clusters_error() {
    let c = support::auth_admin().await;
    roles(&c).await;
    let through = support::auth_node(support::auth_admin().await, |handler| {
        Arc::new(handler.authenticator())
    })
    .await;

    // The cluster's refusal of a wrong password, directly and through the node.
    let direct = Client::login(node_addr(1), "rg_iso_a", "wrong")
        .await
        .err()
        .expect("a wrong password is refused directly");
    let proxied = Client::login(through, "rg_iso_a", "wrong")
        .await
        .err()
        .expect("a wrong password is refused through the node");
    assert_eq!(proxied, direct);
    assert!(matches!(&direct, Outcome::Error(0x0100, _)), "{direct:?}");

    for (what, marker, credentials) in [
        ("before any AUTH_RESPONSE", 666, None),
        ("after a wrong password", 667, Some("wrong")),
    ] {
        let mut client = Client::connect(through).await;
        let answer = client.ask(Request::Startup(Startup::new())).await;
        assert!(matches!(answer, Response::Authenticate(_)), "{answer:?}");
        // Pipelined: a write (as the superuser's connections could run it) right behind.
        let write = query(&format!(
            "INSERT INTO rg_iso.a (k, v) VALUES ({marker}, 'must not exist')"
        ));
        let mut requests = Vec::new();
        if let Some(password) = credentials {
            requests.push((6, auth_response("cassandra", password)));
        }
        requests.push((7, write));
        client.send_all(&requests).await;
        let mut answers = BTreeMap::new();
        while answers.len() < requests.len() {
            let Some((stream, response)) = client.next().await else {
                break;
            };
            answers.insert(stream, outcome_or_other(response));
        }
        for (stream, answer) in &answers {
            assert!(
                answer.starts_with("error"),
                "{what}: stream {stream} answered {answer}"
            );
        }
        // Whatever came back, the write never ran.
        let rows = c
            .query(
                &format!("SELECT v FROM rg_iso.a WHERE k = {marker}"),
                (),
                &RequestOptions::default(),
            )
            .await
            .unwrap()
            .rows()
            .unwrap();
        assert!(rows.is_empty(), "{what}: the write ran: {answers:?}");
        println!("{what}: {answers:?}; the write did not run");
    }
}

fn outcome_or_other(response: Response) -> String {
    match response {
        Response::Result(_) | Response::Error(_) => match outcome(response) {
            Outcome::Error(code, message) => format!("error {code:#06x} {message}"),
            ok => format!("{ok:?}"),
        },
        other => format!("{other:?}"),
    }
}

/// The roles `LIST ROLES` names: run by a role without DESCRIBE on all roles, the roles granted
/// to the role running it, so the answer says who ran it.
fn roles_listed(response: Response) -> Result<Vec<String>, Outcome> {
    let rows = match response {
        Response::Result(ResultBody::Rows(rows)) => rows,
        other => return Err(outcome(other)),
    };
    let columns = rows
        .metadata
        .columns
        .as_ref()
        .expect("LIST ROLES's columns");
    assert_eq!(columns[0].name, "role");
    Ok(rows
        .rows()
        .unwrap()
        .map(|row| {
            row.unwrap()
                .get_as::<String>(0, &columns[0].typ, V4)
                .unwrap()
        })
        .collect())
}

/// Sessions of two gateway users, logged in with tokens that stand for `rg_iso_a` and
/// `rg_iso_b`, many at once through one node over its shared backend pools: every answer each
/// session gets is its own role's — `LIST ROLES` (as a QUERY, and as an EXECUTE of the one id
/// both roles' sessions share) names its role and no other, and each reads the table its
/// role may read and is refused the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_one_user_never_reach_another_users_session() {
    const SESSIONS_PER_USER: usize = 8;
    const ROUNDS: usize = 25;

    let c = support::auth_admin().await;
    roles(&c).await;

    // The probe, directly: what LIST ROLES answers each role.
    for (role, password) in [("rg_iso_a", "a-pw"), ("rg_iso_b", "b-pw")] {
        let mut direct = Client::login(node_addr(1), role, password).await.unwrap();
        let listed = roles_listed(direct.ask(query("LIST ROLES")).await);
        assert_eq!(listed, Ok(vec![role.to_string()]), "LIST ROLES as {role}");
    }

    let tokens = Arc::new(IssuedTokens::new());
    let issue = |user: &str, role: &str, password: &str| {
        tokens
            .issue(
                AuthenticatedUser {
                    user: user.into(),
                    backend: Some(Credentials {
                        username: role.into(),
                        password: password.into(),
                    }),
                },
                Duration::from_secs(3600),
            )
            .unwrap()
    };
    let users = [
        ("rg_iso_a", issue("gateway-a", "rg_iso_a", "a-pw")),
        ("rg_iso_b", issue("gateway-b", "rg_iso_b", "b-pw")),
    ];
    let store = tokens.clone();
    let through = support::auth_node(support::auth_admin().await, move |_| {
        Arc::new(TokenAuthenticator::new(store))
    })
    .await;

    let mut sessions = tokio::task::JoinSet::new();
    for i in 0..SESSIONS_PER_USER * users.len() {
        let (role, token) = users[i % users.len()].clone();
        sessions.spawn(async move {
            let mut client = Client::login(through, "token", &token)
                .await
                .unwrap_or_else(|e| panic!("session {i} ({role}) cannot log in: {e:?}"));
            let list_roles = prepared_id(
                client
                    .ask(Request::Prepare(Prepare::new("LIST ROLES")))
                    .await,
            );
            let (mine, theirs) = if role == "rg_iso_a" {
                ("a", "b")
            } else {
                ("b", "a")
            };
            let read = |table| query(&format!("SELECT v FROM rg_iso.{table} WHERE k = 1"));
            for round in 0..ROUNDS {
                // Pipelined, so that the session's requests interleave with the others' on the
                // node's backend connections.
                client
                    .send_all(&[
                        (1, query("LIST ROLES")),
                        (2, execute(&list_roles)),
                        (3, read(mine)),
                        (4, read(theirs)),
                    ])
                    .await;
                let mut answers = BTreeMap::new();
                while answers.len() < 4 {
                    let (stream, response) = client.next().await.expect("an answer");
                    answers.insert(stream, response);
                }
                let context = format!("session {i} ({role}), round {round}");
                for stream in [1, 2] {
                    let listed = roles_listed(answers.remove(&stream).unwrap());
                    assert_eq!(
                        listed,
                        Ok(vec![role.to_string()]),
                        "{context}, stream {stream}"
                    );
                }
                assert_eq!(
                    outcome(answers.remove(&3).unwrap()).code(),
                    "ok rows",
                    "{context}: reads {mine}"
                );
                assert_eq!(
                    outcome(answers.remove(&4).unwrap()).code(),
                    "error 0x2100",
                    "{context}: reads {theirs}"
                );
            }
        });
    }
    while let Some(done) = sessions.join_next().await {
        done.unwrap();
    }
}

//! The `ringgate` binary against the real `two-dc` cluster (`scripts/cluster up`): its startup
//! line, a client logging in with a token from `--token-file`, a clean stop on SIGINT, and two
//! binaries as a tier (`--peer`) speaking v4 to the cluster (`--max-protocol 4`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ringgate::pool::{ConnectOptions, Credentials, connect};
use ringgate::protocol::frame::Flags;
use ringgate::protocol::message::{
    Consistency, Event, EventType, Query, QueryParameters, Register, Request, Response, ResultBody,
    StatusChangeType,
};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn start(args: &[&str]) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringgate"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ringgate binary starts");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdout)
}

fn token_file(text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("ringgate-tokens-{}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_names_the_cluster_serves_token_logins_and_stops_on_sigint() {
    let tokens = token_file(&format!("# gateway tokens\n{TOKEN} alice\n"));
    let (mut child, mut stdout) = start(&[
        "--listen",
        "127.0.0.1:0",
        "--contact-points",
        "127.0.0.1,127.0.0.2:9042",
        "--local-dc",
        "dc1",
        "--token-file",
        tokens.to_str().unwrap(),
    ]);
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("ringgate listening on 127.0.0.1:"),
        "startup line: {line:?} (stderr: {})",
        stderr_of(&mut child)
    );
    for part in [
        "cluster \"ringgate-test\"",
        "3 nodes",
        "127.0.0.1:9042 dc1/rack1",
        "127.0.0.2:9042 dc1/rack2",
        "127.0.0.3:9042 dc2/rack1",
        "protocol v5",
    ] {
        assert!(line.contains(part), "{part} in {line:?}");
    }
    let addr: SocketAddr = line["ringgate listening on ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();

    // A token logs in as user `token`; anything else is refused.
    let login = |username: &str, password: &str| ConnectOptions {
        credentials: Some(Credentials {
            username: username.into(),
            password: password.into(),
        }),
        ..ConnectOptions::default()
    };
    let (conn, handshake) = connect(addr, &login("token", TOKEN), None).await.unwrap();
    assert_eq!(
        handshake.authenticator.as_deref(),
        Some("org.apache.cassandra.auth.PasswordAuthenticator")
    );
    let query = Request::Query(Query::new(
        "SELECT cluster_name FROM system.local",
        QueryParameters::new(Consistency::One),
    ));
    let mut body = bytes::BytesMut::new();
    query.encode(conn.version(), &mut body).unwrap();
    let envelope = conn
        .request(
            query.opcode(),
            Flags::empty(),
            body.freeze(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let (_, response) = ringgate::protocol::message::decode_response(&envelope).unwrap();
    assert!(
        matches!(response, Response::Result(ResultBody::Rows(_))),
        "{response:?}"
    );
    for (user, password) in [("token", "not-a-token-at-all"), ("alice", TOKEN)] {
        let refused = connect(addr, &login(user, password), None).await;
        assert!(refused.is_err(), "{user}/{password} was accepted");
    }

    // SIGINT: a clean stop.
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = wait(&mut child, Duration::from_secs(20));
    assert_eq!(
        exit.and_then(|s| s.code()),
        Some(0),
        "{}",
        stderr_of(&mut child)
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(rest.contains("ringgate stopped"), "{rest:?}");
    // Its clients' connections are closed with it.
    let closed = conn.closed();
    tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("the client's connection closes when the node stops");
    std::fs::remove_file(tokens).ok();
}

#[test]
fn a_malformed_token_file_stops_the_node_before_it_serves() {
    for text in [
        "short alice\n",
        &format!("{TOKEN}\n"),
        &format!("{TOKEN} a b\n"),
    ] {
        let tokens = token_file(text);
        let out = Command::new(env!("CARGO_BIN_EXE_ringgate"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--token-file",
                tokens.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        std::fs::remove_file(&tokens).ok();
        assert!(!out.status.success(), "{text:?} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(":1:"), "{text:?}: {stderr}");
        assert!(out.stdout.is_empty(), "it must not have served: {text:?}");
    }
}

/// Sends `request` on `conn` and decodes the answer.
async fn ask(conn: &ringgate::pool::Connection, request: &Request) -> Response {
    let mut body = bytes::BytesMut::new();
    request.encode(conn.version(), &mut body).unwrap();
    let envelope = conn
        .request(
            request.opcode(),
            Flags::empty(),
            body.freeze(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    ringgate::protocol::message::decode_response(&envelope)
        .unwrap()
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_given_the_same_peers_make_a_tier() {
    // Two free ports of 127.0.0.1 (held while both are chosen).
    let held: Vec<std::net::TcpListener> = (0..2)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let addrs: Vec<SocketAddr> = held.iter().map(|l| l.local_addr().unwrap()).collect();
    drop(held);
    let peers = format!("{},{}", addrs[0], addrs[1]);
    let node = |addr: SocketAddr| {
        let listen = addr.to_string();
        start(&[
            "--listen",
            &listen,
            "--contact-points",
            "127.0.0.1",
            "--local-dc",
            "dc1",
            "--peer",
            &peers,
            "--max-protocol",
            "4",
        ])
    };
    let first_line = |stdout: &mut BufReader<std::process::ChildStdout>| {
        let mut lines = [String::new(), String::new()];
        for line in &mut lines {
            stdout.read_line(line).unwrap();
        }
        lines
    };
    let (mut a, mut a_out) = node(addrs[0]);
    let [line, tier] = first_line(&mut a_out);
    assert!(line.contains("protocol v4"), "{line:?}");
    assert_eq!(
        tier.trim(),
        format!("tier of 2 nodes: peers [{} Down]", addrs[1])
    );
    let (mut b, mut b_out) = node(addrs[1]);
    let [_, tier] = first_line(&mut b_out);
    assert_eq!(
        tier.trim(),
        format!("tier of 2 nodes: peers [{} Up]", addrs[0])
    );

    // A client of A hears of B, finds it in peers_v2, and hears when it stops.
    let (tx, mut events) = tokio::sync::mpsc::channel(16);
    let (conn, _) = connect(addrs[0], &ConnectOptions::default(), Some(tx))
        .await
        .unwrap();
    let register = Request::Register(Register {
        events: vec![EventType::StatusChange],
    });
    assert_eq!(ask(&conn, &register).await, Response::Ready);
    let peers_v2 = Request::Query(Query::new(
        "SELECT native_port FROM system.peers_v2",
        QueryParameters::new(Consistency::One),
    ));
    // A lists B once its watch finds B serving (within a few probes).
    let mut listed = false;
    for _ in 0..100 {
        if let Response::Result(ResultBody::Rows(rows)) = ask(&conn, &peers_v2).await {
            if rows.rows_count == 1 {
                listed = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listed, "A lists B");
    let status = Command::new("kill")
        .args(["-TERM", &b.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        wait(&mut b, Duration::from_secs(20)).and_then(|s| s.code()),
        Some(0)
    );
    let down = loop {
        let envelope = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("an event within 30 s")
            .expect("the connection is open");
        match ringgate::protocol::message::decode_response(&envelope)
            .unwrap()
            .1
        {
            Response::Event(Event::StatusChange {
                change: StatusChangeType::Up,
                ..
            }) => {}
            Response::Event(event) => break event,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        down,
        Event::StatusChange {
            change: StatusChangeType::Down,
            node: addrs[1]
        }
    );
    let status = Command::new("kill")
        .args(["-TERM", &a.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        wait(&mut a, Duration::from_secs(20)).and_then(|s| s.code()),
        Some(0),
        "{}",
        stderr_of(&mut a)
    );
}

fn wait(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().ok();
    None
}

fn stderr_of(child: &mut Child) -> String {
    let _ = child.kill();
    let mut text = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut text);
    }
    text
}

//! A tier of Ringgate nodes (`server::Tier`) in front of the real `two-dc` cluster: nodes that
//! name each other as peers list each other in `system.peers(_v2)`, split the ring, watch each
//! other, and tell their REGISTERed clients when one joins, stops or returns. Real drivers
//! spread their requests over the tier, ride through a node stopping, and use it again when it
//! returns:
//!
//! - the Python driver (`tests/drivers/python/tier.py`) with the nodes on one address and
//!   their own ports (drivers find the ports in `system.peers_v2`'s `native_port`, and events
//!   name a node by address and port);
//! - the Java driver (`tests/drivers/java`, class `Tier`) with the nodes on their own loopback
//!   addresses and one port.
//!
//! The nodes run in this process (front end, coordinator and tier watch each); stopping one
//! drops it whole, and its sockets close as a stopped process's would. Keyspaces are `tier_*`.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use ringgate::pool::{ConnectOptions, Connection};
use ringgate::protocol::frame::Flags;
use ringgate::protocol::message::{
    Consistency, Event, EventType, Query, QueryParameters, Register, Request, Response, ResultBody,
    StatusChangeType, TopologyChangeType,
};
use ringgate::protocol::types::{CqlValue, decode_cell};
use ringgate::request::{Coordinator, CoordinatorConfig};
use ringgate::server::served_tables::RinggateNode;
use ringgate::server::{CoordinatorHandler, ServerConfig, Tier, TierConfig, serve, system_tables};
use tokio::sync::mpsc;

/// One Ringgate node of a tier, serving on its own task.
struct TierNode {
    task: tokio::task::JoinHandle<()>,
}

impl TierNode {
    /// Starts a node at `addr` whose tier is `tier` (its own address included, as a shared
    /// list would have it), joined to the `two-dc` cluster with dc1 as its local DC.
    async fn start(addr: SocketAddr, tier: &[SocketAddr]) -> TierNode {
        let mut config = CoordinatorConfig::new(vec![support::node_addr(1), support::node_addr(2)]);
        config.local_dc = Some("dc1".into());
        let coordinator = Coordinator::connect(config)
            .await
            .unwrap_or_else(|e| panic!("cannot connect: {e}\n{}", support::log_tail(1, 40)));
        let node = |a: &SocketAddr| RinggateNode::new(a.ip(), a.port(), "dc1", "rack1");
        let tables = system_tables(&coordinator, node(&addr), Vec::new()).unwrap();
        let peers = tier.iter().map(node).collect();
        let watch = Tier::start(Arc::clone(&tables), TierConfig::new(peers)).await;
        let handler = CoordinatorHandler::new(coordinator)
            .presenting(Arc::clone(&tables))
            .with_events(watch.subscribe());
        // The address was free a moment ago (or held by this node before it stopped).
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
        let task = tokio::spawn(async move {
            let _watch = watch;
            let _ = serve(
                listener,
                Arc::new(ServerConfig::new(tables)),
                Arc::new(handler),
            )
            .await;
        });
        TierNode { task }
    }

    /// Stops the node: its clients' connections and its own close, as when its process ends.
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// `n` distinct ports, each free on every address of `ips` (loopback addresses).
fn free_ports(ips: &[IpAddr], n: usize) -> Vec<u16> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..50 {
        if ports.len() == n {
            return ports;
        }
        let first = std::net::TcpListener::bind((ips[0], 0)).expect("a free port");
        let port = first.local_addr().unwrap().port();
        let others: Result<Vec<_>, _> = ips[1..]
            .iter()
            .map(|ip| std::net::TcpListener::bind((*ip, port)))
            .collect();
        if let Ok(others) = others {
            ports.push(port);
            held.push((first, others));
        }
    }
    assert_eq!(ports.len(), n, "no {n} ports free on every one of {ips:?}");
    ports
}

/// A client of a node, REGISTERed for topology and status events.
struct Client {
    conn: Connection,
    events: mpsc::Receiver<ringgate::protocol::frame::Envelope>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let (tx, events) = mpsc::channel(64);
        let (conn, _) = ringgate::pool::connect(addr, &ConnectOptions::default(), Some(tx))
            .await
            .unwrap_or_else(|e| panic!("a client of {addr}: {e}"));
        let register = Request::Register(Register {
            events: vec![EventType::TopologyChange, EventType::StatusChange],
        });
        let client = Client { conn, events };
        assert_eq!(client.ask(&register).await, Response::Ready);
        client
    }

    async fn ask(&self, request: &Request) -> Response {
        let version = self.conn.version();
        let mut body = BytesMut::new();
        request.encode(version, &mut body).unwrap();
        let answer = self
            .conn
            .request(
                request.opcode(),
                Flags::empty(),
                body.freeze(),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        ringgate::protocol::message::decode_response(&answer)
            .unwrap()
            .1
    }

    /// Every row of a query, cells decoded.
    async fn rows(&self, cql: &str) -> Vec<Vec<Option<CqlValue>>> {
        let query = Request::Query(Query::new(cql, QueryParameters::new(Consistency::One)));
        let Response::Result(ResultBody::Rows(rows)) = self.ask(&query).await else {
            panic!("{cql}: no rows");
        };
        let columns = rows.metadata.columns.clone().unwrap();
        rows.rows()
            .unwrap()
            .map(|row| {
                let row = row.unwrap();
                columns
                    .iter()
                    .zip(row.cells())
                    .map(|(c, cell)| decode_cell(&c.typ, cell, self.conn.version()).unwrap())
                    .collect()
            })
            .collect()
    }

    /// The next event, waiting at most 30 s (a peer is probed every second).
    async fn next_event(&mut self, waiting_for: &str) -> Event {
        let envelope = tokio::time::timeout(Duration::from_secs(30), self.events.recv())
            .await
            .unwrap_or_else(|_| panic!("no event while waiting for {waiting_for}"))
            .expect("the connection is open");
        match ringgate::protocol::message::decode_response(&envelope) {
            Ok((_, Response::Event(event))) => event,
            other => panic!("not an event: {other:?}"),
        }
    }
}

/// The (port, tokens) rows of a node's `system.peers_v2`.
async fn peers_v2(client: &Client) -> Vec<(i32, Vec<String>)> {
    let rows = client
        .rows("SELECT native_port, tokens FROM system.peers_v2")
        .await;
    rows.into_iter()
        .map(|row| match (&row[0], &row[1]) {
            (Some(CqlValue::Int(port)), Some(CqlValue::Set(tokens))) => (
                *port,
                tokens
                    .iter()
                    .map(|t| match t {
                        CqlValue::Text(t) => t.clone(),
                        other => panic!("token {other:?}"),
                    })
                    .collect(),
            ),
            other => panic!("peers_v2 row {other:?}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_tells_its_clients_when_a_peer_joins_stops_and_returns() {
    let ip = IpAddr::from([127, 0, 0, 1]);
    let ports = free_ports(&[ip], 2);
    let (a, b) = (SocketAddr::new(ip, ports[0]), SocketAddr::new(ip, ports[1]));
    let tier = [a, b];
    let node_a = TierNode::start(a, &tier).await;
    let mut client = Client::connect(a).await;
    // B is not serving: A lists no peer, and owns the whole ring.
    assert_eq!(peers_v2(&client).await, vec![]);
    let local = client
        .rows("SELECT tokens FROM system.local")
        .await
        .remove(0);
    assert_eq!(
        local[0],
        Some(CqlValue::Set(vec![CqlValue::Text(i64::MIN.to_string())]))
    );

    // B starts: it joins A's ring, NEW_NODE then UP, named by its address and port.
    let node_b = TierNode::start(b, &tier).await;
    assert_eq!(
        client.next_event("B to join").await,
        Event::TopologyChange {
            change: TopologyChangeType::NewNode,
            node: b
        }
    );
    assert_eq!(
        client.next_event("B up").await,
        Event::StatusChange {
            change: StatusChangeType::Up,
            node: b
        }
    );
    // The ring is split between them: the lower address:port owns i64::MIN, the other 0.
    assert_eq!(
        peers_v2(&client).await,
        vec![(
            i32::from(b.port()),
            vec![if b < a { i64::MIN } else { 0 }.to_string()]
        )]
    );
    // B found A serving when it started: it lists A from the start.
    let client_b = Client::connect(b).await;
    assert_eq!(
        peers_v2(&client_b).await,
        vec![(
            i32::from(a.port()),
            vec![if a < b { i64::MIN } else { 0 }.to_string()]
        )]
    );
    drop(client_b);

    // B stops: DOWN; it stays listed, as a stopped Cassandra node stays in its ring.
    node_b.stop().await;
    assert_eq!(
        client.next_event("B down").await,
        Event::StatusChange {
            change: StatusChangeType::Down,
            node: b
        }
    );
    assert_eq!(peers_v2(&client).await.len(), 1);

    // B returns: UP, and no second NEW_NODE.
    let node_b = TierNode::start(b, &tier).await;
    assert_eq!(
        client.next_event("B up again").await,
        Event::StatusChange {
            change: StatusChangeType::Up,
            node: b
        }
    );
    node_b.stop().await;
    assert_eq!(
        client.next_event("B down again").await,
        Event::StatusChange {
            change: StatusChangeType::Down,
            node: b
        }
    );
    drop(client);
    node_a.stop().await;
}

/// Reads a driver program's `key=value` lines until `ready=<step>` (or its end), keeping them.
fn read_until(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    step: &str,
    got: &mut std::collections::BTreeMap<String, String>,
    transcript: &mut String,
) -> bool {
    for line in lines {
        let line = line.expect("the program's output is text");
        transcript.push_str(&line);
        transcript.push('\n');
        if let Some((k, v)) = line.split_once('=') {
            if k == "ready" && v == step {
                return true;
            }
            got.insert(k.to_owned(), v.to_owned());
        }
    }
    false
}

/// What a driver program printed: its facts, its whole output (for failure messages) and its
/// log (stderr).
struct Run {
    got: std::collections::BTreeMap<String, String>,
    output: String,
    log: String,
}

/// Runs a driver program that joins through `nodes[0]`: the test stops `nodes[stop]` when the
/// program is ready, starts it again when the program has carried on without it, and returns
/// what the program printed.
async fn drive(mut command: Command, nodes: &[SocketAddr], stop: usize) -> Run {
    let mut running = Vec::new();
    for addr in nodes {
        running.push(TierNode::start(*addr, nodes).await);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the driver program starts");
    let stdout = child.stdout.take().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let (steps, mut answers) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let (done_tx, done) = tokio::sync::oneshot::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut got = std::collections::BTreeMap::new();
        let mut transcript = String::new();
        for step in ["stop", "start"] {
            if !read_until(&mut lines, step, &mut got, &mut transcript) {
                let _ = done_tx.send((got, transcript));
                return;
            }
            let _ = steps.send(step);
        }
        read_until(&mut lines, "end", &mut got, &mut transcript);
        let _ = done_tx.send((got, transcript));
    });
    let mut stopped = Some(running.remove(stop));
    while let Some(step) = answers.recv().await {
        match step {
            "stop" => {
                if let Some(node) = stopped.take() {
                    node.stop().await;
                }
                writeln!(stdin, "stopped").unwrap();
            }
            _ => {
                stopped = Some(TierNode::start(nodes[stop], nodes).await);
                writeln!(stdin, "started").unwrap();
            }
        }
        stdin.flush().unwrap();
    }
    let (got, transcript) = done.await.expect("the reader ends");
    reader.join().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let log = log.join().unwrap();
    let output = format!("{status}\n--- stdout\n{transcript}--- stderr\n{log}");
    for node in stopped.into_iter().chain(running) {
        node.stop().await;
    }
    assert!(status.success(), "{output}");
    Run { got, output, log }
}

/// `host:port:count,...` as (host:port, count).
fn spread(text: &str) -> Vec<(String, usize)> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (node, count) = s.rsplit_once(':').expect("host:port:count");
            (node.to_owned(), count.parse().expect("a count"))
        })
        .collect()
}

/// What every driver's run must show: requests spread over both nodes, no failure beyond
/// the writes in flight when `nodes[stop]` stopped, the other node alone while it was away,
/// and the returned node coordinating again.
fn assert_rode_through(
    got: &std::collections::BTreeMap<String, String>,
    nodes: &[SocketAddr],
    stop: usize,
    in_flight: usize,
    output: &str,
) {
    let key = |k: &str| {
        got.get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {k}\n{output}"))
    };
    let names: Vec<String> = nodes.iter().map(ToString::to_string).collect();
    let mut hosts: Vec<&str> = key("hosts").split(',').collect();
    hosts.sort_unstable();
    let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(hosts, want, "the driver knows the whole tier\n{output}");
    let spread_before = spread(key("spread"));
    assert_eq!(spread_before.len(), 2, "both nodes coordinate\n{output}");
    assert!(
        spread_before.iter().all(|(_, n)| *n >= 30),
        "each node took a fair share\n{output}"
    );
    assert_eq!(key("spread_errors"), "0", "{output}");
    let errors: usize = key("stop_errors").parse().unwrap();
    assert!(errors <= in_flight, "{errors} failures\n{output}");
    // While a node is away the other one takes everything: the stopped node may only have
    // answered what was in flight when it stopped (answers that crossed the stop).
    let down = spread(key("down_spread"));
    let on = |node: &str| down.iter().find(|(n, _)| n == node).map_or(0, |(_, c)| *c);
    let (gone, other) = (&names[stop], &names[1 - stop]);
    assert!(
        on(other) + in_flight >= 300
            && on(gone) <= in_flight
            && down.iter().all(|(n, _)| names.contains(n)),
        "the other node alone while {gone} is away\n{output}"
    );
    assert_eq!(
        key("back"),
        "true",
        "the returned node is used again\n{output}"
    );
    assert_eq!(key("back_errors"), "0", "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_driver_spreads_over_the_tier_rides_through_a_stop_and_comes_back() {
    let ip = IpAddr::from([127, 0, 0, 1]);
    let ports = free_ports(&[ip], 2);
    let nodes = [SocketAddr::new(ip, ports[0]), SocketAddr::new(ip, ports[1])];
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drivers/python/tier.py");
    // The node the driver joined through stops: its control connection moves to the other,
    // which tells it of the stopped node's return.
    let mut command = Command::new(support::python());
    command
        .arg(script)
        .args([ip.to_string(), nodes[0].port().to_string()])
        .args(["tier_py", &support::replication(), &nodes[0].to_string()]);
    let Run { got, output, log } = drive(command, &nodes, 0).await;
    eprintln!("{output}");
    assert_rode_through(&got, &nodes, 0, 8, &output);
    // The driver found nothing odd but the stop itself.
    let contact = nodes[0].to_string();
    let odd: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARNING") || l.contains("ERROR"))
        .filter(|l| !l.contains(&format!("Host {contact} has been marked down")))
        .collect();
    assert!(odd.is_empty(), "{odd:?}\n{output}");
    // The driver heard the contact node go down and come back up.
    let events = got.get("events").map(String::as_str).unwrap_or_default();
    let down = events.find(&format!("down:{contact}"));
    let up = events.rfind(&format!("up:{contact}"));
    assert!(
        matches!((down, up), (Some(d), Some(u)) if d < u),
        "events {events}\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_java_driver_spreads_over_the_tier_rides_through_a_stop_and_comes_back() {
    let ips = [IpAddr::from([127, 0, 0, 21]), IpAddr::from([127, 0, 0, 22])];
    let port = free_ports(&ips, 1)[0];
    let nodes = [SocketAddr::new(ips[0], port), SocketAddr::new(ips[1], port)];
    // The other node stops: the control connection stays where it is, and hears of the stop
    // and of the return from the node it joined through.
    let dir = java_program();
    let mut command = Command::new("java");
    command
        .arg("-cp")
        .arg(format!("{0}/classes:{0}/lib/*", dir.display()))
        .arg("Tier")
        .args([ips[0].to_string(), port.to_string()])
        .args(["tier_java", &support::replication(), &nodes[1].to_string()]);
    let Run { got, output, log } = drive(command, &nodes, 1).await;
    eprintln!("{output}");
    assert_rode_through(&got, &nodes, 1, 8, &output);
    // The driver found nothing odd, not even when it refreshed a returned node's row.
    let odd: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("WARNING") || l.starts_with("SEVERE"))
        .collect();
    assert!(odd.is_empty(), "{odd:?}\n{output}");
    let events = got.get("events").map(String::as_str).unwrap_or_default();
    let other = nodes[1].to_string();
    let down = events.find(&format!("down:{other}"));
    let up = events.rfind(&format!("up:{other}"));
    assert!(
        matches!((down, up), (Some(d), Some(u)) if d < u),
        "events {events}\n{output}"
    );
}

/// The Java driver programs, built by `scripts/java-env`: their directory.
fn java_program() -> std::path::PathBuf {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/java-env");
    let out = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "scripts/java-env failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

//! The edge cases of the Ringgate node (issue #7, "Tests"), end to end: raw sockets speaking the
//! protocol (and the Python driver where a real driver is the point) against a Ringgate node
//! joined to the real `two-dc` cluster. Version downgrade, OPTIONS at any time, USE and PREPARE
//! pipelined in one write, EXECUTE on another connection (and of unknown ids), stream ids
//! across their whole range with events on -1, clients vanishing mid-request, malformed input.
//!
//! Every keyspace here starts with `rg_edge_`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ringgate::protocol::frame::{Compression, Decoded, Envelope, Flags, FrameCodec, Header};
use ringgate::protocol::message::{
    Consistency, ErrorDetails, Execute, Prepare, Query, QueryParameters, Register, Request,
    Response, ResultBody, Startup, Value, split_response_body,
};
use ringgate::protocol::message::{
    Event, EventType, SchemaChange, SchemaChangeTarget, SchemaChangeType,
};
use ringgate::protocol::primitives::RawValue;
use ringgate::protocol::{Direction, Opcode, ProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const V4: ProtocolVersion = ProtocolVersion::V4;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// How long any one answer may take.
const PATIENCE: Duration = Duration::from_secs(60);

/// A raw client connection: the protocol crate's codec over a tokio socket.
struct Client {
    socket: TcpStream,
    codec: FrameCodec,
    received: BytesMut,
    version: ProtocolVersion,
}

impl Client {
    /// A connection that has not spoken yet; requests go out in `version`.
    async fn connect(addr: SocketAddr, version: ProtocolVersion) -> Client {
        let socket = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the node at {addr}: {e}"));
        socket.set_nodelay(true).unwrap();
        Client {
            socket,
            codec: FrameCodec::client(),
            received: BytesMut::new(),
            version,
        }
    }

    /// A connection past STARTUP/READY in `version`, with `compression`.
    async fn ready(
        addr: SocketAddr,
        version: ProtocolVersion,
        compression: Option<Compression>,
    ) -> Client {
        let mut client = Client::connect(addr, version).await;
        client.startup(1, compression).await;
        client
    }

    /// STARTUP on `stream`; asserts READY and switches the codec.
    async fn startup(&mut self, stream: i16, compression: Option<Compression>) {
        let mut startup = Startup::new();
        if let Some(c) = compression {
            startup = startup.with_option("COMPRESSION", c.name());
        }
        // v3/v4: READY already comes compressed (as from Cassandra); v5: READY is the last
        // envelope before the segments.
        self.send_all(&[(stream, Request::Startup(startup))]).await;
        if !self.version.is_framed() {
            self.codec.established(self.version, compression).unwrap();
        }
        let envelope = self.next().await;
        assert_eq!(envelope.header.stream, stream, "{envelope:?}");
        let answer = self.decode(&envelope);
        assert_eq!(answer, Response::Ready, "STARTUP in {:?}", self.version);
        if self.version.is_framed() {
            self.codec.established(self.version, compression).unwrap();
        }
    }

    /// Appends `request` on `stream` to `out` (call [`Client::flush`] before writing).
    fn encode(&mut self, stream: i16, request: &Request, out: &mut BytesMut) {
        let mut body = BytesMut::new();
        request.encode(self.version, &mut body).unwrap();
        let header = Header::new(self.version, Direction::Request, stream, request.opcode());
        self.codec
            .encode(&Envelope::new(header, body.freeze()), out)
            .unwrap();
    }

    fn flush(&mut self, out: &mut BytesMut) {
        self.codec.flush(out).unwrap();
    }

    /// Writes `requests` in one `write_all`.
    async fn send_all(&mut self, requests: &[(i16, Request)]) {
        let mut out = BytesMut::new();
        for (stream, request) in requests {
            self.encode(*stream, request, &mut out);
        }
        self.flush(&mut out);
        self.socket.write_all(&out).await.unwrap();
    }

    /// The next envelope from the node; panics if the node closes or is silent too long.
    async fn next(&mut self) -> Envelope {
        loop {
            match self.codec.decode(&mut self.received) {
                Ok(Decoded::Ready(envelope)) => return envelope,
                Ok(Decoded::NeedMore(_)) => {}
                Err(e) => panic!("the node sent bytes that do not decode: {e}"),
            }
            let read = tokio::time::timeout(PATIENCE, self.socket.read_buf(&mut self.received))
                .await
                .expect("the node answers in time")
                .expect("the socket reads");
            assert!(read > 0, "the node closed the connection");
        }
    }

    /// Sends `request` on `stream` alone and returns its answer (which must come on `stream`).
    async fn ask(&mut self, stream: i16, request: &Request) -> Response {
        self.send_all(&[(stream, request.clone())]).await;
        let envelope = self.next().await;
        assert_eq!(envelope.header.stream, stream, "{envelope:?}");
        self.decode(&envelope)
    }

    /// The answers to `n` requests, by stream id (each stream answered once).
    async fn answers(&mut self, n: usize) -> BTreeMap<i16, Response> {
        let mut answers = BTreeMap::new();
        while answers.len() < n {
            let envelope = self.next().await;
            let stream = envelope.header.stream;
            let response = self.decode(&envelope);
            if let Some(earlier) = answers.insert(stream, response) {
                panic!("stream {stream} answered twice: {earlier:?}");
            }
        }
        answers
    }

    fn decode(&self, envelope: &Envelope) -> Response {
        let flags = envelope.header.flags;
        let (_, message) = split_response_body(
            &envelope.body,
            flags.contains(Flags::TRACING),
            flags.contains(Flags::WARNING),
            flags.contains(Flags::CUSTOM_PAYLOAD),
        )
        .unwrap();
        Response::decode(envelope.header.opcode, &message, self.version)
            .unwrap_or_else(|e| panic!("{envelope:?} does not decode: {e}"))
    }

    /// Runs `cql` on stream 100 and returns its answer.
    async fn query(&mut self, cql: &str) -> Response {
        self.ask(100, &query(cql)).await
    }

    /// Runs `cql`, which must succeed.
    async fn run(&mut self, cql: &str) -> Response {
        let answer = self.query(cql).await;
        assert!(matches!(answer, Response::Result(_)), "{cql}: {answer:?}");
        answer
    }
}

fn query(cql: &str) -> Request {
    Request::Query(Query::new(
        cql,
        QueryParameters::new(Consistency::LocalQuorum),
    ))
}

fn query_with(cql: &str, values: Vec<Value>) -> Request {
    let params = QueryParameters::new(Consistency::LocalQuorum).with_values(values);
    Request::Query(Query::new(cql, params))
}

fn prepare(cql: &str) -> Request {
    Request::Prepare(Prepare::new(cql))
}

fn execute(prepared: &Prepared, values: Vec<Value>) -> Request {
    let params = QueryParameters::new(Consistency::LocalQuorum).with_values(values);
    Request::Execute(Execute::new(
        prepared.id.clone(),
        prepared.metadata_id.clone(),
        params,
    ))
}

fn int(v: i32) -> Value {
    Value::Bytes(Bytes::copy_from_slice(&v.to_be_bytes()))
}

/// A prepared statement as a client keeps it.
#[derive(Debug, Clone)]
struct Prepared {
    id: Bytes,
    metadata_id: Option<Bytes>,
}

fn prepared(answer: &Response) -> Prepared {
    match answer {
        Response::Result(ResultBody::Prepared(p)) => Prepared {
            id: p.id.clone(),
            metadata_id: p.result_metadata_id.clone(),
        },
        other => panic!("not PREPARED: {other:?}"),
    }
}

/// The rows of a RESULT, each cell as text (`None` for null).
fn rows(answer: &Response) -> Vec<Vec<Option<String>>> {
    let Response::Result(ResultBody::Rows(rows)) = answer else {
        panic!("not ROWS: {answer:?}");
    };
    rows.rows()
        .unwrap()
        .map(|row| {
            row.unwrap()
                .cells()
                .map(|cell| match cell {
                    RawValue::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
                    RawValue::Null | RawValue::Unset => None,
                })
                .collect()
        })
        .collect()
}

/// The single text cell of a one-row answer.
fn single_text(answer: &Response) -> String {
    let all = rows(answer);
    assert_eq!(all.len(), 1, "{answer:?}");
    all[0][0].clone().expect("not null")
}

fn protocol_error(answer: &Response) -> String {
    match answer {
        Response::Error(e) if e.details == ErrorDetails::ProtocolError => e.message.clone(),
        other => panic!("not a PROTOCOL_ERROR: {other:?}"),
    }
}

/// Creates keyspace `ks` (through the node, which waits for schema agreement) and the
/// statements in `ddl` (run with `{ks}` replaced).
async fn schema(client: &mut Client, ks: &str, ddl: &[&str]) {
    client
        .run(&format!(
            "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = \
             {{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}}"
        ))
        .await;
    for statement in ddl {
        client.run(&statement.replace("{ks}", ks)).await;
    }
}

/// `USE ks` until the node's view of the schema knows `ks` (it learns it from the cluster's
/// schema events, a moment after the DDL's answer).
async fn use_keyspace(client: &mut Client, ks: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match client.query(&format!("USE {ks}")).await {
            Response::Result(ResultBody::SetKeyspace(got)) => {
                assert_eq!(got, ks);
                return;
            }
            other if tokio::time::Instant::now() > deadline => panic!("USE {ks}: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The exact text drivers parse to step down from version `n`.
fn refusal(n: u8) -> String {
    format!(
        "Invalid or unsupported protocol version ({n}); supported versions are (3/v3, 4/v4, 5/v5)"
    )
}

/// Reads one envelope with a v5-layout header (the layout of refusals of versions above 5)
/// from an unframed connection, without the codec.
async fn raw_envelope(socket: &mut TcpStream) -> ([u8; 9], Vec<u8>) {
    let mut header = [0u8; 9];
    tokio::time::timeout(PATIENCE, socket.read_exact(&mut header))
        .await
        .expect("an answer in time")
        .expect("a whole header");
    let len = u32::from_be_bytes(header[5..9].try_into().unwrap()) as usize;
    let mut body = vec![0u8; len];
    tokio::time::timeout(PATIENCE, socket.read_exact(&mut body))
        .await
        .expect("an answer in time")
        .expect("a whole body");
    (header, body)
}

// ---------------------------------------------------------------------------------------
// 1. Version downgrade.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_versions_are_refused_with_the_text_drivers_parse_then_the_socket_serves() {
    let addr = support::ringgate_node().await;
    let mut setup = Client::ready(addr, V4, None).await;
    schema(
        &mut setup,
        "rg_edge_versions",
        &["CREATE TABLE IF NOT EXISTS {ks}.kv (k int PRIMARY KEY, v text)"],
    )
    .await;
    setup
        .run("INSERT INTO rg_edge_versions.kv (k, v) VALUES (1, 'one')")
        .await;

    for version in [V5, V4] {
        let mut client = Client::connect(addr, version).await;
        // v6 without and with the beta flag (0x10), then 66: OPTIONS, STARTUP and a STARTUP
        // with a body, as drivers open.
        let startup_body = {
            let mut body = BytesMut::new();
            Startup::new().encode(&mut body).unwrap();
            body
        };
        let attempts: [(u8, u8, i16, Opcode, &[u8]); 4] = [
            (6, 0x00, 0, Opcode::Options, &[]),
            (6, 0x10, 7, Opcode::Startup, &startup_body),
            (66, 0x00, 32767, Opcode::Startup, &startup_body),
            (66, 0x10, 3, Opcode::Options, &[]),
        ];
        for (byte, flags, stream, opcode, body) in attempts {
            let mut frame = vec![byte, flags];
            frame.extend_from_slice(&stream.to_be_bytes());
            frame.push(opcode as u8);
            frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
            frame.extend_from_slice(body);
            client.socket.write_all(&frame).await.unwrap();
            let (header, body) = raw_envelope(&mut client.socket).await;
            let what = format!("version {byte} flags {flags:#x} then {version:?}");
            // A v5-layout response header on the request's stream, ERROR, no flags.
            assert_eq!(header[0], 0x85, "{what}: {header:?}");
            assert_eq!(header[1], 0, "{what}: {header:?}");
            assert_eq!(i16::from_be_bytes([header[2], header[3]]), stream, "{what}");
            assert_eq!(header[4], Opcode::Error as u8, "{what}");
            assert_eq!(&body[..4], &[0, 0, 0, 0x0A], "{what}: PROTOCOL_ERROR");
            let len = u16::from_be_bytes([body[4], body[5]]) as usize;
            assert_eq!(
                len,
                body.len() - 6,
                "{what}: one [string], nothing after it"
            );
            assert_eq!(String::from_utf8_lossy(&body[6..]), refusal(byte), "{what}");
        }
        // A refused header that arrives in two pieces.
        let frame = [66u8, 0, 0, 12, Opcode::Options as u8, 0, 0, 0, 0];
        client.socket.write_all(&frame[..3]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.socket.write_all(&frame[3..]).await.unwrap();
        let (header, body) = raw_envelope(&mut client.socket).await;
        assert_eq!(header[..5], [0x85, 0, 0, 12, Opcode::Error as u8]);
        assert_eq!(String::from_utf8_lossy(&body[6..]), refusal(66));
        // Version 2, with its 8-byte header (one-byte stream id): answered in that layout.
        client
            .socket
            .write_all(&[2, 0, 9, Opcode::Options as u8, 0, 0, 0, 0])
            .await
            .unwrap();
        let mut header = [0u8; 8];
        client.socket.read_exact(&mut header).await.unwrap();
        assert_eq!(header[..4], [0x82, 0, 9, Opcode::Error as u8]);
        let mut body = vec![0u8; u32::from_be_bytes(header[4..8].try_into().unwrap()) as usize];
        client.socket.read_exact(&mut body).await.unwrap();
        assert_eq!(&body[..4], &[0, 0, 0, 0x0A]);
        assert_eq!(String::from_utf8_lossy(&body[6..]), refusal(2));
        // The same socket now completes a handshake and runs a forwarded query.
        client.startup(5, None).await;
        let answer = client
            .query("SELECT v FROM rg_edge_versions.kv WHERE k = 1")
            .await;
        assert_eq!(single_text(&answer), "one", "{version:?}");
    }
}

const DOWNGRADE_SCRIPT: &str = r#"
import sys, logging
from cassandra.cluster import Cluster, NoHostAvailable
logging.basicConfig(level=logging.WARNING, format="LOG %(levelname)s %(name)s: %(message)s")
port = int(sys.argv[1])
cluster = Cluster(["127.0.0.1"], port=port, allow_beta_protocol_version=True,
                  connect_timeout=20, control_connection_timeout=20)
session = cluster.connect()
print("protocol=%s" % cluster.protocol_version)
conn = cluster.control_connection._connection
print("checksumming=%s" % conn._is_checksumming_enabled)
row = session.execute("SELECT v FROM rg_edge_beta.kv WHERE k = 1").one()
print("value=%s" % row.v)
cluster.shutdown()
print("--- pinned to v6", file=sys.stderr, flush=True)
# Pinned to v6 (sent with the beta flag): no downgrade, the node's refusal is the error.
pinned = Cluster(["127.0.0.1"], port=port, protocol_version=6, allow_beta_protocol_version=True,
                 connect_timeout=20, control_connection_timeout=20)
try:
    pinned.connect()
    print("v6=connected?!")
except NoHostAvailable as e:
    print("v6=%s" % " ".join(str(e).split()))
finally:
    pinned.shutdown()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_driver_with_beta_versions_allowed_steps_down_to_v5() {
    let addr = support::ringgate_node().await;
    let mut setup = Client::ready(addr, V4, None).await;
    schema(
        &mut setup,
        "rg_edge_beta",
        &["CREATE TABLE IF NOT EXISTS {ks}.kv (k int PRIMARY KEY, v text)"],
    )
    .await;
    setup
        .run("INSERT INTO rg_edge_beta.kv (k, v) VALUES (1, 'one')")
        .await;
    let port = addr.port();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(support::python())
            .arg("-c")
            .arg(DOWNGRADE_SCRIPT)
            .arg(port.to_string())
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(out.status.success(), "{all}");
    let got = support::key_values(&stdout);
    assert_eq!(got.get("protocol").map(String::as_str), Some("5"), "{all}");
    assert_eq!(
        got.get("checksumming").map(String::as_str),
        Some("True"),
        "{all}"
    );
    assert_eq!(got.get("value").map(String::as_str), Some("one"), "{all}");
    // Driver 3.29.3 opens with its newest version, DSE_V2 (66), and steps down one supported
    // version per refusal, skipping beta ones (`ProtocolVersion.get_lower_supported`): 66, 65,
    // then 5. It never offers v6 unless pinned to it (below).
    let downgrades: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.split_once("Downgrading core protocol version from "))
        .filter_map(|(_, rest)| rest.split_once(" for "))
        .map(|(steps, _)| steps)
        .collect();
    assert_eq!(downgrades, ["66 to 65", "65 to 5"], "{all}");
    // No other warning about the node (the driver's own advice about its load-balancing
    // policy aside).
    let (downgrade_log, _) = stderr
        .split_once("--- pinned to v6")
        .unwrap_or((&stderr, ""));
    let warnings: Vec<&str> = downgrade_log
        .lines()
        .filter(|l| l.starts_with("LOG WARNING") || l.starts_with("LOG ERROR"))
        .filter(|l| !l.contains("Downgrading core protocol version"))
        .filter(|l| !l.contains("no load_balancing_policy"))
        .collect();
    assert!(warnings.is_empty(), "{all}");
    // Pinned to v6 with the beta flag, the driver recognises the refusal ("unsupported
    // protocol version" in a protocol error) and, not allowed to step down, says so.
    let pinned = got.get("v6").map(String::as_str).unwrap_or_default();
    assert!(
        pinned.contains(
            "ProtocolError returned from server while using explicitly set client protocol_version 6"
        ),
        "{all}"
    );
}

// ---------------------------------------------------------------------------------------
// 2. OPTIONS before and after STARTUP.

fn assert_supported(answer: &Response, what: &str) {
    let Response::Supported(supported) = answer else {
        panic!("{what}: not SUPPORTED: {answer:?}");
    };
    let options: BTreeMap<&str, BTreeSet<&str>> = supported
        .options
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        options.get("PROTOCOL_VERSIONS"),
        Some(&BTreeSet::from(["3/v3", "4/v4", "5/v5"])),
        "{what}: {options:?}"
    );
    assert_eq!(
        options.get("COMPRESSION"),
        Some(&BTreeSet::from(["lz4", "snappy"])),
        "{what}: {options:?}"
    );
    let cql = options.get("CQL_VERSION").expect("CQL_VERSION");
    assert_eq!(cql.len(), 1, "{what}: {options:?}");
    let cql = cql.iter().next().unwrap();
    assert!(
        cql.split('.').count() == 3 && cql.starts_with("3."),
        "{what}: CQL_VERSION {cql}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_is_answered_before_and_after_startup() {
    let addr = support::ringgate_node().await;
    for version in [ProtocolVersion::V3, V4, V5] {
        for compression in [None, Some(Compression::Lz4)] {
            let what = format!("{version:?} {compression:?}");
            let mut client = Client::connect(addr, version).await;
            let before = client.ask(9, &Request::Options).await;
            assert_supported(&before, &format!("{what}, before STARTUP"));
            // Twice, on stream 0.
            let again = client.ask(0, &Request::Options).await;
            assert_supported(&again, &format!("{what}, before STARTUP again"));
            client.startup(1, compression).await;
            // After STARTUP: through the framing (v5) or compression (v4) now in place.
            let after = client.ask(2, &Request::Options).await;
            assert_supported(&after, &format!("{what}, after STARTUP"));
            let local = client
                .query("SELECT key FROM system.local WHERE key = 'local'")
                .await;
            assert_eq!(single_text(&local), "local", "{what}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// 3. USE and PREPARE pipelined in one write.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_then_prepare_and_query_in_one_write_resolve_in_the_new_keyspace() {
    let addr = support::ringgate_node().await;
    let mut setup = Client::ready(addr, V4, None).await;
    // Two keyspaces with a table of the same name and different contents: an answer from the
    // wrong one (or from none) shows.
    for (ks, value) in [("rg_edge_use_a", "from a"), ("rg_edge_use_b", "from b")] {
        schema(
            &mut setup,
            ks,
            &["CREATE TABLE IF NOT EXISTS {ks}.kv (k int PRIMARY KEY, v text)"],
        )
        .await;
        setup
            .run(&format!("INSERT INTO {ks}.kv (k, v) VALUES (1, '{value}')"))
            .await;
        // Wait until the node knows the keyspace.
        use_keyspace(&mut setup, ks).await;
    }

    for version in [V4, V5] {
        let mut ids = BTreeMap::new();
        for (ks, value) in [("rg_edge_use_a", "from a"), ("rg_edge_use_b", "from b")] {
            let what = format!("{version:?} {ks}");
            let mut client = Client::ready(addr, version, Some(Compression::Lz4)).await;
            // USE, PREPARE of an unqualified table, QUERY of it: one write.
            client
                .send_all(&[
                    (10, query(&format!("USE {ks}"))),
                    (11, prepare("SELECT v FROM kv WHERE k = ?")),
                    (12, query("SELECT v FROM kv WHERE k = 1")),
                ])
                .await;
            let answers = client.answers(3).await;
            assert_eq!(
                answers.keys().copied().collect::<Vec<_>>(),
                [10, 11, 12],
                "{what}"
            );
            assert_eq!(
                answers[&10],
                Response::Result(ResultBody::SetKeyspace(ks.to_owned())),
                "{what}"
            );
            let statement = prepared(&answers[&11]);
            assert_eq!(single_text(&answers[&12]), value, "{what}: QUERY after USE");
            // EXECUTE in the next write.
            let answer = client.ask(13, &execute(&statement, vec![int(1)])).await;
            assert_eq!(single_text(&answer), value, "{what}: EXECUTE");
            ids.insert(ks, statement);
        }
        let (a, b) = (&ids["rg_edge_use_a"], &ids["rg_edge_use_b"]);
        assert_ne!(a.id, b.id, "the same text in two keyspaces: two statements");

        // On a fresh connection: USE, PREPARE, EXECUTE of the id the PREPARE will return,
        // and QUERY, all in one write.
        for (ks, value, statement) in [
            ("rg_edge_use_b", "from b", b),
            ("rg_edge_use_a", "from a", a),
        ] {
            let what = format!("{version:?} {ks}, one write");
            let mut client = Client::ready(addr, version, None).await;
            client
                .send_all(&[
                    (0, query(&format!("USE {ks}"))),
                    (32767, prepare("SELECT v FROM kv WHERE k = ?")),
                    (5, execute(statement, vec![int(1)])),
                    (6, query_with("SELECT v FROM kv WHERE k = ?", vec![int(1)])),
                ])
                .await;
            let answers = client.answers(4).await;
            assert_eq!(
                answers[&0],
                Response::Result(ResultBody::SetKeyspace(ks.to_owned())),
                "{what}"
            );
            assert_eq!(prepared(&answers[&32767]).id, statement.id, "{what}");
            assert_eq!(single_text(&answers[&5]), value, "{what}: EXECUTE");
            assert_eq!(single_text(&answers[&6]), value, "{what}: QUERY");
        }
    }
}

// ---------------------------------------------------------------------------------------
// 4. EXECUTE on another connection; EXECUTE of an unknown id.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_on_a_connection_that_never_prepared_runs_and_unknown_ids_are_unprepared() {
    let addr = support::ringgate_node().await;
    let mut a = Client::ready(addr, V4, None).await;
    schema(
        &mut a,
        "rg_edge_exec",
        &["CREATE TABLE IF NOT EXISTS {ks}.kv (k int PRIMARY KEY, v text)"],
    )
    .await;
    a.run("INSERT INTO rg_edge_exec.kv (k, v) VALUES (7, 'seven')")
        .await;
    let select = "SELECT v FROM rg_edge_exec.kv WHERE k = ?";

    for version in [V4, V5, ProtocolVersion::V3] {
        let mut a = Client::ready(addr, version, None).await;
        let statement = prepared(&a.ask(1, &prepare(select)).await);
        // B never saw the PREPARE; Ringgate did.
        let mut b = Client::ready(addr, version, Some(Compression::Lz4)).await;
        let answer = b.ask(2, &execute(&statement, vec![int(7)])).await;
        assert_eq!(single_text(&answer), "seven", "{version:?}");

        // An id nobody prepared.
        let unknown = Prepared {
            id: Bytes::from_static(&[
                0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
            ]),
            metadata_id: statement.metadata_id.clone(),
        };
        let answer = b.ask(3, &execute(&unknown, vec![int(7)])).await;
        match &answer {
            Response::Error(e) => {
                assert_eq!(
                    e.details,
                    ErrorDetails::Unprepared {
                        id: unknown.id.clone()
                    },
                    "{version:?}: {e:?}"
                );
            }
            other => panic!("{version:?}: not UNPREPARED: {other:?}"),
        }
        // The connection goes on.
        let answer = b.ask(3, &execute(&statement, vec![int(7)])).await;
        assert_eq!(single_text(&answer), "seven", "{version:?}");
    }

    // A second Ringgate node never saw the PREPARE: UNPREPARED with the id, as a driver
    // expects; it re-prepares (same id: Cassandra derives it from the text) and runs.
    let other = support::ringgate_node().await;
    let mut first = Client::ready(addr, V4, None).await;
    // A text no earlier run prepared.
    let fresh = format!(
        "SELECT v AS v_{} FROM rg_edge_exec.kv WHERE k = ?",
        std::process::id()
    );
    let statement = prepared(&first.ask(1, &prepare(&fresh)).await);
    let mut c = Client::ready(other, V4, None).await;
    match c.ask(2, &execute(&statement, vec![int(7)])).await {
        Response::Error(e) => assert_eq!(
            e.details,
            ErrorDetails::Unprepared {
                id: statement.id.clone()
            },
            "{e:?}"
        ),
        // The cluster may know the statement from the first node: then it simply runs.
        answer => assert_eq!(single_text(&answer), "seven"),
    }
    let again = prepared(&c.ask(3, &prepare(&fresh)).await);
    assert_eq!(again.id, statement.id);
    let answer = c.ask(4, &execute(&again, vec![int(7)])).await;
    assert_eq!(single_text(&answer), "seven");
}

// ---------------------------------------------------------------------------------------
// 5. Stream ids across their range; events on -1.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_stream_id_is_answered_on_itself_and_events_come_on_minus_one() {
    let addr = support::ringgate_node().await;
    let mut ddl = Client::ready(addr, V4, None).await;
    schema(
        &mut ddl,
        "rg_edge_streams",
        &["CREATE TABLE IF NOT EXISTS {ks}.kv (k int PRIMARY KEY, v int)"],
    )
    .await;
    // Rows 0..500 with v = k * 3.
    let mut inserts = Vec::new();
    for k in 0..500 {
        inserts.push((
            k as i16,
            query(&format!(
                "INSERT INTO rg_edge_streams.kv (k, v) VALUES ({k}, {})",
                k * 3
            )),
        ));
    }
    ddl.send_all(&inserts).await;
    let answers = ddl.answers(inserts.len()).await;
    assert!(
        answers
            .values()
            .all(|a| matches!(a, Response::Result(ResultBody::Void))),
        "{answers:?}"
    );

    for version in [V4, V5] {
        let mut client = Client::ready(addr, version, Some(Compression::Lz4)).await;
        let registered = client
            .ask(
                32767,
                &Request::Register(Register {
                    events: vec![EventType::SchemaChange],
                }),
            )
            .await;
        assert_eq!(registered, Response::Ready);
        let select = prepared(
            &client
                .ask(0, &prepare("SELECT v FROM rg_edge_streams.kv WHERE k = ?"))
                .await,
        );
        // 0, 32767 and ids spread over the whole range: 300 requests in flight.
        let mut ids: Vec<i16> = (0..298).map(|i| (i * 110 + 1) as i16).collect();
        ids.extend([0, 32767]);
        let key_of = |stream: i16| i32::from(stream) % 500;
        let mut in_flight: BTreeMap<i16, i32> = BTreeMap::new();
        let mut batch = Vec::new();
        for &id in &ids {
            let k = key_of(id);
            in_flight.insert(id, k);
            batch.push((id, execute(&select, vec![int(k)])));
        }
        client.send_all(&batch).await;

        // While they run, another connection changes the schema.
        let table = format!("t{}_{}", version.number(), std::process::id());
        let ours = |event: &Response| match event {
            Response::Event(Event::SchemaChange(SchemaChange {
                change_type,
                target: SchemaChangeTarget::Table { keyspace, table: t },
            })) if keyspace == "rg_edge_streams" && *t == table => Some(*change_type),
            _ => None,
        };
        let name = table.clone();
        let ddl_task = tokio::spawn(async move {
            let table = name;
            let mut other = Client::ready(addr, V4, None).await;
            for ddl in [
                format!("CREATE TABLE rg_edge_streams.{table} (k int PRIMARY KEY)"),
                format!("DROP TABLE rg_edge_streams.{table}"),
            ] {
                // Applied even when the replicas are slow to agree on it (the cluster is
                // shared with other tests); the events are what matters here.
                match other.query(&ddl).await {
                    Response::Result(ResultBody::SchemaChange(_)) => {}
                    Response::Error(e) if e.message.contains("schema agreement") => {}
                    answer => panic!("{ddl}: {answer:?}"),
                }
            }
        });

        // Each answer on its request's stream; each stream reused at once with another key,
        // three rounds; events on -1 only.
        let mut answered = 0usize;
        let mut events = Vec::new();
        let mut round: BTreeMap<i16, u32> = BTreeMap::new();
        while !in_flight.is_empty() || events.iter().filter(|e| ours(e).is_some()).count() < 2 {
            let envelope = client.next().await;
            let stream = envelope.header.stream;
            let response = client.decode(&envelope);
            if stream == -1 {
                assert_eq!(envelope.header.opcode, Opcode::Event, "{response:?}");
                events.push(response);
                continue;
            }
            assert_ne!(
                envelope.header.opcode,
                Opcode::Event,
                "an event on {stream}"
            );
            let k = in_flight
                .remove(&stream)
                .unwrap_or_else(|| panic!("an answer on {stream}, which has no request"));
            let Response::Result(ResultBody::Rows(r)) = &response else {
                panic!("stream {stream}: not ROWS: {response:?}");
            };
            let cell = r.rows().unwrap().next().unwrap().unwrap();
            let RawValue::Bytes(bytes) = cell.cells().next().unwrap() else {
                panic!("null");
            };
            assert_eq!(
                i32::from_be_bytes(bytes.try_into().unwrap()),
                k * 3,
                "stream {stream}: the answer to another request"
            );
            answered += 1;
            let n = round.entry(stream).or_default();
            if *n < 3 {
                *n += 1;
                let k = (k + 7 * (*n as i32)) % 500;
                in_flight.insert(stream, k);
                client
                    .send_all(&[(stream, execute(&select, vec![int(k)]))])
                    .await;
            }
        }
        ddl_task.await.unwrap();
        assert_eq!(answered, ids.len() * 4, "{version:?}");
        // Every event is a schema change (other clients of the cluster may make some too);
        // ours are CREATE then DROP of the table.
        assert!(
            events
                .iter()
                .all(|e| matches!(e, Response::Event(Event::SchemaChange(_)))),
            "{events:?}"
        );
        let kinds: Vec<_> = events.iter().filter_map(ours).collect();
        assert_eq!(
            kinds,
            [SchemaChangeType::Created, SchemaChangeType::Dropped],
            "{version:?}: {events:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 6. Clients vanishing mid-request.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_vanishing_mid_request_do_not_disturb_others() {
    let addr = support::ringgate_node().await;
    let mut setup = Client::ready(addr, V4, None).await;
    schema(
        &mut setup,
        "rg_edge_drop",
        &[
            "CREATE TABLE IF NOT EXISTS {ks}.wide (p int, c int, v text, PRIMARY KEY (p, c))",
            "CREATE TABLE IF NOT EXISTS {ks}.kv (k int PRIMARY KEY, v text)",
        ],
    )
    .await;
    setup
        .run("INSERT INTO rg_edge_drop.kv (k, v) VALUES (1, 'steady')")
        .await;
    // A partition of 4,000 rows of 1 KiB.
    let filler = "x".repeat(1024);
    let insert = prepared(
        &setup
            .ask(
                1,
                &prepare("INSERT INTO rg_edge_drop.wide (p, c, v) VALUES (0, ?, ?)"),
            )
            .await,
    );
    for chunk in (0..4000).collect::<Vec<i32>>().chunks(500) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|&c| {
                let text = Value::Bytes(Bytes::from(filler.clone()));
                (c as i16, execute(&insert, vec![int(c), text]))
            })
            .collect();
        setup.send_all(&batch).await;
        let answers = setup.answers(batch.len()).await;
        assert!(
            answers.values().all(|a| matches!(a, Response::Result(_))),
            "{answers:?}"
        );
    }

    // A steady client runs requests the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let steady = {
        let (stop, done) = (stop.clone(), done.clone());
        tokio::spawn(async move {
            let mut client = Client::ready(addr, V5, Some(Compression::Lz4)).await;
            let mut stream = 0i16;
            while !stop.load(Ordering::Relaxed) {
                stream = (stream + 1) % 1000;
                let answer = client
                    .ask(stream, &query("SELECT v FROM rg_edge_drop.kv WHERE k = 1"))
                    .await;
                assert_eq!(single_text(&answer), "steady");
                done.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let whole = "SELECT * FROM rg_edge_drop.wide WHERE p = 0";
    for round in 0..3 {
        // Many large reads in flight, then an abrupt close (RST).
        for version in [V4, V5] {
            let mut client = Client::ready(addr, version, Some(Compression::Lz4)).await;
            let requests: Vec<_> = (0..40).map(|s| (s, query(whole))).collect();
            client.send_all(&requests).await;
            if round > 0 {
                // Let some answers start streaming back.
                let _ = client.next().await;
            }
            client.socket.set_zero_linger().unwrap();
            drop(client);
        }
        // Half a header.
        let mut half = Client::ready(addr, V4, None).await;
        half.socket.write_all(&[4, 0, 0, 9, 7]).await.unwrap();
        drop(half);
        // A whole header and half its body.
        let mut body_cut = Client::ready(addr, V4, None).await;
        let mut out = BytesMut::new();
        body_cut.encode(9, &query(whole), &mut out);
        let cut = out.len() - 10;
        body_cut.socket.write_all(&out[..cut]).await.unwrap();
        body_cut.socket.set_zero_linger().unwrap();
        drop(body_cut);
        // Half a v5 segment.
        let mut segment_cut = Client::ready(addr, V5, None).await;
        let mut out = BytesMut::new();
        segment_cut.encode(9, &query(whole), &mut out);
        segment_cut.flush(&mut out);
        let cut = out.len() / 2;
        segment_cut.socket.write_all(&out[..cut]).await.unwrap();
        drop(segment_cut);
        // Before STARTUP, mid-header.
        let mut early = Client::connect(addr, V5).await;
        early.socket.write_all(&[5, 0, 0]).await.unwrap();
        drop(early);
    }
    // Let the node notice every close while the steady client goes on.
    let before = done.load(Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while done.load(Ordering::Relaxed) < before + 20 {
        assert!(
            tokio::time::Instant::now() < deadline && !steady.is_finished(),
            "the steady client stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    steady.await.expect("every steady request succeeded");
    assert!(done.load(Ordering::Relaxed) >= 20);

    // New connections are still served, large reads included.
    let mut after = Client::ready(addr, V5, Some(Compression::Lz4)).await;
    let answer = after.query(whole).await;
    assert_eq!(rows(&answer).len(), 4000);
    let mut after = Client::ready(addr, V4, None).await;
    let answer = after
        .query("SELECT v FROM rg_edge_drop.kv WHERE k = 1")
        .await;
    assert_eq!(single_text(&answer), "steady");
}

// ---------------------------------------------------------------------------------------
// 7. Malformed input.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_protocol_errors_and_affect_only_their_connection() {
    let addr = support::ringgate_node().await;
    let mut bystander = Client::ready(addr, V5, None).await;
    let local = "SELECT key FROM system.local";
    let forwarded =
        "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = 'system'";
    let check_bystander = async |bystander: &mut Client| {
        assert_eq!(single_text(&bystander.query(forwarded).await), "system");
    };
    check_bystander(&mut bystander).await;

    for version in [ProtocolVersion::V3, V4] {
        let byte = version.number();
        // A body length beyond the limit (16 MiB): PROTOCOL_ERROR on its stream; the body is
        // skipped as it arrives and the connection goes on.
        let mut client = Client::ready(addr, version, None).await;
        let len: u32 = 16 * 1024 * 1024 + 1;
        let mut header = vec![byte, 0, 0, 21, Opcode::Query as u8];
        header.extend_from_slice(&len.to_be_bytes());
        client.socket.write_all(&header).await.unwrap();
        let envelope = client.next().await;
        assert_eq!(envelope.header.stream, 21);
        let message = protocol_error(&client.decode(&envelope));
        assert!(
            message.contains("too big") || message.contains("too large"),
            "{message}"
        );
        client
            .socket
            .write_all(&vec![0u8; len as usize])
            .await
            .unwrap();
        assert_eq!(
            single_text(&client.query(forwarded).await),
            "system",
            "{version:?}"
        );

        // An unknown opcode, with a body.
        let mut frame = vec![byte, 0, 0, 22, 0x42, 0, 0, 0, 3, 1, 2, 3];
        client.socket.write_all(&frame).await.unwrap();
        let envelope = client.next().await;
        assert_eq!(envelope.header.stream, 22);
        let message = protocol_error(&client.decode(&envelope));
        assert!(message.contains("opcode"), "{message}");
        assert_eq!(
            single_text(&client.query(local).await),
            "local",
            "{version:?}"
        );

        // A response opcode sent as a request.
        frame[4] = Opcode::Ready as u8;
        frame[3] = 23;
        client.socket.write_all(&frame).await.unwrap();
        let envelope = client.next().await;
        assert_eq!(envelope.header.stream, 23);
        protocol_error(&client.decode(&envelope));

        let known = prepared(
            &client
                .ask(
                    20,
                    &prepare(
                        "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
                    ),
                )
                .await,
        );
        // Truncated bodies: each message's contents claim more than the envelope holds.
        for (stream, request) in [
            (24, query(forwarded)),
            (25, prepare(forwarded)),
            (26, query(local)),
            // A statement Ringgate knows, its value cut short. (With an id it does not know,
            // the answer is UNPREPARED: the body is not read past the id.)
            (
                27,
                execute(&known, vec![Value::Bytes(Bytes::from_static(b"system"))]),
            ),
        ] {
            let mut body = BytesMut::new();
            request.encode(version, &mut body).unwrap();
            let cut = body.len() - 3;
            let mut frame = vec![byte, 0, 0, stream as u8, request.opcode() as u8];
            frame.extend_from_slice(&(cut as u32).to_be_bytes());
            frame.extend_from_slice(&body[..cut]);
            client.socket.write_all(&frame).await.unwrap();
            let envelope = client.next().await;
            assert_eq!(envelope.header.stream, stream, "{request:?}");
            protocol_error(&client.decode(&envelope));
        }
        // A BATCH body cut short.
        let batch = [
            0u8, 0, 1, // LOGGED, one statement
            0, 0, 0, 0, 100, b'I',
            b'N', // kind 0 (a query), a [long string] of 100 bytes: cut
        ];
        let mut frame = vec![byte, 0, 0, 28, Opcode::Batch as u8];
        frame.extend_from_slice(&(batch.len() as u32).to_be_bytes());
        frame.extend_from_slice(&batch);
        client.socket.write_all(&frame).await.unwrap();
        let envelope = client.next().await;
        assert_eq!(envelope.header.stream, 28);
        protocol_error(&client.decode(&envelope));

        // After all that, the connection still serves.
        assert_eq!(
            single_text(&client.query(forwarded).await),
            "system",
            "{version:?}"
        );
        check_bystander(&mut bystander).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_envelope_in_v5_segments_is_refused_and_the_connection_goes_on() {
    let addr = support::ringgate_node().await;
    let mut client = Client::ready(addr, V5, Some(Compression::Lz4)).await;
    let mut bystander = Client::ready(addr, V5, None).await;
    // A QUERY whose body is one byte over the 16 MiB limit, cut into segments.
    let text = format!(
        "SELECT key FROM system.local WHERE key = '{}'",
        "x".repeat(16 * 1024 * 1024)
    );
    client.send_all(&[(31, query(&text))]).await;
    let envelope = client.next().await;
    assert_eq!(envelope.header.stream, 31);
    let message = protocol_error(&client.decode(&envelope));
    assert!(
        message.contains("too big") || message.contains("too large"),
        "{message}"
    );
    let answer = client.query("SELECT key FROM system.local").await;
    assert_eq!(single_text(&answer), "local");
    let answer = bystander.query("SELECT key FROM system.local").await;
    assert_eq!(single_text(&answer), "local");
}

/// A prepared `USE` switches the session that runs it, never the cluster connections other
/// sessions share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_use_switches_only_its_own_session() {
    let addr = support::ringgate_node().await;
    let mut a = Client::ready(addr, V4, None).await;
    schema(
        &mut a,
        "rg_edge_puse",
        &["CREATE TABLE IF NOT EXISTS {ks}.kv (k int PRIMARY KEY, v text)"],
    )
    .await;
    a.run("INSERT INTO rg_edge_puse.kv (k, v) VALUES (1, 'one')")
        .await;
    use_keyspace(&mut a, "rg_edge_puse").await;
    let mut a = Client::ready(addr, V4, None).await;
    let switch = prepared(&a.ask(1, &prepare("USE rg_edge_puse")).await);
    let mut b = Client::ready(addr, V4, None).await;
    for round in 0..20 {
        let answer = a.ask(2, &execute(&switch, vec![])).await;
        assert_eq!(
            answer,
            Response::Result(ResultBody::SetKeyspace("rg_edge_puse".into())),
            "round {round}"
        );
        let answer = a.query("SELECT v FROM kv WHERE k = 1").await;
        assert_eq!(
            single_text(&answer),
            "one",
            "round {round}: A is in the keyspace"
        );
        // B never chose a keyspace.
        match b.query("SELECT v FROM kv WHERE k = 1").await {
            Response::Error(e) => assert_eq!(e.details, ErrorDetails::Invalid, "{e:?}"),
            other => panic!("round {round}: B ran in A's keyspace: {other:?}"),
        }
    }
}

//! The real Python driver (`cassandra-driver` from PyPI, the venv of `scripts/python-env`)
//! connects to Ringgate's front end — protocol v3, v4 and v5, with and without LZ4, with
//! automatic version negotiation, and with password authentication — and reads Ringgate's own
//! `system.local` through it. The test handler serves nothing else: the front end alone must
//! satisfy the driver's whole connection sequence (OPTIONS, STARTUP, REGISTER, the control
//! connection's system-table reads, the pool's connections).

mod support;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use ringgate::protocol::frame::{Decoded, Envelope, Flags, FrameCodec, Header};
use ringgate::protocol::message::{
    ErrorDetails, ErrorResponse, Event, EventType, Register, Request, Response, Startup,
    StatusChangeType,
};
use ringgate::protocol::{Direction, Opcode, ProtocolVersion};
use ringgate::server::served_tables::{RinggateNode, SystemInfo, SystemTables};
use ringgate::server::{
    AuthFailure, AuthenticatedUser, Authenticator, Credentials, ForwardRequest, Handler, Reply,
    ServerConfig, serve,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

/// Answers every forwarded request with an error, and records their opcodes.
#[derive(Default)]
struct NothingServed {
    seen: Mutex<Vec<Opcode>>,
    events: Option<broadcast::Sender<Event>>,
}

impl Handler for NothingServed {
    fn request(&self, request: ForwardRequest) -> BoxFuture<'static, Reply> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(request.opcode);
        let error = ErrorResponse::new(ErrorDetails::Invalid, "not served by this test");
        Box::pin(async move { Reply::Message(Response::Error(error)) })
    }

    fn events(&self) -> Option<broadcast::Receiver<Event>> {
        self.events.as_ref().map(broadcast::Sender::subscribe)
    }
}

/// Accepts one user.
struct OneUser;

impl Authenticator for OneUser {
    fn authenticate(
        &self,
        credentials: Credentials,
    ) -> BoxFuture<'static, Result<AuthenticatedUser, AuthFailure>> {
        Box::pin(async move {
            if credentials.username == "ringgate" && credentials.password == "s3cret" {
                Ok(AuthenticatedUser {
                    user: credentials.username,
                    backend: None,
                })
            } else {
                Err(AuthFailure::bad_credentials(&credentials.username))
            }
        })
    }
}

fn info(port: u16) -> SystemInfo {
    let local = RinggateNode::new(IpAddr::from([127, 0, 0, 1]), port, "dc1", "rack1");
    let mut info = SystemInfo::new(local, "ringgate-front");
    info.schema_version = [0x11; 16];
    info.tokens_per_node = 4;
    info
}

/// Starts a front end on a free port; returns its address and handler.
async fn start(with_auth: bool) -> (SocketAddr, Arc<NothingServed>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let system = Arc::new(SystemTables::new(info(addr.port())).unwrap());
    let mut config = ServerConfig::new(system);
    if with_auth {
        config = config.with_authenticator(Arc::new(OneUser));
    }
    let handler = Arc::new(NothingServed::default());
    tokio::spawn(serve(listener, Arc::new(config), handler.clone()));
    (addr, handler)
}

const SCRIPT: &str = r#"
import sys, logging
from cassandra.cluster import Cluster
from cassandra.auth import PlainTextAuthProvider
logging.basicConfig(level=logging.WARNING)
port = int(sys.argv[1])
for case in sys.argv[2:]:
    version, compression, user = case.split(":")
    kwargs = dict(port=port, schema_metadata_enabled=False, token_metadata_enabled=True,
                  compression=(compression == "lz4"), connect_timeout=10, control_connection_timeout=10)
    if version != "auto":
        kwargs["protocol_version"] = int(version)
    if user != "-":
        name, password = user.split("/")
        kwargs["auth_provider"] = PlainTextAuthProvider(username=name, password=password)
    cluster = Cluster(["127.0.0.1"], **kwargs)
    try:
        session = cluster.connect()
        row = session.execute("SELECT * FROM system.local").one()
        conn = cluster.control_connection._connection
        fields = dict(
            protocol=cluster.protocol_version,
            compression=conn._compression_type,
            checksumming=conn._is_checksumming_enabled,
            hosts=",".join(sorted("%s:%s" % (h.endpoint.address, h.endpoint.port) for h in cluster.metadata.all_hosts())),
            token_map=len(cluster.metadata.token_map.ring) if cluster.metadata.token_map else 0,
            key=row.key, cluster_name=row.cluster_name, rpc_address=row.rpc_address, rpc_port=row.rpc_port,
            host_id=row.host_id, schema_version=row.schema_version, tokens=",".join(sorted(row.tokens)),
            data_center=row.data_center, partitioner=row.partitioner)
        try:
            session.execute("SELECT * FROM ks.t")
            fields["forwarded"] = "answered?!"
        except Exception as e:
            fields["forwarded"] = type(e).__name__ + ":" + str(e).replace("|", "/")
        print("case|%s|%s" % (case, "|".join("%s=%s" % kv for kv in fields.items())))
    except Exception as e:
        print("case|%s|error=%s: %s" % (case, type(e).__name__, str(e).replace("|", "/").replace("\n", " ")))
    finally:
        cluster.shutdown()
"#;

/// Runs the driver over `cases` (`version:compression:user/password`) against `port`;
/// returns each case's fields.
fn run_driver(port: u16, cases: &[&str]) -> HashMap<String, HashMap<String, String>> {
    let python = support::python();
    let out = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(port.to_string())
        .args(cases)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "driver script failed: {stdout}\n{stderr}"
    );
    let mut results = HashMap::new();
    for line in stdout.lines().filter(|l| l.starts_with("case|")) {
        let mut parts = line.split('|').skip(1);
        let case = parts.next().unwrap().to_owned();
        let fields = parts
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        results.insert(case, fields);
    }
    assert_eq!(results.len(), cases.len(), "{stdout}\n{stderr}");
    results
}

fn uuid_text(bytes: [u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_driver_connects_in_every_version_and_reads_ringgates_system_local() {
    let (addr, handler) = start(false).await;
    let cases = [
        "3:none:-",
        "3:lz4:-",
        "4:none:-",
        "4:lz4:-",
        "5:none:-",
        "5:lz4:-",
        "auto:lz4:-",
    ];
    let port = addr.port();
    let results = tokio::task::spawn_blocking(move || run_driver(port, &cases))
        .await
        .unwrap();
    let expected = info(port);
    let host_id = uuid_text(expected.local.host_id());
    let tokens: Vec<String> = ringgate::server::served_tables::split_tokens(
        ringgate::server::served_tables::TokenSpace::Murmur3,
        1,
        4,
    )
    .remove(0);
    let mut tokens_sorted = tokens.clone();
    tokens_sorted.sort();
    for case in cases {
        let got = &results[case];
        assert!(!got.contains_key("error"), "{case}: {got:?}");
        let (version, compression, _) = {
            let mut p = case.split(':');
            (p.next().unwrap(), p.next().unwrap(), p.next())
        };
        let version = if version == "auto" { "5" } else { version };
        assert_eq!(got["protocol"], version, "{case}");
        let want_compression = if compression == "lz4" { "lz4" } else { "None" };
        assert_eq!(got["compression"], want_compression, "{case}");
        // v5 segments (the driver calls them checksumming) exactly in v5.
        let framed = if version == "5" { "True" } else { "False" };
        assert_eq!(got["checksumming"], framed, "{case}");
        assert_eq!(got["key"], "local");
        assert_eq!(got["cluster_name"], "ringgate-front");
        assert_eq!(got["rpc_address"], "127.0.0.1");
        assert_eq!(got["rpc_port"], port.to_string());
        assert_eq!(got["data_center"], "dc1");
        assert_eq!(got["host_id"], host_id);
        assert_eq!(got["schema_version"], uuid_text([0x11; 16]));
        assert_eq!(got["tokens"], tokens_sorted.join(","));
        assert_eq!(
            got["partitioner"],
            "org.apache.cassandra.dht.Murmur3Partitioner"
        );
        // The driver knows one host (Ringgate), and builds a token map from its four tokens.
        assert_eq!(got["hosts"], format!("127.0.0.1:{port}"));
        assert_eq!(got["token_map"], "4");
        // Other statements reach the handler and its error reaches the driver.
        assert!(
            got["forwarded"].starts_with("InvalidRequest")
                && got["forwarded"].contains("not served by this test"),
            "{case}: {}",
            got["forwarded"]
        );
    }
    let seen = handler.seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        cases.len(),
        "only the ks.t queries are forwarded: {seen:?}"
    );
    assert!(seen.iter().all(|op| *op == Opcode::Query));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_driver_authenticates_with_plain_text_credentials() {
    let (addr, _) = start(true).await;
    let port = addr.port();
    let cases = [
        "4:lz4:ringgate/s3cret",
        "5:lz4:ringgate/s3cret",
        "5:none:ringgate/wrong",
        "4:none:-",
    ];
    let results = tokio::task::spawn_blocking(move || run_driver(port, &cases))
        .await
        .unwrap();
    for case in &cases[..2] {
        assert_eq!(
            results[*case].get("key").map(String::as_str),
            Some("local"),
            "{case}: {:?}",
            results[*case]
        );
    }
    let wrong = &results["5:none:ringgate/wrong"]["error"];
    assert!(
        wrong.contains("Provided username ringgate and/or password are incorrect"),
        "{wrong}"
    );
    let none = &results["4:none:-"]["error"];
    assert!(none.contains("NoHostAvailable"), "{none}");
}

/// Reads one whole response (v5-style 9-byte header) from a blocking socket.
fn read_envelope(socket: &mut TcpStream) -> (Vec<u8>, Vec<u8>) {
    let mut header = vec![0u8; 9];
    socket.read_exact(&mut header).unwrap();
    let len = u32::from_be_bytes(header[5..9].try_into().unwrap()) as usize;
    let mut body = vec![0u8; len];
    socket.read_exact(&mut body).unwrap();
    (header, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_too_new_version_is_refused_and_the_same_socket_then_speaks_v4() {
    let (addr, _) = start(false).await;
    tokio::task::spawn_blocking(move || {
        let mut socket = TcpStream::connect(addr).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // OPTIONS in version 66 on stream 3, then OPTIONS in v4 on stream 4.
        socket.write_all(&[66, 0, 0, 3, 5, 0, 0, 0, 0]).unwrap();
        let (header, body) = read_envelope(&mut socket);
        assert_eq!(header[..5], [0x85, 0, 0, 3, 0]);
        let message = "Invalid or unsupported protocol version (66); supported versions are (3/v3, 4/v4, 5/v5)";
        assert_eq!(&body[..4], &[0, 0, 0, 0x0A]);
        assert_eq!(&body[6..], message.as_bytes());
        socket.write_all(&[4, 0, 0, 4, 5, 0, 0, 0, 0]).unwrap();
        let (header, _) = read_envelope(&mut socket);
        assert_eq!(header[..5], [0x84, 0, 0, 4, Opcode::Supported as u8]);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scylla_rust_driver_connects_with_each_compression() {
    use scylla::client::session_builder::SessionBuilder;
    use scylla::frame::Compression;

    let (addr, _) = start(false).await;
    for compression in [None, Some(Compression::Lz4), Some(Compression::Snappy)] {
        let session = SessionBuilder::new()
            .known_node_addr(addr)
            .compression(compression)
            .fetch_schema_metadata(false)
            .build()
            .await
            .unwrap_or_else(|e| panic!("{compression:?}: {e}"));
        let result = session
            .query_unpaged(
                "SELECT cluster_name, rpc_address AS address, rpc_port FROM system.local",
                &[],
            )
            .await
            .unwrap()
            .into_rows_result()
            .unwrap();
        let names: Vec<&str> = result.column_specs().iter().map(|c| c.name()).collect();
        assert_eq!(names, ["cluster_name", "address", "rpc_port"]);
        let row: (String, IpAddr, i32) = result.single_row().unwrap();
        assert_eq!(
            row,
            (
                "ringgate-front".to_owned(),
                IpAddr::from([127, 0, 0, 1]),
                i32::from(addr.port())
            ),
            "{compression:?}"
        );
    }
}

/// A test-only forwarder: one connection per protocol version to node 1 of the real cluster,
/// one request at a time. (Ringgate's real forwarding goes through the request API.)
#[derive(Clone, Default)]
struct ToNodeOne {
    backends: Arc<tokio::sync::Mutex<HashMap<u8, Backend>>>,
}

struct Backend {
    socket: tokio::net::TcpStream,
    codec: FrameCodec,
    received: BytesMut,
    version: ProtocolVersion,
}

impl Backend {
    async fn connect(version: ProtocolVersion) -> Backend {
        let socket = tokio::net::TcpStream::connect("127.0.0.1:9042")
            .await
            .unwrap();
        let mut backend = Backend {
            socket,
            codec: FrameCodec::client(),
            received: BytesMut::new(),
            version,
        };
        let mut body = BytesMut::new();
        Request::Startup(Startup::new())
            .encode(version, &mut body)
            .unwrap();
        let (opcode, _, _) = backend
            .round_trip(Opcode::Startup, Flags::empty(), body.freeze())
            .await;
        assert_eq!(opcode, Opcode::Ready);
        backend.codec.established(version, None).unwrap();
        backend
    }

    async fn round_trip(
        &mut self,
        opcode: Opcode,
        flags: Flags,
        body: Bytes,
    ) -> (Opcode, Flags, Bytes) {
        let mut header = Header::new(self.version, Direction::Request, 1, opcode);
        header.flags = flags;
        let mut out = BytesMut::new();
        self.codec
            .encode(&Envelope::new(header, body), &mut out)
            .unwrap();
        self.codec.flush(&mut out).unwrap();
        self.socket.write_all(&out).await.unwrap();
        loop {
            if let Decoded::Ready(envelope) = self.codec.decode(&mut self.received).unwrap() {
                if envelope.header.stream == 1 {
                    return (envelope.header.opcode, envelope.header.flags, envelope.body);
                }
                continue;
            }
            assert!(
                self.socket.read_buf(&mut self.received).await.unwrap() > 0,
                "node 1 closed"
            );
        }
    }
}

impl Handler for ToNodeOne {
    fn request(&self, request: ForwardRequest) -> BoxFuture<'static, Reply> {
        let backends = self.backends.clone();
        Box::pin(async move {
            let mut backends = backends.lock().await;
            let number = request.version.number();
            let backend = match backends.entry(number) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => entry.insert(Backend::connect(request.version).await),
            };
            let (opcode, flags, body) = backend
                .round_trip(request.opcode, request.flags, request.body)
                .await;
            Reply::Raw {
                opcode,
                flags,
                body,
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cqlsh_sees_ringgate_as_the_cluster_and_reads_the_real_schema_through_it() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let system = Arc::new(SystemTables::new(info(port)).unwrap());
    tokio::spawn(serve(
        listener,
        Arc::new(ServerConfig::new(system)),
        Arc::new(ToNodeOne::default()),
    ));
    let out = tokio::task::spawn_blocking(move || {
        let python = support::python();
        let cqlsh = python.parent().unwrap().join("cqlsh");
        Command::new(cqlsh)
                .env("CQLSH_NO_BUNDLED", "TRUE")
            .args(["127.0.0.1", &port.to_string(), "--request-timeout", "30", "-e"])
            .arg(
                "SELECT cluster_name, rpc_address, rpc_port FROM system.local; \
                 SELECT count(*) FROM system.peers_v2; \
                 SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = 'system_auth';",
            )
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // Ringgate's own row, not node 1's ("ringgate-test", port 9042).
    let local = stdout
        .lines()
        .find(|l| l.contains("ringgate-front"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        local.contains("127.0.0.1") && local.contains(&port.to_string()),
        "{local}"
    );
    assert!(!stdout.contains("ringgate-test"), "{stdout}");
    // No peers: the replicas behind Ringgate are not listed.
    assert!(
        stdout.contains("(1 rows)") && stdout.lines().any(|l| l.trim() == "0"),
        "{stdout}"
    );
    // The real schema, read through the forwarder.
    assert!(stdout.contains("system_auth"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_closed_and_dropping_serve_ends_them_all() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let system = Arc::new(SystemTables::new(info(addr.port())).unwrap());
    let mut config = ServerConfig::new(system);
    config.max_connections = 1;
    let server = tokio::spawn(serve(
        listener,
        Arc::new(config),
        Arc::new(NothingServed::default()),
    ));
    let options = [4u8, 0, 0, 1, 5, 0, 0, 0, 0];
    let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
    first.write_all(&options).await.unwrap();
    let mut header = [0u8; 9];
    first.read_exact(&mut header).await.unwrap();
    assert_eq!(header[4], Opcode::Supported as u8);
    let mut body = vec![0u8; u32::from_be_bytes(header[5..9].try_into().unwrap()) as usize];
    first.read_exact(&mut body).await.unwrap();
    // The second client is closed at once.
    let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = second.write_all(&options).await;
    let mut buf = [0u8; 9];
    let read = tokio::time::timeout(Duration::from_secs(10), second.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // Stopping the server ends the first connection too.
    server.abort();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), first.read_to_end(&mut rest))
        .await
        .expect("the connection ends");
    assert!(rest.is_empty(), "{read:?} {rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_clients_get_the_handlers_events_on_stream_minus_one() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let system = Arc::new(SystemTables::new(info(addr.port())).unwrap());
    let (events, _) = broadcast::channel(16);
    let handler = Arc::new(NothingServed {
        seen: Mutex::default(),
        events: Some(events.clone()),
    });
    tokio::spawn(serve(
        listener,
        Arc::new(ServerConfig::new(system)),
        handler,
    ));
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut codec = FrameCodec::client();
    let mut received = BytesMut::new();
    let v4 = ProtocolVersion::V4;
    for (stream, request) in [
        (1, Request::Startup(Startup::new())),
        (
            2,
            Request::Register(Register {
                events: vec![EventType::StatusChange],
            }),
        ),
    ] {
        let mut body = BytesMut::new();
        request.encode(v4, &mut body).unwrap();
        let header = Header::new(v4, Direction::Request, stream, request.opcode());
        let mut out = BytesMut::new();
        Envelope::new(header, body.freeze())
            .encode(&mut out)
            .unwrap();
        socket.write_all(&out).await.unwrap();
        let envelope = loop {
            if let Decoded::Ready(envelope) = codec.decode(&mut received).unwrap() {
                break envelope;
            }
            assert!(socket.read_buf(&mut received).await.unwrap() > 0);
        };
        assert_eq!(
            (envelope.header.stream, envelope.header.opcode),
            (stream, Opcode::Ready)
        );
    }
    let event = Event::StatusChange {
        change: StatusChangeType::Down,
        node: SocketAddr::from(([127, 0, 0, 1], addr.port())),
    };
    // The connection task subscribes when it starts; it has by now (it answered REGISTER).
    events.send(event.clone()).unwrap();
    let envelope = loop {
        if let Decoded::Ready(envelope) = codec.decode(&mut received).unwrap() {
            break envelope;
        }
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read_buf(&mut received));
        assert!(read.await.unwrap().unwrap() > 0);
    };
    assert_eq!(
        (envelope.header.stream, envelope.header.opcode),
        (-1, Opcode::Event)
    );
    assert_eq!(
        Response::decode(Opcode::Event, &envelope.body, v4).unwrap(),
        Response::Event(event)
    );
}

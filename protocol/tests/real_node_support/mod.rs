//! A blocking raw-protocol client for `real_node.rs`: one `std::net::TcpStream`, the crate's
//! sans-IO `FrameCodec`, and checks that every message sent and received re-encodes to the
//! bytes it came from.
//!
//! The tests expect the cluster the test command starts (`scripts/cluster up --nodes 3
//! --topology two-dc`). When node 1 cannot be reached they fail, with the tail of its log.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ringgate_protocol::frame::{Compression, Decoded, Envelope, Flags, FrameCodec, Header, Mode};
use ringgate_protocol::message::{
    COMPRESSION, Consistency, ErrorResponse, Query, QueryParameters, Request, Response,
    ResponsePrefix, ResultBody, Rows, Startup, Supported, put_response_prefix, split_response_body,
};
use ringgate_protocol::types::{ColumnType, CqlValue};
use ringgate_protocol::{Direction, Opcode, ProtocolVersion};

/// How long one read may block before the test gives up on an answer.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long DDL may take to reach every node.
const SCHEMA_AGREEMENT_DEADLINE: Duration = Duration::from_secs(30);

/// One protocol version and compression to run a test under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    pub version: ProtocolVersion,
    pub compression: Option<Compression>,
}

impl Setup {
    /// A short name for table names and messages, e.g. `v4_lz4`.
    pub fn name(self) -> String {
        let c = self.compression.map_or("none", Compression::name);
        format!("v{}_{c}", self.version.number())
    }
}

/// Every version and compression the tests run under: v4 plain, LZ4 and Snappy; v5 plain and
/// LZ4 (v5 allows LZ4 only); v3 plain.
pub const MATRIX: [Setup; 6] = [
    Setup {
        version: ProtocolVersion::V4,
        compression: None,
    },
    Setup {
        version: ProtocolVersion::V4,
        compression: Some(Compression::Lz4),
    },
    Setup {
        version: ProtocolVersion::V4,
        compression: Some(Compression::Snappy),
    },
    Setup {
        version: ProtocolVersion::V5,
        compression: None,
    },
    Setup {
        version: ProtocolVersion::V5,
        compression: Some(Compression::Lz4),
    },
    Setup {
        version: ProtocolVersion::V3,
        compression: None,
    },
];

/// Node 1's native-protocol address.
pub fn node1() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9042))
}

/// Where `scripts/cluster` keeps node `n` (`$RINGGATE_CACHE` or `~/.cache/ringgate`).
fn node_dir(n: u8) -> PathBuf {
    let cache = std::env::var_os("RINGGATE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/ringgate")
        });
    cache.join("cluster").join(format!("node{n}"))
}

/// The last `lines` lines of node `n`'s log, for failure messages.
pub fn log_tail(n: u8, lines: usize) -> String {
    let path = node_dir(n).join("logs/system.log");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(no log at {}: {e})", path.display()),
    }
}

/// A name unique to this run (process id and clock), for tables that must be new.
pub fn run_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}_{nanos}", std::process::id())
}

/// One decoded answer: the envelope as received (body decompressed), the prefix its flags
/// announced, the message bytes after the prefix, and the decoded message.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The flags byte as it came on the wire (v3/v4; the frame layer clears the compression
    /// flag when it decompresses). `None` for v5 segments.
    pub wire_flags: Option<Flags>,
    pub envelope: Envelope,
    pub prefix: ResponsePrefix,
    pub message: Bytes,
    pub response: Response,
}

impl Reply {
    /// The RESULT body, panicking with the error if the answer is anything else.
    pub fn result(&self) -> &ResultBody {
        match &self.response {
            Response::Result(r) => r,
            Response::Error(e) => panic!(
                "expected a RESULT, got ERROR {:#06x}: {}",
                e.code(),
                e.message
            ),
            other => panic!("expected a RESULT, got {other:?}"),
        }
    }

    /// The Rows result, panicking otherwise.
    pub fn rows(&self) -> &Rows {
        match self.result() {
            ResultBody::Rows(r) => r,
            other => panic!("expected Rows, got {other:?}"),
        }
    }

    /// The ERROR, panicking otherwise.
    pub fn error(&self) -> &ErrorResponse {
        match &self.response {
            Response::Error(e) => e,
            other => panic!("expected an ERROR, got {other:?}"),
        }
    }
}

/// A raw blocking connection to one node.
pub struct RawConn {
    socket: TcpStream,
    codec: FrameCodec,
    buf: BytesMut,
    pub setup: Setup,
    next_stream: i16,
    /// What the node answered to OPTIONS.
    pub supported: Supported,
}

impl RawConn {
    /// Connects to node 1 and runs OPTIONS and STARTUP for `setup`; panics (with node 1's log
    /// tail when the node is unreachable) on any failure.
    pub fn open(setup: Setup) -> RawConn {
        let addr = node1();
        let socket = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => s,
            Err(e) => panic!(
                "cannot connect to Cassandra node 1 at {addr}: {e}\n\
                 The test cluster must be up (scripts/cluster up --nodes 3 --topology two-dc).\n\
                 Last 50 lines of node 1's log:\n{}",
                log_tail(1, 50)
            ),
        };
        socket
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set read timeout");
        socket.set_nodelay(true).expect("set nodelay");
        let mut conn = RawConn {
            socket,
            codec: FrameCodec::client(),
            buf: BytesMut::with_capacity(64 * 1024),
            setup,
            next_stream: 0,
            supported: Supported::default(),
        };
        conn.handshake();
        conn
    }

    pub fn version(&self) -> ProtocolVersion {
        self.setup.version
    }

    fn handshake(&mut self) {
        let supported = self.ask(&Request::Options);
        match &supported.response {
            Response::Supported(s) => self.supported = s.clone(),
            other => panic!("{}: OPTIONS answered with {other:?}", self.setup.name()),
        }
        let mut startup = Startup::new();
        if let Some(c) = self.setup.compression {
            startup = startup.with_option(COMPRESSION, c.name());
        }
        let stream = self.send(&Request::Startup(startup), Flags::empty());
        // v3/v4: the node compresses its answer to STARTUP already. v5: framing (segments)
        // starts only after READY/AUTHENTICATE.
        if !self.version().is_framed() {
            self.codec
                .established(self.version(), self.setup.compression)
                .expect("establish v3/v4 compression");
        }
        let ready = self.receive(stream);
        assert_eq!(
            ready.response,
            Response::Ready,
            "{}: STARTUP answered with {:?}",
            self.setup.name(),
            ready.response
        );
        assert_eq!(ready.envelope.header.opcode, Opcode::Ready);
        eprintln!(
            "EXP {} READY wire flags {:?}",
            self.setup.name(),
            ready.wire_flags
        );
        if self.version().is_framed() {
            self.codec
                .established(self.version(), self.setup.compression)
                .expect("establish v5 framing");
        }
    }

    /// Sends `request` and returns the decoded answer; both directions are checked to
    /// re-encode to their own bytes (see [`assert_request_roundtrip`] and
    /// [`assert_response_roundtrip`]).
    pub fn ask(&mut self, request: &Request) -> Reply {
        let stream = self.send(request, Flags::empty());
        self.receive(stream)
    }

    /// As [`RawConn::ask`], with the tracing flag set on the request: the answer starts with
    /// a tracing session id.
    pub fn ask_traced(&mut self, request: &Request) -> Reply {
        let stream = self.send(request, Flags::TRACING);
        self.receive(stream)
    }

    /// Runs a QUERY with these parameters.
    pub fn query(&mut self, cql: &str, params: QueryParameters) -> Reply {
        self.ask(&Request::Query(Query::new(cql, params)))
    }

    /// Runs a QUERY at ONE with no values.
    pub fn simple(&mut self, cql: &str) -> Reply {
        self.query(cql, QueryParameters::new(Consistency::One))
    }

    /// Reads the next server event (stream -1), decoded and checked like any answer.
    pub fn next_event(&mut self) -> Reply {
        self.receive(-1)
    }

    /// Encodes and writes `request`, returning its stream id.
    fn send(&mut self, request: &Request, flags: Flags) -> i16 {
        let version = self.version();
        let mut body = BytesMut::new();
        request.encode(version, &mut body).expect("encode request");
        let body = body.freeze();
        assert_request_roundtrip(request, &body, version);
        let stream = self.next_stream;
        self.next_stream = self.next_stream.wrapping_add(1).max(0);
        let mut header = Header::new(version, Direction::Request, stream, request.opcode());
        header.flags = flags;
        let mut out = BytesMut::new();
        self.codec
            .encode(&Envelope::new(header, body), &mut out)
            .expect("frame request");
        self.codec.flush(&mut out).expect("flush request");
        self.socket.write_all(&out).expect("write request");
        stream
    }

    /// Reads until the answer on `stream` arrives (events and other streams are skipped),
    /// decodes it and checks it re-encodes byte for byte.
    fn receive(&mut self, stream: i16) -> Reply {
        let deadline = Instant::now() + READ_TIMEOUT;
        let (wire_flags, envelope) = loop {
            let unframed = self.codec.mode() == Mode::Unframed;
            let wire_flags = self
                .buf
                .get(1)
                .filter(|_| unframed)
                .map(|b| Flags::from_bits(*b));
            match self.codec.decode(&mut self.buf) {
                Ok(Decoded::Ready(envelope)) if envelope.header.stream == stream => {
                    break (wire_flags, envelope);
                }
                Ok(Decoded::Ready(_)) => {}
                Ok(Decoded::NeedMore(_)) => {
                    assert!(
                        Instant::now() < deadline,
                        "{}: no answer on stream {stream} within {READ_TIMEOUT:?}",
                        self.setup.name()
                    );
                    let mut chunk = [0u8; 64 * 1024];
                    let n = self.socket.read(&mut chunk).unwrap_or_else(|e| {
                        panic!(
                            "{}: reading the answer on stream {stream}: {e}",
                            self.setup.name()
                        )
                    });
                    assert!(
                        n > 0,
                        "{}: the node closed the connection",
                        self.setup.name()
                    );
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                Err(e) => panic!("{}: frame error: {e}", self.setup.name()),
            }
        };
        let version = self.version();
        assert_eq!(envelope.header.version, version);
        assert_eq!(envelope.header.direction, Direction::Response);
        let flags = envelope.header.flags;
        let (prefix, message) = split_response_body(
            &envelope.body,
            flags.contains(Flags::TRACING),
            flags.contains(Flags::WARNING),
            flags.contains(Flags::CUSTOM_PAYLOAD),
        )
        .unwrap_or_else(|e| panic!("{}: response prefix: {e}", self.setup.name()));
        let response =
            Response::decode(envelope.header.opcode, &message, version).unwrap_or_else(|e| {
                panic!(
                    "{}: cannot decode {:?} body {}: {e}",
                    self.setup.name(),
                    envelope.header.opcode,
                    hex(&message)
                )
            });
        let reply = Reply {
            wire_flags,
            envelope,
            prefix,
            message,
            response,
        };
        assert_response_roundtrip(&reply, version);
        reply
    }

    /// Waits until node 1 and every peer it knows report the same schema version.
    pub fn await_schema_agreement(&mut self) {
        let deadline = Instant::now() + SCHEMA_AGREEMENT_DEADLINE;
        loop {
            let mut versions = self.uuid_column("SELECT schema_version FROM system.local");
            versions.extend(self.live_peer_schema_versions());
            versions.sort_unstable();
            versions.dedup();
            if versions.len() == 1 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no schema agreement within {SCHEMA_AGREEMENT_DEADLINE:?}: {versions:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The schema versions of the peers whose native port accepts connections (a node being
    /// restarted by another test cannot agree, and drivers leave down nodes out too).
    fn live_peer_schema_versions(&mut self) -> Vec<[u8; 16]> {
        let reply =
            self.simple("SELECT native_address, native_port, schema_version FROM system.peers_v2");
        decoded_rows(reply.rows(), self.version())
            .into_iter()
            .filter_map(|row| match (&row[0], &row[1], &row[2]) {
                (
                    Some(CqlValue::Inet(ip)),
                    Some(CqlValue::Int(port)),
                    Some(CqlValue::Uuid(version)),
                ) => {
                    let port = u16::try_from(*port).ok()?;
                    let addr = SocketAddr::new(*ip, port);
                    TcpStream::connect_timeout(&addr, Duration::from_millis(300))
                        .ok()
                        .map(|_| *version)
                }
                _ => None,
            })
            .collect()
    }

    fn uuid_column(&mut self, cql: &str) -> Vec<[u8; 16]> {
        let reply = self.simple(cql);
        decoded_rows(reply.rows(), self.version())
            .into_iter()
            .filter_map(|row| match row.into_iter().next().flatten() {
                Some(CqlValue::Uuid(u)) => Some(u),
                _ => None,
            })
            .collect()
    }

    /// Runs DDL (whose answer must be Schema_change, or Void when `IF NOT EXISTS` found the
    /// object) and waits for schema agreement.
    pub fn ddl(&mut self, cql: &str) -> Reply {
        let reply = self.ddl_no_wait(cql);
        self.await_schema_agreement();
        reply
    }

    /// Runs DDL (as [`RawConn::ddl`]) without waiting for schema agreement: for changes no
    /// statement depends on afterwards (comments, drops).
    pub fn ddl_no_wait(&mut self, cql: &str) -> Reply {
        let reply = self.simple(cql);
        match reply.result() {
            ResultBody::SchemaChange(_) | ResultBody::Void => {}
            other => panic!("{cql}: expected Schema_change or Void, got {other:?}"),
        }
        reply
    }
}

/// The column types of a Rows result (which must carry metadata).
pub fn column_types(rows: &Rows) -> Vec<ColumnType> {
    rows.metadata
        .columns
        .as_ref()
        .expect("rows with metadata")
        .iter()
        .map(|c| c.typ.clone())
        .collect()
}

/// Every cell of every row, decoded with its column's type.
pub fn decoded_rows(rows: &Rows, version: ProtocolVersion) -> Vec<Vec<Option<CqlValue>>> {
    decoded_rows_as(rows, &column_types(rows), version)
}

/// Every cell of every row, decoded with `types` (for results without metadata).
pub fn decoded_rows_as(
    rows: &Rows,
    types: &[ColumnType],
    version: ProtocolVersion,
) -> Vec<Vec<Option<CqlValue>>> {
    let out: Vec<_> = rows
        .rows()
        .expect("rows iterate")
        .map(|row| {
            row.expect("row is well formed")
                .decode_all(types, version)
                .expect("every cell decodes with its column type")
        })
        .collect();
    assert_eq!(out.len(), rows.rows_count);
    out
}

/// Encoding `request` gave `body`: decoding `body` must give `request` back, and encoding that
/// again the same bytes.
pub fn assert_request_roundtrip(request: &Request, body: &Bytes, version: ProtocolVersion) {
    let back = Request::decode(request.opcode(), body, version)
        .unwrap_or_else(|e| panic!("{version}: cannot decode own request {}: {e}", hex(body)));
    assert_eq!(
        &back, request,
        "{version}: request decodes to another value"
    );
    let mut again = BytesMut::new();
    back.encode(version, &mut again).expect("re-encode request");
    assert_eq!(
        hex(&again),
        hex(body),
        "{version}: request re-encodes differently"
    );
}

/// The decoded answer must re-encode to the bytes it came from: its prefix (tracing id,
/// warnings, custom payload) and its message, byte for byte.
pub fn assert_response_roundtrip(reply: &Reply, version: ProtocolVersion) {
    let mut again = BytesMut::new();
    put_response_prefix(&mut again, &reply.prefix).expect("re-encode response prefix");
    reply
        .response
        .encode(version, &mut again)
        .unwrap_or_else(|e| panic!("{version}: cannot re-encode {:?}: {e}", reply.response));
    let original = &reply.envelope.body;
    assert!(
        again[..] == original[..],
        "{version}: {:?} response re-encodes differently\n original: {}\n again:    {}\n decoded: {:?}",
        reply.envelope.header.opcode,
        hex(original),
        hex(&again),
        reply.response
    );
    let flags = reply.envelope.header.flags;
    assert_eq!(reply.prefix.tracing(), flags.contains(Flags::TRACING));
    assert_eq!(reply.prefix.warning(), flags.contains(Flags::WARNING));
    assert_eq!(
        reply.prefix.has_custom_payload(),
        flags.contains(Flags::CUSTOM_PAYLOAD)
    );
}

/// Lower-case hex, for failure messages.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

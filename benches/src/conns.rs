//! Many client connections at once, for measuring what each costs a node in memory: every
//! connection does the v4 handshake (STARTUP, READY) and then either idles or, when active,
//! keeps one query in flight. The node's resident memory is read from `/proc` while they are
//! held.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use ringgate::protocol::frame::{Decoded, Envelope, FrameCodec, Header};
use ringgate::protocol::message::{Consistency, Query, QueryParameters, Request, Startup};
use ringgate::protocol::{Direction, Opcode, ProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const V: ProtocolVersion = ProtocolVersion::V4;

/// Resident memory of `pid`, in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// One open, handshaken connection (v4, one request at a time).
pub(crate) struct Client {
    socket: TcpStream,
    codec: FrameCodec,
    buf: BytesMut,
}

impl Client {
    pub(crate) async fn open(target: SocketAddr) -> Result<Self, String> {
        let socket = TcpStream::connect(target)
            .await
            .map_err(|e| format!("connect {target}: {e}"))?;
        let mut client = Client {
            socket,
            codec: FrameCodec::client(),
            buf: BytesMut::new(),
        };
        let startup = Request::Startup(Startup::new().with_option("CQL_VERSION", "3.0.0"));
        let answer = client.exchange(&startup).await?;
        if answer.header.opcode != Opcode::Ready {
            return Err(format!("STARTUP answered {:?}", answer.header.opcode));
        }
        client
            .codec
            .established(V, None)
            .map_err(|e| e.to_string())?;
        Ok(client)
    }

    pub(crate) async fn exchange(&mut self, request: &Request) -> Result<Envelope, String> {
        let mut body = BytesMut::new();
        request.encode(V, &mut body).map_err(|e| e.to_string())?;
        let header = Header::new(V, Direction::Request, 1, request.opcode());
        let mut out = BytesMut::new();
        Envelope::new(header, body.freeze())
            .encode(&mut out)
            .map_err(|e| e.to_string())?;
        self.socket
            .write_all(&out)
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Decoded::Ready(envelope)) => return Ok(envelope),
                Ok(Decoded::NeedMore(_)) => {}
                Err(e) => return Err(e.to_string()),
            }
            if self
                .socket
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| e.to_string())?
                == 0
            {
                return Err("the node closed the connection".to_owned());
            }
        }
    }
}

/// What holding the connections cost the node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnsReport {
    /// Connections held.
    pub connections: usize,
    /// Whether each kept a query in flight.
    pub active: bool,
    /// The node's RSS before the connections opened, bytes.
    pub rss_before: u64,
    /// Its RSS while they were held, bytes.
    pub rss_held: u64,
    /// (held - before) / connections.
    pub bytes_per_connection: f64,
    /// Queries answered while held (active only).
    pub queries: u64,
}

/// Opens `connections` connections to `target` (the node is process `pid`), holds them for
/// `hold`, each idle or (with `active`) running `query` one at a time, and reports the
/// node's RSS growth.
pub async fn run(
    target: SocketAddr,
    pid: u32,
    connections: usize,
    active: bool,
    query: &str,
    hold: Duration,
) -> Result<ConnsReport, String> {
    let rss_before = rss_bytes(pid).ok_or_else(|| format!("no process {pid}"))?;
    let mut clients = Vec::with_capacity(connections);
    for i in 0..connections {
        clients.push(
            Client::open(target)
                .await
                .map_err(|e| format!("connection {i}: {e}"))?,
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    if active {
        let request = Request::Query(Query::new(
            query,
            QueryParameters::new(Consistency::LocalOne),
        ));
        for mut client in clients.drain(..) {
            let (stop, answered, request) =
                (Arc::clone(&stop), Arc::clone(&answered), request.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match client.exchange(&request).await {
                        Ok(e) if e.header.opcode == Opcode::Result => {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(e) => return Err(format!("the query answered {:?}", e.header.opcode)),
                        Err(e) => return Err(e),
                    }
                }
                Ok(client)
            }));
        }
    }
    // Let the node settle, then read its memory halfway through.
    tokio::time::sleep(hold / 2).await;
    let rss_held = rss_bytes(pid).ok_or_else(|| format!("process {pid} is gone"))?;
    tokio::time::sleep(hold / 2).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(ConnsReport {
        connections,
        active,
        rss_before,
        rss_held,
        bytes_per_connection: rss_held.saturating_sub(rss_before) as f64
            / connections.max(1) as f64,
        queries: answered.load(Ordering::Relaxed),
    })
}

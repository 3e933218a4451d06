//! Connection tests against an in-memory peer that speaks the frame layer.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use ringgate_protocol::frame::{Decoded, Envelope, Flags, FrameCodec, Header};
use ringgate_protocol::{Direction, Opcode, ProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

use super::{Connection, ConnectionConfig, ConnectionError};

const V: ProtocolVersion = ProtocolVersion::V4;

fn addr() -> std::net::SocketAddr {
    "127.0.0.9:9042".parse().unwrap()
}

/// What the fake node does with a request whose body starts with a u32 delay in ms.
#[derive(Clone, Copy)]
enum Peer {
    /// Answers every QUERY with RESULT echoing the body, after the delay in the body; answers
    /// OPTIONS with SUPPORTED.
    Echo,
    /// Never answers anything.
    Silent,
}

/// Runs the fake node on `socket`; `inject` lets a test push raw envelopes (events, stray
/// responses) to the client.
async fn run_peer(socket: DuplexStream, peer: Peer, mut inject: mpsc::Receiver<Envelope>) {
    let (mut rd, wr) = tokio::io::split(socket);
    let wr = Arc::new(tokio::sync::Mutex::new(wr));
    let mut codec = FrameCodec::server();
    codec.established(V, None).unwrap();
    let mut buf = BytesMut::new();
    loop {
        tokio::select! {
            n = rd.read_buf(&mut buf) => {
                if n.unwrap_or(0) == 0 { return; }
            }
            Some(env) = inject.recv() => {
                let mut out = BytesMut::new();
                env.encode(&mut out).unwrap();
                wr.lock().await.write_all(&out).await.unwrap();
                continue;
            }
        }
        while let Ok(Decoded::Ready(req)) = codec.decode(&mut buf) {
            if let Peer::Silent = peer {
                continue;
            }
            let wr = Arc::clone(&wr);
            tokio::spawn(async move {
                let (opcode, delay) = match req.header.opcode {
                    Opcode::Options => (Opcode::Supported, 0),
                    _ => (Opcode::Result, (&req.body[..]).get_u32()),
                };
                tokio::time::sleep(Duration::from_millis(u64::from(delay))).await;
                let header = Header::new(V, Direction::Response, req.header.stream, opcode);
                let mut out = BytesMut::new();
                Envelope::new(header, req.body.clone())
                    .encode(&mut out)
                    .unwrap();
                let _ = wr.lock().await.write_all(&out).await;
            });
        }
    }
}

fn connect(
    peer: Peer,
    config: ConnectionConfig,
) -> (Connection, mpsc::Sender<Envelope>, mpsc::Receiver<Envelope>) {
    let (client, server) = tokio::io::duplex(1 << 16);
    let (inject_tx, inject_rx) = mpsc::channel(16);
    tokio::spawn(run_peer(server, peer, inject_rx));
    let mut codec = FrameCodec::client();
    codec.established(V, None).unwrap();
    let (events_tx, events_rx) = mpsc::channel(16);
    let conn = Connection::start(
        client,
        addr(),
        V,
        codec,
        BytesMut::new(),
        &config,
        Some(events_tx),
    );
    (conn, inject_tx, events_rx)
}

fn body(delay_ms: u32, tag: u64) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u32(delay_ms);
    b.put_u64(tag);
    b.freeze()
}

fn tag_of(env: &Envelope) -> u64 {
    (&env.body[4..]).get_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_reaches_its_own_request() {
    let (conn, _inject, _events) = connect(Peer::Echo, ConnectionConfig::default());
    let mut tasks = Vec::new();
    for tag in 0..2_000u64 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            let delay = (tag * 7 % 5) as u32; // responses come back out of order
            let env = conn
                .request(
                    Opcode::Query,
                    Flags::empty(),
                    body(delay, tag),
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
            assert_eq!(env.header.opcode, Opcode::Result);
            assert_eq!(tag_of(&env), tag, "a response reached another request");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(conn.in_flight(), (0, 0), "no stream id leaked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_response_never_reaches_the_next_request_on_its_id() {
    let config = ConnectionConfig {
        max_in_flight: 1,
        ..ConnectionConfig::default()
    };
    let (conn, _inject, _events) = connect(Peer::Echo, config);
    let slow = conn
        .request(
            Opcode::Query,
            Flags::empty(),
            body(300, 1),
            Duration::from_millis(50),
        )
        .await;
    assert!(
        matches!(slow, Err(ConnectionError::Timeout { .. })),
        "{slow:?}"
    );
    assert_eq!(
        conn.in_flight(),
        (1, 1),
        "the timed-out id is still owed a response"
    );
    // Only one id exists: this request waits until the late response has freed it, then gets
    // its own answer.
    let next = conn
        .request(
            Opcode::Query,
            Flags::empty(),
            body(0, 2),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(tag_of(&next), 2);
    assert_eq!(conn.in_flight(), (0, 0));
}

#[tokio::test]
async fn backpressure_times_out_when_no_stream_id_frees() {
    let config = ConnectionConfig {
        max_in_flight: 2,
        ..ConnectionConfig::default()
    };
    let (conn, _inject, _events) = connect(Peer::Silent, config);
    let a = tokio::spawn({
        let conn = conn.clone();
        async move {
            conn.request(
                Opcode::Query,
                Flags::empty(),
                body(0, 1),
                Duration::from_secs(30),
            )
            .await
        }
    });
    let b = tokio::spawn({
        let conn = conn.clone();
        async move {
            conn.request(
                Opcode::Query,
                Flags::empty(),
                body(0, 2),
                Duration::from_secs(30),
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let third = conn
        .request(
            Opcode::Query,
            Flags::empty(),
            body(0, 3),
            Duration::from_millis(100),
        )
        .await;
    assert!(
        matches!(third, Err(ConnectionError::Busy { .. })),
        "no stream id came free: {third:?}"
    );
    conn.close("test over");
    for t in [a, b] {
        assert!(matches!(
            t.await.unwrap(),
            Err(ConnectionError::Closed { .. })
        ));
    }
}

#[tokio::test]
async fn the_peer_going_away_fails_every_request_in_flight() {
    let (client, server) = tokio::io::duplex(1 << 16);
    let mut codec = FrameCodec::client();
    codec.established(V, None).unwrap();
    let conn = Connection::start(
        client,
        addr(),
        V,
        codec,
        BytesMut::new(),
        &ConnectionConfig::default(),
        None,
    );
    let pending = tokio::spawn({
        let conn = conn.clone();
        async move {
            conn.request(
                Opcode::Query,
                Flags::empty(),
                body(0, 1),
                Duration::from_secs(30),
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    drop(server);
    let result = pending.await.unwrap();
    assert!(
        matches!(result, Err(ConnectionError::Closed { .. })),
        "{result:?}"
    );
    let reason = conn.closed().await;
    assert!(reason.contains("closed the connection"), "{reason}");
    let after = conn
        .request(
            Opcode::Query,
            Flags::empty(),
            body(0, 2),
            Duration::from_secs(1),
        )
        .await;
    assert!(matches!(after, Err(ConnectionError::Closed { .. })));
}

#[tokio::test]
async fn an_unanswered_heartbeat_closes_the_connection() {
    let config = ConnectionConfig {
        heartbeat_interval: Duration::from_millis(50),
        heartbeat_timeout: Duration::from_millis(50),
        ..ConnectionConfig::default()
    };
    let (conn, _inject, _events) = connect(Peer::Silent, config);
    let reason = tokio::time::timeout(Duration::from_secs(5), conn.closed())
        .await
        .unwrap();
    assert!(reason.contains("heartbeat"), "{reason}");
}

#[tokio::test]
async fn a_connection_with_too_many_unanswered_ids_is_recycled() {
    let config = ConnectionConfig {
        heartbeat_interval: Duration::from_millis(20),
        heartbeat_timeout: Duration::from_secs(5),
        max_orphaned: 3,
        ..ConnectionConfig::default()
    };
    let (conn, _inject, _events) = connect(Peer::Silent, config);
    for tag in 0..4 {
        let r = conn
            .request(
                Opcode::Query,
                Flags::empty(),
                body(0, tag),
                Duration::from_millis(5),
            )
            .await;
        assert!(matches!(r, Err(ConnectionError::Timeout { .. })));
    }
    let reason = tokio::time::timeout(Duration::from_secs(5), conn.closed())
        .await
        .unwrap();
    assert!(reason.contains("never answered"), "{reason}");
}

#[tokio::test]
async fn an_answered_heartbeat_keeps_the_connection() {
    let config = ConnectionConfig {
        heartbeat_interval: Duration::from_millis(30),
        heartbeat_timeout: Duration::from_secs(20),
        ..ConnectionConfig::default()
    };
    let (conn, _inject, _events) = connect(Peer::Echo, config);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!conn.is_closed());
}

#[tokio::test]
async fn events_go_to_the_event_queue_and_stray_responses_are_ignored() {
    let (conn, inject, mut events) = connect(Peer::Echo, ConnectionConfig::default());
    let event = Envelope::new(
        Header::new(V, Direction::Response, -1, Opcode::Event),
        &b"ev"[..],
    );
    inject.send(event.clone()).await.unwrap();
    let stray = Envelope::new(
        Header::new(V, Direction::Response, 77, Opcode::Result),
        &b"x"[..],
    );
    inject.send(stray).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, event);
    let ok = conn
        .request(
            Opcode::Query,
            Flags::empty(),
            body(0, 5),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(tag_of(&ok), 5);
}

#[tokio::test]
async fn garbage_from_the_peer_closes_only_this_connection_with_a_frame_error() {
    let (client, mut server) = tokio::io::duplex(1 << 16);
    let mut codec = FrameCodec::client();
    codec.established(V, None).unwrap();
    let conn = Connection::start(
        client,
        addr(),
        V,
        codec,
        BytesMut::new(),
        &ConnectionConfig::default(),
        None,
    );
    server.write_all(&[0x42; 32]).await.unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(5), conn.closed())
        .await
        .unwrap();
    assert!(reason.contains("protocol error"), "{reason}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Mixed timeouts: whatever times out, every answered request got its own response and no
    /// stream id leaks once the late responses are in.
    #[test]
    fn mixed_timeouts_never_cross_responses(delays in proptest::collection::vec((0u32..40, 1u64..40), 1..200)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let config = ConnectionConfig { max_in_flight: 16, ..ConnectionConfig::default() };
            let (conn, _inject, _events) = connect(Peer::Echo, config);
            let mut tasks = Vec::new();
            for (tag, (delay, timeout_ms)) in delays.into_iter().enumerate() {
                let conn = conn.clone();
                tasks.push(tokio::spawn(async move {
                    let r = conn.request(Opcode::Query, Flags::empty(), body(delay, tag as u64), Duration::from_millis(timeout_ms)).await;
                    match r {
                        Ok(env) => { assert_eq!(tag_of(&env), tag as u64); true }
                        Err(ConnectionError::Timeout { .. } | ConnectionError::Busy { .. }) => false,
                        Err(e) => panic!("unexpected {e}"),
                    }
                }));
            }
            let mut answered = HashSet::new();
            for (i, t) in tasks.into_iter().enumerate() {
                if t.await.unwrap() { answered.insert(i); }
            }
            // Late responses arrive after the longest delay; however slow the machine, they
            // all free their ids.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while conn.in_flight() != (0, 0) {
                assert!(tokio::time::Instant::now() < deadline, "ids still claimed: {:?}", conn.in_flight());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }
}

mod node_pool {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::pool::{ConnectError, ConnectFuture, Connector, Health, NodePool, PoolConfig};

    /// Connects to an in-memory echo peer; the first `fail_first` attempts fail, each once
    /// `gate` (if any) gives it a permit.
    struct Fake {
        attempts: AtomicUsize,
        fail_first: usize,
        gate: Option<Arc<tokio::sync::Semaphore>>,
    }

    impl Connector for Fake {
        fn connect(&self, addr: std::net::SocketAddr) -> ConnectFuture {
            let n = self.attempts.fetch_add(1, Ordering::SeqCst);
            let fail = n < self.fail_first;
            let gate = self.gate.clone();
            Box::pin(async move {
                if fail {
                    if let Some(gate) = gate {
                        gate.acquire().await.expect("gate open").forget();
                    }
                    return Err(ConnectError::Failed {
                        addr,
                        message: format!("attempt {n} refused"),
                    });
                }
                Ok(connect(Peer::Echo, ConnectionConfig::default()).0)
            })
        }
    }

    fn fake(fail_first: usize) -> Arc<Fake> {
        Arc::new(Fake {
            attempts: AtomicUsize::new(0),
            fail_first,
            gate: None,
        })
    }

    fn config(base_ms: u64) -> PoolConfig {
        PoolConfig {
            connections_per_node: 2,
            reconnect_base: Duration::from_millis(base_ms),
            reconnect_max: Duration::from_secs(60),
        }
    }

    async fn wait_health(pool: &NodePool, want: impl Fn(&Health) -> bool) -> Health {
        let mut rx = pool.watch_health();
        tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|h| want(h)))
            .await
            .expect("health changes in time")
            .expect("pool alive")
            .clone()
    }

    async fn wait_open(pool: &NodePool, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while pool.open_connections() != n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {n} open connections, have {}",
                pool.open_connections()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn fills_every_slot_and_serves_requests() {
        let pool = NodePool::start(addr(), fake(0), config(10));
        wait_health(&pool, |h| *h == Health::Up).await;
        wait_open(&pool, 2).await;
        let conn = pool.connection().expect("a connection");
        let env = conn
            .request(
                Opcode::Query,
                Flags::empty(),
                body(0, 9),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        assert_eq!(tag_of(&env), 9);
    }

    #[tokio::test]
    async fn a_lost_connection_is_replaced() {
        let connector = fake(0);
        let pool = NodePool::start(addr(), connector.clone(), config(10));
        wait_open(&pool, 2).await;
        pool.connection().unwrap().close("simulated loss");
        wait_open(&pool, 2).await;
        assert_eq!(connector.attempts.load(Ordering::SeqCst), 3);
        assert_eq!(pool.health(), Health::Up);
    }

    #[tokio::test]
    async fn failures_mark_the_node_down_and_back_off_until_it_answers() {
        let connector = fake(6); // three failed rounds of two slots
        let pool = NodePool::start(addr(), connector.clone(), config(20));
        let down = wait_health(&pool, |h| matches!(h, Health::Down(_))).await;
        assert!(
            matches!(&down, Health::Down(e) if e.contains("refused")),
            "{down:?}"
        );
        wait_health(&pool, |h| *h == Health::Up).await;
        wait_open(&pool, 2).await;
        assert_eq!(connector.attempts.load(Ordering::SeqCst), 8);
    }

    #[tokio::test]
    async fn an_up_report_cuts_the_backoff_short() {
        let connector = fake(2); // the first attempt of each slot fails
        let pool = NodePool::start(addr(), connector.clone(), config(60_000));
        wait_health(&pool, |h| matches!(h, Health::Down(_))).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.open_connections(), 0, "still backing off (a minute)");
        pool.node_up();
        wait_open(&pool, 2).await;
    }

    #[tokio::test]
    async fn an_up_report_during_an_attempt_cuts_the_backoff_after_it_short() {
        // One slot, whose first attempt is under way when the node is reported up and fails
        // only after that: the report must not be lost to the minute's backoff that follows.
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let connector = Arc::new(Fake {
            attempts: AtomicUsize::new(0),
            fail_first: 1,
            gate: Some(Arc::clone(&gate)),
        });
        let config = PoolConfig {
            connections_per_node: 1,
            ..config(60_000)
        };
        let pool = NodePool::start(addr(), connector.clone(), config);
        while connector.attempts.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        pool.node_up();
        gate.add_permits(1);
        wait_open(&pool, 1).await;
        assert_eq!(connector.attempts.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn shutdown_closes_connections_and_stops_reconnecting() {
        let connector = fake(0);
        let pool = NodePool::start(addr(), connector.clone(), config(10));
        wait_open(&pool, 2).await;
        let conn = pool.connection().unwrap();
        pool.shutdown();
        tokio::time::timeout(Duration::from_secs(5), conn.closed())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            connector.attempts.load(Ordering::SeqCst),
            2,
            "no reconnection after shutdown"
        );
    }
}

mod version_negotiation {
    use std::net::SocketAddr;

    use ringgate_protocol::message::{Response, Supported};
    use tokio::net::TcpListener;

    use super::*;
    use crate::pool::{ConnectError, ConnectOptions, connect};

    /// A node that speaks only versions up to `max`: a newer version gets the PROTOCOL_ERROR
    /// Cassandra sends (stream 0, the text drivers parse) and the connection is closed.
    async fn node_speaking_up_to(max: u8) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = BytesMut::new();
                    let mut codec = FrameCodec::server();
                    loop {
                        if socket.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let version = buf[0] & 0x7F;
                        if version > max {
                            let text = format!(
                                "Invalid or unsupported protocol version ({version}); supported versions are (3/v3, {max}/v{max})"
                            );
                            let mut body = BytesMut::new();
                            body.put_i32(0x000A);
                            ringgate_protocol::primitives::put_string(&mut body, &text).unwrap();
                            let mut out = BytesMut::new();
                            match ProtocolVersion::from_number(max) {
                                Some(v) => {
                                    let header =
                                        Header::new(v, Direction::Response, 0, Opcode::Error);
                                    Envelope::new(header, body.freeze())
                                        .encode(&mut out)
                                        .unwrap();
                                }
                                None => {
                                    // A v1/v2 header, as Cassandra writes it: 8 bytes, 1-byte stream.
                                    out.put_slice(&[0x80 | max, 0, 0, 0]);
                                    out.put_u32(body.len() as u32);
                                    out.put_slice(&body);
                                }
                            }
                            let _ = socket.write_all(&out).await;
                            return;
                        }
                        while let Ok(Decoded::Ready(req)) = codec.decode(&mut buf) {
                            let v = req.header.version;
                            let response = match req.header.opcode {
                                Opcode::Options => Response::Supported(Supported {
                                    options: vec![("COMPRESSION".into(), vec!["lz4".into()])],
                                }),
                                _ => Response::Ready,
                            };
                            let mut body = BytesMut::new();
                            response.encode(v, &mut body).unwrap();
                            let header = Header::new(
                                v,
                                Direction::Response,
                                req.header.stream,
                                response.opcode(),
                            );
                            let mut out = BytesMut::new();
                            Envelope::new(header, body.freeze())
                                .encode(&mut out)
                                .unwrap();
                            socket.write_all(&out).await.unwrap();
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_refused_version_is_retried_one_lower() {
        let addr = node_speaking_up_to(4).await;
        let options = ConnectOptions {
            compression: false,
            ..ConnectOptions::default()
        };
        let (conn, handshake) = connect(addr, &options, None).await.unwrap();
        assert_eq!(handshake.version, ProtocolVersion::V4);
        assert_eq!(conn.version(), ProtocolVersion::V4);

        let addr = node_speaking_up_to(3).await;
        let (_, handshake) = connect(addr, &options, None).await.unwrap();
        assert_eq!(handshake.version, ProtocolVersion::V3);
    }

    #[tokio::test]
    async fn no_common_version_is_a_clear_non_retryable_error() {
        // A node that refuses everything we speak (it "speaks" v2 only).
        let addr = node_speaking_up_to(2).await;
        let err = connect(addr, &ConnectOptions::default(), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ConnectError::UnsupportedVersion { .. }),
            "{err}"
        );
        assert!(!err.is_retryable());
    }
}

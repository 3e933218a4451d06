//! The idle timeout through the tokio shell, on loopback: a client silent after half an
//! envelope is closed once it passes; a client whose request took longer than it is not.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::pool::{ConnectOptions, connect};
use crate::protocol::message::decode_response;

/// Answers every request with a VOID result after `delay`.
struct Slow {
    delay: Duration,
}

impl Handler for Slow {
    fn request(&self, _request: ForwardRequest) -> BoxFuture<'static, Reply> {
        let delay = self.delay;
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Reply::Message(Response::Result(ResultBody::Void))
        })
    }
}

async fn server(idle: Duration, delay: Duration) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = ServerConfig::new(system());
    config.idle_timeout = Some(idle);
    tokio::spawn(serve(listener, Arc::new(config), Arc::new(Slow { delay })));
    addr
}

#[tokio::test]
async fn a_client_silent_after_half_an_envelope_is_closed_after_the_idle_timeout() {
    let addr = server(Duration::from_millis(300), Duration::ZERO).await;
    let mut socket = TcpStream::connect(addr).await.unwrap();
    // Half of a v4 header.
    socket.write_all(&[4, 0, 0, 1, 0x05]).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
        .await
        .expect("closed within 5 s");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let after = started.elapsed();
    assert!(
        after >= Duration::from_millis(250),
        "closed after {after:?}"
    );
}

#[tokio::test]
async fn a_request_longer_than_the_idle_timeout_does_not_make_its_client_idle() {
    // Each request takes 3 s, the idle timeout is 1.5 s (the client's next request follows
    // its answer within that, even on a busy machine).
    let addr = server(Duration::from_millis(1500), Duration::from_secs(3)).await;
    let (connection, _) = connect(addr, &ConnectOptions::default(), None)
        .await
        .unwrap();
    for _ in 0..2 {
        let request = Request::Query(Query::new(
            "INSERT INTO ks.t (k) VALUES (1)",
            QueryParameters::new(Consistency::One),
        ));
        let mut body = BytesMut::new();
        request.encode(connection.version(), &mut body).unwrap();
        let envelope = connection
            .request(
                request.opcode(),
                Flags::empty(),
                body.freeze(),
                Duration::from_secs(10),
            )
            .await
            .expect("the connection stays open while its request runs and right after");
        assert_eq!(
            decode_response(&envelope).unwrap().1,
            Response::Result(ResultBody::Void)
        );
    }
}

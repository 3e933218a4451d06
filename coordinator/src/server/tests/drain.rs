//! A drain through the tokio shell, on loopback: requests received before it are answered,
//! later ones refused, new clients refused, and every client closed once none has anything
//! left to answer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::*;
use crate::pool::{ConnectOptions, Connection, connect};
use ringgate_protocol::message::ErrorDetails;
use ringgate_protocol::message::decode_response;

/// Answers every request with a VOID result once a permit is released.
struct Gate {
    received: Arc<AtomicUsize>,
    release: Arc<Semaphore>,
}

impl Handler for Gate {
    fn request(&self, _request: ForwardRequest) -> BoxFuture<'static, Reply> {
        self.received.fetch_add(1, Ordering::SeqCst);
        let release = Arc::clone(&self.release);
        Box::pin(async move {
            let _permit = release.acquire().await;
            Reply::Message(Response::Result(ResultBody::Void))
        })
    }
}

async fn query(connection: &Connection) -> Response {
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
        .unwrap();
    decode_response(&envelope).unwrap().1
}

#[tokio::test]
async fn draining_answers_what_was_received_refuses_the_rest_and_closes_every_client() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Semaphore::new(0));
    let handler = Arc::new(Gate {
        received: Arc::clone(&received),
        release: Arc::clone(&release),
    });
    let config = Arc::new(ServerConfig::new(system()));
    let metrics = config.metrics.clone();
    let drain = Drain::new();
    let server = tokio::spawn(serve_until(listener, config, handler, drain.clone()));

    let options = ConnectOptions::default();
    let (busy, _) = connect(addr, &options, None).await.unwrap();
    let (idle, _) = connect(addr, &options, None).await.unwrap();
    let waiting: Vec<_> = (0..3)
        .map(|_| {
            let busy = busy.clone();
            tokio::spawn(async move { query(&busy).await })
        })
        .collect();
    while received.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    drain.start();
    assert!(drain.is_draining());
    // The idle client stays open while another has requests to answer; what it sends now is
    // refused.
    match query(&idle).await {
        Response::Error(e) => {
            assert_eq!(e.details, ErrorDetails::Overloaded);
            assert!(e.message.contains("shutting down"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        received.load(Ordering::SeqCst),
        3,
        "the refused one was not forwarded"
    );
    // The listener is closed.
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "a new client was accepted while draining");

    release.add_permits(10);
    for answer in waiting {
        assert_eq!(
            answer.await.unwrap(),
            Response::Result(ResultBody::Void),
            "received before the drain: answered"
        );
    }
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the drain ends once every client is closed")
        .unwrap()
        .unwrap();
    for connection in [&busy, &idle] {
        for _ in 0..200 {
            if connection.is_closed() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(connection.is_closed());
    }
    let snapshot = metrics.snapshot();
    assert_eq!(
        snapshot.requests,
        vec![("query", "ok", 3), ("query", "overloaded", 1)]
    );
    assert_eq!(snapshot.connections_open, 0);
    assert!(snapshot.bytes_in > 0 && snapshot.bytes_out > 0);
}

#[tokio::test]
async fn a_drain_gives_up_after_its_grace_period() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let handler = Arc::new(Gate {
        received: Arc::clone(&received),
        release: Arc::new(Semaphore::new(0)),
    });
    let mut config = ServerConfig::new(system());
    config.drain_grace = Duration::from_millis(300);
    let drain = Drain::new();
    let server = tokio::spawn(serve_until(
        listener,
        Arc::new(config),
        handler,
        drain.clone(),
    ));
    let (busy, _) = connect(addr, &ConnectOptions::default(), None)
        .await
        .unwrap();
    let stuck = tokio::spawn(async move { query(&busy).await });
    while received.load(Ordering::SeqCst) < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drain.start();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the grace period bounds the drain")
        .unwrap()
        .unwrap();
    stuck.abort();
}

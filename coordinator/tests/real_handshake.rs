//! The handshake against real Cassandra 5.0 nodes: every protocol version, with and without
//! LZ4, and a request over the established (for v5: framed) connection.

mod support;

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use ringgate::pool::{ConnectOptions, connect};
use ringgate::protocol::frame::{Compression, Flags};
use ringgate::protocol::{Opcode, ProtocolVersion, primitives};
use support::node_addr;

/// A QUERY body for `cql` at consistency ONE with no values, in `version`'s layout.
fn query_body(cql: &str, version: ProtocolVersion) -> Bytes {
    let mut b = BytesMut::new();
    primitives::put_long_string(&mut b, cql).unwrap();
    b.put_u16(0x0001); // ONE
    if version == ProtocolVersion::V5 {
        b.put_u32(0); // v5 flags are an [int]
    } else {
        b.put_u8(0);
    }
    b.freeze()
}

async fn handshake_and_query(version: ProtocolVersion, compression: bool) {
    let options = ConnectOptions {
        max_version: version,
        compression,
        ..ConnectOptions::default()
    };
    let addr = node_addr(1);
    let (conn, handshake) = match connect(addr, &options, None).await {
        Ok(ok) => ok,
        Err(e) => panic!(
            "cannot connect to {addr}: {e}\nnode 1 log:\n{}",
            support::log_tail(1, 50)
        ),
    };
    assert_eq!(handshake.version, version);
    assert_eq!(conn.version(), version);
    let expected = compression.then_some(Compression::Lz4);
    assert_eq!(
        handshake.compression, expected,
        "{version}: lz4 is offered by 5.0"
    );
    let versions = &handshake.supported["PROTOCOL_VERSIONS"];
    for v in ["3/v3", "4/v4", "5/v5"] {
        assert!(versions.iter().any(|s| s == v), "{versions:?}");
    }
    assert_eq!(
        handshake.authenticator, None,
        "the default cluster runs without auth"
    );

    // A large-ish result (system.peers_v2 rows plus schema) proves the framing both ways.
    let response = conn
        .request(
            Opcode::Query,
            Flags::empty(),
            query_body("SELECT release_version FROM system.local", version),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(response.header.opcode, Opcode::Result);
    let body = &response.body[..];
    assert!(
        body.windows(5).any(|w| w == b"5.0.8"),
        "{version}: the release version is in the rows"
    );
    let columns = conn
        .request(
            Opcode::Query,
            Flags::empty(),
            query_body("SELECT * FROM system_schema.columns", version),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(columns.header.opcode, Opcode::Result);
    assert!(columns.body.len() > 10_000, "{} bytes", columns.body.len());
    conn.close("test done");
}

#[tokio::test]
async fn v5_with_lz4() {
    handshake_and_query(ProtocolVersion::V5, true).await;
}

#[tokio::test]
async fn v5_uncompressed() {
    handshake_and_query(ProtocolVersion::V5, false).await;
}

#[tokio::test]
async fn v4_with_lz4() {
    handshake_and_query(ProtocolVersion::V4, true).await;
}

#[tokio::test]
async fn v4_uncompressed() {
    handshake_and_query(ProtocolVersion::V4, false).await;
}

#[tokio::test]
async fn v3_with_lz4() {
    handshake_and_query(ProtocolVersion::V3, true).await;
}

#[tokio::test]
async fn a_closed_port_is_a_retryable_failure() {
    let addr = "127.0.0.1:1".parse().unwrap();
    let err = connect(addr, &ConnectOptions::default(), None)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

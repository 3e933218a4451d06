//! The floor of one extra hop: a TCP forwarder that copies bytes both ways and reads nothing
//! of them (tokio's `copy_bidirectional`). What it costs per request is what any proxy must
//! cost at least; a CQL-aware one is measured against it.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// Accepts clients on `listener` and forwards each connection to `target`, until accepting
/// fails.
pub async fn run(listener: TcpListener, target: SocketAddr) -> std::io::Result<()> {
    loop {
        let (mut client, _) = listener.accept().await?;
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(target).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        });
    }
}

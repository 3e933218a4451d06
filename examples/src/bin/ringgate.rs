//! `ringgate`: a Ringgate node. Drivers and cqlsh connect to it as if it were the cluster;
//! it joins the real cluster behind it and runs every request there, routed by token.
//!
//! ```text
//! ringgate --listen 127.0.0.1:9142 --contact-point 127.0.0.1:9042 --local-dc dc1
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Parser;
use ringgate::pool::Credentials;
use ringgate::request::{Coordinator, CoordinatorConfig};
use ringgate::server::system::RinggateNode;
use ringgate::server::{CoordinatorHandler, ServerConfig, serve, system_tables};

/// A Ringgate node: a CQL coordinator in front of a Cassandra cluster.
#[derive(Debug, Parser)]
#[command(name = "ringgate", version)]
struct Args {
    /// Where clients connect.
    #[arg(long, default_value = "127.0.0.1:9142")]
    listen: SocketAddr,
    /// A node of the cluster to join through (repeat for more).
    #[arg(long = "contact-point", default_value = "127.0.0.1:9042")]
    contact_points: Vec<SocketAddr>,
    /// The cluster's datacenter requests go to first.
    #[arg(long)]
    local_dc: Option<String>,
    /// The datacenter this node reports to clients (default: the local DC, or `dc1`).
    #[arg(long)]
    dc: Option<String>,
    /// The rack this node reports to clients.
    #[arg(long, default_value = "rack1")]
    rack: String,
    /// Another Ringgate node, listed to clients in `system.peers` (repeat for more).
    #[arg(long = "peer")]
    peers: Vec<SocketAddr>,
    /// Check clients' credentials against the cluster (its PasswordAuthenticator) and run each
    /// session's requests as its user.
    #[arg(long)]
    auth: bool,
    /// The node's own user on a cluster with authentication (with --password).
    #[arg(long, requires = "password")]
    username: Option<String>,
    /// The password of --username.
    #[arg(long, requires = "username")]
    password: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "ringgate=info".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = CoordinatorConfig::new(args.contact_points.clone());
    config.local_dc = args.local_dc.clone();
    if let (Some(username), Some(password)) = (args.username, args.password) {
        config.credentials = Some(Credentials { username, password });
    }
    let coordinator = Coordinator::connect(config).await?;
    let dc = args
        .dc
        .or(args.local_dc)
        .unwrap_or_else(|| "dc1".to_owned());
    let node =
        |addr: SocketAddr| RinggateNode::new(addr.ip(), addr.port(), dc.clone(), args.rack.clone());
    let tables = system_tables(
        &coordinator,
        node(args.listen),
        args.peers.iter().copied().map(node).collect(),
    )?;
    let handler = CoordinatorHandler::new(coordinator);
    let mut server = ServerConfig::new(tables);
    if args.auth {
        server = server.with_authenticator(Arc::new(handler.authenticator()));
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tracing::info!(listen = %args.listen, "ringgate node serving CQL");
    println!("ringgate listening on {}", args.listen);
    tokio::select! {
        served = serve(listener, Arc::new(server), Arc::new(handler)) => served?,
        _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
    }
    Ok(())
}

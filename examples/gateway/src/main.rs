//! `ringgate-gateway`: Stargate's auth and REST v2 APIs over HTTP, on a Ringgate coordinator.
//!
//! ```text
//! ringgate-gateway --contact-points 127.0.0.1 --listen 127.0.0.1:8082 --local-dc dc1
//! ```
//!
//! Once it serves, it prints one line naming where it listens and the cluster behind it.
//! SIGINT or SIGTERM stops it: it stops accepting, finishes the requests under way, and
//! exits 0. `RUST_LOG=ringgate_gateway=debug` logs one line per request.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use clap::Parser;
use ringgate::pool::Credentials;
use ringgate::request::{Coordinator, CoordinatorConfig};
use ringgate_gateway::auth::AuthConfig;
use ringgate_gateway::{Gateway, router};

/// The CQL port a contact point without one listens on.
const CQL_PORT: u16 = 9042;

/// Stargate's HTTP APIs in front of a Cassandra cluster.
#[derive(Debug, Parser)]
#[command(name = "ringgate-gateway", version)]
struct Args {
    /// Where HTTP clients connect (port 0: any free port; the startup line tells which).
    #[arg(long, default_value = "127.0.0.1:8082")]
    listen: SocketAddr,
    /// Nodes of the cluster to join through, `host[:port]` (port 9042 when omitted);
    /// comma-separated or repeated.
    #[arg(
        long = "contact-points",
        alias = "contact-point",
        value_delimiter = ',',
        default_value = "127.0.0.1",
        value_parser = contact_point
    )]
    contact_points: Vec<SocketAddr>,
    /// The cluster's datacenter requests go to first.
    #[arg(long)]
    local_dc: Option<String>,
    /// The gateway's own user on a cluster with authentication (with --password): it owns
    /// the token table.
    #[arg(long, requires = "password")]
    username: Option<String>,
    /// The password of --username.
    #[arg(long, requires = "username")]
    password: Option<String>,
    /// The keyspace of the token table (created when absent).
    #[arg(long, default_value = "data_endpoint_auth")]
    auth_keyspace: String,
    /// The token table (created when absent).
    #[arg(long, default_value = "token")]
    auth_table: String,
    /// Seconds a token lasts unused (each use starts them again).
    #[arg(long, default_value_t = 1800)]
    token_ttl: u64,
    /// Seconds a token read from the table is trusted without reading it again (at most
    /// --token-ttl).
    #[arg(long, default_value_t = 60)]
    token_cache: u64,
}

/// `host[:port]`, resolved.
fn contact_point(text: &str) -> Result<SocketAddr, String> {
    let resolved = match text.parse::<SocketAddr>() {
        Ok(addr) => return Ok(addr),
        Err(_) if text.contains(':') && !text.contains("::") => text.to_socket_addrs(),
        Err(_) => (text, CQL_PORT).to_socket_addrs(),
    };
    resolved
        .map_err(|e| format!("cannot resolve {text}: {e}"))?
        .next()
        .ok_or_else(|| format!("{text} resolves to no address"))
}

/// One debug line per request: method, path, status and time taken.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        %path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "ringgate=info,ringgate_gateway=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let mut config = CoordinatorConfig::new(args.contact_points.clone());
    config.local_dc = args.local_dc.clone();
    if let (Some(username), Some(password)) = (args.username, args.password) {
        config.credentials = Some(Credentials { username, password });
    }
    let coordinator = Coordinator::connect(config).await?;
    let token_ttl = Duration::from_secs(args.token_ttl.max(1));
    let auth = AuthConfig {
        keyspace: args.auth_keyspace,
        table: args.auth_table,
        token_ttl,
        cache_ttl: Duration::from_secs(args.token_cache).min(token_ttl),
    };
    let gateway = Gateway::new(coordinator.clone(), auth)
        .await
        .map_err(|e| format!("cannot set up the token table: {}", e.description))?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let listen = listener.local_addr()?;
    let app = router(gateway).layer(axum::middleware::from_fn(log_request));
    println!("{}", startup_line(&coordinator, listen));

    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let signal = stop_signal().await;
            tracing::info!(%signal, "stopping");
        })
        .await?;
    coordinator.cluster().shutdown();
    println!("ringgate-gateway stopped");
    Ok(())
}

/// What the gateway says once it serves: where, and in front of which cluster.
fn startup_line(coordinator: &Coordinator, listen: SocketAddr) -> String {
    let view = coordinator.cluster().view();
    let nodes: Vec<String> = view
        .nodes()
        .map(|n| format!("{} {}/{} {:?}", n.addr, n.dc, n.rack, n.state))
        .collect();
    let protocol = coordinator
        .cluster()
        .protocol_version()
        .map_or_else(|| "none".to_owned(), |v| format!("v{}", v as u8));
    format!(
        "ringgate-gateway listening on http://{listen} (auth, REST v2) for cluster \"{}\": {} nodes [{}], protocol {protocol}",
        view.cluster_name,
        nodes.len(),
        nodes.join(", "),
    )
}

/// Waits for SIGINT or SIGTERM; the signal's name.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

//! `ringgate`: a Ringgate node. Drivers and cqlsh connect to it as if it were the cluster;
//! it joins the real cluster behind it and runs every request there, routed by token.
//!
//! ```text
//! ringgate --contact-points 127.0.0.1,127.0.0.2 --listen 127.0.0.1:9142 --local-dc dc1
//! ```
//!
//! Once it serves, it prints one line naming the cluster, its nodes and the protocol version
//! it speaks to them. SIGINT or SIGTERM stops it: it stops accepting, closes its clients'
//! connections and its own, and exits 0.
//!
//! Several nodes make a tier: give each the others with `--peer` (or all of them the same
//! list, their own address included). Each lists the peers it finds serving in
//! `system.peers`, splits the ring's tokens with them, watches them, and tells its clients
//! when one stops or returns (`STATUS_CHANGE`) or first joins (`TOPOLOGY_CHANGE`).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use ringgate::pool::Credentials;
use ringgate::protocol::ProtocolVersion;
use ringgate::request::{Coordinator, CoordinatorConfig};
use ringgate::server::system::RinggateNode;
use ringgate::server::{
    Authenticator, CoordinatorHandler, Identity, IssuedTokens, SUPPORTED_VERSIONS, ServerConfig,
    Tier, TierConfig, TokenAuthenticator, serve, system_tables,
};

/// The CQL port a contact point without one listens on.
const CQL_PORT: u16 = 9042;

/// A Ringgate node: a CQL coordinator in front of a Cassandra cluster.
#[derive(Debug, Parser)]
#[command(name = "ringgate", version)]
struct Args {
    /// Where clients connect (port 0: any free port; the startup line tells which).
    #[arg(long, default_value = "127.0.0.1:9142")]
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
    /// The datacenter this node reports to clients (default: the local DC, or `dc1`).
    #[arg(long)]
    dc: Option<String>,
    /// The rack this node reports to clients.
    #[arg(long, default_value = "rack1")]
    rack: String,
    /// Another Ringgate node of this tier, `host:port` as clients reach it (repeat, or
    /// comma-separate, for more; this node's own address is skipped, so every node of a tier
    /// may be given the same list). Peers found serving are listed in `system.peers` and
    /// share the ring's tokens; clients hear when one stops or returns.
    #[arg(long = "peer", value_delimiter = ',', value_parser = contact_point)]
    peers: Vec<SocketAddr>,
    /// The newest protocol version to speak to the cluster (3, 4 or 5; older ones follow when
    /// a node refuses it). 4 is how Cassandra 3.x is spoken to.
    #[arg(long, default_value = "5", value_parser = protocol_version)]
    max_protocol: ProtocolVersion,
    /// Check clients' credentials against the cluster (its PasswordAuthenticator) and run each
    /// session's requests as its user.
    #[arg(long)]
    auth: bool,
    /// Accept tokens as passwords of the user `token`: a file of lines
    /// `<token> <user> [<cluster role> <role's password>]` (`#` starts a comment). A session
    /// logged in with a token runs as its cluster role, or as this node's own user when the
    /// line names none. With --auth, other usernames are checked against the cluster.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The node's own user on a cluster with authentication (with --password).
    #[arg(long, requires = "password")]
    username: Option<String>,
    /// The password of --username.
    #[arg(long, requires = "username")]
    password: Option<String>,
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

/// A protocol version by number.
fn protocol_version(text: &str) -> Result<ProtocolVersion, String> {
    match text {
        "3" => Ok(ProtocolVersion::V3),
        "4" => Ok(ProtocolVersion::V4),
        "5" => Ok(ProtocolVersion::V5),
        other => Err(format!("protocol version must be 3, 4 or 5, not {other}")),
    }
}

/// The tokens of a `--token-file`.
fn read_tokens(path: &PathBuf) -> Result<IssuedTokens, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let tokens = IssuedTokens::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (token, user, backend) = match fields.as_slice() {
            [token, user] => (*token, *user, None),
            [token, user, role, password] => (
                *token,
                *user,
                Some(Credentials {
                    username: (*role).to_owned(),
                    password: (*password).to_owned(),
                }),
            ),
            _ => {
                return Err(format!(
                    "{}:{}: expected `<token> <user> [<role> <password>]`",
                    path.display(),
                    n + 1
                ));
            }
        };
        if token.len() < 16 {
            return Err(format!(
                "{}:{}: a token must have at least 16 characters",
                path.display(),
                n + 1
            ));
        }
        let identity = Identity {
            user: user.to_owned(),
            backend,
        };
        tokens.admit(token, identity, None);
    }
    Ok(tokens)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "ringgate=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let tokens = args.token_file.as_ref().map(read_tokens).transpose()?;
    let mut config = CoordinatorConfig::new(args.contact_points.clone());
    config.local_dc = args.local_dc.clone();
    config.connect.max_version = args.max_protocol;
    if let (Some(username), Some(password)) = (args.username, args.password) {
        config.credentials = Some(Credentials { username, password });
    }
    let coordinator = Coordinator::connect(config).await?;
    let dc = args
        .dc
        .or(args.local_dc)
        .unwrap_or_else(|| "dc1".to_owned());
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let listen = listener.local_addr()?;
    let node = |addr: SocketAddr| RinggateNode::new(addr.ip(), addr.port(), &dc, &args.rack);
    let tables = system_tables(&coordinator, node(listen), Vec::new())?;
    let mut handler = CoordinatorHandler::new(coordinator.clone()).presenting(Arc::clone(&tables));
    let tier = if args.peers.is_empty() {
        None
    } else {
        let peers = args.peers.iter().copied().map(node).collect();
        let tier = Tier::start(Arc::clone(&tables), TierConfig::new(peers)).await;
        handler = handler.with_events(tier.subscribe());
        Some(tier)
    };
    let mut server = ServerConfig::new(tables);
    let passwords: Option<Arc<dyn Authenticator>> = args
        .auth
        .then(|| Arc::new(handler.authenticator()) as Arc<dyn Authenticator>);
    let authenticator: Option<Arc<dyn Authenticator>> = match (tokens, passwords) {
        (Some(tokens), passwords) => {
            let by_token = TokenAuthenticator::new(Arc::new(tokens));
            Some(Arc::new(match passwords {
                Some(passwords) => by_token.with_fallback(passwords),
                None => by_token,
            }))
        }
        (None, passwords) => passwords,
    };
    if let Some(authenticator) = authenticator {
        server = server.with_authenticator(authenticator);
    }
    println!("{}", startup_line(&coordinator, listen, &dc, &args.rack));
    if let Some(tier) = &tier {
        let peers: Vec<String> = tier
            .peers()
            .iter()
            .map(|(p, state)| format!("{}:{} {state:?}", p.address, p.native_port))
            .collect();
        println!(
            "tier of {} nodes: peers [{}]",
            peers.len() + 1,
            peers.join(", ")
        );
    }

    let served = tokio::select! {
        served = serve(listener, Arc::new(server), Arc::new(handler)) => served,
        signal = stop_signal() => {
            tracing::info!(%signal, "stopping");
            Ok(())
        }
    };
    // Leaving the select dropped the server: its clients' connections are closed.
    drop(tier);
    coordinator.cluster().shutdown();
    served?;
    println!("ringgate stopped");
    Ok(())
}

/// What the node says once it serves: where, as what, and in front of which cluster.
fn startup_line(coordinator: &Coordinator, listen: SocketAddr, dc: &str, rack: &str) -> String {
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
        "ringgate listening on {listen} ({dc}/{rack}, protocol versions {SUPPORTED_VERSIONS}) for cluster \"{}\": {} nodes [{}], protocol {protocol}",
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

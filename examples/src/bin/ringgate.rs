//! `ringgate`: a Ringgate node. Drivers and cqlsh connect to it as if it were the cluster;
//! it joins the real cluster behind it and runs every request there, routed by token.
//!
//! ```text
//! ringgate --contact-points 127.0.0.1,127.0.0.2 --listen 127.0.0.1:9142 --local-dc dc1
//! ```
//!
//! Settings come from a TOML file (`--config`, see `examples/ringgate.toml`), `RINGGATE_*`
//! environment variables and flags, each overriding the one before; `--print-config` shows
//! the result. Once it serves, it prints one line naming the cluster, its nodes and the
//! protocol version it speaks to them. SIGINT or SIGTERM drains it: it stops accepting,
//! answers every request it received (within `drain_grace_seconds`), refuses later ones,
//! closes its clients once none has anything left to answer, and exits 0. A second signal
//! stops it at once.
//!
//! Several nodes make a tier: give each the others with `--peer` (or all of them the same
//! list, their own address included). Each lists the peers it finds serving in
//! `system.peers`, splits the ring's tokens with them, watches them, and tells its clients
//! when one stops or returns (`STATUS_CHANGE`) or first joins (`TOPOLOGY_CHANGE`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};
use ringgate::pool::Credentials;
use ringgate::protocol::ProtocolVersion;
use ringgate::request::{Coordinator, CoordinatorConfig};
use ringgate::server::served_tables::RinggateNode;
use ringgate::server::{
    AuthenticatedUser, Authenticator, CoordinatorHandler, Drain, IssuedTokens, SUPPORTED_VERSIONS,
    ServerConfig, Tier, TierConfig, TokenAuthenticator, serve_until, system_tables,
};
use ringgate::tls::{ClientTls, ServerTls, TlsError};
use ringgate_examples::admin_http::{Admin, serve_admin};
use ringgate_examples::node_config::{KEYS, Kind, Layers, LogFormat, NodeConfig, Origin};

/// The command line: a flag for every configuration key, `--config` and `--print-config`.
fn command() -> Command {
    let mut command = Command::new("ringgate")
        .version(env!("CARGO_PKG_VERSION"))
        .about(
            "A Ringgate node: a CQL coordinator in front of a Cassandra cluster.\n\n\
             Settings come from a TOML file (--config), RINGGATE_* environment variables and \
             these flags, each overriding the one before.",
        )
        .arg(
            Arg::new("config")
                .long("config")
                .env("RINGGATE_CONFIG")
                .value_name("FILE")
                .help("A TOML config file (examples/ringgate.toml shows every key)"),
        )
        .arg(
            Arg::new("print-config")
                .long("print-config")
                .action(ArgAction::SetTrue)
                .help("Print the effective configuration as TOML and exit"),
        );
    for key in &KEYS {
        let mut arg = Arg::new(key.flag).long(key.flag).help(format!(
            "{} [env: {}] [file: {}]",
            key.help, key.env, key.path
        ));
        arg = match key.kind {
            Kind::Bool => arg
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
                .value_name("BOOL"),
            Kind::List => arg
                .action(ArgAction::Append)
                .value_delimiter(',')
                .value_name("LIST"),
            Kind::Integer => arg.value_name("N"),
            Kind::Text if key.path.ends_with("listen") => arg.value_name("ADDR"),
            Kind::Text if key.path.starts_with("tls.") || key.path.ends_with("_file") => {
                arg.value_name("FILE")
            }
            Kind::Text
                if key.path.starts_with("replica_tls.")
                    && key.path != "replica_tls.server_name" =>
            {
                arg.value_name("FILE")
            }
            Kind::Text => arg.value_name("VALUE"),
        };
        if key.flag == "contact-points" {
            arg = arg.alias("contact-point");
        }
        command = command.arg(arg);
    }
    command
}

/// The configuration from the file, the environment and the flags.
fn configuration(matches: &ArgMatches) -> Result<NodeConfig, String> {
    let mut layers = Layers::new();
    if let Some(path) = matches.get_one::<String>("config") {
        let path = PathBuf::from(path);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
        layers.file(path, &text).map_err(|e| e.to_string())?;
    }
    layers.env(std::env::vars()).map_err(|e| e.to_string())?;
    for key in &KEYS {
        match key.kind {
            Kind::List => {
                if let Some(values) = matches.get_many::<String>(key.flag) {
                    let values: Vec<String> = values.cloned().collect();
                    layers.list(key, &values, Origin::Flag(key.flag));
                }
            }
            _ => {
                if let Some(value) = matches.get_one::<String>(key.flag) {
                    layers
                        .text(key, value, Origin::Flag(key.flag))
                        .map_err(|e| e.to_string())?;
                }
            }
        }
    }
    layers.build().map_err(|e| e.to_string())
}

fn init_logging(config: &NodeConfig) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(filter) if !filter.is_empty() => filter,
        _ => config.log.filter()?,
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| format!("log filter {filter:?}: {e}"))?;
    let spans = tracing_subscriber::fmt::format::FmtSpan::CLOSE;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(spans)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let installed = match config.log.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    installed.map_err(|e| format!("cannot start logging: {e}"))
}

/// TLS for the listener and the replicas, from the configured files. Errors name the key of
/// the file at fault.
fn tls(config: &NodeConfig) -> Result<(Option<ServerTls>, Option<ClientTls>), String> {
    let named = |section: &str, files: &[(&str, Option<&Path>)], e: TlsError| {
        let key = match &e {
            TlsError::File { path, .. } => files
                .iter()
                .find(|(_, p)| *p == Some(path.as_path()))
                .map_or(section.to_owned(), |(name, _)| format!("{section}.{name}")),
            TlsError::Config(_) => section.to_owned(),
        };
        format!("configuration key `{key}`: {e}")
    };
    let listener = config
        .tls
        .as_ref()
        .map(|t| {
            ServerTls::from_pem_files(&t.cert, &t.key, t.client_ca.as_deref()).map_err(|e| {
                let files = [
                    ("cert", Some(t.cert.as_path())),
                    ("key", Some(t.key.as_path())),
                    ("client_ca", t.client_ca.as_deref()),
                ];
                named("tls", &files, e)
            })
        })
        .transpose()?;
    let replicas = config
        .replica_tls
        .as_ref()
        .map(|t| {
            let client = t.cert.as_deref().zip(t.key.as_deref());
            ClientTls::from_pem_files(&t.ca, client, t.verify_hostname, t.server_name.as_deref())
                .map_err(|e| {
                    let files = [
                        ("ca", Some(t.ca.as_path())),
                        ("cert", t.cert.as_deref()),
                        ("key", t.key.as_deref()),
                    ];
                    named("replica_tls", &files, e)
                })
        })
        .transpose()?;
    Ok((listener, replicas))
}

/// The tokens of a `--token-file`.
fn read_tokens(path: &Path) -> Result<IssuedTokens, String> {
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
        let identity = AuthenticatedUser {
            user: user.to_owned(),
            backend,
        };
        tokens.admit(token, identity, None);
    }
    Ok(tokens)
}

fn main() -> ExitCode {
    let matches = command().get_matches();
    let config = match configuration(&matches) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("ringgate: {e}");
            return ExitCode::from(2);
        }
    };
    if matches.get_flag("print-config") {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    let tls = match tls(&config) {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("ringgate: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = init_logging(&config) {
        eprintln!("ringgate: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ringgate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, tls)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringgate: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    config: NodeConfig,
    (listener_tls, replica_tls): (Option<ServerTls>, Option<ClientTls>),
) -> Result<(), Box<dyn std::error::Error>> {
    let tokens = config.token_file.as_deref().map(read_tokens).transpose()?;
    let mut coordinator_config = CoordinatorConfig::new(config.contact_points()?);
    coordinator_config.local_dc = config.cluster.local_dc.clone();
    coordinator_config.request_timeout = Duration::from_millis(config.cluster.request_timeout_ms);
    coordinator_config.connect.tls = replica_tls;
    coordinator_config.connect.max_version = match config.cluster.max_protocol {
        3 => ProtocolVersion::V3,
        4 => ProtocolVersion::V4,
        _ => ProtocolVersion::V5,
    };
    if let (Some(username), Some(password)) = (
        config.cluster.username.clone(),
        config.cluster.password.clone(),
    ) {
        coordinator_config.credentials = Some(Credentials { username, password });
    }
    let coordinator = Coordinator::connect(coordinator_config).await?;
    let dc = config
        .dc
        .clone()
        .or_else(|| config.cluster.local_dc.clone())
        .unwrap_or_else(|| "dc1".to_owned());
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let listen = listener.local_addr()?;
    let node = |addr: SocketAddr| RinggateNode::new(addr.ip(), addr.port(), &dc, &config.rack);
    let tables = system_tables(&coordinator, node(listen), Vec::new())?;
    let mut handler = CoordinatorHandler::new(coordinator.clone()).presenting(Arc::clone(&tables));
    let tier = if config.peers.is_empty() {
        None
    } else {
        let peers = config.peers.iter().copied().map(node).collect();
        let tier = Tier::start(Arc::clone(&tables), TierConfig::new(peers)).await;
        handler = handler.with_events(tier.subscribe());
        Some(tier)
    };
    let mut server = ServerConfig::new(tables);
    server.max_connections = config.max_connections;
    server.max_in_flight = config.max_in_flight;
    server.drain_grace = Duration::from_secs(config.drain_grace_seconds);
    server.idle_timeout =
        (config.idle_timeout_seconds > 0).then(|| Duration::from_secs(config.idle_timeout_seconds));
    server.tls = listener_tls;
    let passwords: Option<Arc<dyn Authenticator>> = config
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
    let drain = Drain::new();
    let admin = match config.admin_listen {
        Some(addr) => {
            let admin_listener = tokio::net::TcpListener::bind(addr).await?;
            let admin_addr = admin_listener.local_addr()?;
            let admin = Arc::new(Admin::new(
                coordinator.clone(),
                server.metrics.clone(),
                drain.clone(),
            ));
            Some((admin_addr, tokio::spawn(serve_admin(admin_listener, admin))))
        }
        None => None,
    };
    let tls_note = match &server.tls {
        Some(tls) if tls.requires_client_certificates() => ", TLS with client certificates",
        Some(_) => ", TLS",
        None => "",
    };
    let mut line = startup_line(&coordinator, listen, &dc, &config.rack);
    line.push_str(tls_note);
    if let Some((addr, _)) = &admin {
        line.push_str(&format!(", admin on http://{addr}"));
    }
    println!("{line}");
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

    let served = serve_until(listener, Arc::new(server), Arc::new(handler), drain.clone());
    tokio::pin!(served);
    let served = tokio::select! {
        served = &mut served => served,
        signal = stop_signal() => {
            tracing::info!(%signal, "draining");
            drain.start();
            // A second signal stops at once.
            tokio::select! {
                served = &mut served => served,
                signal = stop_signal() => {
                    tracing::warn!(%signal, "stopping without waiting for the drain");
                    Ok(())
                }
            }
        }
    };
    if let Some((_, task)) = admin {
        task.abort();
    }
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

//! `ringgate-bench`: the load harness.
//!
//! ```text
//! ringgate-bench run --target 127.0.0.1:9142 --workload read --concurrency 64 --seconds 10
//! ringgate-bench run --embedded --target 127.0.0.1:9042 --workload mixed
//! ringgate-bench run --target 127.0.0.1:9142 --rate 5000 --json out.json
//! ringgate-bench stub --nodes 3 --port 19042
//! ringgate-bench forward --listen 127.0.0.1:19100 --to 127.0.0.1:9042
//! ringgate-bench compare --backend stub --targets direct,forwarder,ringgate --rounds 3
//! ```
//!
//! `run` drives one target with the `scylla` driver (or, with `--embedded`, Ringgate's request
//! API in this process) and prints a summary line, and with `--json` a JSON report. `stub`
//! serves the stub cluster, `forward` the byte-copying TCP forwarder, and `compare` runs them
//! all side by side (see `ringgate_benches::compare`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ringgate_benches::client::{self, Client, ClientConfig, DriverClient, EmbeddedClient};
use ringgate_benches::compare::{self, Backend, CompareSpec, Target};
use ringgate_benches::load::{self, LoadSpec};
use ringgate_benches::workload::Workload;

#[derive(Debug, Parser)]
#[command(
    name = "ringgate-bench",
    version,
    about = "Load harness for CQL endpoints and Ringgate"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Drive one target with a workload.
    Run(RunArgs),
    /// Serve the stub cluster.
    Stub {
        /// Nodes, on 127.0.0.1..=N.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// The port every node listens on.
        #[arg(long, default_value_t = 19042)]
        port: u16,
    },
    /// Serve the byte-copying TCP forwarder.
    Forward {
        /// Where clients connect.
        #[arg(long)]
        listen: SocketAddr,
        /// Where each connection is forwarded.
        #[arg(long)]
        to: SocketAddr,
    },
    /// Compare direct, forwarder, ringgate (and shotover) in alternated rounds.
    Compare(Box<CompareArgs>),
    /// Hold many client connections to a node and report its memory per connection.
    Conns {
        /// The node.
        #[arg(long)]
        target: SocketAddr,
        /// The node's process id, whose RSS is read.
        #[arg(long)]
        pid: u32,
        /// Connections to hold.
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        /// Keep a query in flight on each.
        #[arg(long)]
        active: bool,
        /// The query active connections run.
        #[arg(long, default_value = "SELECT v FROM rg_bench.kv WHERE k = 1")]
        query: String,
        /// Seconds to hold them.
        #[arg(long, default_value_t = 6)]
        hold: u64,
    },
    /// Many client connections running prepared traffic through a node for minutes; fails
    /// on any error, on RSS moving more than the bound after the warm-up, or on too many
    /// sockets to the cluster.
    Soak(SoakArgs),
}

/// What `soak` takes.
#[derive(Debug, Args)]
struct SoakArgs {
    /// The node.
    #[arg(long)]
    target: SocketAddr,
    /// The node's process id, whose RSS and sockets are read.
    #[arg(long)]
    pid: u32,
    /// Client connections.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Seconds of warm-up, whose samples the RSS bound ignores.
    #[arg(long, default_value_t = 60)]
    warmup: u64,
    /// Each client's pause between requests, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pause_ms: u64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10)]
    sample_seconds: u64,
    /// The most the RSS may move after the warm-up, as a fraction of its mean.
    #[arg(long, default_value_t = 0.10)]
    max_rss_drift: f64,
    /// The most sockets to the cluster the node may hold.
    #[arg(long, default_value_t = 32)]
    max_backend_sockets: usize,
    /// Replication of the keyspace rg_soak.
    #[arg(long, default_value = "{'class': 'NetworkTopologyStrategy', 'dc1': 1}")]
    replication: String,
    /// Where to write the report (JSON).
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

/// What every workload run takes.
#[derive(Debug, Args)]
struct LoadArgs {
    /// Seconds measured.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Driver connections to the target (or per node, embedded).
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Distinct keys.
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Bytes of each small value.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// The local datacenter (the embedded coordinator's; the ringgate node's in `compare`).
    #[arg(long, default_value = "dc1")]
    local_dc: String,
    /// Create the keyspace and tables and write every key first.
    #[arg(long)]
    setup: bool,
    /// The keyspace's replication for `--setup`, as a CQL map.
    #[arg(long, default_value = "{'class': 'NetworkTopologyStrategy', 'dc1': 2}")]
    replication: String,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The endpoint (a driver's only host), or with `--embedded` a contact point (repeat or
    /// comma-separate for more).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:9142")]
    target: Vec<SocketAddr>,
    /// Drive Ringgate's request API in this process instead of a driver over the network.
    #[arg(long)]
    embedded: bool,
    /// The workload.
    #[arg(long, default_value = "read")]
    workload: Workload,
    /// Requests in flight (at most, with `--rate`).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Send at this many requests per second instead of as fast as answered; latency then
    /// counts from each request's intended send time.
    #[arg(long)]
    rate: Option<f64>,
    /// Write the run's JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// `stub` (started here) or `real` (the running cluster at --contact-points).
    #[arg(long, default_value = "stub")]
    backend: String,
    /// The real cluster's nodes; the first is the direct target.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "127.0.0.1:9042,127.0.0.2:9042"
    )]
    contact_points: Vec<SocketAddr>,
    /// Stub nodes.
    #[arg(long, default_value_t = 3)]
    stub_nodes: usize,
    /// The stub's port.
    #[arg(long, default_value_t = 19042)]
    stub_port: u16,
    /// Targets, in the first round's order: direct, forwarder, ringgate, shotover, embedded.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "direct,forwarder,ringgate"
    )]
    targets: Vec<String>,
    /// Workloads.
    #[arg(long, value_delimiter = ',', default_value = "read,write")]
    workloads: Vec<Workload>,
    /// Concurrency levels, each run as fast as answered (64 when neither these nor --rates
    /// are given).
    #[arg(long, value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// Fixed rates (requests/s), each run with --max-in-flight at most in flight.
    #[arg(long, value_delimiter = ',')]
    rates: Vec<f64>,
    /// The in-flight bound of fixed-rate runs.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Alternated rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The `ringgate` binary (default: beside this one).
    #[arg(long)]
    ringgate_bin: Option<PathBuf>,
    /// The shotover binary built with `--features shotover` (default: beside this one).
    #[arg(long)]
    shotover_bin: Option<PathBuf>,
    /// CPUs the proxies run on (a taskset list, e.g. 1); empty: not pinned.
    #[arg(long, default_value = "")]
    proxy_cpus: String,
    /// CPUs the stub runs on; empty: not pinned.
    #[arg(long, default_value = "")]
    stub_cpus: String,
    /// Where runs.jsonl, medians.json, summary.md and the processes' logs go.
    #[arg(long, default_value = "target/bench-compare")]
    out: PathBuf,
    /// The first of three ports the proxies listen on.
    #[arg(long, default_value_t = 19100)]
    first_port: u16,
    #[command(flatten)]
    load: LoadArgs,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = match Cli::parse().command {
        Command::Run(args) => run(args).await,
        Command::Stub { nodes, port } => ringgate_benches::stub::run(nodes, port)
            .await
            .map_err(|e| format!("stub: {e}")),
        Command::Forward { listen, to } => match tokio::net::TcpListener::bind(listen).await {
            Ok(listener) => ringgate_benches::forwarder::run(listener, to)
                .await
                .map_err(|e| format!("forwarder: {e}")),
            Err(e) => Err(format!("cannot listen on {listen}: {e}")),
        },
        Command::Compare(args) => compare(*args).await,
        Command::Conns {
            target,
            pid,
            connections,
            active,
            query,
            hold,
        } => ringgate_benches::conns::run(
            target,
            pid,
            connections,
            active,
            &query,
            Duration::from_secs(hold),
        )
        .await
        .and_then(|report| {
            println!(
                "{} {} connections: RSS {:.1} → {:.1} MiB, {:.1} KiB per connection{}",
                report.connections,
                if report.active { "active" } else { "idle" },
                report.rss_before as f64 / 1048576.0,
                report.rss_held as f64 / 1048576.0,
                report.bytes_per_connection / 1024.0,
                if report.active {
                    format!(", {} queries answered", report.queries)
                } else {
                    String::new()
                }
            );
            serde_json::to_string(&report)
                .map(|json| println!("{json}"))
                .map_err(|e| e.to_string())
        }),
        Command::Soak(args) => soak(args).await,
    };
    if let Err(e) = outcome {
        eprintln!("ringgate-bench: {e}");
        std::process::exit(1);
    }
}

async fn run(args: RunArgs) -> Result<(), String> {
    let config = ClientConfig {
        targets: args.target.clone(),
        connections: args.load.connections,
        value_len: args.load.value_size,
        local_dc: Some(args.load.local_dc.clone()),
    };
    if args.load.setup {
        compare::setup(&config, args.load.keys, &args.load.replication).await?;
    }
    let client = if args.embedded {
        let coordinator = client::connect_embedded(&config).await?;
        Client::Embedded(Box::new(
            EmbeddedClient::prepare(coordinator, &config).await?,
        ))
    } else {
        let session = client::connect_driver(&config).await?;
        Client::Driver(Box::new(DriverClient::prepare(session, &config).await?))
    };
    let spec = LoadSpec {
        workload: args.workload,
        concurrency: args.concurrency,
        warmup: Duration::from_secs(args.load.warmup),
        duration: Duration::from_secs(args.load.seconds),
        rate: args.rate,
        keys: args.load.keys,
        seed: 0x5eed,
    };
    let target = args
        .target
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    let mut report = load::run(Arc::new(client), &spec, &[], &target).await;
    report.target = target;
    report.mode = if args.embedded { "embedded" } else { "driver" }.to_owned();
    println!("{}", report.summary());
    if let Some(path) = args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

async fn compare(args: CompareArgs) -> Result<(), String> {
    let harness_bin = std::env::current_exe().map_err(|e| e.to_string())?;
    let beside = |name: &str| harness_bin.with_file_name(name);
    let backend = match args.backend.as_str() {
        "stub" => Backend::Stub {
            nodes: args.stub_nodes,
            port: args.stub_port,
        },
        "real" => Backend::Real {
            contact_points: args.contact_points.clone(),
        },
        other => return Err(format!("--backend {other:?}: stub or real")),
    };
    let targets = args
        .targets
        .iter()
        .map(|t| Target::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let wants_shotover = targets.contains(&Target::Shotover);
    let concurrency = if args.concurrency.is_empty() && args.rates.is_empty() {
        vec![64]
    } else {
        args.concurrency
    };
    let spec = CompareSpec {
        backend,
        targets,
        workloads: args.workloads,
        concurrency,
        rates: args.rates,
        max_in_flight: args.max_in_flight,
        rounds: args.rounds,
        warmup: Duration::from_secs(args.load.warmup),
        duration: Duration::from_secs(args.load.seconds),
        connections: args.load.connections,
        keys: args.load.keys,
        value_len: args.load.value_size,
        local_dc: args.load.local_dc,
        ringgate_bin: args.ringgate_bin.unwrap_or_else(|| beside("ringgate")),
        shotover_bin: args
            .shotover_bin
            .or_else(|| wants_shotover.then(|| beside("ringgate-shotover"))),
        harness_bin,
        proxy_cpus: args.proxy_cpus,
        stub_cpus: args.stub_cpus,
        setup: args.load.setup,
        replication: args.load.replication,
        out_dir: args.out,
        first_port: args.first_port,
    };
    compare::run(&spec).await.map(drop)
}

async fn soak(args: SoakArgs) -> Result<(), String> {
    let config = ringgate_benches::soak::SoakConfig {
        target: args.target,
        pid: args.pid,
        connections: args.connections,
        duration: Duration::from_secs(args.seconds),
        warmup: Duration::from_secs(args.warmup),
        pause: Duration::from_millis(args.pause_ms),
        sample_every: Duration::from_secs(args.sample_seconds),
        replication: args.replication,
    };
    let report = ringgate_benches::soak::run(config).await?;
    let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    if let Some(out) = &args.out {
        std::fs::write(out, &json).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    println!(
        "soak: {} clients, {} requests, {} errors; RSS {:.1} MiB before, {:.1} MiB idle \
         ({:.1} KiB per idle client), drift after warm-up {:.1}%, at most {} sockets to the cluster",
        report.connections,
        report.requests,
        report.errors,
        report.rss_before as f64 / 1_048_576.0,
        report.rss_idle as f64 / 1_048_576.0,
        report.bytes_per_idle_client / 1024.0,
        report.rss_drift * 100.0,
        report.max_backend_sockets
    );
    if report.errors > 0 {
        return Err(format!(
            "{} errors; the first: {}",
            report.errors,
            report.first_error.unwrap_or_default()
        ));
    }
    if report.rss_drift > args.max_rss_drift {
        return Err(format!(
            "RSS moved {:.1}% after the warm-up (bound {:.1}%)",
            report.rss_drift * 100.0,
            args.max_rss_drift * 100.0
        ));
    }
    if report.max_backend_sockets > args.max_backend_sockets {
        return Err(format!(
            "{} sockets to the cluster (bound {})",
            report.max_backend_sockets, args.max_backend_sockets
        ));
    }
    if report.requests == 0 {
        return Err("no request was answered".to_owned());
    }
    Ok(())
}

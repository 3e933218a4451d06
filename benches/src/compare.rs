//! Side by side in one session: the same workload straight to a node, through the TCP
//! forwarder (the floor), through a `ringgate` node and through shotover, in alternated
//! rounds, each proxy's CPU per request read from `/proc` over every measured window.
//! Medians and ratios against the direct runs of the same rounds are what to trust on a
//! noisy machine.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{self, Client, ClientConfig, DriverClient, EmbeddedClient};
use crate::load::{self, LoadSpec, Watched};
use crate::report::{self, RunReport};
use crate::workload::{self, Op, Workload};

/// What runs behind the targets.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A stub ring started by the comparison: `nodes` nodes on 127.0.0.1..N:`port`.
    Stub {
        /// Nodes.
        nodes: usize,
        /// Their port.
        port: u16,
    },
    /// A running cluster reached through these nodes (the first is "direct").
    Real {
        /// Contact points.
        contact_points: Vec<SocketAddr>,
    },
}

/// One way of reaching the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The driver straight to the first node.
    Direct,
    /// Through the byte-copying TCP forwarder.
    Forwarder,
    /// Through a `ringgate` node.
    Ringgate,
    /// Through shotover's Cassandra sink.
    Shotover,
    /// Ringgate's request API in the harness itself (no network hop on the client side).
    Embedded,
}

impl Target {
    /// The name in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Target::Direct => "direct",
            Target::Forwarder => "forwarder",
            Target::Ringgate => "ringgate",
            Target::Shotover => "shotover",
            Target::Embedded => "embedded",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Result<Self, String> {
        [
            Target::Direct,
            Target::Forwarder,
            Target::Ringgate,
            Target::Shotover,
            Target::Embedded,
        ]
        .into_iter()
        .find(|t| t.name() == s)
        .ok_or_else(|| format!("unknown target {s:?}"))
    }
}

/// What to compare.
#[derive(Debug, Clone)]
pub struct CompareSpec {
    /// What runs behind the targets.
    pub backend: Backend,
    /// The targets, in the order of the first round (later rounds rotate it).
    pub targets: Vec<Target>,
    /// Workloads.
    pub workloads: Vec<Workload>,
    /// Concurrency levels run as fast as answered.
    pub concurrency: Vec<usize>,
    /// Fixed rates (requests per second), each run with `max_in_flight` at most in flight.
    pub rates: Vec<f64>,
    /// The in-flight bound of fixed-rate runs.
    pub max_in_flight: usize,
    /// Alternated rounds.
    pub rounds: usize,
    /// Warm-up of each run.
    pub warmup: Duration,
    /// Measured window of each run.
    pub duration: Duration,
    /// Driver connections to each target.
    pub connections: usize,
    /// Distinct keys.
    pub keys: u64,
    /// Bytes of each small value.
    pub value_len: usize,
    /// The local datacenter of the Ringgate node and the embedded coordinator.
    pub local_dc: String,
    /// The `ringgate` binary.
    pub ringgate_bin: PathBuf,
    /// The shotover binary (`ringgate-shotover`), when shotover is compared.
    pub shotover_bin: Option<PathBuf>,
    /// This binary, to start the stub and the forwarder as processes of their own.
    pub harness_bin: PathBuf,
    /// CPUs (a `taskset` list) for the proxies; empty: not pinned.
    pub proxy_cpus: String,
    /// CPUs for the stub; empty: not pinned.
    pub stub_cpus: String,
    /// Create the schema and load the keys first (real clusters).
    pub setup: bool,
    /// The keyspace's replication, as a CQL map literal.
    pub replication: String,
    /// Where the JSON, the summary and the processes' logs go.
    pub out_dir: PathBuf,
    /// The first port the proxies listen on (forwarder, ringgate, shotover follow).
    pub first_port: u16,
}

/// A child process, killed when dropped.
struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(
        name: &str,
        cpus: &str,
        program: &Path,
        args: &[String],
        out_dir: &Path,
    ) -> Result<Self, String> {
        let log = out_dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let stderr = file.try_clone().map_err(|e| e.to_string())?;
        let mut command = if cpus.is_empty() {
            Command::new(program)
        } else {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpus).arg(program);
            c
        };
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(stderr));
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {name} ({}): {e}", program.display()))?;
        Ok(Process {
            name: name.to_owned(),
            child,
            log,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits until `addr` accepts connections, failing if the process exits first.
    async fn wait_listening(&mut self, addr: SocketAddr, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "{} exited ({status}) before listening on {addr}:\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} does not listen on {addr} after {within:?}:\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A target ready to be measured: its client, and the process whose CPU counts as its own.
struct Prepared {
    target: Target,
    client: Arc<Client>,
    process: Option<Watched>,
}

/// Runs the comparison, printing each run and the final table, and writing
/// `runs.jsonl`, `medians.json` and `summary.md` into the output directory.
pub async fn run(spec: &CompareSpec) -> Result<Vec<RunReport>, String> {
    std::fs::create_dir_all(&spec.out_dir).map_err(|e| e.to_string())?;
    let mut processes = Vec::new();
    let mut watched_extra = Vec::new();
    let nodes: Vec<SocketAddr> = match &spec.backend {
        Backend::Stub { nodes, port } => {
            let args = vec![
                "stub".to_owned(),
                "--nodes".to_owned(),
                nodes.to_string(),
                "--port".to_owned(),
                port.to_string(),
            ];
            let mut stub = Process::spawn(
                "stub",
                &spec.stub_cpus,
                &spec.harness_bin,
                &args,
                &spec.out_dir,
            )?;
            let first = SocketAddr::new(crate::stub::node_ip(1), *port);
            stub.wait_listening(first, Duration::from_secs(30)).await?;
            watched_extra.push(Watched {
                name: "stub".to_owned(),
                pid: stub.pid(),
            });
            processes.push(stub);
            (1..=*nodes)
                .map(|n| SocketAddr::new(crate::stub::node_ip(n), *port))
                .collect()
        }
        Backend::Real { contact_points } => contact_points.clone(),
    };
    let direct = *nodes.first().ok_or("no node to reach")?;
    let contact_points = nodes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let local = |offset: u16| SocketAddr::from(([127, 0, 0, 1], spec.first_port + offset));

    let config = |targets: Vec<SocketAddr>| ClientConfig {
        targets,
        connections: spec.connections,
        value_len: spec.value_len,
        local_dc: Some(spec.local_dc.clone()),
    };
    if spec.setup {
        setup(&config(vec![direct]), spec.keys, &spec.replication).await?;
    }

    let mut prepared = Vec::new();
    for &target in &spec.targets {
        let (address, process) = match target {
            Target::Direct | Target::Embedded => (direct, None),
            Target::Forwarder => {
                let listen = local(0);
                let args = vec![
                    "forward".to_owned(),
                    "--listen".to_owned(),
                    listen.to_string(),
                    "--to".to_owned(),
                    direct.to_string(),
                ];
                let p = Process::spawn(
                    "forwarder",
                    &spec.proxy_cpus,
                    &spec.harness_bin,
                    &args,
                    &spec.out_dir,
                )?;
                (listen, Some(p))
            }
            Target::Ringgate => {
                let listen = local(1);
                let args = vec![
                    "--contact-points".to_owned(),
                    contact_points.clone(),
                    "--listen".to_owned(),
                    listen.to_string(),
                    "--local-dc".to_owned(),
                    spec.local_dc.clone(),
                ];
                let p = Process::spawn(
                    "ringgate",
                    &spec.proxy_cpus,
                    &spec.ringgate_bin,
                    &args,
                    &spec.out_dir,
                )?;
                (listen, Some(p))
            }
            Target::Shotover => {
                let listen = local(2);
                let bin = spec
                    .shotover_bin
                    .as_ref()
                    .ok_or("shotover is compared but no --shotover-bin was given")?;
                let (topology, config) = shotover_config(spec, listen, &nodes)?;
                let args = vec![
                    "--topology-file".to_owned(),
                    topology.display().to_string(),
                    "--config-file".to_owned(),
                    config.display().to_string(),
                ];
                let p = Process::spawn("shotover", &spec.proxy_cpus, bin, &args, &spec.out_dir)?;
                (listen, Some(p))
            }
        };
        let process = match process {
            Some(mut p) => {
                p.wait_listening(address, Duration::from_secs(60)).await?;
                let watched = Watched {
                    name: target.name().to_owned(),
                    pid: p.pid(),
                };
                processes.push(p);
                Some(watched)
            }
            None => None,
        };
        let client = if target == Target::Embedded {
            let coordinator = client::connect_embedded(&config(nodes.clone())).await?;
            Client::Embedded(Box::new(
                EmbeddedClient::prepare(coordinator, &config(nodes.clone())).await?,
            ))
        } else {
            let session = client::connect_driver(&config(vec![address])).await?;
            Client::Driver(Box::new(
                DriverClient::prepare(session, &config(vec![address])).await?,
            ))
        };
        prepared.push(Prepared {
            target,
            client: Arc::new(client),
            process,
        });
    }

    let mut cases: Vec<(Workload, usize, Option<f64>)> = Vec::new();
    for &workload in &spec.workloads {
        for &c in &spec.concurrency {
            cases.push((workload, c, None));
        }
        for &rate in &spec.rates {
            cases.push((workload, spec.max_in_flight, Some(rate)));
        }
    }
    let jsonl = spec.out_dir.join("runs.jsonl");
    let mut out = std::fs::File::create(&jsonl).map_err(|e| format!("{}: {e}", jsonl.display()))?;
    let mut runs = Vec::new();
    for round in 1..=spec.rounds.max(1) {
        for &(workload, concurrency, rate) in &cases {
            // Alternate: each round starts with another target.
            let n = prepared.len();
            for k in 0..n {
                let p = &prepared[(k + round - 1) % n];
                let load = LoadSpec {
                    workload,
                    concurrency,
                    warmup: spec.warmup,
                    duration: spec.duration,
                    rate,
                    keys: spec.keys,
                    seed: 0x5eed ^ round as u64,
                };
                let mut watched: Vec<Watched> = p.process.iter().cloned().collect();
                watched.extend(watched_extra.iter().cloned());
                let label = format!("r{round} {}", p.target.name());
                let mut report = load::run(Arc::clone(&p.client), &load, &watched, &label).await;
                report.target = p.target.name().to_owned();
                report.mode = if p.target == Target::Embedded {
                    "embedded"
                } else {
                    "driver"
                }
                .to_owned();
                report.round = round;
                if p.target == Target::Embedded {
                    // The request API runs in the harness: its CPU is the harness's.
                    if let Some(cpu) = report.cpu.iter().find(|c| c.name == "harness").cloned() {
                        report.cpu.push(report::CpuUse {
                            name: "embedded".to_owned(),
                            ..cpu
                        });
                    }
                }
                println!("{}", report.summary());
                let line = serde_json::to_string(&report).map_err(|e| e.to_string())?;
                writeln!(out, "{line}").map_err(|e| e.to_string())?;
                runs.push(report);
            }
        }
    }
    drop(prepared);
    drop(processes);

    let medians = report::medians(&runs);
    let table = report::comparison_table(&medians, Target::Direct.name(), Target::Forwarder.name());
    println!("\nmedians over {} rounds:\n{table}", spec.rounds);
    let write = |name: &str, text: &str| {
        let path = spec.out_dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    write(
        "medians.json",
        &serde_json::to_string_pretty(&medians).map_err(|e| e.to_string())?,
    )?;
    write("summary.md", &table)?;
    let failed: Vec<String> = runs
        .iter()
        .filter(|r| r.errors > 0 || r.ops == 0)
        .map(|r| {
            format!(
                "{} {} {}: {} errors in {} requests (first: {})",
                r.label,
                r.workload,
                r.concurrency,
                r.errors,
                r.ops + r.errors,
                r.first_error.as_deref().unwrap_or("none")
            )
        })
        .collect();
    if !failed.is_empty() {
        return Err(format!(
            "runs with errors or no answers:\n{}",
            failed.join("\n")
        ));
    }
    Ok(runs)
}

/// Shotover's configuration for a Cassandra source on `listen` in front of `nodes`: its
/// cluster sink, with this one shotover node in the local datacenter. Returns the topology
/// and config files written into the output directory.
fn shotover_config(
    spec: &CompareSpec,
    listen: SocketAddr,
    nodes: &[SocketAddr],
) -> Result<(PathBuf, PathBuf), String> {
    let dir = spec.out_dir.join("shotover");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Shotover's contact points must be in its own datacenter: the harness's first nodes.
    let contact_points = nodes
        .iter()
        .take(2)
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let host_id = "2dd022d6-2937-4754-89d6-02d2933a8f7a";
    let topology = format!(
        "---\n\
         sources:\n\
         \x20 - Cassandra:\n\
         \x20     name: \"cassandra\"\n\
         \x20     listen_addr: \"{listen}\"\n\
         \x20     chain:\n\
         \x20       - CassandraSinkCluster:\n\
         \x20           first_contact_points: [{contact_points}]\n\
         \x20           local_shotover_host_id: \"{host_id}\"\n\
         \x20           shotover_nodes:\n\
         \x20             - address: \"{listen}\"\n\
         \x20               data_center: \"{dc}\"\n\
         \x20               rack: \"rack1\"\n\
         \x20               host_id: \"{host_id}\"\n\
         \x20           connect_timeout_ms: 3000\n",
        dc = spec.local_dc,
    );
    let config = "---\nmain_log_level: \"warn\"\n";
    let topology_file = dir.join("topology.yaml");
    let config_file = dir.join("config.yaml");
    std::fs::write(&topology_file, topology).map_err(|e| e.to_string())?;
    std::fs::write(&config_file, config).map_err(|e| e.to_string())?;
    Ok((topology_file, config_file))
}

/// Creates the schema through the node `config` names (with `replication`, a CQL map
/// literal) and writes every key the reads will ask for.
pub async fn setup(config: &ClientConfig, keys: u64, replication: &str) -> Result<(), String> {
    let session = client::connect_driver(config).await?;
    let ddl = std::iter::once(workload::keyspace_ddl(replication)).chain(workload::table_ddl());
    for cql in ddl {
        session
            .query_unpaged(cql.as_str(), ())
            .await
            .map_err(|e| format!("{cql}: {e}"))?;
    }
    let client = Arc::new(Client::Driver(Box::new(
        DriverClient::prepare(session, config).await?,
    )));
    let started = Instant::now();
    let big = workload::big_keys(keys);
    let ops: Vec<Op> = (0..i64::try_from(keys).unwrap_or(i64::MAX))
        .map(Op::Write)
        .chain((0..big).map(Op::BigWrite))
        .collect();
    let mut running = tokio::task::JoinSet::new();
    for chunk in ops.chunks(ops.len().div_ceil(64).max(1)) {
        let (client, chunk) = (Arc::clone(&client), chunk.to_vec());
        running.spawn(async move {
            for op in chunk {
                client.run(op).await?;
            }
            Ok::<_, String>(())
        });
    }
    while let Some(done) = running.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    eprintln!(
        "setup: {keys} keys and {big} large keys written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

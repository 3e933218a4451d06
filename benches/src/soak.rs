//! Sustained load through a node: many client connections (v4, one request at a time each),
//! every one of them preparing an INSERT and a SELECT and running them in turn, with a pause
//! between requests, for minutes. The node's resident memory and its sockets to the cluster's
//! nodes (port 9042) are sampled from `/proc` all along; the report says what each idle client
//! costs, how far the memory moved after the warm-up, and every error a client saw.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ringgate::protocol::Opcode;
use ringgate::protocol::message::{
    Consistency, Execute, Prepare, Query, QueryParameters, Request, Response, ResultBody, Value,
    decode_response,
};

use crate::conns::{Client, rss_bytes};

/// What a soak runs.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// The node.
    pub target: SocketAddr,
    /// The node's process id (its memory and sockets are read from `/proc`).
    pub pid: u32,
    /// Client connections.
    pub connections: usize,
    /// How long the traffic runs.
    pub duration: Duration,
    /// Samples taken before this are not held to the flatness bound.
    pub warmup: Duration,
    /// Each client's pause between two requests.
    pub pause: Duration,
    /// Time between two samples.
    pub sample_every: Duration,
    /// The replication of the keyspace `rg_soak` (made when missing).
    pub replication: String,
}

/// One sample of the node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    /// Seconds since the traffic started.
    pub at: f64,
    /// Resident memory, bytes.
    pub rss: u64,
    /// Open TCP connections to port 9042 (the cluster's nodes).
    pub backend_sockets: usize,
    /// Requests answered so far.
    pub requests: u64,
    /// Errors so far.
    pub errors: u64,
}

/// What a soak saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SoakReport {
    /// Client connections.
    pub connections: usize,
    /// The node's RSS before any client connected, bytes.
    pub rss_before: u64,
    /// Its RSS with every client connected and idle (prepared, no traffic yet), bytes.
    pub rss_idle: u64,
    /// (idle - before) / connections, bytes.
    pub bytes_per_idle_client: f64,
    /// The samples, in order.
    pub samples: Vec<Sample>,
    /// Requests answered.
    pub requests: u64,
    /// Requests that failed (an answer other than RESULT, or a connection lost).
    pub errors: u64,
    /// The first error, if any.
    pub first_error: Option<String>,
    /// The largest distance of a sample after the warm-up from their mean, as a fraction of
    /// the mean.
    pub rss_drift: f64,
    /// The most sockets to the cluster seen in one sample.
    pub max_backend_sockets: usize,
}

/// Sockets of process `pid` connected to a remote port 9042 (`/proc/PID/fd` and
/// `/proc/PID/net/tcp`).
pub fn backend_sockets(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    let inodes: HashSet<String> = fds
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let mut count = 0;
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // remote address, state (01: established), inode.
            if fields.len() > 9
                && fields[2].ends_with(":2352")
                && fields[3] == "01"
                && inodes.contains(fields[9])
            {
                count += 1;
            }
        }
    }
    count
}

fn query(cql: &str) -> Request {
    Request::Query(Query::new(cql, QueryParameters::new(Consistency::One)))
}

/// Sends `request` and returns the decoded answer, or an error naming what came instead.
async fn ask(client: &mut Client, request: &Request) -> Result<Response, String> {
    let envelope = client.exchange(request).await?;
    let (_, response) = decode_response(&envelope).map_err(|e| e.to_string())?;
    match response {
        Response::Error(e) => Err(format!("ERROR {:#06x}: {}", e.details.code(), e.message)),
        other if envelope.header.opcode == Opcode::Result => Ok(other),
        other => Err(format!("unexpected answer {other:?}")),
    }
}

/// A prepared id (and result metadata id) from a PREPARED answer.
fn prepared(response: Response) -> Result<(Bytes, Option<Bytes>), String> {
    match response {
        Response::Result(ResultBody::Prepared(p)) => Ok((p.id, p.result_metadata_id)),
        other => Err(format!("PREPARE answered {other:?}")),
    }
}

fn execute(id: &(Bytes, Option<Bytes>), values: Vec<Value>) -> Request {
    let params = QueryParameters::new(Consistency::One).with_values(values);
    Request::Execute(Execute::new(id.0.clone(), id.1.clone(), params))
}

fn int(v: i32) -> Value {
    Value::Bytes(Bytes::copy_from_slice(&v.to_be_bytes()))
}

/// Runs the soak.
pub async fn run(config: SoakConfig) -> Result<SoakReport, String> {
    let pid = config.pid;
    let rss_before = rss_bytes(pid).ok_or_else(|| format!("no process {pid}"))?;
    let mut setup = Client::open(config.target).await?;
    ask(
        &mut setup,
        &query(&format!(
            "CREATE KEYSPACE IF NOT EXISTS rg_soak WITH replication = {}",
            config.replication
        )),
    )
    .await?;
    ask(
        &mut setup,
        &query("CREATE TABLE IF NOT EXISTS rg_soak.kv (k int PRIMARY KEY, v blob)"),
    )
    .await?;
    drop(setup);

    let insert_text = "INSERT INTO rg_soak.kv (k, v) VALUES (?, ?)";
    let select_text = "SELECT v FROM rg_soak.kv WHERE k = ?";
    let mut clients = Vec::with_capacity(config.connections);
    for i in 0..config.connections {
        let mut client = Client::open(config.target)
            .await
            .map_err(|e| format!("connection {i}: {e}"))?;
        let insert =
            prepared(ask(&mut client, &Request::Prepare(Prepare::new(insert_text))).await?)?;
        let select =
            prepared(ask(&mut client, &Request::Prepare(Prepare::new(select_text))).await?)?;
        clients.push((client, insert, select));
    }
    // Idle, prepared: what each client costs the node before it sends anything more.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle = rss_bytes(pid).ok_or_else(|| format!("process {pid} is gone"))?;

    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let mut tasks = Vec::new();
    let n = config.connections.max(1);
    for (i, (mut client, insert, select)) in clients.into_iter().enumerate() {
        let (stop, requests, errors, first_error) = (
            stop.clone(),
            requests.clone(),
            errors.clone(),
            first_error.clone(),
        );
        let pause = config.pause;
        tasks.push(tokio::spawn(async move {
            // Spread the clients' first requests over one pause.
            tokio::time::sleep(pause.mul_f64(i as f64 / n as f64)).await;
            let mut round: i32 = 0;
            while !stop.load(Ordering::Relaxed) {
                let k = (i as i32).wrapping_mul(7919).wrapping_add(round) % 10_000;
                let request = if round % 2 == 0 {
                    execute(
                        &insert,
                        vec![int(k), Value::Bytes(Bytes::from(vec![b'x'; 100]))],
                    )
                } else {
                    execute(&select, vec![int(k)])
                };
                round = round.wrapping_add(1);
                match ask(&mut client, &request).await {
                    Ok(_) => {
                        requests.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first_error
                            .lock()
                            .unwrap()
                            .get_or_insert_with(|| format!("client {i}: {e}"));
                        if e.contains("closed") {
                            return;
                        }
                    }
                }
                tokio::time::sleep(pause).await;
            }
        }));
    }

    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < config.duration {
        tokio::time::sleep(config.sample_every.min(config.duration - started.elapsed())).await;
        let sample = Sample {
            at: started.elapsed().as_secs_f64(),
            rss: rss_bytes(pid).ok_or_else(|| format!("process {pid} is gone"))?,
            backend_sockets: backend_sockets(pid),
            requests: requests.load(Ordering::Relaxed),
            errors: errors.load(Ordering::Relaxed),
        };
        println!(
            "soak {:>6.0} s: RSS {:.1} MiB, {} sockets to the cluster, {} requests, {} errors",
            sample.at,
            sample.rss as f64 / 1_048_576.0,
            sample.backend_sockets,
            sample.requests,
            sample.errors
        );
        samples.push(sample);
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.map_err(|e| e.to_string())?;
    }

    let warm: Vec<f64> = samples
        .iter()
        .filter(|s| s.at >= config.warmup.as_secs_f64())
        .map(|s| s.rss as f64)
        .collect();
    let mean = warm.iter().sum::<f64>() / warm.len().max(1) as f64;
    let rss_drift = warm
        .iter()
        .map(|r| (r - mean).abs() / mean)
        .fold(0.0, f64::max);
    let error_count = errors.load(Ordering::Relaxed);
    let first_error = first_error.lock().unwrap().clone();
    Ok(SoakReport {
        connections: config.connections,
        rss_before,
        rss_idle,
        bytes_per_idle_client: rss_idle.saturating_sub(rss_before) as f64 / n as f64,
        max_backend_sockets: samples.iter().map(|s| s.backend_sockets).max().unwrap_or(0),
        samples,
        requests: requests.load(Ordering::Relaxed),
        errors: error_count,
        first_error,
        rss_drift,
    })
}

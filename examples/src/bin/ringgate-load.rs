//! `ringgate-load`: a CQL load generator. It prepares a point read and a point write and runs
//! them against a target — a Cassandra node, or a Ringgate node in front of the cluster —
//! from many requests in flight at once, then prints throughput and latency percentiles.
//! Running it against both in one session gives the cost of going through Ringgate as a
//! ratio (`scripts/load-compare` does that, alternating the two).
//!
//! ```text
//! ringgate-load --target 127.0.0.1:9142 --seconds 10 --in-flight 64 --workload mixed
//! ```
//!
//! Output: one line of `key=value` pairs (ops, errors, ops_per_s, p50_us, p90_us, p99_us,
//! p999_us, max_us).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use ringgate::pool::{ConnectOptions, Connection, connect, decode_response};
use ringgate::protocol::ProtocolVersion;
use ringgate::protocol::frame::Flags;
use ringgate::protocol::message::{
    Consistency, Execute, Prepare, Prepared, Query, QueryParameters, Request, Response, ResultBody,
    Value,
};

/// What each request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// Point reads of preloaded keys.
    Read,
    /// Point writes.
    Write,
    /// Half reads, half writes.
    Mixed,
}

/// A CQL load generator for a Cassandra or Ringgate node.
#[derive(Debug, Parser)]
#[command(name = "ringgate-load", version)]
struct Args {
    /// Where to send requests.
    #[arg(long, default_value = "127.0.0.1:9142")]
    target: SocketAddr,
    /// How long to run (after the warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Warm-up before measuring.
    #[arg(long, default_value_t = 2)]
    warmup_seconds: u64,
    /// Requests in flight at any time.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Connections to spread them over.
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// The workload.
    #[arg(long, value_enum, default_value = "mixed")]
    workload: Workload,
    /// Distinct partition keys.
    #[arg(long, default_value_t = 10_000)]
    keys: i32,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// The protocol version (4 or 5).
    #[arg(long, default_value_t = 5)]
    protocol: u8,
    /// Create the keyspace and table and load every key first.
    #[arg(long)]
    setup: bool,
}

const KEYSPACE_DDL: &str = "CREATE KEYSPACE IF NOT EXISTS rg_load WITH replication = \
     {'class': 'NetworkTopologyStrategy', 'dc1': 2}";
const TABLE_DDL: &str = "CREATE TABLE IF NOT EXISTS rg_load.kv (k int PRIMARY KEY, v blob)";
const TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let version = match args.protocol {
        4 => ProtocolVersion::V4,
        5 => ProtocolVersion::V5,
        other => return Err(format!("protocol {other}: 4 or 5").into()),
    };
    let options = ConnectOptions {
        max_version: version,
        compression: false,
        ..ConnectOptions::default()
    };
    let mut conns = Vec::new();
    for _ in 0..args.connections.max(1) {
        let (conn, _) = connect(args.target, &options, None).await?;
        conns.push(conn);
    }
    let first = &conns[0];
    let value = Bytes::from(vec![0xab; args.value_size]);
    if args.setup {
        for ddl in [KEYSPACE_DDL, TABLE_DDL] {
            run(first, &query(ddl)).await?;
        }
    }
    let read = prepare(first, "SELECT v FROM rg_load.kv WHERE k = ?").await?;
    let write = prepare(first, "INSERT INTO rg_load.kv (k, v) VALUES (?, ?)").await?;
    if args.setup {
        let started = Instant::now();
        load_keys(first, &write, &value, args.keys, args.in_flight).await?;
        eprintln!("loaded {} keys in {:?}", args.keys, started.elapsed());
    }

    let plan = Arc::new(Plan {
        read,
        write,
        value,
        workload: args.workload,
        keys: args.keys.max(1),
    });
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for i in 0..args.in_flight.max(1) {
        let conn = conns[i % conns.len()].clone();
        let plan = Arc::clone(&plan);
        let (measuring, stop, errors) = (
            Arc::clone(&measuring),
            Arc::clone(&stop),
            Arc::clone(&errors),
        );
        workers.push(tokio::spawn(async move {
            let mut histogram =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
            let mut n = u64::try_from(i).unwrap_or_default();
            while !stop.load(Ordering::Relaxed) {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let request = plan.request(n);
                let started = Instant::now();
                let ok = run(&conn, &request).await.is_ok();
                if measuring.load(Ordering::Relaxed) {
                    if ok {
                        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                        histogram.saturating_record(us.max(1));
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            histogram
        }));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup_seconds)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for worker in workers {
        all.add(worker.await?)?;
    }
    let ops = all.len();
    println!(
        "target={} workload={:?} in_flight={} ops={ops} errors={} ops_per_s={:.0} p50_us={} p90_us={} p99_us={} p999_us={} max_us={}",
        args.target,
        args.workload,
        args.in_flight,
        errors.load(Ordering::Relaxed),
        ops as f64 / elapsed.as_secs_f64(),
        all.value_at_quantile(0.5),
        all.value_at_quantile(0.9),
        all.value_at_quantile(0.99),
        all.value_at_quantile(0.999),
        all.max(),
    );
    Ok(())
}

/// The prepared statements and what to bind.
struct Plan {
    read: Prepared,
    write: Prepared,
    value: Bytes,
    workload: Workload,
    keys: i32,
}

impl Plan {
    fn request(&self, n: u64) -> Request {
        let key = i32::try_from((n >> 33) % u64::from(self.keys.unsigned_abs())).unwrap_or(0);
        let is_read = match self.workload {
            Workload::Read => true,
            Workload::Write => false,
            Workload::Mixed => n >> 63 == 0,
        };
        if is_read {
            execute(&self.read, vec![int(key)])
        } else {
            execute(
                &self.write,
                vec![int(key), Value::Bytes(self.value.clone())],
            )
        }
    }
}

fn int(k: i32) -> Value {
    Value::Bytes(Bytes::copy_from_slice(&k.to_be_bytes()))
}

fn query(cql: &str) -> Request {
    Request::Query(Query::new(
        cql,
        QueryParameters::new(Consistency::LocalQuorum),
    ))
}

fn execute(prepared: &Prepared, values: Vec<Value>) -> Request {
    Request::Execute(Execute {
        id: prepared.id.clone(),
        result_metadata_id: prepared.result_metadata_id.clone(),
        params: QueryParameters::new(Consistency::LocalOne).with_values(values),
    })
}

async fn prepare(conn: &Connection, cql: &str) -> Result<Prepared, String> {
    match run(conn, &Request::Prepare(Prepare::new(cql))).await? {
        ResultBody::Prepared(p) => Ok(*p),
        other => Err(format!("PREPARE answered {other:?}")),
    }
}

/// Sends `request` and waits for its RESULT.
async fn run(conn: &Connection, request: &Request) -> Result<ResultBody, String> {
    let mut body = BytesMut::new();
    request
        .encode(conn.version(), &mut body)
        .map_err(|e| e.to_string())?;
    let envelope = conn
        .request(request.opcode(), Flags::empty(), body.freeze(), TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    match decode_response(&envelope, conn.version()).map_err(|e| e.to_string())? {
        (_, Response::Result(result)) => Ok(result),
        (_, Response::Error(e)) => Err(format!("{:?}: {}", e.details, e.message)),
        (_, other) => Err(format!("unexpected {:?}", other.opcode())),
    }
}

/// Writes every key once, `in_flight` at a time.
async fn load_keys(
    conn: &Connection,
    write: &Prepared,
    value: &Bytes,
    keys: i32,
    in_flight: usize,
) -> Result<(), String> {
    let mut next = 0i32;
    let mut running = tokio::task::JoinSet::new();
    while next < keys || !running.is_empty() {
        while next < keys && running.len() < in_flight.max(1) {
            let conn = conn.clone();
            let request = execute(write, vec![int(next), Value::Bytes(value.clone())]);
            running.spawn(async move { run(&conn, &request).await.map(|_| ()) });
            next += 1;
        }
        if let Some(done) = running.join_next().await {
            done.map_err(|e| e.to_string())??;
        }
    }
    Ok(())
}

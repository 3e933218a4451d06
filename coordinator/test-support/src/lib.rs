//! What the real-cluster tests of every crate share: where the nodes of the local cluster
//! (`scripts/cluster`) are, their logs, the cluster script itself and the drivers' environments.
//! Dev-only: no crate depends on it outside `[dev-dependencies]`.
//!
//! The cluster instance under test is `RINGGATE_CLUSTER_ID` (0..9, default 0). Instance 0 is the
//! tests' `two-dc` cluster on 127.0.0.1..3 (`make cluster`); instance K runs on 127.0.1K.1..3 and
//! is started by its own Makefile target. A test that needs the cluster and cannot reach it fails
//! — never skips — saying to start the cluster, with the node's log tail.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `scripts/cluster` instance the tests run against: `RINGGATE_CLUSTER_ID` (0..9, default 0).
pub fn cluster_id() -> u8 {
    match std::env::var("RINGGATE_CLUSTER_ID") {
        Ok(id) => id
            .parse()
            .ok()
            .filter(|id| *id <= 9)
            .unwrap_or_else(|| panic!("RINGGATE_CLUSTER_ID must be 0..9, not {id:?}")),
        Err(_) => 0,
    }
}

/// The address of node `n` (1-based) of the instance under test. The first call in a process
/// checks that the instance's first node accepts connections, and fails the test with what to do
/// when it does not (see [`require_cluster`]).
pub fn node_ip(n: u8) -> IpAddr {
    require_cluster();
    ip_of(n)
}

fn ip_of(n: u8) -> IpAddr {
    match cluster_id() {
        0 => IpAddr::from([127, 0, 0, n]),
        k => IpAddr::from([127, 0, 10 + k, n]),
    }
}

/// The native-protocol address of node `n` (1-based) of the instance under test.
pub fn node_addr(n: u8) -> SocketAddr {
    SocketAddr::new(node_ip(n), 9042)
}

/// The Makefile target that starts the instance under test.
fn start_command() -> String {
    match cluster_id() {
        0 => "make cluster".to_owned(),
        k => format!(
            "RINGGATE_CLUSTER_ID={k} scripts/cluster up ... (the Makefile target of that instance)"
        ),
    }
}

/// Fails the calling test unless node 1 of the instance under test accepts connections: with
/// no cluster, `cargo test` fails in the real-cluster tests only, each saying to start the
/// cluster first. Checked once per process.
pub fn require_cluster() {
    static UP: OnceLock<Result<(), String>> = OnceLock::new();
    let up = UP.get_or_init(|| {
        let addr = SocketAddr::new(ip_of(1), 9042);
        match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(_) => Ok(()),
            Err(e) => Err(format!(
                "this test needs the local Cassandra cluster, and node 1 at {addr} refuses \
                 connections ({e}).\nRun `{}` first (`make test` starts it itself).\n\
                 Last lines of node 1's log:\n{}",
                start_command(),
                log_tail(1, 30)
            )),
        }
    });
    if let Err(message) = up {
        panic!("{message}");
    }
}

/// Where the project's scripts keep their caches (`RINGGATE_CACHE`, default
/// `~/.cache/ringgate`).
pub fn cache_dir() -> PathBuf {
    std::env::var_os("RINGGATE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/ringgate")
        })
}

/// Where `scripts/cluster` keeps node `n` of the instance under test.
pub fn node_dir(n: u8) -> PathBuf {
    let cluster = match cluster_id() {
        0 => "cluster".to_owned(),
        k => format!("cluster{k}"),
    };
    cache_dir().join(cluster).join(format!("node{n}"))
}

/// The last `lines` lines of node `n`'s log, for failure messages; when there is none, a line
/// saying how to start the cluster.
pub fn log_tail(n: u8, lines: usize) -> String {
    let path = node_dir(n).join("logs/system.log");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!(
            "(no log at {}: {e} — the cluster never ran here; run `{}` first)",
            path.display(),
            start_command()
        ),
    }
}

/// Runs `scripts/cluster` with `args` on the instance under test, panicking with its output
/// if it fails.
pub fn cluster_script(args: &[&str]) -> String {
    if args.first() != Some(&"up") {
        require_cluster();
    }
    let script = repo().join("scripts/cluster");
    let out = Command::new(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "scripts/cluster {args:?} failed:\n{text}"
    );
    text
}

/// Runs one of the `scripts/*-env` scripts (which build a driver's environment once) and
/// returns the path it prints.
fn env_script(name: &str) -> PathBuf {
    let script = repo().join("scripts").join(name);
    let out = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "scripts/{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// The python of the project's venv (`scripts/python-env`: the Python driver and cqlsh).
pub fn python() -> PathBuf {
    env_script("python-env").join("bin/python")
}

/// The gocql program (`scripts/go-env`; Go must be on the PATH).
pub fn gocql() -> PathBuf {
    env_script("go-env")
}

/// The `key=value` lines of a driver program's output.
pub fn key_values(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

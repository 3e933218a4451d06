//! Shared helpers for the tests that run the `ringgate` binary against a real cluster and real
//! drivers: starting a node (and reading its startup line), the drivers' programs
//! (`coordinator/tests/drivers`), scraping the admin listener, and the addresses of a cluster
//! instance other than the tests' own (`RINGGATE_CLUSTER_ID`, for the TLS cluster).
#![allow(dead_code, unused_imports, unreachable_pub, missing_docs)]

pub use ringgate_test_support::{gocql, key_values, python};

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A `ringgate` node the test started; killed when dropped.
pub struct Node {
    pub child: Child,
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The admin listener, when one was asked for.
    pub admin: Option<SocketAddr>,
    /// The startup line.
    pub line: String,
    stderr: Arc<Mutex<String>>,
}

impl Node {
    /// Everything the node logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends `signal` (`TERM`, `INT`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits at most `within` for the node to exit.
    pub fn wait(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Waits at most `within` for `text` in the node's log.
    pub fn wait_for_log(&self, text: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.stderr().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The admin listener's address (the node must have been started with one).
    pub fn admin(&self) -> SocketAddr {
        self.admin.expect("the node has an admin listener")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the `ringgate` binary with `args` (and no RINGGATE_* or RUST_LOG variable of the
/// test's environment) and waits for its startup line; panics with its log if none comes.
pub fn start_node(args: &[&str]) -> Node {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ringgate"));
    for (name, _) in std::env::vars() {
        if name.starts_with("RINGGATE_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ringgate binary starts");
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut err = child.stderr.take().unwrap();
    let log = Arc::clone(&stderr);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            log.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for _ in lines {}
    });
    let line = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the node printed no startup line; its log:\n{}",
                stderr.lock().unwrap()
            );
        }
    };
    assert!(
        line.starts_with("ringgate listening on "),
        "startup line {line:?}; log:\n{}",
        stderr.lock().unwrap()
    );
    let addr: SocketAddr = line["ringgate listening on ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let admin = line.split("admin on http://").nth(1).map(|rest| {
        rest.split(|c: char| c == ',' || c.is_whitespace())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    });
    Node {
        child,
        addr,
        admin,
        line,
        stderr,
    }
}

/// A GET of `path` on `addr`: the status code and the body (HTTP/1.1, connection closed).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("cannot reach the admin listener {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// `python ops.py <args>` (`coordinator/tests/drivers/python/ops.py`): whether it exited 0,
/// its stdout and its stderr.
pub fn ops_py(args: &[&str]) -> (bool, String, String) {
    let out = ops_py_command(args)
        .output()
        .expect("the Python driver program runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The command of `python ops.py <args>`, to spawn.
pub fn ops_py_command(args: &[&str]) -> Command {
    let mut command = Command::new(python());
    command
        .arg(repo().join("coordinator/tests/drivers/python/ops.py"))
        .args(args);
    command
}

/// One scrape of the node's `/metrics`, checked by the Prometheus project's strict OpenMetrics
/// parser (`ops.py metrics`): every sample, `name{labels}` (labels sorted) to value.
pub fn scrape(admin: SocketAddr) -> BTreeMap<String, f64> {
    let url = format!("http://{admin}/metrics");
    let (ok, stdout, stderr) = ops_py(&["metrics", &url]);
    assert!(
        ok,
        "the OpenMetrics parser refused /metrics:\n{stdout}\n{stderr}"
    );
    let fields = key_values(&stdout);
    assert!(
        fields
            .get("content_type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text")),
        "{stdout}"
    );
    stdout
        .lines()
        .filter(|l| l.contains('{'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of every sample of `name` whose labels include each of `labels`.
pub fn sum(samples: &BTreeMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            series.split('{').next() == Some(name)
                && labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| *v)
        .sum()
}

/// A cluster instance of `scripts/cluster` (`RINGGATE_CLUSTER_ID`, 2 when unset: the TLS
/// cluster's), as its `env` command describes it.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub hosts: Vec<IpAddr>,
    pub tls_dir: Option<PathBuf>,
}

impl Instance {
    /// The instance `RINGGATE_CLUSTER_ID` names; panics (never skips) when it is not up.
    pub fn from_env() -> Instance {
        Instance::from_env_or("2")
    }

    /// As [`Instance::from_env`], with `default` when `RINGGATE_CLUSTER_ID` is unset.
    pub fn from_env_or(default: &str) -> Instance {
        let id = std::env::var("RINGGATE_CLUSTER_ID").unwrap_or_else(|_| default.to_owned());
        let out = Command::new(repo().join("scripts/cluster"))
            .arg("env")
            .env("RINGGATE_CLUSTER_ID", &id)
            .output()
            .expect("scripts/cluster runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "cluster instance {id} is not set up (the Makefile target of these tests starts it: \
             `make tls` for instance 2, `make reliability` for instance 3):\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let fields = key_values(&text);
        let hosts = fields["RINGGATE_CLUSTER_HOSTS"]
            .split(',')
            .map(|h| h.parse().unwrap())
            .collect();
        Instance {
            tls_dir: fields.get("RINGGATE_CLUSTER_TLS_DIR").map(PathBuf::from),
            id,
            hosts,
        }
    }

    /// The TLS material of a `--tls` instance; panics when it has none.
    pub fn tls(&self) -> PathBuf {
        self.tls_dir.clone().unwrap_or_else(|| {
            panic!(
                "cluster instance {} runs without --tls (RINGGATE_CLUSTER_ID={} scripts/cluster \
                 up --nodes 1 --topology one-dc --tls)",
                self.id, self.id
            )
        })
    }

    /// A file of the TLS material, as a string argument.
    pub fn tls_file(&self, name: &str) -> String {
        self.tls().join(name).to_str().unwrap().to_owned()
    }

    /// `scripts/cluster ARGS` on this instance.
    pub fn script(&self, args: &[&str]) {
        let out = Command::new(repo().join("scripts/cluster"))
            .args(args)
            .env("RINGGATE_CLUSTER_ID", &self.id)
            .output()
            .expect("scripts/cluster runs");
        assert!(
            out.status.success(),
            "scripts/cluster {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The tail of node `n`'s log, for failure messages.
    pub fn log_tail(&self, n: u8) -> String {
        let out = Command::new(repo().join("scripts/cluster"))
            .args(["logs", &n.to_string(), "40"])
            .env("RINGGATE_CLUSTER_ID", &self.id)
            .output()
            .expect("scripts/cluster runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

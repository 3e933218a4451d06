//! Faults under load through the `ringgate` node, with the Python driver (issue #14): on a
//! three-node cluster of one datacenter and a keyspace of replication factor 3 (instance 3 of
//! `scripts/cluster`, started by `make reliability`):
//!
//! - a replica killed (SIGKILL) in the middle of QUORUM writes, then restarted: every
//!   acknowledged write reads back at QUORUM, every write has an outcome the client sees, and
//!   a statement prepared while the replica was down runs on it after its restart without one
//!   UNPREPARED reaching the client;
//! - the same with the replica frozen (SIGSTOP) instead, then resumed;
//! - the control node killed: DDL through the node keeps working, its tables are served; every
//!   node down: clients get errors at once, and the node serves again by itself once they
//!   are back.
//!
//! The figures (writes acknowledged and lost, how long throughput took to recover) are printed
//! and written to `reliability/` in the target's tmp directory (`RELIABILITY.md`).
//! These tests stop nodes: they run one at a time.

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::{Instance, Node, key_values, python, start_node};

/// The instance these tests run against: `RINGGATE_CLUSTER_ID`, 3 when unset.
fn instance() -> Instance {
    let instance = Instance::from_env_or("3");
    assert_eq!(
        instance.hosts.len(),
        3,
        "these tests need three nodes in one datacenter (RINGGATE_CLUSTER_ID={} scripts/cluster \
         up --nodes 3 --topology one-dc)",
        instance.id
    );
    instance
}

/// A `ringgate` node joined to `instance` through all three nodes, dc1 local.
fn node(instance: &Instance) -> Node {
    let contacts = instance
        .hosts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    start_node(&[
        "--listen",
        "127.0.0.1:0",
        "--contact-points",
        &contacts,
        "--local-dc",
        "dc1",
    ])
}

/// Puts the cluster back as it was (every node running) when a test ends, even by a panic.
struct Restore<'a> {
    instance: &'a Instance,
    paused: Vec<u8>,
    stopped: Vec<u8>,
}

impl<'a> Restore<'a> {
    fn new(instance: &'a Instance) -> Self {
        Restore {
            instance,
            paused: Vec::new(),
            stopped: Vec::new(),
        }
    }

    fn kill(&mut self, n: u8) {
        self.stopped.push(n);
        self.instance.script(&["kill", &n.to_string()]);
    }

    fn stop(&mut self, n: u8) {
        self.stopped.push(n);
        self.instance.script(&["stop", &n.to_string()]);
    }

    fn start(&mut self, n: u8) {
        self.instance.script(&["start", &n.to_string()]);
        self.stopped.retain(|m| *m != n);
    }

    fn pause(&mut self, n: u8) {
        self.paused.push(n);
        self.instance.script(&["pause", &n.to_string()]);
    }

    fn resume(&mut self, n: u8) {
        self.instance.script(&["resume", &n.to_string()]);
        self.paused.retain(|m| *m != n);
    }
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        for n in &self.paused {
            let _ = Command::new(repo().join("scripts/cluster"))
                .args(["resume", &n.to_string()])
                .env("RINGGATE_CLUSTER_ID", &self.instance.id)
                .status();
        }
        if !self.stopped.is_empty() {
            let _ = Command::new(repo().join("scripts/cluster"))
                .arg("start")
                .args(self.stopped.iter().map(u8::to_string))
                .env("RINGGATE_CLUSTER_ID", &self.instance.id)
                .status();
        }
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `python reliability.py ARGS` (`coordinator/tests/drivers/python/reliability.py`).
fn reliability_py(args: &[&str]) -> Command {
    let mut command = Command::new(python());
    command
        .arg(repo().join("coordinator/tests/drivers/python/reliability.py"))
        .args(args)
        .stdin(Stdio::null());
    command
}

/// Runs `reliability.py ARGS` to its end: its `key=value` lines; panics with its output when
/// it fails.
fn run_py(args: &[&str], node: &Node) -> BTreeMap<String, String> {
    let out = reliability_py(args).output().expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "reliability.py {args:?} failed:\n{stdout}\n{}\nnode log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        tail(&node.stderr(), 40)
    );
    key_values(&stdout)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A directory of its own for one run of a test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("reliability")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Records a figure: printed, and appended to `reliability/figures.txt` of the target's tmp
/// directory.
fn figure(test: &str, text: &str) {
    println!("figure {test}: {text}");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability/figures.txt");
    let _ = std::fs::create_dir_all(path.parent().unwrap());
    let line = format!("{} {test}: {text}\n", now() as u64);
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
}

/// What the throughput did around a fault at `fault` (wall clock, seconds), from a timeline of
/// acknowledgements per tenth of a second.
#[derive(Debug)]
struct Recovery {
    /// Acknowledgements a second over the five seconds before the fault.
    before: f64,
    /// The fewest acknowledgements in a one-second window after the fault.
    lowest: u64,
    /// From the fault to the end of its dip (the start of the first one-second window back at
    /// half the throughput of before, after one below that starting within 15 s of the
    /// fault), in seconds (0: no such dip; `None`: it never came back).
    recovered_after: Option<f64>,
}

fn recovery(timeline: &Path, fault: f64, end: f64) -> Recovery {
    let text = std::fs::read_to_string(timeline).unwrap();
    let tenths: BTreeMap<i64, u64> = text
        .lines()
        .filter_map(|l| {
            let (t, n) = l.split_once(' ')?;
            Some((t.parse().ok()?, n.parse().ok()?))
        })
        .collect();
    let fault_tenth = (fault * 10.0) as i64;
    let window = |from: i64| -> u64 { tenths.range(from..from + 10).map(|(_, n)| n).sum() };
    let before = tenths
        .range(fault_tenth - 50..fault_tenth)
        .map(|(_, n)| *n)
        .sum::<u64>() as f64
        / 5.0;
    let last = (end * 10.0) as i64 - 10;
    let lowest = (fault_tenth..=last).map(window).min().unwrap_or(0);
    // The fault's dip: the first window below half of before that starts within 15 s of the
    // fault (a later one is not the fault's doing: a busy machine, say), then the first window
    // from there at half of before again.
    let half = |t: &i64| window(*t) as f64 >= before / 2.0;
    let recovered_after = match (fault_tenth..=(fault_tenth + 150).min(last)).find(|t| !half(t)) {
        None => Some(0.0),
        Some(dip) => (dip..=last)
            .find(half)
            .map(|t| (t - fault_tenth) as f64 / 10.0),
    };
    Recovery {
        before,
        lowest,
        recovered_after,
    }
}

/// Starts `reliability.py write` through `node` for `seconds` into `dir`.
fn writer(node: &Node, keyspace: &str, seconds: u32, dir: &Path) -> Child {
    reliability_py(&[
        "write",
        "127.0.0.1",
        &node.addr.port().to_string(),
        keyspace,
        &seconds.to_string(),
        "32",
        dir.to_str().unwrap(),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("python runs")
}

/// Waits for a writer and returns its `key=value` lines (panics when it failed).
fn finish(mut child: Child, node: &Node) -> BTreeMap<String, String> {
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the writer failed:\n{stdout}\n{}\nnode log:\n{}",
        tail(&stderr, 40),
        tail(&node.stderr(), 40)
    );
    let fields = key_values(&stdout);
    assert_eq!(fields.get("error"), None, "{stdout}");
    fields
}

fn number(fields: &BTreeMap<String, String>, key: &str) -> u64 {
    fields
        .get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number {key} in {fields:?}"))
}

/// The checks after a fault: every write had an outcome, nothing acknowledged is lost, no
/// UNPREPARED reached the driver, and throughput came back.
fn check_run(
    test: &str,
    node: &Node,
    keyspace: &str,
    dir: &Path,
    written: &BTreeMap<String, String>,
    fault: f64,
    end: f64,
) {
    let attempted = number(written, "attempted");
    let acked = number(written, "acked");
    let failed = number(written, "failed");
    let errors = std::fs::read_to_string(dir.join("errors")).unwrap();
    assert_eq!(
        acked + failed,
        attempted,
        "every write must end acknowledged or failed: {written:?}"
    );
    assert!(acked > 1000, "too few writes acknowledged: {written:?}");
    let port = node.addr.port().to_string();
    let verified = run_py(
        &[
            "verify",
            "127.0.0.1",
            &port,
            keyspace,
            dir.to_str().unwrap(),
        ],
        node,
    );
    assert_eq!(number(&verified, "checked"), acked, "{verified:?}");
    assert_eq!(
        number(&verified, "read_errors"),
        0,
        "reads at QUORUM failed after the node came back: {verified:?}"
    );
    assert_eq!(
        number(&verified, "lost"),
        0,
        "acknowledged writes are missing: {verified:?}"
    );
    let unprepared = number(written, "unprepared") + number(&verified, "unprepared");
    assert_eq!(
        unprepared,
        0,
        "UNPREPARED reached the driver: {written:?}\nnode log:\n{}",
        tail(&node.stderr(), 40)
    );
    let r = recovery(&dir.join("timeline"), fault, end);
    let kinds: BTreeMap<String, usize> =
        errors
            .lines()
            .fold(BTreeMap::new(), |mut kinds, line: &str| {
                let kind = line.split_whitespace().nth(2).unwrap_or("?").to_owned();
                *kinds.entry(kind).or_default() += 1;
                kinds
            });
    figure(
        test,
        &format!(
            "attempted={attempted} acknowledged={acked} failed={failed} lost=0 \
             unprepared=0 failures={kinds:?} throughput_before={:.0}/s lowest_after={}/s \
             recovered_after={}",
            r.before,
            r.lowest,
            r.recovered_after
                .map_or("never".to_owned(), |s| format!("{s:.1}s"))
        ),
    );
    let recovered = r.recovered_after.unwrap_or_else(|| {
        panic!("throughput never came back to half of before: {r:?}\nerrors:\n{errors}")
    });
    // Generous: "no hang", not a benchmark (the figure is reported above; on a 2-core machine
    // the restarting replica's JVM alone can halve the throughput for a while).
    assert!(
        recovered <= 60.0,
        "throughput took {recovered} s to recover: {r:?}"
    );
}

/// Makes `keyspace` (replication factor 3) and its table through the node, then has node
/// `flushed` write its schema to disk: the test cluster runs with `cassandra.unsafesystem`, so
/// a node killed before it flushed would come back without the keyspace (and answer that it
/// does not exist until it caught up), which is not what the test is about.
fn setup(instance: &Instance, node: &Node, keyspace: &str, flushed: u8) {
    let port = node.addr.port().to_string();
    let fields = run_py(&["setup", "127.0.0.1", &port, keyspace, "3"], node);
    assert_eq!(
        fields.get("schema_agreed").map(String::as_str),
        Some("true")
    );
    instance.script(&["nodetool", &flushed.to_string(), "flush", "system_schema"]);
}

#[test]
fn acknowledged_writes_survive_a_replica_killed_mid_run_and_restarted() {
    let instance = instance();
    let node = node(&instance);
    let keyspace = "rg_rel_kill";
    setup(&instance, &node, keyspace, 2);
    let dir = scratch("kill");
    let mut restore = Restore::new(&instance);
    let child = writer(&node, keyspace, 300, &dir);
    std::thread::sleep(Duration::from_secs(8));
    let fault = now();
    restore.kill(2);
    std::thread::sleep(Duration::from_secs(2));
    // A statement prepared now, node 2 never sees before it runs there.
    std::fs::write(dir.join("switch"), b"").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    restore.start(2);
    // Writes on, with node 2 back among the replicas, then stop.
    std::thread::sleep(Duration::from_secs(8));
    std::fs::write(dir.join("stop"), b"").unwrap();
    let written = finish(child, &node);
    assert_eq!(written.get("switched").map(String::as_str), Some("true"));
    check_run(
        "replica SIGKILL",
        &node,
        keyspace,
        &dir,
        &written,
        fault,
        now(),
    );
}

#[test]
fn acknowledged_writes_survive_a_replica_frozen_mid_run_and_resumed() {
    let instance = instance();
    let node = node(&instance);
    let keyspace = "rg_rel_freeze";
    setup(&instance, &node, keyspace, 2);
    let dir = scratch("freeze");
    let mut restore = Restore::new(&instance);
    let child = writer(&node, keyspace, 300, &dir);
    std::thread::sleep(Duration::from_secs(8));
    let fault = now();
    restore.pause(2);
    // Longer than the node's request timeout (12 s), so that the writes held there fail.
    std::thread::sleep(Duration::from_secs(14));
    restore.resume(2);
    std::thread::sleep(Duration::from_secs(5));
    std::fs::write(dir.join("stop"), b"").unwrap();
    let written = finish(child, &node);
    check_run(
        "replica SIGSTOP",
        &node,
        keyspace,
        &dir,
        &written,
        fault,
        now(),
    );
}

/// One line of `reliability.py probe`: when it started (wall clock), how long it took, what
/// it returned.
#[derive(Debug)]
struct Probe {
    at: f64,
    took: f64,
    outcome: String,
}

fn probes(stdout: &str) -> Vec<Probe> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("probe="))
        .filter_map(|l| {
            let mut parts = l.splitn(3, ' ');
            Some(Probe {
                at: parts.next()?.parse().ok()?,
                took: parts.next()?.parse().ok()?,
                outcome: parts.next()?.to_owned(),
            })
        })
        .collect()
}

#[test]
fn the_control_node_dies_then_every_node_and_the_node_serves_again_by_itself() {
    let instance = instance();
    let node = node(&instance);
    let port = node.addr.port().to_string();
    let keyspace = "rg_rel_control";
    setup(&instance, &node, keyspace, 1);
    let mut restore = Restore::new(&instance);
    // The node's control connection is on its first contact point: node 1.
    restore.kill(1);
    let ddl = run_py(&["ddl", "127.0.0.1", &port, keyspace, "made_after"], &node);
    assert_eq!(
        ddl.get("read").map(String::as_str),
        Some("20"),
        "DDL through the node after its control node died: {ddl:?}"
    );
    assert_eq!(
        ddl.get("schema_agreed").map(String::as_str),
        Some("true"),
        "{ddl:?}"
    );

    // Every node down, with a client connected all along.
    let mut probe = reliability_py(&["probe", "127.0.0.1", &port, keyspace, "600"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    std::thread::sleep(Duration::from_secs(3));
    restore.stop(2);
    restore.stop(3);
    let all_down = now();
    std::thread::sleep(Duration::from_secs(12));
    let restarting = now();
    // Node 1 was killed: it starts as after a crash. One after the other: the client
    // connected all along must be served again within seconds of the last one, and with all
    // three started side by side it once was not (an open case, in RELIABILITY.md).
    restore.start(1);
    restore.start(2);
    restore.start(3);
    let nodes_up = now();
    // A read at QUORUM through a fresh session: the node reaches the cluster again.
    let served = run_py(
        &["until_served", "127.0.0.1", &port, keyspace, "120"],
        &node,
    );
    let back = now();
    std::thread::sleep(Duration::from_secs(5));
    let _ = probe.kill();
    let mut stdout = String::new();
    probe
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let _ = probe.wait();
    let probes = probes(&stdout);
    let down: Vec<&Probe> = probes
        .iter()
        .filter(|p| p.at > all_down + 1.0 && p.at + p.took < restarting)
        .collect();
    assert!(
        down.len() >= 5,
        "too few probes while every node was down: {probes:?}"
    );
    for p in &down {
        assert_ne!(
            p.outcome, "ok",
            "a read succeeded with every node down: {p:?}"
        );
        assert!(
            p.took < 10.0,
            "with every node down, an error took {} s to come: {p:?}",
            p.took
        );
    }
    // The client connected all along is served again too, without reconnecting.
    assert!(
        probes.iter().any(|p| p.at > back && p.outcome == "ok"),
        "the client connected all along is not served again: {probes:?}\nnode log:\n{}",
        tail(&node.stderr(), 40)
    );
    let served_after: f64 = served["served_after"].parse().unwrap_or(f64::NAN);
    let slowest = down.iter().map(|p| p.took).fold(0.0, f64::max);
    figure(
        "every node down",
        &format!(
            "probes_while_down={} slowest_error={slowest:.3}s error={:?} \
             restarts={:.1}s, served again {served_after:.1}s after the last node was up",
            down.len(),
            down[0].outcome,
            nodes_up - restarting,
        ),
    );
}

//! The `ringgate` node over TLS both ways, against the TLS cluster instance
//! (`RINGGATE_CLUSTER_ID`, 2 by default: `scripts/cluster up --nodes 1 --topology one-dc
//! --tls`, Cassandra with `client_encryption_options` and client certificates required;
//! `make tls` starts it and runs these tests): the Python driver and gocql reach the node over
//! TLS with client certificates, clients without a valid one are refused with a log line, the
//! replicas' certificates are checked (CA, name) as configured, and a drain under load loses
//! no request that was in flight at SIGTERM (requests sent afterwards are refused, or find the
//! connection closed once the node has answered everything it received).
//!
//! The drain test pauses the instance's node for a few seconds: run these tests one at a time
//! (`make tls` does).

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringgate::pool::{ConnectOptions, connect};
use ringgate::request::{Coordinator, CoordinatorConfig, RequestOptions};
use ringgate::tls::ClientTls;
use support::{
    Instance, gocql, http_get, key_values, ops_py, ops_py_command, scrape, start_node, sum,
};

/// The node's flags for TLS to the instance's replicas (CA, client certificate, hostname
/// verification on).
fn replica_tls_args(instance: &Instance) -> Vec<String> {
    vec![
        "--contact-points".into(),
        instance.hosts[0].to_string(),
        "--local-dc".into(),
        "dc1".into(),
        "--replica-tls-ca".into(),
        instance.tls_file("ca.pem"),
        "--replica-tls-cert".into(),
        instance.tls_file("client.pem"),
        "--replica-tls-key".into(),
        instance.tls_file("client.key"),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn tls_drivers_reach_the_node_with_client_certificates_and_others_are_refused() {
    let instance = Instance::from_env();
    let mut args: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--tls-cert",
        &instance.tls_file("ringgate.pem"),
        "--tls-key",
        &instance.tls_file("ringgate.key"),
        "--tls-client-ca",
        &instance.tls_file("ca.pem"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(replica_tls_args(&instance));
    let node = start_node(&strs(&args));
    assert!(
        node.line.contains("TLS with client certificates"),
        "{}",
        node.line
    );
    let port = node.addr.port().to_string();
    let (ca, cert, key) = (
        instance.tls_file("ca.pem"),
        instance.tls_file("client.pem"),
        instance.tls_file("client.key"),
    );

    // The Python driver, with the client certificate: TLS 1.3, rows written and read.
    let (ok, stdout, stderr) = ops_py(&["tls", "127.0.0.1", &port, "ops_tls_py", &ca, &cert, &key]);
    let fields = key_values(&stdout);
    assert!(
        ok,
        "python over TLS:\n{stdout}\n{stderr}\nnode:\n{}",
        node.stderr()
    );
    assert_eq!(fields.get("tls").map(String::as_str), Some("TLSv1.3"));
    assert_eq!(fields.get("rows").map(String::as_str), Some("50"));
    assert_eq!(fields.get("v7").map(String::as_str), Some("v7"));

    // gocql, likewise.
    let out = std::process::Command::new(gocql())
        .args(["tls", "127.0.0.1", &port, "ops_tls_go", &ca, &cert, &key])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let fields = key_values(&stdout);
    assert!(
        out.status.success(),
        "gocql over TLS:\n{stdout}\n{}\nnode:\n{}",
        String::from_utf8_lossy(&out.stderr),
        node.stderr()
    );
    assert_eq!(fields.get("tls").map(String::as_str), Some("TLSv1.3"));
    assert_eq!(fields.get("rows").map(String::as_str), Some("50"));
    assert_eq!(fields.get("v7").map(String::as_str), Some("v7"));

    // No certificate, then one from another CA: refused during the handshake, logged.
    let (ok, stdout, _) = ops_py(&["tls", "127.0.0.1", &port, "ops_tls_py", &ca]);
    assert!(!ok, "a client without a certificate was served:\n{stdout}");
    assert!(stdout.contains("error=connect"), "{stdout}");
    assert!(
        node.wait_for_log("peer sent no certificates", Duration::from_secs(10)),
        "no log line for the refused client:\n{}",
        node.stderr()
    );
    let (ok, stdout, _) = ops_py(&[
        "tls",
        "127.0.0.1",
        &port,
        "ops_tls_py",
        &ca,
        &instance.tls_file("stranger.pem"),
        &instance.tls_file("stranger.key"),
    ]);
    assert!(
        !ok,
        "a client certificate from another CA was accepted:\n{stdout}"
    );
    assert!(
        node.wait_for_log("UnknownIssuer", Duration::from_secs(10)),
        "no log line for the stranger's certificate:\n{}",
        node.stderr()
    );
    let log = node.stderr();
    assert!(
        log.lines()
            .filter(|l| l.contains("client refused: TLS handshake failed"))
            .count()
            >= 2,
        "{log}"
    );

    let samples = scrape(node.admin());
    assert!(
        sum(
            &samples,
            "ringgate_client_tls_handshake_failures_total",
            &[]
        ) >= 2.0,
        "{samples:?}"
    );
    assert!(
        sum(
            &samples,
            "ringgate_requests_total",
            &[("opcode", "execute"), ("outcome", "ok")]
        ) >= 100.0,
        "the drivers' prepared writes: {samples:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_replica_certificates_are_checked_as_configured() {
    let instance = Instance::from_env();
    let dir = instance.tls();
    let addr = SocketAddr::new(instance.hosts[0], 9042);
    let client = (dir.join("client.pem"), dir.join("client.key"));
    let tls = |ca: &str, with_client: bool, verify: bool, name: Option<&str>| {
        let client = with_client.then_some((client.0.as_path(), client.1.as_path()));
        ClientTls::from_pem_files(&dir.join(ca), client, verify, name).unwrap()
    };
    let attempt = |tls: Option<ClientTls>| async move {
        let options = ConnectOptions {
            tls,
            connect_timeout: Duration::from_secs(10),
            ..ConnectOptions::default()
        };
        connect(addr, &options, None).await.map(|_| ())
    };
    // The node's certificate names its IP and cassandra.ringgate.test.
    for (what, tls) in [
        ("its IP", tls("ca.pem", true, true, None)),
        (
            "its DNS name",
            tls("ca.pem", true, true, Some("cassandra.ringgate.test")),
        ),
        (
            "another name, unchecked",
            tls("ca.pem", true, false, Some("wrong.ringgate.test")),
        ),
    ] {
        if let Err(e) = attempt(Some(tls)).await {
            panic!("{what}: {e}\n{}", instance.log_tail(1));
        }
    }
    let refused = [
        (
            "a name the certificate does not carry",
            attempt(Some(tls("ca.pem", true, true, Some("wrong.ringgate.test")))).await,
            "not valid for name",
        ),
        (
            "another CA",
            attempt(Some(tls("stranger-ca.pem", true, false, None))).await,
            "UnknownIssuer",
        ),
        (
            "no client certificate",
            attempt(Some(tls("ca.pem", false, true, None))).await,
            "",
        ),
        ("plain TCP", attempt(None).await, ""),
    ];
    for (what, outcome, says) in refused {
        match outcome {
            Ok(()) => panic!("{what}: the connection was accepted"),
            Err(e) => assert!(
                e.to_string().contains(says),
                "{what}: {e} does not say {says:?}"
            ),
        }
    }
}

/// Resumes the paused node when dropped, even if the test fails half way.
struct Resume<'a>(&'a Instance);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        self.0.script(&["resume", "1"]);
    }
}

/// Lines a child process prints, gathered by a thread.
fn gather(stdout: std::process::ChildStdout) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut t = sink.lock().unwrap();
            t.push_str(&line);
            t.push('\n');
        }
    });
    text
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "no {what} within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn tls_drain_under_load_answers_every_request_in_flight_at_sigterm() {
    const WINDOW: usize = 32;
    let instance = Instance::from_env();
    let mut args: Vec<String> = ["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(replica_tls_args(&instance));
    let mut node = start_node(&strs(&args));
    let port = node.addr.port().to_string();

    // A driver keeps WINDOW writes in flight, one new write per answer.
    let mut driver = ops_py_command(&["drain", "127.0.0.1", &port, "ops_drain", "32"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = gather(driver.stdout.take().unwrap());
    wait_until("acknowledged writes", Duration::from_secs(60), || {
        out.lock().unwrap().contains("started=true")
    });

    // With the replica paused, the window's writes are all at the node, waiting: in flight.
    instance.script(&["pause", "1"]);
    let resume = Resume(&instance);
    wait_until(
        "the whole window in flight at the node",
        Duration::from_secs(30),
        || sum(&scrape(node.admin()), "ringgate_pool_in_flight", &[]) >= WINDOW as f64,
    );
    let mut stdin = driver.stdin.take().unwrap();
    writeln!(stdin, "mark").unwrap();
    wait_until("the driver's mark", Duration::from_secs(10), || {
        out.lock().unwrap().contains("marked=")
    });
    node.signal("TERM");
    assert!(
        node.wait_for_log("draining: new clients refused", Duration::from_secs(10)),
        "{}",
        node.stderr()
    );
    // Draining: not ready, still alive, and new clients are refused.
    let (status, body) = http_get(node.admin(), "/ready");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("draining"), "{body}");
    assert_eq!(http_get(node.admin(), "/health").0, 200);
    assert!(
        TcpStream::connect_timeout(&node.addr, Duration::from_secs(5)).is_err(),
        "a new client was accepted while draining"
    );
    drop(resume);

    let status = node.wait(Duration::from_secs(60));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "the node did not exit 0 after the drain:\n{}",
        node.stderr()
    );
    let driver_status = driver.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let text = out.lock().unwrap().clone();
    assert!(driver_status.success(), "{text}");
    let fields = key_values(&text);
    let count = |key: &str| -> usize {
        fields
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(count("marked"), WINDOW, "{text}");
    assert_eq!(
        count("marked_ok"),
        WINDOW,
        "in flight at SIGTERM, all answered:\n{text}"
    );
    assert_eq!(count("marked_lost"), 0, "{text}");
    // Sent after SIGTERM: refused, or (sent after the node's last answer) finding the
    // connection closed; never a timeout or another error.
    assert_eq!(count("lost_other"), 0, "{text}");
    assert_eq!(count("lost"), count("lost_closed"), "{text}");
    assert!(
        node.stderr()
            .contains("drained: every client had its last answer"),
        "{}",
        node.stderr()
    );

    // Every acknowledged write is in the table.
    let acked: Vec<i32> = fields["acked"]
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(acked.len() >= 100 + WINDOW, "{text}");
    let rows = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let dir = instance.tls();
        let client = Some((dir.join("client.pem"), dir.join("client.key")));
        let mut config = CoordinatorConfig::new(vec![SocketAddr::new(instance.hosts[0], 9042)]);
        config.connect.tls = Some(
            ClientTls::from_pem_files(
                &dir.join("ca.pem"),
                client.as_ref().map(|(c, k)| (Path::new(c), Path::new(k))),
                true,
                None,
            )
            .unwrap(),
        );
        let coordinator = Coordinator::connect(config).await.unwrap();
        let options = RequestOptions {
            page_size: Some(1_000_000),
            ..RequestOptions::default()
        };
        let result = coordinator
            .query("SELECT k FROM ops_drain.t", (), &options)
            .await
            .unwrap();
        let rows: Vec<i32> = result
            .rows()
            .unwrap()
            .iter()
            .map(|r| r.get(0).unwrap())
            .collect();
        rows
    });
    let stored: std::collections::HashSet<i32> = rows.into_iter().collect();
    let missing: Vec<&i32> = acked.iter().filter(|k| !stored.contains(k)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged writes missing: {missing:?}"
    );
}

//! The `ringgate` node's admin side against the real `two-dc` cluster (`scripts/cluster up`):
//! `/metrics` scraped while the Python driver runs a load through the node, each scrape checked
//! by the Prometheus project's strict OpenMetrics parser and its counts checked against the
//! load; `/health` and `/ready` (not ready for a datacenter the cluster does not have); and
//! JSON logs with one span per request at debug level. Keyspaces are prefixed `ops_`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::{http_get, key_values, ops_py, ops_py_command, scrape, start_node, sum};

fn node_args(extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--contact-points",
        "127.0.0.1,127.0.0.2",
        "--local-dc",
        "dc1",
    ];
    args.extend_from_slice(extra);
    args
}

fn counter(samples: &BTreeMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    sum(samples, name, labels)
}

#[test]
fn metrics_scraped_during_a_driver_run_parse_and_count_the_load() {
    let node = start_node(&node_args(&[]));
    let admin = node.admin();
    assert_eq!(http_get(admin, "/health"), (200, "alive\n".to_owned()));
    let (status, body) = http_get(admin, "/ready");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with("ready: 2 of 2 nodes of dc1 reachable"),
        "{body}"
    );
    assert_eq!(http_get(admin, "/nothing").0, 404);
    let before = scrape(admin);

    let port = node.addr.port().to_string();
    let load = ops_py_command(&["load", "127.0.0.1", &port, "ops_metrics", "8", "16"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Scrapes while the driver runs: each one parses, and what they count only grows.
    let mut during = Vec::new();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_secs(2));
        during.push(scrape(admin));
    }
    let out = load.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fields = key_values(&stdout);
    let ops: f64 = fields["ops"].parse().unwrap();
    assert_eq!(fields["errors"], "0", "{stdout}");
    assert!(ops > 100.0, "{stdout}");
    assert!(
        during
            .iter()
            .any(|s| counter(s, "ringgate_client_connections", &[]) >= 1.0),
        "clients connected during the run"
    );
    let ok =
        |s: &BTreeMap<String, f64>| counter(s, "ringgate_requests_total", &[("outcome", "ok")]);
    for pair in during.windows(2) {
        assert!(ok(&pair[0]) <= ok(&pair[1]), "counters only grow");
    }

    let after = scrape(admin);
    // The driver's own requests: its load (prepared reads and writes), plus its schema and
    // prepares and the metadata reads it makes of the node (some answered by the node itself).
    let executes = counter(
        &after,
        "ringgate_requests_total",
        &[("opcode", "execute"), ("outcome", "ok")],
    ) - counter(
        &before,
        "ringgate_requests_total",
        &[("opcode", "execute"), ("outcome", "ok")],
    );
    assert!(
        executes >= ops && executes <= ops + 10.0,
        "{executes} EXECUTEs counted for {ops} driver operations"
    );
    assert!(counter(&after, "ringgate_requests_total", &[("opcode", "prepare")]) >= 2.0);
    assert_eq!(
        counter(&after, "ringgate_requests_total", &[])
            - counter(&after, "ringgate_requests_total", &[("outcome", "ok")]),
        0.0,
        "no request failed"
    );
    assert!(counter(&after, "ringgate_client_read_bytes_total", &[]) > ops * 20.0);
    assert!(counter(&after, "ringgate_client_written_bytes_total", &[]) > ops * 8.0);
    assert!(counter(&after, "ringgate_client_connections_accepted_total", &[]) >= 2.0);
    assert!(counter(&after, "ringgate_replica_read_bytes_total", &[]) > ops * 8.0);
    assert!(counter(&after, "ringgate_replica_written_bytes_total", &[]) > ops * 20.0);
    assert!(counter(&after, "ringgate_coordinator_requests_total", &[]) >= ops);
    // Replica latency histograms: the load ran on dc1's replicas; every bucket series is
    // cumulative and ends with +Inf equal to the count.
    let mut dc1_count = 0.0;
    for replica in ["127.0.0.1:9042", "127.0.0.2:9042"] {
        let labels = [("replica", replica)];
        let count = counter(&after, "ringgate_replica_latency_seconds_count", &labels);
        let inf = counter(
            &after,
            "ringgate_replica_latency_seconds_bucket",
            &[("replica", replica), ("le", "+Inf")],
        );
        assert_eq!(count, inf, "{replica}");
        assert!(counter(&after, "ringgate_replica_latency_seconds_sum", &labels) > 0.0);
        dc1_count += count;
    }
    assert!(
        dc1_count >= ops,
        "{dc1_count} timed answers for {ops} operations"
    );
    for series in ["ringgate_pool_connections", "ringgate_pool_up"] {
        assert!(
            counter(&after, series, &[("identity", "service")]) >= 3.0,
            "{series}: a connected pool to each of the three nodes"
        );
    }
    assert!(
        after
            .keys()
            .any(|k| k.starts_with("ringgate_pool_in_flight{"))
    );
    for name in [
        "ringgate_retries_total",
        "ringgate_speculative_executions_total",
        "ringgate_reprepares_total",
        "ringgate_stream_ids_exhausted_total",
        "ringgate_timeouts_total",
    ] {
        assert!(
            after.contains_key(&format!("{name}{{}}")),
            "{name} missing from {:?}",
            after.keys().collect::<Vec<_>>()
        );
    }
}

#[test]
fn not_ready_without_a_reachable_node_in_the_local_datacenter() {
    let node = start_node(&[
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--contact-points",
        "127.0.0.1",
        "--local-dc",
        "dc9",
    ]);
    let (status, body) = http_get(node.admin(), "/ready");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no node of dc9 is reachable"), "{body}");
    assert_eq!(http_get(node.admin(), "/health").0, 200);
}

#[test]
fn json_logs_carry_one_span_per_request_at_debug() {
    let node = start_node(&node_args(&[
        "--log-format",
        "json",
        "--log-level",
        "debug",
    ]));
    let port = node.addr.port().to_string();
    let (ok, stdout, stderr) = ops_py(&["load", "127.0.0.1", &port, "ops_logs", "1", "2"]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        node.wait_for_log("\"opcode\":\"execute\"", Duration::from_secs(10)),
        "{}",
        node.stderr()
    );
    let log = node.stderr();
    let spans: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"name\":\"request\"") && l.contains("\"opcode\":\"execute\""))
        .collect();
    assert!(!spans.is_empty(), "{log}");
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not a JSON line: {line}"
        );
    }
    let span = spans[0];
    for field in [
        "\"client\":\"127.0.0.1:",
        "\"keyspace\":\"ops_logs\"",
        "\"table\":\"t\"",
        "\"token\":",
        "\"replica\":\"127.0.0.",
        "\"outcome\":\"ok\"",
        "\"latency_us\":",
        "\"level\":\"DEBUG\"",
    ] {
        assert!(span.contains(field), "{field} not in {span}");
    }
}

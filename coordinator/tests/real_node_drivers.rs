//! The Ringgate node end to end: the front end over a real coordinator joined to the real
//! `two-dc` cluster, with real drivers as clients.
//!
//! - The Python `cassandra-driver` runs the driver scenario (`tests/drivers/SCENARIO.md`,
//!   program `tests/drivers/python/scenario.py`) in every configuration it can: v3 without
//!   compression, v4 with LZ4 and with Snappy, v5 with LZ4 and without. Its schema metadata is
//!   on, so it reads `system_schema` through the node. v5 with Snappy is not run: the spec
//!   gives v5 no Snappy (its frames compress with LZ4 only), and the driver quietly drops
//!   compression when asked for it (`connection.py`: "Snappy compression is not supported with
//!   protocol version 5 and checksumming").
//! - cqlsh runs a session (`tests/drivers/python/session.cql`) through the node.
//! - The `scylla` crate runs prepared statements through it, and a driver registered with the
//!   node hears of schema changes made elsewhere.

mod support;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;

use ringgate::protocol::ProtocolVersion;

/// Where the Python driver's scenario and the cqlsh session live.
fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/drivers/python")
}

/// What Cassandra warns about the scenario's `SELECT count(*) ... WHERE k IN (...)`.
const IN_AGGREGATE_WARNING: &str =
    "Aggregation query used on multiple partition keys (IN restriction)";

/// Starts a node, runs `scenario.py` through it in one configuration and checks every key
/// it printed.
async fn python_scenario(version: u8, compression: &'static str) {
    python_scenario_over(version, compression, None).await;
}

/// As [`python_scenario`], with the node speaking at most `cluster_version` to the cluster
/// (`None`: the newest both know), on the instance under test (`support::cluster_id`).
async fn python_scenario_over(
    version: u8,
    compression: &'static str,
    cluster_version: Option<ProtocolVersion>,
) {
    let addr = support::ringgate_node_with(|config| {
        if let Some(v) = cluster_version {
            config.connect.max_version = v;
        }
    })
    .await;
    let keyspace = match cluster_version {
        None => format!("rg_py_v{version}_{compression}"),
        Some(v) => format!("rg_py_over{}_v{version}_{compression}", v as u8),
    };
    let replication = support::replication();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(support::python())
            .arg(python_dir().join("scenario.py"))
            .args(["127.0.0.1", &addr.port().to_string(), &version.to_string()])
            .args([compression, &keyspace])
            .env("SCENARIO_REPLICATION", replication)
            .output()
            .expect("the venv's python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let output = format!(
        "v{version} {compression}: {}\n--- stdout\n{stdout}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // Shown by the test runner on a failure, or with --no-capture.
    eprintln!("{output}");
    let got = support::key_values(&stdout);
    let key = |k: &str| got.get(k).map(String::as_str).unwrap_or("(missing)");

    assert!(out.status.success(), "{output}");
    support::assert_scenario(
        |k| got.get(k).map(String::as_str),
        version,
        // From the compressor of every open connection, not from the configuration.
        compression,
        &format!("127.0.0.1:{}", addr.port()),
        &format!("v{version} {compression}"),
        &output,
    );
    let mut expected: BTreeMap<&str, String> = [
        // Beyond SCENARIO.md: the driver's schema metadata, read through the node, knows the
        // tables and the type; a simple statement in a batch; paging 17 rows at a time on a
        // prepared statement; the node passes the server's warning and tracing id on.
        ("metadata_tables", "counts,everything,paged".into()),
        ("metadata_types", "addr".into()),
        ("batch_simple", "simple".into()),
        ("paged_small_rows", "1000".into()),
        ("tracing", "true".into()),
    ]
    .into_iter()
    .collect();
    // v3 responses carry no warnings.
    let warning = if version >= 4 {
        IN_AGGREGATE_WARNING
    } else {
        "none"
    };
    expected.insert("batch_warning", warning.into());
    for (k, want) in &expected {
        assert_eq!(key(k), want, "{k}\n{output}");
    }
    // Compressed bodies crossed the wire both ways (v5 sends a segment uncompressed when
    // compressing would not shrink it, so only some are), or none at all.
    for direction in ["compressed_out", "compressed_in"] {
        let calls: usize = key(direction)
            .parse()
            .unwrap_or_else(|e| panic!("{direction}: {e}\n{output}"));
        assert_eq!(calls > 0, compression != "none", "{direction}\n{output}");
    }
    // Nothing about the node (peers, token map, schema, protocol) is worth a warning. The
    // driver logs the server's own warnings too; two are expected: the IN aggregate, and
    // Cassandra 5's advice against USE with unqualified prepared statements (which the
    // scenario asks for; Cassandra gives the driver connected to it directly that advice too).
    let warnings: Vec<&str> = key("warnings")
        .split("; ")
        .filter(|w| *w != "none" && !w.ends_with(IN_AGGREGATE_WARNING))
        .filter(|w| !w.contains("Server warning: `USE <keyspace>` with prepared statements"))
        .collect();
    assert!(
        warnings.is_empty(),
        "driver warnings: {warnings:?}\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_driver_runs_the_scenario_in_v3_without_compression() {
    python_scenario(3, "none").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_driver_runs_the_scenario_in_v4_with_lz4() {
    python_scenario(4, "lz4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_driver_runs_the_scenario_in_v4_with_snappy() {
    python_scenario(4, "snappy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_driver_runs_the_scenario_in_v5_with_lz4() {
    python_scenario(5, "lz4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_driver_runs_the_scenario_in_v5_without_compression() {
    python_scenario(5, "none").await;
}

// A cluster spoken to in v4 (as Cassandra 3.x speaks at most; here the node's newest version
// is capped): v4 has no per-request keyspace, so the scenario's `USE` and unqualified tables
// run on keyspace-bound connections (`request::keyspaced`), and a v5 client's result metadata
// ids are the node's own.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_driver_runs_the_scenario_in_v5_over_a_v4_cluster() {
    python_scenario_over(5, "lz4", Some(ProtocolVersion::V4)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_driver_runs_the_scenario_in_v4_over_a_v4_cluster() {
    python_scenario_over(4, "lz4", Some(ProtocolVersion::V4)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_driver_runs_the_scenario_in_v3_over_a_v4_cluster() {
    python_scenario_over(3, "none", Some(ProtocolVersion::V4)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cqlsh_runs_a_session_through_the_node() {
    let addr = support::ringgate_node().await;
    let out = tokio::task::spawn_blocking(move || {
        let python = support::python();
        let cqlsh = python.parent().expect("the venv's bin").join("cqlsh");
        Command::new(cqlsh)
            .env("CQLSH_NO_BUNDLED", "TRUE")
            .args([
                "127.0.0.1",
                &addr.port().to_string(),
                "--request-timeout",
                "60",
            ])
            .arg("-f")
            .arg(python_dir().join("session.cql"))
            .output()
            .expect("cqlsh runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let output = format!(
        "cqlsh: {}\n--- stdout\n{stdout}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{output}");
    // cqlsh -f reports a failed statement on stderr and goes on.
    assert!(out.stderr.is_empty(), "{output}");
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    let has = |line: &str| lines.contains(&line);
    // The collection and the UDT, as cqlsh prints them.
    assert!(
        has("1 | {'blue', 'red'} | {'x': 1, 'y': 2} | {street: 'Main', zip: 12345}"),
        "{output}"
    );
    assert!(has("1 | 12"), "the counter\n{output}");
    // 150 rows, 50 to a page: all of them, so cqlsh fetched every page.
    // (cqlsh sizes each page's columns on their own.)
    let paged: Vec<String> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("0 |"))
        .map(|c| c.trim().to_owned())
        .collect();
    let want: Vec<String> = (0..150).map(|c| c.to_string()).collect();
    assert_eq!(paged, want, "{output}");
    assert!(has("Page size: 50") && has("(150 rows)"), "{output}");
    assert!(has("PAGING set to OFF") && has("150"), "{output}");
    // DESCRIBE KEYSPACE: the real schema, read through the node.
    let create = lines
        .iter()
        .find(|l| l.starts_with("CREATE KEYSPACE rg_py_cqlsh WITH replication"))
        .unwrap_or_else(|| panic!("no CREATE KEYSPACE\n{output}"));
    assert!(
        create.contains("'NetworkTopologyStrategy'")
            && create.contains("'dc1': '2'")
            && create.contains("'dc2': '1'"),
        "{output}"
    );
    for object in ["TYPE rg_py_cqlsh.addr", "TABLE rg_py_cqlsh.things"] {
        assert!(has(&format!("CREATE {object} (")), "{object}\n{output}");
    }
    for table in ["counts", "paged"] {
        assert!(
            has(&format!("CREATE TABLE rg_py_cqlsh.{table} (")),
            "{table}\n{output}"
        );
    }
    // system.local: the real cluster's name, Ringgate's own dc, address and port.
    let local = format!("ringgate-test | dc1 | 127.0.0.1 | {}", addr.port());
    let row = lines
        .iter()
        .find(|l| l.starts_with("ringgate-test"))
        .unwrap_or_else(|| panic!("no system.local row\n{output}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(cells.join(" | "), local, "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scylla_crate_runs_prepared_statements_through_the_node() {
    let addr = support::ringgate_node().await;
    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node_addr(addr)
        .build()
        .await
        .expect("the scylla crate connects to the node");
    session
        .query_unpaged(
            "CREATE KEYSPACE IF NOT EXISTS rg_node_rust WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}",
            (),
        )
        .await
        .unwrap();
    session
        .query_unpaged(
            "CREATE TABLE IF NOT EXISTS rg_node_rust.kv (k int PRIMARY KEY, v text)",
            (),
        )
        .await
        .unwrap();
    let insert = session
        .prepare("INSERT INTO rg_node_rust.kv (k, v) VALUES (?, ?)")
        .await
        .unwrap();
    for k in 0..50i32 {
        session
            .execute_unpaged(&insert, (k, format!("r{k}")))
            .await
            .unwrap();
    }
    let select = session
        .prepare("SELECT v FROM rg_node_rust.kv WHERE k = ?")
        .await
        .unwrap();
    for k in [0i32, 17, 49] {
        let (v,): (String,) = session
            .execute_unpaged(&select, (k,))
            .await
            .unwrap()
            .into_rows_result()
            .unwrap()
            .single_row()
            .unwrap();
        assert_eq!(v, format!("r{k}"));
    }
    let peers = session.get_cluster_state().get_nodes_info().to_vec();
    assert_eq!(peers.len(), 1, "the crate sees Ringgate only");
    assert_eq!(peers[0].address.ip(), IpAddr::from([127, 0, 0, 1]));
    assert_eq!(peers[0].address.port(), addr.port());
}

const EVENTS_SCRIPT: &str = r#"
import sys, time
from cassandra.cluster import Cluster
port, table = int(sys.argv[1]), sys.argv[2]
through = Cluster(["127.0.0.1"], port=port, connect_timeout=20, control_connection_timeout=20,
                  schema_event_refresh_window=0.2)
through.connect()
direct = Cluster(["127.0.0.2"], port=9042, connect_timeout=20, control_connection_timeout=20)
direct.connect().execute("CREATE TABLE rg_node_events.%s (k int PRIMARY KEY)" % table)
direct.shutdown()
deadline = time.time() + 30
seen = False
while time.time() < deadline and not seen:
    ks = through.metadata.keyspaces.get("rg_node_events")
    seen = ks is not None and table in ks.tables
    time.sleep(0.1)
through.shutdown()
print("seen=%s" % seen)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_changes_made_elsewhere_reach_the_drivers_registered_with_the_node() {
    let addr = support::ringgate_node().await;
    let direct = support::session().await;
    direct
        .query_unpaged(
            "CREATE KEYSPACE IF NOT EXISTS rg_node_events WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}",
            (),
        )
        .await
        .unwrap();
    let table = format!("t{}", std::process::id());
    let out = tokio::task::spawn_blocking(move || {
        let python = support::python();
        Command::new(python)
            .args(["-c", EVENTS_SCRIPT, &addr.port().to_string(), &table])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The driver learns of a table it did not create only from the node's SCHEMA_CHANGE push.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "seen=True");
}

//! The Apache Cassandra Java driver 4.x (`scripts/java-env`: java-driver-core with lz4-java and
//! snappy-java, pinned in `tests/drivers/java/pom.xml`) runs the driver scenario
//! (`tests/drivers/SCENARIO.md`) through a Ringgate node, in one JVM: protocol v4 with LZ4, v4
//! with Snappy and v5 with LZ4, each with its own `CqlSession`. The spec allows no Snappy in v5
//! (only LZ4 segments), so that pair is not run.
//!
//! Besides the scenario's keys the program prints what the driver made of the node as a
//! cluster: the tables its schema metadata holds (read from `system_schema` through the node),
//! whether it built a token map, and how many replicas that map gives for key 1 of the
//! scenario's keyspace (Ringgate alone: 1). `warnings` must be `none`: every WARN line the
//! driver logs is counted, so anything it finds odd about the node fails the test. The warnings
//! the cluster sent with responses (which the driver logs at WARN too) are counted apart, in
//! `server_warnings`, and must be exactly those a Cassandra node sends a driver connected to it
//! for this scenario (checked by running the program against 127.0.0.1:9042 directly): the one
//! about the `count(*) ... WHERE k IN (...)` of the batch step, and possibly the one about
//! prepared statements with unqualified tables (Cassandra sends it once per connection).

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

/// (protocol version, compression, keyspace) of every configuration run.
const CONFIGS: [(u8, &str, &str); 3] = [
    (4, "lz4", "rg_java_v4_lz4"),
    (4, "snappy", "rg_java_v4_snappy"),
    (5, "lz4", "rg_java_v5_lz4"),
];

/// What Cassandra 5.0 warns a client of for this scenario, connected to it directly.
const SCENARIO_SERVER_WARNINGS: &str =
    "Aggregation query used on multiple partition keys (IN restriction)";

/// How Cassandra's warning about prepared statements with unqualified table names begins.
const USE_WARNING: &str =
    "`USE <keyspace>` with prepared statements is considered to be an anti-pattern";

/// Builds the program (once per change of it or its pins) and returns its directory: compiled
/// classes in `classes/`, the driver and its dependencies in `lib/`.
fn java_program() -> PathBuf {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/java-env");
    let out = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "scripts/java-env failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Runs every configuration against the node at `addr`; returns whether the program exited 0,
/// and its stdout and stderr.
fn run_scenario(addr: SocketAddr) -> (bool, String, String) {
    let dir = java_program();
    let classpath = format!("{0}/classes:{0}/lib/*", dir.display());
    let out =
        Command::new("java")
            .arg("-cp")
            .arg(classpath)
            .arg("Scenario")
            .arg(addr.ip().to_string())
            .arg(addr.port().to_string())
            .args(CONFIGS.iter().map(|(version, compression, keyspace)| {
                format!("{version}:{compression}:{keyspace}")
            }))
            .output()
            .unwrap_or_else(|e| panic!("cannot run java (a JDK 17 must be on the PATH): {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_java_driver_runs_the_scenario_through_the_node() {
    let addr = support::ringgate_node().await;
    let (exited_0, stdout, stderr) = tokio::task::spawn_blocking(move || run_scenario(addr))
        .await
        .expect("the scenario task ends");
    let got = support::key_values(&stdout);
    let output = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    let local = format!("{}:{}", addr.ip(), addr.port());
    for (version, compression, keyspace) in CONFIGS {
        let key = |k: &str| format!("{keyspace}.{k}");
        let field = |k: &str| got.get(&key(k)).map(String::as_str);
        support::assert_scenario(field, version, compression, &local, keyspace, &output);
        for (k, want) in [
            ("metadata_tables", "counts,everything,paged"),
            ("token_map", "true"),
            ("replicas", "1"),
        ] {
            assert_eq!(
                field(k),
                Some(want),
                "{} (v{version}, {compression})\n{output}",
                key(k)
            );
        }
        assert_eq!(
            field("warnings"),
            Some("none"),
            "the driver logged warnings about the node (v{version}, {compression})\n{output}"
        );
        // Besides the scenario's own warning, Cassandra may warn about executing prepared
        // statements with unqualified tables (the scenario's `USE` then unqualified names),
        // once per connection it runs them on — directly, or through Ringgate's.
        let server_warnings: Vec<&str> = field("server_warnings")
            .unwrap_or_default()
            .split(';')
            .collect();
        assert!(
            server_warnings.contains(&SCENARIO_SERVER_WARNINGS)
                && server_warnings
                    .iter()
                    .all(|w| *w == SCENARIO_SERVER_WARNINGS || w.starts_with(USE_WARNING)),
            "warnings sent with responses (v{version}, {compression})\n{output}"
        );
    }
    assert!(exited_0, "the program failed\n{output}");
}

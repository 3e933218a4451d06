//! gocql, the Go driver (`github.com/apache/cassandra-gocql-driver/v2` v2.1.2 with its `lz4`
//! and `snappy` packages, pinned in `tests/drivers/go/go.mod` and `go.sum`, built by
//! `scripts/go-env`), runs the driver scenario (`tests/drivers/SCENARIO.md`) through a
//! Ringgate node: protocol v3 without compression, v4 with Snappy, v4 with LZ4 and v5 with
//! LZ4, side by side in one process. gocql v2 speaks v5 (its highest version; it sends LZ4
//! segments there). Its host selection is `TokenAwareHostPolicy(DCAwareRoundRobinPolicy("dc1"))`.
//!
//! Where gocql differs from the scenario's wording:
//! - `USE` is refused by gocql itself (`ErrUseStmt`: a pooled session cannot switch keyspace);
//!   the program checks that refusal and opens a session in the keyspace instead.
//! - A tuple column is bound as one marker per element, `(?, ?)`: gocql counts a tuple's
//!   elements as values of a prepared statement, so one `?` for the whole tuple is refused
//!   ("expected 27 values send got 26").
//!
//! `protocol` is the version of the frames gocql read (`protocol_all_frames` the same over the
//! whole run); `compression` is the COMPRESSION option of the STARTUP gocql sent, read off the
//! wire, because gocql drops a configured compressor silently when the node does not offer it.
//! `metadata_tables` lists the tables gocql's schema metadata holds (read from `system_schema`
//! through the node). `warnings` must be `none`: every line gocql logs at warning level or above
//! is printed there, so anything it finds odd about the node (ring, peers, schema) fails the
//! test.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

/// (protocol version, compression, keyspace) of every configuration run.
const CONFIGS: [(u8, &str, &str); 4] = [
    (3, "none", "rg_go_v3_none"),
    (4, "snappy", "rg_go_v4_snappy"),
    (4, "lz4", "rg_go_v4_lz4"),
    (5, "lz4", "rg_go_v5_lz4"),
];

/// Builds the program (once per change of it, its pins or the Go toolchain) and returns the
/// binary's path.
fn gocql_program() -> PathBuf {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/go-env");
    let out = Command::new(&script).output().unwrap_or_else(|e| {
        panic!(
            "cannot run {} (Go must be on the PATH): {e}",
            script.display()
        )
    });
    assert!(
        out.status.success(),
        "scripts/go-env failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Runs every configuration against the node at `addr`; returns whether the program exited 0,
/// and its stdout and stderr.
fn run_scenario(addr: SocketAddr) -> (bool, String, String) {
    let program = gocql_program();
    let out =
        Command::new(&program)
            .arg(addr.ip().to_string())
            .arg(addr.port().to_string())
            .args(CONFIGS.iter().map(|(version, compression, keyspace)| {
                format!("{version}:{compression}:{keyspace}")
            }))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gocql_runs_the_scenario_through_the_node() {
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
            ("protocol_all_frames", version.to_string()),
            ("compression_all_connections", compression.to_owned()),
            ("metadata_tables", "counts,everything,paged".to_owned()),
        ] {
            assert_eq!(
                field(k),
                Some(want.as_str()),
                "{} (v{version}, {compression})\n{output}",
                key(k)
            );
        }
        assert_eq!(
            field("warnings"),
            Some("none"),
            "gocql logged warnings (v{version}, {compression})\n{output}"
        );
    }
    assert!(exited_0, "the program failed\n{output}");
}

//! The DataStax Node.js `cassandra-driver` (npm, pinned by `tests/drivers/node/package-lock.json`,
//! installed by `scripts/node-env`) runs the driver scenario (`tests/drivers/SCENARIO.md`)
//! through a Ringgate node fronting the real `two-dc` cluster.
//!
//! What the driver cannot do, and so is not run:
//! - Protocol v5: the driver speaks Cassandra protocol v1 to v4 only (plus DSE v1/v2); its
//!   `protocolVersion.isSupportedCassandra` accepts versions 1..=4 and asking for 5 fails in the
//!   client's constructor ("protocolOptions.maxVersion provided (5) is invalid").
//!   `the_driver_has_no_protocol_v5` pins that, so a driver that gains v5 makes it fail.
//! - Compression: the driver has none. Its STARTUP sends CQL_VERSION, DRIVER_NAME,
//!   DRIVER_VERSION and optional NO_COMPACT/CLIENT_ID/APPLICATION_* only, never COMPRESSION, and
//!   its client options have no compression setting; every configuration runs uncompressed.
//! - In v3, date, time, smallint and tinyint columns: Cassandra (and so Ringgate) describes
//!   them to a v3 client as custom types, for which the driver has no codec. The program binds
//!   them as bytes made by the driver's own codecs and decodes what it reads back the same way
//!   (`types_as_bytes=dt,small,tiny,tm`).
//! - The batch: the driver's `batch()` prepares either every statement or none, so the literal
//!   fourth insert is prepared too (with no bound values).

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

/// The configurations run, as the program's `<version>:<compression>:<keyspace>` triples.
const CONFIGS: [(u8, &str); 2] = [(3, "rg_node_v3_none"), (4, "rg_node_v4_none")];

/// The directory `scripts/node-env` installed the driver into, with a copy of `scenario.js`.
fn node_env() -> PathBuf {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/node-env");
    let out = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "scripts/node-env failed (npm must reach its registry):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// One run of the program: whether it exited 0, what it printed by key, and all of its output
/// for failure messages.
struct Run {
    success: bool,
    values: BTreeMap<String, String>,
    output: String,
}

impl Run {
    /// The value of `key`, failing with the whole output when it is missing.
    fn get(&self, key: &str) -> &str {
        self.values
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in the output:\n{}", self.output))
    }

    /// Asserts that `key` has the value `want`.
    fn expect(&self, key: &str, want: &str) {
        assert_eq!(
            self.get(key),
            want,
            "{key}; the program printed:\n{}",
            self.output
        );
    }
}

/// Runs `scenario.js` against the node at `addr` with the given argument groups.
fn scenario(addr: SocketAddr, configs: &[String]) -> Run {
    let dir = node_env();
    let out = Command::new("node")
        .current_dir(&dir)
        .arg("scenario.js")
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .args(configs)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node (Node.js 20 or later must be on PATH): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    Run {
        success: out.status.success(),
        values: support::key_values(&stdout),
        output: format!(
            "--- stdout\n{stdout}--- stderr\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodejs_driver_runs_the_scenario_through_the_node_in_v3_and_v4() {
    let addr = support::ringgate_node().await;
    let configs: Vec<String> = CONFIGS
        .iter()
        .map(|(version, keyspace)| format!("{version}:none:{keyspace}"))
        .collect();
    let run = tokio::task::spawn_blocking(move || scenario(addr, &configs))
        .await
        .expect("the program ran");
    assert!(run.success, "the program failed:\n{}", run.output);

    for (version, keyspace) in CONFIGS {
        let key = |k: &str| format!("{keyspace}.{k}");
        support::assert_scenario(
            |k| run.values.get(&key(k)).map(String::as_str),
            version,
            "none",
            &format!("{}:{}", addr.ip(), addr.port()),
            keyspace,
            &run.output,
        );
        if version == 3 {
            run.expect(&key("types_as_bytes"), "dt,small,tiny,tm");
        } else {
            assert!(
                !run.values.contains_key(&key("types_as_bytes")),
                "v{version} has codecs for every type:\n{}",
                run.output
            );
        }
        // The driver's token map (TokenAwarePolicy) is built from Ringgate's system.local and
        // peers: Ringgate alone owns every token, so it is the one replica of k = 1.
        run.expect(&key("replicas"), "1");
        // The driver logs the server's warnings too: only Cassandra's own, for this scenario.
        assert_eq!(
            support::warnings_about_the_node(run.get(&key("warnings"))),
            Vec::<&str>::new(),
            "{}",
            run.output
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodejs_driver_has_no_protocol_v5() {
    let addr = support::ringgate_node().await;
    let configs = vec![
        "5".to_owned(),
        "none".to_owned(),
        "rg_node_v5_none".to_owned(),
    ];
    let run = tokio::task::spawn_blocking(move || scenario(addr, &configs))
        .await
        .expect("the program ran");
    assert!(
        !run.success,
        "the driver now speaks v5: run the scenario in v5 too\n{}",
        run.output
    );
    run.expect(
        "error",
        "connect: protocolOptions.maxVersion provided (5) is invalid",
    );
}

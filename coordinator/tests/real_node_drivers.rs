//! The Ringgate node end to end: the front end over a real coordinator joined to the real
//! `two-dc` cluster, with real drivers as clients. The Python driver (with its schema
//! metadata on, so it reads `system_schema` through the node) runs DDL, USE, prepared
//! statements, batches, paging and LWT in protocol v3, v4 and v5; the `scylla` crate runs
//! prepared statements through it.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;


const SCRIPT: &str = r#"
import sys
from cassandra.cluster import Cluster
from cassandra.query import BatchStatement, SimpleStatement
from cassandra import InvalidRequest, ConsistencyLevel

port, version, fresh = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ks = "rg_node_v%d" % version
cluster = Cluster(["127.0.0.1"], port=port, protocol_version=version, compression=True,
                  connect_timeout=20, control_connection_timeout=20)
session = cluster.connect()
out = []
def say(key, value):
    out.append("%s=%s" % (key, value))

say("protocol", cluster.protocol_version)
session.execute("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = "
                "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}" % ks)
session.execute("CREATE TABLE IF NOT EXISTS %s.kv (k int PRIMARY KEY, v text)" % ks)
session.set_keyspace(ks)
say("metadata_has_table", "kv" in cluster.metadata.keyspaces[ks].tables)
session.default_consistency_level = ConsistencyLevel.LOCAL_QUORUM
insert = session.prepare("INSERT INTO kv (k, v) VALUES (?, ?)")
for k in range(200):
    session.execute(insert, (k, "v%d" % k))
batch = BatchStatement()
batch.add(insert, (1000, "batched"))
batch.add(SimpleStatement("INSERT INTO kv (k, v) VALUES (1001, 'simple')"))
session.execute(batch)
select_one = session.prepare("SELECT v FROM kv WHERE k = ?")
say("point_read", session.execute(select_one, (1000,)).one().v)
say("simple_in_batch", session.execute("SELECT v FROM kv WHERE k = 1001").one().v)
rows = list(session.execute(SimpleStatement("SELECT k FROM kv", fetch_size=17)))
keys = [r.k for r in rows]
say("paged_rows", len(keys))
say("paged_distinct", len(set(keys)))
lwt = session.prepare("INSERT INTO kv (k, v) VALUES (?, ?) IF NOT EXISTS")
# A key no earlier run used.
say("lwt_first", session.execute(lwt, (fresh, "a")).one()[0])
say("lwt_second", session.execute(lwt, (fresh, "b")).one()[0])
try:
    session.execute("SELECT nope FROM kv")
    say("invalid", "no error")
except InvalidRequest as e:
    say("invalid", "InvalidRequest")
local = session.execute("SELECT rpc_address, rpc_port FROM system.local").one()
say("local", "%s:%s" % (local.rpc_address, local.rpc_port))
say("hosts", len(cluster.metadata.all_hosts()))
cluster.shutdown()
print("|".join(out))
"#;

fn python_driver(addr: SocketAddr, version: u8) -> std::collections::HashMap<String, String> {
    let python = support::python();
    let out = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(addr.port().to_string())
        .arg(version.to_string())
        .arg((10_000 + std::process::id()).to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the driver failed in v{version}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .last()
        .unwrap_or_default()
        .split('|')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_driver_works_through_the_node_in_every_version() {
    let addr = support::ringgate_node().await;
    for version in [3u8, 4, 5] {
        let got = tokio::task::spawn_blocking(move || python_driver(addr, version))
            .await
            .unwrap();
        let field = |k: &str| {
            got.get(k)
                .unwrap_or_else(|| panic!("v{version}: no {k} in {got:?}"))
                .as_str()
        };
        assert_eq!(field("protocol"), version.to_string());
        assert_eq!(field("metadata_has_table"), "True", "v{version}: {got:?}");
        assert_eq!(field("point_read"), "batched", "v{version}");
        assert_eq!(field("simple_in_batch"), "simple", "v{version}");
        assert_eq!(field("paged_rows"), field("paged_distinct"), "v{version}");
        assert!(
            field("paged_rows").parse::<usize>().unwrap() >= 202,
            "v{version}: {got:?}"
        );
        assert_eq!(field("lwt_first"), "True", "v{version}");
        assert_eq!(field("lwt_second"), "False", "v{version}");
        assert_eq!(field("invalid"), "InvalidRequest", "v{version}");
        assert_eq!(field("local"), format!("127.0.0.1:{}", addr.port()));
        assert_eq!(field("hosts"), "1", "the driver sees Ringgate only");
    }
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
direct = Cluster(["127.0.0.2"], port=9042, connect_timeout=20)
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

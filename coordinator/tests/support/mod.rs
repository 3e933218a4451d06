//! Shared helpers for the tests that run against the real local cluster (`scripts/cluster`).
//!
//! The suite expects the cluster the test command starts: `scripts/cluster up --nodes 3
//! --topology two-dc`. A test that cannot reach it fails with the node's log tail; it never
//! skips.
#![allow(dead_code, unused_imports, unreachable_pub, missing_docs)]

pub use ringgate_test_support::{
    cluster_id, cluster_script, key_values, log_tail, node_addr, node_dir, node_ip, python,
    require_cluster,
};

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::host_filter::AllowListHostFilter;

/// One node of the `two-dc` test cluster, as `scripts/cluster` configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedNode {
    pub number: u8,
    pub ip: IpAddr,
    pub dc: &'static str,
    pub rack: &'static str,
    pub tokens: BTreeSet<i64>,
}

/// The `two-dc` cluster: dc1 = 127.0.0.1 (rack1), 127.0.0.2 (rack2); dc2 = 127.0.0.3 (rack1),
/// one token each, dc2 offset by +100.
pub fn two_dc_nodes() -> Vec<ExpectedNode> {
    let node = |number: u8, dc, rack, token: i64| ExpectedNode {
        number,
        ip: IpAddr::from([127, 0, 0, number]),
        dc,
        rack,
        tokens: BTreeSet::from([token]),
    };
    vec![
        node(1, "dc1", "rack1", i64::MIN),
        node(2, "dc1", "rack2", 0),
        node(3, "dc2", "rack1", i64::MIN + 100),
    ]
}

/// The shape of the instance under test, as `scripts/cluster env` prints it (nodes,
/// topology, Cassandra version, ...), by variable name without its `RINGGATE_CLUSTER_` prefix.
pub fn cluster_env() -> std::collections::BTreeMap<String, String> {
    let out = cluster_script(&["env"]);
    out.lines()
        .filter_map(|l| l.strip_prefix("RINGGATE_CLUSTER_")?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Replication for a test keyspace on the instance under test: `{'dc1': 2, 'dc2': 1}` on
/// the `two-dc` cluster, one replica per node (at most 3) in dc1 on a `one-dc` one.
pub fn replication() -> String {
    let env = cluster_env();
    if env.get("TOPOLOGY").map(String::as_str) == Some("two-dc") {
        "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}".to_owned()
    } else {
        let nodes = env.get("NODES").map_or("1", String::as_str);
        format!("{{'class': 'NetworkTopologyStrategy', 'dc1': {nodes}}}")
    }
}

/// A driver session that talks to node `n` only (no other node is connected to), so that
/// `system.local` and `system.peers_v2` are that node's own view. Panics with the node's log
/// tail if the node cannot be reached.
pub async fn session_to_node(n: u8) -> Session {
    let addr = node_addr(n);
    let filter = AllowListHostFilter::new([addr]).expect("a literal address resolves");
    let built = SessionBuilder::new()
        .known_node_addr(addr)
        .host_filter(Arc::new(filter))
        .connection_timeout(Duration::from_secs(10))
        .build()
        .await;
    match built {
        Ok(session) => session,
        Err(e) => panic!(
            "cannot connect to Cassandra node {n} at {addr}: {e}\n\
             The test cluster must be up (scripts/cluster up --nodes 3 --topology two-dc).\n\
             Last lines of node {n}'s log:\n{}",
            log_tail(n, 50)
        ),
    }
}

/// Parses a `set<text>` of tokens as Cassandra stores them.
pub fn parse_tokens<'a>(tokens: impl IntoIterator<Item = &'a String>) -> BTreeSet<i64> {
    tokens
        .into_iter()
        .map(|t| {
            t.parse()
                .unwrap_or_else(|e| panic!("token {t:?} is not an i64: {e}"))
        })
        .collect()
}

/// A driver session to the whole cluster (for DDL and data made "from another client"), at
/// QUORUM: the driver picks coordinators in either DC, and its default LOCAL_QUORUM would not
/// read a write made through a coordinator of the other DC.
pub async fn session() -> Session {
    let quorum = scylla::client::execution_profile::ExecutionProfile::builder()
        .consistency(scylla::statement::Consistency::Quorum)
        .build()
        .into_handle();
    let built = SessionBuilder::new()
        .known_node_addr(node_addr(1))
        .default_execution_profile_handle(quorum)
        .connection_timeout(Duration::from_secs(10))
        .build()
        .await;
    built.unwrap_or_else(|e| {
        panic!(
            "cannot connect to the cluster: {e}\nnode 1 log:\n{}",
            log_tail(1, 50)
        )
    })
}

/// Waits for the first view (the current one, or one pushed later by an event) where `want`
/// holds, for at most `within`.
pub async fn next_view_where(
    rx: &mut tokio::sync::watch::Receiver<Arc<ringgate::cluster::ClusterView>>,
    what: &str,
    within: Duration,
    want: impl Fn(&ringgate::cluster::ClusterView) -> bool,
) -> Arc<ringgate::cluster::ClusterView> {
    let wait = async {
        loop {
            let view = rx.borrow_and_update().clone();
            if want(&view) {
                return view;
            }
            rx.changed().await.expect("the cluster view is alive");
        }
    };
    tokio::time::timeout(within, wait)
        .await
        .unwrap_or_else(|_| panic!("no view where {what} within {within:?}"))
}

/// Starts again, when dropped, the nodes a test stopped: even when the test fails half way,
/// the cluster is whole for the tests after it.
pub struct RestartOnDrop(pub Vec<u8>);

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster");
        for n in &self.0 {
            let _ = std::process::Command::new(&script)
                .args(["start", &n.to_string()])
                .status();
        }
    }
}

/// Starts a Ringgate node (front end + coordinator, in this process) on a free port of
/// 127.0.0.1, joined to the real `two-dc` cluster with dc1 as its local DC, and returns where
/// clients connect. The node serves until the test's runtime ends.
pub async fn ringgate_node() -> SocketAddr {
    ringgate_node_with(|_| {}).await
}

/// As [`ringgate_node`], with the coordinator's configuration changed by `configure` (e.g. its
/// newest protocol version), joined to the instance under test ([`cluster_id`]).
pub async fn ringgate_node_with(
    configure: impl FnOnce(&mut ringgate::request::CoordinatorConfig),
) -> SocketAddr {
    use ringgate::request::{Coordinator, CoordinatorConfig};
    use ringgate::server::served_tables::RinggateNode;
    use ringgate::server::{CoordinatorHandler, ServerConfig, serve, system_tables};

    let mut config = CoordinatorConfig::new(vec![node_addr(1), node_addr(2)]);
    config.local_dc = Some("dc1".into());
    configure(&mut config);
    let coordinator = Coordinator::connect(config)
        .await
        .unwrap_or_else(|e| panic!("cannot connect: {e}\n{}", log_tail(1, 40)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let local = RinggateNode::new(addr.ip(), addr.port(), "dc1", "rack1");
    let tables = system_tables(&coordinator, local, Vec::new()).unwrap();
    let handler = CoordinatorHandler::new(coordinator).presenting(Arc::clone(&tables));
    tokio::spawn(serve(
        listener,
        Arc::new(ServerConfig::new(tables)),
        Arc::new(handler),
    ));
    addr
}

/// The superuser's coordinator on the auth phase's PasswordAuthenticator node (`scripts/cluster
/// up --nodes 1 --topology one-dc --auth`).
pub async fn auth_admin() -> ringgate::request::Coordinator {
    use ringgate::pool::Credentials;
    use ringgate::request::{Coordinator, CoordinatorConfig};

    let mut config = CoordinatorConfig::new(vec![node_addr(1)]);
    config.credentials = Some(Credentials {
        username: "cassandra".into(),
        password: "cassandra".into(),
    });
    Coordinator::connect(config).await.unwrap_or_else(|e| {
        panic!(
            "cannot log in as cassandra (is the auth cluster up?): {e}\n{}",
            log_tail(1, 50)
        )
    })
}

/// A Ringgate node over `c` (in this process, on a free port of 127.0.0.1) whose clients log
/// in through the authenticator `auth` makes from the node's handler; returns where clients
/// connect.
pub async fn auth_node(
    c: ringgate::request::Coordinator,
    auth: impl FnOnce(&ringgate::server::CoordinatorHandler) -> Arc<dyn ringgate::server::Authenticator>,
) -> SocketAddr {
    use ringgate::server::served_tables::RinggateNode;
    use ringgate::server::{CoordinatorHandler, ServerConfig, serve, system_tables};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tables = system_tables(
        &c,
        RinggateNode::new(addr.ip(), addr.port(), "dc1", "rack1"),
        Vec::new(),
    )
    .unwrap();
    let handler = CoordinatorHandler::new(c);
    let config = ServerConfig::new(tables).with_authenticator(auth(&handler));
    tokio::spawn(serve(listener, Arc::new(config), Arc::new(handler)));
    addr
}

/// Asserts the facts every driver scenario prints (`tests/drivers/SCENARIO.md`) for one
/// configuration: `field` reads a key of it, `local` is the node's `address:port`, `label`
/// names the configuration and `output` is what to show on a failure. Driver-specific keys
/// are the caller's.
pub fn assert_scenario<'a>(
    field: impl Fn(&str) -> Option<&'a str>,
    version: u8,
    compression: &str,
    local: &str,
    label: &str,
    output: &str,
) {
    assert_eq!(field("error"), None, "{label}: a step failed\n{output}");
    for (key, want) in [
        ("protocol", version.to_string()),
        ("compression", compression.to_owned()),
        ("schema_agreed", "true".to_owned()),
        ("use", "ok".to_owned()),
        ("types", "ok".to_owned()),
        ("nulls", "ok".to_owned()),
        ("batch", "4".to_owned()),
        ("paged_rows", "1000".to_owned()),
        ("paged_distinct", "1000".to_owned()),
        ("lwt_first", "true".to_owned()),
        ("lwt_second", "false".to_owned()),
        ("counter", "12".to_owned()),
        ("invalid", "invalid".to_owned()),
        ("local", local.to_owned()),
        ("hosts", "1".to_owned()),
    ] {
        assert_eq!(field(key), Some(want.as_str()), "{label}: {key}\n{output}");
    }
    // 1,000 rows 100 to a page (every driver here lets its program count pages).
    let pages = field("paged_pages").unwrap_or_else(|| panic!("{label}: no paged_pages\n{output}"));
    let pages: usize = pages
        .parse()
        .unwrap_or_else(|e| panic!("{label}: paged_pages {pages:?}: {e}\n{output}"));
    assert!(pages >= 10, "{label}: {pages} pages\n{output}");
}

/// The node that owns `token` in dc1 of the `two-dc` cluster, for a keyspace with one replica
/// there: dc1 holds node 1 (token i64::MIN) and node 2 (token 0), so node 2 owns (MIN, 0] and
/// node 1 the rest.
pub fn dc1_owner(token: i64) -> IpAddr {
    if token != i64::MIN && token <= 0 {
        IpAddr::from([127, 0, 0, 2])
    } else {
        IpAddr::from([127, 0, 0, 1])
    }
}

/// Warnings Cassandra itself sends a client running the driver scenario, directly or through
/// Ringgate: the `count(*) ... WHERE k IN (...)` of its batch step, and (once per connection a
/// prepared statement with unqualified tables runs on) its advice against `USE`.
pub const SCENARIO_SERVER_WARNINGS: [&str; 2] = [
    "Aggregation query used on multiple partition keys (IN restriction)",
    "`USE <keyspace>` with prepared statements is considered to be an anti-pattern",
];

/// The warnings a driver logged (`;`-joined, or `none`) other than its relays of
/// [`SCENARIO_SERVER_WARNINGS`]: what it found odd about the node. Must be empty.
pub fn warnings_about_the_node(logged: &str) -> Vec<&str> {
    logged
        .split(';')
        .filter(|w| *w != "none" && !w.is_empty())
        .filter(|w| !SCENARIO_SERVER_WARNINGS.iter().any(|s| w.contains(s)))
        .collect()
}

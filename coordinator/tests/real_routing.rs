//! `ringgate-routing` against a real Cassandra cluster (`scripts/cluster up --nodes 3
//! --topology two-dc`):
//!
//! - for 1,000 random keys of each of several key types (int, bigint, text, blob, uuid and a
//!   composite (int, text)), Cassandra's `token(pk)` equals `murmur3_token` of the key we
//!   serialize ourselves;
//! - for keyspaces with NetworkTopologyStrategy and SimpleStrategy, the replicas this crate
//!   computes from the cluster's own `system.local`, `system.peers_v2` and
//!   `system_schema.keyspaces` equal Cassandra's: every range of `nodetool describering`, and
//!   `nodetool getendpoints` for keys on both sides of every token boundary.
//!
//! The cluster is reached at 127.0.0.1:9042 (or `RINGGATE_CONTACT_POINT`); if it cannot be
//! reached the test fails, it never skips.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt, stream};
use ringgate_routing::{
    NodeInfo, ReplicaSets, ReplicationStrategy, TokenRing, murmur3_token, replicas_for,
    serialize_partition_key,
};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::host_filter::AllowListHostFilter;
use scylla::serialize::row::SerializeRow;

const KEYSPACE: &str = "rg_routing_it";
const KEYS_PER_TYPE: usize = 1000;
/// Keyspaces whose replicas are checked, with the replication each is created with.
const REPLICA_KEYSPACES: &[(&str, &str)] = &[
    (
        "rg_routing_it_nts_2_1",
        "{'class': 'NetworkTopologyStrategy', 'dc1': '2', 'dc2': '1'}",
    ),
    (
        "rg_routing_it_nts_1_1",
        "{'class': 'NetworkTopologyStrategy', 'dc1': '1', 'dc2': '1'}",
    ),
    (
        "rg_routing_it_nts_dc1_2",
        "{'class': 'NetworkTopologyStrategy', 'dc1': '2'}",
    ),
    (
        "rg_routing_it_simple_2",
        "{'class': 'SimpleStrategy', 'replication_factor': '2'}",
    ),
];

fn contact_point() -> String {
    let raw = std::env::var("RINGGATE_CONTACT_POINT").unwrap_or_else(|_| "127.0.0.1".into());
    if raw.parse::<std::net::SocketAddr>().is_ok() || raw.contains(':') {
        raw
    } else {
        format!("{raw}:9042")
    }
}

/// A session whose every request goes to the contact point, so `system.local` and
/// `system.peers_v2` are one node's consistent view.
async fn connect() -> Session {
    let contact = contact_point();
    let filter = AllowListHostFilter::new([contact.as_str()])
        .unwrap_or_else(|e| panic!("RINGGATE_CONTACT_POINT {contact:?} does not resolve: {e}"));
    SessionBuilder::new()
        .known_node(&contact)
        .host_filter(Arc::new(filter))
        .connection_timeout(Duration::from_secs(10))
        .build()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach Cassandra at {contact} ({e}).\n\
                 Start the test cluster with `scripts/cluster up --nodes 3 --topology two-dc` \
                 or point RINGGATE_CONTACT_POINT at a running node."
            )
        })
}

/// A small deterministic generator (splitmix64); the seed is printed so a failure can be
/// replayed with `RINGGATE_ROUTING_SEED`.
struct Rng(u64);

impl Rng {
    fn from_env_or_clock() -> Self {
        let seed = std::env::var("RINGGATE_ROUTING_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("real_routing: RINGGATE_ROUTING_SEED={seed}");
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Non-empty text mixing ASCII, accented letters, CJK and emoji.
    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a",
            "Z",
            "7",
            " ",
            "é",
            "ó",
            "ż",
            "日本",
            "🦀",
            "kremówki",
            ":",
        ];
        let len = 1 + (self.next() % 12) as usize;
        (0..len)
            .map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize])
            .collect()
    }
}

/// One key: the values to bind (or the CQL literal), and its serialized partition key.
struct Key<V> {
    bind: V,
    serialized: Vec<u8>,
}

async fn run_ddl(session: &Session, cql: &str) {
    session
        .query_unpaged(cql, ())
        .await
        .unwrap_or_else(|e| panic!("{cql}: {e}"));
}

/// Inserts each key with `insert`, then reads `select`'s single `token(...)` column back and
/// compares it with `murmur3_token` of the key's serialization.
async fn check_tokens<V>(
    session: &Session,
    what: &str,
    insert: &str,
    select: &str,
    keys: Vec<Key<V>>,
) where
    V: SerializeRow + Send + Sync,
{
    let insert = session
        .prepare(insert)
        .await
        .unwrap_or_else(|e| panic!("prepare {insert}: {e}"));
    let select = session
        .prepare(select)
        .await
        .unwrap_or_else(|e| panic!("prepare {select}: {e}"));
    let mismatches: Vec<String> = stream::iter(keys.iter())
        .map(|key| {
            let (insert, select) = (&insert, &select);
            async move {
                session.execute_unpaged(insert, &key.bind).await?;
                let rows = session
                    .execute_unpaged(select, &key.bind)
                    .await?
                    .into_rows_result()?;
                let (token,): (i64,) = rows.single_row()?;
                let ours = murmur3_token(&key.serialized);
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((token != ours).then(|| {
                    format!(
                        "key {:02x?}: Cassandra {token}, ours {ours}",
                        key.serialized
                    )
                }))
            }
        })
        .buffer_unordered(32)
        .try_filter_map(|m| async move { Ok(m) })
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("{what}: a query failed: {e}"));
    assert!(
        mismatches.is_empty(),
        "{what}: {} of {} tokens differ, e.g.\n{}",
        mismatches.len(),
        keys.len(),
        mismatches
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_equal_cassandras_for_random_keys_of_every_type() {
    let session = connect().await;
    run_ddl(
        &session,
        &format!(
            "CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = \
             {{'class': 'NetworkTopologyStrategy', 'dc1': '1', 'dc2': '1'}}"
        ),
    )
    .await;
    for (table, columns) in [
        ("k_int", "pk int PRIMARY KEY"),
        ("k_bigint", "pk bigint PRIMARY KEY"),
        ("k_text", "pk text PRIMARY KEY"),
        ("k_blob", "pk blob PRIMARY KEY"),
        ("k_uuid", "pk uuid PRIMARY KEY"),
        ("k_int_text", "a int, b text, PRIMARY KEY ((a, b))"),
    ] {
        run_ddl(
            &session,
            &format!("CREATE TABLE IF NOT EXISTS {KEYSPACE}.{table} ({columns})"),
        )
        .await;
    }
    let mut rng = Rng::from_env_or_clock();
    let n = KEYS_PER_TYPE;

    let ints: Vec<Key<(i32,)>> = (0..n)
        .map(|_| {
            let v = rng.next() as i32;
            Key {
                bind: (v,),
                serialized: v.to_be_bytes().to_vec(),
            }
        })
        .collect();
    check_tokens(
        &session,
        "int",
        &format!("INSERT INTO {KEYSPACE}.k_int (pk) VALUES (?)"),
        &format!("SELECT token(pk) FROM {KEYSPACE}.k_int WHERE pk = ?"),
        ints,
    )
    .await;

    let bigints: Vec<Key<(i64,)>> = (0..n)
        .map(|_| {
            let v = rng.next() as i64;
            Key {
                bind: (v,),
                serialized: v.to_be_bytes().to_vec(),
            }
        })
        .collect();
    check_tokens(
        &session,
        "bigint",
        &format!("INSERT INTO {KEYSPACE}.k_bigint (pk) VALUES (?)"),
        &format!("SELECT token(pk) FROM {KEYSPACE}.k_bigint WHERE pk = ?"),
        bigints,
    )
    .await;

    let texts: Vec<Key<(String,)>> = (0..n)
        .map(|_| {
            let v = rng.text();
            Key {
                serialized: v.as_bytes().to_vec(),
                bind: (v,),
            }
        })
        .collect();
    check_tokens(
        &session,
        "text",
        &format!("INSERT INTO {KEYSPACE}.k_text (pk) VALUES (?)"),
        &format!("SELECT token(pk) FROM {KEYSPACE}.k_text WHERE pk = ?"),
        texts,
    )
    .await;

    // Blobs of every length 1..=40 with arbitrary bytes: tails with bytes >= 0x80 included.
    let blobs: Vec<Key<(Vec<u8>,)>> = (0..n)
        .map(|i| {
            let v = rng.bytes(1 + i % 40);
            Key {
                serialized: v.clone(),
                bind: (v,),
            }
        })
        .collect();
    check_tokens(
        &session,
        "blob",
        &format!("INSERT INTO {KEYSPACE}.k_blob (pk) VALUES (?)"),
        &format!("SELECT token(pk) FROM {KEYSPACE}.k_blob WHERE pk = ?"),
        blobs,
    )
    .await;

    // A uuid is bound as a blob and converted server-side, so no uuid crate is needed here.
    let uuids: Vec<Key<(Vec<u8>,)>> = (0..n)
        .map(|_| {
            let mut v = rng.bytes(16);
            v[6] = (v[6] & 0x0f) | 0x40; // version 4
            v[8] = (v[8] & 0x3f) | 0x80; // RFC 4122 variant
            Key {
                serialized: v.clone(),
                bind: (v,),
            }
        })
        .collect();
    check_tokens(
        &session,
        "uuid",
        &format!("INSERT INTO {KEYSPACE}.k_uuid (pk) VALUES (blobAsUuid(?))"),
        &format!("SELECT token(pk) FROM {KEYSPACE}.k_uuid WHERE pk = blobAsUuid(?)"),
        uuids,
    )
    .await;

    let composites: Vec<Key<(i32, String)>> = (0..n)
        .map(|_| {
            let a = rng.next() as i32;
            let b = rng.text();
            let serialized = serialize_partition_key(&[&a.to_be_bytes(), b.as_bytes()]);
            Key {
                bind: (a, b),
                serialized,
            }
        })
        .collect();
    check_tokens(
        &session,
        "composite (int, text)",
        &format!("INSERT INTO {KEYSPACE}.k_int_text (a, b) VALUES (?, ?)"),
        &format!("SELECT token(a, b) FROM {KEYSPACE}.k_int_text WHERE a = ? AND b = ?"),
        composites,
    )
    .await;
}

/// The ring as the contact point describes it, node ids being broadcast addresses.
async fn read_ring(session: &Session) -> Vec<NodeInfo> {
    let local = session
        .query_unpaged(
            "SELECT broadcast_address, data_center, rack, tokens FROM system.local WHERE key = 'local'",
            (),
        )
        .await
        .expect("system.local is readable")
        .into_rows_result()
        .expect("system.local returns rows");
    let (address, dc, rack, tokens): (IpAddr, String, String, Vec<String>) = local
        .single_row()
        .expect("system.local has one row of these types");
    let mut nodes = vec![node_info(address, dc, rack, &tokens)];
    let peers = session
        .query_unpaged(
            "SELECT peer, data_center, rack, tokens FROM system.peers_v2",
            (),
        )
        .await
        .expect("system.peers_v2 is readable")
        .into_rows_result()
        .expect("system.peers_v2 returns rows");
    for row in peers
        .rows::<(IpAddr, String, String, Vec<String>)>()
        .expect("peers_v2 columns have these types")
    {
        let (address, dc, rack, tokens) = row.expect("a peers_v2 row decodes");
        nodes.push(node_info(address, dc, rack, &tokens));
    }
    nodes
}

fn node_info(address: IpAddr, dc: String, rack: String, tokens: &[String]) -> NodeInfo {
    NodeInfo {
        id: address.to_string(),
        dc,
        rack,
        tokens: tokens
            .iter()
            .map(|t| t.parse().unwrap_or_else(|e| panic!("token {t:?}: {e}")))
            .collect(),
    }
}

async fn replication_of(session: &Session, keyspace: &str) -> HashMap<String, String> {
    let rows = session
        .query_unpaged(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
            (keyspace,),
        )
        .await
        .expect("system_schema.keyspaces is readable")
        .into_rows_result()
        .expect("system_schema.keyspaces returns rows");
    let (replication,): (HashMap<String, String>,) = rows
        .single_row()
        .unwrap_or_else(|e| panic!("keyspace {keyspace}: {e}"));
    replication
}

fn nodetool(args: &[&str]) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster");
    let output = Command::new(&script)
        .arg("nodetool")
        .arg("1")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "scripts/cluster nodetool 1 {args:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `nodetool describering` as (end token, endpoints in Cassandra's order) per range.
fn describe_ring(keyspace: &str) -> Vec<(i64, Vec<String>)> {
    let text = nodetool(&["describering", keyspace]);
    let field = |line: &str, name: &str, end: char| -> String {
        let start = line
            .find(name)
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
            + name.len();
        line[start..]
            .split(end)
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let ranges: Vec<(i64, Vec<String>)> = text
        .lines()
        .filter(|line| line.contains("TokenRange("))
        .map(|line| {
            let end: i64 = field(line, "end_token:", ',')
                .parse()
                .expect("end_token is an i64");
            let endpoints = field(line, "endpoints:[", ']')
                .split(',')
                .map(|e| e.trim().to_owned())
                .filter(|e| !e.is_empty())
                .collect();
            (end, endpoints)
        })
        .collect();
    assert!(
        !ranges.is_empty(),
        "describering {keyspace} printed no ranges:\n{text}"
    );
    ranges
}

/// `nodetool getendpoints`, one address per line, in Cassandra's order.
fn get_endpoints(keyspace: &str, table: &str, key: &str) -> Vec<String> {
    nodetool(&["getendpoints", keyspace, table, key])
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Int keys whose tokens sit right next to each ring token, on both sides: for each ring
/// token, the key with the largest token ≤ it and the one with the smallest token above it,
/// among the first 200,000 ints (the wrap-around boundary included).
fn boundary_int_keys(ring_tokens: &[i64]) -> Vec<(i32, i64)> {
    let mut below: Vec<Option<(i32, i64)>> = vec![None; ring_tokens.len()];
    let mut above: Vec<Option<(i32, i64)>> = vec![None; ring_tokens.len()];
    for key in 0..200_000i32 {
        let token = murmur3_token(&key.to_be_bytes());
        for (i, &boundary) in ring_tokens.iter().enumerate() {
            if token <= boundary && below[i].is_none_or(|(_, t)| token > t) {
                below[i] = Some((key, token));
            }
            if token > boundary && above[i].is_none_or(|(_, t)| token < t) {
                above[i] = Some((key, token));
            }
        }
    }
    let mut keys: Vec<(i32, i64)> = below.into_iter().chain(above).flatten().collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_equal_cassandras_describering_and_getendpoints() {
    let session = connect().await;
    for (keyspace, replication) in REPLICA_KEYSPACES {
        run_ddl(
            &session,
            &format!("CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}"),
        )
        .await;
        run_ddl(
            &session,
            &format!("CREATE TABLE IF NOT EXISTS {keyspace}.by_int (pk int PRIMARY KEY)"),
        )
        .await;
        run_ddl(
            &session,
            &format!("CREATE TABLE IF NOT EXISTS {keyspace}.by_pair (a int, b text, PRIMARY KEY ((a, b)))"),
        )
        .await;
    }
    let nodes = read_ring(&session).await;
    assert_eq!(
        nodes.len(),
        3,
        "the two-dc test cluster has three nodes: {nodes:?}"
    );
    let ring = Arc::new(TokenRing::new(&nodes).expect("the cluster's ring is valid"));

    let mut strategies = Vec::new();
    for (keyspace, _) in REPLICA_KEYSPACES {
        let options = replication_of(&session, keyspace).await;
        let strategy = ReplicationStrategy::from_options(&options)
            .unwrap_or_else(|e| panic!("{keyspace} replication {options:?}: {e}"));
        strategies.push((*keyspace, options, strategy));
    }
    let sets = ReplicaSets::build(ring.clone(), strategies.iter().map(|(k, _, s)| (*k, s)));
    let ours = |keyspace: &str, token: i64| -> Vec<String> {
        let table = sets.keyspace(keyspace).expect("every keyspace has a table");
        sets.replicas(table, &token)
            .iter()
            .map(|&i| ring.node(i).id().to_owned())
            .collect()
    };

    // Every range, including (MIN, MIN + 100], which no real key reaches.
    let mut failures = Vec::new();
    for (keyspace, options, _) in &strategies {
        for (end, endpoints) in describe_ring(keyspace) {
            let computed = ours(keyspace, end);
            assert_eq!(
                replicas_for(&nodes, options, end).expect("the convenience agrees on errors"),
                computed,
                "{keyspace}: replicas_for and ReplicaSets disagree at {end}"
            );
            if computed != endpoints {
                failures.push(format!(
                    "{keyspace} range ending {end}: Cassandra {endpoints:?}, ours {computed:?}"
                ));
            }
        }
    }

    // Keys right next to each token boundary, plus a composite key, through `nodetool
    // getendpoints` (a JVM start each, so a few at a time): every boundary key in the first NTS
    // keyspace, one boundary key and the composite in the others.
    let boundary_keys = boundary_int_keys(ring.tokens());
    let pair = serialize_partition_key(&[&7i32.to_be_bytes(), b"kremowki"]);
    let mut probes: Vec<(String, &str, String, i64)> = Vec::new();
    for (n, (keyspace, _, _)) in strategies.iter().enumerate() {
        let sample = if n == 0 { boundary_keys.len() } else { 1 };
        for &(key, token) in boundary_keys.iter().skip(n).take(sample) {
            probes.push((keyspace.to_string(), "by_int", key.to_string(), token));
        }
        probes.push((
            keyspace.to_string(),
            "by_pair",
            "7:kremowki".into(),
            murmur3_token(&pair),
        ));
    }
    let answers: Vec<(String, String, i64, Vec<String>)> = stream::iter(probes)
        .map(|(keyspace, table, key, token)| {
            tokio::task::spawn_blocking(move || {
                let endpoints = get_endpoints(&keyspace, table, &key);
                (keyspace, key, token, endpoints)
            })
        })
        .buffer_unordered(3)
        .map(|joined| joined.expect("a nodetool task panicked"))
        .collect()
        .await;
    for (keyspace, key, token, endpoints) in answers {
        let computed = ours(&keyspace, token);
        if computed != endpoints {
            failures.push(format!(
                "{keyspace} key {key} (token {token}): getendpoints {endpoints:?}, ours {computed:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "replica sets differ from Cassandra's:\n{}",
        failures.join("\n")
    );
}

//! The request API's whole surface against the real `two-dc` cluster (keyspace NTS dc1:2
//! dc2:1): every CQL type round-trips, paging sees every row once, batches, counters, LWT,
//! per-request keyspaces (in v5, and over a cluster spoken to in v4), request options the node
//! acts on (timestamp, now_in_seconds, tracing), speculative executions, and routing checked by
//! the node's own traces.
//!
//! The core of it ([`CORE`]: types, paging, batches, LWT, keyspaces, options) runs against
//! other clusters too: `RINGGATE_CLUSTER_ID` names the `scripts/cluster` instance (one node of
//! Cassandra 4.1, for `make cassandra-4.1`), whose shape sets the keyspaces' replication and
//! whose release the columns (vectors only from 5.0 on).

mod support;

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ringgate::plan::SpeculativeExecution;
use ringgate::protocol::message::{Consistency, SerialConsistency};
use ringgate::protocol::types::{
    CqlDate, CqlDecimal, CqlDuration, CqlTime, CqlTimestamp, CqlValue, CqlVarint,
};
use ringgate::request::{
    Batch, BatchType, Coordinator, CoordinatorConfig, RequestError, RequestOptions,
};
use ringgate_routing::{murmur3_token, serialize_partition_key};
use support::node_addr;
use tokio::sync::OnceCell;

/// The tests that run against a cluster of any shape and version (see the module docs); the
/// others need the `two-dc` cluster. `make cassandra-4.1` runs these by name.
pub const CORE: [&str; 9] = [
    "every_cql_type_round_trips",
    "paging_through_ten_thousand_rows_sees_each_once",
    "batches_of_every_kind_mixing_queries_and_prepared_statements",
    "lightweight_transactions_applied_and_not_applied",
    "per_request_keyspaces_without_use",
    "per_request_keyspaces_over_a_v4_cluster",
    "timestamp_and_now_in_seconds_reach_the_node",
    "use_is_refused_plain_or_prepared_and_shared_connections_keep_no_keyspace",
    "the_cluster_is_the_one_the_environment_names",
];

async fn connect(config: impl FnOnce(&mut CoordinatorConfig)) -> Coordinator {
    let mut c = CoordinatorConfig::new(vec![node_addr(1), node_addr(2), node_addr(3)]);
    c.local_dc = Some("dc1".into());
    config(&mut c);
    Coordinator::connect(c)
        .await
        .unwrap_or_else(|e| panic!("cannot connect: {e}\n{}", support::log_tail(1, 40)))
}

fn opts() -> RequestOptions {
    RequestOptions::default()
}

/// Whether the cluster's nodes run Cassandra 5 or later (vectors, ...).
fn cassandra_5(c: &Coordinator) -> bool {
    c.cluster()
        .view()
        .nodes()
        .all(|n| n.release_version.as_str() >= "5")
}

/// The keyspace and tables every test here uses, made once per test binary run.
async fn schema(c: &Coordinator) {
    static DONE: OnceCell<()> = OnceCell::const_new();
    DONE.get_or_init(|| async {
        // rg_api: the instance's usual replication; rg_api_one: one replica per datacenter.
        let two_dc = support::cluster_env().get("TOPOLOGY").map(String::as_str) == Some("two-dc");
        let one = if two_dc {
            "{'class': 'NetworkTopologyStrategy', 'dc1': 1, 'dc2': 1}"
        } else {
            "{'class': 'NetworkTopologyStrategy', 'dc1': 1}"
        };
        let vector = if cassandra_5(c) {
            "c_vector vector<float, 3>, "
        } else {
            ""
        };
        for ddl in [
            format!(
                "CREATE KEYSPACE IF NOT EXISTS rg_api WITH replication = {}",
                support::replication()
            ),
            format!("CREATE KEYSPACE IF NOT EXISTS rg_api_one WITH replication = {one}"),
            "CREATE TYPE IF NOT EXISTS rg_api.address (street text, number int, tags frozen<set<text>>)".into(),
            format!("CREATE TABLE IF NOT EXISTS rg_api.every_type (k int PRIMARY KEY, \
             c_ascii ascii, c_bigint bigint, c_blob blob, c_boolean boolean, c_date date, \
             c_decimal decimal, c_double double, c_duration duration, c_float float, \
             c_inet4 inet, c_inet6 inet, c_int int, c_smallint smallint, c_text text, \
             c_time time, c_timestamp timestamp, c_timeuuid timeuuid, c_tinyint tinyint, \
             c_uuid uuid, c_varint varint, c_list list<int>, c_set set<text>, \
             c_map map<text, int>, c_tuple frozen<tuple<int, text, boolean>>, \
             c_udt frozen<address>, {vector}\
             c_nested frozen<list<map<int, frozen<set<bigint>>>>>)"),
            "CREATE TABLE IF NOT EXISTS rg_api.pages (p int, c int, v text, PRIMARY KEY (p, c))".into(),
            "CREATE TABLE IF NOT EXISTS rg_api.counts (k text PRIMARY KEY, n counter)".into(),
            "CREATE TABLE IF NOT EXISTS rg_api.kv (k int PRIMARY KEY, v text)".into(),
            "CREATE TABLE IF NOT EXISTS rg_api.composite (a int, b text, v int, PRIMARY KEY ((a, b)))".into(),
            "CREATE TABLE IF NOT EXISTS rg_api_one.kv (k int PRIMARY KEY, v text)".into(),
            "CREATE TABLE IF NOT EXISTS rg_api_one.composite (a int, b text, v int, PRIMARY KEY ((a, b)))".into(),
        ] {
            c.query(&ddl, (), &opts())
                .await
                .unwrap_or_else(|e| panic!("{ddl}: {e}"));
        }
        let mut rx = c.cluster().subscribe();
        while c.cluster().view().placement("rg_api").is_none()
            || c.cluster().view().placement("rg_api_one").is_none()
        {
            tokio::time::timeout(Duration::from_secs(15), rx.changed())
                .await
                .expect("the view learns the keyspaces")
                .unwrap();
        }
    })
    .await;
}

fn varint(text: &str) -> CqlVarint {
    CqlVarint::from(text.parse::<i128>().unwrap())
}

/// One value of every type, for the columns of `rg_api.every_type` in order.
fn every_type_values() -> Vec<(&'static str, CqlValue)> {
    let uuid = |s: &str| -> [u8; 16] {
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        let mut out = [0u8; 16];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    };
    vec![
        ("c_ascii", CqlValue::Ascii("plain ascii".into())),
        ("c_bigint", CqlValue::Bigint(i64::MIN + 1)),
        ("c_blob", CqlValue::Blob(vec![0, 1, 0xfe, 0xff])),
        ("c_boolean", CqlValue::Boolean(true)),
        (
            "c_date",
            CqlValue::Date(CqlDate::from_days_since_epoch(-719_162).unwrap()),
        ),
        (
            // A 22-byte unscaled value at scale 30: beyond f64 and i128.
            "c_decimal",
            CqlValue::Decimal(CqlDecimal::new(
                CqlVarint::from_signed_bytes(&[
                    0x02, 0x1C, 0x7E, 0x5E, 0x73, 0xEA, 0x1E, 0x1F, 0x6A, 0xFC, 0x70, 0x3F, 0x4D,
                    0x0C, 0x8E, 0xE8, 0x61, 0x8F, 0x5E, 0x72, 0x0B, 0xD2,
                ])
                .unwrap(),
                30,
            )),
        ),
        ("c_double", CqlValue::Double(-1.5e300)),
        (
            "c_duration",
            CqlValue::Duration(CqlDuration::new(-14, -3, -5_000_000_123).unwrap()),
        ),
        ("c_float", CqlValue::Float(3.25)),
        ("c_inet4", CqlValue::Inet(IpAddr::from([10, 1, 2, 3]))),
        (
            "c_inet6",
            CqlValue::Inet("2001:db8::ff00:42:8329".parse().unwrap()),
        ),
        ("c_int", CqlValue::Int(-42)),
        ("c_smallint", CqlValue::Smallint(-32768)),
        ("c_text", CqlValue::Text("kremówki ✓ 日本".into())),
        (
            "c_time",
            CqlValue::Time(CqlTime::from_nanos(86_399_999_999_999).unwrap()),
        ),
        (
            "c_timestamp",
            CqlValue::Timestamp(CqlTimestamp(-62_135_596_800_000)),
        ),
        (
            "c_timeuuid",
            CqlValue::Timeuuid(uuid("50554d6e-29bb-11e5-b345-feff819cdc9f")),
        ),
        ("c_tinyint", CqlValue::Tinyint(-128)),
        (
            "c_uuid",
            CqlValue::Uuid(uuid("f47ac10b-58cc-4372-a567-0e02b2c3d479")),
        ),
        (
            "c_varint",
            CqlValue::Varint(varint("-170141183460469231731687303715884105728")),
        ),
        (
            "c_list",
            CqlValue::List(vec![CqlValue::Int(3), CqlValue::Int(1), CqlValue::Int(3)]),
        ),
        (
            // Sets and maps come back in Cassandra's order (sorted): written sorted.
            "c_set",
            CqlValue::Set(vec![CqlValue::Text("a".into()), CqlValue::Text("b".into())]),
        ),
        (
            "c_map",
            CqlValue::Map(vec![
                (CqlValue::Text("x".into()), CqlValue::Int(1)),
                (CqlValue::Text("y".into()), CqlValue::Int(-1)),
            ]),
        ),
        (
            "c_tuple",
            CqlValue::Tuple(vec![
                Some(CqlValue::Int(7)),
                None,
                Some(CqlValue::Boolean(false)),
            ]),
        ),
        (
            "c_udt",
            CqlValue::Udt(vec![
                ("street".into(), Some(CqlValue::Text("Main".into()))),
                ("number".into(), None),
                (
                    "tags".into(),
                    Some(CqlValue::Set(vec![CqlValue::Text("home".into())])),
                ),
            ]),
        ),
        (
            "c_vector",
            CqlValue::Vector(vec![
                CqlValue::Float(1.0),
                CqlValue::Float(-0.5),
                CqlValue::Float(f32::MAX),
            ]),
        ),
        (
            "c_nested",
            CqlValue::List(vec![
                CqlValue::Map(vec![(
                    CqlValue::Int(1),
                    CqlValue::Set(vec![CqlValue::Bigint(-1), CqlValue::Bigint(2)]),
                )]),
                CqlValue::Map(vec![]),
            ]),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cql_type_round_trips() {
    let c = connect(|_| {}).await;
    schema(&c).await;
    let mut values = every_type_values();
    if !cassandra_5(&c) {
        values.retain(|(name, _)| *name != "c_vector");
    }
    let columns: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
    let insert = c
        .prepare(&format!(
            "INSERT INTO rg_api.every_type (k, {}) VALUES (?, {})",
            columns.join(", "),
            vec!["?"; columns.len()].join(", ")
        ))
        .await
        .unwrap();
    let select = c
        .prepare(&format!(
            "SELECT {} FROM rg_api.every_type WHERE k = ?",
            columns.join(", ")
        ))
        .await
        .unwrap();
    let all = RequestOptions {
        consistency: Some(Consistency::All),
        ..opts()
    };

    // By position: one row with every type; another with every column null.
    let mut bound: Vec<Option<CqlValue>> = vec![Some(CqlValue::Int(1))];
    bound.extend(values.iter().map(|(_, v)| Some(v.clone())));
    c.execute(&insert, bound, &all).await.unwrap();
    let mut nulls: Vec<Option<CqlValue>> = vec![Some(CqlValue::Int(2))];
    nulls.extend(values.iter().map(|_| None));
    c.execute(&insert, nulls, &all).await.unwrap();

    let rows = c
        .execute(&select, vec![CqlValue::Int(1)], &all)
        .await
        .unwrap()
        .rows()
        .unwrap();
    assert_eq!(rows.len(), 1);
    for (i, (name, want)) in values.iter().enumerate() {
        assert_eq!(
            rows[0].values()[i].as_ref(),
            Some(want),
            "column {name} read back"
        );
        let by_name: Option<CqlValue> = rows[0].get_by_name(name).unwrap();
        assert_eq!(by_name.as_ref(), Some(want), "column {name} by name");
    }
    // Conversions to Rust types.
    assert_eq!(
        rows[0].get_by_name::<i64>("c_bigint").unwrap(),
        i64::MIN + 1
    );
    assert_eq!(
        rows[0].get_by_name::<String>("c_text").unwrap(),
        "kremówki ✓ 日本"
    );
    assert_eq!(
        rows[0].get_by_name::<IpAddr>("c_inet6").unwrap(),
        "2001:db8::ff00:42:8329".parse::<IpAddr>().unwrap()
    );
    assert_eq!(
        rows[0].get_by_name::<Vec<i32>>("c_list").unwrap(),
        vec![3, 1, 3]
    );
    assert!(rows[0].get_by_name::<bool>("c_boolean").unwrap());
    assert!(
        rows[0].get_by_name::<String>("c_int").is_err(),
        "a mismatched conversion is an error"
    );

    let rows = c
        .execute(&select, vec![CqlValue::Int(2)], &all)
        .await
        .unwrap()
        .rows()
        .unwrap();
    assert!(
        rows[0].values().iter().all(Option::is_none),
        "{:?}",
        rows[0]
    );
    assert_eq!(
        rows[0].get_by_name::<Option<i64>>("c_bigint").unwrap(),
        None
    );

    // By name, and through an unprepared query with values of their natural types.
    let named: Vec<(&str, CqlValue)> = vec![
        ("k", CqlValue::Int(3)),
        ("c_text", CqlValue::Text("named".into())),
        (
            "c_varint",
            CqlValue::Varint(varint("12345678901234567890123")),
        ),
    ];
    let by_name = c
        .prepare(
            "INSERT INTO rg_api.every_type (k, c_text, c_varint) VALUES (:k, :c_text, :c_varint)",
        )
        .await
        .unwrap();
    c.execute(&by_name, named, &all).await.unwrap();
    c.query(
        "UPDATE rg_api.every_type SET c_double = ?, c_timestamp = ? WHERE k = ?",
        vec![
            CqlValue::Double(0.125),
            CqlValue::Timestamp(CqlTimestamp(1_700_000_000_123)),
            CqlValue::Int(3),
        ],
        &all,
    )
    .await
    .unwrap();
    let row = &c
        .query(
            "SELECT c_text, c_varint, c_double, c_timestamp FROM rg_api.every_type WHERE k = :k",
            vec![("k", CqlValue::Int(3))],
            &all,
        )
        .await
        .unwrap()
        .rows()
        .unwrap()[0];
    assert_eq!(row.get::<String>(0).unwrap(), "named");
    assert_eq!(
        row.get::<CqlVarint>(1).unwrap(),
        varint("12345678901234567890123")
    );
    assert_eq!(row.get::<f64>(2).unwrap(), 0.125);
    assert_eq!(
        row.get::<CqlTimestamp>(3).unwrap(),
        CqlTimestamp(1_700_000_000_123)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_through_ten_thousand_rows_sees_each_once() {
    let c = connect(|_| {}).await;
    schema(&c).await;
    let insert = c
        .prepare("INSERT INTO rg_api.pages (p, c, v) VALUES (?, ?, ?)")
        .await
        .unwrap();
    // 10 partitions of 1,000 rows, written in unlogged batches of one partition's 100 rows.
    for p in 0..10 {
        for chunk in 0..10 {
            let mut batch = Batch::new(BatchType::Unlogged);
            for c in chunk * 100..(chunk + 1) * 100 {
                batch = batch.prepared(
                    &insert,
                    vec![
                        CqlValue::Int(p),
                        CqlValue::Int(c),
                        CqlValue::Text(format!("{p}/{c}")),
                    ],
                );
            }
            c.batch(&batch, &opts()).await.unwrap();
        }
    }
    let paged = RequestOptions {
        page_size: Some(100),
        idempotent: true,
        ..opts()
    };
    // The whole table (every token range), then one partition through a prepared statement.
    let mut seen = HashSet::new();
    let mut pages = 0;
    let mut stream = std::pin::pin!(c.pages("SELECT p, c, v FROM rg_api.pages", (), paged.clone()));
    while let Some(page) = stream.next().await {
        let page = page.unwrap();
        pages += 1;
        let rows = page.rows().unwrap();
        assert!(rows.len() <= 100, "a page holds at most its size");
        for row in rows {
            let (p, ck): (i32, i32) = (row.get(0).unwrap(), row.get(1).unwrap());
            assert_eq!(row.get::<String>(2).unwrap(), format!("{p}/{ck}"));
            assert!(seen.insert((p, ck)), "row {p}/{ck} seen twice");
        }
    }
    assert_eq!(seen.len(), 10_000);
    assert!(pages >= 100, "{pages} pages");

    let one = c
        .prepare("SELECT c FROM rg_api.pages WHERE p = ?")
        .await
        .unwrap();
    let cs: Vec<i32> = c
        .pages(&one, vec![CqlValue::Int(7)], paged)
        .map(|page| page.unwrap().rows().unwrap())
        .flat_map(futures::stream::iter)
        .map(|row| row.get::<i32>(0).unwrap())
        .collect()
        .await;
    assert_eq!(cs, (0..1000).collect::<Vec<_>>(), "in clustering order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_every_kind_mixing_queries_and_prepared_statements() {
    let c = connect(|_| {}).await;
    schema(&c).await;
    let insert = c
        .prepare("INSERT INTO rg_api.kv (k, v) VALUES (?, ?)")
        .await
        .unwrap();
    let logged = Batch::new(BatchType::Logged)
        .prepared(
            &insert,
            vec![CqlValue::Int(100), CqlValue::Text("a".into())],
        )
        .query("INSERT INTO rg_api.kv (k, v) VALUES (101, 'b')", ())
        .query(
            "INSERT INTO rg_api.kv (k, v) VALUES (?, ?)",
            vec![CqlValue::Int(102), CqlValue::Text("c".into())],
        )
        .prepared(
            &insert,
            vec![
                ("v".to_owned(), Some(CqlValue::Text("d".into()))),
                ("k".to_owned(), Some(CqlValue::Int(103))),
            ],
        );
    let result = c.batch(&logged, &opts()).await.unwrap();
    assert!(result.rows().unwrap().is_empty());
    c.batch(
        &Batch::new(BatchType::Unlogged)
            .query("DELETE FROM rg_api.kv WHERE k = 101", ())
            .prepared(
                &insert,
                vec![CqlValue::Int(104), CqlValue::Text("e".into())],
            ),
        &opts(),
    )
    .await
    .unwrap();
    let rows = c
        .query(
            "SELECT k, v FROM rg_api.kv WHERE k IN (100, 101, 102, 103, 104)",
            (),
            &opts(),
        )
        .await
        .unwrap()
        .rows()
        .unwrap();
    let got: Vec<(i32, String)> = rows
        .iter()
        .map(|r| (r.get(0).unwrap(), r.get(1).unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (100, "a".into()),
            (102, "c".into()),
            (103, "d".into()),
            (104, "e".into())
        ]
    );

    // Counters: a counter batch, then plain updates; the totals add up.
    let key = format!("batch-{}", std::process::id());
    let bump = c
        .prepare("UPDATE rg_api.counts SET n = n + ? WHERE k = ?")
        .await
        .unwrap();
    c.batch(
        &Batch::new(BatchType::Counter)
            .prepared(
                &bump,
                vec![CqlValue::Bigint(5), CqlValue::Text(key.clone())],
            )
            .query(
                "UPDATE rg_api.counts SET n = n + 2 WHERE k = ?",
                vec![CqlValue::Text(key.clone())],
            ),
        &opts(),
    )
    .await
    .unwrap();
    for _ in 0..3 {
        c.execute(
            &bump,
            vec![CqlValue::Bigint(-1), CqlValue::Text(key.clone())],
            &opts(),
        )
        .await
        .unwrap();
    }
    let n = c
        .query(
            "SELECT n FROM rg_api.counts WHERE k = ?",
            vec![CqlValue::Text(key)],
            &opts(),
        )
        .await
        .unwrap()
        .rows()
        .unwrap()[0]
        .get::<i64>(0)
        .unwrap();
    assert_eq!(n, 4);

    // A counter update in a logged batch is refused by the node, with its reason.
    let err = c
        .batch(
            &Batch::new(BatchType::Logged)
                .prepared(&bump, vec![CqlValue::Bigint(1), CqlValue::Text("x".into())]),
            &opts(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(0x2200), "{err}");
    assert!(
        c.batch(&Batch::new(BatchType::Logged), &opts())
            .await
            .is_err(),
        "an empty batch is refused before it is sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lightweight_transactions_applied_and_not_applied() {
    let c = connect(|_| {}).await;
    schema(&c).await;
    let k = std::process::id() as i32;
    let serial = RequestOptions {
        serial_consistency: Some(SerialConsistency::LocalSerial),
        consistency: Some(Consistency::LocalQuorum),
        ..opts()
    };
    let insert = c
        .prepare("INSERT INTO rg_api.kv (k, v) VALUES (?, ?) IF NOT EXISTS")
        .await
        .unwrap();
    assert!(insert.conditional);
    let first = c
        .execute(
            &insert,
            vec![CqlValue::Int(k), CqlValue::Text("first".into())],
            &serial,
        )
        .await
        .unwrap()
        .rows()
        .unwrap();
    assert!(first[0].get_by_name::<bool>("[applied]").unwrap());
    let second = c
        .execute(
            &insert,
            vec![CqlValue::Int(k), CqlValue::Text("second".into())],
            &serial,
        )
        .await
        .unwrap()
        .rows()
        .unwrap();
    assert!(!second[0].get_by_name::<bool>("[applied]").unwrap());
    assert_eq!(
        second[0].get_by_name::<String>("v").unwrap(),
        "first",
        "a failed condition returns the current values"
    );
    let update = |expect: &'static str| {
        let c = c.clone();
        let serial = serial.clone();
        async move {
            c.query(
                "UPDATE rg_api.kv SET v = 'third' WHERE k = ? IF v = ?",
                vec![CqlValue::Int(k), CqlValue::Text(expect.into())],
                &serial,
            )
            .await
            .unwrap()
            .rows()
            .unwrap()[0]
                .get_by_name::<bool>("[applied]")
                .unwrap()
        }
    };
    assert!(!update("second").await);
    assert!(update("first").await);
    // A LOCAL_SERIAL read sees the committed value.
    let read = c
        .query(
            "SELECT v FROM rg_api.kv WHERE k = ?",
            vec![CqlValue::Int(k)],
            &RequestOptions {
                consistency: Some(Consistency::LocalSerial),
                ..opts()
            },
        )
        .await
        .unwrap()
        .rows()
        .unwrap();
    assert_eq!(read[0].get::<String>(0).unwrap(), "third");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_request_keyspaces_without_use() {
    let c = connect(|_| {}).await;
    schema(&c).await;
    per_request_keyspaces(&c, -7).await;
    // v5 carries them: no connection of the coordinator's was bound to a keyspace.
    assert_eq!(c.open_keyspace_connections(), 0);
}

/// A cluster spoken to in v4 (as Cassandra 3.x speaks at most; here the coordinator's newest
/// version is capped) has no per-request keyspace: the same requests run on connections bound
/// to their keyspace, one per node and keyspace, at most as many as configured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_request_keyspaces_over_a_v4_cluster() {
    let c = connect(|config| {
        config.connect.max_version = ringgate::protocol::ProtocolVersion::V4;
    })
    .await;
    assert_eq!(
        c.cluster().protocol_version(),
        Some(ringgate::protocol::ProtocolVersion::V4)
    );
    schema(&c).await;
    per_request_keyspaces(&c, -8).await;
    let bound = c.open_keyspace_connections();
    assert!(bound >= 2, "{bound} keyspace-bound connections");

    // With room for one, the two keyspaces take turns on it.
    let one = connect(|config| {
        config.connect.max_version = ringgate::protocol::ProtocolVersion::V4;
        config.keyspace_connections = 1;
    })
    .await;
    per_request_keyspaces(&one, -9).await;
    assert_eq!(one.open_keyspace_connections(), 1);
}

/// The same unqualified statements in two keyspaces, by per-request keyspace, on key `k`
/// (one per test: they run at once).
async fn per_request_keyspaces(c: &Coordinator, k: i32) {
    let in_api = RequestOptions {
        keyspace: Some("rg_api".into()),
        ..opts()
    };
    let in_one = RequestOptions {
        keyspace: Some("rg_api_one".into()),
        ..opts()
    };
    // The same unqualified text lands in two keyspaces, interleaved on the same pools.
    for (options, v) in [(&in_api, "api"), (&in_one, "one"), (&in_api, "api2")] {
        c.query(
            "INSERT INTO kv (k, v) VALUES (?, ?)",
            vec![CqlValue::Int(k), CqlValue::Text(v.into())],
            options,
        )
        .await
        .unwrap();
    }
    let read = |options: RequestOptions| {
        let c = c.clone();
        async move {
            c.query(
                "SELECT v FROM kv WHERE k = ?",
                vec![CqlValue::Int(k)],
                &options,
            )
            .await
            .unwrap()
            .rows()
            .unwrap()[0]
                .get::<String>(0)
                .unwrap()
        }
    };
    assert_eq!(read(in_api.clone()).await, "api2");
    assert_eq!(read(in_one.clone()).await, "one");
    // Without a keyspace the node says which is missing.
    let err = c
        .query(
            "SELECT v FROM kv WHERE k = ?",
            vec![CqlValue::Int(k)],
            &opts(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(0x2200), "{err}");

    // Prepared in a keyspace: routed by its key, re-usable, distinct per keyspace.
    let a = c
        .prepare_in("rg_api", "SELECT v FROM kv WHERE k = ?")
        .await
        .unwrap();
    let b = c
        .prepare_in("rg_api_one", "SELECT v FROM kv WHERE k = ?")
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(a.keyspace.as_deref(), Some("rg_api"));
    assert_eq!(a.pk_indexes, vec![0]);
    assert!(Arc::ptr_eq(
        &a,
        &c.prepare_in("rg_api", "SELECT v FROM kv WHERE k = ?")
            .await
            .unwrap()
    ));
    let v = |s: &Arc<ringgate::request::PreparedStatement>| {
        let c = c.clone();
        let s = Arc::clone(s);
        async move {
            c.execute(&s, vec![CqlValue::Int(k)], &opts())
                .await
                .unwrap()
                .rows()
                .unwrap()[0]
                .get::<String>(0)
                .unwrap()
        }
    };
    assert_eq!(v(&a).await, "api2");
    assert_eq!(v(&b).await, "one");

    // A batch of unqualified statements in a keyspace.
    let k = k - 1_000;
    c.batch(
        &Batch::new(BatchType::Logged)
            .query(
                "INSERT INTO kv (k, v) VALUES (?, 'batched')",
                vec![CqlValue::Int(k)],
            )
            .query("INSERT INTO composite (a, b, v) VALUES (1, 'b', 2)", ()),
        &in_one,
    )
    .await
    .unwrap();
    assert_eq!(
        c.query(
            "SELECT v FROM rg_api_one.kv WHERE k = ?",
            vec![CqlValue::Int(k)],
            &opts()
        )
        .await
        .unwrap()
        .rows()
        .unwrap()[0]
            .get::<String>(0)
            .unwrap(),
        "batched"
    );
}

/// `make cassandra-4.1` runs exactly [`CORE`] of this file.
#[test]
fn the_makefile_runs_the_core_against_other_clusters() {
    let makefile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Makefile"))
        .expect("the Makefile is readable");
    let filter = makefile
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("| (binary(real_request_api) & test(/^(")
        })
        .and_then(|l| l.split(")$$/").next())
        .expect("the Makefile's cassandra-4.1 filter names this file's tests");
    let mut named: Vec<&str> = filter.split('|').collect();
    named.sort_unstable();
    let mut core = CORE.to_vec();
    core.sort_unstable();
    assert_eq!(named, core);
    let source = include_str!("real_request_api.rs");
    for test in CORE {
        assert!(
            source.contains(&format!("async fn {test}()")),
            "{test} is a test of this file"
        );
    }
}

/// The cluster the tests ran against is the one `scripts/cluster env` names: its release is
/// the instance's Cassandra version (so a run meant for Cassandra 4.1 cannot pass against 5.0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_is_the_one_the_environment_names() {
    let c = connect(|_| {}).await;
    let env = support::cluster_env();
    let version = env
        .get("VERSION")
        .expect("scripts/cluster env names the version");
    let nodes: Vec<String> = c
        .cluster()
        .view()
        .nodes()
        .map(|n| n.release_version.clone())
        .collect();
    assert!(!nodes.is_empty());
    assert!(nodes.iter().all(|v| v == version), "{nodes:?} vs {version}");
    assert_eq!(
        nodes.len().to_string(),
        *env.get("NODES")
            .expect("scripts/cluster env names the node count")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamp_and_now_in_seconds_reach_the_node() {
    let c = connect(|_| {}).await;
    schema(&c).await;
    let k = 1_000_000 + std::process::id() as i32;
    c.query(
        "INSERT INTO rg_api.kv (k, v) VALUES (?, 'stamped')",
        vec![CqlValue::Int(k)],
        &RequestOptions {
            timestamp: Some(1_234_567_890_123_456),
            ..opts()
        },
    )
    .await
    .unwrap();
    let row = &c
        .query(
            "SELECT WRITETIME(v) FROM rg_api.kv WHERE k = ?",
            vec![CqlValue::Int(k)],
            &opts(),
        )
        .await
        .unwrap()
        .rows()
        .unwrap()[0];
    assert_eq!(row.get::<i64>(0).unwrap(), 1_234_567_890_123_456);

    // A 60 s TTL, read as of two hours later: expired; as of now: alive.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i32;
    c.query(
        "INSERT INTO rg_api.kv (k, v) VALUES (?, 'brief') USING TTL 60",
        vec![CqlValue::Int(k + 1)],
        &opts(),
    )
    .await
    .unwrap();
    let read_at = |at: Option<i32>| {
        let c = c.clone();
        async move {
            c.query(
                "SELECT v FROM rg_api.kv WHERE k = ?",
                vec![CqlValue::Int(k + 1)],
                &RequestOptions {
                    now_in_seconds: at,
                    ..opts()
                },
            )
            .await
            .unwrap()
            .rows()
            .unwrap()
            .len()
        }
    };
    assert_eq!(read_at(None).await, 1);
    assert_eq!(read_at(Some(now + 7200)).await, 0);
    assert_eq!(read_at(Some(now)).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speculative_executions_start_and_the_first_answer_wins() {
    // Speculate at once: every idempotent request also goes to its plan's second node.
    let c = connect(|config| {
        config.speculative = SpeculativeExecution::Fixed {
            delay: Duration::ZERO,
            max_executions: 1,
        };
    })
    .await;
    schema(&c).await;
    let select = c
        .prepare("SELECT v FROM rg_api.kv WHERE k = ?")
        .await
        .unwrap();
    c.query(
        "INSERT INTO rg_api.kv (k, v) VALUES (-1, 'spec')",
        (),
        &opts(),
    )
    .await
    .unwrap();
    let idempotent = RequestOptions {
        idempotent: true,
        ..opts()
    };
    let before = c.metrics().snapshot();
    for _ in 0..20 {
        let rows = c
            .execute(&select, vec![CqlValue::Int(-1)], &idempotent)
            .await
            .unwrap()
            .rows()
            .unwrap();
        assert_eq!(rows[0].get::<String>(0).unwrap(), "spec");
    }
    let after = c.metrics().snapshot();
    assert_eq!(
        after.speculative_executions - before.speculative_executions,
        20
    );
    // Not idempotent: never speculated.
    for _ in 0..5 {
        c.execute(&select, vec![CqlValue::Int(-1)], &opts())
            .await
            .unwrap();
    }
    assert_eq!(
        c.metrics().snapshot().speculative_executions,
        after.speculative_executions
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_show_each_request_coordinated_by_a_local_replica_of_its_key() {
    let c = connect(|_| {}).await;
    schema(&c).await;
    let traced = RequestOptions {
        tracing: true,
        consistency: Some(Consistency::LocalOne),
        ..opts()
    };
    let single = c
        .prepare("SELECT v FROM rg_api_one.kv WHERE k = ?")
        .await
        .unwrap();
    let composite = c
        .prepare("SELECT v FROM rg_api_one.composite WHERE b = ? AND a = ?")
        .await
        .unwrap();
    assert_eq!(
        composite.pk_indexes,
        vec![1, 0],
        "key order, not marker order"
    );
    let single_nts = c
        .prepare("SELECT v FROM rg_api.kv WHERE k = ?")
        .await
        .unwrap();
    // (trace id, the node that must have coordinated it)
    let mut expected = Vec::new();
    for k in 0..200i32 {
        let token = murmur3_token(&k.to_be_bytes());
        let r = c
            .execute(&single, vec![CqlValue::Int(k)], &traced)
            .await
            .unwrap();
        assert_eq!(r.node.ip(), support::dc1_owner(token), "key {k}");
        expected.push((
            r.tracing_id.expect("a traced request has a trace id"),
            support::dc1_owner(token),
        ));

        let b = format!("b{k}");
        let key = serialize_partition_key(&[&k.to_be_bytes(), b.as_bytes()]);
        let token = murmur3_token(&key);
        let r = c
            .execute(
                &composite,
                vec![CqlValue::Text(b), CqlValue::Int(k)],
                &traced,
            )
            .await
            .unwrap();
        expected.push((r.tracing_id.unwrap(), support::dc1_owner(token)));
    }
    // With dc1: 2, both dc1 nodes are replicas: never dc2's node.
    for k in 0..50i32 {
        let r = c
            .execute(&single_nts, vec![CqlValue::Int(k)], &traced)
            .await
            .unwrap();
        assert_ne!(r.node.ip(), IpAddr::from([127, 0, 0, 3]), "key {k}");
    }

    // What the nodes recorded: the coordinator of every trace session.
    let lookup = c
        .prepare("SELECT coordinator FROM system_traces.sessions WHERE session_id = ?")
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for (id, want) in expected {
        loop {
            let rows = c
                .execute(
                    &lookup,
                    vec![CqlValue::Uuid(id)],
                    &RequestOptions {
                        consistency: Some(Consistency::One),
                        ..opts()
                    },
                )
                .await
                .unwrap()
                .rows()
                .unwrap();
            if let Some(row) = rows.first()
                && let Some(coordinator) = row.get::<Option<IpAddr>>(0).unwrap()
            {
                assert_eq!(coordinator, want, "trace {id:02x?}");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "trace {id:02x?} never appeared in system_traces.sessions"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_payloads_are_carried_and_errors_keep_their_fields() {
    let c = connect(|_| {}).await;
    schema(&c).await;
    // Cassandra's default query handler accepts and ignores a custom payload: a request
    // carrying one succeeds (an ill-encoded one would be a protocol error).
    let with_payload = RequestOptions {
        custom_payload: Some(vec![
            (
                "ringgate".into(),
                Some(bytes::Bytes::from_static(b"\x01\x02")),
            ),
            ("empty".into(), None),
        ]),
        ..opts()
    };
    let rows = c
        .query(
            "SELECT release_version FROM system.local",
            (),
            &with_payload,
        )
        .await
        .unwrap()
        .rows()
        .unwrap();
    assert!(rows[0].get::<String>(0).unwrap().starts_with("5.0"));

    // Unavailable: ALL with dc2 asked of a keyspace that has no dc2 replica is impossible
    // to meet; EACH_QUORUM on a single-node DC works. Here: a write at THREE when the
    // keyspace has two replicas.
    let err = c
        .query(
            "INSERT INTO rg_api_one.kv (k, v) VALUES (1, 'x')",
            (),
            &RequestOptions {
                consistency: Some(Consistency::Three),
                ..opts()
            },
        )
        .await
        .unwrap_err();
    let ringgate::request::RequestError::Server { error, .. } = &err else {
        panic!("{err}")
    };
    match &error.details {
        ringgate::protocol::message::ErrorDetails::Unavailable {
            consistency,
            required,
            alive,
        } => {
            assert_eq!(*consistency, Consistency::Three);
            assert_eq!(*required, 3);
            assert_eq!(*alive, 2);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_queries_are_routed_by_the_key_their_text_fixes() {
    let c = connect(|_| {}).await;
    schema(&c).await;
    let one = RequestOptions {
        consistency: Some(Consistency::LocalOne),
        ..opts()
    };
    let in_one = RequestOptions {
        keyspace: Some("rg_api_one".into()),
        ..one.clone()
    };
    for k in 0..100i32 {
        let want = support::dc1_owner(murmur3_token(&k.to_be_bytes()));
        // A literal key, a bind marker, a named marker, an INSERT's values, the session's
        // keyspace: all routed to the key's one dc1 replica.
        let r = c
            .query(
                &format!("SELECT v FROM rg_api_one.kv WHERE k = {k}"),
                (),
                &one,
            )
            .await
            .unwrap();
        assert_eq!(r.node.ip(), want, "literal {k}");
        let r = c
            .query(
                "SELECT v FROM rg_api_one.kv WHERE k = ?",
                vec![CqlValue::Int(k)],
                &one,
            )
            .await
            .unwrap();
        assert_eq!(r.node.ip(), want, "marker {k}");
        let r = c
            .query(
                "SELECT v FROM kv WHERE k = :key",
                vec![("key", CqlValue::Int(k))],
                &in_one,
            )
            .await
            .unwrap();
        assert_eq!(r.node.ip(), want, "named marker {k}");
        let r = c
            .query(
                &format!("INSERT INTO rg_api_one.kv (v, k) VALUES ('x', {k})"),
                (),
                &one,
            )
            .await
            .unwrap();
        assert_eq!(r.node.ip(), want, "insert {k}");

        let b = format!("b{k}");
        let key = serialize_partition_key(&[&k.to_be_bytes(), b.as_bytes()]);
        let r = c
            .query(
                &format!("SELECT v FROM rg_api_one.composite WHERE b = '{b}' AND a = ?"),
                vec![CqlValue::Int(k)],
                &one,
            )
            .await
            .unwrap();
        assert_eq!(
            r.node.ip(),
            support::dc1_owner(murmur3_token(&key)),
            "composite {k}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_is_refused_plain_or_prepared_and_shared_connections_keep_no_keyspace() {
    let c = connect(|_| {}).await;
    schema(&c).await;
    let refused = c.query("USE rg_api", (), &opts()).await.unwrap_err();
    assert!(
        matches!(&refused, RequestError::Invalid(m) if m.contains("RequestOptions::keyspace")),
        "{refused}"
    );
    let prepared = c.prepare("USE rg_api").await.unwrap();
    assert_eq!(prepared.use_keyspace.as_deref(), Some("rg_api"));
    let refused = c.execute(&prepared, (), &opts()).await.unwrap_err();
    assert!(matches!(refused, RequestError::Invalid(_)), "{refused}");
    // No connection was switched: an unqualified table still names no keyspace, on every
    // connection the requests may take.
    for _ in 0..20 {
        let e = c.query("SELECT * FROM kv", (), &opts()).await.unwrap_err();
        assert!(
            e.to_string().contains("No keyspace has been specified"),
            "{e}"
        );
    }
}

/// Cassandra drops the prepared statements of a table whenever its schema changes (here:
/// columns added, an index created, one after the other, as a gateway creates a table and
/// its indexes), and a change still spreading can take a statement away again right after
/// it was healed. Writers running a prepared statement all along never see UNPREPARED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_writes_go_on_while_their_tables_schema_changes() {
    const WRITERS: i32 = 8;
    let c = connect(|_| {}).await;
    schema(&c).await;
    for ddl in [
        "DROP TABLE IF EXISTS rg_api.churn",
        "CREATE TABLE rg_api.churn (k int PRIMARY KEY, v text)",
    ] {
        c.query(ddl, (), &opts()).await.unwrap();
    }
    let insert = c
        .prepare("INSERT INTO rg_api.churn (k, v) VALUES (?, ?)")
        .await
        .unwrap();
    let before = c.metrics().snapshot().reprepares;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let writers = (0..WRITERS).map(|w| {
        let (c, insert, stop) = (&c, &insert, &stop);
        async move {
            let mut k = w * 1_000_000;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                c.execute(
                    insert,
                    vec![CqlValue::Int(k), CqlValue::Text("v".into())],
                    &opts(),
                )
                .await
                .unwrap_or_else(|e| panic!("writer {w}, key {k}: {e}"));
                k += 1;
            }
            k - w * 1_000_000
        }
    });
    let changes = async {
        for ddl in [
            "ALTER TABLE rg_api.churn ADD a int",
            "ALTER TABLE rg_api.churn ADD b text",
            "CREATE CUSTOM INDEX churn_v ON rg_api.churn (v) USING 'StorageAttachedIndex'",
            "ALTER TABLE rg_api.churn ADD c boolean",
            "ALTER TABLE rg_api.churn ADD d double",
        ] {
            c.query(ddl, (), &opts())
                .await
                .unwrap_or_else(|e| panic!("{ddl}: {e}"));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    };
    let (written, ()) = tokio::join!(futures::future::join_all(writers), changes);
    let healed = c.metrics().snapshot().reprepares - before;
    println!(
        "writes: {}, statements healed: {healed}",
        written.iter().sum::<i32>()
    );
    assert!(
        healed > 0,
        "the schema changes never took the statement away: this test tests nothing"
    );
}

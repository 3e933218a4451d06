//! The driver scenario (`tests/drivers/SCENARIO.md`) run by the `scylla` crate through a
//! Ringgate node fronting the real `two-dc` cluster, once per compression (none, lz4, snappy).
//!
//! Here the scenario's "program" is Rust code in this test: the facts it gathers are rendered as
//! the scenario's `key=value` lines and asserted like any other driver's output.
//!
//! Limits of the crate, stated here as the scenario asks:
//! - Protocol: the crate speaks native protocol v4 only. Its frame writer puts 4 in every
//!   header and its frame parser rejects any other version (`VersionNotSupported`), so v3 and
//!   v5 cannot be asked for and there is no accessor for a negotiated version: a session that
//!   ran the scenario to the end is the evidence that v4 was spoken. (Source: scylla-cql's
//!   `frame/mod.rs`; a maintainer confirms "Rust Driver ... only supports CQLv4" in
//!   scylladb/python-driver#457.)
//! - Compression: the crate falls back to no compression, logging a WARN, when the node's
//!   SUPPORTED does not list the one configured; the WARN capture below turns that into a
//!   failure.
//! - Typed values: every column has a typed value without any optional feature of the crate
//!   (`CqlDate`, `CqlTime`, `CqlTimestamp`, `CqlDecimal`, `CqlVarint`, `CqlDuration`,
//!   `CqlTimeuuid`, `IpAddr`, `uuid::Uuid`, std collections, derived UDT). The `chrono-04`,
//!   `time-03`, `num-bigint-*` or `bigdecimal-04` features would only add other representations.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{Debug, Display, Write as _};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, Once};

use futures::{StreamExt, TryStreamExt};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::frame::Compression;
use scylla::response::{PagingState, PagingStateResponse};
use scylla::routing::Token;
use scylla::statement::Statement;
use scylla::statement::batch::{Batch, BatchType};
use scylla::value::{
    Counter, CqlDate, CqlDecimal, CqlDuration, CqlTime, CqlTimestamp, CqlTimeuuid, CqlValue,
    CqlVarint, Row,
};
use scylla::{DeserializeRow, DeserializeValue, SerializeRow, SerializeValue};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scylla_crate_runs_the_scenario_uncompressed() {
    check(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scylla_crate_runs_the_scenario_with_lz4() {
    check(Some(Compression::Lz4)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scylla_crate_runs_the_scenario_with_snappy() {
    check(Some(Compression::Snappy)).await;
}

/// Runs the scenario with `compression` through a fresh node and asserts every key of
/// SCENARIO.md's table, plus the crate's view of the token ring.
async fn check(compression: Option<Compression>) {
    warn_log::install();
    // The capture is live: otherwise `warnings=none` below would prove nothing.
    tracing::warn!(target: "warn_capture_probe", "probe");
    assert_eq!(warn_log::take("warn_capture_probe").len(), 1);
    let addr = support::ringgate_node().await;
    let name = compression.map_or("none", |c| c.as_str());
    let keyspace = format!("rg_rs_v4_{name}");
    let mut out = Facts::default();
    if let Err(e) = scenario(addr, compression, &keyspace, &mut out).await {
        out.say("error", e);
    }
    let driver_warnings = warn_log::take("scylla");
    out.say(
        "warnings",
        if driver_warnings.is_empty() {
            "none".to_owned()
        } else {
            driver_warnings.join(";")
        },
    );
    let stdout = out.render();
    let node_warnings = warn_log::take("");
    let report = format!(
        "{keyspace}:\n{stdout}\nWARN and above from the node itself:\n{}",
        node_warnings.join("\n")
    );
    eprintln!("{report}");
    let got = support::key_values(&stdout);
    let field = |k: &str| {
        got.get(k)
            .unwrap_or_else(|| panic!("no {k} in the output:\n{report}"))
            .as_str()
    };
    support::assert_scenario(
        |k| got.get(k).map(String::as_str),
        4,
        name,
        &addr.to_string(),
        &keyspace,
        &report,
    );
    assert_eq!(field("pager_rows"), "1000", "{report}");
    // Token awareness: the one node the crate knows owns every token, so every replica set
    // the crate computes is Ringgate alone, whatever the key.
    assert_eq!(field("ring_nodes"), addr.to_string(), "{report}");
    assert_eq!(field("replicas_k1"), addr.to_string(), "{report}");
    assert_eq!(field("replicas_all_keys"), "ok", "{report}");
    // The crate logs the server's warnings too: only Cassandra's own, for this scenario.
    assert_eq!(
        support::warnings_about_the_node(field("warnings")),
        Vec::<&str>::new(),
        "{report}"
    );
}

/// The scenario's output: `key=value` facts in the order they were learnt.
#[derive(Default)]
struct Facts(Vec<(String, String)>);

impl Facts {
    fn say(&mut self, key: &str, value: impl Display) {
        self.0.push((key.to_owned(), value.to_string()));
    }

    fn render(&self) -> String {
        self.0.iter().fold(String::new(), |mut s, (k, v)| {
            let _ = writeln!(s, "{k}={v}");
            s
        })
    }
}

/// The `addr` type of the scenario's keyspace.
#[derive(Debug, Clone, PartialEq, SerializeValue, DeserializeValue)]
struct Addr {
    street: String,
    zip: i32,
}

/// A row of `everything`, every column but `k` optional so that the nulls row reads back too.
#[derive(Debug, Default, SerializeRow, DeserializeRow)]
struct Everything {
    k: i32,
    asci: Option<String>,
    big: Option<i64>,
    blb: Option<Vec<u8>>,
    bool: Option<bool>,
    dt: Option<CqlDate>,
    dec: Option<CqlDecimal>,
    dbl: Option<f64>,
    flt: Option<f32>,
    ip: Option<IpAddr>,
    i: Option<i32>,
    small: Option<i16>,
    tiny: Option<i8>,
    ts: Option<CqlTimestamp>,
    tm: Option<CqlTime>,
    tu: Option<CqlTimeuuid>,
    txt: Option<String>,
    u: Option<Uuid>,
    vint: Option<CqlVarint>,
    dur: Option<CqlDuration>,
    lst: Option<Vec<i32>>,
    st: Option<BTreeSet<String>>,
    mp: Option<BTreeMap<String, i32>>,
    tup: Option<(i32, String)>,
    address: Option<Addr>,
    nested: Option<BTreeMap<String, Vec<BTreeSet<i32>>>>,
}

const COLUMNS: &str = "k, asci, big, blb, bool, dt, dec, dbl, flt, ip, i, small, tiny, ts, tm, \
                       tu, txt, u, vint, dur, lst, st, mp, tup, address, nested";

/// The row k = 1 with SCENARIO.md's values.
fn full_row() -> Everything {
    let days = days_since_epoch(2024, 2, 29);
    let millis_of_day = ((12 * 60 + 34) * 60 + 56) * 1_000 + 789;
    let nanos_of_day = ((12 * 60 + 34) * 60 + 56) * 1_000_000_000 + 123_456_789;
    Everything {
        k: 1,
        asci: Some("abc".into()),
        big: Some(-9_007_199_254_740_993),
        blb: Some(vec![0x00, 0xff, 0x10]),
        bool: Some(true),
        // CQL dates count days with the epoch at 2^31.
        dt: Some(CqlDate((1u32 << 31) + u32::try_from(days).unwrap())),
        // 12345678901234567890.123456789: unscaled value, scale 9.
        dec: Some(CqlDecimal::from_signed_be_bytes_and_exponent(
            minimal_be(12_345_678_901_234_567_890_123_456_789),
            9,
        )),
        dbl: Some(3.5),
        flt: Some(-0.25),
        ip: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        i: Some(-42),
        small: Some(-300),
        tiny: Some(7),
        ts: Some(CqlTimestamp(days * 86_400_000 + millis_of_day)),
        tm: Some(CqlTime(nanos_of_day)),
        tu: Some("e8a6dc40-2a4b-11ef-9c5c-0242ac120002".parse().unwrap()),
        txt: Some("héllo ✓".into()),
        u: Some("4a9a6c52-7ebf-4b0a-9d2b-1d9c1f0b2a11".parse().unwrap()),
        vint: Some(CqlVarint::from_signed_bytes_be(minimal_be(
            123_456_789_012_345_678_901_234_567_890,
        ))),
        dur: Some(CqlDuration {
            months: 1,
            days: 2,
            nanoseconds: 3,
        }),
        lst: Some(vec![3, 1, 2]),
        st: Some(["a", "b"].map(String::from).into()),
        mp: Some([("x".to_owned(), 1), ("y".to_owned(), 2)].into()),
        tup: Some((5, "five".into())),
        address: Some(Addr {
            street: "Main".into(),
            zip: 12345,
        }),
        nested: Some([("n".to_owned(), vec![[1, 2].into(), [3].into()])].into()),
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (on or after 1970).
fn days_since_epoch(year: i32, month: usize, day: i64) -> i64 {
    const MONTH_DAYS: [i64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = |y: i32| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let years: i64 = (1970..year).map(|y| if leap(y) { 366 } else { 365 }).sum();
    let months: i64 = MONTH_DAYS[..month - 1].iter().sum();
    let feb29 = i64::from(month > 2 && leap(year));
    years + months + feb29 + day - 1
}

/// The shortest big-endian two's complement bytes of `n`, as Cassandra writes varints.
fn minimal_be(n: i128) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let redundant = bytes
        .windows(2)
        .take_while(|w| (w[0] == 0 && w[1] < 0x80) || (w[0] == 0xff && w[1] >= 0x80))
        .count();
    bytes[redundant..].to_vec()
}

/// `<column>: sent <x> got <y>` for every column of `got` that differs from `sent`.
fn mismatches(sent: &Everything, got: &Everything) -> Vec<String> {
    let mut out = Vec::new();
    let mut cmp = |column: &str, s: &dyn Debug, g: &dyn Debug, same: bool| {
        if !same {
            out.push(format!("{column}: sent {s:?} got {g:?}"));
        }
    };
    macro_rules! compare {
        ($($field:ident),* $(,)?) => {
            $(cmp(stringify!($field), &sent.$field, &got.$field, sent.$field == got.$field);)*
        };
    }
    compare!(
        k, asci, big, blb, bool, dt, dec, dbl, flt, ip, i, small, tiny, ts, tm, tu, txt, u, vint,
        dur, lst, st, mp, tup, address, nested,
    );
    out
}

/// The columns of `row` other than `k` that are not null.
fn non_null(row: &Everything) -> Vec<String> {
    let empty = Everything {
        k: row.k,
        ..Everything::default()
    };
    mismatches(&empty, row)
}

/// Runs every step of the scenario, saying what it learns into `out`; the first failing step
/// is returned as `<step>: <message>`.
async fn scenario(
    addr: SocketAddr,
    compression: Option<Compression>,
    ks: &str,
    out: &mut Facts,
) -> Result<(), String> {
    let session = SessionBuilder::new()
        .known_node_addr(addr)
        .compression(compression)
        .build()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    // The only version the crate speaks; see the module comment.
    out.say("protocol", 4);
    out.say("compression", compression.map_or("none", |c| c.as_str()));

    schema(&session, ks)
        .await
        .map_err(|e| format!("schema: {e}"))?;
    out.say("schema_agreed", true);

    session
        .use_keyspace(ks, false)
        .await
        .map_err(|e| format!("use: {e}"))?;
    out.say("use", "ok");

    let sent = full_row();
    let insert = session
        .prepare(format!(
            "INSERT INTO everything ({COLUMNS}) VALUES ({})",
            vec!["?"; COLUMNS.split(',').count()].join(", ")
        ))
        .await
        .map_err(|e| format!("types: {e}"))?;
    let select = session
        .prepare(format!("SELECT {COLUMNS} FROM everything WHERE k = ?"))
        .await
        .map_err(|e| format!("types: {e}"))?;
    session
        .execute_unpaged(&insert, &sent)
        .await
        .map_err(|e| format!("types: {e}"))?;
    let got: Everything = session
        .execute_unpaged(&select, (1i32,))
        .await
        .map_err(|e| format!("types: {e}"))?
        .into_rows_result()
        .map_err(|e| format!("types: {e}"))?
        .single_row()
        .map_err(|e| format!("types: {e}"))?;
    out.say("types", or_ok(mismatches(&sent, &got)));

    session
        .query_unpaged("INSERT INTO everything (k) VALUES (2)", ())
        .await
        .map_err(|e| format!("nulls: {e}"))?;
    let bare: Everything = session
        .execute_unpaged(&select, (2i32,))
        .await
        .map_err(|e| format!("nulls: {e}"))?
        .into_rows_result()
        .map_err(|e| format!("nulls: {e}"))?
        .single_row()
        .map_err(|e| format!("nulls: {e}"))?;
    out.say("nulls", or_ok(non_null(&bare)));

    out.say(
        "batch",
        batch(&session).await.map_err(|e| format!("batch: {e}"))?,
    );

    paging(&session, out)
        .await
        .map_err(|e| format!("paging: {e}"))?;

    let lwt = session
        .prepare("INSERT INTO everything (k, txt) VALUES (?, 'a') IF NOT EXISTS")
        .await
        .map_err(|e| format!("lwt: {e}"))?;
    for key in ["lwt_first", "lwt_second"] {
        let applied = applied(&session, &lwt)
            .await
            .map_err(|e| format!("{key}: {e}"))?;
        out.say(key, applied);
    }

    out.say(
        "counter",
        counter(&session)
            .await
            .map_err(|e| format!("counter: {e}"))?,
    );

    let invalid = match session
        .query_unpaged("SELECT nope FROM everything", ())
        .await
    {
        Err(ExecutionError::LastAttemptError(RequestAttemptError::DbError(
            DbError::Invalid,
            _,
        ))) => "invalid".to_owned(),
        Err(e) => format!("another error: {e}"),
        Ok(_) => "no error".to_owned(),
    };
    out.say("invalid", invalid);

    let (ip, port): (IpAddr, i32) = session
        .query_unpaged("SELECT rpc_address, rpc_port FROM system.local", ())
        .await
        .map_err(|e| format!("local: {e}"))?
        .into_rows_result()
        .map_err(|e| format!("local: {e}"))?
        .single_row()
        .map_err(|e| format!("local: {e}"))?;
    out.say("local", format!("{ip}:{port}"));

    let state = session.get_cluster_state();
    out.say("hosts", state.get_nodes_info().len());
    topology(&session, ks, out).map_err(|e| format!("topology: {e}"))?;
    Ok(())
}

fn or_ok(problems: Vec<String>) -> String {
    if problems.is_empty() {
        "ok".to_owned()
    } else {
        problems.join("; ")
    }
}

/// Drops and creates the keyspace and its schema, then checks agreement and the crate's
/// metadata.
async fn schema(session: &Session, ks: &str) -> Result<(), String> {
    let statements = [
        format!("DROP KEYSPACE IF EXISTS {ks}"),
        format!(
            "CREATE KEYSPACE {ks} WITH replication = \
             {{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}}"
        ),
        format!("CREATE TYPE {ks}.addr (street text, zip int)"),
        format!(
            "CREATE TABLE {ks}.everything (
              k int PRIMARY KEY,
              asci ascii, big bigint, blb blob, bool boolean, dt date, dec decimal, dbl double,
              flt float, ip inet, i int, small smallint, tiny tinyint, ts timestamp, tm time,
              tu timeuuid, txt text, u uuid, vint varint, dur duration,
              lst list<int>, st set<text>, mp map<text, int>, tup tuple<int, text>,
              address frozen<addr>,
              nested map<text, frozen<list<frozen<set<int>>>>>
            )"
        ),
        format!("CREATE TABLE {ks}.counts (k int PRIMARY KEY, c counter)"),
        format!("CREATE TABLE {ks}.paged (p int, c int, v text, PRIMARY KEY (p, c))"),
    ];
    // Each DDL statement also waits for agreement (the crate's default).
    for statement in statements {
        session
            .query_unpaged(statement.as_str(), ())
            .await
            .map_err(|e| format!("{statement}: {e}"))?;
    }
    session
        .await_schema_agreement()
        .await
        .map_err(|e| format!("await_schema_agreement: {e}"))?;
    match session.check_schema_agreement().await {
        Ok(Some(_)) => {}
        Ok(None) => return Err("check_schema_agreement: no agreement".into()),
        Err(e) => return Err(format!("check_schema_agreement: {e}")),
    }
    session
        .refresh_metadata()
        .await
        .map_err(|e| format!("refresh_metadata: {e}"))?;
    let state = session.get_cluster_state();
    let keyspace = state
        .get_keyspace(ks)
        .ok_or("the crate's metadata has no such keyspace")?;
    let tables: BTreeSet<&str> = keyspace.tables.keys().map(String::as_str).collect();
    if tables != BTreeSet::from(["counts", "everything", "paged"])
        || !keyspace.user_defined_types.contains_key("addr")
    {
        return Err(format!(
            "the crate's metadata has tables {tables:?}, types {:?}",
            keyspace.user_defined_types.keys().collect::<Vec<_>>()
        ));
    }
    Ok(())
}

/// A logged batch of three prepared inserts and a simple one; counts the four rows.
async fn batch(session: &Session) -> Result<i64, String> {
    let insert = session
        .prepare("INSERT INTO everything (k, txt) VALUES (?, ?)")
        .await
        .map_err(|e| e.to_string())?;
    let mut batch = Batch::new(BatchType::Logged);
    for _ in 0..3 {
        batch.append_statement(insert.clone());
    }
    batch.append_statement("INSERT INTO everything (k, txt) VALUES (13, 'simple')");
    session
        .batch(&batch, ((10i32, "b10"), (11i32, "b11"), (12i32, "b12"), ()))
        .await
        .map_err(|e| e.to_string())?;
    let (count,): (i64,) = session
        .query_unpaged(
            "SELECT count(*) FROM everything WHERE k IN (10, 11, 12, 13)",
            (),
        )
        .await
        .map_err(|e| e.to_string())?
        .into_rows_result()
        .map_err(|e| e.to_string())?
        .single_row()
        .map_err(|e| e.to_string())?;
    Ok(count)
}

/// Inserts the 1,000 rows of `paged`, then reads them back 100 a page, one page a request,
/// and once more through the crate's own pager.
async fn paging(session: &Session, out: &mut Facts) -> Result<(), String> {
    let insert = session
        .prepare("INSERT INTO paged (p, c, v) VALUES (?, ?, ?)")
        .await
        .map_err(|e| e.to_string())?;
    let keys: Vec<(i32, i32)> = (0..10)
        .flat_map(|p| (0..100).map(move |c| (p, c)))
        .collect();
    futures::stream::iter(keys)
        .map(|(p, c)| {
            let insert = &insert;
            async move {
                session
                    .execute_unpaged(insert, (p, c, format!("{p}-{c}")))
                    .await
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .map_err(|e| e.to_string())?;

    let select = Statement::new("SELECT p, c FROM paged").with_page_size(100);
    let mut rows = Vec::new();
    let mut pages = 0u32;
    let mut state = PagingState::start();
    loop {
        let (result, next) = session
            .query_single_page(select.clone(), (), state)
            .await
            .map_err(|e| e.to_string())?;
        pages += 1;
        let page = result.into_rows_result().map_err(|e| e.to_string())?;
        for row in page.rows::<(i32, i32)>().map_err(|e| e.to_string())? {
            rows.push(row.map_err(|e| e.to_string())?);
        }
        match next {
            PagingStateResponse::HasMorePages { state: more } => state = more,
            PagingStateResponse::NoMorePages => break,
        }
    }
    out.say("paged_rows", rows.len());
    out.say("paged_distinct", rows.iter().collect::<BTreeSet<_>>().len());
    out.say("paged_pages", pages);

    let pager_rows: Vec<(i32, i32)> = session
        .query_iter(select, ())
        .await
        .map_err(|e| e.to_string())?
        .rows_stream::<(i32, i32)>()
        .map_err(|e| e.to_string())?
        .try_collect()
        .await
        .map_err(|e| e.to_string())?;
    out.say("pager_rows", pager_rows.len());
    Ok(())
}

/// Runs the LWT insert for key 100 and reads its `[applied]` column.
async fn applied(
    session: &Session,
    lwt: &scylla::statement::prepared::PreparedStatement,
) -> Result<String, String> {
    let result = session
        .execute_unpaged(lwt, (100i32,))
        .await
        .map_err(|e| e.to_string())?
        .into_rows_result()
        .map_err(|e| e.to_string())?;
    // `[applied]` comes first; a failed insert adds the existing row's columns after it.
    let row: Row = result.first_row().map_err(|e| e.to_string())?;
    match row.columns.first() {
        Some(Some(CqlValue::Boolean(b))) => Ok(b.to_string()),
        other => Err(format!("no [applied] boolean: {other:?}")),
    }
}

/// Adds 5 then 7 to a fresh counter and reads it.
async fn counter(session: &Session) -> Result<i64, String> {
    for n in [5i64, 7] {
        session
            .query_unpaged(format!("UPDATE counts SET c = c + {n} WHERE k = 1"), ())
            .await
            .map_err(|e| e.to_string())?;
    }
    let (Counter(c),): (Counter,) = session
        .query_unpaged("SELECT c FROM counts WHERE k = 1", ())
        .await
        .map_err(|e| e.to_string())?
        .into_rows_result()
        .map_err(|e| e.to_string())?
        .single_row()
        .map_err(|e| e.to_string())?;
    Ok(c)
}

/// What the crate's cluster state says about the node: who is in the token ring, how many
/// tokens, the keyspace's strategy, and the replicas it computes for keys and tokens.
fn topology(session: &Session, ks: &str, out: &mut Facts) -> Result<(), String> {
    let state = session.get_cluster_state();
    for node in state.get_nodes_info() {
        out.say(
            "node",
            format!(
                "{} host_id={} dc={:?} rack={:?}",
                node.address, node.host_id, node.datacenter, node.rack
            ),
        );
    }
    let locator = state.replica_locator();
    let ring_nodes: BTreeSet<String> = locator
        .unique_nodes_in_global_ring()
        .iter()
        .map(|n| n.address.to_string())
        .collect();
    out.say(
        "ring_nodes",
        ring_nodes.into_iter().collect::<Vec<_>>().join(","),
    );
    out.say("ring_tokens", locator.ring().len());
    out.say("datacenters", locator.datacenter_names().join(","));
    if let Some(keyspace) = state.get_keyspace(ks) {
        out.say("strategy", format!("{:?}", keyspace.strategy));
    }
    let replicas = |table: &str, k: i32| -> Result<Vec<String>, String> {
        Ok(state
            .get_endpoints(ks, table, &(k,))
            .map_err(|e| e.to_string())?
            .iter()
            .map(|(node, _)| node.address.to_string())
            .collect())
    };
    let token = state
        .compute_token(ks, "everything", &(1i32,))
        .map_err(|e| e.to_string())?;
    out.say("token_k1", token.value());
    out.say("replicas_k1", replicas("everything", 1)?.join(","));
    // Every key of every table, and the ring's extreme tokens, have Ringgate as sole replica.
    let Some(ringgate) = state
        .get_nodes_info()
        .first()
        .map(|n| n.address.to_string())
    else {
        return Err("the crate knows no node".into());
    };
    let mut odd = Vec::new();
    for table in ["everything", "counts"] {
        for k in -50..50 {
            let got = replicas(table, k)?;
            if got != [ringgate.as_str()] {
                odd.push(format!("{table} k={k}: {got:?}"));
            }
        }
    }
    for t in [i64::MIN, -1, 0, 1, i64::MAX] {
        let got: Vec<String> = state
            .get_token_endpoints(ks, "everything", Token::new(t))
            .iter()
            .map(|(node, _)| node.address.to_string())
            .collect();
        if got != [ringgate.as_str()] {
            odd.push(format!("token {t}: {got:?}"));
        }
    }
    out.say("replicas_all_keys", or_ok(odd));
    Ok(())
}

/// A process-wide tracing subscriber that keeps every event at WARN or above, so the test can
/// report what the crate logged about the node (each test runs in its own process under
/// nextest, so the global default is this test's alone).
mod warn_log {
    use super::{Mutex, Once};
    use std::fmt::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tracing::field::{Field, Visit};
    use tracing::level_filters::LevelFilter;
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Level, Metadata, Subscriber};

    /// (target, rendered event) of every WARN or ERROR event so far.
    static SEEN: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

    struct Collector {
        next_span: AtomicU64,
    }

    struct Fields(String);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                let _ = write!(self.0, " {value:?}");
            } else {
                let _ = write!(self.0, " {}={value:?}", field.name());
            }
        }
    }

    impl Subscriber for Collector {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            *metadata.level() <= Level::WARN
        }

        fn max_level_hint(&self) -> Option<LevelFilter> {
            Some(LevelFilter::WARN)
        }

        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
        }

        fn record(&self, _: &Id, _: &Record<'_>) {}

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, event: &Event<'_>) {
            let meta = event.metadata();
            let mut fields = Fields(format!("{} {}:", meta.level(), meta.target()));
            event.record(&mut fields);
            SEEN.lock()
                .unwrap()
                .push((meta.target().to_owned(), fields.0));
        }

        fn enter(&self, _: &Id) {}

        fn exit(&self, _: &Id) {}
    }

    /// Installs the collector as the process's default subscriber (once).
    pub(super) fn install() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            let collector = Collector {
                next_span: AtomicU64::new(0),
            };
            tracing::subscriber::set_global_default(collector)
                .expect("no other global subscriber in this test binary");
        });
    }

    /// Takes the events seen so far whose target starts with `prefix` (all for "").
    pub(super) fn take(prefix: &str) -> Vec<String> {
        let mut seen = SEEN.lock().unwrap();
        let (taken, kept) = seen.drain(..).partition(|(t, _)| t.starts_with(prefix));
        *seen = kept;
        taken.into_iter().map(|(_, e)| e).collect()
    }
}

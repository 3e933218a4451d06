//! The request API through node failures on the real cluster: UNPREPARED is healed without
//! the caller seeing it, and reads at ONE keep succeeding while a node stops.
//!
//! These tests stop and start nodes: the test command runs them alone, after the rest.

mod support;

use std::sync::Arc;
use std::time::Duration;

use ringgate::protocol::message::Consistency;
use ringgate::protocol::types::CqlValue;
use ringgate::request::{Batch, BatchType, Coordinator, CoordinatorConfig, RequestOptions};
use support::{RestartOnDrop, cluster_script, node_addr};

async fn script(args: &'static [&'static str]) {
    tokio::task::spawn_blocking(move || cluster_script(args))
        .await
        .unwrap();
}

async fn coordinator() -> Coordinator {
    let mut config = CoordinatorConfig::new(vec![node_addr(1), node_addr(2), node_addr(3)]);
    config.local_dc = Some("dc1".into());
    Coordinator::connect(config).await.expect("connect")
}

async fn setup(c: &Coordinator) {
    let opts = RequestOptions::default();
    c.query(
        "CREATE KEYSPACE IF NOT EXISTS rg_disrupt WITH replication = \
         {'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}",
        (),
        &opts,
    )
    .await
    .unwrap();
    c.query(
        "CREATE TABLE IF NOT EXISTS rg_disrupt.kv (k int PRIMARY KEY, v text)",
        (),
        &opts,
    )
    .await
    .unwrap();
    let mut rx = c.cluster().subscribe();
    while c.cluster().view().placement("rg_disrupt").is_none() {
        tokio::time::timeout(Duration::from_secs(15), rx.changed())
            .await
            .unwrap()
            .unwrap();
    }
}

/// Writes rows `k` = 0..`n`, `v` = "v{k}", at ALL (every replica has them).
async fn write_rows(c: &Coordinator, n: i32) {
    let insert = c
        .prepare("INSERT INTO rg_disrupt.kv (k, v) VALUES (?, ?)")
        .await
        .unwrap();
    let all = RequestOptions {
        consistency: Some(Consistency::All),
        ..RequestOptions::default()
    };
    for k in 0..n {
        c.execute(
            &insert,
            vec![CqlValue::Int(k), CqlValue::Text(format!("v{k}"))],
            &all,
        )
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unprepared_is_healed_invisibly() {
    let mut restore = RestartOnDrop(Vec::new());
    // Without preparing ahead on a node that comes back, node 2 first answers UNPREPARED.
    let mut config = CoordinatorConfig::new(vec![node_addr(1), node_addr(2), node_addr(3)]);
    config.local_dc = Some("dc1".into());
    config.prepare_on_up = false;
    let c = Coordinator::connect(config).await.expect("connect");
    setup(&c).await;
    // Node 2 is down while the statement is prepared: it never sees it.
    restore.0.push(2);
    script(&["stop", "2"]).await;
    // Texts no node has seen before (prepared statements survive restarts).
    let tag = format!(
        "{} {}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let text = format!("SELECT v FROM rg_disrupt.kv WHERE k = ? /* {tag} */");
    let select = c.prepare(&text).await.unwrap();
    // Two writes node 2 never sees either: a batch of both names them one UNPREPARED at a time.
    let insert = c
        .prepare(&format!(
            "INSERT INTO rg_disrupt.kv (k, v) VALUES (?, ?) /* {tag} */"
        ))
        .await
        .unwrap();
    let update = c
        .prepare(&format!(
            "UPDATE rg_disrupt.kv SET v = ? WHERE k = ? /* {tag} */"
        ))
        .await
        .unwrap();
    script(&["start", "2"]).await;
    restore.0.clear();
    let mut rx = c.cluster().subscribe();
    while c
        .cluster()
        .view()
        .node(&node_addr(2))
        .is_none_or(|n| n.state != ringgate::cluster::NodeState::Up)
    {
        tokio::time::timeout(Duration::from_secs(30), rx.changed())
            .await
            .unwrap()
            .unwrap();
    }
    // Wait until its pool is back, then run the statement on every key until node 2 serves one.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let one = RequestOptions {
        consistency: Some(Consistency::One),
        idempotent: true,
        ..RequestOptions::default()
    };
    let mut served_by_2 = 0;
    for k in 0..64 {
        let r = c
            .execute(&select, vec![Some(CqlValue::Int(k))], &one)
            .await
            .expect("no UNPREPARED reaches the caller");
        served_by_2 += usize::from(r.node == node_addr(2));
    }
    assert!(served_by_2 > 0, "node 2 served none of the keys");
    assert!(
        c.metrics().snapshot().reprepares >= 1,
        "node 2 answered UNPREPARED at least once and was re-prepared"
    );

    let before = c.metrics().snapshot().reprepares;
    let mut batches_by_2 = 0;
    for k in 0..64 {
        let batch = Batch::new(BatchType::Unlogged)
            .prepared(
                &insert,
                vec![CqlValue::Int(k), CqlValue::Text(format!("b{k}"))],
            )
            .prepared(
                &update,
                vec![CqlValue::Text(format!("b{k}")), CqlValue::Int(k)],
            );
        let r = c
            .batch(&batch, &one)
            .await
            .expect("no UNPREPARED of a batch reaches the caller");
        batches_by_2 += usize::from(r.node == node_addr(2));
    }
    assert!(batches_by_2 > 0, "node 2 coordinated none of the batches");
    assert!(
        c.metrics().snapshot().reprepares >= before + 2,
        "both statements of the batch were re-prepared on node 2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_at_one_survive_a_node_stopping() {
    let mut restore = RestartOnDrop(Vec::new());
    let c = Arc::new(coordinator().await);
    setup(&c).await;
    write_rows(&c, 100).await;
    let select = c
        .prepare("SELECT v FROM rg_disrupt.kv WHERE k = ?")
        .await
        .unwrap();
    let reader = {
        let c = Arc::clone(&c);
        tokio::spawn(async move {
            let one = RequestOptions {
                consistency: Some(Consistency::One),
                idempotent: true,
                ..RequestOptions::default()
            };
            let mut done = 0;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
            while tokio::time::Instant::now() < deadline {
                let k = done % 100;
                let rows = c
                    .execute(&select, vec![Some(CqlValue::Int(k))], &one)
                    .await
                    .unwrap_or_else(|e| panic!("read {done} failed: {e}"))
                    .rows()
                    .unwrap();
                assert_eq!(rows[0].get::<String>(0).unwrap(), format!("v{k}"));
                done += 1;
            }
            done
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    restore.0.push(1);
    script(&["stop", "1"]).await;
    let reads = reader.await.expect("every read succeeded");
    assert!(reads > 100, "only {reads} reads");
    script(&["start", "1"]).await;
    restore.0.clear();
}

/// Resumes paused nodes when dropped, so a failing test leaves the cluster running.
struct ResumeOnDrop(Vec<u8>);

impl Drop for ResumeOnDrop {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = std::panic::catch_unwind(|| cluster_script(&["resume", &n.to_string()]));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speculative_executions_answer_for_a_frozen_node() {
    use ringgate::plan::SpeculativeExecution;
    let mut config = CoordinatorConfig::new(vec![node_addr(1), node_addr(2), node_addr(3)]);
    config.local_dc = Some("dc1".into());
    config.speculative = SpeculativeExecution::Fixed {
        delay: Duration::from_millis(200),
        max_executions: 2,
    };
    let c = Coordinator::connect(config).await.expect("connect");
    setup(&c).await;
    write_rows(&c, 20).await;
    let select = c
        .prepare("SELECT v FROM rg_disrupt.kv WHERE k = ?")
        .await
        .unwrap();
    // Node 2 freezes: it keeps its sockets, so nothing fails — its answers just never come.
    let mut resume = ResumeOnDrop(vec![2]);
    script(&["pause", "2"]).await;
    let read = RequestOptions {
        consistency: Some(Consistency::One),
        idempotent: true,
        timeout: Some(Duration::from_secs(30)),
        ..RequestOptions::default()
    };
    let before = c.metrics().snapshot().speculative_executions;
    for k in 0..20 {
        let r = c
            .execute(&select, vec![Some(CqlValue::Int(k))], &read)
            .await
            .unwrap_or_else(|e| panic!("read {k}: {e}"));
        assert_ne!(r.node, node_addr(2), "a frozen node answered");
        assert_eq!(
            r.rows().unwrap()[0].get::<String>(0).unwrap(),
            format!("v{k}")
        );
    }
    let speculated = c.metrics().snapshot().speculative_executions - before;
    script(&["resume", "2"]).await;
    resume.0.clear();
    // Round-robin puts node 2 first in about half the plans (until its silent connections
    // are given up): those reads were answered by a speculative execution on another node.
    assert!(speculated >= 1, "no speculative execution started");
}

//! `ringgate`: an embeddable, non-storing coordinator node for Apache Cassandra.
//!
//! A gateway links this crate in and gets what a Cassandra coordinator does: it joins the
//! cluster's view (topology, tokens, schema, events), speaks the CQL native protocol to replicas,
//! routes every request by token to a replica, and hands results back — without storing data.
//!
//! - [`request`]: the handle gateways hold ([`request::Coordinator`]): query, prepare,
//!   execute, batch and page streams, routed by token, retried and speculated by policy,
//!   measured; login sessions that run as a user of the cluster.
//! - [`server`]: the CQL front end — drivers connect to a Ringgate node as if it were the
//!   cluster ([`server::serve`] with a [`server::CoordinatorHandler`]).
//! - [`cluster`]: the cluster view — nodes, schema, token ring and replica sets — kept current
//!   by a control connection that follows the cluster's events.
//! - [`pool`]: multiplexed connections to replicas (handshake, heartbeats, safe stream-id
//!   reuse) and per-node pools keyed by the identity they log in as.
//! - [`plan`]: which nodes a request tries, in which order, and what a failure leads to.
//! - [`health`]: keeps the view's node states and the pools in step.
//! - [`metrics`]: per-node latency histograms and request counters.
//! - [`cql`]: CQL text — a lexer and the statement classifier used to route plain queries.
//!
//! # A short guide
//!
//! Connect once and share the handle (clones are cheap). Prepare statements ahead: a
//! prepared statement knows its partition key, so each execution goes straight to a replica
//! of its key in the local datacenter. Page through large results as a stream. Group writes
//! in batches.
//!
//! ```no_run
//! use futures::StreamExt;
//! use ringgate::protocol::message::Consistency;
//! use ringgate::protocol::types::CqlValue;
//! use ringgate::request::{Batch, BatchType, Coordinator, CoordinatorConfig, RequestOptions};
//!
//! # async fn demo() -> Result<(), ringgate::request::RequestError> {
//! // Join the cluster through one of its nodes; requests go to dc1 first.
//! let mut config = CoordinatorConfig::new(vec!["127.0.0.1:9042".parse().unwrap()]);
//! config.local_dc = Some("dc1".into());
//! let coordinator = Coordinator::connect(config).await?;
//!
//! // DDL returns once every node agrees on the new schema.
//! let defaults = RequestOptions::default();
//! coordinator
//!     .query(
//!         "CREATE TABLE IF NOT EXISTS ks.readings (sensor text, at int, value double, \
//!          PRIMARY KEY (sensor, at))",
//!         (),
//!         &defaults,
//!     )
//!     .await?;
//!
//! // Prepare once (on every up node), execute many times, routed by the sensor's token.
//! let insert = coordinator
//!     .prepare("INSERT INTO ks.readings (sensor, at, value) VALUES (?, ?, ?)")
//!     .await?;
//! coordinator
//!     .execute(
//!         &insert,
//!         vec![CqlValue::Text("boiler".into()), CqlValue::Int(1), CqlValue::Double(71.5)],
//!         &defaults,
//!     )
//!     .await?;
//!
//! // A batch mixes prepared statements (values by position or by name) and query strings.
//! let batch = Batch::new(BatchType::Unlogged)
//!     .prepared(&insert, vec![("sensor", CqlValue::Text("boiler".into())),
//!                             ("at", CqlValue::Int(2)),
//!                             ("value", CqlValue::Double(72.25))])
//!     .query("INSERT INTO ks.readings (sensor, at, value) VALUES ('boiler', 3, 73.0)", ());
//! coordinator.batch(&batch, &defaults).await?;
//!
//! // Page through a partition, 100 rows a request, at LOCAL_ONE; reads are idempotent, so
//! // they may be retried after a timeout and speculatively executed.
//! let select = coordinator.prepare("SELECT at, value FROM ks.readings WHERE sensor = ?").await?;
//! let options = RequestOptions {
//!     consistency: Some(Consistency::LocalOne),
//!     page_size: Some(100),
//!     idempotent: true,
//!     ..RequestOptions::default()
//! };
//! let mut pages = std::pin::pin!(coordinator.pages(&select, vec![CqlValue::Text("boiler".into())], options));
//! while let Some(page) = pages.next().await {
//!     let page = page?;
//!     for row in page.rows()? {
//!         let at: i32 = row.get_by_name("at")?;
//!         let value: f64 = row.get(1)?;
//!         println!("{at}: {value} (from {})", page.node);
//!     }
//! }
//!
//! // Run as a user of the cluster: Cassandra applies that user's permissions.
//! let alice = coordinator.login("alice", "alice-password").await?;
//! alice.query("SELECT * FROM ks.readings LIMIT 1", (), &defaults).await?;
//! println!("{:?}", coordinator.metrics().snapshot());
//! # Ok(())
//! # }
//! ```
#![warn(clippy::unwrap_used, clippy::expect_used)]

/// The hasher of the maps every request looks into: fast, and seeded per process. Their keys
/// are not a client's to choose freely (node addresses, ids the nodes derive, names).
pub(crate) type FastHash = foldhash::fast::RandomState;

pub mod cluster;
pub mod cql;
pub mod health;
pub mod metrics;
pub mod plan;
pub mod pool;
pub mod request;
pub mod server;

pub use ringgate_protocol as protocol;
pub use ringgate_routing as routing;

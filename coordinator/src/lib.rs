//! `ringgate`: an embeddable, non-storing coordinator node for Apache Cassandra.
//!
//! A gateway links this crate in and gets what a Cassandra coordinator does: it joins the
//! cluster's view (topology, tokens, schema, events), speaks the CQL native protocol to replicas,
//! routes every request by token to a replica, and hands results back — without storing data.
//!
//! - [`request`]: the handle gateways hold ([`request::Coordinator`]): query, prepare, execute,
//!   routed by token, retried by policy, measured.
//! - [`cluster`]: the cluster view — nodes, schema, token ring and replica sets — kept current
//!   by a control connection that follows the cluster's events.
//! - [`pool`]: multiplexed connections to replicas (handshake, heartbeats, safe stream-id
//!   reuse) and per-node pools keyed by the identity they log in as.
//! - [`plan`]: which nodes a request tries, in which order, and what a failure leads to.
//! - [`health`]: keeps the view's node states and the pools in step.
//! - [`metrics`]: per-node latency histograms and request counters.
//! - [`server`]: the CQL front end drivers connect to: a sans-IO session per client
//!   (handshake, authentication, Ringgate's own `system.local`/`peers`) and a thin tokio shell.
//! - [`cql`]: CQL text — a lexer and the statement classifier used to route plain queries.
//!
//! ```no_run
//! use ringgate::protocol::types::CqlValue;
//! use ringgate::request::{Coordinator, CoordinatorConfig, RequestOptions};
//!
//! # async fn demo() -> Result<(), ringgate::request::RequestError> {
//! let mut config = CoordinatorConfig::new(vec!["127.0.0.1:9042".parse().unwrap()]);
//! config.local_dc = Some("dc1".into());
//! let coordinator = Coordinator::connect(config).await?;
//! let select = coordinator.prepare("SELECT v FROM ks.kv WHERE k = ?").await?;
//! let result = coordinator
//!     .execute(&select, vec![Some(CqlValue::Int(7))], &RequestOptions::default())
//!     .await?;
//! for row in result.rows()? {
//!     let v: Option<String> = row.get_by_name("v")?;
//!     println!("{v:?} (answered by {})", result.node);
//! }
//! # Ok(())
//! # }
//! ```
#![warn(clippy::unwrap_used, clippy::expect_used)]

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

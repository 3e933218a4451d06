//! `ringgate`: an embeddable, non-storing coordinator node for Apache Cassandra.
//!
//! A gateway links this crate in and gets what a Cassandra coordinator does: it joins the
//! cluster's view (topology, tokens, schema, events), speaks the CQL native protocol to replicas,
//! routes every request by token to a replica, and hands results back — without storing data.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod cluster;
pub mod cql;
pub mod health;
pub mod metrics;
pub mod plan;
pub mod pool;
pub mod request;

pub use ringgate_protocol as protocol;
pub use ringgate_routing as routing;

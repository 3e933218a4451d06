//! The cluster view: nodes, their state, the schema, and the token ring with every keyspace's
//! replica sets, kept current by a control connection.

//!
//! - [`Cluster`] (`handle`): the handle everything else holds.
//! - `control`: the control connection's task — events, debounced re-reads, failover.
//! - `read`: the system tables read into a [`ClusterView`].
//! - `writer`: the view's one writer; every change goes through it.
//! - [`ClusterView`] (`view`): an immutable snapshot.

mod control;
mod handle;
mod query;
mod read;
mod schema;
mod system_rows;
mod view;
mod writer;

pub use handle::{Cluster, ClusterConfig, ClusterError, SCHEMA_EVENTS_BUFFER};
pub use query::QueryError;
pub use schema::{ColumnKind, ColumnMeta, KeyspaceMeta, TableMeta, TypeParseError, parse_cql_type};
pub use system_rows::{SchemaRows, SystemRow, keyspaces, local_node, peer_node};
pub use view::{ClusterView, Node, NodeState, ViewError};

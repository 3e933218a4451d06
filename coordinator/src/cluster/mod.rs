//! The cluster view: nodes, their state, the schema, and the token ring with every keyspace's
//! replica sets, kept current by a control connection.

mod control;
mod query;
mod schema;
mod system;
mod view;

pub use control::{Cluster, ClusterConfig, ClusterError, SCHEMA_EVENTS_BUFFER};
pub use query::QueryError;
pub use schema::{ColumnKind, ColumnMeta, KeyspaceMeta, TableMeta, TypeParseError, parse_cql_type};
pub use system::{SchemaRows, SystemRow, keyspaces, local_node, peer_node};
pub use view::{ClusterView, Node, NodeState, ViewError};

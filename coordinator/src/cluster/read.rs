//! Reading the cluster's topology and schema from the control node's system tables into a
//! [`ClusterView`].

use std::collections::BTreeSet;
use std::time::Duration;

use super::handle::{ClusterConfig, ClusterError};
use super::query::{QueryError, is_invalid_query, query_rows};
use super::system_rows::{SchemaRows, SystemRow, keyspaces, local_node, peer_node};
use super::view::ClusterView;
use crate::pool::Connection;

/// What a burst of events asks to re-read.
#[derive(Debug, Default)]
pub(crate) struct Refresh {
    pub(crate) topology: bool,
    pub(crate) all_schema: bool,
    pub(crate) keyspaces: BTreeSet<String>,
}

impl Refresh {
    pub(crate) fn any_schema(&self) -> bool {
        self.all_schema || !self.keyspaces.is_empty()
    }

    pub(crate) fn is_empty(&self) -> bool {
        !self.topology && !self.any_schema()
    }
}

/// Reads the whole view: topology, and the schema (all of it, or — with `previous` and a
/// [`Refresh`] — just the keyspaces it names, keeping the others from `previous`). Node
/// states are the writer's to keep ([`super::writer::ViewChange::Reread`]): every node read
/// is up here.
pub(crate) async fn read_view(
    conn: &Connection,
    config: &ClusterConfig,
    refresh: Option<(&ClusterView, &Refresh)>,
) -> Result<ClusterView, ClusterError> {
    let t = config.query_timeout;
    let local = query_rows(conn, "SELECT * FROM system.local WHERE key='local'", t).await?;
    let local_row = local
        .first()
        .ok_or_else(|| QueryError::Unexpected("system.local is empty".to_owned()))?;
    let mut nodes = vec![local_node(local_row, conn.addr()).map_err(QueryError::Unexpected)?];
    let (peers, v2) = match query_rows(conn, "SELECT * FROM system.peers_v2", t).await {
        Ok(rows) => (rows, true),
        Err(e) if is_invalid_query(&e) => (
            query_rows(conn, "SELECT * FROM system.peers", t).await?,
            false,
        ),
        Err(e) => return Err(e.into()),
    };
    for row in &peers {
        match peer_node(row, v2, conn.addr().port()) {
            Ok(node) => nodes.push(node),
            Err(e) => tracing::warn!(error = %e, "skipping a malformed peer row"),
        }
    }
    let cluster_name = local_row
        .get::<Option<String>>("cluster_name")
        .ok()
        .flatten()
        .unwrap_or_default();
    let partitioner = local_row
        .get::<Option<String>>("partitioner")
        .ok()
        .flatten()
        .unwrap_or_default();

    let keyspace_list = match refresh {
        Some((previous, r)) if !r.all_schema => {
            let mut kept: Vec<_> = previous
                .keyspaces()
                .filter(|k| !r.keyspaces.contains(&k.name))
                .map(|k| (**k).clone())
                .collect();
            for name in &r.keyspaces {
                kept.extend(read_schema(conn, t, Some(name)).await?);
            }
            kept
        }
        Some((previous, r)) if !r.any_schema() => {
            previous.keyspaces().map(|k| (**k).clone()).collect()
        }
        _ => read_schema(conn, t, None).await?,
    };
    Ok(ClusterView::new(
        cluster_name,
        partitioner,
        nodes,
        keyspace_list,
    )?)
}

/// Reads the schema tables, all of them or one keyspace's rows.
async fn read_schema(
    conn: &Connection,
    t: Duration,
    keyspace: Option<&str>,
) -> Result<Vec<super::KeyspaceMeta>, QueryError> {
    let filter = match keyspace {
        // Keyspace names come from the node's own events; quote them as CQL strings.
        Some(k) => format!(" WHERE keyspace_name = '{}'", k.replace('\'', "''")),
        None => String::new(),
    };
    let q =
        |table: &str, columns: &str| format!("SELECT {columns} FROM system_schema.{table}{filter}");
    let mut views = query_rows(conn, &q("views", "keyspace_name, view_name"), t).await?;
    for v in &mut views {
        let name = v.get::<Option<String>>("view_name").ok().flatten();
        let ks = v.get::<Option<String>>("keyspace_name").ok().flatten();
        *v = SystemRow::new([
            (
                "keyspace_name".to_owned(),
                ks.map(ringgate_protocol::types::CqlValue::Text),
            ),
            (
                "table_name".to_owned(),
                name.map(ringgate_protocol::types::CqlValue::Text),
            ),
        ]);
    }
    let mut tables = query_rows(conn, &q("tables", "keyspace_name, table_name"), t).await?;
    tables.extend(views);
    let rows = SchemaRows {
        keyspaces: query_rows(
            conn,
            &q("keyspaces", "keyspace_name, durable_writes, replication"),
            t,
        )
        .await?,
        tables,
        columns: query_rows(
            conn,
            &q(
                "columns",
                "keyspace_name, table_name, column_name, kind, position, type",
            ),
            t,
        )
        .await?,
        types: query_rows(
            conn,
            &q(
                "types",
                "keyspace_name, type_name, field_names, field_types",
            ),
            t,
        )
        .await?,
    };
    Ok(keyspaces(&rows))
}

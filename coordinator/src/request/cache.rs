//! The prepared statements a coordinator knows: by id (to heal UNPREPARED) and by text (so
//! preparing the same text again costs no round trip).

use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;

use super::PreparedStatement;

/// Prepared statements by id and by CQL text. Shared by every session of a coordinator: an
/// id is the same on every node and for every user (Cassandra derives it from the text and
/// keyspace), and permissions are checked when a statement runs, under the session's user.
#[derive(Debug, Default)]
pub(crate) struct PreparedCache {
    by_id: DashMap<Bytes, Arc<PreparedStatement>, crate::FastHash>,
    by_text: DashMap<(Option<String>, String), Arc<PreparedStatement>>,
}

impl PreparedCache {
    pub(crate) fn by_id(&self, id: &Bytes) -> Option<Arc<PreparedStatement>> {
        self.by_id_slice(id)
    }

    /// As [`Self::by_id`], for an id borrowed from a request body.
    pub(crate) fn by_id_slice(&self, id: &[u8]) -> Option<Arc<PreparedStatement>> {
        self.by_id.get(id).map(|s| Arc::clone(&s))
    }

    /// The statement prepared from `cql` in `keyspace` (`None`: without one).
    pub(crate) fn by_text(
        &self,
        keyspace: Option<&str>,
        cql: &str,
    ) -> Option<Arc<PreparedStatement>> {
        self.by_text
            .get(&(keyspace.map(str::to_owned), cql.to_owned()))
            .map(|s| Arc::clone(&s))
    }

    pub(crate) fn insert(&self, statement: Arc<PreparedStatement>) {
        self.by_text.insert(
            (statement.prepared_in.clone(), statement.query.clone()),
            Arc::clone(&statement),
        );
        self.by_id.insert(statement.id.clone(), statement);
    }

    /// Every statement, for preparing them on a node that comes (back) up.
    pub(crate) fn all(&self) -> Vec<Arc<PreparedStatement>> {
        self.by_id.iter().map(|s| Arc::clone(s.value())).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}

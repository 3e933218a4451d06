//! "Ringgate is the cluster": `system.local`, `system.peers` and `system.peers_v2` answered by
//! Ringgate itself, listing Ringgate nodes (never the replicas behind them), with the ring's
//! tokens split evenly among them.
//!
//! [`SystemTables`] is shared by every client session of a node: it holds the current
//! [`SystemInfo`] (swapped as a whole when the schema version or the set of Ringgate nodes
//! changes) and the prepared ids of system-table statements, which any connection may EXECUTE.

mod answer;
mod info;
mod select;
mod tables;
mod topology;

pub use info::{MAX_PEERS, SystemInfo, SystemInfoError};
pub use tables::SystemTable;
pub use topology::{RinggateNode, TokenSpace, split_tokens};

pub(crate) use select::might_be_system_select;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use bytes::Bytes;

use ringgate_protocol::ProtocolVersion;
use ringgate_protocol::message::{ErrorDetails, ErrorResponse, ResultBody, Values};

use info::Snapshot;
use select::SystemSelect;

/// How many distinct system-table statements a node keeps prepared. Drivers prepare a handful;
/// past this bound, PREPAREs of new texts go to the cluster like any other statement.
pub const MAX_PREPARED: usize = 1024;

/// One version of the tables: the info and the rows built from it.
struct Current {
    info: SystemInfo,
    snapshot: Snapshot,
}

/// The system tables a Ringgate node answers, shared by its sessions.
pub struct SystemTables {
    current: ArcSwap<Current>,
    /// Serialises updates, so a schema-version change cannot undo a concurrent peer change.
    update: Mutex<()>,
    /// Read on every EXECUTE (lock-free); replaced whole on the rare insert.
    prepared: ArcSwap<HashMap<Bytes, Arc<SystemSelect>, crate::FastHash>>,
    /// Serialises inserts into `prepared`.
    prepare: Mutex<()>,
}

impl std::fmt::Debug for SystemTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemTables")
            .field("info", &self.current.load().info)
            .finish_non_exhaustive()
    }
}

/// What a session does with a statement, as far as the system tables are concerned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Answer {
    /// Not a system-table statement: forward it.
    Forward,
    /// Answered here.
    Result(ResultBody),
    /// A system-table statement that fails (unknown column, bad bound value).
    Error(ErrorResponse),
}

impl SystemTables {
    /// Tables serving `info`.
    pub fn new(info: SystemInfo) -> Result<Self, SystemInfoError> {
        let snapshot = Snapshot::build(&info)?;
        Ok(SystemTables {
            current: ArcSwap::from_pointee(Current { info, snapshot }),
            update: Mutex::new(()),
            prepared: ArcSwap::from_pointee(HashMap::default()),
            prepare: Mutex::new(()),
        })
    }

    /// The info served now.
    pub fn info(&self) -> SystemInfo {
        self.current.load().info.clone()
    }

    /// Replaces the info served (new peers, schema version, ...). On error nothing changes.
    pub fn replace(&self, info: SystemInfo) -> Result<(), SystemInfoError> {
        let _serial = self.update.lock().unwrap_or_else(|p| p.into_inner());
        let snapshot = Snapshot::build(&info)?;
        self.current.store(Arc::new(Current { info, snapshot }));
        Ok(())
    }

    /// Changes the info served with `change` (a peer added, say), in step with every other
    /// update. On error nothing changes.
    pub fn update(&self, change: impl FnOnce(&mut SystemInfo)) -> Result<(), SystemInfoError> {
        let _serial = self.update.lock().unwrap_or_else(|p| p.into_inner());
        let mut info = self.info();
        change(&mut info);
        let snapshot = Snapshot::build(&info)?;
        self.current.store(Arc::new(Current { info, snapshot }));
        Ok(())
    }

    /// Changes the schema version reported in every row (after the cluster agreed on a new one).
    pub fn set_schema_version(&self, schema_version: [u8; 16]) {
        let _serial = self.update.lock().unwrap_or_else(|p| p.into_inner());
        let mut info = self.info();
        info.schema_version = schema_version;
        // The rest of the info was valid already.
        if let Ok(snapshot) = Snapshot::build(&info) {
            self.current.store(Arc::new(Current { info, snapshot }));
        }
    }

    /// Answers a QUERY's text, if it is a system-table SELECT.
    pub(crate) fn query(
        &self,
        text: &str,
        keyspace: Option<&str>,
        values: &Values,
        version: ProtocolVersion,
    ) -> Answer {
        match select::parse(text, keyspace) {
            Ok(Some(select)) => self.run(&select, values, false, version),
            Ok(None) => Answer::Forward,
            Err(e) => Answer::Error(ErrorResponse::new(ErrorDetails::Invalid, e.message())),
        }
    }

    /// Answers a PREPARE, if its text is a system-table SELECT, remembering the id.
    pub(crate) fn prepare(
        &self,
        text: &str,
        keyspace: Option<&str>,
        version: ProtocolVersion,
    ) -> Answer {
        let select = match select::parse(text, keyspace) {
            Ok(Some(select)) => select,
            Ok(None) => return Answer::Forward,
            Err(e) => {
                return Answer::Error(ErrorResponse::new(ErrorDetails::Invalid, e.message()));
            }
        };
        let id = answer::prepared_id(text, keyspace);
        let prepared = answer::prepared(&select, id.clone(), version);
        if !self.prepared.load().contains_key(&id) {
            let _one_writer = self.prepare.lock().unwrap_or_else(|p| p.into_inner());
            let current = self.prepared.load();
            if !current.contains_key(&id) {
                if current.len() >= MAX_PREPARED {
                    return Answer::Forward;
                }
                let mut map = HashMap::clone(&current);
                map.insert(id, Arc::new(select));
                self.prepared.store(Arc::new(map));
            }
        }
        Answer::Result(ResultBody::Prepared(Box::new(prepared)))
    }

    /// Whether `id` is a system-table statement prepared here.
    pub(crate) fn is_prepared(&self, id: &[u8]) -> bool {
        self.prepared.load().contains_key(id)
    }

    /// Answers an EXECUTE of `id`, if it is a system-table statement prepared here.
    pub(crate) fn execute(
        &self,
        id: &[u8],
        values: &Values,
        skip_metadata: bool,
        version: ProtocolVersion,
    ) -> Answer {
        let select = self.prepared.load().get(id).cloned();
        match select {
            Some(select) => self.run(&select, values, skip_metadata, version),
            None => Answer::Forward,
        }
    }

    fn run(
        &self,
        select: &SystemSelect,
        values: &Values,
        skip_metadata: bool,
        version: ProtocolVersion,
    ) -> Answer {
        let current = self.current.load();
        match answer::rows(select, &current.snapshot, values, skip_metadata, version) {
            Ok(result) => Answer::Result(result),
            Err(e) => Answer::Error(e),
        }
    }
}

#[cfg(test)]
mod tests;

//! A request's keyspace on a connection that cannot carry it: protocol v3 and v4 have no
//! per-request keyspace (v5's QUERY, PREPARE and BATCH flag), only the connection's own,
//! set by `USE`.
//!
//! # The scheme: keyspace-bound connections
//!
//! A request that names a keyspace (a client session's keyspace after its `USE`, or
//! [`RequestOptions::keyspace`](super::RequestOptions::keyspace), or v5's per-request
//! keyspace of a client's message) and must go to a node over a v3/v4 connection runs on a
//! connection of its own to that node, opened for that keyspace: connected with the
//! identity's credentials, `USE "keyspace"` run once on it, and then kept, one per node,
//! identity and keyspace, shared by every request and session that needs that keyspace
//! there. The message goes as the client wrote it, without the keyspace field.
//!
//! Why not qualify the statement text instead (rewrite `SELECT * FROM t` as
//! `SELECT * FROM ks.t`)? Cassandra resolves far more than table names against the session
//! keyspace: index, type, function and aggregate names in DDL, user types in column
//! definitions, `DESCRIBE TABLES` and its kin, `GRANT ... ON TABLE t`, triggers, views. A
//! rewrite would have to know every statement of every CQL version the cluster speaks, and
//! each miss would either fail or silently run elsewhere; it would also change the text the
//! node prepares, so the prepared id, warnings and error messages would no longer be those
//! of the client's statement. A connection in the keyspace leaves all of it to the node, as a
//! driver connected to it directly would: the prepared id is the one v5's per-request
//! keyspace gives (Cassandra derives it from the keyspace and the text either way), so a
//! statement prepared over v4 is the same statement as over v5.
//!
//! The same connections serve `DESCRIBE` statements in a keyspace on v5 connections too: v5's
//! per-request keyspace is applied when Cassandra parses a statement, while `DESCRIBE TABLES`,
//! `DESCRIBE KEYSPACE` (no name) and their kin read the connection's keyspace when they run,
//! and would describe every keyspace instead.
//!
//! The cost is a connection per (node, identity, keyspace) in use, opened on the first such
//! request (one round trip for `USE`), and only for what needs the keyspace: QUERY, PREPARE
//! and BATCH messages that carry one. EXECUTE never does (a prepared statement knows its
//! tables), so the prepared-statement path of drivers keeps the shared pools. Their number is
//! bounded ([`CoordinatorConfig::keyspace_connections`](super::CoordinatorConfig)): past it,
//! the least recently used idle one is closed; if none is idle the request is refused as
//! overloaded, never queued without bound.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::BytesMut;
use dashmap::DashMap;
use ringgate_protocol::ProtocolVersion;
use ringgate_protocol::frame::Flags;
use ringgate_protocol::message::{Consistency, Query, QueryParameters, Request, Response};

use super::NodeFailure;
use super::send::SendError;
use crate::pool::{ConnectOptions, Connection, LoginAs};

/// The default bound on keyspace-bound connections a coordinator keeps open.
pub const DEFAULT_KEYSPACE_CONNECTIONS: usize = 256;

/// Whether `request`, to go over a connection of `version`, must first be fitted to it by
/// [`fit`]: it carries a keyspace or a result metadata id that version has no place for, or
/// it is a `DESCRIBE` in a keyspace (which even v5's per-request keyspace does not reach:
/// Cassandra applies that keyspace when it parses a statement, and `DESCRIBE TABLES` and its
/// kin read the connection's keyspace when they run).
pub(crate) fn needs_fitting(request: &Request, version: ProtocolVersion) -> bool {
    let old = version < ProtocolVersion::V5;
    match request {
        Request::Query(q) => q.params.keyspace.is_some() && (old || is_describe(&q.query)),
        Request::Prepare(p) => old && p.keyspace.is_some(),
        Request::Batch(b) => old && b.keyspace.is_some(),
        Request::Execute(e) => old && e.result_metadata_id.is_some(),
        _ => false,
    }
}

/// Fits `request` to a connection of `version`: takes out the keyspace it carries when the
/// version has no place for it, or it is a `DESCRIBE` (returned: the request must run on a
/// connection in that keyspace), and below v5 the result metadata id of an EXECUTE (a v3/v4
/// node knows none: it sends the rows' metadata whenever the client does not ask to skip
/// it). Other v5-only fields stay, and fail to encode with an error that names them
/// (`now_in_seconds` has no v4 equivalent).
pub(crate) fn fit(request: &mut Request, version: ProtocolVersion) -> Option<String> {
    let old = version < ProtocolVersion::V5;
    match request {
        Request::Query(q) if old || is_describe(&q.query) => q.params.keyspace.take(),
        Request::Prepare(p) if old => p.keyspace.take(),
        Request::Batch(b) if old => b.keyspace.take(),
        Request::Execute(e) if old => {
            e.result_metadata_id = None;
            None
        }
        _ => None,
    }
}

/// Whether `cql` is a `DESCRIBE` (or `DESC`) statement. Cheap for every other text: only one
/// that starts with `desc` or a comment is tokenized.
fn is_describe(cql: &str) -> bool {
    use crate::cql::{Token, tokenize};
    let text = cql.trim_start();
    let first_word = text
        .get(..4)
        .is_some_and(|w| w.eq_ignore_ascii_case("desc"));
    let comment_first = ["/*", "--", "//"].iter().any(|c| text.starts_with(c));
    (first_word || comment_first)
        && tokenize(text).is_ok_and(|tokens| {
            matches!(tokens.first(), Some(Token::Word(w)) if w == "describe" || w == "desc")
        })
}

/// The key of a keyspace-bound connection: node, identity, the newest version it may speak
/// (that of the connection the request was laid out for), keyspace.
type Key = (SocketAddr, LoginAs, ProtocolVersion, String);

/// One keyspace-bound connection, opened on first use.
#[derive(Default)]
struct Entry {
    connection: ArcSwapOption<Connection>,
    /// Held while the connection is opened, so concurrent first requests open one.
    opening: tokio::sync::Mutex<()>,
    /// When it was last handed out, on the registry's clock.
    last_used: AtomicU64,
}

impl Entry {
    fn open(&self) -> Option<Connection> {
        self.connection
            .load_full()
            .filter(|c| !c.is_closed())
            .map(|c| Connection::clone(&c))
    }

    /// Whether closing it fails nothing: no connection, or none of its streams in flight.
    fn idle(&self) -> bool {
        self.connection
            .load()
            .as_ref()
            .is_none_or(|c| c.is_closed() || c.in_flight().0 == 0)
    }

    fn close(&self) {
        if let Some(c) = self.connection.swap(None) {
            c.close("keyspace-bound connection evicted");
        }
    }
}

/// The keyspace-bound connections of a coordinator (see the module documentation).
pub(crate) struct KeyspaceConnections {
    entries: DashMap<Key, Arc<Entry>>,
    limit: usize,
    /// A counter standing for time: each hand-out takes the next value.
    clock: AtomicU64,
}

impl std::fmt::Debug for KeyspaceConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyspaceConnections")
            .field("entries", &self.entries.len())
            .field("limit", &self.limit)
            .finish()
    }
}

impl Drop for KeyspaceConnections {
    fn drop(&mut self) {
        for entry in self.entries.iter() {
            entry.close();
        }
    }
}

impl KeyspaceConnections {
    /// A registry of at most `limit` connections (at least one).
    pub(crate) fn new(limit: usize) -> Self {
        KeyspaceConnections {
            entries: DashMap::new(),
            limit: limit.max(1),
            clock: AtomicU64::new(0),
        }
    }

    /// How many keyspace-bound connections are open.
    pub(crate) fn open_connections(&self) -> usize {
        self.entries.iter().filter(|e| e.open().is_some()).count()
    }

    /// A connection to `node` as `identity` whose keyspace is `keyspace`, opened with
    /// `options` (its newest version `version`, and `USE` run on it) when there is none yet.
    /// Failures are those of a request that was not sent: the caller's retry policy tries
    /// another node.
    pub(crate) async fn get(
        &self,
        node: SocketAddr,
        identity: &LoginAs,
        keyspace: &str,
        options: &ConnectOptions,
        timeout: Duration,
    ) -> Result<Connection, SendError> {
        let key = (
            node,
            identity.clone(),
            options.max_version,
            keyspace.to_owned(),
        );
        let entry = match self.entries.get(&key) {
            Some(entry) => Arc::clone(&entry),
            None => self.insert(key)?,
        };
        entry.last_used.store(
            self.clock.fetch_add(1, Ordering::Relaxed),
            Ordering::Relaxed,
        );
        if let Some(conn) = entry.open() {
            return Ok(conn);
        }
        let _opening = entry.opening.lock().await;
        if let Some(conn) = entry.open() {
            return Ok(conn);
        }
        let conn = tokio::time::timeout(timeout, open(node, keyspace, options, timeout))
            .await
            .unwrap_or_else(|_| {
                Err(not_sent(format!(
                    "no connection in keyspace {keyspace} within {timeout:?}"
                )))
            })?;
        entry.connection.store(Some(Arc::new(conn.clone())));
        Ok(conn)
    }

    /// Adds an entry for `key`, making room first when the registry is full.
    fn insert(&self, key: Key) -> Result<Arc<Entry>, SendError> {
        if self.entries.len() >= self.limit {
            self.evict_one()?;
        }
        Ok(Arc::clone(&self.entries.entry(key).or_default()))
    }

    /// Closes and forgets the least recently used idle connection: one with no request in
    /// flight that no request is being given (only the registry holds its entry; checked
    /// under the map's lock, which a request taking the entry needs too).
    fn evict_one(&self) -> Result<(), SendError> {
        let mut idle: Vec<(u64, Key)> = self
            .entries
            .iter()
            .filter(|e| e.idle())
            .map(|e| (e.last_used.load(Ordering::Relaxed), e.key().clone()))
            .collect();
        idle.sort_unstable_by_key(|(used, _)| *used);
        for (_, key) in idle {
            let removed = self.entries.remove_if(&key, |_, entry| {
                Arc::strong_count(entry) == 1 && entry.idle()
            });
            if let Some((_, entry)) = removed {
                entry.close();
                return Ok(());
            }
        }
        Err(not_sent(format!(
            "every keyspace-bound connection is in use (limit {})",
            self.limit
        )))
    }
}

impl super::Coordinator {
    /// The keyspace-bound connection to `node` in `keyspace` that speaks `version` at most
    /// (the version the request was laid out for), for this handle's identity.
    pub(crate) async fn keyspace_connection(
        &self,
        node: SocketAddr,
        keyspace: &str,
        version: ProtocolVersion,
        timeout: Duration,
    ) -> Result<Connection, SendError> {
        let options = self
            .inner
            .pools
            .connect_options(&self.identity, version)
            .ok_or_else(|| not_sent("no credentials for this identity".to_owned()))?;
        self.inner
            .keyspaced
            .get(node, &self.identity, keyspace, &options, timeout)
            .await
    }

    /// How many keyspace-bound connections are open (see
    /// [`CoordinatorConfig::keyspace_connections`](super::CoordinatorConfig)). On a cluster
    /// that speaks protocol v5 only `DESCRIBE` statements in a keyspace open them.
    pub fn open_keyspace_connections(&self) -> usize {
        self.inner.keyspaced.open_connections()
    }
}

/// A failure of a request that never left: the retry policy may try another node.
fn not_sent(why: String) -> SendError {
    SendError::Failed(NodeFailure::NotSent(why))
}

/// Opens a connection to `node` and switches it to `keyspace`.
async fn open(
    node: SocketAddr,
    keyspace: &str,
    options: &ConnectOptions,
    timeout: Duration,
) -> Result<Connection, SendError> {
    let (conn, _) = crate::pool::connect(node, options, None)
        .await
        .map_err(|e| SendError::Failed(NodeFailure::Connect(e)))?;
    let version = conn.version();
    let statement = Request::Query(Query::new(
        format!("USE {}", quoted(keyspace)),
        QueryParameters::new(Consistency::One),
    ));
    let mut body = BytesMut::new();
    statement
        .encode(version, &mut body)
        .map_err(|e| SendError::Fatal(e.into()))?;
    let answer = conn
        .request(statement.opcode(), Flags::empty(), body.freeze(), timeout)
        .await
        .map_err(|e| not_sent(format!("USE {keyspace}: {e}")));
    let answer = answer.and_then(|envelope| {
        ringgate_protocol::message::decode_response(&envelope)
            .map_err(|e| SendError::Fatal(e.into()))
    });
    match answer {
        Ok((_, Response::Result(_))) => Ok(conn),
        Ok((_, Response::Error(error))) => {
            conn.close("USE failed");
            // The node's own word (an unknown keyspace, no permission) reaches the caller.
            Err(SendError::Failed(NodeFailure::Server(Box::new(error))))
        }
        Ok((_, other)) => {
            conn.close("USE failed");
            Err(not_sent(format!(
                "USE {keyspace} answered {:?}",
                other.opcode()
            )))
        }
        Err(e) => {
            conn.close("USE failed");
            Err(e)
        }
    }
}

/// `name` as a quoted CQL identifier: case kept, `"` doubled.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringgate_protocol::message::{Batch, BatchType, Execute, Prepare};

    fn query(keyspace: Option<&str>) -> Request {
        let mut params = QueryParameters::new(Consistency::One);
        params.keyspace = keyspace.map(str::to_owned);
        Request::Query(Query::new("SELECT * FROM t", params))
    }

    #[test]
    fn keyspaces_come_out_for_v4_and_v3_only() {
        for version in [ProtocolVersion::V3, ProtocolVersion::V4] {
            let mut q = query(Some("ks"));
            assert!(needs_fitting(&q, version));
            assert_eq!(fit(&mut q, version).as_deref(), Some("ks"));
            assert_eq!(q, query(None));
            let mut encoded = BytesMut::new();
            q.encode(version, &mut encoded).expect("fits once fitted");
        }
        let mut q = query(Some("ks"));
        assert!(!needs_fitting(&q, ProtocolVersion::V5));
        assert_eq!(fit(&mut q, ProtocolVersion::V5), None);
        assert_eq!(q, query(Some("ks")), "v5 carries it");
        assert!(!needs_fitting(&query(None), ProtocolVersion::V4));
    }

    #[test]
    fn prepare_batch_and_execute_are_fitted() {
        let v4 = ProtocolVersion::V4;
        let mut prepare = Request::Prepare(Prepare {
            query: "SELECT * FROM t".into(),
            keyspace: Some("Ks".into()),
        });
        assert!(needs_fitting(&prepare, v4));
        assert_eq!(fit(&mut prepare, v4).as_deref(), Some("Ks"));
        let mut batch = Request::Batch(Batch {
            batch_type: BatchType::Logged,
            statements: Vec::new(),
            consistency: Consistency::One,
            serial_consistency: None,
            timestamp: None,
            keyspace: Some("ks".into()),
            now_in_seconds: None,
        });
        assert_eq!(fit(&mut batch, v4).as_deref(), Some("ks"));
        let mut execute = Request::Execute(Execute::new(
            bytes::Bytes::from_static(b"id"),
            Some(bytes::Bytes::from_static(b"md")),
            QueryParameters::new(Consistency::One),
        ));
        assert!(needs_fitting(&execute, v4));
        assert_eq!(fit(&mut execute, v4), None);
        let mut encoded = BytesMut::new();
        execute
            .encode(v4, &mut encoded)
            .expect("no result metadata id left");
    }

    #[test]
    fn describe_statements_take_their_keyspace_from_the_connection_even_in_v5() {
        let describe = |text: &str| {
            let mut params = QueryParameters::new(Consistency::One);
            params.keyspace = Some("ks".into());
            Request::Query(Query::new(text, params))
        };
        for text in [
            "DESCRIBE TABLES",
            "  desc types;",
            "/* x */ DESCRIBE KEYSPACE",
        ] {
            let mut q = describe(text);
            assert!(needs_fitting(&q, ProtocolVersion::V5), "{text}");
            assert_eq!(fit(&mut q, ProtocolVersion::V5).as_deref(), Some("ks"));
        }
        for text in [
            "SELECT * FROM describe",
            "deschedule",
            "INSERT INTO desc (k) VALUES (1)",
        ] {
            let q = describe(text);
            assert!(!needs_fitting(&q, ProtocolVersion::V5), "{text}");
        }
    }

    #[test]
    fn keyspace_names_are_quoted() {
        assert_eq!(quoted("ks"), "\"ks\"");
        assert_eq!(quoted("My\"Ks"), "\"My\"\"Ks\"");
    }

    #[test]
    fn the_registry_is_bounded_and_evicts_idle_entries_first() {
        let registry = KeyspaceConnections::new(2);
        let node = SocketAddr::from(([127, 0, 0, 1], 9042));
        let key = |ks: &str| (node, LoginAs::Service, ProtocolVersion::V4, ks.to_owned());
        assert!(registry.insert(key("a")).is_ok());
        assert!(registry.insert(key("b")).is_ok());
        // Entries with no connection are idle: the least recently used goes.
        registry
            .entries
            .get(&key("a"))
            .unwrap()
            .last_used
            .store(5, Ordering::Relaxed);
        assert!(registry.insert(key("c")).is_ok());
        assert_eq!(registry.entries.len(), 2);
        assert!(registry.entries.contains_key(&key("a")));
        assert!(!registry.entries.contains_key(&key("b")));
        // An entry a request holds is not taken from it, however old; when every entry is
        // held, there is no room.
        let held_c = registry.entries.get(&key("c")).map(|e| Arc::clone(&e));
        assert!(registry.insert(key("d")).is_ok());
        assert!(registry.entries.contains_key(&key("c")), "held");
        assert!(!registry.entries.contains_key(&key("a")));
        let held_d = registry.entries.get(&key("d")).map(|e| Arc::clone(&e));
        assert!(registry.insert(key("e")).is_err(), "no idle entry to close");
        drop((held_c, held_d));
        assert!(registry.insert(key("e")).is_ok());
    }
}

//! The front end over the request API: a [`Handler`] that runs clients' requests through a
//! [`Coordinator`] (routed by token, retried, UNPREPARED healed), an [`Authenticator`] that
//! checks clients' credentials against the cluster, and the system tables kept in step with
//! the cluster's schema version.

use std::sync::Arc;

use bytes::BytesMut;
use dashmap::DashMap;
use futures::FutureExt;
use futures::future::BoxFuture;

use crate::request::{
    Coordinator, ForwardContext, Forwarded, QueryResult, RawRequest, RawResult, RequestError,
};
use ringgate_protocol::frame::Flags;
use ringgate_protocol::message::{
    ErrorDetails, ErrorResponse, Response, ResponsePrefix, ResultBody, put_response_prefix,
};
use ringgate_protocol::{Opcode, ProtocolVersion};

use super::auth::{AuthFailure, AuthenticatedUser, Authenticator, Credentials};
use super::event::{ForwardRequest, Reply};
use super::served_tables::{SystemInfo, SystemTables};
use super::shell::Handler;

/// Runs forwarded requests through a coordinator, each under its session's identity.
#[derive(Debug, Clone)]
pub struct CoordinatorHandler {
    coordinator: Coordinator,
    /// Logged-in handles by user, shared with [`CoordinatorAuthenticator`].
    users: Arc<DashMap<String, Coordinator>>,
    /// The Ringgate nodes clients see, when known: keyspaces' replication is restated over
    /// their datacenters.
    tables: Option<Arc<SystemTables>>,
    /// The cluster's schema events merged with other sources (see [`Self::with_events`]);
    /// `None`: the cluster's alone.
    events: Option<tokio::sync::broadcast::Sender<ringgate_protocol::message::Event>>,
}

impl CoordinatorHandler {
    /// A handler over `coordinator` (whose own identity serves sessions without one).
    pub fn new(coordinator: Coordinator) -> Self {
        CoordinatorHandler {
            coordinator,
            users: Arc::new(DashMap::new()),
            tables: None,
            events: None,
        }
    }

    /// Clients REGISTERed with the node also get the events of `source` (those about the
    /// node's tier: [`Tier::subscribe`](super::Tier::subscribe)), besides the cluster's
    /// schema changes. Each source is passed on by a task of its own, which ends with it.
    pub fn with_events(
        mut self,
        source: tokio::sync::broadcast::Receiver<ringgate_protocol::message::Event>,
    ) -> Self {
        let merged = match &self.events {
            Some(merged) => merged.clone(),
            None => {
                let merged =
                    tokio::sync::broadcast::Sender::new(crate::cluster::SCHEMA_EVENTS_BUFFER);
                tokio::spawn(pass_on(
                    self.coordinator.cluster().schema_events(),
                    merged.clone(),
                ));
                merged
            }
        };
        tokio::spawn(pass_on(source, merged.clone()));
        self.events = Some(merged);
        self
    }

    /// Clients see the Ringgate nodes `tables` lists (see [`system_tables`]): the replication
    /// of keyspaces read from `system_schema.keyspaces` is restated over their datacenters, so
    /// that token-aware drivers find every replication factor achievable (the cluster's own
    /// settings are untouched; `DESCRIBE` still tells them).
    pub fn presenting(mut self, tables: Arc<SystemTables>) -> Self {
        self.tables = Some(tables);
        self
    }

    /// The authenticator to configure with this handler: it checks credentials against the
    /// cluster, and the handler then runs that session's requests as that user.
    pub fn authenticator(&self) -> CoordinatorAuthenticator {
        CoordinatorAuthenticator {
            coordinator: self.coordinator.clone(),
            users: Arc::clone(&self.users),
        }
    }

    /// The coordinator a session runs on: the node's own for sessions without a cluster role,
    /// else the role's (logged in the first time it is needed, e.g. for a token's role).
    async fn session(
        &self,
        identity: Option<&AuthenticatedUser>,
    ) -> Result<Coordinator, RequestError> {
        let Some(credentials) = identity.and_then(|i| i.backend.as_ref()) else {
            return Ok(self.coordinator.clone());
        };
        if let Some(session) = self.users.get(&credentials.username) {
            return Ok(session.clone());
        }
        let session = self
            .coordinator
            .login(&credentials.username, &credentials.password)
            .await?;
        self.users
            .insert(credentials.username.clone(), session.clone());
        Ok(session)
    }
}

impl Handler for CoordinatorHandler {
    fn request(&self, request: ForwardRequest) -> BoxFuture<'static, Reply> {
        let handler = self.clone();
        async move {
            match handler.session(request.identity.as_deref()).await {
                Ok(coordinator) => run(&coordinator, handler.tables.as_deref(), request)
                    .await
                    .unwrap_or_else(error_reply),
                Err(e) => error_reply(e),
            }
        }
        .boxed()
    }

    /// The cluster's schema changes, as they are, and those of the sources added with
    /// [`Self::with_events`]. The cluster's topology and status events are not passed on:
    /// clients see Ringgate nodes, which these events never speak of.
    fn events(
        &self,
    ) -> Option<tokio::sync::broadcast::Receiver<ringgate_protocol::message::Event>> {
        Some(match &self.events {
            Some(merged) => merged.subscribe(),
            None => self.coordinator.cluster().schema_events(),
        })
    }
}

/// Passes every event of `source` on to `sink` until `source` closes.
async fn pass_on(
    mut source: tokio::sync::broadcast::Receiver<ringgate_protocol::message::Event>,
    sink: tokio::sync::broadcast::Sender<ringgate_protocol::message::Event>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match source.recv().await {
            // No client registered is fine.
            Ok(event) => {
                let _ = sink.send(event);
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "events were lost on their way to clients");
            }
            Err(RecvError::Closed) => return,
        }
    }
}

async fn run(
    coordinator: &Coordinator,
    tables: Option<&SystemTables>,
    request: ForwardRequest,
) -> Result<Reply, RequestError> {
    let version = request.version;
    let context = ForwardContext {
        keyspace: request.keyspace,
        ..ForwardContext::default()
    };
    let raw = RawRequest {
        opcode: request.opcode,
        version,
        flags: request.flags,
        body: request.body,
    };
    let forwarded = coordinator.forward_raw(raw, &context).await?;
    match &forwarded {
        Forwarded::Raw(raw) => crate::request::trace::replica(raw.node),
        Forwarded::Result(result) => crate::request::trace::replica(result.node),
        Forwarded::Prepared(_) | Forwarded::Use(_) => {}
    }
    Ok(match forwarded {
        Forwarded::Use(keyspace) => use_keyspace(coordinator, keyspace).await,
        Forwarded::Prepared(statement) => {
            let mut prepared = statement.prepared.clone();
            // What older versions do not carry: v5's result metadata id, v4's key indexes.
            // What v5 needs and a v3/v4 cluster does not give: a result metadata id.
            if version < ProtocolVersion::V5 {
                prepared.result_metadata_id = None;
            } else if prepared.result_metadata_id.is_none() {
                prepared.result_metadata_id = Some(result_metadata_id(&prepared));
            }
            if version < ProtocolVersion::V4 {
                prepared.metadata.pk_indexes.clear();
            }
            Reply::Message(Response::Result(ResultBody::Prepared(Box::new(prepared))))
        }
        // A schema read's rows may carry replication to restate: decoded to look.
        Forwarded::Raw(raw) if raw.schema_read && tables.is_some() => {
            let mut result = raw.decode()?;
            if restated(&mut result, tables)? || raw.version != version {
                reencode(result, version)?
            } else {
                passthrough(raw)
            }
        }
        // Same version on both sides: the node's bytes as they came.
        Forwarded::Raw(raw) if raw.version == version => passthrough(raw),
        Forwarded::Raw(raw) => reencode(raw.decode()?, version)?,
        Forwarded::Result(mut result) => {
            if restated(&mut result, tables)? || result.version != version {
                reencode(*result, version)?
            } else {
                Reply::Raw {
                    opcode: Opcode::Result,
                    flags: result.flags,
                    body: result.raw,
                }
            }
        }
    })
}

/// A result metadata id for a v5 client of a statement a v3/v4 cluster prepared (which
/// gives none): a digest of the result's columns, as Cassandra's own is. The client sends it
/// back with each EXECUTE; the cluster, speaking v4, is never asked about it and sends the
/// rows' metadata whenever the client does not ask to skip it.
fn result_metadata_id(prepared: &ringgate_protocol::message::Prepared) -> bytes::Bytes {
    use md5::{Digest, Md5};
    let mut hasher = Md5::new();
    let mut typ = BytesMut::new();
    for column in prepared.result_metadata.columns.iter().flatten() {
        for part in [&column.keyspace, &column.table, &column.name] {
            hasher.update(part.len().to_be_bytes());
            hasher.update(part.as_bytes());
        }
        typ.clear();
        // Every type decoded from the node's answer encodes again.
        let _ = ringgate_protocol::types::put_column_type(&mut typ, &column.typ);
        hasher.update(&typ);
    }
    let digest: [u8; 16] = hasher.finalize().into();
    bytes::Bytes::copy_from_slice(&digest)
}

/// A node's RESULT sent on as it came.
fn passthrough(raw: RawResult) -> Reply {
    Reply::Raw {
        opcode: Opcode::Result,
        flags: raw.flags,
        body: raw.body,
    }
}

/// Restates the replication of `system_schema.keyspaces` rows over the Ringgate nodes
/// `tables` lists; whether the result changed.
fn restated(result: &mut QueryResult, tables: Option<&SystemTables>) -> Result<bool, RequestError> {
    let (Some(tables), ResultBody::Rows(rows)) = (tables, &result.body) else {
        return Ok(false);
    };
    // Ringgate's nodes by datacenter, read only for a result that has the column.
    let datacenters = || {
        let info = tables.info();
        let mut datacenters = super::replication::Datacenters::new();
        for node in std::iter::once(&info.local).chain(&info.peers) {
            *datacenters.entry(node.data_center.clone()).or_default() += 1;
        }
        datacenters
    };
    match super::replication::restate_rows(rows, datacenters, result.version) {
        Ok(Some(rows)) => {
            result.body = ResultBody::Rows(rows);
            Ok(true)
        }
        Ok(None) => Ok(false),
        Err(e) => Err(RequestError::Internal(format!(
            "cannot restate replication: {e}"
        ))),
    }
}

/// USE changes the session's keyspace, never a shared connection's: answered here. A
/// keyspace the view does not know yet (its refresh follows the cluster's events, a moment
/// behind a client that just created it) is looked up on the control node.
async fn use_keyspace(coordinator: &Coordinator, keyspace: String) -> Reply {
    let exists = coordinator.cluster().view().keyspace(&keyspace).is_some()
        || keyspace_exists(coordinator, &keyspace).await;
    if exists {
        Reply::Message(Response::Result(ResultBody::SetKeyspace(keyspace)))
    } else {
        Reply::Message(Response::Error(ErrorResponse::new(
            ErrorDetails::Invalid,
            format!("Keyspace '{keyspace}' does not exist"),
        )))
    }
}

/// Whether the cluster's schema has `keyspace`, read on the control node (the node whose
/// events the view follows, so the view learns of it next).
async fn keyspace_exists(coordinator: &Coordinator, keyspace: &str) -> bool {
    let options = crate::request::RequestOptions {
        consistency: Some(ringgate_protocol::message::Consistency::One),
        node: coordinator.cluster().control_node(),
        idempotent: true,
        ..crate::request::RequestOptions::default()
    };
    let found = coordinator
        .query(
            "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
            vec![ringgate_protocol::types::CqlValue::Text(
                keyspace.to_owned(),
            )],
            &options,
        )
        .await
        .and_then(|result| result.rows());
    matches!(found, Ok(rows) if !rows.is_empty())
}

/// A node's RESULT laid out for a client of another version, with the tracing id, warnings
/// and custom payload it came with (the latter two only from v4 on: v3 has no place for them).
fn reencode(result: QueryResult, version: ProtocolVersion) -> Result<Reply, RequestError> {
    let modern = version >= ProtocolVersion::V4;
    let prefix = ResponsePrefix {
        tracing_id: result.tracing_id,
        warnings: (modern && !result.warnings.is_empty()).then_some(result.warnings),
        custom_payload: result.custom_payload.filter(|_| modern),
    };
    let mut flags = Flags::empty();
    for (present, flag) in [
        (prefix.tracing(), Flags::TRACING),
        (prefix.warning(), Flags::WARNING),
        (prefix.has_custom_payload(), Flags::CUSTOM_PAYLOAD),
    ] {
        if present {
            flags = flags | flag;
        }
    }
    let mut body = BytesMut::new();
    put_response_prefix(&mut body, &prefix)?;
    result.body.encode(version, &mut body)?;
    Ok(Reply::Raw {
        opcode: Opcode::Result,
        flags,
        body: body.freeze(),
    })
}

/// The ERROR a client gets for a failed request.
fn error_reply(error: RequestError) -> Reply {
    let (details, message) = match error {
        RequestError::Server { error, .. } => (error.details, error.message),
        RequestError::UnknownPrepared(id) => (
            ErrorDetails::Unprepared { id: id.clone() },
            format!("Prepared query with ID {id:02x?} not found"),
        ),
        RequestError::Authentication { error, .. } => (error.details, error.message),
        e @ RequestError::Overloaded(_) => (ErrorDetails::Overloaded, e.to_string()),
        RequestError::Invalid(m) => (ErrorDetails::Invalid, m),
        RequestError::Decode(e) => (
            ErrorDetails::ProtocolError,
            format!("cannot decode the request: {e}"),
        ),
        other => (ErrorDetails::ServerError, other.to_string()),
    };
    Reply::Message(Response::Error(ErrorResponse::new(details, message)))
}

/// Checks clients' credentials against the cluster (SASL PLAIN to a node, as the cluster's
/// PasswordAuthenticator asks); the session then runs as that user.
#[derive(Debug, Clone)]
pub struct CoordinatorAuthenticator {
    coordinator: Coordinator,
    users: Arc<DashMap<String, Coordinator>>,
}

impl Authenticator for CoordinatorAuthenticator {
    fn authenticate(
        &self,
        credentials: Credentials,
    ) -> BoxFuture<'static, Result<AuthenticatedUser, AuthFailure>> {
        let coordinator = self.coordinator.clone();
        let users = Arc::clone(&self.users);
        async move {
            match coordinator
                .login(&credentials.username, &credentials.password)
                .await
            {
                Ok(session) => {
                    users.insert(credentials.username.clone(), session);
                    Ok(AuthenticatedUser {
                        user: credentials.username.clone(),
                        backend: Some(credentials),
                    })
                }
                Err(RequestError::Authentication { error, .. }) => {
                    Err(AuthFailure::new(error.message))
                }
                Err(e) => Err(AuthFailure::new(format!("cannot check credentials: {e}"))),
            }
        }
        .boxed()
    }
}

/// The system tables of a Ringgate node at `local` (and its `peers`), with what the cluster
/// reports: its name, partitioner, release version and agreed schema version. A task keeps
/// the schema version current as the cluster's changes; it ends with the coordinator's
/// cluster view.
pub fn system_tables(
    coordinator: &Coordinator,
    local: super::served_tables::RinggateNode,
    peers: Vec<super::served_tables::RinggateNode>,
) -> Result<Arc<SystemTables>, super::served_tables::SystemInfoError> {
    let view = coordinator.cluster().view();
    let mut info = SystemInfo::new(local, view.cluster_name.clone());
    info.peers = peers;
    info.partitioner = view.partitioner.clone();
    if let Some(release) = view.nodes().map(|n| n.release_version.clone()).min() {
        info.release_version = release;
    }
    info.schema_version = view.agreed_schema_version().unwrap_or_default();
    info.gossip_generation = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX))
        .unwrap_or_default();
    let tables = Arc::new(SystemTables::new(info)?);
    let mut views = coordinator.cluster().subscribe();
    let weak = Arc::downgrade(&tables);
    tokio::spawn(async move {
        while views.changed().await.is_ok() {
            let Some(tables) = weak.upgrade() else {
                return;
            };
            if let Some(version) = views.borrow_and_update().agreed_schema_version() {
                tables.set_schema_version(version);
            }
        }
    });
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_prepared_ids_become_unprepared_errors() {
        let id = bytes::Bytes::from_static(&[1, 2]);
        let Reply::Message(Response::Error(e)) =
            error_reply(RequestError::UnknownPrepared(id.clone()))
        else {
            panic!("an error reply")
        };
        assert_eq!(e.details, ErrorDetails::Unprepared { id });
    }

    fn reply_error(error: RequestError) -> ErrorResponse {
        let Reply::Message(Response::Error(e)) = error_reply(error) else {
            panic!("an error reply")
        };
        e
    }

    #[test]
    fn each_failure_gets_the_code_its_type_says() {
        let node: std::net::SocketAddr = "127.0.0.1:9042".parse().unwrap();
        let refused = ErrorResponse::new(
            ErrorDetails::AuthenticationError,
            "Provided username u and/or password are incorrect".to_owned(),
        );
        // The node's refusal reaches the client as the node sent it.
        let e = reply_error(RequestError::Authentication {
            node,
            error: Box::new(refused.clone()),
        });
        assert_eq!(e, refused);
        let e = reply_error(RequestError::Invalid(
            "no value for bind marker a".to_owned(),
        ));
        assert_eq!(e.details, ErrorDetails::Invalid);
        let e = reply_error(RequestError::UnexpectedAnswer {
            node,
            opcode: ringgate_protocol::Opcode::Ready,
            expected: "a RESULT",
        });
        assert_eq!(e.details, ErrorDetails::ServerError);
        assert!(
            e.message.contains("READY") || e.message.contains("Ready"),
            "{}",
            e.message
        );
        let e = reply_error(RequestError::Overloaded(vec![]));
        assert_eq!(e.details, ErrorDetails::Overloaded);
        let e = reply_error(RequestError::NoHostAvailable(vec![]));
        assert_eq!(e.details, ErrorDetails::ServerError);
        assert!(e.message.contains("no host available"), "{}", e.message);
    }
}

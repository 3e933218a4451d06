//! The request API gateways embed: a cheaply cloneable [`Coordinator`] that joins the
//! cluster, routes each request by token to a replica, retries and speculates by policy,
//! re-prepares transparently, and returns typed rows or the raw result.
//!
//! - [`Coordinator::query`], [`Coordinator::prepare`], [`Coordinator::execute`],
//!   [`Coordinator::batch`]: one request each; [`Coordinator::pages`]: a stream of pages.
//! - [`RequestOptions`]: per-request consistency, serial consistency, keyspace, timestamp,
//!   paging, tracing, custom payload, now_in_seconds, timeout and idempotence.
//! - [`Coordinator::login`]: a session whose requests all run as a user of the cluster.

mod batch;
mod cache;
mod error;
mod forward;
mod keyspaced;
mod machine;
mod paging;
mod result;
mod send;
mod statement;
mod text_routing;
pub(crate) mod trace;
mod values;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use ringgate_protocol::message::{
    Consistency, CustomPayload, Execute, Prepare, Query, QueryParameters, Request, Response,
    ResultBody, SerialConsistency,
};

pub use batch::{Batch, BatchType};
pub use error::{NodeError, NodeFailure, RequestError};
pub use forward::{ForwardContext, Forwarded, RawRequest, RawResult};
pub use keyspaced::DEFAULT_KEYSPACE_CONNECTIONS;
pub use paging::{DEFAULT_PAGE_SIZE, Statement};
pub use result::{QueryResult, Row};
pub use statement::PreparedStatement;
pub use values::Values;

use crate::cluster::{Cluster, ClusterConfig, NodeState};
use crate::metrics::Metrics;
use crate::plan::{LoadBalancing, RetryPolicy, SpeculativeExecution};
use crate::pool::{ConnectError, ConnectOptions, Credentials, Health, LoginAs, PoolConfig, Pools};
use cache::PreparedCache;
use send::{Outgoing, Routing, SendError};
use values::Encoded;

/// How to join and talk to the cluster.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// Nodes to join through.
    pub contact_points: Vec<SocketAddr>,
    /// The datacenter requests go to first.
    pub local_dc: Option<String>,
    /// Within the local datacenter, the rack requests go to first.
    pub local_rack: Option<String>,
    /// What to do after a failed attempt.
    pub retry: RetryPolicy,
    /// The coordinator's own credentials, for clusters with authentication.
    pub credentials: Option<Credentials>,
    /// Connections per node.
    pub pool: PoolConfig,
    /// Protocol version, compression, timeouts of connections.
    pub connect: ConnectOptions,
    /// The default timeout of a request.
    pub request_timeout: Duration,
    /// The default timeout of CREATE, ALTER, DROP and TRUNCATE statements (a node may take
    /// many seconds to drop a keyspace full of data).
    pub ddl_timeout: Duration,
    /// The default consistency level.
    pub consistency: Consistency,
    /// After DDL, wait this long at most for the nodes to agree on the schema (`None`: do
    /// not wait). No agreement in time is not an error: the change is applied, and the result
    /// says so ([`QueryResult::schema_in_agreement`]).
    pub schema_agreement_timeout: Option<Duration>,
    /// When to start speculative executions of idempotent requests.
    pub speculative: SpeculativeExecution,
    /// Prepare every cached statement on a node as soon as it comes (back) up, rather than
    /// when it first answers UNPREPARED.
    pub prepare_on_up: bool,
    /// The most keyspace-bound connections kept open: on nodes that speak protocol v3 or v4,
    /// which has no per-request keyspace, a request in a keyspace (a client session's after
    /// its `USE`, or [`RequestOptions::keyspace`]) runs on a connection of that keyspace, one
    /// per node, identity and keyspace (see [`Coordinator::open_keyspace_connections`]).
    pub keyspace_connections: usize,
}

impl CoordinatorConfig {
    /// Defaults, with these contact points.
    pub fn new(contact_points: Vec<SocketAddr>) -> Self {
        CoordinatorConfig {
            contact_points,
            local_dc: None,
            local_rack: None,
            retry: RetryPolicy::Default,
            credentials: None,
            pool: PoolConfig::default(),
            connect: ConnectOptions::default(),
            request_timeout: Duration::from_secs(12),
            ddl_timeout: Duration::from_secs(60),
            consistency: Consistency::LocalQuorum,
            schema_agreement_timeout: Some(Duration::from_secs(10)),
            speculative: SpeculativeExecution::None,
            prepare_on_up: true,
            keyspace_connections: DEFAULT_KEYSPACE_CONNECTIONS,
        }
    }
}

/// Per-request settings; `Default` uses the coordinator's.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// The consistency level.
    pub consistency: Option<Consistency>,
    /// The consistency of a conditional update's Paxos phase (`SERIAL` when not given).
    pub serial_consistency: Option<SerialConsistency>,
    /// Rows per page.
    pub page_size: Option<i32>,
    /// Where to resume paging.
    pub paging_state: Option<bytes::Bytes>,
    /// The keyspace of a statement that does not name one: v5's per-request keyspace, or on
    /// a v3/v4 connection, a connection in that keyspace.
    pub keyspace: Option<String>,
    /// The default timestamp, in microseconds.
    pub timestamp: Option<i64>,
    /// The time "now" for TTLs and tombstones, in seconds (v5; meant for tests).
    pub now_in_seconds: Option<i32>,
    /// Trace the request: the result carries the tracing session id
    /// ([`QueryResult::tracing_id`]), whose events land in `system_traces`.
    pub tracing: bool,
    /// A custom payload for the node's query handler.
    pub custom_payload: Option<CustomPayload>,
    /// The timeout of this request.
    pub timeout: Option<Duration>,
    /// Whether the request may safely run twice: it may then be retried after a timeout and
    /// speculatively executed.
    pub idempotent: bool,
    /// Run on this node first (the load-balancing plan's nodes follow if it fails), e.g. the
    /// control node for schema reads that must agree with the events it sent.
    pub node: Option<SocketAddr>,
}

struct Inner {
    config: CoordinatorConfig,
    cluster: Cluster,
    pools: Arc<Pools>,
    prepared: PreparedCache,
    keyspaced: keyspaced::KeyspaceConnections,
    balancing: LoadBalancing,
    retry: RetryPolicy,
    metrics: Metrics,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.cluster.shutdown();
    }
}

/// The handle a gateway holds. Clone it freely: clones share the cluster view, the pools and
/// the prepared statement cache.
///
/// A handle runs its requests as the coordinator's own identity (its configured credentials,
/// or none); [`Coordinator::login`] gives a handle whose requests run as a user.
#[derive(Clone)]
pub struct Coordinator {
    inner: Arc<Inner>,
    identity: LoginAs,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("cluster", &self.inner.cluster)
            .field("identity", &self.identity)
            .field("prepared", &self.inner.prepared.len())
            .finish()
    }
}

impl Coordinator {
    /// Joins the cluster and opens pools to its nodes.
    pub async fn connect(config: CoordinatorConfig) -> Result<Coordinator, RequestError> {
        let connect = ConnectOptions {
            credentials: config.credentials.clone(),
            ..config.connect.clone()
        };
        let mut cluster_config = ClusterConfig::new(config.contact_points.clone());
        cluster_config.connect = connect.clone();
        let connect_timeout = connect.connect_timeout;
        let cluster = Cluster::connect(cluster_config).await?;
        let pools = Arc::new(Pools::new(connect, config.pool.clone()));
        let link = crate::health::link(&cluster, Arc::clone(&pools));
        // Like a driver's session: return once every up node's pool has connected or failed.
        let waits = cluster
            .view()
            .nodes()
            .filter(|n| n.state == NodeState::Up)
            .filter_map(|n| pools.pool(n.addr, &LoginAs::Service))
            .map(|pool| async move {
                let mut health = pool.watch_health();
                let settled = health.wait_for(|h| *h != Health::Connecting);
                let _ = tokio::time::timeout(connect_timeout, settled).await;
            })
            .collect::<Vec<_>>();
        futures::future::join_all(waits).await;
        let balancing = LoadBalancing::new(config.local_dc.clone(), config.local_rack.clone());
        let retry = config.retry;
        let keyspaced = keyspaced::KeyspaceConnections::new(config.keyspace_connections);
        let inner = Arc::new_cyclic(|weak: &Weak<Inner>| Inner {
            tasks: if config.prepare_on_up {
                vec![
                    link,
                    tokio::spawn(prepare_on_nodes_that_come_up(
                        weak.clone(),
                        cluster.subscribe(),
                    )),
                ]
            } else {
                vec![link]
            },
            config,
            cluster,
            pools,
            prepared: PreparedCache::default(),
            keyspaced,
            balancing,
            retry,
            metrics: Metrics::new(),
        });
        Ok(Coordinator {
            inner,
            identity: LoginAs::Service,
        })
    }

    /// A handle to the same coordinator whose requests all run as `username`: the
    /// credentials are checked against the cluster first (SASL PLAIN, as the cluster's
    /// authenticator asks), then the user's requests go over pools logged in as that user,
    /// so Cassandra applies that user's permissions. Pools are per user and node, shared by
    /// every handle of that user.
    pub async fn login(&self, username: &str, password: &str) -> Result<Coordinator, RequestError> {
        let credentials = Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        let options = ConnectOptions {
            credentials: Some(credentials.clone()),
            ..self.inner.config.connect.clone()
        };
        let view = self.inner.cluster.view();
        let plan = self
            .inner
            .balancing
            .plan(&view, None, self.inner.config.consistency, false);
        let mut failures = Vec::new();
        for &node in plan.as_slice() {
            match crate::pool::connect(node, &options, None).await {
                Ok((conn, _)) => {
                    conn.close("credentials checked");
                    self.inner.pools.register_user(credentials);
                    return Ok(Coordinator {
                        inner: Arc::clone(&self.inner),
                        identity: LoginAs::User(username.into()),
                    });
                }
                Err(ConnectError::Authentication { addr, error }) => {
                    return Err(RequestError::Authentication { node: addr, error });
                }
                Err(e) => failures.push(NodeError {
                    node,
                    failure: NodeFailure::Connect(e),
                }),
            }
        }
        Err(RequestError::NoHostAvailable(failures))
    }

    /// The identity this handle's requests run as.
    pub fn identity(&self) -> &LoginAs {
        &self.identity
    }

    /// The request metrics: per-node latencies and counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The cluster view this coordinator follows.
    pub fn cluster(&self) -> &Cluster {
        &self.inner.cluster
    }

    /// The connection pools to the cluster's nodes (for their counts: connections, stream
    /// ids in flight).
    pub fn pools(&self) -> &Pools {
        &self.inner.pools
    }

    /// The datacenter requests go to first, as configured.
    pub fn local_dc(&self) -> Option<&str> {
        self.inner.config.local_dc.as_deref()
    }

    /// Runs CQL text with values by position or by name (each encoded as the CQL type its
    /// [`ringgate_protocol::types::CqlValue`] variant names; collections need a prepared
    /// statement). A statement that changes the schema returns once the nodes agree on the
    /// new schema, or once [`CoordinatorConfig::schema_agreement_timeout`] passed without
    /// agreement ([`QueryResult::schema_in_agreement`] is then `false`: the change is applied).
    pub async fn query(
        &self,
        cql: &str,
        values: impl Into<Values>,
        options: &RequestOptions,
    ) -> Result<QueryResult, RequestError> {
        let params = match values.into().encode_natural()? {
            Encoded::Positional(v) => self.params(options).with_values(v),
            Encoded::Named(v) => self.params(options).with_named_values(v),
        };
        let plan = text_routing::plan_text(
            &self.inner.cluster.view(),
            cql,
            options.keyspace.as_deref(),
            &params.values,
        );
        if plan.use_keyspace.is_some() {
            return Err(RequestError::Invalid(USE_REFUSED.to_owned()));
        }
        let request = Request::Query(Query::new(cql, params));
        let slow;
        let options = if plan.ddl && options.timeout.is_none() {
            slow = RequestOptions {
                timeout: Some(self.inner.config.ddl_timeout),
                ..options.clone()
            };
            &slow
        } else {
            options
        };
        let answer = self
            .send(
                &Outgoing::new(&request, options),
                Routing::of(&plan.routing),
                options,
                plan.conditional,
            )
            .await?;
        let mut result = QueryResult::decode(&answer)?;
        self.after_schema_change(&mut result).await;
        Ok(result)
    }

    /// After a schema change, waits (as configured) until the nodes agree on the new schema.
    pub(crate) async fn after_schema_change(&self, result: &mut QueryResult) {
        if let ResultBody::SchemaChange(_) = &result.body {
            result.schema_in_agreement = self.await_schema_agreement(result.node).await;
        }
    }

    /// Waits (as configured) until the nodes agree on the schema `node` changed; whether
    /// they did in time. The change is applied either way: a slow agreement is reported,
    /// not an error.
    pub(crate) async fn await_schema_agreement(&self, node: SocketAddr) -> bool {
        let Some(t) = self.inner.config.schema_agreement_timeout else {
            return true;
        };
        // Ask the node that ran the DDL: the control node may lag behind it.
        let conn = self
            .inner
            .pools
            .pool(node, &self.identity)
            .and_then(|pool| pool.connection());
        match self
            .inner
            .cluster
            .wait_for_schema_agreement_on(conn.as_ref(), t)
            .await
        {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(%node, error = %e, "schema change applied, but no agreement");
                false
            }
        }
    }

    /// The statement this coordinator prepared under `id`.
    pub(crate) fn cached_statement(&self, id: &bytes::Bytes) -> Option<Arc<PreparedStatement>> {
        self.inner.prepared.by_id(id)
    }

    /// Prepares `cql` on every up node, so that a request routed to any of them finds it.
    /// Cached: preparing a text this coordinator prepared before costs no round trip. A node
    /// that comes up later gets every cached statement prepared on it; one that lost them
    /// anyway (a restart between two views) answers UNPREPARED, which is healed on the spot —
    /// callers never see it.
    pub async fn prepare(&self, cql: &str) -> Result<Arc<PreparedStatement>, RequestError> {
        self.prepare_statement(None, cql).await
    }

    /// As [`Coordinator::prepare`], for a text whose unqualified table names are in
    /// `keyspace` (v5's per-request keyspace: no `USE`, no connection changes keyspace).
    pub async fn prepare_in(
        &self,
        keyspace: &str,
        cql: &str,
    ) -> Result<Arc<PreparedStatement>, RequestError> {
        self.prepare_statement(Some(keyspace), cql).await
    }

    pub(crate) async fn prepare_statement(
        &self,
        keyspace: Option<&str>,
        cql: &str,
    ) -> Result<Arc<PreparedStatement>, RequestError> {
        if let Some(statement) = self.inner.prepared.by_text(keyspace, cql) {
            return Ok(statement);
        }
        let request = Request::Prepare(prepare_message(keyspace, cql));
        let view = self.inner.cluster.view();
        let nodes: Vec<SocketAddr> = view
            .nodes()
            .filter(|n| n.state == NodeState::Up)
            .map(|n| n.addr)
            .collect();
        let timeout = self.inner.config.request_timeout;
        let out = Outgoing::plain(&request);
        let answers =
            futures::future::join_all(nodes.iter().map(|&node| self.send_to(node, &out, timeout)))
                .await;
        let mut prepared = None;
        let mut refused = None;
        let mut failures = Vec::new();
        for (&node, answer) in nodes.iter().zip(answers) {
            let envelope = match answer {
                Ok(envelope) => envelope,
                Err(SendError::Failed(NodeFailure::Server(error))) => {
                    // Most likely the statement itself is wrong (syntax, unknown table, no
                    // permission): the caller gets the node's own error.
                    refused.get_or_insert(RequestError::Server { node, error });
                    continue;
                }
                Err(SendError::Failed(failure)) => {
                    failures.push(NodeError { node, failure });
                    continue;
                }
                Err(SendError::Fatal(e)) => return Err(e),
            };
            match ringgate_protocol::message::decode_response(&envelope)? {
                (_, Response::Result(ResultBody::Prepared(p))) => {
                    prepared.get_or_insert_with(|| PreparedStatement::new(cql, keyspace, *p));
                }
                (_, other) => {
                    return Err(RequestError::UnexpectedAnswer {
                        node,
                        opcode: other.opcode(),
                        expected: "a PREPARED result",
                    });
                }
            }
        }
        let statement = match (prepared, refused) {
            (Some(p), _) => Arc::new(p),
            (None, Some(error)) => return Err(error),
            (None, None) => return Err(RequestError::NoHostAvailable(failures)),
        };
        self.inner.prepared.insert(Arc::clone(&statement));
        Ok(statement)
    }

    /// Executes a prepared statement with values by position or by marker name, routed by
    /// its partition key.
    pub async fn execute(
        &self,
        statement: &PreparedStatement,
        values: impl Into<Values>,
        options: &RequestOptions,
    ) -> Result<QueryResult, RequestError> {
        if statement.use_keyspace.is_some() {
            return Err(RequestError::Invalid(USE_REFUSED.to_owned()));
        }
        let encoded = values.into().encode_for(statement)?;
        let routing = statement.token(&encoded).map(|token| Routing {
            keyspace: statement.keyspace.as_deref(),
            token,
        });
        let params = self.params(options).with_values(encoded);
        let request = Request::Execute(Execute::new(
            statement.id.clone(),
            statement.result_metadata_id.clone(),
            params,
        ));
        let answer = self
            .send(
                &Outgoing::new(&request, options),
                routing,
                options,
                statement.conditional,
            )
            .await?;
        QueryResult::decode(&answer)
    }

    /// Runs a batch, routed by its first statement's partition key when that statement is
    /// prepared (as drivers do). Paging options do not apply to batches.
    pub async fn batch(
        &self,
        batch: &Batch,
        options: &RequestOptions,
    ) -> Result<QueryResult, RequestError> {
        let encoded = batch.encode()?;
        let request = Request::Batch(ringgate_protocol::message::Batch {
            batch_type: batch.kind(),
            statements: encoded.statements,
            consistency: options.consistency.unwrap_or(self.inner.config.consistency),
            serial_consistency: options.serial_consistency,
            timestamp: options.timestamp,
            keyspace: options.keyspace.clone(),
            now_in_seconds: options.now_in_seconds,
        });
        let answer = self
            .send(
                &Outgoing::new(&request, options),
                Routing::of(&encoded.routing),
                options,
                encoded.conditional,
            )
            .await?;
        QueryResult::decode(&answer)
    }

    fn params(&self, options: &RequestOptions) -> QueryParameters {
        let mut params =
            QueryParameters::new(options.consistency.unwrap_or(self.inner.config.consistency));
        if let Some(n) = options.page_size {
            params = params.with_page_size(n);
        }
        if let Some(state) = &options.paging_state {
            params = params.with_paging_state(state.clone());
        }
        if let Some(serial) = options.serial_consistency {
            params = params.with_serial_consistency(serial);
        }
        if let Some(ks) = &options.keyspace {
            params = params.with_keyspace(ks.clone());
        }
        if let Some(ts) = options.timestamp {
            params = params.with_timestamp(ts);
        }
        if let Some(now) = options.now_in_seconds {
            params = params.with_now_in_seconds(now);
        }
        params
    }
}

/// Prepares every cached statement on each node that comes up (or back up), as soon as its
/// pool connects, so its first requests find them. Ends with the coordinator.
async fn prepare_on_nodes_that_come_up(
    inner: Weak<Inner>,
    mut views: tokio::sync::watch::Receiver<Arc<crate::cluster::ClusterView>>,
) {
    let up = |v: &crate::cluster::ClusterView| -> HashSet<SocketAddr> {
        v.nodes()
            .filter(|n| n.state == NodeState::Up)
            .map(|n| n.addr)
            .collect()
    };
    let mut was_up = up(&views.borrow_and_update());
    while views.changed().await.is_ok() {
        let now_up = up(&views.borrow_and_update());
        let came_up: Vec<SocketAddr> = now_up.difference(&was_up).copied().collect();
        was_up = now_up;
        for node in came_up {
            let Some(inner) = inner.upgrade() else {
                return;
            };
            let coordinator = Coordinator {
                inner,
                identity: LoginAs::Service,
            };
            tokio::spawn(async move { coordinator.prepare_all_on(node).await });
        }
    }
}

impl Coordinator {
    async fn prepare_all_on(&self, node: SocketAddr) {
        let statements = self.inner.prepared.all();
        if statements.is_empty() {
            return;
        }
        let Some(pool) = self.inner.pools.pool(node, &self.identity) else {
            return;
        };
        let mut health = pool.watch_health();
        let connected = health.wait_for(|h| *h == Health::Up);
        if tokio::time::timeout(self.inner.config.request_timeout, connected)
            .await
            .is_err()
        {
            return;
        }
        let timeout = self.inner.config.request_timeout;
        for statement in statements {
            let request = Request::Prepare(prepare_message(
                statement.prepared_in.as_deref(),
                &statement.query,
            ));
            if let Err(e) = self
                .send_to(node, &Outgoing::plain(&request), timeout)
                .await
            {
                let why = match e {
                    SendError::Failed(failure) => failure.to_string(),
                    SendError::Fatal(error) => error.to_string(),
                };
                tracing::debug!(%node, %why, "preparing a cached statement on a node that came up failed");
                return;
            }
        }
    }
}

/// A PREPARE of `cql`, in `keyspace` when given.
pub(crate) fn prepare_message(keyspace: Option<&str>, cql: &str) -> Prepare {
    Prepare {
        query: cql.to_owned(),
        keyspace: keyspace.map(str::to_owned),
    }
}

/// Why the coordinator does not run `USE`.
pub(crate) const USE_REFUSED: &str = "USE would switch the keyspace of connections every \
     session shares: give the keyspace per request (RequestOptions::keyspace) instead";

/// Whether a statement is a conditional update (lightweight transaction): its text has an
/// `IF` clause. Such statements go to replicas in a fixed order, to reduce contention.
pub(crate) fn is_conditional(cql: &str) -> bool {
    crate::cql::tokenize(cql).is_ok_and(|tokens| text_routing::has_if(&tokens))
}

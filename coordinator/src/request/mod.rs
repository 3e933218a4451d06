//! The request API gateways embed: a cheaply cloneable [`Coordinator`] that joins the
//! cluster, routes each request by token to a replica, re-prepares transparently, and returns
//! typed rows or the raw result.

mod error;
mod result;
mod statement;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use dashmap::DashMap;
use ringgate_protocol::frame::{Envelope, Flags};
use ringgate_protocol::message::{
    Consistency, ErrorDetails, ErrorResponse, Execute, Prepare, Query, QueryParameters, Request,
    Response, ResponsePrefix, ResultBody, Value,
};
use ringgate_protocol::types::{CqlValue, encode_value};
use ringgate_routing::murmur3_token;

pub use error::RequestError;
pub use result::{QueryResult, Row};
pub use statement::PreparedStatement;

use crate::cluster::{Cluster, ClusterConfig, NodeState};
use crate::metrics::{Counter, Metrics};
use crate::plan::{Failure, LoadBalancing, RetryContext, RetryDecision, RetryPolicy};
use crate::pool::{
    ConnectOptions, Connection, ConnectionError, Credentials, Identity, PoolConfig, Pools,
};

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
    /// The default consistency level.
    pub consistency: Consistency,
    /// After DDL, wait this long at most for the nodes to agree on the schema.
    pub schema_agreement_timeout: Option<Duration>,
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
            consistency: Consistency::LocalQuorum,
            schema_agreement_timeout: Some(Duration::from_secs(10)),
        }
    }
}

/// Per-request settings; `Default` uses the coordinator's.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// The consistency level.
    pub consistency: Option<Consistency>,
    /// Rows per page.
    pub page_size: Option<i32>,
    /// Where to resume paging.
    pub paging_state: Option<Bytes>,
    /// The keyspace of a statement that does not name one (sent as v5's per-request keyspace).
    pub keyspace: Option<String>,
    /// The default timestamp, in microseconds.
    pub timestamp: Option<i64>,
    /// The timeout of this request.
    pub timeout: Option<Duration>,
    /// Whether the request may safely run twice (retries after timeouts).
    pub idempotent: bool,
}

struct Inner {
    config: CoordinatorConfig,
    cluster: Cluster,
    pools: Arc<Pools>,
    prepared: DashMap<Bytes, Arc<PreparedStatement>>,
    identity: Identity,
    balancing: LoadBalancing,
    retry: RetryPolicy,
    metrics: Metrics,
    link: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.link.abort();
        self.cluster.shutdown();
    }
}

/// The handle a gateway holds. Clone it freely: clones share the cluster view, the pools and
/// the prepared statement cache.
#[derive(Clone)]
pub struct Coordinator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("cluster", &self.inner.cluster)
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
            .filter_map(|n| pools.pool(n.addr, &Identity::Service))
            .map(|pool| async move {
                let mut health = pool.watch_health();
                let settled = health.wait_for(|h| *h != crate::pool::Health::Connecting);
                let _ = tokio::time::timeout(connect_timeout, settled).await;
            })
            .collect::<Vec<_>>();
        futures::future::join_all(waits).await;
        let balancing = LoadBalancing::new(config.local_dc.clone(), config.local_rack.clone());
        let retry = config.retry;
        Ok(Coordinator {
            inner: Arc::new(Inner {
                config,
                cluster,
                pools,
                prepared: DashMap::new(),
                identity: Identity::Service,
                balancing,
                retry,
                metrics: Metrics::new(),
                link,
            }),
        })
    }

    /// The request metrics: per-node latencies and counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The cluster view this coordinator follows.
    pub fn cluster(&self) -> &Cluster {
        &self.inner.cluster
    }

    /// Runs a CQL string with positional values (each encoded as its natural CQL type).
    pub async fn query(
        &self,
        cql: &str,
        values: Vec<CqlValue>,
        options: &RequestOptions,
    ) -> Result<QueryResult, RequestError> {
        let values = values
            .iter()
            .map(natural_value)
            .collect::<Result<Vec<_>, _>>()?;
        let params = self.params(options, values);
        let request = Request::Query(Query::new(cql, params));
        let result = self
            .send(&request, None, options, is_conditional(cql))
            .await?;
        if let ResultBody::SchemaChange(_) = &result.body
            && let Some(t) = self.inner.config.schema_agreement_timeout
        {
            // Ask the node that ran the DDL: the control node may lag behind it.
            let conn = self
                .inner
                .pools
                .pool(result.node, &self.inner.identity)
                .and_then(|pool| pool.connection());
            self.inner
                .cluster
                .wait_for_schema_agreement_on(conn.as_ref(), t)
                .await?;
        }
        Ok(result)
    }

    /// Prepares `cql` (cached: preparing the same text twice costs nothing) on every up node.
    pub async fn prepare(&self, cql: &str) -> Result<Arc<PreparedStatement>, RequestError> {
        let request = Request::Prepare(Prepare::new(cql));
        let view = self.inner.cluster.view();
        let nodes: Vec<SocketAddr> = view
            .nodes()
            .filter(|n| n.state == NodeState::Up)
            .map(|n| n.addr)
            .collect();
        let mut prepared = None;
        let mut failures = Vec::new();
        for node in nodes {
            match self
                .send_to(node, &request, self.inner.config.request_timeout)
                .await
            {
                Ok((_, _, Response::Result(ResultBody::Prepared(p)))) => {
                    prepared.get_or_insert_with(|| PreparedStatement::new(cql, *p));
                }
                Ok((_, _, other)) => {
                    failures.push((node, format!("unexpected {:?}", other.opcode())))
                }
                Err(e) => failures.push(AttemptFailure::from_attempt(node, e).describe()),
            }
        }
        let statement = Arc::new(prepared.ok_or(RequestError::NoHostAvailable(failures))?);
        self.inner
            .prepared
            .insert(statement.id.clone(), Arc::clone(&statement));
        Ok(statement)
    }

    /// Executes a prepared statement with positional values, routed by its partition key.
    pub async fn execute(
        &self,
        statement: &PreparedStatement,
        values: Vec<Option<CqlValue>>,
        options: &RequestOptions,
    ) -> Result<QueryResult, RequestError> {
        let encoded = statement.encode_values(&values)?;
        let routing = statement
            .routing_key(&encoded)
            .map(|key| (statement.keyspace.clone(), murmur3_token(&key)));
        let params = self.params(options, encoded);
        let request = Request::Execute(Execute::new(
            statement.id.clone(),
            statement.result_metadata_id.clone(),
            params,
        ));
        self.send(&request, routing, options, statement.conditional)
            .await
    }

    fn params(&self, options: &RequestOptions, values: Vec<Value>) -> QueryParameters {
        let mut params =
            QueryParameters::new(options.consistency.unwrap_or(self.inner.config.consistency))
                .with_values(values);
        if let Some(n) = options.page_size {
            params = params.with_page_size(n);
        }
        if let Some(state) = &options.paging_state {
            params = params.with_paging_state(state.clone());
        }
        if let Some(ks) = &options.keyspace {
            params = params.with_keyspace(ks.clone());
        }
        if let Some(ts) = options.timestamp {
            params = params.with_timestamp(ts);
        }
        params
    }

    /// Sends `request` along the load-balancing plan; failures go to the retry policy
    /// (same node, next node, or the caller), UNPREPARED is healed by re-preparing on that
    /// node once, and every attempt is measured.
    async fn send(
        &self,
        request: &Request,
        routing: Option<(Option<String>, i64)>,
        options: &RequestOptions,
        lwt: bool,
    ) -> Result<QueryResult, RequestError> {
        let inner = &self.inner;
        inner.metrics.increment(Counter::Requests);
        let result = self.run_plan(request, routing, options, lwt).await;
        if result.is_err() {
            inner.metrics.increment(Counter::Errors);
        }
        result
    }

    async fn run_plan(
        &self,
        request: &Request,
        routing: Option<(Option<String>, i64)>,
        options: &RequestOptions,
        lwt: bool,
    ) -> Result<QueryResult, RequestError> {
        let inner = &self.inner;
        let timeout = options.timeout.unwrap_or(inner.config.request_timeout);
        let consistency = options.consistency.unwrap_or(inner.config.consistency);
        let view = inner.cluster.view();
        let placement = routing
            .and_then(|(keyspace, token)| Some((view.placement(keyspace.as_deref()?)?, token)));
        let plan = inner.balancing.plan(&view, placement, consistency, lwt);
        let mut failures = Vec::new();
        let mut retries = 0u32;
        let mut reprepared = false;
        let mut nodes = plan.as_slice().iter().copied();
        let mut next = nodes.next();
        while let Some(node) = next {
            let started = std::time::Instant::now();
            let attempt = self.send_to(node, request, timeout).await;
            let failure = match attempt {
                Ok((envelope, prefix, Response::Result(body))) => {
                    inner.metrics.record_latency(node, started.elapsed());
                    return Ok(QueryResult::new(node, &envelope, prefix, body));
                }
                Ok((_, _, other)) => {
                    return Err(RequestError::Invalid(format!(
                        "{node} answered {:?} to {:?}",
                        other.opcode(),
                        request.opcode()
                    )));
                }
                Err(Attempt::Server(error)) => {
                    inner.metrics.record_latency(node, started.elapsed());
                    if let ErrorDetails::Unprepared { id } = &error.details
                        && !reprepared
                    {
                        inner.metrics.increment(Counter::Reprepares);
                        self.reprepare(node, id, timeout).await?;
                        reprepared = true;
                        continue;
                    }
                    inner.metrics.record_node_error(node);
                    AttemptFailure::Server(node, error)
                }
                Err(Attempt::Timeout(after)) => {
                    inner.metrics.increment(Counter::Timeouts);
                    AttemptFailure::Timeout(node, after)
                }
                Err(Attempt::NotSent(why)) => AttemptFailure::Broken(node, why, false),
                Err(Attempt::Broken(why)) => AttemptFailure::Broken(node, why, true),
                Err(Attempt::Fatal(e)) => return Err(e),
            };
            let ctx = RetryContext {
                failure: failure.as_policy_failure(),
                idempotent: options.idempotent,
                retries,
            };
            match inner.retry.decide(&ctx) {
                RetryDecision::RetrySameNode => {}
                RetryDecision::TryNextNode => {
                    failures.push(failure.describe());
                    next = nodes.next();
                }
                RetryDecision::ReturnError => return Err(failure.into_error()),
            }
            retries += 1;
            if next.is_some() {
                inner.metrics.increment(Counter::Retries);
            }
        }
        Err(RequestError::NoHostAvailable(failures))
    }

    /// Prepares the statement behind `id` again on `node` (its cache lost it, e.g. after a
    /// restart).
    async fn reprepare(
        &self,
        node: SocketAddr,
        id: &Bytes,
        timeout: Duration,
    ) -> Result<(), RequestError> {
        let statement = self
            .inner
            .prepared
            .get(id)
            .map(|s| Arc::clone(&s))
            .ok_or_else(|| {
                RequestError::Invalid("UNPREPARED for a statement never prepared here".to_owned())
            })?;
        let request = Request::Prepare(Prepare::new(statement.query.clone()));
        match self.send_to(node, &request, timeout).await {
            Ok((_, _, Response::Result(ResultBody::Prepared(_)))) => Ok(()),
            Ok((_, _, other)) => Err(RequestError::Invalid(format!(
                "re-prepare answered {:?}",
                other.opcode()
            ))),
            Err(e) => Err(AttemptFailure::from_attempt(node, e).into_error()),
        }
    }

    /// One request on one node: a connection from its pool, encode, send, decode.
    async fn send_to(
        &self,
        node: SocketAddr,
        request: &Request,
        timeout: Duration,
    ) -> Result<(Envelope, ResponsePrefix, Response), Attempt> {
        let pool = self
            .inner
            .pools
            .pool(node, &self.inner.identity)
            .ok_or_else(|| Attempt::NotSent("no pool for this identity".to_owned()))?;
        let conn: Connection = pool
            .connection()
            .ok_or_else(|| Attempt::NotSent(format!("no open connection ({:?})", pool.health())))?;
        let version = conn.version();
        let mut body = BytesMut::new();
        request
            .encode(version, &mut body)
            .map_err(|e| Attempt::Fatal(e.into()))?;
        let envelope = conn
            .request(request.opcode(), Flags::empty(), body.freeze(), timeout)
            .await
            .map_err(|e| match e {
                ConnectionError::Timeout { after, .. } => Attempt::Timeout(after),
                other => Attempt::Broken(other.to_string()),
            })?;
        match crate::pool::decode_response(&envelope, version) {
            Ok((_, Response::Error(error))) => Err(Attempt::Server(Box::new(error))),
            Ok((prefix, response)) => Ok((envelope, prefix, response)),
            Err(e) => Err(Attempt::Fatal(e.into())),
        }
    }
}

/// How one attempt on one node failed.
enum Attempt {
    /// The node answered with an error.
    Server(Box<ErrorResponse>),
    /// No answer in time.
    Timeout(Duration),
    /// The request surely did not reach the node (no connection to it).
    NotSent(String),
    /// The connection failed with the request possibly sent.
    Broken(String),
    /// Not the node's fault: encoding or decoding failed; no retry helps.
    Fatal(RequestError),
}

/// A failed attempt, with the node, as the retry policy and the caller see it.
enum AttemptFailure {
    Server(SocketAddr, Box<ErrorResponse>),
    Timeout(SocketAddr, Duration),
    Broken(SocketAddr, String, bool),
    Fatal(RequestError),
}

impl AttemptFailure {
    fn from_attempt(node: SocketAddr, attempt: Attempt) -> Self {
        match attempt {
            Attempt::Server(e) => AttemptFailure::Server(node, e),
            Attempt::Timeout(after) => AttemptFailure::Timeout(node, after),
            Attempt::NotSent(why) => AttemptFailure::Broken(node, why, false),
            Attempt::Broken(why) => AttemptFailure::Broken(node, why, true),
            Attempt::Fatal(e) => AttemptFailure::Fatal(e),
        }
    }

    fn as_policy_failure(&self) -> Failure<'_> {
        match self {
            AttemptFailure::Server(_, e) => Failure::Server(&e.details),
            AttemptFailure::Timeout(..) => Failure::ClientTimeout,
            AttemptFailure::Broken(_, _, written) => {
                Failure::ConnectionBroken { written: *written }
            }
            // Never reached: fatal failures return before the policy is asked.
            AttemptFailure::Fatal(_) => Failure::ConnectionBroken { written: true },
        }
    }

    fn describe(&self) -> (SocketAddr, String) {
        match self {
            AttemptFailure::Server(node, e) => (
                *node,
                format!("error {:#06x}: {}", e.details.code(), e.message),
            ),
            AttemptFailure::Timeout(node, after) => (*node, format!("no answer within {after:?}")),
            AttemptFailure::Broken(node, why, _) => (*node, why.clone()),
            AttemptFailure::Fatal(e) => (SocketAddr::from(([0, 0, 0, 0], 0)), e.to_string()),
        }
    }

    fn into_error(self) -> RequestError {
        match self {
            AttemptFailure::Server(node, error) => RequestError::Server { node, error },
            AttemptFailure::Timeout(_, after) => RequestError::Timeout { after },
            AttemptFailure::Broken(node, why, _) => {
                RequestError::NoHostAvailable(vec![(node, why)])
            }
            AttemptFailure::Fatal(e) => e,
        }
    }
}

/// A value encoded as the CQL type its variant names (for statements that are not prepared).
fn natural_value(v: &CqlValue) -> Result<Value, RequestError> {
    use ringgate_protocol::types::ColumnType as T;
    let t = match v {
        CqlValue::Empty => return Ok(Value::Bytes(Bytes::new())),
        CqlValue::Ascii(_) => T::Ascii,
        CqlValue::Bigint(_) => T::Bigint,
        CqlValue::Blob(_) => T::Blob,
        CqlValue::Boolean(_) => T::Boolean,
        CqlValue::Counter(_) => T::Counter,
        CqlValue::Decimal(_) => T::Decimal,
        CqlValue::Double(_) => T::Double,
        CqlValue::Float(_) => T::Float,
        CqlValue::Int(_) => T::Int,
        CqlValue::Timestamp(_) => T::Timestamp,
        CqlValue::Uuid(_) => T::Uuid,
        CqlValue::Text(_) => T::Varchar,
        CqlValue::Varint(_) => T::Varint,
        CqlValue::Timeuuid(_) => T::Timeuuid,
        CqlValue::Inet(_) => T::Inet,
        CqlValue::Date(_) => T::Date,
        CqlValue::Time(_) => T::Time,
        CqlValue::Smallint(_) => T::Smallint,
        CqlValue::Tinyint(_) => T::Tinyint,
        CqlValue::Duration(_) => T::Duration,
        _ => {
            return Err(RequestError::Invalid(
                "collections, tuples, UDTs and vectors need a prepared statement (their type is not implied by the value)".to_owned(),
            ));
        }
    };
    let mut buf = BytesMut::new();
    encode_value(&t, v, &mut buf)?;
    Ok(Value::Bytes(buf.freeze()))
}

/// Whether a statement is a conditional update (lightweight transaction): its text has an
/// `IF` clause. Such statements go to replicas in a fixed order, to reduce contention.
pub(crate) fn is_conditional(cql: &str) -> bool {
    crate::cql::tokenize(cql)
        .map(|tokens| {
            tokens
                .iter()
                .any(|t| *t == crate::cql::Token::Word("if".to_owned()))
        })
        .unwrap_or(false)
}

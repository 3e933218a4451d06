//! Running one request along its query plan: attempts on nodes, UNPREPARED healed on the
//! node that lost the statement, the retry policy's decisions, and speculative executions.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use ringgate_protocol::frame::{Envelope, Flags};
use ringgate_protocol::message::{
    CustomPayload, ErrorDetails, ErrorResponse, Request, Response, ResponsePrefix, ResultBody,
    put_request_prefix, split_request_body,
};
use ringgate_protocol::{Opcode, ProtocolVersion};
use tokio::time::Instant;

use super::{Coordinator, QueryResult, RequestError, RequestOptions, keyspaced};
use crate::metrics::Counter;
use crate::plan::{Failure, RetryContext, RetryDecision};
use crate::pool::ConnectionError;

/// A request as it goes on the wire: the message and the envelope's extras.
pub(crate) struct Outgoing<'a> {
    pub(crate) message: Message<'a>,
    pub(crate) tracing: bool,
    pub(crate) payload: Option<&'a CustomPayload>,
}

/// What an [`Outgoing`] sends.
#[derive(Clone, Copy)]
pub(crate) enum Message<'a> {
    /// A message, encoded for each connection's version.
    Typed(&'a Request),
    /// A client's body, sent as it came on connections of its version (its own flags carry
    /// tracing and custom payload); decoded and encoded again for connections of another.
    Raw(&'a RawRequest),
}

impl Message<'_> {
    fn opcode(&self) -> Opcode {
        match self {
            Message::Typed(request) => request.opcode(),
            Message::Raw(raw) => raw.opcode,
        }
    }
}

/// A request body as a client sent it, for passthrough.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// The message.
    pub opcode: Opcode,
    /// The protocol version the body is laid out for.
    pub version: ProtocolVersion,
    /// The envelope flags (tracing, custom payload), compression cleared.
    pub flags: Flags,
    /// The body, custom payload prefix (when flagged) included.
    pub body: Bytes,
}

impl<'a> Outgoing<'a> {
    pub(crate) fn new(request: &'a Request, options: &'a RequestOptions) -> Self {
        Outgoing {
            message: Message::Typed(request),
            tracing: options.tracing,
            payload: options.custom_payload.as_ref(),
        }
    }

    /// A request with no tracing and no custom payload.
    pub(crate) fn plain(request: &'a Request) -> Self {
        Outgoing {
            message: Message::Typed(request),
            tracing: false,
            payload: None,
        }
    }

    /// A client's body as it came.
    pub(crate) fn raw(raw: &'a RawRequest) -> Self {
        Outgoing {
            message: Message::Raw(raw),
            tracing: false,
            payload: None,
        }
    }
}

/// How one attempt on one node failed.
pub(crate) enum Attempt {
    /// The node answered with an error.
    Server(Box<ErrorResponse>),
    /// No answer in time.
    Timeout(Duration),
    /// The request surely did not reach the node (no connection to it).
    NotSent(String),
    /// The node's connections had no free stream id in time: never sent.
    Busy(Duration),
    /// The connection failed with the request possibly sent.
    Broken(String),
    /// Not the node's fault: encoding or decoding failed; no retry helps.
    Fatal(RequestError),
}

type Answer = (Envelope, ResponsePrefix, Response);

/// An attempt's outcome with the node it ran on and when it started.
type Finished = (SocketAddr, Instant, Result<Answer, Attempt>);

impl Coordinator {
    /// Sends a request along the load-balancing plan; failures go to the retry policy
    /// (same node, next node, or the caller), idempotent requests may be speculatively
    /// executed on the next node, and every attempt is measured.
    pub(crate) async fn send(
        &self,
        out: &Outgoing<'_>,
        routing: Option<(Option<String>, i64)>,
        options: &RequestOptions,
        lwt: bool,
    ) -> Result<QueryResult, RequestError> {
        let metrics = &self.inner.metrics;
        metrics.increment(Counter::Requests);
        let result = self.run_plan(out, routing, options, lwt).await;
        if result.is_err() {
            metrics.increment(Counter::Errors);
        }
        result
    }

    async fn run_plan(
        &self,
        out: &Outgoing<'_>,
        routing: Option<(Option<String>, i64)>,
        options: &RequestOptions,
        lwt: bool,
    ) -> Result<QueryResult, RequestError> {
        let inner = &self.inner;
        let timeout = options.timeout.unwrap_or(inner.config.request_timeout);
        let consistency = options.consistency.unwrap_or(inner.config.consistency);
        // A LOCAL_SERIAL condition keeps an LWT in the local datacenter like LOCAL_QUORUM.
        let consistency = match options.serial_consistency {
            Some(ringgate_protocol::message::SerialConsistency::LocalSerial) if lwt => {
                ringgate_protocol::message::Consistency::LocalSerial
            }
            _ => consistency,
        };
        let view = inner.cluster.view();
        let placement = routing
            .and_then(|(keyspace, token)| Some((view.placement(keyspace.as_deref()?)?, token)));
        let plan = inner.balancing.plan(&view, placement, consistency, lwt);
        let first = options.node;
        let mut nodes = first.into_iter().chain(
            plan.as_slice()
                .iter()
                .copied()
                .filter(move |n| Some(*n) != first),
        );
        let speculative = inner.config.speculative;
        let may_speculate = options.idempotent;

        let launch = |node: SocketAddr| -> Pin<Box<dyn Future<Output = Finished> + Send + '_>> {
            Box::pin(async move {
                let started = Instant::now();
                (node, started, self.attempt(node, out, timeout).await)
            })
        };
        let mut running = FuturesUnordered::new();
        let mut failures = Vec::new();
        let mut retries = 0u32;
        let mut speculated = 0u32;
        let mut held_error: Option<RequestError> = None;
        // Whether every failed attempt found its node without a free stream id.
        let mut all_busy = true;
        let Some(first) = nodes.next() else {
            return Err(RequestError::NoHostAvailable(failures));
        };
        running.push(launch(first));
        let mut newest = first;
        let mut next_speculation = may_speculate
            .then(|| speculative.next_delay(&inner.metrics.node(first), 0))
            .flatten()
            .map(|d| Instant::now() + d);

        loop {
            // A speculative execution that is due starts before anything else is awaited: a
            // zero delay means at once, even when the first answer is already in.
            if next_speculation.is_some_and(|at| at <= Instant::now()) {
                next_speculation = None;
                if let Some(node) = nodes.next() {
                    inner.metrics.increment(Counter::SpeculativeExecutions);
                    speculated += 1;
                    running.push(launch(node));
                    newest = node;
                    next_speculation = speculative
                        .next_delay(&inner.metrics.node(newest), speculated)
                        .map(|d| Instant::now() + d);
                }
                continue;
            }
            let finished = match next_speculation {
                Some(at) => tokio::select! {
                    f = running.next() => f,
                    () = tokio::time::sleep_until(at) => continue,
                },
                None => running.next().await,
            };
            let Some((node, started, attempt)) = finished else {
                // Every execution failed and the plan is exhausted.
                return Err(held_error.unwrap_or(if all_busy && !failures.is_empty() {
                    RequestError::Overloaded(failures)
                } else {
                    RequestError::NoHostAvailable(failures)
                }));
            };
            let failure = match attempt {
                Ok((envelope, prefix, Response::Result(body))) => {
                    inner.metrics.record_latency(node, started.elapsed());
                    return Ok(QueryResult::new(node, &envelope, prefix, body));
                }
                Ok((_, _, other)) => {
                    return Err(RequestError::Invalid(format!(
                        "{node} answered {:?} to {:?}",
                        other.opcode(),
                        out.message.opcode()
                    )));
                }
                Err(Attempt::Server(error)) => {
                    inner.metrics.record_latency(node, started.elapsed());
                    inner.metrics.record_node_error(node);
                    AttemptFailure::Server(node, error)
                }
                Err(Attempt::Timeout(after)) => {
                    inner.metrics.increment(Counter::Timeouts);
                    AttemptFailure::Timeout(node, after)
                }
                Err(Attempt::NotSent(why)) => AttemptFailure::Broken(node, why, false),
                Err(Attempt::Busy(after)) => AttemptFailure::Busy(node, after),
                Err(Attempt::Broken(why)) => AttemptFailure::Broken(node, why, true),
                Err(Attempt::Fatal(e)) => return Err(e),
            };
            all_busy &= matches!(failure, AttemptFailure::Busy(..));
            let ctx = RetryContext {
                failure: failure.as_policy_failure(),
                idempotent: options.idempotent,
                retries,
            };
            retries += 1;
            match inner.retry.decide(&ctx) {
                RetryDecision::RetrySameNode => {
                    inner.metrics.increment(Counter::Retries);
                    running.push(launch(node));
                }
                RetryDecision::TryNextNode => {
                    failures.push(failure.describe());
                    if let Some(next) = nodes.next() {
                        inner.metrics.increment(Counter::Retries);
                        running.push(launch(next));
                        newest = next;
                    }
                }
                RetryDecision::ReturnError => {
                    let error = failure.into_error();
                    if running.is_empty() {
                        return Err(error);
                    }
                    // A speculative execution still runs and may yet succeed.
                    held_error.get_or_insert(error);
                }
            }
            if next_speculation.is_none() && may_speculate && !running.is_empty() {
                next_speculation = speculative
                    .next_delay(&inner.metrics.node(newest), speculated)
                    .map(|d| Instant::now() + d);
            }
        }
    }

    /// One attempt on one node; an UNPREPARED answer is healed there (the statement is
    /// prepared again on that node, then sent once more).
    async fn attempt(
        &self,
        node: SocketAddr,
        out: &Outgoing<'_>,
        timeout: Duration,
    ) -> Result<Answer, Attempt> {
        match self.send_to(node, out, timeout).await {
            Err(Attempt::Server(error)) => {
                let ErrorDetails::Unprepared { id } = &error.details else {
                    return Err(Attempt::Server(error));
                };
                self.inner.metrics.increment(Counter::Reprepares);
                self.reprepare(node, id, timeout).await?;
                self.send_to(node, out, timeout).await
            }
            other => other,
        }
    }

    /// Prepares the statement behind `id` again on `node` (its cache lost it, e.g. after a
    /// restart).
    pub(crate) async fn reprepare(
        &self,
        node: SocketAddr,
        id: &Bytes,
        timeout: Duration,
    ) -> Result<(), Attempt> {
        let statement = self.inner.prepared.by_id(id).ok_or_else(|| {
            Attempt::Fatal(RequestError::Invalid(
                "UNPREPARED for a statement never prepared here".to_owned(),
            ))
        })?;
        let request = Request::Prepare(super::prepare_message(
            statement.prepared_in.as_deref(),
            &statement.query,
        ));
        match self
            .send_to(node, &Outgoing::plain(&request), timeout)
            .await?
        {
            (_, _, Response::Result(ResultBody::Prepared(_))) => Ok(()),
            (_, _, other) => Err(Attempt::Fatal(RequestError::Invalid(format!(
                "re-prepare answered {:?}",
                other.opcode()
            )))),
        }
    }

    /// One request on one node: a connection from its pool, encode, send, decode.
    pub(crate) async fn send_to(
        &self,
        node: SocketAddr,
        out: &Outgoing<'_>,
        timeout: Duration,
    ) -> Result<Answer, Attempt> {
        let pool = self
            .inner
            .pools
            .pool(node, &self.identity)
            .ok_or_else(|| Attempt::NotSent("no pool for this identity".to_owned()))?;
        let conn = pool
            .ready_connection(timeout)
            .await
            .ok_or_else(|| Attempt::NotSent(format!("no open connection ({:?})", pool.health())))?;
        let version = conn.version();
        // A keyspace to run in on a connection bound to it (v3/v4 carry none; DESCRIBE reads
        // the connection's): see `keyspaced`.
        let mut keyspace = None;
        let (opcode, flags, body) = match out.message {
            Message::Raw(raw) if raw.version == version => {
                (raw.opcode, raw.flags, raw.body.clone())
            }
            Message::Raw(raw) => {
                let (mut request, payload) = self.adapt(raw, version).map_err(Attempt::Fatal)?;
                keyspace = keyspaced::fit(&mut request, version);
                let tracing = raw.flags.contains(Flags::TRACING);
                encode(&request, tracing, payload.as_ref(), version).map_err(Attempt::Fatal)?
            }
            Message::Typed(request) if keyspaced::needs_fitting(request, version) => {
                let mut request = request.clone();
                keyspace = keyspaced::fit(&mut request, version);
                encode(&request, out.tracing, out.payload, version).map_err(Attempt::Fatal)?
            }
            Message::Typed(request) => {
                encode(request, out.tracing, out.payload, version).map_err(Attempt::Fatal)?
            }
        };
        let conn = match keyspace {
            Some(keyspace) => self.keyspace_connection(node, &keyspace, timeout).await?,
            None => conn,
        };
        let envelope = conn
            .request(opcode, flags, body, timeout)
            .await
            .map_err(|e| match e {
                ConnectionError::Timeout { after, .. } => Attempt::Timeout(after),
                ConnectionError::Busy { after, .. } => Attempt::Busy(after),
                other => Attempt::Broken(other.to_string()),
            })?;
        match crate::pool::decode_response(&envelope, version) {
            Ok((_, Response::Error(error))) => Err(Attempt::Server(Box::new(error))),
            Ok((prefix, response)) => Ok((envelope, prefix, response)),
            Err(e) => Err(Attempt::Fatal(e.into())),
        }
    }
}

impl Coordinator {
    /// A client's body decoded for a connection of another version than the client's, with
    /// what that version needs and the client's did not carry (v5's result metadata id).
    fn adapt(
        &self,
        raw: &RawRequest,
        version: ProtocolVersion,
    ) -> Result<(Request, Option<CustomPayload>), RequestError> {
        let (payload, body) =
            split_request_body(&raw.body, raw.flags.contains(Flags::CUSTOM_PAYLOAD))?;
        let mut request = Request::decode(raw.opcode, &body, raw.version)?;
        if let Request::Execute(execute) = &mut request
            && version >= ProtocolVersion::V5
            && execute.result_metadata_id.is_none()
        {
            execute.result_metadata_id = self
                .cached_statement(&execute.id)
                .and_then(|s| s.result_metadata_id.clone());
        }
        Ok((request, payload))
    }
}

/// `request` encoded for `version`: its opcode, envelope flags and body.
fn encode(
    request: &Request,
    tracing: bool,
    payload: Option<&CustomPayload>,
    version: ProtocolVersion,
) -> Result<(Opcode, Flags, Bytes), RequestError> {
    let mut body = BytesMut::new();
    let mut flags = Flags::empty();
    if let Some(payload) = payload {
        put_request_prefix(&mut body, payload)?;
        flags = flags | Flags::CUSTOM_PAYLOAD;
    }
    if tracing {
        flags = flags | Flags::TRACING;
    }
    request.encode(version, &mut body)?;
    Ok((request.opcode(), flags, body.freeze()))
}

/// A failed attempt, with the node, as the retry policy and the caller see it.
pub(crate) enum AttemptFailure {
    Server(SocketAddr, Box<ErrorResponse>),
    Timeout(SocketAddr, Duration),
    Busy(SocketAddr, Duration),
    Broken(SocketAddr, String, bool),
    Fatal(RequestError),
}

impl AttemptFailure {
    pub(crate) fn from_attempt(node: SocketAddr, attempt: Attempt) -> Self {
        match attempt {
            Attempt::Server(e) => AttemptFailure::Server(node, e),
            Attempt::Timeout(after) => AttemptFailure::Timeout(node, after),
            Attempt::NotSent(why) => AttemptFailure::Broken(node, why, false),
            Attempt::Busy(after) => AttemptFailure::Busy(node, after),
            Attempt::Broken(why) => AttemptFailure::Broken(node, why, true),
            Attempt::Fatal(e) => AttemptFailure::Fatal(e),
        }
    }

    fn as_policy_failure(&self) -> Failure<'_> {
        match self {
            AttemptFailure::Server(_, e) => Failure::Server(&e.details),
            AttemptFailure::Timeout(..) => Failure::ClientTimeout,
            // Never sent: as safe to try elsewhere as a connection that was not there.
            AttemptFailure::Busy(..) => Failure::ConnectionBroken { written: false },
            AttemptFailure::Broken(_, _, written) => {
                Failure::ConnectionBroken { written: *written }
            }
            // Never reached: fatal failures return before the policy is asked.
            AttemptFailure::Fatal(_) => Failure::ConnectionBroken { written: true },
        }
    }

    pub(crate) fn describe(&self) -> (SocketAddr, String) {
        match self {
            AttemptFailure::Server(node, e) => (
                *node,
                format!("error {:#06x}: {}", e.details.code(), e.message),
            ),
            AttemptFailure::Timeout(node, after) => (*node, format!("no answer within {after:?}")),
            AttemptFailure::Busy(node, after) => {
                (*node, format!("no free stream id within {after:?}"))
            }
            AttemptFailure::Broken(node, why, _) => (*node, why.clone()),
            AttemptFailure::Fatal(e) => (SocketAddr::from(([0, 0, 0, 0], 0)), e.to_string()),
        }
    }

    pub(crate) fn into_error(self) -> RequestError {
        match self {
            AttemptFailure::Server(node, error) => RequestError::Server { node, error },
            AttemptFailure::Timeout(_, after) => RequestError::Timeout { after },
            busy @ AttemptFailure::Busy(..) => RequestError::Overloaded(vec![busy.describe()]),
            AttemptFailure::Broken(node, why, _) => {
                RequestError::NoHostAvailable(vec![(node, why)])
            }
            AttemptFailure::Fatal(e) => e,
        }
    }
}

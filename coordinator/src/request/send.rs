//! Running one request along its query plan: the shell around the [`RequestLoop`], which
//! decides; here attempts are sent to nodes, UNPREPARED is healed by preparing again, and
//! speculative executions run side by side.

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use ringgate_protocol::frame::{Envelope, Flags};
use ringgate_protocol::message::{
    CustomPayload, Request, Response, ResultBody, put_request_prefix, split_request_body,
};
use ringgate_protocol::{Opcode, ProtocolVersion};
use tokio::time::Instant;

use super::error::NodeFailure;
use super::machine::{Action, AttemptId, Reason, RequestLoop, Speculation};
use super::{Coordinator, RequestError, RequestOptions, keyspaced};
use crate::metrics::Counter;
use crate::plan::SpeculativeExecution;
use crate::pool::ConnectionError;
use ringgate_protocol::message::decode_response;

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

/// Where a request goes: the keyspace whose replication places it, and its partition key's
/// token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Routing<'a> {
    /// The keyspace, when known.
    pub(crate) keyspace: Option<&'a str>,
    /// The token.
    pub(crate) token: i64,
}

impl<'a> Routing<'a> {
    /// The routing an owned (keyspace, token) pair describes.
    pub(crate) fn of(owned: &'a Option<(Option<String>, i64)>) -> Option<Self> {
        owned.as_ref().map(|(keyspace, token)| Routing {
            keyspace: keyspace.as_deref(),
            token: *token,
        })
    }
}

/// A node's answer that is not an ERROR, as it came.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// The node that answered.
    pub(crate) node: SocketAddr,
    /// Its envelope (compression undone).
    pub(crate) envelope: Envelope,
}

/// Why one send to one node did not bring an answer.
pub(crate) enum SendError {
    /// The node failed it: the retry policy decides what next.
    Failed(NodeFailure),
    /// Not the node's fault (encoding, decoding): no retry helps.
    Fatal(RequestError),
}

/// Speculation delays from the coordinator's policy and its nodes' latencies.
struct NodeSpeculation<'a> {
    policy: SpeculativeExecution,
    metrics: &'a crate::metrics::Metrics,
}

impl Speculation for NodeSpeculation<'_> {
    fn delay(&self, node: SocketAddr, started: u32) -> Option<Duration> {
        if self.policy == SpeculativeExecution::None {
            return None;
        }
        self.policy.next_delay(&self.metrics.node(node), started)
    }
}

/// What a running attempt (or re-prepare) of a speculated request reports.
enum Event {
    Attempt {
        attempt: AttemptId,
        node: SocketAddr,
        started: Instant,
        outcome: Result<Envelope, SendError>,
    },
    Reprepared {
        attempt: AttemptId,
        outcome: Result<(), SendError>,
    },
}

impl Coordinator {
    /// Sends a request along the load-balancing plan; the [`RequestLoop`] decides on
    /// failures (same node, next node, or the caller) and speculative executions, and every
    /// attempt is measured.
    pub(crate) async fn send(
        &self,
        out: &Outgoing<'_>,
        routing: Option<Routing<'_>>,
        options: &RequestOptions,
        lwt: bool,
    ) -> Result<Answer, RequestError> {
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
        routing: Option<Routing<'_>>,
        options: &RequestOptions,
        lwt: bool,
    ) -> Result<Answer, RequestError> {
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
        let placement = routing.and_then(|r| Some((view.placement(r.keyspace?)?, r.token)));
        let plan = inner.balancing.plan(&view, placement, consistency, lwt);
        let first = options.node;
        let nodes = first.into_iter().chain(
            plan.as_slice()
                .iter()
                .copied()
                .filter(move |n| Some(*n) != first),
        );
        let speculation = NodeSpeculation {
            policy: inner.config.speculative,
            metrics: &inner.metrics,
        };
        let machine = RequestLoop::new(
            nodes,
            options.idempotent,
            inner.retry,
            &speculation,
            Instant::now(),
        );
        if options.idempotent && inner.config.speculative != SpeculativeExecution::None {
            // Boxed: kept out of the size of every other request's future.
            Box::pin(self.run_concurrently(machine, out, timeout)).await
        } else {
            self.run_in_turn(machine, out, timeout).await
        }
    }

    /// Carries out the loop's actions one at a time: without speculative executions, no two
    /// attempts of a request ever run at once.
    async fn run_in_turn<P: Iterator<Item = SocketAddr>>(
        &self,
        mut machine: RequestLoop<'_, P>,
        out: &Outgoing<'_>,
        timeout: Duration,
    ) -> Result<Answer, RequestError> {
        let mut answer = None;
        loop {
            match machine.poll_action() {
                Some(Action::Start {
                    attempt,
                    node,
                    reason,
                }) => {
                    self.count_start(reason);
                    let started = Instant::now();
                    match self.send_to(node, out, timeout).await {
                        Ok(envelope) => {
                            self.inner.metrics.record_latency(node, started.elapsed());
                            answer = Some(envelope);
                            machine.answered(attempt);
                        }
                        Err(SendError::Failed(failure)) => {
                            self.note_failure(node, &failure, started);
                            machine.failed(attempt, failure, Instant::now());
                        }
                        Err(SendError::Fatal(e)) => return Err(e),
                    }
                }
                Some(Action::Reprepare { attempt, node, id }) => {
                    self.inner.metrics.increment(Counter::Reprepares);
                    match Box::pin(self.reprepare(node, &id, timeout)).await {
                        Ok(()) => machine.reprepared(attempt, Ok(()), Instant::now()),
                        Err(SendError::Failed(f)) => {
                            machine.reprepared(attempt, Err(f), Instant::now());
                        }
                        Err(SendError::Fatal(e)) => return Err(e),
                    }
                }
                Some(Action::Finish(outcome)) => return finish(outcome, answer),
                None => return Err(stalled()),
            }
        }
    }

    /// Carries out the loop's actions with attempts running side by side: speculative
    /// executions start while earlier attempts still wait, and the first answer wins.
    async fn run_concurrently<P: Iterator<Item = SocketAddr>>(
        &self,
        mut machine: RequestLoop<'_, P>,
        out: &Outgoing<'_>,
        timeout: Duration,
    ) -> Result<Answer, RequestError> {
        type Running<'f> = Pin<Box<dyn Future<Output = Event> + Send + 'f>>;
        let mut running: FuturesUnordered<Running<'_>> = FuturesUnordered::new();
        let mut answer = None;
        loop {
            while let Some(action) = machine.poll_action() {
                match action {
                    Action::Start {
                        attempt,
                        node,
                        reason,
                    } => {
                        self.count_start(reason);
                        running.push(Box::pin(async move {
                            let started = Instant::now();
                            let outcome = self.send_to(node, out, timeout).await;
                            Event::Attempt {
                                attempt,
                                node,
                                started,
                                outcome,
                            }
                        }));
                    }
                    Action::Reprepare { attempt, node, id } => {
                        self.inner.metrics.increment(Counter::Reprepares);
                        running.push(Box::pin(async move {
                            let outcome = self.reprepare(node, &id, timeout).await;
                            Event::Reprepared { attempt, outcome }
                        }));
                    }
                    Action::Finish(outcome) => return finish(outcome, answer),
                }
            }
            // A speculative execution that is due starts before anything is awaited: a zero
            // delay means at once, even when an answer is already in.
            if machine.deadline().is_some_and(|at| at <= Instant::now()) {
                machine.tick(Instant::now());
                continue;
            }
            let event = match machine.deadline() {
                Some(at) => tokio::select! {
                    event = running.next() => event,
                    () = tokio::time::sleep_until(at) => {
                        machine.tick(Instant::now());
                        continue;
                    }
                },
                None => running.next().await,
            };
            match event {
                Some(Event::Attempt {
                    attempt,
                    node,
                    started,
                    outcome,
                }) => match outcome {
                    Ok(envelope) => {
                        self.inner.metrics.record_latency(node, started.elapsed());
                        answer = Some(envelope);
                        machine.answered(attempt);
                    }
                    Err(SendError::Failed(failure)) => {
                        self.note_failure(node, &failure, started);
                        machine.failed(attempt, failure, Instant::now());
                    }
                    Err(SendError::Fatal(e)) => return Err(e),
                },
                Some(Event::Reprepared { attempt, outcome }) => match outcome {
                    Ok(()) => machine.reprepared(attempt, Ok(()), Instant::now()),
                    Err(SendError::Failed(f)) => {
                        machine.reprepared(attempt, Err(f), Instant::now());
                    }
                    Err(SendError::Fatal(e)) => return Err(e),
                },
                None => return Err(stalled()),
            }
        }
    }

    fn count_start(&self, reason: Reason) {
        match reason {
            Reason::Retry => self.inner.metrics.increment(Counter::Retries),
            Reason::Speculative => self.inner.metrics.increment(Counter::SpeculativeExecutions),
            Reason::First | Reason::Reprepared => {}
        }
    }

    fn note_failure(&self, node: SocketAddr, failure: &NodeFailure, started: Instant) {
        let metrics = &self.inner.metrics;
        match failure {
            NodeFailure::Server(_) => {
                metrics.record_latency(node, started.elapsed());
                metrics.record_node_error(node);
            }
            NodeFailure::Timeout(_) => metrics.increment(Counter::Timeouts),
            NodeFailure::Busy(_) => metrics.increment(Counter::StreamIdsExhausted),
            _ => {}
        }
    }

    /// Prepares the statement behind `id` again on `node` (its cache lost it, e.g. after a
    /// restart).
    pub(crate) async fn reprepare(
        &self,
        node: SocketAddr,
        id: &Bytes,
        timeout: Duration,
    ) -> Result<(), SendError> {
        let statement = self.inner.prepared.by_id(id).ok_or_else(|| {
            SendError::Fatal(RequestError::Internal(
                "UNPREPARED for a statement never prepared here".to_owned(),
            ))
        })?;
        let request = Request::Prepare(super::prepare_message(
            statement.prepared_in.as_deref(),
            &statement.query,
        ));
        let envelope = self
            .send_to(node, &Outgoing::plain(&request), timeout)
            .await?;
        match decode_response(&envelope) {
            Ok((_, Response::Result(ResultBody::Prepared(_)))) => Ok(()),
            Ok((_, other)) => Err(SendError::Fatal(RequestError::UnexpectedAnswer {
                node,
                opcode: other.opcode(),
                expected: "a PREPARED result",
            })),
            Err(e) => Err(SendError::Fatal(e.into())),
        }
    }

    /// One request on one node: a connection from its pool, encode, send. Any answer but an
    /// ERROR comes back as it came; an ERROR is the node's failure.
    pub(crate) async fn send_to(
        &self,
        node: SocketAddr,
        out: &Outgoing<'_>,
        timeout: Duration,
    ) -> Result<Envelope, SendError> {
        let failed = |f| SendError::Failed(f);
        let pools = &self.inner.pools;
        // A client's body goes over a connection of its own version, untouched, when the
        // node speaks it.
        let pool = match out.message {
            Message::Raw(raw) if Some(raw.version) != self.cluster().protocol_version() => {
                pools.pool_speaking(node, &self.identity, raw.version)
            }
            _ => pools.pool(node, &self.identity),
        }
        .ok_or_else(|| failed(NodeFailure::NotSent("no pool for this identity".to_owned())))?;
        let conn = pool.ready_connection(timeout).await.ok_or_else(|| {
            failed(NodeFailure::NotSent(format!(
                "no open connection ({:?})",
                pool.health()
            )))
        })?;
        let version = conn.version();
        // A keyspace to run in on a connection bound to it (v3/v4 carry none; DESCRIBE reads
        // the connection's): see `keyspaced`.
        let mut keyspace = None;
        let (opcode, flags, body) = match out.message {
            Message::Raw(raw) if raw.version == version => {
                (raw.opcode, raw.flags, raw.body.clone())
            }
            Message::Raw(raw) => {
                let (mut request, payload) = self.adapt(raw, version).map_err(SendError::Fatal)?;
                keyspace = keyspaced::fit(&mut request, version);
                let tracing = raw.flags.contains(Flags::TRACING);
                encode(&request, tracing, payload.as_ref(), version).map_err(SendError::Fatal)?
            }
            Message::Typed(request) if keyspaced::needs_fitting(request, version) => {
                let mut request = request.clone();
                keyspace = keyspaced::fit(&mut request, version);
                encode(&request, out.tracing, out.payload, version).map_err(SendError::Fatal)?
            }
            Message::Typed(request) => {
                encode(request, out.tracing, out.payload, version).map_err(SendError::Fatal)?
            }
        };
        let conn = match keyspace {
            Some(keyspace) => {
                self.keyspace_connection(node, &keyspace, version, timeout)
                    .await?
            }
            None => conn,
        };
        let envelope = conn
            .request(opcode, flags, body, timeout)
            .await
            .map_err(|e| match e {
                ConnectionError::Timeout { after, .. } => failed(NodeFailure::Timeout(after)),
                ConnectionError::Busy { after, .. } => failed(NodeFailure::Busy(after)),
                other => failed(NodeFailure::Connection(other)),
            })?;
        if envelope.header.opcode != Opcode::Error {
            return Ok(envelope);
        }
        match decode_response(&envelope) {
            Ok((_, Response::Error(error))) => Err(failed(NodeFailure::Server(Box::new(error)))),
            Ok(_) => Err(SendError::Fatal(RequestError::Internal(
                "an ERROR envelope decoded as another message".to_owned(),
            ))),
            Err(e) => Err(SendError::Fatal(e.into())),
        }
    }
}

/// The request's outcome from the loop's last action.
fn finish(
    outcome: Result<SocketAddr, RequestError>,
    answer: Option<Envelope>,
) -> Result<Answer, RequestError> {
    let node = outcome?;
    let envelope = answer.ok_or_else(stalled)?;
    Ok(Answer { node, envelope })
}

/// The loop ran out of actions without finishing: a bug, reported rather than hung on.
fn stalled() -> RequestError {
    RequestError::Internal("the request loop stopped without an outcome".to_owned())
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

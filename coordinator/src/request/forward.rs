//! Forwarding: running a request message as a client sent it (QUERY, PREPARE, EXECUTE,
//! BATCH) — what a CQL front end does with a driver's requests. Routed, retried and healed
//! like the typed API's requests.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use ringgate_protocol::frame::Flags;
use ringgate_protocol::message::{
    BatchQuery, CustomPayload, Request, Values, peek, response_message,
};
use ringgate_protocol::primitives::RawValue;
use ringgate_protocol::{Opcode, ProtocolVersion};
use smallvec::SmallVec;

pub use super::send::RawRequest;
use super::send::{Answer, Outgoing, Routing};
use super::{Coordinator, PreparedStatement, QueryResult, RequestError, RequestOptions};

/// What a forwarded request carries besides its message.
#[derive(Debug, Clone, Default)]
pub struct ForwardContext {
    /// The client session's keyspace (from its `USE`), for messages that name none.
    pub keyspace: Option<Arc<str>>,
    /// The client asked for tracing.
    pub tracing: bool,
    /// The client's custom payload.
    pub custom_payload: Option<CustomPayload>,
}

/// The outcome of a forwarded request.
#[derive(Debug, Clone)]
pub enum Forwarded {
    /// A node's RESULT, decoded ([`Coordinator::forward`]).
    Result(Box<QueryResult>),
    /// A node's RESULT as it came ([`Coordinator::forward_raw`]).
    Raw(RawResult),
    /// A PREPARE: the statement, prepared on every up node.
    Prepared(Arc<PreparedStatement>),
    /// A `USE` of this keyspace (plain or prepared), not run: it would switch a connection
    /// every session shares. The caller answers it for its own session.
    Use(String),
}

/// A node's RESULT as it came, for a front end that passes it through: decoded only if
/// the front end needs to look inside ([`RawResult::decode`]).
#[derive(Debug, Clone)]
pub struct RawResult {
    /// The node that answered.
    pub node: SocketAddr,
    /// The protocol version the body is laid out for.
    pub version: ProtocolVersion,
    /// The envelope flags (tracing, warning, custom payload: what `body` starts with),
    /// compression cleared.
    pub flags: Flags,
    /// The body, uncompressed.
    pub body: Bytes,
    /// The request read the schema tables: rows a front end may want to restate.
    pub schema_read: bool,
}

/// The RESULT kind of a Schema_change.
const SCHEMA_CHANGE: i32 = 5;

impl RawResult {
    fn new(answer: Answer, schema_read: bool) -> Self {
        let header = answer.envelope.header;
        RawResult {
            node: answer.node,
            version: header.version,
            flags: header.flags.without(Flags::COMPRESSION),
            body: answer.envelope.body,
            schema_read,
        }
    }

    /// The RESULT's kind (1 Void, 2 Rows, 3 Set_keyspace, 4 Prepared, 5 Schema_change),
    /// read without decoding the rest.
    pub fn kind(&self) -> Option<i32> {
        let message = response_message(
            &self.body,
            self.flags.contains(Flags::TRACING),
            self.flags.contains(Flags::WARNING),
            self.flags.contains(Flags::CUSTOM_PAYLOAD),
        )
        .ok()?;
        Some(i32::from_be_bytes(message.get(..4)?.try_into().ok()?))
    }

    /// The result, decoded.
    pub fn decode(&self) -> Result<QueryResult, RequestError> {
        let mut header = ringgate_protocol::frame::Header::new(
            self.version,
            ringgate_protocol::Direction::Response,
            0,
            Opcode::Result,
        );
        header.flags = self.flags;
        let envelope = ringgate_protocol::frame::Envelope::new(header, self.body.clone());
        QueryResult::decode(&Answer {
            node: self.node,
            envelope,
        })
    }
}

/// How a forwarded request goes.
struct Planned {
    routing: Option<(Option<String>, i64)>,
    lwt: bool,
    options: RequestOptions,
    /// The message differs from what the client sent (the session keyspace was added).
    changed: bool,
    /// It reads the schema tables.
    schema_read: bool,
}

enum Step {
    Done(Forwarded),
    Send(Box<(Request, Planned)>),
}

impl Coordinator {
    /// Runs `request` as a client sent it. EXECUTE and BATCH must name statements this
    /// coordinator prepared ([`RequestError::UnknownPrepared`] otherwise: a front end answers
    /// UNPREPARED, and the driver prepares again). The session keyspace goes with messages
    /// that name none as v5's per-request keyspace; a `USE` (plain or prepared) is not run
    /// but returned as [`Forwarded::Use`], for the caller to apply to its session.
    pub async fn forward(
        &self,
        request: Request,
        context: &ForwardContext,
    ) -> Result<Forwarded, RequestError> {
        match self.plan_forward(request, context).await? {
            Step::Done(forwarded) => Ok(forwarded),
            Step::Send(sending) => {
                let (request, planned) = *sending;
                let out = Outgoing::new(&request, &planned.options);
                let answer = self.send_planned(&out, &planned).await?;
                let mut result = QueryResult::decode(&answer)?;
                self.after_schema_change(&mut result).await;
                Ok(Forwarded::Result(Box::new(result)))
            }
        }
    }

    /// Runs a client's request from its body as it came (see [`Self::forward`]), passing the
    /// body through untouched (over connections of the client's version) unless something
    /// in it must change. An EXECUTE is not decoded at all: only its id and the partition
    /// key's values are read. Where a node does not speak the client's version, the body is
    /// decoded and encoded for the connection. The node's RESULT comes back as it came ([`Forwarded::Raw`]).
    /// `context.tracing` and `context.custom_payload` are ignored: the body and its flags
    /// carry them.
    pub async fn forward_raw(
        &self,
        raw: RawRequest,
        context: &ForwardContext,
    ) -> Result<Forwarded, RequestError> {
        let has_payload = raw.flags.contains(Flags::CUSTOM_PAYLOAD);
        let (payload, body) =
            ringgate_protocol::message::split_request_body(&raw.body, has_payload)?;
        if raw.opcode == Opcode::Execute
            && let Some(forwarded) = self.execute_raw(&raw, &body).await?
        {
            return Ok(forwarded);
        }
        let request = Request::decode(raw.opcode, &body, raw.version)?;
        let context = ForwardContext {
            keyspace: context.keyspace.clone(),
            tracing: raw.flags.contains(Flags::TRACING),
            custom_payload: payload,
        };
        match self.plan_forward(request, &context).await? {
            Step::Done(forwarded) => Ok(forwarded),
            Step::Send(sending) => {
                let (request, planned) = *sending;
                let answer = if planned.changed {
                    let out = Outgoing::new(&request, &planned.options);
                    self.send_planned(&out, &planned).await?
                } else {
                    self.send_planned(&Outgoing::raw(&raw), &planned).await?
                };
                Ok(self.raw_result(answer, planned.schema_read).await)
            }
        }
    }

    /// A RESULT to pass through, once a schema change it reports is agreed on.
    async fn raw_result(&self, answer: Answer, schema_read: bool) -> Forwarded {
        let result = RawResult::new(answer, schema_read);
        if result.kind() == Some(SCHEMA_CHANGE) {
            // Boxed: rare, and kept out of the size of every forwarded request's future.
            Box::pin(self.await_schema_agreement(result.node)).await;
        }
        Forwarded::Raw(result)
    }

    /// An EXECUTE run from its body alone, when it can be: the statement is known, its values
    /// are positional and it is not a conditional update (whose serial consistency sits at the
    /// end of the body). `None`: decode it instead.
    async fn execute_raw(
        &self,
        raw: &RawRequest,
        body: &Bytes,
    ) -> Result<Option<Forwarded>, RequestError> {
        let view = peek::execute(body, raw.version)?;
        let Some(statement) = self.inner.prepared.by_id_slice(view.id) else {
            return Err(RequestError::UnknownPrepared(body.slice_ref(view.id)));
        };
        super::trace::statement(&statement);
        if let Some(keyspace) = &statement.use_keyspace {
            return Ok(Some(Forwarded::Use(keyspace.clone())));
        }
        let values = view.values();
        if statement.conditional || values.is_named() {
            return Ok(None);
        }
        // Every value is read (a malformed one is the client's error, found here); only the
        // partition key's are kept, on the stack for the usual few.
        let wanted = statement
            .pk_indexes
            .iter()
            .max()
            .map_or(0, |&i| usize::from(i) + 1);
        let mut key_values: SmallVec<[RawValue<'_>; 8]> = SmallVec::new();
        for value in values {
            let (_, value) = value?;
            if key_values.len() < wanted {
                key_values.push(value);
            }
        }
        let routing = statement.token_raw(&key_values).map(|token| Routing {
            keyspace: statement.keyspace.as_deref(),
            token,
        });
        if let Some(routing) = &routing {
            super::trace::token(routing.token);
        }
        let options = RequestOptions {
            consistency: Some(view.consistency),
            idempotent: statement.read_only,
            node: self.schema_node(&statement),
            ..RequestOptions::default()
        };
        let answer = self
            .send(&Outgoing::raw(raw), routing, &options, false)
            .await?;
        Ok(Some(self.raw_result(answer, statement.schema_read).await))
    }

    /// The control node, for a statement that reads the schema tables: a client that learned
    /// of a change from the events the control connection passed on then reads that change
    /// from the node that announced it.
    fn schema_node(&self, statement: &PreparedStatement) -> Option<std::net::SocketAddr> {
        statement
            .schema_read
            .then(|| self.cluster().control_node())
            .flatten()
    }

    async fn send_planned(
        &self,
        out: &Outgoing<'_>,
        planned: &Planned,
    ) -> Result<Answer, RequestError> {
        super::trace::routing(planned.routing.as_ref());
        let routing = Routing::of(&planned.routing);
        self.send(out, routing, &planned.options, planned.lwt).await
    }

    async fn plan_forward(
        &self,
        request: Request,
        context: &ForwardContext,
    ) -> Result<Step, RequestError> {
        let mut options = RequestOptions {
            tracing: context.tracing,
            custom_payload: context.custom_payload.clone(),
            ..RequestOptions::default()
        };
        let mut changed = false;
        let mut schema_read = false;
        let (request, routing, lwt) = match request {
            Request::Prepare(prepare) => {
                let keyspace = prepare
                    .keyspace
                    .or_else(|| context.keyspace.as_deref().map(str::to_owned));
                // Boxed: its wait on every node is kept out of the size of every forwarded
                // request's future.
                let statement =
                    Box::pin(self.prepare_statement(keyspace.as_deref(), &prepare.query)).await?;
                return Ok(Step::Done(Forwarded::Prepared(statement)));
            }
            Request::Query(mut query) => {
                if query.params.keyspace.is_none()
                    && let Some(keyspace) = &context.keyspace
                {
                    query.params.keyspace = Some(keyspace.to_string());
                    changed = true;
                }
                options.consistency = Some(query.params.consistency);
                options.serial_consistency = query.params.serial_consistency;
                options.idempotent = crate::cql::is_select(&query.query);
                let plan = super::text_routing::plan_text(
                    &self.cluster().view(),
                    &query.query,
                    query.params.keyspace.as_deref(),
                    &query.params.values,
                );
                if let Some(keyspace) = plan.use_keyspace {
                    return Ok(Step::Done(Forwarded::Use(keyspace)));
                }
                if plan.schema_read {
                    options.node = self.cluster().control_node();
                    schema_read = true;
                }
                if plan.ddl {
                    options.timeout = Some(self.inner.config.ddl_timeout);
                }
                (Request::Query(query), plan.routing, plan.conditional)
            }
            Request::Execute(mut execute) => {
                let statement = self
                    .cached_statement(&execute.id)
                    .ok_or_else(|| RequestError::UnknownPrepared(execute.id.clone()))?;
                super::trace::statement(&statement);
                if let Some(keyspace) = &statement.use_keyspace {
                    return Ok(Step::Done(Forwarded::Use(keyspace.clone())));
                }
                // A v4 client sends no result metadata id; a v5 node needs one.
                if execute.result_metadata_id.is_none() {
                    execute.result_metadata_id = statement.result_metadata_id.clone();
                }
                options.consistency = Some(execute.params.consistency);
                options.serial_consistency = execute.params.serial_consistency;
                options.idempotent = statement.read_only;
                options.node = self.schema_node(&statement);
                schema_read = statement.schema_read;
                let routing = match &execute.params.values {
                    Values::Positional(values) => statement.routing(values),
                    Values::Named(_) => None,
                };
                (Request::Execute(execute), routing, statement.conditional)
            }
            Request::Batch(mut batch) => {
                if batch.keyspace.is_none()
                    && let Some(keyspace) = &context.keyspace
                {
                    batch.keyspace = Some(keyspace.to_string());
                    changed = true;
                }
                let mut routing = None;
                let mut lwt = false;
                for (i, statement) in batch.statements.iter().enumerate() {
                    match &statement.query {
                        BatchQuery::Prepared(id) => {
                            let prepared = self
                                .cached_statement(id)
                                .ok_or_else(|| RequestError::UnknownPrepared(id.clone()))?;
                            lwt |= prepared.conditional;
                            if i == 0 {
                                routing = prepared.routing(&statement.values);
                            }
                        }
                        BatchQuery::Query(cql) => lwt |= super::is_conditional(cql),
                    }
                }
                options.consistency = Some(batch.consistency);
                options.serial_consistency = batch.serial_consistency;
                (Request::Batch(batch), routing, lwt)
            }
            other => {
                return Err(RequestError::Invalid(format!(
                    "{:?} is not forwarded",
                    other.opcode()
                )));
            }
        };
        Ok(Step::Send(Box::new((
            request,
            Planned {
                routing,
                lwt,
                options,
                changed,
                schema_read,
            },
        ))))
    }
}

//! Forwarding: running a request message as a client sent it (QUERY, PREPARE, EXECUTE,
//! BATCH) — what a CQL front end does with a driver's requests. Routed, retried and healed
//! like the typed API's requests.

use std::sync::Arc;

use ringgate_protocol::message::{BatchQuery, CustomPayload, Request, Values};

use super::send::Outgoing;
use super::{Coordinator, PreparedStatement, QueryResult, RequestError, RequestOptions};

/// What a forwarded request carries besides its message.
#[derive(Debug, Clone, Default)]
pub struct ForwardContext {
    /// The client session's keyspace (from its `USE`), for messages that name none.
    pub keyspace: Option<String>,
    /// The client asked for tracing.
    pub tracing: bool,
    /// The client's custom payload.
    pub custom_payload: Option<CustomPayload>,
}

/// The outcome of a forwarded request.
#[derive(Debug, Clone)]
pub enum Forwarded {
    /// A node's RESULT.
    Result(Box<QueryResult>),
    /// A PREPARE: the statement, prepared on every up node.
    Prepared(Arc<PreparedStatement>),
}

impl Coordinator {
    /// Runs `request` as a client sent it. EXECUTE and BATCH must name statements this
    /// coordinator prepared ([`RequestError::UnknownPrepared`] otherwise: a front end answers
    /// UNPREPARED, and the driver prepares again). The session keyspace goes with messages
    /// that name none as v5's per-request keyspace; `USE` itself is the caller's to handle
    /// (it would change a shared connection's keyspace).
    pub async fn forward(
        &self,
        request: Request,
        context: &ForwardContext,
    ) -> Result<Forwarded, RequestError> {
        let mut options = RequestOptions {
            tracing: context.tracing,
            custom_payload: context.custom_payload.clone(),
            ..RequestOptions::default()
        };
        let (request, routing, lwt) = match request {
            Request::Prepare(prepare) => {
                let keyspace = prepare.keyspace.or_else(|| context.keyspace.clone());
                let statement = self
                    .prepare_statement(keyspace.as_deref(), &prepare.query)
                    .await?;
                return Ok(Forwarded::Prepared(statement));
            }
            Request::Query(mut query) => {
                if query.params.keyspace.is_none() {
                    query.params.keyspace = context.keyspace.clone();
                }
                options.consistency = Some(query.params.consistency);
                options.serial_consistency = query.params.serial_consistency;
                options.idempotent = is_read(&query.query);
                let plan = super::text_routing::plan_text(
                    &self.cluster().view(),
                    &query.query,
                    query.params.keyspace.as_deref(),
                    &query.params.values,
                );
                (Request::Query(query), plan.routing, plan.conditional)
            }
            Request::Execute(mut execute) => {
                let statement = self
                    .cached_statement(&execute.id)
                    .ok_or_else(|| RequestError::UnknownPrepared(execute.id.clone()))?;
                // A v4 client sends no result metadata id; a v5 node needs one.
                if execute.result_metadata_id.is_none() {
                    execute.result_metadata_id = statement.result_metadata_id.clone();
                }
                options.consistency = Some(execute.params.consistency);
                options.serial_consistency = execute.params.serial_consistency;
                options.idempotent = is_read(&statement.query);
                let routing = match &execute.params.values {
                    Values::Positional(values) => statement.routing(values),
                    Values::Named(_) => None,
                };
                (Request::Execute(execute), routing, statement.conditional)
            }
            Request::Batch(mut batch) => {
                if batch.keyspace.is_none() {
                    batch.keyspace = context.keyspace.clone();
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
        let result = self
            .send(&Outgoing::new(&request, &options), routing, &options, lwt)
            .await?;
        self.after_schema_change(&result).await?;
        Ok(Forwarded::Result(Box::new(result)))
    }
}

/// Whether a statement only reads (a SELECT), so may safely run twice.
fn is_read(cql: &str) -> bool {
    cql.trim_start()
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("select"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_are_selects() {
        assert!(super::is_read("  select * from t"));
        assert!(super::is_read("SELECT 1"));
        assert!(!super::is_read("INSERT INTO t (k) VALUES (1)"));
        assert!(!super::is_read("sel"));
        assert!(!super::is_read("ñññ"));
    }
}

//! Batches: query strings and prepared statements, mixed, run as one request.

use std::sync::Arc;

pub use ringgate_protocol::message::BatchType;
use ringgate_protocol::message::{BatchQuery, BatchStatement, Value};

use super::values::Encoded;
use super::{PreparedStatement, RequestError, Values};

/// A batch of statements: logged (atomic), unlogged, or counter updates.
///
/// ```
/// use ringgate::request::{Batch, BatchType};
/// use ringgate::protocol::types::CqlValue;
///
/// let batch = Batch::new(BatchType::Logged)
///     .query("INSERT INTO ks.t (k, v) VALUES (1, 'a')", ())
///     .query("INSERT INTO ks.t (k, v) VALUES (?, ?)", vec![CqlValue::Int(2), CqlValue::Text("b".into())]);
/// assert_eq!(batch.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Batch {
    kind: BatchType,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
enum Entry {
    Query(String, Values),
    Prepared(Arc<PreparedStatement>, Values),
}

impl Batch {
    /// An empty batch of this kind.
    pub fn new(kind: BatchType) -> Self {
        Batch {
            kind,
            entries: Vec::new(),
        }
    }

    /// Adds a query string with its values (positional only: a BATCH carries no marker
    /// names).
    pub fn query(mut self, cql: impl Into<String>, values: impl Into<Values>) -> Self {
        self.entries.push(Entry::Query(cql.into(), values.into()));
        self
    }

    /// Adds a prepared statement with its values (by position or by marker name).
    pub fn prepared(
        mut self,
        statement: &Arc<PreparedStatement>,
        values: impl Into<Values>,
    ) -> Self {
        self.entries
            .push(Entry::Prepared(Arc::clone(statement), values.into()));
        self
    }

    /// The number of statements.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the batch has no statement.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The kind of batch.
    pub fn kind(&self) -> BatchType {
        self.kind
    }

    /// Encodes the statements; with them the routing (keyspace, token) of the first
    /// statement, when it is prepared and binds its whole partition key (as drivers do), and
    /// whether any statement is conditional.
    pub(crate) fn encode(&self) -> Result<EncodedBatch, RequestError> {
        if self.entries.is_empty() {
            return Err(RequestError::Invalid(
                "a batch needs a statement".to_owned(),
            ));
        }
        let mut statements = Vec::with_capacity(self.entries.len());
        let mut routing = None;
        let mut conditional = false;
        for (i, entry) in self.entries.iter().enumerate() {
            let statement = match entry {
                Entry::Query(cql, values) => {
                    conditional |= super::is_conditional(cql);
                    let values = match values.encode_natural()? {
                        Encoded::Positional(v) => v,
                        Encoded::Named(_) => {
                            return Err(RequestError::Invalid(
                                "a batch's query strings take positional values only".to_owned(),
                            ));
                        }
                    };
                    BatchStatement {
                        query: BatchQuery::Query(cql.clone()),
                        values,
                    }
                }
                Entry::Prepared(prepared, values) => {
                    conditional |= prepared.conditional;
                    let values: Vec<Value> = values.encode_for(prepared)?;
                    if i == 0 {
                        routing = prepared.routing(&values);
                    }
                    BatchStatement {
                        query: BatchQuery::Prepared(prepared.id.clone()),
                        values,
                    }
                }
            };
            statements.push(statement);
        }
        Ok(EncodedBatch {
            statements,
            routing,
            conditional,
        })
    }
}

/// A batch's statements ready for the wire, and how to route them.
pub(crate) struct EncodedBatch {
    pub(crate) statements: Vec<BatchStatement>,
    pub(crate) routing: Option<(Option<String>, i64)>,
    pub(crate) conditional: bool,
}

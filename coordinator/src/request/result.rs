//! What a request returns: typed rows (by index or by name), or the raw RESULT for callers
//! that pass it through.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use ringgate_protocol::frame::Envelope;
use ringgate_protocol::message::{ColumnSpec, ResponsePrefix, ResultBody};
use ringgate_protocol::types::{CqlValue, FromCqlValue, decode_cell};

use super::RequestError;

/// The result of a request.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The node that answered.
    pub node: SocketAddr,
    /// The tracing session id, when tracing was asked for.
    pub tracing_id: Option<[u8; 16]>,
    /// The node's warnings.
    pub warnings: Vec<String>,
    /// After a schema change: whether every up node agreed on the new schema within the
    /// coordinator's `schema_agreement_timeout` (always `true` for other results).
    pub schema_in_agreement: bool,
    /// The custom payload the node answered with, if any.
    pub custom_payload: Option<ringgate_protocol::message::CustomPayload>,
    /// The decoded RESULT (rows left undecoded inside).
    pub body: ResultBody,
    /// The RESULT envelope's body as it came, for passthrough.
    pub raw: Bytes,
    /// The protocol version it came in.
    pub version: ringgate_protocol::ProtocolVersion,
    /// The RESULT envelope's flags (tracing, warning, custom payload: what `raw` starts
    /// with), compression cleared.
    pub flags: ringgate_protocol::frame::Flags,
}

impl QueryResult {
    /// Decodes a node's answer: a RESULT, or an error naming what else came.
    pub(crate) fn decode(answer: &super::send::Answer) -> Result<Self, RequestError> {
        let envelope = &answer.envelope;
        match ringgate_protocol::message::decode_response(envelope)? {
            (prefix, ringgate_protocol::message::Response::Result(body)) => {
                Ok(QueryResult::new(answer.node, envelope, prefix, body))
            }
            (_, other) => Err(RequestError::UnexpectedAnswer {
                node: answer.node,
                opcode: other.opcode(),
                expected: "a RESULT",
            }),
        }
    }

    pub(crate) fn new(
        node: SocketAddr,
        envelope: &Envelope,
        prefix: ResponsePrefix,
        body: ResultBody,
    ) -> Self {
        QueryResult {
            node,
            tracing_id: prefix.tracing_id,
            warnings: prefix.warnings.unwrap_or_default(),
            custom_payload: prefix.custom_payload,
            schema_in_agreement: true,
            body,
            raw: envelope.body.clone(),
            version: envelope.header.version,
            flags: envelope
                .header
                .flags
                .without(ringgate_protocol::frame::Flags::COMPRESSION),
        }
    }

    /// Where the next page starts, when there is one.
    pub fn paging_state(&self) -> Option<&Bytes> {
        match &self.body {
            ResultBody::Rows(rows) => rows.metadata.paging_state.as_ref(),
            _ => None,
        }
    }

    /// The rows, decoded. Empty for results without rows.
    pub fn rows(&self) -> Result<Vec<Row>, RequestError> {
        let ResultBody::Rows(rows) = &self.body else {
            return Ok(Vec::new());
        };
        let columns: Arc<[ColumnSpec]> = rows
            .metadata
            .columns
            .clone()
            .ok_or_else(|| RequestError::Invalid("rows without column metadata".to_owned()))?
            .into();
        let names: Arc<HashMap<String, usize>> = Arc::new(
            columns
                .iter()
                .enumerate()
                .map(|(i, c)| (c.name.clone(), i))
                .collect(),
        );
        let mut out = Vec::with_capacity(rows.rows_count.min(4096));
        for row in rows.rows()? {
            let row = row?;
            let values = columns
                .iter()
                .zip(row.cells())
                .map(|(c, cell)| decode_cell(&c.typ, cell, self.version))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(Row {
                names: Arc::clone(&names),
                values,
            });
        }
        Ok(out)
    }
}

/// A decoded row: values by index or by column name.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    names: Arc<HashMap<String, usize>>,
    values: Vec<Option<CqlValue>>,
}

impl Row {
    /// The value of column `i` as a `T` (`Option<T>` for nullable columns).
    pub fn get<T: FromCqlValue>(&self, i: usize) -> Result<T, RequestError> {
        let v = self
            .values
            .get(i)
            .ok_or_else(|| RequestError::Invalid(format!("no column {i}")))?;
        T::from_cql(v.clone()).map_err(|e| RequestError::Invalid(format!("column {i}: {e}")))
    }

    /// The value of column `name` as a `T`.
    pub fn get_by_name<T: FromCqlValue>(&self, name: &str) -> Result<T, RequestError> {
        let i = *self
            .names
            .get(name)
            .ok_or_else(|| RequestError::Invalid(format!("no column {name}")))?;
        self.get(i)
    }

    /// The raw values, in column order.
    pub fn values(&self) -> &[Option<CqlValue>] {
        &self.values
    }
}

//! Simple queries the control connection runs: a CQL string, all pages, rows decoded into
//! [`SystemRow`]s. Off the request path; system tables are small.

use std::time::Duration;

use bytes::BytesMut;
use ringgate_protocol::frame::{Envelope, Flags};
use ringgate_protocol::message::{
    Consistency, ErrorResponse, Query, QueryParameters, Request, Response, ResultBody,
};
use ringgate_protocol::primitives::{DecodeError, EncodeError};
use ringgate_protocol::types::decode_cell;

use super::system_rows::SystemRow;
use crate::pool::{Connection, ConnectionError};

/// Rows fetched per page.
const PAGE_SIZE: i32 = 5000;

/// Why a control query failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The connection failed or timed out.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    /// The node answered with an error.
    #[error("the node answered error {:#06x}: {}", .0.details.code(), .0.message)]
    Server(Box<ErrorResponse>),
    /// The answer could not be decoded.
    #[error("undecodable answer: {0}")]
    Decode(#[from] DecodeError),
    /// The query could not be encoded.
    #[error("cannot encode the query: {0}")]
    Encode(#[from] EncodeError),
    /// The node answered with something other than rows.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// Sends `request` and decodes the response, whatever its prefixes.
pub(crate) async fn round_trip(
    conn: &Connection,
    request: &Request,
    timeout: Duration,
) -> Result<Response, QueryError> {
    let version = conn.version();
    let mut body = BytesMut::new();
    request.encode(version, &mut body)?;
    let envelope = conn
        .request(request.opcode(), Flags::empty(), body.freeze(), timeout)
        .await?;
    response_or_error(&envelope)
}

/// Decodes a response envelope's message; an ERROR becomes [`QueryError::Server`].
pub(crate) fn response_or_error(envelope: &Envelope) -> Result<Response, QueryError> {
    match ringgate_protocol::message::decode_response(envelope)?.1 {
        Response::Error(e) => Err(QueryError::Server(Box::new(e))),
        other => Ok(other),
    }
}

/// Runs `cql` at consistency ONE and returns every row of every page.
pub(crate) async fn query_rows(
    conn: &Connection,
    cql: &str,
    timeout: Duration,
) -> Result<Vec<SystemRow>, QueryError> {
    let version = conn.version();
    let mut out = Vec::new();
    let mut paging_state = None;
    loop {
        let mut params = QueryParameters::new(Consistency::One).with_page_size(PAGE_SIZE);
        if let Some(state) = paging_state.take() {
            params = params.with_paging_state(state);
        }
        let request = Request::Query(Query::new(cql, params));
        let rows = match round_trip(conn, &request, timeout).await? {
            Response::Result(ResultBody::Rows(rows)) => rows,
            other => return Err(QueryError::Unexpected(format!("{:?}", other.opcode()))),
        };
        let columns = rows
            .metadata
            .columns
            .clone()
            .ok_or_else(|| QueryError::Unexpected("rows without column metadata".to_owned()))?;
        for row in rows.rows()? {
            let row = row?;
            let mut values = Vec::with_capacity(columns.len());
            for (spec, cell) in columns.iter().zip(row.cells()) {
                values.push((spec.name.clone(), decode_cell(&spec.typ, cell, version)?));
            }
            out.push(SystemRow::new(values));
        }
        match rows.metadata.paging_state {
            Some(state) => paging_state = Some(state),
            None => return Ok(out),
        }
    }
}

/// Whether an error means the queried table does not exist (e.g. `system.peers_v2` on an
/// older node): the node answered Invalid.
pub(crate) fn is_invalid_query(e: &QueryError) -> bool {
    matches!(e, QueryError::Server(err) if err.details.code() == 0x2200)
}

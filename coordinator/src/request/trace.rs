//! What the request path adds to the per-request span a front end opens at debug level
//! (`server::serve`): keyspace, table, token and replica. Each call costs one check of the
//! global level filter when debug is off.

use std::net::SocketAddr;

use super::PreparedStatement;

fn enabled() -> bool {
    tracing::level_enabled!(tracing::Level::DEBUG)
}

/// The keyspace and token a request is routed by.
pub(crate) fn routing(routing: Option<&(Option<String>, i64)>) {
    if !enabled() {
        return;
    }
    if let Some((keyspace, token)) = routing {
        let span = tracing::Span::current();
        span.record("token", token);
        if let Some(keyspace) = keyspace {
            span.record("keyspace", keyspace.as_str());
        }
    }
}

/// The token a request is routed by.
pub(crate) fn token(token: i64) {
    if enabled() {
        tracing::Span::current().record("token", token);
    }
}

/// The table of a prepared statement, as its metadata names it.
pub(crate) fn statement(statement: &PreparedStatement) {
    if !enabled() {
        return;
    }
    let column = statement
        .markers
        .first()
        .or_else(|| statement.result_columns.as_ref()?.first());
    if let Some(column) = column {
        let span = tracing::Span::current();
        span.record("keyspace", column.keyspace.as_str());
        span.record("table", column.table.as_str());
    }
}

/// The replica that answered.
pub(crate) fn replica(node: SocketAddr) {
    if enabled() {
        tracing::Span::current().record("replica", tracing::field::display(node));
    }
}

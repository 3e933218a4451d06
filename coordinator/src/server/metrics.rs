//! [`ServerMetrics`]: what a front end counts about its clients — requests by opcode and
//! outcome, connections, TLS handshake failures, bytes in and out. Each count is one relaxed
//! atomic add into a fixed table: no lock and no allocation per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;

use ringgate_protocol::Opcode;
use ringgate_protocol::frame::Flags;
use ringgate_protocol::message::{ErrorDetails, Response, split_response_body};

use super::event::Reply;

/// The opcodes requests are counted by, as label values.
pub const REQUEST_OPCODES: [&str; 5] = ["query", "prepare", "execute", "batch", "other"];

/// The outcomes requests are counted by, as label values: `ok`, then one per CQL error code,
/// then `other_error` for codes the protocol does not define.
pub const REQUEST_OUTCOMES: [&str; 22] = [
    "ok",
    "server_error",
    "protocol_error",
    "bad_credentials",
    "unavailable",
    "overloaded",
    "is_bootstrapping",
    "truncate_error",
    "write_timeout",
    "read_timeout",
    "read_failure",
    "function_failure",
    "write_failure",
    "cdc_write_failure",
    "cas_write_unknown",
    "syntax_error",
    "unauthorized",
    "invalid",
    "config_error",
    "already_exists",
    "unprepared",
    "other_error",
];

const OPCODES: usize = REQUEST_OPCODES.len();
const OUTCOMES: usize = REQUEST_OUTCOMES.len();

/// The index of `opcode` in [`REQUEST_OPCODES`].
pub(crate) fn opcode_index(opcode: Opcode) -> u8 {
    match opcode {
        Opcode::Query => 0,
        Opcode::Prepare => 1,
        Opcode::Execute => 2,
        Opcode::Batch => 3,
        _ => 4,
    }
}

/// The index of an error code in [`REQUEST_OUTCOMES`].
fn error_index(code: i32) -> usize {
    match code {
        0x0000 => 1,
        0x000A => 2,
        0x0100 => 3,
        0x1000 => 4,
        0x1001 => 5,
        0x1002 => 6,
        0x1003 => 7,
        0x1100 => 8,
        0x1200 => 9,
        0x1300 => 10,
        0x1400 => 11,
        0x1500 => 12,
        0x1600 => 13,
        0x1700 => 14,
        0x2000 => 15,
        0x2100 => 16,
        0x2200 => 17,
        0x2300 => 18,
        0x2400 => 19,
        0x2500 => 20,
        _ => 21,
    }
}

/// The error code of an ERROR body as a node sent it (after its tracing id, warnings and
/// custom payload, as `flags` say).
fn raw_error_code(flags: Flags, body: &Bytes) -> Option<i32> {
    let (_, message) = split_response_body(
        body,
        flags.contains(Flags::TRACING),
        flags.contains(Flags::WARNING),
        flags.contains(Flags::CUSTOM_PAYLOAD),
    )
    .ok()?;
    let code: [u8; 4] = message.get(..4)?.try_into().ok()?;
    Some(i32::from_be_bytes(code))
}

/// The index in [`REQUEST_OUTCOMES`] of a reply, and its label.
pub(crate) fn outcome(reply: &Reply) -> (usize, &'static str) {
    let index = match reply {
        Reply::Message(Response::Error(e)) => error_index(e.details.code()),
        Reply::Raw {
            opcode: Opcode::Error,
            flags,
            body,
        } => raw_error_code(*flags, body).map_or(OUTCOMES - 1, error_index),
        _ => 0,
    };
    (index, REQUEST_OUTCOMES[index])
}

/// The outcome of an error with `details`, as a label of [`REQUEST_OUTCOMES`].
pub fn outcome_label(details: &ErrorDetails) -> &'static str {
    REQUEST_OUTCOMES[error_index(details.code())]
}

#[derive(Debug)]
struct Inner {
    requests: [[AtomicU64; OUTCOMES]; OPCODES],
    connections_open: AtomicI64,
    connections_accepted: AtomicU64,
    connections_refused: AtomicU64,
    tls_handshake_failures: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            connections_open: AtomicI64::new(0),
            connections_accepted: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            tls_handshake_failures: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
        }
    }
}

/// A front end's client-side counters. Cloning is cheap; clones count into the same table.
#[derive(Debug, Clone, Default)]
pub struct ServerMetrics {
    inner: Arc<Inner>,
}

impl ServerMetrics {
    /// Counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one request of `opcode` (an index of [`REQUEST_OPCODES`]) that ended in `outcome`
    /// (an index of [`REQUEST_OUTCOMES`]).
    pub(crate) fn request(&self, opcode: u8, outcome: usize) {
        if let Some(cell) = self
            .inner
            .requests
            .get(usize::from(opcode))
            .and_then(|row| row.get(outcome))
        {
            cell.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn connection_opened(&self) {
        self.inner
            .connections_accepted
            .fetch_add(1, Ordering::Relaxed);
        self.inner.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.inner.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn connection_refused(&self) {
        self.inner
            .connections_refused
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn tls_handshake_failed(&self) {
        self.inner
            .tls_handshake_failures
            .fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn bytes_in(&self, n: usize) {
        self.inner.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn bytes_out(&self, n: usize) {
        self.inner.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> ServerSnapshot {
        let i = &self.inner;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut requests = Vec::new();
        for (opcode, row) in REQUEST_OPCODES.iter().zip(&i.requests) {
            for (outcome, cell) in REQUEST_OUTCOMES.iter().zip(row) {
                let count = load(cell);
                if count > 0 {
                    requests.push((*opcode, *outcome, count));
                }
            }
        }
        ServerSnapshot {
            requests,
            connections_open: u64::try_from(i.connections_open.load(Ordering::Relaxed))
                .unwrap_or(0),
            connections_accepted: load(&i.connections_accepted),
            connections_refused: load(&i.connections_refused),
            tls_handshake_failures: load(&i.tls_handshake_failures),
            bytes_in: load(&i.bytes_in),
            bytes_out: load(&i.bytes_out),
        }
    }
}

/// [`ServerMetrics`] at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerSnapshot {
    /// (opcode, outcome, count) of every pair counted at least once, labels as in
    /// [`REQUEST_OPCODES`] and [`REQUEST_OUTCOMES`].
    pub requests: Vec<(&'static str, &'static str, u64)>,
    /// Clients connected now.
    pub connections_open: u64,
    /// Clients accepted since the start.
    pub connections_accepted: u64,
    /// Connections closed at once because the client limit was reached.
    pub connections_refused: u64,
    /// Clients whose TLS handshake failed (no valid certificate, say).
    pub tls_handshake_failures: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringgate_protocol::message::ErrorResponse;

    #[test]
    fn outcomes_follow_error_codes() {
        let ok = Reply::Raw {
            opcode: Opcode::Result,
            flags: Flags::empty(),
            body: Bytes::from_static(&[0, 0, 0, 1]),
        };
        assert_eq!(outcome(&ok), (0, "ok"));
        let error = |details| Reply::Message(Response::Error(ErrorResponse::new(details, "x")));
        assert_eq!(outcome(&error(ErrorDetails::Overloaded)).1, "overloaded");
        assert_eq!(outcome(&error(ErrorDetails::Invalid)).1, "invalid");
        assert_eq!(outcome(&error(ErrorDetails::SyntaxError)).1, "syntax_error");
        // A node's own ERROR body, with a warning in front: code 0x2200 (invalid).
        let mut body = vec![0, 1, 0, 4];
        body.extend_from_slice(b"warn");
        body.extend_from_slice(&[0, 0, 0x22, 0, 0, 1, b'x']);
        let raw = Reply::Raw {
            opcode: Opcode::Error,
            flags: Flags::WARNING,
            body: Bytes::from(body),
        };
        assert_eq!(outcome(&raw).1, "invalid");
        let short = Reply::Raw {
            opcode: Opcode::Error,
            flags: Flags::empty(),
            body: Bytes::from_static(&[0]),
        };
        assert_eq!(outcome(&short).1, "other_error");
        for (i, label) in REQUEST_OUTCOMES.iter().enumerate().skip(1).take(20) {
            let code = [
                0x0000, 0x000A, 0x0100, 0x1000, 0x1001, 0x1002, 0x1003, 0x1100, 0x1200, 0x1300,
                0x1400, 0x1500, 0x1600, 0x1700, 0x2000, 0x2100, 0x2200, 0x2300, 0x2400, 0x2500,
            ][i - 1];
            assert_eq!(REQUEST_OUTCOMES[error_index(code)], *label);
        }
    }

    #[test]
    fn counts_land_in_their_cells() {
        let m = ServerMetrics::new();
        m.request(opcode_index(Opcode::Execute), 0);
        m.request(opcode_index(Opcode::Execute), 0);
        m.request(opcode_index(Opcode::Query), 5);
        m.request(200, 0); // out of range: ignored
        m.connection_opened();
        m.connection_opened();
        m.connection_closed();
        m.bytes_in(10);
        m.bytes_out(7);
        let s = m.snapshot();
        assert_eq!(
            s.requests,
            vec![("query", "overloaded", 1), ("execute", "ok", 2)]
        );
        assert_eq!((s.connections_open, s.connections_accepted), (1, 2));
        assert_eq!((s.bytes_in, s.bytes_out), (10, 7));
    }
}

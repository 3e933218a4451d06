//! `ringgate-protocol`: the CQL native protocol, versions 3, 4 and 5, without I/O.
//!
//! Bytes go in and typed messages come out, and back again, for both sides of a connection:
//! Ringgate is a server to drivers and a client to replicas, so every message decodes and
//! encodes in both directions. Nothing here touches a socket or an async runtime, and no input,
//! however malformed, makes this crate panic: it becomes an error value.
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

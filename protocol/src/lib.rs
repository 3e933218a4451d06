//! `ringgate-protocol`: the CQL native protocol, versions 3, 4 and 5, without I/O.
//!
//! Bytes go in and typed messages come out, and back again, for both sides of a connection:
//! Ringgate is a server to drivers and a client to replicas, so every message decodes and
//! encodes in both directions. Nothing here touches a socket or an async runtime, and no input,
//! however malformed, makes this crate panic: it becomes an error value.
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod opcode;
mod version;

pub use opcode::Opcode;
pub use version::{Direction, ProtocolVersion};

// The frame layer (envelopes, v5 segments, compression) and the message layer (messages, CQL
// types and values) are declared below; each lives in its own module tree.
pub mod frame;
pub mod message;
pub mod primitives;
pub mod types;

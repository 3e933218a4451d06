//! `ringgate-examples`: runnable programs that embed the `ringgate` library through its public
//! API — the `ringgate` node (a CQL coordinator that drivers connect to; `src/bin/ringgate.rs`)
//! and a minimal embedding (`examples/embedded.rs`) — and what the node needs beside the
//! library: its typed configuration ([`node_config`]) and its admin HTTP endpoint
//! ([`admin_http`]). The HTTP gateway (Stargate's auth, REST, Document and GraphQL APIs) is its
//! own package, `ringgate-gateway` in `examples/gateway/`, so its HTTP stack does not slow the
//! node's build.

pub mod admin_http;
pub mod node_config;

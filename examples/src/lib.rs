//! `ringgate-examples`: runnable programs that embed the `ringgate` library — the `ringgate`
//! node (a CQL coordinator that drivers connect to), a REST gateway and a minimal embedding —
//! and the small pieces they share.

pub mod admin_http;
pub mod node_config;

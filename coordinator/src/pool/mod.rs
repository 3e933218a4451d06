//! Connections to replicas: multiplexed, heartbeated, with backpressure on stream ids.

mod connection;
mod streams;
#[cfg(test)]
mod tests;

pub use connection::{Connection, ConnectionConfig, ConnectionError};

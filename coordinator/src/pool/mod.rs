//! Connections to replicas: multiplexed, heartbeated, with backpressure on stream ids.

mod connection;
mod node;
mod streams;
#[cfg(test)]
mod tests;

pub use connection::{Connection, ConnectionConfig, ConnectionError};
pub use node::{ConnectError, ConnectFuture, Connector, Health, NodePool, PoolConfig};

//! Connections to replicas: multiplexed, heartbeated, with backpressure on stream ids.

mod connection;
pub mod cork;
mod handshake;
mod node;
mod registry;
mod streams;
#[cfg(test)]
mod tests;
mod traffic;

pub use connection::{Connection, ConnectionConfig, ConnectionError};
pub use handshake::{ConnectOptions, Credentials, Handshake, TcpConnector, connect};
pub use node::{ConnectError, ConnectFuture, Connector, Health, NodePool, PoolConfig};
pub use registry::{LoginAs, PoolSnapshot, Pools};
pub use traffic::replica_bytes;

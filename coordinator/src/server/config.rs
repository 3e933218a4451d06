//! [`ServerConfig`]: limits, authentication and the system tables of a Ringgate front end.

use std::sync::Arc;
use std::time::Duration;

use super::auth::Authenticator;
use super::metrics::ServerMetrics;
use super::served_tables::SystemTables;
use crate::tls::ServerTls;

/// Cassandra's default `native_transport_max_frame_size`: 16 MiB.
pub const DEFAULT_MAX_BODY_LEN: usize = 16 * 1024 * 1024;

/// Default bound on requests a client may have waiting on one connection.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 2048;

/// Default bound on client connections a node serves at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// Default bound on how long a drain waits for clients' requests to be answered: longer than
/// the coordinator's default request timeout (12 s), so that every request in flight gets its
/// answer or its timeout error.
pub const DEFAULT_DRAIN_GRACE: Duration = Duration::from_secs(30);

/// Default bound on how long a client connection may stay silent with nothing in flight (and
/// on how long one write to a client may stall): five minutes, well above the heartbeat
/// interval of drivers (30 s), which keeps their idle connections busy.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// How a Ringgate node serves its clients; shared by every session.
#[derive(Clone)]
pub struct ServerConfig {
    /// The system tables this node answers.
    pub system: Arc<SystemTables>,
    /// `None`: clients need no credentials. Otherwise STARTUP is answered with AUTHENTICATE and
    /// no request is served before this authenticator accepts the client.
    pub authenticator: Option<Arc<dyn Authenticator>>,
    /// The largest envelope body accepted (after decompression), in bytes. Larger ones get a
    /// protocol error and are skipped without being buffered.
    pub max_body_len: usize,
    /// The most forwarded requests a connection may have waiting; more get OVERLOADED.
    pub max_in_flight: usize,
    /// The most clients served at once; connections past it are closed as soon as accepted.
    pub max_connections: usize,
    /// TLS on the listener (`None`: plain TCP).
    pub tls: Option<ServerTls>,
    /// Where clients' requests, connections and bytes are counted.
    pub metrics: ServerMetrics,
    /// The longest a drain ([`serve_until`](super::serve_until)) waits for the answers to
    /// requests in flight.
    pub drain_grace: Duration,
    /// A client connection that sends nothing for this long while none of its requests is in
    /// flight and nothing was written to it (one that sent half an envelope and went silent,
    /// say) is closed; so is one whose
    /// responses could not be written for this long (a client that stopped reading: the node
    /// stops reading from it as soon as its socket's buffer is full, and waits this long for
    /// it to read). `None`: never.
    pub idle_timeout: Option<Duration>,
}

impl ServerConfig {
    /// A configuration with the defaults: no authentication, no TLS, 16 MiB bodies, 2048
    /// requests in flight per connection, 10,000 connections, a 30 s drain grace period, a
    /// five-minute idle timeout.
    pub fn new(system: Arc<SystemTables>) -> Self {
        ServerConfig {
            system,
            authenticator: None,
            max_body_len: DEFAULT_MAX_BODY_LEN,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            tls: None,
            metrics: ServerMetrics::new(),
            drain_grace: DEFAULT_DRAIN_GRACE,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
        }
    }

    /// The same configuration, requiring clients to authenticate with `authenticator`.
    #[must_use]
    pub fn with_authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> Self {
        self.authenticator = Some(authenticator);
        self
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("system", &self.system)
            .field(
                "authenticator",
                &self
                    .authenticator
                    .as_ref()
                    .map(|a| a.class_name().to_owned()),
            )
            .field("max_body_len", &self.max_body_len)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_connections", &self.max_connections)
            .field("tls", &self.tls)
            .field("drain_grace", &self.drain_grace)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

//! The CQL front end: what drivers connect to, as if Ringgate were the cluster.
//!
//! - [`ServerSession`] is one client connection's protocol state machine, without I/O (bytes
//!   in, bytes and [`SessionEvent`]s out): the handshake in v3, v4 and v5 (OPTIONS, STARTUP,
//!   compression, the v5 framing switch, refusing other versions so drivers step down),
//!   authentication, REGISTER, and the system tables Ringgate answers itself. Everything else
//!   becomes a [`ForwardRequest`] for the shell.
//! - [`served_tables`]: `system.local`, `system.peers` and `system.peers_v2` as Ringgate.
//! - [`serve`] is the thin tokio shell: one task per client, moving bytes between the socket and
//!   the session and asking a [`Handler`] to forward requests and an [`Authenticator`] to check
//!   credentials.
//!
//! ```no_run
//! use std::sync::Arc;
//! use futures::future::BoxFuture;
//! use ringgate::protocol::message::{ErrorDetails, ErrorResponse, Response};
//! use ringgate::server::served_tables::{RinggateNode, SystemInfo, SystemTables};
//! use ringgate::server::{ForwardRequest, Handler, Reply, ServerConfig, serve};
//!
//! struct Refuse;
//!
//! impl Handler for Refuse {
//!     fn request(&self, _request: ForwardRequest) -> BoxFuture<'static, Reply> {
//!         let error = ErrorResponse::new(ErrorDetails::Invalid, "nothing is served here");
//!         Box::pin(async move { Reply::Message(Response::Error(error)) })
//!     }
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let me = RinggateNode::new("127.0.0.1".parse()?, 19042, "dc1", "rack1");
//! let system = Arc::new(SystemTables::new(SystemInfo::new(me, "my-cluster"))?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:19042").await?;
//! // Drivers now connect to 127.0.0.1:19042 and see a one-node cluster named my-cluster.
//! serve(listener, Arc::new(ServerConfig::new(system)), Arc::new(Refuse)).await?;
//! # Ok(())
//! # }
//! ```

mod auth;
mod config;
mod coordinated;
mod drain;
mod event;
mod handshake;
mod metrics;
mod refusal;
mod replication;
mod requests;
pub mod served_tables;
mod session;
mod shell;
mod tier;
mod token;

pub use auth::{
    AuthFailure, AuthenticatedUser, Authenticator, Credentials, PASSWORD_AUTHENTICATOR,
    parse_sasl_plain,
};
pub use config::{
    DEFAULT_DRAIN_GRACE, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BODY_LEN, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_IN_FLIGHT, ServerConfig,
};
pub use coordinated::{CoordinatorAuthenticator, CoordinatorHandler, system_tables};
pub use drain::Drain;
pub use event::{ForwardRequest, Reply, SessionEvent};
pub use metrics::{
    REQUEST_OPCODES, REQUEST_OUTCOMES, ServerMetrics, ServerSnapshot, outcome_label,
};
pub use refusal::{SUPPORTED_VERSIONS, message as unsupported_version_message};
pub use session::ServerSession;
pub use shell::{Handler, serve, serve_until};
pub use tier::{PeerState, TIER_EVENTS_BUFFER, Tier, TierConfig};
pub use token::{IssuedTokens, NoRandomness, TOKEN_USERNAME, TokenAuthenticator, TokenStore};

#[cfg(test)]
mod tests;

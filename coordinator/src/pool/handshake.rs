//! Opening a connection to a node: TCP, protocol version negotiation (newest first, one
//! version down on "unsupported version"), OPTIONS/SUPPORTED, STARTUP with LZ4 when the node
//! offers it, SASL PLAIN when the node asks for authentication, and the switch to the framing
//! the handshake settled.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use ringgate_protocol::frame::{Compression, Decoded, Envelope, FrameCodec, FrameError, Header};
use ringgate_protocol::message::{
    AuthToken, COMPRESSION, CQL_VERSION, DRIVER_NAME, DRIVER_VERSION, ErrorDetails, ErrorResponse,
    Request, Response, Startup, decode_response,
};
use ringgate_protocol::{Direction, ProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::tls::{ClientTls, ReplicaStream};

use super::{ConnectError, ConnectFuture, Connection, ConnectionConfig, Connector};

/// A user name and password for SASL PLAIN.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// The role to log in as.
    pub username: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"…")
            .finish()
    }
}

/// How to open connections to nodes.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The newest protocol version to try; older ones follow when a node refuses it.
    pub max_version: ProtocolVersion,
    /// Ask for LZ4 compression when the node offers it. Off by default: it trades the
    /// coordinator's CPU for bandwidth, and replicas are usually on the coordinator's own
    /// network.
    pub compression: bool,
    /// Credentials, for nodes that ask for authentication.
    pub credentials: Option<Credentials>,
    /// The longest the TCP connect and the whole handshake may take, per version tried.
    pub connect_timeout: Duration,
    /// Settings of the established connection.
    pub connection: ConnectionConfig,
    /// TLS to the nodes (`None`: plain TCP).
    pub tls: Option<ClientTls>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            max_version: ProtocolVersion::V5,
            compression: false,
            credentials: None,
            connect_timeout: Duration::from_secs(5),
            connection: ConnectionConfig::default(),
            tls: None,
        }
    }
}

/// What a node said about itself during the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The protocol version settled.
    pub version: ProtocolVersion,
    /// The compression settled.
    pub compression: Option<Compression>,
    /// The node's SUPPORTED options (CQL_VERSION, COMPRESSION, PROTOCOL_VERSIONS, …).
    pub supported: HashMap<String, Vec<String>>,
    /// The authenticator class, when the node asked for authentication.
    pub authenticator: Option<String>,
}

/// Opens a connection to `addr`, trying `options.max_version` first and older versions when
/// the node refuses one. Server events (stream -1) go to `events` when given.
pub async fn connect(
    addr: SocketAddr,
    options: &ConnectOptions,
    events: Option<mpsc::Sender<Envelope>>,
) -> Result<(Connection, Handshake), ConnectError> {
    let mut version = options.max_version;
    loop {
        let attempt = tokio::time::timeout(
            options.connect_timeout,
            connect_version(addr, version, options),
        )
        .await
        .unwrap_or_else(|_| {
            Err(Refusal::Failed(format!(
                "handshake timed out after {:?}",
                options.connect_timeout
            )))
        });
        match attempt {
            Ok((socket, codec, buf, handshake)) => {
                let connection = Connection::start(
                    socket,
                    addr,
                    handshake.version,
                    codec,
                    buf,
                    &options.connection,
                    events,
                );
                return Ok((connection, handshake));
            }
            Err(Refusal::Version(message)) => match older(version) {
                Some(v) => {
                    tracing::debug!(%addr, %version, %message, "protocol version refused; trying {v}");
                    version = v;
                }
                None => return Err(ConnectError::UnsupportedVersion { addr, message }),
            },
            Err(Refusal::Authentication(error)) => {
                return Err(ConnectError::Authentication {
                    addr,
                    error: Box::new(error),
                });
            }
            Err(Refusal::Failed(message)) => return Err(ConnectError::Failed { addr, message }),
        }
    }
}

fn older(v: ProtocolVersion) -> Option<ProtocolVersion> {
    match v {
        ProtocolVersion::V5 => Some(ProtocolVersion::V4),
        ProtocolVersion::V4 => Some(ProtocolVersion::V3),
        ProtocolVersion::V3 => None,
    }
}

/// An authentication refused by this side (no credentials, a mechanism other than PLAIN), as
/// the AuthenticationError a node would send.
fn refused_here(message: String) -> Refusal {
    Refusal::Authentication(ErrorResponse::new(
        ErrorDetails::AuthenticationError,
        message,
    ))
}

enum Refusal {
    Version(String),
    Authentication(ErrorResponse),
    Failed(String),
}

impl From<std::io::Error> for Refusal {
    fn from(e: std::io::Error) -> Self {
        Refusal::Failed(e.to_string())
    }
}

/// One connection's handshake state: the socket, the codec, and the bytes read so far.
struct Exchange {
    socket: ReplicaStream,
    codec: FrameCodec,
    buf: BytesMut,
    version: ProtocolVersion,
}

impl Exchange {
    async fn ask(&mut self, request: Request) -> Result<Envelope, Refusal> {
        self.send(&request).await?;
        self.receive().await
    }

    async fn send(&mut self, request: &Request) -> Result<(), Refusal> {
        let mut body = BytesMut::new();
        request
            .encode(self.version, &mut body)
            .map_err(|e| Refusal::Failed(e.to_string()))?;
        let header = Header::new(self.version, Direction::Request, 0, request.opcode());
        let mut out = BytesMut::new();
        let request = Envelope::new(header, body.freeze());
        self.codec
            .encode(&request, &mut out)
            .and_then(|()| self.codec.flush(&mut out))
            .map_err(|e| Refusal::Failed(e.to_string()))?;
        self.socket.write_all(&out).await?;
        self.socket.flush().await?;
        Ok(())
    }

    async fn receive(&mut self) -> Result<Envelope, Refusal> {
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Decoded::Ready(envelope)) if envelope.header.stream == 0 => {
                    return Ok(envelope);
                }
                Ok(Decoded::Ready(_)) => {} // an event or a stray answer: not ours
                Ok(Decoded::NeedMore(n)) => {
                    self.buf.reserve(n.min(64 * 1024));
                    if self.socket.read_buf(&mut self.buf).await? == 0 {
                        return Err(Refusal::Failed(
                            "the node closed the connection during the handshake".to_owned(),
                        ));
                    }
                }
                // A node that answers in a version we do not speak refuses ours.
                Err(e @ FrameError::UnsupportedVersion { .. }) => {
                    return Err(Refusal::Version(e.to_string()));
                }
                Err(e) => return Err(Refusal::Failed(e.to_string())),
            }
        }
    }

    /// Switches the codec to the settled mode.
    fn establish(&mut self, compression: Option<Compression>) -> Result<(), Refusal> {
        self.codec
            .established(self.version, compression)
            .map_err(|e| Refusal::Failed(e.to_string()))
    }
}

async fn connect_version(
    addr: SocketAddr,
    version: ProtocolVersion,
    options: &ConnectOptions,
) -> Result<(ReplicaStream, FrameCodec, BytesMut, Handshake), Refusal> {
    let socket = ReplicaStream::connect(addr, options.tls.as_ref()).await?;
    let mut x = Exchange {
        socket,
        codec: FrameCodec::client(),
        buf: BytesMut::with_capacity(4096),
        version,
    };

    let answer = x.ask(Request::Options).await?;
    let supported: HashMap<String, Vec<String>> = match decode(&answer)? {
        Response::Supported(s) => s.options.into_iter().collect(),
        _ => return Err(refusal(&answer)),
    };
    let offers_lz4 = supported
        .get("COMPRESSION")
        .is_some_and(|c| c.iter().any(|c| c == "lz4"));
    let compression = (options.compression && offers_lz4).then_some(Compression::Lz4);

    let mut startup = Startup::new()
        .with_option(CQL_VERSION, "3.0.0")
        .with_option(DRIVER_NAME, "Ringgate")
        .with_option(DRIVER_VERSION, env!("CARGO_PKG_VERSION"));
    if compression.is_some() {
        startup = startup.with_option(COMPRESSION, "lz4");
    }
    x.send(&Request::Startup(startup)).await?;
    // v3/v4: the node compresses its answer to STARTUP already (READY and AUTHENTICATE come
    // compressed when compression was asked for). v5: framing starts after that answer.
    if !version.is_framed() {
        x.establish(compression)?;
    }
    let answer = x.receive().await?;
    let mut authenticator = None;
    match decode(&answer)? {
        Response::Ready => {
            if version.is_framed() {
                x.establish(compression)?;
            }
        }
        Response::Authenticate(class) => {
            if version.is_framed() {
                x.establish(compression)?;
            }
            authenticate(&mut x, &class, options.credentials.as_ref()).await?;
            authenticator = Some(class);
        }
        _ => return Err(refusal(&answer)),
    }
    let handshake = Handshake {
        version,
        compression,
        supported,
        authenticator,
    };
    Ok((x.socket, x.codec, x.buf, handshake))
}

/// SASL PLAIN: one AUTH_RESPONSE with `\0user\0password`, answered by AUTH_SUCCESS.
async fn authenticate(
    x: &mut Exchange,
    class: &str,
    credentials: Option<&Credentials>,
) -> Result<(), Refusal> {
    let Some(credentials) = credentials else {
        return Err(refused_here(format!(
            "the node requires authentication ({class}) and no credentials are configured"
        )));
    };
    let mut token = Vec::with_capacity(2 + credentials.username.len() + credentials.password.len());
    token.push(0);
    token.extend_from_slice(credentials.username.as_bytes());
    token.push(0);
    token.extend_from_slice(credentials.password.as_bytes());
    let answer = x.ask(Request::AuthResponse(AuthToken::new(token))).await?;
    match decode(&answer)? {
        Response::AuthSuccess(_) => Ok(()),
        Response::AuthChallenge(_) => Err(refused_here(format!(
            "{class} sent a SASL challenge; only PLAIN is supported"
        ))),
        _ => Err(refusal(&answer)),
    }
}

/// The message of a handshake answer, decoded in the version of its own header (a node that
/// refuses our version answers in one it speaks).
fn decode(answer: &Envelope) -> Result<Response, Refusal> {
    decode_response(answer)
        .map(|(_, response)| response)
        .map_err(|e| Refusal::Failed(format!("malformed {:?}: {e}", answer.header.opcode)))
}

/// What an unexpected answer means: a refused version, refused credentials, or a failure.
fn refusal(answer: &Envelope) -> Refusal {
    let Ok(Response::Error(error)) = decode(answer) else {
        return Refusal::Failed(format!(
            "unexpected {:?} during the handshake",
            answer.header.opcode
        ));
    };
    match error.details {
        ErrorDetails::ProtocolError
            if error
                .message
                .contains("nvalid or unsupported protocol version") =>
        {
            Refusal::Version(error.message)
        }
        ErrorDetails::AuthenticationError => Refusal::Authentication(error),
        details => Refusal::Failed(format!("error {:#06x}: {}", details.code(), error.message)),
    }
}

/// A [`Connector`] that runs [`connect`] with fixed options (one identity).
#[derive(Debug, Clone)]
pub struct TcpConnector {
    options: Arc<ConnectOptions>,
    events: Option<mpsc::Sender<Envelope>>,
}

impl TcpConnector {
    /// A connector with these options; server events go to `events` when given.
    pub fn new(options: ConnectOptions, events: Option<mpsc::Sender<Envelope>>) -> Self {
        TcpConnector {
            options: Arc::new(options),
            events,
        }
    }
}

impl Connector for TcpConnector {
    fn connect(&self, addr: SocketAddr) -> ConnectFuture {
        let options = Arc::clone(&self.options);
        let events = self.events.clone();
        Box::pin(async move { connect(addr, &options, events).await.map(|(c, _)| c) })
    }
}

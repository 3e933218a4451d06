//! The session's handshake: which messages each phase accepts, OPTIONS, STARTUP (version,
//! compression, the v5 framing switch) and authentication.

use std::sync::Arc;

use bytes::Bytes;

use ringgate_protocol::frame::{Compression, Envelope, Flags};
use ringgate_protocol::message::{
    AuthToken, ErrorDetails, Response, Startup, Supported, split_request_body,
};
use ringgate_protocol::{Opcode, ProtocolVersion};

use super::auth::{AuthFailure, AuthenticatedUser, parse_sasl_plain};
use super::event::SessionEvent;
use super::refusal::SUPPORTED_VERSIONS;
use super::session::{Phase, ServerSession, version_mismatch};

impl ServerSession {
    /// Handles one whole envelope from the client.
    pub(crate) fn on_envelope(&mut self, envelope: Envelope) {
        let Envelope { header, body } = envelope;
        let stream = header.stream;
        match self.version {
            None => self.version = Some(header.version),
            Some(expected) if expected != header.version => {
                self.protocol_error(stream, version_mismatch(expected, header.version));
                return;
            }
            Some(_) => {}
        }
        let opcode = header.opcode;
        if !opcode.is_request() {
            self.protocol_error(
                stream,
                format!(
                    "Wrong protocol direction (expected RESPONSE, got REQUEST) for opcode {} ({})",
                    opcode as u8,
                    opcode.name()
                ),
            );
            return;
        }
        if opcode == Opcode::Options {
            self.send(stream, &Response::Supported(self.supported()));
            return;
        }
        let unexpected = |expecting: &str| {
            format!(
                "Unexpected message {}, expecting {expecting}",
                opcode.name()
            )
        };
        match (self.phase, opcode) {
            (Phase::Startup, Opcode::Startup) => self.on_startup(stream, header.flags, &body),
            (Phase::Startup, _) => self.protocol_error(stream, unexpected("STARTUP or OPTIONS")),
            (_, Opcode::Startup) => self.protocol_error(
                stream,
                "Unexpected message STARTUP, the connection is already initialized",
            ),
            (Phase::Authenticating, Opcode::AuthResponse) => self.on_auth_response(stream, &body),
            (Phase::Authenticating | Phase::AuthPending { .. }, _) => {
                self.protocol_error(stream, unexpected("AUTH_RESPONSE"));
            }
            (Phase::Ready, Opcode::AuthResponse) => self.protocol_error(
                stream,
                "Unexpected message AUTH_RESPONSE, the connection is already authenticated",
            ),
            (Phase::Ready, _) => self.on_request(header, body),
        }
    }

    /// What OPTIONS is answered with.
    fn supported(&self) -> Supported {
        let list = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
        let versions: Vec<&str> = SUPPORTED_VERSIONS.split(", ").collect();
        Supported {
            options: vec![
                ("PROTOCOL_VERSIONS".to_owned(), list(&versions)),
                ("COMPRESSION".to_owned(), list(&["lz4", "snappy"])),
                (
                    "CQL_VERSION".to_owned(),
                    vec![self.config.system.info().cql_version],
                ),
            ],
        }
    }

    fn on_startup(&mut self, stream: i16, flags: Flags, body: &Bytes) {
        let startup = split_request_body(body, flags.contains(Flags::CUSTOM_PAYLOAD))
            .and_then(|(_, message)| Startup::decode(&message));
        let startup = match startup {
            Ok(startup) => startup,
            Err(e) => return self.protocol_error(stream, format!("Invalid STARTUP message: {e}")),
        };
        if startup.cql_version().is_none() {
            return self.protocol_error(stream, "Missing value CQL_VERSION in STARTUP message");
        }
        let compression = match startup.compression() {
            None => None,
            Some(name) => match Compression::from_name(name) {
                Some(c) => Some(c),
                None => {
                    return self
                        .protocol_error(stream, format!("Unknown compression algorithm: {name}"));
                }
            },
        };
        let version = self.version.unwrap_or(ProtocolVersion::V5);
        if version.is_framed() && compression == Some(Compression::Snappy) {
            return self.protocol_error(stream, "Snappy compression is not supported in v5");
        }
        let answer = match &self.config.authenticator {
            Some(authenticator) => {
                self.phase = Phase::Authenticating;
                Response::Authenticate(authenticator.class_name().to_owned())
            }
            None => {
                self.phase = Phase::Ready;
                Response::Ready
            }
        };
        self.compression = compression;
        // v3/v4: the answer is already compressed, as Cassandra does; v5: the answer is the
        // last unframed envelope.
        if version.is_framed() {
            self.send(stream, &answer);
            self.establish(version, compression);
        } else {
            self.establish(version, compression);
            self.send(stream, &answer);
        }
    }

    fn establish(&mut self, version: ProtocolVersion, compression: Option<Compression>) {
        if let Err(e) = self.codec.established(version, compression) {
            self.protocol_error(0, format!("{e}"));
        }
    }

    fn on_auth_response(&mut self, stream: i16, body: &Bytes) {
        let token = match AuthToken::decode(body) {
            Ok(token) => token.token.unwrap_or_default(),
            Err(e) => {
                return self.protocol_error(stream, format!("Invalid AUTH_RESPONSE message: {e}"));
            }
        };
        match parse_sasl_plain(&token) {
            Ok(credentials) => {
                self.phase = Phase::AuthPending { stream };
                self.events.push_back(SessionEvent::Authenticate {
                    stream,
                    credentials,
                });
            }
            Err(failure) => {
                self.error(stream, ErrorDetails::AuthenticationError, failure.message);
            }
        }
    }

    /// The shell's verdict on the credentials of the pending AUTH_RESPONSE: AUTH_SUCCESS and
    /// requests are served from now on, or an authentication error and the client may try
    /// again. Ignored when no credentials are pending.
    pub fn authenticated(&mut self, outcome: Result<AuthenticatedUser, AuthFailure>) {
        let Phase::AuthPending { stream } = self.phase else {
            return;
        };
        match outcome {
            Ok(identity) => {
                self.identity = Some(Arc::new(identity));
                self.phase = Phase::Ready;
                self.send(stream, &Response::AuthSuccess(AuthToken { token: None }));
            }
            Err(failure) => {
                self.phase = Phase::Authenticating;
                self.error(stream, ErrorDetails::AuthenticationError, failure.message);
            }
        }
    }
}

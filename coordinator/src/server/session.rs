//! [`ServerSession`]: one client connection's protocol state, without I/O.
//!
//! The shell feeds it the bytes it reads ([`ServerSession::receive`]), takes the bytes to write
//! ([`ServerSession::transmit`]) and the things only it can do ([`ServerSession::poll_event`]:
//! forward a request, check credentials), and hands back their outcomes
//! ([`ServerSession::reply`], [`ServerSession::authenticated`]). Tests drive it the same way.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use ringgate_protocol::frame::{
    Compression, Decoded, Envelope, EnvelopeDecoder, Flags, FrameCodec, FrameError, HEADER_LEN,
    Header, Mode,
};
use ringgate_protocol::message::Event;
use ringgate_protocol::message::{
    ErrorDetails, ErrorResponse, EventType, Response, ResultBody, response_message,
};
use ringgate_protocol::{Direction, Opcode, ProtocolVersion};

use super::auth::AuthenticatedUser;
use super::config::ServerConfig;
use super::event::{Reply, SessionEvent};
use super::refusal;

/// Where the connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Before STARTUP: only OPTIONS and STARTUP are accepted.
    Startup,
    /// AUTHENTICATE sent: waiting for the client's AUTH_RESPONSE.
    Authenticating,
    /// Credentials handed to the shell, which has not answered yet.
    AuthPending { stream: i16 },
    /// Serving requests.
    Ready,
}

/// One client connection's protocol state machine. See the module documentation.
#[derive(Debug)]
pub struct ServerSession {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) codec: FrameCodec,
    /// The version the client speaks, fixed by its first envelope in a supported version.
    pub(crate) version: Option<ProtocolVersion>,
    pub(crate) compression: Option<Compression>,
    pub(crate) phase: Phase,
    pub(crate) keyspace: Option<Arc<str>>,
    pub(crate) identity: Option<Arc<AuthenticatedUser>>,
    pub(crate) registered: Vec<EventType>,
    pub(crate) in_flight: usize,
    /// The stream of a forwarded `USE` not answered yet. Requests after it wait in `held`
    /// until its answer, so that they run in the keyspace it sets (drivers pipeline `USE`
    /// and `PREPARE`).
    pub(crate) use_pending: Option<i16>,
    /// Requests received while a `USE` was pending, in their order.
    pub(crate) held: VecDeque<(Header, Bytes)>,
    /// Bytes of a refused envelope still to drop as they arrive.
    skip: u64,
    out: BytesMut,
    pub(crate) events: VecDeque<SessionEvent>,
    closed: bool,
}

impl ServerSession {
    /// A session for a newly accepted client.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        let envelopes = EnvelopeDecoder::new()
            .expecting(Direction::Request)
            .with_max_body_len(config.max_body_len);
        ServerSession {
            config,
            codec: FrameCodec::new(envelopes),
            version: None,
            compression: None,
            phase: Phase::Startup,
            keyspace: None,
            identity: None,
            registered: Vec::new(),
            in_flight: 0,
            use_pending: None,
            held: VecDeque::new(),
            skip: 0,
            out: BytesMut::new(),
            events: VecDeque::new(),
            closed: false,
        }
    }

    /// The protocol version the client speaks, once it has sent a supported one.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// The compression STARTUP negotiated.
    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// Whether requests are served (STARTUP done and, with an authenticator, AUTH_SUCCESS sent).
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// The keyspace the client switched to with `USE`, as the replies showed it.
    pub fn keyspace(&self) -> Option<&str> {
        self.keyspace.as_deref()
    }

    /// Who the session is authenticated as.
    pub fn identity(&self) -> Option<&Arc<AuthenticatedUser>> {
        self.identity.as_ref()
    }

    /// The event types the client registered for.
    pub fn registered(&self) -> &[EventType] {
        &self.registered
    }

    /// How many forwarded requests wait for a reply.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// How many requests wait for the answer to a `USE` sent before them.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Whether the connection must be closed once [`ServerSession::transmit`]'s bytes are
    /// written: the byte stream can no longer be trusted (bad checksum, broken framing).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The next thing the shell must do, if any.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Whether [`ServerSession::transmit`] has bytes for the client.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty() || self.codec.has_pending()
    }

    /// The bytes to write to the client, if any.
    pub fn transmit(&mut self) -> Option<Bytes> {
        if self.codec.flush(&mut self.out).is_err() {
            self.closed = true;
        }
        (!self.out.is_empty()).then(|| self.out.split().freeze())
    }

    /// Reads as many whole envelopes from `input` as it holds, leaving an incomplete one there
    /// for the next call (with more bytes appended).
    pub fn receive(&mut self, input: &mut BytesMut) {
        loop {
            if self.closed {
                input.clear();
                return;
            }
            if self.skip > 0 {
                let n = usize::try_from(self.skip).map_or(input.len(), |s| s.min(input.len()));
                input.advance(n);
                self.skip -= n as u64;
                if self.skip > 0 {
                    return;
                }
            }
            // Even with `input` empty, the codec may still hold envelopes: the rest of a v5
            // segment that carried several.
            // Unframed, the header is visible before decoding: its stream id lets errors that
            // do not carry one (a corrupt compressed body) be answered on the right stream.
            let peeked = match self.codec.mode() {
                Mode::Unframed => refusal::peek_envelope(input),
                Mode::Framed(_) => None,
            };
            match self.codec.decode(input) {
                Ok(Decoded::Ready(envelope)) => self.on_envelope(envelope),
                Ok(Decoded::NeedMore(_)) => return,
                Err(e) => {
                    if !self.on_frame_error(e, input, peeked) {
                        return;
                    }
                }
            }
        }
    }

    /// Sends the shell's reply to the forwarded request on `stream`.
    pub fn reply(&mut self, stream: i16, reply: Reply) {
        self.in_flight = self.in_flight.saturating_sub(1);
        match reply {
            Reply::Raw {
                opcode,
                flags,
                body,
            } => {
                if opcode == Opcode::Result {
                    self.note_keyspace(flags, &body);
                }
                self.send_body(stream, opcode, flags.without(Flags::COMPRESSION), body);
            }
            Reply::Message(response) => {
                if let Response::Result(ResultBody::SetKeyspace(ks)) = &response {
                    self.keyspace = Some(ks.as_str().into());
                }
                self.send(stream, &response);
            }
        }
        if self.use_pending == Some(stream) {
            self.use_pending = None;
            self.release_held();
        }
    }

    /// Pushes a server event to the client, if it registered for its type. Returns whether it
    /// was sent.
    pub fn push_event(&mut self, event: &Event) -> bool {
        if self.phase != Phase::Ready || !self.registered.contains(&event.event_type()) {
            return false;
        }
        self.send(-1, &Response::Event(event.clone()));
        true
    }

    /// Records the keyspace a forwarded `USE` switched to.
    fn note_keyspace(&mut self, flags: Flags, body: &Bytes) {
        let Some(version) = self.version else { return };
        let message = response_message(
            body,
            flags.contains(Flags::TRACING),
            flags.contains(Flags::WARNING),
            flags.contains(Flags::CUSTOM_PAYLOAD),
        );
        if let Ok(message) = message
            && message.get(..4) == Some(&[0, 0, 0, 3])
            && let Ok(ResultBody::SetKeyspace(ks)) =
                ResultBody::decode(&body.slice_ref(message), version)
        {
            self.keyspace = Some(ks.into());
        }
    }

    /// Sends `response` on `stream`, in the client's version.
    pub(crate) fn send(&mut self, stream: i16, response: &Response) {
        let version = self.version.unwrap_or(ProtocolVersion::V5);
        let mut body = BytesMut::new();
        match response.encode(version, &mut body) {
            Ok(()) => self.send_body(stream, response.opcode(), Flags::empty(), body.freeze()),
            Err(e) => {
                let error = ErrorResponse::new(
                    ErrorDetails::ServerError,
                    format!("cannot encode the response: {e}"),
                );
                let mut body = BytesMut::new();
                if Response::Error(error).encode(version, &mut body).is_ok() {
                    self.send_body(stream, Opcode::Error, Flags::empty(), body.freeze());
                }
            }
        }
    }

    fn send_body(&mut self, stream: i16, opcode: Opcode, flags: Flags, body: Bytes) {
        let version = self.version.unwrap_or(ProtocolVersion::V5);
        let mut header = Header::new(version, Direction::Response, stream, opcode);
        header.flags = flags;
        let envelope = Envelope::new(header, body);
        if self.codec.encode(&envelope, &mut self.out).is_err() {
            // Too large to compress or frame: tell the client rather than drop it.
            let message = "the response is too large to send";
            let error = ErrorResponse::new(ErrorDetails::ServerError, message);
            let mut body = BytesMut::new();
            if Response::Error(error).encode(version, &mut body).is_ok() {
                let header = Header::new(version, Direction::Response, stream, Opcode::Error);
                if self
                    .codec
                    .encode(&Envelope::new(header, body), &mut self.out)
                    .is_err()
                {
                    self.closed = true;
                }
            }
        }
    }

    /// Sends a protocol error on `stream`.
    pub(crate) fn protocol_error(&mut self, stream: i16, message: impl Into<String>) {
        self.error(stream, ErrorDetails::ProtocolError, message);
    }

    /// Sends an error on `stream`.
    pub(crate) fn error(&mut self, stream: i16, details: ErrorDetails, message: impl Into<String>) {
        self.send(
            stream,
            &Response::Error(ErrorResponse::new(details, message)),
        );
    }

    /// Sends a protocol error and closes the connection.
    fn fatal(&mut self, stream: i16, message: impl Into<String>) {
        self.protocol_error(stream, message);
        self.closed = true;
    }

    /// Answers a frame-layer error. Returns whether decoding can go on with `input`.
    fn on_frame_error(
        &mut self,
        error: FrameError,
        input: &mut BytesMut,
        peeked: Option<(i16, u64)>,
    ) -> bool {
        let framed = matches!(self.codec.mode(), Mode::Framed(_));
        let stream = error.stream().or(peeked.map(|(s, _)| s)).unwrap_or(0);
        match error {
            FrameError::UnsupportedVersion {
                version_byte,
                stream,
            } if !framed => {
                // Wait for the whole header, to know how much to skip.
                let Some((_, total)) = refusal::peek_envelope(input) else {
                    return false;
                };
                refusal::encode(version_byte, stream, &mut self.out);
                self.skip_envelope(total)
            }
            FrameError::BodyTooLarge { len, max, stream } => {
                self.protocol_error(
                    stream,
                    format!(
                        "Request is too big: length {len} exceeds maximum allowed length {max}"
                    ),
                );
                match (framed, peeked) {
                    // The segment decoder skips the envelope itself.
                    (true, _) => true,
                    (false, Some((_, total))) => self.skip_envelope(total),
                    (false, None) => {
                        self.closed = true;
                        false
                    }
                }
            }
            FrameError::UnknownOpcode { opcode, stream } if !framed => {
                self.protocol_error(stream, format!("Unknown opcode {opcode}"));
                peeked.is_some_and(|(_, total)| self.skip_envelope(total)) || self.close_silently()
            }
            FrameError::WrongDirection { stream, .. } if !framed => {
                self.protocol_error(
                    stream,
                    "Wrong protocol direction (expected REQUEST, got RESPONSE)",
                );
                peeked.is_some_and(|(_, total)| self.skip_envelope(total)) || self.close_silently()
            }
            FrameError::VersionMismatch {
                expected, actual, ..
            } if !framed => {
                self.protocol_error(stream, version_mismatch(expected, actual));
                peeked.is_some_and(|(_, total)| self.skip_envelope(total)) || self.close_silently()
            }
            // The envelope was consumed; only its body was bad.
            FrameError::CompressionNotNegotiated { .. }
            | FrameError::Decompression { .. }
            | FrameError::DecompressedLength { .. }
            | FrameError::DecompressedTooLarge { .. }
                if !framed =>
            {
                self.protocol_error(stream, format!("{error}"));
                true
            }
            FrameError::VersionMismatch {
                expected, actual, ..
            } => {
                self.fatal(stream, version_mismatch(expected, actual));
                false
            }
            other => {
                self.fatal(stream, format!("{other}"));
                false
            }
        }
    }

    /// Drops the `total` bytes of the envelope at the front of `input` (those not yet received
    /// as they come). An envelope more than twice the body limit is taken for garbage: the
    /// connection closes instead.
    fn skip_envelope(&mut self, total: u64) -> bool {
        let limit = (self.config.max_body_len as u64)
            .saturating_mul(2)
            .saturating_add(HEADER_LEN as u64);
        if total > limit {
            self.closed = true;
            return false;
        }
        self.skip = total;
        true
    }

    fn close_silently(&mut self) -> bool {
        self.closed = true;
        false
    }
}

/// The error for an envelope in another version than the connection's.
pub(crate) fn version_mismatch(expected: ProtocolVersion, actual: ProtocolVersion) -> String {
    format!(
        "Invalid message version. Got {actual} but previous messages on this connection had version {expected}"
    )
}

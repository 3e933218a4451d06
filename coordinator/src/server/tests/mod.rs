//! The session driven directly: a client made of the protocol crate's codecs talks to a
//! [`ServerSession`] through byte buffers. Helpers here; tests by topic in the submodules.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;

use super::*;
use crate::server::served_tables::{RinggateNode, SystemInfo, SystemTables};
use ringgate_protocol::frame::{Compression, Decoded, Envelope, Flags, FrameCodec, Header};
use ringgate_protocol::message::{
    AuthToken, Consistency, ErrorResponse, Query, QueryParameters, Request, Response, ResultBody,
    Startup, split_response_body,
};
use ringgate_protocol::types::{CqlValue, decode_cell};
use ringgate_protocol::{Direction, Opcode, ProtocolVersion};

mod auth;
mod drain;
mod handshake;
mod idle;
mod interaction;
mod malformed;
mod requests;

pub(super) const V3: ProtocolVersion = ProtocolVersion::V3;
pub(super) const V4: ProtocolVersion = ProtocolVersion::V4;
pub(super) const V5: ProtocolVersion = ProtocolVersion::V5;

pub(super) fn system() -> Arc<SystemTables> {
    let local = RinggateNode::new("127.0.0.9".parse::<IpAddr>().unwrap(), 9042, "dc1", "rack1");
    Arc::new(SystemTables::new(SystemInfo::new(local, "ringgate")).unwrap())
}

pub(super) struct Refuse;

impl Authenticator for Refuse {
    fn authenticate(
        &self,
        _: Credentials,
    ) -> BoxFuture<'static, Result<AuthenticatedUser, AuthFailure>> {
        Box::pin(async { Err(AuthFailure::new("unused in session tests")) })
    }
}

pub(super) fn session() -> ServerSession {
    ServerSession::new(Arc::new(ServerConfig::new(system())))
}

pub(super) fn auth_session() -> ServerSession {
    ServerSession::new(Arc::new(
        ServerConfig::new(system()).with_authenticator(Arc::new(Refuse)),
    ))
}

/// A client made of the protocol crate's codecs.
pub(super) struct Client {
    pub(super) codec: FrameCodec,
    pub(super) version: ProtocolVersion,
    pub(super) wire: BytesMut,
    pub(super) received: BytesMut,
}

impl Client {
    pub(super) fn new(version: ProtocolVersion) -> Self {
        Client {
            codec: FrameCodec::client(),
            version,
            wire: BytesMut::new(),
            received: BytesMut::new(),
        }
    }

    pub(super) fn envelope(&mut self, stream: i16, opcode: Opcode, flags: Flags, body: Bytes) {
        let mut header = Header::new(self.version, Direction::Request, stream, opcode);
        header.flags = flags;
        self.codec
            .encode(&Envelope::new(header, body), &mut self.wire)
            .unwrap();
        self.codec.flush(&mut self.wire).unwrap();
    }

    pub(super) fn send(&mut self, session: &mut ServerSession, stream: i16, request: &Request) {
        let mut body = BytesMut::new();
        request.encode(self.version, &mut body).unwrap();
        self.envelope(stream, request.opcode(), Flags::empty(), body.freeze());
        session.receive(&mut self.wire);
        assert!(self.wire.is_empty(), "the session takes whole envelopes");
    }

    /// Every response the session has written, decoded.
    pub(super) fn responses(&mut self, session: &mut ServerSession) -> Vec<(Header, Response)> {
        if let Some(bytes) = session.transmit() {
            self.received.extend_from_slice(&bytes);
        }
        let mut out = Vec::new();
        while let Decoded::Ready(envelope) = self.codec.decode(&mut self.received).unwrap() {
            let flags = envelope.header.flags;
            let (_, body) = split_response_body(
                &envelope.body,
                flags.contains(Flags::TRACING),
                flags.contains(Flags::WARNING),
                flags.contains(Flags::CUSTOM_PAYLOAD),
            )
            .unwrap();
            let response = Response::decode(envelope.header.opcode, &body, self.version).unwrap();
            out.push((envelope.header, response));
        }
        out
    }

    pub(super) fn one(&mut self, session: &mut ServerSession) -> (Header, Response) {
        let mut all = self.responses(session);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    /// OPTIONS, then STARTUP with `compression`, switching codecs where Cassandra does.
    pub(super) fn handshake(
        &mut self,
        session: &mut ServerSession,
        compression: Option<Compression>,
    ) {
        self.send(session, 0, &Request::Options);
        let (_, supported) = self.one(session);
        assert!(matches!(supported, Response::Supported(_)));
        let mut startup = Startup::new().with_option("CQL_VERSION", "3.0.0");
        if let Some(c) = compression {
            startup = startup.with_option("COMPRESSION", c.name());
        }
        self.send(session, 1, &Request::Startup(startup));
        if !self.version.is_framed() {
            self.codec.established(self.version, compression).unwrap();
        }
    }

    pub(super) fn established(&mut self, compression: Option<Compression>) {
        if self.version.is_framed() {
            self.codec.established(self.version, compression).unwrap();
        }
    }

    pub(super) fn ready(
        version: ProtocolVersion,
        compression: Option<Compression>,
    ) -> (Self, ServerSession) {
        let mut client = Client::new(version);
        let mut s = session();
        client.handshake(&mut s, compression);
        let (header, ready) = client.one(&mut s);
        assert_eq!((header.stream, ready), (1, Response::Ready));
        client.established(compression);
        assert!(s.is_ready());
        (client, s)
    }
}

pub(super) fn query(text: &str) -> Request {
    Request::Query(Query::new(text, QueryParameters::new(Consistency::One)))
}

pub(super) fn error_of(response: Response) -> ErrorResponse {
    match response {
        Response::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

pub(super) fn rows_of(
    response: Response,
    version: ProtocolVersion,
) -> (Vec<String>, Vec<Vec<Option<CqlValue>>>) {
    let Response::Result(ResultBody::Rows(rows)) = response else {
        panic!("expected rows, got {response:?}")
    };
    let columns = rows.metadata.columns.clone().unwrap();
    let data = rows
        .rows()
        .unwrap()
        .map(|row| {
            row.unwrap()
                .cells()
                .zip(&columns)
                .map(|(cell, spec)| decode_cell(&spec.typ, cell, version).unwrap())
                .collect()
        })
        .collect();
    (columns.into_iter().map(|c| c.name).collect(), data)
}

pub(super) fn sasl(user: &str, password: &str) -> Request {
    Request::AuthResponse(AuthToken::new(format!("\0{user}\0{password}").into_bytes()))
}

pub(super) fn client_header(version: ProtocolVersion, stream: i16, opcode: Opcode) -> Header {
    Header::new(version, Direction::Response, stream, opcode)
}

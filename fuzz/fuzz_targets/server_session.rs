//! A client session of the ringgate node fed arbitrary bytes: the first byte picks a
//! handshake (protocol version, compression, authentication) that runs first, the rest
//! arrives in chunks whose sizes the input also picks. Forwarded requests are answered and
//! authentications accepted or refused, as a shell would. Nothing may panic, and what the
//! session buffers stays bounded.
#![no_main]

use std::sync::{Arc, OnceLock};

use bytes::{BufMut, BytesMut};
use libfuzzer_sys::fuzz_target;
use ringgate::protocol::message::{Response, ResultBody};
use ringgate::server::served_tables::{RinggateNode, SystemInfo, SystemTables};
use ringgate::server::{
    AuthFailure, AuthenticatedUser, Authenticator, Credentials, Reply, ServerConfig, ServerSession,
    SessionEvent,
};

/// An authenticator the session never calls itself (the shell does): it only makes the
/// session ask for credentials.
struct Refuse;

impl Authenticator for Refuse {
    fn authenticate(
        &self,
        _: Credentials,
    ) -> futures::future::BoxFuture<'static, Result<AuthenticatedUser, AuthFailure>> {
        Box::pin(async { Err(AuthFailure::new("no")) })
    }
}

/// A STARTUP envelope (unframed) in `version`, asking for `compression`.
fn startup(version: u8, compression: Option<&str>) -> Vec<u8> {
    let mut body = BytesMut::new();
    let pairs: Vec<(&str, &str)> = match compression {
        Some(c) => vec![("CQL_VERSION", "3.0.0"), ("COMPRESSION", c)],
        None => vec![("CQL_VERSION", "3.0.0")],
    };
    body.put_u16(pairs.len() as u16);
    for (k, v) in pairs {
        body.put_u16(k.len() as u16);
        body.put_slice(k.as_bytes());
        body.put_u16(v.len() as u16);
        body.put_slice(v.as_bytes());
    }
    let mut out = vec![version, 0, 0, 1, 0x01];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// The two configurations (without and with authentication), built once: the session only
/// reads them, so building the served tables again for every input is wasted work.
fn config(auth: bool) -> Arc<ServerConfig> {
    static CONFIGS: OnceLock<[Arc<ServerConfig>; 2]> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| [build_config(false), build_config(true)]);
    Arc::clone(&configs[usize::from(auth)])
}

fn build_config(auth: bool) -> Arc<ServerConfig> {
    let local = RinggateNode::new([127, 0, 0, 1].into(), 9042, "dc1", "rack1");
    let tables = SystemTables::new(SystemInfo::new(local, "fuzz")).expect("valid info");
    let mut config = ServerConfig::new(Arc::new(tables));
    config.max_body_len = 64 * 1024;
    if auth {
        config = config.with_authenticator(Arc::new(Refuse));
    }
    Arc::new(config)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let version = 3 + selector % 3;
    let compression = match (selector / 3) % 3 {
        0 => None,
        1 => Some("lz4"),
        _ => Some("snappy"),
    };
    let auth = selector & 0x80 != 0;
    let handshake = selector & 0x40 != 0;
    let mut session = ServerSession::new(config(auth));
    let mut input = BytesMut::new();
    if handshake {
        input.extend_from_slice(&startup(version, compression));
        session.receive(&mut input);
    }
    let mut rest = rest;
    let mut out = 0usize;
    while !rest.is_empty() && !session.is_closed() {
        let take = usize::from(rest[0]).max(1).min(rest.len());
        input.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        session.receive(&mut input);
        assert!(input.len() <= 4 * 64 * 1024 + 64, "unbounded input buffer");
        while let Some(event) = session.poll_event() {
            match event {
                SessionEvent::Request(request) => session.reply(
                    request.stream,
                    Reply::Message(Response::Result(ResultBody::Void)),
                ),
                SessionEvent::Authenticate { credentials, .. } => {
                    if credentials.username.len() % 2 == 0 {
                        session.authenticated(Ok(AuthenticatedUser {
                            user: credentials.username,
                            backend: None,
                        }));
                    } else {
                        session.authenticated(Err(AuthFailure::new("refused")));
                    }
                }
                SessionEvent::Registered(_) => {}
            }
        }
        while let Some(bytes) = session.transmit() {
            out += bytes.len();
        }
    }
    let _ = out;
});

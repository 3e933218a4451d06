//! Random interactions against a model: any sequence of client requests and shell verdicts,
//! in any version, with or without authentication. Every request is answered exactly once on
//! its own stream (or handed to the shell exactly once), and the session's phase follows the
//! model.

use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;
use ringgate_protocol::frame::Compression;
use ringgate_protocol::message::{EventType, Register, Request, Response, ResultBody, Startup};
use ringgate_protocol::{Opcode, ProtocolVersion};

#[derive(Debug, Clone)]
enum Op {
    Options,
    Startup(Option<Compression>),
    AuthResponse,
    Verdict(bool),
    SystemQuery,
    OtherQuery,
    Register,
    ReplyOldest,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Options),
        prop::option::of(prop::sample::select(vec![
            Compression::Lz4,
            Compression::Snappy
        ]))
        .prop_map(Op::Startup),
        Just(Op::AuthResponse),
        any::<bool>().prop_map(Op::Verdict),
        Just(Op::SystemQuery),
        Just(Op::OtherQuery),
        Just(Op::Register),
        Just(Op::ReplyOldest),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Model {
    Startup,
    Authenticating,
    Pending(i16),
    Ready,
}

/// What one step must produce.
#[derive(Debug, PartialEq)]
enum Expect {
    Nothing,
    Response(i16, Opcode),
    Forward(i16),
    Authenticate(i16),
    Registered(i16),
}

fn run(version: ProtocolVersion, with_auth: bool, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut s = if with_auth { auth_session() } else { session() };
    let mut client = Client::new(version);
    let mut model = Model::Startup;
    let mut forwarded: VecDeque<i16> = VecDeque::new();
    for (i, op) in ops.into_iter().enumerate() {
        let stream = i16::try_from(i % 32_768).unwrap_or(0);
        let mut switch_after = None;
        let expect = match op {
            Op::Options => {
                client.send(&mut s, stream, &Request::Options);
                Expect::Response(stream, Opcode::Supported)
            }
            Op::Startup(compression) => {
                let mut startup = Startup::new();
                if let Some(c) = compression {
                    startup = startup.with_option("COMPRESSION", c.name());
                }
                client.send(&mut s, stream, &Request::Startup(startup));
                let accepted = model == Model::Startup
                    && !(version.is_framed() && compression == Some(Compression::Snappy));
                if !accepted {
                    Expect::Response(stream, Opcode::Error)
                } else {
                    if version.is_framed() {
                        switch_after = Some(compression);
                    } else {
                        client.codec.established(version, compression).unwrap();
                    }
                    if with_auth {
                        model = Model::Authenticating;
                        Expect::Response(stream, Opcode::Authenticate)
                    } else {
                        model = Model::Ready;
                        Expect::Response(stream, Opcode::Ready)
                    }
                }
            }
            Op::AuthResponse => {
                client.send(&mut s, stream, &sasl("user", "pw"));
                if model == Model::Authenticating {
                    model = Model::Pending(stream);
                    Expect::Authenticate(stream)
                } else {
                    Expect::Response(stream, Opcode::Error)
                }
            }
            Op::Verdict(good) => {
                let outcome = if good {
                    Ok(AuthenticatedUser {
                        user: "user".into(),
                        backend: None,
                    })
                } else {
                    Err(AuthFailure::new("no"))
                };
                s.authenticated(outcome);
                match model {
                    Model::Pending(at) if good => {
                        model = Model::Ready;
                        Expect::Response(at, Opcode::AuthSuccess)
                    }
                    Model::Pending(at) => {
                        model = Model::Authenticating;
                        Expect::Response(at, Opcode::Error)
                    }
                    _ => Expect::Nothing,
                }
            }
            Op::SystemQuery => {
                client.send(&mut s, stream, &query("SELECT peer FROM system.peers_v2"));
                match model {
                    Model::Ready => Expect::Response(stream, Opcode::Result),
                    _ => Expect::Response(stream, Opcode::Error),
                }
            }
            Op::OtherQuery => {
                client.send(&mut s, stream, &query("SELECT * FROM ks.t"));
                match model {
                    Model::Ready => {
                        forwarded.push_back(stream);
                        Expect::Forward(stream)
                    }
                    _ => Expect::Response(stream, Opcode::Error),
                }
            }
            Op::Register => {
                let register = Register {
                    events: vec![EventType::SchemaChange],
                };
                client.send(&mut s, stream, &Request::Register(register));
                match model {
                    Model::Ready => Expect::Registered(stream),
                    _ => Expect::Response(stream, Opcode::Error),
                }
            }
            Op::ReplyOldest => match forwarded.pop_front() {
                Some(at) => {
                    s.reply(at, Reply::Message(Response::Result(ResultBody::Void)));
                    Expect::Response(at, Opcode::Result)
                }
                None => Expect::Nothing,
            },
        };
        let events: Vec<SessionEvent> = std::iter::from_fn(|| s.poll_event()).collect();
        let responses: Vec<(i16, Opcode)> = client
            .responses(&mut s)
            .into_iter()
            .map(|(h, _)| (h.stream, h.opcode))
            .collect();
        if let Some(compression) = switch_after {
            client.codec.established(version, compression).unwrap();
        }
        match expect {
            Expect::Nothing => {
                prop_assert!(
                    events.is_empty() && responses.is_empty(),
                    "{events:?} {responses:?}"
                );
            }
            Expect::Response(at, opcode) => {
                prop_assert!(events.is_empty(), "{events:?}");
                prop_assert_eq!(responses, vec![(at, opcode)]);
            }
            Expect::Forward(at) => {
                prop_assert!(responses.is_empty(), "{responses:?}");
                prop_assert!(
                    matches!(events.as_slice(), [SessionEvent::Request(r)] if r.stream == at),
                    "{events:?}"
                );
            }
            Expect::Authenticate(at) => {
                prop_assert!(responses.is_empty(), "{responses:?}");
                prop_assert!(
                    matches!(events.as_slice(), [SessionEvent::Authenticate { stream, .. }] if *stream == at),
                    "{events:?}"
                );
            }
            Expect::Registered(at) => {
                prop_assert_eq!(responses, vec![(at, Opcode::Ready)]);
                prop_assert!(
                    matches!(events.as_slice(), [SessionEvent::Registered(_)]),
                    "{events:?}"
                );
            }
        }
        prop_assert_eq!(s.is_ready(), model == Model::Ready);
        prop_assert_eq!(s.in_flight(), forwarded.len());
        prop_assert!(!s.is_closed());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_interactions_follow_the_model(
        version in prop::sample::select(ProtocolVersion::ALL.to_vec()),
        with_auth in any::<bool>(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run(version, with_auth, ops)?;
    }
}

//! Authentication: AUTHENTICATE, SASL PLAIN, the shell's verdict.

use super::*;
use ringgate_protocol::Opcode;
use ringgate_protocol::frame::Compression;
use ringgate_protocol::message::{AuthToken, ErrorDetails, Request, Response};

#[test]
fn authentication_gates_every_request() {
    for version in [V3, V4, V5] {
        let mut s = auth_session();
        let mut client = Client::new(version);
        client.handshake(&mut s, Some(Compression::Lz4));
        let (header, response) = client.one(&mut s);
        assert_eq!(
            (header.stream, response),
            (1, Response::Authenticate(PASSWORD_AUTHENTICATOR.to_owned()))
        );
        client.established(Some(Compression::Lz4));
        // Nothing is served before AUTH_SUCCESS.
        client.send(&mut s, 2, &query("SELECT * FROM system.local"));
        let e = error_of(client.one(&mut s).1);
        assert_eq!(
            (e.details, e.message.as_str()),
            (
                ErrorDetails::ProtocolError,
                "Unexpected message QUERY, expecting AUTH_RESPONSE"
            )
        );
        assert!(s.poll_event().is_none());
        // Wrong credentials: an authentication error, and the client may try again.
        client.send(&mut s, 3, &sasl("cassandra", "wrong"));
        let Some(SessionEvent::Authenticate {
            stream: 3,
            credentials,
        }) = s.poll_event()
        else {
            panic!()
        };
        assert_eq!(
            (credentials.username.as_str(), credentials.password.as_str()),
            ("cassandra", "wrong")
        );
        client.send(&mut s, 4, &query("SELECT * FROM ks.t"));
        assert_eq!(
            error_of(client.one(&mut s).1).details,
            ErrorDetails::ProtocolError
        );
        s.authenticated(Err(AuthFailure::bad_credentials("cassandra")));
        let (header, response) = client.one(&mut s);
        let e = error_of(response);
        assert_eq!((header.stream, e.code()), (3, 0x0100));
        assert_eq!(
            e.message,
            "Provided username cassandra and/or password are incorrect"
        );
        client.send(&mut s, 5, &sasl("cassandra", "cassandra"));
        assert!(matches!(
            s.poll_event(),
            Some(SessionEvent::Authenticate { stream: 5, .. })
        ));
        let identity = AuthenticatedUser {
            user: "cassandra".into(),
            backend: None,
        };
        s.authenticated(Ok(identity.clone()));
        assert_eq!(
            client.one(&mut s),
            (
                client_header(version, 5, Opcode::AuthSuccess),
                Response::AuthSuccess(AuthToken { token: None })
            )
        );
        client.send(&mut s, 6, &query("SELECT * FROM ks.t"));
        let Some(SessionEvent::Request(request)) = s.poll_event() else {
            panic!()
        };
        assert_eq!(request.identity.as_deref(), Some(&identity));
        // A late verdict changes nothing.
        s.authenticated(Err(AuthFailure::new("late")));
        assert!(s.is_ready() && client.responses(&mut s).is_empty());
    }
}

#[test]
fn malformed_sasl_is_an_authentication_error() {
    let mut s = auth_session();
    let mut client = Client::new(V4);
    client.handshake(&mut s, None);
    client.one(&mut s);
    client.send(
        &mut s,
        2,
        &Request::AuthResponse(AuthToken::new(&b"no separators"[..])),
    );
    assert_eq!(error_of(client.one(&mut s).1).code(), 0x0100);
    assert!(s.poll_event().is_none());
}

//! Client authentication: the credentials a driver sends (SASL PLAIN), the identity a session
//! runs under once they are accepted, and the pluggable [`Authenticator`] that decides.

use futures::future::BoxFuture;

/// The class name Cassandra's password authenticator announces in AUTHENTICATE; drivers pick
/// their PLAIN authenticator by it.
pub const PASSWORD_AUTHENTICATOR: &str = "org.apache.cassandra.auth.PasswordAuthenticator";

/// A username and password, as a client sent them (the same type the pools log in with).
pub use crate::pool::Credentials;

/// Who a session's requests run as, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedUser {
    /// The user's name, for logs and metrics.
    pub user: String,
    /// What the session's connections to the cluster log in with (`None`: the node's own
    /// connections). The password authenticator passes the client's credentials through; a
    /// token authenticator maps a token to a cluster role.
    pub backend: Option<Credentials>,
}

/// Why credentials were refused. The message goes to the client in an ERROR with code 0x0100
/// (authentication error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuthFailure {
    /// The message for the client.
    pub message: String,
}

impl AuthFailure {
    /// A failure with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        AuthFailure {
            message: message.into(),
        }
    }

    /// Cassandra's message for a wrong username or password.
    pub fn bad_credentials(username: &str) -> Self {
        Self::new(format!(
            "Provided username {username} and/or password are incorrect"
        ))
    }
}

/// Decides whether credentials are accepted. Implementations check them against the cluster
/// (the password authenticator) or against tokens a gateway issued (a token authenticator).
pub trait Authenticator: Send + Sync {
    /// The class name sent in AUTHENTICATE.
    fn class_name(&self) -> &str {
        PASSWORD_AUTHENTICATOR
    }

    /// Checks `credentials`; the identity the session then runs under, or why not.
    fn authenticate(
        &self,
        credentials: Credentials,
    ) -> BoxFuture<'static, Result<AuthenticatedUser, AuthFailure>>;
}

/// Reads a SASL PLAIN message (RFC 4616): `[authzid] NUL authcid NUL passwd`, all UTF-8.
pub fn parse_sasl_plain(token: &[u8]) -> Result<Credentials, AuthFailure> {
    let mut parts = token.split(|&b| b == 0);
    let (Some(_authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthFailure::new(
            "Authentication failed: malformed SASL PLAIN response",
        ));
    };
    let text = |bytes: &[u8]| {
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| AuthFailure::new("Authentication failed: credentials are not UTF-8"))
    };
    let username = text(user)?;
    if username.is_empty() {
        return Err(AuthFailure::new("Authentication ID must not be null"));
    }
    Ok(Credentials {
        username,
        password: text(password)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages() {
        let c = parse_sasl_plain(b"\0cassandra\0secret").unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("cassandra", "secret")
        );
        let c = parse_sasl_plain(b"admin\0bob\0").unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("bob", ""));
        for bad in [
            &b""[..],
            b"bob",
            b"\0bob",
            b"\0\0pw",
            b"a\0b\0c\0d",
            b"\0\xff\0pw",
        ] {
            assert!(parse_sasl_plain(bad).is_err(), "{bad:?}");
        }
        assert!(!format!("{c:?}").contains("secret"));
    }
}

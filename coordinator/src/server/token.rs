//! Token authentication: a gateway issues tokens, and a driver logs in with username `token`
//! and a token as its password. Each token stands for an [`AuthenticatedUser`]: the session then runs
//! as that identity's cluster role (or as the node's own connections when it names none).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use ringgate::server::{Credentials, AuthenticatedUser, IssuedTokens, TokenAuthenticator, Authenticator};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let tokens = Arc::new(IssuedTokens::new());
//! let token = tokens.issue(AuthenticatedUser { user: "gateway-user-7".into(), backend: None }, Duration::from_secs(600)).unwrap();
//! let auth = TokenAuthenticator::new(tokens.clone());
//! let who = auth
//!     .authenticate(Credentials { username: "token".into(), password: token.clone() })
//!     .await
//!     .unwrap();
//! assert_eq!(who.user, "gateway-user-7");
//! tokens.revoke(&token);
//! assert!(auth.authenticate(Credentials { username: "token".into(), password: token }).await.is_err());
//! # }
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use futures::FutureExt;
use futures::future::BoxFuture;

use super::auth::{AuthFailure, AuthenticatedUser, Authenticator, Credentials};

/// The username that announces a token as the password.
pub const TOKEN_USERNAME: &str = "token";

/// The operating system supplied no random bytes: no token can be issued (it must never be
/// guessable).
#[derive(Debug, Clone, thiserror::Error)]
#[error("no random bytes from the operating system: {0}")]
pub struct NoRandomness(pub String);

/// Where tokens are looked up: what identity a token stands for, or why it is refused.
pub trait TokenStore: Send + Sync {
    /// The identity `token` stands for.
    fn resolve(&self, token: &str) -> BoxFuture<'static, Result<AuthenticatedUser, AuthFailure>>;
}

/// Tokens issued by this process and kept in memory, each valid until it expires or is
/// revoked. Tokens are 32 random bytes from the operating system, in hex.
#[derive(Debug, Default)]
pub struct IssuedTokens {
    tokens: DashMap<String, Issued>,
}

#[derive(Debug, Clone)]
struct Issued {
    identity: AuthenticatedUser,
    /// `None`: never (a lifetime beyond what the clock can count).
    expires: Option<Instant>,
}

impl Issued {
    fn valid(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

impl IssuedTokens {
    /// No tokens yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Issues a token standing for `identity`, valid for `ttl`.
    pub fn issue(
        &self,
        identity: AuthenticatedUser,
        ttl: Duration,
    ) -> Result<String, NoRandomness> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| NoRandomness(e.to_string()))?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.admit(token.clone(), identity, Some(ttl));
        Ok(token)
    }

    /// Accepts a token issued elsewhere (a gateway's, or an operator's file), standing for
    /// `identity`, for `ttl` (`None`: until revoked). Replaces what `token` stood for before.
    pub fn admit(
        &self,
        token: impl Into<String>,
        identity: AuthenticatedUser,
        ttl: Option<Duration>,
    ) {
        // A lifetime the clock cannot count is as good as none.
        let expires = ttl.and_then(|ttl| Instant::now().checked_add(ttl));
        self.tokens
            .insert(token.into(), Issued { identity, expires });
    }

    /// Revokes `token`; whether it was valid. Sessions already logged in with it go on.
    pub fn revoke(&self, token: &str) -> bool {
        self.tokens
            .remove(token)
            .is_some_and(|(_, issued)| issued.valid(Instant::now()))
    }

    /// Forgets expired tokens (they are refused either way; this frees their memory).
    pub fn purge_expired(&self) {
        let now = Instant::now();
        self.tokens.retain(|_, issued| issued.valid(now));
    }

    /// Tokens held, expired ones not yet purged included.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

impl TokenStore for IssuedTokens {
    fn resolve(&self, token: &str) -> BoxFuture<'static, Result<AuthenticatedUser, AuthFailure>> {
        let found = match self.tokens.get(token) {
            Some(issued) if issued.valid(Instant::now()) => Ok(issued.identity.clone()),
            Some(_) => Err(AuthFailure::new("Provided token has expired")),
            None => Err(AuthFailure::new("Provided token is not valid")),
        };
        futures::future::ready(found).boxed()
    }
}

/// Accepts username [`TOKEN_USERNAME`] with a token as the password; other usernames go to
/// the fallback authenticator when there is one (say, the cluster's passwords), and are
/// refused otherwise.
#[derive(Clone)]
pub struct TokenAuthenticator {
    store: Arc<dyn TokenStore>,
    fallback: Option<Arc<dyn Authenticator>>,
}

impl std::fmt::Debug for TokenAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAuthenticator")
            .field("fallback", &self.fallback.is_some())
            .finish_non_exhaustive()
    }
}

impl TokenAuthenticator {
    /// Tokens from `store`, nothing else.
    pub fn new(store: Arc<dyn TokenStore>) -> Self {
        TokenAuthenticator {
            store,
            fallback: None,
        }
    }

    /// Other usernames are checked by `fallback`.
    pub fn with_fallback(mut self, fallback: Arc<dyn Authenticator>) -> Self {
        self.fallback = Some(fallback);
        self
    }
}

impl Authenticator for TokenAuthenticator {
    fn authenticate(
        &self,
        credentials: Credentials,
    ) -> BoxFuture<'static, Result<AuthenticatedUser, AuthFailure>> {
        if credentials.username == TOKEN_USERNAME {
            return self.store.resolve(&credentials.password);
        }
        match &self.fallback {
            Some(fallback) => fallback.authenticate(credentials),
            None => {
                futures::future::ready(Err(AuthFailure::bad_credentials(&credentials.username)))
                    .boxed()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(user: &str) -> AuthenticatedUser {
        AuthenticatedUser {
            user: user.into(),
            backend: None,
        }
    }

    fn login(username: &str, password: &str) -> Credentials {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }

    #[tokio::test]
    async fn tokens_stand_for_their_identity_until_revoked_or_expired() {
        let tokens = Arc::new(IssuedTokens::new());
        let auth = TokenAuthenticator::new(tokens.clone());
        let a = tokens
            .issue(identity("a"), Duration::from_secs(60))
            .unwrap();
        let b = tokens
            .issue(identity("b"), Duration::from_secs(60))
            .unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(
            auth.authenticate(login("token", &a)).await.unwrap().user,
            "a"
        );
        assert_eq!(
            auth.authenticate(login("token", &b)).await.unwrap().user,
            "b"
        );
        // The token is the password of user `token` only.
        assert!(auth.authenticate(login("a", &a)).await.is_err());
        assert!(auth.authenticate(login("token", "nope")).await.is_err());
        assert!(tokens.revoke(&a));
        assert!(!tokens.revoke(&a));
        assert!(auth.authenticate(login("token", &a)).await.is_err());

        let short = tokens.issue(identity("c"), Duration::ZERO).unwrap();
        let refused = auth.authenticate(login("token", &short)).await.unwrap_err();
        assert!(refused.message.contains("expired"), "{refused}");
        assert_eq!(tokens.len(), 2);
        tokens.purge_expired();
        assert_eq!(tokens.len(), 1);
    }

    struct Fixed;

    impl Authenticator for Fixed {
        fn authenticate(
            &self,
            credentials: Credentials,
        ) -> BoxFuture<'static, Result<AuthenticatedUser, AuthFailure>> {
            let ok = credentials.password == "pw";
            futures::future::ready(if ok {
                Ok(identity(&credentials.username))
            } else {
                Err(AuthFailure::bad_credentials(&credentials.username))
            })
            .boxed()
        }
    }

    #[tokio::test]
    async fn other_usernames_go_to_the_fallback() {
        let tokens = Arc::new(IssuedTokens::new());
        let t = tokens
            .issue(identity("t"), Duration::from_secs(60))
            .unwrap();
        let auth = TokenAuthenticator::new(tokens).with_fallback(Arc::new(Fixed));
        assert_eq!(
            auth.authenticate(login("bob", "pw")).await.unwrap().user,
            "bob"
        );
        assert!(auth.authenticate(login("bob", "no")).await.is_err());
        assert_eq!(
            auth.authenticate(login("token", &t)).await.unwrap().user,
            "t"
        );
    }
}

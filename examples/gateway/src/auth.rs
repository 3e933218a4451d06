//! Stargate's table-based tokens: `POST /v1/auth` checks a user's password against the cluster
//! (a login session of the request API) and hands out a token; every other route takes the
//! token in `X-Cassandra-Token` and runs as that user.
//!
//! Tokens live in a Cassandra table (`data_endpoint_auth.token` unless configured otherwise:
//! `auth_token uuid PRIMARY KEY, username text, created_timestamp int`), written `USING TTL`
//! (1,800 s by default). A token found in the table is re-written with a fresh TTL, so it
//! expires only after that long without use; the gateway trusts what it read for up to 60 s
//! (the cache), so a token deleted from the table stops working within that time.
//!
//! The user's session (pools logged in as that user) is held by the gateway that saw the
//! password. A token that is still in the table but whose user has no session in this
//! gateway (it restarted) is refused with 401, asking for a new login: the gateway never
//! stores passwords.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use ringgate::protocol::message::Consistency;
use ringgate::protocol::types::CqlValue;
use ringgate::request::{Coordinator, PreparedStatement, RequestOptions};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::{AppState, quote};

/// The header that carries the token.
pub const TOKEN_HEADER: &str = "X-Cassandra-Token";

/// Where tokens live and how long they last.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The keyspace of the token table.
    pub keyspace: String,
    /// The token table.
    pub table: String,
    /// How long a token lasts unused.
    pub token_ttl: Duration,
    /// How long a token read from the table is trusted without reading it again.
    pub cache_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            keyspace: "data_endpoint_auth".into(),
            table: "token".into(),
            token_ttl: Duration::from_secs(1800),
            cache_ttl: Duration::from_secs(60),
        }
    }
}

/// The token store and the users' sessions.
pub struct Auth {
    config: AuthConfig,
    service: Coordinator,
    insert: Arc<PreparedStatement>,
    select: Arc<PreparedStatement>,
    /// Each user's login session, by role name.
    sessions: Mutex<HashMap<String, Coordinator>>,
    /// Tokens read from the table: the user, and when it was read.
    tokens: Mutex<HashMap<uuid::Uuid, (String, Instant)>>,
}

/// How many tokens the cache holds before it drops stale ones.
const TOKEN_CACHE_LIMIT: usize = 100_000;

fn local_quorum() -> RequestOptions {
    RequestOptions {
        consistency: Some(Consistency::LocalQuorum),
        ..RequestOptions::default()
    }
}

impl Auth {
    /// Creates the token keyspace and table when absent (replicated to up to three nodes of
    /// each datacenter) and prepares the statements the store runs, as the gateway's own user.
    pub async fn init(service: Coordinator, config: AuthConfig) -> ApiResult<Auth> {
        let ks = quote(&config.keyspace);
        let table = format!("{ks}.{}", quote(&config.table));
        let view = service.cluster().view();
        let mut per_dc: std::collections::BTreeMap<&str, usize> = Default::default();
        for node in view.nodes() {
            *per_dc.entry(node.dc.as_str()).or_default() += 1;
        }
        let replication = per_dc
            .iter()
            .map(|(dc, n)| format!("'{}': {}", dc.replace('\'', "''"), (*n).min(3)))
            .collect::<Vec<_>>()
            .join(", ");
        // Gateways starting together must not create the table on different nodes at once
        // (Cassandra could end up with two table ids): all send it to the same node.
        let ddl = RequestOptions {
            node: crate::first_up_node(&service),
            ..RequestOptions::default()
        };
        if view.keyspace(&config.keyspace).is_none() {
            service
                .query(
                    &format!(
                        "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = \
                         {{'class': 'NetworkTopologyStrategy', {replication}}}"
                    ),
                    (),
                    &ddl,
                )
                .await?;
        }
        service
            .query(
                &format!(
                    "CREATE TABLE IF NOT EXISTS {table} (auth_token uuid PRIMARY KEY, \
                     username text, created_timestamp int)"
                ),
                (),
                &ddl,
            )
            .await?;
        let insert = service
            .prepare(&format!(
                "INSERT INTO {table} (auth_token, username, created_timestamp) \
                 VALUES (?, ?, ?) USING TTL ?"
            ))
            .await?;
        let select = service
            .prepare(&format!(
                "SELECT username, created_timestamp FROM {table} WHERE auth_token = ?"
            ))
            .await?;
        Ok(Auth {
            config,
            service,
            insert,
            select,
            sessions: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Checks the password against the cluster (a login session of the request API), and
    /// writes a new token for the user.
    pub async fn create_token(&self, username: &str, password: &str) -> ApiResult<uuid::Uuid> {
        let session = self
            .service
            .login(username, password)
            .await
            .map_err(|e| match e {
                ringgate::request::RequestError::Authentication { .. } => ApiError::unauthorized(
                    format!("Failed to create token: Provided username {username} and/or password are incorrect"),
                ),
                other => ApiError::from(other),
            })?;
        let token = uuid::Uuid::new_v4();
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX));
        self.write(token, username, created).await?;
        self.lock_sessions().insert(username.to_owned(), session);
        self.remember(token, username.to_owned());
        Ok(token)
    }

    async fn write(&self, token: uuid::Uuid, username: &str, created: i32) -> ApiResult<()> {
        let ttl = i32::try_from(self.config.token_ttl.as_secs()).unwrap_or(i32::MAX);
        self.service
            .execute(
                &self.insert,
                vec![
                    CqlValue::Uuid(*token.as_bytes()),
                    CqlValue::Text(username.to_owned()),
                    CqlValue::Int(created),
                    CqlValue::Int(ttl.max(1)),
                ],
                &local_quorum(),
            )
            .await?;
        Ok(())
    }

    fn remember(&self, token: uuid::Uuid, username: String) {
        let mut tokens = self.lock_tokens();
        if tokens.len() >= TOKEN_CACHE_LIMIT {
            let ttl = self.config.cache_ttl;
            tokens.retain(|_, (_, at)| at.elapsed() < ttl);
        }
        tokens.insert(token, (username, Instant::now()));
    }

    /// The session of the token in `header`: checked against the cache, or read from the
    /// table (and its TTL slid) when the cache does not hold it or holds it for too long.
    pub async fn session(&self, header: Option<&str>) -> ApiResult<Coordinator> {
        let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else {
            return Err(ApiError::unauthorized(format!(
                "Role unauthorized for operation: Missing token, expecting one in the {TOKEN_HEADER} header."
            )));
        };
        let token = uuid::Uuid::parse_str(header).map_err(|_| {
            ApiError::unauthorized("Role unauthorized for operation: Invalid token")
        })?;
        let cached = self
            .lock_tokens()
            .get(&token)
            .filter(|(_, at)| at.elapsed() < self.config.cache_ttl)
            .map(|(user, _)| user.clone());
        let username = match cached {
            Some(user) => user,
            None => self.validate(token).await?,
        };
        self.lock_sessions().get(&username).cloned().ok_or_else(|| {
            ApiError::unauthorized(format!(
                "Role unauthorized for operation: the session of user {username} is not held by \
                 this gateway (it restarted since the token was issued): create a new token \
                 with POST /v1/auth"
            ))
        })
    }

    /// Reads the token from the table; when it is there, writes it again with a fresh TTL.
    async fn validate(&self, token: uuid::Uuid) -> ApiResult<String> {
        let result = self
            .service
            .execute(
                &self.select,
                vec![CqlValue::Uuid(*token.as_bytes())],
                &local_quorum(),
            )
            .await?;
        let rows = result.rows()?;
        let Some(row) = rows.first() else {
            self.lock_tokens().remove(&token);
            return Err(ApiError::unauthorized(
                "Role unauthorized for operation: Invalid token",
            ));
        };
        let username: Option<String> = row.get(0)?;
        let created: Option<i32> = row.get(1)?;
        let Some(username) = username else {
            return Err(ApiError::unauthorized(
                "Role unauthorized for operation: Invalid token",
            ));
        };
        self.write(token, &username, created.unwrap_or_default())
            .await?;
        self.remember(token, username.clone());
        Ok(username)
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Coordinator>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_tokens(&self) -> std::sync::MutexGuard<'_, HashMap<uuid::Uuid, (String, Instant)>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The session of the request's token: handlers that take it run as the token's user.
pub struct Session(pub Coordinator);

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let header = parts
            .headers
            .get(TOKEN_HEADER)
            .map(|v| v.to_str().unwrap_or("\u{0}invalid"));
        state.auth.session(header).await.map(Session)
    }
}

/// `POST /v1/auth {"username", "password"}`: 201 `{"authToken"}`.
pub async fn post_auth(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    match auth(&state, &body).await {
        Ok(token) => (
            StatusCode::CREATED,
            Json(json!({"authToken": token.hyphenated().to_string()})),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn auth(state: &AppState, body: &[u8]) -> ApiResult<uuid::Uuid> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("Must provide a body to the request"));
    }
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON payload: {e}")))?;
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let username = field("username")
        .ok_or_else(|| ApiError::bad_request("Must provide username in request"))?;
    let password = field("password")
        .ok_or_else(|| ApiError::bad_request("Must provide password in request"))?;
    state.auth.create_token(&username, &password).await
}

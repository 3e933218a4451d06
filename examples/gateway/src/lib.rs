//! `ringgate-gateway`: Stargate's HTTP APIs — token auth, REST v2 (rows and schemas), the
//! Document API and the CQL-first GraphQL API — on Ringgate's request API and nothing else.
//!
//! The gateway holds one [`Coordinator`]: it joins the cluster, keeps its schema view, and
//! routes every request by token to a replica. Each user who logs in (`POST /v1/auth`) gets a
//! login session of that coordinator, so each request runs as the token's user and the
//! cluster applies that user's permissions.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/auth` | `{"username","password"}` → 201 `{"authToken"}` |
//! | `/v2/keyspaces/{ks}/{table}` | rows: `GET ?where=`, `GET /rows`, `GET/PUT/PATCH/DELETE /{pk…}`, `POST` |
//! | `/v2/schemas/keyspaces[/{ks}]` | keyspaces |
//! | `/v2/schemas/keyspaces/{ks}/tables[/{t}]` | tables, with `/columns` and `/indexes` |
//! | `/v2/schemas/keyspaces/{ks}/types[/{name}]` | user-defined types |
//! | `/v2/schemas/namespaces[/{ns}]`, `/v2/namespaces/{ns}/collections[/{c}]` | Document API: namespaces and collections |
//! | `/v2/namespaces/{ns}/collections/{c}[/{id}[/{path…}]]` | documents: write, read, patch, delete, search, `$push`/`$pop` |
//! | `/graphql/{ks}`, `/graphql-schema`, `/playground` | GraphQL (CQL-first): per-keyspace schemas, DDL, a playground page |
//!
//! Embedding it is a few lines ([`router`] over a [`Gateway`]); the `ringgate-gateway` binary
//! adds flags, logging and a clean stop:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ringgate::request::{Coordinator, CoordinatorConfig};
//! use ringgate_gateway::{Gateway, auth::AuthConfig, router};
//!
//! let mut config = CoordinatorConfig::new(vec!["127.0.0.1:9042".parse()?]);
//! config.local_dc = Some("dc1".into());
//! let coordinator = Coordinator::connect(config).await?;
//! let gateway = Gateway::new(coordinator, AuthConfig::default()).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8082").await?;
//! axum::serve(listener, router(gateway)).await?;
//! # Ok(())
//! # }
//! ```

pub mod auth;
pub mod convert;
pub mod documents;
pub mod error;
pub mod graphql;
pub mod rows;
pub mod schemas;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use ringgate::cluster::{ClusterView, KeyspaceMeta, TableMeta};
use ringgate::protocol::types::CqlValue;
use ringgate::request::{Coordinator, RequestOptions};

use auth::{Auth, AuthConfig};
use error::{ApiError, ApiResult};

/// What every handler shares.
pub type AppState = Arc<Gateway>;

/// The gateway: the coordinator, and the token store with its users' sessions.
pub struct Gateway {
    /// The coordinator, as the gateway's own user.
    pub coordinator: Coordinator,
    /// Tokens and sessions.
    pub auth: Auth,
    /// The GraphQL schemas, built per keyspace.
    pub graphql: Arc<graphql::Schemas>,
}

impl Gateway {
    /// A gateway over `coordinator`: creates the token table when absent.
    pub async fn new(coordinator: Coordinator, auth: AuthConfig) -> ApiResult<AppState> {
        let auth = Auth::init(coordinator.clone(), auth).await?;
        let graphql = Arc::new(graphql::Schemas::default());
        tokio::spawn(graphql::follow_schema_changes(
            Arc::downgrade(&graphql),
            coordinator.cluster().subscribe(),
        ));
        Ok(Arc::new(Gateway {
            coordinator,
            auth,
            graphql,
        }))
    }
}

/// Every route of the gateway.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/auth", post(auth::post_auth))
        .merge(rows::routes())
        .merge(schemas::routes())
        .merge(documents::routes())
        .merge(graphql::routes())
        .route("/health", get(|| async { "UP" }))
        .fallback(|| async { ApiError::not_found("No such route") })
        .with_state(state)
}

/// A path segment percent-encoded for a URL (a `Location` header).
pub fn rows_path_escape(segment: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(segment, RESERVED).to_string()
}

/// The up node with the lowest address: where DDL that several gateways may run at once (the
/// token table, collections) is sent, so that Cassandra applies it on one node.
pub fn first_up_node(session: &Coordinator) -> Option<std::net::SocketAddr> {
    session
        .cluster()
        .view()
        .nodes()
        .filter(|n| n.state == ringgate::cluster::NodeState::Up)
        .map(|n| n.addr)
        .min()
}

/// A CQL identifier, always quoted (names keep their case, and any name is safe).
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// How long the gateway waits for its schema view to show a change it made or learned of.
const VIEW_WAIT: Duration = Duration::from_secs(10);

/// Waits until the coordinator's cluster view satisfies `done` (at most ten seconds);
/// whether it does.
pub async fn wait_for_view(session: &Coordinator, done: impl Fn(&ClusterView) -> bool) -> bool {
    let mut views = session.cluster().subscribe();
    let wait = async {
        loop {
            if done(&views.borrow_and_update()) {
                return true;
            }
            if views.changed().await.is_err() {
                return false;
            }
        }
    };
    tokio::time::timeout(VIEW_WAIT, wait).await.unwrap_or(false)
}

/// Options of a schema read: run on the control node, which sends the schema events the
/// view follows.
fn on_control_node(session: &Coordinator) -> RequestOptions {
    RequestOptions {
        node: session.cluster().control_node(),
        ..RequestOptions::default()
    }
}

/// Whether `system_schema` has this keyspace (or this table of it).
async fn schema_has(session: &Coordinator, keyspace: &str, table: Option<&str>) -> ApiResult<bool> {
    let result = match table {
        None => {
            session
                .query(
                    "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
                    vec![CqlValue::Text(keyspace.into())],
                    &on_control_node(session),
                )
                .await?
        }
        Some(table) => {
            session
                .query(
                    "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
                    vec![CqlValue::Text(keyspace.into()), CqlValue::Text(table.into())],
                    &on_control_node(session),
                )
                .await?
        }
    };
    Ok(!result.rows()?.is_empty())
}

/// The keyspace from the schema view. One the view does not have yet but the schema tables
/// do (just created, its event still on its way) is waited for.
pub async fn keyspace(session: &Coordinator, name: &str) -> ApiResult<Arc<KeyspaceMeta>> {
    if let Some(ks) = session.cluster().view().keyspace(name) {
        return Ok(Arc::clone(ks));
    }
    if schema_has(session, name, None).await? {
        wait_for_view(session, |v| v.keyspace(name).is_some()).await;
        if let Some(ks) = session.cluster().view().keyspace(name) {
            return Ok(Arc::clone(ks));
        }
    }
    Err(ApiError::not_found(format!("Keyspace '{name}' not found")))
}

/// The table from the schema view (waited for like [`keyspace`]).
pub async fn table(session: &Coordinator, ks: &str, name: &str) -> ApiResult<Arc<TableMeta>> {
    let find = |v: &ClusterView| v.keyspace(ks).and_then(|k| k.tables.get(name).cloned());
    if let Some(t) = find(&session.cluster().view()) {
        return Ok(t);
    }
    if schema_has(session, ks, Some(name)).await? {
        wait_for_view(session, |v| find(v).is_some()).await;
        if let Some(t) = find(&session.cluster().view()) {
            return Ok(t);
        }
    }
    keyspace(session, ks).await?;
    Err(ApiError::not_found(format!(
        "Table '{name}' not found in keyspace '{ks}'"
    )))
}

//! REST v2 schemas: keyspaces, tables, columns, indexes and user-defined types under
//! `/v2/schemas/keyspaces`, answered from the coordinator's schema view (clustering orders,
//! table options, indexes and the text of user types' fields from `system_schema`, read on the
//! control node). Changes run as the token's user, and answer once the view shows them.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ringgate::cluster::{ClusterView, ColumnKind, ColumnMeta, KeyspaceMeta, TableMeta};
use ringgate::protocol::types::{CqlValue, UdtType};
use ringgate::request::{Coordinator, RequestOptions};
use serde_json::{Map, Value, json};

use crate::auth::Session;
use crate::error::{ApiError, ApiResult};
use crate::rows::{json_object, query_params, raw_param, rows_json};
use crate::{AppState, keyspace, on_control_node, quote, table, wait_for_view};

/// The schema routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v2/schemas/keyspaces",
            get(list_keyspaces).post(create_keyspace),
        )
        .route(
            "/v2/schemas/keyspaces/{keyspace}",
            get(get_keyspace).delete(drop_keyspace),
        )
        .route(
            "/v2/schemas/keyspaces/{keyspace}/tables",
            get(list_tables).post(create_table),
        )
        .route(
            "/v2/schemas/keyspaces/{keyspace}/tables/{table}",
            get(get_table).put(update_table).delete(drop_table),
        )
        .route(
            "/v2/schemas/keyspaces/{keyspace}/tables/{table}/columns",
            get(list_columns).post(add_column),
        )
        .route(
            "/v2/schemas/keyspaces/{keyspace}/tables/{table}/columns/{column}",
            get(get_column).put(rename_column).delete(drop_column),
        )
        .route(
            "/v2/schemas/keyspaces/{keyspace}/tables/{table}/indexes",
            get(list_indexes).post(create_index),
        )
        .route(
            "/v2/schemas/keyspaces/{keyspace}/tables/{table}/indexes/{index}",
            axum::routing::delete(drop_index),
        )
        .route(
            "/v2/schemas/keyspaces/{keyspace}/types",
            get(list_types).post(create_type),
        )
        .route(
            "/v2/schemas/keyspaces/{keyspace}/types/{name}",
            get(get_type).put(alter_type).delete(drop_type),
        )
}

/// `{"data": value}`, or the value alone with `raw=true`.
fn wrapped(value: Value, query: Option<&str>) -> ApiResult<Response> {
    let raw = raw_param(&query_params(query))?;
    Ok(Json(if raw { value } else { json!({"data": value}) }).into_response())
}

fn named(status: StatusCode, name: &str) -> Response {
    (status, Json(json!({"name": name}))).into_response()
}

/// Runs a schema change as the user, then waits until the view shows it.
async fn change(
    session: &Coordinator,
    cql: &str,
    shown: impl Fn(&ClusterView) -> bool,
) -> ApiResult<()> {
    session.query(cql, (), &RequestOptions::default()).await?;
    if !wait_for_view(session, shown).await {
        tracing::warn!(%cql, "the schema view did not show the change in time");
    }
    Ok(())
}

/// A string field of a request body.
fn text_field<'a>(body: &'a Map<String, Value>, name: &str) -> ApiResult<&'a str> {
    match body.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(ApiError::bad_request(format!(
            "Field '{name}' must be provided"
        ))),
        Some(other) => Err(ApiError::bad_request(format!(
            "Field '{name}' must be a string, got {other}"
        ))),
    }
}

fn bool_field(body: &Map<String, Value>, name: &str) -> ApiResult<bool> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(ApiError::bad_request(format!(
            "Field '{name}' must be true or false, got {other}"
        ))),
    }
}

/// A CQL type as a user wrote it, checked to be one (so it can go into a statement as is).
fn type_definition(text: &str, field: &str) -> ApiResult<String> {
    let any_udt = |name: &str| {
        Some(UdtType {
            keyspace: String::new(),
            name: name.to_owned(),
            fields: Vec::new(),
        })
    };
    ringgate::cluster::parse_cql_type(text, &any_udt)
        .map_err(|e| ApiError::bad_request(format!("Invalid typeDefinition of {field}: {e}")))?;
    Ok(text.trim().to_owned())
}

// ---------------------------------------------------------------------------------------------
// Keyspaces
// ---------------------------------------------------------------------------------------------

fn keyspace_json(ks: &KeyspaceMeta) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), Value::String(ks.name.clone()));
    let class = ks
        .replication
        .get("class")
        .map(String::as_str)
        .unwrap_or("");
    if class.ends_with("NetworkTopologyStrategy") {
        let dcs: Vec<Value> = ks
            .replication
            .iter()
            .filter(|(k, _)| k.as_str() != "class")
            .map(|(dc, n)| {
                json!({"name": dc, "replicas": n.parse::<u64>().map_or(Value::String(n.clone()), Value::from)})
            })
            .collect();
        out.insert("datacenters".into(), Value::Array(dcs));
    } else if let Some(rf) = ks.replication.get("replication_factor") {
        out.insert(
            "replicas".into(),
            rf.parse::<u64>()
                .map_or(Value::String(rf.clone()), Value::from),
        );
    }
    Value::Object(out)
}

async fn list_keyspaces(Session(session): Session, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let view = session.cluster().view();
    let list: Vec<Value> = view.keyspaces().map(|k| keyspace_json(k)).collect();
    wrapped(Value::Array(list), q.as_deref())
}

async fn get_keyspace(
    Session(session): Session,
    Path(ks): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let meta = keyspace(&session, &ks)
        .await
        .map_err(|_| ApiError::not_found(format!("Unable to describe keyspace '{ks}'")))?;
    wrapped(keyspace_json(&meta), q.as_deref())
}

/// `POST /v2/schemas/keyspaces` (and namespaces): 201 `{"name"}`, 409 when it exists.
pub async fn create_keyspace(Session(session): Session, body: Bytes) -> ApiResult<Response> {
    let body = json_object(&body)?;
    let name = text_field(&body, "name")?;
    let replication = match body.get("datacenters") {
        None | Some(Value::Null) => {
            let replicas = match body.get("replicas") {
                None | Some(Value::Null) => 1,
                Some(v) => v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                    ApiError::bad_request("Field 'replicas' must be a positive integer")
                })?,
            };
            format!("{{'class': 'SimpleStrategy', 'replication_factor': {replicas}}}")
        }
        Some(Value::Array(dcs)) if !dcs.is_empty() => {
            let mut parts = vec!["'class': 'NetworkTopologyStrategy'".to_owned()];
            for dc in dcs {
                let dc_name = dc
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::bad_request("Each of 'datacenters' needs a 'name'"))?;
                let replicas = match dc.get("replicas") {
                    None | Some(Value::Null) => 3,
                    Some(v) => v.as_u64().ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Datacenter {dc_name}: 'replicas' must be a non-negative integer"
                        ))
                    })?,
                };
                parts.push(format!("'{}': {replicas}", dc_name.replace('\'', "''")));
            }
            format!("{{{}}}", parts.join(", "))
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "Field 'datacenters' must be a non-empty array of {\"name\", \"replicas\"}",
            ));
        }
    };
    let cql = format!(
        "CREATE KEYSPACE {} WITH replication = {replication}",
        quote(name)
    );
    change(&session, &cql, |v| v.keyspace(name).is_some()).await?;
    Ok(named(StatusCode::CREATED, name))
}

async fn drop_keyspace(Session(session): Session, Path(ks): Path<String>) -> ApiResult<Response> {
    change(&session, &format!("DROP KEYSPACE {}", quote(&ks)), |v| {
        v.keyspace(&ks).is_none()
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------------------------------------
// Tables and columns
// ---------------------------------------------------------------------------------------------

/// What the view does not hold: each table's clustering orders and default TTL.
#[derive(Default)]
struct TableExtras {
    /// (table, column) -> "ASC" / "DESC".
    orders: BTreeMap<(String, String), String>,
    /// table -> default TTL.
    ttls: BTreeMap<String, i32>,
}

async fn table_extras(
    session: &Coordinator,
    ks: &str,
    only: Option<&str>,
) -> ApiResult<TableExtras> {
    let options = on_control_node(session);
    let (filter, mut values) = (
        " WHERE keyspace_name = ?",
        vec![CqlValue::Text(ks.to_owned())],
    );
    let filter = match only {
        Some(t) => {
            values.push(CqlValue::Text(t.to_owned()));
            format!("{filter} AND table_name = ?")
        }
        None => filter.to_owned(),
    };
    let mut extras = TableExtras::default();
    let columns = session
        .query(
            &format!(
                "SELECT table_name, column_name, clustering_order FROM system_schema.columns{filter}"
            ),
            values.clone(),
            &options,
        )
        .await?;
    for row in columns.rows()? {
        let (t, c, order): (Option<String>, Option<String>, Option<String>) =
            (row.get(0)?, row.get(1)?, row.get(2)?);
        if let (Some(t), Some(c), Some(order)) = (t, c, order)
            && order != "none"
        {
            extras.orders.insert((t, c), order.to_ascii_uppercase());
        }
    }
    let tables = session
        .query(
            &format!("SELECT table_name, default_time_to_live FROM system_schema.tables{filter}"),
            values,
            &options,
        )
        .await?;
    for row in tables.rows()? {
        let (t, ttl): (Option<String>, Option<i32>) = (row.get(0)?, row.get(1)?);
        if let Some(t) = t {
            extras.ttls.insert(t, ttl.unwrap_or_default());
        }
    }
    Ok(extras)
}

fn column_json(c: &ColumnMeta) -> Value {
    json!({
        "name": c.name,
        "typeDefinition": c.type_text,
        "static": c.kind == ColumnKind::Static,
    })
}

/// The columns in Stargate's order: partition key, clustering key, static, regular.
fn ordered_columns(t: &TableMeta) -> Vec<&ColumnMeta> {
    let of = |kind| t.columns.values().filter(move |c| c.kind == kind);
    t.partition_key
        .iter()
        .chain(&t.clustering_key)
        .chain(of(ColumnKind::Static))
        .chain(of(ColumnKind::Regular))
        .collect()
}

fn table_json(t: &TableMeta, extras: &TableExtras) -> Value {
    let clustering: Vec<Value> = t
        .clustering_key
        .iter()
        .map(|c| {
            let order = extras
                .orders
                .get(&(t.name.clone(), c.name.clone()))
                .cloned()
                .unwrap_or_else(|| "ASC".into());
            json!({"column": c.name, "order": order})
        })
        .collect();
    json!({
        "name": t.name,
        "keyspace": t.keyspace,
        "columnDefinitions": ordered_columns(t).into_iter().map(column_json).collect::<Vec<_>>(),
        "primaryKey": {
            "partitionKey": t.partition_key.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
            "clusteringKey": t.clustering_key.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        },
        "tableOptions": {
            "defaultTimeToLive": extras.ttls.get(&t.name).copied().unwrap_or_default(),
            "clusteringExpression": clustering,
        },
    })
}

async fn list_tables(
    Session(session): Session,
    Path(ks): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let meta = keyspace(&session, &ks).await?;
    let extras = table_extras(&session, &ks, None).await?;
    let list: Vec<Value> = meta
        .tables
        .values()
        .map(|t| table_json(t, &extras))
        .collect();
    wrapped(Value::Array(list), q.as_deref())
}

async fn get_table(
    Session(session): Session,
    Path((ks, t)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let meta = table(&session, &ks, &t).await?;
    let extras = table_extras(&session, &ks, Some(&t)).await?;
    wrapped(table_json(&meta, &extras), q.as_deref())
}

fn string_list(v: Option<&Value>, what: &str) -> ApiResult<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::bad_request(format!("{what} must list column names")))
            })
            .collect(),
        Some(_) => Err(ApiError::bad_request(format!(
            "{what} must list column names"
        ))),
    }
}

async fn create_table(
    Session(session): Session,
    Path(ks): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_object(&body)?;
    let name = text_field(&body, "name")?;
    let Some(Value::Array(defs)) = body
        .get("columnDefinitions")
        .filter(|d| d.as_array().is_some_and(|a| !a.is_empty()))
    else {
        return Err(ApiError::bad_request(
            "TableAdd.columnDefinitions must be provided",
        ));
    };
    let pk = body
        .get("primaryKey")
        .ok_or_else(|| ApiError::bad_request("TableAdd.primaryKey must be provided"))?;
    let partition = string_list(pk.get("partitionKey"), "primaryKey.partitionKey")?;
    let clustering = string_list(pk.get("clusteringKey"), "primaryKey.clusteringKey")?;
    if partition.is_empty() {
        return Err(ApiError::bad_request(
            "primaryKey.partitionKey must name at least one column",
        ));
    }
    let mut columns = Vec::new();
    let mut defined = Vec::new();
    for def in defs {
        let Some(def) = def.as_object() else {
            return Err(ApiError::bad_request(
                "Each of columnDefinitions must be an object",
            ));
        };
        let column = text_field(def, "name")?;
        let typ = type_definition(text_field(def, "typeDefinition")?, column)?;
        let is_static = bool_field(def, "static")?;
        defined.push(column.to_owned());
        columns.push(format!(
            "{} {typ}{}",
            quote(column),
            if is_static { " STATIC" } else { "" }
        ));
    }
    for key in partition.iter().chain(&clustering) {
        if !defined.contains(key) {
            return Err(ApiError::bad_request(format!(
                "Primary key column '{key}' is not among columnDefinitions"
            )));
        }
    }
    let quoted = |names: &[String]| {
        names
            .iter()
            .map(|n| quote(n))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut primary = format!("({})", quoted(&partition));
    if !clustering.is_empty() {
        primary = format!("{primary}, {}", quoted(&clustering));
    }
    let mut with = Vec::new();
    if let Some(options) = body.get("tableOptions").filter(|o| !o.is_null()) {
        if let Some(ttl) = options.get("defaultTimeToLive").filter(|t| !t.is_null()) {
            let ttl = ttl.as_u64().ok_or_else(|| {
                ApiError::bad_request(
                    "tableOptions.defaultTimeToLive must be a non-negative integer",
                )
            })?;
            with.push(format!("default_time_to_live = {ttl}"));
        }
        if let Some(Value::Array(orders)) = options.get("clusteringExpression") {
            let mut parts = Vec::new();
            for o in orders {
                let column = o.get("column").and_then(Value::as_str).ok_or_else(|| {
                    ApiError::bad_request("Each clusteringExpression needs a 'column'")
                })?;
                let order = match o
                    .get("order")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_uppercase)
                {
                    Some(o) if o == "ASC" || o == "DESC" => o,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "Unrecognized ordering value '{}'",
                            other.unwrap_or_default()
                        )));
                    }
                };
                parts.push(format!("{} {order}", quote(column)));
            }
            if !parts.is_empty() {
                with.push(format!("CLUSTERING ORDER BY ({})", parts.join(", ")));
            }
        }
    }
    let cql = format!(
        "CREATE TABLE {}{}.{} ({}, PRIMARY KEY ({primary})){}",
        if bool_field(&body, "ifNotExists")? {
            "IF NOT EXISTS "
        } else {
            ""
        },
        quote(&ks),
        quote(name),
        columns.join(", "),
        if with.is_empty() {
            String::new()
        } else {
            format!(" WITH {}", with.join(" AND "))
        }
    );
    keyspace(&session, &ks).await?;
    change(&session, &cql, |v| {
        v.keyspace(&ks).is_some_and(|k| k.tables.contains_key(name))
    })
    .await?;
    Ok(named(StatusCode::CREATED, name))
}

async fn update_table(
    Session(session): Session,
    Path((ks, t)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_object(&body)?;
    let options = body.get("tableOptions").cloned().unwrap_or(Value::Null);
    if options
        .get("clusteringExpression")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Err(ApiError::bad_request(
            "Cannot update the clustering order of a table",
        ));
    }
    let Some(ttl) = options.get("defaultTimeToLive").filter(|t| !t.is_null()) else {
        return Err(ApiError::bad_request("No update provided for defaultTTL"));
    };
    let ttl = ttl.as_u64().ok_or_else(|| {
        ApiError::bad_request("tableOptions.defaultTimeToLive must be a non-negative integer")
    })?;
    table(&session, &ks, &t).await?;
    session
        .query(
            &format!(
                "ALTER TABLE {}.{} WITH default_time_to_live = {ttl}",
                quote(&ks),
                quote(&t)
            ),
            (),
            &RequestOptions::default(),
        )
        .await?;
    Ok(named(StatusCode::OK, &t))
}

async fn drop_table(
    Session(session): Session,
    Path((ks, t)): Path<(String, String)>,
) -> ApiResult<Response> {
    let cql = format!("DROP TABLE {}.{}", quote(&ks), quote(&t));
    change(&session, &cql, |v| {
        v.keyspace(&ks).is_none_or(|k| !k.tables.contains_key(&t))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_columns(
    Session(session): Session,
    Path((ks, t)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let meta = table(&session, &ks, &t).await?;
    let list: Vec<Value> = ordered_columns(&meta)
        .into_iter()
        .map(column_json)
        .collect();
    wrapped(Value::Array(list), q.as_deref())
}

fn column_of<'t>(meta: &'t TableMeta, column: &str) -> ApiResult<&'t ColumnMeta> {
    meta.columns.get(column).ok_or_else(|| {
        ApiError::not_found(format!(
            "Column '{column}' not found in table '{}'",
            meta.name
        ))
    })
}

async fn get_column(
    Session(session): Session,
    Path((ks, t, c)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let meta = table(&session, &ks, &t).await?;
    wrapped(column_json(column_of(&meta, &c)?), q.as_deref())
}

async fn add_column(
    Session(session): Session,
    Path((ks, t)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_object(&body)?;
    let name = text_field(&body, "name")?;
    let typ = type_definition(text_field(&body, "typeDefinition")?, name)?;
    let is_static = bool_field(&body, "static")?;
    table(&session, &ks, &t).await?;
    let cql = format!(
        "ALTER TABLE {}.{} ADD {} {typ}{}",
        quote(&ks),
        quote(&t),
        quote(name),
        if is_static { " STATIC" } else { "" }
    );
    change(&session, &cql, |v| column_shown(v, &ks, &t, name)).await?;
    Ok(named(StatusCode::CREATED, name))
}

fn column_shown(v: &ClusterView, ks: &str, t: &str, c: &str) -> bool {
    v.keyspace(ks)
        .and_then(|k| k.tables.get(t))
        .is_some_and(|t| t.columns.contains_key(c))
}

async fn rename_column(
    Session(session): Session,
    Path((ks, t, c)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_object(&body)?;
    let new = text_field(&body, "name")?;
    let meta = table(&session, &ks, &t).await?;
    column_of(&meta, &c)?;
    let cql = format!(
        "ALTER TABLE {}.{} RENAME {} TO {}",
        quote(&ks),
        quote(&t),
        quote(&c),
        quote(new)
    );
    change(&session, &cql, |v| column_shown(v, &ks, &t, new)).await?;
    Ok(named(StatusCode::OK, new))
}

async fn drop_column(
    Session(session): Session,
    Path((ks, t, c)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let meta = table(&session, &ks, &t).await?;
    column_of(&meta, &c)?;
    let cql = format!(
        "ALTER TABLE {}.{} DROP {}",
        quote(&ks),
        quote(&t),
        quote(&c)
    );
    change(&session, &cql, |v| !column_shown(v, &ks, &t, &c)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------------------------------------
// Indexes
// ---------------------------------------------------------------------------------------------

async fn list_indexes(
    Session(session): Session,
    Path((ks, t)): Path<(String, String)>,
) -> ApiResult<Response> {
    table(&session, &ks, &t).await?;
    let result = session
        .query(
            "SELECT * FROM system_schema.indexes WHERE keyspace_name = ? AND table_name = ?",
            vec![CqlValue::Text(ks), CqlValue::Text(t)],
            &on_control_node(&session),
        )
        .await?;
    Ok(Json(Value::Array(rows_json(&result)?)).into_response())
}

async fn create_index(
    Session(session): Session,
    Path((ks, t)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_object(&body)?;
    let column = text_field(&body, "column")?;
    let meta = table(&session, &ks, &t).await?;
    column_of(&meta, column)?;
    let name = match body.get("name") {
        None | Some(Value::Null) => None,
        Some(_) => Some(text_field(&body, "name")?),
    };
    let kind = match body
        .get("kind")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
    {
        None => None,
        Some(k) if ["VALUES", "KEYS", "ENTRIES", "FULL"].contains(&k.as_str()) => Some(k),
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "Invalid index kind '{k}': VALUES, KEYS, ENTRIES or FULL"
            )));
        }
    };
    let using = match body.get("type") {
        None | Some(Value::Null) => None,
        Some(_) => Some(text_field(&body, "type")?),
    };
    let options = match body.get("options") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => {
            if using.is_none() {
                return Err(ApiError::bad_request(
                    "Index 'type' must be specified if 'options' are specified",
                ));
            }
            let parts = o
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    format!("'{}': '{}'", k.replace('\'', "''"), v.replace('\'', "''"))
                })
                .collect::<Vec<_>>();
            Some(format!("{{{}}}", parts.join(", ")))
        }
        Some(_) => return Err(ApiError::bad_request("Index 'options' must be an object")),
    };
    let target = match kind {
        Some(k) => format!("{k}({})", quote(column)),
        None => quote(column),
    };
    let mut cql = format!(
        "CREATE {}INDEX {}{}ON {}.{} ({target})",
        if using.is_some() { "CUSTOM " } else { "" },
        if bool_field(&body, "ifNotExists")? {
            "IF NOT EXISTS "
        } else {
            ""
        },
        name.map(|n| format!("{} ", quote(n))).unwrap_or_default(),
        quote(&ks),
        quote(&t)
    );
    if let Some(using) = using {
        cql.push_str(&format!(" USING '{}'", using.replace('\'', "''")));
    }
    if let Some(options) = options {
        cql.push_str(&format!(" WITH OPTIONS = {options}"));
    }
    session.query(&cql, (), &RequestOptions::default()).await?;
    Ok((StatusCode::CREATED, Json(json!({"success": true}))).into_response())
}

async fn drop_index(
    Session(session): Session,
    Path((ks, t, index)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    table(&session, &ks, &t).await?;
    session
        .query(
            &format!("DROP INDEX {}.{}", quote(&ks), quote(&index)),
            (),
            &RequestOptions::default(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------------------------------------
// User-defined types
// ---------------------------------------------------------------------------------------------

async fn types_json(session: &Coordinator, ks: &str, only: Option<&str>) -> ApiResult<Vec<Value>> {
    keyspace(session, ks).await?;
    let mut values = vec![CqlValue::Text(ks.to_owned())];
    let mut cql =
        "SELECT type_name, field_names, field_types FROM system_schema.types WHERE keyspace_name = ?"
            .to_owned();
    if let Some(name) = only {
        cql.push_str(" AND type_name = ?");
        values.push(CqlValue::Text(name.to_owned()));
    }
    let result = session
        .query(&cql, values, &on_control_node(session))
        .await?;
    let mut out = Vec::new();
    for row in result.rows()? {
        let name: Option<String> = row.get(0)?;
        let names: Option<Vec<String>> = row.get(1)?;
        let types: Option<Vec<String>> = row.get(2)?;
        let fields: Vec<Value> = names
            .unwrap_or_default()
            .into_iter()
            .zip(types.unwrap_or_default())
            .map(|(n, t)| json!({"name": n, "typeDefinition": t}))
            .collect();
        out.push(json!({"name": name, "keyspace": ks, "fields": fields}));
    }
    Ok(out)
}

async fn list_types(
    Session(session): Session,
    Path(ks): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    wrapped(
        Value::Array(types_json(&session, &ks, None).await?),
        q.as_deref(),
    )
}

async fn get_type(
    Session(session): Session,
    Path((ks, name)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let found = types_json(&session, &ks, Some(&name)).await?;
    let Some(udt) = found.into_iter().next() else {
        return Err(ApiError::not_found(format!(
            "No definition found for UDT '{name}' (keyspace '{ks}')"
        )));
    };
    wrapped(udt, q.as_deref())
}

fn field_defs(v: Option<&Value>, what: &str) -> ApiResult<Vec<String>> {
    let Some(Value::Array(fields)) = v else {
        return Ok(Vec::new());
    };
    fields
        .iter()
        .map(|f| {
            let f = f.as_object().ok_or_else(|| {
                ApiError::bad_request(format!("Each of {what} must be an object"))
            })?;
            let name = text_field(f, "name").map_err(|_| {
                ApiError::bad_request("Field 'name' and 'typeDefinition' must be provided")
            })?;
            let typ = text_field(f, "typeDefinition").map_err(|_| {
                ApiError::bad_request("Field 'name' and 'typeDefinition' must be provided")
            })?;
            Ok(format!("{} {}", quote(name), type_definition(typ, name)?))
        })
        .collect()
}

fn type_shown(v: &ClusterView, ks: &str, name: &str) -> Option<std::sync::Arc<UdtType>> {
    v.keyspace(ks).and_then(|k| k.user_types.get(name).cloned())
}

async fn create_type(
    Session(session): Session,
    Path(ks): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_object(&body)?;
    let name = text_field(&body, "name")
        .map_err(|_| ApiError::bad_request("typeName must be provided"))?;
    let fields = field_defs(body.get("fields"), "fields")?;
    if fields.is_empty() {
        return Err(ApiError::bad_request(
            "There should be at least one field defined",
        ));
    }
    keyspace(&session, &ks).await?;
    let cql = format!(
        "CREATE TYPE {}{}.{} ({})",
        if bool_field(&body, "ifNotExists")? {
            "IF NOT EXISTS "
        } else {
            ""
        },
        quote(&ks),
        quote(name),
        fields.join(", ")
    );
    change(&session, &cql, |v| type_shown(v, &ks, name).is_some()).await?;
    Ok(named(StatusCode::CREATED, name))
}

async fn alter_type(
    Session(session): Session,
    Path((ks, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_object(&body)?;
    let add = field_defs(body.get("addFields"), "addFields")?;
    let renames: Vec<(String, String)> = match body.get("renameFields") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|r| {
                match (
                    r.get("from").and_then(Value::as_str),
                    r.get("to").and_then(Value::as_str),
                ) {
                    (Some(f), Some(t)) => Ok((f.to_owned(), t.to_owned())),
                    _ => Err(ApiError::bad_request(
                        "Each of renameFields needs 'from' and 'to'",
                    )),
                }
            })
            .collect::<ApiResult<_>>()?,
        Some(_) => return Err(ApiError::bad_request("renameFields must be an array")),
    };
    if add.is_empty() && renames.is_empty() {
        return Err(ApiError::bad_request(
            "addFields and/or renameFields is required to update an UDT",
        ));
    }
    let target = format!("{}.{}", quote(&ks), quote(&name));
    for field in &add {
        session
            .query(
                &format!("ALTER TYPE {target} ADD {field}"),
                (),
                &RequestOptions::default(),
            )
            .await?;
    }
    if !renames.is_empty() {
        let parts = renames
            .iter()
            .map(|(f, t)| format!("{} TO {}", quote(f), quote(t)))
            .collect::<Vec<_>>()
            .join(" AND ");
        session
            .query(
                &format!("ALTER TYPE {target} RENAME {parts}"),
                (),
                &RequestOptions::default(),
            )
            .await?;
    }
    let expect: Vec<String> = renames.iter().map(|(_, t)| t.clone()).collect();
    wait_for_view(&session, |v| {
        type_shown(v, &ks, &name)
            .is_some_and(|u| expect.iter().all(|e| u.fields.iter().any(|(n, _)| n == e)))
    })
    .await;
    Ok(named(StatusCode::OK, &name))
}

async fn drop_type(
    Session(session): Session,
    Path((ks, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let cql = format!("DROP TYPE {}.{}", quote(&ks), quote(&name));
    change(&session, &cql, |v| type_shown(v, &ks, &name).is_none()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

//! REST v2 rows: `/v2/keyspaces/{ks}/{table}`.
//!
//! Reads answer `{"count", "pageState"?, "data": [...]}` (`raw=true`: the array alone), page
//! by page (`page-size`, default 100; `page-state`, the base64 paging state of the previous
//! page). Every statement is prepared (once: the request API caches it) and runs at
//! LOCAL_QUORUM as the token's user.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ringgate::cluster::{ColumnKind, ColumnMeta, TableMeta};
use ringgate::protocol::message::{Consistency, ResultBody};
use ringgate::protocol::types::{ColumnType, CqlValue};
use ringgate::request::{Coordinator, QueryResult, RequestOptions};
use serde_json::{Map, Value, json};

use crate::auth::Session;
use crate::convert::{cell_to_json, from_json, from_literal};
use crate::error::{ApiError, ApiResult};
use crate::{AppState, quote, table};

/// The rows routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v2/keyspaces/{keyspace}/{table}",
            get(get_where).post(create_row),
        )
        .route("/v2/keyspaces/{keyspace}/{table}/rows", get(get_all))
        .route(
            "/v2/keyspaces/{keyspace}/{table}/{*key}",
            get(get_by_key)
                .put(update_row)
                .patch(update_row)
                .delete(delete_row),
        )
}

/// Rows per page when `page-size` is not given.
pub const DEFAULT_PAGE_SIZE: i32 = 100;

/// The query parameters of a read.
#[derive(Debug, Default)]
pub struct ReadParams {
    /// `where`: the JSON filter.
    pub filter: Option<String>,
    /// `fields`: the columns to return (all when empty).
    pub fields: Vec<String>,
    /// `page-size`.
    pub page_size: i32,
    /// `page-state`, decoded.
    pub page_state: Option<bytes::Bytes>,
    /// `sort`: columns and whether ascending.
    pub sort: Vec<(String, bool)>,
    /// `raw`: the data alone.
    pub raw: bool,
}

/// The query string's parameters, by name.
pub fn query_params(query: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// `raw=true`.
pub fn raw_param(params: &HashMap<String, String>) -> ApiResult<bool> {
    match params.get("raw").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true" | "") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid value for parameter raw: {other:?} (true or false)"
        ))),
    }
}

impl ReadParams {
    fn parse(query: Option<&str>) -> ApiResult<ReadParams> {
        let params = query_params(query);
        let fields = match params.get("fields") {
            None => Vec::new(),
            Some(f) => f
                .split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
        };
        let page_size = match params.get("page-size") {
            None => DEFAULT_PAGE_SIZE,
            Some(s) => match s.trim().parse::<i32>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid page-size {s:?}: a positive integer"
                    )));
                }
            },
        };
        let page_state = match params.get("page-state").map(|s| s.trim()) {
            None | Some("") => None,
            // A `+` sent unescaped in a query string reads as a space.
            Some(s) => Some(bytes::Bytes::from(
                BASE64
                    .decode(s.replace(' ', "+"))
                    .map_err(|_| ApiError::bad_request("Invalid page-state: not base64"))?,
            )),
        };
        let sort = match params.get("sort").map(|s| s.trim()) {
            None | Some("") => Vec::new(),
            Some(s) => parse_sort(s)?,
        };
        Ok(ReadParams {
            filter: params.get("where").cloned(),
            fields,
            page_size,
            page_state,
            sort,
            raw: raw_param(&params)?,
        })
    }
}

fn parse_sort(s: &str) -> ApiResult<Vec<(String, bool)>> {
    let invalid = |why: &str| ApiError::bad_request(format!("Invalid sort parameter: {why}"));
    let value: Value =
        serde_json::from_str(s).map_err(|e| invalid(&format!("not valid JSON ({e})")))?;
    let Value::Object(map) = value else {
        return Err(invalid("expected a JSON object like {\"column\": \"asc\"}"));
    };
    map.into_iter()
        .map(
            |(column, order)| match order.as_str().map(str::to_ascii_lowercase) {
                Some(o) if o == "asc" => Ok((column, true)),
                Some(o) if o == "desc" => Ok((column, false)),
                _ => Err(invalid(&format!(
                    "the order of {column} must be \"asc\" or \"desc\""
                ))),
            },
        )
        .collect()
}

fn options(params: Option<&ReadParams>) -> RequestOptions {
    RequestOptions {
        consistency: Some(Consistency::LocalQuorum),
        page_size: params.map(|p| p.page_size),
        paging_state: params.and_then(|p| p.page_state.clone()),
        idempotent: params.is_some(),
        ..RequestOptions::default()
    }
}

/// A column of the table, or 400 naming it.
fn column<'t>(table: &'t TableMeta, name: &str) -> ApiResult<&'t ColumnMeta> {
    table.columns.get(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Unknown field name '{name}' in table '{}'",
            table.name
        ))
    })
}

/// A JSON value converted for a column, or 400 naming the column and its type.
fn value_for(name: &str, typ: &ColumnType, v: &Value) -> ApiResult<Option<CqlValue>> {
    from_json(typ, v)
        .map_err(|e| ApiError::bad_request(format!("Invalid value for column '{name}': {e}")))
}

/// A path segment converted for a key column.
fn key_value(column: &ColumnMeta, text: &str) -> ApiResult<CqlValue> {
    from_literal(&column.cql_type, text).map_err(|e| {
        ApiError::bad_request(format!(
            "Invalid path for row: key column '{}': {e}",
            column.name
        ))
    })
}

/// The rows of a result as JSON objects, columns in result order.
pub fn rows_json(result: &QueryResult) -> ApiResult<Vec<Value>> {
    let names: Vec<String> = match &result.body {
        ResultBody::Rows(rows) => rows
            .metadata
            .columns
            .iter()
            .flatten()
            .map(|c| c.name.clone())
            .collect(),
        _ => Vec::new(),
    };
    Ok(result
        .rows()?
        .iter()
        .map(|row| {
            Value::Object(
                names
                    .iter()
                    .zip(row.values())
                    .map(|(n, v)| (n.clone(), cell_to_json(v.as_ref())))
                    .collect(),
            )
        })
        .collect())
}

/// A page of rows as REST v2 answers it.
fn rows_response(result: &QueryResult, raw: bool) -> ApiResult<Response> {
    let data = rows_json(result)?;
    if raw {
        return Ok(Json(Value::Array(data)).into_response());
    }
    let mut body = Map::new();
    body.insert("count".into(), Value::from(data.len()));
    if let Some(state) = result.paging_state() {
        body.insert("pageState".into(), Value::String(BASE64.encode(state)));
    }
    body.insert("data".into(), Value::Array(data));
    Ok(Json(Value::Object(body)).into_response())
}

/// The key segments after `/v2/keyspaces/{ks}/{table}/`, percent-decoded one by one (so an
/// encoded `/` stays inside its segment).
fn key_segments(uri: &Uri) -> ApiResult<Vec<String>> {
    let mut segments: Vec<&str> = uri.path().split('/').skip(5).collect();
    if segments.len() > 1 && segments.last() == Some(&"") {
        segments.pop();
    }
    segments
        .into_iter()
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| ApiError::bad_request("Invalid path: not UTF-8"))
        })
        .collect()
}

/// `col1 = ? AND col2 = ?` over a prefix of the primary key, with the values.
fn key_conditions(
    table: &TableMeta,
    key: &[String],
    values: &mut Vec<Option<CqlValue>>,
) -> ApiResult<String> {
    let partition = table.partition_key.len();
    let all: Vec<&ColumnMeta> = table
        .partition_key
        .iter()
        .chain(&table.clustering_key)
        .collect();
    if key.len() < partition {
        return Err(ApiError::bad_request(format!(
            "Invalid path for row: number of key values provided ({}) less than number of partition keys ({partition})",
            key.len()
        )));
    }
    if key.len() > all.len() {
        return Err(ApiError::bad_request(format!(
            "Invalid path for row: number of key values provided ({}) exceeds number of partition keys ({partition}) and clustering keys ({})",
            key.len(),
            table.clustering_key.len()
        )));
    }
    let mut conditions = Vec::new();
    for (column, text) in all.iter().zip(key) {
        values.push(Some(key_value(column, text)?));
        conditions.push(format!("{} = ?", quote(&column.name)));
    }
    Ok(conditions.join(" AND "))
}

fn select_clause(table: &TableMeta, params: &ReadParams) -> ApiResult<String> {
    let columns = if params.fields.is_empty() {
        "*".to_owned()
    } else {
        params
            .fields
            .iter()
            .map(|f| column(table, f).map(|c| quote(&c.name)))
            .collect::<ApiResult<Vec<_>>>()?
            .join(", ")
    };
    Ok(format!(
        "SELECT {columns} FROM {}.{}",
        quote(&table.keyspace),
        quote(&table.name)
    ))
}

fn order_clause(table: &TableMeta, params: &ReadParams) -> ApiResult<String> {
    if params.sort.is_empty() {
        return Ok(String::new());
    }
    let parts = params
        .sort
        .iter()
        .map(|(c, asc)| {
            column(table, c)
                .map(|c| format!("{} {}", quote(&c.name), if *asc { "ASC" } else { "DESC" }))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(format!(" ORDER BY {}", parts.join(", ")))
}

async fn run(
    session: &Coordinator,
    cql: &str,
    values: Vec<Option<CqlValue>>,
    options: &RequestOptions,
) -> ApiResult<QueryResult> {
    let statement = session.prepare(cql).await?;
    Ok(session.execute(&statement, values, options).await?)
}

async fn get_where(
    State(_): State<AppState>,
    Session(session): Session,
    Path((ks, t)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let params = ReadParams::parse(query.as_deref())?;
    let table = table(&session, &ks, &t).await?;
    let Some(filter) = params.filter.as_deref().filter(|w| !w.trim().is_empty()) else {
        return Err(ApiError::bad_request(
            "Missing parameter 'where': give a filter, or read every row with /rows",
        ));
    };
    let mut values = Vec::new();
    let conditions = where_clause(&table, filter, &mut values)?;
    let cql = format!(
        "{} WHERE {conditions}{} ALLOW FILTERING",
        select_clause(&table, &params)?,
        order_clause(&table, &params)?
    );
    let result = run(&session, &cql, values, &options(Some(&params))).await?;
    rows_response(&result, params.raw)
}

async fn get_all(
    State(_): State<AppState>,
    Session(session): Session,
    Path((ks, t)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let params = ReadParams::parse(query.as_deref())?;
    let table = table(&session, &ks, &t).await?;
    let cql = format!(
        "{}{}",
        select_clause(&table, &params)?,
        order_clause(&table, &params)?
    );
    let result = run(&session, &cql, Vec::new(), &options(Some(&params))).await?;
    rows_response(&result, params.raw)
}

async fn get_by_key(
    State(_): State<AppState>,
    Session(session): Session,
    Path((ks, t, _)): Path<(String, String, String)>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let params = ReadParams::parse(query.as_deref())?;
    let table = table(&session, &ks, &t).await?;
    let key = key_segments(&uri)?;
    let mut values = Vec::new();
    let conditions = key_conditions(&table, &key, &mut values)?;
    let cql = format!(
        "{} WHERE {conditions}{}",
        select_clause(&table, &params)?,
        order_clause(&table, &params)?
    );
    let result = run(&session, &cql, values, &options(Some(&params))).await?;
    rows_response(&result, params.raw)
}

/// The JSON object of a request body, or 400.
pub fn json_object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("Request body is empty"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "Invalid JSON payload: expected a JSON object",
        )),
        Err(e) => Err(ApiError::bad_request(format!("Invalid JSON payload: {e}"))),
    }
}

fn has_counters(table: &TableMeta) -> bool {
    table
        .columns
        .values()
        .any(|c| matches!(c.cql_type, ColumnType::Counter))
}

async fn create_row(
    State(_): State<AppState>,
    Session(session): Session,
    Path((ks, t)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let payload = json_object(&body)?;
    if payload.is_empty() {
        return Err(ApiError::bad_request("Request body has no columns"));
    }
    let table = table(&session, &ks, &t).await?;
    let target = format!("{}.{}", quote(&table.keyspace), quote(&table.name));
    let mut values = Vec::new();
    let cql = if has_counters(&table) {
        // Counter tables take no INSERT: the row's counters are incremented by the values.
        let mut sets = Vec::new();
        let mut keys = Vec::new();
        let mut key_values = Vec::new();
        for (name, v) in &payload {
            let c = column(&table, name)?;
            let value = value_for(name, &c.cql_type, v)?;
            match c.kind {
                ColumnKind::PartitionKey | ColumnKind::Clustering => {
                    keys.push(format!("{} = ?", quote(name)));
                    key_values.push(value);
                }
                _ => {
                    sets.push(format!("{0} = {0} + ?", quote(name)));
                    values.push(value);
                }
            }
        }
        values.extend(key_values);
        format!(
            "UPDATE {target} SET {} WHERE {}",
            sets.join(", "),
            keys.join(" AND ")
        )
    } else {
        let mut names = Vec::new();
        for (name, v) in &payload {
            let c = column(&table, name)?;
            names.push(quote(name));
            values.push(value_for(name, &c.cql_type, v)?);
        }
        format!(
            "INSERT INTO {target} ({}) VALUES ({})",
            names.join(", "),
            vec!["?"; names.len()].join(", ")
        )
    };
    run(&session, &cql, values, &options(None)).await?;
    Ok((StatusCode::CREATED, Json(Value::Object(payload))).into_response())
}

async fn update_row(
    State(_): State<AppState>,
    Session(session): Session,
    Path((ks, t, _)): Path<(String, String, String)>,
    uri: Uri,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let raw = raw_param(&query_params(query.as_deref()))?;
    let payload = json_object(&body)?;
    if payload.is_empty() {
        return Err(ApiError::bad_request(
            "Request body has no columns to update",
        ));
    }
    let table = table(&session, &ks, &t).await?;
    let key = key_segments(&uri)?;
    let key_len = table.partition_key.len() + table.clustering_key.len();
    if key.len() != key_len {
        return Err(ApiError::bad_request(format!(
            "Invalid path for row to update: {} key values for a primary key of {key_len} columns",
            key.len()
        )));
    }
    let mut values = Vec::new();
    let mut sets = Vec::new();
    for (name, v) in &payload {
        let c = column(&table, name)?;
        if matches!(c.cql_type, ColumnType::Counter) {
            sets.push(format!("{0} = {0} + ?", quote(name)));
        } else {
            sets.push(format!("{} = ?", quote(name)));
        }
        values.push(value_for(name, &c.cql_type, v)?);
    }
    let conditions = key_conditions(&table, &key, &mut values)?;
    let cql = format!(
        "UPDATE {}.{} SET {} WHERE {conditions}",
        quote(&table.keyspace),
        quote(&table.name),
        sets.join(", ")
    );
    run(&session, &cql, values, &options(None)).await?;
    let payload = Value::Object(payload);
    Ok(Json(if raw {
        payload
    } else {
        json!({"data": payload})
    })
    .into_response())
}

async fn delete_row(
    State(_): State<AppState>,
    Session(session): Session,
    Path((ks, t, _)): Path<(String, String, String)>,
    uri: Uri,
) -> ApiResult<Response> {
    let table = table(&session, &ks, &t).await?;
    let key = key_segments(&uri)?;
    let mut values = Vec::new();
    let conditions = key_conditions(&table, &key, &mut values)?;
    let cql = format!(
        "DELETE FROM {}.{} WHERE {conditions}",
        quote(&table.keyspace),
        quote(&table.name)
    );
    run(&session, &cql, values, &options(None)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The CQL conditions of a `where` filter, appending their values.
///
/// `{"col": {"$op": value, …}, …}` with `$eq $lt $lte $gt $gte` (an array gives one condition
/// per element), `$in` (a non-empty array), `$contains` (a list or set element, or a map
/// value), `$containsKey`, `$containsEntry` (`{"key", "value"}`) and `$exists` (`true`, on a
/// boolean column: as Stargate, the column is `true`). `$ne` is refused, as Stargate refuses
/// it: CQL has no `!=` for rows.
pub fn where_clause(
    table: &TableMeta,
    filter: &str,
    values: &mut Vec<Option<CqlValue>>,
) -> ApiResult<String> {
    let invalid = |why: String| ApiError::bad_request(format!("Invalid 'where' parameter: {why}"));
    let filter: Value = serde_json::from_str(filter)
        .map_err(|e| invalid(format!("input provided is not valid JSON ({e})")))?;
    let Value::Object(fields) = filter else {
        return Err(invalid(
            "was expecting a JSON object as input for where parameter".into(),
        ));
    };
    if fields.is_empty() {
        return Err(invalid("the filter has no conditions".into()));
    }
    let mut conditions = Vec::new();
    for (name, ops) in &fields {
        let c = column(table, name)?;
        let Value::Object(ops) = ops else {
            return Err(invalid(format!(
                "entry for field {name} was expecting a JSON object as input"
            )));
        };
        let q = quote(name);
        let typ = &c.cql_type;
        for (op, v) in ops {
            if v.is_null() {
                return Err(invalid(format!(
                    "value entry for field {name}, operation {op} was expecting a value, but found null"
                )));
            }
            let comparison = match op.as_str() {
                "$eq" => Some("="),
                "$lt" => Some("<"),
                "$lte" => Some("<="),
                "$gt" => Some(">"),
                "$gte" => Some(">="),
                _ => None,
            };
            if let Some(cmp) = comparison {
                let items: Vec<&Value> = match v {
                    Value::Array(items)
                        if !matches!(
                            typ,
                            ColumnType::List(_)
                                | ColumnType::Set(_)
                                | ColumnType::Tuple(_)
                                | ColumnType::Vector { .. }
                                | ColumnType::Map(..)
                        ) =>
                    {
                        items.iter().collect()
                    }
                    _ => vec![v],
                };
                for item in items {
                    conditions.push(format!("{q} {cmp} ?"));
                    values.push(value_for(name, typ, item)?);
                }
                continue;
            }
            match op.as_str() {
                "$in" => {
                    let Value::Array(items) = v else {
                        return Err(invalid(format!(
                            "value entry for field '{name}', operation $in must be a non-empty array"
                        )));
                    };
                    if items.is_empty() {
                        return Err(invalid(format!(
                            "value entry for field '{name}', operation $in must be a non-empty array"
                        )));
                    }
                    let list = items
                        .iter()
                        .map(|i| {
                            value_for(name, typ, i)?
                                .ok_or_else(|| invalid(format!("$in of field {name} holds a null")))
                        })
                        .collect::<ApiResult<Vec<_>>>()?;
                    conditions.push(format!("{q} IN ?"));
                    values.push(Some(CqlValue::List(list)));
                }
                "$contains" => {
                    let element = match typ {
                        ColumnType::List(e) | ColumnType::Set(e) => e,
                        ColumnType::Map(_, v) => v,
                        _ => {
                            return Err(invalid(format!(
                                "field '{name}' not of container type (list, map, set); has to be for operation $contains"
                            )));
                        }
                    };
                    conditions.push(format!("{q} CONTAINS ?"));
                    values.push(value_for(name, element, v)?);
                }
                "$containsKey" => {
                    let ColumnType::Map(key, _) = typ else {
                        return Err(invalid(format!(
                            "field '{name}' not of map type; has to be for operation $containsKey"
                        )));
                    };
                    conditions.push(format!("{q} CONTAINS KEY ?"));
                    values.push(value_for(name, key, v)?);
                }
                "$containsEntry" => {
                    let ColumnType::Map(key, value) = typ else {
                        return Err(invalid(format!(
                            "field '{name}' not of map type; has to be for operation $containsEntry"
                        )));
                    };
                    let (Some(k), Some(val)) = (v.get("key"), v.get("value")) else {
                        return Err(invalid(format!(
                            "value entry for field {name}, operation $containsEntry must be an object with two fields 'key' and 'value'"
                        )));
                    };
                    conditions.push(format!("{q}[?] = ?"));
                    values.push(value_for(name, key, k)?);
                    values.push(value_for(name, value, val)?);
                }
                "$exists" => {
                    if v != &Value::Bool(true) {
                        return Err(invalid("`$exists` only supports the value `true`".into()));
                    }
                    if !matches!(typ, ColumnType::Boolean) {
                        return Err(invalid(format!(
                            "`$exists` matches boolean columns that are true (as Stargate's REST API does); '{name}' is {}",
                            crate::convert::type_text(typ)
                        )));
                    }
                    conditions.push(format!("{q} = ?"));
                    values.push(Some(CqlValue::Boolean(true)));
                }
                other => {
                    return Err(invalid(format!("operation {other} is not supported")));
                }
            }
        }
    }
    if conditions.is_empty() {
        return Err(invalid("the filter has no conditions".into()));
    }
    Ok(conditions.join(" AND "))
}

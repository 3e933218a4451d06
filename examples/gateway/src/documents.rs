//! Stargate's Document API v2: JSON documents in collections, stored as Stargate stores them.
//!
//! A namespace is a keyspace; a collection is a table with one partition per document:
//! `key` (the document id) is the partition key, `p0…p63` the path of each leaf (field names,
//! and array indexes as `[000012]`; unused levels are `''`), `leaf` the last path segment, and
//! the value in one of `text_value`, `dbl_value`, `bool_value` (all null for a JSON `null`;
//! empty objects and arrays are marker strings). SAI indexes on `leaf` and the value columns
//! let searches push their conditions down to Cassandra.
//!
//! Writes of one document are one single-partition batch: the old rows are deleted at
//! timestamp `t - 1` and the new ones written at `t`, so a reader sees the old document or the
//! new one. Numbers are stored as doubles, as Stargate stores them.
//!
//! Search (`GET …/collections/{c}?where=`) pushes one condition of the filter's top-level `$and`
//! down to Cassandra when it can — `$eq` on a string, number or boolean, `$lt`/`$lte`/`$gt`/
//! `$gte` on a number, or `$exists: true` — as an indexed query on that path; the documents it
//! finds are read and the whole filter is checked in the gateway. Filters with nothing to push
//! down (`$ne`, `$nin`, `$in`, `$or`/`$not` at the top, string ranges) scan the collection's
//! documents in token order and are checked in the gateway: they answer correctly, but read
//! the collection until a page is full. `profile=true` adds `"profile": {"pushedDown": <the
//! indexed query, or null>, "documentsRead": n}` to a search's answer.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::StreamExt;
use ringgate::cluster::{ClusterView, TableMeta};
use ringgate::protocol::message::Consistency;
use ringgate::protocol::types::CqlValue;
use ringgate::request::{Batch, BatchType, Coordinator, PreparedStatement, RequestOptions};
use serde_json::{Map, Number, Value, json};

use crate::auth::Session;
use crate::error::{ApiError, ApiResult};
use crate::rows::{query_params, raw_param};
use crate::{AppState, keyspace, quote, wait_for_view};

/// How deep documents may nest (path columns `p0…p63`).
pub const MAX_DEPTH: usize = 64;
/// The longest array a document may hold.
pub const MAX_ARRAY_LENGTH: usize = 1_000_000;
/// What an empty object is stored as (Stargate's marker).
pub const EMPTY_OBJECT: &str = "EMPTYOBJ-bccbeee1-6173-4120-8492-7d7bafaefb1f";
/// What an empty array is stored as (Stargate's marker).
pub const EMPTY_ARRAY: &str = "EMPTYARRAY-9df4802a-c135-42d6-8be3-d23d9520a4e7";
/// Documents per search page when `page-size` is not given, and the most a page may hold.
const DEFAULT_PAGE_SIZE: usize = 3;
const MAX_PAGE_SIZE: usize = 20;
/// The most rows one document may have when it is read.
const MAX_DOCUMENT_ROWS: usize = 200_000;

/// The document routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v2/schemas/namespaces",
            get(list_namespaces).post(create_namespace),
        )
        .route(
            "/v2/schemas/namespaces/{ns}",
            get(get_namespace).delete(drop_namespace),
        )
        .route(
            "/v2/namespaces/{ns}/collections",
            get(list_collections).post(create_collection),
        )
        .route(
            "/v2/namespaces/{ns}/collections/{c}",
            get(search).post(create_document).delete(drop_collection),
        )
        .route(
            "/v2/namespaces/{ns}/collections/{c}/batch",
            post(batch_documents),
        )
        .route(
            "/v2/namespaces/{ns}/collections/{c}/{id}",
            get(get_document)
                .put(put_document)
                .patch(patch_document)
                .delete(delete_document),
        )
        .route(
            "/v2/namespaces/{ns}/collections/{c}/{id}/{*path}",
            get(get_document)
                .put(put_document)
                .patch(patch_document)
                .delete(delete_document)
                .post(function),
        )
}

// ---------------------------------------------------------------------------------------------
// Namespaces and collections
// ---------------------------------------------------------------------------------------------

async fn list_namespaces(Session(session): Session, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let view = session.cluster().view();
    let list: Vec<Value> = view.keyspaces().map(|k| namespace_json(k)).collect();
    wrapped(Value::Array(list), q.as_deref())
}

fn namespace_json(k: &ringgate::cluster::KeyspaceMeta) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), Value::String(k.name.clone()));
    if k.replication
        .get("class")
        .is_some_and(|c| c.ends_with("NetworkTopologyStrategy"))
    {
        let dcs: Vec<Value> = k
            .replication
            .iter()
            .filter(|(name, _)| name.as_str() != "class")
            .map(|(dc, n)| json!({"name": dc, "replicas": n.parse::<u64>().unwrap_or_default()}))
            .collect();
        out.insert("datacenters".into(), Value::Array(dcs));
    } else if let Some(rf) = k.replication.get("replication_factor") {
        out.insert(
            "replicas".into(),
            Value::from(rf.parse::<u64>().unwrap_or_default()),
        );
    }
    Value::Object(out)
}

fn wrapped(value: Value, query: Option<&str>) -> ApiResult<Response> {
    let raw = raw_param(&query_params(query))?;
    Ok(Json(if raw { value } else { json!({"data": value}) }).into_response())
}

async fn get_namespace(
    Session(session): Session,
    Path(ns): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let meta = keyspace(&session, &ns)
        .await
        .map_err(|_| ApiError::not_found(format!("Namespace '{ns}' not found")))?;
    wrapped(namespace_json(&meta), q.as_deref())
}

async fn create_namespace(session: Session, body: Bytes) -> ApiResult<Response> {
    // The same body and answers as a keyspace's.
    crate::schemas::create_keyspace(session, body).await
}

async fn drop_namespace(Session(session): Session, Path(ns): Path<String>) -> ApiResult<Response> {
    session
        .query(
            &format!("DROP KEYSPACE {}", quote(&ns)),
            (),
            &RequestOptions::default(),
        )
        .await?;
    wait_for_view(&session, |v| v.keyspace(&ns).is_none()).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Whether a table is laid out as a collection.
fn is_collection(t: &TableMeta) -> bool {
    ["key", "leaf", "text_value", "dbl_value", "bool_value", "p0"]
        .iter()
        .all(|c| t.columns.contains_key(*c))
        && t.partition_key.len() == 1
        && t.partition_key[0].name == "key"
}

async fn list_collections(
    Session(session): Session,
    Path(ns): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let meta = keyspace(&session, &ns).await?;
    let list: Vec<Value> = meta
        .tables
        .values()
        .filter(|t| is_collection(t))
        .map(|t| json!({"name": t.name, "upgradeAvailable": false}))
        .collect();
    wrapped(Value::Array(list), q.as_deref())
}

async fn create_collection(
    Session(session): Session,
    Path(ns): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = crate::rows::json_object(&body)?;
    let Some(name) = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return Err(ApiError::bad_request("Field 'name' must be provided"));
    };
    valid_collection_name(name)?;
    keyspace(&session, &ns).await?;
    if collection_table(&session.cluster().view(), &ns, name).is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Create failed: collection {name} already exists."),
        ));
    }
    create_collection_table(&session, &ns, name, false).await?;
    Ok((StatusCode::CREATED, Json(json!({"name": name}))).into_response())
}

fn valid_collection_name(name: &str) -> ApiResult<()> {
    if name.len() > 48 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ApiError::bad_request(format!(
            "Invalid collection name '{name}': up to 48 letters, digits and underscores"
        )));
    }
    Ok(())
}

fn collection_table(view: &ClusterView, ns: &str, c: &str) -> Option<Arc<TableMeta>> {
    view.keyspace(ns).and_then(|k| k.tables.get(c).cloned())
}

/// Creates the table of a collection and its SAI indexes.
async fn create_collection_table(
    session: &Coordinator,
    ns: &str,
    c: &str,
    if_not_exists: bool,
) -> ApiResult<()> {
    // Requests that create the same collection at once take turns (the later ones find it),
    // and every gateway sends the DDL to the same node: CREATE TABLE on several nodes at once
    // could give the table two ids.
    static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = CREATING.lock().await;
    if if_not_exists && collection_table(&session.cluster().view(), ns, c).is_some() {
        return Ok(());
    }
    let ddl = RequestOptions {
        node: crate::first_up_node(session),
        ..RequestOptions::default()
    };
    let paths: Vec<String> = (0..MAX_DEPTH).map(|i| format!("p{i} text")).collect();
    let keys: Vec<String> = (0..MAX_DEPTH).map(|i| format!("p{i}")).collect();
    let table = format!("{}.{}", quote(ns), quote(c));
    let maybe = if if_not_exists { "IF NOT EXISTS " } else { "" };
    session
        .query(
            &format!(
                "CREATE TABLE {maybe}{table} (key text, {}, leaf text, text_value text, \
                 dbl_value double, bool_value boolean, PRIMARY KEY ((key), {}))",
                paths.join(", "),
                keys.join(", ")
            ),
            (),
            &ddl,
        )
        .await?;
    for column in ["leaf", "text_value", "dbl_value", "bool_value"] {
        session
            .query(
                &format!(
                    "CREATE CUSTOM INDEX IF NOT EXISTS {} ON {table} ({column}) USING 'StorageAttachedIndex'",
                    quote(&format!("{c}_{column}_idx"))
                ),
                (),
                &ddl,
            )
            .await?;
    }
    wait_for_view(session, |v| collection_table(v, ns, c).is_some()).await;
    Ok(())
}

/// The collection's table: 404 when absent (or, with `create`, created).
async fn collection(
    session: &Coordinator,
    ns: &str,
    c: &str,
    create: bool,
) -> ApiResult<Arc<TableMeta>> {
    if let Some(t) = collection_table(&session.cluster().view(), ns, c) {
        return check_collection(t);
    }
    match crate::table(session, ns, c).await {
        Ok(t) => check_collection(t),
        Err(e) if e.status == StatusCode::NOT_FOUND && create => {
            keyspace(session, ns).await?;
            valid_collection_name(c)?;
            create_collection_table(session, ns, c, true).await?;
            collection_table(&session.cluster().view(), ns, c)
                .ok_or_else(|| {
                    ApiError::new(StatusCode::GATEWAY_TIMEOUT, "collection not visible yet")
                })
                .and_then(check_collection)
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(ApiError::not_found(format!(
            "Collection '{c}' not found in namespace '{ns}'"
        ))),
        Err(e) => Err(e),
    }
}

fn check_collection(t: Arc<TableMeta>) -> ApiResult<Arc<TableMeta>> {
    if is_collection(&t) {
        Ok(t)
    } else {
        Err(ApiError::bad_request(format!(
            "Table '{}' is not a document collection",
            t.name
        )))
    }
}

async fn drop_collection(
    Session(session): Session,
    Path((ns, c)): Path<(String, String)>,
) -> ApiResult<Response> {
    collection(&session, &ns, &c, false).await?;
    session
        .query(
            &format!("DROP TABLE {}.{}", quote(&ns), quote(&c)),
            (),
            &RequestOptions::default(),
        )
        .await?;
    wait_for_view(&session, |v| collection_table(v, &ns, &c).is_none()).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------------------------------------
// Shredding
// ---------------------------------------------------------------------------------------------

/// A leaf's value.
#[derive(Debug, Clone, PartialEq)]
enum Leaf {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
}

/// One stored row: a leaf's path and value.
#[derive(Debug, Clone, PartialEq)]
struct Shredded {
    path: Vec<String>,
    value: Leaf,
}

/// An array index as stored: `[000012]`.
fn index_segment(i: usize) -> String {
    format!("[{i:06}]")
}

/// The index of a stored array segment.
fn segment_index(segment: &str) -> Option<usize> {
    segment.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// The rows of `value` under `prefix`.
fn shred(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Shredded>) -> ApiResult<()> {
    if prefix.len() > MAX_DEPTH {
        return Err(ApiError::bad_request(format!(
            "The document is deeper than {MAX_DEPTH} levels"
        )));
    }
    let leaf = |value| Shredded {
        path: prefix.clone(),
        value,
    };
    match value {
        Value::Object(fields) if fields.is_empty() => {
            out.push(leaf(Leaf::Text(EMPTY_OBJECT.into())))
        }
        Value::Array(items) if items.is_empty() => out.push(leaf(Leaf::Text(EMPTY_ARRAY.into()))),
        Value::Object(fields) => {
            for (name, v) in fields {
                check_field_name(name)?;
                prefix.push(name.clone());
                shred(v, prefix, out)?;
                prefix.pop();
            }
        }
        Value::Array(items) => {
            if items.len() > MAX_ARRAY_LENGTH {
                return Err(ApiError::bad_request(format!(
                    "An array has more than {MAX_ARRAY_LENGTH} elements"
                )));
            }
            for (i, v) in items.iter().enumerate() {
                prefix.push(index_segment(i));
                shred(v, prefix, out)?;
                prefix.pop();
            }
        }
        Value::Null => out.push(leaf(Leaf::Null)),
        Value::Bool(b) => out.push(leaf(Leaf::Bool(*b))),
        Value::Number(n) => out.push(leaf(Leaf::Number(n.as_f64().unwrap_or(f64::NAN)))),
        Value::String(s) => out.push(leaf(Leaf::Text(s.clone()))),
    }
    if out.last().is_some_and(|r| r.path.len() > MAX_DEPTH) {
        return Err(ApiError::bad_request(format!(
            "The document is deeper than {MAX_DEPTH} levels"
        )));
    }
    Ok(())
}

fn check_field_name(name: &str) -> ApiResult<()> {
    if name.is_empty() {
        return Err(ApiError::bad_request(
            "JSON objects containing empty field names are not supported",
        ));
    }
    if name.contains(['[', ']', '.', '\'', '\\']) {
        return Err(ApiError::bad_request(format!(
            "Array paths contained in square brackets, periods, single quotes, and backslash are not allowed in field names, invalid field {name}"
        )));
    }
    Ok(())
}

fn leaf_json(leaf: &Leaf) -> Value {
    match leaf {
        Leaf::Null => Value::Null,
        Leaf::Bool(b) => Value::Bool(*b),
        Leaf::Text(s) if s == EMPTY_OBJECT => Value::Object(Map::new()),
        Leaf::Text(s) if s == EMPTY_ARRAY => Value::Array(Vec::new()),
        Leaf::Text(s) => Value::String(s.clone()),
        Leaf::Number(f) => {
            if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
                Value::from(*f as i64)
            } else {
                Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
        }
    }
}

/// The document (or sub-document) the rows make, paths relative to `depth`.
fn unshred(rows: &[Shredded], depth: usize) -> Value {
    let mut root = Value::Null;
    for row in rows {
        let path = row.path.get(depth..).unwrap_or_default();
        insert(&mut root, path, leaf_json(&row.value));
    }
    root
}

fn insert(node: &mut Value, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        // A marker of an empty container does not replace what other rows built.
        if node.is_null() || !(value.is_object() || value.is_array()) {
            *node = value;
        }
        return;
    };
    match segment_index(first) {
        Some(i) => {
            if !node.is_array() {
                *node = Value::Array(Vec::new());
            }
            if let Value::Array(items) = node {
                if items.len() <= i {
                    items.resize(i + 1, Value::Null);
                }
                if let Some(slot) = items.get_mut(i) {
                    insert(slot, rest, value);
                }
            }
        }
        None => {
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            if let Value::Object(fields) = node {
                insert(
                    fields.entry(first.clone()).or_insert(Value::Null),
                    rest,
                    value,
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------

/// Strictly increasing write timestamps (microseconds), so that a write's delete at `t - 1`
/// never hides the rows of an earlier write from this gateway.
fn next_timestamp() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 2);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

fn options() -> RequestOptions {
    RequestOptions {
        consistency: Some(Consistency::LocalQuorum),
        ..RequestOptions::default()
    }
}

fn path_columns() -> String {
    (0..MAX_DEPTH)
        .map(|i| format!("p{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn table_name(ns: &str, c: &str) -> String {
    format!("{}.{}", quote(ns), quote(c))
}

/// `key = ? AND p0 = ? AND …` for a path prefix.
fn prefix_conditions(depth: usize) -> String {
    std::iter::once("key = ?".to_owned())
        .chain((0..depth).map(|i| format!("p{i} = ?")))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// A change to one document, built up and then run as one single-partition batch.
struct Write {
    ns: String,
    c: String,
    id: String,
    deletes: Vec<Vec<String>>,
    rows: Vec<Shredded>,
}

impl Write {
    fn new(ns: &str, c: &str, id: &str) -> Write {
        Write {
            ns: ns.into(),
            c: c.into(),
            id: id.into(),
            deletes: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Deletes the subtree at `path` (the whole document for an empty path).
    fn delete(&mut self, path: &[String]) {
        self.deletes.push(path.to_vec());
    }

    /// Deletes the leaves that sit exactly at `path`'s ancestors (a scalar or an empty
    /// container where an object or array is now written).
    fn delete_ancestor_leaves(&mut self, path: &[String]) {
        for depth in 0..path.len() {
            let mut exact = path[..depth].to_vec();
            exact.push(String::new());
            self.deletes.push(exact);
        }
    }

    /// Writes `value` at `path`.
    fn put(&mut self, path: &[String], value: &Value) -> ApiResult<()> {
        let mut prefix = path.to_vec();
        shred(value, &mut prefix, &mut self.rows)
    }

    async fn run(self, session: &Coordinator) -> ApiResult<()> {
        let ts = next_timestamp();
        let table = table_name(&self.ns, &self.c);
        let mut batch = Batch::new(BatchType::Unlogged);
        for path in &self.deletes {
            let cql = format!(
                "DELETE FROM {table} USING TIMESTAMP ? WHERE {}",
                prefix_conditions(path.len())
            );
            let statement = session.prepare(&cql).await?;
            let mut values = vec![CqlValue::Bigint(ts - 1), CqlValue::Text(self.id.clone())];
            values.extend(path.iter().map(|p| CqlValue::Text(p.clone())));
            batch = batch.prepared(&statement, values);
        }
        if !self.rows.is_empty() {
            let insert = insert_statement(session, &table).await?;
            for row in &self.rows {
                batch = batch.prepared(&insert, row_values(&self.id, row, ts));
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        session.batch(&batch, &options()).await?;
        Ok(())
    }
}

async fn insert_statement(session: &Coordinator, table: &str) -> ApiResult<Arc<PreparedStatement>> {
    let markers = vec!["?"; MAX_DEPTH + 5].join(", ");
    Ok(session
        .prepare(&format!(
            "INSERT INTO {table} (key, {}, leaf, text_value, dbl_value, bool_value) VALUES ({markers}) USING TIMESTAMP ?",
            path_columns()
        ))
        .await?)
}

fn row_values(id: &str, row: &Shredded, ts: i64) -> Vec<Option<CqlValue>> {
    let mut values = Vec::with_capacity(MAX_DEPTH + 6);
    values.push(Some(CqlValue::Text(id.to_owned())));
    for i in 0..MAX_DEPTH {
        values.push(Some(CqlValue::Text(
            row.path.get(i).cloned().unwrap_or_default(),
        )));
    }
    values.push(Some(CqlValue::Text(
        row.path.last().cloned().unwrap_or_default(),
    )));
    let (text, dbl, boolean) = match &row.value {
        Leaf::Null => (None, None, None),
        Leaf::Text(s) => (Some(CqlValue::Text(s.clone())), None, None),
        Leaf::Number(f) => (None, Some(CqlValue::Double(*f)), None),
        Leaf::Bool(b) => (None, None, Some(CqlValue::Boolean(*b))),
    };
    values.extend([text, dbl, boolean]);
    values.push(Some(CqlValue::Bigint(ts)));
    values
}

/// The rows of a document under `path` (all of it for an empty path), in path order.
async fn read_rows(
    session: &Coordinator,
    ns: &str,
    c: &str,
    id: &str,
    path: &[String],
) -> ApiResult<Vec<Shredded>> {
    let cql = format!(
        "SELECT {}, text_value, dbl_value, bool_value FROM {} WHERE {}",
        path_columns(),
        table_name(ns, c),
        prefix_conditions(path.len())
    );
    let statement = session.prepare(&cql).await?;
    let mut values = vec![CqlValue::Text(id.to_owned())];
    values.extend(path.iter().map(|p| CqlValue::Text(p.clone())));
    let mut pages = std::pin::pin!(session.pages(
        &statement,
        values,
        RequestOptions {
            page_size: Some(1000),
            idempotent: true,
            ..options()
        }
    ));
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        for row in page?.rows()? {
            let cells = row.values();
            let mut path = Vec::new();
            for cell in cells.iter().take(MAX_DEPTH) {
                match cell {
                    Some(CqlValue::Text(s)) if !s.is_empty() => path.push(s.clone()),
                    _ => break,
                }
            }
            let value = match (
                cells.get(MAX_DEPTH),
                cells.get(MAX_DEPTH + 1),
                cells.get(MAX_DEPTH + 2),
            ) {
                (Some(Some(CqlValue::Text(s))), _, _) => Leaf::Text(s.clone()),
                (_, Some(Some(CqlValue::Double(f))), _) => Leaf::Number(*f),
                (_, _, Some(Some(CqlValue::Boolean(b)))) => Leaf::Bool(*b),
                _ => Leaf::Null,
            };
            out.push(Shredded { path, value });
            if out.len() > MAX_DOCUMENT_ROWS {
                return Err(ApiError::bad_request(format!(
                    "The document has more than {MAX_DOCUMENT_ROWS} leaves"
                )));
            }
        }
    }
    Ok(out)
}

/// A whole document, or `None` when there is none with this id.
async fn read_document(
    session: &Coordinator,
    ns: &str,
    c: &str,
    id: &str,
) -> ApiResult<Option<Value>> {
    let rows = read_rows(session, ns, c, id, &[]).await?;
    Ok((!rows.is_empty()).then(|| unshred(&rows, 0)))
}

// ---------------------------------------------------------------------------------------------
// Document routes
// ---------------------------------------------------------------------------------------------

/// The document path after `/v2/namespaces/{ns}/collections/{c}/{id}/`: segments
/// percent-decoded, `[n]` made the stored form of an array index.
fn document_path(uri: &Uri) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for raw in uri.path().split('/').skip(7) {
        if raw.is_empty() {
            continue;
        }
        let segment = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| ApiError::bad_request("Invalid path: not UTF-8"))?;
        out.push(path_segment(&segment)?);
    }
    if out.len() > MAX_DEPTH {
        return Err(ApiError::bad_request(format!(
            "A path may have at most {MAX_DEPTH} segments"
        )));
    }
    Ok(out)
}

/// A path segment as stored: `[3]` is array index 3, anything else a field name.
fn path_segment(segment: &str) -> ApiResult<String> {
    if let Some(inner) = segment.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        let i: usize = inner.parse().map_err(|_| {
            ApiError::bad_request(format!("Invalid array index in path: {segment}"))
        })?;
        if i >= MAX_ARRAY_LENGTH {
            return Err(ApiError::bad_request(format!(
                "Array index {i} is beyond the longest array ({MAX_ARRAY_LENGTH})"
            )));
        }
        return Ok(index_segment(i));
    }
    Ok(segment.to_owned())
}

fn shown_path(path: &[String]) -> String {
    path.iter()
        .map(|s| match segment_index(s) {
            Some(i) => format!("[{i}]"),
            None => s.clone(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn json_body(body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("A JSON document must be provided"));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Malformed JSON object found: {e}")))
}

fn check_document_root(doc: &Value) -> ApiResult<()> {
    match doc {
        Value::Object(o) if !o.is_empty() => Ok(()),
        Value::Array(a) if !a.is_empty() => Ok(()),
        Value::Object(_) | Value::Array(_) => Err(ApiError::bad_request(
            "Updating a key with just an empty object or an empty array is not allowed. Hint: update the parent path with a defined object instead.",
        )),
        _ => Err(ApiError::bad_request(
            "Updating a key with just a JSON primitive is not allowed. Hint: update the parent path with a defined object instead.",
        )),
    }
}

fn document_created(ns: &str, c: &str, id: &str, status: StatusCode) -> Response {
    let mut response = (status, Json(json!({"documentId": id}))).into_response();
    let location = format!(
        "/v2/namespaces/{ns}/collections/{c}/{}",
        crate::rows_path_escape(id)
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

async fn create_document(
    Session(session): Session,
    Path((ns, c)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let doc = json_body(&body)?;
    check_document_root(&doc)?;
    collection(&session, &ns, &c, true).await?;
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    let mut write = Write::new(&ns, &c, &id);
    write.put(&[], &doc)?;
    write.run(&session).await?;
    Ok(document_created(&ns, &c, &id, StatusCode::CREATED))
}

async fn batch_documents(
    Session(session): Session,
    Path((ns, c)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let params = query_params(q.as_deref());
    let id_path = match params.get("id-path").map(|p| p.trim()) {
        None | Some("") => None,
        Some(p) => Some(where_path(p)?),
    };
    let Value::Array(docs) = json_body(&body)? else {
        return Err(ApiError::bad_request(
            "A batch must be a JSON array of documents",
        ));
    };
    if docs.is_empty() {
        return Err(ApiError::bad_request(
            "A batch must hold at least one document",
        ));
    }
    let mut writes = Vec::with_capacity(docs.len());
    let mut ids = Vec::with_capacity(docs.len());
    for (i, doc) in docs.iter().enumerate() {
        check_document_root(doc)?;
        let id = match &id_path {
            None => uuid::Uuid::new_v4().hyphenated().to_string(),
            Some(path) => match value_at(doc, path) {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "Document {i} of the batch has no string or number at id-path {}",
                        shown_path(path)
                    )));
                }
            },
        };
        let mut write = Write::new(&ns, &c, &id);
        write.delete(&[]);
        write.put(&[], doc)?;
        writes.push(write);
        ids.push(Value::String(id));
    }
    collection(&session, &ns, &c, true).await?;
    let results: Vec<ApiResult<()>> = futures::stream::iter(writes)
        .map(|w| {
            let session = session.clone();
            async move { w.run(&session).await }
        })
        .buffered(32)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"documentIds": ids}))).into_response())
}

async fn get_document(
    Session(session): Session,
    Path(p): Path<Vec<(String, String)>>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let (ns, c, id) = route_ids(&p)?;
    let path = document_path(&uri)?;
    let params = query_params(q.as_deref());
    let raw = raw_param(&params)?;
    collection(&session, &ns, &c, false).await?;
    let rows = read_rows(&session, &ns, &c, &id, &path).await?;
    if rows.is_empty() {
        return Err(if path.is_empty() {
            ApiError::not_found(format!("A document with the id {id} does not exist."))
        } else {
            ApiError::not_found(format!(
                "A path {} in a document {id} does not exist.",
                shown_path(&path)
            ))
        });
    }
    let mut data = unshred(&rows, path.len());
    if let Some(fields) = params.get("fields") {
        data = project(&data, &parse_fields(fields)?);
    }
    Ok(Json(if raw {
        data
    } else {
        json!({"documentId": id, "data": data})
    })
    .into_response())
}

/// `ns`, `c` and `id` from the route's parameters.
fn route_ids(p: &[(String, String)]) -> ApiResult<(String, String, String)> {
    let get = |name: &str| {
        p.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| ApiError::bad_request(format!("missing {name}")))
    };
    Ok((get("ns")?, get("c")?, get("id")?))
}

async fn put_document(
    Session(session): Session,
    Path(p): Path<Vec<(String, String)>>,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Response> {
    let (ns, c, id) = route_ids(&p)?;
    let path = document_path(&uri)?;
    let value = json_body(&body)?;
    if path.is_empty() {
        check_document_root(&value)?;
    }
    collection(&session, &ns, &c, true).await?;
    let mut write = Write::new(&ns, &c, &id);
    write.delete(&path);
    write.delete_ancestor_leaves(&path);
    write.put(&path, &value)?;
    write.run(&session).await?;
    Ok(document_created(&ns, &c, &id, StatusCode::OK))
}

async fn patch_document(
    Session(session): Session,
    Path(p): Path<Vec<(String, String)>>,
    uri: Uri,
    body: Bytes,
) -> ApiResult<Response> {
    let (ns, c, id) = route_ids(&p)?;
    let path = document_path(&uri)?;
    let Value::Object(fields) = json_body(&body)? else {
        return Err(ApiError::bad_request(
            "A patch must be a JSON object: its fields replace the document's",
        ));
    };
    if fields.is_empty() {
        return Err(ApiError::bad_request(
            "A patch with an empty object is not allowed",
        ));
    }
    collection(&session, &ns, &c, true).await?;
    // A patch merges into an object: what sits at the path now must be one (or nothing).
    let existing = read_rows(&session, &ns, &c, &id, &path).await?;
    if !existing.is_empty() && !unshred(&existing, path.len()).is_object() {
        return Err(ApiError::bad_request(format!(
            "A patch applies to an object; {} of document {id} is not one",
            if path.is_empty() {
                "the root".to_owned()
            } else {
                shown_path(&path)
            }
        )));
    }
    let mut write = Write::new(&ns, &c, &id);
    write.delete_ancestor_leaves(&path);
    // The object's own empty marker, if it was empty.
    let mut exact = path.clone();
    exact.push(String::new());
    write.delete(&exact);
    for (name, value) in &fields {
        check_field_name(name)?;
        let mut at = path.clone();
        at.push(name.clone());
        write.delete(&at);
        write.put(&at, value)?;
    }
    write.run(&session).await?;
    Ok(document_created(&ns, &c, &id, StatusCode::OK))
}

async fn delete_document(
    Session(session): Session,
    Path(p): Path<Vec<(String, String)>>,
    uri: Uri,
) -> ApiResult<Response> {
    let (ns, c, id) = route_ids(&p)?;
    let path = document_path(&uri)?;
    collection(&session, &ns, &c, false).await?;
    let mut write = Write::new(&ns, &c, &id);
    write.delete(&path);
    write.run(&session).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST …/{id}/{path}/function` with `{"operation": "$push", "value": …}` or
/// `{"operation": "$pop"}` on the array at the path.
async fn function(
    Session(session): Session,
    Path(p): Path<Vec<(String, String)>>,
    uri: Uri,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let (ns, c, id) = route_ids(&p)?;
    let mut path = document_path(&uri)?;
    if path.last().map(String::as_str) != Some("function") {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST on a document path takes …/{path}/function",
        ));
    }
    path.pop();
    let raw = raw_param(&query_params(q.as_deref()))?;
    let body = crate::rows::json_object(&body)?;
    let operation = body
        .get("operation")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("Field 'operation' must be provided"))?;
    collection(&session, &ns, &c, false).await?;
    let rows = read_rows(&session, &ns, &c, &id, &path).await?;
    let current = unshred(&rows, path.len());
    let Value::Array(items) = &current else {
        return Err(ApiError::bad_request(format!(
            "The path {} of document {id} is not an array",
            shown_path(&path)
        )));
    };
    let next = items.len();
    let mut write = Write::new(&ns, &c, &id);
    let data = match operation {
        "$push" => {
            let value = body
                .get("value")
                .ok_or_else(|| ApiError::bad_request("$push needs a 'value'"))?;
            if next >= MAX_ARRAY_LENGTH {
                return Err(ApiError::bad_request("The array is at its longest"));
            }
            let mut exact = path.clone();
            exact.push(String::new());
            write.delete(&exact);
            let mut at = path.clone();
            at.push(index_segment(next));
            write.put(&at, value)?;
            let mut after = items.clone();
            after.push(value.clone());
            Value::Array(after)
        }
        "$pop" => {
            let Some(last) = items.last() else {
                return Err(ApiError::bad_request("No data available to pop"));
            };
            let mut at = path.clone();
            at.push(index_segment(next - 1));
            write.delete(&at);
            if next == 1 {
                write.put(&path, &Value::Array(Vec::new()))?;
            }
            last.clone()
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "Unknown operation {other}: $push or $pop"
            )));
        }
    };
    write.run(&session).await?;
    Ok(Json(if raw {
        data
    } else {
        json!({"documentId": id, "data": data})
    })
    .into_response())
}

// ---------------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------------

/// A search filter.
#[derive(Debug, Clone, PartialEq)]
enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Condition {
        path: Vec<String>,
        op: Op,
        value: Value,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    Exists,
    In,
    Nin,
}

/// A `where` path: `a.b.[2].c` (array indexes in brackets).
fn where_path(text: &str) -> ApiResult<Vec<String>> {
    let segments = text
        .split('.')
        .map(|s| {
            if s.is_empty() {
                Err(ApiError::bad_request(format!("Invalid path '{text}'")))
            } else {
                path_segment(s)
            }
        })
        .collect::<ApiResult<Vec<_>>>()?;
    if segments.len() > MAX_DEPTH {
        return Err(ApiError::bad_request(format!("Path '{text}' is too deep")));
    }
    Ok(segments)
}

fn parse_filter(v: &Value, depth: usize) -> ApiResult<Filter> {
    let invalid = |why: String| ApiError::bad_request(format!("Invalid where: {why}"));
    if depth > 32 {
        return Err(invalid("nested too deep".into()));
    }
    let Value::Object(entries) = v else {
        return Err(invalid(format!("expected a JSON object, got {v}")));
    };
    if entries.is_empty() {
        return Err(invalid("an empty filter".into()));
    }
    let mut all = Vec::new();
    for (key, value) in entries {
        match key.as_str() {
            "$and" | "$or" => {
                let Value::Array(items) = value else {
                    return Err(invalid(format!("{key} takes an array of filters")));
                };
                if items.is_empty() {
                    return Err(invalid(format!("{key} takes a non-empty array")));
                }
                let parts = items
                    .iter()
                    .map(|i| parse_filter(i, depth + 1))
                    .collect::<ApiResult<Vec<_>>>()?;
                all.push(if key == "$and" {
                    Filter::And(parts)
                } else {
                    Filter::Or(parts)
                });
            }
            "$not" => all.push(Filter::Not(Box::new(parse_filter(value, depth + 1)?))),
            path => {
                let path = where_path(path)?;
                let Value::Object(ops) = value else {
                    return Err(invalid(format!(
                        "the condition on {key} must be an object of operators"
                    )));
                };
                if ops.is_empty() {
                    return Err(invalid(format!("no operator for {key}")));
                }
                for (op, operand) in ops {
                    let op = match op.as_str() {
                        "$eq" => Op::Eq,
                        "$ne" => Op::Ne,
                        "$lt" => Op::Lt,
                        "$lte" => Op::Lte,
                        "$gt" => Op::Gt,
                        "$gte" => Op::Gte,
                        "$exists" => Op::Exists,
                        "$in" => Op::In,
                        "$nin" => Op::Nin,
                        other => {
                            return Err(invalid(format!("operation '{other}' is not supported")));
                        }
                    };
                    match (op, operand) {
                        (Op::Exists, Value::Bool(_)) => {}
                        (Op::Exists, _) => {
                            return Err(invalid("$exists takes true or false".into()));
                        }
                        (Op::In | Op::Nin, Value::Array(_)) => {}
                        (Op::In | Op::Nin, _) => {
                            return Err(invalid("$in and $nin take an array".into()));
                        }
                        (
                            Op::Lt | Op::Lte | Op::Gt | Op::Gte,
                            Value::Number(_) | Value::String(_),
                        ) => {}
                        (Op::Lt | Op::Lte | Op::Gt | Op::Gte, other) => {
                            return Err(invalid(format!(
                                "a range operator takes a number or a string, got {other}"
                            )));
                        }
                        (Op::Eq | Op::Ne, Value::Array(_) | Value::Object(_)) => {
                            return Err(invalid(
                                "$eq and $ne take a string, number, boolean or null".into(),
                            ));
                        }
                        _ => {}
                    }
                    all.push(Filter::Condition {
                        path: path.clone(),
                        op,
                        value: operand.clone(),
                    });
                }
            }
        }
    }
    Ok(if all.len() == 1 {
        all.remove(0)
    } else {
        Filter::And(all)
    })
}

fn value_at<'v>(doc: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut node = doc;
    for segment in path {
        node = match segment_index(segment) {
            Some(i) => node.as_array()?.get(i)?,
            None => node.as_object()?.get(segment)?,
        };
    }
    Some(node)
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(std::cmp::Ordering::Equal),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    compare(a, b) == Some(std::cmp::Ordering::Equal)
}

fn matches(filter: &Filter, doc: &Value) -> bool {
    use std::cmp::Ordering as O;
    match filter {
        Filter::And(parts) => parts.iter().all(|f| matches(f, doc)),
        Filter::Or(parts) => parts.iter().any(|f| matches(f, doc)),
        Filter::Not(inner) => !matches(inner, doc),
        Filter::Condition { path, op, value } => {
            let found = value_at(doc, path);
            match op {
                Op::Exists => found.is_some() == (value == &Value::Bool(true)),
                Op::Eq => found.is_some_and(|f| equal(f, value)),
                Op::Ne => !found.is_some_and(|f| equal(f, value)),
                Op::Lt => found.and_then(|f| compare(f, value)) == Some(O::Less),
                Op::Lte => found
                    .and_then(|f| compare(f, value))
                    .is_some_and(|o| o != O::Greater),
                Op::Gt => found.and_then(|f| compare(f, value)) == Some(O::Greater),
                Op::Gte => found
                    .and_then(|f| compare(f, value))
                    .is_some_and(|o| o != O::Less),
                Op::In => found.is_some_and(|f| {
                    value
                        .as_array()
                        .is_some_and(|items| items.iter().any(|i| equal(f, i)))
                }),
                Op::Nin => !found.is_some_and(|f| {
                    value
                        .as_array()
                        .is_some_and(|items| items.iter().any(|i| equal(f, i)))
                }),
            }
        }
    }
}

/// The indexed query that finds candidate documents for one condition, when it has one: the
/// CQL (selecting `key` and the path columns down to the leaf's level), its values, and the
/// path its rows must have.
///
/// The query restricts one indexed column: the value column (`leaf` for `$exists`); rows of
/// other paths are dropped in the gateway, by their path columns. Restricting the path's
/// clustering columns in CQL would make Cassandra filter every partition, and intersecting
/// the `leaf` index with a value index is slow in Cassandra 5.0 when many rows share a leaf.
fn pushdown(filter: &Filter, ns: &str, c: &str) -> Option<(String, Vec<CqlValue>, Vec<String>)> {
    let conditions: Vec<&Filter> = match filter {
        Filter::And(parts) => parts.iter().collect(),
        other => vec![other],
    };
    let rank = |f: &&Filter| match f {
        Filter::Condition { op: Op::Eq, .. } => 0,
        Filter::Condition {
            op: Op::Lt | Op::Lte | Op::Gt | Op::Gte,
            ..
        } => 1,
        Filter::Condition { op: Op::Exists, .. } => 2,
        _ => 3,
    };
    let mut candidates: Vec<&Filter> = conditions.into_iter().filter(|f| pushable(f)).collect();
    candidates.sort_by_key(rank);
    let primary = *candidates.first()?;
    let Filter::Condition { path, op, .. } = primary else {
        return None;
    };
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    if *op == Op::Exists {
        clauses.push("leaf = ?".into());
        values.push(CqlValue::Text(path.last()?.clone()));
    }
    // A range on a number takes the opposite bound on the same path too (`$gt` and `$lte`
    // make one range); anything else is checked in the gateway.
    let lower = |o: &Op| matches!(o, Op::Gt | Op::Gte);
    let upper = |o: &Op| matches!(o, Op::Lt | Op::Lte);
    let mut pushed = vec![primary];
    if lower(op) || upper(op) {
        let opposite = candidates.iter().copied().find(|f| {
            matches!(f, Filter::Condition { path: p, op: o, value: Value::Number(_) }
                if p == path && (if lower(op) { upper(o) } else { lower(o) }))
        });
        pushed.extend(opposite);
    }
    for f in pushed {
        let Filter::Condition { op, value, .. } = f else {
            continue;
        };
        let cmp = match op {
            Op::Eq => "=",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::Gt => ">",
            Op::Gte => ">=",
            _ => "",
        };
        match (op, value) {
            (Op::Exists, _) => {}
            (_, Value::String(s)) => {
                clauses.push("text_value = ?".into());
                values.push(CqlValue::Text(s.clone()));
            }
            (_, Value::Number(n)) => {
                clauses.push(format!("dbl_value {cmp} ?"));
                values.push(CqlValue::Double(n.as_f64()?));
            }
            (_, Value::Bool(b)) => {
                clauses.push("bool_value = ?".into());
                values.push(CqlValue::Boolean(*b));
            }
            _ => return None,
        }
    }
    let columns: Vec<String> = (0..=path.len().min(MAX_DEPTH - 1))
        .map(|i| format!("p{i}"))
        .collect();
    Some((
        format!(
            "SELECT key, {} FROM {} WHERE {}",
            columns.join(", "),
            table_name(ns, c),
            clauses.join(" AND ")
        ),
        values,
        path.clone(),
    ))
}

fn pushable(f: &Filter) -> bool {
    let Filter::Condition { path, op, value } = f else {
        return false;
    };
    if path.is_empty() {
        return false;
    }
    matches!(
        (op, value),
        (Op::Eq, Value::String(_) | Value::Number(_) | Value::Bool(_))
            | (Op::Lt | Op::Lte | Op::Gt | Op::Gte, Value::Number(_))
            | (Op::Exists, Value::Bool(true))
    )
}

/// Where a search resumes: the candidate query's paging state at the start of the page being
/// read, and the last document already answered from it.
#[derive(Debug, Default)]
struct SearchState {
    paging: Option<bytes::Bytes>,
    last: Option<String>,
}

impl SearchState {
    fn encode(&self) -> String {
        let value = json!({
            "s": self.paging.as_ref().map(|p| BASE64.encode(p)),
            "l": self.last,
        });
        BASE64.encode(value.to_string())
    }

    fn decode(text: &str) -> ApiResult<SearchState> {
        let invalid = || ApiError::bad_request("Invalid page-state");
        let bytes = BASE64
            .decode(text.replace(' ', "+"))
            .map_err(|_| invalid())?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        let paging = match value.get("s") {
            Some(Value::String(s)) => {
                Some(bytes::Bytes::from(BASE64.decode(s).map_err(|_| invalid())?))
            }
            _ => None,
        };
        let last = value.get("l").and_then(Value::as_str).map(str::to_owned);
        Ok(SearchState { paging, last })
    }
}

fn parse_fields(text: &str) -> ApiResult<Vec<Vec<String>>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|_| ApiError::bad_request("Invalid fields: expected a JSON array of paths"))?;
    let Value::Array(items) = value else {
        return Err(ApiError::bad_request(
            "Invalid fields: expected a JSON array of paths",
        ));
    };
    items
        .iter()
        .map(|i| match i {
            Value::String(s) => where_path(s),
            _ => Err(ApiError::bad_request(
                "Invalid fields: each path is a string",
            )),
        })
        .collect()
}

/// The document with only these paths.
fn project(doc: &Value, fields: &[Vec<String>]) -> Value {
    let mut out = Value::Object(Map::new());
    for path in fields {
        if let Some(v) = value_at(doc, path) {
            let mut rows = Vec::new();
            let mut prefix = path.clone();
            if shred(v, &mut prefix, &mut rows).is_ok() {
                for row in rows {
                    insert(&mut out, &row.path, leaf_json(&row.value));
                }
            }
        }
    }
    out
}

async fn search(
    Session(session): Session,
    Path((ns, c)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let params = query_params(q.as_deref());
    let raw = raw_param(&params)?;
    let page_size = match params.get("page-size") {
        None => DEFAULT_PAGE_SIZE,
        Some(s) => match s.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid page-size {s:?}: from 1 to {MAX_PAGE_SIZE}"
                )));
            }
        },
    };
    let filter = match params.get("where").map(|w| w.trim()) {
        None | Some("") => None,
        Some(w) => {
            let value: Value = serde_json::from_str(w).map_err(|e| {
                ApiError::bad_request(format!("Invalid where: not valid JSON ({e})"))
            })?;
            Some(parse_filter(&value, 0)?)
        }
    };
    let fields = match params.get("fields") {
        None => None,
        Some(f) => Some(parse_fields(f)?),
    };
    let profile = params.get("profile").is_some_and(|p| p == "true");
    let mut documents_read = 0usize;
    let mut state = match params.get("page-state").map(|s| s.trim()) {
        None | Some("") => SearchState::default(),
        Some(s) => SearchState::decode(s)?,
    };
    collection(&session, &ns, &c, false).await?;
    let pushed = filter.as_ref().and_then(|f| pushdown(f, &ns, &c));
    let pushed_cql = pushed.as_ref().map(|(cql, _, _)| cql.clone());
    let (cql, values, path) = pushed.unwrap_or_else(|| {
        (
            format!("SELECT DISTINCT key FROM {}", table_name(&ns, &c)),
            Vec::new(),
            Vec::new(),
        )
    });
    let statement = session.prepare(&cql).await?;
    let mut found: Vec<(String, Value)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut next_state = None;
    'pages: loop {
        let page = session
            .execute(
                &statement,
                values.clone(),
                &RequestOptions {
                    page_size: Some(i32::try_from(page_size * 8).unwrap_or(160).max(100)),
                    paging_state: state.paging.clone(),
                    idempotent: true,
                    ..options()
                },
            )
            .await?;
        let mut keys = Vec::new();
        for row in page.rows()? {
            let cells = row.values();
            // A pushed-down row must sit at the condition's path exactly.
            let at_path = path.is_empty()
                || cells.iter().skip(1).enumerate().all(|(i, cell)| {
                    let want = path.get(i).map_or("", String::as_str);
                    matches!(cell, Some(CqlValue::Text(s)) if s == want)
                });
            if !at_path {
                continue;
            }
            if let Some(Some(CqlValue::Text(k))) = cells.first()
                && keys.last() != Some(k)
            {
                keys.push(k.clone());
            }
        }
        // Keys already answered from this page (on resume) are skipped.
        if let Some(last) = state.last.take() {
            if let Some(i) = keys.iter().position(|k| *k == last) {
                keys.drain(..=i);
            }
        }
        // Documents are read a page's worth at a time, so a search whose candidates all
        // match reads no more documents than it answers.
        for chunk in keys.chunks(page_size) {
            let docs: Vec<ApiResult<Option<Value>>> = futures::stream::iter(chunk.to_vec())
                .map(|k| {
                    let session = session.clone();
                    let (ns, c) = (ns.clone(), c.clone());
                    async move { read_document(&session, &ns, &c, &k).await }
                })
                .buffered(16)
                .collect()
                .await;
            documents_read += docs.len();
            for (key, doc) in chunk.iter().zip(docs) {
                let Some(doc) = doc? else { continue };
                if !seen.insert(key.clone()) {
                    continue;
                }
                if filter.as_ref().is_none_or(|f| matches(f, &doc)) {
                    found.push((key.clone(), doc));
                    if found.len() == page_size {
                        next_state = Some(SearchState {
                            paging: state.paging.clone(),
                            last: Some(key.clone()),
                        });
                        break 'pages;
                    }
                }
            }
        }
        match page.paging_state() {
            Some(p) => state.paging = Some(p.clone()),
            None => break,
        }
    }
    let mut data = Map::new();
    for (key, doc) in found {
        let doc = match &fields {
            Some(f) => project(&doc, f),
            None => doc,
        };
        data.insert(key, doc);
    }
    if raw {
        return Ok(Json(Value::Object(data)).into_response());
    }
    let mut body = Map::new();
    if let Some(s) = next_state {
        body.insert("pageState".into(), Value::String(s.encode()));
    }
    body.insert("data".into(), Value::Object(data));
    if profile {
        body.insert(
            "profile".into(),
            json!({"pushedDown": pushed_cql, "documentsRead": documents_read}),
        );
    }
    Ok(Json(Value::Object(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn documents_shred_and_come_back() {
        let doc = json(
            r#"{"a": {"b": [1, 2.5, {"c": "x"}, [], {}], "d": null}, "e": true, "f": "text"}"#,
        );
        let mut rows = Vec::new();
        shred(&doc, &mut Vec::new(), &mut rows).unwrap();
        assert_eq!(rows.len(), 8);
        assert_eq!(rows[0].path, vec!["a", "b", "[000000]"]);
        assert_eq!(rows[3].value, Leaf::Text(EMPTY_ARRAY.into()));
        // Rows come back from Cassandra in path order.
        rows.sort_by(|x, y| x.path.cmp(&y.path));
        assert_eq!(unshred(&rows, 0), doc);
        let sub: Vec<Shredded> = rows
            .iter()
            .filter(|r| r.path.starts_with(&["a".into(), "b".into()]))
            .cloned()
            .collect();
        assert_eq!(unshred(&sub, 2), json(r#"[1, 2.5, {"c": "x"}, [], {}]"#));
    }

    #[test]
    fn filters_match_documents() {
        let doc =
            json(r#"{"name": "ada", "age": 36, "tags": ["x", "y"], "addr": {"city": "London"}}"#);
        let f = |text: &str| parse_filter(&json(text), 0).unwrap();
        assert!(matches(&f(r#"{"age": {"$gte": 36, "$lt": 40}}"#), &doc));
        assert!(matches(&f(r#"{"tags.[1]": {"$eq": "y"}}"#), &doc));
        assert!(matches(
            &f(r#"{"addr.city": {"$in": ["Paris", "London"]}}"#),
            &doc
        ));
        assert!(matches(&f(r#"{"addr.zip": {"$exists": false}}"#), &doc));
        assert!(matches(
            &f(r#"{"$or": [{"age": {"$lt": 10}}, {"name": {"$ne": "bob"}}]}"#),
            &doc
        ));
        assert!(!matches(&f(r#"{"$not": {"name": {"$eq": "ada"}}}"#), &doc));
        assert!(matches(
            &f(r#"{"name": {"$nin": ["bob"]}, "age": {"$gt": 30}}"#),
            &doc
        ));
        assert!(parse_filter(&json(r#"{"a": {"$regex": "x"}}"#), 0).is_err());
        assert!(parse_filter(&json(r#"{"a": {"$in": 3}}"#), 0).is_err());
        // The equality on a number is pushed down; $ne alone is not.
        let pushed = pushdown(
            &f(r#"{"age": {"$eq": 36}, "name": {"$ne": "x"}}"#),
            "n",
            "c",
        )
        .unwrap();
        assert!(pushed.0.contains("dbl_value = ?"), "{}", pushed.0);
        assert!(pushdown(&f(r#"{"name": {"$ne": "x"}}"#), "n", "c").is_none());
    }
}

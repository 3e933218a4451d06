//! Stargate's CQL-first GraphQL API, on async-graphql's dynamic schemas.
//!
//! - `/graphql/{keyspace}`: a schema generated from the keyspace's tables. Per table `t`: the
//!   query `t(value:, filter:, orderBy:, options:)` answering `{ values {…} pageState }`, and
//!   the mutations `insertt`, `bulkInsertt`, `updatet`, `deletet` answering
//!   `{ applied value {…} }`. Column types map to GraphQL scalars (`Uuid`, `TimeUuid`, `Inet`,
//!   `Date`, `Time`, `Timestamp`, `Duration`, `Decimal`, `BigInt`, `Varint`, `Counter`,
//!   `Blob` in base64, `Ascii`, `SmallInt`, `TinyInt`, `Float32`; `Int`, `Float`, `String`,
//!   `Boolean`), collections to lists (maps to lists of `{key value}` entries), tuples to
//!   `{item0 item1 …}` and user types to objects, as input and as output. The schema is built
//!   on first use, and rebuilt as soon as the coordinator's schema view — which follows the
//!   cluster's schema events — shows the keyspace changed (a task follows the view; a request
//!   also checks that its schema was built from the view's keyspace).
//! - `/graphql-schema`: keyspaces and tables (`keyspaces`, `keyspace(name:)`) and DDL
//!   (`createKeyspace`, `dropKeyspace`, `createTable`, `alterTableAdd`, `alterTableDrop`,
//!   `dropTable`, `createIndex`, `createType`, `dropType`).
//! - `/playground`: a GraphQL playground page.
//!
//! Both take GET (`?query=&variables=&operationName=`) and POST (`application/json` or
//! `application/graphql`), need `X-Cassandra-Token`, and run as the token's user: what the
//! cluster refuses the user is a GraphQL error with the cluster's message.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, Scalar,
    Schema, TypeRef,
};
use async_graphql::{Name, Number, Value as ConstValue, Variables};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use indexmap::IndexMap;
use ringgate::cluster::{ColumnKind, KeyspaceMeta, TableMeta};
use ringgate::protocol::message::{Consistency, ResultBody, SerialConsistency};
use ringgate::protocol::types::{ColumnType, CqlValue};
use ringgate::request::{Coordinator, QueryResult, RequestOptions};
use serde_json::Value as Json;

use crate::auth::Session;
use crate::convert::{from_json, to_json, type_text};
use crate::error::{ApiError, ApiResult};
use crate::rows::query_params;
use crate::{AppState, quote};

/// The GraphQL routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/graphql-schema", get(ddl_endpoint).post(ddl_endpoint))
        .route(
            "/graphql/{keyspace}",
            get(keyspace_endpoint).post(keyspace_endpoint),
        )
        .route("/playground", get(playground))
}

/// The keyspaces' schemas, each with the keyspace it was built from.
#[derive(Default)]
pub struct Schemas {
    built: Mutex<HashMap<String, (Arc<KeyspaceMeta>, Schema)>>,
    ddl: Mutex<Option<Schema>>,
}

impl Schemas {
    /// The schema of `keyspace` as the view shows it now (built again when it changed).
    fn keyspace(&self, meta: &Arc<KeyspaceMeta>) -> ApiResult<Schema> {
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((from, schema)) = built.get(&meta.name)
            && (Arc::ptr_eq(from, meta) || **from == **meta)
        {
            return Ok(schema.clone());
        }
        let schema = keyspace_schema(meta).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot build the GraphQL schema of {}: {e}", meta.name),
            )
        })?;
        tracing::debug!(keyspace = %meta.name, "GraphQL schema built");
        built.insert(meta.name.clone(), (Arc::clone(meta), schema.clone()));
        Ok(schema)
    }

    /// Rebuilds the schemas of keyspaces the view shows changed, and forgets dropped ones.
    fn refresh(&self, view: &ringgate::cluster::ClusterView) {
        let stale: Vec<String> = {
            let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
            built.retain(|name, _| view.keyspace(name).is_some());
            built
                .iter()
                .filter(|(name, (from, _))| {
                    view.keyspace(name)
                        .is_some_and(|now| !Arc::ptr_eq(from, now) && **from != **now)
                })
                .map(|(name, _)| name.clone())
                .collect()
        };
        for name in stale {
            if let Some(meta) = view.keyspace(&name)
                && let Err(e) = self.keyspace(meta)
            {
                tracing::warn!(keyspace = %name, error = %e.description, "GraphQL schema rebuild failed");
            }
        }
    }

    fn ddl(&self) -> ApiResult<Schema> {
        let mut ddl = self.ddl.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = ddl.as_ref() {
            return Ok(s.clone());
        }
        let schema = ddl_schema().map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot build the DDL schema: {e}"),
            )
        })?;
        *ddl = Some(schema.clone());
        Ok(schema)
    }
}

/// Follows the coordinator's schema view (which follows the cluster's schema events): each
/// new view rebuilds the schemas of the keyspaces it changed. Ends with the gateway.
pub async fn follow_schema_changes(
    schemas: std::sync::Weak<Schemas>,
    mut views: tokio::sync::watch::Receiver<Arc<ringgate::cluster::ClusterView>>,
) {
    while views.changed().await.is_ok() {
        let view = Arc::clone(&views.borrow_and_update());
        let Some(schemas) = schemas.upgrade() else {
            return;
        };
        schemas.refresh(&view);
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// A GraphQL request from GET parameters or a POST body.
fn graphql_request(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<async_graphql::Request> {
    let params = query_params(query);
    let (text, variables, operation) = if !body.is_empty() {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json");
        if content_type.starts_with("application/graphql") {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::bad_request("The query is not UTF-8"))?;
            (text.to_owned(), None, None)
        } else {
            let v: Json = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))?;
            let text = v
                .get("query")
                .and_then(Json::as_str)
                .ok_or_else(|| ApiError::bad_request("The body has no 'query'"))?
                .to_owned();
            let operation = v
                .get("operationName")
                .and_then(Json::as_str)
                .map(str::to_owned);
            (text, v.get("variables").cloned(), operation)
        }
    } else {
        let text = params
            .get("query")
            .cloned()
            .ok_or_else(|| ApiError::bad_request("No query: give ?query= or a POST body"))?;
        let variables = match params.get("variables") {
            Some(v) if !v.trim().is_empty() => Some(
                serde_json::from_str(v)
                    .map_err(|e| ApiError::bad_request(format!("Invalid variables: {e}")))?,
            ),
            _ => None,
        };
        (text, variables, params.get("operationName").cloned())
    };
    let mut request = async_graphql::Request::new(text);
    if let Some(Json::Object(v)) = variables {
        request = request.variables(Variables::from_value(json_to_gql(&Json::Object(v))));
    }
    if let Some(op) = operation.filter(|o| !o.is_empty()) {
        request = request.operation_name(op);
    }
    Ok(request)
}

fn graphql_response(response: async_graphql::Response) -> Response {
    match serde_json::to_vec(&response) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn keyspace_endpoint(
    State(state): State<AppState>,
    Session(session): Session,
    Path(ks): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let meta = crate::keyspace(&session, &ks).await?;
    let schema = state.graphql.keyspace(&meta)?;
    let request = graphql_request(query.as_deref(), &headers, &body)?.data(session);
    Ok(graphql_response(schema.execute(request).await))
}

async fn ddl_endpoint(
    State(state): State<AppState>,
    Session(session): Session,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let schema = state.graphql.ddl()?;
    let request = graphql_request(query.as_deref(), &headers, &body)?.data(session);
    Ok(graphql_response(schema.execute(request).await))
}

async fn playground() -> Html<String> {
    Html(async_graphql::http::playground_source(
        async_graphql::http::GraphQLPlaygroundConfig::new("/graphql-schema")
            .title("Ringgate GraphQL playground")
            .with_header("X-Cassandra-Token", "paste a token from POST /v1/auth"),
    ))
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// JSON as a GraphQL value (numbers keep their digits).
pub fn json_to_gql(v: &Json) -> ConstValue {
    match v {
        Json::Null => ConstValue::Null,
        Json::Bool(b) => ConstValue::Boolean(*b),
        Json::Number(n) => ConstValue::Number(n.clone()),
        Json::String(s) => ConstValue::String(s.clone()),
        Json::Array(items) => ConstValue::List(items.iter().map(json_to_gql).collect()),
        Json::Object(fields) => ConstValue::Object(
            fields
                .iter()
                .map(|(k, v)| (Name::new(k), json_to_gql(v)))
                .collect(),
        ),
    }
}

fn gql_to_plain_json(v: &ConstValue) -> Json {
    match v {
        ConstValue::Null => Json::Null,
        ConstValue::Boolean(b) => Json::Bool(*b),
        ConstValue::Number(n) => Json::Number(n.clone()),
        ConstValue::String(s) => Json::String(s.clone()),
        ConstValue::Enum(e) => Json::String(e.to_string()),
        ConstValue::Binary(b) => Json::String(BASE64.encode(b)),
        ConstValue::List(items) => Json::Array(items.iter().map(gql_to_plain_json).collect()),
        ConstValue::Object(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), gql_to_plain_json(v)))
                .collect(),
        ),
    }
}

/// A GraphQL input value as the JSON the JSON ↔ CQL layer reads: tuples come as
/// `{item0, …}` objects and become arrays, maps as lists of `{key, value}`.
fn gql_to_json(typ: &ColumnType, v: &ConstValue) -> Json {
    match (typ, v) {
        (_, ConstValue::Null) => Json::Null,
        (ColumnType::Tuple(types), ConstValue::Object(fields)) => Json::Array(
            types
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    fields
                        .get(format!("item{i}").as_str())
                        .map_or(Json::Null, |v| gql_to_json(t, v))
                })
                .collect(),
        ),
        (ColumnType::Map(k, vt), ConstValue::List(entries)) => Json::Array(
            entries
                .iter()
                .map(|e| match e {
                    ConstValue::Object(f) => serde_json::json!({
                        "key": f.get("key").map_or(Json::Null, |v| gql_to_json(k.as_ref(), v)),
                        "value": f.get("value").map_or(Json::Null, |v| gql_to_json(vt.as_ref(), v)),
                    }),
                    other => gql_to_plain_json(other),
                })
                .collect(),
        ),
        (
            ColumnType::List(e) | ColumnType::Set(e) | ColumnType::Vector { element: e, .. },
            ConstValue::List(items),
        ) => Json::Array(items.iter().map(|i| gql_to_json(e.as_ref(), i)).collect()),
        (ColumnType::Udt(udt), ConstValue::Object(fields)) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| {
                    let t = udt
                        .fields
                        .iter()
                        .find(|(n, _)| n == k.as_str())
                        .map(|(_, t)| t);
                    (
                        k.to_string(),
                        t.map_or_else(|| gql_to_plain_json(v), |t| gql_to_json(t, v)),
                    )
                })
                .collect(),
        ),
        (_, other) => gql_to_plain_json(other),
    }
}

/// A GraphQL input for a column, as a CQL value.
fn input_value(column: &str, typ: &ColumnType, v: &ConstValue) -> Result<Option<CqlValue>, String> {
    from_json(typ, &gql_to_json(typ, v)).map_err(|e| format!("Invalid value for {column}: {e}"))
}

/// A CQL value as GraphQL output: 64-bit and arbitrary-precision numbers as strings (as
/// Stargate's scalars), maps as entry lists, tuples as `{item0 …}`.
fn output_value(typ: &ColumnType, v: &CqlValue) -> ConstValue {
    match (typ, v) {
        (_, CqlValue::Bigint(n) | CqlValue::Counter(n)) => ConstValue::String(n.to_string()),
        (_, CqlValue::Varint(_) | CqlValue::Decimal(_)) => {
            ConstValue::String(to_json(v).to_string())
        }
        (ColumnType::Map(k, vt), CqlValue::Map(entries)) => ConstValue::List(
            entries
                .iter()
                .map(|(key, value)| {
                    let mut o = IndexMap::new();
                    o.insert(Name::new("key"), output_value(k, key));
                    o.insert(Name::new("value"), output_value(vt, value));
                    ConstValue::Object(o)
                })
                .collect(),
        ),
        (ColumnType::Tuple(types), CqlValue::Tuple(items)) => ConstValue::Object(
            types
                .iter()
                .zip(items)
                .enumerate()
                .map(|(i, (t, v))| {
                    (
                        Name::new(format!("item{i}")),
                        v.as_ref().map_or(ConstValue::Null, |v| output_value(t, v)),
                    )
                })
                .collect(),
        ),
        (ColumnType::Udt(udt), CqlValue::Udt(fields)) => ConstValue::Object(
            fields
                .iter()
                .map(|(name, v)| {
                    let t = udt.fields.iter().find(|(n, _)| n == name).map(|(_, t)| t);
                    let out = match (t, v) {
                        (Some(t), Some(v)) => output_value(t, v),
                        (None, Some(v)) => json_to_gql(&to_json(v)),
                        (_, None) => ConstValue::Null,
                    };
                    (Name::new(name), out)
                })
                .collect(),
        ),
        (
            ColumnType::List(e) | ColumnType::Set(e) | ColumnType::Vector { element: e, .. },
            CqlValue::List(items) | CqlValue::Set(items) | CqlValue::Vector(items),
        ) => ConstValue::List(items.iter().map(|i| output_value(e, i)).collect()),
        _ => json_to_gql(&to_json(v)),
    }
}

// ---------------------------------------------------------------------------------------------
// Keyspace schemas
// ---------------------------------------------------------------------------------------------

/// Whether a name can be a GraphQL name.
fn graphql_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// The GraphQL scalar of a CQL scalar type.
fn scalar_of(typ: &ColumnType) -> Option<&'static str> {
    use ColumnType as T;
    Some(match typ {
        T::Int => "Int",
        T::Varchar => "String",
        T::Boolean => "Boolean",
        T::Double => "Float",
        T::Float => "Float32",
        T::Bigint => "BigInt",
        T::Counter => "Counter",
        T::Varint => "Varint",
        T::Decimal => "Decimal",
        T::Ascii => "Ascii",
        T::Blob | T::Custom(_) => "Blob",
        T::Date => "Date",
        T::Time => "Time",
        T::Timestamp => "Timestamp",
        T::Uuid => "Uuid",
        T::Timeuuid => "TimeUuid",
        T::Inet => "Inet",
        T::Duration => "Duration",
        T::Smallint => "SmallInt",
        T::Tinyint => "TinyInt",
        _ => return None,
    })
}

/// The custom scalars every keyspace schema declares.
const CUSTOM_SCALARS: [&str; 16] = [
    "Float32",
    "BigInt",
    "Counter",
    "Varint",
    "Decimal",
    "Ascii",
    "Blob",
    "Date",
    "Time",
    "Timestamp",
    "Uuid",
    "TimeUuid",
    "Inet",
    "Duration",
    "SmallInt",
    "TinyInt",
];

/// A name for a type, to name the composite types built from it.
fn label(typ: &ColumnType) -> String {
    use ColumnType as T;
    match typ {
        T::List(e) => format!("List{}", label(e)),
        T::Set(e) => format!("Set{}", label(e)),
        T::Vector { element, dimension } => format!("Vector{}x{dimension}", label(element)),
        T::Map(k, v) => format!("Entry{}Key{}Value", label(k), label(v)),
        T::Tuple(ts) => format!("Tuple{}", ts.iter().map(label).collect::<String>()),
        T::Udt(u) => format!("{}Udt", u.name),
        other => scalar_of(other).unwrap_or("Blob").to_owned(),
    }
}

/// Collects the object and input types a keyspace schema needs.
#[derive(Default)]
struct Types {
    objects: BTreeMap<String, Object>,
    inputs: BTreeMap<String, InputObject>,
    enums: BTreeMap<String, Enum>,
}

/// A resolver that reads the field `name` of its parent object.
fn pick(
    name: &str,
) -> impl for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync + 'static {
    let name = name.to_owned();
    move |ctx| {
        let name = name.clone();
        FieldFuture::new(async move {
            let parent = ctx.parent_value.try_to_value()?;
            let value = match parent {
                ConstValue::Object(fields) => fields.get(name.as_str()).cloned(),
                _ => None,
            };
            Ok(value
                .filter(|v| !matches!(v, ConstValue::Null))
                .map(FieldValue::value))
        })
    }
}

impl Types {
    /// The output type of a column type, registering what it needs.
    fn output(&mut self, typ: &ColumnType) -> TypeRef {
        use ColumnType as T;
        match typ {
            T::List(e) | T::Set(e) | T::Vector { element: e, .. } => {
                TypeRef::List(Box::new(self.output(e)))
            }
            T::Map(k, v) => {
                let name = label(typ);
                if !self.objects.contains_key(&name) {
                    let (kt, vt) = (self.output(k), self.output(v));
                    self.objects.insert(
                        name.clone(),
                        Object::new(&name)
                            .field(Field::new("key", kt, pick("key")))
                            .field(Field::new("value", vt, pick("value"))),
                    );
                }
                TypeRef::named_list(name)
            }
            T::Tuple(ts) => {
                let name = label(typ);
                if !self.objects.contains_key(&name) {
                    let mut object = Object::new(&name);
                    for (i, t) in ts.iter().enumerate() {
                        let item = format!("item{i}");
                        object = object.field(Field::new(&item, self.output(t), pick(&item)));
                    }
                    self.objects.insert(name.clone(), object);
                }
                TypeRef::named(name)
            }
            T::Udt(u) => {
                let name = label(typ);
                if !self.objects.contains_key(&name) {
                    let mut object = Object::new(&name);
                    for (field, t) in &u.fields {
                        if graphql_name(field) {
                            object = object.field(Field::new(field, self.output(t), pick(field)));
                        }
                    }
                    self.objects.insert(name.clone(), object);
                }
                TypeRef::named(name)
            }
            other => TypeRef::named(scalar_of(other).unwrap_or("Blob")),
        }
    }

    /// The input type of a column type, registering what it needs.
    fn input(&mut self, typ: &ColumnType) -> TypeRef {
        use ColumnType as T;
        match typ {
            T::List(e) | T::Set(e) | T::Vector { element: e, .. } => {
                TypeRef::List(Box::new(self.input(e)))
            }
            T::Map(k, v) => {
                let name = format!("{}Input", label(typ));
                if !self.inputs.contains_key(&name) {
                    let (kt, vt) = (self.input(k), self.input(v));
                    self.inputs.insert(
                        name.clone(),
                        InputObject::new(&name)
                            .field(InputValue::new("key", kt))
                            .field(InputValue::new("value", vt)),
                    );
                }
                TypeRef::named_list(name)
            }
            T::Tuple(ts) => {
                let name = format!("{}Input", label(typ));
                if !self.inputs.contains_key(&name) {
                    let mut input = InputObject::new(&name);
                    for (i, t) in ts.iter().enumerate() {
                        input = input.field(InputValue::new(format!("item{i}"), self.input(t)));
                    }
                    self.inputs.insert(name.clone(), input);
                }
                TypeRef::named(name)
            }
            T::Udt(u) => {
                let name = format!("{}Input", label(typ));
                if !self.inputs.contains_key(&name) {
                    let mut input = InputObject::new(&name);
                    for (field, t) in &u.fields {
                        if graphql_name(field) {
                            input = input.field(InputValue::new(field, self.input(t)));
                        }
                    }
                    self.inputs.insert(name.clone(), input);
                }
                TypeRef::named(name)
            }
            other => TypeRef::named(scalar_of(other).unwrap_or("Blob")),
        }
    }

    /// The filter input of a column type: `eq notEq gt gte lt lte in`, and `contains`,
    /// `containsKey`, `containsEntry` for collections.
    fn filter(&mut self, typ: &ColumnType) -> TypeRef {
        use ColumnType as T;
        let name = format!("{}FilterInput", label(typ).replace("Input", ""));
        if !self.inputs.contains_key(&name) {
            let own = self.input(typ);
            let mut input = InputObject::new(&name);
            for op in ["eq", "notEq", "gt", "gte", "lt", "lte"] {
                input = input.field(InputValue::new(op, own.clone()));
            }
            input = input.field(InputValue::new("in", TypeRef::List(Box::new(own))));
            match typ {
                T::List(e) | T::Set(e) => {
                    input = input.field(InputValue::new("contains", self.input(e)));
                }
                T::Map(k, v) => {
                    input = input
                        .field(InputValue::new("contains", self.input(v)))
                        .field(InputValue::new("containsKey", self.input(k)));
                    let entry = self.input(typ);
                    input = input.field(InputValue::new(
                        "containsEntry",
                        TypeRef::named(entry.type_name().to_owned()),
                    ));
                }
                _ => {}
            }
            self.inputs.insert(name.clone(), input);
        }
        TypeRef::named(name)
    }
}

/// The columns of a table that GraphQL can name.
fn columns(t: &TableMeta) -> Vec<&ringgate::cluster::ColumnMeta> {
    t.partition_key
        .iter()
        .chain(&t.clustering_key)
        .chain(
            t.columns
                .values()
                .filter(|c| matches!(c.kind, ColumnKind::Regular | ColumnKind::Static)),
        )
        .filter(|c| graphql_name(&c.name))
        .collect()
}

fn keyspace_schema(ks: &KeyspaceMeta) -> Result<Schema, async_graphql::dynamic::SchemaError> {
    let mut types = Types::default();
    let mut query = Object::new("Query");
    let mut mutation = Object::new("Mutation");
    let mut any_table = false;
    for table in ks.tables.values() {
        if !graphql_name(&table.name) {
            continue;
        }
        let cols = columns(table);
        if cols.is_empty() {
            continue;
        }
        any_table = true;
        let t = &table.name;
        let mut object = Object::new(t);
        let mut input = InputObject::new(format!("{t}Input"));
        let mut filter = InputObject::new(format!("{t}FilterInput"));
        let mut order = Enum::new(format!("{t}Order"));
        for c in &cols {
            object = object.field(Field::new(
                &c.name,
                types.output(&c.cql_type),
                pick(&c.name),
            ));
            input = input.field(InputValue::new(&c.name, types.input(&c.cql_type)));
            filter = filter.field(InputValue::new(&c.name, types.filter(&c.cql_type)));
            order = order
                .item(format!("{}_ASC", c.name))
                .item(format!("{}_DESC", c.name));
        }
        types.objects.insert(t.clone(), object);
        types.inputs.insert(format!("{t}Input"), input);
        types.inputs.insert(format!("{t}FilterInput"), filter);
        types.enums.insert(format!("{t}Order"), order);
        types.objects.insert(
            format!("{t}Result"),
            Object::new(format!("{t}Result"))
                .field(Field::new("values", TypeRef::named_list(t), pick("values")))
                .field(Field::new(
                    "pageState",
                    TypeRef::named(TypeRef::STRING),
                    pick("pageState"),
                )),
        );
        types.objects.insert(
            format!("{t}MutationResult"),
            Object::new(format!("{t}MutationResult"))
                .field(Field::new(
                    "applied",
                    TypeRef::named(TypeRef::BOOLEAN),
                    pick("applied"),
                ))
                .field(Field::new("value", TypeRef::named(t), pick("value"))),
        );

        let meta = Arc::new((**table).clone());
        let read = Arc::clone(&meta);
        query = query.field(
            Field::new(t, TypeRef::named(format!("{t}Result")), move |ctx| {
                let table = Arc::clone(&read);
                FieldFuture::new(async move {
                    let session = ctx.data::<Coordinator>()?;
                    let out = select(session, &table, &ctx).await?;
                    Ok(Some(FieldValue::value(out)))
                })
            })
            .argument(InputValue::new(
                "value",
                TypeRef::named(format!("{t}Input")),
            ))
            .argument(InputValue::new(
                "filter",
                TypeRef::named(format!("{t}FilterInput")),
            ))
            .argument(InputValue::new(
                "orderBy",
                TypeRef::named_list(format!("{t}Order")),
            ))
            .argument(InputValue::new("options", TypeRef::named("QueryOptions"))),
        );
        let result = TypeRef::named(format!("{t}MutationResult"));
        let value_arg = || InputValue::new("value", TypeRef::named_nn(format!("{t}Input")));
        let options_arg = || InputValue::new("options", TypeRef::named("MutationOptions"));
        let (ins, bulk, upd, del) = (
            Arc::clone(&meta),
            Arc::clone(&meta),
            Arc::clone(&meta),
            Arc::clone(&meta),
        );
        mutation = mutation
            .field(
                Field::new(format!("insert{t}"), result.clone(), move |ctx| {
                    let table = Arc::clone(&ins);
                    FieldFuture::new(async move {
                        let session = ctx.data::<Coordinator>()?;
                        let value = ctx.args.try_get("value")?.as_value().clone();
                        let out = insert(session, &table, &value, &ctx).await?;
                        Ok(Some(FieldValue::value(out)))
                    })
                })
                .argument(value_arg())
                .argument(InputValue::new(
                    "ifNotExists",
                    TypeRef::named(TypeRef::BOOLEAN),
                ))
                .argument(options_arg()),
            )
            .field(
                Field::new(
                    format!("bulkInsert{t}"),
                    TypeRef::List(Box::new(result.clone())),
                    move |ctx| {
                        let table = Arc::clone(&bulk);
                        FieldFuture::new(async move {
                            let session = ctx.data::<Coordinator>()?;
                            let values = ctx.args.try_get("values")?.list()?;
                            let mut futures = Vec::new();
                            for v in values.iter() {
                                let value = v.as_value().clone();
                                let table = Arc::clone(&table);
                                let ctx = &ctx;
                                futures.push(
                                    async move { insert(session, &table, &value, ctx).await },
                                );
                            }
                            let out = futures::future::try_join_all(futures).await?;
                            Ok(Some(FieldValue::value(ConstValue::List(out))))
                        })
                    },
                )
                .argument(InputValue::new(
                    "values",
                    TypeRef::NonNull(Box::new(TypeRef::List(Box::new(TypeRef::named_nn(
                        format!("{t}Input"),
                    ))))),
                ))
                .argument(InputValue::new(
                    "ifNotExists",
                    TypeRef::named(TypeRef::BOOLEAN),
                ))
                .argument(options_arg()),
            )
            .field(
                Field::new(format!("update{t}"), result.clone(), move |ctx| {
                    let table = Arc::clone(&upd);
                    FieldFuture::new(async move {
                        let session = ctx.data::<Coordinator>()?;
                        let out = update(session, &table, &ctx).await?;
                        Ok(Some(FieldValue::value(out)))
                    })
                })
                .argument(value_arg())
                .argument(InputValue::new(
                    "ifExists",
                    TypeRef::named(TypeRef::BOOLEAN),
                ))
                .argument(InputValue::new(
                    "ifCondition",
                    TypeRef::named(format!("{t}FilterInput")),
                ))
                .argument(options_arg()),
            )
            .field(
                Field::new(format!("delete{t}"), result, move |ctx| {
                    let table = Arc::clone(&del);
                    FieldFuture::new(async move {
                        let session = ctx.data::<Coordinator>()?;
                        let out = delete(session, &table, &ctx).await?;
                        Ok(Some(FieldValue::value(out)))
                    })
                })
                .argument(value_arg())
                .argument(InputValue::new(
                    "ifExists",
                    TypeRef::named(TypeRef::BOOLEAN),
                ))
                .argument(InputValue::new(
                    "ifCondition",
                    TypeRef::named(format!("{t}FilterInput")),
                ))
                .argument(options_arg()),
            );
    }
    let name = ks.name.clone();
    query = query.field(Field::new(
        "_keyspace",
        TypeRef::named_nn(TypeRef::STRING),
        move |_| FieldFuture::from_value(Some(ConstValue::String(name.clone()))),
    ));
    let mut builder = Schema::build("Query", any_table.then_some("Mutation"), None)
        .register(query)
        .limit_depth(64)
        .limit_complexity(100_000);
    if any_table {
        builder = builder.register(mutation);
    }
    for scalar in CUSTOM_SCALARS {
        builder = builder.register(Scalar::new(scalar));
    }
    builder = builder
        .register(Enum::new("QueryConsistency").items([
            "LOCAL_ONE",
            "LOCAL_QUORUM",
            "ALL",
            "SERIAL",
            "LOCAL_SERIAL",
        ]))
        .register(Enum::new("MutationConsistency").items(["LOCAL_ONE", "LOCAL_QUORUM", "ALL"]))
        .register(Enum::new("SerialConsistency").items(["SERIAL", "LOCAL_SERIAL"]))
        .register(
            InputObject::new("QueryOptions")
                .field(InputValue::new(
                    "consistency",
                    TypeRef::named("QueryConsistency"),
                ))
                .field(InputValue::new("limit", TypeRef::named(TypeRef::INT)))
                .field(InputValue::new("pageSize", TypeRef::named(TypeRef::INT)))
                .field(InputValue::new(
                    "pageState",
                    TypeRef::named(TypeRef::STRING),
                )),
        )
        .register(
            InputObject::new("MutationOptions")
                .field(InputValue::new(
                    "consistency",
                    TypeRef::named("MutationConsistency"),
                ))
                .field(InputValue::new(
                    "serialConsistency",
                    TypeRef::named("SerialConsistency"),
                ))
                .field(InputValue::new("ttl", TypeRef::named(TypeRef::INT))),
        );
    for (_, o) in types.objects {
        builder = builder.register(o);
    }
    for (_, i) in types.inputs {
        builder = builder.register(i);
    }
    for (_, e) in types.enums {
        builder = builder.register(e);
    }
    builder.finish()
}

// ---------------------------------------------------------------------------------------------
// Resolvers
// ---------------------------------------------------------------------------------------------

fn gql_error(e: impl std::fmt::Display) -> async_graphql::Error {
    async_graphql::Error::new(e.to_string())
}

fn column<'t>(
    table: &'t TableMeta,
    name: &str,
) -> async_graphql::Result<&'t ringgate::cluster::ColumnMeta> {
    table
        .columns
        .get(name)
        .ok_or_else(|| gql_error(format!("unknown column {name}")))
}

fn consistency(name: &str) -> Option<Consistency> {
    Some(match name {
        "LOCAL_ONE" => Consistency::LocalOne,
        "LOCAL_QUORUM" => Consistency::LocalQuorum,
        "ALL" => Consistency::All,
        "SERIAL" => Consistency::Serial,
        "LOCAL_SERIAL" => Consistency::LocalSerial,
        _ => return None,
    })
}

fn enum_arg(v: Option<&ConstValue>) -> Option<String> {
    match v {
        Some(ConstValue::Enum(e)) => Some(e.to_string()),
        Some(ConstValue::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The conditions of a `filter` (or `ifCondition`) argument, appending their values.
fn filter_conditions(
    table: &TableMeta,
    filter: &ConstValue,
    values: &mut Vec<Option<CqlValue>>,
) -> async_graphql::Result<Vec<String>> {
    let ConstValue::Object(columns) = filter else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, ops) in columns {
        let c = column(table, name)?;
        let ConstValue::Object(ops) = ops else {
            continue;
        };
        let q = quote(name);
        let typ = &c.cql_type;
        for (op, v) in ops {
            if matches!(v, ConstValue::Null) {
                continue;
            }
            let simple = match op.as_str() {
                "eq" => Some("="),
                "notEq" => Some("!="),
                "gt" => Some(">"),
                "gte" => Some(">="),
                "lt" => Some("<"),
                "lte" => Some("<="),
                _ => None,
            };
            if let Some(cmp) = simple {
                out.push(format!("{q} {cmp} ?"));
                values.push(input_value(name, typ, v).map_err(gql_error)?);
                continue;
            }
            match op.as_str() {
                "in" => {
                    let list = ColumnType::List(Box::new(typ.clone()));
                    out.push(format!("{q} IN ?"));
                    values.push(input_value(name, &list, v).map_err(gql_error)?);
                }
                "contains" => {
                    let element = match typ {
                        ColumnType::List(e) | ColumnType::Set(e) => e,
                        ColumnType::Map(_, v) => v,
                        _ => return Err(gql_error(format!("{name} is not a collection"))),
                    };
                    out.push(format!("{q} CONTAINS ?"));
                    values.push(input_value(name, element, v).map_err(gql_error)?);
                }
                "containsKey" => {
                    let ColumnType::Map(k, _) = typ else {
                        return Err(gql_error(format!("{name} is not a map")));
                    };
                    out.push(format!("{q} CONTAINS KEY ?"));
                    values.push(input_value(name, k, v).map_err(gql_error)?);
                }
                "containsEntry" => {
                    let ColumnType::Map(k, vt) = typ else {
                        return Err(gql_error(format!("{name} is not a map")));
                    };
                    let entry = match v {
                        ConstValue::List(items) if items.len() == 1 => &items[0],
                        other => other,
                    };
                    let (Some(key), Some(value)) =
                        (entry_field(entry, "key"), entry_field(entry, "value"))
                    else {
                        return Err(gql_error("containsEntry takes {key, value}"));
                    };
                    out.push(format!("{q}[?] = ?"));
                    values.push(input_value(name, k, key).map_err(gql_error)?);
                    values.push(input_value(name, vt, value).map_err(gql_error)?);
                }
                other => return Err(gql_error(format!("unknown filter operator {other}"))),
            }
        }
    }
    Ok(out)
}

fn entry_field<'v>(v: &'v ConstValue, name: &str) -> Option<&'v ConstValue> {
    match v {
        ConstValue::Object(o) => o.get(name),
        _ => None,
    }
}

/// `col = ?` for each column given in a `value` argument.
fn value_conditions(
    table: &TableMeta,
    value: &ConstValue,
    values: &mut Vec<Option<CqlValue>>,
) -> async_graphql::Result<Vec<String>> {
    let ConstValue::Object(fields) = value else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, v) in fields {
        let c = column(table, name)?;
        out.push(format!("{} = ?", quote(name)));
        values.push(input_value(name, &c.cql_type, v).map_err(gql_error)?);
    }
    Ok(out)
}

fn row_object(table: &TableMeta, result: &QueryResult) -> async_graphql::Result<Vec<ConstValue>> {
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
    let rows = result.rows().map_err(gql_error)?;
    Ok(rows
        .iter()
        .map(|row| {
            ConstValue::Object(
                names
                    .iter()
                    .zip(row.values())
                    .filter_map(|(n, v)| {
                        let c = table.columns.get(n)?;
                        Some((
                            Name::new(n),
                            v.as_ref()
                                .map_or(ConstValue::Null, |v| output_value(&c.cql_type, v)),
                        ))
                    })
                    .collect(),
            )
        })
        .collect())
}

async fn run(
    session: &Coordinator,
    cql: &str,
    values: Vec<Option<CqlValue>>,
    options: &RequestOptions,
) -> async_graphql::Result<QueryResult> {
    let statement = session.prepare(cql).await.map_err(ApiError::from)?;
    Ok(session
        .execute(&statement, values, options)
        .await
        .map_err(ApiError::from)?)
}

async fn select(
    session: &Coordinator,
    table: &TableMeta,
    ctx: &ResolverContext<'_>,
) -> async_graphql::Result<ConstValue> {
    let mut values = Vec::new();
    let mut conditions = Vec::new();
    if let Some(v) = ctx.args.get("value") {
        conditions.extend(value_conditions(table, v.as_value(), &mut values)?);
    }
    if let Some(f) = ctx.args.get("filter") {
        conditions.extend(filter_conditions(table, f.as_value(), &mut values)?);
    }
    let mut cql = format!(
        "SELECT * FROM {}.{}",
        quote(&table.keyspace),
        quote(&table.name)
    );
    if !conditions.is_empty() {
        cql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
    }
    if let Some(order) = ctx.args.get("orderBy") {
        let mut parts = Vec::new();
        for o in order.list()?.iter() {
            let item = enum_arg(Some(o.as_value())).unwrap_or_default();
            let (col, dir) = item
                .rsplit_once('_')
                .ok_or_else(|| gql_error(format!("bad order {item}")))?;
            parts.push(format!("{} {dir}", quote(col)));
        }
        if !parts.is_empty() {
            cql.push_str(&format!(" ORDER BY {}", parts.join(", ")));
        }
    }
    let mut options = RequestOptions {
        consistency: Some(Consistency::LocalQuorum),
        page_size: Some(100),
        idempotent: true,
        ..RequestOptions::default()
    };
    if let Some(o) = ctx.args.get("options")
        && let ConstValue::Object(o) = o.as_value()
    {
        if let Some(c) = enum_arg(o.get("consistency")).and_then(|c| consistency(&c)) {
            options.consistency = Some(c);
        }
        if let Some(ConstValue::Number(n)) = o.get("limit") {
            let limit = n
                .as_u64()
                .filter(|l| *l > 0)
                .ok_or_else(|| gql_error("limit must be positive"))?;
            cql.push_str(&format!(" LIMIT {limit}"));
        }
        if let Some(ConstValue::Number(n)) = o.get("pageSize") {
            let size = n
                .as_i64()
                .and_then(|s| i32::try_from(s).ok())
                .filter(|s| *s > 0)
                .ok_or_else(|| gql_error("pageSize must be positive"))?;
            options.page_size = Some(size);
        }
        if let Some(ConstValue::String(s)) = o.get("pageState") {
            options.paging_state = Some(bytes::Bytes::from(
                BASE64
                    .decode(s)
                    .map_err(|_| gql_error("pageState is not base64"))?,
            ));
        }
    }
    if !conditions.is_empty() {
        cql.push_str(" ALLOW FILTERING");
    }
    let result = run(session, &cql, values, &options).await?;
    let rows = row_object(table, &result)?;
    let mut out = IndexMap::new();
    out.insert(Name::new("values"), ConstValue::List(rows));
    out.insert(
        Name::new("pageState"),
        result
            .paging_state()
            .map_or(ConstValue::Null, |p| ConstValue::String(BASE64.encode(p))),
    );
    Ok(ConstValue::Object(out))
}

fn mutation_options(
    ctx: &ResolverContext<'_>,
) -> async_graphql::Result<(RequestOptions, Option<i64>)> {
    let mut options = RequestOptions {
        consistency: Some(Consistency::LocalQuorum),
        ..RequestOptions::default()
    };
    let mut ttl = None;
    if let Some(o) = ctx.args.get("options")
        && let ConstValue::Object(o) = o.as_value()
    {
        if let Some(c) = enum_arg(o.get("consistency")).and_then(|c| consistency(&c)) {
            options.consistency = Some(c);
        }
        match enum_arg(o.get("serialConsistency")).as_deref() {
            Some("LOCAL_SERIAL") => {
                options.serial_consistency = Some(SerialConsistency::LocalSerial)
            }
            Some("SERIAL") => options.serial_consistency = Some(SerialConsistency::Serial),
            _ => {}
        }
        if let Some(ConstValue::Number(n)) = o.get("ttl") {
            ttl = Some(
                n.as_i64()
                    .filter(|t| *t >= 0)
                    .ok_or_else(|| gql_error("ttl must be >= 0"))?,
            );
        }
    }
    Ok((options, ttl))
}

/// `{applied, value}`: a conditional statement's `[applied]` and, when it was not applied, the
/// row as it is; otherwise the value given.
fn mutation_result(
    table: &TableMeta,
    result: &QueryResult,
    given: &ConstValue,
) -> async_graphql::Result<ConstValue> {
    let mut applied = true;
    let mut value = given.clone();
    if let ResultBody::Rows(_) = &result.body {
        let rows = result.rows().map_err(gql_error)?;
        if let Some(row) = rows.first() {
            applied = row
                .get_by_name::<Option<bool>>("[applied]")
                .ok()
                .flatten()
                .unwrap_or(true);
            if !applied {
                let objects = row_object(table, result)?;
                if let Some(ConstValue::Object(existing)) = objects.into_iter().next()
                    && !existing.is_empty()
                {
                    value = ConstValue::Object(existing);
                }
            }
        }
    }
    let mut out = IndexMap::new();
    out.insert(Name::new("applied"), ConstValue::Boolean(applied));
    out.insert(Name::new("value"), value);
    Ok(ConstValue::Object(out))
}

fn bool_arg(ctx: &ResolverContext<'_>, name: &str) -> bool {
    matches!(
        ctx.args.get(name).map(|v| v.as_value().clone()),
        Some(ConstValue::Boolean(true))
    )
}

async fn insert(
    session: &Coordinator,
    table: &TableMeta,
    value: &ConstValue,
    ctx: &ResolverContext<'_>,
) -> async_graphql::Result<ConstValue> {
    let ConstValue::Object(fields) = value else {
        return Err(gql_error("value must be an object"));
    };
    let mut names = Vec::new();
    let mut values = Vec::new();
    for (name, v) in fields {
        let c = column(table, name)?;
        names.push(quote(name));
        values.push(input_value(name, &c.cql_type, v).map_err(gql_error)?);
    }
    if names.is_empty() {
        return Err(gql_error("value has no columns"));
    }
    let (options, ttl) = mutation_options(ctx)?;
    let mut cql = format!(
        "INSERT INTO {}.{} ({}) VALUES ({})",
        quote(&table.keyspace),
        quote(&table.name),
        names.join(", "),
        vec!["?"; names.len()].join(", ")
    );
    if bool_arg(ctx, "ifNotExists") {
        cql.push_str(" IF NOT EXISTS");
    }
    if let Some(ttl) = ttl {
        cql.push_str(&format!(" USING TTL {ttl}"));
    }
    let result = run(session, &cql, values, &options).await?;
    mutation_result(table, &result, value)
}

/// Columns of a `value` argument with their values.
type Assignments<'v> = Vec<(&'v Name, &'v ConstValue)>;

/// The primary key conditions of a `value` argument (every key column must be given), and
/// the other columns it sets.
fn split_key<'v>(
    table: &TableMeta,
    value: &'v ConstValue,
) -> async_graphql::Result<(Assignments<'v>, Assignments<'v>)> {
    let ConstValue::Object(fields) = value else {
        return Err(gql_error("value must be an object"));
    };
    let mut key = Vec::new();
    let mut rest = Vec::new();
    for (name, v) in fields {
        let c = column(table, name)?;
        match c.kind {
            ColumnKind::PartitionKey | ColumnKind::Clustering => key.push((name, v)),
            _ => rest.push((name, v)),
        }
    }
    Ok((key, rest))
}

async fn update(
    session: &Coordinator,
    table: &TableMeta,
    ctx: &ResolverContext<'_>,
) -> async_graphql::Result<ConstValue> {
    let value = ctx.args.try_get("value")?.as_value().clone();
    let (key, rest) = split_key(table, &value)?;
    if rest.is_empty() {
        return Err(gql_error("value sets no column besides the primary key"));
    }
    let (options, ttl) = mutation_options(ctx)?;
    let mut values = Vec::new();
    let mut sets = Vec::new();
    for (name, v) in &rest {
        let c = column(table, name)?;
        if matches!(c.cql_type, ColumnType::Counter) {
            sets.push(format!("{0} = {0} + ?", quote(name)));
        } else {
            sets.push(format!("{} = ?", quote(name)));
        }
        values.push(input_value(name, &c.cql_type, v).map_err(gql_error)?);
    }
    let mut conditions = Vec::new();
    for (name, v) in &key {
        let c = column(table, name)?;
        conditions.push(format!("{} = ?", quote(name)));
        values.push(input_value(name, &c.cql_type, v).map_err(gql_error)?);
    }
    let mut cql = format!(
        "UPDATE {}.{}{} SET {} WHERE {}",
        quote(&table.keyspace),
        quote(&table.name),
        ttl.map(|t| format!(" USING TTL {t}")).unwrap_or_default(),
        sets.join(", "),
        conditions.join(" AND ")
    );
    append_condition(table, ctx, &mut cql, &mut values)?;
    let result = run(session, &cql, values, &options).await?;
    mutation_result(table, &result, &value)
}

fn append_condition(
    table: &TableMeta,
    ctx: &ResolverContext<'_>,
    cql: &mut String,
    values: &mut Vec<Option<CqlValue>>,
) -> async_graphql::Result<()> {
    if bool_arg(ctx, "ifExists") {
        cql.push_str(" IF EXISTS");
    } else if let Some(cond) = ctx.args.get("ifCondition") {
        let conditions = filter_conditions(table, cond.as_value(), values)?;
        if !conditions.is_empty() {
            cql.push_str(&format!(" IF {}", conditions.join(" AND ")));
        }
    }
    Ok(())
}

async fn delete(
    session: &Coordinator,
    table: &TableMeta,
    ctx: &ResolverContext<'_>,
) -> async_graphql::Result<ConstValue> {
    let value = ctx.args.try_get("value")?.as_value().clone();
    let (key, _) = split_key(table, &value)?;
    let (options, _) = mutation_options(ctx)?;
    let mut values = Vec::new();
    let mut conditions = Vec::new();
    for (name, v) in &key {
        let c = column(table, name)?;
        conditions.push(format!("{} = ?", quote(name)));
        values.push(input_value(name, &c.cql_type, v).map_err(gql_error)?);
    }
    if conditions.is_empty() {
        return Err(gql_error("value must give the primary key"));
    }
    let mut cql = format!(
        "DELETE FROM {}.{} WHERE {}",
        quote(&table.keyspace),
        quote(&table.name),
        conditions.join(" AND ")
    );
    append_condition(table, ctx, &mut cql, &mut values)?;
    let result = run(session, &cql, values, &options).await?;
    mutation_result(table, &result, &value)
}

// ---------------------------------------------------------------------------------------------
// The DDL schema
// ---------------------------------------------------------------------------------------------

const BASIC_TYPES: [&str; 26] = [
    "ASCII",
    "BIGINT",
    "BLOB",
    "BOOLEAN",
    "COUNTER",
    "DATE",
    "DECIMAL",
    "DOUBLE",
    "DURATION",
    "FLOAT",
    "INET",
    "INT",
    "SMALLINT",
    "TEXT",
    "TIME",
    "TIMESTAMP",
    "TIMEUUID",
    "TINYINT",
    "UUID",
    "VARCHAR",
    "VARINT",
    "LIST",
    "SET",
    "MAP",
    "TUPLE",
    "UDT",
];

/// A `DataTypeInput` (`{basic, info: {subTypes, name, frozen}}`) as CQL type text.
fn data_type_text(v: &ConstValue, depth: usize) -> async_graphql::Result<String> {
    if depth > 16 {
        return Err(gql_error("type nested too deep"));
    }
    let basic =
        enum_arg(entry_field(v, "basic")).ok_or_else(|| gql_error("a type needs 'basic'"))?;
    let info = entry_field(v, "info");
    let subtypes = || -> async_graphql::Result<Vec<String>> {
        match info.and_then(|i| entry_field(i, "subTypes")) {
            Some(ConstValue::List(items)) => {
                items.iter().map(|i| data_type_text(i, depth + 1)).collect()
            }
            _ => Ok(Vec::new()),
        }
    };
    let frozen = matches!(
        info.and_then(|i| entry_field(i, "frozen")),
        Some(ConstValue::Boolean(true))
    );
    let text = match basic.as_str() {
        "LIST" | "SET" => {
            let sub = subtypes()?;
            let [e] = sub.as_slice() else {
                return Err(gql_error(format!("{basic} takes one subType")));
            };
            format!("{}<{e}>", basic.to_ascii_lowercase())
        }
        "MAP" => {
            let sub = subtypes()?;
            let [k, v] = sub.as_slice() else {
                return Err(gql_error("MAP takes two subTypes"));
            };
            format!("map<{k}, {v}>")
        }
        "TUPLE" => {
            let sub = subtypes()?;
            if sub.is_empty() {
                return Err(gql_error("TUPLE takes subTypes"));
            }
            format!("tuple<{}>", sub.join(", "))
        }
        "UDT" => {
            let Some(ConstValue::String(name)) = info.and_then(|i| entry_field(i, "name")) else {
                return Err(gql_error("UDT takes info.name"));
            };
            quote(name)
        }
        other if BASIC_TYPES.contains(&other) => other.to_ascii_lowercase(),
        other => return Err(gql_error(format!("unknown basic type {other}"))),
    };
    Ok(if frozen {
        format!("frozen<{text}>")
    } else {
        text
    })
}

/// A column type as a `DataType` output object.
fn data_type_value(typ: &ColumnType) -> ConstValue {
    use ColumnType as T;
    let (basic, subtypes, name): (String, Vec<&ColumnType>, Option<String>) = match typ {
        T::List(e) => ("LIST".into(), vec![e.as_ref()], None),
        T::Set(e) => ("SET".into(), vec![e.as_ref()], None),
        T::Map(k, v) => ("MAP".into(), vec![k.as_ref(), v.as_ref()], None),
        T::Tuple(ts) => ("TUPLE".into(), ts.iter().collect(), None),
        T::Udt(u) => ("UDT".into(), Vec::new(), Some(u.name.clone())),
        T::Vector { .. } | T::Custom(_) => ("CUSTOM".into(), Vec::new(), Some(type_text(typ))),
        other => (type_text(other).to_ascii_uppercase(), Vec::new(), None),
    };
    let mut info = IndexMap::new();
    info.insert(
        Name::new("subTypes"),
        ConstValue::List(subtypes.into_iter().map(data_type_value).collect()),
    );
    info.insert(
        Name::new("name"),
        name.map_or(ConstValue::Null, ConstValue::String),
    );
    let mut out = IndexMap::new();
    out.insert(Name::new("basic"), ConstValue::Enum(Name::new(basic)));
    out.insert(Name::new("info"), ConstValue::Object(info));
    ConstValue::Object(out)
}

fn keyspace_value(k: &KeyspaceMeta) -> ConstValue {
    let dcs: Vec<ConstValue> = k
        .replication
        .iter()
        .filter(|(name, _)| !["class", "replication_factor"].contains(&name.as_str()))
        .map(|(dc, n)| {
            let mut o = IndexMap::new();
            o.insert(Name::new("name"), ConstValue::String(dc.clone()));
            o.insert(
                Name::new("replicas"),
                ConstValue::Number(Number::from(n.parse::<i64>().unwrap_or_default())),
            );
            ConstValue::Object(o)
        })
        .collect();
    let tables: Vec<ConstValue> = k.tables.values().map(|t| table_value(t)).collect();
    let mut o = IndexMap::new();
    o.insert(Name::new("name"), ConstValue::String(k.name.clone()));
    o.insert(Name::new("dcs"), ConstValue::List(dcs));
    o.insert(Name::new("tables"), ConstValue::List(tables));
    ConstValue::Object(o)
}

fn table_value(t: &TableMeta) -> ConstValue {
    let columns: Vec<ConstValue> = t
        .partition_key
        .iter()
        .chain(&t.clustering_key)
        .chain(
            t.columns
                .values()
                .filter(|c| matches!(c.kind, ColumnKind::Regular | ColumnKind::Static)),
        )
        .map(|c| {
            let kind = match c.kind {
                ColumnKind::PartitionKey => "PARTITION",
                ColumnKind::Clustering => "CLUSTERING",
                ColumnKind::Static => "STATIC",
                ColumnKind::Regular => "REGULAR",
            };
            let mut o = IndexMap::new();
            o.insert(Name::new("name"), ConstValue::String(c.name.clone()));
            o.insert(Name::new("kind"), ConstValue::Enum(Name::new(kind)));
            o.insert(Name::new("type"), data_type_value(&c.cql_type));
            ConstValue::Object(o)
        })
        .collect();
    let mut o = IndexMap::new();
    o.insert(Name::new("name"), ConstValue::String(t.name.clone()));
    o.insert(Name::new("columns"), ConstValue::List(columns));
    ConstValue::Object(o)
}

fn string_arg(ctx: &ResolverContext<'_>, name: &str) -> async_graphql::Result<String> {
    Ok(ctx.args.try_get(name)?.string()?.to_owned())
}

/// `name type` for each `ColumnInput`.
fn column_defs(
    v: Option<async_graphql::dynamic::ValueAccessor<'_>>,
) -> async_graphql::Result<Vec<(String, String)>> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    v.list()?
        .iter()
        .map(|c| {
            let c = c.as_value();
            let Some(ConstValue::String(name)) = entry_field(c, "name") else {
                return Err(gql_error("a column needs a name"));
            };
            let typ = entry_field(c, "type").ok_or_else(|| gql_error("a column needs a type"))?;
            Ok((name.clone(), data_type_text(typ, 0)?))
        })
        .collect()
}

/// What the schema view must show once a DDL statement is applied.
#[derive(Debug, Clone)]
enum Shown {
    Keyspace(String, bool),
    Table(String, String, bool),
    Columns(String, String, Vec<String>, bool),
    Type(String, String, bool),
    Nothing,
}

impl Shown {
    fn holds(&self, view: &ringgate::cluster::ClusterView) -> bool {
        let table = |ks: &str, t: &str| view.keyspace(ks).and_then(|k| k.tables.get(t).cloned());
        match self {
            Shown::Keyspace(ks, present) => view.keyspace(ks).is_some() == *present,
            Shown::Table(ks, t, present) => table(ks, t).is_some() == *present,
            Shown::Columns(ks, t, columns, present) => table(ks, t).is_some_and(|t| {
                columns
                    .iter()
                    .all(|c| t.columns.contains_key(c) == *present)
            }),
            Shown::Type(ks, name, present) => {
                view.keyspace(ks)
                    .is_some_and(|k| k.user_types.contains_key(name) == *present)
                    || (!present && view.keyspace(ks).is_none())
            }
            Shown::Nothing => true,
        }
    }
}

/// A DDL mutation field returning `Boolean`: the statement runs as the user, and the answer
/// comes once the schema view shows the change (so the next request sees it).
fn ddl_field<F>(name: &str, build: F) -> Field
where
    F: for<'a> Fn(&ResolverContext<'a>) -> async_graphql::Result<(String, Shown)>
        + Send
        + Sync
        + Clone
        + 'static,
{
    Field::new(name, TypeRef::named(TypeRef::BOOLEAN), move |ctx| {
        let build = build.clone();
        FieldFuture::new(async move {
            let session = ctx.data::<Coordinator>()?;
            let (cql, shown) = build(&ctx)?;
            session
                .query(&cql, (), &RequestOptions::default())
                .await
                .map_err(ApiError::from)?;
            crate::wait_for_view(session, |v| shown.holds(v)).await;
            Ok(Some(FieldValue::value(ConstValue::Boolean(true))))
        })
    })
}

fn ddl_schema() -> Result<Schema, async_graphql::dynamic::SchemaError> {
    let s = || TypeRef::named_nn(TypeRef::STRING);
    let b = || TypeRef::named(TypeRef::BOOLEAN);
    let query = Object::new("Query")
        .field(Field::new(
            "keyspaces",
            TypeRef::named_list("Keyspace"),
            |ctx| {
                FieldFuture::new(async move {
                    let session = ctx.data::<Coordinator>()?;
                    let view = session.cluster().view();
                    let list: Vec<ConstValue> =
                        view.keyspaces().map(|k| keyspace_value(k)).collect();
                    Ok(Some(FieldValue::value(ConstValue::List(list))))
                })
            },
        ))
        .field(
            Field::new("keyspace", TypeRef::named("Keyspace"), |ctx| {
                FieldFuture::new(async move {
                    let session = ctx.data::<Coordinator>()?;
                    let name = ctx.args.try_get("name")?.string()?.to_owned();
                    let found = match crate::keyspace(session, &name).await {
                        Ok(k) => Some(keyspace_value(&k)),
                        Err(e) if e.status == StatusCode::NOT_FOUND => None,
                        Err(e) => return Err(e.into()),
                    };
                    Ok(found.map(FieldValue::value))
                })
            })
            .argument(InputValue::new("name", s())),
        );
    let keyspace = Object::new("Keyspace")
        .field(Field::new("name", TypeRef::named_nn(TypeRef::STRING), pick("name")))
        .field(Field::new("dcs", TypeRef::named_list("DataCenter"), pick("dcs")))
        .field(Field::new("tables", TypeRef::named_list("Table"), pick("tables")))
        .field(
            Field::new("table", TypeRef::named("Table"), |ctx| {
                FieldFuture::new(async move {
                    let name = ctx.args.try_get("name")?.string()?.to_owned();
                    let parent = ctx.parent_value.try_to_value()?;
                    let found = match parent {
                        ConstValue::Object(o) => match o.get("tables") {
                            Some(ConstValue::List(tables)) => tables
                                .iter()
                                .find(|t| {
                                    matches!(entry_field(t, "name"), Some(ConstValue::String(n)) if *n == name)
                                })
                                .cloned(),
                            _ => None,
                        },
                        _ => None,
                    };
                    Ok(found.map(FieldValue::value))
                })
            })
            .argument(InputValue::new("name", s())),
        );
    let mutation = Object::new("Mutation")
        .field(
            ddl_field("createKeyspace", |ctx| {
                let name = string_arg(ctx, "name")?;
                let replication = match ctx.args.get("datacenters") {
                    Some(dcs) => {
                        let mut parts = vec!["'class': 'NetworkTopologyStrategy'".to_owned()];
                        for dc in dcs.list()?.iter() {
                            let dc = dc.object()?;
                            let dc_name = dc.try_get("name")?.string()?.replace('\'', "''");
                            let n = dc
                                .get("replicas")
                                .map(|r| r.i64())
                                .transpose()?
                                .unwrap_or(3);
                            parts.push(format!("'{dc_name}': {n}"));
                        }
                        format!("{{{}}}", parts.join(", "))
                    }
                    None => {
                        let n = ctx
                            .args
                            .get("replicas")
                            .map(|r| r.i64())
                            .transpose()?
                            .unwrap_or(1);
                        format!("{{'class': 'SimpleStrategy', 'replication_factor': {n}}}")
                    }
                };
                Ok((
                    format!(
                        "CREATE KEYSPACE {}{} WITH replication = {replication}",
                        if bool_arg(ctx, "ifNotExists") {
                            "IF NOT EXISTS "
                        } else {
                            ""
                        },
                        quote(&name)
                    ),
                    Shown::Keyspace(name, true),
                ))
            })
            .argument(InputValue::new("name", s()))
            .argument(InputValue::new("replicas", TypeRef::named(TypeRef::INT)))
            .argument(InputValue::new(
                "datacenters",
                TypeRef::named_list("DataCenterInput"),
            ))
            .argument(InputValue::new("ifNotExists", b())),
        )
        .field(
            ddl_field("dropKeyspace", |ctx| {
                let name = string_arg(ctx, "name")?;
                Ok((
                    format!(
                        "DROP KEYSPACE {}{}",
                        if bool_arg(ctx, "ifExists") {
                            "IF EXISTS "
                        } else {
                            ""
                        },
                        quote(&name)
                    ),
                    Shown::Keyspace(name, false),
                ))
            })
            .argument(InputValue::new("name", s()))
            .argument(InputValue::new("ifExists", b())),
        )
        .field(
            ddl_field("createTable", |ctx| {
                let ks = string_arg(ctx, "keyspaceName")?;
                let t = string_arg(ctx, "tableName")?;
                let partition = column_defs(ctx.args.get("partitionKeys"))?;
                if partition.is_empty() {
                    return Err(gql_error("partitionKeys must name at least one column"));
                }
                let clustering: Vec<(String, String, String)> = match ctx.args.get("clusteringKeys")
                {
                    None => Vec::new(),
                    Some(list) => list
                        .list()?
                        .iter()
                        .map(|c| {
                            let c = c.as_value();
                            let Some(ConstValue::String(name)) = entry_field(c, "name") else {
                                return Err(gql_error("a column needs a name"));
                            };
                            let typ = data_type_text(
                                entry_field(c, "type")
                                    .ok_or_else(|| gql_error("a column needs a type"))?,
                                0,
                            )?;
                            let order = match entry_field(c, "order") {
                                Some(ConstValue::String(o)) => o.to_ascii_uppercase(),
                                Some(ConstValue::Enum(o)) => o.to_string().to_ascii_uppercase(),
                                _ => "ASC".into(),
                            };
                            if order != "ASC" && order != "DESC" {
                                return Err(gql_error(format!("order {order}: ASC or DESC")));
                            }
                            Ok((name.clone(), typ, order))
                        })
                        .collect::<async_graphql::Result<_>>()?,
                };
                let regular = column_defs(ctx.args.get("values"))?;
                let mut defs: Vec<String> = partition
                    .iter()
                    .map(|(n, t)| format!("{} {t}", quote(n)))
                    .collect();
                defs.extend(
                    clustering
                        .iter()
                        .map(|(n, t, _)| format!("{} {t}", quote(n))),
                );
                defs.extend(regular.iter().map(|(n, t)| format!("{} {t}", quote(n))));
                let pk: Vec<String> = partition.iter().map(|(n, _)| quote(n)).collect();
                let mut key = format!("({})", pk.join(", "));
                for (n, _, _) in &clustering {
                    key.push_str(&format!(", {}", quote(n)));
                }
                let mut cql = format!(
                    "CREATE TABLE {}{}.{} ({}, PRIMARY KEY ({key}))",
                    if bool_arg(ctx, "ifNotExists") {
                        "IF NOT EXISTS "
                    } else {
                        ""
                    },
                    quote(&ks),
                    quote(&t),
                    defs.join(", ")
                );
                if !clustering.is_empty() {
                    let orders: Vec<String> = clustering
                        .iter()
                        .map(|(n, _, o)| format!("{} {o}", quote(n)))
                        .collect();
                    cql.push_str(&format!(
                        " WITH CLUSTERING ORDER BY ({})",
                        orders.join(", ")
                    ));
                }
                Ok((cql, Shown::Table(ks, t, true)))
            })
            .argument(InputValue::new("keyspaceName", s()))
            .argument(InputValue::new("tableName", s()))
            .argument(InputValue::new(
                "partitionKeys",
                TypeRef::NonNull(Box::new(TypeRef::named_list("ColumnInput"))),
            ))
            .argument(InputValue::new(
                "clusteringKeys",
                TypeRef::named_list("ClusteringKeyInput"),
            ))
            .argument(InputValue::new(
                "values",
                TypeRef::named_list("ColumnInput"),
            ))
            .argument(InputValue::new("ifNotExists", b())),
        )
        .field(
            ddl_field("alterTableAdd", |ctx| {
                let added = column_defs(ctx.args.get("toAdd"))?;
                if added.is_empty() {
                    return Err(gql_error("toAdd must name at least one column"));
                }
                let (ks, t) = (
                    string_arg(ctx, "keyspaceName")?,
                    string_arg(ctx, "tableName")?,
                );
                Ok((
                    format!(
                        "ALTER TABLE {}.{} ADD ({})",
                        quote(&ks),
                        quote(&t),
                        added
                            .iter()
                            .map(|(n, t)| format!("{} {t}", quote(n)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Shown::Columns(ks, t, added.into_iter().map(|(n, _)| n).collect(), true),
                ))
            })
            .argument(InputValue::new("keyspaceName", s()))
            .argument(InputValue::new("tableName", s()))
            .argument(InputValue::new(
                "toAdd",
                TypeRef::NonNull(Box::new(TypeRef::named_list("ColumnInput"))),
            )),
        )
        .field(
            ddl_field("alterTableDrop", |ctx| {
                let dropped: Vec<String> = ctx
                    .args
                    .try_get("toDrop")?
                    .list()?
                    .iter()
                    .map(|c| c.string().map(str::to_owned))
                    .collect::<async_graphql::Result<_>>()?;
                if dropped.is_empty() {
                    return Err(gql_error("toDrop must name at least one column"));
                }
                let (ks, t) = (
                    string_arg(ctx, "keyspaceName")?,
                    string_arg(ctx, "tableName")?,
                );
                Ok((
                    format!(
                        "ALTER TABLE {}.{} DROP ({})",
                        quote(&ks),
                        quote(&t),
                        dropped
                            .iter()
                            .map(|c| quote(c))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Shown::Columns(ks, t, dropped, false),
                ))
            })
            .argument(InputValue::new("keyspaceName", s()))
            .argument(InputValue::new("tableName", s()))
            .argument(InputValue::new(
                "toDrop",
                TypeRef::NonNull(Box::new(TypeRef::named_list(TypeRef::STRING))),
            )),
        )
        .field(
            ddl_field("dropTable", |ctx| {
                let (ks, t) = (
                    string_arg(ctx, "keyspaceName")?,
                    string_arg(ctx, "tableName")?,
                );
                Ok((
                    format!(
                        "DROP TABLE {}{}.{}",
                        if bool_arg(ctx, "ifExists") {
                            "IF EXISTS "
                        } else {
                            ""
                        },
                        quote(&ks),
                        quote(&t)
                    ),
                    Shown::Table(ks, t, false),
                ))
            })
            .argument(InputValue::new("keyspaceName", s()))
            .argument(InputValue::new("tableName", s()))
            .argument(InputValue::new("ifExists", b())),
        )
        .field(
            ddl_field("createIndex", |ctx| {
                let column = quote(&string_arg(ctx, "columnName")?);
                let target = match enum_arg(ctx.args.get("indexKind").map(|v| v.as_value())) {
                    Some(kind) => format!("{kind}({column})"),
                    None => column,
                };
                let custom = ctx
                    .args
                    .get("indexType")
                    .map(|t| t.string().map(|s| s.replace('\'', "''")))
                    .transpose()?;
                Ok((
                    format!(
                        "CREATE {}INDEX {}{}ON {}.{} ({target}){}",
                        if custom.is_some() { "CUSTOM " } else { "" },
                        if bool_arg(ctx, "ifNotExists") {
                            "IF NOT EXISTS "
                        } else {
                            ""
                        },
                        ctx.args
                            .get("indexName")
                            .map(|n| n.string().map(|n| format!("{} ", quote(n))))
                            .transpose()?
                            .unwrap_or_default(),
                        quote(&string_arg(ctx, "keyspaceName")?),
                        quote(&string_arg(ctx, "tableName")?),
                        custom.map(|c| format!(" USING '{c}'")).unwrap_or_default()
                    ),
                    Shown::Nothing,
                ))
            })
            .argument(InputValue::new("keyspaceName", s()))
            .argument(InputValue::new("tableName", s()))
            .argument(InputValue::new("columnName", s()))
            .argument(InputValue::new(
                "indexName",
                TypeRef::named(TypeRef::STRING),
            ))
            .argument(InputValue::new(
                "indexType",
                TypeRef::named(TypeRef::STRING),
            ))
            .argument(InputValue::new("indexKind", TypeRef::named("IndexKind")))
            .argument(InputValue::new("ifNotExists", b())),
        )
        .field(
            ddl_field("createType", |ctx| {
                let fields = column_defs(ctx.args.get("fields"))?;
                if fields.is_empty() {
                    return Err(gql_error("fields must name at least one field"));
                }
                let (ks, name) = (
                    string_arg(ctx, "keyspaceName")?,
                    string_arg(ctx, "typeName")?,
                );
                Ok((
                    format!(
                        "CREATE TYPE {}{}.{} ({})",
                        if bool_arg(ctx, "ifNotExists") {
                            "IF NOT EXISTS "
                        } else {
                            ""
                        },
                        quote(&ks),
                        quote(&name),
                        fields
                            .iter()
                            .map(|(n, t)| format!("{} {t}", quote(n)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Shown::Type(ks, name, true),
                ))
            })
            .argument(InputValue::new("keyspaceName", s()))
            .argument(InputValue::new("typeName", s()))
            .argument(InputValue::new(
                "fields",
                TypeRef::NonNull(Box::new(TypeRef::named_list("ColumnInput"))),
            ))
            .argument(InputValue::new("ifNotExists", b())),
        )
        .field(
            ddl_field("dropType", |ctx| {
                let (ks, name) = (
                    string_arg(ctx, "keyspaceName")?,
                    string_arg(ctx, "typeName")?,
                );
                Ok((
                    format!(
                        "DROP TYPE {}{}.{}",
                        if bool_arg(ctx, "ifExists") {
                            "IF EXISTS "
                        } else {
                            ""
                        },
                        quote(&ks),
                        quote(&name)
                    ),
                    Shown::Type(ks, name, false),
                ))
            })
            .argument(InputValue::new("keyspaceName", s()))
            .argument(InputValue::new("typeName", s()))
            .argument(InputValue::new("ifExists", b())),
        );
    Schema::build("Query", Some("Mutation"), None)
        .register(query)
        .register(mutation)
        .register(keyspace)
        .register(
            Object::new("DataCenter")
                .field(Field::new(
                    "name",
                    TypeRef::named_nn(TypeRef::STRING),
                    pick("name"),
                ))
                .field(Field::new(
                    "replicas",
                    TypeRef::named_nn(TypeRef::INT),
                    pick("replicas"),
                )),
        )
        .register(
            Object::new("Table")
                .field(Field::new(
                    "name",
                    TypeRef::named_nn(TypeRef::STRING),
                    pick("name"),
                ))
                .field(Field::new(
                    "columns",
                    TypeRef::named_list("Column"),
                    pick("columns"),
                )),
        )
        .register(
            Object::new("Column")
                .field(Field::new(
                    "name",
                    TypeRef::named_nn(TypeRef::STRING),
                    pick("name"),
                ))
                .field(Field::new(
                    "kind",
                    TypeRef::named("ColumnKind"),
                    pick("kind"),
                ))
                .field(Field::new(
                    "type",
                    TypeRef::named_nn("DataType"),
                    pick("type"),
                )),
        )
        .register(
            Object::new("DataType")
                .field(Field::new(
                    "basic",
                    TypeRef::named_nn("BasicType"),
                    pick("basic"),
                ))
                .field(Field::new(
                    "info",
                    TypeRef::named("DataTypeInfo"),
                    pick("info"),
                )),
        )
        .register(
            Object::new("DataTypeInfo")
                .field(Field::new(
                    "name",
                    TypeRef::named(TypeRef::STRING),
                    pick("name"),
                ))
                .field(Field::new(
                    "subTypes",
                    TypeRef::named_list("DataType"),
                    pick("subTypes"),
                )),
        )
        .register(Enum::new("ColumnKind").items(["PARTITION", "CLUSTERING", "REGULAR", "STATIC"]))
        .register(Enum::new("BasicType").items(BASIC_TYPES.iter().copied().chain(["CUSTOM"])))
        .register(Enum::new("IndexKind").items(["KEYS", "VALUES", "ENTRIES", "FULL"]))
        .register(
            InputObject::new("DataCenterInput")
                .field(InputValue::new("name", TypeRef::named_nn(TypeRef::STRING)))
                .field(InputValue::new("replicas", TypeRef::named(TypeRef::INT))),
        )
        .register(
            InputObject::new("DataTypeInput")
                .field(InputValue::new("basic", TypeRef::named_nn("BasicType")))
                .field(InputValue::new("info", TypeRef::named("DataTypeInfoInput"))),
        )
        .register(
            InputObject::new("DataTypeInfoInput")
                .field(InputValue::new(
                    "subTypes",
                    TypeRef::named_list("DataTypeInput"),
                ))
                .field(InputValue::new("name", TypeRef::named(TypeRef::STRING)))
                .field(InputValue::new("frozen", TypeRef::named(TypeRef::BOOLEAN))),
        )
        .register(
            InputObject::new("ColumnInput")
                .field(InputValue::new("name", TypeRef::named_nn(TypeRef::STRING)))
                .field(InputValue::new("type", TypeRef::named_nn("DataTypeInput"))),
        )
        .register(
            InputObject::new("ClusteringKeyInput")
                .field(InputValue::new("name", TypeRef::named_nn(TypeRef::STRING)))
                .field(InputValue::new("type", TypeRef::named_nn("DataTypeInput")))
                .field(InputValue::new("order", TypeRef::named(TypeRef::STRING))),
        )
        .limit_depth(32)
        .finish()
}

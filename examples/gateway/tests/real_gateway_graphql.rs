//! The CQL-first GraphQL API of the `ringgate-gateway` binary over the real `two-dc` cluster,
//! by real HTTP: DDL through `/graphql-schema`, the generated schema of a keyspace (and its
//! rebuild after a schema change), CRUD with conditional updates and LWT results, filters,
//! ordering and paging on a composite key, every CQL type through the scalars, errors, GET and
//! POST in both content types, and the playground page.

mod support;

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};
use support::{Gateway, url_encode};

struct Gql<'g> {
    gateway: &'g Gateway,
    token: String,
}

impl Gql<'_> {
    /// POSTs a query with variables; the `{data, errors}` answer (always 200).
    async fn run(&self, path: &str, query: &str, variables: Value) -> Value {
        let body = json!({"query": query, "variables": variables}).to_string();
        let answer = self
            .gateway
            .call(Method::POST, path, Some(&self.token), Some(&body))
            .await;
        answer.expect(200).clone()
    }

    /// Runs a query that must succeed; its `data`.
    async fn data(&self, path: &str, query: &str, variables: Value) -> Value {
        let answer = self.run(path, query, variables).await;
        assert!(answer.get("errors").is_none(), "{query}: {answer}");
        answer["data"].clone()
    }

    /// Runs a query that must fail; its first error's message.
    async fn error(&self, path: &str, query: &str) -> String {
        let answer = self.run(path, query, json!({})).await;
        answer["errors"][0]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{query} should fail: {answer}"))
            .to_owned()
    }
}

async fn client(gw: &Gateway) -> Gql<'_> {
    Gql {
        gateway: gw,
        token: gw.token("cassandra", "cassandra").await,
    }
}

async fn fresh_keyspace(g: &Gql<'_>, ks: &str) {
    g.data(
        "/graphql-schema",
        &format!("mutation {{ dropKeyspace(name: \"{ks}\", ifExists: true) }}"),
        json!({}),
    )
    .await;
    let created = g
        .data(
            "/graphql-schema",
            "mutation($name: String!) { createKeyspace(name: $name, datacenters: [{name: \"dc1\", replicas: 2}]) }",
            json!({"name": ks}),
        )
        .await;
    assert_eq!(created, json!({"createKeyspace": true}));
}

fn type_names(introspection: &Value) -> BTreeSet<String> {
    introspection["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_filters_paging_and_lwt_on_a_composite_key() {
    let gw = Gateway::start(&[]);
    let g = client(&gw).await;
    fresh_keyspace(&g, "gw_gql").await;
    let ddl = g
        .data(
            "/graphql-schema",
            r#"mutation {
                createTable(keyspaceName: "gw_gql", tableName: "readings",
                  partitionKeys: [{name: "site", type: {basic: TEXT}}, {name: "day", type: {basic: INT}}],
                  clusteringKeys: [{name: "at", type: {basic: INT}, order: "DESC"}],
                  values: [{name: "value", type: {basic: DOUBLE}},
                           {name: "flags", type: {basic: SET, info: {subTypes: [{basic: TEXT}]}}},
                           {name: "attrs", type: {basic: MAP, info: {subTypes: [{basic: TEXT}, {basic: INT}]}}}])
              }"#,
            json!({}),
        )
        .await;
    assert_eq!(ddl, json!({"createTable": true}));

    // The generated schema names the table's types and operations.
    let path = "/graphql/gw_gql";
    let schema = g
        .data(
            path,
            "{ __schema { types { name } queryType { fields { name } } mutationType { fields { name } } } }",
            json!({}),
        )
        .await;
    let names = type_names(&schema);
    for t in [
        "readings",
        "readingsInput",
        "readingsFilterInput",
        "readingsOrder",
        "readingsResult",
        "readingsMutationResult",
        "EntryStringKeyIntValue",
        "QueryOptions",
        "MutationOptions",
    ] {
        assert!(names.contains(t), "{t} in {names:?}");
    }
    let mutations: BTreeSet<&str> = schema["__schema"]["mutationType"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        mutations,
        BTreeSet::from([
            "insertreadings",
            "bulkInsertreadings",
            "updatereadings",
            "deletereadings"
        ])
    );

    // bulkInsert, then insert with ifNotExists: the LWT result says not applied and shows the
    // row as it is.
    let rows: Vec<Value> = (0..30)
        .map(|i| {
            json!({"site": "north", "day": 1, "at": i, "value": f64::from(i) / 4.0,
                   "flags": [format!("f{}", i % 3)], "attrs": [{"key": "n", "value": i}]})
        })
        .collect();
    let bulk = g
        .data(
            path,
            "mutation($rows: [readingsInput!]!) { bulkInsertreadings(values: $rows) { applied } }",
            json!({"rows": rows}),
        )
        .await;
    assert_eq!(bulk["bulkInsertreadings"].as_array().unwrap().len(), 30);
    let lwt = g
        .data(
            path,
            r#"mutation { insertreadings(value: {site: "north", day: 1, at: 5, value: 99}, ifNotExists: true) {
                 applied value { at value } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        lwt,
        json!({"insertreadings": {"applied": false, "value": {"at": 5, "value": 1.25}}})
    );

    // Reads: by key, with filters, ordered, paged.
    let key = r#"value: {site: "north", day: 1}"#;
    let all = g
        .data(
            path,
            &format!("{{ readings({key}) {{ values {{ at }} pageState }} }}"),
            json!({}),
        )
        .await;
    let ats: Vec<i64> = all["readings"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["at"].as_i64().unwrap())
        .collect();
    assert_eq!(ats, (0..30).rev().collect::<Vec<_>>());
    assert_eq!(all["readings"]["pageState"], Value::Null);
    let filtered = |filter: &str| {
        format!(
            "{{ readings(filter: {{site: {{eq: \"north\"}}, day: {{eq: 1}}, {filter}}}, orderBy: [at_ASC]) {{ values {{ at }} }} }}"
        )
    };
    for (filter, expected) in [
        ("at: {gt: 26}", vec![27, 28, 29]),
        ("at: {gte: 3, lt: 5}", vec![3, 4]),
        ("at: {lte: 1}", vec![0, 1]),
        ("at: {in: [7, 9, 99]}", vec![7, 9]),
        ("at: {lt: 7}, flags: {contains: \"f2\"}", vec![2, 5]),
        ("at: {lt: 3}, attrs: {containsKey: \"n\"}", vec![0, 1, 2]),
        ("attrs: {containsEntry: {key: \"n\", value: 12}}", vec![12]),
        ("attrs: {contains: 13}", vec![13]),
        ("value: {gt: 7.0}", vec![29]),
    ] {
        let data = g.data(path, &filtered(filter), json!({})).await;
        let got: Vec<i64> = data["readings"]["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["at"].as_i64().unwrap())
            .collect();
        assert_eq!(got, expected, "{filter}");
    }
    // Paging: 7 a page, each row once.
    let mut seen = Vec::new();
    let mut state = Value::Null;
    loop {
        let data = g
            .data(
                path,
                &format!("query($s: String) {{ readings({key}, options: {{pageSize: 7, pageState: $s}}) {{ values {{ at }} pageState }} }}"),
                json!({"s": state}),
            )
            .await;
        let page = data["readings"]["values"].as_array().unwrap();
        assert!(page.len() <= 7);
        seen.extend(page.iter().map(|v| v["at"].as_i64().unwrap()));
        state = data["readings"]["pageState"].clone();
        if state.is_null() {
            break;
        }
        assert!(seen.len() <= 30, "paging does not end");
    }
    assert_eq!(seen, (0..30).rev().collect::<Vec<_>>());
    let limited = g
        .data(path, &format!("{{ readings({key}, options: {{limit: 2, consistency: LOCAL_ONE}}) {{ values {{ at }} }} }}"), json!({}))
        .await;
    assert_eq!(
        limited["readings"]["values"],
        json!([{"at": 29}, {"at": 28}])
    );

    // Updates: plain, conditional (applied or not, with the row as it is), ifExists.
    let updated = g
        .data(
            path,
            r#"mutation { updatereadings(value: {site: "north", day: 1, at: 5, value: 2.5}) { applied value { value } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        updated["updatereadings"],
        json!({"applied": true, "value": {"value": 2.5}})
    );
    let refused = g
        .data(
            path,
            r#"mutation { updatereadings(value: {site: "north", day: 1, at: 5, value: 9}, ifCondition: {value: {eq: 1.0}}) { applied value { value } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        refused["updatereadings"],
        json!({"applied": false, "value": {"value": 2.5}})
    );
    let accepted = g
        .data(
            path,
            r#"mutation { updatereadings(value: {site: "north", day: 1, at: 5, value: 9}, ifCondition: {value: {eq: 2.5}}) { applied } }"#,
            json!({}),
        )
        .await;
    assert_eq!(accepted["updatereadings"]["applied"], true);
    let missing = g
        .data(
            path,
            r#"mutation { updatereadings(value: {site: "north", day: 2, at: 5, value: 1}, ifExists: true) { applied } }"#,
            json!({}),
        )
        .await;
    assert_eq!(missing["updatereadings"]["applied"], false);
    // Deletes: conditional and plain.
    let deleted = g
        .data(
            path,
            r#"mutation { deletereadings(value: {site: "north", day: 1, at: 5}, ifExists: true) { applied } }"#,
            json!({}),
        )
        .await;
    assert_eq!(deleted["deletereadings"]["applied"], true);
    let again = g
        .data(
            path,
            r#"mutation { deletereadings(value: {site: "north", day: 1, at: 5}, ifExists: true) { applied } }"#,
            json!({}),
        )
        .await;
    assert_eq!(again["deletereadings"]["applied"], false);
    let count = g
        .data(
            path,
            &format!("{{ readings({key}) {{ values {{ at }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(count["readings"]["values"].as_array().unwrap().len(), 29);

    // Mistakes are GraphQL errors with a message, answered with 200.
    for (query, part) in [
        ("{ readings(", "expected"),
        ("{ nothing { x } }", "Unknown field"),
        ("{ readings(value: {site: 5}) { values { at } } }", "site"),
        ("{ readings(value: {nope: 1}) { values { at } } }", "nope"),
        (
            "{ readings(options: {pageSize: 0}) { values { at } } }",
            "pageSize",
        ),
        (
            r#"{ readings(filter: {value: {gt: 1}}, orderBy: [at_ASC]) { values { at } } }"#,
            "ORDER BY",
        ),
        (
            r#"mutation { insertreadings(value: {site: "x"}) { applied } }"#,
            "day",
        ),
        (
            r#"{ readings(options: {pageState: "%%%"}) { values { at } } }"#,
            "pageState",
        ),
    ] {
        let message = g.error(path, query).await;
        assert!(
            message.to_lowercase().contains(&part.to_lowercase()),
            "{query}: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cql_type_goes_through_the_scalars() {
    let gw = Gateway::start(&[]);
    let g = client(&gw).await;
    fresh_keyspace(&g, "gw_gql_types").await;
    let t = |basic: &str| format!("{{basic: {basic}}}");
    let sub = |basic: &str, subs: &[&str]| {
        format!(
            "{{basic: {basic}, info: {{subTypes: [{}]}}}}",
            subs.iter().map(|s| t(s)).collect::<Vec<_>>().join(", ")
        )
    };
    let columns = [
        ("t_ascii", t("ASCII")),
        ("t_bigint", t("BIGINT")),
        ("t_blob", t("BLOB")),
        ("t_boolean", t("BOOLEAN")),
        ("t_date", t("DATE")),
        ("t_decimal", t("DECIMAL")),
        ("t_double", t("DOUBLE")),
        ("t_duration", t("DURATION")),
        ("t_float", t("FLOAT")),
        ("t_inet", t("INET")),
        ("t_smallint", t("SMALLINT")),
        ("t_text", t("TEXT")),
        ("t_time", t("TIME")),
        ("t_timestamp", t("TIMESTAMP")),
        ("t_timeuuid", t("TIMEUUID")),
        ("t_tinyint", t("TINYINT")),
        ("t_uuid", t("UUID")),
        ("t_varint", t("VARINT")),
        ("t_list", sub("LIST", &["INT"])),
        ("t_set", sub("SET", &["UUID"])),
        ("t_map", sub("MAP", &["INT", "TEXT"])),
        ("t_tuple", sub("TUPLE", &["INT", "TEXT", "BOOLEAN"])),
        (
            "t_udt",
            "{basic: UDT, info: {name: \"point\", frozen: true}}".to_owned(),
        ),
    ];
    g.data(
        "/graphql-schema",
        r#"mutation { createType(keyspaceName: "gw_gql_types", typeName: "point",
             fields: [{name: "x", type: {basic: INT}}, {name: "label", type: {basic: TEXT}}]) }"#,
        json!({}),
    )
    .await;
    let values = columns
        .iter()
        .map(|(n, ty)| format!("{{name: \"{n}\", type: {ty}}}"))
        .collect::<Vec<_>>()
        .join(", ");
    g.data(
        "/graphql-schema",
        &format!(
            "mutation {{ createTable(keyspaceName: \"gw_gql_types\", tableName: \"all_types\", partitionKeys: [{{name: \"id\", type: {{basic: INT}}}}], values: [{values}]) }}"
        ),
        json!({}),
    )
    .await;
    let row = json!({
        "id": 1,
        "t_ascii": "plain",
        "t_bigint": "9223372036854775807",
        "t_blob": "AAEC/w==",
        "t_boolean": true,
        "t_date": "2024-02-29",
        "t_decimal": "12345678901234567890.123456789012345678901234567890",
        "t_double": 0.1,
        "t_duration": "1mo2d3h",
        "t_float": 1.5,
        "t_inet": "10.1.2.3",
        "t_smallint": -32768,
        "t_text": "héllo",
        "t_time": "23:59:59.123456789",
        "t_timestamp": "2024-02-29T12:34:56.789Z",
        "t_timeuuid": "fe2b4360-28c6-11ee-be56-0242ac120002",
        "t_tinyint": 127,
        "t_uuid": "123e4567-e89b-12d3-a456-426614174000",
        "t_varint": "-98765432109876543210987654321098765432109876543210",
        "t_list": [3, 1, 2],
        "t_set": ["123e4567-e89b-12d3-a456-426614174000"],
        "t_map": [{"key": 2, "value": "two"}, {"key": 1, "value": "one"}],
        "t_tuple": {"item0": 7, "item1": "seven", "item2": false},
        "t_udt": {"x": 3, "label": "three"}
    });
    let inserted = g
        .data(
            "/graphql/gw_gql_types",
            "mutation($v: all_typesInput!) { insertall_types(value: $v) { applied } }",
            json!({"v": row}),
        )
        .await;
    assert_eq!(inserted["insertall_types"]["applied"], true);
    let fields = "id t_ascii t_bigint t_blob t_boolean t_date t_decimal t_double t_duration t_float t_inet t_smallint t_text t_time t_timestamp t_timeuuid t_tinyint t_uuid t_varint t_list t_set t_map { key value } t_tuple { item0 item1 item2 } t_udt { x label }";
    let read = g
        .data(
            "/graphql/gw_gql_types",
            &format!("{{ all_types(value: {{id: 1}}) {{ values {{ {fields} }} }} }}"),
            json!({}),
        )
        .await;
    // The scalars of the columns are in the schema.
    let names = type_names(
        &g.data(
            "/graphql/gw_gql_types",
            "{ __schema { types { name } } }",
            json!({}),
        )
        .await,
    );
    for scalar in [
        "Ascii",
        "BigInt",
        "Blob",
        "Date",
        "Decimal",
        "Duration",
        "Float32",
        "Inet",
        "SmallInt",
        "Time",
        "Timestamp",
        "TimeUuid",
        "TinyInt",
        "Uuid",
        "Varint",
        "pointUdt",
        "pointUdtInput",
        "TupleIntStringBoolean",
        "EntryIntKeyStringValue",
    ] {
        assert!(names.contains(scalar), "{scalar} in {names:?}");
    }
    let mut expected = row.clone();
    // Maps come back in key order.
    expected["t_map"] = json!([{"key": 1, "value": "one"}, {"key": 2, "value": "two"}]);
    expected["t_duration"] = json!("1mo2d3h");
    assert_eq!(read["all_types"]["values"][0], expected);
    // A wrong scalar value is an error naming the column.
    let message = g
        .error(
            "/graphql/gw_gql_types",
            r#"mutation { insertall_types(value: {id: 2, t_uuid: "not-a-uuid"}) { applied } }"#,
        )
        .await;
    assert!(
        message.contains("t_uuid") && message.contains("uuid"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_changes_show_in_the_next_introspection_and_every_transport_works() {
    let gw = Gateway::start(&[]);
    let g = client(&gw).await;
    fresh_keyspace(&g, "gw_gql_change").await;
    let path = "/graphql/gw_gql_change";
    let introspect = "{ __schema { types { name } } }";
    // An empty keyspace still has a schema.
    let before = type_names(&g.data(path, introspect, json!({})).await);
    assert!(!before.contains("later"));
    assert_eq!(
        g.data(path, "{ _keyspace }", json!({})).await,
        json!({"_keyspace": "gw_gql_change"})
    );
    g.data(
        "/graphql-schema",
        r#"mutation { createTable(keyspaceName: "gw_gql_change", tableName: "later",
             partitionKeys: [{name: "k", type: {basic: INT}}], values: [{name: "v", type: {basic: TEXT}}]) }"#,
        json!({}),
    )
    .await;
    let after = type_names(&g.data(path, introspect, json!({})).await);
    assert!(
        after.contains("later") && after.contains("laterInput"),
        "{after:?}"
    );
    g.data(
        "/graphql-schema",
        r#"mutation { alterTableAdd(keyspaceName: "gw_gql_change", tableName: "later", toAdd: [{name: "extra", type: {basic: BIGINT}}]) }"#,
        json!({}),
    )
    .await;
    let fields = g
        .data(
            path,
            "{ __type(name: \"later\") { fields { name type { name } } } }",
            json!({}),
        )
        .await;
    assert!(
        fields["__type"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "extra" && f["type"]["name"] == "BigInt"),
        "{fields}"
    );
    g.data(
        "/graphql-schema",
        r#"mutation { alterTableDrop(keyspaceName: "gw_gql_change", tableName: "later", toDrop: ["extra"]) }"#,
        json!({}),
    )
    .await;
    g.data(
        "/graphql-schema",
        r#"mutation { createIndex(keyspaceName: "gw_gql_change", tableName: "later", columnName: "v", indexName: "later_v", indexType: "StorageAttachedIndex") }"#,
        json!({}),
    )
    .await;
    g.data(
        path,
        r#"mutation { insertlater(value: {k: 1, v: "one"}) { applied } }"#,
        json!({}),
    )
    .await;
    // The index serves a filter on the regular column.
    let by_index = g
        .data(
            path,
            r#"{ later(filter: {v: {eq: "one"}}) { values { k v } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(by_index["later"]["values"], json!([{"k": 1, "v": "one"}]));

    // GET with ?query=&variables=, POST application/graphql, POST application/json.
    let query = "query($k: Int) { later(value: {k: $k}) { values { v } } }";
    let get = gw
        .call(
            Method::GET,
            &format!(
                "{path}?query={}&variables={}",
                url_encode(query),
                url_encode("{\"k\": 1}")
            ),
            Some(&g.token),
            None,
        )
        .await;
    assert_eq!(
        get.expect(200)["data"]["later"]["values"],
        json!([{"v": "one"}])
    );
    let raw = gw
        .http
        .post(gw.url(path))
        .header("X-Cassandra-Token", &g.token)
        .header("Content-Type", "application/graphql")
        .body("{ later(value: {k: 1}) { values { v } } }")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 200);
    let raw: Value = raw.json().await.unwrap();
    assert_eq!(raw["data"]["later"]["values"], json!([{"v": "one"}]));
    // No token: 401; unknown keyspace: 404; no query: 400.
    gw.call(
        Method::POST,
        path,
        None,
        Some("{\"query\": \"{ _keyspace }\"}"),
    )
    .await
    .expect_error(401, "X-Cassandra-Token");
    gw.call(
        Method::GET,
        "/graphql/gw_gql_nothing?query=%7B_keyspace%7D",
        Some(&g.token),
        None,
    )
    .await
    .expect(404);
    gw.call(Method::GET, path, Some(&g.token), None)
        .await
        .expect_error(400, "query");

    // The DDL schema describes keyspaces and tables.
    let described = g
        .data(
            "/graphql-schema",
            r#"{ keyspace(name: "gw_gql_change") { name dcs { name replicas } table(name: "later") { name columns { name kind type { basic } } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        described,
        json!({"keyspace": {"name": "gw_gql_change", "dcs": [{"name": "dc1", "replicas": 2}],
               "table": {"name": "later", "columns": [
                   {"name": "k", "kind": "PARTITION", "type": {"basic": "INT"}},
                   {"name": "v", "kind": "REGULAR", "type": {"basic": "TEXT"}}]}}})
    );
    let all = g
        .data("/graphql-schema", "{ keyspaces { name } }", json!({}))
        .await;
    assert!(
        all["keyspaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "gw_gql_change")
    );
    let message = g
        .error(
            "/graphql-schema",
            r#"mutation { createTable(keyspaceName: "gw_gql_change", tableName: "later", partitionKeys: [{name: "k", type: {basic: INT}}]) }"#,
        )
        .await;
    assert!(message.contains("already exist"), "{message}");
    g.data(
        "/graphql-schema",
        r#"mutation { dropTable(keyspaceName: "gw_gql_change", tableName: "later") }"#,
        json!({}),
    )
    .await;
    let gone = type_names(&g.data(path, introspect, json!({})).await);
    assert!(!gone.contains("later"));

    // The playground page is served.
    let page = gw.http.get(gw.url("/playground")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("GraphQL Playground") || html.contains("graphql-playground"));
    assert!(html.contains("/graphql-schema"));
}

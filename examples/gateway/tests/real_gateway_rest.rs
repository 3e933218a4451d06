//! The `ringgate-gateway` binary over the real `two-dc` cluster (`scripts/cluster up`), by
//! real HTTP: tokens, rows (CRUD, every `where` operator, paging), schemas, every CQL type
//! through JSON (cross-checked with the Python driver) and bad input.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use support::{Client, Gateway, run_python, url_encode, where_path};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_issued_checked_slid_expired_and_revoked() {
    // Tokens of this test live in a table of their own, with a short TTL.
    let gw = Gateway::start(&[
        "--auth-keyspace",
        "gw_tokens",
        "--auth-table",
        "short_tokens",
        "--token-ttl",
        "6",
        "--token-cache",
        "1",
    ]);

    // Missing fields, missing body, bad JSON: 400.
    for (body, part) in [
        ("{\"username\": \"cassandra\"}", "Must provide password"),
        ("{\"password\": \"cassandra\"}", "Must provide username"),
        ("", "Must provide a body"),
        ("{\"username\": ", "Invalid JSON"),
    ] {
        gw.call(Method::POST, "/v1/auth", None, Some(body))
            .await
            .expect_error(400, part);
    }

    // A good login: 201 and a token that works.
    let token = gw.token("cassandra", "cassandra").await;
    assert!(uuid_like(&token), "{token}");
    let client = Client {
        gateway: &gw,
        token: token.clone(),
    };
    client.get("/v2/schemas/keyspaces").await.expect(200);

    // No token, an empty one, one that is not a token, one nobody issued: 401 naming why.
    gw.call(Method::GET, "/v2/schemas/keyspaces", None, None)
        .await
        .expect_error(401, "X-Cassandra-Token");
    gw.call(Method::GET, "/v2/schemas/keyspaces", Some(""), None)
        .await
        .expect_error(401, "Missing token");
    gw.call(
        Method::GET,
        "/v2/schemas/keyspaces",
        Some("not-a-token"),
        None,
    )
    .await
    .expect_error(401, "Invalid token");
    let stranger = "9b7a4b54-2c5e-4d36-9a4f-5e5b8c0f7a11";
    gw.call(Method::GET, "/v2/schemas/keyspaces", Some(stranger), None)
        .await
        .expect_error(401, "Invalid token");

    // The token is in the table, written with the TTL.
    let ttl = run_python(&format!(
        "import os\nfrom cassandra.cluster import Cluster\n\
         s = Cluster([os.environ['NODE']]).connect()\n\
         r = s.execute(\"SELECT username, TTL(username) AS t FROM gw_tokens.short_tokens WHERE auth_token = {token}\").one()\n\
         print(r.username, r.t)"
    ));
    let mut parts = ttl.split_whitespace();
    assert_eq!(parts.next(), Some("cassandra"), "{ttl}");
    let left: i32 = parts.next().and_then(|t| t.parse().ok()).expect("a TTL");
    assert!((1..=6).contains(&left), "TTL {left}");

    // Used more often than its TTL, it lasts longer than its TTL: each use slides it.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        client.get("/v2/schemas/keyspaces").await.expect(200);
    }

    // Unused for longer than its TTL, it is gone.
    tokio::time::sleep(Duration::from_secs(8)).await;
    client
        .get("/v2/schemas/keyspaces")
        .await
        .expect_error(401, "Invalid token");

    // A token deleted from the table (revoked) stops working once the cache lets go of it.
    let revoked = gw.token("cassandra", "cassandra").await;
    let client = Client {
        gateway: &gw,
        token: revoked.clone(),
    };
    client.get("/v2/schemas/keyspaces").await.expect(200);
    run_python(&format!(
        "import os\nfrom cassandra.cluster import Cluster\n\
         s = Cluster([os.environ['NODE']]).connect()\n\
         s.execute(\"DELETE FROM gw_tokens.short_tokens WHERE auth_token = {revoked}\")"
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    client
        .get("/v2/schemas/keyspaces")
        .await
        .expect_error(401, "Invalid token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_names_its_cluster_and_stops_cleanly_on_sigint_and_sigterm() {
    for signal in ["INT", "TERM"] {
        let gw = Gateway::start(&[]);
        for part in [
            "ringgate-gateway listening on http://127.0.0.1:",
            "cluster \"ringgate-test\"",
            "3 nodes",
            "127.0.0.1:9042 dc1/rack1",
            "127.0.0.3:9042 dc2/rack1",
            "protocol v5",
        ] {
            assert!(gw.startup.contains(part), "{part} in {:?}", gw.startup);
        }
        let c = admin(&gw).await;
        c.get("/v2/schemas/keyspaces").await.expect(200);
        let (status, out) = gw.stop(signal);
        assert!(status.success(), "SIG{signal}: {status:?}");
        assert_eq!(out.trim(), "ringgate-gateway stopped", "SIG{signal}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_is_logged_at_debug_level() {
    let gw = Gateway::start_with_env(&[], &[("RUST_LOG", "ringgate_gateway=debug")]);
    let c = admin(&gw).await;
    c.get("/v2/schemas/keyspaces/gw_nothing_here")
        .await
        .expect(404);
    let (status, _, log) = gw.stop_with_log("TERM");
    assert!(status.success());
    let line = log
        .lines()
        .find(|l| l.contains("/v2/schemas/keyspaces/gw_nothing_here"))
        .unwrap_or_else(|| panic!("no request line in the log:\n{log}"));
    for part in ["DEBUG", "method=GET", "status=404", "micros="] {
        assert!(line.contains(part), "{part} in {line}");
    }
    assert!(log.contains("path=/v1/auth"), "{log}");
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

async fn admin(gw: &Gateway) -> Client<'_> {
    Client {
        gateway: gw,
        token: gw.token("cassandra", "cassandra").await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_crud_on_a_composite_key_with_collections() {
    let gw = Gateway::start(&[]);
    let c = admin(&gw).await;
    c.fresh_keyspace("gw_crud").await;
    c.post(
        "/v2/schemas/keyspaces/gw_crud/tables",
        &json!({
            "name": "events",
            "columnDefinitions": [
                {"name": "tenant", "typeDefinition": "text"},
                {"name": "day", "typeDefinition": "int"},
                {"name": "seq", "typeDefinition": "int"},
                {"name": "kind", "typeDefinition": "text"},
                {"name": "owner", "typeDefinition": "text", "static": true},
                {"name": "tags", "typeDefinition": "set<text>"},
                {"name": "scores", "typeDefinition": "list<int>"},
                {"name": "attrs", "typeDefinition": "map<text, int>"}
            ],
            "primaryKey": {"partitionKey": ["tenant", "day"], "clusteringKey": ["seq", "kind"]},
            "tableOptions": {"clusteringExpression": [{"column": "seq", "order": "DESC"}, {"column": "kind", "order": "ASC"}]}
        }),
    )
    .await
    .expect(201);

    let base = "/v2/keyspaces/gw_crud/events";
    for seq in 1..=3 {
        let row = json!({
            "tenant": "acme/north", "day": 7, "seq": seq, "kind": "a b",
            "owner": "zoe", "tags": ["x", "y"], "scores": [seq, seq * 10],
            "attrs": {"k": seq}
        });
        assert_eq!(c.post(base, &row).await.expect(201), &row);
    }
    c.post(
        base,
        &json!({"tenant": "acme/north", "day": 8, "seq": 1, "kind": "z"}),
    )
    .await
    .expect(201);

    // A whole partition, key segments URL-encoded (a `/` and a space inside), in clustering
    // order (seq descending).
    let partition = format!("{base}/{}/7", url_encode("acme/north"));
    let page = c.get(&partition).await;
    let data = page.expect(200)["data"].as_array().unwrap().clone();
    assert_eq!(page.body["count"], 3);
    let seqs: Vec<i64> = data.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![3, 2, 1]);
    assert_eq!(
        data[0],
        json!({"tenant": "acme/north", "day": 7, "seq": 3, "kind": "a b", "owner": "zoe",
               "attrs": {"k": 3}, "scores": [3, 30], "tags": ["x", "y"]})
    );

    // A clustering prefix, and the full key; `fields`; `raw`; `sort`.
    let one = format!("{partition}/2/{}", url_encode("a b"));
    let page = c.get(&format!("{partition}/2")).await;
    assert_eq!(page.expect(200)["count"], 1);
    let fields = c.get(&format!("{one}?fields=seq,tags")).await;
    assert_eq!(
        fields.expect(200)["data"],
        json!([{"seq": 2, "tags": ["x", "y"]}])
    );
    let raw = c.get(&format!("{partition}?raw=true&fields=seq")).await;
    assert_eq!(
        raw.expect(200),
        &json!([{"seq": 3}, {"seq": 2}, {"seq": 1}])
    );
    let sorted = c
        .get(&format!(
            "{partition}?raw=true&fields=seq&sort={}",
            url_encode("{\"seq\":\"asc\"}")
        ))
        .await;
    assert_eq!(
        sorted.expect(200),
        &json!([{"seq": 1}, {"seq": 2}, {"seq": 3}])
    );

    // PUT and PATCH update the row (collections replaced), answering what they wrote.
    let update = json!({"scores": [9], "attrs": {"k": 9, "j": 1}});
    assert_eq!(
        c.put(&one, &update).await.expect(200),
        &json!({"data": update})
    );
    let patch = json!({"tags": ["only"], "owner": "max"});
    assert_eq!(
        c.patch(&format!("{one}?raw=true"), &patch)
            .await
            .expect(200),
        &patch
    );
    let row = c.get(&format!("{one}?raw=true")).await;
    assert_eq!(
        row.expect(200),
        &json!([{"tenant": "acme/north", "day": 7, "seq": 2, "kind": "a b", "owner": "max",
                 "attrs": {"j": 1, "k": 9}, "scores": [9], "tags": ["only"]}])
    );
    // An update needs the whole primary key.
    c.put(&format!("{partition}/2"), &update)
        .await
        .expect_error(400, "key values");

    // DELETE one row (204), then a missing row reads as no data (200).
    assert_eq!(c.delete(&one).await.status.as_u16(), 204);
    let gone = c.get(&one).await;
    assert_eq!(gone.expect(200), &json!({"count": 0, "data": []}));
    // DELETE by clustering prefix, then by partition.
    assert_eq!(
        c.delete(&format!("{partition}/3")).await.status.as_u16(),
        204
    );
    assert_eq!(c.get(&partition).await.expect(200)["count"], 1);
    assert_eq!(c.delete(&partition).await.status.as_u16(), 204);
    assert_eq!(c.get(&partition).await.expect(200)["count"], 0);
    // Too few or too many key values: 400.
    c.get(&format!("{base}/acme"))
        .await
        .expect_error(400, "less than number of partition keys");
    c.get(&format!("{partition}/1/a/extra"))
        .await
        .expect_error(400, "exceeds");
    // The other partition is untouched.
    let other = c
        .get(&format!("{base}/{}/8?raw=true", url_encode("acme/north")))
        .await;
    assert_eq!(other.expect(200).as_array().unwrap().len(), 1);

    // Counters: POST increments, PUT increments, values read as strings.
    c.post(
        "/v2/schemas/keyspaces/gw_crud/tables",
        &json!({
            "name": "hits",
            "columnDefinitions": [
                {"name": "page", "typeDefinition": "text"},
                {"name": "n", "typeDefinition": "counter"}
            ],
            "primaryKey": {"partitionKey": ["page"]}
        }),
    )
    .await
    .expect(201);
    c.post(
        "/v2/keyspaces/gw_crud/hits",
        &json!({"page": "home", "n": 2}),
    )
    .await
    .expect(201);
    c.put("/v2/keyspaces/gw_crud/hits/home", &json!({"n": "40"}))
        .await
        .expect(200);
    let hits = c.get("/v2/keyspaces/gw_crud/hits/home?raw=true").await;
    assert_eq!(hits.expect(200), &json!([{"page": "home", "n": "42"}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_takes_every_operator_and_refuses_ne() {
    let gw = Gateway::start(&[]);
    let c = admin(&gw).await;
    c.fresh_keyspace("gw_where").await;
    c.post(
        "/v2/schemas/keyspaces/gw_where/tables",
        &json!({
            "name": "items",
            "columnDefinitions": [
                {"name": "shop", "typeDefinition": "text"},
                {"name": "n", "typeDefinition": "int"},
                {"name": "price", "typeDefinition": "decimal"},
                {"name": "live", "typeDefinition": "boolean"},
                {"name": "tags", "typeDefinition": "set<text>"},
                {"name": "sizes", "typeDefinition": "list<int>"},
                {"name": "stock", "typeDefinition": "map<text, int>"}
            ],
            "primaryKey": {"partitionKey": ["shop"], "clusteringKey": ["n"]}
        }),
    )
    .await
    .expect(201);
    let base = "/v2/keyspaces/gw_where/items";
    for n in 1..=6 {
        c.post(
            base,
            &json!({
                "shop": "s1", "n": n, "price": format!("{n}.50"), "live": n % 2 == 0,
                "tags": [format!("t{n}"), "all"], "sizes": [n, 100],
                "stock": {format!("k{n}"): n, "common": 1}
            }),
        )
        .await
        .expect(201);
    }
    let ns = |answer: &support::Answer| -> Vec<i64> {
        answer.expect(200)["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["n"].as_i64().unwrap())
            .collect()
    };
    let query = |filter: Value| where_path("gw_where", "items", &filter, "&fields=n");
    let cases = [
        (json!({"shop": {"$eq": "s1"}, "n": {"$eq": 3}}), vec![3]),
        (json!({"shop": {"$eq": "s1"}, "n": {"$lt": 3}}), vec![1, 2]),
        (
            json!({"shop": {"$eq": "s1"}, "n": {"$lte": 3}}),
            vec![1, 2, 3],
        ),
        (json!({"shop": {"$eq": "s1"}, "n": {"$gt": 4}}), vec![5, 6]),
        (
            json!({"shop": {"$eq": "s1"}, "n": {"$gte": 4, "$lt": 6}}),
            vec![4, 5],
        ),
        (
            json!({"shop": {"$eq": "s1"}, "n": {"$in": [2, 5, 9]}}),
            vec![2, 5],
        ),
        (
            json!({"shop": {"$in": ["s1", "s2"]}, "n": {"$eq": 1}}),
            vec![1],
        ),
        (
            json!({"shop": {"$eq": "s1"}, "tags": {"$contains": "t4"}}),
            vec![4],
        ),
        (
            json!({"shop": {"$eq": "s1"}, "sizes": {"$contains": 100}}),
            vec![1, 2, 3, 4, 5, 6],
        ),
        (
            json!({"shop": {"$eq": "s1"}, "stock": {"$containsKey": "k2"}}),
            vec![2],
        ),
        (
            json!({"shop": {"$eq": "s1"}, "stock": {"$contains": 5}}),
            vec![5],
        ),
        (
            json!({"shop": {"$eq": "s1"}, "stock": {"$containsEntry": {"key": "k6", "value": 6}}}),
            vec![6],
        ),
        (
            json!({"shop": {"$eq": "s1"}, "live": {"$exists": true}}),
            vec![2, 4, 6],
        ),
        (
            json!({"shop": {"$eq": "s1"}, "price": {"$gt": "4.5"}}),
            vec![5, 6],
        ),
        (
            json!({"shop": {"$eq": "s1"}, "price": {"$lte": 2.5}}),
            vec![1, 2],
        ),
    ];
    for (filter, expected) in cases {
        let answer = c.get(&query(filter.clone())).await;
        assert_eq!(ns(&answer), expected, "{filter}");
        assert_eq!(answer.body["count"], expected.len(), "{filter}");
    }
    // Refused: $ne (as Stargate), unknown operators, unknown columns, wrong types, nulls,
    // operators on columns of the wrong kind, filters that are not JSON objects.
    for (filter, part) in [
        (
            json!({"shop": {"$eq": "s1"}, "n": {"$ne": 3}}),
            "$ne is not supported",
        ),
        (json!({"shop": {"$like": "s%"}}), "$like is not supported"),
        (json!({"nope": {"$eq": 1}}), "Unknown field name 'nope'"),
        (
            json!({"shop": {"$eq": "s1"}, "n": {"$eq": "three"}}),
            "column 'n'",
        ),
        (json!({"shop": {"$eq": null}}), "found null"),
        (
            json!({"shop": {"$eq": "s1"}, "n": {"$contains": 1}}),
            "not of container type",
        ),
        (
            json!({"shop": {"$eq": "s1"}, "tags": {"$containsKey": "a"}}),
            "not of map type",
        ),
        (
            json!({"shop": {"$eq": "s1"}, "n": {"$in": []}}),
            "non-empty array",
        ),
        (
            json!({"shop": {"$eq": "s1"}, "n": {"$exists": true}}),
            "$exists",
        ),
        (json!({"shop": "s1"}), "expecting a JSON object"),
        (json!([1]), "expecting a JSON object"),
    ] {
        c.get(&query(filter)).await.expect_error(400, part);
    }
    c.get(&format!("{base}?where=%7Bnot%20json"))
        .await
        .expect_error(400, "not valid JSON");
    c.get(base).await.expect_error(400, "where");
    // What Cassandra refuses (ordering by a regular column) is the cluster's 400.
    c.get(&where_path(
        "gw_where",
        "items",
        &json!({"shop": {"$eq": "s1"}}),
        &format!("&sort={}", url_encode("{\"price\":\"asc\"}")),
    ))
    .await
    .expect_error(400, "rder");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_through_500_rows_sees_each_row_once() {
    let gw = Gateway::start(&[]);
    let c = admin(&gw).await;
    c.fresh_keyspace("gw_paging").await;
    c.post(
        "/v2/schemas/keyspaces/gw_paging/tables",
        &json!({
            "name": "rows",
            "columnDefinitions": [
                {"name": "p", "typeDefinition": "int"},
                {"name": "c", "typeDefinition": "int"},
                {"name": "v", "typeDefinition": "text"}
            ],
            "primaryKey": {"partitionKey": ["p"], "clusteringKey": ["c"]}
        }),
    )
    .await
    .expect(201);
    let writes = (0..500).map(|i| {
        let c = &c;
        async move {
            c.post(
                "/v2/keyspaces/gw_paging/rows",
                &json!({"p": i % 7, "c": i, "v": format!("row {i}")}),
            )
            .await
            .expect(201);
        }
    });
    futures::stream::iter(writes)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;

    // Every row, 37 a page, following pageState until there is none.
    let mut seen = BTreeSet::new();
    let mut state: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/v2/keyspaces/gw_paging/rows/rows?page-size=37".to_owned();
        if let Some(s) = &state {
            path.push_str(&format!("&page-state={}", url_encode(s)));
        }
        let page = c.get(&path).await;
        let body = page.expect(200);
        let data = body["data"].as_array().unwrap();
        assert!(data.len() <= 37);
        assert_eq!(body["count"], data.len());
        for row in data {
            let i = row["c"].as_i64().unwrap();
            assert_eq!(row["v"], format!("row {i}"));
            assert!(seen.insert(i), "row {i} seen twice");
        }
        pages += 1;
        assert!(pages < 100, "paging does not end");
        match body.get("pageState").and_then(Value::as_str) {
            Some(s) => state = Some(s.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, (0..500).collect::<BTreeSet<_>>());
    assert!(pages >= 14, "{pages} pages");

    // A where query pages too (the partition p = 3 has 71 rows), and a page size of 100 is
    // the default.
    let filter = json!({"p": {"$eq": 3}});
    let first = c
        .get(&where_path("gw_paging", "rows", &filter, "&page-size=50"))
        .await;
    let state = first.expect(200)["pageState"].as_str().unwrap().to_owned();
    assert_eq!(first.body["count"], 50);
    let second = c
        .get(&where_path(
            "gw_paging",
            "rows",
            &filter,
            &format!("&page-size=50&page-state={}", url_encode(&state)),
        ))
        .await;
    assert_eq!(second.expect(200)["count"], 21);
    assert!(second.body.get("pageState").is_none(), "{}", second.body);
    let all = c.get(&where_path("gw_paging", "rows", &filter, "")).await;
    assert_eq!(all.expect(200)["count"], 71);
    let default = c.get("/v2/keyspaces/gw_paging/rows/rows").await;
    assert_eq!(default.expect(200)["count"], 100);

    // Bad paging parameters: 400.
    c.get("/v2/keyspaces/gw_paging/rows/rows?page-size=0")
        .await
        .expect_error(400, "page-size");
    c.get("/v2/keyspaces/gw_paging/rows/rows?page-state=%25%25")
        .await
        .expect_error(400, "page-state");
}

use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_are_created_described_altered_and_dropped() {
    let gw = Gateway::start(&[]);
    let c = admin(&gw).await;
    let _ = c.delete("/v2/schemas/keyspaces/gw_schema").await;
    let _ = c.delete("/v2/schemas/keyspaces/gw_schema_simple").await;

    // Keyspaces.
    c.post(
        "/v2/schemas/keyspaces",
        &json!({"name": "gw_schema", "datacenters": [{"name": "dc1", "replicas": 2}, {"name": "dc2", "replicas": 1}]}),
    )
    .await
    .expect(201);
    c.post(
        "/v2/schemas/keyspaces",
        &json!({"name": "gw_schema_simple", "replicas": 1}),
    )
    .await
    .expect(201);
    c.post("/v2/schemas/keyspaces", &json!({"name": "gw_schema"}))
        .await
        .expect_error(409, "gw_schema");
    c.post("/v2/schemas/keyspaces", &json!({"replicas": 1}))
        .await
        .expect_error(400, "name");
    let ks = c.get("/v2/schemas/keyspaces/gw_schema").await;
    assert_eq!(
        ks.expect(200),
        &json!({"data": {"name": "gw_schema", "datacenters": [{"name": "dc1", "replicas": 2}, {"name": "dc2", "replicas": 1}]}})
    );
    let simple = c
        .get("/v2/schemas/keyspaces/gw_schema_simple?raw=true")
        .await;
    assert_eq!(
        simple.expect(200),
        &json!({"name": "gw_schema_simple", "replicas": 1})
    );
    let all = c.get("/v2/schemas/keyspaces").await;
    let names: Vec<&str> = all.expect(200)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"gw_schema") && names.contains(&"system"),
        "{names:?}"
    );
    c.get("/v2/schemas/keyspaces/gw_nothing")
        .await
        .expect_error(404, "gw_nothing");
    assert_eq!(
        c.delete("/v2/schemas/keyspaces/gw_schema_simple")
            .await
            .status
            .as_u16(),
        204
    );
    c.delete("/v2/schemas/keyspaces/gw_schema_simple")
        .await
        .expect(404);

    // User types.
    let types = "/v2/schemas/keyspaces/gw_schema/types";
    c.post(
        types,
        &json!({"name": "address", "fields": [
            {"name": "street", "typeDefinition": "text"},
            {"name": "zip", "typeDefinition": "int"}
        ]}),
    )
    .await
    .expect(201);
    c.post(
        types,
        &json!({"name": "address", "fields": [{"name": "a", "typeDefinition": "int"}]}),
    )
    .await
    .expect(409);
    c.post(types, &json!({"name": "empty", "fields": []}))
        .await
        .expect_error(400, "at least one field");
    c.put(
        &format!("{types}/address"),
        &json!({"addFields": [{"name": "city", "typeDefinition": "text"}],
                "renameFields": [{"from": "zip", "to": "postcode"}]}),
    )
    .await
    .expect(200);
    let udt = c.get(&format!("{types}/address")).await;
    assert_eq!(
        udt.expect(200),
        &json!({"data": {"name": "address", "keyspace": "gw_schema", "fields": [
            {"name": "street", "typeDefinition": "text"},
            {"name": "postcode", "typeDefinition": "int"},
            {"name": "city", "typeDefinition": "text"}
        ]}})
    );
    assert_eq!(
        c.get(types).await.expect(200)["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    c.get(&format!("{types}/nope")).await.expect(404);

    // Tables.
    let tables = "/v2/schemas/keyspaces/gw_schema/tables";
    c.post(
        tables,
        &json!({
            "name": "people",
            "columnDefinitions": [
                {"name": "id", "typeDefinition": "uuid"},
                {"name": "at", "typeDefinition": "timestamp"},
                {"name": "name", "typeDefinition": "text"},
                {"name": "home", "typeDefinition": "frozen<address>"},
                {"name": "team", "typeDefinition": "text", "static": true}
            ],
            "primaryKey": {"partitionKey": ["id"], "clusteringKey": ["at"]},
            "tableOptions": {"defaultTimeToLive": 0, "clusteringExpression": [{"column": "at", "order": "DESC"}]}
        }),
    )
    .await
    .expect(201);
    c.post(
        tables,
        &json!({"name": "people", "columnDefinitions": [{"name": "id", "typeDefinition": "int"}], "primaryKey": {"partitionKey": ["id"]}}),
    )
    .await
    .expect(409);
    c.post(
        tables,
        &json!({"name": "people", "ifNotExists": true, "columnDefinitions": [{"name": "id", "typeDefinition": "int"}], "primaryKey": {"partitionKey": ["id"]}}),
    )
    .await
    .expect(201);
    for (body, part) in [
        (
            json!({"name": "bad", "columnDefinitions": [], "primaryKey": {"partitionKey": ["id"]}}),
            "columnDefinitions",
        ),
        (
            json!({"name": "bad", "columnDefinitions": [{"name": "id", "typeDefinition": "int) WITH x"}], "primaryKey": {"partitionKey": ["id"]}}),
            "typeDefinition",
        ),
        (
            json!({"name": "bad", "columnDefinitions": [{"name": "id", "typeDefinition": "int"}], "primaryKey": {"partitionKey": ["other"]}}),
            "other",
        ),
    ] {
        c.post(tables, &body).await.expect_error(400, part);
    }
    let described = c.get(&format!("{tables}/people?raw=true")).await;
    assert_eq!(
        described.expect(200),
        &json!({
            "name": "people",
            "keyspace": "gw_schema",
            "columnDefinitions": [
                {"name": "id", "typeDefinition": "uuid", "static": false},
                {"name": "at", "typeDefinition": "timestamp", "static": false},
                {"name": "team", "typeDefinition": "text", "static": true},
                {"name": "home", "typeDefinition": "frozen<address>", "static": false},
                {"name": "name", "typeDefinition": "text", "static": false}
            ],
            "primaryKey": {"partitionKey": ["id"], "clusteringKey": ["at"]},
            "tableOptions": {"defaultTimeToLive": 0, "clusteringExpression": [{"column": "at", "order": "DESC"}]}
        })
    );
    c.put(
        &format!("{tables}/people"),
        &json!({"tableOptions": {"defaultTimeToLive": 3600}}),
    )
    .await
    .expect(200);
    let altered = c.get(&format!("{tables}/people")).await;
    assert_eq!(
        altered.expect(200)["data"]["tableOptions"]["defaultTimeToLive"],
        3600
    );
    c.put(&format!("{tables}/people"), &json!({"tableOptions": {}}))
        .await
        .expect_error(400, "defaultTTL");
    let listed = c.get(tables).await;
    assert_eq!(listed.expect(200)["data"].as_array().unwrap().len(), 1);
    c.get(&format!("{tables}/nope")).await.expect(404);

    // Columns.
    let columns = format!("{tables}/people/columns");
    c.post(
        &columns,
        &json!({"name": "email", "typeDefinition": "text"}),
    )
    .await
    .expect(201);
    c.post(
        &columns,
        &json!({"name": "email", "typeDefinition": "text"}),
    )
    .await
    .expect_error(409, "already exists");
    assert_eq!(
        c.get(&format!("{columns}/email")).await.expect(200),
        &json!({"data": {"name": "email", "typeDefinition": "text", "static": false}})
    );
    c.get(&format!("{columns}/nope")).await.expect(404);
    assert_eq!(
        c.get(&columns).await.expect(200)["data"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    // Cassandra renames primary key columns only.
    c.put(&format!("{columns}/at"), &json!({"name": "when"}))
        .await
        .expect(200);
    c.get(&format!("{columns}/when")).await.expect(200);
    assert_eq!(
        c.delete(&format!("{columns}/email")).await.status.as_u16(),
        204
    );
    c.get(&format!("{columns}/email")).await.expect(404);

    // Indexes.
    let indexes = format!("{tables}/people/indexes");
    c.post(
        &indexes,
        &json!({"column": "name", "name": "people_name", "type": "StorageAttachedIndex"}),
    )
    .await
    .expect(201);
    c.post(&indexes, &json!({"column": "team", "name": "people_team"}))
        .await
        .expect(201);
    c.post(&indexes, &json!({"column": "nope"}))
        .await
        .expect(404);
    let listed = c.get(&indexes).await;
    let names: BTreeSet<String> = listed
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index_name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["people_name".to_owned(), "people_team".to_owned()])
    );
    assert_eq!(
        c.delete(&format!("{indexes}/people_team"))
            .await
            .status
            .as_u16(),
        204
    );
    assert_eq!(
        c.get(&indexes).await.expect(200).as_array().unwrap().len(),
        1
    );

    // Drop the table, then the type, then the keyspace.
    assert_eq!(
        c.delete(&format!("{tables}/people")).await.status.as_u16(),
        204
    );
    c.get(&format!("{tables}/people")).await.expect(404);
    c.delete(&format!("{tables}/people")).await.expect(404);
    assert_eq!(
        c.delete(&format!("{types}/address")).await.status.as_u16(),
        204
    );
    c.get(&format!("{types}/address")).await.expect(404);
    assert_eq!(
        c.delete("/v2/schemas/keyspaces/gw_schema")
            .await
            .status
            .as_u16(),
        204
    );
    c.get("/v2/schemas/keyspaces/gw_schema").await.expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cql_type_goes_through_json_and_matches_the_python_driver() {
    let gw = Gateway::start(&[]);
    let c = admin(&gw).await;
    c.fresh_keyspace("gw_types").await;
    c.post(
        "/v2/schemas/keyspaces/gw_types/types",
        &json!({"name": "point", "fields": [
            {"name": "x", "typeDefinition": "int"},
            {"name": "label", "typeDefinition": "text"}
        ]}),
    )
    .await
    .expect(201);
    let columns = [
        ("id", "int"),
        ("t_ascii", "ascii"),
        ("t_bigint", "bigint"),
        ("t_blob", "blob"),
        ("t_boolean", "boolean"),
        ("t_date", "date"),
        ("t_decimal", "decimal"),
        ("t_double", "double"),
        ("t_duration", "duration"),
        ("t_float", "float"),
        ("t_inet", "inet"),
        ("t_int", "int"),
        ("t_smallint", "smallint"),
        ("t_text", "text"),
        ("t_time", "time"),
        ("t_timestamp", "timestamp"),
        ("t_timeuuid", "timeuuid"),
        ("t_tinyint", "tinyint"),
        ("t_uuid", "uuid"),
        ("t_varint", "varint"),
        ("t_vector", "vector<float, 3>"),
        ("t_list", "list<frozen<list<int>>>"),
        ("t_set", "set<text>"),
        ("t_map", "map<text, double>"),
        ("t_map_int", "map<int, boolean>"),
        ("t_tuple", "tuple<int, text, inet>"),
        ("t_udt", "frozen<point>"),
        ("t_udts", "list<frozen<point>>"),
    ];
    c.post(
        "/v2/schemas/keyspaces/gw_types/tables",
        &json!({
            "name": "all_types",
            "columnDefinitions": columns.iter().map(|(n, t)| json!({"name": n, "typeDefinition": t})).collect::<Vec<_>>(),
            "primaryKey": {"partitionKey": ["id"]}
        }),
    )
    .await
    .expect(201);

    // What goes in, and what comes out (in column order: id, then the others by name).
    let written = json!({
        "id": 1,
        "t_ascii": "plain",
        "t_bigint": 9007199254740993i64,
        "t_blob": "AAEC/w==",
        "t_boolean": true,
        "t_date": "2024-02-29",
        "t_decimal": "DECIMAL",
        "t_double": 0.1,
        "t_duration": "1mo2d3h4m5s6ms",
        "t_float": 1.1,
        "t_inet": "2001:db8::1",
        "t_int": -2147483648,
        "t_smallint": 32767,
        "t_text": "héllo \"wörld\"",
        "t_time": "23:59:59.123456789",
        "t_timestamp": "2024-02-29T12:34:56.789Z",
        "t_timeuuid": "fe2b4360-28c6-11ee-be56-0242ac120002",
        "t_tinyint": -128,
        "t_uuid": "123e4567-e89b-12d3-a456-426614174000",
        "t_varint": "VARINT",
        "t_vector": [1.5, -2.25, 3.0],
        "t_list": [[1, 2], [], [3]],
        "t_set": ["b", "a"],
        "t_map": {"a": 1.25, "b": -0.5},
        "t_map_int": [{"key": 2, "value": false}, {"key": 1, "value": true}],
        "t_tuple": [7, "seven", "10.0.0.7"],
        "t_udt": {"x": 3, "label": "three"},
        "t_udts": [{"x": 1}, {"label": "only a label"}]
    });
    // serde_json's macro cannot write numbers beyond f64 or i64: put them in as JSON text.
    let mut body = written.to_string();
    body = body.replace(
        "\"DECIMAL\"",
        "12345678901234567890.123456789012345678901234567890",
    );
    body = body.replace(
        "\"VARINT\"",
        "-98765432109876543210987654321098765432109876543210",
    );
    assert!(body.contains("98765432109876543210987654321"), "{body}");
    assert!(body.contains("123456789012345678901234567890"), "{body}");
    c.post_text("/v2/keyspaces/gw_types/all_types", &body)
        .await
        .expect(201);
    // A second row with every value as a CQL literal string.
    let literals = json!({
        "id": "2",
        "t_bigint": "-42",
        "t_blob": "0xcafebabe",
        "t_boolean": "false",
        "t_decimal": "-0.000000000000000000000000000001",
        "t_double": "-1.5e300",
        "t_duration": "P1DT2H",
        "t_float": "NaN",
        "t_int": "17",
        "t_smallint": "-5",
        "t_time": "08:00",
        "t_timestamp": "1709210096789",
        "t_tinyint": "5",
        "t_varint": "123456789012345678901234567890",
        "t_vector": "[1, 2, 3]",
        "t_list": "[[1], [2, 3]]",
        "t_set": "{'x', 'y''s'}",
        "t_map": "{'a': 1.5}",
        "t_map_int": "{5: true}",
        "t_tuple": "(1, 'one', 127.0.0.1)",
        "t_udt": "{x: 9, label: 'nine'}",
        "t_udts": "[{x: 1, label: 'a'}]"
    });
    c.post("/v2/keyspaces/gw_types/all_types", &literals)
        .await
        .expect(201);

    let read = c.get("/v2/keyspaces/gw_types/all_types/1?raw=true").await;
    let text = serde_json::to_string(&read.expect(200)[0]).unwrap();
    let expected_1 = concat!(
        r#"{"id":1,"t_ascii":"plain","t_bigint":9007199254740993,"t_blob":"AAEC/w==","t_boolean":true,"#,
        r#""t_date":"2024-02-29","t_decimal":12345678901234567890.123456789012345678901234567890,"#,
        r#""t_double":0.1,"t_duration":"1mo2d3h4m5s6ms","t_float":1.1,"t_inet":"2001:db8::1","#,
        r#""t_int":-2147483648,"t_list":[[1,2],[],[3]],"t_map":{"a":1.25,"b":-0.5},"#,
        r#""t_map_int":[{"key":1,"value":true},{"key":2,"value":false}],"t_set":["a","b"],"#,
        r#""t_smallint":32767,"t_text":"héllo \"wörld\"","t_time":"23:59:59.123456789","#,
        r#""t_timestamp":"2024-02-29T12:34:56.789Z","t_timeuuid":"fe2b4360-28c6-11ee-be56-0242ac120002","#,
        r#""t_tinyint":-128,"t_tuple":[7,"seven","10.0.0.7"],"t_udt":{"x":3,"label":"three"},"#,
        r#""t_udts":[{"x":1,"label":null},{"x":null,"label":"only a label"}],"#,
        r#""t_uuid":"123e4567-e89b-12d3-a456-426614174000","#,
        r#""t_varint":-98765432109876543210987654321098765432109876543210,"t_vector":[1.5,-2.25,3.0]}"#
    );
    assert_eq!(text, expected_1);
    let read = c
        .get("/v2/keyspaces/gw_types/all_types/2?raw=true&fields=id,t_blob,t_decimal,t_double,t_duration,t_float,t_time,t_timestamp,t_varint,t_set,t_map_int,t_tuple,t_udt")
        .await;
    let text = serde_json::to_string(&read.expect(200)[0]).unwrap();
    let expected_2 = concat!(
        r#"{"id":2,"t_blob":"yv66vg==","t_decimal":-0.000000000000000000000000000001,"#,
        r#""t_double":-1.5e+300,"t_duration":"1d2h","t_float":"NaN","t_time":"08:00:00","#,
        r#""t_timestamp":"2024-02-29T12:34:56.789Z","t_varint":123456789012345678901234567890,"#,
        r#""t_set":["x","y's"],"t_map_int":[{"key":5,"value":true}],"t_tuple":[1,"one","127.0.0.1"],"#,
        r#""t_udt":{"x":9,"label":"nine"}}"#
    );
    assert_eq!(text, expected_2);

    // The Python driver reads the same rows from the cluster directly.
    let python = run_python(
        r#"
import os, json, base64
from cassandra.cluster import Cluster
s = Cluster([os.environ['NODE']]).connect('gw_types')
for r in s.execute('SELECT id, t_ascii, t_bigint, t_blob, t_boolean, t_date, t_decimal, t_duration, t_inet, t_int, t_text, t_time, t_timestamp, t_timeuuid, t_uuid, t_varint, t_vector, t_list, t_set, t_map_int, t_tuple, t_udt, t_udts FROM all_types WHERE id IN (1, 2)'):
    d = r.t_duration
    print(json.dumps({
        'id': r.id, 'ascii': r.t_ascii, 'bigint': str(r.t_bigint),
        'blob': base64.b64encode(r.t_blob).decode() if r.t_blob else None,
        'boolean': r.t_boolean, 'date': str(r.t_date) if r.t_date else None,
        'decimal': str(r.t_decimal),
        'duration': [d.months, d.days, d.nanoseconds],
        'inet': r.t_inet, 'int': r.t_int, 'text': r.t_text,
        'time': str(r.t_time) if r.t_time else None,
        'timestamp': r.t_timestamp.isoformat(timespec='milliseconds'),
        'timeuuid': str(r.t_timeuuid) if r.t_timeuuid else None,
        'uuid': str(r.t_uuid) if r.t_uuid else None,
        'varint': str(r.t_varint), 'vector': list(r.t_vector) if r.t_vector else None,
        'list': [list(x) for x in r.t_list], 'set': sorted(r.t_set),
        'map_int': sorted([k, v] for k, v in r.t_map_int.items()),
        'tuple': list(r.t_tuple),
        'udt': [r.t_udt.x, r.t_udt.label],
        'udts': [[u.x, u.label] for u in r.t_udts],
    }, sort_keys=True))
"#,
    );
    let mut by_id = std::collections::BTreeMap::new();
    for line in python.lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON line");
        by_id.insert(v["id"].as_i64().unwrap(), v);
    }
    assert_eq!(
        by_id[&1],
        json!({
            "id": 1, "ascii": "plain", "bigint": "9007199254740993", "blob": "AAEC/w==",
            "boolean": true, "date": "2024-02-29",
            "decimal": "12345678901234567890.123456789012345678901234567890",
            "duration": [1, 2, 11045006000000i64], "inet": "2001:db8::1", "int": -2147483648,
            "text": "héllo \"wörld\"", "time": "23:59:59.123456789",
            "timestamp": "2024-02-29T12:34:56.789",
            "timeuuid": "fe2b4360-28c6-11ee-be56-0242ac120002",
            "uuid": "123e4567-e89b-12d3-a456-426614174000",
            "varint": "-98765432109876543210987654321098765432109876543210",
            "vector": [1.5, -2.25, 3.0], "list": [[1, 2], [], [3]], "set": ["a", "b"],
            "map_int": [[1, true], [2, false]], "tuple": [7, "seven", "10.0.0.7"],
            "udt": [3, "three"], "udts": [[1, null], [null, "only a label"]]
        })
    );
    assert_eq!(by_id[&2]["decimal"], "-1E-30");
    assert_eq!(by_id[&2]["varint"], "123456789012345678901234567890");
    assert_eq!(by_id[&2]["blob"], "yv66vg==");
    assert_eq!(by_id[&2]["duration"], json!([0, 1, 7200000000000i64]));
    assert_eq!(by_id[&2]["time"], "08:00:00.000000000");
    assert_eq!(by_id[&2]["udt"], json!([9, "nine"]));
    assert_eq!(by_id[&2]["udts"], json!([[1, "a"]]));

    // Values are checked against the column's type, naming both.
    for (body, part) in [
        (json!({"id": 3, "t_int": "abc"}), "'t_int': expected int"),
        (json!({"id": 3, "t_int": 1.5}), "'t_int': expected int"),
        (
            json!({"id": 3, "t_tinyint": 300}),
            "'t_tinyint': expected tinyint",
        ),
        (
            json!({"id": 3, "t_uuid": "nope"}),
            "'t_uuid': expected uuid",
        ),
        (
            json!({"id": 3, "t_timeuuid": "123e4567-e89b-42d3-a456-426614174000"}),
            "version 1",
        ),
        (json!({"id": 3, "t_inet": 12}), "'t_inet': expected inet"),
        (
            json!({"id": 3, "t_date": "2024-13-01"}),
            "'t_date': expected date",
        ),
        (json!({"id": 3, "t_vector": [1, 2]}), "exactly 3 elements"),
        (json!({"id": 3, "t_set": [1]}), "'t_set': expected text"),
        (json!({"id": 3, "t_udt": {"y": 1}}), "no field \"y\""),
        (
            json!({"id": 3, "t_map_int": {"x": true}}),
            "'t_map_int': expected int",
        ),
        (json!({"id": 3, "t_list": [[null]]}), "cannot be null"),
        (json!({"id": 3, "t_blob": "%%%"}), "'t_blob': expected blob"),
        (
            json!({"id": 3, "t_boolean": 1}),
            "'t_boolean': expected boolean",
        ),
        (json!({"id": 3, "t_text": 5}), "'t_text': expected text"),
        (json!({"id": 3, "t_ascii": "é"}), "non-ASCII"),
        (json!({"id": 3, "nope": 1}), "Unknown field name 'nope'"),
    ] {
        c.post("/v2/keyspaces/gw_types/all_types", &body)
            .await
            .expect_error(400, part);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_400s_and_the_gateway_keeps_serving() {
    let gw = Gateway::start(&[]);
    let c = admin(&gw).await;
    c.fresh_keyspace("gw_bad").await;
    c.post(
        "/v2/schemas/keyspaces/gw_bad/tables",
        &json!({"name": "t", "columnDefinitions": [
            {"name": "k", "typeDefinition": "int"}, {"name": "v", "typeDefinition": "text"}
        ], "primaryKey": {"partitionKey": ["k"]}}),
    )
    .await
    .expect(201);
    let rows = "/v2/keyspaces/gw_bad/t";
    for (body, part) in [
        ("{\"k\": 1, ", "Invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ("", "empty"),
        ("{}", "no columns"),
        ("{\"v\": \"no key\"}", "k"),
        ("\u{0}\u{1}binary", "Invalid JSON"),
    ] {
        c.post_text(rows, body).await.expect_error(400, part);
    }
    c.post(rows, &json!({"k": "x"}))
        .await
        .expect_error(400, "'k': expected int");
    c.put(&format!("{rows}/1"), &json!({"nope": 1}))
        .await
        .expect_error(400, "Unknown field name 'nope'");
    c.put(&format!("{rows}/notanint"), &json!({"v": "x"}))
        .await
        .expect_error(400, "key column 'k'");
    c.get(&format!("{rows}/rows?fields=nope"))
        .await
        .expect_error(400, "nope");
    c.get(&format!("{rows}/rows?sort=%5B"))
        .await
        .expect_error(400, "sort");
    c.get(&format!("{rows}/rows?raw=maybe"))
        .await
        .expect_error(400, "raw");
    c.get("/v2/keyspaces/gw_nothing/t/rows")
        .await
        .expect_error(404, "gw_nothing");
    c.get("/v2/keyspaces/gw_bad/nothing/rows")
        .await
        .expect_error(404, "nothing");
    c.get("/v2/nowhere").await.expect(404);
    // After all that, it serves.
    c.post(rows, &json!({"k": 1, "v": "fine"}))
        .await
        .expect(201);
    assert_eq!(
        c.get(&format!("{rows}/1?raw=true")).await.expect(200),
        &json!([{"k": 1, "v": "fine"}])
    );
}

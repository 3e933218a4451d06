//! The Document API of the `ringgate-gateway` binary over the real `two-dc` cluster, by real
//! HTTP: namespaces, collections, nested documents written, read whole and by sub-path,
//! patched, replaced and deleted in part, `$push`/`$pop`, batches, searches with every
//! operator and their combinations, paging, and the shredded rows read with the Python driver.

mod support;

use std::collections::BTreeSet;

use futures::StreamExt;

use serde_json::{Value, json};
use support::{Client, Gateway, run_python, url_encode};

async fn admin(gw: &Gateway) -> Client<'_> {
    Client {
        gateway: gw,
        token: gw.token("cassandra", "cassandra").await,
    }
}

async fn fresh_namespace(c: &Client<'_>, ns: &str) {
    let gone = c.delete(&format!("/v2/schemas/namespaces/{ns}")).await;
    assert!([204, 404].contains(&gone.status.as_u16()), "{gone:?}");
    c.post(
        "/v2/schemas/namespaces",
        &json!({"name": ns, "datacenters": [{"name": "dc1", "replicas": 2}]}),
    )
    .await
    .expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_collections() {
    let gw = Gateway::start(&[]);
    let c = admin(&gw).await;
    fresh_namespace(&c, "gw_ns").await;
    c.post("/v2/schemas/namespaces", &json!({"name": "gw_ns"}))
        .await
        .expect_error(409, "gw_ns");
    assert_eq!(
        c.get("/v2/schemas/namespaces/gw_ns").await.expect(200),
        &json!({"data": {"name": "gw_ns", "datacenters": [{"name": "dc1", "replicas": 2}]}})
    );
    let all = c.get("/v2/schemas/namespaces?raw=true").await;
    assert!(
        all.expect(200)
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "gw_ns")
    );
    c.get("/v2/schemas/namespaces/gw_none").await.expect(404);

    let collections = "/v2/namespaces/gw_ns/collections";
    c.post(collections, &json!({"name": "books"}))
        .await
        .expect(201);
    c.post(collections, &json!({"name": "books"}))
        .await
        .expect_error(409, "already exists");
    c.post(collections, &json!({"name": "bad name!"}))
        .await
        .expect(400);
    assert_eq!(
        c.get(collections).await.expect(200),
        &json!({"data": [{"name": "books", "upgradeAvailable": false}]})
    );
    c.get("/v2/namespaces/gw_none/collections")
        .await
        .expect(404);
    // The table is laid out as Stargate lays it out.
    let described = c
        .get("/v2/schemas/keyspaces/gw_ns/tables/books?raw=true")
        .await;
    let body = described.expect(200);
    assert_eq!(body["primaryKey"]["partitionKey"], json!(["key"]));
    assert_eq!(
        body["primaryKey"]["clusteringKey"]
            .as_array()
            .unwrap()
            .len(),
        64
    );
    let columns: BTreeSet<String> = body["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    for name in [
        "key",
        "p0",
        "p63",
        "leaf",
        "text_value",
        "dbl_value",
        "bool_value",
    ] {
        assert!(columns.contains(name), "{name}");
    }
    let indexes = c
        .get("/v2/schemas/keyspaces/gw_ns/tables/books/indexes")
        .await;
    assert_eq!(indexes.expect(200).as_array().unwrap().len(), 4);
    assert_eq!(
        c.delete(&format!("{collections}/books"))
            .await
            .status
            .as_u16(),
        204
    );
    c.delete(&format!("{collections}/books")).await.expect(404);
    assert_eq!(
        c.delete("/v2/schemas/namespaces/gw_ns")
            .await
            .status
            .as_u16(),
        204
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_written_read_patched_replaced_and_deleted_in_part() {
    let gw = Gateway::start(&[]);
    let c = admin(&gw).await;
    fresh_namespace(&c, "gw_docs").await;
    let base = "/v2/namespaces/gw_docs/collections/library";
    let doc = json!({
        "title": "Dune",
        "year": 1965,
        "rating": 4.5,
        "inPrint": true,
        "translator": null,
        "authors": [{"name": "Frank Herbert", "born": 1920}, {"name": "Anon"}],
        "tags": ["sf", "classic"],
        "editions": {"first": {"pages": 412, "isbn": "0-xxx"}, "notes": {}},
        "empty": []
    });
    // POST to a collection that does not exist yet creates it.
    let created = c.post(base, &doc).await;
    let id = created.expect(201)["documentId"]
        .as_str()
        .unwrap()
        .to_owned();
    let doc_path = format!("{base}/{id}");
    assert_eq!(
        c.get(&doc_path).await.expect(200),
        &json!({"documentId": id, "data": doc})
    );
    assert_eq!(
        c.get(&format!("{doc_path}?raw=true")).await.expect(200),
        &doc
    );

    // Sub-documents, array elements, missing paths.
    for (path, expected) in [
        ("title", json!("Dune")),
        (
            "authors/[0]",
            json!({"name": "Frank Herbert", "born": 1920}),
        ),
        ("authors/[1]/name", json!("Anon")),
        ("editions/first/pages", json!(412)),
        ("editions/notes", json!({})),
        ("empty", json!([])),
        ("translator", Value::Null),
    ] {
        let answer = c.get(&format!("{doc_path}/{path}?raw=true")).await;
        assert_eq!(answer.expect(200), &expected, "{path}");
    }
    c.get(&format!("{doc_path}/nope"))
        .await
        .expect_error(404, "does not exist");
    c.get(&format!("{doc_path}/authors/[7]")).await.expect(404);
    c.get(&format!("{base}/no-such-id"))
        .await
        .expect_error(404, "no-such-id");
    let projected = c
        .get(&format!(
            "{doc_path}?raw=true&fields={}",
            url_encode("[\"title\", \"editions.first.pages\"]")
        ))
        .await;
    assert_eq!(
        projected.expect(200),
        &json!({"editions": {"first": {"pages": 412}}, "title": "Dune"})
    );

    // PATCH merges top-level fields; a scalar replaced by an object and back.
    c.patch(
        &doc_path,
        &json!({"year": {"us": 1965, "uk": 1966}, "rating": 4.8, "new": "field"}),
    )
    .await
    .expect(200);
    let now = c.get(&format!("{doc_path}?raw=true")).await;
    let now = now.expect(200);
    assert_eq!(now["year"], json!({"uk": 1966, "us": 1965}));
    assert_eq!(now["rating"], 4.8);
    assert_eq!(now["new"], "field");
    assert_eq!(now["title"], "Dune");
    c.patch(&format!("{doc_path}/editions/notes"), &json!({"n": 1}))
        .await
        .expect(200);
    assert_eq!(
        c.get(&format!("{doc_path}/editions/notes?raw=true"))
            .await
            .expect(200),
        &json!({"n": 1})
    );
    c.patch(&format!("{doc_path}/title"), &json!({"x": 1}))
        .await
        .expect_error(400, "not one");
    c.patch(&doc_path, &json!([1])).await.expect(400);

    // PUT on a sub-path replaces that part; DELETE on a sub-path removes it.
    c.put(
        &format!("{doc_path}/authors/[1]"),
        &json!({"name": "Brian Herbert"}),
    )
    .await
    .expect(200);
    c.put(&format!("{doc_path}/year"), &json!(2020))
        .await
        .expect(200);
    assert_eq!(
        c.delete(&format!("{doc_path}/tags/[0]"))
            .await
            .status
            .as_u16(),
        204
    );
    assert_eq!(
        c.delete(&format!("{doc_path}/editions"))
            .await
            .status
            .as_u16(),
        204
    );
    let now = c.get(&format!("{doc_path}?raw=true")).await;
    let now = now.expect(200);
    assert_eq!(now["authors"][1], json!({"name": "Brian Herbert"}));
    assert_eq!(now["year"], 2020);
    assert_eq!(now["tags"], json!([null, "classic"]));
    assert!(now.get("editions").is_none(), "{now}");

    // $push and $pop on arrays.
    let push = c
        .post(
            &format!("{doc_path}/empty/function"),
            &json!({"operation": "$push", "value": {"a": 1}}),
        )
        .await;
    assert_eq!(push.expect(200)["data"], json!([{"a": 1}]));
    c.post(
        &format!("{doc_path}/empty/function"),
        &json!({"operation": "$push", "value": 2}),
    )
    .await
    .expect(200);
    let popped = c
        .post(
            &format!("{doc_path}/empty/function"),
            &json!({"operation": "$pop"}),
        )
        .await;
    assert_eq!(popped.expect(200)["data"], 2);
    c.post(
        &format!("{doc_path}/empty/function"),
        &json!({"operation": "$pop"}),
    )
    .await
    .expect(200);
    assert_eq!(
        c.get(&format!("{doc_path}/empty?raw=true"))
            .await
            .expect(200),
        &json!([])
    );
    c.post(
        &format!("{doc_path}/empty/function"),
        &json!({"operation": "$pop"}),
    )
    .await
    .expect_error(400, "pop");
    c.post(
        &format!("{doc_path}/title/function"),
        &json!({"operation": "$push", "value": 1}),
    )
    .await
    .expect_error(400, "not an array");
    c.post(
        &format!("{doc_path}/empty/function"),
        &json!({"operation": "$shift"}),
    )
    .await
    .expect(400);

    // PUT replaces the whole document.
    c.put(&doc_path, &json!({"replaced": true}))
        .await
        .expect(200);
    assert_eq!(
        c.get(&format!("{doc_path}?raw=true")).await.expect(200),
        &json!({"replaced": true})
    );

    // The shredded rows, read with the Python driver: one row per leaf, Stargate's layout.
    let rows = run_python(&format!(
        "import os\nfrom cassandra.cluster import Cluster\n\
         s = Cluster([os.environ['NODE']]).connect('gw_docs')\n\
         for r in s.execute(\"SELECT p0, p1, p2, leaf, text_value, dbl_value, bool_value FROM library WHERE key = '{id}'\"):\n\
         \x20   print(repr((r.p0, r.p1, r.p2, r.leaf, r.text_value, r.dbl_value, r.bool_value)))"
    ));
    assert_eq!(
        rows.trim(),
        "('replaced', '', '', 'replaced', None, None, True)"
    );
    c.put(&format!("{base}/nested"), &json!({"a": {"b": [10, "x"]}}))
        .await
        .expect(200);
    let rows = run_python(
        "import os\nfrom cassandra.cluster import Cluster\n\
         s = Cluster([os.environ['NODE']]).connect('gw_docs')\n\
         for r in s.execute(\"SELECT p0, p1, p2, p3, leaf, text_value, dbl_value, bool_value FROM library WHERE key = 'nested'\"):\n\
         \x20   print(repr((r.p0, r.p1, r.p2, r.p3, r.leaf, r.text_value, r.dbl_value, r.bool_value)))",
    );
    assert_eq!(
        rows.trim(),
        "('a', 'b', '[000000]', '', '[000000]', None, 10.0, None)\n\
         ('a', 'b', '[000001]', '', '[000001]', 'x', None, None)"
    );

    // Bad documents: 400.
    for body in [
        "",
        "{bad json",
        "\"just a string\"",
        "{}",
        "[]",
        "{\"a.b\": 1}",
        "{\"\": 1}",
    ] {
        c.post_text(base, body).await.expect(400);
    }
    let deep = (0..70).fold(json!(1), |v, _| json!({"d": v}));
    c.post(base, &deep).await.expect_error(400, "deeper");

    // DELETE the whole document.
    assert_eq!(c.delete(&doc_path).await.status.as_u16(), 204);
    c.get(&doc_path).await.expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_push_down_combine_and_page() {
    let gw = Gateway::start(&[]);
    let c = admin(&gw).await;
    fresh_namespace(&c, "gw_search").await;
    let base = "/v2/namespaces/gw_search/collections/items";

    // 1,000 documents in ten batches of 100, ids from the documents themselves.
    for b in 0..10 {
        let docs: Vec<Value> = (0..100)
            .map(|i| {
                let n = b * 100 + i;
                json!({
                    "id": format!("doc{n:04}"),
                    "n": n,
                    "group": n % 5,
                    "name": format!("item {n}"),
                    "even": n % 2 == 0,
                    "meta": {"score": (n % 10) as f64 / 2.0, "tags": [format!("t{}", n % 3)]}
                })
            })
            .collect();
        let answer = c
            .post(&format!("{base}/batch?id-path=id"), &Value::Array(docs))
            .await;
        let ids = answer.expect(202)["documentIds"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(ids.len(), 100);
        assert_eq!(ids[0], format!("doc{:04}", b * 100));
    }
    c.get(&format!("{base}/doc0042/n?raw=true"))
        .await
        .expect(200);

    let search = |filter: Value, extra: &str| {
        format!(
            "{base}?where={}&page-size=20&profile=true{extra}",
            url_encode(&filter.to_string())
        )
    };
    let ids_of = |body: &Value| -> BTreeSet<u64> {
        body["data"]
            .as_object()
            .unwrap()
            .values()
            .map(|d| d["n"].as_u64().unwrap())
            .collect()
    };
    let cases: Vec<(Value, BTreeSet<u64>, bool)> = vec![
        (json!({"n": {"$eq": 500}}), BTreeSet::from([500]), true),
        (
            json!({"name": {"$eq": "item 7"}}),
            BTreeSet::from([7]),
            true,
        ),
        (json!({"n": {"$gte": 995}}), (995..1000).collect(), true),
        (json!({"n": {"$lt": 3}}), (0..3).collect(), true),
        (
            json!({"n": {"$gt": 10, "$lte": 13}}),
            (11..=13).collect(),
            true,
        ),
        (
            json!({"meta.tags.[0]": {"$eq": "t2"}, "n": {"$lt": 10}}),
            BTreeSet::from([2, 5, 8]),
            true,
        ),
        (
            json!({"even": {"$eq": false}, "n": {"$lt": 6}}),
            BTreeSet::from([1, 3, 5]),
            true,
        ),
        (
            json!({"n": {"$in": [4, 400, 4000]}}),
            BTreeSet::from([4, 400]),
            false,
        ),
        (
            json!({"n": {"$lt": 8}, "group": {"$nin": [0, 1, 2]}}),
            BTreeSet::from([3, 4]),
            true,
        ),
        (
            json!({"n": {"$lt": 4}, "name": {"$ne": "item 2"}}),
            BTreeSet::from([0, 1, 3]),
            true,
        ),
        (
            json!({"n": {"$lt": 3}, "meta.missing": {"$exists": false}}),
            (0..3).collect(),
            true,
        ),
        (
            json!({"meta.score": {"$exists": true}, "n": {"$gte": 998}}),
            BTreeSet::from([998, 999]),
            true,
        ),
        (
            json!({"$or": [{"n": {"$eq": 1}}, {"n": {"$eq": 999}}]}),
            BTreeSet::from([1, 999]),
            false,
        ),
        (
            json!({"n": {"$lt": 20}, "$and": [{"group": {"$eq": 0}}, {"even": {"$eq": true}}]}),
            BTreeSet::from([0, 10]),
            true,
        ),
        (
            json!({"n": {"$lt": 5}, "$not": {"group": {"$gte": 2}}}),
            BTreeSet::from([0, 1]),
            true,
        ),
    ];
    for (filter, expected, pushed) in cases {
        let answer = c.get(&search(filter.clone(), "")).await;
        let body = answer.expect(200);
        assert_eq!(ids_of(body), expected, "{filter}");
        assert_eq!(
            body["profile"]["pushedDown"].is_string(),
            pushed,
            "{filter}: {}",
            body["profile"]
        );
        // An indexed search reads its candidates, not the collection: for a condition on
        // `n` that is the matches alone.
        let read = body["profile"]["documentsRead"].as_u64().unwrap();
        if pushed && filter.get("n").is_some() && filter.as_object().unwrap().len() == 1 {
            assert_eq!(
                read,
                expected.len() as u64,
                "{filter}: read {read} documents"
            );
        }
    }
    // Not pushed down: answered right all the same, reading the collection.
    let scan = c.get(&search(json!({"name": {"$ne": "item 1"}}), "")).await;
    assert_eq!(scan.expect(200)["data"].as_object().unwrap().len(), 20);

    // 200 matches, 20 a page, each once; a page holds at most 20.
    let mut seen = BTreeSet::new();
    let mut state: Option<String> = None;
    let mut pages = 0;
    loop {
        let extra = state
            .as_ref()
            .map(|s| format!("&page-state={}", url_encode(s)))
            .unwrap_or_default();
        let answer = c.get(&search(json!({"group": {"$eq": 3}}), &extra)).await;
        let body = answer.expect(200);
        let data = body["data"].as_object().unwrap();
        assert!(data.len() <= 20);
        for (id, doc) in data {
            assert_eq!(doc["group"], 3);
            assert_eq!(id, doc["id"].as_str().unwrap());
            assert!(seen.insert(doc["n"].as_u64().unwrap()), "{id} twice");
        }
        assert!(body["profile"]["documentsRead"].as_u64().unwrap() <= 40);
        pages += 1;
        assert!(pages <= 12, "paging does not end");
        match body.get("pageState").and_then(Value::as_str) {
            Some(s) => state = Some(s.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        (0..1000).filter(|n| n % 5 == 3).collect::<BTreeSet<_>>()
    );

    // Without a filter: every document, three a page by default.
    let first = c.get(base).await;
    assert_eq!(first.expect(200)["data"].as_object().unwrap().len(), 3);
    assert!(first.body["pageState"].is_string());
    // fields, and the limits of page-size.
    let projected = c
        .get(&format!(
            "{}&fields={}",
            search(json!({"n": {"$eq": 7}}), ""),
            url_encode("[\"name\", \"meta.score\"]")
        ))
        .await;
    assert_eq!(
        projected.expect(200)["data"]["doc0007"],
        json!({"meta": {"score": 3.5}, "name": "item 7"})
    );
    c.get(&format!("{base}?page-size=21"))
        .await
        .expect_error(400, "page-size");
    for (filter, part) in [
        ("{\"n\": {\"$regex\": 1}}", "not supported"),
        ("{\"n\": 5}", "object of operators"),
        ("{\"n\": {\"$in\": 5}}", "array"),
        ("{\"$or\": {}}", "array"),
        ("[1]", "JSON object"),
        ("{bad", "JSON"),
    ] {
        c.get(&format!("{base}?where={}", url_encode(filter)))
            .await
            .expect_error(400, part);
    }
    c.get(&format!("{base}?page-state=bm90IGpzb24="))
        .await
        .expect_error(400, "page-state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_over_10000_documents_reads_only_what_it_answers() {
    let gw = Gateway::start(&[]);
    let c = admin(&gw).await;
    fresh_namespace(&c, "gw_search10k").await;
    let base = "/v2/namespaces/gw_search10k/collections/many";
    let batches = (0..100).map(|b| {
        let c = &c;
        async move {
            let docs: Vec<Value> = (0..100)
                .map(|i| json!({"n": b * 100 + i, "odd": (b * 100 + i) % 2 == 1}))
                .collect();
            c.post(&format!("{base}/batch"), &Value::Array(docs))
                .await
                .expect(202);
        }
    });
    futures::stream::iter(batches)
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;

    let search = |filter: Value| {
        format!(
            "{base}?where={}&page-size=20&profile=true",
            url_encode(&filter.to_string())
        )
    };
    // An equality and a range on an indexed path: the answer, having read only the matches.
    for (filter, expected) in [
        (json!({"n": {"$eq": 4321}}), vec![4321]),
        (
            json!({"n": {"$gte": 9990}}),
            (9990..10000).collect::<Vec<u64>>(),
        ),
    ] {
        let answer = c.get(&search(filter.clone())).await;
        let body = answer.expect(200);
        let mut got: Vec<u64> = body["data"]
            .as_object()
            .unwrap()
            .values()
            .map(|d| d["n"].as_u64().unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, expected, "{filter}");
        assert_eq!(
            body["profile"]["documentsRead"].as_u64(),
            Some(expected.len() as u64),
            "{filter}: {}",
            body["profile"]
        );
    }
    // A first page of 20 of 5,000 matches reads 20 documents, not 10,000.
    let answer = c.get(&search(json!({"odd": {"$eq": true}}))).await;
    let body = answer.expect(200);
    assert_eq!(body["data"].as_object().unwrap().len(), 20);
    assert_eq!(body["profile"]["documentsRead"].as_u64(), Some(20));
    assert!(body["pageState"].is_string());
    assert_eq!(
        c.delete("/v2/schemas/namespaces/gw_search10k")
            .await
            .status
            .as_u16(),
        204
    );
}

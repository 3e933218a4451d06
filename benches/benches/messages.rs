//! Message-layer benchmarks, one function per criterion group:
//!
//! - `rows_decode`: a RESULT Rows body of 100 rows × 5 columns (int, text, bigint, double,
//!   blob) read (a) lazily, every cell as raw bytes, and (b) typed, every cell decoded into a
//!   `CqlValue`; `scylla-cql` 1.x deserializes the same bytes as the baseline (its metadata is
//!   parsed once outside the timing, as ours is by the message layer).
//! - `execute_passthrough`: a 1 KiB v4 EXECUTE body read by the message layer's fast path
//!   (prepared id, consistency, first value), with an in-place consistency rewrite, and fully
//!   decoded and re-encoded; `scylla-cql`'s `ExecuteV2` request deserializer and serializer
//!   are the baseline.
//!
//! Run short: `cargo bench -p ringgate-benches --bench messages -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_main};
use ringgate_protocol::ProtocolVersion;
use ringgate_protocol::primitives::RawValue;
use ringgate_protocol::types::{ColumnType, CqlValue, encode_cell, rows};

/// Rows and columns of the Rows body.
const ROWS: usize = 100;
const COLUMNS: usize = 5;

/// Deterministic pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The column types, in order, with their `[option]` ids.
fn column_types() -> [(ColumnType, u16, &'static str); COLUMNS] {
    [
        (ColumnType::Int, 0x0009, "id"),
        (ColumnType::Varchar, 0x000D, "name"),
        (ColumnType::Bigint, 0x0002, "updated_at"),
        (ColumnType::Double, 0x0007, "score"),
        (ColumnType::Blob, 0x0003, "payload"),
    ]
}

/// A RESULT Rows body (kind, metadata with a global table spec, rows count, rows) and the
/// offset of its `<rows_content>`. Texts are 20-40 characters, blobs 48-96 bytes.
fn rows_body() -> (Bytes, usize) {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut body = BytesMut::new();
    body.put_i32(0x0002); // kind: Rows
    body.put_i32(0x0001); // flags: Global_tables_spec
    body.put_i32(COLUMNS as i32);
    for s in ["bench", "events"] {
        body.put_u16(s.len() as u16);
        body.put_slice(s.as_bytes());
    }
    for (_, id, name) in column_types() {
        body.put_u16(name.len() as u16);
        body.put_slice(name.as_bytes());
        body.put_u16(id);
    }
    body.put_i32(ROWS as i32);
    let content_at = body.len();
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
    ];
    let types = column_types();
    for _ in 0..ROWS {
        let mut name = String::new();
        while name.len() < 20 + (rng.next() % 20) as usize {
            name.push_str(words[(rng.next() % 7) as usize]);
            name.push(' ');
        }
        let blob: Vec<u8> = (0..48 + rng.next() % 48)
            .map(|_| rng.next() as u8)
            .collect();
        let values = [
            CqlValue::Int(rng.next() as i32),
            CqlValue::Text(name),
            CqlValue::Bigint(rng.next() as i64),
            CqlValue::Double((rng.next() % 10_000) as f64 / 7.0),
            CqlValue::Blob(blob),
        ];
        for ((t, _, _), v) in types.iter().zip(&values) {
            encode_cell(t, Some(v), &mut body).expect("bench values fit their types");
        }
    }
    (body.freeze(), content_at)
}

fn rows_decode(c: &mut Criterion) {
    use scylla_cql::deserialize::row::ColumnIterator;
    use scylla_cql::frame::protocol_features::ProtocolFeatures;
    use scylla_cql::frame::response::result::{self, Result as ScyllaResult};

    let (body, content_at) = rows_body();
    let content = &body[content_at..];
    let types: Vec<ColumnType> = column_types().into_iter().map(|(t, _, _)| t).collect();
    let version = ProtocolVersion::V4;

    // The baseline parses the same body; its metadata is parsed here, once.
    let parsed =
        result::deserialize_with_features(body.clone(), None, &ProtocolFeatures::default())
            .expect("scylla-cql parses the body");
    let ScyllaResult::Rows((raw, _paging)) = parsed else {
        panic!("not a Rows result");
    };
    let scylla = raw
        .deserialize_metadata()
        .expect("scylla-cql parses the metadata");
    assert_eq!(scylla.rows_count(), ROWS);

    let mut group = c.benchmark_group("rows_decode");
    group.throughput(Throughput::Elements((ROWS * COLUMNS) as u64));

    group.bench_function("ringgate/raw_cells", |b| {
        b.iter(|| {
            let mut present = 0usize;
            for row in rows(black_box(content), ROWS, COLUMNS).expect("counts fit") {
                for cell in row.expect("well-formed row").cells() {
                    present += usize::from(black_box(cell) != RawValue::Null);
                }
            }
            present
        })
    });
    group.bench_function("scylla-cql/raw_cells", |b| {
        b.iter(|| {
            let mut present = 0usize;
            for row in black_box(&scylla)
                .rows_iter::<ColumnIterator>()
                .expect("type check")
            {
                for cell in row.expect("well-formed row") {
                    present +=
                        usize::from(black_box(cell.expect("well-formed cell").slice).is_some());
                }
            }
            present
        })
    });

    group.bench_function("ringgate/cql_values", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(ROWS);
            for row in rows(black_box(content), ROWS, COLUMNS).expect("counts fit") {
                let row = row.expect("well-formed row");
                out.push(row.decode_all(&types, version).expect("cells decode"));
            }
            out
        })
    });
    group.bench_function("scylla-cql/cql_values", |b| {
        b.iter(|| {
            black_box(&scylla)
                .rows_iter::<scylla_cql::value::Row>()
                .expect("type check")
                .collect::<Result<Vec<_>, _>>()
                .expect("rows decode")
        })
    });

    // Typed into Rust values, borrowing text and blobs where the API allows.
    group.bench_function("ringgate/typed_tuple", |b| {
        b.iter(|| {
            let mut sum = 0i64;
            for row in rows(black_box(content), ROWS, COLUMNS).expect("counts fit") {
                let row = row.expect("well-formed row");
                let id: i32 = row.get_as(0, &types[0], version).expect("int");
                let name: &str = row.get_as(1, &types[1], version).expect("text");
                let at: i64 = row.get_as(2, &types[2], version).expect("bigint");
                let score: f64 = row.get_as(3, &types[3], version).expect("double");
                let blob: &[u8] = row.get_as(4, &types[4], version).expect("blob");
                sum += i64::from(id) + name.len() as i64 + at + score as i64 + blob.len() as i64;
            }
            sum
        })
    });
    group.bench_function("scylla-cql/typed_tuple", |b| {
        b.iter(|| {
            let mut sum = 0i64;
            for row in black_box(&scylla)
                .rows_iter::<(i32, &str, i64, f64, &[u8])>()
                .expect("type check")
            {
                let (id, name, at, score, blob) = row.expect("row decodes");
                sum += i64::from(id) + name.len() as i64 + at + score as i64 + blob.len() as i64;
            }
            sum
        })
    });
    group.finish();
}

/// A v4 EXECUTE body of about 1 KiB: a 16-byte prepared id, LOCAL_QUORUM, page size and
/// timestamp, and 10 blob values of 96 bytes.
fn execute_body() -> Bytes {
    use ringgate_protocol::message::{Consistency, Execute, QueryParameters, Value};
    let values = (0..10u8)
        .map(|i| Value::from(vec![i; 96]))
        .collect::<Vec<_>>();
    let exec = Execute {
        id: Bytes::from_static(&[0x5A; 16]),
        result_metadata_id: None,
        params: QueryParameters::new(Consistency::LocalQuorum)
            .with_values(values)
            .with_page_size(5000)
            .with_timestamp(1_700_000_000_000_000),
    };
    let mut body = BytesMut::new();
    exec.encode(ProtocolVersion::V4, &mut body)
        .expect("the bench EXECUTE encodes");
    body.freeze()
}

/// `execute_passthrough`: what a coordinator does with an EXECUTE it forwards. (a) the fast
/// path reads the prepared id, the consistency and the first bound value without decoding the
/// rest; (b) the same plus an in-place consistency rewrite; (c) a full decode and re-encode.
/// The baseline is scylla-cql's `ExecuteV2` request deserializer (meant for tests and proxies;
/// it copies the values into its own buffer) followed by its serializer, on the same v4 body.
fn execute_passthrough(c: &mut Criterion) {
    use ringgate_protocol::Opcode;
    use ringgate_protocol::message::{Consistency, Request, peek};
    use scylla_cql::frame::protocol_features::ProtocolFeatures;
    use scylla_cql::frame::request::execute::ExecuteV2;
    use scylla_cql::frame::request::{DeserializableRequest, SerializableRequest};

    let body = execute_body();
    let version = ProtocolVersion::V4;
    let mut group = c.benchmark_group("execute_passthrough");
    group.throughput(Throughput::Bytes(body.len() as u64));

    group.bench_function("ringgate/fast_path", |b| {
        b.iter(|| {
            let view = peek::execute(black_box(&body), version).expect("valid EXECUTE");
            let first = view.values().next().expect("a value").expect("valid value");
            (view.id.len(), view.consistency, first)
        })
    });

    let mut rewritable = BytesMut::from(&body[..]);
    group.bench_function("ringgate/fast_path_and_rewrite", |b| {
        b.iter(|| {
            let view = peek::execute(black_box(&rewritable), version).expect("valid EXECUTE");
            let at = view.consistency_offset;
            peek::set_consistency(&mut rewritable, at, black_box(Consistency::LocalQuorum))
                .expect("a consistency is there")
        })
    });

    let mut out = BytesMut::with_capacity(2 * body.len());
    group.bench_function("ringgate/decode_encode", |b| {
        b.iter(|| {
            let req =
                Request::decode(Opcode::Execute, black_box(&body), version).expect("valid EXECUTE");
            out.clear();
            req.encode(version, &mut out).expect("encodes");
            out.len()
        })
    });

    let features = ProtocolFeatures::default();
    let mut scylla_out = Vec::with_capacity(2 * body.len());
    group.bench_function("scylla-cql/deserialize_serialize", |b| {
        b.iter(|| {
            let mut input: &[u8] = black_box(&body);
            let req = ExecuteV2::deserialize_with_features(&mut input, &features)
                .expect("scylla-cql parses the body");
            scylla_out.clear();
            req.serialize(&mut scylla_out).expect("serializes");
            scylla_out.len()
        })
    });
    group.finish();
}

// Further groups (e.g. the message layer's EXECUTE passthrough) go above this line as their own
// `fn name(c: &mut Criterion)` and are added to the list below.

// criterion_group! defines an undocumented `pub fn`; keep it in a module of its own.
#[allow(missing_docs, unreachable_pub)]
mod group {
    criterion::criterion_group!(benches, super::rows_decode, super::execute_passthrough);
}
criterion_main!(group::benches);

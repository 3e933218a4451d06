//! The fast paths agree with the full decoder: ids, consistency and every bound value read
//! lazily are what `Request::decode` finds, and rewriting the consistency in place changes
//! exactly that field. Random bytes never make them panic.

mod message_strategies;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use ringgate_protocol::message::peek::{self, StatementRef};
use ringgate_protocol::message::rewrite::{self, RewriteError};
use ringgate_protocol::message::{BatchQuery, Consistency, Request, Value, Values};
use ringgate_protocol::primitives::RawValue;
use ringgate_protocol::{Opcode, ProtocolVersion};

use message_strategies::{request, version};

fn expected_values(values: &Values) -> Vec<(Option<String>, Value)> {
    match values {
        Values::Positional(vs) => vs.iter().map(|v| (None, v.clone())).collect(),
        Values::Named(vs) => vs
            .iter()
            .map(|(n, v)| (Some(n.clone()), v.clone()))
            .collect(),
    }
}

fn owned(raw: RawValue<'_>) -> Value {
    match raw {
        RawValue::Bytes(b) => Value::Bytes(Bytes::copy_from_slice(b)),
        RawValue::Null => Value::Null,
        RawValue::Unset => Value::Unset,
    }
}

fn collect(values: peek::ValuesView<'_>) -> Result<Vec<(Option<String>, Value)>, TestCaseError> {
    values
        .map(|r| {
            r.map(|(n, v)| (n.map(str::to_owned), owned(v)))
                .map_err(|e| TestCaseError::fail(e.to_string()))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn fast_paths_agree_with_full_decode(
        (v, req) in version().prop_flat_map(|v| (Just(v), request(v))),
        new_level in prop::sample::select(Consistency::ALL.to_vec()),
    ) {
        let mut buf = BytesMut::new();
        req.encode(v, &mut buf).unwrap();
        let op = req.opcode();
        match &req {
            Request::Execute(e) => {
                let view = peek::execute(&buf, v).unwrap();
                prop_assert_eq!(view.id, &e.id[..]);
                prop_assert_eq!(view.result_metadata_id, e.result_metadata_id.as_deref());
                prop_assert_eq!(view.consistency, e.params.consistency);
                prop_assert_eq!(view.flags, e.params.flags());
                prop_assert_eq!(collect(view.values())?, expected_values(&e.params.values));
            }
            Request::Query(q) => {
                let view = peek::query(&buf, v).unwrap();
                prop_assert_eq!(view.query, q.query.as_str());
                prop_assert_eq!(view.consistency, q.params.consistency);
                prop_assert_eq!(collect(view.values())?, expected_values(&q.params.values));
            }
            Request::Batch(b) => {
                let view = peek::batch(&buf, v).unwrap();
                prop_assert_eq!(view.batch_type, b.batch_type);
                let statements: Vec<_> = view.statements().collect::<Result<_, _>>().unwrap();
                prop_assert_eq!(statements.len(), b.statements.len());
                for (got, want) in statements.iter().zip(&b.statements) {
                    match (&got.statement, &want.query) {
                        (StatementRef::Query(g), BatchQuery::Query(w)) => prop_assert_eq!(*g, w.as_str()),
                        (StatementRef::Prepared(g), BatchQuery::Prepared(w)) => prop_assert_eq!(*g, &w[..]),
                        (g, w) => prop_assert!(false, "{:?} vs {:?}", g, w),
                    }
                    let want: Vec<_> = want.values.iter().map(|v| (None, v.clone())).collect();
                    prop_assert_eq!(collect(got.values.clone())?, want);
                }
                prop_assert_eq!(view.consistency().unwrap().0, b.consistency);
            }
            _ => return Ok(()),
        }

        // Rewrite the consistency in place; the full decode sees only that change.
        let at = peek::consistency_offset(op, &buf, v).unwrap();
        let mut body = buf.to_vec();
        let old = peek::set_consistency(&mut body, at, new_level).unwrap();
        let got = Request::decode(op, &Bytes::from(body), v).unwrap();
        let mut want = req.clone();
        match &mut want {
            Request::Execute(e) => {
                prop_assert_eq!(old, e.params.consistency);
                e.params.consistency = new_level;
            }
            Request::Query(q) => {
                prop_assert_eq!(old, q.params.consistency);
                q.params.consistency = new_level;
            }
            Request::Batch(b) => {
                prop_assert_eq!(old, b.consistency);
                b.consistency = new_level;
            }
            _ => {}
        }
        prop_assert_eq!(got, want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn keyspace_rewrite_changes_only_the_keyspace(
        (v, req) in version().prop_flat_map(|v| (Just(v), request(v))),
        new_keyspace in prop::option::of("[a-z_]{0,12}"),
    ) {
        let op = req.opcode();
        if !matches!(op, Opcode::Query | Opcode::Execute | Opcode::Batch) {
            return Ok(());
        }
        let mut buf = BytesMut::new();
        req.encode(v, &mut buf).unwrap();
        let rewritten = rewrite::with_keyspace(op, &buf, v, new_keyspace.as_deref());
        if v < ProtocolVersion::V5 {
            prop_assert!(matches!(rewritten, Err(RewriteError::Unsupported(_))));
            return Ok(());
        }
        let old = match &req {
            Request::Query(q) => q.params.keyspace.clone(),
            Request::Execute(e) => e.params.keyspace.clone(),
            Request::Batch(b) => b.keyspace.clone(),
            _ => unreachable!(),
        };
        prop_assert_eq!(rewrite::keyspace(op, &buf, v).unwrap(), old.as_deref());
        let body = rewritten.unwrap().freeze();
        prop_assert_eq!(rewrite::keyspace(op, &body, v).unwrap(), new_keyspace.as_deref());
        let mut want = req.clone();
        match &mut want {
            Request::Query(q) => q.params.keyspace = new_keyspace.clone(),
            Request::Execute(e) => e.params.keyspace = new_keyspace.clone(),
            Request::Batch(b) => b.keyspace = new_keyspace.clone(),
            _ => unreachable!(),
        }
        prop_assert_eq!(Request::decode(op, &body, v).unwrap(), want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn fast_paths_never_panic(
        v in version(),
        data in prop::collection::vec(any::<u8>(), 0..80),
        offset in 0usize..100,
    ) {
        if let Ok(view) = peek::execute(&data, v) {
            view.values().for_each(drop);
        }
        if let Ok(view) = peek::query(&data, v) {
            view.values().for_each(drop);
        }
        if let Ok(view) = peek::batch(&data, v) {
            for s in view.statements().flatten() {
                s.values.for_each(drop);
            }
            let _ = view.consistency();
        }
        for op in [Opcode::Execute, Opcode::Query, Opcode::Batch, Opcode::Startup] {
            let _ = peek::consistency_offset(op, &data, v);
            let _ = rewrite::keyspace(op, &data, v);
            let _ = rewrite::with_keyspace(op, &data, v, Some("ks"));
        }
        let mut body = data.clone();
        if peek::set_consistency(&mut body, offset, Consistency::All).is_err() {
            prop_assert_eq!(body, data);
        }
    }
}

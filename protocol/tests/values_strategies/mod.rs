//! Proptest strategies for CQL types and values of those types, shared by the value tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use ringgate_protocol::types::{
    ColumnType, CqlDate, CqlDecimal, CqlDuration, CqlTime, CqlTimestamp, CqlValue, CqlVarint,
    UdtType,
};

/// Scalar types, every one.
pub(crate) fn scalar_type() -> impl Strategy<Value = ColumnType> {
    prop_oneof![
        Just(ColumnType::Custom("com.example.Thing".into())),
        Just(ColumnType::Ascii),
        Just(ColumnType::Bigint),
        Just(ColumnType::Blob),
        Just(ColumnType::Boolean),
        Just(ColumnType::Counter),
        Just(ColumnType::Decimal),
        Just(ColumnType::Double),
        Just(ColumnType::Float),
        Just(ColumnType::Int),
        Just(ColumnType::Timestamp),
        Just(ColumnType::Uuid),
        Just(ColumnType::Varchar),
        Just(ColumnType::Varint),
        Just(ColumnType::Timeuuid),
        Just(ColumnType::Inet),
        Just(ColumnType::Date),
        Just(ColumnType::Time),
        Just(ColumnType::Smallint),
        Just(ColumnType::Tinyint),
        Just(ColumnType::Duration),
    ]
}

/// Any type, collections, tuples, UDTs and vectors nested a few levels.
pub(crate) fn any_type() -> impl Strategy<Value = ColumnType> {
    scalar_type().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| ColumnType::List(Box::new(e))),
            inner.clone().prop_map(|e| ColumnType::Set(Box::new(e))),
            (inner.clone(), inner.clone())
                .prop_map(|(k, v)| ColumnType::Map(Box::new(k), Box::new(v))),
            prop::collection::vec(inner.clone(), 1..4).prop_map(ColumnType::Tuple),
            (
                "[a-z_]{1,6}",
                "[a-z ]{1,6}",
                prop::collection::vec(("[a-zA-Z0-9 ]{1,6}", inner.clone()), 1..4)
            )
                .prop_map(|(keyspace, name, fields)| ColumnType::Udt(UdtType {
                    keyspace,
                    name,
                    fields,
                })),
            (inner, 1u32..5).prop_map(|(e, dimension)| ColumnType::Vector {
                element: Box::new(e),
                dimension,
            }),
        ]
    })
}

fn varint() -> impl Strategy<Value = CqlVarint> {
    prop::collection::vec(any::<u8>(), 1..40)
        .prop_map(|b| CqlVarint::from_signed_bytes(&b).expect("non-empty"))
}

fn float() -> impl Strategy<Value = f32> {
    any::<f32>().prop_filter("NaN never equals itself", |f| !f.is_nan())
}

fn double() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("NaN never equals itself", |f| !f.is_nan())
}

fn duration() -> impl Strategy<Value = CqlDuration> {
    (any::<bool>(), 0..=i32::MAX, 0..=i32::MAX, 0..=i64::MAX).prop_map(|(neg, m, d, n)| {
        let s = if neg { -1 } else { 1 };
        CqlDuration::new(m * s, d * s, n * i64::from(s)).expect("same signs")
    })
}

fn inet() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ]
}

/// A value of type `t`. `Empty` appears where the type allows it and `allow_empty` is set
/// (not for elements of fixed-width vectors).
pub(crate) fn value_of(t: &ColumnType, allow_empty: bool) -> BoxedStrategy<CqlValue> {
    let v = value_of_non_empty(t);
    let can_be_empty = allow_empty
        && !matches!(
            t,
            ColumnType::Ascii | ColumnType::Varchar | ColumnType::Blob | ColumnType::Custom(_)
        );
    if can_be_empty {
        prop_oneof![1 => Just(CqlValue::Empty), 9 => v].boxed()
    } else {
        v
    }
}

fn value_of_non_empty(t: &ColumnType) -> BoxedStrategy<CqlValue> {
    match t {
        ColumnType::Custom(_) => any::<Vec<u8>>().prop_map(CqlValue::Custom).boxed(),
        ColumnType::Ascii => "[\\x00-\\x7F]{0,16}".prop_map(CqlValue::Ascii).boxed(),
        ColumnType::Varchar => any::<String>().prop_map(CqlValue::Text).boxed(),
        ColumnType::Blob => any::<Vec<u8>>().prop_map(CqlValue::Blob).boxed(),
        ColumnType::Bigint => any::<i64>().prop_map(CqlValue::Bigint).boxed(),
        ColumnType::Counter => any::<i64>().prop_map(CqlValue::Counter).boxed(),
        ColumnType::Boolean => any::<bool>().prop_map(CqlValue::Boolean).boxed(),
        ColumnType::Decimal => (varint(), any::<i32>())
            .prop_map(|(u, s)| CqlValue::Decimal(CqlDecimal::new(u, s)))
            .boxed(),
        ColumnType::Double => double().prop_map(CqlValue::Double).boxed(),
        ColumnType::Float => float().prop_map(CqlValue::Float).boxed(),
        ColumnType::Int => any::<i32>().prop_map(CqlValue::Int).boxed(),
        ColumnType::Timestamp => any::<i64>()
            .prop_map(|t| CqlValue::Timestamp(CqlTimestamp(t)))
            .boxed(),
        ColumnType::Uuid => any::<[u8; 16]>().prop_map(CqlValue::Uuid).boxed(),
        ColumnType::Timeuuid => any::<[u8; 16]>()
            .prop_map(|mut u| {
                u[6] = (u[6] & 0x0F) | 0x10;
                CqlValue::Timeuuid(u)
            })
            .boxed(),
        ColumnType::Varint => varint().prop_map(CqlValue::Varint).boxed(),
        ColumnType::Inet => inet().prop_map(CqlValue::Inet).boxed(),
        ColumnType::Date => any::<u32>()
            .prop_map(|d| CqlValue::Date(CqlDate(d)))
            .boxed(),
        ColumnType::Time => (0..=CqlTime::MAX_NANOS)
            .prop_map(|n| CqlValue::Time(CqlTime::from_nanos(n).expect("in range")))
            .boxed(),
        ColumnType::Smallint => any::<i16>().prop_map(CqlValue::Smallint).boxed(),
        ColumnType::Tinyint => any::<i8>().prop_map(CqlValue::Tinyint).boxed(),
        ColumnType::Duration => duration().prop_map(CqlValue::Duration).boxed(),
        ColumnType::List(e) => prop::collection::vec(value_of(e, true), 0..4)
            .prop_map(CqlValue::List)
            .boxed(),
        ColumnType::Set(e) => prop::collection::vec(value_of(e, true), 0..4)
            .prop_map(CqlValue::Set)
            .boxed(),
        ColumnType::Map(k, v) => {
            prop::collection::vec((value_of(k, true), value_of(v, true)), 0..4)
                .prop_map(CqlValue::Map)
                .boxed()
        }
        ColumnType::Tuple(types) => types
            .iter()
            .map(|t| prop::option::of(value_of(t, true)))
            .collect::<Vec<_>>()
            .prop_map(CqlValue::Tuple)
            .boxed(),
        ColumnType::Udt(udt) => {
            let names: Vec<String> = udt.fields.iter().map(|(n, _)| n.clone()).collect();
            udt.fields
                .iter()
                .map(|(_, t)| prop::option::of(value_of(t, true)))
                .collect::<Vec<_>>()
                .prop_map(move |values| CqlValue::Udt(names.iter().cloned().zip(values).collect()))
                .boxed()
        }
        ColumnType::Vector { element, dimension } => {
            let fixed = ringgate_protocol::types::fixed_width(element).is_some();
            prop::collection::vec(value_of(element, !fixed), *dimension as usize)
                .prop_map(CqlValue::Vector)
                .boxed()
        }
    }
}

/// A type and a value of it.
pub(crate) fn typed_value() -> impl Strategy<Value = (ColumnType, CqlValue)> {
    any_type().prop_flat_map(|t| {
        let v = value_of(&t, true);
        (Just(t), v)
    })
}

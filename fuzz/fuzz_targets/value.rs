//! CQL values: a type (an `[option]` parsed from the input, marshal class names included, or
//! one of a fixed set) and a value's bytes decoded with it. Whatever decodes must re-encode,
//! and the re-encoding must decode to the same value and encode to the same bytes; a parsed
//! type must survive `[option]` encode → parse.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ringgate_protocol::ProtocolVersion;
use ringgate_protocol::primitives::decode_prefix;
use ringgate_protocol::types::{
    ColumnType, column_type, decode_value, encode_value, put_column_type,
};

/// Types for inputs whose first byte asks for a fixed type rather than a parsed one.
fn fixed_type(selector: u8) -> ColumnType {
    let scalars = [
        ColumnType::Int,
        ColumnType::Varchar,
        ColumnType::Varint,
        ColumnType::Decimal,
        ColumnType::Duration,
        ColumnType::Inet,
        ColumnType::Time,
        ColumnType::Timeuuid,
    ];
    let scalar = scalars[usize::from(selector) % scalars.len()].clone();
    match (selector >> 3) % 6 {
        0 => scalar,
        1 => ColumnType::List(Box::new(scalar)),
        2 => ColumnType::Map(Box::new(ColumnType::Varchar), Box::new(scalar)),
        3 => ColumnType::Tuple(vec![scalar, ColumnType::Boolean]),
        4 => ColumnType::Vector {
            element: Box::new(scalar),
            dimension: 3,
        },
        _ => ColumnType::Vector {
            element: Box::new(ColumnType::Float),
            dimension: u32::from(selector >> 6) + 1,
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (t, value_bytes) = if selector & 1 == 1 {
        let Ok((value_bytes, t)) = decode_prefix(rest, column_type) else {
            return;
        };
        // The type survives [option] encode → parse (when its class name still fits a
        // [string]; marshal names grow when re-spelled in full).
        let mut buf = BytesMut::new();
        if put_column_type(&mut buf, &t).is_ok() {
            let (left, again) = decode_prefix(&buf, column_type).expect("re-encoded type parses");
            assert!(left.is_empty());
            assert_eq!(again, t);
        }
        (t, value_bytes)
    } else {
        (fixed_type(selector >> 1), rest)
    };

    let version = ProtocolVersion::V5;
    let Ok(value) = decode_value(&t, value_bytes, version) else {
        return;
    };
    let mut first = BytesMut::new();
    encode_value(&t, &value, &mut first).expect("a decoded value re-encodes");
    let again = decode_value(&t, &first, version).expect("a re-encoded value decodes");
    // Debug output compares floats bit for bit in effect (NaN prints as NaN).
    assert_eq!(format!("{again:?}"), format!("{value:?}"));
    let mut second = BytesMut::new();
    encode_value(&t, &again, &mut second).expect("encodes again");
    assert_eq!(first, second);
});

//! Golden bytes for values, checked by hand against the spec's section 5 ("Data Type
//! Serialization Formats") and Cassandra 5's vector layout, and the limits on hostile input.

use std::net::IpAddr;

use bytes::BytesMut;
use ringgate_protocol::ProtocolVersion;
use ringgate_protocol::primitives::{DecodeError, decode_all};
use ringgate_protocol::types::{
    ColumnType, CqlDate, CqlDecimal, CqlDuration, CqlTime, CqlValue, CqlVarint, MAX_TYPE_DEPTH,
    UdtType, column_type, decode_value, encode_value, put_column_type,
};

const V: ProtocolVersion = ProtocolVersion::V5;

fn enc(t: &ColumnType, v: &CqlValue) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_value(t, v, &mut buf).unwrap();
    buf.to_vec()
}

/// Encodes to exactly `bytes` and decodes back.
fn golden(t: &ColumnType, v: CqlValue, bytes: &[u8]) {
    assert_eq!(enc(t, &v), bytes, "{v:?}");
    assert_eq!(decode_value(t, bytes, V).unwrap(), v, "{bytes:02x?}");
}

fn list(t: ColumnType) -> ColumnType {
    ColumnType::List(Box::new(t))
}

#[test]
fn varint_spec_table() {
    for (n, bytes) in [
        (0i64, &[0x00u8][..]),
        (1, &[0x01]),
        (127, &[0x7F]),
        (128, &[0x00, 0x80]),
        (129, &[0x00, 0x81]),
        (-1, &[0xFF]),
        (-128, &[0x80]),
        (-129, &[0xFF, 0x7F]),
    ] {
        golden(&ColumnType::Varint, CqlValue::Varint(n.into()), bytes);
    }
    // Redundant sign bytes on the wire decode to the same number.
    assert_eq!(
        decode_value(&ColumnType::Varint, &[0x00, 0x00, 0x7F], V).unwrap(),
        CqlValue::Varint(127i64.into())
    );
}

#[test]
fn decimal_is_scale_then_varint() {
    // 123.45 = 12345 × 10^-2; 12345 = 0x3039.
    let d = CqlDecimal::new(CqlVarint::from(12345i64), 2);
    golden(
        &ColumnType::Decimal,
        CqlValue::Decimal(d),
        &[0, 0, 0, 2, 0x30, 0x39],
    );
    // -1E+3: scale -3, unscaled -1.
    let d = CqlDecimal::new(CqlVarint::from(-1i64), -3);
    golden(
        &ColumnType::Decimal,
        CqlValue::Decimal(d),
        &[0xFF, 0xFF, 0xFF, 0xFD, 0xFF],
    );
    // More precision than any float: 2^100 + 1 with scale 50.
    let mut unscaled = vec![0x10];
    unscaled.extend([0u8; 11]);
    unscaled.push(1);
    let mut bytes = vec![0, 0, 0, 50];
    bytes.extend(&unscaled);
    let d = CqlDecimal::new(CqlVarint::from_signed_bytes(&unscaled).unwrap(), 50);
    golden(&ColumnType::Decimal, CqlValue::Decimal(d), &bytes);
    assert!(decode_value(&ColumnType::Decimal, &[0, 0, 0, 1], V).is_err());
    assert!(decode_value(&ColumnType::Decimal, &[0, 0, 1], V).is_err());
}

#[test]
fn date_epoch_is_two_to_the_31() {
    golden(
        &ColumnType::Date,
        CqlValue::Date(CqlDate::from_days_since_epoch(0).unwrap()),
        &[0x80, 0, 0, 0],
    );
    golden(&ColumnType::Date, CqlValue::Date(CqlDate(0)), &[0, 0, 0, 0]);
}

#[test]
fn inet_v4_and_v6() {
    let v4: IpAddr = "127.0.0.1".parse().unwrap();
    golden(&ColumnType::Inet, CqlValue::Inet(v4), &[127, 0, 0, 1]);
    let v6: IpAddr = "::1".parse().unwrap();
    let mut bytes = [0u8; 16];
    bytes[15] = 1;
    golden(&ColumnType::Inet, CqlValue::Inet(v6), &bytes);
    assert!(decode_value(&ColumnType::Inet, &[1, 2, 3, 4, 5], V).is_err());
}

#[test]
fn fixed_width_scalars() {
    golden(
        &ColumnType::Int,
        CqlValue::Int(-2),
        &[0xFF, 0xFF, 0xFF, 0xFE],
    );
    golden(&ColumnType::Smallint, CqlValue::Smallint(0x0102), &[1, 2]);
    golden(&ColumnType::Tinyint, CqlValue::Tinyint(-128), &[0x80]);
    golden(
        &ColumnType::Bigint,
        CqlValue::Bigint(1),
        &[0, 0, 0, 0, 0, 0, 0, 1],
    );
    golden(
        &ColumnType::Float,
        CqlValue::Float(1.0),
        &[0x3F, 0x80, 0, 0],
    );
    golden(&ColumnType::Boolean, CqlValue::Boolean(true), &[1]);
    // Any non-zero byte is true.
    assert_eq!(
        decode_value(&ColumnType::Boolean, &[7], V).unwrap(),
        CqlValue::Boolean(true)
    );
    // Wrong widths are errors, not truncations or panics.
    assert!(decode_value(&ColumnType::Int, &[0, 0, 1], V).is_err());
    assert!(decode_value(&ColumnType::Bigint, &[0; 9], V).is_err());
    assert!(decode_value(&ColumnType::Uuid, &[0; 15], V).is_err());
}

#[test]
fn time_range_and_timeuuid_version() {
    let max = CqlTime::from_nanos(CqlTime::MAX_NANOS).unwrap();
    golden(
        &ColumnType::Time,
        CqlValue::Time(max),
        &86_399_999_999_999i64.to_be_bytes(),
    );
    assert!(decode_value(&ColumnType::Time, &86_400_000_000_000i64.to_be_bytes(), V).is_err());
    assert!(decode_value(&ColumnType::Time, &(-1i64).to_be_bytes(), V).is_err());
    let mut u = [0u8; 16];
    u[6] = 0x11; // version 1
    golden(&ColumnType::Timeuuid, CqlValue::Timeuuid(u), &u);
    u[6] = 0x41; // version 4
    assert!(decode_value(&ColumnType::Timeuuid, &u, V).is_err());
    assert!(
        encode_value(
            &ColumnType::Timeuuid,
            &CqlValue::Uuid(u),
            &mut BytesMut::new()
        )
        .is_err()
    );
}

#[test]
fn duration_is_three_zigzag_vints() {
    // 1 month, 2 days, 3 ns: zig-zag 2, 4, 6.
    let d = CqlDuration::new(1, 2, 3).unwrap();
    golden(&ColumnType::Duration, CqlValue::Duration(d), &[2, 4, 6]);
    let d = CqlDuration::new(0, -1, -1000).unwrap();
    // -1000 zig-zags to 1999 = 0x07CF: two bytes, 0x80 | 0x07, 0xCF.
    golden(
        &ColumnType::Duration,
        CqlValue::Duration(d),
        &[0, 1, 0x87, 0xCF],
    );
    // Mixed signs and months beyond an int are refused.
    assert!(decode_value(&ColumnType::Duration, &[2, 1, 0], V).is_err());
    let mut big = BytesMut::new();
    ringgate_protocol::primitives::put_vint(&mut big, i64::from(i32::MAX) + 1);
    big.extend_from_slice(&[0, 0]);
    assert!(decode_value(&ColumnType::Duration, &big, V).is_err());
}

#[test]
fn text_and_ascii() {
    golden(
        &ColumnType::Varchar,
        CqlValue::Text("hé".into()),
        "hé".as_bytes(),
    );
    golden(&ColumnType::Ascii, CqlValue::Ascii("hi".into()), b"hi");
    assert!(decode_value(&ColumnType::Ascii, "hé".as_bytes(), V).is_err());
    assert!(decode_value(&ColumnType::Varchar, &[0xFF], V).is_err());
    assert!(
        encode_value(
            &ColumnType::Ascii,
            &CqlValue::Text("é".into()),
            &mut BytesMut::new()
        )
        .is_err()
    );
}

#[test]
fn empty_values_are_not_null() {
    for t in [
        ColumnType::Int,
        ColumnType::Boolean,
        ColumnType::Varint,
        list(ColumnType::Int),
    ] {
        assert_eq!(decode_value(&t, &[], V).unwrap(), CqlValue::Empty, "{t:?}");
        assert_eq!(enc(&t, &CqlValue::Empty), b"");
    }
    assert_eq!(
        decode_value(&ColumnType::Varchar, &[], V).unwrap(),
        CqlValue::Text(String::new())
    );
    assert_eq!(
        decode_value(&ColumnType::Blob, &[], V).unwrap(),
        CqlValue::Blob(Vec::new())
    );
}

#[test]
fn collections_use_int_counts_and_bytes() {
    golden(
        &list(ColumnType::Int),
        CqlValue::List(vec![CqlValue::Int(1), CqlValue::Int(2)]),
        &[0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2],
    );
    let map = ColumnType::Map(Box::new(ColumnType::Varchar), Box::new(ColumnType::Tinyint));
    golden(
        &map,
        CqlValue::Map(vec![(CqlValue::Text("a".into()), CqlValue::Tinyint(5))]),
        &[0, 0, 0, 1, 0, 0, 0, 1, b'a', 0, 0, 0, 1, 5],
    );
    // Null elements are not allowed inside collections.
    let null_elem = [0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF];
    assert!(decode_value(&list(ColumnType::Int), &null_elem, V).is_err());
    // Trailing bytes after the last element are an error.
    let trailing = [0, 0, 0, 0, 9];
    assert_eq!(
        decode_value(&list(ColumnType::Int), &trailing, V),
        Err(DecodeError::TrailingBytes(1))
    );
    // A negative count is an error.
    assert!(decode_value(&list(ColumnType::Int), &[0xFF, 0xFF, 0xFF, 0xFE], V).is_err());
}

#[test]
fn hostile_counts_fail_without_allocating() {
    // 2^31-1 elements announced, none present: a quick error, no 16 GiB allocation.
    for t in [
        list(ColumnType::Int),
        ColumnType::Set(Box::new(ColumnType::Varchar)),
        ColumnType::Map(Box::new(ColumnType::Int), Box::new(ColumnType::Int)),
    ] {
        assert_eq!(
            decode_value(&t, &[0x7F, 0xFF, 0xFF, 0xFF], V),
            Err(DecodeError::Truncated)
        );
    }
    // A variable-width vector of 4 billion elements with 3 bytes present.
    let t = ColumnType::Vector {
        element: Box::new(ColumnType::Varchar),
        dimension: u32::MAX,
    };
    assert_eq!(
        decode_value(&t, &[1, b'a', 0], V),
        Err(DecodeError::Truncated)
    );
    let t = ColumnType::Vector {
        element: Box::new(ColumnType::Float),
        dimension: u32::MAX,
    };
    assert!(decode_value(&t, &[0; 8], V).is_err());
}

#[test]
fn nesting_depth_is_bounded() {
    // list<list<...<int>...>> deeper than MAX_TYPE_DEPTH, with matching bytes.
    let depth = MAX_TYPE_DEPTH + 2;
    let mut t = ColumnType::Int;
    let mut bytes = vec![0, 0, 0, 1];
    for _ in 0..depth {
        t = list(t);
        let mut outer = vec![0, 0, 0, 1];
        outer.extend((bytes.len() as i32).to_be_bytes());
        outer.extend(bytes);
        bytes = outer;
    }
    assert!(matches!(
        decode_value(&t, &bytes, V),
        Err(DecodeError::LimitExceeded { .. })
    ));
}

#[test]
fn tuples_allow_nulls_and_udts_allow_missing_fields() {
    let tuple = ColumnType::Tuple(vec![ColumnType::Int, ColumnType::Varchar]);
    golden(
        &tuple,
        CqlValue::Tuple(vec![None, Some(CqlValue::Text("x".into()))]),
        &[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1, b'x'],
    );
    let udt = ColumnType::Udt(UdtType {
        keyspace: "ks".into(),
        name: "u".into(),
        fields: vec![("a".into(), ColumnType::Int), ("b".into(), ColumnType::Int)],
    });
    // The spec allows fewer values than fields: only `a` on the wire, `b` is null.
    let v = decode_value(&udt, &[0, 0, 0, 4, 0, 0, 0, 9], V).unwrap();
    assert_eq!(
        v,
        CqlValue::Udt(vec![
            ("a".into(), Some(CqlValue::Int(9))),
            ("b".into(), None)
        ])
    );
    // Encoding writes every field, missing ones as null.
    let short = CqlValue::Udt(vec![("a".into(), Some(CqlValue::Int(9)))]);
    assert_eq!(
        enc(&udt, &short),
        [0, 0, 0, 4, 0, 0, 0, 9, 0xFF, 0xFF, 0xFF, 0xFF]
    );
    let misnamed = CqlValue::Udt(vec![("b".into(), None)]);
    assert!(encode_value(&udt, &misnamed, &mut BytesMut::new()).is_err());
    // More fields on the wire than declared is an error.
    assert!(decode_value(&udt, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], V).is_err());
}

#[test]
fn vectors_of_fixed_width_elements_have_no_length_prefixes() {
    let t = ColumnType::Vector {
        element: Box::new(ColumnType::Float),
        dimension: 3,
    };
    let v = CqlValue::Vector(vec![
        CqlValue::Float(1.0),
        CqlValue::Float(2.0),
        CqlValue::Float(3.0),
    ]);
    golden(&t, v, &[0x3F, 0x80, 0, 0, 0x40, 0, 0, 0, 0x40, 0x40, 0, 0]);
    assert!(decode_value(&t, &[0; 8], V).is_err(), "too few bytes");
    assert!(decode_value(&t, &[0; 16], V).is_err(), "too many bytes");
    let wrong_dim = CqlValue::Vector(vec![CqlValue::Float(1.0)]);
    assert!(encode_value(&t, &wrong_dim, &mut BytesMut::new()).is_err());
    let empty_elem = CqlValue::Vector(vec![
        CqlValue::Float(1.0),
        CqlValue::Empty,
        CqlValue::Float(1.0),
    ]);
    assert!(encode_value(&t, &empty_elem, &mut BytesMut::new()).is_err());
    // A vector of fixed-width vectors is itself fixed-width.
    let nested = ColumnType::Vector {
        element: Box::new(t),
        dimension: 2,
    };
    assert_eq!(
        decode_value(&nested, &[0; 24], V)
            .unwrap()
            .as_elements()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn vectors_of_variable_width_elements_prefix_an_unsigned_vint() {
    let t = ColumnType::Vector {
        element: Box::new(ColumnType::Varchar),
        dimension: 2,
    };
    let v = CqlValue::Vector(vec![
        CqlValue::Text("a".into()),
        CqlValue::Text("bc".into()),
    ]);
    golden(&t, v, &[1, b'a', 2, b'b', b'c']);
    // Cassandra treats smallint as variable-width in vectors.
    let t = ColumnType::Vector {
        element: Box::new(ColumnType::Smallint),
        dimension: 2,
    };
    golden(
        &t,
        CqlValue::Vector(vec![CqlValue::Smallint(1), CqlValue::Smallint(2)]),
        &[2, 0, 1, 2, 0, 2],
    );
    // A 200-byte element needs a two-byte vint: 0x80 | 0, 200.
    let t = ColumnType::Vector {
        element: Box::new(ColumnType::Blob),
        dimension: 1,
    };
    let mut bytes = vec![0x80, 200];
    bytes.extend([7u8; 200]);
    golden(
        &t,
        CqlValue::Vector(vec![CqlValue::Blob(vec![7; 200])]),
        &bytes,
    );
}

#[test]
fn vector_option_is_a_custom_class_name() {
    let class =
        "org.apache.cassandra.db.marshal.VectorType(org.apache.cassandra.db.marshal.FloatType , 3)";
    let mut option = vec![0, 0, 0, class.len() as u8];
    option.extend(class.as_bytes());
    let t = ColumnType::Vector {
        element: Box::new(ColumnType::Float),
        dimension: 3,
    };
    assert_eq!(decode_all(&option, column_type).unwrap(), t);
    let mut buf = BytesMut::new();
    put_column_type(&mut buf, &t).unwrap();
    assert_eq!(&buf[..], &option[..]);
    // Durations arrive as a custom type before v5.
    let class = "org.apache.cassandra.db.marshal.DurationType";
    let mut option = vec![0, 0, 0, class.len() as u8];
    option.extend(class.as_bytes());
    assert_eq!(
        decode_all(&option, column_type).unwrap(),
        ColumnType::Duration
    );
    // Unknown classes stay custom.
    let class = "com.example.Thing";
    let mut option = vec![0, 0, 0, class.len() as u8];
    option.extend(class.as_bytes());
    assert_eq!(
        decode_all(&option, column_type).unwrap(),
        ColumnType::Custom(class.into())
    );
}

#[test]
fn type_mismatches_are_encode_errors_and_leave_the_buffer() {
    let mut buf = BytesMut::from(&b"keep"[..]);
    let t = list(ColumnType::Int);
    let v = CqlValue::List(vec![CqlValue::Int(1), CqlValue::Text("x".into())]);
    assert!(encode_value(&t, &v, &mut buf).is_err());
    assert_eq!(&buf[..], b"keep");
    assert!(encode_value(&ColumnType::Int, &CqlValue::Bigint(1), &mut buf).is_err());
}

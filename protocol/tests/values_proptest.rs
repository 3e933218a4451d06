//! Property tests: every value of every type survives encode → decode; type descriptions
//! survive `[option]` encode → parse (vectors through their marshal class names); no bytes,
//! decoded as any type, make the decoder panic.

mod values_strategies;

use bytes::BytesMut;
use proptest::prelude::*;
use ringgate_protocol::ProtocolVersion;
use ringgate_protocol::primitives::{RawValue, decode_all};
use ringgate_protocol::types::{
    class_name, column_type, decode_cell, decode_value, encode_cell, encode_value, put_column_type,
    rows,
};
use values_strategies::{any_type, typed_value};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn encode_then_decode_is_identity((t, v) in typed_value()) {
        let mut buf = BytesMut::new();
        encode_value(&t, &v, &mut buf).unwrap();
        for version in ProtocolVersion::ALL {
            prop_assert_eq!(&decode_value(&t, &buf, version).unwrap(), &v);
        }
        // As a [bytes] cell too.
        let mut cell = BytesMut::new();
        encode_cell(&t, Some(&v), &mut cell).unwrap();
        let raw = decode_all(&cell, ringgate_protocol::primitives::value).unwrap();
        prop_assert_eq!(raw, RawValue::Bytes(&buf[..]));
        prop_assert_eq!(decode_cell(&t, raw, ProtocolVersion::V4).unwrap(), Some(v));
    }

    #[test]
    fn option_roundtrip(t in any_type()) {
        let mut buf = BytesMut::new();
        put_column_type(&mut buf, &t).unwrap();
        prop_assert_eq!(decode_all(&buf, column_type).unwrap(), t);
    }

    #[test]
    fn vector_class_names_roundtrip(t in any_type(), dimension in 1u32..100) {
        let v = ringgate_protocol::types::ColumnType::Vector { element: Box::new(t), dimension };
        let name = class_name(&v);
        prop_assert!(name.starts_with("org.apache.cassandra.db.marshal.VectorType("), "{}", name);
        let mut buf = BytesMut::new();
        put_column_type(&mut buf, &v).unwrap();
        prop_assert_eq!(&buf[..2], &[0, 0], "a vector is a custom type on the wire");
        prop_assert_eq!(decode_all(&buf, column_type).unwrap(), v);
    }

    #[test]
    fn random_bytes_never_panic(t in any_type(), data in prop::collection::vec(any::<u8>(), 0..96)) {
        if let Ok(v) = decode_value(&t, &data, ProtocolVersion::V5) {
            // Whatever decodes re-encodes, and the re-encoding decodes to the same value.
            let mut buf = BytesMut::new();
            encode_value(&t, &v, &mut buf).unwrap();
            let again = decode_value(&t, &buf, ProtocolVersion::V5).unwrap();
            prop_assert_eq!(format!("{again:?}"), format!("{v:?}"));
        }
    }

    #[test]
    fn random_typed_bytes_never_panic((t, v) in typed_value(), cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(), bit in 0u8..8) {
        // Valid encodings, truncated or with one bit flipped: errors or values, never panics.
        let mut buf = BytesMut::new();
        encode_value(&t, &v, &mut buf).unwrap();
        let truncated = &buf[..cut.index(buf.len() + 1)];
        let _ = decode_value(&t, truncated, ProtocolVersion::V5);
        if !buf.is_empty() {
            let i = flip.index(buf.len());
            buf[i] ^= 1 << bit;
            let _ = decode_value(&t, &buf, ProtocolVersion::V5);
        }
    }

    #[test]
    fn random_rows_never_panic(data in prop::collection::vec(any::<u8>(), 0..128), rows_count in any::<u32>(), columns in any::<u16>()) {
        if let Ok(it) = rows(&data, rows_count as usize, usize::from(columns)) {
            for row in it.flatten() {
                prop_assert_eq!(row.cells().count(), usize::from(columns));
            }
        }
    }
}

//! Lazy rows over a Rows result's `<rows_content>`: cells without decoding, typed access,
//! truncation and hostile counts.

use bytes::BytesMut;
use ringgate_protocol::ProtocolVersion;
use ringgate_protocol::primitives::{DecodeError, RawValue};
use ringgate_protocol::types::{ColumnType, CqlValue, ValueError, encode_cell, rows};

const V: ProtocolVersion = ProtocolVersion::V4;

fn types() -> Vec<ColumnType> {
    vec![
        ColumnType::Int,
        ColumnType::Varchar,
        ColumnType::List(Box::new(ColumnType::Bigint)),
    ]
}

/// Three rows: (i, "row i", [i, i*10]), with the second row's text null.
fn content() -> BytesMut {
    let mut buf = BytesMut::new();
    let types = types();
    for i in 0..3i32 {
        let text = CqlValue::Text(format!("row {i}"));
        let list = CqlValue::List(vec![
            CqlValue::Bigint(i.into()),
            CqlValue::Bigint((i * 10).into()),
        ]);
        encode_cell(&types[0], Some(&CqlValue::Int(i)), &mut buf).unwrap();
        encode_cell(&types[1], (i != 1).then_some(&text), &mut buf).unwrap();
        encode_cell(&types[2], Some(&list), &mut buf).unwrap();
    }
    buf
}

#[test]
fn iterates_cells_and_decodes_on_demand() {
    let buf = content();
    let types = types();
    let mut seen = 0;
    for (i, row) in rows(&buf, 3, 3).unwrap().enumerate() {
        let row = row.unwrap();
        assert_eq!(row.len(), 3);
        let cells: Vec<RawValue<'_>> = row.cells().collect();
        assert_eq!(cells[0], RawValue::Bytes(&(i as i32).to_be_bytes()));
        assert_eq!(row.get(1).unwrap() == RawValue::Null, i == 1);
        assert_eq!(row.get(3), None);
        assert_eq!(row.get_as::<i32>(0, &types[0], V).unwrap(), i as i32);
        let text: Option<String> = row.get_as(1, &types[1], V).unwrap();
        assert_eq!(text, (i != 1).then(|| format!("row {i}")));
        let list: Vec<i64> = row.get_as(2, &types[2], V).unwrap();
        assert_eq!(list, vec![i as i64, i as i64 * 10]);
        let values: Vec<_> = row.values(&types, V).collect::<Result<_, _>>().unwrap();
        assert_eq!(values.len(), 3);
        assert_eq!(values[0], Some(CqlValue::Int(i as i32)));
        seen += 1;
    }
    assert_eq!(seen, 3);
}

#[test]
fn rows_slice_the_body_exactly() {
    let buf = content();
    let joined: Vec<u8> = rows(&buf, 3, 3)
        .unwrap()
        .flat_map(|r| r.unwrap().as_bytes().to_vec())
        .collect();
    assert_eq!(joined, &buf[..]);
}

#[test]
fn null_cells_need_an_option() {
    let buf = content();
    let row = rows(&buf, 3, 3).unwrap().nth(1).unwrap().unwrap();
    assert_eq!(
        row.get_as::<String>(1, &ColumnType::Varchar, V),
        Err(ValueError::Null("String"))
    );
    assert!(matches!(
        row.get_as::<i64>(0, &ColumnType::Int, V),
        Err(ValueError::Mismatch { .. })
    ));
    assert!(matches!(
        row.get_as::<i32>(0, &ColumnType::Bigint, V),
        Err(ValueError::Decode(_))
    ));
}

#[test]
fn truncation_is_reported_at_the_row_it_hits() {
    let buf = content();
    let cut = &buf[..buf.len() - 3];
    let results: Vec<_> = rows(cut, 3, 3).unwrap().collect();
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[1].is_ok());
    assert_eq!(results[2], Err(DecodeError::Truncated));
}

#[test]
fn trailing_bytes_are_a_final_error() {
    let mut buf = content();
    buf.extend_from_slice(&[0, 0]);
    let results: Vec<_> = rows(&buf, 3, 3).unwrap().collect();
    assert_eq!(results.len(), 4);
    assert_eq!(results[3], Err(DecodeError::TrailingBytes(2)));
}

#[test]
fn hostile_counts_fail_up_front() {
    let buf = content();
    // 2^31 rows of 3 cells cannot fit in ~100 bytes: refused before iterating.
    assert!(rows(&buf, i32::MAX as usize, 3).is_err());
    assert!(rows(&buf, usize::MAX, usize::MAX).is_err());
    assert!(rows(&[], 1_000_000, 0).is_err());
    assert_eq!(rows(&[], 0, 5).unwrap().count(), 0);
}

#[test]
fn text_and_blobs_can_be_borrowed_from_the_row() {
    let buf = content();
    let all: Vec<_> = rows(&buf, 3, 3).unwrap().map(Result::unwrap).collect();
    let name: &str = all[0].get_as(1, &ColumnType::Varchar, V).unwrap();
    assert_eq!(name, "row 0");
    // The borrowed text points into the body itself.
    assert!(buf.as_ptr_range().contains(&name.as_ptr()));
    let null: Option<&str> = all[1].get_as(1, &ColumnType::Varchar, V).unwrap();
    assert_eq!(null, None);
    assert_eq!(
        all[1].get_as::<&str>(1, &ColumnType::Varchar, V),
        Err(ValueError::Null("&str"))
    );
    // Ascii is checked; other types are not text.
    assert!(all[0].get_as::<&str>(1, &ColumnType::Ascii, V).is_ok());
    assert!(matches!(
        all[0].get_as::<&str>(0, &ColumnType::Int, V),
        Err(ValueError::Mismatch { .. })
    ));
    let raw: &[u8] = all[0].get_as(1, &ColumnType::Blob, V).unwrap();
    assert_eq!(raw, b"row 0");
    assert!(all[0].get_as::<&[u8]>(1, &ColumnType::Varchar, V).is_err());
}

#[test]
fn decode_all_needs_one_type_per_column() {
    let buf = content();
    let row = rows(&buf, 3, 3).unwrap().next().unwrap().unwrap();
    let values = row.decode_all(&types(), V).unwrap();
    assert_eq!(values[1], Some(CqlValue::Text("row 0".into())));
    assert!(row.decode_all(&types()[..2], V).is_err());
}

//! Lazy rows: iterating over a RESULT Rows body's `<rows_content>` (the spec's section
//! 4.2.5.2) without decoding or copying cells.
//!
//! The message layer parses the metadata (column specs and their types) and `<rows_count>`;
//! [`rows`] takes the bytes that follow and yields one [`Row`] per row, each a slice of the
//! body whose cells are `[bytes]`. Iterating allocates nothing; cells are decoded only when
//! asked, with the column's [`ColumnType`].
//!
//! ```
//! use ringgate_protocol::ProtocolVersion;
//! use ringgate_protocol::primitives::RawValue;
//! use ringgate_protocol::types::{ColumnType, rows};
//! // Two rows of one int column: 7 and null.
//! let content = [0, 0, 0, 4, 0, 0, 0, 7, 0xFF, 0xFF, 0xFF, 0xFF];
//! let mut it = rows(&content, 2, 1).unwrap();
//! let first = it.next().unwrap().unwrap();
//! assert_eq!(first.get(0), Some(RawValue::Bytes(&[0, 0, 0, 7])));
//! assert_eq!(first.get_as::<i32>(0, &ColumnType::Int, ProtocolVersion::V5).unwrap(), 7);
//! let second = it.next().unwrap().unwrap();
//! assert_eq!(second.get_as::<Option<i32>>(0, &ColumnType::Int, ProtocolVersion::V5).unwrap(), None);
//! assert!(it.next().is_none());
//! ```

use crate::ProtocolVersion;
use crate::primitives::{DecodeError, RawValue};

use super::column_type::ColumnType;
use super::convert::{FromCell, ValueError};
use super::decode::decode_cell;
use super::value::CqlValue;

/// Iterates over the rows of `content`, the `<rows_content>` of a Rows result announcing
/// `rows_count` rows of `columns` cells each.
///
/// Fails at once when the counts cannot fit the bytes (each cell takes at least 4 bytes), so a
/// hostile count costs nothing; nothing is allocated from `rows_count`. Structural errors in a
/// row are reported when iteration reaches it, and bytes left after the last row as a final
/// error item.
pub fn rows(content: &[u8], rows_count: usize, columns: usize) -> Result<RowIter<'_>, DecodeError> {
    let min_bytes = rows_count
        .checked_mul(columns)
        .and_then(|c| c.checked_mul(4));
    if min_bytes.is_none_or(|min| min > content.len()) {
        return Err(DecodeError::InvalidValue {
            what: "rows count for the bytes present",
            value: i64::try_from(rows_count).unwrap_or(i64::MAX),
        });
    }
    if columns == 0 && rows_count > 0 {
        return Err(DecodeError::Malformed("rows without columns"));
    }
    Ok(RowIter {
        rest: content,
        remaining: rows_count,
        columns,
    })
}

/// An iterator over the rows of a Rows result; see [`rows`].
#[derive(Debug, Clone)]
pub struct RowIter<'a> {
    rest: &'a [u8],
    remaining: usize,
    columns: usize,
}

impl<'a> RowIter<'a> {
    /// How many rows are still to come.
    pub fn rows_remaining(&self) -> usize {
        self.remaining
    }

    fn fail(&mut self, e: DecodeError) -> Option<Result<Row<'a>, DecodeError>> {
        self.remaining = 0;
        self.rest = &[];
        Some(Err(e))
    }
}

/// One `[bytes]` cell and what follows it: the same reading as [`primitives::bytes`] (a
/// negative length is null), written out for the row loop, the hottest path in this module.
#[inline]
fn cell(input: &[u8]) -> Result<(&[u8], RawValue<'_>), DecodeError> {
    let (len, rest) = input
        .split_first_chunk::<4>()
        .ok_or(DecodeError::Truncated)?;
    match usize::try_from(i32::from_be_bytes(*len)) {
        Ok(n) => {
            let (value, rest) = rest.split_at_checked(n).ok_or(DecodeError::Truncated)?;
            Ok((rest, RawValue::Bytes(value)))
        }
        Err(_) => Ok((rest, RawValue::Null)),
    }
}

impl<'a> Iterator for RowIter<'a> {
    type Item = Result<Row<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let Some(remaining) = self.remaining.checked_sub(1) else {
            if self.rest.is_empty() {
                return None;
            }
            let left = self.rest.len();
            return self.fail(DecodeError::TrailingBytes(left));
        };
        self.remaining = remaining;
        let start = self.rest;
        let mut rest = start;
        for _ in 0..self.columns {
            match cell(rest) {
                Ok((r, _)) => rest = r,
                Err(e) => return self.fail(e),
            }
        }
        let Some(bytes) = start.get(..start.len() - rest.len()) else {
            return self.fail(DecodeError::Truncated);
        };
        self.rest = rest;
        Some(Ok(Row {
            bytes,
            columns: self.columns,
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, self.remaining.checked_add(1))
    }
}

/// One row: a slice of the body holding its cells, already checked to be `columns` well-formed
/// `[bytes]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row<'a> {
    bytes: &'a [u8],
    columns: usize,
}

impl<'a> Row<'a> {
    /// The row's serialized cells, as they came (for forwarding without decoding).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The number of cells.
    pub fn len(&self) -> usize {
        self.columns
    }

    /// Whether the row has no cells.
    pub fn is_empty(&self) -> bool {
        self.columns == 0
    }

    /// The cells, undecoded, in column order.
    pub fn cells(&self) -> Cells<'a> {
        Cells {
            rest: self.bytes,
            remaining: self.columns,
        }
    }

    /// Cell `index`, undecoded; `None` past the last column.
    pub fn get(&self, index: usize) -> Option<RawValue<'a>> {
        self.cells().nth(index)
    }

    /// Cell `index` decoded as type `t`; `None` for null.
    pub fn decode(
        &self,
        index: usize,
        t: &ColumnType,
        version: ProtocolVersion,
    ) -> Result<Option<CqlValue>, DecodeError> {
        let raw = self.get(index).ok_or(DecodeError::InvalidValue {
            what: "column index",
            value: i64::try_from(index).unwrap_or(i64::MAX),
        })?;
        decode_cell(t, raw, version)
    }

    /// Cell `index` of type `t` as a Rust type: any [`FromCqlValue`](super::FromCqlValue) type
    /// (e.g. `i32`, `String`, `Vec<i64>`, an `Option` where the cell may be null) or `&str` /
    /// `&[u8]` borrowed from the row.
    pub fn get_as<T: FromCell<'a>>(
        &self,
        index: usize,
        t: &ColumnType,
        version: ProtocolVersion,
    ) -> Result<T, ValueError> {
        let raw = self.get(index).ok_or(DecodeError::InvalidValue {
            what: "column index",
            value: i64::try_from(index).unwrap_or(i64::MAX),
        })?;
        T::from_cell(t, raw, version)
    }

    /// Every cell decoded with its column's type (one type per column, in order); `None` for
    /// null cells.
    pub fn decode_all(
        &self,
        types: &[ColumnType],
        version: ProtocolVersion,
    ) -> Result<Vec<Option<CqlValue>>, DecodeError> {
        if types.len() != self.columns {
            return Err(DecodeError::InvalidValue {
                what: "column types for the row",
                value: i64::try_from(types.len()).unwrap_or(i64::MAX),
            });
        }
        let mut out = Vec::with_capacity(self.columns);
        for (raw, t) in self.cells().zip(types) {
            out.push(decode_cell(t, raw, version)?);
        }
        Ok(out)
    }

    /// Every cell decoded with its column's type, in column order (the types zipped with the
    /// cells; pass one per column).
    pub fn values<'t>(
        &self,
        types: impl IntoIterator<Item = &'t ColumnType>,
        version: ProtocolVersion,
    ) -> impl Iterator<Item = Result<Option<CqlValue>, DecodeError>> {
        self.cells()
            .zip(types)
            .map(move |(raw, t)| decode_cell(t, raw, version))
    }
}

/// An iterator over a row's cells; see [`Row::cells`].
#[derive(Debug, Clone)]
pub struct Cells<'a> {
    rest: &'a [u8],
    remaining: usize,
}

impl<'a> Iterator for Cells<'a> {
    type Item = RawValue<'a>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.remaining = self.remaining.checked_sub(1)?;
        // The row was checked when it was cut out of the body, so this cannot fail; stop if it
        // somehow does.
        match cell(self.rest) {
            Ok((rest, v)) => {
                self.rest = rest;
                Some(v)
            }
            Err(_) => {
                self.remaining = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Cells<'_> {}

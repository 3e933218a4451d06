//! CQL types and values: type descriptions, the value model, lazy rows.
//!
//! - [`ColumnType`] describes a type (`[option]`, [`column_type`] / [`put_column_type`]);
//!   custom types that name a known marshal class (Cassandra 5 vectors, durations before v5)
//!   are parsed into the type they describe, and [`class_name`] writes a type's class name.
//! - [`CqlValue`] is a decoded value; [`decode_value`] / [`encode_value`] convert between it
//!   and a value's bytes, [`decode_cell`] / [`encode_cell`] handle `[bytes]` with null.
//! - [`rows`] iterates over a Rows result's cells without decoding them.
//! - [`FromCqlValue`], `TryFrom<CqlValue>` and `From<T> for CqlValue` convert to and from Rust
//!   types.

mod column_type;
mod convert;
mod decode;
mod encode;
mod marshal;
mod number;
mod rows;
mod value;

pub use column_type::{ColumnType, MAX_TYPE_DEPTH, UdtType, column_type, put_column_type};
pub use convert::{FromCell, FromCqlValue, ValueError};
pub use decode::{decode_cell, decode_value, fixed_width};
pub use encode::{encode_cell, encode_value};
pub use marshal::class_name;
pub use number::{CqlDecimal, CqlVarint};
pub use rows::{Cells, Row, RowIter, rows};
pub use value::{CqlDate, CqlDuration, CqlTime, CqlTimestamp, CqlValue};

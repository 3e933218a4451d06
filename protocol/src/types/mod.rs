//! CQL types and values: type descriptions, the value model, lazy rows.

mod column_type;
mod marshal;

pub use column_type::{ColumnType, MAX_TYPE_DEPTH, UdtType, column_type, put_column_type};

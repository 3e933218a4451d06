//! Cassandra's marshal class names (`org.apache.cassandra.db.marshal.*`), as custom types carry
//! them on the wire.

use super::ColumnType;

/// The type a custom class name describes, when it is one this crate models (e.g.
/// `VectorType(FloatType, 3)`); `None` leaves it a [`ColumnType::Custom`].
pub(crate) fn from_class_name(_class: &str, _depth: usize) -> Option<ColumnType> {
    None
}

/// The marshal class name of a type.
pub(crate) fn class_name(_t: &ColumnType) -> String {
    String::new()
}

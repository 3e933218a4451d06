//! CQL types and values: type descriptions, the value model, lazy rows.

//! A prepared statement: its id, bind markers and the partition key's marker indexes.

use bytes::{Bytes, BytesMut};
use ringgate_protocol::message::{ColumnSpec, Prepared, Value};
use ringgate_protocol::primitives::RawValue;
use ringgate_protocol::types::{CqlValue, encode_value};
use ringgate_routing::{KeyComponent, write_partition_key};

use super::RequestError;

/// A statement prepared on the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedStatement {
    /// The CQL text.
    pub query: String,
    /// The keyspace it was prepared in, for a text with unqualified table names (v5's
    /// per-request keyspace); `None` when prepared without one.
    pub prepared_in: Option<String>,
    /// The prepared id (equal on every node: derived from keyspace and text).
    pub id: Bytes,
    /// v5: the result metadata id sent back with EXECUTE.
    pub result_metadata_id: Option<Bytes>,
    /// The keyspace of the statement's table, from its bind markers.
    pub keyspace: Option<String>,
    /// The bind markers, in order.
    pub markers: Vec<ColumnSpec>,
    /// For each partition key column in key order, the index of its bind marker; empty when
    /// the key is not fully bound (then the statement is not routed by token).
    pub pk_indexes: Vec<u16>,
    /// The columns an EXECUTE returns, when the node said.
    pub result_columns: Option<Vec<ColumnSpec>>,
    /// Whether it is a conditional update (a lightweight transaction).
    pub conditional: bool,
    /// Whether it only reads (a `SELECT`): it may then safely run twice (retried after a
    /// timeout, speculated).
    pub read_only: bool,
    /// Whether it reads the schema tables (`system_schema`, `system_virtual_schema`): it
    /// then runs on the control node.
    pub schema_read: bool,
    /// The keyspace, when the statement is a `USE` (which the coordinator refuses to run: it
    /// would switch shared connections; a front end answers it for its session).
    pub use_keyspace: Option<String>,
    /// The PREPARED result as the node sent it, for front ends that answer a client's
    /// PREPARE with it.
    pub prepared: Prepared,
}

impl PreparedStatement {
    pub(crate) fn new(query: &str, prepared_in: Option<&str>, prepared: Prepared) -> Self {
        let answer = prepared.clone();
        let markers = prepared.metadata.columns;
        let keyspace = prepared
            .metadata
            .global_table_spec
            .map(|t| t.keyspace)
            .or_else(|| markers.first().map(|m| m.keyspace.clone()));
        // Read once for what the text says: condition, schema read, USE.
        let tokens = crate::cql::tokenize(query).unwrap_or_default();
        PreparedStatement {
            query: query.to_owned(),
            prepared_in: prepared_in.map(str::to_owned),
            id: prepared.id,
            result_metadata_id: prepared.result_metadata_id,
            keyspace,
            markers,
            pk_indexes: prepared.metadata.pk_indexes,
            result_columns: prepared.result_metadata.columns,
            conditional: super::text_routing::has_if(&tokens),
            read_only: crate::cql::is_select(query),
            schema_read: crate::cql::classify_tokens(&tokens)
                .is_some_and(|c| super::text_routing::reads_schema(&c, prepared_in)),
            use_keyspace: crate::cql::use_keyspace_of(&tokens),
            prepared: answer,
        }
    }

    /// Encodes `values` (one per marker; `None` is null) with the markers' types.
    pub fn encode_values(&self, values: &[Option<CqlValue>]) -> Result<Vec<Value>, RequestError> {
        if values.len() != self.markers.len() {
            return Err(RequestError::Invalid(format!(
                "{} values for {} bind markers",
                values.len(),
                self.markers.len()
            )));
        }
        self.markers
            .iter()
            .zip(values)
            .map(|(marker, value)| match value {
                None => Ok(Value::Null),
                Some(v) => {
                    let mut buf = BytesMut::new();
                    encode_value(&marker.typ, v, &mut buf).map_err(|e| {
                        RequestError::Invalid(format!("value for {}: {e}", marker.name))
                    })?;
                    Ok(Value::Bytes(buf.freeze()))
                }
            })
            .collect()
    }

    /// The serialized partition key of these encoded values, when the statement binds the
    /// whole key and the key can be serialized (no value null, unset, or too long for a
    /// composite key): otherwise the request goes without token awareness, and the node
    /// reports what is wrong with it.
    pub fn routing_key(&self, values: &[Value]) -> Option<Vec<u8>> {
        self.key_from(|i| {
            values.get(i).map(|v| match v {
                Value::Bytes(b) => KeyComponent::Value(b),
                Value::Null => KeyComponent::Null,
                Value::Unset => KeyComponent::Unset,
            })
        })
    }

    /// The routing key from values as a client's body holds them (see [`Self::routing_key`]).
    pub fn routing_key_raw(&self, values: &[RawValue<'_>]) -> Option<Vec<u8>> {
        self.key_from(|i| {
            values.get(i).map(|v| match v {
                RawValue::Bytes(b) => KeyComponent::Value(b),
                RawValue::Null => KeyComponent::Null,
                RawValue::Unset => KeyComponent::Unset,
            })
        })
    }

    fn key_from<'v>(
        &self,
        component: impl Fn(usize) -> Option<KeyComponent<'v>>,
    ) -> Option<Vec<u8>> {
        if self.pk_indexes.is_empty() {
            return None;
        }
        let components = self
            .pk_indexes
            .iter()
            .map(|&i| component(usize::from(i)))
            .collect::<Option<Vec<_>>>()?;
        let mut key = Vec::new();
        write_partition_key(&components, &mut key).ok()?;
        Some(key)
    }

    /// Where these encoded values route: the statement's keyspace and its key's token.
    pub(crate) fn routing(&self, values: &[Value]) -> Option<(Option<String>, i64)> {
        self.token(values)
            .map(|token| (self.keyspace.clone(), token))
    }

    /// The token of the partition these encoded values bind.
    pub(crate) fn token(&self, values: &[Value]) -> Option<i64> {
        if let [only] = self.pk_indexes[..] {
            // A one-column key is the value's own bytes: no copy.
            return match values.get(usize::from(only))? {
                Value::Bytes(b) => Some(ringgate_routing::murmur3_token(b)),
                _ => None,
            };
        }
        self.routing_key(values)
            .map(|key| ringgate_routing::murmur3_token(&key))
    }

    /// The token of the partition these values, as a client's body holds them, bind (see
    /// [`Self::token`]).
    pub(crate) fn token_raw(&self, values: &[RawValue<'_>]) -> Option<i64> {
        if let [only] = self.pk_indexes[..] {
            return match values.get(usize::from(only))? {
                RawValue::Bytes(b) => Some(ringgate_routing::murmur3_token(b)),
                _ => None,
            };
        }
        self.routing_key_raw(values)
            .map(|key| ringgate_routing::murmur3_token(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(pk_indexes: Vec<u16>) -> PreparedStatement {
        PreparedStatement {
            query: String::new(),
            prepared_in: None,
            id: Bytes::new(),
            result_metadata_id: None,
            keyspace: Some("ks".into()),
            markers: Vec::new(),
            pk_indexes,
            result_columns: None,
            conditional: false,
            read_only: false,
            schema_read: false,
            use_keyspace: None,
            prepared: Prepared::default(),
        }
    }

    #[test]
    fn routing_keys_from_bound_values() {
        let v = |b: &'static [u8]| Value::Bytes(Bytes::from_static(b));
        // One column: its bytes. Two: the composite form, in key order (not marker order).
        assert_eq!(
            statement(vec![0]).routing_key(&[v(b"ab")]),
            Some(b"ab".to_vec())
        );
        assert_eq!(
            statement(vec![1, 0]).routing_key(&[v(b"x"), v(b"y")]),
            Some(vec![0, 1, b'y', 0, 0, 1, b'x', 0])
        );
        // Not routable: no key markers, a missing, null or unset value, or a component too
        // long for the composite form (which must not panic: values come from the network).
        assert_eq!(statement(vec![]).routing_key(&[v(b"x")]), None);
        assert_eq!(statement(vec![2]).routing_key(&[v(b"x")]), None);
        assert_eq!(statement(vec![0]).routing_key(&[Value::Null]), None);
        assert_eq!(statement(vec![0]).routing_key(&[Value::Unset]), None);
        let big = Value::Bytes(Bytes::from(vec![7u8; 70_000]));
        assert_eq!(statement(vec![0, 1]).routing_key(&[big, v(b"x")]), None);
    }
}

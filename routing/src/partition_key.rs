//! Partition keys as Cassandra serializes them before hashing.
//!
//! A single-column key is the column value's serialized bytes, unchanged. A composite key (two
//! or more partition-key columns) is each component as `[u16 big-endian length][bytes][0x00]`,
//! in the table's partition-key order.

/// One bound value of a partition-key column, as a client sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyComponent<'a> {
    /// The value's serialized bytes.
    Value(&'a [u8]),
    /// A null value: Cassandra refuses a null partition-key column.
    Null,
    /// An unset value (protocol v4+): Cassandra refuses it for a partition-key column.
    Unset,
}

/// Why a partition key could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionKeyError {
    /// No component was given.
    #[error("a partition key needs at least one component")]
    Empty,
    /// A component was null.
    #[error("partition key component {index} is null")]
    Null {
        /// The component's position in the key, from 0.
        index: usize,
    },
    /// A component was unset.
    #[error("partition key component {index} is unset")]
    Unset {
        /// The component's position in the key, from 0.
        index: usize,
    },
    /// A component of a composite key is longer than its 16-bit length prefix can say.
    #[error("partition key component {index} is {len} bytes, more than 65535")]
    ComponentTooLong {
        /// The component's position in the key, from 0.
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
}

/// The serialized partition key of already-present component values.
///
/// One component is returned as is; several are framed as a composite key. A composite
/// component longer than 65535 bytes cannot be framed (Cassandra rejects such keys), and makes
/// this function panic; use [`write_partition_key`] on input that has not been checked.
///
/// ```
/// use ringgate_routing::serialize_partition_key;
/// assert_eq!(serialize_partition_key(&[b"abc"]), b"abc");
/// assert_eq!(
///     serialize_partition_key(&[&[0, 0, 0, 1], b"x"]),
///     [0, 4, 0, 0, 0, 1, 0, 0, 1, b'x', 0]
/// );
/// ```
pub fn serialize_partition_key(components: &[&[u8]]) -> Vec<u8> {
    if let [single] = components {
        return single.to_vec();
    }
    let mut out = Vec::with_capacity(components.iter().map(|c| c.len() + 3).sum());
    for (index, component) in components.iter().enumerate() {
        let len = u16::try_from(component.len()).unwrap_or_else(|_| {
            panic!(
                "partition key component {index} is {} bytes, more than 65535",
                component.len()
            )
        });
        push_framed(&mut out, len, component);
    }
    out
}

/// Writes the serialized partition key of `components` into `out` (cleared first), so a caller
/// can reuse one buffer across requests. Null and unset components are errors, never skipped.
///
/// ```
/// use ringgate_routing::{write_partition_key, KeyComponent, PartitionKeyError};
/// let mut buf = Vec::new();
/// write_partition_key(&[KeyComponent::Value(b"k")], &mut buf).unwrap();
/// assert_eq!(buf, b"k");
/// assert_eq!(
///     write_partition_key(&[KeyComponent::Value(b"k"), KeyComponent::Null], &mut buf),
///     Err(PartitionKeyError::Null { index: 1 })
/// );
/// ```
pub fn write_partition_key(
    components: &[KeyComponent<'_>],
    out: &mut Vec<u8>,
) -> Result<(), PartitionKeyError> {
    out.clear();
    let mut values = components.iter().enumerate().map(|(index, c)| match *c {
        KeyComponent::Value(bytes) => Ok((index, bytes)),
        KeyComponent::Null => Err(PartitionKeyError::Null { index }),
        KeyComponent::Unset => Err(PartitionKeyError::Unset { index }),
    });
    match components.len() {
        0 => Err(PartitionKeyError::Empty),
        1 => {
            let (_, bytes) = values.next().ok_or(PartitionKeyError::Empty)??;
            out.extend_from_slice(bytes);
            Ok(())
        }
        _ => {
            for value in values {
                let (index, bytes) = value?;
                let len = u16::try_from(bytes.len()).map_err(|_| {
                    PartitionKeyError::ComponentTooLong {
                        index,
                        len: bytes.len(),
                    }
                })?;
                push_framed(out, len, bytes);
            }
            Ok(())
        }
    }
}

fn push_framed(out: &mut Vec<u8>, len: u16, bytes: &[u8]) {
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_frames_every_component() {
        let key = serialize_partition_key(&[b"", &[0xff; 3]]);
        assert_eq!(key, [0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0]);
    }

    #[test]
    fn write_agrees_with_serialize_and_rejects_bad_components() {
        let mut buf = vec![9, 9];
        let parts: [&[u8]; 3] = [b"a", b"", b"ccc"];
        let components: Vec<_> = parts.iter().map(|p| KeyComponent::Value(p)).collect();
        write_partition_key(&components, &mut buf).unwrap();
        assert_eq!(buf, serialize_partition_key(&parts));

        assert_eq!(
            write_partition_key(&[], &mut buf),
            Err(PartitionKeyError::Empty)
        );
        assert_eq!(
            write_partition_key(&[KeyComponent::Unset], &mut buf),
            Err(PartitionKeyError::Unset { index: 0 })
        );
        let long = vec![0u8; 65536];
        assert_eq!(
            write_partition_key(
                &[KeyComponent::Value(b"a"), KeyComponent::Value(&long)],
                &mut buf
            ),
            Err(PartitionKeyError::ComponentTooLong {
                index: 1,
                len: 65536
            })
        );
        // A single component has no length prefix, so any length is fine.
        write_partition_key(&[KeyComponent::Value(&long)], &mut buf).unwrap();
        assert_eq!(buf.len(), 65536);
    }
}

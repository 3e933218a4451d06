//! What Ringgate tells drivers about "the cluster": its own nodes, their tokens and host ids.

use std::net::IpAddr;

use md5::{Digest, Md5};

/// One Ringgate node as drivers see it in `system.local` or `system.peers(_v2)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RinggateNode {
    /// The address drivers connect to (`rpc_address`, `native_address`, `peer`).
    pub address: IpAddr,
    /// The CQL port drivers connect to (`rpc_port`, `native_port`).
    pub native_port: u16,
    /// The data center drivers should consider this node part of.
    pub data_center: String,
    /// The rack within that data center.
    pub rack: String,
}

impl RinggateNode {
    /// A node at `address:native_port` in `data_center`/`rack`.
    pub fn new(
        address: IpAddr,
        native_port: u16,
        data_center: impl Into<String>,
        rack: impl Into<String>,
    ) -> Self {
        RinggateNode {
            address,
            native_port,
            data_center: data_center.into(),
            rack: rack.into(),
        }
    }

    /// The node's host id: a name-based (version 3, MD5) UUID of its address and port, the same
    /// on every Ringgate node and across restarts.
    pub fn host_id(&self) -> [u8; 16] {
        name_based_uuid(format!("{}:{}", self.address, self.native_port).as_bytes())
    }
}

/// The namespace of Ringgate's name-based UUIDs (a fixed random UUID).
const NAMESPACE: [u8; 16] = [
    0x5b, 0x0e, 0x7c, 0x41, 0x9a, 0x2d, 0x4f, 0x63, 0xb1, 0x58, 0x2c, 0x07, 0xd3, 0x96, 0xe4, 0x1a,
];

/// RFC 4122 name-based UUID (version 3): MD5 of the namespace and the name.
pub(crate) fn name_based_uuid(name: &[u8]) -> [u8; 16] {
    let mut hasher = Md5::new();
    hasher.update(NAMESPACE);
    hasher.update(name);
    let mut uuid: [u8; 16] = hasher.finalize().into();
    uuid[6] = (uuid[6] & 0x0F) | 0x30;
    uuid[8] = (uuid[8] & 0x3F) | 0x80;
    uuid
}

/// The token range of a partitioner Ringgate can split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSpace {
    /// `Murmur3Partitioner`: signed 64-bit tokens from `i64::MIN`.
    Murmur3,
    /// `RandomPartitioner`: tokens from 0 to 2^127.
    Random,
}

impl TokenSpace {
    /// The token space of a partitioner class name (short or fully qualified).
    pub fn of_partitioner(class: &str) -> Option<Self> {
        let short = class.rsplit('.').next().unwrap_or(class);
        match short {
            "Murmur3Partitioner" => Some(Self::Murmur3),
            "RandomPartitioner" => Some(Self::Random),
            _ => None,
        }
    }

    /// The `index`th of `count` evenly spaced tokens, as Cassandra writes tokens in text.
    /// `index` must be below `count`.
    fn token(self, index: u128, count: u128) -> String {
        let count = count.max(1);
        match self {
            Self::Murmur3 => {
                let step = (1u128 << 64) / count;
                let offset = step.saturating_mul(index);
                let token = i128::from(i64::MIN).saturating_add_unsigned(offset);
                token.to_string()
            }
            Self::Random => {
                let step = (1u128 << 127) / count;
                step.saturating_mul(index).to_string()
            }
        }
    }
}

/// The tokens of every node: `tokens_per_node` tokens each, the ring split evenly among
/// `node_count` nodes and interleaved (token k belongs to node k mod `node_count`). The result is
/// indexed like the nodes; each node's tokens are in ring order.
pub fn split_tokens(
    space: TokenSpace,
    node_count: usize,
    tokens_per_node: usize,
) -> Vec<Vec<String>> {
    let total = (node_count as u128).saturating_mul(tokens_per_node as u128);
    let mut tokens = vec![Vec::with_capacity(tokens_per_node); node_count];
    for (k, owner) in (0..total).zip((0..node_count).cycle()) {
        if let Some(list) = tokens.get_mut(owner) {
            list.push(space.token(k, total));
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_node_owns_the_minimum_token() {
        assert_eq!(
            split_tokens(TokenSpace::Murmur3, 1, 1),
            vec![vec![i64::MIN.to_string()]]
        );
        assert_eq!(
            split_tokens(TokenSpace::Random, 1, 1),
            vec![vec!["0".to_owned()]]
        );
    }

    #[test]
    fn tokens_are_evenly_spaced_and_interleaved() {
        let tokens = split_tokens(TokenSpace::Murmur3, 2, 2);
        let parse = |s: &String| s.parse::<i64>().unwrap();
        let owner0: Vec<i64> = tokens[0].iter().map(parse).collect();
        let owner1: Vec<i64> = tokens[1].iter().map(parse).collect();
        assert_eq!(owner0, vec![i64::MIN, 0]);
        assert_eq!(owner1, vec![i64::MIN / 2, i64::MAX / 2 + 1]);
        let three = split_tokens(TokenSpace::Murmur3, 3, 1);
        let all: Vec<i128> = three.iter().map(|t| t[0].parse().unwrap()).collect();
        let step = all[1] - all[0];
        assert_eq!(all[2] - all[1], step);
        assert!(((1i128 << 64) - 3 * step) < 3);
    }

    #[test]
    fn host_ids_are_name_based_and_stable() {
        let a = RinggateNode::new("127.0.0.1".parse().unwrap(), 9042, "dc1", "r1");
        let mut b = a.clone();
        b.native_port = 9043;
        assert_eq!(a.host_id(), a.clone().host_id());
        assert_ne!(a.host_id(), b.host_id());
        let id = a.host_id();
        assert_eq!(id[6] >> 4, 3, "version 3");
        assert_eq!(id[8] >> 6, 0b10, "RFC 4122 variant");
    }

    #[test]
    fn partitioner_names() {
        assert_eq!(
            TokenSpace::of_partitioner("org.apache.cassandra.dht.Murmur3Partitioner"),
            Some(TokenSpace::Murmur3)
        );
        assert_eq!(
            TokenSpace::of_partitioner("RandomPartitioner"),
            Some(TokenSpace::Random)
        );
        assert_eq!(TokenSpace::of_partitioner("ByteOrderedPartitioner"), None);
    }
}

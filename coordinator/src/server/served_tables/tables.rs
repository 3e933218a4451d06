//! The three tables Ringgate answers itself — `system.local`, `system.peers` and
//! `system.peers_v2` — with Cassandra 5.0's column names and types, in the order
//! `SELECT *` returns them (partition key, clustering columns, then the rest by name).

use ringgate_protocol::types::ColumnType;

/// One of the system tables Ringgate answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SystemTable {
    /// `system.local`: the node the driver is connected to.
    Local,
    /// `system.peers`: the other nodes (pre-4.0 layout).
    Peers,
    /// `system.peers_v2`: the other nodes, with ports.
    PeersV2,
}

/// The CQL type of a system-table column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Inet,
    Int,
    Uuid,
    TextSet,
    UuidBlobMap,
}

impl Kind {
    pub(crate) fn column_type(self) -> ColumnType {
        match self {
            Self::Text => ColumnType::Varchar,
            Self::Inet => ColumnType::Inet,
            Self::Int => ColumnType::Int,
            Self::Uuid => ColumnType::Uuid,
            Self::TextSet => ColumnType::Set(Box::new(ColumnType::Varchar)),
            Self::UuidBlobMap => {
                ColumnType::Map(Box::new(ColumnType::Uuid), Box::new(ColumnType::Blob))
            }
        }
    }
}

const LOCAL: &[(&str, Kind)] = &[
    ("key", Kind::Text),
    ("bootstrapped", Kind::Text),
    ("broadcast_address", Kind::Inet),
    ("broadcast_port", Kind::Int),
    ("cluster_name", Kind::Text),
    ("cql_version", Kind::Text),
    ("data_center", Kind::Text),
    ("gossip_generation", Kind::Int),
    ("host_id", Kind::Uuid),
    ("listen_address", Kind::Inet),
    ("listen_port", Kind::Int),
    ("native_protocol_version", Kind::Text),
    ("partitioner", Kind::Text),
    ("rack", Kind::Text),
    ("release_version", Kind::Text),
    ("rpc_address", Kind::Inet),
    ("rpc_port", Kind::Int),
    ("schema_version", Kind::Uuid),
    ("tokens", Kind::TextSet),
    ("truncated_at", Kind::UuidBlobMap),
];

const PEERS: &[(&str, Kind)] = &[
    ("peer", Kind::Inet),
    ("data_center", Kind::Text),
    ("host_id", Kind::Uuid),
    ("preferred_ip", Kind::Inet),
    ("rack", Kind::Text),
    ("release_version", Kind::Text),
    ("rpc_address", Kind::Inet),
    ("schema_version", Kind::Uuid),
    ("tokens", Kind::TextSet),
];

const PEERS_V2: &[(&str, Kind)] = &[
    ("peer", Kind::Inet),
    ("peer_port", Kind::Int),
    ("data_center", Kind::Text),
    ("host_id", Kind::Uuid),
    ("native_address", Kind::Inet),
    ("native_port", Kind::Int),
    ("preferred_ip", Kind::Inet),
    ("preferred_port", Kind::Int),
    ("rack", Kind::Text),
    ("release_version", Kind::Text),
    ("schema_version", Kind::Uuid),
    ("tokens", Kind::TextSet),
];

impl SystemTable {
    /// The table for a table name in keyspace `system`, if Ringgate answers it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "local" => Some(Self::Local),
            "peers" => Some(Self::Peers),
            "peers_v2" => Some(Self::PeersV2),
            _ => None,
        }
    }

    /// The table's name in keyspace `system`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Peers => "peers",
            Self::PeersV2 => "peers_v2",
        }
    }

    /// The columns, in `SELECT *` order; the first is the partition key.
    pub(crate) fn columns(self) -> &'static [(&'static str, Kind)] {
        match self {
            Self::Local => LOCAL,
            Self::Peers => PEERS,
            Self::PeersV2 => PEERS_V2,
        }
    }

    /// The index of column `name`.
    pub(crate) fn column_index(self, name: &str) -> Option<usize> {
        self.columns().iter().position(|(n, _)| *n == name)
    }

    /// The column names, in `SELECT *` order.
    pub fn column_names(self) -> impl Iterator<Item = &'static str> {
        self.columns().iter().map(|(name, _)| *name)
    }

    /// The CQL type of column `index`.
    pub(crate) fn column_type(self, index: usize) -> Option<ColumnType> {
        self.columns()
            .get(index)
            .map(|(_, kind)| kind.column_type())
    }
}

//! Protocol versions and the direction bit of the version byte.

use std::fmt;

/// A native protocol version this crate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// Native protocol v3 (Cassandra 2.1+).
    V3 = 3,
    /// Native protocol v4 (Cassandra 2.2+).
    V4 = 4,
    /// Native protocol v5 (Cassandra 4.0+): framed segments, CRCs, per-request keyspace.
    V5 = 5,
}

impl ProtocolVersion {
    /// Every version this crate speaks, oldest first.
    pub const ALL: [ProtocolVersion; 3] = [Self::V3, Self::V4, Self::V5];

    /// The version for a version number (the version byte without its direction bit).
    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            3 => Some(Self::V3),
            4 => Some(Self::V4),
            5 => Some(Self::V5),
            _ => None,
        }
    }

    /// The version number, 3, 4 or 5.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Whether this version wraps envelopes in checksummed v5 segments after the handshake.
    pub fn is_framed(self) -> bool {
        self >= Self::V5
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.number())
    }
}

/// Which way an envelope travels: the most significant bit of the version byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to server (bit clear).
    Request,
    /// Server to client (bit set).
    Response,
}

impl Direction {
    /// The bit this direction sets in the version byte.
    pub fn bit(self) -> u8 {
        match self {
            Self::Request => 0x00,
            Self::Response => 0x80,
        }
    }
}

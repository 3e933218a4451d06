//! Consistency levels (`[consistency]`, a `[short]`; identical in v3, v4 and v5).

use bytes::{BufMut, BytesMut};

use crate::primitives::{self, DecodeError, Parsed, fail};

/// A consistency level, as QUERY, EXECUTE, BATCH and several errors carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u16)]
pub enum Consistency {
    /// `ANY` (writes only; a hint is enough).
    Any = 0x0000,
    /// `ONE`.
    #[default]
    One = 0x0001,
    /// `TWO`.
    Two = 0x0002,
    /// `THREE`.
    Three = 0x0003,
    /// `QUORUM`.
    Quorum = 0x0004,
    /// `ALL`.
    All = 0x0005,
    /// `LOCAL_QUORUM`.
    LocalQuorum = 0x0006,
    /// `EACH_QUORUM`.
    EachQuorum = 0x0007,
    /// `SERIAL`.
    Serial = 0x0008,
    /// `LOCAL_SERIAL`.
    LocalSerial = 0x0009,
    /// `LOCAL_ONE`.
    LocalOne = 0x000A,
}

impl Consistency {
    /// Every level, in code order.
    pub const ALL: [Consistency; 11] = [
        Self::Any,
        Self::One,
        Self::Two,
        Self::Three,
        Self::Quorum,
        Self::All,
        Self::LocalQuorum,
        Self::EachQuorum,
        Self::Serial,
        Self::LocalSerial,
        Self::LocalOne,
    ];

    /// The level for a wire code, or `None` for a code no version defines.
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The wire code.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// Whether this is one of the serial levels (`SERIAL`, `LOCAL_SERIAL`).
    pub fn is_serial(self) -> bool {
        matches!(self, Self::Serial | Self::LocalSerial)
    }
}

impl std::fmt::Display for Consistency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Any => "ANY",
            Self::One => "ONE",
            Self::Two => "TWO",
            Self::Three => "THREE",
            Self::Quorum => "QUORUM",
            Self::All => "ALL",
            Self::LocalQuorum => "LOCAL_QUORUM",
            Self::EachQuorum => "EACH_QUORUM",
            Self::Serial => "SERIAL",
            Self::LocalSerial => "LOCAL_SERIAL",
            Self::LocalOne => "LOCAL_ONE",
        })
    }
}

/// The consistency of the serial (Paxos) phase of a conditional update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerialConsistency {
    /// `SERIAL` (the default when a request names none).
    #[default]
    Serial,
    /// `LOCAL_SERIAL`.
    LocalSerial,
}

impl From<SerialConsistency> for Consistency {
    fn from(s: SerialConsistency) -> Self {
        match s {
            SerialConsistency::Serial => Consistency::Serial,
            SerialConsistency::LocalSerial => Consistency::LocalSerial,
        }
    }
}

impl TryFrom<Consistency> for SerialConsistency {
    type Error = DecodeError;

    fn try_from(c: Consistency) -> Result<Self, DecodeError> {
        match c {
            Consistency::Serial => Ok(Self::Serial),
            Consistency::LocalSerial => Ok(Self::LocalSerial),
            other => Err(DecodeError::InvalidValue {
                what: "serial consistency",
                value: i64::from(other.code()),
            }),
        }
    }
}

/// Parses a `[consistency]`.
pub fn consistency(input: &[u8]) -> Parsed<'_, Consistency> {
    let (rest, code) = primitives::short(input)?;
    let c = Consistency::from_code(code).ok_or_else(|| {
        fail(DecodeError::InvalidValue {
            what: "consistency",
            value: i64::from(code),
        })
    })?;
    Ok((rest, c))
}

/// Parses a serial `[consistency]`: only `SERIAL` and `LOCAL_SERIAL` are accepted.
pub fn serial_consistency(input: &[u8]) -> Parsed<'_, SerialConsistency> {
    let (rest, c) = consistency(input)?;
    Ok((rest, SerialConsistency::try_from(c).map_err(fail)?))
}

/// Writes a `[consistency]`.
pub fn put_consistency(buf: &mut BytesMut, c: Consistency) {
    buf.put_u16(c.code());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::decode_all;

    #[test]
    fn codes_match_the_spec_table() {
        let names = [
            (0x0000, Consistency::Any),
            (0x0004, Consistency::Quorum),
            (0x0006, Consistency::LocalQuorum),
            (0x0008, Consistency::Serial),
            (0x000A, Consistency::LocalOne),
        ];
        for (code, c) in names {
            assert_eq!(c.code(), code);
            assert_eq!(decode_all(&code.to_be_bytes(), consistency).unwrap(), c);
        }
        assert!(Consistency::from_code(0x000B).is_none());
        assert_eq!(Consistency::LocalQuorum.to_string(), "LOCAL_QUORUM");
        assert!(decode_all(&[0, 0x0B], consistency).is_err());
        assert!(decode_all(&[0, 0x01], serial_consistency).is_err());
        assert_eq!(
            decode_all(&[0, 0x09], serial_consistency).unwrap(),
            SerialConsistency::LocalSerial
        );
    }
}

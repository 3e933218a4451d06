//! Cassandra's partitioners: how a serialized partition key becomes a token, and how the tokens
//! a node advertises (in `system.local` / `system.peers`) are read back.

use std::fmt;
use std::str::FromStr;

use md5::{Digest, Md5};

use crate::murmur3::murmur3_token;
use crate::ring::RingToken;

/// A way of turning serialized partition keys into ordered tokens, one per Cassandra
/// partitioner class.
pub trait Partitioner {
    /// The partitioner's token type; the ring is ordered by its `Ord`.
    type Token: RingToken;

    /// The token of a serialized partition key (see [`crate::serialize_partition_key`]).
    fn token(&self, key: &[u8]) -> Self::Token;

    /// Reads a token in the text form Cassandra stores in `system.local.tokens`.
    fn parse_token(&self, text: &str) -> Result<Self::Token, TokenParseError>;
}

/// A token string that does not fit the partitioner's token format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a {partitioner} token")]
pub struct TokenParseError {
    /// The partitioner's short class name.
    pub partitioner: &'static str,
    /// The text that was rejected.
    pub text: String,
}

fn parse_error(partitioner: &'static str, text: &str) -> TokenParseError {
    TokenParseError {
        partitioner,
        text: text.to_owned(),
    }
}

/// The partitioners this crate implements, named as in `system.local.partitioner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionerName {
    /// `org.apache.cassandra.dht.Murmur3Partitioner`, Cassandra's default.
    Murmur3,
    /// `org.apache.cassandra.dht.RandomPartitioner`.
    Random,
    /// `org.apache.cassandra.dht.ByteOrderedPartitioner`.
    ByteOrdered,
}

impl PartitionerName {
    /// Recognizes a partitioner class name, fully qualified or short; `None` for any other.
    pub fn from_class_name(name: &str) -> Option<Self> {
        let short = name
            .strip_prefix("org.apache.cassandra.dht.")
            .unwrap_or(name);
        match short {
            "Murmur3Partitioner" => Some(Self::Murmur3),
            "RandomPartitioner" => Some(Self::Random),
            "ByteOrderedPartitioner" => Some(Self::ByteOrdered),
            _ => None,
        }
    }
}

/// `Murmur3Partitioner`: 64-bit signed tokens from Cassandra's MurmurHash3 variant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Murmur3Partitioner;

impl Partitioner for Murmur3Partitioner {
    type Token = i64;

    fn token(&self, key: &[u8]) -> i64 {
        murmur3_token(key)
    }

    fn parse_token(&self, text: &str) -> Result<i64, TokenParseError> {
        text.parse()
            .map_err(|_| parse_error("Murmur3Partitioner", text))
    }
}

/// `RandomPartitioner`: the MD5 digest of the key read as a signed 128-bit big-endian integer,
/// then its absolute value, so tokens run from 0 to 2^127. The empty key has the minimum token
/// -1, below every real token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RandomPartitioner;

/// A `RandomPartitioner` token: -1 (the minimum) or an integer in `0..=2^127`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RandomToken {
    /// The token plus one, so that -1 and 2^127 both fit and the order is the integer order.
    biased: u128,
}

impl RandomToken {
    /// The minimum token, -1: the token of the empty key.
    pub const MINIMUM: Self = Self { biased: 0 };
    /// The largest token a key can have, 2^127.
    pub const MAX_VALUE: u128 = 1 << 127;

    /// The token with a non-negative value; `None` above 2^127.
    pub fn new(value: u128) -> Option<Self> {
        (value <= Self::MAX_VALUE).then_some(Self { biased: value + 1 })
    }

    /// The token's value, or `None` for the minimum token -1.
    pub fn value(self) -> Option<u128> {
        self.biased.checked_sub(1)
    }
}

impl RingToken for RandomToken {
    fn prefix(&self) -> u64 {
        (self.biased >> 64) as u64
    }
}

impl fmt::Display for RandomToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value() {
            Some(value) => write!(f, "{value}"),
            None => f.write_str("-1"),
        }
    }
}

impl FromStr for RandomToken {
    type Err = TokenParseError;

    fn from_str(text: &str) -> Result<Self, TokenParseError> {
        if text == "-1" {
            return Ok(Self::MINIMUM);
        }
        text.parse::<u128>()
            .ok()
            .filter(|_| !text.starts_with('+'))
            .and_then(Self::new)
            .ok_or_else(|| parse_error("RandomPartitioner", text))
    }
}

impl Partitioner for RandomPartitioner {
    type Token = RandomToken;

    fn token(&self, key: &[u8]) -> RandomToken {
        if key.is_empty() {
            return RandomToken::MINIMUM;
        }
        let digest: [u8; 16] = Md5::digest(key).into();
        let magnitude = i128::from_be_bytes(digest).unsigned_abs();
        // `unsigned_abs` of an i128 is at most 2^127, which `new` accepts.
        RandomToken {
            biased: magnitude + 1,
        }
    }

    fn parse_token(&self, text: &str) -> Result<RandomToken, TokenParseError> {
        text.parse()
    }
}

/// `ByteOrderedPartitioner`: the token is the key itself, ordered byte by byte as unsigned
/// values; the empty key is the minimum token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByteOrderedPartitioner;

/// A `ByteOrderedPartitioner` token: raw bytes in unsigned lexicographic order, written as
/// lower-case hex in `system.local`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteOrderedToken(pub Vec<u8>);

impl RingToken for ByteOrderedToken {
    /// The first eight bytes, zero-padded, as a big-endian integer.
    fn prefix(&self) -> u64 {
        let mut first = [0u8; 8];
        let len = self.0.len().min(8);
        first[..len].copy_from_slice(&self.0[..len]);
        u64::from_be_bytes(first)
    }
}

impl fmt::Display for ByteOrderedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl FromStr for ByteOrderedToken {
    type Err = TokenParseError;

    fn from_str(text: &str) -> Result<Self, TokenParseError> {
        let error = || parse_error("ByteOrderedPartitioner", text);
        if text.len() % 2 != 0 {
            return Err(error());
        }
        text.as_bytes()
            .chunks_exact(2)
            .map(|pair| {
                let digits = std::str::from_utf8(pair).map_err(|_| error())?;
                u8::from_str_radix(digits, 16).map_err(|_| error())
            })
            .collect::<Result<Vec<u8>, _>>()
            .map(Self)
    }
}

impl Partitioner for ByteOrderedPartitioner {
    type Token = ByteOrderedToken;

    fn token(&self, key: &[u8]) -> ByteOrderedToken {
        ByteOrderedToken(key.to_vec())
    }

    fn parse_token(&self, text: &str) -> Result<ByteOrderedToken, TokenParseError> {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_partitioner_takes_the_absolute_value_of_the_digest() {
        // MD5("") is d41d8cd98f00b204e9800998ecf8427e, but the empty key is the minimum.
        assert_eq!(RandomPartitioner.token(b""), RandomToken::MINIMUM);
        // MD5("a") = 0cc175b9c0f1b6a831c399e269772661: positive as a signed integer.
        let a = RandomPartitioner.token(b"a");
        assert_eq!(a.value(), Some(0x0cc1_75b9_c0f1_b6a8_31c3_99e2_6977_2661));
        // MD5("b") = 92eb5ffee6ae2fec3ad71c777531578f: negative, so negated.
        let b = RandomPartitioner.token(b"b");
        let raw = 0x92eb_5ffe_e6ae_2fec_3ad7_1c77_7531_578f_u128;
        assert_eq!(b.value(), Some(raw.wrapping_neg()));
        assert_eq!(b.to_string().parse::<RandomToken>(), Ok(b));
        assert!(RandomToken::MINIMUM < RandomToken::new(0).unwrap());
        assert!(RandomToken::new(RandomToken::MAX_VALUE + 1).is_none());
        assert!("-2".parse::<RandomToken>().is_err());
        assert_eq!("-1".parse::<RandomToken>(), Ok(RandomToken::MINIMUM));
    }

    #[test]
    fn byte_ordered_tokens_compare_as_unsigned_bytes() {
        let low = ByteOrderedPartitioner.token(&[0x7f]);
        let high = ByteOrderedPartitioner.token(&[0x80]);
        assert!(low < high);
        assert!(ByteOrderedPartitioner.token(&[]) < low);
        assert_eq!(high.to_string(), "80");
        assert_eq!(
            "00ff".parse::<ByteOrderedToken>(),
            Ok(ByteOrderedToken(vec![0, 0xff]))
        );
        assert!("0".parse::<ByteOrderedToken>().is_err());
        assert!("zz".parse::<ByteOrderedToken>().is_err());
    }

    #[test]
    fn partitioner_names() {
        assert_eq!(
            PartitionerName::from_class_name("org.apache.cassandra.dht.Murmur3Partitioner"),
            Some(PartitionerName::Murmur3)
        );
        assert_eq!(
            PartitionerName::from_class_name("RandomPartitioner"),
            Some(PartitionerName::Random)
        );
        assert_eq!(
            PartitionerName::from_class_name("OrderPreservingPartitioner"),
            None
        );
        assert_eq!(Murmur3Partitioner.parse_token("-42"), Ok(-42));
        assert!(Murmur3Partitioner.parse_token("x").is_err());
    }
}

//! Replication strategies as Cassandra stores them in `system_schema.keyspaces.replication`.
//!
//! ```text
//! {'class': 'org.apache.cassandra.locator.SimpleStrategy', 'replication_factor': '3'}
//! {'class': 'org.apache.cassandra.locator.NetworkTopologyStrategy', 'dc1': '3', 'dc2': '3/1'}
//! ```
//!
//! A class is named in full (`org.apache.cassandra.locator.X`) or short (`X`), as Cassandra
//! accepts both. A replication factor is `N` or, with transient replication, `N/T`: N replicas
//! in all, T of them transient. Transient replicas are still replicas of the range, so for
//! routing every one of the N counts; T only has to be valid.

use std::collections::{BTreeMap, HashMap};

/// A replication factor: `all` replicas, of which `transient` are transient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplicationFactor {
    /// Replicas in all (full plus transient); what routing uses.
    pub all: u32,
    /// How many of them are transient.
    pub transient: u32,
}

impl ReplicationFactor {
    /// Parses `"3"` or `"3/1"`; the transient count must be below the total (or 0).
    pub fn parse(text: &str) -> Option<Self> {
        // Java's Integer.valueOf: an optional '+', then decimal digits.
        let number = |s: &str| {
            let s = s.strip_prefix('+').unwrap_or(s);
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        let (all, transient) = match text.split_once('/') {
            Some((all, transient)) => (number(all)?, number(transient)?),
            None => (number(text)?, 0),
        };
        (transient == 0 || transient < all).then_some(Self { all, transient })
    }
}

/// A keyspace's replication strategy.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReplicationStrategy {
    /// `SimpleStrategy`: the owner of the token, then the next distinct nodes walking the ring,
    /// ignoring datacenters and racks; capped at the number of nodes.
    Simple {
        /// The `replication_factor` option.
        replication_factor: ReplicationFactor,
    },
    /// `NetworkTopologyStrategy`: per datacenter, nodes walking the ring from the token's owner,
    /// preferring racks not yet used.
    NetworkTopology {
        /// Each datacenter's replication factor; datacenters the ring lacks are ignored.
        datacenters: BTreeMap<String, ReplicationFactor>,
    },
    /// `LocalStrategy` (the `system` keyspace): every node holds its own copy and serves it
    /// itself. Replica lists for it are empty: there is no replica to route to, and a request
    /// may go to any node, which answers from its own data.
    Local,
    /// `EverywhereStrategy`: every node holding tokens is a replica, in ring order from the
    /// token's owner.
    Everywhere,
}

/// Why a replication map could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicationError {
    /// The map has no `class` entry.
    #[error("replication options have no 'class'")]
    MissingClass,
    /// The class is not one this crate knows.
    #[error("unknown replication strategy class {0:?}")]
    UnknownClass(String),
    /// `SimpleStrategy` without `replication_factor`.
    #[error("SimpleStrategy needs a 'replication_factor' option")]
    MissingReplicationFactor,
    /// A replication factor that is not `N` or `N/T` with `T < N`.
    #[error("option {option:?} has the invalid replication factor {value:?}")]
    InvalidReplicationFactor {
        /// The option's key (`replication_factor` or a datacenter name).
        option: String,
        /// Its value.
        value: String,
    },
    /// An option the strategy does not accept (including `replication_factor` on
    /// `NetworkTopologyStrategy`, which Cassandra expands per datacenter before storing).
    #[error("unexpected option {0:?} for this replication strategy")]
    UnexpectedOption(String),
}

const LOCATOR_PACKAGE: &str = "org.apache.cassandra.locator.";

impl ReplicationStrategy {
    /// Reads the replication map of `system_schema.keyspaces`.
    pub fn from_options<K, V, S>(options: &HashMap<K, V, S>) -> Result<Self, ReplicationError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Self::from_pairs(options.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
    }

    /// Reads replication options given as (key, value) pairs.
    pub fn from_pairs<'a>(
        options: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ReplicationError> {
        let mut class = None;
        let mut rest = Vec::new();
        for (key, value) in options {
            if key == "class" {
                class = Some(value);
            } else {
                rest.push((key, value));
            }
        }
        let class = class.ok_or(ReplicationError::MissingClass)?;
        let short = class.strip_prefix(LOCATOR_PACKAGE).unwrap_or(class);
        let factor = |key: &str, value: &str| {
            ReplicationFactor::parse(value).ok_or_else(|| {
                ReplicationError::InvalidReplicationFactor {
                    option: key.to_owned(),
                    value: value.to_owned(),
                }
            })
        };
        match short {
            "SimpleStrategy" => {
                let mut replication_factor = None;
                for (key, value) in rest {
                    if key != "replication_factor" {
                        return Err(ReplicationError::UnexpectedOption(key.to_owned()));
                    }
                    replication_factor = Some(factor(key, value)?);
                }
                Ok(Self::Simple {
                    replication_factor: replication_factor
                        .ok_or(ReplicationError::MissingReplicationFactor)?,
                })
            }
            "NetworkTopologyStrategy" => {
                let mut datacenters = BTreeMap::new();
                for (key, value) in rest {
                    if key.eq_ignore_ascii_case("replication_factor") {
                        return Err(ReplicationError::UnexpectedOption(key.to_owned()));
                    }
                    datacenters.insert(key.to_owned(), factor(key, value)?);
                }
                Ok(Self::NetworkTopology { datacenters })
            }
            "LocalStrategy" => Ok(Self::Local),
            "EverywhereStrategy" => Ok(Self::Everywhere),
            _ => Err(ReplicationError::UnknownClass(class.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<ReplicationStrategy, ReplicationError> {
        ReplicationStrategy::from_pairs(pairs.iter().copied())
    }

    fn rf(all: u32, transient: u32) -> ReplicationFactor {
        ReplicationFactor { all, transient }
    }

    #[test]
    fn reads_the_stored_forms() {
        assert_eq!(
            parse(&[
                ("class", "org.apache.cassandra.locator.SimpleStrategy"),
                ("replication_factor", "3")
            ]),
            Ok(ReplicationStrategy::Simple {
                replication_factor: rf(3, 0)
            })
        );
        assert_eq!(
            parse(&[
                ("class", "NetworkTopologyStrategy"),
                ("dc1", "3/1"),
                ("dc2", "0")
            ]),
            Ok(ReplicationStrategy::NetworkTopology {
                datacenters: BTreeMap::from([("dc1".into(), rf(3, 1)), ("dc2".into(), rf(0, 0))])
            })
        );
        assert_eq!(
            parse(&[("class", "org.apache.cassandra.locator.LocalStrategy")]),
            Ok(ReplicationStrategy::Local)
        );
        assert_eq!(
            parse(&[("class", "EverywhereStrategy")]),
            Ok(ReplicationStrategy::Everywhere)
        );
        let map = HashMap::from([
            ("class".to_string(), "SimpleStrategy".to_string()),
            ("replication_factor".to_string(), "1".to_string()),
        ]);
        assert!(ReplicationStrategy::from_options(&map).is_ok());
    }

    #[test]
    fn rejects_what_cassandra_rejects() {
        assert_eq!(parse(&[("dc1", "3")]), Err(ReplicationError::MissingClass));
        assert_eq!(
            parse(&[("class", "com.example.MyStrategy")]),
            Err(ReplicationError::UnknownClass(
                "com.example.MyStrategy".into()
            ))
        );
        assert_eq!(
            parse(&[
                ("class", "org.example.SimpleStrategy"),
                ("replication_factor", "1")
            ]),
            Err(ReplicationError::UnknownClass(
                "org.example.SimpleStrategy".into()
            ))
        );
        assert_eq!(
            parse(&[("class", "SimpleStrategy")]),
            Err(ReplicationError::MissingReplicationFactor)
        );
        for bad in [
            "",
            "x",
            "-1",
            "++3",
            "3/3",
            "3/4",
            "3/",
            "/1",
            "1/2/3",
            " 3",
            "99999999999",
        ] {
            assert!(
                matches!(
                    parse(&[("class", "SimpleStrategy"), ("replication_factor", bad)]),
                    Err(ReplicationError::InvalidReplicationFactor { .. })
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse(&[
                ("class", "NetworkTopologyStrategy"),
                ("replication_factor", "3")
            ]),
            Err(ReplicationError::UnexpectedOption(
                "replication_factor".into()
            ))
        );
        assert_eq!(
            parse(&[
                ("class", "SimpleStrategy"),
                ("replication_factor", "3"),
                ("dc1", "1")
            ]),
            Err(ReplicationError::UnexpectedOption("dc1".into()))
        );
    }

    #[test]
    fn transient_factors_parse() {
        assert_eq!(ReplicationFactor::parse("3/1"), Some(rf(3, 1)));
        assert_eq!(ReplicationFactor::parse("0"), Some(rf(0, 0)));
        assert_eq!(ReplicationFactor::parse("0/0"), Some(rf(0, 0)));
        assert_eq!(ReplicationFactor::parse("+2"), Some(rf(2, 0)));
    }
}

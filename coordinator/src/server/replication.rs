//! Keyspaces' replication as a Ringgate node's clients read it. Clients see Ringgate's nodes
//! as the cluster, and token-aware drivers compute each keyspace's replicas from its
//! replication settings and the nodes they see: `{'dc1': 3, 'dc2': 3}` over one Ringgate node
//! in dc1 makes them warn that the replication factor cannot be achieved (and find no replica
//! in dc2). So the `replication` column of `system_schema.keyspaces` rows passed to clients is
//! restated over Ringgate's own datacenters: each holds as many replicas as the keyspace has in
//! all (at most as many as it has Ringgate nodes). The cluster itself is untouched, and so is
//! what the server describes (`DESCRIBE KEYSPACE` runs on the node and says the truth).

use std::collections::BTreeMap;

use bytes::BytesMut;

use ringgate_protocol::ProtocolVersion;
use ringgate_protocol::message::Rows;
use ringgate_protocol::primitives::{DecodeError, EncodeError, RawValue, put_value};
use ringgate_protocol::types::{ColumnType, CqlValue, decode_value, encode_value};

/// Ringgate nodes per datacenter, as clients see them.
pub(crate) type Datacenters = BTreeMap<String, usize>;

/// `replication` restated over `datacenters`; `None` when it stays as it is (strategies
/// other than NetworkTopologyStrategy and SimpleStrategy, or no replica anywhere).
pub(crate) fn restate(
    replication: &[(String, String)],
    datacenters: &Datacenters,
) -> Option<Vec<(String, String)>> {
    let class = replication
        .iter()
        .find(|(k, _)| k == "class")
        .map(|(_, v)| v.as_str())?;
    let short = class.rsplit('.').next().unwrap_or(class);
    // A factor may be "3" or, for transient replication, "3/1": the full count comes first.
    let factor = |v: &str| -> usize {
        v.split('/')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    let nodes: usize = datacenters.values().sum();
    match short {
        "NetworkTopologyStrategy" => {
            let total: usize = replication
                .iter()
                .filter(|(k, _)| k != "class")
                .map(|(_, v)| factor(v))
                .sum();
            if total == 0 {
                return None;
            }
            let mut restated = vec![("class".to_owned(), class.to_owned())];
            restated.extend(
                datacenters
                    .iter()
                    .map(|(dc, n)| (dc.clone(), total.min(*n).to_string())),
            );
            Some(restated)
        }
        "SimpleStrategy" => {
            let rf = replication
                .iter()
                .find(|(k, _)| k == "replication_factor")
                .map(|(_, v)| factor(v))?;
            if rf == 0 {
                return None;
            }
            Some(vec![
                ("class".to_owned(), class.to_owned()),
                ("replication_factor".to_owned(), rf.min(nodes).to_string()),
            ])
        }
        _ => None,
    }
}

/// Why a rows result could not be restated.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RestateError {
    /// A cell did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A cell did not encode.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// A rows result of `system_schema.keyspaces` with its `replication` cells restated over
/// the `datacenters` (asked for only when there is such a column); `None` when the result
/// holds no such column (other tables, results without column specs).
pub(crate) fn restate_rows(
    rows: &Rows,
    datacenters: impl FnOnce() -> Datacenters,
    version: ProtocolVersion,
) -> Result<Option<Rows>, RestateError> {
    let Some(columns) = &rows.metadata.columns else {
        return Ok(None);
    };
    let Some((index, typ)) = columns.iter().enumerate().find_map(|(i, c)| {
        (c.keyspace == "system_schema" && c.table == "keyspaces" && c.name == "replication")
            .then_some((i, &c.typ))
    }) else {
        return Ok(None);
    };
    let datacenters = &datacenters();
    let mut content = BytesMut::with_capacity(rows.content.len());
    for row in rows.rows()? {
        for (i, cell) in row?.cells().enumerate() {
            match cell {
                RawValue::Bytes(bytes) if i == index => {
                    let restated = restate_cell(typ, bytes, datacenters, version)?;
                    put_value(
                        &mut content,
                        RawValue::Bytes(restated.as_deref().unwrap_or(bytes)),
                    )?;
                }
                other => put_value(&mut content, other)?,
            }
        }
    }
    Ok(Some(Rows {
        metadata: rows.metadata.clone(),
        rows_count: rows.rows_count,
        content: content.freeze(),
    }))
}

/// One `replication` cell restated, encoded; `None` when it stays as it is.
fn restate_cell(
    typ: &ColumnType,
    bytes: &[u8],
    datacenters: &Datacenters,
    version: ProtocolVersion,
) -> Result<Option<Vec<u8>>, RestateError> {
    let CqlValue::Map(entries) = decode_value(typ, bytes, version)? else {
        return Ok(None);
    };
    let text = |v: &CqlValue| match v {
        CqlValue::Text(s) | CqlValue::Ascii(s) => Some(s.clone()),
        _ => None,
    };
    let Some(replication) = entries
        .iter()
        .map(|(k, v)| Some((text(k)?, text(v)?)))
        .collect::<Option<Vec<_>>>()
    else {
        return Ok(None);
    };
    let Some(restated) = restate(&replication, datacenters) else {
        return Ok(None);
    };
    let value = CqlValue::Map(
        restated
            .into_iter()
            .map(|(k, v)| (CqlValue::Text(k), CqlValue::Text(v)))
            .collect(),
    );
    let mut out = BytesMut::new();
    encode_value(typ, &value, &mut out)?;
    Ok(Some(out.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn dcs(pairs: &[(&str, usize)]) -> Datacenters {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    const NTS: &str = "org.apache.cassandra.locator.NetworkTopologyStrategy";
    const SIMPLE: &str = "org.apache.cassandra.locator.SimpleStrategy";

    #[test]
    fn replication_is_restated_over_ringgates_datacenters() {
        let one = dcs(&[("dc1", 1)]);
        assert_eq!(
            restate(&map(&[("class", NTS), ("dc1", "2"), ("dc2", "1")]), &one),
            Some(map(&[("class", NTS), ("dc1", "1")]))
        );
        let three = dcs(&[("dc1", 2), ("edge", 1)]);
        assert_eq!(
            restate(&map(&[("class", NTS), ("dc1", "3/1")]), &three),
            Some(map(&[("class", NTS), ("dc1", "2"), ("edge", "1")]))
        );
        assert_eq!(
            restate(
                &map(&[("class", SIMPLE), ("replication_factor", "3")]),
                &three
            ),
            Some(map(&[("class", SIMPLE), ("replication_factor", "3")]))
        );
        assert_eq!(
            restate(
                &map(&[("class", SIMPLE), ("replication_factor", "3")]),
                &one
            ),
            Some(map(&[("class", SIMPLE), ("replication_factor", "1")]))
        );
        // Left alone: local and everywhere strategies, no replicas, no class.
        for kept in [
            map(&[("class", "org.apache.cassandra.locator.LocalStrategy")]),
            map(&[("class", "org.apache.cassandra.locator.EverywhereStrategy")]),
            map(&[("class", NTS)]),
            map(&[("class", NTS), ("dc1", "0")]),
            map(&[("dc1", "3")]),
        ] {
            assert_eq!(restate(&kept, &one), None, "{kept:?}");
        }
    }
}

//! Builds the RESULT of a recognised system-table SELECT: Rows for QUERY and EXECUTE, Prepared
//! for PREPARE.

use bytes::{Bytes, BytesMut};
use md5::{Digest, Md5};

use ringgate_protocol::ProtocolVersion;
use ringgate_protocol::message::{
    ColumnSpec, ErrorDetails, ErrorResponse, Prepared, PreparedMetadata, ResultBody, Rows,
    RowsMetadata, TableSpec, Value, Values,
};
use ringgate_protocol::types::{ColumnType, CqlValue, decode_value, encode_cell};

use super::info::Snapshot;
use super::select::{KeyFilter, SystemSelect};

fn invalid(message: impl Into<String>) -> ErrorResponse {
    ErrorResponse::new(ErrorDetails::Invalid, message)
}

fn table_spec(select: &SystemSelect) -> TableSpec {
    TableSpec {
        keyspace: "system".to_owned(),
        table: select.table.name().to_owned(),
    }
}

/// The (column index, result name) pairs a SELECT returns.
fn selected(select: &SystemSelect) -> Vec<(usize, String)> {
    match &select.columns {
        Some(columns) => columns.clone(),
        None => select
            .table
            .column_names()
            .enumerate()
            .map(|(i, name)| (i, name.to_owned()))
            .collect(),
    }
}

/// The column specs of the result.
pub(crate) fn result_columns(select: &SystemSelect) -> Vec<ColumnSpec> {
    let spec = table_spec(select);
    if let Some(name) = &select.count {
        return vec![ColumnSpec {
            keyspace: spec.keyspace,
            table: spec.table,
            name: name.clone(),
            typ: ColumnType::Bigint,
        }];
    }
    selected(select)
        .into_iter()
        .filter_map(|(index, name)| {
            Some(ColumnSpec {
                keyspace: spec.keyspace.clone(),
                table: spec.table.clone(),
                name,
                typ: select.table.column_type(index)?,
            })
        })
        .collect()
}

/// The values the restricted columns must have, as (column index, value), from the filters
/// and the bound values (markers in text order, or by name: the marker's, else the column's).
fn wanted(
    select: &SystemSelect,
    values: &Values,
    version: ProtocolVersion,
) -> Result<Vec<(usize, CqlValue)>, ErrorResponse> {
    let markers = select
        .filters
        .iter()
        .filter(|(_, f)| matches!(f, KeyFilter::Marker(_)))
        .count();
    if values.len() != markers {
        return Err(invalid(format!(
            "Invalid amount of bind variables: expected {markers}, got {}",
            values.len()
        )));
    }
    let mut next_marker = 0usize;
    let mut out = Vec::with_capacity(select.filters.len());
    for (index, filter) in &select.filters {
        let column = select.table.column_names().nth(*index).unwrap_or("key");
        let typ = select
            .table
            .column_type(*index)
            .ok_or_else(|| invalid("no such column"))?;
        let bound = |value: &Value| match value {
            Value::Bytes(bytes) => decode_value(&typ, bytes, version)
                .map_err(|e| invalid(format!("Invalid value for column {column}: {e}"))),
            Value::Null | Value::Unset => Err(invalid(format!(
                "Invalid null value in condition for column {column}"
            ))),
        };
        let value = match (filter, values) {
            (KeyFilter::Literal(text), _) => match typ {
                ColumnType::Inet => text
                    .parse()
                    .map(CqlValue::Inet)
                    .map_err(|_| invalid(format!("Unable to make inet address from '{text}'")))?,
                ColumnType::Int => {
                    return Err(invalid(format!(
                        "Invalid STRING constant ({text}) for \"{column}\" of type int"
                    )));
                }
                _ => CqlValue::Text(text.clone()),
            },
            (KeyFilter::Integer(n), _) => match typ {
                ColumnType::Int => CqlValue::Int(*n),
                _ => {
                    return Err(invalid(format!(
                        "Invalid INTEGER constant ({n}) for \"{column}\""
                    )));
                }
            },
            (KeyFilter::Marker(_), Values::Positional(list)) => {
                let value = list
                    .get(next_marker)
                    .ok_or_else(|| invalid("Missing bind variable"))?;
                next_marker = next_marker.saturating_add(1);
                bound(value)?
            }
            (KeyFilter::Marker(name), Values::Named(list)) => {
                let want = name.as_deref().unwrap_or(column);
                match list.iter().find(|(n, _)| n.eq_ignore_ascii_case(want)) {
                    Some((_, value)) => bound(value)?,
                    None => return Err(invalid(format!("Missing value for bind variable {want}"))),
                }
            }
        };
        out.push((*index, value));
    }
    Ok(out)
}

/// The Rows result of `select` over `snapshot`. With `skip_metadata` (EXECUTE's flag) the
/// column specs are left out.
pub(crate) fn rows(
    select: &SystemSelect,
    snapshot: &Snapshot,
    values: &Values,
    skip_metadata: bool,
    version: ProtocolVersion,
) -> Result<ResultBody, ErrorResponse> {
    let wanted = wanted(select, values, version)?;
    let limit = select.limit.map_or(usize::MAX, |l| l as usize);
    let encode_error = |e| ErrorResponse::new(ErrorDetails::ServerError, format!("{e}"));
    let matching = snapshot.rows(select.table).iter().filter(|row| {
        wanted
            .iter()
            .all(|(index, value)| row.get(*index).and_then(Option::as_ref) == Some(value))
    });
    let mut content = BytesMut::new();
    let mut count = 0usize;
    let column_count;
    if select.count.is_some() {
        let n = i64::try_from(matching.count()).unwrap_or(i64::MAX);
        if limit > 0 {
            encode_cell(
                &ColumnType::Bigint,
                Some(&CqlValue::Bigint(n)),
                &mut content,
            )
            .map_err(encode_error)?;
            count = 1;
        }
        column_count = 1;
    } else {
        let columns = selected(select);
        for row in matching.take(limit) {
            for (index, _) in &columns {
                let typ = select
                    .table
                    .column_type(*index)
                    .ok_or_else(|| invalid("no such column"))?;
                let cell = row.get(*index).and_then(Option::as_ref);
                encode_cell(&typ, cell, &mut content).map_err(encode_error)?;
            }
            count = count.saturating_add(1);
        }
        column_count = columns.len();
    }
    let metadata = if skip_metadata {
        RowsMetadata {
            column_count,
            ..RowsMetadata::default()
        }
    } else {
        RowsMetadata {
            column_count,
            paging_state: None,
            new_metadata_id: None,
            global_table_spec: Some(table_spec(select)),
            columns: Some(result_columns(select)),
        }
    };
    Ok(ResultBody::Rows(Rows {
        metadata,
        rows_count: count,
        content: content.freeze(),
    }))
}

/// MD5 of the parts, each followed by a separator.
fn digest(parts: &[&str]) -> Bytes {
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let id: [u8; 16] = hasher.finalize().into();
    Bytes::copy_from_slice(&id)
}

/// The prepared id of a system-table statement: MD5 of a Ringgate marker, the keyspace and the
/// text, so it cannot be mistaken for an id the cluster hands out for another statement.
pub(crate) fn prepared_id(text: &str, keyspace: Option<&str>) -> Bytes {
    digest(&["ringgate system select", keyspace.unwrap_or(""), text])
}

/// The Prepared result of `select` under `id`.
pub(crate) fn prepared(select: &SystemSelect, id: Bytes, version: ProtocolVersion) -> Prepared {
    let spec = table_spec(select);
    let mut markers = Vec::new();
    let mut pk_indexes = Vec::new();
    for (index, filter) in &select.filters {
        let KeyFilter::Marker(name) = filter else {
            continue;
        };
        let column = select.table.column_names().nth(*index).unwrap_or("key");
        let Some(typ) = select.table.column_type(*index) else {
            continue;
        };
        // The partition key is the first column; its marker's index routes the statement.
        if *index == 0 {
            pk_indexes.push(u16::try_from(markers.len()).unwrap_or(0));
        }
        markers.push(ColumnSpec {
            keyspace: spec.keyspace.clone(),
            table: spec.table.clone(),
            name: name.clone().unwrap_or_else(|| column.to_owned()),
            typ,
        });
    }
    // Partition key indexes exist from v4 on.
    if version < ProtocolVersion::V4 {
        pk_indexes.clear();
    }
    let columns = result_columns(select);
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let result_metadata_id = (version >= ProtocolVersion::V5).then(|| {
        let mut parts = vec![select.table.name()];
        parts.extend(names.iter().copied());
        digest(&parts)
    });
    Prepared {
        id,
        result_metadata_id,
        metadata: PreparedMetadata {
            pk_indexes,
            global_table_spec: Some(spec.clone()),
            columns: markers,
        },
        result_metadata: RowsMetadata {
            column_count: columns.len(),
            paging_state: None,
            new_metadata_id: None,
            global_table_spec: Some(spec),
            columns: Some(columns),
        },
    }
}

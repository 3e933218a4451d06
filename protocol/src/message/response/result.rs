//! RESULT (§4.2.5): Void, Rows, Set_keyspace, Prepared and Schema_change.

use bytes::{BufMut, Bytes, BytesMut};

use crate::ProtocolVersion;
use crate::primitives::{self, DecodeError, EncodeError, Parsed, decode_all, fail};
use crate::types::{RowIter, rows};

use super::metadata::{PreparedMetadata, RowsMetadata};
use super::schema_change::SchemaChange;

/// The `kind` of a RESULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ResultKind {
    /// Void (0x0001): nothing to say.
    Void = 0x0001,
    /// Rows (0x0002).
    Rows = 0x0002,
    /// Set_keyspace (0x0003): the answer to `USE`.
    SetKeyspace = 0x0003,
    /// Prepared (0x0004): the answer to PREPARE.
    Prepared = 0x0004,
    /// Schema_change (0x0005).
    SchemaChange = 0x0005,
}

impl ResultKind {
    /// The kind for a wire code.
    pub fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            0x0001 => Self::Void,
            0x0002 => Self::Rows,
            0x0003 => Self::SetKeyspace,
            0x0004 => Self::Prepared,
            0x0005 => Self::SchemaChange,
            _ => return None,
        })
    }
}

/// A Rows result: metadata, a row count and the rows' bytes, left undecoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    /// Column specs, paging state, metadata id.
    pub metadata: RowsMetadata,
    /// How many rows `content` holds.
    pub rows_count: usize,
    /// `<rows_content>`: `rows_count` × `column_count` `[bytes]` cells, a slice of the body.
    pub content: Bytes,
}

impl Rows {
    /// Iterates over the rows without decoding or copying cells.
    pub fn rows(&self) -> Result<RowIter<'_>, DecodeError> {
        rows(&self.content, self.rows_count, self.metadata.column_count)
    }
}

/// A Prepared result: the statement's id, its bind markers and its result columns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prepared {
    /// The prepared id (`[short bytes]`) to EXECUTE with.
    pub id: Bytes,
    /// v5: the id of the result metadata, sent back in EXECUTE. Present exactly in v5.
    pub result_metadata_id: Option<Bytes>,
    /// The bind markers (and, v4+, the partition key's marker indexes).
    pub metadata: PreparedMetadata,
    /// The columns an EXECUTE will return (often empty: No_metadata, 0 columns).
    pub result_metadata: RowsMetadata,
}

/// A RESULT body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultBody {
    /// Void.
    Void,
    /// Rows.
    Rows(Rows),
    /// Set_keyspace: the keyspace now in use.
    SetKeyspace(String),
    /// Prepared (boxed: by far the largest kind).
    Prepared(Box<Prepared>),
    /// Schema_change.
    SchemaChange(SchemaChange),
}

fn rows_body<'a>(input: &'a [u8], body: &Bytes, version: ProtocolVersion) -> Parsed<'a, Rows> {
    let (rest, metadata) = RowsMetadata::parse(input, body, version)?;
    let (rest, rows_count) = primitives::count(rest)?;
    // Every cell takes at least its 4-byte length: refuse counts the bytes cannot hold.
    let min = rows_count
        .checked_mul(metadata.column_count)
        .and_then(|cells| cells.checked_mul(4));
    if min.is_none_or(|min| min > rest.len()) {
        return Err(fail(DecodeError::InvalidValue {
            what: "rows count for the bytes present",
            value: i64::try_from(rows_count).unwrap_or(i64::MAX),
        }));
    }
    let content = body.slice_ref(rest);
    let done: &[u8] = &[];
    Ok((
        done,
        Rows {
            metadata,
            rows_count,
            content,
        },
    ))
}

fn prepared<'a>(input: &'a [u8], body: &Bytes, version: ProtocolVersion) -> Parsed<'a, Prepared> {
    let (mut rest, id) = primitives::short_bytes(input)?;
    let mut result_metadata_id = None;
    if version >= ProtocolVersion::V5 {
        let (r, md) = primitives::short_bytes(rest)?;
        result_metadata_id = Some(body.slice_ref(md));
        rest = r;
    }
    let (rest, metadata) = PreparedMetadata::parse(rest, version)?;
    let (rest, result_metadata) = RowsMetadata::parse(rest, body, version)?;
    Ok((
        rest,
        Prepared {
            id: body.slice_ref(id),
            result_metadata_id,
            metadata,
            result_metadata,
        },
    ))
}

impl ResultBody {
    /// The kind of this result.
    pub fn kind(&self) -> ResultKind {
        match self {
            Self::Void => ResultKind::Void,
            Self::Rows(_) => ResultKind::Rows,
            Self::SetKeyspace(_) => ResultKind::SetKeyspace,
            Self::Prepared(_) => ResultKind::Prepared,
            Self::SchemaChange(_) => ResultKind::SchemaChange,
        }
    }

    /// Decodes a RESULT body. Rows content is sliced, not decoded.
    pub fn decode(body: &Bytes, version: ProtocolVersion) -> Result<Self, DecodeError> {
        decode_all(body, |input| {
            let (rest, code) = primitives::int(input)?;
            let kind = ResultKind::from_code(code).ok_or(fail(DecodeError::InvalidValue {
                what: "result kind",
                value: i64::from(code),
            }))?;
            Ok(match kind {
                ResultKind::Void => (rest, Self::Void),
                ResultKind::Rows => {
                    let (rest, r) = rows_body(rest, body, version)?;
                    (rest, Self::Rows(r))
                }
                ResultKind::SetKeyspace => {
                    let (rest, ks) = primitives::string(rest)?;
                    (rest, Self::SetKeyspace(ks.to_owned()))
                }
                ResultKind::Prepared => {
                    let (rest, p) = prepared(rest, body, version)?;
                    (rest, Self::Prepared(Box::new(p)))
                }
                ResultKind::SchemaChange => {
                    let (rest, c) = SchemaChange::parse(rest, version)?;
                    (rest, Self::SchemaChange(c))
                }
            })
        })
    }

    /// Encodes a RESULT body.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_i32(self.kind() as i32);
        match self {
            Self::Void => Ok(()),
            Self::Rows(r) => {
                r.metadata.encode(version, buf)?;
                primitives::put_count_i32(buf, "rows", r.rows_count)?;
                buf.put_slice(&r.content);
                Ok(())
            }
            Self::SetKeyspace(ks) => primitives::put_string(buf, ks),
            Self::Prepared(p) => {
                primitives::put_short_bytes(buf, &p.id)?;
                match (&p.result_metadata_id, version >= ProtocolVersion::V5) {
                    (Some(id), true) => primitives::put_short_bytes(buf, id)?,
                    (None, false) => {}
                    _ => {
                        return Err(EncodeError::Invalid {
                            what: "Prepared result metadata id",
                            reason: "present exactly in protocol v5",
                        });
                    }
                }
                p.metadata.encode(version, buf)?;
                p.result_metadata.encode(version, buf)
            }
            Self::SchemaChange(c) => c.encode(version, buf),
        }
    }
}

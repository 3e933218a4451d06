//! Fast paths for a coordinator: read what routing needs straight from a request body —
//! prepared id, consistency, bound values — without decoding (or allocating for) the rest,
//! and rewrite the consistency level in place.
//!
//! Everything here borrows from the body. Values are read lazily by [`ValuesView`]; a batch's
//! statements by [`BatchStatements`]. A body that reads well here may still be malformed
//! further on: these functions look only as far as they must. Use
//! [`Request::decode`](super::Request::decode) to validate a whole body.
//!
//! ```
//! use bytes::BytesMut;
//! use ringgate_protocol::ProtocolVersion;
//! use ringgate_protocol::message::{Consistency, Execute, QueryParameters, Value, peek};
//! use ringgate_protocol::primitives::RawValue;
//!
//! let exec = Execute {
//!     id: vec![0xAB; 16].into(),
//!     result_metadata_id: None,
//!     params: QueryParameters::new(Consistency::One).with_values(vec![Value::from(vec![0, 0, 0, 42])]),
//! };
//! let mut body = BytesMut::new();
//! exec.encode(ProtocolVersion::V4, &mut body).unwrap();
//!
//! let view = peek::execute(&body, ProtocolVersion::V4).unwrap();
//! assert_eq!(view.id, &[0xAB; 16][..]);
//! assert_eq!(view.consistency, Consistency::One);
//! let (name, first) = view.values().next().unwrap().unwrap();
//! assert_eq!((name, first), (None, RawValue::Bytes(&[0, 0, 0, 42])));
//!
//! // Upgrade the consistency without re-encoding.
//! let at = view.consistency_offset;
//! peek::set_consistency(&mut body, at, Consistency::LocalQuorum).unwrap();
//! assert_eq!(peek::execute(&body, ProtocolVersion::V4).unwrap().consistency, Consistency::LocalQuorum);
//! ```

use crate::primitives::{self, DecodeError, Parsed, RawValue, decode_prefix};
use crate::{Opcode, ProtocolVersion};

use super::consistency::{Consistency, consistency};
use super::query_params::{flags, query_flags};
use super::request::BatchType;
use super::value::value_in;

/// Bound values, read one at a time from the body.
#[derive(Debug, Clone)]
pub struct ValuesView<'a> {
    rest: &'a [u8],
    remaining: u16,
    named: bool,
    version: ProtocolVersion,
}

impl<'a> ValuesView<'a> {
    fn empty(version: ProtocolVersion) -> Self {
        Self {
            rest: &[],
            remaining: 0,
            named: false,
            version,
        }
    }

    /// Reads `<n>` and positions on the first value.
    fn parse(input: &'a [u8], named: bool, version: ProtocolVersion) -> Parsed<'a, Self> {
        let (rest, n) = primitives::short(input)?;
        Ok((
            rest,
            Self {
                rest,
                remaining: n,
                named,
                version,
            },
        ))
    }

    /// How many values are still to come.
    pub fn remaining(&self) -> usize {
        usize::from(self.remaining)
    }

    /// Whether the values carry names (flag 0x40).
    pub fn is_named(&self) -> bool {
        self.named
    }

    /// Skips every value; returns what follows them.
    fn skip_all(mut self) -> Result<&'a [u8], DecodeError> {
        for v in self.by_ref() {
            v?;
        }
        Ok(self.rest)
    }
}

impl<'a> Iterator for ValuesView<'a> {
    /// A value and, when the values are named, its marker name.
    type Item = Result<(Option<&'a str>, RawValue<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let item = (|| {
            let (rest, name) = if self.named {
                let (rest, name) = decode_prefix(self.rest, primitives::string)?;
                (rest, Some(name))
            } else {
                (self.rest, None)
            };
            let (rest, v) = decode_prefix(rest, value_in(self.version))?;
            self.rest = rest;
            Ok((name, v))
        })();
        if item.is_err() {
            self.remaining = 0;
        }
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining()))
    }
}

/// Skips `<n>` and `n` values (named or not); returns what follows them.
pub(crate) fn skip_values(
    input: &[u8],
    named: bool,
    version: ProtocolVersion,
) -> Result<&[u8], DecodeError> {
    let (_, view) = decode_prefix(input, |i| ValuesView::parse(i, named, version))?;
    view.skip_all()
}

/// The routing-relevant head of an EXECUTE body.
#[derive(Debug, Clone)]
pub struct ExecuteView<'a> {
    /// The prepared id.
    pub id: &'a [u8],
    /// v5: the result metadata id.
    pub result_metadata_id: Option<&'a [u8]>,
    /// The consistency level.
    pub consistency: Consistency,
    /// Where the consistency's two bytes start in the body (for [`set_consistency`]).
    pub consistency_offset: usize,
    /// The flags word.
    pub flags: u32,
    values: ValuesView<'a>,
}

impl<'a> ExecuteView<'a> {
    /// The bound values, lazily (empty when the Values flag is clear).
    pub fn values(&self) -> ValuesView<'a> {
        self.values.clone()
    }
}

/// The routing-relevant head of a QUERY body.
#[derive(Debug, Clone)]
pub struct QueryView<'a> {
    /// The CQL text.
    pub query: &'a str,
    /// The consistency level.
    pub consistency: Consistency,
    /// Where the consistency's two bytes start in the body.
    pub consistency_offset: usize,
    /// The flags word.
    pub flags: u32,
    values: ValuesView<'a>,
}

impl<'a> QueryView<'a> {
    /// The bound values, lazily (empty when the Values flag is clear).
    pub fn values(&self) -> ValuesView<'a> {
        self.values.clone()
    }
}

/// The offset of `rest`, a suffix of `body`, within `body`.
fn offset_in(body: &[u8], rest: &[u8]) -> usize {
    body.len().saturating_sub(rest.len())
}

/// `<consistency><flags>[<n><values>]`: the head of `<query_parameters>`.
fn params_head<'a>(
    body: &'a [u8],
    input: &'a [u8],
    version: ProtocolVersion,
) -> Result<(Consistency, usize, u32, ValuesView<'a>), DecodeError> {
    let at = offset_in(body, input);
    let (rest, c) = decode_prefix(input, consistency)?;
    let (rest, bits) = decode_prefix(rest, |i| query_flags(i, version, flags::ALL_V5))?;
    let values = if bits & flags::VALUES != 0 {
        let named = bits & flags::NAMES_FOR_VALUES != 0;
        decode_prefix(rest, |i| ValuesView::parse(i, named, version))?.1
    } else {
        ValuesView::empty(version)
    };
    Ok((c, at, bits, values))
}

/// Reads an EXECUTE body's ids, consistency, flags and (lazily) values.
pub fn execute(body: &[u8], version: ProtocolVersion) -> Result<ExecuteView<'_>, DecodeError> {
    let (mut rest, id) = decode_prefix(body, primitives::short_bytes)?;
    let mut result_metadata_id = None;
    if version >= ProtocolVersion::V5 {
        let (r, md) = decode_prefix(rest, primitives::short_bytes)?;
        result_metadata_id = Some(md);
        rest = r;
    }
    let (consistency, consistency_offset, flags, values) = params_head(body, rest, version)?;
    Ok(ExecuteView {
        id,
        result_metadata_id,
        consistency,
        consistency_offset,
        flags,
        values,
    })
}

/// Reads a QUERY body's text, consistency, flags and (lazily) values.
pub fn query(body: &[u8], version: ProtocolVersion) -> Result<QueryView<'_>, DecodeError> {
    let (rest, query) = decode_prefix(body, primitives::long_string)?;
    let (consistency, consistency_offset, flags, values) = params_head(body, rest, version)?;
    Ok(QueryView {
        query,
        consistency,
        consistency_offset,
        flags,
        values,
    })
}

/// What a batch statement runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementRef<'a> {
    /// Kind 0: a query string.
    Query(&'a str),
    /// Kind 1: a prepared id.
    Prepared(&'a [u8]),
}

/// One statement of a batch, borrowed from the body.
#[derive(Debug, Clone)]
pub struct BatchStatementView<'a> {
    /// The query string or prepared id.
    pub statement: StatementRef<'a>,
    /// Its values, lazily.
    pub values: ValuesView<'a>,
}

/// The statements of a BATCH body, read one at a time.
#[derive(Debug, Clone)]
pub struct BatchStatements<'a> {
    rest: &'a [u8],
    remaining: u16,
    version: ProtocolVersion,
}

impl<'a> BatchStatements<'a> {
    /// How many statements are still to come.
    pub fn remaining(&self) -> usize {
        usize::from(self.remaining)
    }

    fn read_one(&mut self) -> Result<BatchStatementView<'a>, DecodeError> {
        let (rest, kind) = decode_prefix(self.rest, primitives::byte)?;
        let (rest, statement) = match kind {
            0 => {
                let (rest, q) = decode_prefix(rest, primitives::long_string)?;
                (rest, StatementRef::Query(q))
            }
            1 => {
                let (rest, id) = decode_prefix(rest, primitives::short_bytes)?;
                (rest, StatementRef::Prepared(id))
            }
            other => {
                return Err(DecodeError::InvalidValue {
                    what: "batch statement kind",
                    value: i64::from(other),
                });
            }
        };
        let (_, values) = decode_prefix(rest, |i| ValuesView::parse(i, false, self.version))?;
        self.rest = values.clone().skip_all()?;
        Ok(BatchStatementView { statement, values })
    }
}

impl<'a> Iterator for BatchStatements<'a> {
    type Item = Result<BatchStatementView<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let item = self.read_one();
        if item.is_err() {
            self.remaining = 0;
        }
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining()))
    }
}

/// The head of a BATCH body: its type and its statements, lazily.
#[derive(Debug, Clone)]
pub struct BatchView<'a> {
    /// Logged, unlogged or counter.
    pub batch_type: BatchType,
    body: &'a [u8],
    statements: BatchStatements<'a>,
}

impl<'a> BatchView<'a> {
    /// The statements, lazily.
    pub fn statements(&self) -> BatchStatements<'a> {
        self.statements.clone()
    }

    /// The batch's consistency and its offset in the body. The consistency follows the
    /// statements, so this walks them (without allocating).
    pub fn consistency(&self) -> Result<(Consistency, usize), DecodeError> {
        let mut it = self.statements();
        for s in it.by_ref() {
            s?;
        }
        let at = offset_in(self.body, it.rest);
        let (_, c) = decode_prefix(it.rest, consistency)?;
        Ok((c, at))
    }
}

/// Reads a BATCH body's type and positions on its statements.
pub fn batch(body: &[u8], version: ProtocolVersion) -> Result<BatchView<'_>, DecodeError> {
    let (rest, t) = decode_prefix(body, primitives::byte)?;
    let batch_type = BatchType::from_code(t).ok_or(DecodeError::InvalidValue {
        what: "batch type",
        value: i64::from(t),
    })?;
    let (rest, n) = decode_prefix(rest, primitives::short)?;
    Ok(BatchView {
        batch_type,
        body,
        statements: BatchStatements {
            rest,
            remaining: n,
            version,
        },
    })
}

/// Where the consistency of a QUERY, EXECUTE or BATCH body starts.
pub fn consistency_offset(
    opcode: Opcode,
    body: &[u8],
    version: ProtocolVersion,
) -> Result<usize, DecodeError> {
    match opcode {
        Opcode::Execute => Ok(execute(body, version)?.consistency_offset),
        Opcode::Query => Ok(query(body, version)?.consistency_offset),
        Opcode::Batch => Ok(batch(body, version)?.consistency()?.1),
        other => Err(DecodeError::InvalidValue {
            what: "opcode without a consistency",
            value: i64::from(other as u8),
        }),
    }
}

/// Overwrites the consistency at `offset` (from a view or [`consistency_offset`]) in place;
/// returns the level it replaced. Fails, changing nothing, when no valid level is there.
pub fn set_consistency(
    body: &mut [u8],
    offset: usize,
    level: Consistency,
) -> Result<Consistency, DecodeError> {
    let end = offset.checked_add(2).ok_or(DecodeError::Truncated)?;
    let slot = body.get_mut(offset..end).ok_or(DecodeError::Truncated)?;
    let (_, old) = decode_prefix(slot, consistency)?;
    slot.copy_from_slice(&level.code().to_be_bytes());
    Ok(old)
}

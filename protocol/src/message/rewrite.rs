//! Rewriting the v5 keyspace of a QUERY, EXECUTE or BATCH body without decoding it: the bytes
//! before and after the keyspace field are copied as they are, the flags word gets the
//! keyspace bit set or cleared, and the new keyspace (if any) is written in between.
//!
//! (The consistency, a fixed-width field, is rewritten in place by
//! [`peek::set_consistency`].)

use bytes::{BufMut, BytesMut};
use nom::bytes::complete::take;

use crate::primitives::{self, DecodeError, EncodeError, Parsed, decode_prefix};
use crate::{Opcode, ProtocolVersion};

use super::peek;
use super::query_params::{flags, query_flags};

/// Why a body could not be rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    /// The body is malformed where the rewrite had to read it.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The new field does not fit.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The opcode or version has no such field.
    #[error("cannot rewrite: {0}")]
    Unsupported(&'static str),
}

/// Byte offsets of the fields a keyspace rewrite touches.
struct Layout {
    /// The flags word (4 bytes in v5).
    flags_at: usize,
    /// Its value.
    bits: u32,
    /// Where the keyspace field starts (or would start).
    keyspace_at: usize,
    /// Where it ends (equal to `keyspace_at` when absent).
    keyspace_end: usize,
}

fn skip(n: usize) -> impl Fn(&[u8]) -> Parsed<'_, ()> {
    move |input| take(n)(input).map(|(rest, _)| (rest, ()))
}

/// Skips the fields between the flags (and values) and the keyspace.
fn skip_to_keyspace(input: &[u8], bits: u32) -> Result<&[u8], DecodeError> {
    let mut rest = input;
    if bits & flags::PAGE_SIZE != 0 {
        rest = decode_prefix(rest, skip(4))?.0;
    }
    if bits & flags::PAGING_STATE != 0 {
        rest = decode_prefix(rest, primitives::bytes)?.0;
    }
    if bits & flags::SERIAL_CONSISTENCY != 0 {
        rest = decode_prefix(rest, skip(2))?.0;
    }
    if bits & flags::TIMESTAMP != 0 {
        rest = decode_prefix(rest, skip(8))?.0;
    }
    Ok(rest)
}

fn offset(body: &[u8], rest: &[u8]) -> usize {
    body.len().saturating_sub(rest.len())
}

fn layout(opcode: Opcode, body: &[u8], version: ProtocolVersion) -> Result<Layout, RewriteError> {
    let consistency_at = match opcode {
        Opcode::Query | Opcode::Execute => peek::consistency_offset(opcode, body, version)?,
        Opcode::Batch => peek::batch(body, version)?.consistency()?.1,
        _ => {
            return Err(RewriteError::Unsupported(
                "only QUERY, EXECUTE and BATCH have a keyspace",
            ));
        }
    };
    let flags_at = consistency_at.saturating_add(2);
    let from_flags = body.get(flags_at..).ok_or(DecodeError::Truncated)?;
    let (mut rest, bits) = decode_prefix(from_flags, |i| query_flags(i, version, flags::ALL_V5))?;
    if opcode != Opcode::Batch && bits & flags::VALUES != 0 {
        let named = bits & flags::NAMES_FOR_VALUES != 0;
        rest = peek::skip_values(rest, named, version)?;
    }
    let rest = skip_to_keyspace(rest, bits)?;
    let keyspace_at = offset(body, rest);
    let keyspace_end = if bits & flags::KEYSPACE != 0 {
        offset(body, decode_prefix(rest, primitives::string)?.0)
    } else {
        keyspace_at
    };
    Ok(Layout {
        flags_at,
        bits,
        keyspace_at,
        keyspace_end,
    })
}

/// The keyspace a v5 QUERY, EXECUTE or BATCH body names, if any.
pub fn keyspace(
    opcode: Opcode,
    body: &[u8],
    version: ProtocolVersion,
) -> Result<Option<&str>, RewriteError> {
    let l = layout(opcode, body, version)?;
    if l.bits & flags::KEYSPACE == 0 {
        return Ok(None);
    }
    let field = body.get(l.keyspace_at..).ok_or(DecodeError::Truncated)?;
    Ok(Some(decode_prefix(field, primitives::string)?.1))
}

/// A copy of a v5 QUERY, EXECUTE or BATCH body with its keyspace replaced (or removed, with
/// `None`). Everything else is copied byte for byte. (EXECUTE shares QUERY's parameters and
/// so their keyspace field, but a prepared statement's tables were fixed when it was
/// prepared.) Bodies before v5 have no keyspace field.
pub fn with_keyspace(
    opcode: Opcode,
    body: &[u8],
    version: ProtocolVersion,
    keyspace: Option<&str>,
) -> Result<BytesMut, RewriteError> {
    if version < ProtocolVersion::V5 {
        return Err(RewriteError::Unsupported("keyspaces need protocol v5"));
    }
    let l = layout(opcode, body, version)?;
    let flags_end = l.flags_at.saturating_add(4);
    let piece = |range: std::ops::Range<usize>| body.get(range).ok_or(DecodeError::Truncated);
    let head = piece(0..l.flags_at)?;
    let middle = piece(flags_end..l.keyspace_at)?;
    let tail = piece(l.keyspace_end..body.len())?;

    let extra = keyspace.map_or(0, |k| k.len().saturating_add(2));
    // The pieces are disjoint parts of `body`, so this is at most the body plus the keyspace.
    let mut out = BytesMut::with_capacity(body.len().saturating_add(4).saturating_add(extra));
    out.put_slice(head);
    let bits = match keyspace {
        Some(_) => l.bits | flags::KEYSPACE,
        None => l.bits & !flags::KEYSPACE,
    };
    out.put_u32(bits);
    out.put_slice(middle);
    if let Some(k) = keyspace {
        primitives::put_string(&mut out, k)?;
    }
    out.put_slice(tail);
    Ok(out)
}

//! Bound values: an owned `[value]` (bytes, null or not set) and the value lists of QUERY,
//! EXECUTE and BATCH.

use bytes::{Bytes, BytesMut};

use crate::ProtocolVersion;
use crate::primitives::{self, DecodeError, EncodeError, Parsed, RawValue, fail};

/// An owned `[value]`: a bound variable's serialized bytes, `null`, or (v4+) "not set".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// Serialized bytes (possibly empty), sliced from the request body when decoded.
    Bytes(Bytes),
    /// `null` (length -1).
    Null,
    /// "not set" (length -2): leave the column unchanged. Protocol v4 and later.
    Unset,
}

impl Value {
    /// The borrowed form, as [`primitives::put_value`] and the type codecs take it.
    pub fn as_raw(&self) -> RawValue<'_> {
        match self {
            Self::Bytes(b) => RawValue::Bytes(b),
            Self::Null => RawValue::Null,
            Self::Unset => RawValue::Unset,
        }
    }

    /// The owned form of `raw`: a slice of `body` (no copy) when `raw` lies in `body`, as it
    /// does when it was parsed from it; a copy otherwise.
    pub fn from_raw(raw: RawValue<'_>, body: &Bytes) -> Self {
        match raw {
            RawValue::Bytes(b) => Self::Bytes(sub_bytes(body, b)),
            RawValue::Null => Self::Null,
            RawValue::Unset => Self::Unset,
        }
    }
}

impl From<Bytes> for Value {
    fn from(b: Bytes) -> Self {
        Self::Bytes(b)
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Self::Bytes(Bytes::from(b))
    }
}

/// `part` as a `Bytes`: shared with `body` when it lies inside it, copied otherwise (so a
/// slice from elsewhere cannot make [`Bytes::slice_ref`] panic).
pub(crate) fn sub_bytes(body: &Bytes, part: &[u8]) -> Bytes {
    let start = (part.as_ptr() as usize).wrapping_sub(body.as_ptr() as usize);
    let inside = part.as_ptr() >= body.as_ptr()
        && start
            .checked_add(part.len())
            .is_some_and(|end| end <= body.len());
    if inside {
        body.slice_ref(part)
    } else {
        Bytes::copy_from_slice(part)
    }
}

/// The values bound to a statement's markers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Values {
    /// Bound by position (no names on the wire).
    Positional(Vec<Value>),
    /// Bound by marker name (QUERY/EXECUTE flag 0x40, "names for values").
    Named(Vec<(String, Value)>),
}

impl Default for Values {
    fn default() -> Self {
        Self::Positional(Vec::new())
    }
}

impl Values {
    /// How many values there are.
    pub fn len(&self) -> usize {
        match self {
            Self::Positional(v) => v.len(),
            Self::Named(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses a `[value]`, refusing "not set" (-2) before protocol v4.
pub fn value_in(version: ProtocolVersion) -> impl Fn(&[u8]) -> Parsed<'_, RawValue<'_>> {
    move |input| {
        let (rest, v) = primitives::value(input)?;
        if v == RawValue::Unset && version < ProtocolVersion::V4 {
            return Err(fail(DecodeError::InvalidValue {
                what: "[value] length in v3",
                value: -2,
            }));
        }
        Ok((rest, v))
    }
}

/// Writes a `[value]`, refusing "not set" before protocol v4.
pub fn put_value_in(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    v: &Value,
) -> Result<(), EncodeError> {
    if *v == Value::Unset && version < ProtocolVersion::V4 {
        return Err(EncodeError::Invalid {
            what: "[value]",
            reason: "\"not set\" values need protocol v4 or later",
        });
    }
    primitives::put_value(buf, v.as_raw())
}

/// Parses `<n>` (a `[short]`) and `n` values, each preceded by a `[string]` name when `named`.
pub(crate) fn values<'a>(
    input: &'a [u8],
    body: &Bytes,
    version: ProtocolVersion,
    named: bool,
) -> Parsed<'a, Values> {
    let (mut rest, n) = primitives::short(input)?;
    let n = usize::from(n);
    if named {
        let mut out = Vec::with_capacity(primitives::bounded_capacity(n, rest.len(), 6));
        for _ in 0..n {
            let (r, name) = primitives::string(rest)?;
            let (r, v) = value_in(version)(r)?;
            out.push((name.to_owned(), Value::from_raw(v, body)));
            rest = r;
        }
        Ok((rest, Values::Named(out)))
    } else {
        let mut out = Vec::with_capacity(primitives::bounded_capacity(n, rest.len(), 4));
        for _ in 0..n {
            let (r, v) = value_in(version)(rest)?;
            out.push(Value::from_raw(v, body));
            rest = r;
        }
        Ok((rest, Values::Positional(out)))
    }
}

/// Writes `<n>` and the values (with their names when named).
pub(crate) fn put_values(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    values: &Values,
) -> Result<(), EncodeError> {
    primitives::put_count_u16(buf, "bound values", values.len())?;
    match values {
        Values::Positional(vs) => vs.iter().try_for_each(|v| put_value_in(buf, version, v)),
        Values::Named(vs) => vs.iter().try_for_each(|(name, v)| {
            primitives::put_string(buf, name)?;
            put_value_in(buf, version, v)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_raw_shares_inside_and_copies_outside() {
        let body = Bytes::from_static(b"abcdef");
        let inside = Value::from_raw(RawValue::Bytes(&body[2..4]), &body);
        assert_eq!(inside, Value::Bytes(Bytes::from_static(b"cd")));
        if let Value::Bytes(b) = &inside {
            assert_eq!(b.as_ptr(), body[2..].as_ptr());
        }
        let elsewhere = [1u8, 2];
        let copied = Value::from_raw(RawValue::Bytes(&elsewhere), &body);
        assert_eq!(copied, Value::Bytes(Bytes::from_static(&[1, 2])));
        assert_eq!(
            Value::from_raw(RawValue::Bytes(&[]), &body),
            Value::Bytes(Bytes::new())
        );
    }

    #[test]
    fn unset_needs_v4() {
        let unset = [0xFF, 0xFF, 0xFF, 0xFE];
        assert!(value_in(ProtocolVersion::V3)(&unset).is_err());
        assert_eq!(
            value_in(ProtocolVersion::V4)(&unset).map(|(_, v)| v),
            Ok(RawValue::Unset)
        );
        let mut buf = BytesMut::new();
        assert!(put_value_in(&mut buf, ProtocolVersion::V3, &Value::Unset).is_err());
        assert!(buf.is_empty());
    }
}

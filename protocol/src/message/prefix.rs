//! What envelope flags put in front of a message body (v4 §2.2, v5 §2.4.1.2):
//!
//! - a RESPONSE body starts with the tracing id (`[uuid]`, flag 0x02), then warnings
//!   (`[string list]`, flag 0x08), then a custom payload (`[bytes map]`, flag 0x04), each only
//!   when its flag is set, in that order;
//! - a REQUEST body starts with a custom payload when flag 0x04 is set; the tracing flag on a
//!   request asks for tracing and adds nothing to the body.
//!
//! The split functions hand back the message itself as a slice of the body (no copy).

use bytes::{BufMut, Bytes, BytesMut};

use crate::primitives::{self, DecodeError, EncodeError, Parsed, decode_prefix};

/// A custom payload (`[bytes map]`): keys and possibly null values, in wire order.
pub type CustomPayload = Vec<(String, Option<Bytes>)>;

/// The prefix of a response body. Each field is present exactly when its flag is set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponsePrefix {
    /// The tracing session id (flag 0x02).
    pub tracing_id: Option<[u8; 16]>,
    /// Server warnings (flag 0x08).
    pub warnings: Option<Vec<String>>,
    /// A custom payload (flag 0x04).
    pub custom_payload: Option<CustomPayload>,
}

impl ResponsePrefix {
    /// Whether the envelope needs the tracing flag.
    pub fn tracing(&self) -> bool {
        self.tracing_id.is_some()
    }

    /// Whether the envelope needs the warning flag.
    pub fn warning(&self) -> bool {
        self.warnings.is_some()
    }

    /// Whether the envelope needs the custom payload flag.
    pub fn has_custom_payload(&self) -> bool {
        self.custom_payload.is_some()
    }
}

fn custom_payload<'a>(input: &'a [u8], body: &Bytes) -> Parsed<'a, CustomPayload> {
    let (rest, map) = primitives::bytes_map(input)?;
    let owned = map
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.map(|v| body.slice_ref(v))))
        .collect();
    Ok((rest, owned))
}

/// The message part of `body` after `rest`, as a slice of `body`.
fn remainder(body: &Bytes, rest: &[u8]) -> Bytes {
    body.slice_ref(rest)
}

/// Splits a response body into the prefix its envelope flags announce and the message.
pub fn split_response_body(
    body: &Bytes,
    tracing: bool,
    warning: bool,
    custom: bool,
) -> Result<(ResponsePrefix, Bytes), DecodeError> {
    let mut prefix = ResponsePrefix::default();
    let mut rest: &[u8] = body;
    if tracing {
        let (r, id) = decode_prefix(rest, primitives::uuid)?;
        prefix.tracing_id = Some(id);
        rest = r;
    }
    if warning {
        let (r, list) = decode_prefix(rest, primitives::string_list)?;
        prefix.warnings = Some(list.into_iter().map(str::to_owned).collect());
        rest = r;
    }
    if custom {
        let (r, payload) = decode_prefix(rest, |i| custom_payload(i, body))?;
        prefix.custom_payload = Some(payload);
        rest = r;
    }
    Ok((prefix, remainder(body, rest)))
}

/// The message of a response body, past whatever prefix the flags announce — read without
/// decoding (or allocating for) the prefix, for a caller that only peeks at the message
/// (a RESULT's kind, say).
pub fn response_message(
    body: &[u8],
    tracing: bool,
    warning: bool,
    custom: bool,
) -> Result<&[u8], DecodeError> {
    let mut rest = body;
    if tracing {
        rest = decode_prefix(rest, primitives::uuid)?.0;
    }
    if warning {
        let (mut r, n) = decode_prefix(rest, primitives::short)?;
        for _ in 0..n {
            r = decode_prefix(r, primitives::string)?.0;
        }
        rest = r;
    }
    if custom {
        let (mut r, n) = decode_prefix(rest, primitives::short)?;
        for _ in 0..n {
            r = decode_prefix(r, primitives::string)?.0;
            r = decode_prefix(r, primitives::bytes)?.0;
        }
        rest = r;
    }
    Ok(rest)
}

/// Writes a response prefix; the envelope's flags must follow
/// [`ResponsePrefix::tracing`], [`warning`](ResponsePrefix::warning) and
/// [`has_custom_payload`](ResponsePrefix::has_custom_payload).
pub fn put_response_prefix(buf: &mut BytesMut, prefix: &ResponsePrefix) -> Result<(), EncodeError> {
    if let Some(id) = &prefix.tracing_id {
        buf.put_slice(id);
    }
    if let Some(w) = &prefix.warnings {
        primitives::put_string_list(buf, w)?;
    }
    if let Some(p) = &prefix.custom_payload {
        primitives::put_bytes_map(buf, p)?;
    }
    Ok(())
}

/// Splits a request body into its custom payload (when the envelope has flag 0x04) and the
/// message.
pub fn split_request_body(
    body: &Bytes,
    custom: bool,
) -> Result<(Option<CustomPayload>, Bytes), DecodeError> {
    if !custom {
        return Ok((None, body.clone()));
    }
    let (rest, payload) = decode_prefix(body, |i| custom_payload(i, body))?;
    Ok((Some(payload), remainder(body, rest)))
}

/// Writes a request's custom payload (the envelope then needs flag 0x04).
pub fn put_request_prefix(buf: &mut BytesMut, payload: &CustomPayload) -> Result<(), EncodeError> {
    primitives::put_bytes_map(buf, payload)
}

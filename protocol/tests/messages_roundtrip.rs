//! Property tests: every request and response, in every version where it exists, survives
//! encode → decode unchanged and re-encodes to the same bytes; body prefixes split back into
//! what was written; random bytes given to every decoder never panic.

mod message_strategies;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use ringgate_protocol::message::{Request, Response};
use ringgate_protocol::message::{
    ResponsePrefix, put_request_prefix, put_response_prefix, split_request_body,
    split_response_body,
};
use ringgate_protocol::{Opcode, ProtocolVersion};

use message_strategies::{request, response, version};

fn request_roundtrip(v: ProtocolVersion, req: &Request) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::new();
    req.encode(v, &mut buf)
        .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    let body = buf.freeze();
    let back = Request::decode(req.opcode(), &body, v)
        .map_err(|e| TestCaseError::fail(format!("decode: {e} of {body:02x?}")))?;
    prop_assert_eq!(&back, req);
    let mut again = BytesMut::new();
    back.encode(v, &mut again).unwrap();
    prop_assert_eq!(&again[..], &body[..]);
    Ok(())
}

fn response_roundtrip(v: ProtocolVersion, resp: &Response) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::new();
    resp.encode(v, &mut buf)
        .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    let body = buf.freeze();
    let back = Response::decode(resp.opcode(), &body, v)
        .map_err(|e| TestCaseError::fail(format!("decode: {e} of {body:02x?}")))?;
    prop_assert_eq!(&back, resp);
    let mut again = BytesMut::new();
    back.encode(v, &mut again).unwrap();
    prop_assert_eq!(&again[..], &body[..]);
    Ok(())
}

fn all_opcodes() -> Vec<Opcode> {
    (0u8..=0x10).filter_map(Opcode::from_byte).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn requests_v3(req in request(ProtocolVersion::V3)) {
        request_roundtrip(ProtocolVersion::V3, &req)?;
    }

    #[test]
    fn requests_v4(req in request(ProtocolVersion::V4)) {
        request_roundtrip(ProtocolVersion::V4, &req)?;
    }

    #[test]
    fn requests_v5(req in request(ProtocolVersion::V5)) {
        request_roundtrip(ProtocolVersion::V5, &req)?;
    }

    #[test]
    fn responses_v3(resp in response(ProtocolVersion::V3)) {
        response_roundtrip(ProtocolVersion::V3, &resp)?;
    }

    #[test]
    fn responses_v4(resp in response(ProtocolVersion::V4)) {
        response_roundtrip(ProtocolVersion::V4, &resp)?;
    }

    #[test]
    fn responses_v5(resp in response(ProtocolVersion::V5)) {
        response_roundtrip(ProtocolVersion::V5, &resp)?;
    }

    #[test]
    fn response_prefix_roundtrip(
        tracing_id in prop::option::of(any::<[u8; 16]>()),
        warnings in prop::option::of(prop::collection::vec("\\PC{0,10}", 0..3)),
        payload in prop::option::of(prop::collection::vec(
            ("[a-z]{0,6}", prop::option::of(prop::collection::vec(any::<u8>(), 0..6).prop_map(Bytes::from))),
            0..3,
        )),
        message in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let prefix = ResponsePrefix { tracing_id, warnings, custom_payload: payload };
        let mut buf = BytesMut::new();
        put_response_prefix(&mut buf, &prefix).unwrap();
        buf.extend_from_slice(&message);
        let body = buf.freeze();
        let (got, rest) = split_response_body(
            &body, prefix.tracing(), prefix.warning(), prefix.has_custom_payload(),
        ).unwrap();
        prop_assert_eq!(got, prefix.clone());
        prop_assert_eq!(&rest[..], &message[..]);

        if let Some(p) = &prefix.custom_payload {
            let mut buf = BytesMut::new();
            put_request_prefix(&mut buf, p).unwrap();
            buf.extend_from_slice(&message);
            let body = buf.freeze();
            let (got, rest) = split_request_body(&body, true).unwrap();
            prop_assert_eq!(got.as_ref(), Some(p));
            prop_assert_eq!(&rest[..], &message[..]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// Any bytes, under any opcode and version, decode or fail with an error; what decodes
    /// re-encodes and decodes to the same message.
    #[test]
    fn random_bodies_never_panic(
        v in version(),
        op in prop::sample::select(all_opcodes()),
        data in prop::collection::vec(any::<u8>(), 0..96),
        flags in 0u8..8,
    ) {
        let body = Bytes::from(data);
        if op.is_request() {
            if let Ok(req) = Request::decode(op, &body, v) {
                request_roundtrip(v, &req)?;
            }
        } else if let Ok(resp) = Response::decode(op, &body, v) {
            response_roundtrip(v, &resp)?;
        }
        let _ = split_response_body(&body, flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);
        let _ = split_request_body(&body, true);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Bodies that start out valid and are then cut or corrupted byte by byte.
    #[test]
    fn mutated_valid_bodies_never_panic(
        v in version(),
        req in version().prop_flat_map(request),
        resp in version().prop_flat_map(response),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let mut buf = BytesMut::new();
        if req.encode(v, &mut buf).is_ok() {
            mutate_and_decode(buf.to_vec(), req.opcode(), v, &cut, &flip, xor)?;
        }
        let mut buf = BytesMut::new();
        if resp.encode(v, &mut buf).is_ok() {
            mutate_and_decode(buf.to_vec(), resp.opcode(), v, &cut, &flip, xor)?;
        }
    }
}

fn mutate_and_decode(
    bytes: Vec<u8>,
    op: Opcode,
    v: ProtocolVersion,
    cut: &prop::sample::Index,
    flip: &prop::sample::Index,
    xor: u8,
) -> Result<(), TestCaseError> {
    let decode = |b: Vec<u8>| -> Result<(), TestCaseError> {
        let body = Bytes::from(b);
        if op.is_request() {
            if let Ok(req) = Request::decode(op, &body, v) {
                request_roundtrip(v, &req)?;
            }
        } else if let Ok(resp) = Response::decode(op, &body, v) {
            response_roundtrip(v, &resp)?;
        }
        Ok(())
    };
    if !bytes.is_empty() {
        let mut flipped = bytes.clone();
        let i = flip.index(flipped.len());
        flipped[i] ^= xor;
        decode(flipped)?;
        let mut short = bytes.clone();
        short.truncate(cut.index(bytes.len()));
        decode(short)?;
    }
    let mut longer = bytes;
    longer.push(0);
    decode(longer)
}

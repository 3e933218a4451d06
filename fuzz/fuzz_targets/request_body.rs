//! Request bodies: the first byte picks the protocol version, the opcode and whether a custom
//! payload precedes the body; the rest is the body. Whatever decodes must re-encode to bytes
//! that decode to the same request and encode to the same bytes; the fast paths must agree
//! with the full decode.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use ringgate_protocol::message::{Request, peek, rewrite, split_request_body};
use ringgate_protocol::{Opcode, ProtocolVersion};

const OPCODES: [Opcode; 8] = [
    Opcode::Startup,
    Opcode::Options,
    Opcode::Query,
    Opcode::Prepare,
    Opcode::Execute,
    Opcode::Register,
    Opcode::Batch,
    Opcode::AuthResponse,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let version = ProtocolVersion::ALL[usize::from(selector % 3)];
    let opcode = OPCODES[usize::from(selector / 3) % OPCODES.len()];
    let custom_payload = selector & 0x80 != 0;
    let body = Bytes::copy_from_slice(rest);
    let Ok((_, body)) = split_request_body(&body, custom_payload) else {
        return;
    };

    // The fast paths never panic, decoded or not.
    let _ = peek::consistency_offset(opcode, &body, version);
    let _ = rewrite::with_keyspace(opcode, &body, version, Some("fuzz"));

    let Ok(req) = Request::decode(opcode, &body, version) else {
        return;
    };
    let mut first = BytesMut::new();
    req.encode(version, &mut first)
        .expect("a decoded request re-encodes");
    let first = first.freeze();
    let again = Request::decode(opcode, &first, version).expect("a re-encoded request decodes");
    assert_eq!(again, req);
    let mut second = BytesMut::new();
    again.encode(version, &mut second).expect("encodes again");
    assert_eq!(first, second);

    // On a valid body the fast paths see what the full decode sees.
    match &req {
        Request::Execute(e) => {
            let view = peek::execute(&body, version).expect("valid EXECUTE");
            assert_eq!(view.id, &e.id[..]);
            assert_eq!(view.consistency, e.params.consistency);
            assert_eq!(view.values().count(), e.params.values.len());
            assert!(view.values().all(|v| v.is_ok()));
        }
        Request::Query(q) => {
            let view = peek::query(&body, version).expect("valid QUERY");
            assert_eq!(view.query, q.query);
            assert_eq!(view.consistency, q.params.consistency);
        }
        Request::Batch(b) => {
            let view = peek::batch(&body, version).expect("valid BATCH");
            assert_eq!(view.statements().count(), b.statements.len());
            assert_eq!(view.consistency().expect("valid BATCH").0, b.consistency);
        }
        _ => {}
    }

    // On a valid v5 body, a keyspace rewrite changes exactly the keyspace.
    if version == ProtocolVersion::V5
        && matches!(opcode, Opcode::Query | Opcode::Execute | Opcode::Batch)
    {
        let rewritten = rewrite::with_keyspace(opcode, &body, version, Some("fuzz"))
            .expect("a valid body rewrites")
            .freeze();
        let mut want = req.clone();
        match &mut want {
            Request::Query(q) => q.params.keyspace = Some("fuzz".into()),
            Request::Execute(e) => e.params.keyspace = Some("fuzz".into()),
            Request::Batch(b) => b.keyspace = Some("fuzz".into()),
            _ => {}
        }
        let got = Request::decode(opcode, &rewritten, version).expect("a rewritten body decodes");
        assert_eq!(got, want);
    }
});

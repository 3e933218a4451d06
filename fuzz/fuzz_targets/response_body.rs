//! Response bodies: the first byte picks the protocol version, the opcode and which prefixes
//! (tracing id, warnings, custom payload) precede the body; the rest is the body. Whatever
//! decodes must re-encode to bytes that decode to the same response and encode to the same
//! bytes.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use ringgate_protocol::message::{
    Response, put_response_prefix, response_message, split_response_body,
};
use ringgate_protocol::{Opcode, ProtocolVersion};

const OPCODES: [Opcode; 8] = [
    Opcode::Error,
    Opcode::Ready,
    Opcode::Authenticate,
    Opcode::Supported,
    Opcode::Result,
    Opcode::Event,
    Opcode::AuthChallenge,
    Opcode::AuthSuccess,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let version = ProtocolVersion::ALL[usize::from(selector % 3)];
    let opcode = OPCODES[usize::from(selector / 3) % OPCODES.len()];
    let prefixes = selector / 24;
    let body = Bytes::copy_from_slice(rest);
    let flags = (prefixes & 1 != 0, prefixes & 2 != 0, prefixes & 4 != 0);
    let peeked = response_message(&body, flags.0, flags.1, flags.2);
    let Ok((prefix, message)) = split_response_body(&body, flags.0, flags.1, flags.2) else {
        assert!(peeked.is_err(), "a prefix only the peek reads");
        return;
    };
    // Peeking past the prefix finds the message the full split finds.
    assert_eq!(peeked.ok(), Some(&message[..]));
    // The prefix re-encodes to bytes that split back into the same prefix (not always the
    // same bytes: any negative [bytes] length reads as null and is written as -1).
    let mut head = BytesMut::new();
    put_response_prefix(&mut head, &prefix).expect("a decoded prefix re-encodes");
    let head = head.freeze();
    let (again, rest) = split_response_body(
        &head,
        prefix.tracing(),
        prefix.warning(),
        prefix.has_custom_payload(),
    )
    .expect("a re-encoded prefix splits");
    assert_eq!(again, prefix);
    assert!(rest.is_empty());

    let Ok(resp) = Response::decode(opcode, &message, version) else {
        return;
    };
    let mut first = BytesMut::new();
    resp.encode(version, &mut first)
        .expect("a decoded response re-encodes");
    let first = first.freeze();
    let again = Response::decode(opcode, &first, version).expect("a re-encoded response decodes");
    assert_eq!(again, resp);
    let mut second = BytesMut::new();
    again.encode(version, &mut second).expect("encodes again");
    assert_eq!(first, second);
});

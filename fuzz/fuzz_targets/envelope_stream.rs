//! Envelopes into a server `FrameCodec` (unframed, then v3/v4 with fuzzed body compression or
//! v5 segments after the first envelope) and into
//! `EnvelopeDecoder::decode_raw` with stream-id rewriting, fed in fuzzed chunk sizes.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ringgate_protocol::frame::{Compression, Decoded, EnvelopeDecoder, FrameCodec, HEADER_LEN};

const MAX_BODY: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Some((&control, wire)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(control & 0x1F) * 31 + 1;
    let compression = match control >> 5 & 3 {
        0 => None,
        1 => Some(Compression::Lz4),
        _ => Some(Compression::Snappy),
    };

    // A server codec, established after the first envelope in that envelope's version and the
    // fuzzed compression: v3/v4 go on unframed (bodies decompressed), v5 switches to segments.
    let mut codec = FrameCodec::new(EnvelopeDecoder::new().with_max_body_len(MAX_BODY));
    let mut buf = BytesMut::new();
    let mut count = 0usize;
    'feed: for piece in wire.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Decoded::Ready(envelope)) => {
                    assert!(envelope.body.len() <= MAX_BODY);
                    count += 1;
                    if count == 1
                        && codec
                            .established(envelope.header.version, compression)
                            .is_err()
                    {
                        break 'feed;
                    }
                }
                Ok(Decoded::NeedMore(n)) => {
                    assert!(n > 0);
                    break;
                }
                Err(_) => break 'feed,
            }
        }
    }

    // The forwarding path: raw envelopes, stream rewritten in place.
    let decoder = EnvelopeDecoder::new().with_max_body_len(MAX_BODY);
    let mut buf = BytesMut::from(wire);
    while let Ok(Decoded::Ready(mut raw)) = decoder.decode_raw(&mut buf) {
        let before = raw.as_bytes().to_vec();
        raw.set_stream(!raw.header.stream);
        let after = raw.as_bytes();
        assert_eq!(before.len(), after.len());
        assert_eq!(before.get(HEADER_LEN..), after.get(HEADER_LEN..));
    }
});

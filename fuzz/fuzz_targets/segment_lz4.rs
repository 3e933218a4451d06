//! v5 LZ4 segments into `SegmentDecoder`: raw bytes, or fuzzed payloads (stored raw, or taken
//! as LZ4 blocks with a fuzzed declared length) wrapped in segments with valid CRCs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringgate_protocol::frame::segment::SegmentFormat;

#[path = "common/segments.rs"]
mod segments;

fuzz_target!(|data: &[u8]| segments::run(SegmentFormat::Lz4, data));

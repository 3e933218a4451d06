//! v5 uncompressed segments into `SegmentDecoder`: raw bytes, or fuzzed payloads wrapped in
//! segments with valid CRCs, fed in fuzzed chunk sizes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringgate_protocol::frame::segment::SegmentFormat;

#[path = "common/segments.rs"]
mod segments;

fuzz_target!(|data: &[u8]| segments::run(SegmentFormat::Uncompressed, data));

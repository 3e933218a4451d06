//! Frame-layer benchmarks: envelope header decoding and stream-id rewriting (envelopes/s),
//! v5 segment decoding and encoding, plain and LZ4 (bytes/s of envelopes), and v4 body
//! decompression. Where `scylla-cql` has the same operation it runs in the same group as a
//! baseline (it has no v5 framing). Every decoder gets a fresh copy of its input per iteration
//! (outside the timing), as it would get a freshly read buffer from a socket.
//!
//! Run short: `cargo bench -p ringgate-benches --bench frames -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_main};
use ringgate_protocol::frame::segment::{SegmentDecoder, SegmentEncoder, SegmentFormat};
use ringgate_protocol::frame::{Compression, Decoded, Envelope, EnvelopeDecoder, Header};
use ringgate_protocol::{Direction, Opcode, ProtocolVersion};

/// Envelopes per batch in the envelope benchmarks.
const BATCH: usize = 1000;

/// Deterministic pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A RESULT Rows body that looks like real data: per row a uuid, an int, an e-mail address and
/// a short text, each as a `[bytes]` value. About half of it compresses away with LZ4.
fn rows_body(rng: &mut Rng, rows: usize) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&2i32.to_be_bytes()); // kind: Rows
    body.extend_from_slice(&[0, 0, 0, 4]); // metadata flags, column count (abridged)
    body.extend_from_slice(&(rows as i32).to_be_bytes());
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    ];
    for _ in 0..rows {
        let uuid: Vec<u8> = (0..2).flat_map(|_| rng.next().to_be_bytes()).collect();
        let id = (rng.next() % 1_000_000) as i32;
        let email = format!("user{id}@example.com");
        let text: Vec<&str> = (0..6).map(|_| words[(rng.next() % 8) as usize]).collect();
        let text = text.join(" ");
        for value in [
            &uuid[..],
            &id.to_be_bytes(),
            email.as_bytes(),
            text.as_bytes(),
        ] {
            body.extend_from_slice(&(value.len() as i32).to_be_bytes());
            body.extend_from_slice(value);
        }
    }
    body
}

fn response(version: ProtocolVersion, stream: i16, body: Vec<u8>) -> Envelope {
    Envelope::new(
        Header::new(version, Direction::Response, stream, Opcode::Result),
        body,
    )
}

/// `BATCH` small v4 responses back to back, as a replica connection delivers them.
fn small_responses() -> BytesMut {
    let mut rng = Rng(0x5EED);
    let mut wire = BytesMut::new();
    for i in 0..BATCH {
        response(ProtocolVersion::V4, i as i16, rows_body(&mut rng, 1))
            .encode(&mut wire)
            .unwrap();
    }
    wire
}

/// About 4 MiB of v5 responses: many of a few rows, some of hundreds, one of several segments.
fn v5_responses() -> Vec<Envelope> {
    let mut rng = Rng(0xF00D);
    let mut out = Vec::new();
    for i in 0..400 {
        let rows = match i % 10 {
            0 => 200,
            1..=3 => 20,
            _ => 2,
        };
        out.push(response(
            ProtocolVersion::V5,
            i as i16,
            rows_body(&mut rng, rows),
        ));
    }
    out.push(response(
        ProtocolVersion::V5,
        400,
        rows_body(&mut rng, 8000),
    ));
    out
}

fn encode_segments(envelopes: &[Envelope], format: SegmentFormat) -> BytesMut {
    let mut wire = BytesMut::new();
    let mut encoder = SegmentEncoder::new(format);
    for e in envelopes {
        encoder.push(e, &mut wire).unwrap();
    }
    encoder.flush(&mut wire).unwrap();
    wire
}

/// Polls a future that completes without waiting (scylla-cql reading from a byte slice).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("reading from a slice never waits"),
    }
}

fn envelopes(c: &mut Criterion) {
    let wire = small_responses();
    let mut group = c.benchmark_group("envelope_decode");
    group.throughput(Throughput::Elements(BATCH as u64));
    let decoder = EnvelopeDecoder::new().expecting(Direction::Response);

    group.bench_function("ringgate/decode", |b| {
        b.iter_batched(
            || wire.clone(),
            |mut buf| {
                while let Ok(Decoded::Ready(e)) = decoder.decode(&mut buf) {
                    black_box(e);
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("ringgate/header_only", |b| {
        b.iter_batched(
            || wire.clone(),
            |mut buf| {
                while let Ok(Decoded::Ready((h, total))) = decoder.check_header(&buf) {
                    black_box(h);
                    bytes::Buf::advance(&mut buf, total);
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("ringgate/decode_raw+rewrite_stream", |b| {
        b.iter_batched(
            || wire.clone(),
            |mut buf| {
                while let Ok(Decoded::Ready(mut raw)) = decoder.decode_raw(&mut buf) {
                    raw.set_stream(raw.header.stream ^ 0x55);
                    black_box(raw.freeze());
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("scylla-cql/read_response_frame", |b| {
        b.iter_batched(
            || wire.clone(),
            |buf| {
                let mut reader: &[u8] = &buf;
                while !reader.is_empty() {
                    let frame = ready(scylla_cql::frame::read_response_frame(&mut reader));
                    black_box(frame.unwrap());
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn segments(c: &mut Criterion) {
    let envelopes = v5_responses();
    let bytes: usize = envelopes.iter().map(Envelope::encoded_len).sum();
    let mut group = c.benchmark_group("segment");
    group.throughput(Throughput::Bytes(bytes as u64));
    for (name, format) in [
        ("plain", SegmentFormat::Uncompressed),
        ("lz4", SegmentFormat::Lz4),
    ] {
        let wire = encode_segments(&envelopes, format);
        eprintln!(
            "segment/{name}: {bytes} envelope bytes -> {} wire bytes",
            wire.len()
        );
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter_batched(
                || {
                    (
                        wire.clone(),
                        SegmentDecoder::new(format, EnvelopeDecoder::new()),
                    )
                },
                |(mut buf, mut decoder)| {
                    while let Ok(Decoded::Ready(e)) = decoder.decode(&mut buf) {
                        black_box(e);
                    }
                },
                BatchSize::PerIteration,
            )
        });
        let mut encoder = SegmentEncoder::new(format);
        let mut out = BytesMut::with_capacity(wire.len() * 2);
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| {
                out.clear();
                for e in &envelopes {
                    encoder.push(e, &mut out).unwrap();
                }
                encoder.flush(&mut out).unwrap();
                black_box(out.len());
            })
        });
    }
    group.finish();
}

fn body_compression(c: &mut Criterion) {
    let body = rows_body(&mut Rng(0xBEEF), 150);
    let mut group = c.benchmark_group("v4_body_decompress");
    group.throughput(Throughput::Bytes(body.len() as u64));
    for (name, ours, theirs) in [
        ("lz4", Compression::Lz4, scylla_cql::frame::Compression::Lz4),
        (
            "snappy",
            Compression::Snappy,
            scylla_cql::frame::Compression::Snappy,
        ),
    ] {
        let mut packed = BytesMut::new();
        ours.compress(&body, &mut packed).unwrap();
        group.bench_function(format!("ringgate/{name}"), |b| {
            b.iter(|| black_box(ours.decompress(&packed, 1 << 20).unwrap()))
        });
        group.bench_function(format!("scylla-cql/{name}"), |b| {
            b.iter(|| black_box(scylla_cql::frame::decompress(&packed, theirs).unwrap()))
        });
    }
    group.finish();
}

// criterion_group! defines an undocumented `pub fn`; keep it in a module of its own.
#[allow(missing_docs, unreachable_pub)]
mod group {
    criterion::criterion_group!(
        benches,
        super::envelopes,
        super::segments,
        super::body_compression
    );
}
criterion_main!(group::benches);

//! `ringgate-benches`: criterion benchmarks for the protocol, routing and coordinator crates,
//! and the `ringgate-bench` load harness that drives a real or stub cluster.

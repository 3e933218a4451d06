//! Placeholder until the frames benchmarks land.
fn main() {}

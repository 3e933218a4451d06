//! Placeholder until the messages benchmarks land.
fn main() {}

//! Placeholder until the routing benchmarks land.
fn main() {}

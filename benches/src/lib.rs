//! `ringgate-benches`: criterion benchmarks for the protocol, routing and coordinator crates,
//! and the `ringgate-bench` load harness.
//!
//! The harness measures what a hop through Ringgate costs, apart from Cassandra's own cost:
//!
//! - [`workload`]: the schema, statements and operation mixes (prepared point reads and
//!   writes, a 90/10 mix, unlogged batches, 64 KiB values, unprepared queries);
//! - [`client`]: a real driver (the `scylla` crate) or Ringgate's request API in-process;
//! - [`load`]: runs at a fixed concurrency or a fixed rate (latency from the intended send
//!   time), with the CPU time of the processes under test read from `/proc` ([`procstat`]);
//! - [`stub`]: a stub cluster that answers the workloads at once with fixed bytes;
//! - [`forwarder`]: a byte-copying TCP forwarder, the floor of any proxy's cost;
//! - [`compare`]: direct, forwarder, Ringgate (and shotover) side by side in alternated rounds;
//! - [`report`]: JSON, summaries, medians and ratios;
//! - [`conns`]: many client connections held at once, for what each costs in memory;
//! - [`soak`]: many client connections running prepared traffic for minutes, the node's
//!   memory and backend sockets sampled all along.

pub mod client;
pub mod compare;
pub mod conns;
pub mod forwarder;
pub mod load;
pub mod procstat;
pub mod report;
pub mod soak;
pub mod stub;
pub mod workload;

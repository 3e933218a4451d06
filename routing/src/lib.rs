//! `ringgate-routing`: tokens, partitioners, the token ring and replica placement, exactly as
//! Apache Cassandra computes them.
//!
//! Pure data: no I/O, no async. The coordinator asks this crate which replicas own a partition
//! key, and the answer must equal Cassandra's own.

//! Bytes read from and written to replicas, over every connection of the process: one relaxed
//! atomic add per read and per coalesced write.

use std::sync::atomic::{AtomicU64, Ordering};

static READ: AtomicU64 = AtomicU64::new(0);
static WRITTEN: AtomicU64 = AtomicU64::new(0);

pub(crate) fn read(n: usize) {
    READ.fetch_add(n as u64, Ordering::Relaxed);
}

pub(crate) fn written(n: usize) {
    WRITTEN.fetch_add(n as u64, Ordering::Relaxed);
}

/// Bytes read from replicas and written to them since the process started, by every
/// connection of every coordinator in it.
pub fn replica_bytes() -> (u64, u64) {
    (
        READ.load(Ordering::Relaxed),
        WRITTEN.load(Ordering::Relaxed),
    )
}

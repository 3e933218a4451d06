//! The ordered list of nodes one request tries, first to last.

use std::net::SocketAddr;
use std::ops::Deref;

use smallvec::SmallVec;

/// How many addresses a plan holds without a heap allocation. Token-aware plans for small
/// clusters (and the first few entries of any plan) fit.
pub const INLINE_NODES: usize = 8;

/// The nodes a request tries, in order: the first is the coordinator it is sent to, the rest
/// are where retries and speculative executions go. Each address appears at most once.
///
/// Up to [`INLINE_NODES`] addresses live inline; a longer plan makes one heap allocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryPlan {
    nodes: SmallVec<[SocketAddr; INLINE_NODES]>,
}

impl QueryPlan {
    /// An empty plan with room for `capacity` nodes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        QueryPlan {
            nodes: SmallVec::with_capacity(capacity),
        }
    }

    /// Appends `addr`. The planner never offers an address twice (the tests check it).
    pub(crate) fn push(&mut self, addr: SocketAddr) {
        self.nodes.push(addr);
    }

    /// Rotates the entries from `start` on left by `by` places (modulo their count): the
    /// round-robin among equals.
    pub(crate) fn rotate_tail(&mut self, start: usize, by: usize) {
        if let Some(tail) = self.nodes.get_mut(start..) {
            if !tail.is_empty() {
                let by = by % tail.len();
                tail.rotate_left(by);
            }
        }
    }

    /// How many nodes the plan holds.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the plan has no node (no node is known, or none the consistency allows).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The nodes, in order.
    pub fn as_slice(&self) -> &[SocketAddr] {
        &self.nodes
    }

    /// Whether the addresses spilled to the heap (more than [`INLINE_NODES`]).
    pub fn spilled(&self) -> bool {
        self.nodes.spilled()
    }
}

impl Deref for QueryPlan {
    type Target = [SocketAddr];

    fn deref(&self) -> &[SocketAddr] {
        &self.nodes
    }
}

impl<'a> IntoIterator for &'a QueryPlan {
    type Item = &'a SocketAddr;
    type IntoIter = std::slice::Iter<'a, SocketAddr>;

    fn into_iter(self) -> Self::IntoIter {
        self.nodes.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], 9042))
    }

    #[test]
    fn rotation_wraps_and_ignores_empty_tails() {
        let mut plan = QueryPlan::with_capacity(4);
        for a in [1, 2, 3, 4] {
            plan.push(addr(a));
        }
        assert_eq!(plan.as_slice(), &[addr(1), addr(2), addr(3), addr(4)]);
        plan.rotate_tail(1, 4); // 4 % 3 == 1
        assert_eq!(plan.as_slice(), &[addr(1), addr(3), addr(4), addr(2)]);
        plan.rotate_tail(4, 7); // empty tail: nothing moves
        plan.rotate_tail(9, 1); // past the end: nothing moves
        assert_eq!(plan.len(), 4);
        assert!(!plan.spilled());
    }
}

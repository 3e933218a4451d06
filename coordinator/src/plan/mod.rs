//! The decisions of the request path, without I/O: which nodes a request tries and in which
//! order ([`LoadBalancing`], [`QueryPlan`]), whether a failure is retried ([`retry`]), and when
//! a slow request is also sent elsewhere ([`speculative`]).

mod balancing;
mod query_plan;
pub mod retry;
pub mod speculative;
#[cfg(test)]
mod tests;

pub use balancing::{LoadBalancing, is_local_consistency};
pub use query_plan::{INLINE_NODES, QueryPlan};
pub use retry::{Failure, RetryContext, RetryDecision, RetryPolicy};
pub use speculative::SpeculativeExecution;

//! Corking: requests sent to a connection while its thread is corked are buffered, and the
//! connection's writer is woken once the cork comes off — so that a task which sends many
//! requests in one go (a client connection handling everything one read brought in) hands
//! each connection all of them for a single write, instead of waking its writer per request
//! and letting it write them one by one.
//!
//! A cork lasts at most one synchronous stretch of code: [`Corked`] corks each poll of the
//! future it wraps and nothing beyond it, so a cork is never held across an `.await` (where
//! another task's sends on the same thread would wait for it).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::Notify;

thread_local! {
    /// How many corks are on this thread.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// Writers to wake when the last cork comes off.
    static DEFERRED: RefCell<Vec<Arc<Notify>>> = const { RefCell::new(Vec::new()) };
}

/// A cork on the current thread until dropped. Nested corks are fine: writers are woken when
/// the outermost one is dropped.
#[must_use = "the cork comes off when this is dropped"]
pub struct Cork {
    // Not Send: a cork belongs to the thread it was put on.
    _thread: std::marker::PhantomData<*const ()>,
}

/// Corks the current thread.
pub fn cork() -> Cork {
    DEPTH.with(|d| d.set(d.get() + 1));
    Cork {
        _thread: std::marker::PhantomData,
    }
}

impl Drop for Cork {
    fn drop(&mut self) {
        let depth = DEPTH.with(|d| {
            let depth = d.get().saturating_sub(1);
            d.set(depth);
            depth
        });
        if depth == 0 {
            let writers = DEFERRED.with(|w| std::mem::take(&mut *w.borrow_mut()));
            for writer in writers {
                writer.notify_one();
            }
        }
    }
}

/// Wakes `writer` now, or when the current cork comes off.
pub(crate) fn wake(writer: &Arc<Notify>) {
    if DEPTH.with(Cell::get) == 0 {
        writer.notify_one();
    } else {
        DEFERRED.with(|w| w.borrow_mut().push(Arc::clone(writer)));
    }
}

/// A future whose every poll runs corked.
#[derive(Debug)]
pub struct Corked<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Corked<F> {
    /// Wraps `inner`.
    pub fn new(inner: F) -> Self {
        Corked {
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for Corked<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _cork = cork();
        self.inner.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writers_are_woken_when_the_outermost_cork_comes_off() {
        let writer = Arc::new(Notify::new());
        let outer = cork();
        let inner = cork();
        wake(&writer);
        drop(inner);
        assert!(
            futures::FutureExt::now_or_never(writer.notified()).is_none(),
            "still corked: not woken"
        );
        drop(outer);
        assert!(
            futures::FutureExt::now_or_never(writer.notified()).is_some(),
            "woken once uncorked"
        );
        // Uncorked, a wake is immediate.
        wake(&writer);
        assert!(futures::FutureExt::now_or_never(writer.notified()).is_some());
    }
}

//! Stream ids of one multiplexed connection: which are free, who waits on the others, and
//! when each wait times out.
//!
//! A semaphore permit stands for a free stream id: a request takes one (waiting when every
//! id is in flight: backpressure), then an id and its slot. The slot holds the waiter's
//! waker and the request's deadline — no channel and no timer per request. A response
//! completes its slot and wakes the waiter, which takes it and frees the id. A request whose
//! deadline passes is told so by [`Streams::expire`] (one sweep per connection, run when the
//! earliest deadline is due), but its id stays taken until the late response arrives: a
//! late response is consumed and dropped, never handed to the next request that would
//! otherwise reuse the id. The same holds for a waiter that gives up (is dropped).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The most stream ids a v3+ connection has (0..=32767; negative ids are the server's).
pub(crate) const MAX_STREAMS: usize = 32_768;

/// What a waiter receives: the response, or why none will come.
pub(crate) type Reply<T, E> = Result<T, E>;

/// Where one id stands.
enum State<T, E> {
    /// Free.
    Free,
    /// A request is in flight and its waiter waits.
    Waiting {
        waker: Option<Waker>,
        deadline: Instant,
    },
    /// The response (or the connection's end) came; the waiter has not taken it yet.
    Answered(Reply<T, E>),
    /// The deadline passed: the waiter is to be told, and the id stays taken.
    Expired(Option<E>),
    /// Nobody waits any more; the id stays taken until the late response arrives.
    Orphaned,
}

struct Slot<T, E> {
    /// Tells one use of an id from the next, so a waiter never touches a later request's
    /// slot.
    generation: u32,
    state: State<T, E>,
}

struct Table<T, E> {
    slots: Vec<Slot<T, E>>,
    free: Vec<i16>,
    /// One past the highest id ever handed out: sweeps look no further.
    high: usize,
    /// The deadline the sweep is due at; `None` while no request waits.
    next_sweep: Option<Instant>,
    closed: bool,
}

/// The in-flight table of one connection.
pub(crate) struct Streams<T, E> {
    permits: Semaphore,
    table: Mutex<Table<T, E>>,
}

/// A claimed stream id; await its response with [`Streams::reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claimed {
    /// The id to send the request on.
    pub(crate) stream: i16,
    generation: u32,
    /// The sweep must be woken: this deadline is earlier than any it waits for.
    pub(crate) sweep_sooner: bool,
}

impl<T, E> Streams<T, E> {
    /// A table of `capacity` stream ids (at most [`MAX_STREAMS`]).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, MAX_STREAMS);
        // Hand out low ids first: pop from the end of a descending list.
        let free: Vec<i16> = (0..capacity)
            .rev()
            .filter_map(|id| i16::try_from(id).ok())
            .collect();
        let mut slots = Vec::with_capacity(capacity);
        slots.resize_with(capacity, || Slot {
            generation: 0,
            state: State::Free,
        });
        Streams {
            permits: Semaphore::new(free.len()),
            table: Mutex::new(Table {
                slots,
                free,
                high: 0,
                next_sweep: None,
                closed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table<T, E>> {
        // The table's invariants hold between statements, so a panic elsewhere while the lock
        // was held leaves nothing half-done: keep using it.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a free stream id and claims it for a request due by `deadline`. `None` once
    /// the connection is closed.
    pub(crate) async fn claim(&self, deadline: Instant) -> Option<Claimed> {
        self.permits.acquire().await.ok()?.forget();
        self.claim_with_permit(deadline)
    }

    /// Claims a stream id if one is free right now.
    pub(crate) fn try_claim(&self, deadline: Instant) -> Option<Claimed> {
        self.permits.try_acquire().ok()?.forget();
        self.claim_with_permit(deadline)
    }

    /// Takes an id for a permit already taken (and forgotten): the permit comes back with
    /// the id.
    fn claim_with_permit(&self, deadline: Instant) -> Option<Claimed> {
        let mut table = self.lock();
        if table.closed {
            drop(table);
            self.permits.add_permits(1);
            return None;
        }
        // A permit guarantees a free id: permits and free ids move together under the lock.
        let stream = table.free.pop()?;
        let index = usize::try_from(stream).ok()?;
        table.high = table.high.max(index + 1);
        let sweep_sooner = table.next_sweep.is_none_or(|due| deadline < due);
        if sweep_sooner {
            table.next_sweep = Some(deadline);
        }
        let slot = table.slots.get_mut(index)?;
        slot.generation = slot.generation.wrapping_add(1);
        slot.state = State::Waiting {
            waker: None,
            deadline,
        };
        Some(Claimed {
            stream,
            generation: slot.generation,
            sweep_sooner,
        })
    }

    /// The response to `claimed`'s request, when it comes (or its deadline passes, or the
    /// connection closes). Dropping the future before that leaves the id taken until the
    /// response arrives.
    pub(crate) fn reply<'a>(&'a self, claimed: Claimed) -> ReplyFuture<'a, T, E> {
        ReplyFuture {
            streams: self,
            stream: claimed.stream,
            generation: claimed.generation,
            done: false,
        }
    }

    /// Frees the id of `table`'s slot at `index`.
    fn free(&self, table: &mut Table<T, E>, index: usize) {
        if let Some(slot) = table.slots.get_mut(index) {
            slot.state = State::Free;
            if let Ok(stream) = i16::try_from(index) {
                table.free.push(stream);
                self.permits.add_permits(1);
            }
        }
    }

    /// Delivers the response for `stream`. Returns `false` when no request is in flight on
    /// that id (a peer's protocol error). A waiter that gave up is skipped silently: its id is
    /// free again all the same.
    pub(crate) fn complete(&self, stream: i16, reply: Reply<T, E>) -> bool {
        let Ok(index) = usize::try_from(stream) else {
            return false;
        };
        let mut table = self.lock();
        let Some(slot) = table.slots.get_mut(index) else {
            return false;
        };
        let waker = match std::mem::replace(&mut slot.state, State::Free) {
            State::Waiting { waker, .. } => {
                slot.state = State::Answered(reply);
                waker
            }
            // The answer beat the waiter to its timeout: it gets the answer.
            State::Expired(_) => {
                slot.state = State::Answered(reply);
                None
            }
            State::Orphaned => {
                self.free(&mut table, index);
                return true;
            }
            other @ (State::Free | State::Answered(_)) => {
                slot.state = other;
                return false;
            }
        };
        drop(table);
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// Frees `stream` without a response: for a request that was claimed but never written.
    pub(crate) fn abandon(&self, stream: i16) {
        let Ok(index) = usize::try_from(stream) else {
            return;
        };
        let mut table = self.lock();
        if table
            .slots
            .get(index)
            .is_some_and(|s| matches!(s.state, State::Waiting { .. }))
        {
            self.free(&mut table, index);
        }
    }

    /// Tells every waiter whose deadline is not after `now` that it timed out (its id stays
    /// taken); returns the earliest deadline still ahead, when the next sweep is due.
    pub(crate) fn expire(&self, now: Instant, timed_out: impl Fn() -> E) -> Option<Instant> {
        let mut wake = Vec::new();
        let next = {
            let mut table = self.lock();
            let high = table.high;
            let mut next: Option<Instant> = None;
            for slot in table.slots.iter_mut().take(high) {
                if let State::Waiting { waker, deadline } = &mut slot.state {
                    if *deadline <= now {
                        wake.extend(waker.take());
                        slot.state = State::Expired(Some(timed_out()));
                    } else {
                        next = Some(next.map_or(*deadline, |n| n.min(*deadline)));
                    }
                }
            }
            table.next_sweep = next;
            next
        };
        for waker in wake {
            waker.wake();
        }
        next
    }

    /// Closes the table: every waiter gets `error()`, and no id is handed out again.
    pub(crate) fn close(&self, error: impl Fn() -> E) {
        let mut wake = Vec::new();
        {
            let mut table = self.lock();
            table.closed = true;
            table.next_sweep = None;
            for slot in &mut table.slots {
                match &mut slot.state {
                    State::Waiting { waker, .. } => {
                        wake.extend(waker.take());
                        slot.state = State::Answered(Err(error()));
                    }
                    // Its waiter is told of its timeout, which came first.
                    State::Expired(_) | State::Free | State::Answered(_) => {}
                    State::Orphaned => slot.state = State::Free,
                }
            }
        }
        self.permits.close();
        for waker in wake {
            waker.wake();
        }
    }

    /// Stream ids in flight now, and how many of them nobody waits for any more (their
    /// requests timed out or gave up, and the responses have not arrived).
    pub(crate) fn in_flight(&self) -> (usize, usize) {
        let table = self.lock();
        let high = table.high;
        table
            .slots
            .iter()
            .take(high)
            .fold((0, 0), |(all, orphaned), slot| match slot.state {
                State::Free => (all, orphaned),
                State::Orphaned | State::Expired(_) => (all + 1, orphaned + 1),
                State::Waiting { .. } | State::Answered(_) => (all + 1, orphaned),
            })
    }

    /// Ids free right now.
    pub(crate) fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// Waits for one request's response: see [`Streams::reply`].
pub(crate) struct ReplyFuture<'a, T, E> {
    streams: &'a Streams<T, E>,
    stream: i16,
    generation: u32,
    done: bool,
}

impl<T, E> ReplyFuture<'_, T, E> {
    fn index(&self) -> usize {
        usize::try_from(self.stream).unwrap_or(usize::MAX)
    }
}

impl<T, E> Future for ReplyFuture<'_, T, E> {
    /// `None` only if the slot was taken over, which the table's invariants rule out.
    type Output = Option<Reply<T, E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let index = self.index();
        let streams = self.streams;
        let mut table = streams.lock();
        let generation = self.generation;
        let Some(slot) = table
            .slots
            .get_mut(index)
            .filter(|s| s.generation == generation)
        else {
            self.done = true;
            return Poll::Ready(None);
        };
        match &mut slot.state {
            State::Waiting { waker, .. } => {
                match waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            State::Expired(error) => {
                let error = error.take();
                slot.state = State::Orphaned;
                self.done = true;
                Poll::Ready(error.map(Err))
            }
            State::Answered(_) => {
                let State::Answered(reply) = std::mem::replace(&mut slot.state, State::Free) else {
                    unreachable!("matched Answered above")
                };
                streams.free(&mut table, index);
                self.done = true;
                Poll::Ready(Some(reply))
            }
            State::Free | State::Orphaned => {
                self.done = true;
                Poll::Ready(None)
            }
        }
    }
}

impl<T, E> Drop for ReplyFuture<'_, T, E> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let index = self.index();
        let mut table = self.streams.lock();
        let Some(slot) = table
            .slots
            .get_mut(index)
            .filter(|s| s.generation == self.generation)
        else {
            return;
        };
        match slot.state {
            State::Waiting { .. } | State::Expired(_) => slot.state = State::Orphaned,
            State::Answered(_) => self.streams.free(&mut table, index),
            State::Free | State::Orphaned => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;
    use std::time::Duration;

    type S = Streams<u32, &'static str>;

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn ids_are_unique_and_reused_after_completion() {
        let streams = S::new(4);
        let mut claimed = Vec::new();
        for _ in 0..4 {
            claimed.push(streams.claim(later()).await.unwrap());
        }
        let ids: HashSet<i16> = claimed.iter().map(|c| c.stream).collect();
        assert_eq!(ids, HashSet::from([0, 1, 2, 3]));
        assert!(streams.try_claim(later()).is_none(), "no fifth id");

        let first = claimed.remove(0);
        assert!(streams.complete(first.stream, Ok(7)));
        assert_eq!(streams.reply(first).await, Some(Ok(7)));
        let again = streams.try_claim(later()).expect("the id came back");
        assert_eq!(again.stream, first.stream);
    }

    #[tokio::test]
    async fn a_timed_out_id_is_not_reused_until_its_late_response_arrives() {
        let streams = S::new(1);
        let start = Instant::now();
        let timed_out = streams
            .claim(start + Duration::from_millis(5))
            .await
            .unwrap();
        let id = timed_out.stream;
        assert_eq!(
            streams.expire(start, || "timed out"),
            Some(start + Duration::from_millis(5)),
            "not due yet: the sweep comes back at the deadline"
        );
        assert_eq!(
            streams.expire(start + Duration::from_millis(5), || "timed out"),
            None
        );
        assert_eq!(streams.reply(timed_out).await, Some(Err("timed out")));
        assert_eq!(streams.in_flight(), (1, 1));
        assert!(
            streams.try_claim(later()).is_none(),
            "the id is still owed a response"
        );

        // The late response is consumed, not handed to anyone.
        assert!(streams.complete(id, Ok(1)));
        let next = streams.try_claim(later()).expect("free again");
        assert_eq!(next.stream, id);
        assert!(streams.complete(id, Ok(2)));
        assert_eq!(
            streams.reply(next).await,
            Some(Ok(2)),
            "the new request gets its own response"
        );
    }

    #[tokio::test]
    async fn a_dropped_waiter_keeps_its_id_until_the_response() {
        let streams = S::new(1);
        let claimed = streams.try_claim(later()).unwrap();
        {
            let waiting = streams.reply(claimed);
            assert!(futures::FutureExt::now_or_never(waiting).is_none());
        }
        assert_eq!(streams.in_flight(), (1, 1));
        assert!(streams.complete(claimed.stream, Ok(1)));
        assert_eq!(streams.in_flight(), (0, 0));
        assert_eq!(streams.available(), 1);
    }

    #[tokio::test]
    async fn an_answer_before_the_waiter_learns_of_its_timeout_is_delivered() {
        let streams = S::new(1);
        let start = Instant::now();
        let claimed = streams.try_claim(start).unwrap();
        streams.expire(start, || "timed out");
        assert!(streams.complete(claimed.stream, Ok(9)));
        assert_eq!(streams.reply(claimed).await, Some(Ok(9)));
        assert_eq!(streams.available(), 1);
    }

    #[tokio::test]
    async fn earlier_deadlines_ask_for_a_sooner_sweep() {
        let streams = S::new(4);
        let now = Instant::now();
        let a = streams.try_claim(now + Duration::from_secs(10)).unwrap();
        assert!(a.sweep_sooner, "the first deadline schedules the sweep");
        let b = streams.try_claim(now + Duration::from_secs(20)).unwrap();
        assert!(!b.sweep_sooner, "a later one waits for the scheduled sweep");
        let c = streams.try_claim(now + Duration::from_secs(1)).unwrap();
        assert!(c.sweep_sooner, "an earlier one moves the sweep");
    }

    #[tokio::test]
    async fn unknown_and_negative_ids_are_rejected() {
        let streams = S::new(2);
        assert!(!streams.complete(0, Ok(0)), "nothing in flight");
        assert!(!streams.complete(-1, Ok(0)));
        assert!(!streams.complete(i16::MAX, Ok(0)));
        let claimed = streams.try_claim(later()).unwrap();
        assert!(streams.complete(claimed.stream, Ok(1)));
        assert!(
            !streams.complete(claimed.stream, Ok(2)),
            "a second answer on an id already answered"
        );
    }

    #[tokio::test]
    async fn waiting_claims_resume_when_an_id_frees() {
        let streams = Arc::new(S::new(1));
        let held = streams.claim(later()).await.unwrap();
        let waiter = tokio::spawn({
            let streams = Arc::clone(&streams);
            async move { streams.claim(later()).await.map(|c| c.stream) }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "backpressure: it waits");
        streams.complete(held.stream, Ok(0));
        assert_eq!(streams.reply(held).await, Some(Ok(0)));
        assert_eq!(waiter.await.unwrap(), Some(held.stream));
    }

    #[tokio::test]
    async fn close_fails_every_waiter_and_refuses_new_claims() {
        let streams = S::new(8);
        let a = streams.claim(later()).await.unwrap();
        let b = streams.claim(later()).await.unwrap();
        streams.close(|| "closed");
        assert_eq!(streams.reply(a).await, Some(Err("closed")));
        assert_eq!(streams.reply(b).await, Some(Err("closed")));
        assert!(streams.claim(later()).await.is_none());
        assert_eq!(streams.in_flight(), (0, 0));
    }

    #[tokio::test]
    async fn abandon_frees_an_unsent_claim() {
        let streams = S::new(1);
        let c = streams.claim(later()).await.unwrap();
        streams.abandon(c.stream);
        assert_eq!(streams.available(), 1);
        assert!(streams.try_claim(later()).is_some());
    }

    #[test]
    fn capacity_is_clamped_to_the_protocol() {
        assert_eq!(S::new(1_000_000).available(), MAX_STREAMS);
        assert_eq!(S::new(0).available(), 1);
    }
}

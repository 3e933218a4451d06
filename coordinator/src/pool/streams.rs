//! Stream ids of one multiplexed connection: which are free, and who waits on the others.
//!
//! A semaphore permit stands for a free stream id. A request takes a permit (waiting when all
//! ids are in flight: backpressure), then an id and a slot that holds the permit and the
//! waiter. The slot — and with it the permit — is released only when the response for that id
//! arrives or the connection dies. A request that times out drops its receiver but not the
//! slot, so a late response is consumed and discarded instead of being handed to the next
//! request that would otherwise reuse the id.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// The most stream ids a v3+ connection has (0..=32767; negative ids are the server's).
pub(crate) const MAX_STREAMS: usize = 32_768;

/// What a waiter receives: the response, or why none will come.
pub(crate) type Reply<T, E> = Result<T, E>;

struct Slot<T, E> {
    waiter: oneshot::Sender<Reply<T, E>>,
    _permit: OwnedSemaphorePermit,
}

struct Table<T, E> {
    slots: Vec<Option<Slot<T, E>>>,
    free: Vec<i16>,
    closed: bool,
}

/// The in-flight table of one connection.
pub(crate) struct Streams<T, E> {
    permits: Arc<Semaphore>,
    table: Mutex<Table<T, E>>,
}

/// A claimed stream id and the receiver its response will arrive on.
pub(crate) struct Claimed<T, E> {
    pub(crate) stream: i16,
    pub(crate) reply: oneshot::Receiver<Reply<T, E>>,
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
        slots.resize_with(capacity, || None);
        Streams {
            permits: Arc::new(Semaphore::new(free.len())),
            table: Mutex::new(Table {
                slots,
                free,
                closed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table<T, E>> {
        // The table's invariants hold between statements, so a panic elsewhere while the lock
        // was held leaves nothing half-done: keep using it.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a free stream id and claims it. `None` once the connection is closed.
    pub(crate) async fn claim(&self) -> Option<Claimed<T, E>> {
        let permit = Arc::clone(&self.permits).acquire_owned().await.ok()?;
        self.claim_with(permit)
    }

    /// Claims a stream id if one is free right now.
    pub(crate) fn try_claim(&self) -> Option<Claimed<T, E>> {
        let permit = Arc::clone(&self.permits).try_acquire_owned().ok()?;
        self.claim_with(permit)
    }

    fn claim_with(&self, permit: OwnedSemaphorePermit) -> Option<Claimed<T, E>> {
        let mut table = self.lock();
        if table.closed {
            return None;
        }
        // A permit guarantees a free id: permits and free ids move together under the lock.
        let stream = table.free.pop()?;
        let (waiter, reply) = oneshot::channel();
        let slot = table.slots.get_mut(usize::try_from(stream).ok()?)?;
        *slot = Some(Slot {
            waiter,
            _permit: permit,
        });
        Some(Claimed { stream, reply })
    }

    /// Delivers the response for `stream` and frees the id. Returns `false` when no request
    /// is in flight on that id (a peer's protocol error). A waiter that gave up (timed out)
    /// is skipped silently: its id is free again all the same.
    pub(crate) fn complete(&self, stream: i16, reply: Reply<T, E>) -> bool {
        let slot = {
            let mut table = self.lock();
            let Some(slot) = usize::try_from(stream)
                .ok()
                .and_then(|i| table.slots.get_mut(i))
                .and_then(Option::take)
            else {
                return false;
            };
            table.free.push(stream);
            slot
        };
        // The slot's permit is released after the id is back on the free list.
        let _ = slot.waiter.send(reply);
        true
    }

    /// Frees `stream` without a response: for a request that was claimed but never written.
    pub(crate) fn abandon(&self, stream: i16) {
        let mut table = self.lock();
        if let Some(slot) = usize::try_from(stream)
            .ok()
            .and_then(|i| table.slots.get_mut(i))
            && slot.take().is_some()
        {
            table.free.push(stream);
        }
    }

    /// Closes the table: every waiter gets `error()`, and no id is handed out again.
    pub(crate) fn close(&self, error: impl Fn() -> E) {
        let slots: Vec<Slot<T, E>> = {
            let mut table = self.lock();
            table.closed = true;
            table.slots.iter_mut().filter_map(Option::take).collect()
        };
        self.permits.close();
        for slot in slots {
            let _ = slot.waiter.send(Err(error()));
        }
    }

    /// Stream ids in flight now, and how many of them nobody waits for any more (their
    /// requests timed out and the responses have not arrived).
    pub(crate) fn in_flight(&self) -> (usize, usize) {
        let table = self.lock();
        table
            .slots
            .iter()
            .flatten()
            .fold((0, 0), |(all, orphaned), slot| {
                (all + 1, orphaned + usize::from(slot.waiter.is_closed()))
            })
    }

    /// Ids free right now.
    pub(crate) fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    type S = Streams<u32, &'static str>;

    #[tokio::test]
    async fn ids_are_unique_and_reused_after_completion() {
        let streams = S::new(4);
        let mut claimed = Vec::new();
        for _ in 0..4 {
            claimed.push(streams.claim().await.unwrap());
        }
        let ids: HashSet<i16> = claimed.iter().map(|c| c.stream).collect();
        assert_eq!(ids, HashSet::from([0, 1, 2, 3]));
        assert!(streams.try_claim().is_none(), "no fifth id");

        let first = claimed.remove(0);
        assert!(streams.complete(first.stream, Ok(7)));
        assert_eq!(first.reply.await.unwrap(), Ok(7));
        let again = streams.try_claim().expect("the id came back");
        assert_eq!(again.stream, first.stream);
    }

    #[tokio::test]
    async fn a_timed_out_id_is_not_reused_until_its_late_response_arrives() {
        let streams = S::new(1);
        let timed_out = streams.claim().await.unwrap();
        let id = timed_out.stream;
        drop(timed_out.reply); // the request gave up
        assert_eq!(streams.in_flight(), (1, 1));
        assert!(
            streams.try_claim().is_none(),
            "the id is still owed a response"
        );

        // The late response is consumed, not handed to anyone.
        assert!(streams.complete(id, Ok(1)));
        let next = streams.try_claim().expect("free again");
        assert_eq!(next.stream, id);
        assert!(streams.complete(id, Ok(2)));
        assert_eq!(
            next.reply.await.unwrap(),
            Ok(2),
            "the new request gets its own response"
        );
    }

    #[tokio::test]
    async fn unknown_and_negative_ids_are_rejected() {
        let streams = S::new(2);
        assert!(!streams.complete(0, Ok(0)), "nothing in flight");
        assert!(!streams.complete(-1, Ok(0)));
        assert!(!streams.complete(i16::MAX, Ok(0)));
    }

    #[tokio::test]
    async fn waiting_claims_resume_when_an_id_frees() {
        let streams = Arc::new(S::new(1));
        let held = streams.claim().await.unwrap();
        let waiter = tokio::spawn({
            let streams = Arc::clone(&streams);
            async move { streams.claim().await.map(|c| c.stream) }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "backpressure: it waits");
        streams.complete(held.stream, Ok(0));
        assert_eq!(waiter.await.unwrap(), Some(held.stream));
    }

    #[tokio::test]
    async fn close_fails_every_waiter_and_refuses_new_claims() {
        let streams = S::new(8);
        let a = streams.claim().await.unwrap();
        let b = streams.claim().await.unwrap();
        streams.close(|| "closed");
        assert_eq!(a.reply.await.unwrap(), Err("closed"));
        assert_eq!(b.reply.await.unwrap(), Err("closed"));
        assert!(streams.claim().await.is_none());
        assert_eq!(streams.in_flight(), (0, 0));
    }

    #[tokio::test]
    async fn abandon_frees_an_unsent_claim() {
        let streams = S::new(1);
        let c = streams.claim().await.unwrap();
        streams.abandon(c.stream);
        assert_eq!(streams.available(), 1);
        assert!(streams.try_claim().is_some());
    }

    #[test]
    fn capacity_is_clamped_to_the_protocol() {
        assert_eq!(S::new(1_000_000).available(), MAX_STREAMS);
        assert_eq!(S::new(0).available(), 1);
    }
}

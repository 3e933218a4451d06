//! [`Drain`]: the signal that makes a front end stop gracefully — it stops accepting, answers
//! every request it has received, closes its clients once none has anything left to answer,
//! and returns once
//! every client is gone or [`ServerConfig::drain_grace`](super::ServerConfig::drain_grace)
//! has passed.

use std::sync::Arc;

use tokio::sync::watch;

/// Starts a graceful stop of the servers it was given to ([`serve_until`](super::serve_until)).
/// Cloning is cheap; every clone signals the same servers.
#[derive(Debug, Clone)]
pub struct Drain {
    signal: Arc<watch::Sender<bool>>,
}

impl Default for Drain {
    fn default() -> Self {
        Drain {
            signal: Arc::new(watch::Sender::new(false)),
        }
    }
}

impl Drain {
    /// A signal not given yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts draining (again: no effect).
    pub fn start(&self) {
        self.signal.send_replace(true);
    }

    /// Whether draining has started.
    pub fn is_draining(&self) -> bool {
        *self.signal.borrow()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.signal.subscribe()
    }
}

/// Resolves once `drain` says draining has started (never, if its sender is gone first).
pub(crate) async fn started(drain: &mut watch::Receiver<bool>) {
    if drain.wait_for(|draining| *draining).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The client connections of one server, for a drain: each one, once it has answered every
/// request it received, waits for the others, and they close together. (A driver takes a
/// closed connection for a node going away: closing its idle control connection first would
/// make it fail the requests still running on its other connections.)
#[derive(Debug)]
pub(crate) struct Clients {
    /// (open connections, those of them with nothing left to answer in a drain).
    counts: std::sync::Mutex<(usize, usize)>,
    all_idle: watch::Sender<bool>,
}

impl Clients {
    pub(crate) fn new() -> Arc<Clients> {
        Arc::new(Clients {
            counts: std::sync::Mutex::new((0, 0)),
            all_idle: watch::Sender::new(false),
        })
    }

    /// Counts a new connection until the ticket is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> ClientTicket {
        self.update(|c| c.0 += 1);
        ClientTicket {
            clients: Arc::clone(self),
            idle: false,
        }
    }

    fn update(&self, change: impl FnOnce(&mut (usize, usize))) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut counts);
        if counts.1 > 0 && counts.0 == counts.1 {
            self.all_idle.send_replace(true);
        }
    }
}

/// One connection's place in [`Clients`].
#[derive(Debug)]
pub(crate) struct ClientTicket {
    clients: Arc<Clients>,
    idle: bool,
}

impl ClientTicket {
    /// Draining, this connection has nothing left to answer (said once).
    pub(crate) fn idle(&mut self) {
        if !self.idle {
            self.idle = true;
            self.clients.update(|c| c.1 += 1);
        }
    }

    /// Whether this connection said it is idle.
    pub(crate) fn is_idle(&self) -> bool {
        self.idle
    }

    /// Resolves once every connection is idle.
    pub(crate) fn all_idle(&self) -> watch::Receiver<bool> {
        self.clients.all_idle.subscribe()
    }
}

impl Drop for ClientTicket {
    fn drop(&mut self) {
        let idle = self.idle;
        self.clients.update(|c| {
            c.0 = c.0.saturating_sub(1);
            if idle {
                c.1 = c.1.saturating_sub(1);
            }
        });
    }
}

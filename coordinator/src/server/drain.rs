//! [`Drain`]: the signal that makes a front end stop gracefully — it stops accepting, answers
//! every request it has received, closes each client after its last answer, and returns once
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

//! The cluster view's one writer. Everything that changes the view — a node's state (from an
//! event or from its pool), the control connection's re-reading of the topology and schema,
//! the control connection moving — is a [`ViewChange`], which [`ViewWriter::apply`] applies to
//! the view current at that moment (never to a copy read before some awaited query), one at
//! a time, and publishes as one: the snapshot [`ViewWriter::load`] returns and the value
//! subscribers are notified of change together, under the writer's lock.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::view::{ClusterView, NodeState};

/// One change to the view.
#[derive(Debug)]
pub(crate) enum ViewChange {
    /// A node is up or down.
    NodeState {
        /// The node.
        addr: SocketAddr,
        /// Its state now.
        state: NodeState,
    },
    /// The topology and schema as the control node reported them just now. Nodes the view
    /// already knows keep the states events and pools gave them: what the control node's
    /// tables imply of liveness is older than that.
    Reread(ClusterView),
}

/// The only writer of the cluster view. Readers load the current snapshot without locking.
pub(crate) struct ViewWriter {
    current: ArcSwap<ClusterView>,
    changes: watch::Sender<Arc<ClusterView>>,
    /// Serialises changes: each is applied to the view the one before it published.
    writing: Mutex<()>,
}

impl ViewWriter {
    /// A writer whose view starts as `view`.
    pub(crate) fn new(view: ClusterView) -> Self {
        let view = Arc::new(view);
        ViewWriter {
            current: ArcSwap::new(Arc::clone(&view)),
            changes: watch::Sender::new(view),
            writing: Mutex::new(()),
        }
    }

    /// The current snapshot. Lock-free.
    pub(crate) fn load(&self) -> Arc<ClusterView> {
        self.current.load_full()
    }

    /// A receiver of every snapshot published from now on.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<ClusterView>> {
        self.changes.subscribe()
    }

    /// Applies `change` to the current view and publishes the result; whether it changed
    /// anything.
    pub(crate) fn apply(&self, change: ViewChange) -> bool {
        // A panic while the lock was held published nothing half-done: keep writing.
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.current.load_full();
        let next = match change {
            ViewChange::NodeState { addr, state } => current.with_node_state(addr, state),
            ViewChange::Reread(view) => Some(view.keeping_states_of(&current)),
        };
        let Some(next) = next else {
            return false;
        };
        let next = Arc::new(next);
        self.current.store(Arc::clone(&next));
        self.changes.send_replace(next);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Node;

    fn node(last: u8) -> Node {
        Node {
            host_id: [last; 16],
            addr: addr(last),
            dc: "dc1".into(),
            rack: "rack1".into(),
            tokens: vec![i64::from(last) * 1000],
            release_version: "5.0.8".into(),
            schema_version: None,
            state: NodeState::Up,
        }
    }

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, last], 9042))
    }

    fn view(nodes: &[u8]) -> ClusterView {
        ClusterView::new(
            "c".into(),
            "Murmur3Partitioner".into(),
            nodes.iter().map(|&n| node(n)),
            Vec::new(),
        )
        .unwrap()
    }

    fn state(writer: &ViewWriter, last: u8) -> Option<NodeState> {
        writer.load().node(&addr(last)).map(|n| n.state)
    }

    #[test]
    fn a_reread_keeps_the_states_set_while_it_ran() {
        let writer = ViewWriter::new(view(&[1, 2]));
        // A refresh reads the tables (every node Up there)...
        let reread = view(&[1, 2, 3]);
        // ...while node 2's pool loses its connections.
        assert!(writer.apply(ViewChange::NodeState {
            addr: addr(2),
            state: NodeState::Down
        }));
        assert!(writer.apply(ViewChange::Reread(reread)));
        assert_eq!(state(&writer, 2), Some(NodeState::Down), "the DOWN is kept");
        assert_eq!(
            state(&writer, 3),
            Some(NodeState::Up),
            "a new node comes as read"
        );
        assert_eq!(writer.load().nodes().count(), 3);
    }

    #[test]
    fn view_and_notification_change_together() {
        let writer = Arc::new(ViewWriter::new(view(&[1, 2])));
        let mut changes = writer.subscribe();
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let writer = Arc::clone(&writer);
                std::thread::spawn(move || {
                    for i in 0..500u32 {
                        let state = if (i + u32::from(t)) % 2 == 0 {
                            NodeState::Down
                        } else {
                            NodeState::Up
                        };
                        writer.apply(ViewChange::NodeState {
                            addr: addr(1 + t % 2),
                            state,
                        });
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Whatever the interleaving, the last value notified is the view readers load.
        assert!(Arc::ptr_eq(&changes.borrow_and_update(), &writer.load()));
    }

    #[test]
    fn a_change_that_changes_nothing_publishes_nothing() {
        let writer = ViewWriter::new(view(&[1]));
        let mut changes = writer.subscribe();
        changes.borrow_and_update();
        assert!(!writer.apply(ViewChange::NodeState {
            addr: addr(1),
            state: NodeState::Up
        }));
        assert!(!writer.apply(ViewChange::NodeState {
            addr: addr(9),
            state: NodeState::Down
        }));
        assert!(!changes.has_changed().unwrap());
    }
}

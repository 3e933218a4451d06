//! Every node pool, keyed by node and by the identity its connections authenticated as: a
//! request always runs on a connection logged in as its own user, and with no authentication
//! there is exactly one pool per node.

use std::net::SocketAddr;
use std::sync::Arc;

use dashmap::DashMap;

use super::{ConnectOptions, Credentials, Health, NodePool, PoolConfig, TcpConnector};

/// Who a pool's connections are logged in as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The coordinator's own credentials (or none, on a cluster without authentication).
    Service,
    /// A user who logged in through the coordinator, by role name.
    User(String),
}

/// The pools of every (node, identity) pair in use.
pub struct Pools {
    pools: DashMap<(SocketAddr, Identity), Arc<NodePool>>,
    /// The user credentials each identity's connections log in with.
    users: DashMap<String, Credentials>,
    options: ConnectOptions,
    config: PoolConfig,
}

impl std::fmt::Debug for Pools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pools")
            .field("pools", &self.pools.len())
            .field("users", &self.users.len())
            .finish()
    }
}

impl Pools {
    /// A registry whose service pools connect with `options` (its credentials, if any, are
    /// the coordinator's own) and whose pools keep `config.connections_per_node` connections.
    pub fn new(options: ConnectOptions, config: PoolConfig) -> Self {
        Pools {
            pools: DashMap::new(),
            users: DashMap::new(),
            options,
            config,
        }
    }

    /// Records the credentials a user's connections log in with (after the caller verified
    /// them). A changed password replaces that user's pools, so no connection keeps running
    /// under credentials the user no longer presents.
    pub fn register_user(&self, credentials: Credentials) {
        let name = credentials.username.clone();
        let changed = self
            .users
            .insert(name.clone(), credentials.clone())
            .is_some_and(|old| old != credentials);
        if changed {
            self.pools
                .retain(|(_, identity), _| *identity != Identity::User(name.clone()));
        }
    }

    /// The pool for `identity` on `addr`, started on first use. `None` for a user whose
    /// credentials were never registered.
    pub fn pool(&self, addr: SocketAddr, identity: &Identity) -> Option<Arc<NodePool>> {
        let key = (addr, identity.clone());
        if let Some(pool) = self.pools.get(&key) {
            return Some(Arc::clone(&pool));
        }
        let options = self.connect_options(identity)?;
        let pool = self.pools.entry(key).or_insert_with(|| {
            let connector = Arc::new(TcpConnector::new(options, None));
            Arc::new(NodePool::start(addr, connector, self.config.clone()))
        });
        Some(Arc::clone(&pool))
    }

    /// How `identity`'s connections connect: the registry's options with that user's
    /// credentials. `None` for a user whose credentials were never registered.
    pub fn connect_options(&self, identity: &Identity) -> Option<ConnectOptions> {
        Some(match identity {
            Identity::Service => self.options.clone(),
            Identity::User(name) => ConnectOptions {
                credentials: Some(self.users.get(name)?.clone()),
                ..self.options.clone()
            },
        })
    }

    /// A node was reported up: every pool to it retries now.
    pub fn node_up(&self, addr: SocketAddr) {
        for entry in self.pools.iter().filter(|e| e.key().0 == addr) {
            entry.value().node_up();
        }
    }

    /// A node left the cluster: its pools close.
    pub fn remove_node(&self, addr: SocketAddr) {
        self.pools.retain(|(a, _), pool| {
            let keep = *a != addr;
            if !keep {
                pool.shutdown();
            }
            keep
        });
    }

    /// The health of the service pool to `addr`, if one exists.
    pub fn health(&self, addr: SocketAddr) -> Option<Health> {
        self.pools
            .get(&(addr, Identity::Service))
            .map(|p| p.health())
    }

    /// How many pools exist, and how many connections they hold open.
    pub fn stats(&self) -> (usize, usize) {
        self.pools.iter().fold((0, 0), |(pools, conns), p| {
            (pools + 1, conns + p.open_connections())
        })
    }
}

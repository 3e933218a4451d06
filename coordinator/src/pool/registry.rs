//! Every node pool, keyed by node, by the identity its connections authenticated as (a
//! request always runs on a connection logged in as its own user), and by the protocol
//! version they speak when it is not the newest both sides share: a front end passes a
//! client's v4 request through a v4 connection untouched instead of translating it for a v5
//! one. Without authentication and with clients of the cluster's version, there is exactly
//! one pool per node.

use std::net::SocketAddr;
use std::sync::Arc;

use dashmap::DashMap;

use ringgate_protocol::ProtocolVersion;

use super::{ConnectOptions, Credentials, Health, NodePool, PoolConfig, TcpConnector};

/// Who a pool's connections are logged in as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LoginAs {
    /// The coordinator's own credentials (or none, on a cluster without authentication).
    Service,
    /// A user who logged in through the coordinator, by role name.
    User(Arc<str>),
}

/// A pool's key: its node, its identity, and the newest protocol version its connections
/// may speak (`None`: the newest the options allow).
type Key = (SocketAddr, LoginAs, Option<ProtocolVersion>);

/// The pools of every (node, identity, version) in use.
pub struct Pools {
    pools: DashMap<Key, Arc<NodePool>, crate::FastHash>,
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
            pools: DashMap::default(),
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
            self.pools.retain(
                |(_, identity, _), _| !matches!(identity, LoginAs::User(n) if **n == *name),
            );
        }
    }

    /// The pool for `identity` on `addr`, started on first use. `None` for a user whose
    /// credentials were never registered.
    pub fn pool(&self, addr: SocketAddr, identity: &LoginAs) -> Option<Arc<NodePool>> {
        self.pool_with(addr, identity, None)
    }

    /// The pool for `identity` on `addr` whose connections speak `version` at most (the node
    /// may settle on an older one), started on first use.
    pub fn pool_speaking(
        &self,
        addr: SocketAddr,
        identity: &LoginAs,
        version: ProtocolVersion,
    ) -> Option<Arc<NodePool>> {
        let version = (version < self.options.max_version).then_some(version);
        self.pool_with(addr, identity, version)
    }

    fn pool_with(
        &self,
        addr: SocketAddr,
        identity: &LoginAs,
        version: Option<ProtocolVersion>,
    ) -> Option<Arc<NodePool>> {
        let key = (addr, identity.clone(), version);
        if let Some(pool) = self.pools.get(&key) {
            return Some(Arc::clone(&pool));
        }
        let mut options = match identity {
            LoginAs::Service => self.options.clone(),
            LoginAs::User(name) => ConnectOptions {
                credentials: Some(self.users.get(&**name)?.clone()),
                ..self.options.clone()
            },
        };
        if let Some(version) = version {
            options.max_version = version;
        }
        let pool = self.pools.entry(key).or_insert_with(|| {
            let connector = Arc::new(TcpConnector::new(options, None));
            Arc::new(NodePool::start(addr, connector, self.config.clone()))
        });
        Some(Arc::clone(&pool))
    }

    /// How a connection of `identity` that speaks `version` at most connects: the registry's
    /// options with that user's credentials (for connections outside the pools, such as
    /// keyspace-bound ones). `None` for a user whose credentials were never registered.
    pub fn connect_options(
        &self,
        identity: &LoginAs,
        version: ProtocolVersion,
    ) -> Option<ConnectOptions> {
        let mut options = match identity {
            LoginAs::Service => self.options.clone(),
            LoginAs::User(name) => ConnectOptions {
                credentials: Some(self.users.get(&**name)?.clone()),
                ..self.options.clone()
            },
        };
        options.max_version = options.max_version.min(version);
        Some(options)
    }

    /// A node was reported up: every pool to it retries now.
    pub fn node_up(&self, addr: SocketAddr) {
        for entry in self.pools.iter().filter(|e| e.key().0 == addr) {
            entry.value().node_up();
        }
    }

    /// A node left the cluster: its pools close.
    pub fn remove_node(&self, addr: SocketAddr) {
        self.pools.retain(|(a, _, _), pool| {
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
            .get(&(addr, LoginAs::Service, None))
            .map(|p| p.health())
    }

    /// Every pool's node, identity, version, open connections and stream ids in flight, sorted
    /// by node, identity and version.
    pub fn snapshot(&self) -> Vec<PoolSnapshot> {
        let mut pools: Vec<PoolSnapshot> = self
            .pools
            .iter()
            .map(|entry| {
                let (addr, identity, version) = entry.key();
                let pool = entry.value();
                let (in_flight, orphaned) = pool.in_flight();
                PoolSnapshot {
                    addr: *addr,
                    identity: identity.clone(),
                    version: *version,
                    open_connections: pool.open_connections(),
                    in_flight,
                    orphaned,
                    up: pool.health() == Health::Up,
                }
            })
            .collect();
        pools.sort_by(|a, b| sort_key(a).cmp(&sort_key(b)));
        pools
    }

    /// How many pools exist, and how many connections they hold open.
    pub fn stats(&self) -> (usize, usize) {
        self.pools.iter().fold((0, 0), |(pools, conns), p| {
            (pools + 1, conns + p.open_connections())
        })
    }
}

fn sort_key(p: &PoolSnapshot) -> (SocketAddr, (u8, &str), Option<u8>) {
    (
        p.addr,
        identity_key(&p.identity),
        p.version.map(|v| v as u8),
    )
}

fn identity_key(identity: &LoginAs) -> (u8, &str) {
    match identity {
        LoginAs::Service => (0, ""),
        LoginAs::User(name) => (1, name),
    }
}

/// One pool at one moment ([`Pools::snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSnapshot {
    /// The node.
    pub addr: SocketAddr,
    /// Who its connections log in as.
    pub identity: LoginAs,
    /// The newest protocol version its connections may speak (`None`: the newest the
    /// options allow).
    pub version: Option<ProtocolVersion>,
    /// Connections open.
    pub open_connections: usize,
    /// Stream ids in flight over them.
    pub in_flight: usize,
    /// Of those, stream ids held by requests that timed out unanswered.
    pub orphaned: usize,
    /// Whether the pool is up (has a connection).
    pub up: bool,
}

//! The `ringgate` node's configuration: one typed [`NodeConfig`] from a TOML file, `RINGGATE_*`
//! environment variables and command-line flags, in that order of precedence (a flag beats its
//! variable, which beats the file, which beats the default).
//!
//! Every key has one variable and one flag ([`KEYS`]). The file's unknown keys, values of the
//! wrong type, addresses that do not parse and impossible settings are refused with a message
//! that names the key and where its value came from. `examples/ringgate.toml` is a commented
//! example with every key.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The CQL port a contact point without one listens on.
pub const CQL_PORT: u16 = 9042;

/// The node's whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Where clients connect (port 0: any free port).
    pub listen: SocketAddr,
    /// The admin HTTP listener (`/metrics`, `/health`, `/ready`); none when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_listen: Option<SocketAddr>,
    /// The datacenter this node reports to clients (default: the local DC, or `dc1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dc: Option<String>,
    /// The rack this node reports to clients.
    pub rack: String,
    /// Other Ringgate nodes of this tier, watched; those found serving are listed to clients
    /// in `system.peers`.
    pub peers: Vec<SocketAddr>,
    /// Check clients' credentials against the cluster and run each session as its user.
    pub auth: bool,
    /// A file of tokens accepted as passwords of the user `token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// The most clients served at once.
    pub max_connections: usize,
    /// The most requests one client connection may have waiting.
    pub max_in_flight: usize,
    /// On SIGTERM, how long to wait for the answers to requests in flight, in seconds.
    pub drain_grace_seconds: u64,
    /// Close a client connection silent this long with nothing in flight, or whose responses
    /// it has not read for this long, in seconds (0: never).
    pub idle_timeout_seconds: u64,
    /// The cluster behind the node.
    pub cluster: ClusterSection,
    /// TLS on the client listener; plain TCP when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ListenerTls>,
    /// TLS to the replicas; plain TCP when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_tls: Option<ReplicaTls>,
    /// Logging.
    pub log: LogSection,
}

/// `[cluster]`: how the node joins the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// Nodes to join through, `host[:port]` (port 9042 when omitted).
    pub contact_points: Vec<String>,
    /// The datacenter requests go to first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_dc: Option<String>,
    /// The node's own user on a cluster with authentication (with `password`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password of `username`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The default timeout of a request, in milliseconds.
    pub request_timeout_ms: u64,
    /// The newest protocol version to speak to the cluster (3, 4 or 5; older ones follow
    /// when a node refuses it). 4 is how Cassandra 3.x is spoken to.
    pub max_protocol: u8,
}

/// `[tls]`: TLS on the client listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// The listener's certificate chain (PEM), its own certificate first.
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by this CA (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
}

/// `[replica_tls]`: TLS to the replicas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaTls {
    /// The CA the replicas' certificates chain to (PEM).
    pub ca: PathBuf,
    /// A client certificate chain to present (PEM), for replicas that require one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Whether a replica's certificate must name it (its IP address, or `server_name`).
    #[serde(default = "yes")]
    pub verify_hostname: bool,
    /// The name every replica's certificate must carry, instead of its IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

fn yes() -> bool {
    true
}

/// `[log]`: logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `human` or `json` (one JSON object a line).
    pub format: LogFormat,
    /// A level (`error`, `warn`, `info`, `debug`, `trace`) for the node's own logs, or a
    /// `RUST_LOG`-style filter. `RUST_LOG`, when set, takes its place.
    pub level: String,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people.
    Human,
    /// One JSON object a line.
    Json,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9142)),
            admin_listen: None,
            dc: None,
            rack: "rack1".to_owned(),
            peers: Vec::new(),
            auth: false,
            token_file: None,
            max_connections: ringgate::server::DEFAULT_MAX_CONNECTIONS,
            max_in_flight: ringgate::server::DEFAULT_MAX_IN_FLIGHT,
            drain_grace_seconds: ringgate::server::DEFAULT_DRAIN_GRACE.as_secs(),
            idle_timeout_seconds: ringgate::server::DEFAULT_IDLE_TIMEOUT.as_secs(),
            cluster: ClusterSection::default(),
            tls: None,
            replica_tls: None,
            log: LogSection::default(),
        }
    }
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            contact_points: vec!["127.0.0.1".to_owned()],
            local_dc: None,
            username: None,
            password: None,
            request_timeout_ms: 12_000,
            max_protocol: 5,
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

/// What a key's value is, for values given as text (variables and flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    Text,
    /// A comma-separated list of texts.
    List,
    /// `true` or `false`.
    Bool,
    /// A non-negative integer.
    Integer,
}

/// One configuration key: its dotted path in the file, its variable and its flag.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The key in the TOML file, `section.name` for keys in a section.
    pub path: &'static str,
    /// The `RINGGATE_*` environment variable.
    pub env: &'static str,
    /// The command-line flag, without its `--`.
    pub flag: &'static str,
    /// What its value is.
    pub kind: Kind,
    /// What it sets, for `--help`.
    pub help: &'static str,
}

const fn key(
    path: &'static str,
    env: &'static str,
    flag: &'static str,
    kind: Kind,
    help: &'static str,
) -> Key {
    Key {
        path,
        env,
        flag,
        kind,
        help,
    }
}

/// Every key, with its variable and flag.
pub const KEYS: [Key; 27] = [
    key(
        "listen",
        "RINGGATE_LISTEN",
        "listen",
        Kind::Text,
        "Where clients connect, `ip:port` (port 0: any free port; the startup line tells which)",
    ),
    key(
        "admin_listen",
        "RINGGATE_ADMIN_LISTEN",
        "admin-listen",
        Kind::Text,
        "The admin HTTP listener, `ip:port`: GET /metrics (OpenMetrics), /health, /ready",
    ),
    key(
        "dc",
        "RINGGATE_DC",
        "dc",
        Kind::Text,
        "The datacenter this node reports to clients (default: the local DC, or dc1)",
    ),
    key(
        "rack",
        "RINGGATE_RACK",
        "rack",
        Kind::Text,
        "The rack this node reports to clients",
    ),
    key(
        "peers",
        "RINGGATE_PEERS",
        "peer",
        Kind::List,
        "Other Ringgate nodes of this tier, host:port as clients reach them (comma-separated or repeated; this node's own address is skipped): those found serving are listed in system.peers and share the ring's tokens, and clients hear when one stops or returns",
    ),
    key(
        "auth",
        "RINGGATE_AUTH",
        "auth",
        Kind::Bool,
        "Check clients' credentials against the cluster and run each session as its user",
    ),
    key(
        "token_file",
        "RINGGATE_TOKEN_FILE",
        "token-file",
        Kind::Text,
        "Accept tokens as passwords of the user `token`: lines `<token> <user> [<cluster role> <password>]`",
    ),
    key(
        "max_connections",
        "RINGGATE_MAX_CONNECTIONS",
        "max-connections",
        Kind::Integer,
        "The most clients served at once",
    ),
    key(
        "max_in_flight",
        "RINGGATE_MAX_IN_FLIGHT",
        "max-in-flight",
        Kind::Integer,
        "The most requests one client connection may have waiting",
    ),
    key(
        "drain_grace_seconds",
        "RINGGATE_DRAIN_GRACE_SECONDS",
        "drain-grace-seconds",
        Kind::Integer,
        "On SIGTERM, how long to wait for the answers to requests in flight",
    ),
    key(
        "idle_timeout_seconds",
        "RINGGATE_IDLE_TIMEOUT_SECONDS",
        "idle-timeout-seconds",
        Kind::Integer,
        "Close a client connection that sends nothing for this long with no request in flight, or reads none of its responses for this long, in seconds (0: never)",
    ),
    key(
        "cluster.contact_points",
        "RINGGATE_CONTACT_POINTS",
        "contact-points",
        Kind::List,
        "Nodes of the cluster to join through, `host[:port]` (port 9042 when omitted)",
    ),
    key(
        "cluster.local_dc",
        "RINGGATE_LOCAL_DC",
        "local-dc",
        Kind::Text,
        "The cluster's datacenter requests go to first",
    ),
    key(
        "cluster.username",
        "RINGGATE_USERNAME",
        "username",
        Kind::Text,
        "The node's own user on a cluster with authentication (with the password)",
    ),
    key(
        "cluster.password",
        "RINGGATE_PASSWORD",
        "password",
        Kind::Text,
        "The password of the node's own user",
    ),
    key(
        "cluster.request_timeout_ms",
        "RINGGATE_REQUEST_TIMEOUT_MS",
        "request-timeout-ms",
        Kind::Integer,
        "The default timeout of a request to the cluster, in milliseconds",
    ),
    key(
        "cluster.max_protocol",
        "RINGGATE_MAX_PROTOCOL",
        "max-protocol",
        Kind::Integer,
        "The newest protocol version to speak to the cluster: 3, 4 or 5 (4 for Cassandra 3.x)",
    ),
    key(
        "tls.cert",
        "RINGGATE_TLS_CERT",
        "tls-cert",
        Kind::Text,
        "TLS on the client listener: its certificate chain (PEM)",
    ),
    key(
        "tls.key",
        "RINGGATE_TLS_KEY",
        "tls-key",
        Kind::Text,
        "The client listener's private key (PEM)",
    ),
    key(
        "tls.client_ca",
        "RINGGATE_TLS_CLIENT_CA",
        "tls-client-ca",
        Kind::Text,
        "Require client certificates signed by this CA (PEM)",
    ),
    key(
        "replica_tls.ca",
        "RINGGATE_REPLICA_TLS_CA",
        "replica-tls-ca",
        Kind::Text,
        "TLS to the replicas: the CA their certificates chain to (PEM)",
    ),
    key(
        "replica_tls.cert",
        "RINGGATE_REPLICA_TLS_CERT",
        "replica-tls-cert",
        Kind::Text,
        "A client certificate to present to the replicas (PEM)",
    ),
    key(
        "replica_tls.key",
        "RINGGATE_REPLICA_TLS_KEY",
        "replica-tls-key",
        Kind::Text,
        "Its private key (PEM)",
    ),
    key(
        "replica_tls.verify_hostname",
        "RINGGATE_REPLICA_TLS_VERIFY_HOSTNAME",
        "replica-tls-verify-hostname",
        Kind::Bool,
        "Whether a replica's certificate must name it (its IP, or the server name)",
    ),
    key(
        "replica_tls.server_name",
        "RINGGATE_REPLICA_TLS_SERVER_NAME",
        "replica-tls-server-name",
        Kind::Text,
        "The name every replica's certificate must carry instead of its IP",
    ),
    key(
        "log.format",
        "RINGGATE_LOG_FORMAT",
        "log-format",
        Kind::Text,
        "Log lines as `human` or `json`",
    ),
    key(
        "log.level",
        "RINGGATE_LOG_LEVEL",
        "log-level",
        Kind::Text,
        "A level for the node's own logs (error, warn, info, debug: one span per request, trace) or a RUST_LOG-style filter",
    ),
];

/// The key at `path`.
pub fn key_at(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.path == path)
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The config file.
    File(PathBuf),
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Flag(flag) => write!(f, "flag --{flag}"),
        }
    }
}

/// A configuration refused: the key, where its value came from, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration key `{key}`{}: {message}", origin.as_ref().map(|o| format!(" (from {o})")).unwrap_or_default())]
pub struct ConfigError {
    /// The key (dotted path).
    pub key: String,
    /// Where its value came from, when known.
    pub origin: Option<Origin>,
    /// What is wrong.
    pub message: String,
}

/// Builds a [`NodeConfig`] from layers, each overriding the ones before.
#[derive(Debug, Default)]
pub struct Layers {
    table: toml::Table,
    origins: BTreeMap<String, Origin>,
}

impl Layers {
    /// No layer yet: the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The config file's text (read from `path`). Its syntax and its unknown keys are checked
    /// here; its values' types when [`Layers::build`] runs.
    pub fn file(&mut self, path: PathBuf, text: &str) -> Result<(), ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError {
            key: e
                .span()
                .and_then(|span| key_on_line(text, span.start))
                .unwrap_or_else(|| "(file)".to_owned()),
            origin: Some(Origin::File(path.clone())),
            message: e.message().to_owned(),
        })?;
        let mut paths = Vec::new();
        for (name, value) in &table {
            match value {
                toml::Value::Table(section) => {
                    for sub in section.keys() {
                        paths.push(format!("{name}.{sub}"));
                    }
                    if section.is_empty() {
                        paths.push(name.clone());
                    }
                }
                _ => paths.push(name.clone()),
            }
        }
        for p in paths {
            let section = KEYS.iter().any(|k| k.path.starts_with(&format!("{p}.")));
            if key_at(&p).is_none() && !section {
                return Err(ConfigError {
                    message: unknown_key_message(&p),
                    key: p,
                    origin: Some(Origin::File(path.clone())),
                });
            }
            self.origins.insert(p, Origin::File(path.clone()));
        }
        for (name, value) in table {
            match (self.table.get_mut(&name), value) {
                (Some(toml::Value::Table(existing)), toml::Value::Table(section)) => {
                    existing.extend(section);
                }
                (_, value) => {
                    self.table.insert(name, value);
                }
            }
        }
        Ok(())
    }

    /// Sets `key` to a value given as text (a variable or a flag), converted by its kind.
    pub fn text(&mut self, key: &Key, raw: &str, origin: Origin) -> Result<(), ConfigError> {
        let error = |message: String| ConfigError {
            key: key.path.to_owned(),
            origin: Some(origin.clone()),
            message,
        };
        let value = match key.kind {
            Kind::Text => toml::Value::String(raw.to_owned()),
            Kind::List => toml::Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_owned()))
                    .collect(),
            ),
            Kind::Bool => match raw.trim() {
                "true" | "1" | "yes" | "" => toml::Value::Boolean(true),
                "false" | "0" | "no" => toml::Value::Boolean(false),
                other => return Err(error(format!("expected true or false, got {other:?}"))),
            },
            Kind::Integer => {
                let n: i64 = raw
                    .trim()
                    .parse()
                    .map_err(|_| error(format!("expected a whole number, got {raw:?}")))?;
                toml::Value::Integer(n)
            }
        };
        self.set(key, value, origin);
        Ok(())
    }

    /// Sets a list `key` to `values` (a flag given several times).
    pub fn list(&mut self, key: &Key, values: &[String], origin: Origin) {
        let value = toml::Value::Array(
            values
                .iter()
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        );
        self.set(key, value, origin);
    }

    fn set(&mut self, key: &Key, value: toml::Value, origin: Origin) {
        match key.path.split_once('.') {
            Some((section, name)) => {
                let entry = self
                    .table
                    .entry(section.to_owned())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if !entry.is_table() {
                    *entry = toml::Value::Table(toml::Table::new());
                }
                if let toml::Value::Table(t) = entry {
                    t.insert(name.to_owned(), value);
                }
            }
            None => {
                self.table.insert(key.path.to_owned(), value);
            }
        }
        self.origins.insert(key.path.to_owned(), origin);
    }

    /// The `RINGGATE_*` variables of `vars` that name keys, set over what is there.
    pub fn env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        let vars: BTreeMap<String, String> = vars.into_iter().collect();
        for key in &KEYS {
            if let Some(raw) = vars.get(key.env) {
                self.text(key, raw, Origin::Env(key.env))?;
            }
        }
        Ok(())
    }

    /// The configuration the layers make, checked.
    pub fn build(self) -> Result<NodeConfig, ConfigError> {
        let origins = self.origins;
        let origin_of = |path: &str| -> Option<Origin> {
            origins.get(path).cloned().or_else(|| {
                // A section given whole: its origin is any of its keys'.
                origins
                    .iter()
                    .find(|(k, _)| k.starts_with(&format!("{path}.")))
                    .map(|(_, o)| o.clone())
            })
        };
        let mut config = NodeConfig::default();
        // Each key is read on its own, so that an error names it.
        let mut checked = toml::Table::new();
        for (name, value) in &self.table {
            let sections: Vec<(String, toml::Value)> = match value {
                toml::Value::Table(section) if section.is_empty() => {
                    vec![(name.clone(), value.clone())]
                }
                toml::Value::Table(section) => section
                    .iter()
                    .map(|(k, v)| (format!("{name}.{k}"), v.clone()))
                    .collect(),
                other => vec![(name.clone(), other.clone())],
            };
            for (path, value) in sections {
                let mut probe = NodeConfig::default();
                let mut one = toml::Table::new();
                insert_path(&mut one, &path, value.clone());
                complete_section(&mut one, &self.table, &path);
                if let Err(e) = merge_into(&mut probe, one) {
                    return Err(ConfigError {
                        origin: origin_of(&path),
                        key: path,
                        message: e,
                    });
                }
                insert_path(&mut checked, &path, value);
            }
        }
        if let Err(e) = merge_into(&mut config, checked) {
            return Err(ConfigError {
                key: "(config)".to_owned(),
                origin: None,
                message: e,
            });
        }
        config.check().map_err(|(key, message)| ConfigError {
            origin: origin_of(key),
            key: key.to_owned(),
            message,
        })?;
        Ok(config)
    }
}

/// The other keys of `path`'s section, so that a section's required keys are there when one
/// key is read alone (a `[tls]` with its `key`, say).
fn complete_section(one: &mut toml::Table, all: &toml::Table, path: &str) {
    let Some((section, _)) = path.split_once('.') else {
        return;
    };
    if let (Some(toml::Value::Table(whole)), Some(toml::Value::Table(target))) =
        (all.get(section), one.get_mut(section))
    {
        for (k, v) in whole {
            target.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

fn insert_path(table: &mut toml::Table, path: &str, value: toml::Value) {
    match path.split_once('.') {
        Some((section, name)) => {
            let entry = table
                .entry(section.to_owned())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(t) = entry {
                t.insert(name.to_owned(), value);
            }
        }
        None => {
            table.insert(path.to_owned(), value);
        }
    }
}

/// Reads `table` over the defaults of `config`.
fn merge_into(config: &mut NodeConfig, table: toml::Table) -> Result<(), String> {
    let mut base = match toml::Value::try_from(&*config) {
        Ok(toml::Value::Table(t)) => t,
        Ok(_) | Err(_) => toml::Table::new(),
    };
    for (name, value) in table {
        match (base.get_mut(&name), value) {
            (Some(toml::Value::Table(existing)), toml::Value::Table(section)) => {
                existing.extend(section);
            }
            (_, value) => {
                base.insert(name, value);
            }
        }
    }
    *config = toml::Value::Table(base)
        .try_into()
        .map_err(|e: toml::de::Error| e.message().trim().to_owned())?;
    Ok(())
}

/// The dotted key on the line of byte `offset` of `text`, for syntax errors.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let line_start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?;
    let (name, _) = line.split_once('=')?;
    let name = name.trim();
    let section = text[..line_start]
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix('[')?.strip_suffix(']').map(str::trim));
    Some(match section {
        Some(s) => format!("{s}.{name}"),
        None => name.to_owned(),
    })
}

fn unknown_key_message(path: &str) -> String {
    let known: Vec<&str> = KEYS.iter().map(|k| k.path).collect();
    let close = known
        .iter()
        .find(|k| k.rsplit('.').next() == path.rsplit('.').next())
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    format!("unknown key{close}")
}

impl NodeConfig {
    /// Checks what types cannot: settings that cannot work together or at all. Returns the
    /// key at fault and why.
    fn check(&self) -> Result<(), (&'static str, String)> {
        if self.cluster.contact_points.is_empty() {
            return Err((
                "cluster.contact_points",
                "at least one is needed".to_owned(),
            ));
        }
        for point in &self.cluster.contact_points {
            contact_point(point).map_err(|e| ("cluster.contact_points", e))?;
        }
        if self.max_connections == 0 {
            return Err(("max_connections", "must be at least 1".to_owned()));
        }
        if self.max_in_flight == 0 {
            return Err(("max_in_flight", "must be at least 1".to_owned()));
        }
        if self.cluster.request_timeout_ms == 0 {
            return Err((
                "cluster.request_timeout_ms",
                "must be at least 1".to_owned(),
            ));
        }
        if !(3..=5).contains(&self.cluster.max_protocol) {
            return Err((
                "cluster.max_protocol",
                format!("must be 3, 4 or 5, not {}", self.cluster.max_protocol),
            ));
        }
        if self.drain_grace_seconds > 24 * 3600 {
            return Err((
                "drain_grace_seconds",
                "more than a day: surely a mistake".to_owned(),
            ));
        }
        if self.idle_timeout_seconds > 24 * 3600 {
            return Err((
                "idle_timeout_seconds",
                "more than a day: use 0 to never close idle clients".to_owned(),
            ));
        }
        match (&self.cluster.username, &self.cluster.password) {
            (Some(_), None) => {
                return Err((
                    "cluster.password",
                    "required with cluster.username".to_owned(),
                ));
            }
            (None, Some(_)) => {
                return Err((
                    "cluster.username",
                    "required with cluster.password".to_owned(),
                ));
            }
            _ => {}
        }
        if self.admin_listen == Some(self.listen) && self.listen.port() != 0 {
            return Err((
                "admin_listen",
                format!("the same address as listen ({})", self.listen),
            ));
        }
        if let Some(tls) = &self.replica_tls {
            match (&tls.cert, &tls.key) {
                (Some(_), None) => {
                    return Err((
                        "replica_tls.key",
                        "required with replica_tls.cert".to_owned(),
                    ));
                }
                (None, Some(_)) => {
                    return Err((
                        "replica_tls.cert",
                        "required with replica_tls.key".to_owned(),
                    ));
                }
                _ => {}
            }
            if tls.server_name.is_some() && !tls.verify_hostname {
                return Err((
                    "replica_tls.server_name",
                    "has no use with verify_hostname = false".to_owned(),
                ));
            }
        }
        if let Err(e) = self.log.filter() {
            return Err(("log.level", e));
        }
        Ok(())
    }

    /// The contact points, resolved.
    pub fn contact_points(&self) -> Result<Vec<SocketAddr>, ConfigError> {
        self.cluster
            .contact_points
            .iter()
            .map(|p| contact_point(p))
            .collect::<Result<_, _>>()
            .map_err(|message| ConfigError {
                key: "cluster.contact_points".to_owned(),
                origin: None,
                message,
            })
    }

    /// The configuration as TOML, with the password hidden: what `--print-config` shows.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.cluster.password.is_some() {
            shown.cluster.password = Some("(hidden)".to_owned());
        }
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot show the config: {e}\n"))
    }
}

impl LogSection {
    /// The log filter: `level` for the node's own crates (`warn` for the rest), or `level`
    /// itself when it is a filter. Errors describe a filter that does not parse.
    pub fn filter(&self) -> Result<String, String> {
        let level = self.level.trim();
        let filter = match level {
            "error" | "warn" | "info" | "debug" | "trace" | "off" => {
                format!("warn,ringgate={level},ringgate_examples={level}")
            }
            other => other.to_owned(),
        };
        tracing_subscriber::EnvFilter::try_new(&filter)
            .map(|_| filter)
            .map_err(|e| format!("not a level or a filter: {e}"))
    }
}

/// `host[:port]`, resolved (port 9042 when omitted).
pub fn contact_point(text: &str) -> Result<SocketAddr, String> {
    let resolved = match text.parse::<SocketAddr>() {
        Ok(addr) => return Ok(addr),
        Err(_) if text.contains(':') && !text.contains("::") => text.to_socket_addrs(),
        Err(_) => (text, CQL_PORT).to_socket_addrs(),
    };
    resolved
        .map_err(|e| format!("cannot resolve {text:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(file: &str) -> Result<NodeConfig, ConfigError> {
        let mut layers = Layers::new();
        layers.file(PathBuf::from("test.toml"), file)?;
        layers.build()
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        assert_eq!(build("").unwrap(), NodeConfig::default());
    }

    #[test]
    fn errors_name_the_key_and_its_origin() {
        let e = build("lisen = \"127.0.0.1:1\"").unwrap_err();
        assert_eq!(e.key, "lisen");
        assert!(e.to_string().contains("test.toml"), "{e}");
        let e = build("[cluster]\nlocal_datacenter = \"dc1\"").unwrap_err();
        assert_eq!(e.key, "cluster.local_datacenter");
        let e = build("listen = \"nowhere\"").unwrap_err();
        assert_eq!(e.key, "listen");
        assert!(e.message.contains("socket address"), "{e}");
        let e = build("max_connections = 0").unwrap_err();
        assert_eq!(e.key, "max_connections");
        let e = build("max_connections = -3").unwrap_err();
        assert_eq!(e.key, "max_connections");
        let e = build("[tls]\ncert = \"a.pem\"").unwrap_err();
        assert_eq!(e.key, "tls.cert", "{e}");
        assert!(e.message.contains("key"), "{e}");
        let e = build("[log]\nformat = \"xml\"").unwrap_err();
        assert_eq!(e.key, "log.format");
        let e = build("listen = ").unwrap_err();
        assert_eq!(e.key, "listen", "{e}");
        let e = build("[cluster]\nusername = \"u\"").unwrap_err();
        assert_eq!(e.key, "cluster.password");
        // An empty section is no setting; an empty [tls] lacks its certificate.
        assert_eq!(build("[cluster]\n[log]\n").unwrap(), NodeConfig::default());
        let e = build("[tls]\n").unwrap_err();
        assert_eq!(e.key, "tls", "{e}");
        assert!(e.message.contains("cert"), "{e}");
        let e = build("[nonsense]\n").unwrap_err();
        assert_eq!(e.key, "nonsense");
    }

    #[test]
    fn env_beats_file_and_flags_beat_env() {
        let mut layers = Layers::new();
        layers
            .file(
                PathBuf::from("f.toml"),
                "listen = \"127.0.0.1:1000\"\nrack = \"r-file\"\n[cluster]\nlocal_dc = \"file\"",
            )
            .unwrap();
        layers
            .env([
                ("RINGGATE_LISTEN".to_owned(), "127.0.0.1:2000".to_owned()),
                ("RINGGATE_LOCAL_DC".to_owned(), "env".to_owned()),
                ("RINGGATE_UNRELATED".to_owned(), "x".to_owned()),
            ])
            .unwrap();
        layers
            .text(
                key_at("cluster.local_dc").unwrap(),
                "flag",
                Origin::Flag("local-dc"),
            )
            .unwrap();
        let config = layers.build().unwrap();
        assert_eq!(config.listen, "127.0.0.1:2000".parse().unwrap());
        assert_eq!(config.rack, "r-file");
        assert_eq!(config.cluster.local_dc.as_deref(), Some("flag"));

        let mut layers = Layers::new();
        layers
            .env([("RINGGATE_ADMIN_LISTEN".to_owned(), "nope".to_owned())])
            .unwrap();
        let e = layers.build().unwrap_err();
        assert_eq!(e.origin, Some(Origin::Env("RINGGATE_ADMIN_LISTEN")));
        let e = Layers::new()
            .env([("RINGGATE_AUTH".to_owned(), "maybe".to_owned())])
            .unwrap_err();
        assert_eq!(e.key, "auth");
    }

    #[test]
    fn every_key_reads_from_text() {
        for key in &KEYS {
            let raw = match key.kind {
                Kind::Text if key.path.ends_with("listen") => "127.0.0.1:7777",
                Kind::Text if key.path == "log.format" => "json",
                Kind::Text => "x",
                Kind::List if key.path == "peers" => "127.0.0.9:9042",
                Kind::List => "127.0.0.1",
                Kind::Bool => "true",
                Kind::Integer => "5",
            };
            let mut layers = Layers::new();
            layers.text(key, raw, Origin::Flag(key.flag)).unwrap();
            // A section's other required keys, so that each key can be read alone.
            for (path, value) in [
                ("tls.cert", "c"),
                ("tls.key", "k"),
                ("replica_tls.ca", "ca"),
                ("replica_tls.cert", "c"),
                ("replica_tls.key", "k"),
                ("cluster.username", "u"),
                ("cluster.password", "p"),
            ] {
                if path.split('.').next() == key.path.split('.').next() && path != key.path {
                    layers
                        .text(key_at(path).unwrap(), value, Origin::Flag("x"))
                        .unwrap();
                }
            }
            let built = layers.build();
            assert!(built.is_ok(), "{}: {built:?}", key.path);
        }
    }
}

//! The harness's two clients: a real driver (the `scylla` crate) talking to any CQL endpoint,
//! so that Ringgate is not measured with itself, and Ringgate's own request API in-process
//! (`--embedded`), which measures the library without its CQL front end.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;

use ringgate::protocol::message::Consistency;
use ringgate::protocol::types::CqlValue;
use ringgate::request::{
    Batch as RgBatch, BatchType as RgBatchType, Coordinator, CoordinatorConfig,
    PreparedStatement as RgPrepared, RequestOptions,
};
use scylla::client::PoolSize;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::host_filter::AllowListHostFilter;
use scylla::statement::Statement;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use crate::workload::{
    BATCH_ROW, BATCH_SIZE, BIG_READ, BIG_VALUE_LEN, BIG_WRITE, LITERAL_READ_PREFIX, Op, READ, WRITE,
};

/// How a client reaches its target.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The endpoint (driver), or the contact points (embedded).
    pub targets: Vec<SocketAddr>,
    /// Connections the driver keeps to the target (per node, embedded).
    pub connections: usize,
    /// Bytes of each small value written.
    pub value_len: usize,
    /// The embedded coordinator's local datacenter.
    pub local_dc: Option<String>,
}

/// A client ready to run a workload's operations.
pub enum Client {
    /// A driver session that sends every request to one address.
    Driver(Box<DriverClient>),
    /// Ringgate's request API, in this process.
    Embedded(Box<EmbeddedClient>),
}

impl Client {
    /// Runs one operation; the error as text.
    pub async fn run(&self, op: Op) -> Result<(), String> {
        match self {
            Client::Driver(c) => c.run(op).await,
            Client::Embedded(c) => c.run(op).await,
        }
    }
}

/// The driver client: a `scylla` session whose only allowed host is the target, so every
/// request goes to that address whatever the cluster's topology says.
pub struct DriverClient {
    session: Session,
    read: PreparedStatement,
    write: PreparedStatement,
    big_read: PreparedStatement,
    big_write: PreparedStatement,
    batch: Batch,
    value: Vec<u8>,
    big_value: Vec<u8>,
}

/// Connects a driver session to `config.targets[0]`, with nothing else allowed.
pub async fn connect_driver(config: &ClientConfig) -> Result<Session, String> {
    let target = *config.targets.first().ok_or("no target")?;
    let filter = AllowListHostFilter::new([target]).map_err(|e| e.to_string())?;
    let connections = NonZeroUsize::new(config.connections.max(1)).ok_or("no connections")?;
    SessionBuilder::new()
        .known_node_addr(target)
        .host_filter(Arc::new(filter))
        .pool_size(PoolSize::PerHost(connections))
        .build()
        .await
        .map_err(|e| format!("cannot connect to {target}: {e}"))
}

impl DriverClient {
    /// Prepares the workloads' statements on `session`.
    pub async fn prepare(session: Session, config: &ClientConfig) -> Result<Self, String> {
        let prepare = async |cql: &str| {
            let mut statement = session
                .prepare(cql)
                .await
                .map_err(|e| format!("cannot prepare {cql:?}: {e}"))?;
            statement.set_consistency(Consistency::LocalOne.into_scylla());
            Ok::<_, String>(statement)
        };
        let (read, write, big_read, big_write) = (
            prepare(READ).await?,
            prepare(WRITE).await?,
            prepare(BIG_READ).await?,
            prepare(BIG_WRITE).await?,
        );
        let row = prepare(BATCH_ROW).await?;
        let mut batch = Batch::new(BatchType::Unlogged);
        for _ in 0..BATCH_SIZE {
            batch.append_statement(row.clone());
        }
        batch.set_consistency(Consistency::LocalOne.into_scylla());
        Ok(DriverClient {
            session,
            read,
            write,
            big_read,
            big_write,
            batch,
            value: vec![0xab; config.value_len],
            big_value: vec![0xcd; BIG_VALUE_LEN],
        })
    }

    async fn run(&self, op: Op) -> Result<(), String> {
        let s = &self.session;
        let done = match op {
            Op::Read(k) => s.execute_unpaged(&self.read, (k,)).await,
            Op::Write(k) => s.execute_unpaged(&self.write, (k, &self.value[..])).await,
            Op::BigRead(k) => s.execute_unpaged(&self.big_read, (k,)).await,
            Op::BigWrite(k) => {
                s.execute_unpaged(&self.big_write, (k, &self.big_value[..]))
                    .await
            }
            Op::Batch(p) => {
                let rows: Vec<(i64, i32, &[u8])> =
                    (0..BATCH_SIZE).map(|c| (p, c, &self.value[..])).collect();
                s.batch(&self.batch, rows).await
            }
            Op::LiteralRead(k) => {
                let mut statement = Statement::new(format!("{LITERAL_READ_PREFIX}{k}"));
                statement.set_consistency(Consistency::LocalOne.into_scylla());
                s.query_unpaged(statement, ()).await
            }
        };
        done.map(drop).map_err(|e| e.to_string())
    }
}

/// The embedded client: Ringgate's [`Coordinator`], joined to the cluster in this process.
pub struct EmbeddedClient {
    coordinator: Coordinator,
    read: Arc<RgPrepared>,
    write: Arc<RgPrepared>,
    big_read: Arc<RgPrepared>,
    big_write: Arc<RgPrepared>,
    row: Arc<RgPrepared>,
    options: RequestOptions,
    value: Vec<u8>,
    big_value: Vec<u8>,
}

/// Joins the cluster through `config.targets` with Ringgate's request API.
pub async fn connect_embedded(config: &ClientConfig) -> Result<Coordinator, String> {
    let mut settings = CoordinatorConfig::new(config.targets.clone());
    settings.local_dc = config.local_dc.clone();
    settings.pool.connections_per_node = config.connections.max(1);
    Coordinator::connect(settings)
        .await
        .map_err(|e| format!("cannot join the cluster: {e}"))
}

impl EmbeddedClient {
    /// Prepares the workloads' statements through `coordinator`.
    pub async fn prepare(coordinator: Coordinator, config: &ClientConfig) -> Result<Self, String> {
        let prepare = async |cql: &str| {
            coordinator
                .prepare(cql)
                .await
                .map_err(|e| format!("cannot prepare {cql:?}: {e}"))
        };
        Ok(EmbeddedClient {
            read: prepare(READ).await?,
            write: prepare(WRITE).await?,
            big_read: prepare(BIG_READ).await?,
            big_write: prepare(BIG_WRITE).await?,
            row: prepare(BATCH_ROW).await?,
            options: RequestOptions {
                consistency: Some(Consistency::LocalOne),
                ..RequestOptions::default()
            },
            value: vec![0xab; config.value_len],
            big_value: vec![0xcd; BIG_VALUE_LEN],
            coordinator,
        })
    }

    async fn run(&self, op: Op) -> Result<(), String> {
        let c = &self.coordinator;
        let key = |k| CqlValue::Bigint(k);
        let blob = |v: &[u8]| CqlValue::Blob(v.to_vec());
        let done = match op {
            Op::Read(k) => c.execute(&self.read, vec![key(k)], &self.options).await,
            Op::Write(k) => {
                let values = vec![key(k), blob(&self.value)];
                c.execute(&self.write, values, &self.options).await
            }
            Op::BigRead(k) => c.execute(&self.big_read, vec![key(k)], &self.options).await,
            Op::BigWrite(k) => {
                let values = vec![key(k), blob(&self.big_value)];
                c.execute(&self.big_write, values, &self.options).await
            }
            Op::Batch(p) => {
                let mut batch = RgBatch::new(RgBatchType::Unlogged);
                for row in 0..BATCH_SIZE {
                    let values = vec![key(p), CqlValue::Int(row), blob(&self.value)];
                    batch = batch.prepared(&self.row, values);
                }
                c.batch(&batch, &self.options).await
            }
            Op::LiteralRead(k) => {
                let text = format!("{LITERAL_READ_PREFIX}{k}");
                c.query(&text, (), &self.options).await
            }
        };
        done.map(drop).map_err(|e| e.to_string())
    }
}

/// Ringgate's consistency levels as the driver names them.
trait IntoScylla {
    fn into_scylla(self) -> scylla::statement::Consistency;
}

impl IntoScylla for Consistency {
    fn into_scylla(self) -> scylla::statement::Consistency {
        use scylla::statement::Consistency as S;
        match self {
            Consistency::Any => S::Any,
            Consistency::One => S::One,
            Consistency::Two => S::Two,
            Consistency::Three => S::Three,
            Consistency::Quorum => S::Quorum,
            Consistency::All => S::All,
            Consistency::LocalQuorum => S::LocalQuorum,
            Consistency::EachQuorum => S::EachQuorum,
            Consistency::Serial => S::Serial,
            Consistency::LocalSerial => S::LocalSerial,
            Consistency::LocalOne => S::LocalOne,
        }
    }
}

//! The cluster view has one writer: a change made while the control connection re-reads the
//! schema is not undone when the re-read lands. Driven against a scripted control node (no
//! real cluster): a schema event starts a re-read, the node holds its schema tables back
//! until the test has marked a node down, then answers; the new view must have both the new
//! keyspace and the node still down.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use futures::future::BoxFuture;
use ringgate::cluster::{Cluster, ClusterConfig, NodeState};
use ringgate::protocol::Opcode;
use ringgate::protocol::message::{
    ColumnSpec, ErrorDetails, ErrorResponse, Event, Response, ResultBody, Rows, RowsMetadata,
    SchemaChange, SchemaChangeTarget, SchemaChangeType, TableSpec, peek, split_request_body,
};
use ringgate::protocol::types::{ColumnType, CqlValue, encode_cell};
use ringgate::server::served_tables::{RinggateNode, SystemInfo, SystemTables};
use ringgate::server::{ForwardRequest, Handler, Reply, ServerConfig, serve};
use tokio::sync::{Notify, Semaphore, broadcast};

/// A control node whose schema tables list `keyspaces`, and which — while `held` — answers
/// schema queries only once the test releases `gate`.
struct ScriptedNode {
    keyspaces: Mutex<Vec<String>>,
    held: Mutex<bool>,
    gate: Arc<Semaphore>,
    /// Signalled when a held schema query arrives.
    holding: Arc<Notify>,
    events: broadcast::Sender<Event>,
}

impl ScriptedNode {
    fn rows(&self, table: &str) -> Result<ResultBody, ErrorResponse> {
        let text = || ColumnType::Varchar;
        let columns: Vec<(&str, ColumnType)> = match table {
            "keyspaces" => vec![
                ("keyspace_name", text()),
                ("durable_writes", ColumnType::Boolean),
                (
                    "replication",
                    ColumnType::Map(Box::new(text()), Box::new(text())),
                ),
            ],
            "tables" => vec![("keyspace_name", text()), ("table_name", text())],
            "views" => vec![("keyspace_name", text()), ("view_name", text())],
            "columns" => vec![
                ("keyspace_name", text()),
                ("table_name", text()),
                ("column_name", text()),
                ("kind", text()),
                ("position", ColumnType::Int),
                ("type", text()),
            ],
            "types" => vec![
                ("keyspace_name", text()),
                ("type_name", text()),
                ("field_names", ColumnType::List(Box::new(text()))),
                ("field_types", ColumnType::List(Box::new(text()))),
            ],
            other => {
                return Err(ErrorResponse::new(
                    ErrorDetails::Invalid,
                    format!("unconfigured table {other}"),
                ));
            }
        };
        let mut content = BytesMut::new();
        let mut count = 0;
        if table == "keyspaces" {
            for name in self.keyspaces.lock().unwrap().iter() {
                let replication = CqlValue::Map(vec![
                    (
                        CqlValue::Text("class".into()),
                        CqlValue::Text("org.apache.cassandra.locator.SimpleStrategy".into()),
                    ),
                    (
                        CqlValue::Text("replication_factor".into()),
                        CqlValue::Text("1".into()),
                    ),
                ]);
                let cells = [
                    CqlValue::Text(name.clone()),
                    CqlValue::Boolean(true),
                    replication,
                ];
                for ((_, typ), cell) in columns.iter().zip(&cells) {
                    encode_cell(typ, Some(cell), &mut content).unwrap();
                }
                count += 1;
            }
        }
        let spec = |name: &str, typ: &ColumnType| ColumnSpec {
            keyspace: "system_schema".into(),
            table: table.into(),
            name: name.into(),
            typ: typ.clone(),
        };
        Ok(ResultBody::Rows(Rows {
            metadata: RowsMetadata {
                column_count: columns.len(),
                paging_state: None,
                new_metadata_id: None,
                global_table_spec: Some(TableSpec {
                    keyspace: "system_schema".into(),
                    table: table.into(),
                }),
                columns: Some(columns.iter().map(|(n, t)| spec(n, t)).collect()),
            },
            rows_count: count,
            content: content.freeze(),
        }))
    }
}

impl Handler for ScriptedNode {
    fn request(&self, request: ForwardRequest) -> BoxFuture<'static, Reply> {
        let text = split_request_body(&request.body, false)
            .ok()
            .filter(|_| request.opcode == Opcode::Query)
            .and_then(|(_, body)| {
                peek::query(&body, request.version)
                    .ok()
                    .map(|q| q.query.to_owned())
            })
            .unwrap_or_default();
        let table = text
            .split_once("FROM system_schema.")
            .map(|(_, rest)| rest.split_whitespace().next().unwrap_or("").to_owned());
        let answer = match &table {
            Some(table) => self.rows(table),
            None => Err(ErrorResponse::new(ErrorDetails::Invalid, "not scripted")),
        };
        let reply = match answer {
            Ok(body) => Reply::Message(Response::Result(body)),
            Err(e) => Reply::Message(Response::Error(e)),
        };
        let held = table.is_some() && *self.held.lock().unwrap();
        let (gate, holding) = (Arc::clone(&self.gate), Arc::clone(&self.holding));
        Box::pin(async move {
            if held {
                holding.notify_one();
                // Released by the test; the permit goes back for the next query.
                drop(gate.acquire().await);
            }
            reply
        })
    }

    fn events(&self) -> Option<broadcast::Receiver<Event>> {
        Some(self.events.subscribe())
    }
}

#[tokio::test]
async fn a_node_marked_down_during_a_schema_reread_stays_down() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control = listener.local_addr().unwrap();
    let other = SocketAddr::new(IpAddr::from([127, 0, 0, 2]), control.port());
    let mut info = SystemInfo::new(
        RinggateNode::new(control.ip(), control.port(), "dc1", "rack1"),
        "scripted",
    );
    info.peers = vec![RinggateNode::new(other.ip(), other.port(), "dc1", "rack1")];
    let system = Arc::new(SystemTables::new(info).unwrap());
    let node = Arc::new(ScriptedNode {
        keyspaces: Mutex::new(Vec::new()),
        held: Mutex::new(false),
        gate: Arc::new(Semaphore::new(0)),
        holding: Arc::new(Notify::new()),
        events: broadcast::Sender::new(16),
    });
    tokio::spawn(serve(
        listener,
        Arc::new(ServerConfig::new(system)),
        Arc::clone(&node),
    ));

    let mut config = ClusterConfig::new(vec![control]);
    config.debounce = Duration::from_millis(20);
    let cluster = Cluster::connect(config)
        .await
        .expect("joins the scripted node");
    let state = |view: &ringgate::cluster::ClusterView| view.node(&other).map(|n| n.state);
    assert_eq!(state(&cluster.view()), Some(NodeState::Up));

    // A keyspace is created: the schema event starts a re-read, which the node holds.
    node.keyspaces.lock().unwrap().push("ks".into());
    *node.held.lock().unwrap() = true;
    let holding = node.holding.notified();
    node.events
        .send(Event::SchemaChange(SchemaChange {
            change_type: SchemaChangeType::Created,
            target: SchemaChangeTarget::Keyspace("ks".into()),
        }))
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), holding)
        .await
        .expect("the re-read reached the schema tables");

    // Meanwhile, the other node's pool loses its connections.
    cluster.set_node_state(other, NodeState::Down);
    assert_eq!(state(&cluster.view()), Some(NodeState::Down));

    // The re-read lands.
    let mut views = cluster.subscribe();
    *node.held.lock().unwrap() = false;
    node.gate.add_permits(1);
    let view = tokio::time::timeout(
        Duration::from_secs(10),
        views.wait_for(|v| v.keyspace("ks").is_some()),
    )
    .await
    .expect("the re-read is published")
    .expect("the view lives")
    .clone();
    assert_eq!(
        state(&view),
        Some(NodeState::Down),
        "the re-read undid a state set while it ran"
    );
    assert_eq!(state(&cluster.view()), Some(NodeState::Down));
    // The snapshot readers load is the one subscribers were told of.
    assert!(Arc::ptr_eq(&cluster.view(), &view));
    cluster.shutdown();
}

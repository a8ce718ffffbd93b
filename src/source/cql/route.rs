//! Token-aware scans. The driver routes a statement by the token of its partition key, and a
//! range scan (`WHERE token(k) > ? AND token(k) <= ?`) binds no key, so left alone every range
//! would go to any node, which then reads from the replicas. Here the scan's ranges are cut at
//! the ring's tokens (each then lies inside one replica set's range) and each range's statement
//! carries a load-balancing policy that sends it to one of its replicas (in `--dc` first,
//! turn about), then to the others, then to any node.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use scylla::client::execution_profile::ExecutionProfileHandle;
use scylla::client::session::Session;
use scylla::cluster::{ClusterState, Node, NodeRef};
use scylla::policies::load_balancing::{FallbackPlan, LoadBalancingPolicy, RoutingInfo};
use scylla::routing::{Shard, Token};

/// `ranges` (in token order, `(start, end]`) cut at every token of `ring` inside one.
pub fn split_at(ranges: &[(i64, i64)], ring: &[i64]) -> Vec<(i64, i64)> {
    let mut out = Vec::with_capacity(ranges.len() + ring.len());
    for &(start, end) in ranges {
        let mut from = start;
        let first = ring.partition_point(|&t| t <= start);
        for &token in ring[first..].iter().take_while(|&&t| t < end) {
            out.push((from, token));
            from = token;
        }
        out.push((from, end));
    }
    out
}

/// The ring's tokens, sorted.
pub fn ring_tokens(session: &Session) -> Vec<i64> {
    let state = session.get_cluster_state();
    let mut tokens: Vec<i64> = state
        .replica_locator()
        .ring()
        .iter()
        .map(|(token, _)| token.value())
        .collect();
    tokens.sort_unstable();
    tokens.dedup();
    tokens
}

/// Where the scan of `(_, end]` of `keyspace.table` goes: its replicas (only those in `dc`)
/// as an execution profile built on the session's own (consistency, timeouts).
pub fn profile_for(
    session: &Session,
    keyspace: &str,
    table: &str,
    end: i64,
    dc: Option<&str>,
) -> ExecutionProfileHandle {
    let state = session.get_cluster_state();
    let local: Vec<Arc<Node>> = state
        .get_token_endpoints(keyspace, table, Token::new(end))
        .into_iter()
        .map(|(node, _)| node)
        .filter(|node| dc.is_none_or(|dc| node.datacenter.as_deref() == Some(dc)))
        .collect();
    session
        .get_default_execution_profile_handle()
        .pointee_to_builder()
        .load_balancing_policy(Arc::new(ReplicasFirst {
            local,
            dc: dc.map(str::to_owned),
            turn: AtomicUsize::new(0),
        }))
        .build()
        .into_handle()
}

/// Sends a range's statements to its replicas: those of the local data center in turn, then
/// any other node of that data center. With a local data center, the other data centers'
/// nodes are never asked: a dump or a copy reads where the operator said.
#[derive(Debug)]
struct ReplicasFirst {
    local: Vec<Arc<Node>>,
    /// The local data center, when there is one.
    dc: Option<String>,
    turn: AtomicUsize,
}

impl LoadBalancingPolicy for ReplicasFirst {
    fn pick<'a>(
        &'a self,
        _request: &'a RoutingInfo,
        _cluster: &'a ClusterState,
    ) -> Option<(NodeRef<'a>, Option<Shard>)> {
        let n = self.local.len();
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.local[(turn + i) % n])
            .find(|node| node.is_enabled())
            .map(|node| (node, None))
    }

    fn fallback<'a>(
        &'a self,
        _request: &'a RoutingInfo,
        cluster: &'a ClusterState,
    ) -> FallbackPlan<'a> {
        let dc = self.dc.as_deref();
        let replicas = self.local.iter();
        let others = cluster.get_nodes_info().iter().filter(move |node| {
            dc.is_none_or(|dc| node.datacenter.as_deref() == Some(dc))
                && !self.local.iter().any(|r| Arc::ptr_eq(r, node))
        });
        Box::new(
            replicas
                .chain(others)
                .filter(|node| node.is_enabled())
                .map(|node| (node, None)),
        )
    }

    fn name(&self) -> String {
        "cassbulk: a scan range's replicas first".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_cut_at_the_ring_tokens_inside_them() {
        let ranges = [(i64::MIN, -10), (-10, 10), (10, i64::MAX)];
        let ring = [-20, -10, 0, 5, 10, 50];
        assert_eq!(
            split_at(&ranges, &ring),
            [
                (i64::MIN, -20),
                (-20, -10),
                (-10, 0),
                (0, 5),
                (5, 10),
                (10, 50),
                (50, i64::MAX)
            ]
        );
        assert_eq!(split_at(&ranges, &[]), ranges);
        assert_eq!(split_at(&[(0, 1)], &[0, 1]), [(0, 1)]);
    }
}

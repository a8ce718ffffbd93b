//! Shared helpers: a session to the test node and keyspaces unique to each test.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use cassbulk::cli::{ConnectionArgs, ConsistencyArg};
use cassbulk::cluster;
use scylla::client::session::Session;

/// The test node's contact points.
pub fn hosts() -> String {
    std::env::var("CASSBULK_TEST_HOSTS").unwrap_or_else(|_| "127.0.0.1:9042".to_owned())
}

pub fn connection_args() -> ConnectionArgs {
    ConnectionArgs {
        hosts: hosts().split(',').map(str::to_owned).collect(),
        port: 9042,
        username: None,
        password_file: None,
        dc: None,
        consistency: ConsistencyArg::One,
        connect_timeout: 30,
    }
}

pub async fn session() -> Session {
    cluster::connect(&connection_args())
        .await
        .unwrap_or_else(|e| panic!("{e}\nStart a node first: scripts/cassandra start"))
}

/// A keyspace (replication factor 1) that only the calling test uses.
pub async fn keyspace(session: &Session, test: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "cb_{test}_{}_{}",
        nanos % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    );
    run(
        session,
        &format!(
            "CREATE KEYSPACE {name} WITH replication = \
             {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        ),
    )
    .await;
    name
}

/// Runs a schema statement or fails the test with the statement in the message.
pub async fn run(session: &Session, statement: &str) {
    session
        .query_unpaged(statement, ())
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

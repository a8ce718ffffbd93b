//! Shared helpers: a session to the test node and keyspaces unique to each test.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cassbulk::cluster::{self, ConnectOptions};
use scylla::client::session::Session;
use scylla::statement::Consistency;

/// The test node's contact points.
pub fn hosts() -> String {
    std::env::var("CASSBULK_TEST_HOSTS").unwrap_or_else(|_| "127.0.0.1:9042".to_owned())
}

pub fn connect_options() -> ConnectOptions {
    ConnectOptions {
        hosts: hosts().split(',').map(str::to_owned).collect(),
        consistency: Consistency::One,
        connect_timeout: Duration::from_secs(30),
        ..ConnectOptions::default()
    }
}

pub async fn session() -> Session {
    cluster::connect(&connect_options())
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

/// Runs `scripts/postgres ARGS...` (the test PostgreSQL server) and returns its stdout; fails the
/// test with its stderr.
pub fn postgres(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/postgres");
    let out = std::process::Command::new(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    assert!(
        out.status.success(),
        "scripts/postgres {args:?} failed (start it with scripts/postgres start):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs SQL on the test PostgreSQL database, stopping at the first error.
pub fn psql(sql: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("script.sql");
    std::fs::write(&file, sql).unwrap();
    postgres(&[
        "psql",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-f",
        file.to_str().unwrap(),
    ]);
}

/// The `cassbulk` binary, with the test node as its cluster.
pub fn cassbulk() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("cassbulk").unwrap();
    cmd.env("CASSBULK_HOSTS", hosts())
        .env_remove("CASSBULK_PASSWORD");
    cmd
}

/// The stderr of a run that must have succeeded; fails the test with it otherwise.
pub fn succeeded(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "cassbulk failed ({:?}):\n{stderr}",
        out.status.code()
    );
    stderr
}

/// Every row of a table as raw column bytes (in the SELECT's column order).
pub async fn rows(session: &Session, select: &str) -> Vec<Vec<Option<Vec<u8>>>> {
    use scylla::deserialize::row::ColumnIterator;
    let mut query = scylla::statement::unprepared::Statement::new(select);
    query.set_page_size(5000);
    let result = session
        .query_unpaged(query, ())
        .await
        .unwrap_or_else(|e| panic!("{select}: {e}"))
        .into_rows_result()
        .unwrap();
    result
        .rows::<ColumnIterator>()
        .unwrap()
        .map(|row| {
            row.unwrap()
                .map(|c| c.unwrap().slice.map(|s| s.as_slice().to_vec()))
                .collect()
        })
        .collect()
}

/// Runs `scripts/cassandra ARGS` and returns its stdout; fails the test with its stderr.
pub fn cassandra(args: &[&str], stdin: Option<&str>) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cassandra");
    let mut child = std::process::Command::new(script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "scripts/cassandra {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The table's folder on node N of the test cluster (`scripts/cassandra start`).
pub fn table_dir(n: usize, ks: &str, table: &str) -> std::path::PathBuf {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!(".cache/cassandra-run/node{n}/data/{ks}"));
    std::fs::read_dir(&data)
        .unwrap_or_else(|e| panic!("{}: {e}", data.display()))
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{table}-")))
        })
        .unwrap()
}

/// The `accounts` fixture folder: a pg_dump of 200 accounts and their CQL table.
pub fn accounts() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/accounts")
}

/// Creates the `accounts` fixture's table (`accounts.cql`) as `{ks}.{table}`.
pub async fn accounts_table(session: &Session, ks: &str, table: &str) {
    let cql = std::fs::read_to_string(accounts().join("accounts.cql"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    run(
        session,
        cql.replace("{{keyspace}}", ks)
            .replace(".accounts (", &format!(".{table} ("))
            .trim()
            .trim_end_matches(';'),
    )
    .await;
}

//! The CQL sink on the three-node ring (`scripts/cassandra start --nodes 3`; `scripts/test` runs
//! these with `CASSBULK_TEST_RING=1`): every write goes straight to the replica that owns its
//! token, and a load rides out a replica that stops answering, retrying until it is back.
//! On a single node these tests say so and pass without checking anything.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cassbulk::model::{Token, Value};
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::policies::load_balancing::{NodeIdentifier, SingleTargetLoadBalancingPolicy};
use scylla::statement::unprepared::Statement;

use crate::common::{self, cassbulk};

/// The ring's nodes and their tokens, as `scripts/cassandra start --nodes 3` sets them: each
/// node owns the tokens after the previous node's token up to its own.
const NODES: [(&str, i64); 3] = [
    ("127.0.0.1", i64::MIN),
    ("127.0.0.2", -3_074_457_345_618_258_603),
    ("127.0.0.3", 3_074_457_345_618_258_602),
];

fn on_ring() -> bool {
    let ring = std::env::var("CASSBULK_TEST_RING").is_ok_and(|v| v == "1");
    if !ring {
        eprintln!("skipped: needs the three-node ring (CASSBULK_TEST_RING=1, see scripts/test)");
    }
    ring
}

/// A plain-format dump of `public.users (id, name)` with the given keys.
fn dump(dir: &Path, keys: &[String]) -> PathBuf {
    dump_rows(
        dir,
        "id, name",
        keys.iter().map(|key| format!("{key}\tname of {key}")),
    )
}

/// A plain-format dump of `public.users (<columns>)` with the given COPY text rows.
fn dump_rows(dir: &Path, columns: &str, rows: impl Iterator<Item = String>) -> PathBuf {
    let mut text = format!("COPY public.users ({columns}) FROM stdin;\n");
    for row in rows {
        text.push_str(&row);
        text.push('\n');
    }
    text.push_str("\\.\n");
    let path = dir.join("users.sql");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs one statement on one node only (for the node-local virtual tables).
async fn count_on(session: &Session, node: &str, cql: &str) -> i64 {
    let mut statement = Statement::new(cql);
    let policy = SingleTargetLoadBalancingPolicy::new(
        NodeIdentifier::NodeAddress(format!("{node}:9042").parse().unwrap()),
        None,
    );
    statement.set_execution_profile_handle(Some(
        ExecutionProfile::builder()
            .load_balancing_policy(policy)
            .build()
            .into_handle(),
    ));
    let (count,): (i64,) = session
        .query_unpaged(statement, ())
        .await
        .unwrap_or_else(|e| panic!("{cql} on {node}: {e}"))
        .into_rows_result()
        .unwrap()
        .single_row()
        .unwrap();
    count
}

#[tokio::test]
async fn every_write_is_sent_to_the_replica_that_owns_its_token() {
    if !on_ring() {
        return;
    }
    let session = common::session().await;
    let ks = common::keyspace(&session, "routing").await;
    common::run(
        &session,
        &format!("CREATE TABLE {ks}.users (id text PRIMARY KEY, name text)"),
    )
    .await;
    // 400 keys that all live on 127.0.0.2: a loader that ignored tokens would send about two
    // thirds of them to the other two nodes, which would forward them.
    let (owner, last) = (NODES[1].0, NODES[1].1);
    let keys: Vec<String> = (0..)
        .map(|i| format!("user-{i}"))
        .filter(|k| {
            let token = Token::of_key(&Value::Text(k.clone()).to_bytes()).0;
            token > NODES[0].1 && token <= last
        })
        .take(400)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = cassbulk()
        .arg("load")
        .arg(dump(dir.path(), &keys))
        .args(["--source-table", "public.users", "--table"])
        .arg(format!("{ks}.users"))
        .args(["--writetime", "1763800000000000", "--no-progress"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (node, _) in NODES {
        let mut counts = Vec::new();
        // Writes this node coordinated, then writes it stored.
        for view in ["coordinator_write_latency", "local_write_latency"] {
            let select = format!(
                "SELECT count FROM system_views.{view} \
                 WHERE keyspace_name = '{ks}' AND table_name = 'users'"
            );
            counts.push(count_on(&session, node, &select).await);
        }
        let (coordinated, stored) = (counts[0], counts[1]);
        let expected = if node == owner { keys.len() as i64 } else { 0 };
        assert_eq!(
            (coordinated, stored),
            (expected, expected),
            "{node}: writes coordinated and stored"
        );
    }
}

/// A keyspace with replication factor 3 holding `users (id text PRIMARY KEY, <columns>)`.
async fn rf3_users(session: &Session, test: &str, columns: &str) -> String {
    let ks = format!("{}_rf3", common::keyspace(session, test).await);
    common::run(
        session,
        &format!(
            "CREATE KEYSPACE {ks} WITH replication = \
             {{'class': 'SimpleStrategy', 'replication_factor': 3}}"
        ),
    )
    .await;
    common::run(
        session,
        &format!("CREATE TABLE {ks}.users (id text PRIMARY KEY, {columns})"),
    )
    .await;
    ks
}

/// The pid of node N of the ring `scripts/cassandra` runs.
fn node_pid(n: usize) -> i32 {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(".cache/cassandra-run/node{n}/pid"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

/// Whether node 1 sees `address` in the state given (`UN`, `DN`, ...).
fn seen_as(address: &str, state: &str) -> bool {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cassandra");
    let out = Command::new(script)
        .args(["nodetool", "status"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.starts_with(state) && l.contains(&format!(" {address} ")))
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Resumes a stopped node even when the test fails half-way.
struct Resume(i32);

impl Drop for Resume {
    fn drop(&mut self) {
        // SAFETY: sending a signal to a process id has no memory effects.
        unsafe {
            libc::kill(self.0, libc::SIGCONT);
        }
    }
}

#[tokio::test]
async fn a_load_at_consistency_all_retries_through_a_frozen_replica_and_writes_every_row() {
    if !on_ring() {
        return;
    }
    let session = common::session().await;
    let ks = rf3_users(&session, "retry", "name text").await;
    let keys: Vec<String> = (0..300).map(|i| format!("user-{i}")).collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dump(dir.path(), &keys);
    let summary = dir.path().join("summary.json");

    // Node 3 stops answering (SIGSTOP: the process hangs like a node in a long GC pause) until
    // node 1's failure detector calls it down; every write at ALL is then unavailable.
    let pid = node_pid(3);
    // SAFETY: as above.
    unsafe {
        libc::kill(pid, libc::SIGSTOP);
    }
    let resume = Resume(pid);
    wait_until(
        "node 1 sees 127.0.0.3 down",
        Duration::from_secs(90),
        || seen_as("127.0.0.3", "DN"),
    );
    // Debug logs (-v) say when a write is retried.
    let mut load = std::process::Command::new(env!("CARGO_BIN_EXE_cassbulk"))
        .env("CASSBULK_HOSTS", "127.0.0.1,127.0.0.2")
        .args(["-v", "load"])
        .arg(&input)
        .args(["--source-table", "public.users", "--table"])
        .arg(format!("{ks}.users"))
        .args(["--writetime", "1763800000000000", "--consistency", "all"])
        .args(["--no-progress", "--summary-json"])
        .arg(&summary)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the load has met the unavailable replica, bring the node back; the rest of the log
    // is kept for the failure message.
    let stderr = load.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut resume = Some(resume);
        let mut log = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("retrying") {
                resume.take();
            }
            log.push(line);
        }
        log
    });
    let status = load.wait().unwrap();
    let log = reader.join().unwrap();
    let tail = log[log.len().saturating_sub(30)..].join("\n");
    assert!(status.success(), "the load failed:\n{tail}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(summary["rows_written"], 300, "{summary}");
    assert!(
        summary["retries"].as_u64().unwrap() > 0,
        "no write was retried: {summary}"
    );
    // Every replica has every row: read at ALL.
    let mut select = Statement::new(format!("SELECT id, name FROM {ks}.users"));
    select.set_consistency(scylla::statement::Consistency::All);
    let rows: Vec<(String, String)> = session
        .query_unpaged(select, ())
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .rows::<(String, String)>()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 300);
    assert!(
        rows.iter()
            .all(|(id, name)| *name == format!("name of {id}"))
    );
}

#[tokio::test]
async fn a_list_write_that_timed_out_at_consistency_all_is_applied_once_when_retried() {
    if !on_ring() {
        return;
    }
    let session = common::session().await;
    let ks = rf3_users(&session, "list_retry", "names list<text>").await;
    let dir = tempfile::tempdir().unwrap();
    let rows = (0..20_000).map(|i| format!("user-{i}\t{{a,b,user-{i}}}"));
    let input = dump_rows(dir.path(), "id, names", rows);

    // Once the load is writing (hundreds of writes in flight at ALL), node 3 stops answering,
    // so writes already sent to it time out after the other two replicas applied them. Node 3
    // comes back once a write has timed out and is being retried.
    let mut load = std::process::Command::new(env!("CARGO_BIN_EXE_cassbulk"))
        .env("CASSBULK_HOSTS", "127.0.0.1,127.0.0.2")
        .args(["-v", "load"])
        .arg(&input)
        .args(["--source-table", "public.users", "--table"])
        .arg(format!("{ks}.users"))
        .args(["--writetime", "1763800000000000", "--consistency", "all"])
        .args(["--no-progress"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = load.stderr.take().unwrap();
    let frozen = std::sync::Arc::new(std::sync::Mutex::new(None::<Resume>));
    let reader = {
        let frozen = frozen.clone();
        std::thread::spawn(move || {
            let mut log = Vec::new();
            let mut timed_out = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("writing") && line.contains("retrying") {
                    timed_out = true;
                    frozen.lock().unwrap().take();
                }
                log.push(line);
            }
            (timed_out, log)
        })
    };
    let writes = format!(
        "SELECT count FROM system_views.coordinator_write_latency \
         WHERE keyspace_name = '{ks}' AND table_name = 'users'"
    );
    let started = Instant::now();
    while count_on(&session, "127.0.0.1", &writes).await < 500 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the load never wrote"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = node_pid(3);
    // SAFETY: sending a signal to a process id has no memory effects.
    unsafe {
        libc::kill(pid, libc::SIGSTOP);
    }
    *frozen.lock().unwrap() = Some(Resume(pid));
    let status = load.wait().unwrap();
    let (timed_out, log) = reader.join().unwrap();
    frozen.lock().unwrap().take();
    let tail = log[log.len().saturating_sub(30)..].join("\n");
    assert!(status.success(), "the load failed:\n{tail}");
    assert!(timed_out, "no write timed out:\n{tail}");
    let mut select = Statement::new(format!("SELECT id, names FROM {ks}.users"));
    select.set_consistency(scylla::statement::Consistency::All);
    let rows: Vec<(String, Vec<String>)> = session
        .query_unpaged(select, ())
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .rows::<(String, Vec<String>)>()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 20_000);
    let doubled: Vec<_> = rows
        .iter()
        .filter(|(id, names)| *names != ["a", "b", id.as_str()])
        .collect();
    assert!(
        doubled.is_empty(),
        "{} lists written twice, such as {:?}",
        doubled.len(),
        &doubled[..doubled.len().min(3)]
    );
}

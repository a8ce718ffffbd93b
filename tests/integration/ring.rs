//! The CQL sink on the three-node ring (`scripts/cassandra start --nodes 3`; `scripts/test` runs
//! these with `CASSBULK_TEST_RING=1`): every write goes straight to the replica that owns its
//! token, every range a scan reads goes to the replica that owns it, and a load rides out a
//! replica that stops answering, retrying until it is back.
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

use crate::common::{self, cassandra, cassbulk, table_dir};

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

#[tokio::test]
async fn every_range_of_a_scan_is_read_by_the_replica_that_owns_it() {
    if !on_ring() {
        return;
    }
    let session = common::session().await;
    let ks = common::keyspace(&session, "scan_routing").await;
    common::run(
        &session,
        &format!("CREATE TABLE {ks}.users (id int PRIMARY KEY, name text)"),
    )
    .await;
    for id in 0..300 {
        common::run(
            &session,
            &format!("INSERT INTO {ks}.users (id, name) VALUES ({id}, 'n{id}')"),
        )
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let dump = |name: &str, range: Option<String>| {
        let mut cmd = cassbulk();
        cmd.args(["dump", &format!("cql://{}/{ks}.users", common::hosts())])
            .args([
                "--format",
                "csv",
                "--consistency",
                "ONE",
                "--no-progress",
                "--to",
            ])
            .arg(dir.path().join(name));
        if let Some(range) = range {
            cmd.args(["--where-token-range", &range]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Range reads a node coordinated, and range reads it served from its own data.
    let counts = |node: &'static str| {
        let session = &session;
        let ks = &ks;
        async move {
            let mut counts = Vec::new();
            for view in ["coordinator_scan_latency", "local_scan_latency"] {
                let select = format!(
                    "SELECT count FROM system_views.{view} \
                     WHERE keyspace_name = '{ks}' AND table_name = 'users'"
                );
                counts.push(count_on(session, node, &select).await);
            }
            (counts[0], counts[1])
        }
    };
    // Only the second node's tokens: it alone coordinates and serves every read. (A scan
    // sent to any node would have the other two coordinate about two thirds of them.)
    dump("owned", Some(format!("{}:{}", NODES[0].1, NODES[1].1)));
    for (node, _) in NODES {
        let (coordinated, served) = counts(node).await;
        if node == NODES[1].0 {
            assert!(
                coordinated > 0 && coordinated == served,
                "{node}: {coordinated}, {served}"
            );
        } else {
            assert_eq!((coordinated, served), (0, 0), "{node}");
        }
    }
    // The whole ring: each node serves exactly the reads it coordinated.
    dump("whole", None);
    let mut coordinated_in_all = 0;
    for (node, _) in NODES {
        let (coordinated, served) = counts(node).await;
        assert!(coordinated > 0, "{node} coordinated no range read");
        assert_eq!(
            coordinated, served,
            "{node}: range reads coordinated and served"
        );
        coordinated_in_all += coordinated;
    }
    assert!(
        coordinated_in_all >= 1024,
        "{coordinated_in_all} range reads"
    );
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

/// Runs `cql` at ALL once node 3 is back: waits until node 1 sees it up, then reads through a
/// new session, a few times if need be. The test's own session may still hold a connection
/// to node 3 that broke while the node was frozen (its keepalive timed out), and a query sent
/// on it fails at once; the driver does not retry that.
async fn read_at_all_after_resume(cql: &str) -> scylla::response::query_result::QueryRowsResult {
    wait_until("node 1 sees 127.0.0.3 up", Duration::from_secs(90), || {
        seen_as("127.0.0.3", "UN")
    });
    let session = common::session().await;
    let mut statement = Statement::new(cql);
    statement.set_consistency(scylla::statement::Consistency::All);
    statement.set_is_idempotent(true);
    let mut attempt = 1;
    loop {
        match session.query_unpaged(statement.clone(), ()).await {
            Ok(result) => return result.into_rows_result().unwrap(),
            Err(e) if attempt < 5 => {
                eprintln!("reading at ALL, attempt {attempt}: {e}; again in 2 s");
                tokio::time::sleep(Duration::from_secs(2)).await;
                attempt += 1;
            }
            Err(e) => panic!("reading at ALL after 5 attempts: {e}"),
        }
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
    let rows: Vec<(String, String)> =
        read_at_all_after_resume(&format!("SELECT id, name FROM {ks}.users"))
            .await
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
    let rows: Vec<(String, Vec<String>, Vec<i64>)> = read_at_all_after_resume(&format!(
        "SELECT id, names, writetime(names) FROM {ks}.users"
    ))
    .await
    .rows::<(String, Vec<String>, Vec<i64>)>()
    .unwrap()
    .map(Result::unwrap)
    .collect();
    assert_eq!(rows.len(), 20_000);
    let doubled: Vec<_> = rows
        .iter()
        .filter(|(id, names, _)| *names != ["a", "b", id.as_str()])
        .collect();
    assert!(
        doubled.is_empty(),
        "{} lists written twice, such as {:?}",
        doubled.len(),
        &doubled[..doubled.len().min(3)]
    );
    // A list written again after an attempt whose outcome was unknown is written a
    // microsecond later per such attempt (see `fence` in src/sink/cql/statements.rs).
    let t = 1_763_800_000_000_000;
    let moved: Vec<_> = rows
        .iter()
        .filter(|(_, _, times)| times != &[t; 3])
        .collect();
    assert!(
        moved
            .iter()
            .all(|(_, _, times)| times[0] > t && times[0] <= t + 10 && times == &[times[0]; 3]),
        "{:?}",
        &moved[..moved.len().min(3)]
    );
    let summary = log
        .iter()
        .find(|l| l.contains("written 1 microsecond after"));
    match summary {
        Some(line) => assert!(line.contains(&format!("{} list(s)", moved.len())), "{line}"),
        None => assert!(moved.is_empty(), "{} lists moved on", moved.len()),
    }
}

/// Bytes of the Data.db files in a folder.
fn data_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with("-Data.db")))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

#[tokio::test]
async fn three_replicas_that_disagree_load_in_one_run_equal_to_the_source_read_at_all() {
    if !on_ring() {
        return;
    }
    let session = common::session().await;
    let ks = format!("{}_rf3", common::keyspace(&session, "replicas").await);
    common::run(
        &session,
        &format!(
            "CREATE KEYSPACE {ks} WITH replication = \
             {{'class': 'SimpleStrategy', 'replication_factor': 3}}"
        ),
    )
    .await;
    for table in ["src", "dst"] {
        common::run(
            &session,
            &format!(
                "CREATE TABLE {ks}.{table} (k int, c int, v text, n int, s set<text>, \
                 PRIMARY KEY (k, c))"
            ),
        )
        .await;
    }
    // No hints: a replica that misses writes keeps missing them.
    for node in ["1", "2", "3"] {
        cassandra(&["nodetool", "--node", node, "disablehandoff"], None);
    }
    // Every replica gets the first version of every row.
    let mut all = String::from("CONSISTENCY ALL;\n");
    for k in 0..100 {
        for c in 0..5 {
            all.push_str(&format!(
                "INSERT INTO {ks}.src (k, c, v, n, s) VALUES ({k}, {c}, 'v{k}-{c}', {c}, {{'a', 'b'}}) USING TIMESTAMP {};\n",
                1000 + k * 10 + c
            ));
        }
    }
    cassandra(&["cql"], Some(&all));

    // Node 3 misses the second version: newer values, every kind of deletion, set changes.
    let pid = node_pid(3);
    // SAFETY: sending a signal to a process id has no memory effects.
    unsafe {
        libc::kill(pid, libc::SIGSTOP);
    }
    let resume = Resume(pid);
    wait_until(
        "node 1 sees 127.0.0.3 down",
        Duration::from_secs(90),
        || seen_as("127.0.0.3", "DN"),
    );
    let mut quorum = String::from("CONSISTENCY QUORUM;\n");
    for k in (0..100).step_by(3) {
        quorum.push_str(&format!(
            "UPDATE {ks}.src USING TIMESTAMP 5000 SET v = 'newer', s = s + {{'c'}} WHERE k = {k} AND c = 1;\n\
             DELETE FROM {ks}.src USING TIMESTAMP 5000 WHERE k = {k} AND c = 2;\n\
             DELETE n FROM {ks}.src USING TIMESTAMP 5000 WHERE k = {k} AND c = 3;\n\
             UPDATE {ks}.src USING TIMESTAMP 5000 SET s = s - {{'a'}} WHERE k = {k} AND c = 4;\n"
        ));
    }
    for k in (1..100).step_by(10) {
        quorum.push_str(&format!(
            "DELETE FROM {ks}.src USING TIMESTAMP 6000 WHERE k = {k};\n\
             DELETE FROM {ks}.src USING TIMESTAMP 6000 WHERE k = {} AND c >= 1 AND c < 3;\n",
            k + 1
        ));
    }
    cassandra(&["cql"], Some(&quorum));
    drop(resume);
    wait_until("node 1 sees 127.0.0.3 up", Duration::from_secs(90), || {
        seen_as("127.0.0.3", "UN")
    });
    // A new session: the first may hold a connection to node 3 that broke while it was frozen.
    let session = common::session().await;
    let dirs: Vec<PathBuf> = (1..=3)
        .map(|n| {
            cassandra(
                &["nodetool", "--node", &n.to_string(), "flush", &ks, "src"],
                None,
            );
            table_dir(n, &ks, "src")
        })
        .collect();
    let read: u64 = dirs.iter().map(|d| data_bytes(d)).sum();

    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let out = cassbulk()
        .args(["load", "--table", &format!("{ks}.dst"), "--no-progress"])
        .args(["--consistency", "ALL", "--summary-json"])
        .arg(&summary)
        .args(&dirs)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    let select = |table: &str| {
        format!("SELECT k, c, v, n, s, writetime(v), writetime(n), writetime(s) FROM {ks}.{table}")
    };
    let at_all = |cql: String| {
        let mut s = scylla::statement::unprepared::Statement::new(cql);
        s.set_consistency(scylla::statement::Consistency::All);
        s.set_page_size(5000);
        s
    };
    let rows = |s: scylla::statement::unprepared::Statement| {
        let session = &session;
        async move {
            use scylla::deserialize::row::ColumnIterator;
            let result = session
                .query_unpaged(s, ())
                .await
                .unwrap()
                .into_rows_result()
                .unwrap();
            let mut rows: Vec<Vec<Option<Vec<u8>>>> = result
                .rows::<ColumnIterator>()
                .unwrap()
                .map(|row| {
                    row.unwrap()
                        .map(|c| c.unwrap().slice.map(|s| s.as_slice().to_vec()))
                        .collect()
                })
                .collect();
            rows.sort();
            rows
        }
    };
    let source = rows(at_all(select("src"))).await;
    let target = rows(at_all(select("dst"))).await;
    assert_eq!(target.len(), source.len());
    assert_eq!(target, source, "the target equals the source read at ALL");
    // 500 rows; 34 rows deleted, 10 partitions deleted and 10 ranges of two rows (each set
    // of 10 holding 3 rows already deleted).
    assert_eq!(source.len(), 402);

    // The target's size before and after a major compaction, on every node.
    let sizes = |table: &str| -> u64 {
        (1..=3)
            .map(|n| {
                cassandra(
                    &["nodetool", "--node", &n.to_string(), "flush", &ks, table],
                    None,
                );
                data_bytes(&table_dir(n, &ks, table))
            })
            .sum()
    };
    let before = sizes("dst");
    for n in 1..=3 {
        cassandra(
            &["nodetool", "--node", &n.to_string(), "compact", &ks, "dst"],
            None,
        );
    }
    let after = sizes("dst");
    eprintln!(
        "replicas: read {read} bytes of Data.db from 3 nodes; {}; target Data.db on 3 nodes: {before} bytes before nodetool compact, {after} after",
        stderr
            .lines()
            .filter(|l| l.contains("rows read") || l.contains("partitions"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    assert!(
        after * 10 >= before * 9,
        "compaction dropped more than a tenth: {before} -> {after}"
    );
}

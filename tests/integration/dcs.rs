//! Two datacenters (`scripts/cassandra start --nodes 3 --dcs 2`: nodes 1 and 2 in dc1, node 3
//! in dc2; scripts/test runs these with `CASSBULK_TEST_DCS=1`), a keyspace replicated
//! `{dc1: 2, dc2: 1}`: both routes reach every replica in both datacenters, the CQL route's
//! coordinators are all in the local one, and dumps and a `cql://` copy read only there. Each
//! node's own `system_views` latency tables are the referee: they count what it coordinated
//! and what it read for the table. Elsewhere these tests say so and pass.

use scylla::statement::Consistency;
use scylla::statement::unprepared::Statement;

use crate::common::{self, accounts, accounts_table};

fn two_dcs() -> bool {
    let on = std::env::var("CASSBULK_TEST_DCS").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("skipped: needs two datacenters (CASSBULK_TEST_DCS=1, see scripts/test)");
    }
    on
}

/// A keyspace replicated to both datacenters, with an `accounts`-shaped table per name.
async fn keyspace(session: &scylla::client::session::Session, tables: &[&str]) -> String {
    let ks = common::keyspace(session, "dcs").await;
    common::run(
        session,
        &format!(
            "ALTER KEYSPACE {ks} WITH replication = {{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 1}}"
        ),
    )
    .await;
    for table in tables {
        accounts_table(session, &ks, table).await;
    }
    ks
}

/// What node N counted for `ks.table` in `system_views.VIEW` (e.g. coordinator_write_latency).
fn node_count(n: usize, view: &str, ks: &str, table: &str) -> u64 {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cassandra");
    let out = std::process::Command::new(script)
        .args([
            "cql",
            &format!(
                "SELECT count FROM system_views.{view} WHERE keyspace_name = '{ks}' AND table_name = '{table}'"
            ),
        ])
        .env("CQLSH_HOST", format!("127.0.0.{n}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .sum()
}

/// Every row of `ks.table` with its write times, read at `consistency`.
async fn rows_at(
    session: &scylla::client::session::Session,
    ks: &str,
    table: &str,
    consistency: Consistency,
) -> Vec<Vec<Option<Vec<u8>>>> {
    let mut statement = Statement::new(format!(
        "SELECT username, email, bio, accepted_licences, writetime(email) FROM {ks}.{table}"
    ));
    statement.set_consistency(consistency);
    let result = session
        .query_unpaged(statement, ())
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let mut rows: Vec<Vec<Option<Vec<u8>>>> = result
        .rows::<(
            Option<String>,
            Option<String>,
            Option<String>,
            Option<Vec<String>>,
            Option<i64>,
        )>()
        .unwrap()
        .map(|r| {
            let (a, b, c, d, e) = r.unwrap();
            vec![
                a.map(String::into_bytes),
                b.map(String::into_bytes),
                c.map(String::into_bytes),
                d.map(|v| v.join(",").into_bytes()),
                e.map(|t| t.to_be_bytes().to_vec()),
            ]
        })
        .collect();
    rows.sort();
    rows
}

/// A session whose every statement goes to node 3 (dc2) and, at LOCAL_ONE, reads its copy.
async fn dc2_session() -> scylla::client::session::Session {
    cassbulk::cluster::connect(&cassbulk::cluster::ConnectOptions {
        hosts: vec!["127.0.0.3:9042".into()],
        dc: Some("dc2".into()),
        consistency: Consistency::LocalOne,
        ..common::connect_options()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn both_routes_reach_every_replica_in_both_datacenters_through_local_coordinators() {
    if !two_dcs() {
        return;
    }
    let session = common::session().await;
    let ks = keyspace(&session, &["by_cql", "by_sstable"]).await;
    // The CQL route, contact point node 1 only and no --dc: dc1 is taken as local, and said.
    let stderr = common::succeeded(
        &common::cassbulk()
            .env("CASSBULK_HOSTS", "127.0.0.1")
            .arg("load")
            .arg(accounts().join("accounts.dump"))
            .args(["--table", &format!("{ks}.by_cql"), "--no-progress"])
            .args(["--writetime-column", "last_updated"])
            .output()
            .unwrap(),
    );
    assert!(stderr.contains("local datacenter dc1"), "{stderr}");
    let coordinated: Vec<u64> = (1..=3)
        .map(|n| node_count(n, "coordinator_write_latency", &ks, "by_cql"))
        .collect();
    assert_eq!(coordinated[2], 0, "dc2 coordinated writes: {coordinated:?}");
    assert_eq!(coordinated[0] + coordinated[1], 200, "{coordinated:?}");
    // The bulk route: sstableloader streams each range to its replicas in both datacenters.
    let staging = tempfile::tempdir().unwrap();
    let loader = format!(
        "{}/scripts/cassandra tool sstableloader",
        env!("CARGO_MANIFEST_DIR")
    );
    common::succeeded(
        &common::cassbulk()
            .env("CASSBULK_HOSTS", "127.0.0.1")
            .arg("load")
            .arg(accounts().join("accounts.dump"))
            .args(["--table", &format!("{ks}.by_sstable"), "--no-progress"])
            .args(["--writetime-column", "last_updated", "--via", "sstable"])
            .args(["--stream", "sstableloader", "--sstableloader", &loader])
            .arg("--sstable-dir")
            .arg(staging.path())
            .output()
            .unwrap(),
    );
    // dc2's one replica holds every row of both tables itself (read first: a read at ALL
    // would repair a replica that lacked them).
    let dc2 = dc2_session().await;
    let in_dc2 = rows_at(&dc2, &ks, "by_cql", Consistency::LocalOne).await;
    assert_eq!(in_dc2.len(), 200);
    assert_eq!(
        rows_at(&dc2, &ks, "by_sstable", Consistency::LocalOne).await,
        in_dc2
    );
    let by_cql = rows_at(&session, &ks, "by_cql", Consistency::All).await;
    let by_sstable = rows_at(&session, &ks, "by_sstable", Consistency::All).await;
    assert_eq!(by_cql, in_dc2);
    assert_eq!(by_cql, by_sstable, "both routes write the same cells");
}

#[tokio::test]
async fn dumps_and_copies_read_only_the_local_datacenter() {
    if !two_dcs() {
        return;
    }
    let session = common::session().await;
    let ks = keyspace(&session, &["source", "copy"]).await;
    common::succeeded(
        &common::cassbulk()
            .arg("load")
            .arg(accounts().join("accounts.dump"))
            .args([
                "--table",
                &format!("{ks}.source"),
                "--no-progress",
                "--dc",
                "dc1",
            ])
            .output()
            .unwrap(),
    );
    let out = tempfile::tempdir().unwrap();
    let dumped = common::succeeded(
        &common::cassbulk()
            .args(["dump", &format!("cql://127.0.0.1:9042/{ks}.source")])
            .args(["--format", "csv", "--no-progress", "--dc", "dc1", "--to"])
            .arg(out.path().join("dump"))
            .output()
            .unwrap(),
    );
    assert!(dumped.contains("200 rows read, 200 written"), "{dumped}");
    common::succeeded(
        &common::cassbulk()
            .args(["load", &format!("cql://127.0.0.1:9042/{ks}.source")])
            .args([
                "--table",
                &format!("{ks}.copy"),
                "--no-progress",
                "--dc",
                "dc1",
            ])
            .output()
            .unwrap(),
    );
    let verify = common::cassbulk()
        .args(["verify", &format!("cql://127.0.0.1:9042/{ks}.source")])
        .args([
            "--table",
            &format!("{ks}.copy"),
            "--no-progress",
            "--dc",
            "dc1",
        ])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // Node 3 neither coordinated nor served a read of either table.
    for table in ["source", "copy"] {
        for view in [
            "coordinator_scan_latency",
            "coordinator_read_latency",
            "local_scan_latency",
            "local_read_latency",
        ] {
            assert_eq!(
                node_count(3, view, &ks, table),
                0,
                "{view} of {table} on node 3"
            );
        }
    }
    let scanned: u64 = (1..=2)
        .map(|n| node_count(n, "coordinator_scan_latency", &ks, "source"))
        .sum();
    assert!(scanned > 0, "dc1 scanned the source");
}

#[test]
fn a_datacenter_the_ring_lacks_or_no_local_one_is_refused() {
    if !two_dcs() {
        return;
    }
    let inspect = |hosts: &str, dc: Option<&str>| {
        let mut cmd = common::cassbulk();
        cmd.env("CASSBULK_HOSTS", hosts)
            .args(["inspect", "--table", "system_schema.keyspaces"]);
        if let Some(dc) = dc {
            cmd.args(["--dc", dc]);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = inspect("127.0.0.1", Some("DC1"));
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("no such datacenter (it has dc1, dc2)"),
        "{stderr}"
    );
    let (code, stderr) = inspect("127.0.0.1,127.0.0.3", None);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("give --dc"), "{stderr}");
    let (code, stderr) = inspect("127.0.0.1,127.0.0.3", Some("dc2"));
    assert_eq!(code, Some(0), "{stderr}");
}

#[tokio::test]
async fn local_dc_only_streams_to_the_local_replicas_and_the_repair_it_names_fills_the_rest() {
    if !two_dcs() {
        return;
    }
    let session = common::session().await;
    let ks = keyspace(&session, &["local_only"]).await;
    let staging = tempfile::tempdir().unwrap();
    let loader = format!(
        "{}/scripts/cassandra tool sstableloader",
        env!("CARGO_MANIFEST_DIR")
    );
    let stderr = common::succeeded(
        &common::cassbulk()
            .arg("load")
            .arg(accounts().join("accounts.dump"))
            .args(["--table", &format!("{ks}.local_only"), "--no-progress"])
            .args([
                "--via",
                "sstable",
                "--stream",
                "sstableloader",
                "--local-dc-only",
            ])
            .args(["--dc", "dc1", "--sstableloader", &loader, "--sstable-dir"])
            .arg(staging.path())
            .output()
            .unwrap(),
    );
    assert!(stderr.contains("local datacenter's replicas"), "{stderr}");
    let note = stderr
        .lines()
        .find(|l| l.contains("--local-dc-only:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(note.contains("(127.0.0.3)"), "{note}");
    let repair = format!("nodetool repair --full {ks} local_only");
    assert!(note.contains(&repair), "{note}");
    let dc2 = dc2_session().await;
    assert!(
        rows_at(&dc2, &ks, "local_only", Consistency::LocalOne)
            .await
            .is_empty(),
        "dc2 got rows"
    );
    let mut dc1 = Statement::new(format!("SELECT username FROM {ks}.local_only"));
    dc1.set_consistency(Consistency::LocalQuorum);
    let in_dc1 = session.query_unpaged(dc1, ()).await.unwrap();
    assert_eq!(in_dc1.into_rows_result().unwrap().rows_num(), 200);
    // What the note says to run, run on node 3.
    common::cassandra(
        &[
            "nodetool",
            "--node",
            "3",
            "repair",
            "--full",
            &ks,
            "local_only",
        ],
        None,
    );
    assert_eq!(
        rows_at(&dc2, &ks, "local_only", Consistency::LocalOne)
            .await
            .len(),
        200
    );
}

//! `cassbulk copy-schema` against the real node: a keyspace's type, table (with its options and
//! DESC clustering) and index recreated under another name from the cluster's own description,
//! twice without harm; and from a snapshot's `schema.cql` alone, after which the snapshot's
//! SSTables load into the table it made.

use std::path::Path;

use crate::common::{self, cassbulk};

async fn describe(session: &scylla::client::session::Session, cql: &str) -> Vec<String> {
    let result = session
        .query_unpaged(cql, ())
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    result
        .rows::<(String, String, String, String)>()
        .unwrap()
        .map(|r| r.unwrap().3)
        .collect()
}

#[tokio::test]
async fn a_keyspace_is_copied_from_the_clusters_description_and_again_without_harm() {
    let session = common::session().await;
    let src = common::keyspace(&session, "copy_src").await;
    let dst = format!("{src}_copy");
    for statement in [
        format!("CREATE TYPE {src}.addr (city text, zip int)"),
        format!(
            "CREATE TABLE {src}.t (k text, c int, a frozen<addr>, v list<int>, \
             PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY (c DESC) \
             AND default_time_to_live = 86400 AND gc_grace_seconds = 3600"
        ),
        format!("CREATE INDEX t_by_c ON {src}.t (c)"),
    ] {
        common::run(&session, &statement).await;
    }
    for run in 0..2 {
        let out = cassbulk()
            .args(["copy-schema", "--keyspace", &src, "--to-keyspace", &dst])
            .args(["--from-hosts", &common::hosts()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "run {run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let source = describe(&session, &format!("DESCRIBE KEYSPACE {src}")).await;
    let copied = describe(&session, &format!("DESCRIBE KEYSPACE {dst}")).await;
    assert_eq!(copied.len(), 4, "{copied:?}");
    let renamed: Vec<String> = source.iter().map(|s| s.replace(&src, &dst)).collect();
    assert_eq!(copied, renamed);
}

#[tokio::test]
async fn a_snapshots_schema_cql_makes_the_table_its_sstables_load_into() {
    let session = common::session().await;
    let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sstables/oa/everything");
    let schema = snapshot.join("schema.cql");
    let ks = format!("{}_from_snapshot", common::keyspace(&session, "copy").await);
    // The snapshot's table id makes the table: a table left by an earlier run on this node
    // holds that id, so its keyspace goes first.
    for row in common::rows(
        &session,
        "SELECT keyspace_name FROM system_schema.keyspaces",
    )
    .await
    {
        let name = String::from_utf8(row[0].clone().unwrap()).unwrap();
        if name.ends_with("_from_snapshot") {
            common::run(&session, &format!("DROP KEYSPACE {name}")).await;
        }
    }
    let copy = || {
        cassbulk()
            .args(["copy-schema", "--keyspace", "fx", "--to-keyspace", &ks])
            .arg("--from-schema")
            .arg(&schema)
            .output()
            .unwrap()
    };
    // The keyspace's replication is the new cluster's to choose: it must exist first.
    let out = copy();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist on the target"));
    common::run(
        &session,
        &format!(
            "CREATE KEYSPACE {ks} WITH replication = \
             {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        ),
    )
    .await;
    let out = copy();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cassbulk()
        .args([
            "load",
            "--table",
            &format!("{ks}.everything"),
            "--no-progress",
        ])
        .arg(&snapshot)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = common::rows(&session, &format!("SELECT pk FROM {ks}.everything")).await;
    assert!(rows.len() > 1000, "{} rows", rows.len());
}

//! `cassbulk copy-schema` against the real node: a keyspace's type, table (with its options and
//! DESC clustering) and index recreated under another name from the cluster's own description,
//! twice without harm; from a snapshot's `schema.cql` alone, after which the snapshot's
//! SSTables load into the table it made; and from a real pg_dump's definitions, after which the
//! dump's tables load into the tables it made.

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

/// Each column of `ks.table`: (name, kind, type), sorted by name.
async fn columns(
    session: &scylla::client::session::Session,
    ks: &str,
    table: &str,
) -> Vec<(String, String, String)> {
    let result = session
        .query_unpaged(
            "SELECT column_name, kind, type FROM system_schema.columns \
             WHERE keyspace_name = ? AND table_name = ?",
            (ks, table),
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let mut out: Vec<(String, String, String)> = result
        .rows::<(String, String, String)>()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn tables_made_from_a_pg_dump_hold_its_rows_and_a_table_without_a_key_is_refused() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "copy_pgdump").await;
    let schema = format!("cs_{}", ks.trim_start_matches("cb_"));
    common::psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE;
         CREATE SCHEMA {schema};
         CREATE TYPE {schema}.mood AS ENUM ('sad', 'ok', 'happy');
         CREATE DOMAIN {schema}.year AS integer;
         CREATE TABLE {schema}.people (id integer, region text, \"Name\" text, mood {schema}.mood,
             born {schema}.year, tags text[], scores integer[], doc jsonb, balance numeric(12,2),
             photo bytea, search tsvector, seen timestamptz, PRIMARY KEY (region, id));
         CREATE TABLE {schema}.payment (payment_date date, payment_id integer, amount numeric,
             PRIMARY KEY (payment_date, payment_id)) PARTITION BY RANGE (payment_date);
         CREATE TABLE {schema}.payment_2022 PARTITION OF {schema}.payment
             FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');
         CREATE TABLE {schema}.nokey (a integer, b text);
         INSERT INTO {schema}.people VALUES
             (1, 'eu', 'Ann', 'happy', 1990, ARRAY['a', 'b'], ARRAY[1, 2], '{{\"k\": 1}}', 12.50,
              '\\x0102', to_tsvector('simple', 'night drive'), '2024-01-02 03:04:05+00'),
             (2, 'eu', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
             (3, 'us', 'Émile', 'sad', 2001, ARRAY['c'], ARRAY[3], 'null', -0.01, '\\x', '', now());
         INSERT INTO {schema}.payment VALUES ('2022-03-04', 1, 9.99), ('2022-05-06', 2, 0);
         INSERT INTO {schema}.nokey VALUES (1, 'x');"
    ));
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("db.dump");
    common::postgres(&["dump", "-Fc", "-n", &schema, "-f", dump.to_str().unwrap()]);
    let copy = |extra: &[&str]| {
        cassbulk()
            .args(["copy-schema", "--keyspace", &ks, "--from-pgdump"])
            .arg(&dump)
            .args(extra)
            .output()
            .unwrap()
    };

    // The table without a primary key is refused, by name, before anything is created.
    let out = copy(&[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{schema}.nokey (it has no primary key")),
        "{stderr}"
    );
    assert!(columns(&session, &ks, "people").await.is_empty());

    // The others, twice: the second run changes nothing.
    for _ in 0..2 {
        let out = copy(&["--tables", "people,payment"]);
        common::succeeded(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout.matches("CREATE TABLE IF NOT EXISTS").count(),
            2,
            "{stdout}"
        );
        assert!(!stdout.contains("payment_2022"), "{stdout}");
    }
    let want = |rows: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
        let mut v: Vec<_> = rows
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        columns(&session, &ks, "people").await,
        want(&[
            ("Name", "regular", "text"),
            ("balance", "regular", "decimal"),
            ("born", "regular", "int"),
            ("doc", "regular", "text"),
            ("id", "clustering", "int"),
            ("mood", "regular", "text"),
            ("photo", "regular", "blob"),
            ("region", "partition_key", "text"),
            ("scores", "regular", "list<int>"),
            ("search", "regular", "text"),
            ("seen", "regular", "timestamp"),
            ("tags", "regular", "list<text>"),
        ])
    );
    assert_eq!(
        columns(&session, &ks, "payment").await,
        want(&[
            ("amount", "regular", "decimal"),
            ("payment_date", "partition_key", "date"),
            ("payment_id", "clustering", "int"),
        ])
    );

    // The dump's rows load into the tables it made (the partition's into its parent's).
    for (source, target, rows) in [
        (format!("{schema}.people"), "people", 3),
        (format!("{schema}.payment_2022"), "payment", 2),
    ] {
        let out = cassbulk()
            .args(["load", "--no-progress", "--source-table", &source])
            .args(["--table", &format!("{ks}.{target}")])
            .args(["--writetime", "1700000000000000"])
            .arg(&dump)
            .output()
            .unwrap();
        common::succeeded(&out);
        let read = common::rows(&session, &format!("SELECT * FROM {ks}.{target}")).await;
        assert_eq!(read.len(), rows, "{target}");
    }
    let ann = common::rows(
        &session,
        &format!(
            "SELECT \"Name\", mood, born, balance FROM {ks}.people WHERE region = 'eu' AND id = 1"
        ),
    )
    .await;
    assert_eq!(ann[0][0].as_deref(), Some(&b"Ann"[..]));
    assert_eq!(ann[0][1].as_deref(), Some(&b"happy"[..]));
    assert_eq!(ann[0][2].as_deref(), Some(&1990i32.to_be_bytes()[..]));
    common::psql(&format!("DROP SCHEMA {schema} CASCADE"));
}

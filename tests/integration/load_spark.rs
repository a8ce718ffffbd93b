//! Parquet as Apache Spark 4.3 writes it (`fixtures/spark/`, Spark's own reading checked in
//! beside each export), loaded into the real node: every export (INT96, micros, millis, zstd,
//! legacy format, LEGACY calendar) reads back from Cassandra cell for cell as Spark reads the
//! files, edge dates and timestamps included, top-level and nested, `writetime()` from
//! `updated_at`; a struct fills a non-frozen UDT as the same values written by CQL do, through
//! the CQL route and the SSTable route, and a reload changes nothing; and what used to be
//! dropped or read without a word (a source column that fills nothing, a table column nothing
//! fills, an unfinished export) is refused or stated.

#[path = "../support/spark_rows.rs"]
mod spark_rows;

use std::path::Path;

use serde_json::{Map, Value as Json};

use crate::common::{self, cassbulk};
use spark_rows::{COLUMNS, EXPORTS, decode, expected, fixture, schema_statements};

async fn create(session: &scylla::client::session::Session, ks: &str, table: &str) {
    for statement in schema_statements(ks, table) {
        common::run(session, &statement).await;
    }
}

fn load(input: &Path, table: &str, extra: &[&str]) -> std::process::Output {
    cassbulk()
        .arg("load")
        .arg(input)
        .args([
            "--table",
            table,
            "--no-progress",
            "--writetime-column",
            "updated_at",
            "--nulls",
            "delete",
        ])
        .args(extra)
        .output()
        .unwrap()
}

/// Every row of `table` as (shape of [`spark_rows::expected`], writetime(updated_at)), keyed.
async fn table_rows(
    session: &scylla::client::session::Session,
    table: &str,
) -> std::collections::BTreeMap<spark_rows::Key, (Json, i64)> {
    let names: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
    let select = format!(
        "SELECT {}, writetime(updated_at) FROM {table}",
        names.join(", ")
    );
    common::rows(session, &select)
        .await
        .into_iter()
        .map(|r| {
            let mut row = Map::new();
            for (i, (name, t)) in COLUMNS.iter().enumerate() {
                row.insert((*name).to_owned(), decode(t, r[i].as_deref()));
            }
            let written = i64::from_be_bytes(r[COLUMNS.len()].clone().unwrap().try_into().unwrap());
            let key = (
                row["user_id"].as_str().unwrap().to_owned(),
                row["seq"].as_i64().unwrap(),
            );
            (key, (Json::Object(row), written))
        })
        .collect()
}

#[tokio::test]
async fn every_spark_export_reads_back_from_cassandra_as_spark_reads_the_files() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "spark").await;
    for export in EXPORTS {
        create(&session, &ks, export).await;
        let stderr = common::succeeded(&load(&fixture(export), &format!("{ks}.{export}"), &[]));
        // The statement before the first write: the camel-case column folds to its CQL name.
        assert!(
            stderr.contains("eventcount <- eventCount (case folded)"),
            "{stderr}"
        );
        assert!(stderr.contains("24 of 24 table columns filled"), "{stderr}");
        assert!(
            stderr.contains("6 files, 6 row groups, 320 rows in 3 partition folder(s) (dt)"),
            "{stderr}"
        );
        assert_eq!(
            stderr.contains("LEGACY calendar mode"),
            export.starts_with("legacy_rebase"),
            "{stderr}"
        );
        let want = expected(export);
        let got = table_rows(&session, &format!("{ks}.{export}")).await;
        assert_eq!(got.len(), want.len(), "{export}: rows");
        for (key, (row, written)) in &got {
            let (want_row, updated_at) = &want[key];
            for (name, _) in COLUMNS {
                assert_eq!(row[name], want_row[name], "{export}: {key:?} column {name}");
            }
            assert_eq!(
                written, updated_at,
                "{export}: {key:?} writetime(updated_at)"
            );
        }
    }
}

#[tokio::test]
async fn a_struct_fills_a_non_frozen_udt_as_cql_would_on_both_routes_and_a_reload_changes_nothing()
{
    let session = common::session().await;
    let ks = common::keyspace(&session, "spark_udt").await;
    for table in ["via_cql", "via_sstable", "by_cql"] {
        create(&session, &ks, table).await;
    }
    let export = fixture("default");
    common::succeeded(&load(&export, &format!("{ks}.via_cql"), &[]));
    let staging = tempfile::tempdir().unwrap();
    let nodetool = format!("{}/scripts/cassandra nodetool", env!("CARGO_MANIFEST_DIR"));
    let bulk = [
        "--via",
        "sstable",
        "--stream",
        "import",
        "--nodetool",
        nodetool.as_str(),
        "--sstable-dir",
        staging.path().to_str().unwrap(),
    ];
    common::succeeded(&load(&export, &format!("{ks}.via_sstable"), &bulk));
    let select = |table: &str| {
        format!(
            "SELECT user_id, seq, prefs, writetime(prefs), ttl(prefs), frozen_prefs, tags, labels, counts, history, pair FROM {ks}.{table}"
        )
    };
    let sorted = |mut rows: Vec<Vec<Option<Vec<u8>>>>| {
        rows.sort();
        rows
    };
    let via_cql = sorted(common::rows(&session, &select("via_cql")).await);
    let via_sstable = sorted(common::rows(&session, &select("via_sstable")).await);
    assert_eq!(via_cql.len(), 320);
    assert_eq!(
        via_cql, via_sstable,
        "the SSTable route writes what the CQL route writes"
    );
    let with_prefs = via_cql.iter().filter(|r| r[2].is_some()).count();
    assert!(with_prefs > 250, "{with_prefs} rows with prefs");

    // The same values written by CQL at the same write time are the same cells.
    let want = expected("default");
    let insert = session
        .prepare(format!(
            "INSERT INTO {ks}.by_cql (user_id, seq, prefs) VALUES (?, ?, ?) USING TIMESTAMP ?"
        ))
        .await
        .unwrap();
    for r in &via_cql {
        let user = String::from_utf8(r[0].clone().unwrap()).unwrap();
        let seq = i32::from_be_bytes(r[1].clone().unwrap().try_into().unwrap());
        let updated_at = want[&(user.clone(), i64::from(seq))].1;
        let Some(prefs) = r[2].clone() else {
            continue;
        };
        // The UDT's bytes, bound as they are.
        session
            .execute_unpaged(&insert, (user, seq, RawUdt(prefs), updated_at))
            .await
            .unwrap();
    }
    let by_cql = sorted(
        common::rows(
            &session,
            &format!("SELECT user_id, seq, prefs, writetime(prefs), ttl(prefs) FROM {ks}.by_cql"),
        )
        .await,
    );
    let loaded: Vec<_> = via_cql
        .iter()
        .filter(|r| r[2].is_some())
        .map(|r| r[..5].to_vec())
        .collect();
    assert_eq!(
        loaded, by_cql,
        "prefs, writetime(prefs) and ttl(prefs) as CQL writes them"
    );

    // Reloading through either route changes nothing.
    common::succeeded(&load(&export, &format!("{ks}.via_cql"), &[]));
    common::succeeded(&load(&export, &format!("{ks}.via_sstable"), &bulk));
    assert_eq!(
        sorted(common::rows(&session, &select("via_cql")).await),
        via_cql
    );
    assert_eq!(
        sorted(common::rows(&session, &select("via_sstable")).await),
        via_cql
    );
}

/// A value already serialized as the column's CQL type.
struct RawUdt(Vec<u8>);

impl scylla::serialize::value::SerializeValue for RawUdt {
    fn serialize<'b>(
        &self,
        _typ: &scylla::cluster::metadata::ColumnType,
        writer: scylla::serialize::writers::CellWriter<'b>,
    ) -> Result<
        scylla::serialize::writers::WrittenCellProof<'b>,
        scylla::serialize::SerializationError,
    > {
        Ok(writer.set_value(&self.0).unwrap())
    }
}

#[tokio::test]
async fn columns_that_would_be_dropped_are_refused_and_unfilled_ones_are_stated_or_refused() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "spark_columns").await;
    let table = format!("{ks}.narrow");
    common::run(
        &session,
        &format!(
            "CREATE TABLE {table} (user_id text, seq int, eventcount bigint, note text, live_only text, PRIMARY KEY (user_id, seq))"
        ),
    )
    .await;
    let export = fixture("micros");
    // Source columns that fill nothing: refused before anything is written, each named.
    let out = load(&export, &table, &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("source column(s) flag,tiny,small,big,ratio,score,amount,price,payload,born,seen,tags,labels,counts,prefs,frozen_prefs,history,pair,dt fill no column of")
            && stderr.contains("--ignore-columns flag,tiny"),
        "{stderr}"
    );
    assert!(
        common::rows(&session, &format!("SELECT * FROM {table}"))
            .await
            .is_empty()
    );
    let ignore = "flag,tiny,small,big,ratio,score,amount,price,payload,born,seen,tags,labels,counts,prefs,frozen_prefs,history,pair,dt";
    // --strict refuses the table column nothing fills.
    let out = load(&export, &table, &["--ignore-columns", ignore, "--strict"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--strict: column(s) live_only of"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Said to be intended: loads, states the mapping and the column left alone.
    let summary = dir_summary();
    let out = load(
        &export,
        &table,
        &[
            "--ignore-columns",
            ignore,
            "--summary-json",
            summary.1.to_str().unwrap(),
        ],
    );
    let stderr = common::succeeded(&out);
    assert!(
        stderr.contains("3 of 4 table columns filled")
            || stderr.contains("of 5 table columns filled"),
        "{stderr}"
    );
    assert!(
        stderr.contains("not filled, left as the table holds them: live_only"),
        "{stderr}"
    );
    assert!(
        stderr.contains("source columns left out (--ignore-columns): flag"),
        "{stderr}"
    );
    assert!(
        stderr.contains("write time from source column updated_at"),
        "{stderr}"
    );
    let json: Json = serde_json::from_str(&std::fs::read_to_string(&summary.1).unwrap()).unwrap();
    assert_eq!(json["columns_not_filled"], serde_json::json!(["live_only"]));
    assert!(
        json["inputs"][0]
            .as_str()
            .unwrap()
            .contains("in 3 partition folder(s)"),
        "{json}"
    );
    assert_eq!(
        common::rows(&session, &format!("SELECT * FROM {table}"))
            .await
            .len(),
        320
    );
}

fn dir_summary() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.json");
    (dir, path)
}

#[tokio::test]
async fn an_unfinished_export_is_refused_until_allowed_and_then_stated() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "spark_unfinished").await;
    create(&session, &ks, "events").await;
    let dir = tempfile::tempdir().unwrap();
    let exports = dir.path().join("exports");
    std::fs::create_dir(&exports).unwrap();
    for day in ["day1", "day2"] {
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(fixture("micros"))
            .arg(exports.join(day))
            .status()
            .unwrap();
        assert!(status.success());
    }
    // day2's job has not finished: no _SUCCESS, its tasks' _temporary/ still there.
    std::fs::remove_file(exports.join("day2/_SUCCESS")).unwrap();
    std::fs::create_dir_all(exports.join("day2/_temporary/0")).unwrap();
    let table = format!("{ks}.events");
    let out = load(&exports, &table, &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("looks unfinished") && stderr.contains("day2/dt=2026-12-01"),
        "{stderr}"
    );
    assert!(
        common::rows(&session, &format!("SELECT user_id FROM {table}"))
            .await
            .is_empty()
    );
    let stderr = common::succeeded(&load(&exports, &table, &["--allow-incomplete"]));
    assert!(
        stderr.contains("read anyway (--allow-incomplete)"),
        "{stderr}"
    );
    assert!(stderr.contains("12 files"), "{stderr}");
    assert_eq!(
        common::rows(&session, &format!("SELECT user_id FROM {table}"))
            .await
            .len(),
        320
    );
}

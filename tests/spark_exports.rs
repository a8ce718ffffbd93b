//! The Parquet source against exports Apache Spark 4.3 wrote itself (`fixtures/spark/`):
//! INT96 (Spark's default), INT64 micros and millis, zstd, the legacy format and the LEGACY
//! (Julian) calendar, each read cell for cell as Spark reads the same files (its reading is
//! checked in beside them): edge dates and timestamps from 0001-01-01 to 9999-12-31, top-level
//! and nested, and every row's write time from `updated_at` to the microsecond. No server.

#[path = "support/spark_rows.rs"]
mod spark_rows;

use std::sync::Arc;

use cassbulk::intake::NullMode;
use cassbulk::model::collection::assemble;
use cassbulk::model::schema::{ColumnRow, TypeRow, build_table_schema};
use cassbulk::model::{Partition, TableName, TableSchema};
use cassbulk::plan::MappingOptions;
use cassbulk::source::parquet::{ParquetError, ParquetInput, SourceEvent};
use serde_json::{Map, Value as Json};

use spark_rows::{COLUMNS, EVENT_T, EXPORTS, PREFS_T, decode, expected, fixture};

/// `spark_events.cql`'s table, as `system_schema` describes it.
fn spark_events() -> Arc<TableSchema> {
    let columns: Vec<ColumnRow> = COLUMNS
        .iter()
        .map(|(name, t)| ColumnRow {
            column_name: (*name).into(),
            clustering_order: if *name == "seq" { "asc" } else { "none" }.into(),
            kind: match *name {
                "user_id" => "partition_key",
                "seq" => "clustering",
                _ => "regular",
            }
            .into(),
            position: if matches!(*name, "user_id" | "seq") {
                0
            } else {
                -1
            },
            type_name: (*t).into(),
        })
        .collect();
    let udt = |name: &str, fields: &[(&str, &str)]| TypeRow {
        type_name: name.into(),
        field_names: fields.iter().map(|f| f.0.into()).collect(),
        field_types: fields.iter().map(|f| f.1.into()).collect(),
    };
    let types = [udt("prefs_t", &PREFS_T), udt("event_t", &EVENT_T)];
    let name = TableName::parse("ks.spark_events").unwrap();
    Arc::new(build_table_schema(&name, &columns, &types).unwrap())
}

fn options() -> MappingOptions {
    MappingOptions {
        writetime_column: Some("updated_at".into()),
        nulls: NullMode::Delete,
        ..MappingOptions::default()
    }
}

fn partitions(export: &str, schema: &Arc<TableSchema>) -> Vec<Partition> {
    let input = ParquetInput::open(fixture(export).to_str().unwrap(), false).unwrap();
    let plan = input.plan(schema.clone(), &options()).unwrap();
    let mut out = Vec::new();
    for event in input.events(plan) {
        match event.unwrap() {
            SourceEvent::Partition(p) => out.push(p),
            SourceEvent::Rows(b) => out.extend(b.partitions().map(Result::unwrap)),
            SourceEvent::Reject(r) => panic!("{export}: a row was rejected: {r:?}"),
        }
    }
    out
}

/// A one-row partition in the shape of [`spark_rows::expected`], with its write time.
fn row_of(schema: &TableSchema, p: &Partition) -> (Json, i64) {
    let row = &p.rows[0];
    let mut out = Map::new();
    let key = decode("text", Some(&p.key));
    out.insert("user_id".into(), key);
    out.insert("seq".into(), decode("int", Some(&row.clustering[0])));
    let mut written = None;
    for (name, t) in COLUMNS.iter().skip(2) {
        let i = schema.column(name).unwrap().0;
        let data = row.columns.iter().find(|c| c.column == i);
        let live: Vec<_> = data
            .map(|d| {
                d.cells
                    .iter()
                    .filter(|c| !c.liveness.is_tombstone())
                    .collect()
            })
            .unwrap_or_default();
        let value = if live.is_empty() {
            Json::Null
        } else if schema.columns[i].cql_type.is_multi_cell() {
            decode(
                t,
                Some(&assemble(&schema.columns[i].cql_type, &live).unwrap()),
            )
        } else {
            decode(t, Some(&live[0].value))
        };
        if *name == "updated_at" {
            written = Some(live[0].timestamp);
        }
        out.insert((*name).to_owned(), value);
    }
    (Json::Object(out), written.unwrap())
}

#[test]
fn every_spark_export_reads_as_spark_reads_it_edge_dates_and_write_times_included() {
    let schema = spark_events();
    for export in EXPORTS {
        let expected = expected(export);
        let got = partitions(export, &schema);
        assert_eq!(got.len(), expected.len(), "{export}: rows");
        for p in &got {
            let (row, written) = row_of(&schema, p);
            let key = (
                row["user_id"].as_str().unwrap().to_owned(),
                row["seq"].as_i64().unwrap(),
            );
            let (want, updated_at) = &expected[&key];
            for (name, _) in COLUMNS {
                assert_eq!(row[name], want[name], "{export}: {key:?} column {name}");
            }
            assert_eq!(written, *updated_at, "{export}: {key:?} write time");
        }
    }
}

#[test]
fn the_plan_states_the_legacy_calendar_and_the_files_and_partitions_it_reads() {
    let schema = spark_events();
    let input = ParquetInput::open(fixture("legacy_rebase").to_str().unwrap(), false).unwrap();
    let notes = input.notes().join("\n");
    assert!(
        notes.contains("6 files") && notes.contains("in 3 partition folder(s) (dt)"),
        "{notes}"
    );
    assert!(
        notes.contains(
            "6 of 6 file(s) were written by Spark 4.3.0 in its LEGACY calendar mode: dates and timestamps before 1582-10-15 are rebased"
        ),
        "{notes}"
    );
    let plan = input.plan(schema, &options()).unwrap();
    drop(plan);
    let default = ParquetInput::open(fixture("default").to_str().unwrap(), false).unwrap();
    assert!(!default.notes().join("\n").contains("LEGACY"));
}

#[test]
fn an_export_missing_its_success_marker_where_another_has_one_is_refused_as_unfinished() {
    let dir = tempfile::tempdir().unwrap();
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(from)
            .arg(to)
            .status()
            .unwrap();
        assert!(status.success());
    };
    let root = dir.path().join("exports");
    std::fs::create_dir(&root).unwrap();
    copy(&fixture("micros"), &root.join("day1"));
    copy(&fixture("micros"), &root.join("day2"));
    std::fs::remove_file(root.join("day2/_SUCCESS")).unwrap();
    let err = ParquetInput::open(root.to_str().unwrap(), false).unwrap_err();
    assert!(matches!(err, ParquetError::Unfinished { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(
            "day2/dt=2026-12-01 (and 2 other folders) holds Parquet files but no _SUCCESS"
        ) && text.contains("--allow-incomplete"),
        "{text}"
    );
    let input = ParquetInput::open(root.to_str().unwrap(), true).unwrap();
    assert!(
        input
            .notes()
            .join("\n")
            .contains("read anyway (--allow-incomplete)")
    );
    // A partition folder given alone finds its export's marker above it.
    assert!(ParquetInput::open(root.join("day1/dt=2026-12-02").to_str().unwrap(), false).is_ok());
    // A job's _temporary/ with no _SUCCESS: still being written, or failed.
    std::fs::remove_file(root.join("day1/_SUCCESS")).unwrap();
    std::fs::create_dir_all(root.join("day1/_temporary/0")).unwrap();
    let err = ParquetInput::open(root.join("day1").to_str().unwrap(), false).unwrap_err();
    assert!(
        err.to_string().contains("day1/_temporary/ is there"),
        "{err}"
    );
    // With no marker at all (pyarrow writes none), nothing is said.
    assert!(ParquetInput::open(root.join("day2").to_str().unwrap(), false).is_ok());
}

//! Planning and reading small Parquet files written here with the `parquet` crate's own writer:
//! refusals before any row is read, write times and TTLs, folder name values, row numbers
//! across row groups read in parallel, schema checks between files.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int32Array, Int64Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use super::*;
use crate::model::Partition;
use crate::model::schema::{ColumnRow, build_table_schema};
use crate::model::{Liveness, TableName, Value};
use crate::rejects::Reject;

fn table(columns: &[(&str, &str, &str)]) -> Arc<TableSchema> {
    let rows: Vec<ColumnRow> = columns
        .iter()
        .map(|(name, kind, ty)| ColumnRow {
            column_name: (*name).into(),
            clustering_order: "none".into(),
            kind: (*kind).into(),
            position: 0,
            type_name: (*ty).into(),
        })
        .collect();
    Arc::new(build_table_schema(&TableName::parse("ks.t").unwrap(), &rows, &[]).unwrap())
}

/// Writes `batch` to `path`, `group_rows` rows per row group.
fn write(path: &Path, batch: &RecordBatch, group_rows: usize) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

/// `n` rows: id = "u{i}", n = i, tags = ["t{i}"] (a null element when i % 10 == 7), ts = i µs
/// as nanoseconds (plus 999 ns, which the write time floors away), ttl = i % 3 (1 is 1 second).
fn batch(n: usize) -> RecordBatch {
    let ids: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..n).map(|i| format!("u{i}")),
    ));
    let nums: ArrayRef = Arc::new(Int32Array::from_iter_values((0..n).map(|i| i as i32)));
    let mut tags = ListBuilder::new(StringBuilder::new());
    for i in 0..n {
        tags.values().append_value(format!("t{i}"));
        if i % 10 == 7 {
            tags.values().append_null();
        }
        tags.append(true);
    }
    let tags: ArrayRef = Arc::new(tags.finish());
    let ts: ArrayRef = Arc::new(
        TimestampNanosecondArray::from_iter_values((0..n).map(|i| i as i64 * 1000 + 999))
            .with_timezone("UTC"),
    );
    let ttl: ArrayRef = Arc::new(Int64Array::from_iter(
        (0..n).map(|i| (i % 3 != 2).then_some((i % 3) as i64)),
    ));
    RecordBatch::try_from_iter([
        ("id", ids),
        ("n", nums),
        ("tags", tags),
        ("ts", ts),
        ("ttl", ttl),
    ])
    .unwrap()
}

fn options() -> MappingOptions {
    MappingOptions {
        writetime_column: Some("ts".into()),
        ttl_column: Some("ttl".into()),
        ..MappingOptions::default()
    }
}

/// `options` with the source columns `columns` left out on purpose (`--ignore-columns`).
fn ignoring(columns: &[&str], options: MappingOptions) -> MappingOptions {
    MappingOptions {
        ignore_columns: columns.iter().map(|c| c.to_string()).collect(),
        ..options
    }
}

fn collect(input: ParquetInput, plan: ParquetPlan) -> (Vec<Partition>, Vec<Reject>) {
    let mut partitions = Vec::new();
    let mut rejects = Vec::new();
    for event in input.events(plan) {
        match event.unwrap() {
            SourceEvent::Partition(p) => partitions.push(p),
            SourceEvent::Rows(b) => partitions.extend(b.partitions().map(Result::unwrap)),
            SourceEvent::Reject(r) => rejects.push(r),
        }
    }
    (partitions, rejects)
}

#[test]
fn rows_of_every_row_group_become_partitions_and_rejects_carry_the_row_number_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.parquet");
    write(&path, &batch(2500), 700);
    let input = ParquetInput::open(path.to_str().unwrap(), false).unwrap();
    assert_eq!(input.describe(), "1 file, 4 row groups, 2500 rows");
    let schema = table(&[
        ("id", "partition_key", "text"),
        ("n", "regular", "bigint"),
        ("tags", "regular", "list<text>"),
    ]);
    let plan = input.plan(schema, &options()).unwrap();
    assert_eq!(plan.read_columns(), ["id", "n", "tags", "ts", "ttl"]);
    let (partitions, mut rejects) = collect(input, plan);
    assert_eq!(partitions.len() + rejects.len(), 2500);
    assert_eq!(rejects.len(), 250);
    rejects.sort_by_key(|r| r.line);
    // Row 7 (0-based) is line 8; row 2497 lies in the fourth row group.
    assert_eq!(rejects[0].line, 8);
    assert_eq!(rejects[249].line, 2498);
    assert_eq!(rejects[0].column.as_deref(), Some("tags"));
    assert_eq!(
        rejects[0].reason,
        "element 2 of 2 is null, which a CQL list<text> cannot hold"
    );
    assert_eq!(rejects[0].file, path.display().to_string());
    assert_eq!(rejects[0].table, "ks.t");
    assert!(
        rejects[0].raw.starts_with("id=u7, n=7, tags=[t7, null]"),
        "{}",
        rejects[0].raw
    );
    for p in &partitions {
        let i: i64 = std::str::from_utf8(&p.key).unwrap()[1..].parse().unwrap();
        let row = &p.rows[0];
        let liveness = row.liveness.unwrap();
        assert_eq!(liveness.timestamp, i, "write time in µs, floored");
        let expected = match i % 3 {
            1 => Liveness::expiring_from(i, 1),
            _ => Liveness::Live,
        };
        assert_eq!(liveness.liveness, expected, "row {i}");
    }
}

#[test]
fn incompatible_columns_are_refused_before_any_row_is_read_naming_both_types() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.parquet");
    write(&path, &batch(3), 10);
    let input = ParquetInput::open(path.to_str().unwrap(), false).unwrap();
    let schema = table(&[("id", "partition_key", "text"), ("tags", "regular", "int")]);
    let err = input
        .plan(schema, &ignoring(&["n"], options()))
        .unwrap_err();
    assert!(
        matches!(&err, ParquetError::Mapping { column, cql_type, .. } if column == "tags" && cql_type == "int"),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("List("), "{message}");
    assert!(message.contains("list, set or vector"), "{message}");
}

#[test]
fn write_times_and_ttls_come_only_from_suitable_columns_or_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.parquet");
    write(&path, &batch(3), 10);
    let input = ParquetInput::open(path.to_str().unwrap(), false).unwrap();
    let schema = table(&[("id", "partition_key", "text")]);
    let all = ["n", "tags", "ts", "ttl"];
    let err = input
        .plan(schema.clone(), &ignoring(&all, MappingOptions::default()))
        .unwrap_err();
    assert!(
        matches!(err, ParquetError::Plan(PlanError::NoWriteTime { .. })),
        "{err}"
    );
    let bad_writetime = MappingOptions {
        writetime_column: Some("tags".into()),
        ..ignoring(&["n", "ts", "ttl"], MappingOptions::default())
    };
    let err = input.plan(schema.clone(), &bad_writetime).unwrap_err();
    assert!(err.to_string().contains("--writetime-column tags"), "{err}");
    let bad_ttl = MappingOptions {
        writetime: Some(5),
        ttl_column: Some("id".into()),
        ..ignoring(&all, MappingOptions::default())
    };
    let err = input.plan(schema.clone(), &bad_ttl).unwrap_err();
    assert!(err.to_string().contains("--ttl-column id"), "{err}");
    let fixed = MappingOptions {
        writetime: Some(42),
        ttl: Some(60),
        ..ignoring(&all, MappingOptions::default())
    };
    let plan = input.plan(schema, &fixed).unwrap();
    assert_eq!(plan.read_columns(), ["id"]);
    let (partitions, rejects) = collect(input, plan);
    assert!(rejects.is_empty());
    assert_eq!(partitions.len(), 3);
    for p in partitions {
        let liveness = p.rows[0].liveness.unwrap();
        assert_eq!(liveness.timestamp, 42);
        assert_eq!(liveness.liveness, Liveness::expiring_from(42, 60));
    }
}

#[test]
fn a_ttl_beyond_twenty_years_or_below_zero_rejects_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.parquet");
    let ttl: ArrayRef = Arc::new(Int64Array::from(vec![-1, i64::from(MAX_TTL) + 1, 0]));
    let ids: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c"]));
    write(
        &path,
        &RecordBatch::try_from_iter([("id", ids), ("ttl", ttl)]).unwrap(),
        10,
    );
    let input = ParquetInput::open(path.to_str().unwrap(), false).unwrap();
    let options = MappingOptions {
        writetime: Some(1),
        ttl_column: Some("ttl".into()),
        ..MappingOptions::default()
    };
    let plan = input
        .plan(table(&[("id", "partition_key", "text")]), &options)
        .unwrap();
    let (partitions, rejects) = collect(input, plan);
    assert_eq!(partitions.len(), 1);
    assert_eq!(
        partitions[0].rows[0].liveness.unwrap().liveness,
        Liveness::Live
    );
    assert_eq!(rejects.len(), 2);
    assert!(rejects.iter().all(|r| r.reason.contains("is not a TTL")));
    let too_long = MappingOptions {
        writetime: Some(1),
        ttl: Some(MAX_TTL + 1),
        ..ignoring(&["ttl"], MappingOptions::default())
    };
    let input = ParquetInput::open(path.to_str().unwrap(), false).unwrap();
    assert!(matches!(
        input.plan(table(&[("id", "partition_key", "text")]), &too_long),
        Err(ParquetError::Ttl(_))
    ));
}

#[test]
fn folder_names_fill_columns_of_their_target_type_and_bad_values_stop_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    for (day, rows) in [("2026-11-18", 2), ("2026-11-19", 3)] {
        write(
            &dir.path().join(format!("dt={day}/part-0.parquet")),
            &batch(rows),
            10,
        );
    }
    std::fs::write(dir.path().join("dt=2026-11-18/_SUCCESS"), b"").unwrap();
    std::fs::write(dir.path().join("dt=2026-11-19/_SUCCESS"), b"").unwrap();
    let root = dir.path().to_str().unwrap();
    let input = ParquetInput::open(root, false).unwrap();
    assert_eq!(input.column_names(), ["id", "n", "tags", "ts", "ttl", "dt"]);
    let schema = table(&[("id", "partition_key", "text"), ("day", "regular", "date")]);
    let options = MappingOptions {
        map: vec![("day".into(), "dt".into())],
        writetime: Some(1),
        ..ignoring(&["n", "tags", "ts", "ttl"], MappingOptions::default())
    };
    let plan = input.plan(schema.clone(), &options).unwrap();
    let (partitions, rejects) = collect(input, plan);
    assert!(rejects.is_empty());
    let mut days: Vec<Vec<u8>> = partitions
        .iter()
        .map(|p| p.rows[0].columns[0].cells[0].value.to_vec())
        .collect();
    days.sort();
    days.dedup();
    assert_eq!(
        days,
        [
            Value::Date(20_775).to_bytes(),
            Value::Date(20_776).to_bytes()
        ]
    );

    write(&dir.path().join("dt=someday/part-0.parquet"), &batch(1), 10);
    std::fs::write(dir.path().join("dt=someday/_SUCCESS"), b"").unwrap();
    let input = ParquetInput::open(root, false).unwrap();
    let err = input.plan(schema, &options).unwrap_err();
    assert!(
        err.to_string()
            .contains("dt=someday cannot fill CQL column day"),
        "{err}"
    );
}

#[test]
fn files_with_different_schemas_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("a.parquet"), &batch(2), 10);
    let other =
        RecordBatch::try_from_iter([("id", Arc::new(Int32Array::from(vec![1])) as ArrayRef)])
            .unwrap();
    write(&dir.path().join("b.parquet"), &other, 10);
    let err = ParquetInput::open(dir.path().to_str().unwrap(), false).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("a.parquet") && message.contains("b.parquet"),
        "{message}"
    );
    assert!(message.contains("different schemas"), "{message}");
}

#[test]
fn files_differing_only_in_nullability_share_one_plan() {
    let dir = tempfile::tempdir().unwrap();
    for (name, nullable) in [("a.parquet", true), ("b.parquet", false)] {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "id",
            DataType::Utf8,
            nullable,
        )]));
        let ids: ArrayRef = Arc::new(StringArray::from(vec![name]));
        write(
            &dir.path().join(name),
            &RecordBatch::try_new(schema, vec![ids]).unwrap(),
            10,
        );
    }
    let input = ParquetInput::open(dir.path().to_str().unwrap(), false).unwrap();
    assert_eq!(input.describe(), "2 files, 2 row groups, 2 rows");
}

#[test]
fn a_truncated_file_and_an_empty_folder_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.parquet");
    write(&good, &batch(50), 100);
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = ParquetInput::open(cut.to_str().unwrap(), false).unwrap_err();
    assert!(matches!(err, ParquetError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("cut.parquet"), "{err}");

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(empty.join("_temporary")).unwrap();
    std::fs::write(empty.join("_SUCCESS"), b"").unwrap();
    let err = ParquetInput::open(empty.to_str().unwrap(), false).unwrap_err();
    assert!(matches!(err, ParquetError::NoFiles { .. }), "{err}");
}

#[test]
fn dropping_the_events_early_stops_the_decoding_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.parquet");
    write(&path, &batch(20_000), 1000);
    let input = ParquetInput::open(path.to_str().unwrap(), false).unwrap();
    let plan = input
        .plan(
            table(&[("id", "partition_key", "text")]),
            &ignoring(&["n", "tags"], options()),
        )
        .unwrap();
    let mut events = input.events(plan);
    assert!(events.next().unwrap().is_ok());
    drop(events);
}

#[test]
fn events_can_move_to_another_thread() {
    fn assert_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.parquet");
    write(&path, &batch(10), 10);
    let input = ParquetInput::open(path.to_str().unwrap(), false).unwrap();
    let plan = input
        .plan(
            table(&[("id", "partition_key", "text")]),
            &ignoring(&["n", "tags"], options()),
        )
        .unwrap();
    let events = input.events(plan);
    assert_send(&events);
    let rows = |e: Result<SourceEvent, ParquetError>| match e.unwrap() {
        SourceEvent::Rows(b) => b.accepted(),
        _ => 1,
    };
    let count = std::thread::spawn(move || events.map(rows).sum::<usize>())
        .join()
        .unwrap();
    assert_eq!(count, 10);
}

#[test]
fn integer_write_times_are_microseconds_and_a_null_key_rejects_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dt=2026-11-18/data.parquet");
    let ids: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None]));
    let wt: ArrayRef = Arc::new(Int64Array::from(vec![5, 6]));
    write(
        &path,
        &RecordBatch::try_from_iter([("id", ids), ("wt", wt)]).unwrap(),
        10,
    );
    let input = ParquetInput::open(path.to_str().unwrap(), false).unwrap();
    let options = MappingOptions {
        writetime_column: Some("wt".into()),
        ..ignoring(&["dt"], MappingOptions::default())
    };
    let plan = input
        .plan(table(&[("id", "partition_key", "text")]), &options)
        .unwrap();
    let (partitions, rejects) = collect(input, plan);
    assert_eq!(partitions.len(), 1);
    assert_eq!(partitions[0].rows[0].liveness.unwrap().timestamp, 5);
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].column.as_deref(), Some("id"));
    assert_eq!(rejects[0].line, 2);
    assert_eq!(rejects[0].raw, "id=null, wt=6, dt=2026-11-18");
}

#[test]
fn a_table_filled_only_from_folder_names_still_gets_one_event_per_row() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("day=2026-11-18/a.parquet"), &batch(3), 2);
    let input = ParquetInput::open(dir.path().to_str().unwrap(), false).unwrap();
    let options = MappingOptions {
        writetime: Some(7),
        ..ignoring(&["id", "n", "tags", "ts", "ttl"], MappingOptions::default())
    };
    let plan = input
        .plan(table(&[("day", "partition_key", "date")]), &options)
        .unwrap();
    assert!(plan.read_columns().is_empty());
    let (partitions, rejects) = collect(input, plan);
    assert!(rejects.is_empty());
    assert_eq!(partitions.len(), 3);
    assert_eq!(partitions[0].key, Value::Date(20_775).to_bytes());
}

#[test]
fn text_read_as_dictionaries_gives_the_same_partitions_and_rejects_as_text_read_as_strings() {
    let dir = tempfile::tempdir().unwrap();
    let data = batch(2500);
    // Dictionary pages throughout (the writers' default), none, and a dictionary that fills up
    // and falls back to plain pages within the chunk.
    let kinds = [
        ("dictionary", WriterProperties::builder()),
        (
            "plain",
            WriterProperties::builder().set_dictionary_enabled(false),
        ),
        (
            "fallback",
            WriterProperties::builder()
                .set_dictionary_page_size_limit(256)
                .set_data_page_row_count_limit(100)
                .set_write_batch_size(100),
        ),
    ];
    let schema = table(&[
        ("id", "partition_key", "text"),
        ("n", "regular", "bigint"),
        ("tags", "regular", "list<text>"),
    ]);
    let mut results = Vec::new();
    for (name, props) in kinds {
        let path = dir.path().join(name).join("data.parquet");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let props = props.set_max_row_group_row_count(Some(700)).build();
        let file = std::fs::File::create(&path).unwrap();
        let mut writer = ArrowWriter::try_new(file, data.schema(), Some(props)).unwrap();
        writer.write(&data).unwrap();
        writer.close().unwrap();

        let input = ParquetInput::open(path.to_str().unwrap(), false).unwrap();
        let plan = input.plan(schema.clone(), &options()).unwrap();
        let hinted = read::dictionary_hints(&input.files[0].metadata, &plan, 0).map(|m| {
            let fields = m.schema().fields().clone();
            (
                fields[0].data_type().clone(),
                fields[2].data_type().to_string(),
            )
        });
        match name {
            "dictionary" => {
                let (id, tags) = hinted.expect("text read as dictionaries");
                assert!(matches!(id, DataType::Dictionary(..)), "{id}");
                assert!(tags.contains("Dictionary(Int32, Utf8)"), "{tags}");
            }
            _ => assert_eq!(hinted, None, "{name}"),
        }
        let (mut partitions, mut rejects) = collect(input, plan);
        partitions.sort_by(|a, b| a.key.cmp(&b.key));
        rejects.sort_by_key(|r| r.line);
        let rejects: Vec<_> = rejects
            .into_iter()
            .map(|r| (r.line, r.column, r.reason, r.raw))
            .collect();
        assert_eq!(partitions.len(), 2250, "{name}");
        results.push((partitions, rejects));
    }
    assert!(results[0] == results[1], "dictionary vs plain");
    assert!(results[0] == results[2], "dictionary vs fallback");
}

#[test]
fn a_file_whose_footer_and_row_groups_disagree_on_its_row_count_is_refused_not_read_as_empty() {
    // apache/parquet-testing's file from parquet-rs 0.3.0: footer num_rows 0, one row group of 6.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/parquet-testing/data/repeated_no_annotation.parquet"
    );
    let Err(err) = ParquetInput::open(path, false) else {
        panic!("opened");
    };
    assert!(matches!(
        err,
        ParquetError::RowCounts {
            footer: 0,
            groups: 6,
            ..
        }
    ));
    let message = err.to_string();
    assert!(
        message.contains("repeated_no_annotation.parquet")
            && message.contains("parquet-rs version 0.3.0"),
        "{message}"
    );
}

#[test]
fn a_decoder_error_is_shown_without_the_wrappers_arrow_rs_adds() {
    assert_eq!(
        read::decoder_message(
            "External: Parquet argument error: Parquet error: Page CRC checksum mismatch"
        ),
        "Page CRC checksum mismatch"
    );
    assert_eq!(
        read::decoder_message("EOF: Invalid page header"),
        "EOF: Invalid page header"
    );
}

/// A file as Spark would leave it: `id`, a date `d` and a microsecond timestamp `at` (INT64),
/// with Spark's footer keys `metadata`.
fn write_spark(path: &Path, days: &[i32], micros: &[i64], metadata: &[(&str, &str)]) {
    use arrow::array::{Date32Array, TimestampMicrosecondArray};
    use parquet::file::metadata::KeyValue;
    let ids: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..days.len()).map(|i| format!("r{i}")),
    ));
    let d: ArrayRef = Arc::new(Date32Array::from(days.to_vec()));
    let at: ArrayRef =
        Arc::new(TimestampMicrosecondArray::from(micros.to_vec()).with_timezone("UTC"));
    let batch = RecordBatch::try_from_iter([("id", ids), ("d", d), ("at", at)]).unwrap();
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(
            metadata
                .iter()
                .map(|(k, v)| KeyValue::new((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// The loaded (date days, timestamp ms) of each row, by id.
fn dates_and_times(path: &Path) -> Result<Vec<(i32, i64)>, ParquetError> {
    let input = ParquetInput::open(path.to_str().unwrap(), false)?;
    let schema = table(&[
        ("id", "partition_key", "text"),
        ("d", "regular", "date"),
        ("at", "regular", "timestamp"),
    ]);
    let options = MappingOptions {
        writetime: Some(1),
        ..MappingOptions::default()
    };
    let plan = input.plan(schema.clone(), &options)?;
    let (mut partitions, rejects) = collect(input, plan);
    assert!(rejects.is_empty());
    partitions.sort_by(|a, b| a.key.cmp(&b.key));
    let cell = |p: &Partition, name: &str| {
        let index = schema.column(name).unwrap().0;
        p.rows[0]
            .columns
            .iter()
            .find(|c| c.column == index)
            .unwrap()
            .cells[0]
            .value
            .to_vec()
    };
    Ok(partitions
        .iter()
        .map(|p| {
            let d = u32::from_be_bytes(cell(p, "d").try_into().unwrap());
            let at = i64::from_be_bytes(cell(p, "at").try_into().unwrap());
            ((i64::from(d) - (1 << 31)) as i32, at)
        })
        .collect())
}

#[test]
fn spark_legacy_files_are_rebased_by_version_or_footer_key_in_their_zone_and_others_are_not() {
    let dir = tempfile::tempdir().unwrap();
    // 1582-10-04 and 1000-01-01 as the hybrid calendar counts them, and the proleptic days.
    let hybrid = [-141_428, -354_280, 20_000];
    let proleptic = [-141_438, -354_285, 20_000];
    let noon = 43_200_000_000i64;
    let micros: Vec<i64> = hybrid
        .iter()
        .map(|&d| i64::from(d) * 86_400_000_000 + noon)
        .collect();
    let ms = |days: &[i32], shift_us: i64| -> Vec<(i32, i64)> {
        days.iter()
            .map(|&d| {
                (
                    d,
                    (i64::from(d) * 86_400_000_000 + noon + shift_us).div_euclid(1000),
                )
            })
            .collect()
    };
    // (file, footer keys, the zone's offset in µs when the file is rebased).
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<i64>);
    let cases: [Case; 6] = [
        // Written by Spark 2.4: hybrid calendar, no key; no zone: UTC.
        ("spark24", &[("org.apache.spark.version", "2.4.8")], Some(0)),
        // Spark 3+ in LEGACY mode, in UTC and in a fixed offset.
        (
            "legacy_utc",
            &[
                ("org.apache.spark.version", "3.5.1"),
                ("org.apache.spark.legacyDateTime", ""),
                ("org.apache.spark.timeZone", "UTC"),
            ],
            Some(0),
        ),
        (
            "legacy_plus2",
            &[
                ("org.apache.spark.version", "4.3.0"),
                ("org.apache.spark.legacyDateTime", ""),
                ("org.apache.spark.timeZone", "+02:00"),
            ],
            Some(7_200_000_000),
        ),
        // Spark 3+ CORRECTED, and a file no Spark wrote: as they are.
        ("corrected", &[("org.apache.spark.version", "3.5.1")], None),
        ("pyarrow", &[], None),
        // Only legacyINT96, on a file whose timestamps are INT64: dates and times as they are.
        (
            "int96_key",
            &[
                ("org.apache.spark.version", "3.5.1"),
                ("org.apache.spark.legacyINT96", ""),
            ],
            None,
        ),
    ];
    for (name, metadata, rebased) in cases {
        let path = dir.path().join(format!("{name}.parquet"));
        // In +02:00 the local noon Spark saw is 10:00 UTC.
        let shift = rebased.unwrap_or(0);
        let micros: Vec<i64> = micros.iter().map(|m| m - shift).collect();
        write_spark(&path, &hybrid, &micros, metadata);
        let got = dates_and_times(&path).unwrap();
        let want = match rebased {
            Some(shift) => ms(&proleptic, -shift),
            None => ms(&hybrid, 0),
        };
        assert_eq!(got, want, "{name}");
    }
    // A named zone's historical offsets are not known here: refused, naming file and column.
    let path = dir.path().join("la.parquet");
    write_spark(
        &path,
        &hybrid,
        &micros,
        &[
            ("org.apache.spark.version", "3.5.1"),
            ("org.apache.spark.legacyDateTime", ""),
            ("org.apache.spark.timeZone", "America/Los_Angeles"),
        ],
    );
    let err = dates_and_times(&path).unwrap_err();
    assert!(
        matches!(&err, ParquetError::RebaseZone { zone, column, .. } if zone == "America/Los_Angeles" && column == "at"),
        "{err}"
    );
    assert!(crate::exit::Classify::is_usage(&err));
}

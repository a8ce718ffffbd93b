//! Black-box tests of the Parquet source (`cassbulk::source::parquet`) against the pyarrow
//! export in `fixtures/profile_features` (see `fixtures/README.md`): three `dt=` folders with
//! Hadoop markers, checksum files and a truncated `_temporary` leftover, planned against the
//! table of `profile_features.cql`. Expected values are read straight from the files with the
//! `parquet` crate's own reader, not through the source under test. No server needed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Decimal128Type, Int32Type, TimestampMicrosecondType};
use cassbulk::model::literal::{parse_date, parse_timestamp_micros};
use cassbulk::model::schema::{ColumnRow, TypeRow, build_table_schema};
use cassbulk::model::value::{Decimal, Varint};
use cassbulk::model::{Liveness, Partition, TableName, TableSchema, Value};
use cassbulk::plan::MappingOptions;
use cassbulk::rejects::Reject;
use cassbulk::source::parquet::{ParquetError, ParquetInput, SourceEvent};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/profile_features")
        .join(relative)
}

const DAYS: [&str; 3] = ["2026-11-18", "2026-11-19", "2026-11-20"];

/// The table of `profile_features.cql`, as `system_schema` would describe it.
fn profile_features(top_genres_type: &str) -> Arc<TableSchema> {
    let col = |name: &str, kind: &str, ty: &str| ColumnRow {
        column_name: name.into(),
        clustering_order: "none".into(),
        kind: kind.into(),
        position: if kind == "partition_key" { 0 } else { -1 },
        type_name: ty.into(),
    };
    let columns = [
        col("user_id", "partition_key", "text"),
        col("snapshot_date", "regular", "date"),
        col("top_genres", "regular", top_genres_type),
        col("genre_affinity", "regular", "map<text, int>"),
        col("followed_artists", "regular", "set<text>"),
        col("location", "regular", "frozen<geo_location>"),
        col("score", "regular", "decimal"),
        col("updated_at", "regular", "timestamp"),
    ];
    let types = [TypeRow {
        type_name: "geo_location".into(),
        field_names: vec!["country".into(), "city".into()],
        field_types: vec!["text".into(), "text".into()],
    }];
    let name = TableName::parse("ks.profile_features").unwrap();
    Arc::new(build_table_schema(&name, &columns, &types).unwrap())
}

fn options() -> MappingOptions {
    MappingOptions {
        map: vec![("snapshot_date".into(), "dt".into())],
        writetime_column: Some("updated_at".into()),
        ttl_column: Some("ttl_seconds".into()),
        ..MappingOptions::default()
    }
}

/// One row of the fixture as the files hold it.
#[derive(Debug, Clone)]
struct Expected {
    updated_at_us: i64,
    ttl: Option<i32>,
    score: Option<(i128, i8)>,
}

/// Every row of every day, keyed by (user_id, day), read with the plain Arrow reader.
fn expected_rows() -> HashMap<(String, String), Expected> {
    let mut rows = HashMap::new();
    for day in DAYS {
        let file = std::fs::File::open(fixture(&format!("dt={day}/part-00000.parquet"))).unwrap();
        for batch in ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
        {
            let batch = batch.unwrap();
            let ids = batch.column_by_name("user_id").unwrap().as_string::<i32>();
            let updated = batch
                .column_by_name("updated_at")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>();
            let ttl = batch
                .column_by_name("ttl_seconds")
                .unwrap()
                .as_primitive::<Int32Type>();
            let score = batch
                .column_by_name("score")
                .unwrap()
                .as_primitive::<Decimal128Type>();
            for i in 0..batch.num_rows() {
                rows.insert(
                    (ids.value(i).to_owned(), day.to_owned()),
                    Expected {
                        updated_at_us: updated.value(i),
                        ttl: (!ttl.is_null(i)).then(|| ttl.value(i)),
                        score: (!score.is_null(i)).then(|| (score.value(i), score.scale())),
                    },
                );
            }
        }
    }
    rows
}

fn load(schema: &Arc<TableSchema>) -> (Vec<Partition>, Vec<Reject>) {
    let input = ParquetInput::open(fixture("").to_str().unwrap(), false).unwrap();
    let plan = input.plan(schema.clone(), &options()).unwrap();
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

/// The serialized value of the only cell of a simple column, if the row has it.
fn cell<'a>(schema: &TableSchema, p: &'a Partition, column: &str) -> Option<&'a [u8]> {
    let index = schema.column(column).unwrap().0;
    p.rows[0]
        .columns
        .iter()
        .find(|c| c.column == index)
        .map(|c| c.cells[0].value.as_slice())
}

/// The live cells of a multi-cell column (collection elements).
fn elements(schema: &TableSchema, p: &Partition, column: &str) -> Option<usize> {
    let index = schema.column(column).unwrap().0;
    p.rows[0]
        .columns
        .iter()
        .find(|c| c.column == index)
        .map(|c| c.cells.len())
}

fn day_of(schema: &TableSchema, p: &Partition) -> String {
    let bytes = cell(schema, p, "snapshot_date").expect("every row has a snapshot_date");
    DAYS.iter()
        .find(|d| Value::Date(parse_date(d).unwrap()).to_bytes() == bytes)
        .expect("snapshot_date is one of the dt= folders")
        .to_string()
}

#[test]
fn the_fixture_opens_as_three_files_skipping_markers_checksums_and_the_temporary_leftover() {
    let input = ParquetInput::open(fixture("").to_str().unwrap(), false).unwrap();
    assert_eq!(input.describe(), "3 files, 5 row groups, 187 rows");
    assert_eq!(
        input.column_names(),
        [
            "user_id",
            "top_genres",
            "genre_affinity",
            "followed_artists",
            "location",
            "score",
            "updated_at",
            "ttl_seconds",
            "dt"
        ]
    );
}

#[test]
fn every_row_becomes_one_event_and_only_the_null_element_row_is_rejected() {
    let schema = profile_features("list<text>");
    let (partitions, rejects) = load(&schema);
    assert_eq!(partitions.len() + rejects.len(), 187);
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    let reject = &rejects[0];
    assert_eq!(reject.column.as_deref(), Some("top_genres"));
    assert!(
        reject.reason.contains("null") && reject.reason.contains("list<text>"),
        "{}",
        reject.reason
    );
    assert!(
        reject.file.ends_with("dt=2026-11-19/part-00000.parquet"),
        "{}",
        reject.file
    );
    assert!(
        reject.raw.contains("user_id=J3UG3IxNK8Q8lVf4uA7MEi"),
        "{}",
        reject.raw
    );
    assert_eq!(reject.table, "ks.profile_features");
    // The line is the row's 1-based position in its file.
    let file = std::fs::File::open(fixture("dt=2026-11-19/part-00000.parquet")).unwrap();
    let mut position = 0;
    for batch in ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
    {
        let batch = batch.unwrap();
        let ids = batch.column_by_name("user_id").unwrap().as_string::<i32>();
        for i in 0..batch.num_rows() {
            position += 1;
            if ids.value(i) == "J3UG3IxNK8Q8lVf4uA7MEi" {
                assert_eq!(reject.line, position);
            }
        }
    }
}

#[test]
fn partitions_carry_updated_at_as_write_time_ttl_seconds_as_ttl_and_the_folder_date() {
    let schema = profile_features("list<text>");
    let expected = expected_rows();
    let (partitions, _) = load(&schema);
    let mut seen = 0;
    for p in &partitions {
        let user = String::from_utf8(p.key.clone()).unwrap();
        let day = day_of(&schema, p);
        let want = &expected[&(user.clone(), day.clone())];
        let liveness = p.rows[0].liveness.unwrap();
        assert_eq!(liveness.timestamp, want.updated_at_us, "{user} {day}");
        let ttl = want.ttl.filter(|&t| t > 0).map(|t| t as u32);
        let want_liveness = match ttl {
            Some(ttl) => Liveness::expiring_from(want.updated_at_us, ttl),
            None => Liveness::Live,
        };
        assert_eq!(liveness.liveness, want_liveness, "{user} {day}");
        for column in &p.rows[0].columns {
            for c in &column.cells {
                assert_eq!(c.timestamp, want.updated_at_us);
            }
        }
        let updated = Value::Timestamp(want.updated_at_us.div_euclid(1000)).to_bytes();
        assert_eq!(cell(&schema, p, "updated_at"), Some(updated.as_slice()));
        let score = want.score.map(|(unscaled, scale)| {
            Value::Decimal(Decimal {
                unscaled: Varint::from_i128(unscaled),
                scale: i32::from(scale),
            })
            .to_bytes()
        });
        assert_eq!(cell(&schema, p, "score"), score.as_deref(), "{user} {day}");
        seen += 1;
    }
    assert_eq!(seen, 186);
}

#[test]
fn the_special_rows_of_the_fixture_load_as_the_readme_describes() {
    let schema = profile_features("list<text>");
    let (partitions, _) = load(&schema);
    let find = |user: &str, day: &str| {
        partitions
            .iter()
            .find(|p| p.key == user.as_bytes() && day_of(&schema, p) == day)
            .unwrap_or_else(|| panic!("{user} on {day}"))
    };
    // The late row keeps its own (older) updated_at as its write time.
    let late = find("SbXOIkDj8Q6xzR8t8JDvTN", "2026-11-20");
    assert_eq!(
        late.rows[0].liveness.unwrap().timestamp,
        parse_timestamp_micros("2026-11-19T12:00:00.123456Z").unwrap()
    );
    // A NULL ttl_seconds: no TTL.
    let no_ttl = find("oXokePTdLqy0TUHmyRijD1", "2026-11-20");
    assert_eq!(no_ttl.rows[0].liveness.unwrap().liveness, Liveness::Live);
    // A list with duplicates loads into the set once per element.
    let dupes = find("JvJaj6Xrp7E73ijN7OoSoq", "2026-11-20");
    assert_eq!(elements(&schema, dupes, "followed_artists"), Some(2));
    // NULL columns are left unset; a null UDT field is a null field of the UDT.
    let no_location = find("TUOHPeN0lakT2XJgy6DbAm", "2026-11-18");
    assert_eq!(cell(&schema, no_location, "location"), None);
    let no_city = find("6zOsylcbwDmLSLFGsbihRS", "2026-11-19");
    let geo = Value::Udt(vec![Some(Value::Text("SE".into())), None]).to_bytes();
    assert_eq!(cell(&schema, no_city, "location"), Some(geo.as_slice()));
    let no_genres = find("ZueKh1QSwSGD96NEZkq1l6", "2026-11-18");
    assert_eq!(elements(&schema, no_genres, "top_genres"), None);
    // Empty collections are written as a collection deletion and no elements.
    let empty = find("PLFlL7DxXinCVEUHe0Et3p", "2026-11-19");
    assert_eq!(elements(&schema, empty, "top_genres"), Some(0));
}

#[test]
fn a_truncated_copy_of_a_fixture_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("dt=2026-11-18/part-00000.parquet")).unwrap();
    let cut = dir.path().join("dt=2026-11-18").join("part-00000.parquet");
    std::fs::create_dir_all(cut.parent().unwrap()).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let err = ParquetInput::open(dir.path().to_str().unwrap(), false).unwrap_err();
    assert!(matches!(err, ParquetError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains(&cut.display().to_string()),
        "{err}"
    );
    // The leftover of the killed task is just as unreadable when named directly.
    let leftover = fixture(
        "dt=2026-11-20/_temporary/0/_temporary/attempt_202611200312_0001_m_000001_1/part-00001.parquet",
    );
    let err = ParquetInput::open(leftover.to_str().unwrap(), false).unwrap_err();
    assert!(err.to_string().contains("part-00001.parquet"), "{err}");
}

#[test]
fn a_list_column_mapped_into_an_int_column_is_refused_before_any_row_is_read() {
    let input = ParquetInput::open(fixture("").to_str().unwrap(), false).unwrap();
    let err = input.plan(profile_features("int"), &options()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("column top_genres: Parquet type List("),
        "{message}"
    );
    assert!(
        message.contains("cannot be loaded into CQL int"),
        "{message}"
    );
}

//! Non-frozen lists are never duplicated by cassbulk (the CQL sink checks the table before a
//! list write; see `src/sink/cql/lists.rs`): reloading the same dump, loading the next day's
//! dump, resuming a load killed several times, and a list of a UDT from Parquet all leave every
//! list exactly as one load of the newest input into an empty table does; a list the live
//! service wrote after the dump is left alone. (The frozen-replica case is in `ring.rs`.)

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scylla::client::session::Session;

use crate::common::{self, cassbulk, psql};

/// A write time after every dump's: what the live service writes with.
const LIVE: i64 = 1_900_000_000_000_000;

fn dump(table: &str, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    common::postgres(&["dump", "-Fc", "-t", table, "-f", path.to_str().unwrap()]);
    path
}

/// Loads `input` into `target`; returns stderr (the summary).
fn load(input: &Path, extra: &[&str], target: &str) -> String {
    let out = cassbulk()
        .arg("load")
        .arg(input)
        .args(["--table", target, "--no-progress"])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "cassbulk failed:\n{stderr}");
    stderr
}

async fn state(session: &Session, select: &str) -> Vec<Vec<Option<Vec<u8>>>> {
    let mut rows = common::rows(session, select).await;
    rows.sort();
    rows
}

#[tokio::test]
async fn reloads_and_the_next_days_dump_leave_every_list_exactly_as_in_the_newest_dump() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "lists").await;
    let pg = format!("lists_{}", ks.trim_start_matches("cb_"));
    psql(&format!(
        "DROP TABLE IF EXISTS {pg}; CREATE TABLE {pg} (id text PRIMARY KEY, names text[], counts int[], updated_at timestamptz);
         INSERT INTO {pg} SELECT 'user' || i, ARRAY['a' || i, 'b', 'a' || i], ARRAY[i, i + 1],
                'epoch'::timestamptz + interval '1 second' * 1790000000 + interval '1 microsecond' * i
           FROM generate_series(1, 3000) i;"
    ));
    let dir = tempfile::tempdir().unwrap();
    let day1 = dump(&pg, dir.path(), "day1.pgdump");
    // Day two: 30% of the rows change, with newer write times.
    psql(&format!(
        "UPDATE {pg} SET names = ARRAY['day2', substr(id, 5)], counts = ARRAY[-1],
                updated_at = updated_at + interval '1 hour'
          WHERE substr(id, 5)::int % 10 IN (1, 2, 3);"
    ));
    let day2 = dump(&pg, dir.path(), "day2.pgdump");
    let ddl = "(id text PRIMARY KEY, names list<text>, counts list<int>)";
    for t in ["target", "day1_once", "day2_once"] {
        common::run(&session, &format!("CREATE TABLE {ks}.{t} {ddl}")).await;
    }
    let wt = ["--source-table", &pg, "--writetime-column", "updated_at"];
    let select = |t: &str| {
        format!("SELECT id, names, counts, writetime(names), writetime(counts) FROM {ks}.{t}")
    };
    load(&day1, &wt, &format!("{ks}.day1_once"));
    load(&day2, &wt, &format!("{ks}.day2_once"));

    // The same dump twice: the second load finds every list already there.
    load(&day1, &wt, &format!("{ks}.target"));
    let again = load(&day1, &wt, &format!("{ks}.target"));
    assert!(
        again.contains("list writes skipped: 6000 already in the table"),
        "{again}"
    );
    let day1_once = state(&session, &select("day1_once")).await;
    assert_eq!(day1_once.len(), 3000);
    assert_eq!(state(&session, &select("target")).await, day1_once);

    // The live service replaces one list and appends to another after the dump.
    common::run(
        &session,
        &format!(
            "UPDATE {ks}.target USING TIMESTAMP {LIVE} SET names = ['live'] WHERE id = 'user11'"
        ),
    )
    .await;
    common::run(
        &session,
        &format!(
            "UPDATE {ks}.target USING TIMESTAMP {LIVE} SET counts = counts + [99] WHERE id = 'user7'"
        ),
    )
    .await;
    let row_of = |rows: &[Vec<Option<Vec<u8>>>], id: &str| -> Vec<Option<Vec<u8>>> {
        rows.iter()
            .find(|r| r[0].as_deref() == Some(id.as_bytes()))
            .unwrap()
            .clone()
    };
    let before = state(&session, &select("target")).await;
    let (live_names, live_counts) = (row_of(&before, "user11"), row_of(&before, "user7"));

    // The next day's dump, twice: every list as in that dump, the live ones untouched.
    let next = load(&day2, &wt, &format!("{ks}.target"));
    assert!(next.contains("2 newer in the table (left alone)"), "{next}");
    load(&day2, &wt, &format!("{ks}.target"));
    // As one load of day two, but for the two lists written live: (id, names, counts,
    // writetime(names), writetime(counts)).
    let mut want = state(&session, &select("day2_once")).await;
    for row in want.iter_mut() {
        if row[0].as_deref() == Some(b"user11") {
            (row[1], row[3]) = (live_names[1].clone(), live_names[3].clone());
        }
        if row[0].as_deref() == Some(b"user7") {
            (row[2], row[4]) = (live_counts[2].clone(), live_counts[4].clone());
        }
    }
    assert_eq!(state(&session, &select("target")).await, want);
    let names = common::rows(
        &session,
        &format!("SELECT names FROM {ks}.target WHERE id = 'user11'"),
    )
    .await;
    assert_eq!(
        names[0][0].as_deref(),
        Some(&[0, 0, 0, 1, 0, 0, 0, 4, b'l', b'i', b'v', b'e'][..])
    );
}

/// A Parquet file of `(id, stops list<struct<name, minutes>>, updated_at)`; rows `i` with
/// `i % 10 < changed` get a second version of their list, written an hour later.
fn stops_parquet(path: &Path, changed: u32) {
    use arrow::array::TimestampMicrosecondArray;
    use arrow::array::{ArrayRef, Int32Array, ListArray, StringArray, StructArray};
    use arrow::buffer::OffsetBuffer;
    use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};

    let rows: Vec<u32> = (1..=2000).collect();
    let second = |i: u32| i % 10 < changed;
    let mut offsets = vec![0i32];
    let (mut names, mut minutes) = (Vec::new(), Vec::new());
    for &i in &rows {
        let n = if second(i) { 1 } else { 1 + i % 3 };
        for j in 0..n {
            names.push(if second(i) {
                format!("moved {i}")
            } else {
                format!("stop {j}")
            });
            minutes.push((i * 10 + j) as i32);
        }
        offsets.push(names.len() as i32);
    }
    let fields = Fields::from(vec![
        Field::new("name", DataType::Utf8, true),
        Field::new("minutes", DataType::Int32, true),
    ]);
    let stops = StructArray::new(
        fields.clone(),
        vec![
            Arc::new(StringArray::from(names)) as ArrayRef,
            Arc::new(Int32Array::from(minutes)),
        ],
        None,
    );
    let item = Arc::new(Field::new("item", DataType::Struct(fields), true));
    let list = ListArray::new(
        item.clone(),
        OffsetBuffer::new(offsets.into()),
        Arc::new(stops),
        None,
    );
    let base = 1_790_000_000_000_000i64;
    let times: Vec<i64> = rows
        .iter()
        .map(|&i| base + i64::from(i) + if second(i) { 3_600_000_000 } else { 0 })
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("stops", DataType::List(item), true),
        Field::new(
            "updated_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]));
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(
                rows.iter().map(|i| format!("route{i}")).collect::<Vec<_>>(),
            )),
            Arc::new(list),
            Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[tokio::test]
async fn a_list_of_a_udt_from_parquet_is_written_once_however_often_it_is_loaded() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "udt_lists").await;
    common::run(
        &session,
        &format!("CREATE TYPE {ks}.stop (name text, minutes int)"),
    )
    .await;
    for t in ["target", "newest_once"] {
        common::run(
            &session,
            &format!("CREATE TABLE {ks}.{t} (id text PRIMARY KEY, stops list<frozen<stop>>)"),
        )
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let (day1, day2) = (
        dir.path().join("day1.parquet"),
        dir.path().join("day2.parquet"),
    );
    stops_parquet(&day1, 0);
    stops_parquet(&day2, 3);
    let wt = ["--writetime-column", "updated_at"];
    let select = |t: &str| format!("SELECT id, stops, writetime(stops) FROM {ks}.{t}");
    load(&day2, &wt, &format!("{ks}.newest_once"));
    load(&day1, &wt, &format!("{ks}.target"));
    let again = load(&day1, &wt, &format!("{ks}.target"));
    assert!(
        again.contains("list writes skipped: 2000 already in the table"),
        "{again}"
    );
    load(&day2, &wt, &format!("{ks}.target"));
    load(&day2, &wt, &format!("{ks}.target"));
    let want = state(&session, &select("newest_once")).await;
    assert_eq!(want.len(), 2000);
    assert_eq!(state(&session, &select("target")).await, want);
}

#[tokio::test]
async fn a_load_killed_three_times_and_resumed_each_time_writes_every_list_once() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "list_resume").await;
    let pg = format!("list_resume_{}", ks.trim_start_matches("cb_"));
    psql(&format!(
        "DROP TABLE IF EXISTS {pg}; CREATE TABLE {pg} (id text PRIMARY KEY, names text[], updated_at timestamptz);
         INSERT INTO {pg} SELECT 'user' || i, ARRAY[md5(i::text), 'x'],
                'epoch'::timestamptz + interval '1 second' * 1790000000 + interval '1 microsecond' * i
           FROM generate_series(1, 12000) i;"
    ));
    let dir = tempfile::tempdir().unwrap();
    let input = dump(&pg, dir.path(), "input.pgdump");
    let ddl = "(id text PRIMARY KEY, names list<text>)";
    for t in ["reference", "resumed"] {
        common::run(&session, &format!("CREATE TABLE {ks}.{t} {ddl}")).await;
    }
    let wt = ["--source-table", &pg, "--writetime-column", "updated_at"];
    load(&input, &wt, &format!("{ks}.reference"));

    let checkpoint = dir.path().join("load.checkpoint");
    let command = || {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("cassbulk"));
        cmd.env("CASSBULK_HOSTS", common::hosts())
            .arg("load")
            .arg(&input)
            .args(["--table", &format!("{ks}.resumed"), "--no-progress"])
            .args(wt)
            .args(["--rate", "1000", "--checkpoint"])
            .arg(&checkpoint);
        cmd
    };
    for _ in 0..3 {
        let before = std::fs::read_to_string(&checkpoint).ok();
        let mut child = command()
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::fs::read_to_string(&checkpoint).ok() == before
            && started.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(1500));
        child.kill().unwrap(); // SIGKILL: writes in flight are lost or applied, unacknowledged
        assert!(
            !child.wait().unwrap().success(),
            "killed before it finished"
        );
        assert!(checkpoint.exists());
    }
    let out = command().output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let select = |t: &str| format!("SELECT id, names, writetime(names) FROM {ks}.{t}");
    let want = state(&session, &select("reference")).await;
    assert_eq!(want.len(), 12000);
    assert_eq!(state(&session, &select("resumed")).await, want);
}

#[tokio::test]
async fn a_static_list_and_lists_in_clustered_rows_are_written_once_across_reloads() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "static_lists").await;
    let ddl = "(k text, c int, s list<text> static, l list<int>, PRIMARY KEY (k, c))";
    for t in ["target", "once"] {
        common::run(&session, &format!("CREATE TABLE {ks}.{t} {ddl}")).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("COPY public.t (k, c, s, l) FROM stdin;\n");
    for k in 0..50 {
        for c in 0..20 {
            text.push_str(&format!("p{k}\t{c}\t{{shared,p{k}}}\t{{{c},{c},7}}\n"));
        }
    }
    text.push_str("\\.\n");
    let input = dir.path().join("t.sql");
    std::fs::write(&input, text).unwrap();
    let args = ["--writetime", "1790000000000000"];
    load(&input, &args, &format!("{ks}.once"));
    load(&input, &args, &format!("{ks}.target"));
    let again = load(&input, &args, &format!("{ks}.target"));
    assert!(
        again.contains("list writes skipped: 1050 already in the table"),
        "50 static lists and 1000 row lists: {again}"
    );
    let select = |t: &str| format!("SELECT k, c, s, l, writetime(s), writetime(l) FROM {ks}.{t}");
    let want = state(&session, &select("once")).await;
    assert_eq!(want.len(), 1000);
    assert_eq!(state(&session, &select("target")).await, want);
}

#[tokio::test]
async fn a_list_written_again_one_microsecond_later_keeps_one_copy_when_the_first_attempt_lands_late()
 {
    use cassbulk::cluster::read_table_schema;
    use cassbulk::model::TableName;
    use cassbulk::sink::cql::statements::{ElementOp, Op, element_text};

    let session = common::session().await;
    let ks = common::keyspace(&session, "fenced_lists").await;
    let ddl = "(k text, c int, s list<text> static, l list<text>, PRIMARY KEY (k, c))";
    common::run(&session, &format!("CREATE TABLE {ks}.t {ddl}")).await;
    let name = TableName::parse(&format!("{ks}.t")).unwrap();
    let schema = read_table_schema(&session, &name).await.unwrap();
    let t: i64 = 1_790_000_000_000_000;
    // What the writer sends after an attempt whose outcome is unknown: the lists again, at
    // t + 1, with the statement it prepares for that.
    let replace = |name: &str| {
        let column = schema.columns.iter().position(|c| c.name == name).unwrap();
        element_text(
            &schema,
            ElementOp {
                column,
                op: Op::Replace,
            },
        )
    };
    let (list, row, statics) = (vec!["a", "b"], replace("l"), replace("s"));
    let row = session.prepare(row).await.unwrap();
    session
        .execute_unpaged(&row, (t + 1, 0i32, &list, "p", 1i32))
        .await
        .unwrap();
    let statics = session.prepare(statics).await.unwrap();
    session
        .execute_unpaged(&statics, (t + 1, 0i32, &list, "p"))
        .await
        .unwrap();
    // Then the first attempt lands, late, from a coordinator that was stalled.
    common::run(
        &session,
        &format!("INSERT INTO {ks}.t (k, c, s, l) VALUES ('p', 1, ['a', 'b'], ['a', 'b']) USING TIMESTAMP {t}"),
    )
    .await;
    let rows = session
        .query_unpaged(
            format!("SELECT s, l, writetime(s), writetime(l) FROM {ks}.t WHERE k = 'p' AND c = 1"),
            (),
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .rows::<(Vec<String>, Vec<String>, Vec<i64>, Vec<i64>)>()
        .unwrap()
        .map(Result::unwrap)
        .collect::<Vec<_>>();
    let one_copy = (
        vec!["a".to_owned(), "b".to_owned()],
        vec!["a".to_owned(), "b".to_owned()],
        vec![t + 1, t + 1],
        vec![t + 1, t + 1],
    );
    assert_eq!(rows, [one_copy]);
}

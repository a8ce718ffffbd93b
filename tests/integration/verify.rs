//! `cassbulk verify` against the real node and PostgreSQL. A table is loaded from an older
//! pg_dump, then changed live (rows added, rows updated with newer timestamps, rows deleted, a
//! column of some rows overwritten with an older timestamp, a value written at the newer dump's
//! own timestamp), and PostgreSQL moves on (rows updated, inserted, deleted) before a newer
//! dump. Verified against the newer dump, as a pg_dump, as Parquet, as the SSTable folder of a
//! table loaded from it and as that table over CQL (`cql://`), the report gives exactly the injected number in each category and
//! exits 1; `--repair` then a second verify gives missing = stale = differs = 0 and exits 0,
//! with the live newer rows untouched.

use std::path::{Path, PathBuf};

use scylla::client::session::Session;

use crate::common::{self, cassbulk, psql};

/// The older dump's write time, the newer dump's, and the live writes' (µs).
const T1: i64 = 1_700_000_000_000_000;
const T2: i64 = T1 + 1_000_000_000;
const T3: i64 = T2 + 1_000_000_000;

/// The injected differences: (missing, stale, differs, newer, extra).
const EXPECTED: [u64; 5] = [5, 8, 2, 3, 4];

/// The PostgreSQL table and two dumps of it: before and after it moved on.
struct Dumps {
    pg_table: String,
    _dir: tempfile::TempDir,
    old: PathBuf,
    new: PathBuf,
}

fn dumps(ks: &str) -> Dumps {
    let pg_table = format!("verify_{}", ks.trim_start_matches("cb_"));
    psql(&format!(
        "DROP TABLE IF EXISTS {pg_table};\n\
         CREATE TABLE {pg_table} (id integer PRIMARY KEY, name text, balance bigint, tags text[]);\n\
         INSERT INTO {pg_table} SELECT i, 'name-' || i, i * 100, ARRAY['t' || i, 'u'] \
         FROM generate_series(1, 100) i;\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.pgdump");
    let new = dir.path().join("new.pgdump");
    common::postgres(&["dump", "-Fc", "-t", &pg_table, "-f", old.to_str().unwrap()]);
    // PostgreSQL moves on: 5 rows change (stale in the table), 3 are added (missing), 2 are
    // deleted (extra: the table still has them).
    psql(&format!(
        "UPDATE {pg_table} SET name = 'renamed-' || id WHERE id <= 5;\n\
         INSERT INTO {pg_table} SELECT i, 'name-' || i, i * 100, ARRAY['t' || i] \
         FROM generate_series(101, 103) i;\n\
         DELETE FROM {pg_table} WHERE id IN (90, 91);\n"
    ));
    common::postgres(&["dump", "-Fc", "-t", &pg_table, "-f", new.to_str().unwrap()]);
    Dumps {
        pg_table,
        _dir: dir,
        old,
        new,
    }
}

async fn create_table(session: &Session, table: &str) {
    common::run(
        session,
        &format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, name text, balance bigint, tags list<text>)"
        ),
    )
    .await;
}

fn load(dump: &Path, pg_table: &str, table: &str, writetime: i64) {
    let out = cassbulk()
        .arg("load")
        .arg(dump)
        .args(["--source-table", &format!("public.{pg_table}")])
        .args(["--table", table, "--no-progress"])
        .args(["--writetime", &writetime.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "load failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The table loaded from the older dump, then changed live.
async fn injected_target(session: &Session, dumps: &Dumps, table: &str) {
    create_table(session, table).await;
    load(&dumps.old, &dumps.pg_table, table, T1);
    for statement in [
        // Missing: deleted before the newer dump was taken (a lost write).
        format!(
            "DELETE FROM {table} USING TIMESTAMP {} WHERE id IN (10, 11)",
            T1 + 1
        ),
        // Stale: a column overwritten with a timestamp older than the newer dump's.
        format!(
            "UPDATE {table} USING TIMESTAMP {} SET balance = 0 WHERE id IN (20, 21)",
            T1 + 2
        ),
        // Stale, with duplicated list elements: the list appended again at its own write time
        // (what a reload that is not idempotent leaves).
        format!("UPDATE {table} USING TIMESTAMP {T1} SET tags = tags + ['t7', 'u'] WHERE id = 7"),
        // Differs: another value at the newer dump's own timestamp. (Cassandra keeps the
        // greater value of a tie, so the source's, 'name-3x', wins the repair.)
        format!("UPDATE {table} USING TIMESTAMP {T2} SET name = 'a' WHERE id IN (30, 31)"),
        // Newer: live writes after the newer dump.
        format!("UPDATE {table} USING TIMESTAMP {T3} SET name = 'live' WHERE id IN (40, 41, 42)"),
        // Extra: rows added live.
        format!(
            "INSERT INTO {table} (id, name, balance) VALUES (200, 'live', 1) USING TIMESTAMP {T3}"
        ),
        format!(
            "INSERT INTO {table} (id, name, balance) VALUES (201, 'live', 1) USING TIMESTAMP {T3}"
        ),
    ] {
        common::run(session, &statement).await;
    }
}

/// Runs `cassbulk verify SOURCE --table TABLE ARGS...`; returns its exit code, the JSON report
/// and its output (the table, then stderr).
fn verify(source: &Path, table: &str, args: &[&str]) -> (i32, serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = cassbulk()
        .arg("verify")
        .arg(source)
        .args(["--table", table, "--no-progress", "--report"])
        .arg(&report)
        .args(args)
        .output()
        .unwrap();
    // The table on stdout, then whatever went to stderr.
    let stderr = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read_to_string(&report)
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap_or_else(|_| panic!("no report ({:?}):\n{stderr}", out.status.code()));
    (out.status.code().unwrap_or(-1), json, stderr)
}

fn counts(report: &serde_json::Value) -> [u64; 5] {
    ["missing", "stale", "differs", "newer", "extra"]
        .map(|c| report["counts"][c].as_u64().unwrap_or(u64::MAX))
}

/// Verifies `source` against `table` (injected), repairs, verifies again, and checks that the
/// live writes survived.
async fn verify_repair_verify(session: &Session, source: &Path, table: &str, args: &[&str]) {
    let (code, report, stderr) = verify(source, table, args);
    assert_eq!(counts(&report), EXPECTED, "{stderr}");
    assert_eq!(code, 1, "{stderr}");
    let name = &report["columns"]["name"];
    assert_eq!(
        (
            name["stale"].as_u64(),
            name["differs"].as_u64(),
            name["newer"].as_u64()
        ),
        (Some(5), Some(2), Some(3)),
        "{report}"
    );
    assert_eq!(report["columns"]["balance"]["stale"].as_u64(), Some(2));
    let tags = &report["columns"]["tags"];
    assert_eq!(
        (
            tags["stale"].as_u64(),
            tags["duplicated_list_elements"].as_u64()
        ),
        (Some(1), Some(1)),
        "{report}"
    );
    let examples = report["examples"]["missing"].as_array().unwrap();
    assert!(examples.iter().any(|e| e == "id=101"), "{report}");
    assert_eq!(report["rows"]["source"].as_u64(), Some(101));

    let mut repair_args = args.to_vec();
    repair_args.push("--repair");
    let (code, report, stderr) = verify(source, table, &repair_args);
    assert_eq!(code, 1, "a repairing run reports what it found: {stderr}");
    assert_eq!(counts(&report), EXPECTED, "{stderr}");
    assert_eq!(
        report["repair"]["rows_written"].as_u64(),
        Some(15),
        "{report}"
    );

    let (code, report, stderr) = verify(source, table, args);
    assert_eq!(counts(&report), [0, 0, 0, 3, 4], "{stderr}");
    assert_eq!(code, 0, "{stderr}");

    // The live writes are untouched; the repaired rows hold the newer dump's values.
    let rows = common::rows(
        session,
        &format!("SELECT id, name, writetime(name), balance FROM {table}"),
    )
    .await;
    let int = |b: &Option<Vec<u8>>| i32::from_be_bytes(b.as_deref().unwrap().try_into().unwrap());
    let big = |b: &Option<Vec<u8>>| i64::from_be_bytes(b.as_deref().unwrap().try_into().unwrap());
    let text = |b: &Option<Vec<u8>>| String::from_utf8(b.clone().unwrap()).unwrap();
    let by_id: std::collections::HashMap<i32, (String, i64, i64)> = rows
        .iter()
        .map(|r| (int(&r[0]), (text(&r[1]), big(&r[2]), big(&r[3]))))
        .collect();
    for id in [40, 41, 42, 200, 201] {
        assert_eq!(by_id[&id].0, "live", "id {id}");
        assert_eq!(by_id[&id].1, T3, "id {id}");
    }
    assert_eq!(by_id[&3], ("renamed-3".to_owned(), T2, 300));
    assert_eq!(by_id[&10], ("name-10".to_owned(), T2, 1000));
    assert_eq!(by_id[&20].2, 2000);
    assert_eq!(by_id[&30].0, "name-30");
    assert_eq!(by_id[&102].0, "name-102");
    let tags = common::rows(session, &format!("SELECT tags FROM {table} WHERE id = 7")).await;
    let list = cassbulk::model::Value::decode(
        &cassbulk::model::types::parse_type("list<text>", &cassbulk::model::types::NoUdts).unwrap(),
        tags[0][0].as_deref().unwrap(),
    )
    .unwrap();
    assert_eq!(
        list.to_cql_literal(),
        "['t7', 'u']",
        "the duplicated list is whole again"
    );
    assert_eq!(
        by_id.len(),
        105,
        "103 - 2 deleted in PostgreSQL + 2 still here + 2 live"
    );
}

#[tokio::test]
async fn a_verify_against_a_newer_dump_counts_each_injected_difference_and_repair_fixes_them() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "verify_pg").await;
    let dumps = dumps(&ks);
    let table = format!("{ks}.accounts");
    injected_target(&session, &dumps, &table).await;
    let source_table = format!("public.{}", dumps.pg_table);
    verify_repair_verify(
        &session,
        &dumps.new,
        &table,
        &[
            "--source-table",
            &source_table,
            "--writetime",
            &T2.to_string(),
        ],
    )
    .await;
}

/// The newer dump loaded into a table of its own, the reference for the other sources.
async fn reference(session: &Session, ks: &str, dumps: &Dumps) -> String {
    let table = format!("{ks}.reference");
    create_table(session, &table).await;
    load(&dumps.new, &dumps.pg_table, &table, T2);
    table
}

#[tokio::test]
async fn a_verify_of_a_parquet_source_or_another_tables_scan_counts_and_repairs_the_same() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "verify_pq").await;
    let dumps = dumps(&ks);
    let reference = reference(&session, &ks, &dumps).await;
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("parquet");
    let out = cassbulk()
        .args(["dump", &format!("cql://{}/{reference}", common::hosts())])
        .args(["--format", "parquet", "--no-progress", "--to"])
        .arg(&parquet)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = format!("{ks}.accounts");
    injected_target(&session, &dumps, &table).await;
    verify_repair_verify(
        &session,
        &parquet,
        &table,
        &["--writetime", &T2.to_string()],
    )
    .await;

    // Another cluster's table as the source (here the same node's reference table), read
    // over CQL with every cell's write time.
    let again = format!("{ks}.accounts_again");
    injected_target(&session, &dumps, &again).await;
    let url = format!("cql://{}/{reference}", common::hosts());
    verify_repair_verify(&session, Path::new(&url), &again, &[]).await;
}

#[tokio::test]
async fn a_verify_of_an_sstable_folder_counts_the_same_and_repairs_the_same() {
    if std::env::var("CASSBULK_TEST_HOSTS").is_ok_and(|h| !h.starts_with("127.0.0.1")) {
        eprintln!("skipped: the node's data folder is not on this machine");
        return;
    }
    let session = common::session().await;
    let ks = common::keyspace(&session, "verify_ss").await;
    let dumps = dumps(&ks);
    let _ = reference(&session, &ks, &dumps).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cassandra");
    let flushed = std::process::Command::new(script)
        .args(["nodetool", "flush", &ks, "reference"])
        .output()
        .unwrap();
    assert!(
        flushed.status.success(),
        "{}",
        String::from_utf8_lossy(&flushed.stderr)
    );
    // A copy of the table's folder, as an operator would ship a snapshot.
    let data =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(".cache/cassandra-run/node1/data/{ks}"));
    let folder = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("reference-")
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("reference");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
        }
    }
    let table = format!("{ks}.accounts");
    injected_target(&session, &dumps, &table).await;
    verify_repair_verify(&session, &copy, &table, &[]).await;
}

#[tokio::test]
async fn a_sampled_verify_compares_a_share_of_the_ring_and_says_so() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "verify_sample").await;
    let dumps = dumps(&ks);
    let table = format!("{ks}.accounts");
    injected_target(&session, &dumps, &table).await;
    let source_table = format!("public.{}", dumps.pg_table);
    let args = [
        "--source-table",
        &source_table,
        "--writetime",
        &T2.to_string(),
        "--sample",
        "0.5",
        "--sample-seed",
        "42",
    ];
    let (_, report, stderr) = verify(&dumps.new, &table, &args);
    let ranges = report["token_ranges"].as_u64().unwrap();
    assert!((400..624).contains(&ranges), "{ranges} ranges: {stderr}");
    let source_rows = report["rows"]["source"].as_u64().unwrap();
    assert!(
        (20..90).contains(&source_rows),
        "{source_rows} rows: {stderr}"
    );
    let sampled = counts(&report);
    assert!(
        sampled.iter().zip(EXPECTED).all(|(s, e)| *s <= e),
        "{sampled:?}"
    );
    assert_eq!(report["sample"]["seed"].as_u64(), Some(42));
    // The same seed compares the same ranges.
    let (_, again, _) = verify(&dumps.new, &table, &args);
    assert_eq!(counts(&again), sampled);
    assert!(stderr.contains("a sample"), "{stderr}");
}

#[tokio::test]
async fn a_verify_resumed_from_its_checkpoint_compares_and_repairs_only_the_ranges_left() {
    use cassbulk::model::{Token, Value};
    use cassbulk::verify::{Resume, Tally};

    let session = common::session().await;
    let ks = common::keyspace(&session, "verify_resume").await;
    let dumps = dumps(&ks);
    let table = format!("{ks}.accounts");
    injected_target(&session, &dumps, &table).await;
    // As a run stopped halfway leaves it: the ranges up to token 0 compared, with their counts.
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("verify.checkpoint");
    let earlier = Tally {
        source_rows: 1000,
        counts: [100, 0, 0, 0, 0],
        ..Tally::default()
    };
    let resume = Resume {
        table: table.clone(),
        done_through: 0,
        ranges_done: 512,
        tally: earlier,
    };
    std::fs::write(&checkpoint, serde_json::to_string(&resume).unwrap()).unwrap();
    let source_table = format!("public.{}", dumps.pg_table);
    let (code, report, stderr) = verify(
        &dumps.new,
        &table,
        &[
            "--source-table",
            &source_table,
            "--writetime",
            &T2.to_string(),
            "--checkpoint",
            checkpoint.to_str().unwrap(),
            "--repair",
        ],
    );
    // The injected rows whose tokens lie past the checkpoint, per category.
    let injected: [&[i32]; 5] = [
        &[10, 11, 101, 102, 103],
        &[1, 2, 3, 4, 5, 7, 20, 21],
        &[30, 31],
        &[40, 41, 42],
        &[90, 91, 200, 201],
    ];
    let mut expected = injected.map(|ids| {
        ids.iter()
            .filter(|&&id| Token::of_key(&Value::Int(id).to_bytes()).0 > 0)
            .count() as u64
    });
    expected[0] += 100;
    assert_eq!(counts(&report), expected, "{stderr}");
    assert_eq!(code, 1);
    assert_eq!(report["token_ranges"].as_u64(), Some(1024));
    let source_rows = report["rows"]["source"].as_u64().unwrap();
    assert!(
        (1020..1090).contains(&source_rows),
        "{source_rows}: about half of 101 more"
    );
    assert!(
        !checkpoint.exists(),
        "a completed verify removes its checkpoint"
    );

    // The repair wrote only what the ranges left needed: a whole verify now finds the rows
    // before the checkpoint still out of sync, and only those.
    let (_, report, stderr) = verify(
        &dumps.new,
        &table,
        &[
            "--source-table",
            &source_table,
            "--writetime",
            &T2.to_string(),
        ],
    );
    let before = injected.map(|ids| {
        ids.iter()
            .filter(|&&id| Token::of_key(&Value::Int(id).to_bytes()).0 <= 0)
            .count() as u64
    });
    let repaired = [before[0], before[1], before[2], 3, 4];
    assert_eq!(counts(&report), repaired, "{stderr}");
}

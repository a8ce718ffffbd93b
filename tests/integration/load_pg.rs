//! Loading real pg_dump output (made by the real PostgreSQL in every format) into the real node:
//! every mapped type and hostile values arrive cell for cell with `writetime()` equal to the
//! source column to the microsecond; reloading changes nothing; newer live writes keep winning;
//! corrupt and malformed dumps are refused clearly.

use std::collections::HashMap;
use std::path::Path;

use cassbulk::model::Value;
use cassbulk::model::value::{Decimal, Varint};

use crate::common::{self, cassbulk, psql};

/// The columns: name, PostgreSQL type, CQL type.
const COLUMNS: &[(&str, &str, &str)] = &[
    ("id", "text PRIMARY KEY", "text PRIMARY KEY"),
    ("t", "text", "text"),
    ("vc", "varchar(100)", "text"),
    ("ch", "char(3)", "text"),
    ("i2", "smallint", "smallint"),
    ("i4", "integer", "int"),
    ("i8", "bigint", "bigint"),
    ("num", "numeric", "decimal"),
    ("num_int", "numeric(60,0)", "varint"),
    ("r", "real", "float"),
    ("d", "double precision", "double"),
    ("b", "boolean", "boolean"),
    ("bin", "bytea", "blob"),
    ("u", "uuid", "uuid"),
    ("ts", "timestamp", "timestamp"),
    ("tstz", "timestamptz", "timestamp"),
    ("dt", "date", "date"),
    ("tm", "time", "time"),
    ("ip", "inet", "inet"),
    ("js", "json", "text"),
    ("jb", "jsonb", "text"),
    ("m", "{enum}", "text"),
    ("arr_text", "text[]", "list<text>"),
    ("arr_int", "integer[]", "set<int>"),
    ("updated_at", "timestamptz", "timestamp"),
];

/// One source row: for each column set, the SQL expression and the CQL value expected back.
struct TestRow {
    id: &'static str,
    updated_at: i64,
    cells: Vec<(&'static str, String, Value)>,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn text(col: &'static str, s: &str) -> (&'static str, String, Value) {
    (col, quote(s), Value::Text(s.to_owned()))
}

/// A timestamp `micros` after the epoch, in SQL. PostgreSQL multiplies intervals in float8, so
/// the seconds and the microseconds are added separately to stay exact.
fn epoch_plus(base: &str, micros: i64) -> String {
    format!(
        "'epoch'::{base} + interval '1 second' * {} + interval '1 microsecond' * {}",
        micros.div_euclid(1_000_000),
        micros.rem_euclid(1_000_000)
    )
}

fn timestamp(col: &'static str, micros: i64) -> (&'static str, String, Value) {
    let base = if col == "ts" {
        "timestamp"
    } else {
        "timestamptz"
    };
    (
        col,
        epoch_plus(base, micros),
        Value::Timestamp(micros.div_euclid(1000)),
    )
}

fn decimal(
    col: &'static str,
    s: &str,
    unscaled: &str,
    scale: i32,
) -> (&'static str, String, Value) {
    let v = Varint::from_bigint(&unscaled.parse().unwrap());
    let value = if scale == 0 && col == "num_int" {
        Value::Varint(v)
    } else {
        Value::Decimal(Decimal { unscaled: v, scale })
    };
    (col, quote(s), value)
}

fn rows() -> Vec<TestRow> {
    let big: String = "ab€🎵\t\\\n".repeat(70_000 / 12);
    vec![
        TestRow {
            id: "ordinary",
            updated_at: 1_794_997_800_123_456,
            cells: vec![
                text("t", "hello"),
                text("vc", "world"),
                ("ch", quote("ab"), Value::Text("ab ".into())),
                ("i2", "7".into(), Value::Smallint(7)),
                ("i4", "-7".into(), Value::Int(-7)),
                ("i8", "70000000000".into(), Value::Bigint(70_000_000_000)),
                decimal("num", "12.340", "12340", 3),
                decimal("num_int", "42", "42", 0),
                ("r", "1.5".into(), Value::Float(1.5)),
                ("d", "0.1".into(), Value::Double(0.1)),
                ("b", "true".into(), Value::Boolean(true)),
                (
                    "bin",
                    "'\\xdeadbeef'::bytea".into(),
                    Value::Blob(vec![0xde, 0xad, 0xbe, 0xef]),
                ),
                (
                    "u",
                    quote("123e4567-e89b-12d3-a456-426614174000"),
                    Value::Uuid([
                        0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66,
                        0x14, 0x17, 0x40, 0x00,
                    ]),
                ),
                timestamp("ts", 1_700_000_000_123_456),
                timestamp("tstz", 1_700_000_000_654_321),
                (
                    "dt",
                    "DATE '1970-01-01' + 20000".into(),
                    Value::Date(20_000),
                ),
                (
                    "tm",
                    "TIME '00:00' + interval '1 microsecond' * 45296789012".into(),
                    Value::Time(45_296_789_012_000),
                ),
                (
                    "ip",
                    quote("192.168.0.1"),
                    Value::Inet("192.168.0.1".parse().unwrap()),
                ),
                text("js", "{\"a\":  [1, 2]}"),
                text("jb", "{\"a\": [1, 2]}"),
                text("m", "happy"),
                (
                    "arr_text",
                    "ARRAY['x','y','x']".into(),
                    Value::List(vec![
                        Value::Text("x".into()),
                        Value::Text("y".into()),
                        Value::Text("x".into()),
                    ]),
                ),
                (
                    "arr_int",
                    "ARRAY[3,-5,0,3]".into(),
                    Value::Set(vec![Value::Int(-5), Value::Int(0), Value::Int(3)]),
                ),
            ],
        },
        TestRow {
            id: "hostile text",
            updated_at: 1_794_997_801_000_001,
            cells: vec![
                text(
                    "t",
                    "tab\there\nnew line\r\ncarriage\\back\\\\slash\u{b}\u{c}\u{8}",
                ),
                text("vc", "\\N"),
                text("js", "{\"k\": \"\\t\\\\N\"}"),
                text("m", "sad"),
                (
                    "arr_text",
                    format!(
                        "ARRAY[{}, {}, {}, {}, {}]::text[]",
                        quote("a,b"),
                        quote("c\"d"),
                        quote("e\\f"),
                        quote("NULL"),
                        quote("")
                    ),
                    Value::List(
                        ["a,b", "c\"d", "e\\f", "NULL", ""]
                            .map(|s| Value::Text(s.into()))
                            .to_vec(),
                    ),
                ),
            ],
        },
        TestRow {
            id: "null inside an array",
            updated_at: 1_794_997_808_000_008,
            cells: vec![("arr_text", "ARRAY['x', NULL]".into(), Value::List(vec![]))],
        },
        TestRow {
            id: "empty is not null",
            updated_at: 1_794_997_802_000_002,
            cells: vec![
                text("t", ""),
                text("js", "\"\""),
                ("arr_int", "'{}'::int[]".into(), Value::Set(vec![])),
            ],
        },
        TestRow {
            id: "unicode: مرحبا עולם 🎵👩‍👩‍👧",
            updated_at: 1_794_997_803_000_003,
            cells: vec![
                text(
                    "t",
                    "مرحبا بالعالم — שלום עולם — 🎵👩‍👩‍👧 — \u{202e}reversed\u{202c}",
                ),
                text("vc", "זה טקסט"),
            ],
        },
        TestRow {
            id: "seventy kilobytes",
            updated_at: 1_794_997_804_000_004,
            cells: vec![("t", quote(&big), Value::Text(big.clone()))],
        },
        TestRow {
            id: "maxima",
            updated_at: 1_794_997_805_000_005,
            cells: vec![
                ("i2", "32767".into(), Value::Smallint(i16::MAX)),
                ("i4", "2147483647".into(), Value::Int(i32::MAX)),
                ("i8", "9223372036854775807".into(), Value::Bigint(i64::MAX)),
                decimal(
                    "num",
                    "123456789012345678901234567890123456789012345678901234567890.123456789",
                    "123456789012345678901234567890123456789012345678901234567890123456789",
                    9,
                ),
                decimal(
                    "num_int",
                    "1000000000000000000000000000000000000000000000000000000000",
                    "1000000000000000000000000000000000000000000000000000000000",
                    0,
                ),
                ("r", "3.4028235e+38".into(), Value::Float(f32::MAX)),
                (
                    "d",
                    "1.7976931348623157e+308".into(),
                    Value::Double(f64::MAX),
                ),
                timestamp("ts", 253_402_300_799_999_999),
                timestamp("tstz", 300_000_000_000_000_000),
                (
                    "dt",
                    "DATE '1970-01-01' + 2932896".into(),
                    Value::Date(2_932_896),
                ),
                (
                    "tm",
                    "TIME '23:59:59.999999'".into(),
                    Value::Time(86_399_999_999_000),
                ),
                (
                    "ip",
                    quote("2001:db8::ff00:42:8329"),
                    Value::Inet("2001:db8::ff00:42:8329".parse().unwrap()),
                ),
                (
                    "bin",
                    "'\\x00ff5c'::bytea".into(),
                    Value::Blob(vec![0, 0xff, b'\\']),
                ),
            ],
        },
        TestRow {
            id: "minima",
            updated_at: 1_794_997_806_000_006,
            cells: vec![
                ("i2", "-32768".into(), Value::Smallint(i16::MIN)),
                ("i4", "-2147483648".into(), Value::Int(i32::MIN)),
                ("i8", "-9223372036854775808".into(), Value::Bigint(i64::MIN)),
                decimal(
                    "num",
                    "-0.000000000000000000000000000000000000000001",
                    "-1",
                    42,
                ),
                decimal(
                    "num_int",
                    "-99999999999999999999999999999999999999999999",
                    "-99999999999999999999999999999999999999999999",
                    0,
                ),
                ("r", "1e-45".into(), Value::Float(f32::from_bits(1))),
                ("d", "-5e-324".into(), Value::Double(-f64::from_bits(1))),
                ("b", "false".into(), Value::Boolean(false)),
                timestamp("ts", -1),
                timestamp("tstz", -100_000_000_000_000_000),
                (
                    "dt",
                    "DATE '1970-01-01' - 2000000".into(),
                    Value::Date(-2_000_000),
                ),
                ("tm", "TIME '00:00'".into(), Value::Time(0)),
                ("ip", quote("::1"), Value::Inet("::1".parse().unwrap())),
            ],
        },
        TestRow {
            id: "special floats",
            updated_at: 1_794_997_807_000_007,
            cells: vec![
                ("r", "'NaN'".into(), Value::Float(f32::NAN)),
                ("d", "'-Infinity'".into(), Value::Double(f64::NEG_INFINITY)),
            ],
        },
    ]
}

/// The rows expected in Cassandra: all but the one with a NULL inside an array, which a CQL
/// collection cannot hold and the loader must reject.
fn expected_rows() -> Vec<TestRow> {
    rows()
        .into_iter()
        .filter(|r| r.id != "null inside an array")
        .collect()
}

/// Creates and fills the PostgreSQL table `name`, with an enum of its own.
fn create_pg_table(name: &str) {
    let enum_name = format!("{name}_mood");
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(c, pg, _)| format!("{c} {}", pg.replace("{enum}", &enum_name)))
        .collect();
    let mut sql = format!(
        "DROP TABLE IF EXISTS {name}; DROP TYPE IF EXISTS {enum_name};\n\
         CREATE TYPE {enum_name} AS ENUM ('sad', 'ok', 'happy');\n\
         CREATE TABLE {name} ({});\n",
        columns.join(", ")
    );
    for row in rows() {
        let mut cols = vec!["id".to_owned(), "updated_at".to_owned()];
        let mut vals = vec![quote(row.id), epoch_plus("timestamptz", row.updated_at)];
        for (c, expr, _) in &row.cells {
            cols.push(c.to_string());
            vals.push(expr.clone());
        }
        sql += &format!(
            "INSERT INTO {name} ({}) VALUES ({});\n",
            cols.join(", "),
            vals.join(", ")
        );
    }
    psql(&sql);
}

async fn create_cql_table(session: &scylla::client::session::Session, ks: &str, name: &str) {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(c, _, cql)| format!("{c} {cql}"))
        .collect();
    common::run(
        session,
        &format!("CREATE TABLE {ks}.{name} ({})", columns.join(", ")),
    )
    .await;
}

/// Reads the table back and checks every cell and every simple cell's write time.
async fn assert_loaded(session: &scylla::client::session::Session, ks: &str, name: &str) {
    let names: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
    let simple: Vec<&str> = COLUMNS
        .iter()
        .filter(|c| !c.2.contains('<') && c.0 != "id")
        .map(|c| c.0)
        .collect();
    let select = format!(
        "SELECT {}, {} FROM {ks}.{name}",
        names.join(", "),
        simple
            .iter()
            .map(|c| format!("writetime({c})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let actual: HashMap<String, Vec<Option<Vec<u8>>>> = common::rows(session, &select)
        .await
        .into_iter()
        .map(|r| (String::from_utf8(r[0].clone().unwrap()).unwrap(), r))
        .collect();
    let expected = expected_rows();
    assert_eq!(
        actual.len(),
        expected.len(),
        "{name}: rows loaded: {:?}",
        actual.keys()
    );
    for row in expected {
        let got = actual
            .get(row.id)
            .unwrap_or_else(|| panic!("{name}: row {} missing", row.id));
        // An empty collection is no cells at all: it reads back as NULL.
        let mut want: HashMap<&str, Value> = row
            .cells
            .iter()
            .filter(|(_, _, v)| !matches!(v, Value::List(l) | Value::Set(l) if l.is_empty()))
            .map(|(c, _, v)| (*c, v.clone()))
            .collect();
        want.insert(
            "updated_at",
            Value::Timestamp(row.updated_at.div_euclid(1000)),
        );
        for (i, col) in names.iter().enumerate().skip(1) {
            let want_bytes = want.get(col).map(Value::to_bytes);
            assert_eq!(got[i], want_bytes, "{name}: row {:?} column {col}", row.id);
        }
        for (j, col) in simple.iter().enumerate() {
            let wt = got[names.len() + j]
                .as_ref()
                .map(|b| i64::from_be_bytes(b.as_slice().try_into().unwrap()));
            let expected_wt = want.contains_key(col).then_some(row.updated_at);
            assert_eq!(wt, expected_wt, "{name}: row {:?} writetime({col})", row.id);
        }
    }
}

fn load(dump: &Path, source_table: &str, target: &str, extra: &[&str]) -> std::process::Output {
    cassbulk()
        .arg("load")
        .arg(dump)
        .args([
            "--source-table",
            source_table,
            "--table",
            target,
            "--no-progress",
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "cassbulk failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn every_type_and_hostile_values_load_cell_for_cell_from_all_three_dump_formats() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "pg_types").await;
    let pg_table = format!("every_type_{}", ks.trim_start_matches("cb_"));
    create_pg_table(&pg_table);
    let dir = tempfile::tempdir().unwrap();
    for (format, flag, file) in [
        ("plain", "-Fp", "dump.sql"),
        ("custom", "-Fc", "dump.pgdump"),
        ("directory", "-Fd", "dump.dir"),
    ] {
        let path = dir.path().join(format!("{format}-{file}"));
        common::postgres(&["dump", flag, "-t", &pg_table, "-f", path.to_str().unwrap()]);
        let target = format!("every_type_{format}");
        create_cql_table(&session, &ks, &target).await;
        let rejects = dir.path().join(format!("{format}.rejects"));
        let out = load(
            &path,
            &format!("public.{pg_table}"),
            &format!("{ks}.{target}"),
            &[
                "--writetime-column",
                "updated_at",
                "--rejects",
                rejects.to_str().unwrap(),
            ],
        );
        assert_success(&out);
        assert_loaded(&session, &ks, &target).await;
        // The one row with a NULL inside an array is rejected, with its line and reason.
        let rejected = std::fs::read_to_string(&rejects).unwrap();
        assert_eq!(rejected.lines().count(), 1, "{format}: {rejected}");
        let reject: serde_json::Value = serde_json::from_str(rejected.trim()).unwrap();
        assert_eq!(reject["column"], "arr_text", "{format}");
        assert!(
            reject["reason"].as_str().unwrap().contains("NULL element"),
            "{format}: {reject}"
        );
        assert!(reject["line"].as_u64().unwrap() > 0, "{format}");
        let summary = String::from_utf8_lossy(&out.stderr);
        assert!(
            summary.contains("9 rows read, 8 written, 1 rejected"),
            "{format}: {summary}"
        );
    }
}

#[tokio::test]
async fn reloading_changes_nothing_and_newer_live_writes_keep_winning() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "pg_reload").await;
    let pg_table = format!("reload_{}", ks.trim_start_matches("cb_"));
    psql(&format!(
        "DROP TABLE IF EXISTS {pg_table}; CREATE TABLE {pg_table} (username text PRIMARY KEY, email text, premium boolean);
         INSERT INTO {pg_table} SELECT 'user' || i, 'user' || i || '@example.com', i % 2 = 0 FROM generate_series(1, 500) i;"
    ));
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("accounts.pgdump");
    common::postgres(&["dump", "-Fc", "-t", &pg_table, "-f", dump.to_str().unwrap()]);
    common::run(
        &session,
        &format!(
            "CREATE TABLE {ks}.accounts (username text PRIMARY KEY, email text, premium boolean)"
        ),
    )
    .await;
    let target = format!("{ks}.accounts");

    // No write-time flag: the archive's creation time is the write time.
    assert_success(&load(&dump, &pg_table, &target, &[]));
    let select = format!("SELECT username, email, premium, writetime(email) FROM {target}");
    let mut first = common::rows(&session, &select).await;
    first.sort();
    assert_eq!(first.len(), 500);
    let created = i64::from_be_bytes(first[0][3].clone().unwrap().try_into().unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    assert!(
        created <= now && created > now - 3_600_000_000,
        "write time {created} is the dump's creation time"
    );
    assert!(
        first.iter().all(|r| r[3] == first[0][3]),
        "every row has the archive's time"
    );

    // The live service writes after the dump (a newer timestamp): the reload must not undo it.
    common::run(
        &session,
        &format!("UPDATE {target} SET email = 'new@example.com' WHERE username = 'user7'"),
    )
    .await;
    assert_success(&load(&dump, &pg_table, &target, &[]));
    let mut second = common::rows(&session, &select).await;
    second.sort();
    for (a, b) in first.iter().zip(&second) {
        if a[0].as_deref() == Some(b"user7") {
            assert_eq!(
                b[1].as_deref(),
                Some(&b"new@example.com"[..]),
                "the newer live write wins"
            );
        } else {
            assert_eq!(a, b, "reloading changed nothing");
        }
    }
}

#[tokio::test]
async fn a_truncated_archive_and_a_malformed_plain_dump_fail_clearly_without_a_panic() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "pg_corrupt").await;
    common::run(&session, &format!(
        "CREATE TABLE {ks}.accounts (username text PRIMARY KEY, email text, country text, created timestamp, last_updated timestamp, premium boolean, accepted_licences set<text>, bio text, user_id uuid, birth_year smallint, balance decimal, login_count bigint)"
    )).await;
    let target = format!("{ks}.accounts");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/accounts");
    let dir = tempfile::tempdir().unwrap();

    let archive = std::fs::read(fixture.join("accounts.dump")).unwrap();
    for cut in [archive.len() / 3, archive.len() - 10] {
        let truncated = dir.path().join(format!("truncated-{cut}.dump"));
        std::fs::write(&truncated, &archive[..cut]).unwrap();
        let out = load(
            &truncated,
            "accounts",
            &target,
            &["--writetime-column", "last_updated"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains(truncated.to_str().unwrap()),
            "names the file: {stderr}"
        );
        assert!(stderr.contains("byte"), "names the byte offset: {stderr}");
    }

    // A COPY block cut off before its end marker: refused, not half-read.
    let plain = std::fs::read_to_string(fixture.join("accounts.plain.sql")).unwrap();
    let cut = plain.find("\\.\n").unwrap();
    let unterminated = dir.path().join("unterminated.sql");
    std::fs::write(&unterminated, &plain[..cut]).unwrap();
    let out = load(
        &unterminated,
        "accounts",
        &target,
        &["--writetime-column", "last_updated"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A plain dump without a snapshot time and no write-time flag: told which flag to add.
    let out = load(
        &fixture.join("accounts.plain.sql"),
        "accounts",
        &target,
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--writetime"), "{stderr}");

    // Nothing was written by the refused loads.
    assert!(
        common::rows(&session, &format!("SELECT username FROM {target}"))
            .await
            .is_empty()
    );

    // Malformed lines are rejected with their line numbers; the rest loads; too many stop the run.
    let mut lines: Vec<&str> = plain.lines().collect();
    let copy = lines.iter().position(|l| l.starts_with("COPY ")).unwrap();
    lines[copy + 3] = "only\tthree\tfields";
    lines[copy + 5] =
        "bad_row\tx@y\tSE\tnot a timestamp\t2026-11-18 10:30:00+00\tt\t{}\t\\N\t\\N\t\\N\t\\N\t\\N";
    let malformed = dir.path().join("malformed.sql");
    std::fs::write(&malformed, lines.join("\n") + "\n").unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let out = load(
        &malformed,
        "accounts",
        &target,
        &[
            "--writetime-column",
            "last_updated",
            "--rejects",
            rejects.to_str().unwrap(),
        ],
    );
    assert_success(&out);
    let rejected: Vec<serde_json::Value> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert_eq!(rejected[0]["line"].as_u64(), Some(copy as u64 + 4));
    assert_eq!(rejected[1]["line"].as_u64(), Some(copy as u64 + 6));
    assert_eq!(rejected[1]["column"], "created");
    let loaded = common::rows(&session, &format!("SELECT username FROM {target}")).await;
    assert_eq!(loaded.len(), 198, "200 rows in the fixture, 2 rejected");
    let out = load(
        &malformed,
        "accounts",
        &target,
        &["--writetime-column", "last_updated", "--max-errors", "1"],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than --max-errors 1"));
}

#[tokio::test]
async fn ttls_come_from_a_flag_or_a_column_and_nulls_delete_only_when_asked() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "pg_ttl").await;
    let pg = format!("ttl_{}", ks.trim_start_matches("cb_"));
    let written = 1_790_000_000_000_000i64;
    psql(&format!(
        "DROP TABLE IF EXISTS {pg}; CREATE TABLE {pg} (username text PRIMARY KEY, email text, ttl_s int);
         INSERT INTO {pg} VALUES ('a', 'a@x', 600), ('b', NULL, NULL), ('c', 'c@x', 0);"
    ));
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("ttl.pgdump");
    common::postgres(&["dump", "-Fc", "-t", &pg, "-f", dump.to_str().unwrap()]);
    let at = written.to_string();
    for t in [
        "flag",
        "column",
        "deleting",
        "keeping",
        "bulk_flag",
        "bulk_column",
    ] {
        common::run(
            &session,
            &format!("CREATE TABLE {ks}.{t} (username text PRIMARY KEY, email text)"),
        )
        .await;
    }
    // An older value for b, which a NULL in the dump deletes only with --nulls delete.
    for t in ["deleting", "keeping"] {
        common::run(
            &session,
            &format!(
                "INSERT INTO {ks}.{t} (username, email) VALUES ('b', 'old@x') USING TIMESTAMP {}",
                written - 10
            ),
        )
        .await;
    }
    // ttl_s fills no column of the table: the dump's column would be dropped, so it is refused
    // before anything is written until --ignore-columns says that is meant.
    let refused = load(
        &dump,
        &pg,
        &format!("{ks}.flag"),
        &["--writetime", &at, "--ttl", "3600"],
    );
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("source column(s) ttl_s fill no column of")
            && stderr.contains("--ignore-columns ttl_s"),
        "{stderr}"
    );
    let out = load(
        &dump,
        &pg,
        &format!("{ks}.flag"),
        &[
            "--writetime",
            &at,
            "--ttl",
            "3600",
            "--ignore-columns",
            "ttl_s",
        ],
    );
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2 of 2 table columns filled: username, email")
            && stderr.contains("source columns left out (--ignore-columns): ttl_s"),
        "{stderr}"
    );
    assert_success(&load(
        &dump,
        &pg,
        &format!("{ks}.column"),
        &["--writetime", &at, "--ttl-column", "ttl_s"],
    ));
    // The write time is weeks old and the TTLs an hour or less: counted from the write time the
    // cells would be long expired. Both routes count them from the load, as `USING TTL` does.
    let staging = tempfile::tempdir().unwrap();
    let nodetool = format!("{}/scripts/cassandra nodetool", env!("CARGO_MANIFEST_DIR"));
    let bulk = [
        "--via",
        "sstable",
        "--stream",
        "import",
        "--nodetool",
        &nodetool,
        "--sstable-dir",
        staging.path().to_str().unwrap(),
    ];
    let flagged = [
        "--writetime",
        &at,
        "--ttl",
        "3600",
        "--ignore-columns",
        "ttl_s",
    ];
    assert_success(&load(
        &dump,
        &pg,
        &format!("{ks}.bulk_flag"),
        &[&flagged[..], &bulk[..]].concat(),
    ));
    let from_column = ["--writetime", &at, "--ttl-column", "ttl_s"];
    assert_success(&load(
        &dump,
        &pg,
        &format!("{ks}.bulk_column"),
        &[&from_column[..], &bulk[..]].concat(),
    ));
    assert_success(&load(
        &dump,
        &pg,
        &format!("{ks}.deleting"),
        &[
            "--writetime",
            &at,
            "--nulls",
            "delete",
            "--ignore-columns",
            "ttl_s",
        ],
    ));
    assert_success(&load(
        &dump,
        &pg,
        &format!("{ks}.keeping"),
        &["--writetime", &at, "--ignore-columns", "ttl_s"],
    ));

    let ttl = |rows: &[Vec<Option<Vec<u8>>>], user: &str| -> Option<i32> {
        rows.iter()
            .find(|r| r[0].as_deref() == Some(user.as_bytes()))
            .unwrap_or_else(|| panic!("row {user} missing"))[1]
            .as_ref()
            .map(|b| i32::from_be_bytes(b.as_slice().try_into().unwrap()))
    };
    let flag = common::rows(
        &session,
        &format!("SELECT username, ttl(email) FROM {ks}.flag"),
    )
    .await;
    assert!(
        ttl(&flag, "a").is_some_and(|t| t > 3500 && t <= 3600),
        "{:?}",
        ttl(&flag, "a")
    );
    let column = common::rows(
        &session,
        &format!("SELECT username, ttl(email) FROM {ks}.column"),
    )
    .await;
    assert!(
        ttl(&column, "a").is_some_and(|t| t > 500 && t <= 600),
        "{:?}",
        ttl(&column, "a")
    );
    assert_eq!(ttl(&column, "c"), None, "a TTL of 0 means none");
    for (table, full) in [("bulk_flag", 3600), ("bulk_column", 600)] {
        let rows = common::rows(
            &session,
            &format!("SELECT username, ttl(email), writetime(email) FROM {ks}.{table}"),
        )
        .await;
        assert!(
            ttl(&rows, "a").is_some_and(|t| t > full - 100 && t <= full),
            "{table} through SSTables: {:?}",
            ttl(&rows, "a")
        );
        let a = rows
            .iter()
            .find(|r| r[0].as_deref() == Some(&b"a"[..]))
            .unwrap();
        let writetime = i64::from_be_bytes(a[2].as_deref().unwrap().try_into().unwrap());
        assert_eq!(
            writetime, written,
            "{table}: the write time stays the dump's"
        );
    }
    assert_eq!(
        ttl(
            &common::rows(
                &session,
                &format!("SELECT username, ttl(email) FROM {ks}.bulk_column")
            )
            .await,
            "c"
        ),
        None
    );

    let email = |rows: &[Vec<Option<Vec<u8>>>]| {
        rows.iter()
            .find(|r| r[0].as_deref() == Some(&b"b"[..]))
            .unwrap()[1]
            .clone()
    };
    let deleting = common::rows(
        &session,
        &format!("SELECT username, email FROM {ks}.deleting"),
    )
    .await;
    assert_eq!(
        email(&deleting),
        None,
        "--nulls delete wrote a deletion at the row's time"
    );
    let keeping = common::rows(
        &session,
        &format!("SELECT username, email FROM {ks}.keeping"),
    )
    .await;
    assert_eq!(
        email(&keeping),
        Some(b"old@x".to_vec()),
        "by default NULL leaves the column as it was"
    );
}

#[tokio::test]
async fn wide_partitions_are_written_in_batches_that_stay_within_one_partition() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "pg_wide").await;
    let cql = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/messenger/messenger.cql"),
    )
    .unwrap()
    .replace("{{keyspace}}", &ks);
    let ddl: String = cql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .map(|l| l.split("--").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    common::run(&session, ddl.trim().trim_end_matches(';')).await;
    let dump = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/messenger/messages.dump");
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let out = load(
        &dump,
        "messages",
        &format!("{ks}.messages"),
        &[
            "--writetime-column",
            "sent_at_us",
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    );
    assert_success(&out);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(summary["rows_written"], 1619);
    assert!(summary["batches"].as_u64().unwrap() > 10, "{summary}");
    assert!(summary["statements"].as_u64().unwrap() == 1619, "{summary}");
    // The widest conversation arrives whole, newest first, each message written at its own time.
    let rows = common::rows(
        &session,
        &format!("SELECT conversation_id, sent_at_us, writetime(payload) FROM {ks}.messages"),
    )
    .await;
    let mut per_conversation: HashMap<Vec<u8>, usize> = HashMap::new();
    for r in &rows {
        *per_conversation.entry(r[0].clone().unwrap()).or_default() += 1;
        assert_eq!(r[1], r[2], "writetime(payload) = sent_at_us");
    }
    let mut sizes: Vec<usize> = per_conversation.values().copied().collect();
    sizes.sort_unstable();
    assert_eq!(&sizes[sizes.len() - 3..], [300, 400, 500]);
}

/// PostgreSQL -> pg_dump -> cassbulk load -> Cassandra -> cassbulk dump pgcopy -> `COPY` into a
/// fresh PostgreSQL table gives back the original table: every mapped type and the hostile text,
/// timestamps at Cassandra's millisecond precision, empty arrays as NULL (Cassandra keeps no
/// empty collection) and the array loaded into a set as a set. The row the load rejects (a NULL
/// inside an array) is the one left out.
#[tokio::test]
async fn a_table_comes_back_to_postgresql_unchanged_through_cassandra_and_a_pgcopy_dump() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "pg_back").await;
    let pg_table = format!("round_trip_{}", ks.trim_start_matches("cb_"));
    create_pg_table(&pg_table);
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("dump.pgdump");
    common::postgres(&["dump", "-Fc", "-t", &pg_table, "-f", dump.to_str().unwrap()]);
    create_cql_table(&session, &ks, "accounts").await;
    assert_success(&load(
        &dump,
        &format!("public.{pg_table}"),
        &format!("{ks}.accounts"),
        &["--writetime-column", "updated_at"],
    ));
    let names: Vec<&str> = COLUMNS.iter().map(|c| c.0).collect();
    let out = dir.path().join("out");
    let dumped = cassbulk()
        .args([
            "dump",
            &format!("cql://{}/{ks}.accounts", common::hosts()),
            "--format",
            "pgcopy",
            "--columns",
            &names.join(","),
            "--no-progress",
            "--to",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_success(&dumped);
    assert!(out.join("_SUCCESS").exists());
    let back = format!("{pg_table}_back");
    psql(&format!(
        "CREATE TABLE {back} (LIKE {pg_table});\n\\copy {back} FROM '{}'\n",
        out.join("part-00000.pgcopy").display()
    ));
    let normalized: Vec<String> = COLUMNS
        .iter()
        .map(|(c, pg, _)| match *pg {
            "timestamp" | "timestamptz" => format!("date_trunc('milliseconds', {c})::text"),
            // Loaded into a set<int>: its elements come back sorted and once each.
            "integer[]" => {
                format!("(SELECT array_agg(DISTINCT x ORDER BY x) FROM unnest({c}) x)::text")
            }
            p if p.ends_with("[]") => format!("NULLIF({c}, '{{}}')::text"),
            _ => format!("{c}::text"),
        })
        .collect();
    let select = |table: &str| format!("SELECT {} FROM {table}", normalized.join(", "));
    let original = format!("{} WHERE id <> 'null inside an array'", select(&pg_table));
    let differing = common::postgres(&[
        "psql",
        "-tAc",
        &format!(
            "SELECT (SELECT count(*) FROM ({original} EXCEPT {}) a), \
             (SELECT count(*) FROM ({} EXCEPT {original}) b), \
             (SELECT count(*) FROM {back})",
            select(&back),
            select(&back)
        ),
    ]);
    let expected = expected_rows().len();
    assert_eq!(differing.trim(), format!("0|0|{expected}"));
}

/// Columns of domain types load as their base types (`CREATE DOMAIN year AS integer` into a CQL
/// `int`), domains over domains and arrays of a domain too, from plain and custom dumps of a
/// schema (a dump of the table alone has no domains).
#[tokio::test]
async fn domain_columns_load_as_their_base_types_from_plain_and_custom_dumps() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "pg_domains").await;
    let schema = format!("dom_{}", ks.trim_start_matches("cb_"));
    common::psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE;
         CREATE SCHEMA {schema};
         CREATE DOMAIN {schema}.year AS integer CONSTRAINT recent CHECK (VALUE > 1900);
         CREATE DOMAIN {schema}.born AS {schema}.year NOT NULL;
         CREATE DOMAIN {schema}.tag AS character varying(10);
         CREATE TABLE {schema}.films (id integer PRIMARY KEY, made {schema}.year,
             born {schema}.born, tags {schema}.tag[], title text);
         INSERT INTO {schema}.films VALUES (1, 1999, 1950, ARRAY['noir', 'rain'], 'one'),
             (2, NULL, 1960, NULL, 'two');"
    ));
    let dir = tempfile::tempdir().unwrap();
    for (format, flag) in [("plain", "-Fp"), ("custom", "-Fc")] {
        let path = dir.path().join(format!("{format}.dump"));
        common::postgres(&["dump", flag, "-n", &schema, "-f", path.to_str().unwrap()]);
        let target = format!("films_{format}");
        common::run(
            &session,
            &format!(
                "CREATE TABLE {ks}.{target} (id int PRIMARY KEY, made int, born int, \
                 tags list<text>, title text)"
            ),
        )
        .await;
        let out = load(
            &path,
            &format!("{schema}.films"),
            &format!("{ks}.{target}"),
            &["--writetime", "1700000000000000"],
        );
        assert_success(&out);
        let rows = common::rows(
            &session,
            &format!("SELECT id, made, born, tags, title FROM {ks}.{target}"),
        )
        .await;
        let mut rows: Vec<_> = rows
            .into_iter()
            .map(|r| {
                let int = |v: &Option<Vec<u8>>| {
                    v.as_ref()
                        .map(|b| i32::from_be_bytes(b[..4].try_into().unwrap()))
                };
                (
                    int(&r[0]),
                    int(&r[1]),
                    int(&r[2]),
                    r[3].is_some(),
                    r[4].clone(),
                )
            })
            .collect();
        rows.sort();
        assert_eq!(
            rows,
            vec![
                (Some(1), Some(1999), Some(1950), true, Some(b"one".to_vec())),
                (Some(2), None, Some(1960), false, Some(b"two".to_vec())),
            ],
            "{format}"
        );
    }
}

/// A partitioned table's rows are in its partitions, which pg_dump writes as tables of their
/// own: `--source-table` of the parent is refused (exit 2) naming them, in plain and custom
/// dumps, and a partition loads.
#[tokio::test]
async fn a_partitioned_parent_is_refused_naming_its_partitions_and_a_partition_loads() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "pg_partitioned").await;
    let schema = format!("part_{}", ks.trim_start_matches("cb_"));
    common::psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE;
         CREATE SCHEMA {schema};
         CREATE TABLE {schema}.payment (id integer NOT NULL, at date NOT NULL, amount integer)
             PARTITION BY RANGE (at);
         CREATE TABLE {schema}.payment_2022 PARTITION OF {schema}.payment
             FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');
         CREATE TABLE {schema}.payment_2023 PARTITION OF {schema}.payment
             FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
         INSERT INTO {schema}.payment VALUES (1, '2022-05-01', 10), (2, '2023-05-01', 20);"
    ));
    common::run(
        &session,
        &format!("CREATE TABLE {ks}.payment (id int PRIMARY KEY, at date, amount int)"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    for (format, flag) in [("plain", "-Fp"), ("custom", "-Fc")] {
        let path = dir.path().join(format!("{format}.dump"));
        common::postgres(&["dump", flag, "-n", &schema, "-f", path.to_str().unwrap()]);
        let out = load(
            &path,
            &format!("{schema}.payment"),
            &format!("{ks}.payment"),
            &["--writetime", "1700000000000000"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{format}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "{schema}.payment is a partitioned table: its rows are in its partitions ({schema}.payment_2022, {schema}.payment_2023)"
            )),
            "{format}: {stderr}"
        );
        let out = load(
            &path,
            &format!("{schema}.payment_2023"),
            &format!("{ks}.payment"),
            &["--writetime", "1700000000000000"],
        );
        assert_success(&out);
    }
    let rows = common::rows(&session, &format!("SELECT id FROM {ks}.payment")).await;
    assert_eq!(rows, vec![vec![Some(2i32.to_be_bytes().to_vec())]]);
}

/// Two nights of one table: the second night's dump loaded `--since` the first night's newest
/// write time leaves out the rows that did not change (and says how many), and leaves the table
/// equal, values and write times, to a full load of the second dump.
#[tokio::test]
async fn a_delta_load_since_last_night_writes_only_the_changed_rows_and_ends_like_a_full_load() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "pg_delta").await;
    let schema = format!("delta_{}", ks.trim_start_matches("cb_"));
    common::psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE;
         CREATE SCHEMA {schema};
         CREATE TABLE {schema}.users (id integer PRIMARY KEY, name text, updated timestamptz);
         INSERT INTO {schema}.users
             SELECT i, 'user ' || i, timestamptz '2026-12-01 00:00:00+00' + i * interval '1 minute'
             FROM generate_series(1, 20) i;"
    ));
    let dir = tempfile::tempdir().unwrap();
    let night = |n: u32| {
        let path = dir.path().join(format!("night{n}.dump"));
        common::postgres(&["dump", "-Fc", "-n", &schema, "-f", path.to_str().unwrap()]);
        path
    };
    let first = night(1);
    common::psql(&format!(
        "UPDATE {schema}.users SET name = 'renamed', updated = '2026-12-02 08:00:00+00'
             WHERE id IN (3, 7);
         INSERT INTO {schema}.users VALUES (21, 'new', '2026-12-02 09:00:00+00');"
    ));
    let second = night(2);
    for table in ["delta", "complete"] {
        common::run(
            &session,
            &format!("CREATE TABLE {ks}.{table} (id int PRIMARY KEY, name text)"),
        )
        .await;
    }
    let users = format!("{schema}.users");
    let by_updated = ["--writetime-column", "updated"];
    assert_success(&load(&first, &users, &format!("{ks}.delta"), &by_updated));
    // The first night's newest write: user 20's, 2026-12-01 00:20.
    let since = [&by_updated[..], &["--since", "2026-12-01T00:20:00Z"]].concat();
    let out = load(&second, &users, &format!("{ks}.delta"), &since);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("17 rows older than it left out"),
        "users 1 to 19 but 3 and 7 are older than --since (20 is at it): {stderr}"
    );
    assert_success(&load(
        &second,
        &users,
        &format!("{ks}.complete"),
        &by_updated,
    ));
    let state = |table: &'static str| {
        let session = &session;
        let ks = &ks;
        async move {
            let mut rows = common::rows(
                session,
                &format!("SELECT id, name, writetime(name) FROM {ks}.{table}"),
            )
            .await;
            rows.sort();
            rows
        }
    };
    let (delta, full) = (state("delta").await, state("complete").await);
    assert_eq!(delta.len(), 21);
    assert_eq!(delta, full);
    common::psql(&format!("DROP SCHEMA {schema} CASCADE"));
}

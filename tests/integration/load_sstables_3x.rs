//! Cassandra 3.0 and 3.11 SSTables (`ma` to `me`), and 5.0's development format `nc`, written by
//! Cassandra's own offline writer (`fixtures/sstables-3x/make`), loaded into Cassandra 5.0 tables
//! on Murmur3Partitioner. The
//! referee is the 5.0 node itself: `nodetool import` of the same files into a table of the same
//! shape, read back over CQL. Both must read back equal: every value, `writetime()` of every
//! column and `ttl()` of the simple ones (within seconds: both count down from the same expiry).

use std::path::{Path, PathBuf};

use cassbulk::model::TableName;
use cassbulk::model::schema_cql::table_from_cql;

use crate::common::{self, cassbulk};
use crate::load_sstables::load;

const LETTERS: [&str; 5] = ["ma", "mb", "mc", "md", "me"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sstables-3x")
}

/// The fixture folders of `letter` whose table name starts with `prefix`, with that name.
fn folders(letter: &str, prefix: &str) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(fixtures().join(letter))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_owned();
            let table = name.split_once('-')?.0.to_owned();
            table.starts_with(prefix).then_some((table, p))
        })
        .collect();
    out.sort();
    out
}

/// The fixture's schema (`schema-TABLE.cql`) as CQL for 5.0: in keyspace `ks`, the table named
/// `as_table`, types created if missing; `COMPACT STORAGE` (which 5.0 has not) replaced by
/// `replace_compact` when given.
fn schema_cql(letter: &str, table: &str, ks: &str, as_table: &str) -> Vec<String> {
    std::fs::read_to_string(fixtures().join(letter).join(format!("schema-{table}.cql")))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(&format!("legacy.{table} "), &format!("{ks}.{as_table} "))
        .replace(&format!("legacy.{table}("), &format!("{ks}.{as_table}("))
        .replace(
            "CREATE TYPE legacy.",
            &format!("CREATE TYPE IF NOT EXISTS {ks}."),
        )
        .replace("legacy.", &format!("{ks}."))
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The 5.0 node reads `dir`'s SSTables into `ks.table` (a copy of them: import moves files).
fn referee_import(dir: &Path, ks: &str, table: &str) {
    // Not a hidden folder (tempfile's default `.tmpXXXX`): the node finds no SSTables there.
    let copy = tempfile::Builder::new()
        .prefix("referee")
        .tempdir()
        .unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
    }
    common::cassandra(
        &[
            "nodetool",
            "import",
            ks,
            table,
            copy.path().to_str().unwrap(),
        ],
        None,
    );
}

/// Every row of `ks.table`: every column, then `writetime()` of every column outside the
/// primary key, then `ttl()` of the simple ones. `columns` comes from the fixture's schema.
async fn state(
    session: &scylla::client::session::Session,
    ks: &str,
    table: &str,
    schema: &cassbulk::model::TableSchema,
) -> (Vec<Vec<Option<Vec<u8>>>>, usize) {
    use cassbulk::model::ColumnKind;
    let names: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    let outside: Vec<&cassbulk::model::ColumnSchema> = schema
        .columns
        .iter()
        .filter(|c| matches!(c.kind, ColumnKind::Regular | ColumnKind::Static))
        .collect();
    let mut select: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    select.extend(outside.iter().map(|c| format!("writetime({})", c.name)));
    let ttls_from = select.len();
    select.extend(
        outside
            .iter()
            .filter(|c| !c.cql_type.is_multi_cell())
            .map(|c| format!("ttl({})", c.name)),
    );
    let mut rows = common::rows(
        session,
        &format!("SELECT {} FROM {ks}.{table}", select.join(", ")),
    )
    .await;
    rows.sort();
    (rows, ttls_from)
}

/// Asserts two tables' states are equal, TTLs within a few seconds of each other, or (with
/// `shorter`) the loaded ones no longer than the reference's, which counted from later.
fn assert_same(
    what: &str,
    shorter: bool,
    (got, ttls_from): &(Vec<Vec<Option<Vec<u8>>>>, usize),
    (want, _): &(Vec<Vec<Option<Vec<u8>>>>, usize),
) {
    assert_eq!(got.len(), want.len(), "{what}: rows");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(
            g[..*ttls_from],
            w[..*ttls_from],
            "{what}: values and write times of a row"
        );
        for (a, b) in g[*ttls_from..].iter().zip(&w[*ttls_from..]) {
            let secs = |v: &Option<Vec<u8>>| {
                v.as_ref()
                    .map(|b| i64::from(i32::from_be_bytes(b[..4].try_into().unwrap())))
            };
            match (secs(a), secs(b)) {
                (None, None) => {}
                (Some(a), Some(b)) if shorter => assert!(a > 0 && a <= b, "{what}: ttl {a} vs {b}"),
                (Some(a), Some(b)) => assert!((a - b).abs() <= 10, "{what}: ttl {a} vs {b}"),
                other => panic!("{what}: ttl {other:?}"),
            }
        }
    }
}

fn schema_of(letter: &str, table: &str) -> cassbulk::model::TableSchema {
    let script =
        std::fs::read_to_string(fixtures().join(letter).join(format!("schema-{table}.cql")))
            .unwrap();
    table_from_cql(
        &script,
        &TableName::parse(&format!("legacy.{table}")).unwrap(),
    )
    .unwrap()
}

/// `dump --format csv` of `letter`'s fixture folder `dir` (table `table`), offline with the
/// fixture's schema, equals the dump of `ks.referee` over CQL, write times included.
fn assert_dumps_alike(letter: &str, table: &str, dir: &Path, ks: &str, referee: &str) {
    let dumps = tempfile::tempdir().unwrap();
    let offline = dumps.path().join("offline");
    let online = dumps.path().join("online");
    let dump = |to: &Path| {
        let mut command = cassbulk();
        command.args([
            "dump",
            "--format",
            "csv",
            "--with-writetime",
            "--no-progress",
            "--to",
        ]);
        command.arg(to);
        command
    };
    common::succeeded(
        &dump(&offline)
            .args(["--table", &format!("legacy.{table}"), "--schema"])
            .arg(fixtures().join(letter).join(format!("schema-{table}.cql")))
            .arg(dir)
            .output()
            .unwrap(),
    );
    common::succeeded(
        &dump(&online)
            .arg(format!("cql://{}/{ks}.{referee}", common::hosts()))
            .output()
            .unwrap(),
    );
    let csv = |dir: &Path| std::fs::read_to_string(dir.join("part-00000.csv")).unwrap();
    let (a, b) = (csv(&offline), csv(&online));
    assert!(a.lines().count() > 50, "{letter} {table}: {a}");
    assert_eq!(
        a, b,
        "{letter} {table}: the offline dump of the files and the dump of the node's table"
    );
}

#[tokio::test]
async fn every_type_loads_and_dumps_from_ma_to_me_and_nc_as_the_node_reads_the_same_files() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "sst3x").await;
    let mut checked = 0;
    // nc (5.0-alpha2): one LZ4 every_type, in seven SSTables (one per statement shape).
    for letter in LETTERS.into_iter().chain(["nc"]) {
        // LZ4 (the default), Snappy, Deflate and uncompressed copies of the same writes.
        for (table, dir) in folders(letter, "every_type") {
            let schema = schema_of(letter, &table);
            let (referee, loaded) = (format!("{table}_{letter}_ref"), format!("{table}_{letter}"));
            for name in [&referee, &loaded] {
                for statement in schema_cql(letter, &table, &ks, name) {
                    common::run(&session, &statement).await;
                }
            }
            referee_import(&dir, &ks, &referee);
            let out = load(&format!("{ks}.{loaded}"), &dir, &[]);
            let stderr = common::succeeded(&out);
            assert!(
                stderr.contains("SSTables written under Murmur3Partitioner"),
                "{stderr}"
            );
            let want = state(&session, &ks, &referee, &schema).await;
            assert!(
                want.0.len() >= 50,
                "{letter} {table}: {} rows",
                want.0.len()
            );
            let got = state(&session, &ks, &loaded, &schema).await;
            assert_same(&format!("{letter} {table}"), false, &got, &want);
            if table == "every_type" {
                assert_dumps_alike(letter, &table, &dir, &ks, &referee);
            }
            checked += 1;
        }
    }
    assert_eq!(
        checked, 21,
        "four copies of every_type for each of five versions, and nc's"
    );
}

#[tokio::test]
async fn random_and_byte_ordered_partitioner_tables_migrate_into_murmur3_every_row_readable_by_key()
{
    let session = common::session().await;
    let ks = common::keyspace(&session, "sst3x_rp").await;
    let sources = LETTERS
        .map(|letter| (letter, "random_partitioner", "RandomPartitioner"))
        .into_iter()
        .chain([("nc", "byte_ordered", "ByteOrderedPartitioner")]);
    for (letter, prefix, partitioner) in sources {
        let (table, dir) = folders(letter, prefix).remove(0);
        let loaded = format!("{table}_{letter}");
        let reference = format!("{table}_{letter}_ref");
        for name in [&loaded, &reference] {
            for statement in schema_cql(letter, &table, &ks, name) {
                common::run(&session, &statement).await;
            }
        }
        // A Murmur3 node cannot import these files: the referee is the writes themselves, sent
        // over CQL.
        let writes =
            std::fs::read_to_string(fixtures().join(letter).join(format!("writes-{table}.cql")))
                .unwrap();
        for statement in writes
            .lines()
            .filter(|l| !l.starts_with("--") && !l.trim().is_empty())
        {
            let statement = statement
                .trim()
                .trim_end_matches(';')
                .replace(&format!("legacy.{table} "), &format!("{ks}.{reference} "));
            common::run(&session, &statement).await;
        }
        let out = load(&format!("{ks}.{loaded}"), &dir, &[]);
        let stderr = common::succeeded(&out);
        assert!(
            stderr.contains(&format!(
                "written under {partitioner}: every token is computed again"
            )),
            "{stderr}"
        );
        let schema = schema_of(letter, &table);
        let want = state(&session, &ks, &reference, &schema).await;
        let got = state(&session, &ks, &loaded, &schema).await;
        assert_eq!(want.0.len(), 200, "{letter} {table}: the writes replayed");
        assert_same(&format!("{letter} {table}"), true, &got, &want);
        // Each row by its key: the node finds it on the token Murmur3 gives it.
        for row in &want.0 {
            let id = i32::from_be_bytes(row[0].as_deref().unwrap().try_into().unwrap());
            let found = common::rows(
                &session,
                &format!("SELECT id FROM {ks}.{loaded} WHERE id = {id}"),
            )
            .await;
            assert_eq!(found.len(), 1, "{letter}: id {id} by key");
        }
    }
}

#[tokio::test]
async fn inspect_names_each_3x_sstable_its_version_and_partitioner() {
    let (_, dir) = folders("ma", "random_partitioner").remove(0);
    let out = cassbulk().arg("inspect").arg(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("partitioner: RandomPartitioner (a load computes every token again"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-big-Data.db (big ma, RandomPartitioner)"),
        "{stdout}"
    );
    // 5.0's development format nc, on ByteOrderedPartitioner and on Murmur3Partitioner.
    for (prefix, partitioner) in [
        ("byte_ordered", "ByteOrderedPartitioner"),
        ("every_type", "Murmur3Partitioner"),
    ] {
        let (_, dir) = folders("nc", prefix).remove(0);
        let out = cassbulk().arg("inspect").arg(&dir).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{prefix}: {stdout}");
        assert!(
            stdout.contains(&format!("partitioner: {partitioner}")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("-big-Data.db (big nc, {partitioner})")),
            "{stdout}"
        );
    }
    // Two tables' folders in one input are refused, naming both.
    let (_, other) = folders("ma", "every_type").remove(0);
    let mixed = tempfile::tempdir().unwrap();
    for (n, from) in [&dir, &other].iter().enumerate() {
        let to = mixed.path().join(format!("t{n}"));
        std::fs::create_dir(&to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
    let out = cassbulk()
        .arg("inspect")
        .arg(mixed.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("holds SSTables of more than one table"),
        "{stderr}"
    );
}

/// A compact table as 4.0 and later present it after `DROP COMPACT STORAGE` (the only shape a
/// 5.0 node imports its files into), named `name` in `ks`.
fn post_drop(table: &str, ks: &str, name: &str) -> String {
    let columns = match table.trim_end_matches("_dropped") {
        "compact_static" => {
            "k text, column1 text, value blob, a int static, b text static, PRIMARY KEY (k, column1)"
        }
        "compact_dense" => "k text, c int, v text, PRIMARY KEY (k, c)",
        "compact_dense_composite" => "k text, c1 int, c2 text, v text, PRIMARY KEY (k, c1, c2)",
        "compact_dense_novalue" => {
            "k text, c int, value 'org.apache.cassandra.db.marshal.EmptyType', PRIMARY KEY (k, c)"
        }
        other => panic!("no compact table {other}"),
    };
    format!("CREATE TABLE {ks}.{name} ({columns})")
}

#[tokio::test]
async fn compact_tables_load_before_and_after_drop_compact_storage_as_the_node_reads_them() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "sst3x_compact").await;
    let mut checked = 0;
    for letter in LETTERS {
        for (table, dir) in folders(letter, "compact_") {
            // The referee and the load into the same shape: equal, write times and TTLs too.
            let (referee, loaded) = (format!("{table}_{letter}_ref"), format!("{table}_{letter}"));
            for name in [&referee, &loaded] {
                common::run(&session, &post_drop(&table, &ks, name)).await;
            }
            referee_import(&dir, &ks, &referee);
            common::succeeded(&load(&format!("{ks}.{loaded}"), &dir, &[]));
            let script = post_drop(&table, "legacy", &table);
            let schema = table_from_cql(
                &script,
                &TableName::parse(&format!("legacy.{table}")).unwrap(),
            )
            .unwrap();
            let want = state(&session, &ks, &referee, &schema).await;
            assert!(!want.0.is_empty(), "{letter} {table}: nothing imported");
            let got = state(&session, &ks, &loaded, &schema).await;
            assert_same(&format!("{letter} {table}"), false, &got, &want);
            if table == "every_type" {
                assert_dumps_alike(letter, &table, &dir, &ks, &referee);
            }
            checked += 1;

            // The shape CQL showed before the drop: a static compact table's rows without the
            // hidden column1/value, a valueless dense table without its empty value.
            if table == "compact_static_dropped" {
                // Rows with a column1 (written after the drop, or Thrift's dynamic columns)
                // have no place in a table without clustering columns: refused, not dropped.
                let flat = format!("{table}_{letter}_cql");
                common::run(
                    &session,
                    &format!("CREATE TABLE {ks}.{flat} (k text PRIMARY KEY, a int, b text)"),
                )
                .await;
                let out = load(&format!("{ks}.{flat}"), &dir, &[]);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert_eq!(out.status.code(), Some(2), "{letter}: {stderr}");
                assert!(
                    stderr.contains("a row with a clustering value")
                        && stderr.contains("DROP COMPACT STORAGE presents it"),
                    "{letter}: {stderr}"
                );
                continue;
            }
            let (shape, select, want_select) = match table.as_str() {
                "compact_static" => (
                    "k text PRIMARY KEY, a int, b text",
                    "k, a, b, writetime(a), writetime(b)",
                    "k, a, b, writetime(a), writetime(b)",
                ),
                "compact_dense_novalue" => ("k text, c int, PRIMARY KEY (k, c)", "k, c", "k, c"),
                _ => continue,
            };
            let flat = format!("{table}_{letter}_cql");
            common::run(&session, &format!("CREATE TABLE {ks}.{flat} ({shape})")).await;
            common::succeeded(&load(&format!("{ks}.{flat}"), &dir, &[]));
            let mut got =
                common::rows(&session, &format!("SELECT {select} FROM {ks}.{flat}")).await;
            // The referee's partitions with a static value (a static compact table's rows).
            let mut want: Vec<_> = common::rows(
                &session,
                &format!("SELECT DISTINCT {want_select} FROM {ks}.{referee}")
                    .replace("DISTINCT k, c", "k, c"),
            )
            .await
            .into_iter()
            .filter(|r| r[1..].iter().any(Option::is_some) || table != "compact_static")
            .collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{letter} {table} in its pre-drop shape");
        }
    }
    // Four compact tables in each of five versions, and the four written after the drop in mc,
    // md and me.
    assert_eq!(checked, 5 * 4 + 3 * 4);
}

#[tokio::test]
async fn a_3x_folder_and_a_5_0_folder_of_one_table_merge_in_one_run_and_dump_as_the_node_does() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "sst3x_mixed").await;
    let (table, dir) = folders("ma", "every_type").remove(0);
    let schema = schema_of("ma", &table);
    for name in ["upgraded", "merged"] {
        for statement in schema_cql("ma", &table, &ks, name) {
            common::run(&session, &statement).await;
        }
    }
    // The node reads the ma files and rewrites them in its own format: a cluster mid-upgrade.
    referee_import(&dir, &ks, "upgraded");
    common::cassandra(
        &["nodetool", "upgradesstables", "-a", &ks, "upgraded"],
        None,
    );
    let upgraded = common::table_dir(1, &ks, "upgraded");
    let versions: Vec<String> = std::fs::read_dir(&upgraded)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            name.ends_with("-Data.db").then(|| name[..2].to_owned())
        })
        .collect();
    assert!(
        !versions.is_empty() && versions.iter().all(|v| v != "ma"),
        "{versions:?}"
    );
    // The same writes in both (list elements keep their cell paths): each cell written once.
    let out = cassbulk()
        .args(["load", "--table", &format!("{ks}.merged"), "--no-progress"])
        .arg(&upgraded)
        .arg(&dir)
        .output()
        .unwrap();
    common::succeeded(&out);
    let want = state(&session, &ks, "upgraded", &schema).await;
    let got = state(&session, &ks, "merged", &schema).await;
    assert_same("ma and the node's own", false, &got, &want);

    // A dump of the 3.x folder, offline, is the dump of the table the node read it into.
    assert_dumps_alike("ma", &table, &dir, &ks, "upgraded");
}

/// On a node started with RandomPartitioner (`CASSBULK_TEST_RANDOM=1`, scripts/test's step):
/// the node imports the RandomPartitioner files (the referee the Murmur3 test lacks); a load
/// `--via cql` equals it; `--via sstable`, whose files are cut by Murmur3 tokens, is refused.
#[tokio::test]
async fn on_a_random_partitioner_node_the_cql_route_equals_the_import_and_sstables_are_refused() {
    if !std::env::var("CASSBULK_TEST_RANDOM").is_ok_and(|v| v == "1") {
        eprintln!("skipped: needs a node on RandomPartitioner (CASSBULK_TEST_RANDOM=1)");
        return;
    }
    let session = common::session().await;
    let ks = common::keyspace(&session, "sst3x_random").await;
    for letter in ["ma", "me"] {
        let (table, dir) = folders(letter, "random_partitioner").remove(0);
        let (referee, loaded) = (format!("{table}_{letter}_ref"), format!("{table}_{letter}"));
        for name in [&referee, &loaded] {
            for statement in schema_cql(letter, &table, &ks, name) {
                common::run(&session, &statement).await;
            }
        }
        referee_import(&dir, &ks, &referee);
        common::succeeded(&load(&format!("{ks}.{loaded}"), &dir, &[]));
        let schema = schema_of(letter, &table);
        let want = state(&session, &ks, &referee, &schema).await;
        assert_eq!(want.0.len(), 200, "{letter}: the node imported every row");
        let got = state(&session, &ks, &loaded, &schema).await;
        assert_same(
            &format!("{letter} {table} on RandomPartitioner"),
            false,
            &got,
            &want,
        );
    }
    let staging = tempfile::tempdir().unwrap();
    let (table, dir) = folders("me", "random_partitioner").remove(0);
    let out = load(
        &format!("{ks}.{table}_me"),
        &dir,
        &[
            "--via",
            "sstable",
            "--stream",
            "none",
            "--sstable-dir",
            staging.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the target cluster uses RandomPartitioner")
            && stderr.contains("--via cql"),
        "{stderr}"
    );
}

#[tokio::test]
async fn three_replicas_of_a_3x_table_that_disagree_merge_in_one_run_as_the_node_merges_them() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "sst3x_replicas").await;
    for letter in ["ma", "me"] {
        let (table, dir) = folders(letter, "replicas").remove(0);
        let (referee, loaded) = (format!("{table}_{letter}_ref"), format!("{table}_{letter}"));
        for name in [&referee, &loaded] {
            for statement in schema_cql(letter, &table, &ks, name) {
                common::run(&session, &statement).await;
            }
        }
        // One node holding all three replicas' SSTables reads what a read at ALL would.
        for node in ["node1", "node2", "node3"] {
            referee_import(&dir.join(node), &ks, &referee);
        }
        let out = load(&format!("{ks}.{loaded}"), &dir, &[]);
        common::succeeded(&out);
        let schema = schema_of(letter, &table);
        let want = state(&session, &ks, &referee, &schema).await;
        assert!(want.0.len() >= 30, "{letter}: {} rows", want.0.len());
        let got = state(&session, &ks, &loaded, &schema).await;
        assert_same(&format!("{letter} replicas"), false, &got, &want);
        // verify reads the same three folders against both tables: nothing differs.
        for table in [&loaded, &referee] {
            let report = tempfile::tempdir().unwrap();
            let json = report.path().join("report.json");
            let out = cassbulk()
                .arg("verify")
                .arg(&dir)
                .args([
                    "--table",
                    &format!("{ks}.{table}"),
                    "--no-progress",
                    "--report",
                ])
                .arg(&json)
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                out.status.code(),
                Some(0),
                "{letter} verify {table}: {text}"
            );
            let report: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
            for count in ["missing", "stale", "differs", "newer", "extra"] {
                assert_eq!(report["counts"][count].as_u64(), Some(0), "{count}: {text}");
            }
            // Rows as verify counts them: every CQL row, and each partition's static row.
            assert!(
                report["rows"]["source"].as_u64() >= Some(want.0.len() as u64),
                "{text}"
            );
        }
    }
}

//! Dumps and cluster-to-cluster copies against the real node. The every-type SSTable fixture
//! (`fixtures/sstables/nb/everything`: statics, DESC clustering, collections, UDTs, TTLs, every
//! kind of deletion) is loaded into a table; then:
//! - `load cql://` copies that table into another keyspace, and both read back identical,
//!   `writetime()` of every column (each element's, for collections) and `ttl()` included; a
//!   second copy changes nothing, lists included;
//! - a dump of the fixture's SSTable folder, offline (its `schema.cql`, no cluster), equals the
//!   dump of the table over CQL, and so does a dump of the node's own folder compacted into one
//!   SSTable (read in order, without the partition builder);
//! - a Parquet dump reads in pyarrow with every row and the table's types, and a Parquet file
//!   loaded and dumped again gives pyarrow the same values back;
//! - two token-range dumps make the whole; a dump that fails midway leaves nothing.

use std::path::Path;

use crate::common::{self, cassbulk};
use crate::load_sstables::{MULTI_CELL, SIMPLE, cql, fixtures, state};

/// A keyspace with the fixture's schema as `ks.table`, loaded from the nb fixture over CQL.
async fn loaded_table(session: &scylla::client::session::Session, test: &str) -> String {
    let ks = common::keyspace(session, test).await;
    for statement in cql("schema.cql", &ks, "src") {
        common::run(session, &statement).await;
    }
    let out = cassbulk()
        .args(["load", "--table", &format!("{ks}.src"), "--no-progress"])
        .arg(fixtures().join("nb").join("everything"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ks
}

fn url(ks: &str, table: &str) -> String {
    format!("cql://{}/{ks}.{table}", common::hosts())
}

/// Runs cassbulk and returns its stderr, failing the test when it fails.
fn ok(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

#[tokio::test]
async fn a_table_copied_over_cql_into_another_keyspace_reads_back_identical_and_a_recopy_changes_nothing()
 {
    let session = common::session().await;
    let ks = loaded_table(&session, "copy_src").await;
    let target = common::keyspace(&session, "copy_dst").await;
    for statement in cql("schema.cql", &target, "dst") {
        common::run(&session, &statement).await;
    }
    let want = state(&session, &ks, "src").await;
    assert!(want.len() > 1000, "{} rows", want.len());
    let ttls_from = 4 + 2 * (SIMPLE.len() + MULTI_CELL.len());
    for round in ["copy", "second copy"] {
        ok(cassbulk().args([
            "load",
            &url(&ks, "src"),
            "--table",
            &format!("{target}.dst"),
            "--no-progress",
        ]));
        let got = state(&session, &target, "dst").await;
        assert_eq!(got.len(), want.len(), "{round}: rows");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g[..ttls_from], w[..ttls_from], "{round}: row {:?}", &w[..4]);
            for (a, b) in g[ttls_from..].iter().zip(&w[ttls_from..]) {
                let secs = |v: &Option<Vec<u8>>| {
                    v.as_ref()
                        .map(|b| i64::from(i32::from_be_bytes(b[..4].try_into().unwrap())))
                };
                match (secs(a), secs(b)) {
                    (None, None) => {}
                    (Some(a), Some(b)) => assert!((a - b).abs() <= 60, "{round}: ttl {a} vs {b}"),
                    other => panic!("{round}: ttl of row {:?}: {other:?}", &w[..4]),
                }
            }
        }
    }
}

fn read(dir: &Path) -> String {
    assert!(
        dir.join("_SUCCESS").exists(),
        "{} has _SUCCESS",
        dir.display()
    );
    assert!(
        !dir.join(".cassbulk-tmp").exists(),
        "no temporary folder is left"
    );
    std::fs::read_to_string(dir.join("part-00000.csv")).unwrap()
}

#[tokio::test]
async fn a_dump_of_sstable_folders_equals_the_dump_of_the_same_table_over_cql() {
    let session = common::session().await;
    let ks = loaded_table(&session, "dump_sst").await;
    let out = tempfile::tempdir().unwrap();
    let (offline, online) = (out.path().join("offline"), out.path().join("online"));
    // Offline: the snapshot's schema.cql, and a cluster that does not exist.
    let snapshot = fixtures().join("nb").join("everything");
    ok(cassbulk()
        .args(["dump", "--table", &format!("{ks}.src"), "--format", "csv"])
        .arg(&snapshot)
        .arg("--schema")
        .arg(snapshot.join("schema.cql"))
        .args(["--hosts", "192.0.2.1", "--to"])
        .arg(&offline)
        .args(["--with-writetime", "--no-progress"]));
    ok(cassbulk()
        .args(["dump", &url(&ks, "src"), "--format", "csv", "--to"])
        .arg(&online)
        .args(["--with-writetime", "--no-progress"]));
    let (a, b) = (read(&offline), read(&online));
    let rows = state(&session, &ks, "src").await.len();
    assert_eq!(a.lines().count(), rows + 1, "a header and every row");
    assert!(a.starts_with("pk,bucket,c1,c2,"), "{}", &a[..80]);
    assert_eq!(a, b);

    // The node's own SSTable of the table, flushed and compacted into one: read as it lies
    // (in token order already, without the partition builder), its dump is the same.
    for command in ["flush", "compact"] {
        common::cassandra(&["nodetool", command, &ks, "src"], None);
    }
    let folder = common::table_dir(1, &ks, "src");
    let data_files = || {
        std::fs::read_dir(&folder)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with("-Data.db")
            })
            .count()
    };
    // The node removes the compacted SSTables a moment after `compact` returns.
    for _ in 0..100 {
        if data_files() == 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(data_files(), 1, "{}", folder.display());
    let node = out.path().join("node");
    ok(cassbulk()
        .args(["dump", "--table", &format!("{ks}.src"), "--format", "csv"])
        .arg(&folder)
        .arg("--to")
        .arg(&node)
        .args(["--with-writetime", "--no-progress"]));
    assert_eq!(read(&node), b);
    // Without write times the scan reads the values alone; the values are the same.
    let values = out.path().join("values");
    ok(cassbulk()
        .args(["dump", &url(&ks, "src"), "--format", "csv", "--to"])
        .arg(&values)
        .arg("--no-progress"));
    let values = read(&values);
    assert_eq!(values.lines().count(), b.lines().count());
    for (v, t) in values.lines().zip(b.lines()) {
        // Each row is the same values, then (with times) its write times.
        assert!(t.starts_with(v), "{v}\n{t}");
    }

    // A finished dump is not replaced unless asked.
    let again = cassbulk()
        .args(["dump", &url(&ks, "src"), "--format", "csv", "--to"])
        .arg(&online)
        .arg("--no-progress")
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--overwrite"));
    assert_eq!(read(&online), b);
}

#[tokio::test]
async fn a_parquet_dump_reads_in_pyarrow_with_every_row_and_the_tables_types() {
    let session = common::session().await;
    let ks = loaded_table(&session, "dump_pq").await;
    let out = tempfile::tempdir().unwrap();
    ok(cassbulk()
        .args(["dump", &url(&ks, "src"), "--format", "parquet", "--to"])
        .arg(out.path())
        .args(["--partition-date", "2026-12-01", "--with-writetime"])
        .arg("--no-progress"));
    let dir = out.path().join("dt=2026-12-01");
    assert!(dir.join("_SUCCESS").exists());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pyarrow");
    let check = std::process::Command::new(script)
        .arg("-c")
        .arg(
            "import sys, pyarrow.parquet as pq\n\
             t = pq.read_table(sys.argv[1])\n\
             print(t.num_rows)\n\
             for f in t.schema: print(f.name, f.type)\n",
        )
        .arg(dir.join("part-00000.parquet"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let printed = String::from_utf8_lossy(&check.stdout);
    let mut lines = printed.lines();
    let rows = state(&session, &ks, "src").await.len();
    assert_eq!(lines.next(), Some(rows.to_string().as_str()));
    let types: Vec<&str> = lines.collect();
    for want in [
        "pk int32",
        "ts timestamp[ms, tz=UTC]",
        "d date32[day]",
        "bl binary",
        "db double",
        "l list<item: int32 not null>",
        "ts_writetime int64",
    ] {
        assert!(types.contains(&want), "{want} in {types:?}");
    }
}

#[tokio::test]
async fn a_dump_that_fails_midway_leaves_no_files_and_no_success_marker() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "dump_fail").await;
    common::run(
        &session,
        &format!("CREATE TABLE {ks}.t (k int PRIMARY KEY, at timestamp)"),
    )
    .await;
    for k in 0..2000 {
        common::run(
            &session,
            &format!("INSERT INTO {ks}.t (k, at) VALUES ({k}, '2024-01-01 00:00:00+0000')"),
        )
        .await;
    }
    // Year 300000: past what PostgreSQL's timestamptz holds, so the pgcopy writer refuses it.
    common::run(
        &session,
        &format!("INSERT INTO {ks}.t (k, at) VALUES (-1, 9404360000000000)"),
    )
    .await;
    let out = tempfile::tempdir().unwrap();
    let failed = cassbulk()
        .args(["dump", &url(&ks, "t"), "--format", "pgcopy", "--to"])
        .arg(out.path())
        .args(["--rows-per-file", "500", "--no-progress"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("column at"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "nothing is left behind: {left:?}");
}

#[tokio::test]
async fn dumps_of_two_token_ranges_paced_together_are_the_whole_table() {
    let session = common::session().await;
    let ks = loaded_table(&session, "dump_ranges").await;
    let out = tempfile::tempdir().unwrap();
    let dump = |name: &str, range: Option<&str>| {
        let dir = out.path().join(name);
        let mut cmd = cassbulk();
        cmd.args(["dump", &url(&ks, "src"), "--format", "csv", "--to"])
            .arg(&dir)
            .arg("--no-progress");
        if let Some(range) = range {
            // Paced too: --rate limits how fast the scan reads, not what it reads.
            cmd.args(["--where-token-range", range, "--rate", "5000"]);
        }
        ok(&mut cmd);
        read(&dir)
    };
    let whole = dump("whole", None);
    let low = dump("low", Some("-9223372036854775808:0"));
    let high = dump("high", Some("0:9223372036854775807"));
    let body = |text: &str| text.split_once("\r\n").unwrap().1.to_owned();
    assert!(!body(&low).is_empty() && !body(&high).is_empty());
    assert_eq!(body(&whole), body(&low) + &body(&high));
}

/// Parquet -> Cassandra -> Parquet: a file pyarrow wrote (text with tabs, quotes and emoji,
/// integers, doubles, booleans, timestamps, dates, lists, maps, blobs, nulls) is loaded, the
/// table dumped to Parquet, and pyarrow reads the same values back (map entries in key order, as
/// Cassandra keeps them).
#[tokio::test]
async fn parquet_through_cassandra_and_a_parquet_dump_gives_the_same_values_back() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "pq_round").await;
    common::run(
        &session,
        &format!(
            "CREATE TABLE {ks}.t (id text PRIMARY KEY, n int, big bigint, score double, \
             ok boolean, at timestamp, day date, tags list<text>, counts map<text, int>, raw blob)"
        ),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.parquet");
    let output = dir.path().join("out");
    let pyarrow = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pyarrow");
    let python = |script: &str, args: &[&Path]| {
        let out = std::process::Command::new(pyarrow)
            .arg("-c")
            .arg(script)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    python(
        r#"
import sys, datetime, pyarrow as pa, pyarrow.parquet as pq
schema = pa.schema([("id", pa.string()), ("n", pa.int32()), ("big", pa.int64()),
    ("score", pa.float64()), ("ok", pa.bool_()), ("at", pa.timestamp("ms", tz="UTC")),
    ("day", pa.date32()), ("tags", pa.list_(pa.string())),
    ("counts", pa.map_(pa.string(), pa.int32())), ("raw", pa.binary())])
epoch = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
rows = []
for i in range(500):
    rows.append({
        "id": f"k{i:04}\t\"q\", é 🎵",
        "n": None if i % 10 == 0 else i * 7 - 1000,
        "big": i * 10**12 - 2**62,
        "score": i / 3 - 50.0,
        "ok": i % 3 == 0,
        "at": epoch + datetime.timedelta(milliseconds=i * 123_457),
        "day": datetime.date(1969, 12, 1) + datetime.timedelta(days=i * 37),
        "tags": None if i % 7 == 0 else [f"t{j},\n" for j in range(i % 4 + 1)],
        "counts": None if i % 5 == 0 else [(f"z{j}", j - i) for j in range(i % 3 + 1)],
        "raw": bytes([i % 256, 0, 255]) if i % 4 else None,
    })
pq.write_table(pa.Table.from_pylist(rows, schema=schema), sys.argv[1])
"#,
        &[&input],
    );
    ok(cassbulk()
        .arg("load")
        .arg(&input)
        .args([
            "--table",
            &format!("{ks}.t"),
            "--writetime",
            "1700000000000000",
        ])
        .arg("--no-progress"));
    ok(cassbulk()
        .args(["dump", &url(&ks, "t"), "--format", "parquet", "--to"])
        .arg(&output)
        .arg("--no-progress"));
    python(
        r#"
import sys, pyarrow.parquet as pq
def rows(path):
    out = {}
    for row in pq.read_table(path).to_pylist():
        if row.get("counts") is not None:
            row["counts"] = sorted(row["counts"])
        out[row["id"]] = row
    return out
a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert len(a) == 500 and a.keys() == b.keys(), (len(a), len(b))
bad = [(k, a[k], b[k]) for k in a if a[k] != b[k]]
assert not bad, bad[:3]
"#,
        &[&input, &output.join("part-00000.parquet")],
    );
}

/// A copy over CQL stopped partway resumes from its checkpoint: the scan starts at the
/// checkpoint's token (rows before it are neither read nor written again) and what follows is
/// copied whole.
#[tokio::test]
async fn a_copy_over_cql_resumed_from_a_checkpoint_scans_only_the_tokens_after_it() {
    use cassbulk::checkpoint::{Mark, write};
    use cassbulk::model::{Token, Value};

    let session = common::session().await;
    let ks = common::keyspace(&session, "copy_resume").await;
    for table in ["src", "dst"] {
        common::run(
            &session,
            &format!("CREATE TABLE {ks}.{table} (k int PRIMARY KEY, v text)"),
        )
        .await;
    }
    for k in 0..200 {
        common::run(
            &session,
            &format!("INSERT INTO {ks}.src (k, v) VALUES ({k}, 'v{k}') USING TIMESTAMP 1000"),
        )
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("copy.checkpoint");
    // As a load stopped halfway leaves it: every partition up to token 0 is written.
    write(
        &checkpoint,
        &Mark {
            table: format!("{ks}.dst"),
            token: 0,
            key_hex: String::new(),
            partitions: 100,
        },
    )
    .unwrap();
    let summary = dir.path().join("summary.json");
    ok(cassbulk()
        .args([
            "load",
            &url(&ks, "src"),
            "--table",
            &format!("{ks}.dst"),
            "--no-progress",
        ])
        .arg("--checkpoint")
        .arg(&checkpoint)
        .arg("--summary-json")
        .arg(&summary));
    let after: Vec<i32> = (0..200)
        .filter(|&k| Token::of_key(&Value::Int(k).to_bytes()).0 > 0)
        .collect();
    let rows = common::rows(&session, &format!("SELECT k FROM {ks}.dst")).await;
    let mut got: Vec<i32> = rows
        .iter()
        .map(|r| i32::from_be_bytes(r[0].as_deref().unwrap().try_into().unwrap()))
        .collect();
    got.sort_unstable();
    assert_eq!(
        got, after,
        "exactly the keys after the checkpoint are copied"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(
        summary["rows_read"].as_u64(),
        Some(after.len() as u64),
        "only the tokens after the checkpoint are scanned: {summary}"
    );
    assert!(
        !checkpoint.exists(),
        "a completed load removes its checkpoint"
    );
}

/// `--decimal P,S`: decimal and varint columns as Parquet decimal128, each value exact, read so
/// by pyarrow; a value that does not fit stops the dump naming the column and the value, and
/// leaves no `_SUCCESS`.
#[tokio::test]
async fn a_parquet_dump_with_decimal_has_decimal128_columns_or_refuses_a_value_that_does_not_fit() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "dump_dec").await;
    common::run(
        &session,
        &format!("CREATE TABLE {ks}.t (k int PRIMARY KEY, d decimal, v varint)"),
    )
    .await;
    for (k, d, v) in [
        (1, "12.5", "12345678901234567890"),
        (2, "-0.001", "-7"),
        (3, "1E+3", "0"),
    ] {
        common::run(
            &session,
            &format!("INSERT INTO {ks}.t (k, d, v) VALUES ({k}, {d}, {v})"),
        )
        .await;
    }
    let out = tempfile::tempdir().unwrap();
    let dump = |name: &str, decimal: &str| {
        cassbulk()
            .args([
                "dump",
                &url(&ks, "t"),
                "--format",
                "parquet",
                "--no-progress",
            ])
            .args(["--decimal", decimal, "--to"])
            .arg(out.path().join(name))
            .output()
            .unwrap()
    };
    let done = dump("fits", "38,3");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pyarrow");
    let check = std::process::Command::new(script)
        .arg("-c")
        .arg(
            "import sys, pyarrow.parquet as pq\n\
             t = pq.read_table(sys.argv[1]).sort_by('k')\n\
             for f in t.schema: print(f.name, f.type)\n\
             print([str(x) for x in t.column('d').to_pylist()])\n\
             print([str(x) for x in t.column('v').to_pylist()])\n",
        )
        .arg(out.path().join("fits/part-00000.parquet"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let printed = String::from_utf8_lossy(&check.stdout);
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        [
            "k int32",
            "d decimal128(38, 3)",
            "v decimal128(38, 0)",
            "['12.500', '-0.001', '1000.000']",
            "['12345678901234567890', '-7', '0']",
        ]
    );

    let refused = dump("misfit", "38,2");
    assert_eq!(refused.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("-0.001 does not fit decimal128(38, 2)"),
        "{stderr}"
    );
    assert!(stderr.contains('d'), "{stderr}");
    assert!(!out.path().join("misfit/_SUCCESS").exists());
}

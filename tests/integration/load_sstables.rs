//! Migrating a table from its SSTables: `fixtures/sstables/{nb,oa,da}/everything` are snapshots
//! a real Cassandra 5.0 node wrote from `fixtures/sstables/writes-{1,2}.cql` (every type,
//! collections, a UDT frozen and not, a static column, DESC clustering, TTLs, every kind of
//! deletion, explicit timestamps, two overlapping flushed generations). Each is loaded into a
//! fresh table, and a reference table gets the same CQL straight from the driver: both read
//! back equal, values and `writetime()` of every column; TTLs count from when the fixture was
//! written, so the migrated one is that much shorter.

use std::path::Path;

use crate::common::{self, cassbulk};

pub(crate) fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sstables"))
}

/// The fixture's CQL with its table named `table` in `ks`.
pub(crate) fn cql(file: &str, ks: &str, table: &str) -> Vec<String> {
    std::fs::read_to_string(fixtures().join(file))
        .unwrap()
        .replace("{{keyspace}}.everything", &format!("{ks}.{table}"))
        .replace("{{keyspace}}", ks)
        .split(";\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(crate) const SIMPLE: &[&str] = &[
    "s", "a", "b", "bl", "bo", "d", "de", "db", "du", "f", "i", "n", "si", "t", "tm", "ts", "tu",
    "ti", "u", "vc", "vi", "vec", "fl", "faddr", "tup",
];
pub(crate) const MULTI_CELL: &[&str] = &["l", "st", "m", "addr"];

/// Every row: the key, every column's value, then `writetime()` of every column, then `ttl()`
/// of the simple ones.
pub(crate) async fn state(
    session: &scylla::client::session::Session,
    ks: &str,
    table: &str,
) -> Vec<Vec<Option<Vec<u8>>>> {
    let mut columns: Vec<String> = ["pk", "bucket", "c1", "c2"]
        .iter()
        .chain(SIMPLE)
        .chain(MULTI_CELL)
        .map(|c| c.to_string())
        .collect();
    columns.extend(
        SIMPLE
            .iter()
            .chain(MULTI_CELL)
            .map(|c| format!("writetime({c})")),
    );
    columns.extend(SIMPLE.iter().map(|c| format!("ttl({c})")));
    let mut rows = common::rows(
        session,
        &format!("SELECT {} FROM {ks}.{table}", columns.join(", ")),
    )
    .await;
    rows.sort();
    rows
}

#[tokio::test]
async fn a_table_migrates_from_its_nb_oa_and_da_sstables_with_every_write_time_and_ttl() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "sstables").await;
    for statement in cql("schema.cql", &ks, "reference") {
        common::run(&session, &statement).await;
    }
    for file in ["writes-1.cql", "writes-2.cql"] {
        for statement in cql(file, &ks, "reference") {
            common::run(&session, &statement).await;
        }
    }
    // The one-second TTL written last has expired in the fixtures; let it here too.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let reference = state(&session, &ks, "reference").await;
    assert!(reference.len() > 1000, "{} rows", reference.len());
    let ttls_from = 4 + SIMPLE.len() + MULTI_CELL.len() + SIMPLE.len() + MULTI_CELL.len();

    for format in ["nb", "oa", "da"] {
        let table = format!("everything_{format}");
        for statement in cql("schema.cql", &ks, &table) {
            if !statement.starts_with("CREATE TYPE") {
                common::run(&session, &statement).await;
            }
        }
        let out = cassbulk()
            .args(["load", "--table", &format!("{ks}.{table}"), "--no-progress"])
            .arg(fixtures().join(format).join("everything"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{format}: {stderr}");
        let written_at: i64 = std::fs::read_to_string(fixtures().join(format).join("written_at"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let age = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            - written_at;

        let migrated = state(&session, &ks, &table).await;
        assert_eq!(migrated.len(), reference.len(), "{format}: rows");
        for (got, want) in migrated.iter().zip(&reference) {
            assert_eq!(
                got[..ttls_from],
                want[..ttls_from],
                "{format}: values and write times of row {:?}",
                &want[..4]
            );
            for (c, (g, w)) in got[ttls_from..].iter().zip(&want[ttls_from..]).enumerate() {
                let secs = |v: &Option<Vec<u8>>| {
                    v.as_ref()
                        .map(|b| i64::from(i32::from_be_bytes(b[..4].try_into().unwrap())))
                };
                match (secs(g), secs(w)) {
                    (None, None) => {}
                    (Some(g), Some(w)) => assert!(
                        (w - g - age).abs() <= 120,
                        "{format}: ttl({}) of row {:?} is {g}, the reference's {w}, the fixture {age} s old",
                        SIMPLE[c],
                        &want[..4]
                    ),
                    other => panic!(
                        "{format}: ttl({}) of row {:?}: {other:?}",
                        SIMPLE[c],
                        &want[..4]
                    ),
                }
            }
        }
    }

    // A second load of the same SSTables changes nothing, list appends included.
    let before = state(&session, &ks, "everything_nb").await;
    let out = load(
        &format!("{ks}.everything_nb"),
        &fixtures().join("nb").join("everything"),
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = state(&session, &ks, "everything_nb").await;
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(a[..ttls_from], b[..ttls_from], "reloaded row {:?}", &b[..4]);
    }
}

/// `cassbulk load DIR --table TABLE --no-progress EXTRA...`.
pub(crate) fn load(table: &str, dir: &Path, extra: &[&str]) -> std::process::Output {
    cassbulk()
        .args(["load", "--table", table, "--no-progress"])
        .args(extra)
        .arg(dir)
        .output()
        .unwrap()
}

/// The second fixture set's CQL (`fixtures/sstables/more.py`) for keyspace `ks`, statements of
/// the tables `keep` says.
fn more_cql(file: &str, ks: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
    std::fs::read_to_string(fixtures().join(file))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && keep(l))
        .map(|l| l.replace("{ks}", ks))
        .collect()
}

#[tokio::test]
async fn zstd_snappy_deflate_and_uncompressed_sstables_migrate_with_their_write_times_and_ttls() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "sstables_compression").await;
    let tables = ["zstd", "snappy", "deflate", "plain"];
    for statement in more_cql("more-schema.cql", &ks, |l| !l.contains("KEYSPACE")) {
        common::run(&session, &statement).await;
    }
    // The reference: the same writes straight from the driver, into `zstd` as the node wrote them.
    common::run(
        &session,
        &format!(
            "CREATE TABLE {ks}.reference (pk int, c int, v text, n bigint, l list<int>, \
             m map<text, int>, PRIMARY KEY (pk, c))"
        ),
    )
    .await;
    for file in ["more-writes-1.cql", "more-writes-2.cql"] {
        for statement in more_cql(file, &ks, |l| l.contains("{ks}.zstd ")) {
            common::run(&session, &statement.replace(".zstd ", ".reference ")).await;
        }
    }
    let select = |table: &str| {
        format!(
            "SELECT pk, c, v, n, l, m, writetime(v), writetime(n), writetime(l), writetime(m), \
             ttl(v) FROM {ks}.{table}"
        )
    };
    let mut reference = common::rows(&session, &select("reference")).await;
    reference.sort();
    assert!(reference.len() > 400, "{} rows", reference.len());
    for table in tables {
        let out = load(
            &format!("{ks}.{table}"),
            &fixtures().join("more").join(table),
            &[],
        );
        assert!(
            out.status.success(),
            "{table}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut got = common::rows(&session, &select(table)).await;
        got.sort();
        assert_eq!(got.len(), reference.len(), "{table}: rows");
        for (g, w) in got.iter().zip(&reference) {
            assert_eq!(g[..10], w[..10], "{table}: row {:?}", &w[..2]);
            // TTLs count from when the fixture was written: present on the same rows.
            assert_eq!(
                g[10].is_some(),
                w[10].is_some(),
                "{table}: ttl of {:?}",
                &w[..2]
            );
        }
    }
}

#[tokio::test]
async fn cells_of_a_column_dropped_and_added_again_stay_dropped_as_the_old_cluster_shows_them() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "sstables_dropped").await;
    // The reference: the writes, the drops and the re-add, through the driver.
    let reference_cql = |file| more_cql(file, &ks, |l| l.contains("{ks}.dropped "));
    for file in [
        "more-schema.cql",
        "more-writes-1.cql",
        "more-alter.cql",
        "more-writes-2.cql",
    ] {
        for statement in reference_cql(file) {
            common::run(&session, &statement).await;
        }
    }
    // The target, as copy-schema makes it from the snapshot: the table as it is now.
    common::run(
        &session,
        &format!("CREATE TABLE {ks}.migrated (pk int PRIMARY KEY, v text, back text)"),
    )
    .await;
    let out = load(
        &format!("{ks}.migrated"),
        &fixtures().join("more").join("dropped"),
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let select = |table: &str| {
        format!("SELECT pk, v, back, writetime(v), writetime(back) FROM {ks}.{table}")
    };
    let mut want = common::rows(&session, &select("dropped")).await;
    let mut got = common::rows(&session, &select("migrated")).await;
    want.sort();
    got.sort();
    assert_eq!(want.len(), 75);
    assert_eq!(got, want);
    // The old values of `back` are gone: only the 50 written after the re-add remain.
    assert_eq!(want.iter().filter(|r| r[2].is_some()).count(), 50);
}

#[tokio::test]
async fn purge_tombstones_leaves_out_deletions_older_than_gc_grace_and_keeps_newer_ones() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "sstables_purge").await;
    // Two targets, each already holding a row the fixture's partition deletion of
    // (10, 'b1') at 1764000001000000 shadows: one with a gc_grace the fixture's tombstones are
    // older than (written hours or more before this test), one with the default ten days.
    let older = "INSERT INTO {t} (pk, bucket, c1, c2, t) VALUES (10, 'b1', 77, 'old', 'older') \
                 USING TIMESTAMP 1763000000000000";
    for (table, grace) in [("short_grace", 60), ("long_grace", 864_000)] {
        for statement in cql("schema.cql", &ks, table) {
            let statement = if statement.starts_with("CREATE TABLE") {
                format!("{statement} AND gc_grace_seconds = {grace}")
            } else {
                statement
            };
            common::run(&session, &statement).await;
        }
        common::run(&session, &older.replace("{t}", &format!("{ks}.{table}"))).await;
        let out = load(
            &format!("{ks}.{table}"),
            &fixtures().join("nb").join("everything"),
            &["--purge-tombstones"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{table}: {stderr}");
        let survivor = common::rows(
            &session,
            &format!("SELECT t FROM {ks}.{table} WHERE pk = 10 AND bucket = 'b1' AND c1 = 77"),
        )
        .await;
        let purged: u64 = stderr
            .lines()
            .find_map(|l| {
                l.strip_prefix("load: ")?
                    .split(" tombstones older")
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("{table}: no purge line in {stderr}"));
        if grace == 60 {
            assert!(purged > 10, "{table}: {purged} purged");
            assert_eq!(survivor.len(), 1, "{table}: the older row survives");
        } else {
            assert_eq!(purged, 0, "{table}");
            assert!(
                survivor.is_empty(),
                "{table}: the partition deletion was written"
            );
        }
    }
}

#[tokio::test]
async fn a_damaged_or_truncated_sstable_is_refused_naming_the_file_and_offset_before_any_write() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "sstables_damaged").await;
    for statement in cql("schema.cql", &ks, "everything") {
        common::run(&session, &statement).await;
    }
    let source = fixtures().join("nb").join("everything");
    type Damage = fn(&mut Vec<u8>);
    let cases: [(&str, Damage); 2] = [
        ("a flipped bit", |data| {
            let middle = data.len() / 2;
            data[middle] ^= 0x04;
        }),
        ("a cut", |data| data.truncate(data.len() - 700)),
    ];
    for (what, damage) in cases {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(&source).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
        let data = dir.path().join("nb-1-big-Data.db");
        let mut bytes = std::fs::read(&data).unwrap();
        damage(&mut bytes);
        std::fs::write(&data, bytes).unwrap();
        let out = cassbulk()
            .args([
                "load",
                "--table",
                &format!("{ks}.everything"),
                "--no-progress",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{what}: {stderr}");
        assert!(
            stderr.contains("nb-1-big-Data.db is damaged at byte") && stderr.contains("chunk"),
            "{what}: {stderr}"
        );
        let rows = common::rows(&session, &format!("SELECT pk FROM {ks}.everything")).await;
        assert!(rows.is_empty(), "{what}: {} rows written", rows.len());
    }
}

/// Three replicas' folders (each a copy of the nb fixture's two overlapping generations) are
/// merged as streams, the default, and written once `--via sstable`, imported by the node with
/// `--import-verify extended`: the table reads back equal to the same load through the
/// partition builder (`--merge sort`), values, `writetime()` and `ttl()`.
#[tokio::test]
async fn three_replicas_merged_as_streams_read_back_as_the_partition_builder_merges_them() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "sstables_streams").await;
    let replicas = tempfile::Builder::new()
        .prefix("replicas")
        .tempdir()
        .unwrap();
    let source = fixtures().join("nb").join("everything");
    for node in ["node1", "node2", "node3"] {
        let dir = replicas.path().join(node);
        std::fs::create_dir(&dir).unwrap();
        for entry in std::fs::read_dir(&source).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let nodetool = format!("{}/scripts/cassandra nodetool", env!("CARGO_MANIFEST_DIR"));
    // `sliced`: the stream merge cut into one token slice per core however small the input
    // (each slice read, merged and written on its own thread, into SSTables of its own).
    for (table, merge, slice_bytes) in [
        ("streamed", "auto", None),
        ("sliced", "auto", Some("1")),
        ("sorted", "sort", None),
    ] {
        for statement in cql("schema.cql", &ks, table) {
            if !statement.starts_with("CREATE TYPE") || table == "streamed" {
                common::run(&session, &statement).await;
            }
        }
        let staging = tempfile::Builder::new()
            .prefix("staging")
            .tempdir()
            .unwrap();
        let mut command = cassbulk();
        if let Some(bytes) = slice_bytes {
            command.env("CASSBULK_SLICE_BYTES", bytes);
        }
        let out = command
            .args(["load", "--table", &format!("{ks}.{table}"), "--no-progress"])
            .args(["--merge", merge, "--via", "sstable", "--stream", "import"])
            .args(["--import-verify", "extended", "--nodetool", &nodetool])
            .arg("--sstable-dir")
            .arg(staging.path())
            .arg(replicas.path().join("node1"))
            .arg(replicas.path().join("node2"))
            .arg(replicas.path().join("node3"))
            .output()
            .unwrap();
        let stderr = common::succeeded(&out);
        assert!(stderr.contains("imported with nodetool import"), "{stderr}");
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if table == "sliced" && cores > 1 {
            assert!(
                stderr.contains(&format!("merging as streams in {cores} token slices")),
                "{stderr}"
            );
        }
    }
    let ttls_from = 4 + 2 * (SIMPLE.len() + MULTI_CELL.len());
    let sorted = state(&session, &ks, "sorted").await;
    for table in ["streamed", "sliced"] {
        let streamed = state(&session, &ks, table).await;
        assert!(streamed.len() > 1000, "{table}: {} rows", streamed.len());
        assert_eq!(streamed.len(), sorted.len(), "{table}: rows");
        assert_like(&streamed, &sorted, ttls_from);
    }
}

/// Rows equal, TTLs within 30 s of each other.
fn assert_like(
    streamed: &[Vec<Option<Vec<u8>>>],
    sorted: &[Vec<Option<Vec<u8>>>],
    ttls_from: usize,
) {
    for (got, want) in streamed.iter().zip(sorted) {
        assert_eq!(got[..ttls_from], want[..ttls_from], "row {:?}", &want[..4]);
        for (g, w) in got[ttls_from..].iter().zip(&want[ttls_from..]) {
            let secs = |v: &Option<Vec<u8>>| {
                v.as_ref()
                    .map(|b| i64::from(i32::from_be_bytes(b[..4].try_into().unwrap())))
            };
            match (secs(g), secs(w)) {
                (None, None) => {}
                (Some(g), Some(w)) => assert!((g - w).abs() <= 30, "ttl {g} vs {w}"),
                other => panic!("ttl of row {:?}: {other:?}", &want[..4]),
            }
        }
    }
}

/// `--since` past every write leaves both generations' SSTables unread (their Statistics.db
/// says what their newest write is) and writes nothing; `--since` before every write reads them.
#[tokio::test]
async fn since_leaves_sstables_whose_newest_write_is_older_unread() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "sstables_since").await;
    let folder = fixtures().join("nb").join("everything");
    for (table, since, unread, loaded) in [
        ("past_all", "9000000000000000", true, false),
        ("before_all", "0", false, true),
    ] {
        for statement in cql("schema.cql", &ks, table) {
            if !statement.starts_with("CREATE TYPE") || table == "past_all" {
                common::run(&session, &statement).await;
            }
        }
        let out = load(&format!("{ks}.{table}"), &folder, &["--since", since]);
        let stderr = common::succeeded(&out);
        assert_eq!(
            stderr.contains("2 SSTable(s) left unread"),
            unread,
            "{table}: {stderr}"
        );
        let rows = common::rows(&session, &format!("SELECT * FROM {ks}.{table}")).await;
        assert_eq!(!rows.is_empty(), loaded, "{table}: {} rows", rows.len());
    }
}

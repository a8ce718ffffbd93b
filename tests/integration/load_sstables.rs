//! Migrating a table from its SSTables: `fixtures/sstables/{nb,oa,da}/everything` are snapshots
//! a real Cassandra 5.0 node wrote from `fixtures/sstables/writes-{1,2}.cql` (every type,
//! collections, a UDT frozen and not, a static column, DESC clustering, TTLs, every kind of
//! deletion, explicit timestamps, two overlapping flushed generations). Each is loaded into a
//! fresh table, and a reference table gets the same CQL straight from the driver: both read
//! back equal, values and `writetime()` of every column; TTLs count from when the fixture was
//! written, so the migrated one is that much shorter.

use std::path::Path;

use crate::common::{self, cassbulk};

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sstables"))
}

/// The fixture's CQL with its table named `table` in `ks`.
fn cql(file: &str, ks: &str, table: &str) -> Vec<String> {
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

const SIMPLE: &[&str] = &[
    "s", "a", "b", "bl", "bo", "d", "de", "db", "du", "f", "i", "n", "si", "t", "tm", "ts", "tu",
    "ti", "u", "vc", "vi", "vec", "fl", "faddr", "tup",
];
const MULTI_CELL: &[&str] = &["l", "st", "m", "addr"];

/// Every row: the key, every column's value, then `writetime()` of every column, then `ttl()`
/// of the simple ones.
async fn state(
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

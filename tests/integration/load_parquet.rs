//! Loading the nightly Parquet export (written by pyarrow in three `dt=` folders) into the real
//! node, from a local folder and from a real HDFS (MiniDFSCluster, `scripts/hdfs`): the latest
//! version of every key wins across days, the dt folder fills a date column, write times come
//! from `updated_at` and TTLs from `ttl_seconds`; the row with a NULL inside a list is rejected;
//! every list, set and map read back equals the newest version in the files (read by arrow-rs),
//! also when the rows are sorted in runs spilled to disk.

use std::path::Path;

use crate::common::{self, cassbulk};

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/profile_features")
}

async fn create_table(session: &scylla::client::session::Session, ks: &str, table: &str) {
    let cql = std::fs::read_to_string(fixture().join("profile_features.cql")).unwrap();
    let cql: String = cql
        .lines()
        .map(|l| l.split("--").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
        .replace("{{keyspace}}", ks)
        .replace("profile_features (", &format!("{table} ("));
    for statement in cql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        common::run(session, statement).await;
    }
}

fn load(input: &str, target: &str, rejects: &Path) -> std::process::Output {
    load_with(input, target, rejects, &[])
}

fn load_with(input: &str, target: &str, rejects: &Path, extra: &[&str]) -> std::process::Output {
    let out = cassbulk()
        .args(["load", input, "--table", target, "--no-progress"])
        .args(extra)
        .args([
            "--map",
            "snapshot_date=dt",
            "--writetime-column",
            "updated_at",
            "--ttl-column",
            "ttl_seconds",
        ])
        .arg("--rejects")
        .arg(rejects)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cassbulk failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

async fn state(
    session: &scylla::client::session::Session,
    table: &str,
) -> Vec<Vec<Option<Vec<u8>>>> {
    let mut rows = common::rows(
        session,
        &format!(
            "SELECT user_id, snapshot_date, top_genres, genre_affinity, followed_artists, location, score, updated_at, writetime(score) FROM {table}"
        ),
    )
    .await;
    rows.sort();
    rows
}

#[tokio::test]
async fn a_dt_partitioned_parquet_export_loads_the_latest_version_of_every_key_locally_and_from_hdfs()
 {
    let session = common::session().await;
    let ks = common::keyspace(&session, "parquet").await;
    create_table(&session, &ks, "local").await;
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    load(
        fixture().to_str().unwrap(),
        &format!("{ks}.local"),
        &rejects,
    );

    let rejected = std::fs::read_to_string(&rejects).unwrap();
    assert_eq!(rejected.lines().count(), 1, "{rejected}");
    assert!(
        rejected.contains("top_genres") && rejected.contains("J3UG3IxNK8Q8lVf4uA7MEi"),
        "{rejected}"
    );

    let rows = state(&session, &format!("{ks}.local")).await;
    assert_eq!(rows.len(), 100, "100 distinct user_ids over the three days");
    // Every row's write time is its updated_at to the microsecond (a timestamp column holds ms).
    for r in &rows {
        let updated_ms = i64::from_be_bytes(r[7].clone().unwrap().try_into().unwrap());
        let wt = i64::from_be_bytes(r[8].clone().unwrap().try_into().unwrap());
        assert_eq!(
            wt.div_euclid(1000),
            updated_ms,
            "writetime(score) is updated_at"
        );
    }
    // The late row: its 11-20 version is older than its 11-19 one, so 11-19 wins, dt included.
    let late = rows
        .iter()
        .find(|r| r[0].as_deref() == Some(&b"SbXOIkDj8Q6xzR8t8JDvTN"[..]))
        .unwrap();
    let nov_19 = (1u32 << 31) + 20_776; // 2026-11-19 as a CQL date
    assert_eq!(late[1].as_deref(), Some(&nov_19.to_be_bytes()[..]));
    // Lists, sets and maps hold, element for element, the newest non-NULL version in the files.
    let expected = expected_collections();
    assert_eq!(expected.len(), 100);
    for r in &rows {
        let user = String::from_utf8(r[0].clone().unwrap()).unwrap();
        assert_eq!(
            [r[2].clone(), r[3].clone(), r[4].clone()],
            expected[&user],
            "top_genres, genre_affinity, followed_artists of {user}"
        );
    }
    // TTLs arrive from ttl_seconds.
    let ttls = common::rows(&session, &format!("SELECT ttl(score) FROM {ks}.local")).await;
    assert!(ttls.iter().any(|r| r[0].is_some()), "some rows expire");

    // Sorted in runs spilled to disk (a tiny --memory-limit), it gives exactly the same table.
    create_table(&session, &ks, "spilled").await;
    let out = load_with(
        fixture().to_str().unwrap(),
        &format!("{ks}.spilled"),
        &dir.path().join("spilled-rejects.jsonl"),
        &["--memory-limit", "16KiB"],
    );
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains("runs spilled") && !summary.contains(" 0 runs spilled"),
        "{summary}"
    );
    assert_eq!(state(&session, &format!("{ks}.spilled")).await, rows);

    // The same export from a real HDFS gives exactly the same table.
    let url =
        std::env::var("CASSBULK_TEST_HDFS").unwrap_or_else(|_| "hdfs://127.0.0.1:9000".into());
    let remote = format!("/cassbulk-test/{ks}/profile_features");
    let hdfs = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/hdfs");
    let put = std::process::Command::new(hdfs)
        .args(["put"])
        .arg(fixture())
        .arg(&remote)
        .output()
        .unwrap();
    assert!(
        put.status.success(),
        "scripts/hdfs put (is HDFS running? scripts/hdfs start): {}",
        String::from_utf8_lossy(&put.stderr)
    );
    create_table(&session, &ks, "from_hdfs").await;
    load(
        &format!("{url}{remote}"),
        &format!("{ks}.from_hdfs"),
        &dir.path().join("hdfs-rejects.jsonl"),
    );
    assert_eq!(state(&session, &format!("{ks}.from_hdfs")).await, rows);
}

/// Per user, what Cassandra should hold for top_genres, genre_affinity and followed_artists
/// (serialized as a native-protocol value), worked out from the fixture's files with arrow-rs
/// alone: the newest row (by updated_at) that holds the column wins, NULLs leave older values
/// (the default `--nulls unset`), an empty collection reads as NULL, sets are sorted and
/// deduplicated, maps sorted by key. The row with a NULL inside a list is left out: it is
/// rejected.
fn expected_collections() -> std::collections::HashMap<String, [Option<Vec<u8>>; 3]> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int32Type, TimestampMicrosecondType};
    type Version = (i64, [Option<Vec<Vec<u8>>>; 3]);
    let mut versions: std::collections::HashMap<String, Vec<Version>> = Default::default();
    for day in ["2026-11-18", "2026-11-19", "2026-11-20"] {
        let file =
            std::fs::File::open(fixture().join(format!("dt={day}/part-00000.parquet"))).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let column = |name: &str| batch.column_by_name(name).unwrap().clone();
            let users = column("user_id");
            let users = users.as_string::<i32>();
            let updated = column("updated_at");
            let updated = updated.as_primitive::<TimestampMicrosecondType>();
            let genres = column("top_genres");
            let genres = genres.as_list::<i32>();
            let affinity = column("genre_affinity");
            let affinity = affinity.as_map();
            let artists = column("followed_artists");
            let artists = artists.as_list::<i32>();
            let strings =
                |list: &arrow::array::ListArray, i: usize| -> Option<Vec<Option<Vec<u8>>>> {
                    list.is_valid(i).then(|| {
                        let v = list.value(i);
                        let v = v.as_string::<i32>();
                        (0..v.len())
                            .map(|j| v.is_valid(j).then(|| v.value(j).as_bytes().to_vec()))
                            .collect()
                    })
                };
            for i in 0..batch.num_rows() {
                let genres = strings(genres, i);
                if genres
                    .as_ref()
                    .is_some_and(|g| g.iter().any(Option::is_none))
                {
                    continue; // the rejected row
                }
                let flat = |v: Option<Vec<Option<Vec<u8>>>>| {
                    v.map(|v| v.into_iter().map(Option::unwrap).collect::<Vec<_>>())
                };
                let map = affinity.is_valid(i).then(|| {
                    let entries = affinity.value(i);
                    let keys = entries.column(0).as_string::<i32>();
                    let values = entries.column(1).as_primitive::<Int32Type>();
                    let mut pairs: Vec<(Vec<u8>, i32)> = (0..keys.len())
                        .map(|j| (keys.value(j).as_bytes().to_vec(), values.value(j)))
                        .collect();
                    pairs.sort();
                    pairs
                        .into_iter()
                        .flat_map(|(k, v)| [k, v.to_be_bytes().to_vec()])
                        .collect::<Vec<_>>()
                });
                let mut set = flat(strings(artists, i));
                if let Some(set) = set.as_mut() {
                    set.sort();
                    set.dedup();
                }
                versions
                    .entry(users.value(i).to_owned())
                    .or_default()
                    .push((updated.value(i), [flat(genres), map, set]));
            }
        }
    }
    let serialize = |items: &[Vec<u8>], per_entry: usize| -> Option<Vec<u8>> {
        if items.is_empty() {
            return None;
        }
        let mut out = ((items.len() / per_entry) as i32).to_be_bytes().to_vec();
        for item in items {
            out.extend_from_slice(&(item.len() as i32).to_be_bytes());
            out.extend_from_slice(item);
        }
        Some(out)
    };
    versions
        .into_iter()
        .map(|(user, mut versions)| {
            versions.sort_by_key(|(updated, _)| std::cmp::Reverse(*updated));
            let newest = |c: usize| versions.iter().find_map(|(_, v)| v[c].as_deref());
            let value = [
                newest(0).and_then(|v| serialize(v, 1)),
                newest(1).and_then(|v| serialize(v, 2)),
                newest(2).and_then(|v| serialize(v, 1)),
            ];
            (user, value)
        })
        .collect()
}

#[tokio::test]
async fn a_damaged_parquet_file_that_makes_arrow_panic_fails_with_exit_3_naming_it() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "damaged").await;
    create_table(&session, &ks, "profile_features").await;
    let damaged = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/fuzz/parquet/panic-arrow-map-children/input.parquet");
    let out = cassbulk()
        .arg("load")
        .arg(&damaged)
        .args([
            "--table",
            &format!("{ks}.profile_features"),
            "--no-progress",
        ])
        .args([
            "--writetime-column",
            "updated_at",
            "--ttl-column",
            "ttl_seconds",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} is damaged: reading stopped in row group 0",
            damaged.display()
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
    let rows = common::rows(
        &session,
        &format!("SELECT user_id FROM {ks}.profile_features"),
    )
    .await;
    assert!(rows.is_empty(), "nothing is written");
}

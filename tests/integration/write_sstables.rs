//! The bulk route: `load --via sstable` writes nb SSTables and `nodetool import
//! --extended-verify` takes them (the node reads every partition first). The every-type fixture
//! (statics, DESC clustering, collections, UDTs, TTLs, every kind of deletion) loaded this way
//! reads back as the same SSTables loaded `--via cql`, `writetime()` and `ttl()` included, and
//! a second load changes nothing (lists included: their cell paths are the source's). Cassandra's
//! own `sstabledump` reads every partition cassbulk wrote, in `nb` and in `oa`, and
//! `sstablemetadata` estimates their count from the key sketch; on the
//! three-node ring, SSTables are cut along the replica sets' ranges and sstableloader streams
//! them to every replica.

use std::path::Path;

use crate::common::{self, cassbulk};
use crate::load_sstables::{MULTI_CELL, SIMPLE, cql, fixtures, load, state};

fn nodetool() -> String {
    format!("{}/scripts/cassandra nodetool", env!("CARGO_MANIFEST_DIR"))
}

fn create(ks: &str, table: &str) -> Vec<String> {
    cql("schema.cql", ks, table)
}

/// Loads `source` into `table` `--via sstable --stream sstableloader` (the tool assembled by
/// scripts/cassandra), staging the SSTables in `staging`.
fn load_through_sstableloader(table: &str, source: &Path, staging: &Path) -> std::process::Output {
    let loader = format!(
        "{}/scripts/cassandra tool sstableloader",
        env!("CARGO_MANIFEST_DIR")
    );
    load(
        table,
        source,
        &[
            "--via",
            "sstable",
            "--stream",
            "sstableloader",
            "--sstableloader",
            &loader,
            "--sstable-dir",
            staging.to_str().unwrap(),
        ],
    )
}

/// Two tables' rows (`load_sstables::state`) hold the same values and write times; TTLs,
/// which count down, are not compared.
fn assert_same_values_and_writetimes(got: &[Vec<Option<Vec<u8>>>], want: &[Vec<Option<Vec<u8>>>]) {
    let ttls_from = 4 + 2 * (SIMPLE.len() + MULTI_CELL.len());
    assert_eq!(got.len(), want.len(), "rows");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g[..ttls_from], w[..ttls_from], "row {:?}", &w[..4]);
    }
}

#[tokio::test]
async fn a_table_loaded_via_sstable_import_reads_back_as_via_cql_and_a_reload_changes_nothing() {
    if std::env::var("CASSBULK_TEST_OA").is_ok_and(|v| v == "1") {
        eprintln!("skipped: the node runs storage_compatibility_mode NONE (the oa test's node)");
        return;
    }
    imported_equals_via_cql("nb").await;
}

/// On a node in `storage_compatibility_mode: NONE` (`CASSBULK_TEST_OA=1`, scripts/test's oa
/// step): cassbulk picks `oa` by itself, `nodetool import --extended-verify` takes the files,
/// and the table reads back as via CQL, a reload changing nothing.
#[tokio::test]
async fn on_an_oa_node_sstables_are_written_in_oa_and_import_as_via_cql() {
    if !std::env::var("CASSBULK_TEST_OA").is_ok_and(|v| v == "1") {
        eprintln!("skipped: needs a node in storage_compatibility_mode NONE (CASSBULK_TEST_OA=1)");
        return;
    }
    imported_equals_via_cql("oa").await;
}

/// Loads the every-type fixture `--via cql` and `--via sstable --stream import` (the format
/// picked from the node, expected to be `format`) into two tables, compares them, loads again
/// and compares again.
async fn imported_equals_via_cql(format: &str) {
    let session = common::session().await;
    let ks = common::keyspace(&session, "via_sstable").await;
    for table in ["via_cql", "via_sstable"] {
        for statement in create(&ks, table) {
            common::run(&session, &statement).await;
        }
    }
    let source = fixtures().join("nb").join("everything");
    let out = load(&format!("{ks}.via_cql"), &source, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let staging = tempfile::tempdir().unwrap();
    let via_sstable = |staging: &Path| {
        load(
            &format!("{ks}.via_sstable"),
            &source,
            &[
                "--via",
                "sstable",
                "--stream",
                "import",
                "--import-verify",
                "extended",
                "--nodetool",
                &nodetool(),
                "--sstable-dir",
                staging.to_str().unwrap(),
            ],
        )
    };
    let out = via_sstable(staging.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("imported with nodetool import"), "{stderr}");
    assert!(stderr.contains(&format!("({format},")), "{stderr}");
    assert!(
        !staging.path().join(&ks).exists(),
        "the imported folder is removed"
    );

    let ttls_from = 4 + 2 * (SIMPLE.len() + MULTI_CELL.len());
    let want = state(&session, &ks, "via_cql").await;
    let compare = |got: &Vec<Vec<Option<Vec<u8>>>>, what: &str| {
        assert_eq!(got.len(), want.len(), "{what}: rows");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g[..ttls_from], w[..ttls_from], "{what}: row {:?}", &w[..4]);
            for (a, b) in g[ttls_from..].iter().zip(&w[ttls_from..]) {
                let secs = |v: &Option<Vec<u8>>| {
                    v.as_ref()
                        .map(|b| i64::from(i32::from_be_bytes(b[..4].try_into().unwrap())))
                };
                match (secs(a), secs(b)) {
                    (None, None) => {}
                    (Some(a), Some(b)) => assert!((a - b).abs() <= 60, "{what}: ttl {a} vs {b}"),
                    other => panic!("{what}: ttl of row {:?}: {other:?}", &w[..4]),
                }
            }
        }
    };
    compare(&state(&session, &ks, "via_sstable").await, "via sstable");
    // Loading the same input again changes nothing.
    let out = via_sstable(staging.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    compare(
        &state(&session, &ks, "via_sstable").await,
        "reloaded via sstable",
    );
}

#[tokio::test]
async fn sstabledump_reads_every_partition_cassbulk_wrote_in_nb_and_in_oa() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "sstabledump").await;
    for statement in create(&ks, "everything") {
        common::run(&session, &statement).await;
    }
    for format in ["nb", "oa"] {
        let staging = tempfile::tempdir().unwrap();
        let out = cassbulk()
            .args([
                "load",
                "--table",
                &format!("{ks}.everything"),
                "--no-progress",
                "--via",
                "sstable",
                "--format",
                format,
                "--stream",
                "none",
                "--sstable-dir",
                staging.path().to_str().unwrap(),
            ])
            .arg(fixtures().join("nb").join("everything"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.contains("with: nodetool import"), "{stderr}");
        let folder = staging.path().join(&ks).join("everything");
        let data = folder.join(format!("{format}-1-big-Data.db"));
        assert!(data.exists(), "{stderr}");
        let dump =
            std::process::Command::new(format!("{}/scripts/cassandra", env!("CARGO_MANIFEST_DIR")))
                .args(["tool", "sstabledump"])
                .arg(&data)
                .output()
                .unwrap();
        assert!(
            dump.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&dump.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&dump.stdout).unwrap();
        let partitions = json.as_array().unwrap();
        // The fixture's 276 partition versions merge into fewer partitions.
        let line = stderr
            .lines()
            .find(|l| l.contains(" partitions;"))
            .unwrap_or_else(|| panic!("{stderr}"));
        let written: usize = line
            .trim_start_matches("load: ")
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(partitions.len(), written, "{format}: {line}");
        assert!(partitions.len() >= 200, "{format}");

        // The key-count sketch compaction sizes its bloom filters from: Cassandra's own
        // sstablemetadata estimates the partitions from it.
        let meta =
            std::process::Command::new(format!("{}/scripts/cassandra", env!("CARGO_MANIFEST_DIR")))
                .args(["tool", "sstablemetadata"])
                .arg(&data)
                .output()
                .unwrap();
        let text = String::from_utf8_lossy(&meta.stdout);
        assert!(meta.status.success(), "{format}: {text}");
        let estimate: i64 = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Estimated cardinality:"))
            .unwrap_or_else(|| panic!("{format}: {text}"))
            .trim()
            .parse()
            .unwrap();
        assert!(
            (estimate - written as i64).abs() <= 3,
            "{format}: estimated {estimate} of {written} partitions"
        );
    }
}

/// On the three-node ring (`CASSBULK_TEST_RING=1`, scripts/test's ring step): a keyspace with
/// replication factor 3 loaded `--via sstable --stream sstableloader` reads back at ALL equal
/// to the same input loaded `--via cql`, so every replica got its part.
#[tokio::test]
async fn on_the_ring_an_rf3_table_loaded_via_sstableloader_reads_back_at_all_as_via_cql() {
    if !std::env::var("CASSBULK_TEST_RING").is_ok_and(|v| v == "1") {
        eprintln!("skipped: needs the three-node ring (CASSBULK_TEST_RING=1, see scripts/test)");
        return;
    }
    let session = common::session().await;
    let ks = format!("{}_rf3", common::keyspace(&session, "loader").await);
    common::run(
        &session,
        &format!(
            "CREATE KEYSPACE {ks} WITH replication = \
             {{'class': 'SimpleStrategy', 'replication_factor': 3}}"
        ),
    )
    .await;
    for table in ["via_cql", "via_loader"] {
        for statement in create(&ks, table) {
            common::run(&session, &statement).await;
        }
    }
    let source = fixtures().join("nb").join("everything");
    let out = load(&format!("{ks}.via_cql"), &source, &["--consistency", "ALL"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let staging = tempfile::tempdir().unwrap();
    let out = load_through_sstableloader(&format!("{ks}.via_loader"), &source, staging.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("streamed to every replica"), "{stderr}");
    let at_all = cassbulk::cluster::connect(&cassbulk::cluster::ConnectOptions {
        consistency: scylla::statement::Consistency::All,
        ..common::connect_options()
    })
    .await
    .unwrap();
    let want = state(&at_all, &ks, "via_cql").await;
    assert!(want.len() > 1000);
    assert_same_values_and_writetimes(&state(&at_all, &ks, "via_loader").await, &want);
}

/// A load whose import fails keeps its SSTables and says which replicas and token ranges they
/// were for; the same command run again (with a working nodetool) loads them without reading
/// the input, and the table reads back as via CQL. A different load into that folder is
/// refused.
#[tokio::test]
async fn a_failed_import_is_named_and_the_same_command_again_loads_what_was_left() {
    if std::env::var("CASSBULK_TEST_OA").is_ok_and(|v| v == "1") {
        return;
    }
    let session = common::session().await;
    let ks = common::keyspace(&session, "resume_import").await;
    for table in ["via_cql", "via_sstable"] {
        for statement in create(&ks, table) {
            common::run(&session, &statement).await;
        }
    }
    let source = fixtures().join("nb").join("everything");
    let out = load(&format!("{ks}.via_cql"), &source, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let staging = tempfile::tempdir().unwrap();
    let via_sstable = |nodetool: &str, source: &Path| {
        load(
            &format!("{ks}.via_sstable"),
            source,
            &[
                "--via",
                "sstable",
                "--stream",
                "import",
                "--nodetool",
                nodetool,
                "--sstable-dir",
                staging.path().to_str().unwrap(),
            ],
        )
    };
    let out = via_sstable("false", &source);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("failed for the SSTables of replicas 127.0.0.1"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("token ranges [{}, ", i64::MIN)),
        "{stderr}"
    );
    assert!(
        stderr.contains("run the same cassbulk command again"),
        "{stderr}"
    );
    assert!(
        staging
            .path()
            .join(cassbulk::sink::sstable::MANIFEST)
            .exists()
    );
    assert!(staging.path().join(&ks).join("via_sstable").exists());

    // Another load into the same folder is refused.
    let other = fixtures()
        .join("nb")
        .join("everything")
        .join("..")
        .join("everything");
    let out = via_sstable(&nodetool(), &other);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("written by another load"), "{stderr}");

    let out = via_sstable(&nodetool(), &source);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("resumed: 1 SSTable (nb) in 1 folder"),
        "{stderr}"
    );
    assert!(stderr.contains("0 rows read"), "{stderr}");
    assert!(stderr.contains("imported with nodetool import"), "{stderr}");
    assert!(
        !staging
            .path()
            .join(cassbulk::sink::sstable::MANIFEST)
            .exists()
    );
    assert!(!staging.path().join(&ks).exists());

    assert_same_values_and_writetimes(
        &state(&session, &ks, "via_sstable").await,
        &state(&session, &ks, "via_cql").await,
    );
}

/// The first and last partition keys of an SSTable, from the end of its Summary.db (after the
/// header's 24 bytes and the offsets and entries whose size the header gives: two int-prefixed
/// keys).
fn first_and_last_keys(data: &Path) -> (Vec<u8>, Vec<u8>) {
    let name = data.to_str().unwrap().replace("-Data.db", "-Summary.db");
    let bytes = std::fs::read(name).unwrap();
    let entries = i64::from_be_bytes(bytes[8..16].try_into().unwrap()) as usize;
    let mut at = 24 + entries;
    let mut key = || {
        let n = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let k = bytes[at + 4..at + 4 + n].to_vec();
        at += 4 + n;
        k
    };
    (key(), key())
}

/// On the three-node ring: a keyspace with replication factor 1, where each node owns ranges of
/// its own, written `--stream none`: a folder for each replica set, and every SSTable's tokens,
/// from its first to its last, inside ranges the folder's node owns (asked of the driver's
/// ring), so Cassandra can stream it whole. Then loaded through sstableloader, a folder at a
/// time, equal to the same input loaded `--via cql`.
#[tokio::test]
async fn on_the_ring_each_sstable_holds_tokens_of_one_replica_set_and_loads_as_via_cql() {
    if !std::env::var("CASSBULK_TEST_RING").is_ok_and(|v| v == "1") {
        eprintln!("skipped: needs the three-node ring (CASSBULK_TEST_RING=1, see scripts/test)");
        return;
    }
    let session = common::session().await;
    let ks = format!("{}_rf1", common::keyspace(&session, "ring_cut").await);
    common::run(
        &session,
        &format!(
            "CREATE KEYSPACE {ks} WITH replication = \
             {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        ),
    )
    .await;
    for table in ["via_cql", "via_loader"] {
        for statement in create(&ks, table) {
            common::run(&session, &statement).await;
        }
    }
    session.refresh_metadata().await.unwrap();
    let source = fixtures().join("nb").join("everything");
    let staging = tempfile::tempdir().unwrap();
    let out = load(
        &format!("{ks}.via_loader"),
        &source,
        &[
            "--via",
            "sstable",
            "--stream",
            "none",
            "--sstable-dir",
            staging.path().to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let state_of = session.get_cluster_state();
    let owners = |token: i64| {
        let mut nodes: Vec<String> = state_of
            .get_token_endpoints(&ks, "via_loader", scylla::routing::Token::new(token))
            .into_iter()
            .map(|(node, _)| node.address.ip().to_string())
            .collect();
        nodes.sort();
        nodes.join("+")
    };
    let ring: Vec<i64> = state_of
        .replica_locator()
        .ring()
        .iter()
        .map(|(t, _)| t.value())
        .collect();
    let mut folders = 0;
    let mut sstables = 0;
    for set in std::fs::read_dir(staging.path()).unwrap() {
        let set = set.unwrap();
        let label = set.file_name().to_str().unwrap().to_owned();
        folders += 1;
        for file in std::fs::read_dir(set.path().join(&ks).join("via_loader")).unwrap() {
            let path = file.unwrap().path();
            if !path.to_str().unwrap().ends_with("-Data.db") {
                continue;
            }
            sstables += 1;
            let (first, last) = first_and_last_keys(&path);
            let (first, last) = (
                cassbulk::model::Token::of_key(&first).0,
                cassbulk::model::Token::of_key(&last).0,
            );
            assert!(first <= last);
            // Every range the SSTable touches: the one holding its first token, and the one
            // after each ring token before its last.
            assert_eq!(owners(first), label, "{path:?} starts at {first}");
            for t in ring.iter().filter(|&&t| first <= t && t < last) {
                assert_eq!(owners(t + 1), label, "{path:?} crosses {t}");
            }
        }
    }
    assert_eq!(folders, 3, "a folder for each node: {stderr}");
    assert!(sstables >= 3, "{stderr}");

    // The same, streamed: every folder by sstableloader, equal to the CQL route.
    let out = load(&format!("{ks}.via_cql"), &source, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let streamed = tempfile::tempdir().unwrap();
    let out = load_through_sstableloader(&format!("{ks}.via_loader"), &source, streamed.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        std::fs::read_dir(streamed.path()).unwrap().next().is_none(),
        "every streamed folder is removed"
    );
    assert_same_values_and_writetimes(
        &state(&session, &ks, "via_loader").await,
        &state(&session, &ks, "via_cql").await,
    );
}

/// A pg_dump whose rows were written before 2015 (deletion times below the SSTable header's
/// epoch: negative deltas, which Cassandra reads only when they are sign-extended) with a set,
/// a list and a map, loaded `--via sstable` twice: equal to `--via cql`, lists written once.
#[tokio::test]
async fn a_dump_of_rows_older_than_2015_loads_via_sstable_as_via_cql_and_reloads_unchanged() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "old_rows").await;
    let pg = format!("old_rows_{}", ks.trim_start_matches("cb_"));
    common::psql(&format!(
        "DROP TABLE IF EXISTS {pg}; CREATE TABLE {pg} (id int PRIMARY KEY, tags text[], counts int[], note text, updated_at timestamptz);
         INSERT INTO {pg} SELECT i, ARRAY['t' || i, 'x'], ARRAY[i, i, 2], 'note ' || i,
                '2010-06-01'::timestamptz + interval '1 second' * i
           FROM generate_series(1, 2000) i;"
    ));
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("old.pgdump");
    common::postgres(&["dump", "-Fc", "-t", &pg, "-f", dump.to_str().unwrap()]);
    let ddl = "(id int PRIMARY KEY, tags set<text>, counts list<int>, note text)";
    for t in ["via_cql", "via_sstable"] {
        common::run(&session, &format!("CREATE TABLE {ks}.{t} {ddl}")).await;
    }
    let args = |table: &str| -> Vec<String> {
        [
            "load",
            dump.to_str().unwrap(),
            "--table",
            &format!("{ks}.{table}"),
            "--no-progress",
            "--source-table",
            &pg,
            "--writetime-column",
            "updated_at",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let out = cassbulk().args(args("via_cql")).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let staging = tempfile::tempdir().unwrap();
    let via_sstable = || {
        cassbulk()
            .args(args("via_sstable"))
            .args([
                "--via",
                "sstable",
                "--stream",
                "import",
                "--import-verify",
                "extended",
                "--nodetool",
                &nodetool(),
            ])
            .args(["--sstable-dir", staging.path().to_str().unwrap()])
            .output()
            .unwrap()
    };
    let select = |t: &str| {
        format!(
            "SELECT id, tags, counts, note, writetime(tags), writetime(counts), writetime(note) \
             FROM {ks}.{t}"
        )
    };
    let mut want = common::rows(&session, &select("via_cql")).await;
    want.sort();
    assert_eq!(want.len(), 2000);
    for round in ["first", "second"] {
        let out = via_sstable();
        assert!(
            out.status.success(),
            "{round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut got = common::rows(&session, &select("via_sstable")).await;
        got.sort();
        assert_eq!(got, want, "{round} load via sstable");
    }
}

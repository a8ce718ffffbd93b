//! The partition builder end to end, against real PostgreSQL dumps and the real node: several
//! dumps loaded in one run give exactly the table Cassandra produces when they are loaded one
//! after the other (in either order); a load killed with SIGKILL resumes from its checkpoint to
//! the same table; memory stays within `--memory-limit` plus a fixed overhead.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scylla::client::session::Session;

use crate::common::{self, cassbulk, psql};

fn dump(table: &str, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    common::postgres(&["dump", "-Fc", "-t", table, "-f", path.to_str().unwrap()]);
    path
}

fn load(
    inputs: &[&Path],
    source_table: &str,
    target: &str,
    extra: &[&str],
) -> std::process::Output {
    let out = cassbulk()
        .arg("load")
        .args(inputs)
        .args([
            "--source-table",
            source_table,
            "--table",
            target,
            "--no-progress",
        ])
        .args(extra)
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

/// The whole table with every cell's write time, sorted, for comparison.
async fn table_state(session: &Session, table: &str) -> Vec<Vec<Option<Vec<u8>>>> {
    let mut rows = common::rows(
        session,
        &format!(
            "SELECT username, email, score, tags, writetime(email), writetime(score) FROM {table}"
        ),
    )
    .await;
    rows.sort();
    rows
}

#[tokio::test]
async fn two_days_of_dumps_in_one_run_equal_loading_them_one_after_the_other_in_either_order() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "two_days").await;
    let pg = format!("days_{}", ks.trim_start_matches("cb_"));
    // Day one: 2,000 accounts, each written at its own microsecond.
    psql(&format!(
        "DROP TABLE IF EXISTS {pg}; CREATE TABLE {pg} (username text PRIMARY KEY, email text, score int, tags text[], updated_at timestamptz);
         INSERT INTO {pg} SELECT 'user' || i, 'user' || i || '@day1.example', i, ARRAY['t' || (i % 5), 'common'],
                'epoch'::timestamptz + interval '1 second' * 1790000000 + interval '1 microsecond' * i
           FROM generate_series(1, 2000) i;"
    ));
    let dir = tempfile::tempdir().unwrap();
    let day1 = dump(&pg, dir.path(), "day1.pgdump");
    // Day two changes 30% of the rows: newer writes, writes at the SAME timestamp with a
    // different value (greater and smaller), and late writes older than day one's.
    psql(&format!(
        "UPDATE {pg} SET email = 'user' || substr(username, 5) || '@day2.example', score = score + 1000000, tags = ARRAY['day2'],
                updated_at = updated_at + interval '1 hour'
          WHERE substr(username, 5)::int % 10 IN (1, 2, 3);
         UPDATE {pg} SET email = 'a-smaller@tie.example', score = -1, tags = ARRAY['tie-a']
          WHERE substr(username, 5)::int % 10 = 4;
         UPDATE {pg} SET email = 'z-greater@tie.example', score = 99999999, tags = ARRAY['tie-z']
          WHERE substr(username, 5)::int % 10 = 5;
         UPDATE {pg} SET email = 'late@day2.example', updated_at = updated_at - interval '1 day'
          WHERE substr(username, 5)::int % 20 = 6;"
    ));
    let day2 = dump(&pg, dir.path(), "day2.pgdump");

    let ddl = "(username text PRIMARY KEY, email text, score int, tags set<text>)";
    for t in ["combined", "day1_then_day2", "day2_then_day1"] {
        common::run(&session, &format!("CREATE TABLE {ks}.{t} {ddl}")).await;
    }
    let wt = ["--writetime-column", "updated_at"];
    let out = load(&[&day1, &day2], &pg, &format!("{ks}.combined"), &wt);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2000 partitions; 2000 duplicate rows reconciled"),
        "{stderr}"
    );
    load(&[&day1], &pg, &format!("{ks}.day1_then_day2"), &wt);
    load(&[&day2], &pg, &format!("{ks}.day1_then_day2"), &wt);
    load(&[&day2], &pg, &format!("{ks}.day2_then_day1"), &wt);
    load(&[&day1], &pg, &format!("{ks}.day2_then_day1"), &wt);

    let combined = table_state(&session, &format!("{ks}.combined")).await;
    assert_eq!(combined.len(), 2000);
    assert_eq!(
        combined,
        table_state(&session, &format!("{ks}.day1_then_day2")).await,
        "one run = day 1 then day 2"
    );
    assert_eq!(
        combined,
        table_state(&session, &format!("{ks}.day2_then_day1")).await,
        "one run = day 2 then day 1"
    );
    // Spot-check the rules themselves: on equal timestamps the greater value won, and the two
    // days' sets were unioned element by element.
    let tie = |name: &str| {
        combined
            .iter()
            .find(|r| r[0].as_deref() == Some(name.as_bytes()))
            .unwrap()
            .clone()
    };
    assert_eq!(
        tie("user4")[1].as_deref(),
        Some(&b"user4@day1.example"[..]),
        "'user4@day1' > 'a-smaller@tie'"
    );
    assert_eq!(
        tie("user5")[1].as_deref(),
        Some(&b"z-greater@tie.example"[..])
    );
    let tags = tie("user5")[3].clone().unwrap();
    for t in [&b"common"[..], b"t0", b"tie-z"] {
        assert!(
            tags.windows(t.len()).any(|w| w == t),
            "user5's tags hold {:?}",
            String::from_utf8_lossy(t)
        );
    }
}

#[tokio::test]
async fn a_load_killed_mid_way_resumes_from_its_checkpoint_to_the_same_table() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "resume").await;
    let pg = format!("resume_{}", ks.trim_start_matches("cb_"));
    psql(&format!(
        "DROP TABLE IF EXISTS {pg}; CREATE TABLE {pg} (username text PRIMARY KEY, email text, score int, tags text[], updated_at timestamptz);
         INSERT INTO {pg} SELECT 'user' || i, md5(i::text) || '@example.com', i, ARRAY[md5(i::text)],
                'epoch'::timestamptz + interval '1 second' * 1790000000 + interval '1 microsecond' * i
           FROM generate_series(1, 12000) i;"
    ));
    let dir = tempfile::tempdir().unwrap();
    let input = dump(&pg, dir.path(), "input.pgdump");
    let ddl = "(username text PRIMARY KEY, email text, score int, tags set<text>)";
    common::run(&session, &format!("CREATE TABLE {ks}.reference {ddl}")).await;
    common::run(&session, &format!("CREATE TABLE {ks}.resumed {ddl}")).await;
    load(
        &[&input],
        &pg,
        &format!("{ks}.reference"),
        &["--writetime-column", "updated_at"],
    );

    let checkpoint = dir.path().join("load.checkpoint");
    let args = |cmd: &mut std::process::Command| {
        cmd.arg("load")
            .arg(&input)
            .args([
                "--source-table",
                &pg,
                "--table",
                &format!("{ks}.resumed"),
                "--no-progress",
            ])
            .args(["--writetime-column", "updated_at", "--rate", "2000"])
            .arg("--checkpoint")
            .arg(&checkpoint);
    };
    let command = || {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("cassbulk"));
        cmd.env("CASSBULK_HOSTS", common::hosts());
        args(&mut cmd);
        cmd
    };
    let mut child = command()
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !checkpoint.exists() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    child.kill().unwrap(); // SIGKILL: no chance to clean up or flush
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the first run was killed before it finished"
    );
    let mark: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&checkpoint).unwrap()).unwrap();
    let done = mark["partitions"].as_u64().unwrap();
    assert!(
        done > 0 && done < 12_000,
        "killed mid-way: {done} partitions acknowledged"
    );

    let out = command().output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("resumed after {done} partitions")),
        "{stderr}"
    );
    assert!(
        !checkpoint.exists(),
        "a completed load removes its checkpoint"
    );
    assert_eq!(
        table_state(&session, &format!("{ks}.resumed")).await,
        table_state(&session, &format!("{ks}.reference")).await
    );
}

#[tokio::test]
async fn memory_stays_within_the_limit_plus_a_fixed_overhead_on_inputs_several_times_larger() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "memory").await;
    let pg = format!("memory_{}", ks.trim_start_matches("cb_"));
    // About 200 MB of row data: four times the 48 MiB limit.
    psql(&format!(
        "DROP TABLE IF EXISTS {pg}; CREATE TABLE {pg} (username text PRIMARY KEY, email text, score int, tags text[], updated_at timestamptz);
         INSERT INTO {pg} SELECT 'user' || i, repeat(md5(i::text), 24), i, ARRAY[md5(i::text), md5((i + 1)::text)],
                'epoch'::timestamptz + interval '1 second' * 1790000000 + interval '1 microsecond' * i
           FROM generate_series(1, 220000) i;"
    ));
    let dir = tempfile::tempdir().unwrap();
    let input = dump(&pg, dir.path(), "big.pgdump");
    common::run(&session, &format!("CREATE TABLE {ks}.big (username text PRIMARY KEY, email text, score int, tags set<text>)")).await;
    let summary = dir.path().join("summary.json");
    let temp = dir.path().join("spill");
    std::fs::create_dir(&temp).unwrap();
    let out = load(
        &[&input],
        &pg,
        &format!("{ks}.big"),
        &[
            "--writetime-column",
            "updated_at",
            "--memory-limit",
            "48MiB",
            "--temp-dir",
            temp.to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(summary["rows_written"], 220_000, "{stderr}");
    let peak_mib = summary["peak_rss_bytes"].as_u64().unwrap() >> 20;
    eprintln!("peak RSS with --memory-limit 48MiB: {peak_mib} MiB; {stderr}");
    assert!(
        peak_mib <= 48 + 160,
        "peak RSS {peak_mib} MiB is more than the 48 MiB limit + 160 MiB"
    );
    assert!(
        !stderr.contains(" 0 runs spilled"),
        "the input did not fit and had to spill: {stderr}"
    );
    assert_eq!(
        std::fs::read_dir(&temp).unwrap().count(),
        0,
        "spill files removed"
    );
}

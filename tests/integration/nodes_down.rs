//! Replicas that are down (stopped, not frozen: `scripts/cassandra stop-node`) on the
//! three-node ring at replication factor 3 (scripts/test runs these with
//! `CASSBULK_TEST_RING=1`, one at a time). One node down for a whole load at LOCAL_QUORUM
//! does not stop it; two down stop it cleanly, naming the replicas and the token range, and
//! the same command with `--checkpoint` finishes the table once they are back. The bulk route
//! leaves a down replica out and says what it missed and what to run. Elsewhere these tests
//! say so and pass.

use scylla::statement::Consistency;
use scylla::statement::unprepared::Statement;

use crate::common::{self, accounts, accounts_table};

fn ring() -> bool {
    let on = std::env::var("CASSBULK_TEST_RING").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("skipped: needs the three-node ring (CASSBULK_TEST_RING=1, see scripts/test)");
    }
    on
}

/// Brings node N back when dropped, so a failing test does not leave the ring short.
struct Stopped(Vec<usize>);

impl Stopped {
    fn nodes(nodes: &[usize]) -> Stopped {
        for n in nodes {
            common::cassandra(&["stop-node", &n.to_string()], None);
        }
        Stopped(nodes.to_vec())
    }

    fn start_again(&mut self) {
        for n in std::mem::take(&mut self.0) {
            common::cassandra(&["start-node", &n.to_string()], None);
        }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        self.start_again();
    }
}

/// A keyspace at replication factor 3 with one `accounts`-shaped table.
async fn table(session: &scylla::client::session::Session) -> String {
    let ks = common::keyspace(session, "down").await;
    common::run(
        session,
        &format!(
            "ALTER KEYSPACE {ks} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 3}}"
        ),
    )
    .await;
    accounts_table(session, &ks, "accounts").await;
    ks
}

/// Every row with its write time, read at ALL (every replica answers).
async fn rows_at_all(session: &scylla::client::session::Session, ks: &str) -> Vec<(String, i64)> {
    let mut statement = Statement::new(format!(
        "SELECT username, writetime(email) FROM {ks}.accounts"
    ));
    statement.set_consistency(Consistency::All);
    statement.set_is_idempotent(true);
    let mut rows: Vec<(String, i64)> = session
        .query_unpaged(statement, ())
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .rows::<(String, Option<i64>)>()
        .unwrap()
        .map(|r| {
            let (user, written) = r.unwrap();
            (user, written.unwrap_or_default())
        })
        .collect();
    rows.sort();
    rows
}

fn load(ks: &str, extra: &[&str]) -> std::process::Output {
    common::cassbulk()
        .env("CASSBULK_HOSTS", "127.0.0.1")
        .arg("load")
        .arg(accounts().join("accounts.dump"))
        .args(["--table", &format!("{ks}.accounts"), "--no-progress"])
        .args(["--writetime-column", "last_updated"])
        .args(extra)
        .output()
        .unwrap()
}

#[tokio::test]
async fn one_replica_stopped_for_a_whole_load_does_not_stop_it() {
    if !ring() {
        return;
    }
    let session = common::session().await;
    let ks = table(&session).await;
    let reference = table(&session).await;
    let bulk = table(&session).await;
    common::succeeded(&load(&reference, &[]));
    let mut stopped = Stopped::nodes(&[3]);
    common::succeeded(&load(&ks, &[]));
    // The bulk route: sstableloader leaves the down node out and says what it missed.
    let staging = tempfile::tempdir().unwrap();
    let loader = format!(
        "{}/scripts/cassandra tool sstableloader",
        env!("CARGO_MANIFEST_DIR")
    );
    let stderr = common::succeeded(&load(
        &bulk,
        &[
            "--via",
            "sstable",
            "--stream",
            "sstableloader",
            "--sstableloader",
            &loader,
            "--sstable-dir",
            staging.path().to_str().unwrap(),
        ],
    ));
    let note = stderr
        .lines()
        .find(|l| l.contains("replicas down when the load began"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(note.contains("(127.0.0.3)"), "{note}");
    let repair = format!("nodetool repair --full {bulk} accounts");
    assert!(note.contains(&repair), "{note}");
    stopped.start_again();
    // A session that meets node 3 up again.
    let session = common::session().await;
    let expected = rows_at_all(&session, &reference).await;
    assert_eq!(expected.len(), 200);
    assert_eq!(rows_at_all(&session, &ks).await, expected);
    // Node 3 has none of the bulk rows until the repair the note names.
    common::cassandra(
        &[
            "nodetool", "--node", "3", "repair", "--full", &bulk, "accounts",
        ],
        None,
    );
    assert_eq!(rows_at_all(&session, &bulk).await, expected);
}

#[tokio::test]
async fn two_replicas_stopped_stop_the_load_cleanly_and_the_checkpoint_resumes_it() {
    if !ring() {
        return;
    }
    let session = common::session().await;
    let ks = table(&session).await;
    let reference = table(&session).await;
    common::succeeded(&load(&reference, &[]));
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("load.checkpoint");
    let checkpoint = checkpoint.to_str().unwrap();
    let mut stopped = Stopped::nodes(&[2, 3]);
    let out = load(&ks, &["--checkpoint", checkpoint]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    for word in [
        "127.0.0.2 (down)",
        "127.0.0.3 (down)",
        "127.0.0.1 (up)",
        "token range (",
        "with --checkpoint FILE it resumes",
    ] {
        assert!(last.contains(word), "{word} missing from: {last}");
    }
    stopped.start_again();
    common::succeeded(&load(&ks, &["--checkpoint", checkpoint]));
    let session = common::session().await;
    let expected = rows_at_all(&session, &reference).await;
    assert_eq!(expected.len(), 200);
    assert_eq!(rows_at_all(&session, &ks).await, expected);
}

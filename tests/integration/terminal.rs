//! A load on a real terminal (a tmux pane): the reading bar shows bytes of the dump read, rows,
//! rows/s and the time left, the writing bar rows written of those to write; Ctrl-C stops the
//! load with exit code 130 and removes its temporary files. A bulk load shows the cluster taking
//! its SSTables in, and the summary how long each phase took.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common;

const ROWS: usize = 60_000;

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("tmux {args:?}: {e} (apt-get install tmux)"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until the pane shows a line containing `needle`; returns that line.
fn wait_for_line(session: &str, needle: &str, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let screen = tmux(&["capture-pane", "-p", "-t", session]);
        if let Some(line) = screen.lines().find(|l| l.contains(needle)) {
            return line.to_owned();
        }
        assert!(
            start.elapsed() < limit,
            "no line with {needle:?} after {limit:?}; the pane shows:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Ends the tmux session even when the test fails.
struct Session(String);

impl Session {
    /// Runs `command` in a new 160x10 tmux pane named `name`.
    fn start(name: &str, command: &str) -> Session {
        tmux(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "160",
            "-y",
            "10",
            "bash",
            "-c",
            command,
        ]);
        Session(name.to_owned())
    }
}

/// Waits until the command has written its exit status to `status`; returns it.
fn exit_status(status: &Path) -> String {
    let start = Instant::now();
    while !status.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "cassbulk did not exit"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(status).unwrap().trim().to_owned()
}

impl Drop for Session {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.0]);
    }
}

#[tokio::test]
async fn a_load_on_a_terminal_shows_both_bars_and_ctrl_c_removes_its_temporary_files() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "terminal").await;
    common::run(
        &session,
        &format!("CREATE TABLE {ks}.users (id text PRIMARY KEY, name text, bio text)"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut dump = String::from("COPY public.users (id, name, bio) FROM stdin;\n");
    for i in 0..ROWS {
        dump.push_str(&format!(
            "user-{i}\tname {i}\t{}\n",
            "a biography of some length ".repeat(4)
        ));
    }
    dump.push_str("\\.\n");
    let input = dir.path().join("users.sql");
    std::fs::write(&input, dump).unwrap();
    let temp = dir.path().join("temp");
    std::fs::create_dir(&temp).unwrap();
    let status = dir.path().join("status");

    // Slow enough to watch: the reading phase is throttled by a small memory limit (spills), the
    // writing phase by --rate.
    let command = format!(
        "CASSBULK_HOSTS={hosts} {bin} load {input} --source-table public.users --table {ks}.users \
         --writetime 1763800000000000 --rate 3000 --memory-limit 8MiB --temp-dir {temp}; \
         echo $? > {status}; sleep 600",
        hosts = common::hosts(),
        bin = env!("CARGO_BIN_EXE_cassbulk"),
        input = input.display(),
        temp = temp.display(),
        status = status.display(),
    );
    let name = format!("cassbulk-test-{}", std::process::id());
    let _session = Session::start(&name, &command);

    // Either bar may be the first one seen: reading a dump this size can be quick.
    let line = wait_for_line(&name, "rows/s", Duration::from_secs(120));
    if line.starts_with("reading") {
        assert!(line.contains("MiB") && line.contains("left)"), "{line}");
    }
    let line = wait_for_line(&name, "writing [", Duration::from_secs(120));
    assert!(line.contains("/60,000 rows"), "{line}");
    assert!(line.contains("rows/s") && line.contains("left)"), "{line}");
    // Let some rows be written, then interrupt.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        std::fs::read_dir(&temp).unwrap().next().is_some(),
        "the load spilled nothing to {}",
        temp.display()
    );
    tmux(&["send-keys", "-t", &name, "C-c"]);
    let line = wait_for_line(&name, "interrupted", Duration::from_secs(30));
    assert!(line.contains("temporary files removed"), "{line}");
    assert_eq!(exit_status(&status), "130");
    assert_eq!(
        std::fs::read_dir(&temp).unwrap().count(),
        0,
        "temporary files left in {}",
        temp.display()
    );
    assert!(Path::new(&input).exists());
}

#[tokio::test]
async fn a_bulk_load_on_a_terminal_shows_the_cluster_taking_the_sstables_in_and_how_long_it_took() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "terminal_bulk").await;
    common::run(
        &session,
        &format!("CREATE TABLE {ks}.users (id text PRIMARY KEY, name text)"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut dump = String::from("COPY public.users (id, name) FROM stdin;\n");
    for i in 0..1000 {
        dump.push_str(&format!("user-{i}\tname {i}\n"));
    }
    dump.push_str("\\.\n");
    let input = dir.path().join("users.sql");
    std::fs::write(&input, dump).unwrap();
    // nodetool, slowed down so that the loading phase can be watched.
    let nodetool = dir.path().join("slow-nodetool");
    std::fs::write(
        &nodetool,
        format!(
            "#!/bin/sh\nsleep 4\nexec {}/scripts/cassandra nodetool \"$@\"\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &nodetool,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let status = dir.path().join("status");
    let command = format!(
        "CASSBULK_HOSTS={hosts} {bin} load {input} --source-table public.users --table {ks}.users \
         --writetime 1763800000000000 --via sstable --stream import --nodetool {nodetool} \
         --sstable-dir {sstables}; echo $? > {status}; sleep 600",
        hosts = common::hosts(),
        bin = env!("CARGO_BIN_EXE_cassbulk"),
        input = input.display(),
        nodetool = nodetool.display(),
        sstables = dir.path().join("sstables").display(),
        status = status.display(),
    );
    let name = format!("cassbulk-test-bulk-{}", std::process::id());
    let _session = Session::start(&name, &command);

    let line = wait_for_line(&name, "loading ", Duration::from_secs(60));
    assert!(
        line.contains("0 of 1 SSTable folder taken in by the cluster"),
        "{line}"
    );
    let line = wait_for_line(
        &name,
        "imported with nodetool import in",
        Duration::from_secs(60),
    );
    let seconds: f64 = line
        .rsplit(" in ")
        .next()
        .and_then(|s| s.trim().strip_suffix('s'))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(seconds >= 4.0, "{line}");
    let line = wait_for_line(&name, "rows read", Duration::from_secs(10));
    assert!(
        line.contains("1000 written") && line.contains("loading "),
        "{line}"
    );
    assert_eq!(exit_status(&status), "0");
    let rows = common::rows(&session, &format!("SELECT id FROM {ks}.users")).await;
    assert_eq!(rows.len(), 1000);
}

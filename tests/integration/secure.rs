//! A node that requires TLS, client certificates and a password (`scripts/cassandra start
//! --tls --auth`; scripts/test runs these with `CASSBULK_TEST_TLS=1`): every verb that talks
//! CQL connects through the TLS flags (here from the environment, as a nightly job would give
//! them, the password too, so none is on a command line) and does what it does on an open node;
//! the bulk route logs nodetool in to JMX, and no process it starts ever has a password in its
//! command line; each way a connection can be wrong fails clearly, exit 3, naming what to check
//! and never the password. A node with TLS and client certificates but no password
//! (`--tls` alone, `CASSBULK_TEST_TLS=cert`) takes SSTables from sstableloader over TLS.
//! On an open node these tests say so and pass without checking anything.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cassbulk::cluster::{self, ConnectOptions};
use cassbulk::tls::TlsOptions;

use crate::common::{self, accounts, accounts_table};

const PASSWORD: &str = "cassandra";
/// The JMX password `scripts/cassandra start --auth` sets.
const JMX_PASSWORD: &str = "jmx-secret-4711";

fn secure() -> bool {
    let on = std::env::var("CASSBULK_TEST_TLS").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("skipped: needs the TLS node (CASSBULK_TEST_TLS=1, see scripts/test)");
    }
    on
}

/// The node with TLS and client certificates but no password.
fn certificates_only() -> bool {
    let on = std::env::var("CASSBULK_TEST_TLS").is_ok_and(|v| v == "cert");
    if !on {
        eprintln!("skipped: needs the TLS node without a password (CASSBULK_TEST_TLS=cert)");
    }
    on
}

/// Where `scripts/cassandra start --tls` made its certificates.
fn tls_dir() -> PathBuf {
    std::env::var_os("CASSBULK_TEST_TLS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/cassandra-run/tls"),
        PathBuf::from,
    )
}

fn tls_options() -> TlsOptions {
    TlsOptions {
        ca: Some(tls_dir().join("ca.pem")),
        cert: Some(tls_dir().join("client.pem")),
        key: Some(tls_dir().join("client.key")),
        ..TlsOptions::default()
    }
}

async fn session(dir: &Path) -> scylla::client::session::Session {
    let password = dir.join("password");
    std::fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    let login = !certificates_only();
    cluster::connect(&ConnectOptions {
        username: login.then(|| "cassandra".into()),
        password_file: login.then_some(password),
        tls: Some(tls_options()),
        ..common::connect_options()
    })
    .await
    .unwrap()
}

/// `cassbulk` with TLS from its environment, no login.
fn cassbulk_tls_only() -> assert_cmd::Command {
    let mut cmd = common::cassbulk();
    let dir = tls_dir();
    cmd.env("CASSBULK_TLS_CA", dir.join("ca.pem"))
        .env("CASSBULK_TLS_CERT", dir.join("client.pem"))
        .env("CASSBULK_TLS_KEY", dir.join("client.key"));
    cmd
}

/// Runs `cmd` to its end while reading, every millisecond or two, the command line of it and
/// of every process under it: what each process showed the machine (`ps`, /proc).
fn watch_command_lines(cmd: &mut Command) -> (Output, BTreeSet<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let root = child.id();
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let mut seen = BTreeSet::new();
    let status = loop {
        for pid in descendants(root) {
            if let Ok(line) = std::fs::read(format!("/proc/{pid}/cmdline"))
                && !line.is_empty()
            {
                seen.insert(String::from_utf8_lossy(&line).replace('\0', " "));
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    let output = Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    (output, seen)
}

/// `root` and every live process under it, from each process's parent in /proc/<pid>/stat.
fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut all = vec![root];
    let mut i = 0;
    while i < all.len() {
        all.extend(children.get(&all[i]).into_iter().flatten());
        i += 1;
    }
    all
}

/// `cassbulk` with TLS and the credentials in its environment only.
fn cassbulk() -> assert_cmd::Command {
    let mut cmd = common::cassbulk();
    let dir = tls_dir();
    cmd.env("CASSBULK_TLS_CA", dir.join("ca.pem"))
        .env("CASSBULK_TLS_CERT", dir.join("client.pem"))
        .env("CASSBULK_TLS_KEY", dir.join("client.key"))
        .env("CASSBULK_USERNAME", "cassandra")
        .env("CASSBULK_PASSWORD", PASSWORD);
    cmd
}

#[tokio::test]
async fn every_cql_verb_works_against_a_tls_client_certificate_and_password_node() {
    if !secure() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let session = session(dir.path()).await;
    let ks = common::keyspace(&session, "tls").await;
    for table in [
        "accounts",
        "copied",
        "bulk",
        "from_parquet",
        "mended",
        "ttl_cql",
        "ttl_bulk",
    ] {
        accounts_table(&session, &ks, table).await;
    }
    // A pg_dump load over CQL.
    common::succeeded(
        &cassbulk()
            .arg("load")
            .arg(accounts().join("accounts.dump"))
            .args(["--table", &format!("{ks}.accounts"), "--no-progress"])
            .args(["--writetime-column", "last_updated"])
            .output()
            .unwrap(),
    );
    let loaded = common::rows(&session, &format!("SELECT username FROM {ks}.accounts")).await;
    assert_eq!(loaded.len(), 200);
    // The bulk route: the ring and schema over TLS, the SSTables through nodetool import
    // (JMX, which client_encryption_options does not cover).
    let staging = tempfile::tempdir().unwrap();
    let nodetool = format!("{}/scripts/cassandra nodetool", env!("CARGO_MANIFEST_DIR"));
    common::succeeded(
        &cassbulk()
            .arg("load")
            .arg(accounts().join("accounts.dump"))
            .args(["--table", &format!("{ks}.bulk"), "--no-progress"])
            .args(["--writetime-column", "last_updated", "--via", "sstable"])
            .args([
                "--stream",
                "import",
                "--nodetool",
                &nodetool,
                "--jmx-username",
                "cassandra",
                "--sstable-dir",
            ])
            .arg(staging.path())
            .env("CASSBULK_JMX_PASSWORD", JMX_PASSWORD)
            .output()
            .unwrap(),
    );
    let select = |table: &str| {
        format!(
            "SELECT username, email, bio, accepted_licences, writetime(email) FROM {ks}.{table}"
        )
    };
    let mut via_cql = common::rows(&session, &select("accounts")).await;
    let mut via_sstable = common::rows(&session, &select("bulk")).await;
    via_cql.sort();
    via_sstable.sort();
    assert_eq!(via_cql, via_sstable, "both routes write the same cells");
    // TTLs over TLS, both routes: every cell written now expires a day later. (The write
    // time is now: the routes part ways for old write times, see the session 20 note.)
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros()
        .to_string();
    let staging = tempfile::tempdir().unwrap();
    let staging_dir = staging.path().to_str().unwrap();
    let bulk = [
        "--via",
        "sstable",
        "--stream",
        "import",
        "--nodetool",
        &nodetool,
        "--jmx-username",
        "cassandra",
        "--sstable-dir",
        staging_dir,
    ];
    for (table, route) in [("ttl_cql", &[][..]), ("ttl_bulk", &bulk[..])] {
        common::succeeded(
            &cassbulk()
                .arg("load")
                .arg(accounts().join("accounts.dump"))
                .args(["--table", &format!("{ks}.{table}"), "--no-progress"])
                .args(["--ttl", "86400", "--writetime", &now])
                .args(route)
                .env("CASSBULK_JMX_PASSWORD", JMX_PASSWORD)
                .output()
                .unwrap(),
        );
        let ttls = common::rows(&session, &format!("SELECT ttl(email) FROM {ks}.{table}")).await;
        assert_eq!(ttls.len(), 200, "{table}");
        // Rows without an email have no cell to carry a TTL.
        let left: Vec<i32> = ttls
            .iter()
            .filter_map(|row| row[0].clone())
            .map(|b| i32::from_be_bytes(b.try_into().unwrap()))
            .collect();
        assert!(left.len() > 100, "{table}: {} emails", left.len());
        for ttl in left {
            assert!((86_400 - 300..=86_400).contains(&ttl), "{table}: ttl {ttl}");
        }
    }
    // A live-table copy (both sides TLS), then verify: the copy equals its source, write
    // times included.
    common::succeeded(
        &cassbulk()
            .args(["load", &format!("cql://{}/{ks}.accounts", common::hosts())])
            .args(["--table", &format!("{ks}.copied"), "--no-progress"])
            .output()
            .unwrap(),
    );
    // verify exits 0 only when the table holds every source cell, write times included.
    let out = cassbulk()
        .args([
            "verify",
            &format!("cql://{}/{ks}.accounts", common::hosts()),
        ])
        .args(["--table", &format!("{ks}.copied"), "--no-progress"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // verify --repair fills a table that lacks every row; a second verify finds nothing.
    let repaired = cassbulk()
        .args([
            "verify",
            &format!("cql://{}/{ks}.accounts", common::hosts()),
        ])
        .args([
            "--table",
            &format!("{ks}.mended"),
            "--no-progress",
            "--repair",
        ])
        .output()
        .unwrap();
    assert_eq!(
        repaired.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&repaired.stderr)
    );
    let again = cassbulk()
        .args([
            "verify",
            &format!("cql://{}/{ks}.accounts", common::hosts()),
        ])
        .args(["--table", &format!("{ks}.mended"), "--no-progress"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    // Dumps of the table in every format.
    for format in ["csv", "parquet", "pgcopy"] {
        let out = dir.path().join(format!("dump-{format}"));
        let dumped = common::succeeded(
            &cassbulk()
                .args(["dump", &format!("cql://{}/{ks}.accounts", common::hosts())])
                .args(["--format", format, "--no-progress", "--to"])
                .arg(&out)
                .output()
                .unwrap(),
        );
        assert!(
            dumped.contains("200 rows read, 200 written"),
            "{format}: {dumped}"
        );
    }
    // The Parquet dump loads back over TLS: the same cells as the CQL route wrote.
    common::succeeded(
        &cassbulk()
            .arg("load")
            .arg(dir.path().join("dump-parquet"))
            .args(["--table", &format!("{ks}.from_parquet"), "--no-progress"])
            .args(["--writetime", "2026-01-01T00:00:00Z"])
            .output()
            .unwrap(),
    );
    let values = |table: &str| {
        format!("SELECT username, email, bio, accepted_licences, login_count FROM {ks}.{table}")
    };
    let mut from_parquet = common::rows(&session, &values("from_parquet")).await;
    let mut original = common::rows(&session, &values("accounts")).await;
    from_parquet.sort();
    original.sort();
    assert_eq!(from_parquet, original, "a Parquet dump loads back equal");
    // copy-schema and inspect read the schema through the same connection; the copy is
    // made, and the node describes the new table.
    let copy = format!("{ks}_copy");
    common::succeeded(
        &cassbulk()
            .args([
                "copy-schema",
                "--from-hosts",
                &common::hosts(),
                "--keyspace",
                &ks,
            ])
            .args(["--to-keyspace", &copy])
            .output()
            .unwrap(),
    );
    let copied_tables = common::rows(
        &session,
        &format!("SELECT table_name FROM system_schema.tables WHERE keyspace_name = '{copy}'"),
    )
    .await;
    assert_eq!(copied_tables.len(), 7, "{copied_tables:?}");
    let inspect = cassbulk()
        .args(["inspect", "--table", &format!("{ks}.accounts")])
        .output()
        .unwrap();
    assert!(inspect.status.success());
    assert!(String::from_utf8_lossy(&inspect.stdout).contains("login_count"));
}

#[tokio::test]
async fn a_wrong_connection_fails_with_exit_3_saying_what_to_check_and_never_the_password() {
    if !secure() {
        return;
    }
    let dir = tls_dir();
    let inspect = |cmd: &mut assert_cmd::Command| {
        let out = cmd
            .args([
                "inspect",
                "--table",
                "system_schema.keyspaces",
                "--connect-timeout",
                "5",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(
            !stderr.contains(PASSWORD) || stderr.contains("username cassandra"),
            "{stderr}"
        );
        stderr.lines().last().unwrap_or_default().to_owned()
    };
    // Plaintext to a TLS-only node.
    let last = inspect(
        common::cassbulk()
            .env("CASSBULK_USERNAME", "cassandra")
            .env("CASSBULK_PASSWORD", PASSWORD),
    );
    assert!(last.contains("try --tls"), "{last}");
    // No client certificate.
    let last = inspect(
        common::cassbulk()
            .env("CASSBULK_TLS_CA", dir.join("ca.pem"))
            .env("CASSBULK_USERNAME", "cassandra")
            .env("CASSBULK_PASSWORD", PASSWORD),
    );
    assert!(last.contains("--tls-cert and --tls-key"), "{last}");
    // A CA that did not sign the node's certificate.
    let last = inspect(cassbulk().env("CASSBULK_TLS_CA", dir.join("client.pem")));
    assert!(
        last.contains("UnknownIssuer") && last.contains("check --tls-ca"),
        "{last}"
    );
    // A certificate that names another host.
    let last = inspect(cassbulk().env("CASSBULK_TLS_SERVER_NAME", "db.example.com"));
    assert!(
        last.contains("db.example.com") && last.contains("--tls-server-name"),
        "{last}"
    );
    // A wrong password: said, and not echoed.
    let wrong = "not-the-password-4711";
    let last = inspect(cassbulk().env("CASSBULK_PASSWORD", wrong));
    assert!(last.contains("check --username and the password"), "{last}");
    assert!(!last.contains(wrong), "{last}");
    // The certificate names the node by a DNS name too: --tls-server-name checks that name.
    common::succeeded(
        &cassbulk()
            .env("CASSBULK_TLS_SERVER_NAME", "node.cassbulk.test")
            .args(["inspect", "--table", "system_schema.keyspaces"])
            .output()
            .unwrap(),
    );
}

#[tokio::test]
async fn no_process_of_a_bulk_load_with_logins_shows_a_password_in_its_command_line() {
    if !secure() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let session = session(dir.path()).await;
    let ks = common::keyspace(&session, "argv").await;
    accounts_table(&session, &ks, "accounts").await;
    // A login of its own, so its password is like no other word on a command line.
    let cql_password = "cql-secret-8152";
    common::run(
        &session,
        &format!(
            "CREATE ROLE IF NOT EXISTS bulk_loader WITH PASSWORD = '{cql_password}' AND LOGIN = true AND SUPERUSER = true"
        ),
    )
    .await;
    let staging = tempfile::tempdir().unwrap();
    let tls = tls_dir();
    let mut load = Command::new(assert_cmd::cargo::cargo_bin("cassbulk"));
    load.arg("load")
        .arg(accounts().join("accounts.dump"))
        .args(["--table", &format!("{ks}.accounts"), "--no-progress"])
        .args(["--writetime-column", "last_updated", "--via", "sstable"])
        .args(["--stream", "import", "--sstable-dir"])
        .arg(staging.path())
        .arg("--nodetool")
        .arg(format!(
            "{}/scripts/cassandra nodetool",
            env!("CARGO_MANIFEST_DIR")
        ))
        .env("CASSBULK_HOSTS", common::hosts())
        .env("CASSBULK_TLS_CA", tls.join("ca.pem"))
        .env("CASSBULK_TLS_CERT", tls.join("client.pem"))
        .env("CASSBULK_TLS_KEY", tls.join("client.key"))
        .env("CASSBULK_USERNAME", "bulk_loader")
        .env("CASSBULK_PASSWORD", cql_password)
        .env("CASSBULK_JMX_USERNAME", "cassandra")
        .env("CASSBULK_JMX_PASSWORD", JMX_PASSWORD);
    let (out, lines) = watch_command_lines(&mut load);
    common::succeeded(&out);
    // The watch saw cassbulk and the JVM nodetool runs in, which logged in to JMX.
    assert!(
        lines.iter().any(|l| l.contains("cassbulk load")),
        "{lines:#?}"
    );
    let nodetool: Vec<&String> = lines.iter().filter(|l| l.contains("NodeTool")).collect();
    assert!(!nodetool.is_empty(), "{lines:#?}");
    assert!(
        nodetool.iter().any(|l| l.contains("-u cassandra -pwf ")),
        "{nodetool:#?}"
    );
    for line in &lines {
        assert!(
            !line.contains(cql_password) && !line.contains(JMX_PASSWORD),
            "a password in a command line: {line}"
        );
    }
    let loaded = common::rows(&session, &format!("SELECT username FROM {ks}.accounts")).await;
    assert_eq!(loaded.len(), 200);
}

#[tokio::test]
async fn a_wrong_jmx_password_fails_the_import_keeps_the_sstables_and_is_not_printed() {
    if !secure() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let session = session(dir.path()).await;
    let ks = common::keyspace(&session, "jmx").await;
    accounts_table(&session, &ks, "accounts").await;
    let staging = tempfile::tempdir().unwrap();
    let wrong = "not-the-jmx-password-0815";
    let out = cassbulk()
        .arg("load")
        .arg(accounts().join("accounts.dump"))
        .args(["--table", &format!("{ks}.accounts"), "--no-progress"])
        .args(["--via", "sstable", "--stream", "import", "--nodetool"])
        .arg(format!(
            "{}/scripts/cassandra nodetool",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args(["--jmx-username", "cassandra", "--sstable-dir"])
        .arg(staging.path())
        .env("CASSBULK_JMX_PASSWORD", wrong)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("Invalid username or password"), "{stderr}");
    assert!(
        stderr.contains("the SSTables not loaded are kept in"),
        "{stderr}"
    );
    assert!(!stderr.contains(wrong), "{stderr}");
    // No JMX password at all is refused before anything is read or written.
    let out = cassbulk()
        .arg("load")
        .arg(accounts().join("accounts.dump"))
        .args(["--table", &format!("{ks}.accounts"), "--no-progress"])
        .args(["--via", "sstable", "--stream", "import"])
        .args(["--jmx-username", "cassandra", "--sstable-dir"])
        .arg(dir.path().join("never"))
        .env_remove("CASSBULK_JMX_PASSWORD")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("CASSBULK_JMX_PASSWORD"), "{stderr}");
    assert!(!dir.path().join("never").exists());
}

#[tokio::test]
async fn sstableloader_streams_over_tls_with_a_client_certificate_and_no_secret_on_its_command_line()
 {
    if !certificates_only() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let session = session(dir.path()).await;
    let ks = common::keyspace(&session, "loader_tls").await;
    accounts_table(&session, &ks, "accounts").await;
    accounts_table(&session, &ks, "streamed").await;
    common::succeeded(
        &cassbulk_tls_only()
            .arg("load")
            .arg(accounts().join("accounts.dump"))
            .args(["--table", &format!("{ks}.accounts"), "--no-progress"])
            .args(["--writetime-column", "last_updated"])
            .output()
            .unwrap(),
    );
    let staging = tempfile::tempdir().unwrap();
    let loader = format!(
        "{}/scripts/cassandra tool sstableloader",
        env!("CARGO_MANIFEST_DIR")
    );
    let stderr = common::succeeded(
        &cassbulk_tls_only()
            .arg("load")
            .arg(accounts().join("accounts.dump"))
            .args(["--table", &format!("{ks}.streamed"), "--no-progress"])
            .args(["--writetime-column", "last_updated", "--via", "sstable"])
            .args(["--stream", "sstableloader", "--sstableloader", &loader])
            .arg("--sstable-dir")
            .arg(staging.path())
            .output()
            .unwrap(),
    );
    assert!(
        stderr.contains("streamed to every replica with sstableloader"),
        "{stderr}"
    );
    let select = |table: &str| {
        format!(
            "SELECT username, email, bio, accepted_licences, writetime(email) FROM {ks}.{table}"
        )
    };
    let mut via_cql = common::rows(&session, &select("accounts")).await;
    let mut streamed = common::rows(&session, &select("streamed")).await;
    via_cql.sort();
    streamed.sort();
    assert_eq!(via_cql.len(), 200);
    assert_eq!(via_cql, streamed, "both routes write the same cells");
    // Nothing of the settings it was given is left behind.
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("cassbulk-tools-")
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_cql_source_connects_with_its_own_login_and_ca() {
    if !secure() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let session = session(dir.path()).await;
    let ks = common::keyspace(&session, "source_tls").await;
    accounts_table(&session, &ks, "accounts").await;
    accounts_table(&session, &ks, "copied").await;
    common::succeeded(
        &cassbulk()
            .arg("load")
            .arg(accounts().join("accounts.dump"))
            .args(["--table", &format!("{ks}.accounts"), "--no-progress"])
            .args(["--writetime-column", "last_updated"])
            .output()
            .unwrap(),
    );
    // The "old cluster": a login of its own, its CA in a file of its own.
    let source_password = "old-secret-3141";
    common::run(
        &session,
        &format!(
            "CREATE ROLE IF NOT EXISTS old_reader WITH PASSWORD = '{source_password}' AND LOGIN = true AND SUPERUSER = true"
        ),
    )
    .await;
    let source_ca = dir.path().join("old-cluster-ca.pem");
    std::fs::copy(tls_dir().join("ca.pem"), &source_ca).unwrap();
    let source = format!("cql://{}/{ks}.accounts", common::hosts());
    let with_source = |cmd: &mut assert_cmd::Command, ca: &Path| {
        cmd.env("CASSBULK_SOURCE_USERNAME", "old_reader")
            .env("CASSBULK_SOURCE_PASSWORD", source_password)
            .env("CASSBULK_SOURCE_TLS_CA", ca)
            .env("CASSBULK_SOURCE_TLS_CERT", tls_dir().join("client.pem"))
            .env("CASSBULK_SOURCE_TLS_KEY", tls_dir().join("client.key"));
    };
    let mut copy = cassbulk();
    with_source(&mut copy, &source_ca);
    common::succeeded(
        &copy
            .args(["load", &source])
            .args(["--table", &format!("{ks}.copied"), "--no-progress"])
            .output()
            .unwrap(),
    );
    let mut check = cassbulk();
    with_source(&mut check, &source_ca);
    let verify = check
        .args([
            "verify",
            &source,
            "--table",
            &format!("{ks}.copied"),
            "--no-progress",
        ])
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // The source's CA is the source's alone: a wrong one fails the source, naming it.
    let mut wrong = cassbulk();
    with_source(&mut wrong, &tls_dir().join("client.pem"));
    let out = wrong
        .args(["load", &source])
        .args(["--table", &format!("{ks}.copied"), "--no-progress"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains(&source) && last.contains("--source-tls-ca"),
        "{last}"
    );
    assert!(!stderr.contains(source_password), "{stderr}");
}

#[test]
fn an_expired_server_certificate_fails_with_exit_3_naming_the_host_and_the_dates() {
    if !secure() {
        return;
    }
    // A real TLS server (openssl s_server) with the node's key and a certificate the test
    // CA signed, valid for one day that ended two days ago.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut server = Command::new("openssl")
        .args(["s_server", "-quiet", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(tls_dir().join("expired.pem"))
        .arg("-key")
        .arg(tls_dir().join("node.key"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "openssl s_server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = cassbulk()
        .env("CASSBULK_HOSTS", format!("127.0.0.1:{port}"))
        .args([
            "inspect",
            "--table",
            "system.local",
            "--connect-timeout",
            "5",
        ])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains(&format!("127.0.0.1:{port}")), "{last}");
    assert!(last.contains("certificate expired"), "{last}");
    assert!(last.contains("renew it on the node"), "{last}");
}

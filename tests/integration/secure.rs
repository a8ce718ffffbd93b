//! A node that requires TLS, client certificates and a password (`scripts/cassandra start
//! --tls --auth`; scripts/test runs these with `CASSBULK_TEST_TLS=1`): every verb that talks
//! CQL connects through the TLS flags (here from the environment, as a nightly job would give
//! them, the password too, so none is on a command line) and does what it does on an open node,
//! and each way a connection can be wrong fails clearly, exit 3, naming what to check and never
//! the password. On an open node these tests say so and pass without checking anything.

use std::path::{Path, PathBuf};

use cassbulk::cluster::{self, ConnectOptions};
use cassbulk::tls::TlsOptions;

use crate::common;

const PASSWORD: &str = "cassandra";

fn secure() -> bool {
    let on = std::env::var("CASSBULK_TEST_TLS").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("skipped: needs the TLS node (CASSBULK_TEST_TLS=1, see scripts/test)");
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
    cluster::connect(&ConnectOptions {
        username: Some("cassandra".into()),
        password_file: Some(password),
        tls: Some(tls_options()),
        ..common::connect_options()
    })
    .await
    .unwrap()
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

fn accounts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/accounts")
}

#[tokio::test]
async fn every_cql_verb_works_against_a_tls_client_certificate_and_password_node() {
    if !secure() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let session = session(dir.path()).await;
    let ks = common::keyspace(&session, "tls").await;
    let cql = std::fs::read_to_string(accounts().join("accounts.cql"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    for table in ["accounts", "copied", "bulk"] {
        common::run(
            &session,
            cql.replace("{{keyspace}}", &ks)
                .replace(".accounts (", &format!(".{table} ("))
                .trim()
                .trim_end_matches(';'),
        )
        .await;
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
                "--sstable-dir",
            ])
            .arg(staging.path())
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
    // A dump of the table to CSV.
    let out = dir.path().join("dump");
    let dumped = common::succeeded(
        &cassbulk()
            .args(["dump", &format!("cql://{}/{ks}.accounts", common::hosts())])
            .args(["--format", "csv", "--no-progress", "--to"])
            .arg(&out)
            .output()
            .unwrap(),
    );
    assert!(dumped.contains("200 rows read, 200 written"), "{dumped}");
    // copy-schema and inspect read the schema through the same connection.
    let stdout = cassbulk()
        .args([
            "copy-schema",
            "--from-hosts",
            &common::hosts(),
            "--keyspace",
            &ks,
        ])
        .args(["--to-keyspace", "elsewhere", "--dry-run"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&stdout.stdout);
    assert!(
        stdout.status.success(),
        "{}",
        String::from_utf8_lossy(&stdout.stderr)
    );
    assert!(text.contains("elsewhere.accounts"), "{text}");
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

//! Contact points from DNS SRV records, served by a real DNS server (`scripts/dns start`:
//! dnsmasq on 127.0.0.153, its resolv.conf given in `CASSBULK_TEST_RESOLV_CONF`, which these
//! tests hand cassbulk as `CASSBULK_RESOLV_CONF`). Without it they say so and pass.

use std::path::PathBuf;

use crate::common::{self, accounts, accounts_table};

fn resolv_conf() -> Option<PathBuf> {
    let conf = std::env::var_os("CASSBULK_TEST_RESOLV_CONF").map(PathBuf::from);
    if conf.is_none() {
        eprintln!("skipped: needs scripts/dns (CASSBULK_TEST_RESOLV_CONF, see scripts/test)");
    }
    conf
}

fn cassbulk(conf: &PathBuf, name: &str) -> assert_cmd::Command {
    let mut cmd = common::cassbulk();
    cmd.env("CASSBULK_RESOLV_CONF", conf).env(
        "CASSBULK_HOSTS",
        format!("srv:_cql._tcp.{name}.cassbulk.test"),
    );
    cmd
}

/// A keyspace of the test's own with the `accounts` table.
async fn keyspace(session: &scylla::client::session::Session, name: &str) -> String {
    let ks = common::keyspace(session, name).await;
    accounts_table(session, &ks, "accounts").await;
    ks
}

#[tokio::test]
async fn a_load_finds_its_contact_points_in_srv_records() {
    let Some(conf) = resolv_conf() else {
        return;
    };
    let session = common::session().await;
    let ks = keyspace(&session, "srv_one").await;
    let mut load = cassbulk(&conf, "one");
    common::succeeded(
        &load
            .arg("load")
            .arg(accounts().join("accounts.dump"))
            .args(["--table", &format!("{ks}.accounts"), "--no-progress"])
            .output()
            .unwrap(),
    );
    let rows = common::rows(&session, &format!("SELECT username FROM {ks}.accounts")).await;
    assert_eq!(rows.len(), 200);
}

#[tokio::test]
async fn with_the_best_priority_hosts_down_the_next_group_is_used() {
    let Some(conf) = resolv_conf() else {
        return;
    };
    let session = common::session().await;
    let ks = keyspace(&session, "srv_failover").await;
    // Priority 10 is node1's port 9999 (nothing listens) and 127.0.0.9 (no node): the port
    // comes from each record, and only priority 20's node1:9042 answers.
    let stderr = common::succeeded(
        &cassbulk(&conf, "failover")
            .arg("load")
            .arg(accounts().join("accounts.dump"))
            .args(["--table", &format!("{ks}.accounts"), "--no-progress"])
            .output()
            .unwrap(),
    );
    let warning = stderr
        .lines()
        .find(|l| l.contains("SRV priority 10"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(warning.contains("127.0.0.1:9999"), "{warning}");
    assert!(warning.contains("127.0.0.9:9042"), "{warning}");
    assert!(warning.contains("trying priority 20"), "{warning}");
    let rows = common::rows(&session, &format!("SELECT username FROM {ks}.accounts")).await;
    assert_eq!(rows.len(), 200);
}

#[test]
fn a_name_without_srv_records_fails_with_exit_3_naming_it() {
    let Some(conf) = resolv_conf() else {
        return;
    };
    let out = cassbulk(&conf, "none")
        .args(["inspect", "--table", "system_schema.keyspaces"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("srv:_cql._tcp.none.cassbulk.test: no SRV records"),
        "{stderr}"
    );
    // A name mixed with hosts is the command's mistake.
    let out = common::cassbulk()
        .args(["inspect", "--table", "system_schema.keyspaces", "--hosts"])
        .arg("srv:_cql._tcp.one.cassbulk.test,127.0.0.1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mixes SRV names and hosts"));
}

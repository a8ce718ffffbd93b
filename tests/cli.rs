//! Black-box tests of the `cassbulk` binary that need no server: help, usage errors, exit codes.

use assert_cmd::Command;
use predicates::str::contains;

fn cassbulk() -> Command {
    Command::cargo_bin("cassbulk").unwrap()
}

#[test]
fn help_lists_every_subcommand_and_the_exit_codes() {
    let out = cassbulk().arg("--help").output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    for word in [
        "load",
        "dump",
        "verify",
        "inspect",
        "copy-schema",
        "Exit codes",
        "CASSBULK_PASSWORD",
    ] {
        assert!(stdout.contains(word), "{word} missing from:\n{stdout}");
    }
}

#[test]
fn a_missing_input_file_is_a_one_line_error_with_exit_2() {
    let out = cassbulk()
        .args(["load", "/no/such/dump.sql", "--table", "ks.t"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("/no/such/dump.sql does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn a_table_name_without_keyspace_is_a_usage_error() {
    cassbulk()
        .args(["inspect", "--table", "accounts"])
        .assert()
        .code(2)
        .stderr(contains("write it as KEYSPACE.TABLE"));
}

#[test]
fn an_unknown_flag_is_a_usage_error() {
    cassbulk().args(["load", "--frobnicate"]).assert().code(2);
}

#[test]
fn there_is_no_password_flag_so_passwords_never_reach_the_process_list() {
    let out = cassbulk()
        .args(["inspect", "--table", "ks.t", "--password", "secret"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("--password"), "{stderr}");
}

#[test]
fn a_username_without_a_password_says_where_the_password_comes_from() {
    cassbulk()
        .env_remove("CASSBULK_PASSWORD")
        .args(["inspect", "--table", "ks.t", "--username", "loader"])
        .assert()
        .code(3)
        .stderr(contains("set CASSBULK_PASSWORD or pass --password-file"));
}

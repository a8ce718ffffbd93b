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
        .stderr(contains(
            "set CASSBULK_PASSWORD or pass --password-file FILE",
        ));
}

#[test]
fn inspect_describes_a_folder_of_sstables_without_a_cluster_the_same_in_every_format() {
    let mut reports = Vec::new();
    for format in ["nb", "oa", "da"] {
        let dir = format!(
            "{}/fixtures/sstables/{format}/everything",
            env!("CARGO_MANIFEST_DIR")
        );
        let out = cassbulk().args(["inspect", &dir]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        for expected in [
            "table fx.everything",
            "c2",
            "clustering 2 desc",
            "vec                vector<float, 3>",
            "LZ4Compressor, 16 KiB chunks",
            // What sstabledump shows of the first generation: 200 partitions, a static row
            // and 6 rows in each.
            "partitions 200, rows 1400 (static included), live cells 40192",
            "tombstones: partition 1, range 1, row 1, collection 123, cell 5",
            "all 2 SSTables",
        ] {
            let expected = expected.replace("c2", "(clustering 2)");
            assert!(
                stdout.contains(&expected),
                "{format}: {expected} missing from:\n{stdout}"
            );
        }
        // Everything after the file names is the same in every format.
        reports.push(
            stdout
                .lines()
                .filter(|l| !l.contains("-big") && !l.contains("-bti") && !l.contains("SSTables ("))
                .filter(|l| !l.contains("local deletion times"))
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(reports[0], reports[1]);
    assert_eq!(reports[0], reports[2]);
}

#[test]
fn inspect_without_a_folder_or_a_table_is_a_usage_error() {
    cassbulk().arg("inspect").assert().code(2);
}

#[test]
fn verify_refuses_a_sample_outside_zero_to_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("dump.sql");
    std::fs::write(&input, "").unwrap();
    let input = input.to_str().unwrap();
    let out = cassbulk()
        .args(["verify", input, "--table", "ks.t", "--sample", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("--sample 2: give the share"), "{stderr}");
}

#[test]
fn verify_help_names_the_categories_the_report_and_the_repair() {
    let out = cassbulk().args(["verify", "--help"]).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    for word in [
        "missing",
        "--report",
        "--repair",
        "--sample",
        "--checkpoint",
        "--writetime",
    ] {
        assert!(stdout.contains(word), "{word} missing from:\n{stdout}");
    }
}

#[test]
fn sstableloader_with_a_password_or_without_a_ca_is_refused_before_anything_is_read() {
    let dump = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/accounts/accounts.dump"
    );
    let load = |extra: &[&str]| {
        let out = cassbulk()
            .args(["load", dump, "--table", "ks.t", "--via", "sstable"])
            .args(["--stream", "sstableloader", "--hosts", "192.0.2.1"])
            .args(extra)
            .env("CASSBULK_PASSWORD", "secret-7")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8(out.stderr).unwrap()
    };
    let stderr = load(&["--username", "ops"]);
    assert!(stderr.contains("-pw"), "{stderr}");
    assert!(stderr.contains("use --stream import"), "{stderr}");
    assert!(!stderr.contains("secret-7"), "{stderr}");
    let stderr = load(&["--tls"]);
    assert!(stderr.contains("needs --tls-ca"), "{stderr}");
}

#[test]
fn flags_for_another_route_or_a_missing_cql_input_are_refused_not_ignored() {
    let dump = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/accounts/accounts.dump"
    );
    let load = |extra: &[&str]| {
        let out = cassbulk()
            .args(["load", dump, "--table", "ks.t", "--hosts", "192.0.2.1"])
            .args(extra)
            .env_remove("CASSBULK_JMX_USERNAME")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8(out.stderr).unwrap()
    };
    // A JMX login on the CQL route, where no nodetool runs.
    let stderr = load(&["--jmx-username", "ops"]);
    assert!(
        stderr.contains("goes with --via sstable --stream import"),
        "{stderr}"
    );
    // A source cluster's settings without a cql:// input.
    let stderr = load(&["--source-dc", "dc1"]);
    assert!(stderr.contains("--source-dc"), "{stderr}");
    assert!(stderr.contains("reads none"), "{stderr}");
}

/// A Cassandra 3.x SSTable (`ma`) with a flipped bit, or cut short, is refused naming the file
/// and the byte, before a dump writes anything: no panic, no part file. Compressed or not: an
/// uncompressed SSTable's values carry no checksum, so its Digest.crc32 is checked first.
#[test]
fn a_damaged_or_cut_3x_sstable_is_refused_naming_the_file_and_byte_before_a_dump_writes() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sstables-3x/ma");
    for folder in ["every_type-3.0.5", "every_type_uncompressed-3.0.5"] {
        let source = fixtures.join(folder);
        let table = folder.split('-').next().unwrap();
        let schema = fixtures.join(format!("schema-{table}.cql"));
        for damage in ["flipped", "cut"] {
            let what = format!("{folder} {damage}");
            let dir = tempfile::tempdir().unwrap();
            let input = dir.path().join("sstables");
            std::fs::create_dir(&input).unwrap();
            for entry in std::fs::read_dir(&source).unwrap() {
                let path = entry.unwrap().path();
                std::fs::copy(&path, input.join(path.file_name().unwrap())).unwrap();
            }
            let data = input.join("ma-1-big-Data.db");
            let mut bytes = std::fs::read(&data).unwrap();
            let len = bytes.len();
            let compressed = input.join("ma-1-big-CompressionInfo.db").exists();
            match damage {
                "flipped" if compressed => bytes[len / 2] ^= 0x40,
                // One value changed into another well-formed one: "text 5" read as "text 4".
                "flipped" => {
                    let at = bytes.windows(6).position(|w| w == b"text 5").unwrap();
                    bytes[at + 5] ^= 0x01;
                }
                _ => bytes.truncate(len * 2 / 3),
            }
            std::fs::write(&data, &bytes).unwrap();
            let out_dir = dir.path().join("out");
            let out = cassbulk()
                .args(["dump", "--table", &format!("legacy.{table}"), "--schema"])
                .arg(&schema)
                .args(["--format", "csv", "--no-progress", "--to"])
                .arg(&out_dir)
                .arg(&input)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(3), "{what}: {stderr}");
            // A flipped bit fails a chunk's CRC32; a cut file fails before: its chunks reach
            // past the end (CompressionInfo.db names Data.db's length). Uncompressed, both fail
            // the digest.
            assert!(
                stderr.contains("ma-1-big-Data.db is damaged") && stderr.contains("byte"),
                "{what}: {stderr}"
            );
            assert!(
                compressed || stderr.contains("Digest.crc32"),
                "{what}: {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{what}: {stderr}");
            let written = std::fs::read_dir(&out_dir).map(|d| d.count()).unwrap_or(0);
            assert_eq!(written, 0, "{what}: the dump wrote files");
        }
    }
}

/// `--source-table a,b` is a list: refused (exit 2) before any connection, never loaded as its
/// first table alone.
#[test]
fn a_list_given_to_source_table_is_refused_rather_than_loaded_as_its_first_table() {
    let dump =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/accounts/accounts.dump");
    for list in [
        "public.accounts,public.nosuch",
        "public.accounts,public.accounts",
    ] {
        let out = cassbulk()
            .args(["load", "--table", "ks.accounts", "--hosts", "127.0.0.1:1"])
            .args(["--source-table", list, "--no-progress"])
            .arg(&dump)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{list}: {stderr}");
        assert!(stderr.contains(&format!("`{list}` is a list")), "{stderr}");
    }
}

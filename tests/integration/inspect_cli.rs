//! The `cassbulk inspect` binary against the real node: the schema it prints and the token it
//! computes for a key, which must equal the node's `token()`.

use assert_cmd::Command;

use crate::common;

#[tokio::test]
async fn inspect_prints_the_schema_and_the_same_token_as_the_node() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "inspect").await;
    common::run(
        &session,
        &format!("CREATE TABLE {ks}.messages (conversation_id text, bucket int, sent_at bigint, payload text, PRIMARY KEY ((conversation_id, bucket), sent_at)) WITH CLUSTERING ORDER BY (sent_at DESC)"),
    )
    .await;
    common::run(
        &session,
        &format!("INSERT INTO {ks}.messages (conversation_id, bucket, sent_at, payload) VALUES ('17:42', 3, 1, '{{}}')"),
    )
    .await;
    let (token,): (i64,) = session
        .query_unpaged(
            format!("SELECT token(conversation_id, bucket) FROM {ks}.messages"),
            (),
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap()
        .single_row()
        .unwrap();

    let out = Command::cargo_bin("cassbulk")
        .unwrap()
        .args([
            "inspect",
            "--table",
            &format!("{ks}.messages"),
            "--hosts",
            &common::hosts(),
        ])
        .args(["--key", "'17:42'", "--key", "3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("conversation_id  text  partition key 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("sent_at          bigint  clustering 1 desc"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("token: {token}\n")), "{stdout}");
}

#[test]
fn inspect_of_an_unreachable_cluster_fails_with_exit_3_and_says_where_it_tried() {
    let out = Command::cargo_bin("cassbulk")
        .unwrap()
        .args([
            "inspect",
            "--table",
            "ks.t",
            "--hosts",
            "127.0.0.1:1",
            "--connect-timeout",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot connect to 127.0.0.1:1"), "{stderr}");
}

//! Row, range and partition deletions through the partition builder and the CQL sink: the table
//! they produce equals the one the same writes and deletes make when sent to the node as CQL, and
//! the deletions are really written (an older write sent afterwards stays deleted in both).

use std::sync::Arc;

use cassbulk::checkpoint::Marks;
use cassbulk::cluster::read_table_schema;
use cassbulk::model::cell::{ColumnData, RowLiveness};
use cassbulk::model::{
    Cell, Deletion, Liveness, Partition, RangeDeletion, Row, SliceBound, TableName, Token, Value,
};
use cassbulk::progress::Counters;
use cassbulk::sink::PartitionStream;
use cassbulk::sink::cql::{CqlSink, CqlSinkOptions};
use cassbulk::sort::builder::{BuilderOptions, PartitionBuilder};

use scylla::client::session::Session;

use crate::common;

fn row(c: i32, ts: i64, v: &str) -> Row {
    Row {
        clustering: vec![Value::Int(c).to_bytes()],
        liveness: Some(RowLiveness {
            timestamp: ts,
            liveness: Liveness::Live,
        }),
        deletion: None,
        columns: vec![ColumnData {
            column: 2,
            cells: vec![Cell::live(ts, Value::Text(v.into()).to_bytes())],
            complex_deletion: None,
        }],
    }
}

fn deleted_row(c: i32, ts: i64) -> Row {
    Row {
        clustering: vec![Value::Int(c).to_bytes()],
        liveness: None,
        deletion: Some(Deletion {
            timestamp: ts,
            local_deletion_time: 1_763_800_000,
        }),
        columns: vec![],
    }
}

fn partition(
    key: &str,
    deletion: Option<i64>,
    range_deletions: Vec<RangeDeletion>,
    rows: Vec<Row>,
) -> Partition {
    let key = Value::Text(key.into()).to_bytes();
    Partition {
        token: Token::of_key(&key),
        key,
        deletion: deletion.map(|timestamp| Deletion {
            timestamp,
            local_deletion_time: 1_763_800_000,
        }),
        range_deletions,
        static_row: None,
        rows,
    }
}

/// Runs each statement with `{t}` replaced by `ks.table`.
async fn run_all<S: AsRef<str>>(session: &Session, ks: &str, table: &str, statements: &[S]) {
    for statement in statements {
        let statement = statement.as_ref().replace("{t}", &format!("{ks}.{table}"));
        common::run(session, &statement).await;
    }
}

/// Merges the inputs (input `i`'s partitions as source `i`) in the partition builder and writes
/// the result into `ks.loaded` with the CQL sink.
async fn build_and_write(session: &Session, ks: &str, inputs: Vec<Vec<Partition>>) {
    let name = TableName::parse(&format!("{ks}.loaded")).unwrap();
    let schema = Arc::new(read_table_schema(session, &name).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut builder = PartitionBuilder::new(
        &schema,
        BuilderOptions {
            memory_budget: 1 << 20,
            temp_dir: dir.path().to_owned(),
        },
    );
    for (source, partitions) in inputs.into_iter().enumerate() {
        for p in partitions {
            builder.push(p, source as u32).unwrap();
        }
    }
    let merged: Vec<Partition> = builder.finish().unwrap().map(Result::unwrap).collect();
    // Every partition is sent before the sink starts: room for each (one chunk apiece).
    let (mut tx, rx) = PartitionStream::channel(64 * (merged.len() + 1));
    for p in merged {
        tx.send(p).await.unwrap();
    }
    drop(tx);
    let sink = CqlSink::new(
        Arc::new(common::session().await),
        schema,
        CqlSinkOptions::default(),
        Arc::new(Counters::default()),
    )
    .await
    .unwrap();
    let mut marks = Marks::new(None, "");
    sink.write_all(rx, &mut marks).await.unwrap();
}

/// The rows `select` returns, sorted.
async fn sorted_rows(session: &Session, select: &str) -> Vec<Vec<Option<Vec<u8>>>> {
    let mut rows = common::rows(session, select).await;
    rows.sort();
    rows
}

#[tokio::test]
async fn row_and_partition_deletions_load_exactly_as_the_same_cql_statements_apply() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "deletions").await;
    for table in ["loaded", "expected"] {
        common::run(
            &session,
            &format!("CREATE TABLE {ks}.{table} (k text, c int, v text, PRIMARY KEY (k, c))"),
        )
        .await;
    }

    // What Cassandra makes of these statements, in any order (they carry their timestamps)...
    let statements = [
        "INSERT INTO {t} (k, c, v) VALUES ('a', 1, 'a1') USING TIMESTAMP 10",
        "INSERT INTO {t} (k, c, v) VALUES ('a', 2, 'a2') USING TIMESTAMP 10",
        "INSERT INTO {t} (k, c, v) VALUES ('a', 3, 'a3') USING TIMESTAMP 25",
        "DELETE FROM {t} USING TIMESTAMP 20 WHERE k = 'a' AND c = 2",
        "DELETE FROM {t} USING TIMESTAMP 20 WHERE k = 'a' AND c = 3",
        "INSERT INTO {t} (k, c, v) VALUES ('b', 1, 'b1') USING TIMESTAMP 10",
        "DELETE FROM {t} USING TIMESTAMP 15 WHERE k = 'b'",
        "INSERT INTO {t} (k, c, v) VALUES ('b', 2, 'b2') USING TIMESTAMP 30",
        "DELETE FROM {t} USING TIMESTAMP 40 WHERE k = 'c'",
    ];
    run_all(&session, &ks, "expected", &statements).await;

    // ...and the same as two inputs' partitions, merged by the builder and written by the sink.
    let first = vec![
        partition(
            "a",
            None,
            vec![],
            vec![row(1, 10, "a1"), row(2, 10, "a2"), row(3, 25, "a3")],
        ),
        partition("b", None, vec![], vec![row(1, 10, "b1")]),
    ];
    let second = vec![
        partition(
            "a",
            None,
            vec![],
            vec![deleted_row(2, 20), deleted_row(3, 20)],
        ),
        partition("b", Some(15), vec![], vec![row(2, 30, "b2")]),
        partition("c", Some(40), vec![], vec![]),
    ];
    build_and_write(&session, &ks, vec![first, second]).await;

    // Older writes arriving afterwards stay deleted where a deletion covers them.
    for table in ["loaded", "expected"] {
        let late = [
            "INSERT INTO {t} (k, c, v) VALUES ('a', 2, 'late') USING TIMESTAMP 19",
            "INSERT INTO {t} (k, c, v) VALUES ('b', 1, 'late') USING TIMESTAMP 14",
            "INSERT INTO {t} (k, c, v) VALUES ('c', 9, 'late') USING TIMESTAMP 39",
            "INSERT INTO {t} (k, c, v) VALUES ('c', 8, 'newer') USING TIMESTAMP 41",
        ];
        run_all(&session, &ks, table, &late).await;
    }
    let state = |table: &str| format!("SELECT k, c, v, writetime(v) FROM {ks}.{table}");
    let expected = sorted_rows(&session, &state("expected")).await;
    assert_eq!(
        expected.len(),
        4,
        "a1, a3 and b2 survive, and c8 written after the deletion"
    );
    assert_eq!(sorted_rows(&session, &state("loaded")).await, expected);
}

/// A row of the `(k, a, b DESC)` table with `v` written at `ts`.
fn ab_row(a: i32, b: i32, ts: i64) -> Row {
    Row {
        clustering: vec![Value::Int(a).to_bytes(), Value::Int(b).to_bytes()],
        liveness: Some(RowLiveness {
            timestamp: ts,
            liveness: Liveness::Live,
        }),
        deletion: None,
        columns: vec![ColumnData {
            column: 3,
            cells: vec![Cell::live(
                ts,
                Value::Text(format!("{a}/{b}@{ts}")).to_bytes(),
            )],
            complex_deletion: None,
        }],
    }
}

fn bound(prefix: &[i32], inclusive: bool) -> SliceBound {
    SliceBound {
        prefix: prefix.iter().map(|&v| Value::Int(v).to_bytes()).collect(),
        inclusive,
    }
}

fn range(start: SliceBound, end: SliceBound, ts: i64) -> RangeDeletion {
    RangeDeletion {
        start,
        end,
        deletion: Deletion {
            timestamp: ts,
            local_deletion_time: 1_763_800_000,
        },
    }
}

#[tokio::test]
async fn range_deletions_load_exactly_as_the_same_cql_range_deletes_apply() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "range_deletions").await;
    for table in ["loaded", "expected"] {
        common::run(
            &session,
            &format!(
                "CREATE TABLE {ks}.{table} (k text, a int, b int, v text, PRIMARY KEY (k, a, b)) \
                 WITH CLUSTERING ORDER BY (a ASC, b DESC)"
            ),
        )
        .await;
    }
    // Every (a, b) in 0..4 x 0..4 of partitions x, y and z at 10; a few newer rows at 30.
    let mut statements = Vec::new();
    for k in ["x", "y", "z"] {
        for a in 0..4 {
            for b in 0..4 {
                statements.push(format!(
                    "INSERT INTO {{t}} (k, a, b, v) VALUES ('{k}', {a}, {b}, '{a}/{b}@10') \
                     USING TIMESTAMP 10"
                ));
            }
        }
    }
    statements.push(
        "INSERT INTO {t} (k, a, b, v) VALUES ('x', 2, 1, '2/1@30') USING TIMESTAMP 30".into(),
    );
    statements.extend(
        [
            // x: b runs DESC, so "b < 3" starts after (1, 3) and ends with a = 1.
            "DELETE FROM {t} USING TIMESTAMP 20 WHERE k = 'x' AND a = 1 AND b < 3",
            "DELETE FROM {t} USING TIMESTAMP 20 WHERE k = 'x' AND a >= 2 AND a < 4",
            // x: from (0, 2) to before a = 1 in clustering order is "a = 0 AND b <= 2".
            "DELETE FROM {t} USING TIMESTAMP 20 WHERE k = 'x' AND a = 0 AND b <= 2",
            // y: the same range from two inputs at 15 and 25: the later counts.
            "DELETE FROM {t} USING TIMESTAMP 25 WHERE k = 'y' AND a > 2",
            // z: a partition deletion at 40 covers a range deletion at 20.
            "DELETE FROM {t} USING TIMESTAMP 20 WHERE k = 'z' AND a <= 1",
            "DELETE FROM {t} USING TIMESTAMP 40 WHERE k = 'z'",
        ]
        .map(String::from),
    );
    run_all(&session, &ks, "expected", &statements).await;

    let all_rows = || {
        (0..4)
            .flat_map(|a| (0..4).map(move |b| ab_row(a, b, 10)))
            .collect::<Vec<_>>()
    };
    let mut first: Vec<Partition> = ["x", "y", "z"]
        .map(|k| partition(k, None, vec![], all_rows()))
        .into();
    first.push(partition(
        "y",
        None,
        vec![range(bound(&[2], false), SliceBound::open(), 15)],
        vec![],
    ));
    let second = vec![
        partition(
            "x",
            None,
            vec![
                range(bound(&[1, 3], false), bound(&[1], true), 20),
                range(bound(&[2], true), bound(&[4], false), 20),
                range(bound(&[0, 2], true), bound(&[1], false), 20),
            ],
            vec![ab_row(2, 1, 30)],
        ),
        partition(
            "y",
            None,
            vec![range(bound(&[2], false), SliceBound::open(), 25)],
            vec![],
        ),
        partition(
            "z",
            Some(40),
            vec![range(SliceBound::open(), bound(&[1], true), 20)],
            vec![],
        ),
    ];

    build_and_write(&session, &ks, vec![first, second]).await;

    // Older writes inside the ranges stay deleted; outside them, or newer, they appear.
    for table in ["loaded", "expected"] {
        let late = [
            "INSERT INTO {t} (k, a, b, v) VALUES ('x', 1, 0, 'late') USING TIMESTAMP 19",
            "INSERT INTO {t} (k, a, b, v) VALUES ('x', 1, 9, 'outside') USING TIMESTAMP 19",
            "INSERT INTO {t} (k, a, b, v) VALUES ('x', 0, 7, 'outside') USING TIMESTAMP 19",
            "INSERT INTO {t} (k, a, b, v) VALUES ('y', 5, 5, 'late') USING TIMESTAMP 24",
            "INSERT INTO {t} (k, a, b, v) VALUES ('y', 6, 6, 'newer') USING TIMESTAMP 26",
            "INSERT INTO {t} (k, a, b, v) VALUES ('z', 3, 3, 'late') USING TIMESTAMP 39",
        ];
        run_all(&session, &ks, table, &late).await;
    }
    let state = |table: &str| format!("SELECT k, a, b, v, writetime(v) FROM {ks}.{table}");
    let expected = sorted_rows(&session, &state("expected")).await;
    // x: 16 - 3 (a = 1, b < 3) - 8 (a in 2..4) - 3 (a = 0, b <= 2) + 2/1@30 + 2 outside = 5;
    // y: 12 (a <= 2) + the newer 6/6 = 13; z: nothing.
    assert_eq!(expected.len(), 5 + 13, "{expected:?}");
    assert_eq!(sorted_rows(&session, &state("loaded")).await, expected);
}

//! The sink contract: one fixed set of partitions that holds every kind of deletion (partition,
//! range, row, cell, whole collection), a static row, every kind of collection and TTLs on rows
//! and cells. A sink passes when, written through the sink seam (`sink::open` and `Sink`), the
//! set leaves its table exactly as the same writes sent as CQL statements leave another:
//! every value, `writetime()` and `ttl()` (to the second), and the deletions with their own
//! timestamps, shown by older writes sent to both tables afterwards staying deleted.
//!
//! Every sink runs [`assert_sink_keeps_the_contract`]; a sink that writes files reads them
//! back into a table first (`nodetool import`, or its matching source through the CQL sink).
//! The dump sinks, whose files hold what `SELECT` shows and no deletions, keep the contract's
//! other form: the partitions dumped equal the dump of the table the same CQL writes left.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cassbulk::checkpoint::Marks;
use cassbulk::cluster::read_table_schema;
use cassbulk::model::cell::{ColumnData, RowLiveness};
use cassbulk::model::collection::explode;
use cassbulk::model::{
    Cell, Deletion, Liveness, Partition, RangeDeletion, Row, SliceBound, TableName, TableSchema,
    Token, Value,
};
use cassbulk::progress::Counters;
use cassbulk::sink::cql::CqlSinkOptions;
use cassbulk::sink::{self, PartitionStream, SinkSpec, Target};
use cassbulk::sort::builder::{BuilderOptions, PartitionBuilder};
use scylla::client::session::Session;

use crate::common;

const TABLE: &str = "(k text, c int, s text static, v text, n int, tags set<text>, \
     scores map<text, int>, items list<text>, PRIMARY KEY (k, c))";

/// The write times the contract uses: now, in microseconds, plus small offsets, so that TTLs
/// count from a real time.
struct Times(i64);

impl Times {
    fn at(&self, offset: i64) -> i64 {
        self.0 + offset
    }
}

/// The contract's writes as CQL; `{t}` is the table, `{T+n}` a write time.
const STATEMENTS: &[&str] = &[
    // a: a full row with every collection, a row with a TTL on its cells, a static row.
    "INSERT INTO {t} (k, c, v, n, tags, scores, items) VALUES ('a', 1, 'a1', 1, {'x', 'y'}, \
     {'m': 1, 'n': 2}, ['p', 'q', 'p']) USING TIMESTAMP {T+100}",
    "INSERT INTO {t} (k, c, v) VALUES ('a', 2, 'a2') USING TIMESTAMP {T+100} AND TTL 86400",
    "INSERT INTO {t} (k, s) VALUES ('a', 'static a') USING TIMESTAMP {T+100}",
    // b: a partition deletion, and a row written after it.
    "DELETE FROM {t} USING TIMESTAMP {T+50} WHERE k = 'b'",
    "INSERT INTO {t} (k, c, v) VALUES ('b', 1, 'b1') USING TIMESTAMP {T+60}",
    // c: a row deletion beside a live row.
    "DELETE FROM {t} USING TIMESTAMP {T+70} WHERE k = 'c' AND c = 2",
    "INSERT INTO {t} (k, c, v) VALUES ('c', 1, 'c1') USING TIMESTAMP {T+60}",
    // d: a range deletion beside a live row.
    "DELETE FROM {t} USING TIMESTAMP {T+80} WHERE k = 'd' AND c > 1 AND c <= 5",
    "INSERT INTO {t} (k, c, v) VALUES ('d', 9, 'd9') USING TIMESTAMP {T+60}",
    // e: a cell tombstone beside a live cell.
    "INSERT INTO {t} (k, c, v, n) VALUES ('e', 1, null, 5) USING TIMESTAMP {T+90}",
    // f: a collection deleted whole (written NULL) beside a live cell.
    "INSERT INTO {t} (k, c, v, tags) VALUES ('f', 1, 'f1', null) USING TIMESTAMP {T+95}",
    // g: a row whose every cell and liveness expire.
    "INSERT INTO {t} (k, c, v, n) VALUES ('g', 1, 'g1', 7) USING TIMESTAMP {T+100} AND TTL 3600",
];

/// Older writes sent to both tables after the contract's: where a deletion covers them they
/// stay deleted; elsewhere they lose to newer cells or appear.
const PROBES: &[&str] = &[
    "INSERT INTO {t} (k, c, v) VALUES ('b', 7, 'zombie') USING TIMESTAMP {T+10}",
    "INSERT INTO {t} (k, c, v) VALUES ('c', 2, 'zombie') USING TIMESTAMP {T+10}",
    "INSERT INTO {t} (k, c, v) VALUES ('d', 3, 'zombie') USING TIMESTAMP {T+10}",
    "INSERT INTO {t} (k, c, v) VALUES ('d', 6, 'outside') USING TIMESTAMP {T+10}",
    "INSERT INTO {t} (k, c, v) VALUES ('e', 1, 'zombie') USING TIMESTAMP {T+10}",
    "UPDATE {t} USING TIMESTAMP {T+10} SET tags = tags + {'zombie'} WHERE k = 'f' AND c = 1",
    "UPDATE {t} USING TIMESTAMP {T+10} SET items = items + ['old'] WHERE k = 'a' AND c = 1",
];

fn expand(statement: &str, table: &str, times: &Times) -> String {
    let mut out = statement.replace("{t}", table);
    while let Some(at) = out.find("{T+") {
        let end = at + out[at..].find('}').unwrap();
        let offset: i64 = out[at + 3..end].parse().unwrap();
        out.replace_range(at..=end, &times.at(offset).to_string());
    }
    out
}

/// The contract's writes as partitions, in the order and form sources give them (one
/// partition per statement; the partition builder merges them).
fn contract_partitions(schema: &TableSchema, times: &Times) -> Vec<Partition> {
    let col = |name: &str| schema.columns.iter().position(|c| c.name == name).unwrap();
    let text = |s: &str| Value::Text(s.into()).to_bytes();
    let int = |i: i32| Value::Int(i).to_bytes();
    let deletion = |ts: i64| Deletion {
        timestamp: ts,
        local_deletion_time: ts / 1_000_000,
    };
    let simple = |name: &str, cell: Cell| ColumnData {
        column: col(name),
        cells: vec![cell],
        complex_deletion: None,
    };
    let whole = |name: &str, value: Value, ts: i64, liveness: Liveness| {
        let column = col(name);
        explode(
            column,
            &schema.columns[column].cql_type,
            &value.to_bytes(),
            ts,
            liveness,
        )
        .unwrap()
    };
    let row = |c: i32, ts: i64, liveness: Liveness, columns: Vec<ColumnData>| Row {
        clustering: vec![int(c)],
        liveness: Some(RowLiveness {
            timestamp: ts,
            liveness,
        }),
        deletion: None,
        columns,
    };
    let partition = |k: &str,
                     deletion: Option<Deletion>,
                     ranges: Vec<RangeDeletion>,
                     static_row: Option<Row>,
                     rows: Vec<Row>| {
        let key = text(k);
        Partition {
            token: Token::of_key(&key),
            key,
            deletion,
            range_deletions: ranges,
            static_row,
            rows,
        }
    };
    let t = |offset: i64| times.at(offset);
    let live = Liveness::Live;
    let day = Liveness::expiring_from(t(100), 86_400);
    let hour = Liveness::expiring_from(t(100), 3_600);
    let s = |v: &str| Value::Text(v.into());
    vec![
        partition(
            "a",
            None,
            vec![],
            None,
            vec![row(
                1,
                t(100),
                live,
                vec![
                    simple("v", Cell::live(t(100), text("a1"))),
                    simple("n", Cell::live(t(100), int(1))),
                    whole("tags", Value::Set(vec![s("x"), s("y")]), t(100), live),
                    whole(
                        "scores",
                        Value::Map(vec![(s("m"), Value::Int(1)), (s("n"), Value::Int(2))]),
                        t(100),
                        live,
                    ),
                    whole(
                        "items",
                        Value::List(vec![s("p"), s("q"), s("p")]),
                        t(100),
                        live,
                    ),
                ],
            )],
        ),
        partition(
            "a",
            None,
            vec![],
            None,
            vec![row(
                2,
                t(100),
                day,
                vec![simple(
                    "v",
                    Cell {
                        liveness: day,
                        ..Cell::live(t(100), text("a2"))
                    },
                )],
            )],
        ),
        partition(
            "a",
            None,
            vec![],
            Some(Row {
                clustering: vec![],
                liveness: None,
                deletion: None,
                columns: vec![simple("s", Cell::live(t(100), text("static a")))],
            }),
            vec![],
        ),
        partition("b", Some(deletion(t(50))), vec![], None, vec![]),
        partition(
            "b",
            None,
            vec![],
            None,
            vec![row(
                1,
                t(60),
                live,
                vec![simple("v", Cell::live(t(60), text("b1")))],
            )],
        ),
        partition(
            "c",
            None,
            vec![],
            None,
            vec![Row {
                clustering: vec![int(2)],
                liveness: None,
                deletion: Some(deletion(t(70))),
                columns: vec![],
            }],
        ),
        partition(
            "c",
            None,
            vec![],
            None,
            vec![row(
                1,
                t(60),
                live,
                vec![simple("v", Cell::live(t(60), text("c1")))],
            )],
        ),
        partition(
            "d",
            None,
            vec![RangeDeletion {
                start: SliceBound {
                    prefix: vec![int(1)],
                    inclusive: false,
                },
                end: SliceBound {
                    prefix: vec![int(5)],
                    inclusive: true,
                },
                deletion: deletion(t(80)),
            }],
            None,
            vec![],
        ),
        partition(
            "d",
            None,
            vec![],
            None,
            vec![row(
                9,
                t(60),
                live,
                vec![simple("v", Cell::live(t(60), text("d9")))],
            )],
        ),
        partition(
            "e",
            None,
            vec![],
            None,
            vec![row(
                1,
                t(90),
                live,
                vec![
                    simple("v", Cell::tombstone(t(90), t(90) / 1_000_000)),
                    simple("n", Cell::live(t(90), int(5))),
                ],
            )],
        ),
        partition(
            "f",
            None,
            vec![],
            None,
            vec![row(
                1,
                t(95),
                live,
                vec![
                    simple("v", Cell::live(t(95), text("f1"))),
                    ColumnData {
                        column: col("tags"),
                        cells: vec![],
                        complex_deletion: Some(deletion(t(94))),
                    },
                ],
            )],
        ),
        partition(
            "g",
            None,
            vec![],
            None,
            vec![row(
                1,
                t(100),
                hour,
                vec![
                    simple(
                        "v",
                        Cell {
                            liveness: hour,
                            ..Cell::live(t(100), text("g1"))
                        },
                    ),
                    simple(
                        "n",
                        Cell {
                            liveness: hour,
                            ..Cell::live(t(100), int(7))
                        },
                    ),
                ],
            )],
        ),
    ]
}

/// A table's state: every row's values and its simple cells' write times, sorted; and every
/// TTL, in seconds.
async fn table_state(session: &Session, table: &str) -> (Vec<Vec<Option<Vec<u8>>>>, Vec<i32>) {
    let mut rows = common::rows(
        session,
        &format!(
            "SELECT k, c, s, v, n, tags, scores, items, writetime(s), writetime(v), \
             writetime(n) FROM {table}"
        ),
    )
    .await;
    rows.sort();
    let mut ttls: Vec<i32> = common::rows(session, &format!("SELECT ttl(v), ttl(n) FROM {table}"))
        .await
        .into_iter()
        .flatten()
        .flatten()
        .map(|b| i32::from_be_bytes(b.try_into().unwrap()))
        .collect();
    ttls.sort();
    (rows, ttls)
}

/// Writes the contract's partitions through the sink `spec` opens into `ks.loaded`, the same
/// writes as CQL into `ks.expected`, and asserts the two tables equal, before and after the
/// probes.
pub async fn assert_sink_keeps_the_contract(spec: SinkSpec, test: &str) {
    let session = common::session().await;
    let ks = common::keyspace(&session, test).await;
    for table in ["loaded", "expected"] {
        common::run(&session, &format!("CREATE TABLE {ks}.{table} {TABLE}")).await;
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let times = Times(now.as_micros() as i64 - 1_000_000);
    let expected = format!("{ks}.expected");
    for statement in STATEMENTS {
        common::run(&session, &expand(statement, &expected, &times)).await;
    }

    let name = TableName::parse(&format!("{ks}.loaded")).unwrap();
    let schema = Arc::new(read_table_schema(&session, &name).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut builder = PartitionBuilder::new(
        &schema,
        BuilderOptions {
            memory_budget: 1 << 20,
            temp_dir: dir.path().to_owned(),
        },
    );
    for partition in contract_partitions(&schema, &times) {
        builder.push(partition, 0).unwrap();
    }
    let merged: Vec<Partition> = builder.finish().unwrap().map(Result::unwrap).collect();
    let session_for_sink = Arc::new(common::session().await);
    tokio::task::spawn_blocking(move || {
        let target = Target {
            schema,
            session: Some(session_for_sink),
            runtime: tokio::runtime::Handle::current(),
            counters: Arc::new(Counters::default()),
        };
        let mut sink = sink::open(&spec, &target).unwrap();
        let (mut tx, stream) = PartitionStream::channel(4);
        let feeder = std::thread::spawn(move || {
            for partition in merged {
                tx.blocking_send(partition).unwrap();
            }
        });
        sink.write(stream, &mut Marks::new(None, "")).unwrap();
        sink.flush().unwrap();
        feeder.join().unwrap();
        sink.finish().unwrap();
    })
    .await
    .unwrap();
    let loaded = format!("{ks}.loaded");

    let (want, want_ttls) = table_state(&session, &expected).await;
    assert_eq!(
        want.len(),
        8,
        "a1, a2, b1, c1, d9, e1, f1, g1 (and a's static)"
    );
    let (got, got_ttls) = table_state(&session, &loaded).await;
    assert_eq!(got, want);
    assert_eq!(got_ttls.len(), want_ttls.len());
    for (got, want) in got_ttls.iter().zip(&want_ttls) {
        assert!((got - want).abs() <= 5, "TTL {got} against {want}");
    }

    for table in [&expected, &loaded] {
        for probe in PROBES {
            common::run(&session, &expand(probe, table, &times)).await;
        }
    }
    let (want, _) = table_state(&session, &expected).await;
    assert_eq!(want.len(), 9, "only d6, outside the range, appears");
    assert_eq!(table_state(&session, &loaded).await.0, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cql_sink_keeps_the_sink_contract() {
    assert_sink_keeps_the_contract(SinkSpec::Cql(CqlSinkOptions::default()), "contract_cql").await;
}

/// A job that watches the CQL sink's marks (verify's repair, before it saves a checkpoint) learns
/// that everything it sent is written while the stream is still open, not only at its end.
#[tokio::test(flavor = "multi_thread")]
async fn the_cql_sinks_marks_follow_its_writes_while_the_stream_pauses() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "marks").await;
    common::run(
        &session,
        &format!("CREATE TABLE {ks}.t (k int PRIMARY KEY, v text)"),
    )
    .await;
    let name = TableName::parse(&format!("{ks}.t")).unwrap();
    let schema = Arc::new(read_table_schema(&session, &name).await.unwrap());
    let partitions: Vec<Partition> = (0..10)
        .map(|k| {
            let key = Value::Int(k).to_bytes();
            Partition {
                token: Token::of_key(&key),
                key,
                deletion: None,
                range_deletions: Vec::new(),
                static_row: None,
                rows: vec![Row {
                    clustering: Vec::new(),
                    liveness: Some(RowLiveness {
                        timestamp: 1000,
                        liveness: Liveness::Live,
                    }),
                    deletion: None,
                    columns: vec![ColumnData {
                        column: 1,
                        cells: vec![Cell::live(1000, b"x".to_vec())],
                        complex_deletion: None,
                    }],
                }],
            }
        })
        .collect();
    let sink_session = Arc::new(common::session().await);
    let seen_while_open = tokio::task::spawn_blocking(move || {
        let target = Target {
            schema,
            session: Some(sink_session),
            runtime: tokio::runtime::Handle::current(),
            counters: Arc::new(Counters::default()),
        };
        let mut sink = sink::open(&SinkSpec::Cql(CqlSinkOptions::default()), &target).unwrap();
        let (mut marks, durable) = Marks::watched("t");
        let (mut tx, stream) = PartitionStream::channel(64);
        let feeder = std::thread::spawn(move || {
            for partition in partitions {
                tx.blocking_send(partition).unwrap();
            }
            tx.flush_blocking().unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while durable.load(std::sync::atomic::Ordering::Acquire) < 10
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let seen = durable.load(std::sync::atomic::Ordering::Acquire);
            drop(tx);
            seen
        });
        sink.write(stream, &mut marks).unwrap();
        feeder.join().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(seen_while_open, 10);
    let rows = common::rows(&session, &format!("SELECT k FROM {ks}.t")).await;
    assert_eq!(rows.len(), 10);
}

/// The SSTable sink: its SSTables taken into the table by `nodetool import --extended-verify`.
#[tokio::test(flavor = "multi_thread")]
async fn the_sstable_sink_keeps_the_sink_contract() {
    let staging = tempfile::tempdir().unwrap();
    let options = cassbulk::sink::sstable::SstableSinkOptions {
        dir: staging.path().to_owned(),
        sstable_size: 256 << 20,
        stream: cassbulk::sink::sstable::Stream::Import {
            nodetool: format!("{}/scripts/cassandra nodetool", env!("CARGO_MANIFEST_DIR")),
            extended_verify: true,
            jmx: None,
        },
        format: None,
        job: "the sink contract".into(),
        local_dc_only: false,
        local_dc: None,
    };
    assert_sink_keeps_the_contract(SinkSpec::Sstable(options), "contract_sstable").await;
}

/// The dump sinks: a dump holds what `SELECT` shows, so the contract's partitions dumped through
/// the sink seam (`--with-writetime`) must equal, byte for byte, the dump of the table the same
/// writes left when sent as CQL, read back over CQL: every deletion, shadowed and expired cell
/// leaves out exactly what Cassandra leaves out. TTLs count down between the two and are not
/// compared; the probes do not apply to files.
#[tokio::test(flavor = "multi_thread")]
async fn the_dump_sinks_keep_the_sink_contract() {
    use cassbulk::sink::dump::{DumpFormat, DumpSinkOptions};
    let session = common::session().await;
    let ks = common::keyspace(&session, "contract_dump").await;
    common::run(&session, &format!("CREATE TABLE {ks}.expected {TABLE}")).await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let times = Times(now.as_micros() as i64 - 1_000_000);
    let expected = format!("{ks}.expected");
    for statement in STATEMENTS {
        common::run(&session, &expand(statement, &expected, &times)).await;
    }
    let name = TableName::parse(&expected).unwrap();
    let schema = Arc::new(read_table_schema(&session, &name).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut builder = PartitionBuilder::new(
        &schema,
        BuilderOptions {
            memory_budget: 1 << 20,
            temp_dir: dir.path().to_owned(),
        },
    );
    for partition in contract_partitions(&schema, &times) {
        builder.push(partition, 0).unwrap();
    }
    let merged: Vec<Partition> = builder.finish().unwrap().map(Result::unwrap).collect();
    for (format, name, file) in [
        (DumpFormat::Csv, "csv", "part-00000.csv"),
        (DumpFormat::PgCopy, "pgcopy", "part-00000.pgcopy"),
        (DumpFormat::Parquet, "parquet", "part-00000.parquet"),
    ] {
        let through_sink = dir.path().join(format!("sink-{name}"));
        let options = DumpSinkOptions {
            dir: through_sink.clone(),
            format,
            columns: None,
            partition_date: None,
            with_writetime: true,
            with_ttl: false,
            rows_per_file: 1000,
            overwrite: false,
            decimal: None,
        };
        let (schema, merged) = (schema.clone(), merged.clone());
        tokio::task::spawn_blocking(move || {
            let target = Target {
                schema,
                session: None,
                runtime: tokio::runtime::Handle::current(),
                counters: Arc::new(Counters::default()),
            };
            let mut sink = sink::open(&SinkSpec::Dump(options), &target).unwrap();
            let (mut tx, stream) = PartitionStream::channel(4);
            let feeder = std::thread::spawn(move || {
                for partition in merged {
                    tx.blocking_send(partition).unwrap();
                }
            });
            sink.write(stream, &mut Marks::new(None, "")).unwrap();
            feeder.join().unwrap();
            sink.finish().unwrap();
        })
        .await
        .unwrap();
        let over_cql = dir.path().join(format!("cql-{name}"));
        let out = common::cassbulk()
            .args([
                "dump",
                &format!("cql://{}/{expected}", common::hosts()),
                "--format",
                name,
                "--with-writetime",
                "--no-progress",
                "--to",
            ])
            .arg(&over_cql)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (got, want) = (
            std::fs::read(through_sink.join(file)).unwrap(),
            std::fs::read(over_cql.join(file)).unwrap(),
        );
        assert!(!want.is_empty());
        assert!(
            got == want,
            "{name}: the sink wrote\n{}\nSELECT shows\n{}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
    }
}

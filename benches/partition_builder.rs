//! Criterion benches of the engine's hot paths: Murmur3 tokens, value encoding, the
//! partition builder's sort + merge, in memory and with forced spills to zstd runs, and the
//! stream merge of inputs already in token order (three replicas) against the builder.
//! Run: `cargo bench --bench partition_builder` (numbers in docs/BENCHMARKS.md).

use std::hint::black_box;

use cassbulk::merge::streams::{MergeStreams, OutOfOrder};
use cassbulk::model::cell::{ColumnData, RowLiveness};
use cassbulk::model::order::TableOrder;
use cassbulk::model::{Cell, Liveness, Partition, Row, TableSchema, Token, Value};
use cassbulk::sort::builder::{BuilderOptions, PartitionBuilder};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const ROWS: usize = 100_000;

fn schema() -> TableSchema {
    TableSchema::from_columns(
        "ks.accounts",
        &[
            ("username", "partition_key", "text"),
            ("email", "regular", "text"),
            ("score", "regular", "int"),
            ("bio", "regular", "text"),
        ],
    )
    .unwrap()
}

/// `ROWS` account rows over `ROWS / 2` keys (every key twice: a later version wins).
fn rows() -> Vec<Partition> {
    (0..ROWS)
        .map(|i| {
            let key = Value::Text(format!("user{}", (i * 7919) % (ROWS / 2))).to_bytes();
            let ts = 1_790_000_000_000_000 + i as i64;
            let cell = |column: usize, v: Value| ColumnData {
                column,
                cells: vec![Cell::live(ts, v.to_bytes())],
                complex_deletion: None,
            };
            Partition {
                token: Token::of_key(&key),
                key,
                deletion: None,
                range_deletions: Vec::new(),
                static_row: None,
                rows: vec![Row {
                    clustering: vec![],
                    liveness: Some(RowLiveness {
                        timestamp: ts,
                        liveness: Liveness::Live,
                    }),
                    deletion: None,
                    columns: vec![
                        cell(1, Value::Text(format!("user{i}@example.com"))),
                        cell(2, Value::Int(i as i32)),
                        cell(3, Value::Text("a biography of moderate length, ".repeat(4))),
                    ],
                }],
            }
        })
        .collect()
}

fn sort_and_merge(input: Vec<Partition>, budget: usize) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let mut builder = PartitionBuilder::new(
        &schema(),
        BuilderOptions {
            memory_budget: budget,
            temp_dir: dir.path().to_owned(),
        },
    );
    for p in input {
        builder.push(p, 0).unwrap();
    }
    builder.finish().unwrap().map(Result::unwrap).count()
}

fn benches(c: &mut Criterion) {
    let mut tokens = c.benchmark_group("token");
    let keys: Vec<Vec<u8>> = (0..10_000)
        .map(|i| format!("user{i}").into_bytes())
        .collect();
    tokens.throughput(Throughput::Elements(keys.len() as u64));
    tokens.bench_function("murmur3 of 10k text keys", |b| {
        b.iter(|| {
            keys.iter()
                .map(|k| Token::of_key(black_box(k)).0)
                .fold(0i64, i64::wrapping_add)
        })
    });
    tokens.finish();

    let mut group = c.benchmark_group("partition builder");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("sort + merge 100k rows in memory", |b| {
        b.iter_batched(
            rows,
            |input| sort_and_merge(input, usize::MAX),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("sort + merge 100k rows spilling at a 4 MiB budget", |b| {
        b.iter_batched(
            rows,
            |input| sort_and_merge(input, 4 << 20),
            BatchSize::LargeInput,
        )
    });
    group.finish();

    // Three replicas of the same `ROWS / 2` partitions, each in token order; the third's every
    // fifth partition is newer. What a migration of SSTables merges.
    let replicas = || -> Vec<Vec<Partition>> {
        let mut latest: Vec<Partition> = rows().split_off(ROWS / 2);
        latest.sort_by(|a, b| (a.token, &a.key).cmp(&(b.token, &b.key)));
        let mut third = latest.clone();
        for p in third.iter_mut().step_by(5) {
            for row in &mut p.rows {
                for column in &mut row.columns {
                    for cell in &mut column.cells {
                        cell.timestamp += 1;
                    }
                }
            }
        }
        vec![latest.clone(), latest, third]
    };
    let mut group = c.benchmark_group("merging three replicas");
    group.sample_size(10);
    group.throughput(Throughput::Elements(3 * ROWS as u64 / 2));
    group.bench_function("as streams", |b| {
        b.iter_batched(
            replicas,
            |inputs| {
                let named = inputs
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| {
                        (
                            format!("replica {i}"),
                            p.into_iter().map(Ok::<_, OutOfOrder>),
                        )
                    })
                    .collect();
                MergeStreams::new(named, TableOrder::new(&schema()))
                    .map(Result::unwrap)
                    .count()
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("through the partition builder", |b| {
        b.iter_batched(
            replicas,
            |inputs| sort_and_merge(inputs.into_iter().flatten().collect(), usize::MAX),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(engine, benches);
criterion_main!(engine);

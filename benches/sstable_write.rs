//! Criterion bench of the SSTable writer (`sink::sstable::writer`): 100,000 partitions of one
//! row shaped like `scripts/bench-load-pg`'s accounts (a text key; text, timestamp, boolean, a
//! set<text>, uuid, smallint, decimal and bigint cells, a 100-300 character bio), already in
//! token order, written as one `nb` SSTable with LZ4 chunks and every component, on one
//! thread. Throughput is in bytes of Data.db before compression, what Cassandra's compaction
//! throughput counts, so the figure reads against its MB/s per compaction thread.
//!
//! Run: `cargo bench --bench sstable_write` (numbers in docs/BENCHMARKS.md).

use cassbulk::model::cell::{ColumnData, RowLiveness};
use cassbulk::model::{Cell, Liveness, Partition, Row, SmallBytes, TableSchema, Token, Value};
use cassbulk::sink::sstable::Format;
use cassbulk::sink::sstable::writer::SstableWriter;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const PARTITIONS: usize = 100_000;

fn schema() -> TableSchema {
    TableSchema::from_columns(
        "bench.accounts",
        &[
            ("username", "partition_key", "text"),
            ("accepted_licences", "regular", "set<text>"),
            ("balance", "regular", "decimal"),
            ("bio", "regular", "text"),
            ("birth_year", "regular", "smallint"),
            ("country", "regular", "text"),
            ("created", "regular", "timestamp"),
            ("email", "regular", "text"),
            ("login_count", "regular", "bigint"),
            ("premium", "regular", "boolean"),
            ("user_id", "regular", "uuid"),
        ],
    )
    .unwrap()
}

const PROSE: &str = "Listens to jazz on weekdays, \"mostly\" ambient on weekends; café owner, \
    runner, reader of long novels and short poems. Collects vinyl, plays bass badly, and \
    writes playlists for friends who never asked for them. ";

/// The partitions in token order, each built after the one before it, as the partition
/// builder's decoder hands them to a writer: their cells lie in memory in the order the writer
/// reads them (built in key order and then sorted, every key and value would be a cache miss,
/// and the bench would time those instead of the writer).
fn partitions() -> Vec<Partition> {
    let mut order: Vec<(Token, usize)> = (0..PARTITIONS)
        .map(|i| {
            let key = Value::Text(format!("user{i:08}")).to_bytes();
            (Token::of_key(&key), i)
        })
        .collect();
    order.sort();
    order
        .into_iter()
        .map(|(_, i)| {
            let key = Value::Text(format!("user{i:08}")).to_bytes();
            let ts = 1_790_000_000_000_000 + i as i64;
            let cell = |v: Value| Cell::live(ts, v.to_bytes());
            let simple = |column: usize, v: Value| ColumnData {
                column,
                cells: vec![cell(v)],
                complex_deletion: None,
            };
            let licences = ColumnData {
                column: 1,
                cells: (0..i % 4)
                    .map(|l| Cell {
                        timestamp: ts,
                        liveness: Liveness::Live,
                        path: SmallBytes::from(Value::Text(format!("licence-{l}")).to_bytes()),
                        value: SmallBytes::default(),
                    })
                    .collect(),
                complex_deletion: None,
            };
            let mut uuid = [0u8; 16];
            uuid[..8].copy_from_slice(&(i as u64).to_be_bytes());
            uuid[6] = 0x40;
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
                        licences,
                        simple(2, Value::Blob(vec![0, 0, 0, 2, 0x30, 0x39])),
                        simple(3, Value::Text(PROSE[..100 + i % 100].to_string())),
                        simple(4, Value::Smallint(1950 + (i % 60) as i16)),
                        simple(5, Value::Text("SE".into())),
                        simple(6, Value::Timestamp(1_500_000_000_000 + i as i64)),
                        simple(7, Value::Text(format!("user{i}@example.com"))),
                        simple(8, Value::Bigint(i as i64 * 3)),
                        simple(9, Value::Boolean(i % 3 == 0)),
                        simple(10, Value::Uuid(uuid)),
                    ],
                }],
            }
        })
        .collect()
}

fn write(dir: &std::path::Path, input: &[Partition], generation: u64) -> u64 {
    let mut writer = SstableWriter::create(dir, generation, &schema(), Format::Nb).unwrap();
    for p in input {
        writer.append(p).unwrap();
    }
    let bytes = writer.data_length();
    writer.finish().unwrap();
    bytes
}

fn benches(c: &mut Criterion) {
    let input = partitions();
    let dir = tempfile::tempdir().unwrap();
    let bytes = write(dir.path(), &input, 1);
    let mut group = c.benchmark_group("sstable writer");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    let mut generation = 1;
    group.bench_function("100k account rows to one nb SSTable, one thread", |b| {
        b.iter(|| {
            generation += 1;
            write(dir.path(), &input, generation)
        })
    });
    group.finish();
}

criterion_group!(writer, benches);
criterion_main!(writer);

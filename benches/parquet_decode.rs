//! Criterion bench of the Parquet decode stage: cassbulk's source (Parquet pages to row batches
//! of serialized CQL values, multi-cell collections kept as their elements, checked and ready
//! for the partition builder) against arrow-rs alone
//! reading the same files into `RecordBatch`es, both decoding row groups in parallel on all cores
//! with the same projection and batch size. The difference is what turning Arrow arrays into CQL
//! values costs. A second arrow-rs case reads text as the source does, keeping dictionary
//! pages as dictionary arrays (cheaper than string arrays: each string is copied once, into the
//! CQL value). A last case adds the builder's intake (every row made into a partition of cells,
//! in parallel), so the cost that moved out of the source stays visible.
//! Run: `cargo bench --bench parquet_decode` (numbers in docs/BENCHMARKS.md).
//!
//! The data is a nightly profile-features export like `fixtures/profile_features` (written here
//! by arrow-rs, snappy, 4 `dt=` folders of 50,000 rows in 2 row groups each): a text key, a list
//! and a set of 0-8 strings, a `map<string,int32>` of 0-6 entries, a struct of two strings (a
//! frozen tuple in CQL), `decimal128(10,4)`, an `updated_at timestamp[us, UTC]` used as the
//! write time and an `int32` TTL; a few NULLs in every nullable column.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Decimal128Builder, Int32Builder, ListBuilder, MapBuilder, RecordBatch, StringBuilder,
    StructArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, FieldRef, Schema};
use cassbulk::intake::NullMode;
use cassbulk::model::TableSchema;
use cassbulk::plan::MappingOptions;
use cassbulk::source::SourceEvent;
use cassbulk::source::parquet::ParquetInput;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::basic::{Compression, Encoding};
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;

const FILES: usize = 4;
const ROWS_PER_FILE: usize = 50_000;
const ROW_GROUP_ROWS: usize = 25_000;
const BATCH_ROWS: usize = 1024;
const GENRES: &[&str] = &[
    "pop",
    "rock",
    "indie",
    "jazz",
    "hip hop",
    "techno",
    "folk",
    "klassik",
    "k-pop",
    "reggaetón",
    "metal",
    "ambient",
];

/// A small deterministic generator.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn write_file(path: &Path, day: usize, rng: &mut Rng) {
    let mut user_id = StringBuilder::new();
    let mut top_genres = ListBuilder::new(StringBuilder::new());
    let mut affinity = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
    let mut followed = ListBuilder::new(StringBuilder::new());
    let mut country = StringBuilder::new();
    let mut city = StringBuilder::new();
    let mut score = Decimal128Builder::new();
    let mut updated = Vec::with_capacity(ROWS_PER_FILE);
    let mut ttl = Int32Builder::new();
    for i in 0..ROWS_PER_FILE {
        // Keys repeat across days, so the builder has versions to reconcile.
        user_id.append_value(format!("user-{:08}", (i * 7 + day * 13_001) % 150_000));
        if rng.below(50) == 0 {
            top_genres.append(false);
        } else {
            for _ in 0..rng.below(9) {
                top_genres
                    .values()
                    .append_value(GENRES[rng.below(GENRES.len() as u64) as usize]);
            }
            top_genres.append(true);
        }
        for k in 0..rng.below(7) as usize {
            affinity.keys().append_value(GENRES[k * 2 % GENRES.len()]);
            affinity.values().append_value(rng.below(1000) as i32);
        }
        affinity.append(rng.below(50) != 0).unwrap();
        for _ in 0..rng.below(9) {
            followed
                .values()
                .append_value(format!("artist-{}", rng.below(5000)));
        }
        followed.append(true);
        country.append_value(["SE", "US", "BR", "DE", "JP"][rng.below(5) as usize]);
        if rng.below(20) == 0 {
            city.append_null();
        } else {
            city.append_value(format!("city {}", rng.below(300)));
        }
        if rng.below(30) == 0 {
            score.append_null();
        } else {
            score.append_value(rng.below(100_000_000) as i128);
        }
        updated.push(1_763_424_000_000_000 + (day * 86_400 + i) as i64 * 1_000_000);
        if rng.below(10) == 0 {
            ttl.append_null();
        } else {
            ttl.append_value(86_400 * (1 + rng.below(30) as i32));
        }
    }
    let location = StructArray::from(vec![
        (
            Arc::new(Field::new("country", DataType::Utf8, true)),
            Arc::new(country.finish()) as ArrayRef,
        ),
        (
            Arc::new(Field::new("city", DataType::Utf8, true)),
            Arc::new(city.finish()) as ArrayRef,
        ),
    ]);
    let batch = RecordBatch::try_from_iter(vec![
        ("user_id", Arc::new(user_id.finish()) as ArrayRef),
        ("top_genres", Arc::new(top_genres.finish())),
        ("genre_affinity", Arc::new(affinity.finish())),
        ("followed_artists", Arc::new(followed.finish())),
        ("location", Arc::new(location)),
        (
            "score",
            Arc::new(score.finish().with_precision_and_scale(10, 4).unwrap()),
        ),
        (
            "updated_at",
            Arc::new(TimestampMicrosecondArray::from(updated).with_timezone("UTC")),
        ),
        ("ttl_seconds", Arc::new(ttl.finish())),
    ])
    .unwrap();
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

fn table() -> Arc<TableSchema> {
    Arc::new(
        TableSchema::from_columns(
            "bench.profile_features",
            &[
                ("user_id", "partition_key", "text"),
                ("snapshot_date", "regular", "date"),
                ("top_genres", "regular", "list<text>"),
                ("genre_affinity", "regular", "map<text, int>"),
                ("followed_artists", "regular", "set<text>"),
                ("location", "regular", "frozen<tuple<text, text>>"),
                ("score", "regular", "decimal"),
                ("updated_at", "regular", "timestamp"),
            ],
        )
        .unwrap(),
    )
}

fn options() -> MappingOptions {
    MappingOptions {
        map: vec![("snapshot_date".to_owned(), "dt".to_owned())],
        writetime_column: Some("updated_at".to_owned()),
        writetime: None,
        ttl: None,
        ttl_column: Some("ttl_seconds".to_owned()),
        nulls: NullMode::Unset,
        ignore_columns: Vec::new(),
        strict: false,
        ..MappingOptions::default()
    }
}

/// cassbulk's decode stage: Parquet row groups decoded, converted to serialized CQL values and
/// checked (write time, TTL, primary key), as the row batches the source hands the builder.
fn cassbulk_decode(root: &Path) -> usize {
    let input = ParquetInput::open(root.to_str().unwrap(), false).unwrap();
    let plan = input.plan(table(), &options()).unwrap();
    input
        .events(plan)
        .map(|e| match e.unwrap() {
            SourceEvent::Rows(b) => black_box(b).accepted(),
            SourceEvent::Partition(p) => black_box(p).rows.len(),
            SourceEvent::Reject(r) => panic!("rejected: {r:?}"),
        })
        .sum()
}

/// The decode stage plus the builder's intake: every row of every batch made into a partition
/// of cells, batches in parallel on `pool` as the partition builder does.
fn cassbulk_partitions(root: &Path, pool: &rayon::ThreadPool) -> usize {
    let input = ParquetInput::open(root.to_str().unwrap(), false).unwrap();
    let plan = input.plan(table(), &options()).unwrap();
    let mut batches = Vec::new();
    let mut rows = 0;
    for event in input.events(plan) {
        match event.unwrap() {
            SourceEvent::Rows(b) => batches.push(b),
            SourceEvent::Partition(p) => rows += black_box(p).rows.len(),
            SourceEvent::Reject(r) => panic!("rejected: {r:?}"),
        }
    }
    rows + pool.install(|| {
        batches
            .par_iter()
            .map(|b| {
                b.partitions()
                    .map(|p| black_box(p.unwrap()).rows.len())
                    .sum::<usize>()
            })
            .sum::<usize>()
    })
}

/// arrow-rs alone: the same files, columns and batch size into `RecordBatch`es, one row group
/// per task on a pool as large as cassbulk's. With `keep_dictionaries`, set up as the source
/// sets it up: text columns whose chunks are dictionary encoded throughout read as dictionary
/// arrays (keys and one copy of each string), not string arrays.
fn arrow_decode(
    files: &[std::path::PathBuf],
    pool: &rayon::ThreadPool,
    keep_dictionaries: bool,
) -> usize {
    let work: Vec<(usize, usize)> = files
        .iter()
        .enumerate()
        .flat_map(|(f, _)| (0..ROWS_PER_FILE.div_ceil(ROW_GROUP_ROWS)).map(move |g| (f, g)))
        .collect();
    pool.install(|| {
        work.par_iter()
            .with_max_len(1)
            .map(|&(f, g)| {
                let file = std::fs::File::open(&files[f]).unwrap();
                let mut meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).unwrap();
                if keep_dictionaries {
                    meta = with_dictionaries(&meta, g);
                }
                let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta);
                let mask = ProjectionMask::roots(builder.parquet_schema(), 0..8);
                builder
                    .with_projection(mask)
                    .with_row_groups(vec![g])
                    .with_batch_size(BATCH_ROWS)
                    .build()
                    .unwrap()
                    .map(|b| black_box(b.unwrap()).num_rows())
                    .sum::<usize>()
            })
            .sum()
    })
}

/// `meta` with the text leaves whose chunks in row group `g` hold only dictionary pages read as
/// dictionary arrays (this bench's schema: text, lists, a map and a struct).
fn with_dictionaries(meta: &ArrowReaderMetadata, g: usize) -> ArrowReaderMetadata {
    fn hint(dt: &DataType, leaves: &mut dyn Iterator<Item = bool>) -> DataType {
        match dt {
            DataType::Utf8 if leaves.next().unwrap() => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
            DataType::List(f) => DataType::List(field(f, leaves)),
            DataType::Map(f, sorted) => DataType::Map(field(f, leaves), *sorted),
            DataType::Struct(fs) => DataType::Struct(fs.iter().map(|f| field(f, leaves)).collect()),
            DataType::Utf8 => DataType::Utf8,
            other => {
                leaves.next();
                other.clone()
            }
        }
    }
    fn field(f: &FieldRef, leaves: &mut dyn Iterator<Item = bool>) -> FieldRef {
        Arc::new(
            f.as_ref()
                .clone()
                .with_data_type(hint(f.data_type(), leaves)),
        )
    }
    let mut leaves = meta.metadata().row_group(g).columns().iter().map(|c| {
        c.dictionary_page_offset().is_some()
            && c.page_encoding_stats_mask().is_some_and(|m| {
                m.is_only(Encoding::PLAIN_DICTIONARY) || m.is_only(Encoding::RLE_DICTIONARY)
            })
    });
    let fields: Vec<FieldRef> = meta
        .schema()
        .fields()
        .iter()
        .map(|f| field(f, &mut leaves))
        .collect();
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(fields)));
    ArrowReaderMetadata::try_new(meta.metadata().clone(), options).unwrap()
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(20261122);
    let files: Vec<_> = (0..FILES)
        .map(|day| {
            let path = dir
                .path()
                .join(format!("dt=2026-11-{:02}", 18 + day))
                .join("part-00000.parquet");
            write_file(&path, day, &mut rng);
            path
        })
        .collect();
    let rows = FILES * ROWS_PER_FILE;
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    eprintln!(
        "parquet_decode: {rows} rows in {FILES} files, {:.1} MB",
        bytes as f64 / 1e6
    );
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    assert_eq!(arrow_decode(&files, &pool, false), rows);
    assert_eq!(arrow_decode(&files, &pool, true), rows);
    assert_eq!(cassbulk_decode(dir.path()), rows);
    assert_eq!(cassbulk_partitions(dir.path(), &pool), rows);

    // For profilers and instruction counts: `PARQUET_DECODE_ONLY=cassbulk:20` decodes 20 times
    // and exits, without criterion's adaptive iteration counts (also `arrow`,
    // `arrow-dictionaries`, `partitions`).
    if let Ok(only) = std::env::var("PARQUET_DECODE_ONLY") {
        let (which, times) = only.split_once(':').unwrap_or((&only, "10"));
        let times: u32 = times.parse().unwrap();
        let start = std::time::Instant::now();
        for _ in 0..times {
            match which {
                "arrow" => black_box(arrow_decode(&files, &pool, false)),
                "arrow-dictionaries" => black_box(arrow_decode(&files, &pool, true)),
                "partitions" => black_box(cassbulk_partitions(dir.path(), &pool)),
                _ => black_box(cassbulk_decode(dir.path())),
            };
        }
        eprintln!("{which}: {:?} per pass", start.elapsed() / times);
        std::process::exit(0);
    }

    let mut group = c.benchmark_group("parquet_decode");
    group.sample_size(10);
    group.throughput(Throughput::Elements(rows as u64));
    group.bench_function("arrow-rs record batches", |b| {
        b.iter(|| arrow_decode(&files, &pool, false))
    });
    group.bench_function("arrow-rs record batches, dictionaries kept", |b| {
        b.iter(|| arrow_decode(&files, &pool, true))
    });
    group.bench_function("cassbulk row batches", |b| {
        b.iter(|| cassbulk_decode(dir.path()))
    });
    group.bench_function("cassbulk partitions", |b| {
        b.iter(|| cassbulk_partitions(dir.path(), &pool))
    });
    group.finish();
}

criterion_group!(parquet, benches);
criterion_main!(parquet);

/// The allocator the `cassbulk` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

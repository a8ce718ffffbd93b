//! Criterion bench of the SSTable reader: a full read of every row of one SSTable a real
//! Cassandra 5.0 node wrote (`scripts/bench-sstables` makes it: 1,000,000 rows, 100,000
//! partitions of 10 rows, a text key, an int clustering column, text, bigint, int and timestamp
//! cells; `nb`, LZ4, 16 KiB chunks), by cassbulk's reader (`source::sstable::scan`: every
//! partition into the model's cells, counted) and by `cqlite-core` 0.18 (the Rust SSTable reader
//! on crates.io; its lowest public full scan with decoded values, `scan_stream_batched`, every
//! value touched), each on one thread. Throughput is in rows.
//!
//! Run: `scripts/bench-sstables` once, then `cargo bench --bench sstable_scan`. The SSTables are
//! read from `CASSBULK_BENCH_SSTABLES` (default `.cache/bench/sstables/sstables`); without them
//! the bench says so and measures nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn sstables() -> Option<PathBuf> {
    let dir = std::env::var("CASSBULK_BENCH_SSTABLES").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/bench/sstables/sstables"),
        PathBuf::from,
    );
    dir.is_dir().then_some(dir)
}

fn data_file(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().is_some_and(|s| s.ends_with("-Data.db")))
        .expect("a *-Data.db file")
}

/// Rows read by cqlite-core, every value touched.
fn cqlite_scan(runtime: &tokio::runtime::Runtime, data: &Path) -> (u64, u64) {
    use cqlite_core::storage::sstable::SSTableReader;
    use cqlite_core::{Config, Platform, ScanRow, TableId, Value};
    runtime.block_on(async {
        let config = Config::default();
        let platform = Arc::new(Platform::new(&config).await.unwrap());
        let reader = Arc::new(SSTableReader::open(data, &config, platform).await.unwrap());
        let (mut rows, mut sink) = (0u64, 0u64);
        let mut stream = reader.scan_stream_batched(TableId::new("scan"), None, None, None, 1024);
        while let Some(batch) = stream.recv().await {
            for (key, row) in batch.unwrap() {
                sink = sink.wrapping_add(key.0.len() as u64);
                if let ScanRow::Row(cells) = row {
                    rows += 1;
                    for (_, v) in &cells {
                        sink = sink.wrapping_add(match v {
                            Value::Text(b) => b.len() as u64,
                            Value::Integer(i) => *i as u64,
                            Value::BigInt(i) | Value::Timestamp(i) => *i as u64,
                            _ => 1,
                        });
                    }
                }
            }
        }
        (rows, sink)
    })
}

fn benches(c: &mut Criterion) {
    let Some(dir) = sstables() else {
        eprintln!("sstable_scan: no SSTables; run scripts/bench-sstables first");
        return;
    };
    let input = dir.to_str().unwrap().to_owned();
    let rows = cassbulk::source::sstable::scan(&input).unwrap().rows;
    // One worker thread: the comparison is per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let data = data_file(&dir);
    let (cqlite_rows, _) = cqlite_scan(&runtime, &data);
    // CPU seconds of one full read each, every thread of the process counted.
    let cpu = |f: &mut dyn FnMut()| {
        let now = || {
            // SAFETY: getrusage writes into the struct it is given.
            let mut u: libc::rusage = unsafe { std::mem::zeroed() };
            unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
            let t = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            t(u.ru_utime) + t(u.ru_stime)
        };
        let start = now();
        f();
        now() - start
    };
    let ours = cpu(&mut || {
        cassbulk::source::sstable::scan(&input).unwrap();
    });
    let theirs = cpu(&mut || {
        cqlite_scan(&runtime, &data);
    });
    eprintln!(
        "sstable_scan: {rows} rows (cassbulk), {cqlite_rows} rows (cqlite-core), {} bytes of \
         Data.db; one full read: cassbulk {ours:.3} CPU s, cqlite-core {theirs:.3} CPU s",
        std::fs::metadata(&data).unwrap().len()
    );
    let mut group = c.benchmark_group("sstable_scan");
    group.sample_size(10);
    group.throughput(Throughput::Elements(rows));
    group.bench_function("cassbulk reader", |b| {
        b.iter(|| cassbulk::source::sstable::scan(&input).unwrap())
    });
    group.bench_function("cqlite-core scan_stream_batched", |b| {
        b.iter(|| cqlite_scan(&runtime, &data))
    });
    group.finish();
}

criterion_group!(sstable, benches);
criterion_main!(sstable);

/// The allocator the `cassbulk` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

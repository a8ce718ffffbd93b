//! The partition builder: takes partitions from any number of sources in any order and gives
//! them back in token order, each written once, with every duplicate reconciled last-write-wins
//! ([`crate::merge`]). Memory is bounded: past the budget, the buffer is sorted (in parallel)
//! and spilled as a zstd-compressed run under the temp folder; from then on, at half the
//! budget, by a thread of its own while the next half fills. The output is a k-way merge of
//! the runs and what is left in memory. The temp folder goes away when the builder and its
//! output are dropped, and on Ctrl-C.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::iter::{IntoParallelRefIterator, ParallelIterator};
use thiserror::Error;

use crate::cleanup::Registered;
use crate::exit::Classify;
use crate::intake::RowBatch;
use crate::merge::settle;
use crate::model::{Partition, TableSchema, Token};

use super::arena::{Arena, Collapsed, Sorted};
use super::entry::{Entry, EntryKind, EntryOrder};
use super::run::{RunError, RunReader, RunWriter};

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SortError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("a row of a batch cannot be built ({0}); this is a bug in cassbulk, please report it")]
    Batch(String),
    #[error(
        "an entry held in memory cannot be read back ({0}); this is a bug in cassbulk, please report it"
    )]
    Arena(std::io::Error),
    #[error(
        "cannot create a temporary folder under {dir}: {source} (set --temp-dir to a writable folder with free space)"
    )]
    TempDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the thread that writes a run to disk: {0}")]
    Thread(std::io::Error),
}

impl Classify for SortError {
    /// Spilling fails on the machine (disk, folder), never on the command.
    fn is_usage(&self) -> bool {
        false
    }
}

/// What the builder did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildStats {
    pub entries_in: u64,
    pub partitions_out: u64,
    /// Entries that were versions of an entry already seen, merged away.
    pub duplicates_collapsed: u64,
    /// Cells dropped by reconciliation (older versions and what deletions shadow).
    pub cells_collapsed: u64,
    pub runs_spilled: u64,
    pub bytes_spilled: u64,
}

/// A temp folder removed on drop (and on Ctrl-C while it lives).
struct TempFolder {
    dir: tempfile::TempDir,
    _interrupt: Registered,
}

impl TempFolder {
    fn new(parent: &Path) -> Result<TempFolder, SortError> {
        let dir = tempfile::Builder::new()
            .prefix("cassbulk-")
            .tempdir_in(parent)
            .map_err(|source| SortError::TempDir {
                dir: parent.to_owned(),
                source,
            })?;
        let registered = Registered::new(dir.path());
        Ok(TempFolder {
            dir,
            _interrupt: registered,
        })
    }
}

pub struct BuilderOptions {
    /// Bytes of entries to hold in memory before spilling.
    pub memory_budget: usize,
    pub temp_dir: PathBuf,
}

pub struct PartitionBuilder {
    order: Arc<EntryOrder>,
    options: BuilderOptions,
    temp: Option<TempFolder>,
    /// Entries in memory, in their run encoding.
    buffer: Arena,
    /// Row batches not yet made into entries, with their inputs, how many rows and heap bytes
    /// they hold.
    pending: Vec<(RowBatch, u32)>,
    pending_rows: usize,
    pending_bytes: usize,
    runs: Vec<PathBuf>,
    /// The run being written in the background, if any.
    spilling: Option<Spilling>,
    stats: BuildStats,
}

/// A run being sorted and written on a thread of its own (its arena is at most half the
/// budget).
struct Spilling {
    thread: std::thread::JoinHandle<Result<Spilled, SortError>>,
}

/// A run written, and what writing it collapsed.
struct Spilled {
    path: PathBuf,
    collapsed: Collapsed,
    bytes: u64,
}

/// Rows of batches gathered before their cells are made, in parallel, a batch per task.
const PENDING_ROWS: usize = 16 * 1024;
/// Bytes per chunk of a batch's entries.
const BATCH_CHUNK: usize = 64 << 10;

impl PartitionBuilder {
    pub fn new(schema: &TableSchema, options: BuilderOptions) -> PartitionBuilder {
        PartitionBuilder {
            order: Arc::new(EntryOrder::new(schema)),
            options,
            temp: None,
            buffer: Arena::new(),
            pending: Vec::new(),
            pending_rows: 0,
            pending_bytes: 0,
            runs: Vec::new(),
            spilling: None,
            stats: BuildStats::default(),
        }
    }

    /// Whether the buffer should go to disk: past the budget the first time (an input that
    /// fits is never spilled), past half of it once runs are being written, as the run before
    /// it may still be in memory being written (the first run is written before reading goes
    /// on, so a run in flight means `runs` is not empty).
    fn over_budget(&self) -> bool {
        let held = self.buffer.heap_size() + self.pending_bytes;
        if self.runs.is_empty() {
            held > self.options.memory_budget
        } else {
            held > self.options.memory_budget / 2
        }
    }

    /// Adds a partition (or piece of one) from input number `source`.
    pub fn push(&mut self, partition: Partition, source: u32) -> Result<(), SortError> {
        for entry in Entry::split(partition, source) {
            self.stats.entries_in += 1;
            self.buffer.push(&entry);
        }
        if self.over_budget() {
            self.spill()?;
        }
        Ok(())
    }

    /// Adds a batch of rows. Their cells are made a few batches at a time, on all cores.
    pub fn push_rows(&mut self, batch: RowBatch, source: u32) -> Result<(), SortError> {
        self.pending_rows += batch.len();
        self.pending_bytes += batch.heap_size();
        self.pending.push((batch, source));
        if self.pending_rows >= PENDING_ROWS {
            self.build_pending()?;
        }
        if self.over_budget() {
            self.spill()?;
        }
        Ok(())
    }

    /// Makes the entries of the pending batches.
    fn build_pending(&mut self) -> Result<(), SortError> {
        let pending = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        let built: Vec<Result<(Arena, u64), SortError>> = pending
            .par_iter()
            .map(|(batch, source)| {
                // Small chunks: the buffer takes them in as they are, half-used last ones too.
                let mut arena = Arena::with_chunk(BATCH_CHUNK);
                let mut entries = 0;
                for partition in batch.partitions() {
                    let partition = partition.map_err(|e| {
                        SortError::Batch(format!(
                            "{}: {}",
                            e.column.as_deref().unwrap_or("row"),
                            e.reason
                        ))
                    })?;
                    for entry in Entry::split(partition, *source) {
                        arena.push(&entry);
                        entries += 1;
                    }
                }
                Ok((arena, entries))
            })
            .collect();
        self.pending_bytes = 0;
        drop(pending);
        for built in built {
            let (arena, entries) = built?;
            self.stats.entries_in += entries;
            self.buffer.append(arena);
        }
        Ok(())
    }

    /// Sorts the buffer; its duplicates merge as it is read.
    fn sort_buffer(&mut self) -> Sorted {
        std::mem::take(&mut self.buffer).sort(&self.order)
    }

    /// Hands the buffer to a thread that sorts it and writes it as a run, once the run before
    /// it is written; reading goes on meanwhile (from the second run on).
    fn spill(&mut self) -> Result<(), SortError> {
        self.build_pending()?;
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.wait_for_spill()?;
        let temp = match &self.temp {
            Some(t) => t,
            None => self.temp.insert(TempFolder::new(&self.options.temp_dir)?),
        };
        let path = temp
            .dir
            .path()
            .join(format!("run-{:05}.zst", self.runs.len()));
        let buffer = std::mem::take(&mut self.buffer);
        let order = self.order.clone();
        let thread = std::thread::Builder::new()
            .name("spill".into())
            .spawn(move || write_run(buffer.sort(&order), &order, path))
            .map_err(SortError::Thread)?;
        self.spilling = Some(Spilling { thread });
        if self.runs.is_empty() {
            // The first run is the whole budget: nothing more fits until it is written.
            self.wait_for_spill()?;
        }
        Ok(())
    }

    /// Waits for the run being written, and records it.
    fn wait_for_spill(&mut self) -> Result<(), SortError> {
        let Some(spilling) = self.spilling.take() else {
            return Ok(());
        };
        let spilled = spilling.thread.join().map_err(|_| {
            SortError::Arena(std::io::Error::other("the thread writing a run panicked"))
        })??;
        count(&mut self.stats, spilled.collapsed);
        self.stats.runs_spilled += 1;
        self.stats.bytes_spilled += spilled.bytes;
        self.runs.push(spilled.path);
        Ok(())
    }

    /// Ends input; returns the partitions in token order.
    pub fn finish(mut self) -> Result<Partitions, SortError> {
        self.build_pending()?;
        self.wait_for_spill()?;
        let memory = self.sort_buffer();
        let mut sources: Vec<Source> = Vec::with_capacity(self.runs.len() + 1);
        for path in &self.runs {
            sources.push(Source::Run(RunReader::open(path)?));
        }
        sources.push(Source::Memory(memory));
        let mut heads = Vec::with_capacity(sources.len());
        for source in &mut sources {
            heads.push(source.next(&self.order, &mut self.stats)?);
        }
        let heads = Heads::new(heads, &self.order);
        Ok(Partitions {
            order: self.order.clone(),
            sources,
            heads,
            stats: std::mem::take(&mut self.stats),
            _temp: self.temp.take(),
            pending: None,
            failed: false,
        })
    }
}

impl Drop for PartitionBuilder {
    /// A run still being written finishes before the temp folder goes.
    fn drop(&mut self) {
        if let Some(spilling) = self.spilling.take() {
            let _ = spilling.thread.join();
        }
    }
}

/// Writes sorted entries as a run at `path` (equal ones merged).
fn write_run(mut sorted: Sorted, order: &EntryOrder, path: PathBuf) -> Result<Spilled, SortError> {
    let mut writer = RunWriter::create(&path)?;
    let mut scratch = Vec::new();
    let mut collapsed = Collapsed::default();
    while let Some((bytes, c)) = sorted
        .next_encoded(order, &mut scratch)
        .map_err(SortError::Arena)?
    {
        collapsed.entries += c.entries;
        collapsed.cells += c.cells;
        writer.write_encoded(bytes)?;
    }
    let bytes_in = writer.bytes_in;
    let path = writer.finish()?;
    let bytes = std::fs::metadata(&path).map_or(bytes_in, |m| m.len());
    Ok(Spilled {
        path,
        collapsed,
        bytes,
    })
}

fn count(stats: &mut BuildStats, collapsed: Collapsed) {
    stats.duplicates_collapsed += collapsed.entries;
    stats.cells_collapsed += collapsed.cells;
}

enum Source {
    Run(RunReader),
    Memory(Sorted),
}

impl Source {
    fn next(
        &mut self,
        order: &EntryOrder,
        stats: &mut BuildStats,
    ) -> Result<Option<Entry>, SortError> {
        match self {
            Source::Run(r) => Ok(r.next_entry()?),
            Source::Memory(sorted) => {
                let next = sorted.next_entry(order).map_err(SortError::Arena)?;
                Ok(next.map(|(entry, collapsed)| {
                    count(stats, collapsed);
                    entry
                }))
            }
        }
    }
}

/// Each source's next entry, and the sources that have one in a binary heap: smallest entry
/// first, equal ones by source number, so a merge over many runs costs a logarithm of them
/// per entry.
struct Heads {
    entries: Vec<Option<Entry>>,
    heap: Vec<usize>,
}

impl Heads {
    fn new(entries: Vec<Option<Entry>>, order: &EntryOrder) -> Heads {
        let mut heads = Heads {
            heap: (0..entries.len())
                .filter(|&i| entries[i].is_some())
                .collect(),
            entries,
        };
        for at in (0..heads.heap.len() / 2).rev() {
            heads.sift_down(at, order);
        }
        heads
    }

    /// The source whose head is smallest.
    fn first(&self) -> Option<usize> {
        self.heap.first().copied()
    }

    fn peek(&self) -> Option<&Entry> {
        self.first().and_then(|i| self.entries[i].as_ref())
    }

    fn less(&self, a: usize, b: usize, order: &EntryOrder) -> bool {
        match (&self.entries[a], &self.entries[b]) {
            (Some(x), Some(y)) => order.compare(x, y).then(a.cmp(&b)) == Ordering::Less,
            _ => false,
        }
    }

    fn sift_down(&mut self, mut at: usize, order: &EntryOrder) {
        loop {
            let (left, right) = (2 * at + 1, 2 * at + 2);
            let mut smallest = at;
            for child in [left, right] {
                if child < self.heap.len()
                    && self.less(self.heap[child], self.heap[smallest], order)
                {
                    smallest = child;
                }
            }
            if smallest == at {
                return;
            }
            self.heap.swap(at, smallest);
            at = smallest;
        }
    }

    /// Takes the smallest head, puts its source's next entry in its place.
    fn replace_first(&mut self, next: Option<Entry>, order: &EntryOrder) -> Entry {
        let i = self.heap[0];
        let taken = std::mem::replace(&mut self.entries[i], next);
        if self.entries[i].is_none() {
            self.heap.swap_remove(0);
        }
        self.sift_down(0, order);
        taken.expect("a source in the heap has a head")
    }
}

/// The builder's output: merged partitions in token order.
pub struct Partitions {
    order: Arc<EntryOrder>,
    sources: Vec<Source>,
    heads: Heads,
    stats: BuildStats,
    _temp: Option<TempFolder>,
    /// The first entry of the next partition, already merged.
    pending: Option<Entry>,
    failed: bool,
}

impl Partitions {
    pub fn stats(&self) -> &BuildStats {
        &self.stats
    }

    /// The smallest head, removed from its source (which moves on).
    fn pop_min(&mut self) -> Result<Option<Entry>, SortError> {
        let Some(i) = self.heads.first() else {
            return Ok(None);
        };
        let next = self.sources[i].next(&self.order, &mut self.stats)?;
        Ok(Some(self.heads.replace_first(next, &self.order)))
    }

    /// The next entry with every version of it merged in (from the other sources, in their
    /// order).
    fn next_merged(&mut self) -> Result<Option<Entry>, SortError> {
        let Some(mut entry) = self.pop_min()? else {
            return Ok(None);
        };
        while self
            .heads
            .peek()
            .is_some_and(|h| self.order.compare(h, &entry) == Ordering::Equal)
        {
            let Some(other) = self.pop_min()? else { break };
            let (merged, dropped) = entry.absorb(other, &self.order);
            entry = merged;
            count(
                &mut self.stats,
                Collapsed {
                    entries: 1,
                    cells: dropped,
                },
            );
        }
        Ok(Some(entry))
    }

    fn next_partition(&mut self) -> Result<Option<Partition>, SortError> {
        let first = match self.pending.take() {
            Some(e) => e,
            None => match self.next_merged()? {
                Some(e) => e,
                None => return Ok(None),
            },
        };
        let mut partition = Partition {
            token: Token(first.token),
            key: first.key.clone(),
            deletion: None,
            range_deletions: Vec::new(),
            static_row: None,
            rows: Vec::new(),
        };
        let mut entry = Some(first);
        while let Some(e) = entry {
            if e.token != partition.token.0 || e.key != partition.key {
                self.pending = Some(e);
                break;
            }
            match e.kind {
                EntryKind::PartitionDeletion(d) => partition.deletion = Some(d),
                EntryKind::Static(row) => partition.static_row = Some(row),
                EntryKind::RangeDeletion(r) => partition.range_deletions.push(r),
                EntryKind::Row(row) => partition.rows.push(row),
            }
            entry = self.next_merged()?;
        }
        settle(&mut partition, self.order.clustering());
        self.stats.partitions_out += 1;
        Ok(Some(partition))
    }
}

impl Iterator for Partitions {
    type Item = Result<Partition, SortError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.next_partition();
        if next.is_err() {
            self.failed = true;
        }
        next.transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cell::{ColumnData, RowLiveness};
    use crate::model::{Cell, Liveness, Row, Value};

    fn schema() -> TableSchema {
        TableSchema::from_columns(
            "ks.t",
            &[
                ("k", "partition_key", "text"),
                ("c", "clustering desc", "int"),
                ("v", "regular", "text"),
            ],
        )
        .unwrap()
    }

    fn partition(key: &str, c: i32, ts: i64, v: &str) -> Partition {
        let key = Value::Text(key.into()).to_bytes();
        Partition {
            token: Token::of_key(&key),
            key,
            deletion: None,
            range_deletions: Vec::new(),
            static_row: None,
            rows: vec![Row {
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
            }],
        }
    }

    fn build(inputs: Vec<Partition>, budget: usize) -> (Vec<Partition>, BuildStats) {
        let dir = tempfile::tempdir().unwrap();
        let mut b = PartitionBuilder::new(
            &schema(),
            BuilderOptions {
                memory_budget: budget,
                temp_dir: dir.path().to_owned(),
            },
        );
        for p in inputs {
            b.push(p, 0).unwrap();
        }
        let mut out = b.finish().unwrap();
        let parts: Vec<Partition> = out.by_ref().map(Result::unwrap).collect();
        let stats = out.stats().clone();
        drop(out);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "temp files removed"
        );
        (parts, stats)
    }

    fn inputs() -> Vec<Partition> {
        let mut v = Vec::new();
        for i in 0..300 {
            let key = format!("user{}", i % 50);
            v.push(partition(
                &key,
                i % 7,
                1000 + i64::from(i),
                &format!("v{i}"),
            ));
        }
        v
    }

    #[test]
    fn output_is_in_token_then_clustering_order_with_each_row_once() {
        let (parts, stats) = build(inputs(), usize::MAX);
        assert_eq!(parts.len(), 50);
        assert!(
            parts
                .windows(2)
                .all(|w| (w[0].token, &w[0].key) < (w[1].token, &w[1].key))
        );
        for p in &parts {
            let cs: Vec<i32> = p
                .rows
                .iter()
                .map(|r| i32::from_be_bytes(r.clustering[0].clone().try_into().unwrap()))
                .collect();
            assert!(
                cs.windows(2).all(|w| w[0] > w[1]),
                "DESC clustering: {cs:?}"
            );
        }
        assert_eq!(stats.entries_in, 300);
        assert_eq!(stats.runs_spilled, 0);
        let rows: usize = parts.iter().map(|p| p.rows.len()).sum();
        assert_eq!(stats.duplicates_collapsed as usize, 300 - rows);
    }

    /// The rows of [`inputs`] as row batches of `per_batch` rows; every seventh row rejected.
    fn batches(per_batch: usize) -> Vec<RowBatch> {
        use crate::intake::{BatchColumn, BatchShape, ColumnValues};
        let shape = Arc::new(BatchShape {
            schema: Arc::new(schema()),
            mapped: vec![true; 3],
            nulls: crate::intake::NullMode::Unset,
            ttl_origin: crate::intake::TtlOrigin::WriteTime,
        });
        let rows: Vec<usize> = (0..300).collect();
        rows.chunks(per_batch)
            .map(|chunk| {
                let mut columns = vec![ColumnValues::default(); 3];
                let mut batch = RowBatch {
                    shape: shape.clone(),
                    columns: Vec::new(),
                    timestamps: Vec::new(),
                    ttls: Vec::new(),
                    rejected: Vec::new(),
                };
                for &i in chunk {
                    let values = [
                        Value::Text(format!("user{}", i % 50)),
                        Value::Int(i as i32 % 7),
                        Value::Text(format!("v{i}")),
                    ];
                    for (column, value) in columns.iter_mut().zip(&values) {
                        column
                            .push_with(|out| {
                                value.encode(out);
                                Ok::<_, ()>(true)
                            })
                            .unwrap();
                    }
                    batch.timestamps.push(1000 + i as i64);
                    batch.ttls.push(if i % 5 == 0 { 60 } else { 0 });
                    batch.rejected.push(i % 7 == 3);
                }
                batch.columns = columns.into_iter().map(BatchColumn::Values).collect();
                batch
            })
            .collect()
    }

    #[test]
    fn row_batches_build_the_same_partitions_as_their_rows_pushed_one_by_one() {
        for budget in [usize::MAX, 3_000] {
            let one_by_one: Vec<Partition> = batches(300)
                .iter()
                .flat_map(|b| b.partitions().map(Result::unwrap).collect::<Vec<_>>())
                .collect();
            assert_eq!(one_by_one.len(), 300 - 43);
            let (expected, _) = build(one_by_one, budget);
            let dir = tempfile::tempdir().unwrap();
            let mut b = PartitionBuilder::new(
                &schema(),
                BuilderOptions {
                    memory_budget: budget,
                    temp_dir: dir.path().to_owned(),
                },
            );
            for batch in batches(37) {
                b.push_rows(batch, 0).unwrap();
            }
            let mut out = b.finish().unwrap();
            let got: Vec<Partition> = out.by_ref().map(Result::unwrap).collect();
            assert_eq!(out.stats().entries_in, 300 - 43, "budget {budget}");
            if budget < usize::MAX {
                assert!(out.stats().runs_spilled > 1, "{:?}", out.stats());
            }
            assert_eq!(got, expected, "budget {budget}");
        }
    }

    #[test]
    fn spilling_to_disk_gives_exactly_the_in_memory_result() {
        let (in_memory, _) = build(inputs(), usize::MAX);
        let (spilled, stats) = build(inputs(), 2_000);
        assert!(stats.runs_spilled > 5, "{stats:?}");
        assert_eq!(spilled, in_memory);
    }

    #[test]
    fn a_builder_dropped_while_a_run_is_being_written_leaves_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = PartitionBuilder::new(
            &schema(),
            BuilderOptions {
                memory_budget: 2_000,
                temp_dir: dir.path().to_owned(),
            },
        );
        for p in inputs() {
            b.push(p, 0).unwrap();
        }
        assert!(b.spilling.is_some(), "a run is in flight");
        drop(b);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn the_latest_version_of_each_row_wins() {
        let (parts, _) = build(
            vec![
                partition("a", 1, 5, "old"),
                partition("a", 1, 9, "new"),
                partition("a", 1, 7, "mid"),
            ],
            usize::MAX,
        );
        let cell = &parts[0].rows[0].columns[0].cells[0];
        assert_eq!(cell.value, Value::Text("new".into()).to_bytes());
        assert_eq!(cell.timestamp, 9);
    }

    /// A partition deleting clustering `from..=to` (DESC: `from` is the greater) at `ts`.
    fn range_deletion(key: &str, from: i32, to: i32, ts: i64) -> Partition {
        let key = Value::Text(key.into()).to_bytes();
        let bound = |c: i32| crate::model::SliceBound {
            prefix: vec![Value::Int(c).to_bytes()],
            inclusive: true,
        };
        Partition {
            token: Token::of_key(&key),
            key,
            deletion: None,
            range_deletions: vec![crate::model::RangeDeletion {
                start: bound(from),
                end: bound(to),
                deletion: crate::model::Deletion {
                    timestamp: ts,
                    local_deletion_time: 1,
                },
            }],
            static_row: None,
            rows: Vec::new(),
        }
    }

    fn clusterings(p: &Partition) -> Vec<i32> {
        p.rows
            .iter()
            .map(|r| i32::from_be_bytes(r.clustering[0].clone().try_into().unwrap()))
            .collect()
    }

    #[test]
    fn a_range_deletion_shadows_the_rows_in_its_range_written_at_or_before_it() {
        let mut inputs: Vec<Partition> = (0..6).map(|c| partition("a", c, 10, "old")).collect();
        inputs.push(partition("a", 3, 11, "newer"));
        // c from 4 down to 2 (DESC), at 10: rows 4, 3 and 2 at 10 go, the newer 3 stays.
        inputs.push(range_deletion("a", 4, 2, 10));
        // Twice the same range: one deletion, the later.
        inputs.push(range_deletion("a", 4, 2, 8));
        let (parts, stats) = build(inputs.clone(), usize::MAX);
        assert_eq!(clusterings(&parts[0]), [5, 3, 1, 0]);
        assert_eq!(parts[0].rows[1].columns[0].cells[0].timestamp, 11);
        assert_eq!(parts[0].range_deletions.len(), 1);
        assert_eq!(parts[0].range_deletions[0].deletion.timestamp, 10);
        assert_eq!(stats.duplicates_collapsed, 2);
        let (spilled, stats) = build(inputs, 300);
        assert!(stats.runs_spilled > 2, "{stats:?}");
        assert_eq!(spilled, parts);
    }

    #[test]
    fn a_partition_deletion_absorbs_the_range_deletions_it_covers() {
        let mut deleted = range_deletion("a", 9, 0, 20);
        deleted.deletion = Some(crate::model::Deletion {
            timestamp: 20,
            local_deletion_time: 1,
        });
        let (parts, _) = build(
            vec![
                deleted,
                range_deletion("a", 9, 5, 30),
                partition("a", 7, 25, "x"),
                partition("a", 2, 25, "y"),
            ],
            usize::MAX,
        );
        assert_eq!(parts[0].range_deletions.len(), 1, "the range at 20 goes");
        assert_eq!(parts[0].range_deletions[0].deletion.timestamp, 30);
        assert_eq!(clusterings(&parts[0]), [2]);
    }

    /// One input's piece of partition "p": a row version, or a range deletion, or a partition
    /// deletion, with the clustering running 0..5 DESC.
    #[derive(Clone, Debug)]
    enum Piece {
        Row {
            c: i32,
            ts: i64,
            v: u8,
        },
        Range {
            start: Option<(i32, bool)>,
            end: Option<(i32, bool)>,
            ts: i64,
        },
        Delete {
            ts: i64,
        },
    }

    fn arb_piece() -> impl proptest::strategy::Strategy<Value = Piece> {
        use proptest::prelude::*;
        let bound = prop::option::of((0i32..5, any::<bool>()));
        prop_oneof![
            6 => (0i32..5, 0i64..6, 0u8..3).prop_map(|(c, ts, v)| Piece::Row { c, ts, v }),
            2 => (bound.clone(), bound, 0i64..6).prop_map(|(start, end, ts)| Piece::Range { start, end, ts }),
            1 => (0i64..6).prop_map(|ts| Piece::Delete { ts }),
        ]
    }

    fn piece_partition(piece: &Piece) -> Partition {
        let deletion = |ts| crate::model::Deletion {
            timestamp: ts,
            local_deletion_time: 1,
        };
        let bound = |b: Option<(i32, bool)>| match b {
            None => crate::model::SliceBound::open(),
            Some((c, inclusive)) => crate::model::SliceBound {
                prefix: vec![Value::Int(c).to_bytes()],
                inclusive,
            },
        };
        let mut p = partition("p", 0, 0, "");
        p.rows.clear();
        match *piece {
            Piece::Row { c, ts, v } => p.rows = partition("p", c, ts, &v.to_string()).rows,
            Piece::Range { start, end, ts } => {
                p.range_deletions.push(crate::model::RangeDeletion {
                    start: bound(start),
                    end: bound(end),
                    deletion: deletion(ts),
                })
            }
            Piece::Delete { ts } => p.deletion = Some(deletion(ts)),
        }
        p
    }

    /// The reference: each clustering's latest version (greater value on a tie), unless the
    /// latest deletion covering it (by plain integer intervals over DESC order) is as late.
    fn naive(pieces: &[Piece]) -> Vec<(i32, i64, String)> {
        // In DESC order, row c sits at position -c.
        let covers = |start: Option<(i32, bool)>, end: Option<(i32, bool)>, c: i32| {
            let after_start = match start {
                None => true,
                Some((s, inclusive)) => -c > -s || (inclusive && c == s),
            };
            let before_end = match end {
                None => true,
                Some((e, inclusive)) => -c < -e || (inclusive && c == e),
            };
            after_start && before_end
        };
        let mut out = Vec::new();
        for c in (0..5).rev() {
            let best = pieces
                .iter()
                .filter_map(|p| match *p {
                    Piece::Row { c: pc, ts, v } if pc == c => Some((ts, v.to_string())),
                    _ => None,
                })
                .max();
            let deleted = pieces
                .iter()
                .filter_map(|p| match *p {
                    Piece::Delete { ts } => Some(ts),
                    Piece::Range { start, end, ts } if covers(start, end, c) => Some(ts),
                    _ => None,
                })
                .max();
            if let Some((ts, v)) = best
                && deleted.is_none_or(|d| ts > d)
            {
                out.push((c, ts, v));
            }
        }
        out
    }

    fn built(pieces: &[Piece], budget: usize) -> Vec<(i32, i64, String)> {
        let (parts, _) = build(pieces.iter().map(piece_partition).collect(), budget);
        parts
            .iter()
            .flat_map(|p| &p.rows)
            .map(|r| {
                let c = i32::from_be_bytes(r.clustering[0].clone().try_into().unwrap());
                let cell = &r.columns[0].cells[0];
                let v = String::from_utf8(cell.value.to_vec()).unwrap();
                (c, cell.timestamp, v)
            })
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn rows_and_range_and_partition_deletions_merge_as_the_naive_reference_in_any_order_and_split(
            pieces in proptest::collection::vec(arb_piece(), 1..14),
            seed in proptest::prelude::any::<u64>(),
        ) {
            let expected = naive(&pieces);
            proptest::prop_assert_eq!(built(&pieces, usize::MAX), expected.clone());
            let mut shuffled = pieces.clone();
            let n = shuffled.len();
            for i in 0..n {
                shuffled.swap(i, (seed as usize).wrapping_add(i * 7919) % n);
            }
            // A budget of a few entries spills several runs.
            proptest::prop_assert_eq!(built(&shuffled, 400), expected);
        }

        #[test]
        fn inputs_in_token_order_merged_as_streams_give_what_the_builder_gives(
            inputs in proptest::collection::vec(
                proptest::collection::vec((0u8..5, arb_piece()), 0..12),
                1..5,
            ),
        ) {
            use crate::merge::streams::{MergeStreams, OutOfOrder};
            use crate::merge::{Collapsed, merge_partitions};
            use crate::model::order::TableOrder;
            let order = TableOrder::new(&schema());
            // A replica's exact copy of the first input too.
            let mut inputs = inputs;
            inputs.push(inputs[0].clone());
            // Each input as an SSTable holds it: each partition once, in token order, its rows
            // in clustering order, its deletions not yet applied.
            let streams: Vec<Vec<Partition>> = inputs
                .iter()
                .map(|pieces| {
                    let mut by_key: Vec<Partition> = Vec::new();
                    for (key, piece) in pieces {
                        let mut p = piece_partition(piece);
                        let key = Value::Text(format!("k{key}")).to_bytes();
                        p.token = Token::of_key(&key);
                        p.key = key;
                        match by_key.iter().position(|q| q.key == p.key) {
                            Some(i) => {
                                let q = by_key.swap_remove(i);
                                by_key.push(merge_partitions(q, p, &order, &mut Collapsed::default()));
                            }
                            None => by_key.push(p),
                        }
                    }
                    by_key.sort_by(|a, b| (a.token, &a.key).cmp(&(b.token, &b.key)));
                    by_key
                })
                .collect();
            let (expected, stats) = build(streams.iter().flatten().cloned().collect(), usize::MAX);
            // Inputs settled each on its own (as `Started::ordered` promises) merge the same.
            let settled = streams
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let s: Vec<Partition> = s
                        .iter()
                        .cloned()
                        .map(|mut p| {
                            crate::merge::settle(&mut p, order.clustering());
                            p
                        })
                        .collect();
                    (format!("input {i}"), s.into_iter().map(Ok::<_, OutOfOrder>))
                })
                .collect();
            let got: Vec<Partition> = MergeStreams::of_settled(settled, order.clone())
                .map(Result::unwrap)
                .collect();
            proptest::prop_assert_eq!(&got, &expected);
            let named = streams
                .into_iter()
                .enumerate()
                .map(|(i, s)| (format!("input {i}"), s.into_iter().map(Ok::<_, OutOfOrder>)))
                .collect();
            let mut merged = MergeStreams::new(named, order);
            let got: Vec<Partition> = merged.by_ref().map(Result::unwrap).collect();
            proptest::prop_assert_eq!(&got, &expected);
            proptest::prop_assert_eq!(merged.partitions_out(), stats.partitions_out);
        }
    }

    #[test]
    fn an_input_out_of_token_order_is_refused_where_it_goes_wrong() {
        use crate::merge::streams::{MergeStreams, OutOfOrder};
        let mut keys: Vec<Partition> = ["a", "b", "c"]
            .iter()
            .map(|k| partition(k, 1, 1, "v"))
            .collect();
        keys.sort_by(|a, b| (a.token, &a.key).cmp(&(b.token, &b.key)));
        keys.swap(1, 2);
        let named = vec![(
            "node1/nb-1-big-Data.db".to_owned(),
            keys.into_iter().map(Ok),
        )];
        let out: Vec<Result<Partition, OutOfOrder>> =
            MergeStreams::new(named, crate::model::order::TableOrder::new(&schema())).collect();
        assert!(out[0].is_ok());
        let refusal = out.last().unwrap().as_ref().unwrap_err().to_string();
        assert!(
            refusal.starts_with("node1/nb-1-big-Data.db: partition "),
            "{refusal}"
        );
        assert!(refusal.contains("not in Murmur3 token order"), "{refusal}");
    }
}

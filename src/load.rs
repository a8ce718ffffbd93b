//! The `load` job. Phase one reads every input in parallel (a thread per input), turns rows into
//! partitions and feeds them to the partition builder, which sorts and reconciles them in
//! bounded memory; rejects go to the rejects file. Nothing is written until every input was read
//! whole, so a truncated or corrupt input is refused before the first write. Phase two streams
//! the merged partitions, in token order, into the sink, which records a checkpoint that a
//! rerun of the same command resumes from. The job names no concrete source or sink: it opens
//! inputs through [`Source`] and writes through [`sink::open`].
//!
//! Inputs in token order already (SSTables, a live scan) skip the builder: they are merged as
//! streams. When every input can seek to a token (SSTables with an Index.db) and the sink can
//! write slices (SSTables), the ring is cut into token slices, one per core (fewer for a small
//! input), and each slice is read, merged and written on a thread of its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use crate::checkpoint::{self, CheckpointError, Marks};
use crate::cleanup::install_interrupt_cleanup;
use crate::cluster::{self, ClusterError, ConnectOptions};
use crate::exit::{Classified, Classify};
use crate::intake::{RowBatch, TtlOrigin};
use crate::merge::streams::{MergeStreams, OutOfOrder};
use crate::merge::{keep_since, purge_tombstones};
use crate::model::order::TableOrder;
use crate::model::schema_cql::table_from_cql;
use crate::model::{Partition, TableName, TableSchema};
use crate::plan::MappingOptions;
use crate::progress::{Counters, InputMeter, Progress, Summary};
use crate::rejects::{RejectError, Rejects};
use crate::sink::{self, PartitionStream, SinkReport, SinkSpec, Target};
use crate::sort::builder::{BuildStats, BuilderOptions, PartitionBuilder, SortError};
use crate::source::{Events, InputSize, OpenOptions, Planned, Source, SourceEvent};

/// Partitions buffered between stages.
const CHANNEL_DEPTH: usize = 1024;

/// Messages buffered between the readers and the builder: each a row batch or up to
/// [`PARTITIONS_PER_MESSAGE`] partitions.
const READ_DEPTH: usize = 32;
const PARTITIONS_PER_MESSAGE: usize = 64;

/// What a reader hands the builder.
enum Read {
    Partitions(Vec<Partition>, u32),
    Rows(RowBatch, u32),
}

/// Everything a load needs, validated by the command line.
#[derive(Debug, Clone)]
pub struct LoadJob {
    /// pg_dump files or folders, Parquet files or folders, hdfs:// URLs.
    pub inputs: Vec<String>,
    pub table: TableName,
    pub open: OpenOptions,
    pub mapping: MappingOptions,
    pub sink: SinkSpec,
    pub rejects: Option<PathBuf>,
    pub max_errors: u64,
    pub connection: ConnectOptions,
    /// No progress display (tests, scripts).
    pub quiet: bool,
    /// Bytes the whole run may use; the partition builder spills past its share.
    pub memory_limit: u64,
    pub temp_dir: PathBuf,
    pub checkpoint: Option<PathBuf>,
    pub purge: Purge,
    /// `--since`: only writes at or after this time (microseconds) are written.
    pub since: Option<i64>,
    /// The table's schema from this CQL file (a snapshot's `schema.cql`) instead of the
    /// cluster: no connection at all (dumps of SSTable folders).
    pub schema_file: Option<PathBuf>,
}

/// Which tombstones a load leaves out, after the replicas' copies are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Purge {
    /// Every tombstone is written (the default: it shadows older copies the target may hold).
    #[default]
    Keep,
    /// Those older than the target table's `gc_grace_seconds`.
    TableGcGrace,
    /// Those older than this many seconds.
    OlderThan(i64),
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A source's or the sink's own error.
    #[error(transparent)]
    Stage(#[from] Classified),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Sort(#[from] SortError),
    #[error(transparent)]
    Rejects(#[from] RejectError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("--checkpoint: this sink cannot resume a run; leave the option out")]
    NotResumable,
    #[error("--schema {path}: {reason}")]
    SchemaFile { path: PathBuf, reason: String },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the {0} thread failed unexpectedly")]
    Thread(&'static str),
    #[error(transparent)]
    OutOfOrder(#[from] OutOfOrder),
}

impl Classify for LoadError {
    fn is_usage(&self) -> bool {
        match self {
            LoadError::Stage(e) => e.is_usage(),
            LoadError::Cluster(e) => e.is_usage(),
            LoadError::Sort(e) => e.is_usage(),
            LoadError::Rejects(e) => e.is_usage(),
            LoadError::Checkpoint(e) => e.is_usage(),
            LoadError::NotResumable | LoadError::SchemaFile { .. } => true,
            LoadError::Runtime(_) | LoadError::Thread(_) | LoadError::OutOfOrder(_) => false,
        }
    }
}

/// What a load did: the counters, and what the partition builder merged.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub summary: Summary,
    pub build: BuildStats,
    /// Partitions skipped because the checkpoint said they were written.
    pub resumed_past: u64,
    /// What the sink says it did.
    pub sink: SinkReport,
    /// Tombstones left out by `--purge-tombstones`, and the gc_grace_seconds that decided.
    pub purged: Option<(u64, i64)>,
    /// Rows left out whole by `--since`, and its time.
    pub since: Option<(u64, i64)>,
}

/// Runs the load and reports what it did.
pub fn run(job: LoadJob) -> Result<LoadReport, LoadError> {
    let resume = match &job.checkpoint {
        Some(path) => checkpoint::read(path, &job.table.to_string())?,
        None => None,
    };
    // A live table's scan starts at the checkpoint: everything before it is written.
    let open = OpenOptions {
        cql_from_token: resume.as_ref().map(|mark| mark.token),
        ..job.open.clone()
    };
    let opened = job
        .inputs
        .iter()
        .map(|input| Source::open(input, &open))
        .collect::<Result<Vec<_>, _>>()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(LoadError::Runtime)?;
    let mut local_dc = None;
    let (session, schema) = match &job.schema_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| LoadError::SchemaFile {
                path: path.clone(),
                reason: source.to_string(),
            })?;
            let schema = table_from_cql(&text, &job.table).map_err(|e| LoadError::SchemaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            (None, Arc::new(schema))
        }
        None => {
            let (session, dc) = runtime.block_on(cluster::connect_local(&job.connection))?;
            local_dc = dc;
            let session = Arc::new(session);
            let schema = runtime.block_on(cluster::read_table_schema(&session, &job.table))?;
            (Some(session), Arc::new(schema))
        }
    };
    let gc_grace = match job.purge {
        Purge::Keep => None,
        Purge::OlderThan(seconds) => Some(seconds),
        Purge::TableGcGrace => match &session {
            Some(session) => {
                Some(runtime.block_on(cluster::gc_grace_seconds(session, &job.table))?)
            }
            None => None,
        },
    };
    // Decided once, before reading, so every partition sees the same line.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let gc_before = gc_grace.map(|g| now - g);
    // TTLs count from the load, as the node counts `USING TTL` on the CQL route, so both routes
    // leave the same `ttl()` whatever the write times.
    let mapping = MappingOptions {
        ttl_origin: TtlOrigin::At(now),
        ..job.mapping.clone()
    };
    let planned = opened
        .into_iter()
        .map(|source| source.plan(schema.clone(), &mapping))
        .collect::<Result<Vec<_>, _>>()?;
    let (inputs, not_filled) = state_plans(&planned);
    let rejects = Arc::new(Rejects::new(job.rejects.as_deref(), job.max_errors)?);
    let counters = Arc::new(Counters::default());
    let mut spec = job.sink.clone();
    if let SinkSpec::Sstable(options) = &mut spec {
        options.job = fingerprint(&job);
        options.local_dc = local_dc;
    }
    let mut sink = sink::open(
        &spec,
        &Target {
            schema: schema.clone(),
            session,
            runtime: runtime.handle().clone(),
            counters: counters.clone(),
        },
    )?;
    if job.checkpoint.is_some() && !sink.resumable() {
        return Err(LoadError::NotResumable);
    }
    if sink.written_before() {
        // What an earlier run of this same load wrote waits to be loaded: no input is read.
        let progress = Progress::start(counters.clone(), InputMeter::Unknown, job.quiet);
        let sink_report = sink.finish()?;
        return Ok(LoadReport {
            summary: progress.finish(),
            build: BuildStats::default(),
            resumed_past: 0,
            sink: sink_report,
            purged: None,
            since: None,
        });
    }
    install_interrupt_cleanup();
    let mut planned = planned;
    if job.checkpoint.is_none() && sink.takes_slices() && sliceable(&mut planned, &job.open)? {
        let n = slice_count(&planned);
        let line = match n {
            1 => "merging as streams on one thread: reading, merging and writing".to_owned(),
            n => format!(
                "merging as streams in {n} token slices, each read, merged and written on a thread of its own"
            ),
        };
        eprintln!("plan: {line}");
        let mut inputs = inputs;
        inputs.push(line);
        let (slices, sizes, stats) = start_slices(
            planned,
            &job.inputs,
            n,
            &schema,
            &counters,
            &rejects,
            Filters {
                gc_before,
                since: job.since,
            },
        )?;
        let progress = Progress::start(counters.clone(), input_meter(sizes), job.quiet);
        sink.write_slices(slices)?;
        rejects.finish()?;
        let sink_report = sink.finish()?;
        let mut summary = progress.finish();
        summary.inputs = inputs;
        summary.columns_not_filled = not_filled;
        let stats = stats.lock().map(|s| s.clone()).unwrap_or_default();
        return Ok(LoadReport {
            summary,
            build: stats.build,
            resumed_past: 0,
            sink: sink_report,
            purged: gc_grace.map(|g| (stats.purged, g)),
            since: job.since.map(|s| (stats.left_out, s)),
        });
    }
    let (sources, sizes, ordered) = start_inputs(planned, job.open.sort_always)?;
    let progress = Progress::start(counters.clone(), input_meter(sizes), job.quiet);
    let mut partitions = feed(
        job.inputs.iter().cloned().zip(sources).collect(),
        ordered,
        &schema,
        job.memory_limit,
        &job.temp_dir,
        &counters,
        &rejects,
    )?;
    if let Feed::Built(_) = partitions {
        progress.writing(
            Counters::get(&counters.rows_read)
                .saturating_sub(Counters::get(&counters.rows_rejected)),
        );
    }
    let (mut tx, stream) = PartitionStream::channel(CHANNEL_DEPTH);
    let mut marks = Marks::new(job.checkpoint.as_deref(), &job.table.to_string());
    let (written, fed) = std::thread::scope(|scope| {
        let feeder = scope.spawn(|| -> Result<(u64, u64, u64, BuildStats), LoadError> {
            let (mut skipped, mut purged, mut left_out) = (0, 0, 0);
            for partition in partitions.by_ref() {
                let mut partition = partition?;
                if resume.as_ref().is_some_and(|m| m.covers(&partition)) {
                    skipped += 1;
                    continue;
                }
                let filters = Filters {
                    gc_before,
                    since: job.since,
                };
                if !filters.apply(&mut partition, &mut purged, &mut left_out) {
                    continue;
                }
                if tx.blocking_send(partition).is_err() {
                    break;
                }
            }
            drop(tx);
            Ok((skipped, purged, left_out, partitions.stats()))
        });
        let written = sink.write(stream, &mut marks).and_then(|()| sink.flush());
        (written, feeder.join())
    });
    // A failed feeder (a corrupt spill file) explains a short write; report it first.
    let (resumed_past, purged, left_out, build) =
        fed.map_err(|_| LoadError::Thread("feeder"))??;
    written?;
    rejects.finish()?;
    let sink_report = sink.finish()?;
    let mut summary = progress.finish();
    summary.inputs = inputs;
    summary.columns_not_filled = not_filled;
    if let Some(path) = &job.checkpoint {
        // The load completed: a rerun starts from the beginning again.
        let _ = std::fs::remove_file(path);
    }
    Ok(LoadReport {
        summary,
        build,
        resumed_past,
        sink: sink_report,
        purged: gc_grace.map(|g| (purged, g)),
        since: job.since.map(|s| (left_out, s)),
    })
}

/// States, before anything is written, what the planned inputs are (files and partition
/// folders read, calendars rebased) and which source columns fill which table columns (on
/// stderr, whatever the progress display); returns the input lines and the table columns no
/// input fills, for the summary.
/// What a load leaves out of each merged partition: tombstones older than `gc_before`
/// (`--purge-tombstones`), writes older than `since` (`--since`).
#[derive(Debug, Clone, Copy)]
struct Filters {
    gc_before: Option<i64>,
    since: Option<i64>,
}

impl Filters {
    /// Applies both to `partition`, counting tombstones purged and rows left out whole; false
    /// when nothing of it is left to write.
    fn apply(&self, partition: &mut Partition, purged: &mut u64, left_out: &mut u64) -> bool {
        if self.gc_before.is_none() && self.since.is_none() {
            return true;
        }
        if let Some(gc_before) = self.gc_before {
            *purged += purge_tombstones(partition, gc_before);
        }
        if let Some(since) = self.since {
            *left_out += keep_since(partition, since);
        }
        partition.deletion.is_some()
            || !partition.range_deletions.is_empty()
            || partition.static_row.is_some()
            || !partition.rows.is_empty()
    }
}

/// Whether every input can be read by token slice (asked of each, in turn, so that each does
/// its checks before anything is written); never with `--merge sort`.
fn sliceable(planned: &mut [Box<dyn Planned>], open: &OpenOptions) -> Result<bool, LoadError> {
    if open.sort_always {
        return Ok(false);
    }
    for input in planned.iter_mut() {
        if !input.sliceable()? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Input data each token slice should have at least: below it, fewer slices than cores (a
/// small load is one slice, and one SSTable per replica set). `CASSBULK_SLICE_BYTES` sets
/// another (tests, benchmarks).
const SLICE_BYTES: u64 = 32 << 20;

/// One slice per core, fewer for a small input (see [`SLICE_BYTES`]).
fn slice_count(planned: &[Box<dyn Planned>]) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_slice = std::env::var("CASSBULK_SLICE_BYTES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(SLICE_BYTES)
        .max(1);
    let bytes: u64 = planned.iter().map(|p| p.data_bytes()).sum();
    usize::try_from(bytes / per_slice)
        .unwrap_or(usize::MAX)
        .clamp(1, cores)
}

/// What the slices merged and purged, added up as each slice ends.
#[derive(Debug, Clone, Default)]
struct SliceStats {
    build: BuildStats,
    purged: u64,
    left_out: u64,
}

/// The slices' feeds, every input's size in each slice, and what they will have merged.
type Slices = (
    Vec<sink::SliceFeed>,
    Vec<InputSize>,
    Arc<std::sync::Mutex<SliceStats>>,
);

/// One slice: its inputs merged as streams, tombstones purged, counted into `stats` at the end.
struct Slice {
    merged: MergeStreams<InOrder>,
    filters: Filters,
    purged: u64,
    left_out: u64,
    stats: Arc<std::sync::Mutex<SliceStats>>,
}

impl Iterator for Slice {
    type Item = Result<Partition, sink::SinkError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut partition = match self.merged.next()? {
                Ok(p) => p,
                Err(e) => return Some(Err(e.into())),
            };
            if self
                .filters
                .apply(&mut partition, &mut self.purged, &mut self.left_out)
            {
                return Some(Ok(partition));
            }
        }
    }
}

impl Drop for Slice {
    fn drop(&mut self) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.build.partitions_out += self.merged.partitions_out();
            stats.build.duplicates_collapsed += self.merged.collapsed().pieces;
            stats.build.cells_collapsed += self.merged.collapsed().cells;
            stats.purged += self.purged;
            stats.left_out += self.left_out;
        }
    }
}

/// The ring cut into `cores` slices, and each slice of every input merged as streams on its
/// own: decoding, merging and writing a slice happen on the thread the sink gives it.
fn start_slices(
    planned: Vec<Box<dyn Planned>>,
    names: &[String],
    cores: usize,
    schema: &TableSchema,
    counters: &Arc<Counters>,
    rejects: &Arc<Rejects>,
    filters: Filters,
) -> Result<Slices, LoadError> {
    let slices = crate::model::token::slices(cores);
    let mut per_slice: Vec<Vec<(String, InOrder)>> = slices.iter().map(|_| Vec::new()).collect();
    let mut sizes = Vec::new();
    for (name, input) in names.iter().zip(planned) {
        let started = input.start_slices(&slices)?;
        if started.len() != slices.len() {
            return Err(LoadError::Thread("slicing"));
        }
        for (slice, started) in per_slice.iter_mut().zip(started) {
            sizes.push(started.size);
            slice.push((
                name.clone(),
                InOrder {
                    events: started.events,
                    counters: counters.clone(),
                    rejects: rejects.clone(),
                },
            ));
        }
    }
    let stats = Arc::new(std::sync::Mutex::new(SliceStats::default()));
    let feeds = per_slice
        .into_iter()
        .map(|inputs| {
            let slice = Slice {
                merged: MergeStreams::of_settled(inputs, TableOrder::new(schema)),
                filters,
                purged: 0,
                left_out: 0,
                stats: stats.clone(),
            };
            Box::new(slice) as sink::SliceFeed
        })
        .collect();
    Ok((feeds, sizes, stats))
}

pub(crate) fn state_plans(planned: &[Box<dyn Planned>]) -> (Vec<String>, Vec<String>) {
    let mut inputs = Vec::new();
    let mut not_filled: Option<Vec<String>> = None;
    for input in planned {
        let notes = input.notes();
        for line in &notes {
            eprintln!("plan: {line}");
        }
        inputs.extend(notes);
        if let Some(columns) = input.columns() {
            for line in columns.lines() {
                eprintln!("plan: {line}");
            }
            // A column is left alone only if no input fills it.
            not_filled = Some(match not_filled {
                None => columns.unfilled.clone(),
                Some(before) => before
                    .into_iter()
                    .filter(|c| columns.unfilled.contains(c))
                    .collect(),
            });
        }
    }
    (inputs, not_filled.unwrap_or_default())
}

/// Starts every planned input: their events, how to measure their reading, and whether they
/// are all streams in token order (which are merged as streams, unless `--merge sort`).
pub(crate) fn start_inputs(
    planned: Vec<Box<dyn Planned>>,
    sort_always: bool,
) -> Result<(Vec<Events>, Vec<InputSize>, bool), LoadError> {
    let mut sources = Vec::with_capacity(planned.len());
    let mut sizes = Vec::with_capacity(planned.len());
    let mut ordered = !sort_always;
    for planned in planned {
        let started = planned.start()?;
        sources.push(started.events);
        sizes.push(started.size);
        ordered &= started.ordered;
    }
    Ok((sources, sizes, ordered))
}

/// The inputs' partitions merged and in token order: phase one of a load (every input read
/// whole into the partition builder, rejects recorded), or inputs already in token order
/// merged as streams as they are read (nothing to sort).
pub(crate) fn feed(
    sources: Vec<(String, Events)>,
    ordered: bool,
    schema: &TableSchema,
    memory_limit: u64,
    temp_dir: &Path,
    counters: &Arc<Counters>,
    rejects: &Arc<Rejects>,
) -> Result<Feed, LoadError> {
    if ordered {
        let streams: Vec<(String, InOrder)> = sources
            .into_iter()
            .map(|(name, events)| {
                let input = InOrder {
                    events,
                    counters: counters.clone(),
                    rejects: rejects.clone(),
                };
                (name, input)
            })
            .collect();
        // One input goes through the merge too, which checks its order; what each input gives
        // is settled already, so only merged copies are settled again.
        let merged = MergeStreams::of_settled(streams, TableOrder::new(schema));
        return Ok(Feed::Merged(Box::new(merged)));
    }
    let builder = PartitionBuilder::new(
        schema,
        BuilderOptions {
            // The rest of the limit is for the stages around the builder.
            memory_budget: (memory_limit / 10 * 6) as usize,
            temp_dir: temp_dir.to_path_buf(),
        },
    );
    let sources = sources.into_iter().map(|(_, events)| events).collect();
    let builder = read_inputs(sources, builder, counters, rejects)?;
    rejects.finish()?;
    Ok(Feed::Built(Box::new(builder.finish()?)))
}

/// One input in token order: its partitions, counted as read, its rejects recorded.
pub(crate) struct InOrder {
    events: Events,
    counters: Arc<Counters>,
    rejects: Arc<Rejects>,
}

impl Iterator for InOrder {
    type Item = Result<Partition, LoadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.events.next()? {
                Ok(SourceEvent::Partition(partition)) => {
                    let rows = partition.rows.len() + usize::from(partition.static_row.is_some());
                    Counters::add(&self.counters.rows_read, rows.max(1) as u64);
                    return Some(Ok(partition));
                }
                Ok(SourceEvent::Reject(reject)) => {
                    Counters::add(&self.counters.rows_read, 1);
                    Counters::add(&self.counters.rows_rejected, 1);
                    if let Err(e) = self.rejects.add(reject) {
                        return Some(Err(e.into()));
                    }
                }
                Ok(SourceEvent::Rows(_)) => {
                    return Some(Err(LoadError::Thread("ordered reader")));
                }
                Err(e) => return Some(Err(e.into())),
            }
        }
    }
}

/// Where the sink's partitions come from: the partition builder, or inputs in token order
/// merged as streams.
pub(crate) enum Feed {
    Built(Box<crate::sort::builder::Partitions>),
    Merged(Box<MergeStreams<InOrder>>),
}

impl Feed {
    pub(crate) fn stats(&self) -> BuildStats {
        match self {
            Feed::Built(partitions) => partitions.stats().clone(),
            Feed::Merged(merged) => BuildStats {
                partitions_out: merged.partitions_out(),
                duplicates_collapsed: merged.collapsed().pieces,
                cells_collapsed: merged.collapsed().cells,
                ..BuildStats::default()
            },
        }
    }
}

impl Iterator for Feed {
    type Item = Result<Partition, LoadError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Feed::Built(partitions) => partitions.next().map(|p| p.map_err(LoadError::from)),
            Feed::Merged(merged) => merged.next(),
        }
    }
}

/// What identifies a load's output: the table, every option that shapes its partitions, and
/// the inputs with each local file's size and modification time (an HDFS input by its URL). Two
/// runs with the same fingerprint write the same SSTables.
fn fingerprint(job: &LoadJob) -> String {
    use std::fmt::Write;
    let mut text = format!(
        "{}|{:?}|{:?}|{:?}",
        job.table, job.open, job.mapping, job.purge
    );
    for input in &job.inputs {
        let _ = write!(text, "|{input}");
        let mut files = Vec::new();
        list_files(std::path::Path::new(input), &mut files);
        files.sort();
        for (path, size, modified) in files {
            let _ = write!(text, "|{path}:{size}:{modified}");
        }
    }
    let (a, b) = crate::sink::sstable::components::murmur3_128(text.as_bytes());
    format!("{a:016x}{b:016x}")
}

/// Every file under `path` (or `path` itself), with its size and modification time in ns.
fn list_files(path: &std::path::Path, out: &mut Vec<(String, u64, u128)>) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                list_files(&entry.path(), out);
            }
        }
    } else {
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        out.push((path.display().to_string(), meta.len(), modified));
    }
}

/// What the reading phase's progress is measured in: bytes when every input knows its size in
/// bytes (pg_dumps), rows when every input counts its rows in advance (Parquet footers).
pub(crate) fn input_meter(sizes: Vec<InputSize>) -> InputMeter {
    if let [InputSize::Ranges { done, total }] = sizes.as_slice() {
        let done = done.clone();
        return InputMeter::Ranges {
            done: Box::new(move || done()),
            total: *total,
        };
    }
    let rows = sizes.iter().map(|size| match size {
        InputSize::Rows(n) => Some(*n),
        _ => None,
    });
    if let Some(total) = rows.sum::<Option<u64>>() {
        return InputMeter::Rows { total };
    }
    let bytes = sizes.into_iter().map(|size| match size {
        InputSize::Bytes { read, total } => Some((total, read)),
        _ => None,
    });
    match bytes.collect::<Option<Vec<_>>>() {
        Some(inputs) => InputMeter::Bytes {
            total: inputs.iter().map(|(total, _)| total).sum(),
            read: Box::new(move || inputs.iter().map(|(_, read)| read()).sum()),
        },
        None => InputMeter::Unknown,
    }
}

/// Reads every input on a thread of its own into the builder; returns the builder when all
/// inputs were read whole.
fn read_inputs(
    inputs: Vec<Events>,
    mut builder: PartitionBuilder,
    counters: &Arc<Counters>,
    rejects: &Arc<Rejects>,
) -> Result<PartitionBuilder, LoadError> {
    let (tx, rx) = crossbeam_channel::bounded::<Read>(READ_DEPTH);
    std::thread::scope(|scope| {
        let readers: Vec<_> = inputs
            .into_iter()
            .enumerate()
            .map(|(index, input)| {
                let tx = tx.clone();
                scope.spawn(move || read_input(input, index as u32, &tx, counters, rejects))
            })
            .collect();
        drop(tx);
        let mut pushed = Ok(());
        for read in rx.iter() {
            let result = match read {
                Read::Partitions(partitions, source) => partitions
                    .into_iter()
                    .try_for_each(|partition| builder.push(partition, source)),
                Read::Rows(batch, source) => builder.push_rows(batch, source),
            };
            if let Err(e) = result {
                pushed = Err(LoadError::from(e));
                break;
            }
        }
        // Readers stop when the channel closes; their errors explain a stop, so report them first.
        drop(rx);
        for reader in readers {
            reader.join().map_err(|_| LoadError::Thread("reader"))??;
        }
        pushed
    })?;
    Ok(builder)
}

fn read_input(
    events: Events,
    source: u32,
    tx: &crossbeam_channel::Sender<Read>,
    counters: &Counters,
    rejects: &Rejects,
) -> Result<(), LoadError> {
    let mut partitions = Vec::with_capacity(PARTITIONS_PER_MESSAGE);
    for event in events {
        match event? {
            SourceEvent::Partition(partition) => {
                // A dump's row is a partition of one row; an SSTable's partition has many.
                let rows = partition.rows.len() + usize::from(partition.static_row.is_some());
                Counters::add(&counters.rows_read, rows.max(1) as u64);
                partitions.push(partition);
                if partitions.len() == PARTITIONS_PER_MESSAGE {
                    let full = std::mem::replace(
                        &mut partitions,
                        Vec::with_capacity(PARTITIONS_PER_MESSAGE),
                    );
                    if tx.send(Read::Partitions(full, source)).is_err() {
                        return Ok(());
                    }
                }
            }
            SourceEvent::Rows(batch) => {
                Counters::add(&counters.rows_read, batch.accepted() as u64);
                if tx.send(Read::Rows(batch, source)).is_err() {
                    return Ok(());
                }
            }
            SourceEvent::Reject(reject) => {
                Counters::add(&counters.rows_read, 1);
                Counters::add(&counters.rows_rejected, 1);
                rejects.add(reject)?;
            }
        }
    }
    if !partitions.is_empty() {
        let _ = tx.send(Read::Partitions(partitions, source));
    }
    Ok(())
}

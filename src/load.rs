//! The `load` job. Phase one reads every input in parallel (a thread per input), turns rows into
//! partitions and feeds them to the partition builder, which sorts and reconciles them in
//! bounded memory; rejects go to the rejects file. Nothing is written until every input was read
//! whole, so a truncated or corrupt input is refused before the first write. Phase two streams
//! the merged partitions, in token order, into the CQL sink, which records a checkpoint that a
//! rerun of the same command resumes from.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;
use tokio::sync::mpsc;

use crate::batch::RowBatch;
use crate::checkpoint::{self, CheckpointError};
use crate::cli::ConnectionArgs;
use crate::cluster::{self, ClusterError};
use crate::model::{Partition, TableName};
use crate::plan::MappingOptions;
use crate::progress::{Counters, InputMeter, Progress, Summary};
use crate::rejects::{Reject, RejectError, Rejects, clip_raw};
use crate::sink::cql::{CqlSink, CqlSinkOptions, SinkError};
use crate::sort::builder::{
    BuildStats, BuilderOptions, PartitionBuilder, SortError, install_interrupt_cleanup,
};
use crate::source::parquet::{ParquetError, ParquetInput, ParquetPlan};
use crate::source::pg_dump::{Dump, DumpError, DumpTable, RowEvent};
use crate::source::postgres::{PgRowMapper, PgSourceError};
use crate::source::{InputKind, SourceEvent, input_kind};

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
    pub source_table: Option<String>,
    pub mapping: MappingOptions,
    pub sink: CqlSinkOptions,
    pub rejects: Option<PathBuf>,
    pub max_errors: u64,
    pub connection: ConnectionArgs,
    /// No progress display (tests, scripts).
    pub quiet: bool,
    /// Bytes the whole run may use; the partition builder spills past its share.
    pub memory_limit: u64,
    pub temp_dir: PathBuf,
    pub checkpoint: Option<PathBuf>,
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error(transparent)]
    Source(#[from] PgSourceError),
    #[error(transparent)]
    Parquet(#[from] ParquetError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Sort(#[from] SortError),
    #[error(transparent)]
    Rejects(#[from] RejectError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(
        "{path} holds several tables with data: {tables}; choose one with --source-table SCHEMA.TABLE"
    )]
    SeveralTables { path: String, tables: String },
    #[error("{path} holds no table data")]
    NoTables { path: String },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the {0} thread failed unexpectedly")]
    Thread(&'static str),
}

impl LoadError {
    /// Errors the user fixes by changing the command (exit 2), as opposed to failures.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            LoadError::Source(_)
                | LoadError::SeveralTables { .. }
                | LoadError::NoTables { .. }
                | LoadError::Checkpoint(CheckpointError::OtherTable { .. })
                | LoadError::Dump(DumpError::NoSuchTable { .. } | DumpError::AmbiguousTable { .. })
                | LoadError::Parquet(
                    ParquetError::Plan(_)
                        | ParquetError::Mapping { .. }
                        | ParquetError::SpecialColumn { .. }
                        | ParquetError::Ttl(_)
                        | ParquetError::KeyIsColumn { .. }
                        | ParquetError::NoFiles { .. }
                )
        )
    }
}

/// What a load did: the counters, and what the partition builder merged.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub summary: Summary,
    pub build: BuildStats,
    /// Partitions skipped because the checkpoint said they were written.
    pub resumed_past: u64,
}

/// Picks the table to load: `--source-table`, or the only table with data.
fn choose_table(dump: &Dump, path: &Path, spec: Option<&str>) -> Result<DumpTable, LoadError> {
    if let Some(spec) = spec {
        return Ok(dump.table(spec)?.clone());
    }
    let with_data: Vec<&DumpTable> = dump.tables().iter().filter(|t| t.has_data).collect();
    match with_data.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(LoadError::NoTables {
            path: path.display().to_string(),
        }),
        many => Err(LoadError::SeveralTables {
            path: path.display().to_string(),
            tables: many
                .iter()
                .map(|t| format!("{}.{}", t.schema, t.name))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// One input, opened and planned.
enum Input {
    Pg {
        dump: Dump,
        table: DumpTable,
        mapper: PgRowMapper,
    },
    Parquet {
        input: ParquetInput,
        plan: ParquetPlan,
    },
}

/// One input, opened but not yet planned (planning needs the table's schema).
enum Opened {
    Pg(Dump, DumpTable),
    Parquet(ParquetInput),
}

/// Runs the load and reports what it did.
pub fn run(job: LoadJob) -> Result<LoadReport, LoadError> {
    let opened = job
        .inputs
        .iter()
        .map(|input| match input_kind(input) {
            InputKind::Parquet => Ok((input.clone(), Opened::Parquet(ParquetInput::open(input)?))),
            InputKind::PgDump => {
                let path = Path::new(input);
                let dump = Dump::open(path)?;
                let table = choose_table(&dump, path, job.source_table.as_deref())?;
                Ok((input.clone(), Opened::Pg(dump, table)))
            }
        })
        .collect::<Result<Vec<_>, LoadError>>()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(LoadError::Runtime)?;
    let session = Arc::new(runtime.block_on(cluster::connect(&job.connection))?);
    let schema = Arc::new(runtime.block_on(cluster::read_table_schema(&session, &job.table))?);
    let inputs = opened
        .into_iter()
        .map(|(name, opened)| match opened {
            Opened::Pg(dump, table) => {
                let source_name = format!("{name} (table {}.{})", table.schema, table.name);
                let mapper = PgRowMapper::new(
                    schema.clone(),
                    &table,
                    &source_name,
                    &job.mapping,
                    dump.created_micros(),
                )?;
                Ok(Input::Pg {
                    dump,
                    table,
                    mapper,
                })
            }
            Opened::Parquet(input) => {
                tracing::info!("{name}: {}", input.describe());
                let plan = input.plan(schema.clone(), &job.mapping)?;
                Ok(Input::Parquet { input, plan })
            }
        })
        .collect::<Result<Vec<_>, LoadError>>()?;
    let resume = match &job.checkpoint {
        Some(path) => checkpoint::read(path, &job.table.to_string())?,
        None => None,
    };
    let rejects = Arc::new(Rejects::new(job.rejects.as_deref(), job.max_errors)?);
    let counters = Arc::new(Counters::default());
    let sink = runtime.block_on(CqlSink::new(
        session,
        schema.clone(),
        job.sink.clone(),
        counters.clone(),
    ))?;
    install_interrupt_cleanup();
    let mut sources = Vec::with_capacity(inputs.len());
    let mut pg_progress = Vec::new();
    let mut parquet_rows = 0;
    for input in inputs {
        sources.push(match input {
            Input::Pg {
                dump,
                table,
                mapper,
            } => {
                let (events, progress) = pg_events(dump, table, mapper)?;
                pg_progress.push(progress);
                Box::new(events) as Events
            }
            Input::Parquet { input, plan } => {
                parquet_rows += input.row_count();
                Box::new(input.events(plan).map(|e| e.map_err(LoadError::from)))
            }
        });
    }
    let meter = input_meter(sources.len(), pg_progress, parquet_rows);
    let progress = Progress::start(counters.clone(), meter, job.quiet);

    // Phase one: every input into the partition builder.
    let builder = PartitionBuilder::new(
        &schema,
        BuilderOptions {
            // The rest of the limit is for the stages around the builder.
            memory_budget: (job.memory_limit / 10 * 6) as usize,
            temp_dir: job.temp_dir.clone(),
        },
    );
    let builder = read_inputs(sources, builder, &counters, &rejects)?;
    rejects.finish()?;
    progress.writing(
        Counters::get(&counters.rows_read).saturating_sub(Counters::get(&counters.rows_rejected)),
    );

    // Phase two: merged partitions, in token order, into the sink.
    let mut partitions = builder.finish()?;
    let (tx, rx) = mpsc::channel::<Partition>(CHANNEL_DEPTH);
    let (written, fed) = std::thread::scope(|scope| {
        let feeder = scope.spawn(|| -> Result<(u64, BuildStats), LoadError> {
            let mut skipped = 0;
            for partition in partitions.by_ref() {
                let partition = partition?;
                if resume.as_ref().is_some_and(|m| m.covers(&partition)) {
                    skipped += 1;
                    continue;
                }
                if tx.blocking_send(partition).is_err() {
                    break;
                }
            }
            drop(tx);
            Ok((skipped, partitions.stats().clone()))
        });
        let written = runtime.block_on(sink.write_all(rx, job.checkpoint.as_deref()));
        (written, feeder.join())
    });
    // A failed feeder (a corrupt spill file) explains a short write; report it first.
    let (resumed_past, build) = fed.map_err(|_| LoadError::Thread("feeder"))??;
    written?;
    let summary = progress.finish();
    if let Some(path) = &job.checkpoint {
        // The load completed: a rerun starts from the beginning again.
        let _ = std::fs::remove_file(path);
    }
    Ok(LoadReport {
        summary,
        build,
        resumed_past,
    })
}

/// One input's rows, ready to be read on a thread of its own.
type Events = Box<dyn Iterator<Item = Result<SourceEvent, LoadError>> + Send>;

/// What the reading phase's progress is measured in: bytes when every input is a pg_dump whose
/// data size is known, rows when every input is Parquet (their footers count them).
fn input_meter(
    inputs: usize,
    pg: Vec<Option<crate::source::pg_dump::ReadProgress>>,
    parquet_rows: u64,
) -> InputMeter {
    if pg.is_empty() {
        return InputMeter::Rows {
            total: parquet_rows,
        };
    }
    match pg.into_iter().collect::<Option<Vec<_>>>() {
        Some(all) if all.len() == inputs => InputMeter::Bytes {
            total: all.iter().map(|p| p.total_bytes()).sum(),
            read: Box::new(move || all.iter().map(|p| p.bytes_read()).sum()),
        },
        _ => InputMeter::Unknown,
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
                Counters::add(&counters.rows_read, 1);
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

/// A pg_dump table's rows as source events, and how far they have been read.
fn pg_events(
    dump: Dump,
    table: DumpTable,
    mapper: PgRowMapper,
) -> Result<
    (
        impl Iterator<Item = Result<SourceEvent, LoadError>> + Send,
        Option<crate::source::pg_dump::ReadProgress>,
    ),
    LoadError,
> {
    let table_name = format!("{}.{}", table.schema, table.name);
    let rows = dump.rows(&table)?;
    let progress = rows.progress();
    let events = rows.map(move |event| {
        Ok(match event? {
            RowEvent::Row(row) => match mapper.partition(&row.fields) {
                Ok(partition) => SourceEvent::Partition(partition),
                Err(e) => SourceEvent::Reject(Reject {
                    file: row.location.file.display().to_string(),
                    table: table_name.clone(),
                    line: row.location.line,
                    column: e.column,
                    reason: e.reason,
                    raw: raw_row(&row.fields),
                }),
            },
            RowEvent::Reject(r) => SourceEvent::Reject(Reject {
                file: r.location.file.display().to_string(),
                table: table_name.clone(),
                line: r.location.line,
                column: None,
                reason: r.reason,
                raw: r.raw,
            }),
        })
    });
    Ok((events, progress))
}

/// A row's fields as a tab-separated line for the rejects file (at most 1 KiB).
fn raw_row(fields: &[Option<String>]) -> String {
    clip_raw(
        fields
            .iter()
            .map(|f| f.as_deref().unwrap_or("\\N"))
            .collect::<Vec<_>>()
            .join("\t"),
    )
}

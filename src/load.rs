//! The `load` job: open the input, read the target table's schema, plan the mapping (refusing
//! what cannot load before anything is written), then stream rows from a reader thread through
//! a bounded channel into the CQL sink, sending rejects to the rejects file, and finish with a
//! summary.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;
use tokio::sync::mpsc;

use crate::cli::ConnectionArgs;
use crate::cluster::{self, ClusterError};
use crate::model::TableName;
use crate::plan::MappingOptions;
use crate::progress::{Counters, Progress, Summary};
use crate::rejects::{Reject, RejectError, Rejects};
use crate::sink::cql::{CqlSink, CqlSinkOptions, SinkError};
use crate::source::pg_dump::{Dump, DumpError, DumpTable, RowEvent};
use crate::source::postgres::{PgRowMapper, PgSourceError};

/// Partitions buffered between the reader and the writer.
const CHANNEL_DEPTH: usize = 1024;

/// Everything a load needs, validated by the command line.
#[derive(Debug, Clone)]
pub struct LoadJob {
    pub inputs: Vec<PathBuf>,
    pub table: TableName,
    pub source_table: Option<String>,
    pub mapping: MappingOptions,
    pub sink: CqlSinkOptions,
    pub rejects: Option<PathBuf>,
    pub max_errors: u64,
    pub connection: ConnectionArgs,
    /// No progress display (tests, scripts).
    pub quiet: bool,
    /// Skip reading the whole input once before writing (single pass; a corrupt input is then
    /// found only when reached, after the rows before it were written).
    pub skip_input_check: bool,
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error(transparent)]
    Source(#[from] PgSourceError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Rejects(#[from] RejectError),
    #[error(
        "{path} holds several tables with data: {tables}; choose one with --source-table SCHEMA.TABLE"
    )]
    SeveralTables { path: String, tables: String },
    #[error("{path} holds no table data")]
    NoTables { path: String },
    #[error("{0} inputs were given: loading several inputs into one stream needs the partition builder, which this version does not have yet; load them one at a time, oldest first")]
    SeveralInputs(usize),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the reader thread failed: {0}")]
    Reader(String),
}

impl LoadError {
    /// Errors the user fixes by changing the command (exit 2), as opposed to failures.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            LoadError::Source(_)
                | LoadError::SeveralTables { .. }
                | LoadError::NoTables { .. }
                | LoadError::SeveralInputs(_)
                | LoadError::Dump(DumpError::NoSuchTable { .. } | DumpError::AmbiguousTable { .. })
        )
    }
}

/// Picks the table to load: `--source-table`, or the only table with data.
fn choose_table<'a>(dump: &'a Dump, path: &Path, spec: Option<&str>) -> Result<&'a DumpTable, LoadError> {
    if let Some(spec) = spec {
        return Ok(dump.table(spec)?);
    }
    let with_data: Vec<&DumpTable> = dump.tables().iter().filter(|t| t.has_data).collect();
    match with_data.as_slice() {
        [one] => Ok(one),
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

/// Runs the load and returns its summary.
pub fn run(job: LoadJob) -> Result<Summary, LoadError> {
    if job.inputs.len() != 1 {
        return Err(LoadError::SeveralInputs(job.inputs.len()));
    }
    let path = job.inputs[0].clone();
    let dump = Dump::open(&path)?;
    let table = choose_table(&dump, &path, job.source_table.as_deref())?.clone();
    let source_name = format!("{} (table {}.{})", path.display(), table.schema, table.name);
    if !job.skip_input_check {
        check_input(&dump, &table, job.quiet)?;
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(LoadError::Runtime)?;
    let session = Arc::new(runtime.block_on(cluster::connect(&job.connection))?);
    let schema = Arc::new(runtime.block_on(cluster::read_table_schema(&session, &job.table))?);
    let mapper = PgRowMapper::new(
        schema.clone(),
        &table,
        &source_name,
        &job.mapping,
        dump.created_micros(),
    )?;
    let rejects = Arc::new(Rejects::new(job.rejects.as_deref(), job.max_errors)?);
    let counters = Arc::new(Counters::default());
    let sink = runtime.block_on(CqlSink::new(
        session,
        schema,
        job.sink.clone(),
        counters.clone(),
    ))?;
    let rows = dump.rows(&table)?;

    let progress = Progress::start(counters.clone(), None, job.quiet);
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let reader = {
        let counters = counters.clone();
        let rejects = rejects.clone();
        let table_name = format!("{}.{}", table.schema, table.name);
        std::thread::spawn(move || -> Result<(), LoadError> {
            for event in rows {
                let reject = match event? {
                    RowEvent::Row(row) => {
                        Counters::add(&counters.rows_read, 1);
                        match mapper.partition(&row.fields) {
                            Ok(partition) => {
                                if tx.blocking_send(partition).is_err() {
                                    // The writer stopped; its error is the one to report.
                                    return Ok(());
                                }
                                continue;
                            }
                            Err(e) => Reject {
                                file: row.location.file.display().to_string(),
                                table: table_name.clone(),
                                line: row.location.line,
                                column: e.column,
                                reason: e.reason,
                                raw: raw_row(&row.fields),
                            },
                        }
                    }
                    RowEvent::Reject(r) => {
                        Counters::add(&counters.rows_read, 1);
                        Reject {
                            file: r.location.file.display().to_string(),
                            table: table_name.clone(),
                            line: r.location.line,
                            column: None,
                            reason: r.reason,
                            raw: r.raw,
                        }
                    }
                };
                Counters::add(&counters.rows_rejected, 1);
                rejects.add(reject)?;
            }
            Ok(())
        })
    };
    let written = runtime.block_on(sink.write_all(rx));
    let read = reader
        .join()
        .unwrap_or_else(|_| Err(LoadError::Reader("it panicked".into())));
    let summary = progress.finish();
    rejects.finish()?;
    // A reader error (corrupt input, too many rejects) explains a stopped writer; report it first.
    read?;
    written?;
    Ok(summary)
}

/// Reads the whole table once, so a truncated or corrupt input is refused before anything is
/// written. Malformed rows are left for the real pass to reject.
fn check_input(dump: &Dump, table: &DumpTable, quiet: bool) -> Result<u64, LoadError> {
    let counters = Arc::new(Counters::default());
    let progress = Progress::start(counters.clone(), None, quiet);
    let mut rows = 0;
    for event in dump.rows(table)? {
        event?;
        rows += 1;
        Counters::add(&counters.rows_read, 1);
    }
    drop(progress);
    Ok(rows)
}

/// A row's fields as a tab-separated line for the rejects file (at most 1 KiB).
fn raw_row(fields: &[Option<String>]) -> String {
    let mut raw = fields
        .iter()
        .map(|f| f.as_deref().unwrap_or("\\N"))
        .collect::<Vec<_>>()
        .join("\t");
    if raw.len() > 1024 {
        let cut = (0..=1024).rev().find(|&i| raw.is_char_boundary(i)).unwrap_or(0);
        raw.truncate(cut);
        raw.push('…');
    }
    raw
}

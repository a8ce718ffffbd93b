//! The pg_dump source behind the source seam: which inputs it claims (a directory archive's
//! `toc.dat`; any other file it is offered), which of the dump's tables it reads
//! (`--source-table`, or the only one with data), how that table's columns map to the target
//! ([`PgRowMapper`]), and its rows as events: partitions, or rejects with the row as a
//! tab-separated line.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use thiserror::Error;

use crate::exit::Classify;
use crate::model::TableSchema;
use crate::plan::MappingOptions;
use crate::rejects::{Reject, clip_raw};
use crate::source::{
    Claim, Events, Input, InputSize, Kind, OpenOptions, Planned, SourceError, SourceEvent, Started,
};

use super::ahead::ReadAhead;
use super::mapping::{BATCH_ROWS, PgBatcher, PgRowMapper};
use super::{Dump, DumpError, DumpTable, Fields, RowEvent};

/// The pg_dump source's entry in the registry.
pub const KIND: Kind = Kind {
    name: "pg_dump",
    claims,
    open,
};

/// Choosing the table goes wrong in ways the user fixes with `--source-table`.
#[derive(Debug, Error)]
pub enum TableChoiceError {
    #[error(
        "{path} holds several tables with data: {tables}; choose one with --source-table SCHEMA.TABLE"
    )]
    SeveralTables { path: String, tables: String },
    #[error("{path} holds no table data")]
    NoTables { path: String },
    #[error(
        "{table} is a partitioned table: its rows are in its partitions ({partitions}), which the dump holds as tables of their own; load each into the same table with --source-table PARTITION"
    )]
    Partitioned { table: String, partitions: String },
}

impl Classify for TableChoiceError {
    fn is_usage(&self) -> bool {
        true
    }
}

/// A directory archive says so with its `toc.dat`; any other file may be a dump.
fn claims(input: &str) -> Claim {
    let path = Path::new(input);
    if path.is_dir() {
        if path.join("toc.dat").exists() {
            Claim::Yes
        } else {
            Claim::No
        }
    } else if path.exists() {
        Claim::Maybe
    } else {
        Claim::No
    }
}

fn open(input: &str, options: &OpenOptions) -> Result<Box<dyn Input>, SourceError> {
    let path = Path::new(input);
    let dump = Dump::open(path)?;
    let table = choose_table(&dump, path, options.source_table.as_deref())?;
    Ok(Box::new(PgInput {
        name: input.to_owned(),
        dump,
        table,
    }))
}

/// Picks the table to load: `--source-table`, or the only table with data.
fn choose_table(dump: &Dump, path: &Path, spec: Option<&str>) -> Result<DumpTable, SourceError> {
    if let Some(spec) = spec {
        let table = dump.table(spec)?;
        if let Some(partitions) = &table.partitions
            && !table.has_data
        {
            return Err(TableChoiceError::Partitioned {
                table: table.qualified_name(),
                partitions: if partitions.is_empty() {
                    "none is attached in this dump".to_owned()
                } else {
                    partitions.join(", ")
                },
            }
            .into());
        }
        return Ok(table.clone());
    }
    let with_data: Vec<&DumpTable> = dump.tables().iter().filter(|t| t.has_data).collect();
    match with_data.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(TableChoiceError::NoTables {
            path: path.display().to_string(),
        }
        .into()),
        many => Err(TableChoiceError::SeveralTables {
            path: path.display().to_string(),
            tables: many
                .iter()
                .map(|t| format!("{}.{}", t.schema, t.name))
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into()),
    }
}

struct PgInput {
    name: String,
    dump: Dump,
    table: DumpTable,
}

impl Input for PgInput {
    fn describe(&self) -> String {
        format!(
            "pg_dump ({:?}), table {}.{}",
            self.dump.format(),
            self.table.schema,
            self.table.name
        )
    }

    fn plan(
        self: Box<Self>,
        schema: Arc<TableSchema>,
        mapping: &MappingOptions,
    ) -> Result<Box<dyn Planned>, SourceError> {
        let source_name = format!(
            "{} (table {}.{})",
            self.name, self.table.schema, self.table.name
        );
        let mapper = PgRowMapper::new(
            schema,
            &self.table,
            &source_name,
            mapping,
            self.dump.created_micros(),
        )?;
        Ok(Box::new(PgPlanned {
            dump: self.dump,
            table: self.table,
            mapper,
        }))
    }
}

struct PgPlanned {
    dump: Dump,
    table: DumpTable,
    mapper: PgRowMapper,
}

impl Planned for PgPlanned {
    fn columns(&self) -> Option<&crate::plan::ColumnPlan> {
        Some(self.mapper.column_plan())
    }

    /// The table's rows as partitions; rows the dump or the mapping refuses as rejects.
    fn start(self: Box<Self>) -> Result<Started, SourceError> {
        let PgPlanned {
            dump,
            table,
            mapper,
        } = *self;
        let table_name = format!("{}.{}", table.schema, table.name);
        let rows = dump.rows(&table)?;
        let size = match rows.progress() {
            Some(progress) => InputSize::Bytes {
                total: progress.total_bytes(),
                read: Arc::new(move || progress.bytes_read()),
            },
            None => InputSize::Unknown,
        };
        // Decompressing and splitting the data on a thread of its own, converting the
        // fields on this one.
        let path = dump.path.clone();
        let rows = ReadAhead::new(rows).map_err(|source| DumpError::Io { path, source })?;
        let events = PgEvents {
            rows,
            batcher: PgBatcher::new(mapper),
            table: table_name,
            queued: VecDeque::new(),
            done: false,
        };
        Ok(Started {
            events: Box::new(events) as Events,
            size,
            ordered: false,
        })
    }
}

/// A table's rows as events: batches of rows for the partition builder, each sent once full
/// or at the end, and a reject for each row the dump or the mapping refuses.
struct PgEvents {
    rows: ReadAhead,
    batcher: PgBatcher,
    /// `schema.name`, for rejects.
    table: String,
    queued: VecDeque<SourceEvent>,
    done: bool,
}

impl PgEvents {
    fn reject(&self, r: super::Reject) -> SourceEvent {
        SourceEvent::Reject(Reject {
            file: r.location.file.display().to_string(),
            table: self.table.clone(),
            line: r.location.line,
            column: None,
            reason: r.reason,
            raw: r.raw,
        })
    }
}

impl Iterator for PgEvents {
    type Item = Result<SourceEvent, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            match self.rows.next() {
                Some(Ok(RowEvent::Row(row))) => {
                    if let Err(e) = self.batcher.push(&row.fields) {
                        self.queued.push_back(SourceEvent::Reject(Reject {
                            file: row.location.file.display().to_string(),
                            table: self.table.clone(),
                            line: row.location.line,
                            column: e.column,
                            reason: e.reason,
                            raw: raw_row(&row.fields),
                        }));
                    }
                    if self.batcher.len() == BATCH_ROWS {
                        self.queued
                            .push_back(SourceEvent::Rows(self.batcher.take()));
                    }
                }
                Some(Ok(RowEvent::Reject(r))) => {
                    let event = self.reject(r);
                    self.queued.push_back(event);
                }
                Some(Err(e)) => {
                    // The rows read before a damaged part are not handed on: the load stops.
                    self.done = true;
                    return Some(Err(e.into()));
                }
                None => {
                    self.done = true;
                    if !self.batcher.is_empty() {
                        self.queued
                            .push_back(SourceEvent::Rows(self.batcher.take()));
                    }
                }
            }
        }
    }
}

impl Classify for DumpError {
    /// A table name the dump does not have (or has twice) is the user's to fix; a damaged or
    /// unreadable dump is a failure.
    fn is_usage(&self) -> bool {
        matches!(
            self,
            DumpError::NoSuchTable { .. }
                | DumpError::AmbiguousTable { .. }
                | DumpError::TableList { .. }
        )
    }
}

/// A row's fields as a tab-separated line for the rejects file (at most 1 KiB).
fn raw_row(fields: &Fields) -> String {
    clip_raw(
        fields
            .iter()
            .map(|f| f.unwrap_or("\\N"))
            .collect::<Vec<_>>()
            .join("\t"),
    )
}

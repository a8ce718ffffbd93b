//! The pg_dump source behind the source seam: which inputs it claims (a directory archive's
//! `toc.dat`; any other file it is offered), which of the dump's tables it reads
//! (`--source-table`, or the only one with data), how that table's columns map to the target
//! ([`PgRowMapper`]), and its rows as events: partitions, or rejects with the row as a
//! tab-separated line.

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

use super::mapping::PgRowMapper;
use super::{Dump, DumpError, DumpTable, RowEvent};

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
        return Ok(dump.table(spec)?.clone());
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
        let events = rows.map(move |event| {
            Ok(match event.map_err(SourceError::from)? {
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
        Ok(Started {
            events: Box::new(events) as Events,
            size,
            ordered: false,
        })
    }
}

impl Classify for DumpError {
    /// A table name the dump does not have (or has twice) is the user's to fix; a damaged or
    /// unreadable dump is a failure.
    fn is_usage(&self) -> bool {
        matches!(
            self,
            DumpError::NoSuchTable { .. } | DumpError::AmbiguousTable { .. }
        )
    }
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

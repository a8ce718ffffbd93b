//! The PostgreSQL mapping: given a table found in a pg_dump ([`super::Dump`]) and the
//! target table's schema, decides once how each column converts (refusing impossible pairs
//! before any write), where each row's write time and TTL come from, and then turns each dump
//! row into a one-row partition of timestamped cells.

use std::sync::Arc;

use thiserror::Error;

use crate::exit::Classify;

use super::DumpTable;
use super::pg_types::{Converter, MappingError, PgType, pg_timestamp_micros};
use crate::intake::{NullMode, RowError, row_partition};
use crate::model::{CqlType, NativeType, Partition, TableSchema};
use crate::plan::{self, MappingOptions, PlanError};

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PgSourceError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("{source_name}: {source}")]
    Mapping {
        source_name: String,
        source: MappingError,
    },
    #[error("{flag} {column}: PostgreSQL {pg_type} cannot give {what}; use a {expected} column")]
    SpecialColumn {
        flag: &'static str,
        column: String,
        pg_type: String,
        what: &'static str,
        expected: &'static str,
    },
}

impl Classify for PgSourceError {
    /// Every mapping error names a flag or a column pair the user chose.
    fn is_usage(&self) -> bool {
        true
    }
}

/// Where each row's write time comes from.
#[derive(Debug, Clone)]
enum WriteTime {
    Fixed(i64),
    /// A timestamp or timestamptz column (µs exact), or a bigint of microseconds.
    Column {
        field: usize,
        micros: bool,
    },
}

#[derive(Debug, Clone)]
enum Ttl {
    None,
    Fixed(u32),
    Column(usize),
}

/// Turns rows of one dump table into partitions of the target table.
#[derive(Debug)]
pub struct PgRowMapper {
    schema: Arc<TableSchema>,
    /// Per CQL column: the dump field that feeds it and how to convert it.
    columns: Vec<Option<(usize, Converter)>>,
    mapped: Vec<bool>,
    field_names: Vec<String>,
    writetime: WriteTime,
    ttl: Ttl,
    nulls: NullMode,
}

/// The PostgreSQL type we assume for a column when the dump has no `CREATE TABLE` for it
/// (`--data-only`): the text form is then read as the CQL type's natural PostgreSQL peer.
fn assumed_pg_type(cql: &CqlType) -> PgType {
    use NativeType as N;
    match cql {
        CqlType::List { elem, .. } | CqlType::Set { elem, .. } => {
            PgType::Array(Box::new(assumed_pg_type(elem)))
        }
        CqlType::Native(n) => match n {
            N::Tinyint | N::Smallint => PgType::Int2,
            N::Int => PgType::Int4,
            N::Bigint | N::Counter => PgType::Int8,
            N::Varint | N::Decimal => PgType::Numeric,
            N::Float => PgType::Float4,
            N::Double => PgType::Float8,
            N::Boolean => PgType::Bool,
            N::Blob => PgType::Bytea,
            N::Uuid | N::Timeuuid => PgType::Uuid,
            N::Timestamp => PgType::Timestamptz,
            N::Date => PgType::Date,
            N::Time => PgType::Time,
            N::Inet => PgType::Inet,
            N::Ascii | N::Text | N::Duration => PgType::Text,
        },
        _ => PgType::Text,
    }
}

impl PgRowMapper {
    /// Plans the conversion. `created` is the archive's snapshot time, the default write time.
    pub fn new(
        schema: Arc<TableSchema>,
        table: &DumpTable,
        source_name: &str,
        options: &MappingOptions,
        created: Option<i64>,
    ) -> Result<PgRowMapper, PgSourceError> {
        let fields = &table.data_columns;
        let pg_type = |field: usize| -> Option<PgType> {
            let name = &fields[field];
            table
                .columns
                .iter()
                .find(|c| &c.name == name)
                .map(|c| PgType::parse(&c.type_name))
        };
        let sources = plan::map_columns(&schema, source_name, fields, &options.map)?;
        let mut columns = Vec::with_capacity(schema.columns.len());
        for (column, source) in schema.columns.iter().zip(&sources) {
            columns.push(match source {
                None => None,
                Some(field) => {
                    let pg = pg_type(*field).unwrap_or_else(|| assumed_pg_type(&column.cql_type));
                    let converter = Converter::new(&column.name, pg, column.cql_type.clone())
                        .map_err(|source| PgSourceError::Mapping {
                            source_name: source_name.to_owned(),
                            source,
                        })?;
                    Some((*field, converter))
                }
            });
        }
        let writetime = match (&options.writetime_column, options.writetime) {
            (Some(name), _) => {
                let field = plan::source_column("--writetime-column", name, source_name, fields)?;
                let micros = match pg_type(field) {
                    Some(PgType::Timestamp | PgType::Timestamptz) | None => false,
                    Some(PgType::Int8) => true,
                    Some(other) => {
                        return Err(PgSourceError::SpecialColumn {
                            flag: "--writetime-column",
                            column: name.clone(),
                            pg_type: other.to_string(),
                            what: "a write time",
                            expected: "timestamp, timestamptz or bigint (microseconds)",
                        });
                    }
                };
                WriteTime::Column { field, micros }
            }
            (None, Some(fixed)) => WriteTime::Fixed(fixed),
            (None, None) => WriteTime::Fixed(created.ok_or_else(|| PlanError::NoWriteTime {
                source_name: source_name.to_owned(),
            })?),
        };
        let ttl = match (&options.ttl_column, options.ttl) {
            (Some(name), _) => {
                let field = plan::source_column("--ttl-column", name, source_name, fields)?;
                match pg_type(field) {
                    Some(PgType::Int2 | PgType::Int4 | PgType::Int8) | None => Ttl::Column(field),
                    Some(other) => {
                        return Err(PgSourceError::SpecialColumn {
                            flag: "--ttl-column",
                            column: name.clone(),
                            pg_type: other.to_string(),
                            what: "a TTL",
                            expected: "integer (seconds)",
                        });
                    }
                }
            }
            (None, Some(ttl)) => Ttl::Fixed(ttl),
            (None, None) => Ttl::None,
        };
        Ok(PgRowMapper {
            mapped: sources.iter().map(Option::is_some).collect(),
            schema,
            columns,
            field_names: fields.clone(),
            writetime,
            ttl,
            nulls: options.nulls,
        })
    }

    /// Converts one dump row (text fields, `None` for NULL) into a partition.
    pub fn partition(&self, fields: &[Option<String>]) -> Result<Partition, RowError> {
        if fields.len() != self.field_names.len() {
            return Err(RowError {
                column: None,
                reason: format!(
                    "the row has {} fields, the table {}",
                    fields.len(),
                    self.field_names.len()
                ),
            });
        }
        let field_error = |field: usize, reason: String| RowError {
            column: Some(self.field_names[field].clone()),
            reason,
        };
        let timestamp = match self.writetime {
            WriteTime::Fixed(ts) => ts,
            WriteTime::Column { field, micros } => {
                let text = fields[field]
                    .as_deref()
                    .ok_or_else(|| field_error(field, "the write time column is NULL".into()))?;
                if micros {
                    text.parse()
                        .map_err(|_| field_error(field, format!("`{text}` is not microseconds")))?
                } else {
                    pg_timestamp_micros(text).map_err(|e| field_error(field, e))?
                }
            }
        };
        let ttl = match self.ttl {
            Ttl::None => None,
            Ttl::Fixed(ttl) => Some(ttl),
            Ttl::Column(field) => match fields[field].as_deref() {
                None => None,
                Some(text) => Some(text.parse::<u32>().map_err(|_| {
                    field_error(
                        field,
                        format!("`{text}` is not a TTL in seconds (0 or more)"),
                    )
                })?),
            },
        };
        let mut values = Vec::with_capacity(self.columns.len());
        for column in &self.columns {
            values.push(match column {
                None => None,
                Some((field, converter)) => match &fields[*field] {
                    None => None,
                    Some(text) => Some(
                        converter
                            .convert(text)
                            .map_err(|reason| field_error(*field, reason))?,
                    ),
                },
            });
        }
        row_partition(
            &self.schema,
            values,
            &self.mapped,
            timestamp,
            ttl,
            self.nulls,
        )
    }
}

//! The PostgreSQL mapping: given a table found in a pg_dump ([`super::Dump`]) and the
//! target table's schema, decides once how each column converts (refusing impossible pairs
//! before any write), where each row's write time and TTL come from, and then turns each dump
//! row into a one-row partition of timestamped cells.

use std::sync::Arc;

use thiserror::Error;

use crate::exit::Classify;

use super::pg_types::{Converter, MappingError, PgType, pg_timestamp_micros};
use super::{DumpTable, Fields};
use crate::intake::{
    BatchColumn, BatchShape, ColumnValues, NullMode, RowAccess, RowBatch, RowError, TtlOrigin,
    check_primary_key,
};
use crate::model::{CqlType, NativeType, TableSchema};
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
    ttl_origin: TtlOrigin,
    /// Which dump columns fill which table columns, for the run's statement.
    column_plan: plan::ColumnPlan,
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
        let plan::ColumnMap {
            sources,
            plan: column_plan,
        } = plan::map_columns(&schema, source_name, fields, options)?;
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
            ttl_origin: options.ttl_origin,
            column_plan,
        })
    }

    /// Which dump columns fill which table columns.
    pub fn column_plan(&self) -> &plan::ColumnPlan {
        &self.column_plan
    }

    /// Converts one dump row (text fields, `None` for NULL) into a partition.
    /// The row's write time (µs) and TTL from its fields, or why it has none.
    fn times(&self, fields: &Fields) -> Result<(i64, Option<u32>), RowError> {
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
        let timestamp = match self.writetime {
            WriteTime::Fixed(ts) => ts,
            WriteTime::Column { field, micros } => {
                let text = fields.get(field).ok_or_else(|| {
                    self.field_error(field, "the write time column is NULL".into())
                })?;
                if micros {
                    text.parse().map_err(|_| {
                        self.field_error(field, format!("`{text}` is not microseconds"))
                    })?
                } else {
                    pg_timestamp_micros(text).map_err(|e| self.field_error(field, e))?
                }
            }
        };
        let ttl = match self.ttl {
            Ttl::None => None,
            Ttl::Fixed(ttl) => Some(ttl),
            Ttl::Column(field) => match fields.get(field) {
                None => None,
                Some(text) => Some(text.parse::<u32>().map_err(|_| {
                    self.field_error(
                        field,
                        format!("`{text}` is not a TTL in seconds (0 or more)"),
                    )
                })?),
            },
        };
        Ok((timestamp, ttl))
    }

    fn field_error(&self, field: usize, reason: String) -> RowError {
        RowError {
            column: Some(self.field_names[field].clone()),
            reason,
        }
    }

    /// The dump row `fields` as a one-row partition of cells, a row at a time: what the
    /// batches must give (the tests' reference).
    #[cfg(test)]
    fn partition(&self, fields: &Fields) -> Result<crate::model::Partition, RowError> {
        let (timestamp, ttl) = self.times(fields)?;
        let mut row = crate::intake::RowValues::new();
        for column in &self.columns {
            match column {
                Some((field, converter)) => match fields.get(*field) {
                    Some(text) => row
                        .push_encoded(|out| converter.encode(text, out).map(|()| true))
                        .map_err(|reason| self.field_error(*field, reason))?,
                    None => row.push_null(),
                },
                None => row.push_null(),
            }
        }
        let liveness = self.ttl_origin.liveness(timestamp, ttl);
        crate::intake::build_partition(
            &self.schema,
            &row,
            &self.mapped,
            timestamp,
            liveness,
            self.nulls,
        )
    }
}

/// Rows per batch handed to the partition builder.
pub const BATCH_ROWS: usize = 1024;

/// Dump rows gathered into [`RowBatch`]es: each field converted to its CQL serialized form in
/// place, column by column, so the partition builder makes the cells on its own threads (the
/// batch path Parquet takes). A row the mapping refuses stays in the batch as rejected (its
/// columns NULL) and is reported by the caller.
pub struct PgBatcher {
    mapper: PgRowMapper,
    shape: Arc<BatchShape>,
    /// Per CQL column, its values (`None`: not mapped).
    columns: Vec<Option<ColumnValues>>,
    timestamps: Vec<i64>,
    ttls: Vec<u32>,
    rejected: Vec<bool>,
}

/// The last row of a batch being built, for the key check.
struct LastRow<'a>(&'a [Option<ColumnValues>]);

impl RowAccess for LastRow<'_> {
    fn value(&self, column: usize) -> Option<&[u8]> {
        let values = self.0.get(column)?.as_ref()?;
        values.get(values.len().checked_sub(1)?)
    }
}

impl PgBatcher {
    pub fn new(mapper: PgRowMapper) -> PgBatcher {
        let shape = Arc::new(BatchShape {
            schema: mapper.schema.clone(),
            mapped: mapper.mapped.clone(),
            nulls: mapper.nulls,
            ttl_origin: mapper.ttl_origin,
        });
        let mut batcher = PgBatcher {
            mapper,
            shape,
            columns: Vec::new(),
            timestamps: Vec::new(),
            ttls: Vec::new(),
            rejected: Vec::new(),
        };
        batcher.reset(&[]);
        batcher
    }

    /// Starts a batch, each column's buffer sized from `sizes`, the last batch's (so a batch
    /// rarely grows its buffers).
    fn reset(&mut self, sizes: &[usize]) {
        self.columns = self
            .mapper
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let bytes = sizes.get(i).map_or(BATCH_ROWS * 16, |&n| n + n / 8);
                c.as_ref()
                    .map(|_| ColumnValues::with_capacity(BATCH_ROWS, bytes))
            })
            .collect();
        self.timestamps = Vec::with_capacity(BATCH_ROWS);
        self.ttls = Vec::with_capacity(BATCH_ROWS);
        self.rejected = Vec::with_capacity(BATCH_ROWS);
    }

    /// Rows in the batch being built.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// Adds the dump row `fields`; a row refused (a value that does not convert, a NULL or
    /// oversized key, no write time) is kept as rejected, and why is returned.
    pub fn push(&mut self, fields: &Fields) -> Result<(), RowError> {
        let refused = self.convert(fields);
        if let Err(e) = refused {
            // Every column has this row, NULL where it was not written.
            let row = self.timestamps.len();
            for values in self.columns.iter_mut().flatten() {
                if values.len() > row {
                    values.ends.truncate(row);
                    values.present.truncate(row);
                    values
                        .data
                        .truncate(values.ends.last().map_or(0, |&e| e as usize));
                }
                values.push_null();
            }
            self.timestamps.push(0);
            self.ttls.push(0);
            self.rejected.push(true);
            return Err(e);
        }
        Ok(())
    }

    fn convert(&mut self, fields: &Fields) -> Result<(), RowError> {
        let (timestamp, ttl) = self.mapper.times(fields)?;
        for (column, values) in self.mapper.columns.iter().zip(&mut self.columns) {
            let (Some((field, converter)), Some(values)) = (column, values) else {
                continue;
            };
            match fields.get(*field) {
                Some(text) => values
                    .push_with(|out| converter.encode(text, out).map(|()| true))
                    .map_err(|reason| self.mapper.field_error(*field, reason))?,
                None => values.push_null(),
            }
        }
        check_primary_key(&self.mapper.schema, &LastRow(&self.columns))?;
        self.timestamps.push(timestamp);
        self.ttls.push(ttl.unwrap_or(0));
        self.rejected.push(false);
        Ok(())
    }

    /// The batch built so far (a new one starts).
    pub fn take(&mut self) -> RowBatch {
        let sizes: Vec<usize> = self
            .columns
            .iter()
            .map(|c| c.as_ref().map_or(0, |v| v.data.len()))
            .collect();
        let columns = std::mem::take(&mut self.columns)
            .into_iter()
            .map(|c| match c {
                Some(values) => BatchColumn::Values(values),
                None => BatchColumn::Absent,
            })
            .collect();
        let batch = RowBatch {
            shape: self.shape.clone(),
            columns,
            timestamps: std::mem::take(&mut self.timestamps),
            ttls: std::mem::take(&mut self.ttls),
            rejected: std::mem::take(&mut self.rejected),
        };
        self.reset(&sizes);
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Partition;
    use crate::source::pg_dump::PgColumn;

    fn mapper() -> PgRowMapper {
        let schema = Arc::new(
            TableSchema::from_columns(
                "ks.t",
                &[
                    ("id", "partition_key", "int"),
                    ("name", "regular", "text"),
                    ("tags", "regular", "set<text>"),
                    ("score", "regular", "decimal"),
                ],
            )
            .unwrap(),
        );
        let column = |name: &str, type_name: &str| PgColumn {
            name: name.into(),
            type_name: type_name.into(),
            not_null: false,
        };
        let table = DumpTable {
            schema: "public".into(),
            name: "t".into(),
            columns: vec![
                column("id", "integer"),
                column("name", "text"),
                column("tags", "text[]"),
                column("score", "numeric"),
                column("updated", "bigint"),
            ],
            data_columns: ["id", "name", "tags", "score", "updated"]
                .map(String::from)
                .to_vec(),
            has_data: true,
            partitions: None,
            primary_key: Vec::new(),
            partition_of: None,
        };
        let options = MappingOptions {
            writetime_column: Some("updated".into()),
            ..MappingOptions::default()
        };
        PgRowMapper::new(schema, &table, "t.dump", &options, None).unwrap()
    }

    fn row(fields: [Option<&str>; 5]) -> Fields {
        fields.map(|f| f.map(String::from)).to_vec().into()
    }

    #[test]
    fn batched_rows_build_the_partitions_a_row_at_a_time_builds_and_refused_rows_stay_out() {
        let rows = [
            row([
                Some("1"),
                Some("a\tb"),
                Some("{x,y}"),
                Some("1.50"),
                Some("10"),
            ]),
            // Refused at the third column: its first two were already written.
            row([Some("2"), Some("b"), Some("{x}"), Some("abc"), Some("11")]),
            row([Some("3"), None, None, None, Some("12")]),
            // Refused for its key, after every column was written.
            row([None, Some("d"), Some("{}"), Some("2"), Some("13")]),
            // Refused before any column: no write time.
            row([Some("5"), Some("e"), None, Some("3"), None]),
            row([
                Some("6"),
                Some(""),
                Some("{\"\"}"),
                Some("-0.001"),
                Some("14"),
            ]),
        ];
        let single = mapper();
        let mut batcher = PgBatcher::new(mapper());
        let mut refused = Vec::new();
        for (i, fields) in rows.iter().enumerate() {
            let one = single.partition(fields);
            let batched = batcher.push(fields);
            assert_eq!(one.is_err(), batched.is_err(), "row {i}");
            if let Err(e) = batched {
                assert_eq!(e, one.unwrap_err(), "row {i}");
                refused.push(i);
            }
        }
        assert_eq!(refused, [1, 3, 4]);
        let batch = batcher.take();
        assert!(batcher.is_empty());
        assert_eq!(batch.len(), rows.len());
        assert_eq!(batch.accepted(), 3);
        let from_batch: Vec<Partition> = batch.partitions().map(Result::unwrap).collect();
        let one_at_a_time: Vec<Partition> = [0, 2, 5]
            .iter()
            .map(|&i| single.partition(&rows[i]).unwrap())
            .collect();
        assert_eq!(from_batch, one_at_a_time);
        // A refused row is NULL in every column of the batch.
        for row in refused {
            assert!(
                (0..4).all(|c| batch.row(row).value(c).is_none()),
                "row {row}"
            );
        }
    }
}

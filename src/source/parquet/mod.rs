//! The Parquet source: a `.parquet` file, a folder of them (Spark, Hive and pyarrow exports with
//! `key=value` partition folders), or the same on HDFS (`hdfs://namenode:8020/path`).
//!
//! [`ParquetInput::open`] finds the files, reads every footer and checks that all files share
//! one schema. [`ParquetInput::plan`] decides, before any row is read, how each mapped column
//! converts to its CQL column ([`convert`]) and where each row's write time and TTL come from,
//! and refuses impossible pairs naming the column and both types. [`ParquetInput::events`] then
//! decodes row groups in parallel, reading only the mapped columns, and yields per decoded batch
//! one [`SourceEvent::Rows`] (a [`crate::intake::RowBatch`] of serialized CQL values; the
//! partition builder makes their cells) and one [`SourceEvent::Reject`] per refused row.
//!
//! Costs: each decoding thread holds the mapped columns of one row group in memory (Parquet
//! writers default to 64 to 128 MiB row groups); HDFS files are read by byte ranges.

mod convert;
mod discover;
mod hdfs;
mod read;
mod seam;
mod spark;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::{DataType, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use thiserror::Error;

use crate::intake::BatchShape;
use crate::model::{CqlType, NativeType, TableSchema};
use crate::plan::{self, MappingOptions, PlanError};

use convert::{Conv, Refusal, string_value};
pub use read::ParquetEvents;
pub use seam::KIND;

/// Cassandra's largest TTL: 20 years (`Attributes.MAX_TTL`).
pub const MAX_TTL: u32 = 630_720_000;

pub use super::SourceEvent;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ParquetError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: HDFS: {source}")]
    Hdfs {
        path: String,
        source: Box<hdfs_native::HdfsError>,
    },
    #[error(
        "{input}: no Parquet files found (in a folder: files named *.parquet, or starting with PAR1; names starting with _ or . are skipped)"
    )]
    NoFiles { input: String },
    #[error(
        "{path} is not a readable Parquet file (truncated, still being written, or not Parquet): {source}"
    )]
    Corrupt {
        path: String,
        source: parquet::errors::ParquetError,
    },
    #[error(
        "{path}: its footer counts {footer} rows but its row groups hold {groups} (written by {writer}); readers disagree on such a file (arrow-rs reads it as empty), so it is not loaded: rewrite it with a current Parquet writer"
    )]
    RowCounts {
        path: String,
        footer: i64,
        groups: i64,
        writer: String,
    },
    #[error(
        "{path} is damaged: reading row group {group} failed: {reason}; the file is probably corrupt or truncated: check it, or export it again"
    )]
    RowGroup {
        path: String,
        group: usize,
        reason: String,
    },
    #[error(
        "{input} looks unfinished: {why}; a Spark or Hadoop job writes _SUCCESS once all its files are in place, so these may be partial or still being written: wait for the job to finish, or load with --allow-incomplete"
    )]
    Unfinished { input: String, why: String },
    #[error("cannot decode {path}: {reason}")]
    Decode { path: String, reason: String },
    #[error("{first} and {second} have different schemas ({difference}); load them separately")]
    SchemaMismatch {
        first: String,
        second: String,
        difference: String,
    },
    #[error(
        "{path} has the folder name key {key}, which is also a column in the files; rename the folder or load the file on its own"
    )]
    KeyIsColumn { path: String, key: String },
    #[error(
        "column {column}: Parquet type {arrow_type} cannot be loaded into CQL {cql_type}{hint}"
    )]
    Mapping {
        column: String,
        arrow_type: String,
        cql_type: String,
        hint: String,
    },
    #[error("{path}: the folder name {key}={value} cannot fill CQL column {column}: {reason}")]
    FolderValue {
        path: String,
        key: String,
        value: String,
        column: String,
        reason: String,
    },
    #[error("{flag} {column}: Parquet type {arrow_type} cannot give {what}; use {expected}")]
    SpecialColumn {
        flag: &'static str,
        column: String,
        arrow_type: String,
        what: &'static str,
        expected: &'static str,
    },
    #[error(
        "{path} holds INT96 and INT64 timestamps, and Spark's footer keys give them different calendars (one LEGACY, one CORRECTED); cassbulk cannot tell which values Spark would rebase: export it again with one timestamp type"
    )]
    MixedTimestamps { path: String },
    #[error(
        "{path} was written by Spark {version} in its LEGACY calendar mode in the time zone {zone}, so its timestamps before 1582-10-15 need that zone's historical offsets to be read as Spark reads them, and cassbulk knows only UTC and fixed offsets (+05:30): export it again with spark.sql.session.timeZone=UTC, or with spark.sql.parquet.datetimeRebaseModeInWrite and int96RebaseModeInWrite set to CORRECTED (column {column})"
    )]
    RebaseZone {
        path: String,
        version: String,
        zone: String,
        column: String,
    },
    #[error("--ttl {0}: Cassandra's largest TTL is {MAX_TTL} seconds (20 years)")]
    Ttl(u32),
    #[error("the Parquet decoding threads stopped: {0}")]
    Thread(String),
    #[error(transparent)]
    Damaged(#[from] crate::source::guard::Damaged),
}

/// Where a file is.
#[derive(Clone)]
enum Location {
    Local(PathBuf),
    Hdfs(hdfs::HdfsFile),
}

/// One Parquet file of the input, its footer read.
#[derive(Clone)]
struct SourceFile {
    /// The path or URL, for messages and rejects.
    name: String,
    location: Location,
    /// One value per folder name key of the input (`None`: Hive's NULL partition).
    folder_values: Vec<Option<String>>,
    metadata: ArrowReaderMetadata,
    /// How Spark's calendar conventions apply to its dates and timestamps.
    calendar: spark::Calendar,
}

/// The Parquet files of one input, with their common Arrow schema and folder name keys.
pub struct ParquetInput {
    input: String,
    files: Vec<SourceFile>,
    schema: SchemaRef,
    folder_keys: Vec<String>,
    /// Why the export looks unfinished, when `--allow-incomplete` read it anyway.
    unfinished: Option<String>,
}

impl fmt::Debug for ParquetInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParquetInput")
            .field("input", &self.input)
            .field("files", &self.files.len())
            .field("columns", &self.column_names())
            .finish()
    }
}

impl ParquetInput {
    /// Opens a `.parquet` file, a folder or an `hdfs://host:port/path` URL (honouring
    /// `HADOOP_CONF_DIR`). In a folder, recursively: names starting with `_` or `.` (`_SUCCESS`,
    /// `_temporary/`, `.crc` files) are skipped, files named `*.parquet` are read, and other
    /// files only if they start with Parquet's magic bytes (Hive's `000000_0`; scripts and notes
    /// are passed over, with a log line). `key=value` folder names anywhere in the path become
    /// columns. Reads every footer: a truncated or corrupt file, or one whose schema or folder
    /// keys differ from the first file's, is refused naming it.
    pub fn open(input: &str, allow_incomplete: bool) -> Result<ParquetInput, ParquetError> {
        let (found, unfinished) = match discover::split_hdfs_url(input) {
            Some((file_system, path)) => {
                hdfs::outside_runtime(|| open_hdfs(input, &file_system, &path, allow_incomplete))?
            }
            None => open_local(input, allow_incomplete)?,
        };
        if found.is_empty() {
            return Err(ParquetError::NoFiles {
                input: input.to_owned(),
            });
        }
        let mut files = Vec::with_capacity(found.len());
        let mut folder_keys: Option<(Vec<String>, String)> = None;
        for (name, location, folders) in found {
            let metadata = match &location {
                Location::Local(path) => {
                    let file = std::fs::File::open(path).map_err(|source| ParquetError::Io {
                        path: name.clone(),
                        source,
                    })?;
                    ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
                }
                Location::Hdfs(file) => hdfs::outside_runtime(|| {
                    ArrowReaderMetadata::load(file, ArrowReaderOptions::new())
                }),
            }
            .map_err(|source| ParquetError::Corrupt {
                path: name.clone(),
                source,
            })?;
            check_row_counts(&name, &metadata)?;
            let metadata = int96_as_micros(metadata).map_err(|reason| ParquetError::Decode {
                path: name.clone(),
                reason,
            })?;
            let calendar = spark::calendar(metadata.metadata())
                .map_err(|_| ParquetError::MixedTimestamps { path: name.clone() })?;
            let keys: Vec<String> = folders.iter().map(|(k, _)| k.clone()).collect();
            match &folder_keys {
                None => folder_keys = Some((keys, name.clone())),
                Some((first, first_name)) if *first != keys => {
                    return Err(ParquetError::SchemaMismatch {
                        first: first_name.clone(),
                        second: name,
                        difference: format!(
                            "folder name keys {} and {}",
                            key_list(first),
                            key_list(&keys)
                        ),
                    });
                }
                Some(_) => {}
            }
            let first: Option<&SourceFile> = files.first();
            if let Some(first) = first
                && let Some(difference) =
                    schema_difference(first.metadata.schema(), metadata.schema())
            {
                return Err(ParquetError::SchemaMismatch {
                    first: first.name.clone(),
                    second: name,
                    difference,
                });
            }
            if let Some((key, _)) = folders
                .iter()
                .find(|(k, _)| metadata.schema().field_with_name(k).is_ok())
            {
                return Err(ParquetError::KeyIsColumn {
                    path: name,
                    key: key.clone(),
                });
            }
            files.push(SourceFile {
                name,
                location,
                folder_values: folders.into_iter().map(|(_, v)| v).collect(),
                metadata,
                calendar,
            });
        }
        Ok(ParquetInput {
            input: input.to_owned(),
            schema: files[0].metadata.schema().clone(),
            files,
            folder_keys: folder_keys.map(|(k, _)| k).unwrap_or_default(),
            unfinished,
        })
    }

    /// `N files, M row groups, R rows`, for logs.
    pub fn describe(&self) -> String {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        let groups: usize = self
            .files
            .iter()
            .map(|f| f.metadata.metadata().num_row_groups())
            .sum();
        format!(
            "{}, {}, {}",
            plural(self.files.len(), "file"),
            plural(groups, "row group"),
            plural(self.row_count() as usize, "row")
        )
    }

    /// What a run states about this input before its first write: the files and partition
    /// folders it reads, and the files whose dates and timestamps are rebased from Spark's
    /// legacy calendar.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let mut partitions: Vec<&[Option<String>]> = self
            .files
            .iter()
            .map(|f| f.folder_values.as_slice())
            .collect();
        partitions.sort();
        partitions.dedup();
        notes.push(if self.folder_keys.is_empty() {
            format!("{}: {}", self.input, self.describe())
        } else {
            format!(
                "{}: {} in {} partition folder(s) ({})",
                self.input,
                self.describe(),
                partitions.len(),
                self.folder_keys.join(", ")
            )
        });
        notes.extend(self.unfinished.clone());
        // One line per distinct (Spark version, what is rebased, zone) among the files.
        let mut legacy: Vec<(String, usize)> = Vec::new();
        for file in self.files.iter().filter(|f| !f.calendar.rebase.is_none()) {
            let calendar = &file.calendar;
            let what = match (calendar.rebase.dates, calendar.rebase.timestamps) {
                (true, Some(_)) => "dates and timestamps",
                (true, None) => "dates",
                _ => "timestamps",
            };
            let zone = match calendar.rebase.timestamps {
                Some(_) if calendar.zone_assumed => {
                    " (the files name no time zone: UTC is taken, as a Spark session in UTC reads them)"
                        .to_owned()
                }
                Some(offset) => format!(" (time zone offset {offset} s, from the files)"),
                None => String::new(),
            };
            let line = format!(
                "were written by Spark {} in its LEGACY calendar mode: {what} before 1582-10-15 are rebased from the Julian calendar, as Spark reads them{zone}",
                calendar.spark_version.as_deref().unwrap_or("?"),
            );
            match legacy.iter_mut().find(|(l, _)| *l == line) {
                Some((_, n)) => *n += 1,
                None => legacy.push((line, 1)),
            }
        }
        for (line, n) in legacy {
            notes.push(format!(
                "{}: {n} of {} file(s) {line}",
                self.input,
                self.files.len()
            ));
        }
        notes
    }

    /// The number of rows in all files, from their footers.
    pub fn row_count(&self) -> u64 {
        self.files
            .iter()
            .map(|f| f.metadata.metadata().file_metadata().num_rows().max(0) as u64)
            .sum()
    }

    /// The files' columns in file order, then the folder name keys (`dt` for `dt=2026-11-18/`).
    pub fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .chain(self.folder_keys.iter().cloned())
            .collect()
    }

    /// The files' common Arrow schema (without the folder name keys).
    pub fn arrow_schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Decides every conversion before any row is read, refusing a column whose Parquet type
    /// cannot feed its CQL column (naming both types). The write time comes from
    /// `writetime_column` (an Arrow timestamp of any unit and zone, exact to the microsecond, or
    /// an integer of microseconds), else from `writetime`; Parquet has no snapshot time to fall
    /// back on. The TTL comes from `ttl_column` (an integer column; NULL or 0: no TTL), else
    /// from `ttl`.
    pub fn plan(
        &self,
        schema: Arc<TableSchema>,
        options: &MappingOptions,
    ) -> Result<ParquetPlan, ParquetError> {
        let names = self.column_names();
        let file_columns = self.schema.fields().len();
        let plan::ColumnMap {
            sources,
            plan: column_plan,
        } = plan::map_columns(&schema, &self.input, &names, options)?;
        let mut columns = Vec::with_capacity(schema.columns.len());
        for (column, source) in schema.columns.iter().zip(&sources) {
            let refused = |arrow_type: String, refusal: Refusal| ParquetError::Mapping {
                column: names[source.unwrap_or(0)].clone(),
                arrow_type,
                cql_type: column.cql_type.to_string(),
                hint: refusal.0,
            };
            columns.push(match *source {
                None => None,
                Some(field) if field < file_columns => {
                    let arrow_type = self.schema.field(field).data_type();
                    let conv = Conv::new(arrow_type, &column.cql_type)
                        .map_err(|r| refused(arrow_type.to_string(), r))?;
                    Some(ColumnSource::File { field, conv })
                }
                Some(index) => {
                    let key = index - file_columns;
                    let loadable = matches!(
                        &column.cql_type,
                        CqlType::Native(n) if !matches!(n, NativeType::Counter | NativeType::Duration)
                    );
                    if !loadable {
                        return Err(refused(
                            "string (a folder name)".to_owned(),
                            Refusal(
                                " (folder name values load only into native CQL types other than counter and duration)"
                                    .to_owned(),
                            ),
                        ));
                    }
                    let values = self
                        .files
                        .iter()
                        .map(|f| {
                            f.folder_values[key]
                                .as_deref()
                                .map(|v| {
                                    string_value(&column.cql_type, v)
                                        .map(|value| value.to_bytes())
                                        .map_err(|reason| {
                                        ParquetError::FolderValue {
                                            path: f.name.clone(),
                                            key: names[index].clone(),
                                            value: v.to_owned(),
                                            column: column.name.clone(),
                                            reason,
                                        }
                                    })
                                })
                                .transpose()
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    Some(ColumnSource::Folder { values })
                }
            });
        }
        let file_column = |flag: &'static str, name: &str| -> Result<usize, ParquetError> {
            let index = plan::source_column(flag, name, &self.input, &names)?;
            if index >= file_columns {
                return Err(ParquetError::SpecialColumn {
                    flag,
                    column: name.to_owned(),
                    arrow_type: "string (a folder name)".to_owned(),
                    what: if flag == "--ttl-column" {
                        "a TTL"
                    } else {
                        "a write time"
                    },
                    expected: "a column in the files",
                });
            }
            Ok(index)
        };
        let writetime = match (&options.writetime_column, options.writetime) {
            (Some(name), _) => {
                let field = file_column("--writetime-column", name)?;
                let arrow_type = self.schema.field(field).data_type();
                if !matches!(arrow_type, DataType::Timestamp(..)) && !arrow_type.is_integer() {
                    return Err(ParquetError::SpecialColumn {
                        flag: "--writetime-column",
                        column: name.clone(),
                        arrow_type: arrow_type.to_string(),
                        what: "a write time",
                        expected: "a timestamp column (any unit) or an integer column of microseconds since the epoch",
                    });
                }
                WriteTime::Column(field)
            }
            (None, Some(fixed)) => WriteTime::Fixed(fixed),
            (None, None) => {
                return Err(PlanError::NoWriteTime {
                    source_name: self.input.clone(),
                }
                .into());
            }
        };
        let ttl = match (&options.ttl_column, options.ttl) {
            (Some(name), _) => {
                let field = file_column("--ttl-column", name)?;
                let arrow_type = self.schema.field(field).data_type();
                if !arrow_type.is_integer() {
                    return Err(ParquetError::SpecialColumn {
                        flag: "--ttl-column",
                        column: name.clone(),
                        arrow_type: arrow_type.to_string(),
                        what: "a TTL",
                        expected: "an integer column of seconds",
                    });
                }
                Ttl::Column(field)
            }
            (None, Some(ttl)) if ttl > MAX_TTL => return Err(ParquetError::Ttl(ttl)),
            (None, Some(ttl)) => Ttl::Fixed(ttl),
            (None, None) => Ttl::None,
        };
        let mut projection: Vec<usize> = columns
            .iter()
            .filter_map(|c| match c {
                Some(ColumnSource::File { field, .. }) => Some(*field),
                _ => None,
            })
            .chain(match writetime {
                WriteTime::Column(f) => Some(f),
                WriteTime::Fixed(_) => None,
            })
            .chain(match ttl {
                Ttl::Column(f) => Some(f),
                _ => None,
            })
            .collect();
        projection.sort_unstable();
        projection.dedup();
        for file in &self.files {
            let (Some(zone), Some(version)) =
                (&file.calendar.refused_zone, &file.calendar.spark_version)
            else {
                continue;
            };
            let timestamps = projection
                .iter()
                .find(|&&f| f < file_columns && has_timestamp(self.schema.field(f).data_type()));
            if let Some(&field) = timestamps {
                return Err(ParquetError::RebaseZone {
                    path: file.name.clone(),
                    version: version.clone(),
                    zone: zone.clone(),
                    column: names[field].clone(),
                });
            }
        }
        Ok(ParquetPlan {
            table: schema.name.to_string(),
            shape: Arc::new(BatchShape {
                schema,
                mapped: sources.iter().map(Option::is_some).collect(),
                nulls: options.nulls,
                ttl_origin: options.ttl_origin,
            }),
            columns,
            names,
            writetime,
            ttl,
            projection,
            column_plan,
        })
    }

    /// Decodes row groups in parallel (one thread per core), reading only the mapped columns,
    /// and yields one event per row, in no particular order. Memory stays bounded: the decoding
    /// threads wait while the consumer is behind. A file that turns out corrupt ends the events
    /// with an error naming it.
    pub fn events(self, plan: ParquetPlan) -> ParquetEvents {
        read::start(self, plan)
    }
}

/// Refuses a file whose footer's row count is not the sum of its row groups' (parquet-rs 0.3
/// wrote 0 in the footer of files with rows): readers believe one or the other, so the load
/// would depend on the reader, and arrow-rs reads such a file as empty.
fn check_row_counts(path: &str, metadata: &ArrowReaderMetadata) -> Result<(), ParquetError> {
    let file = metadata.metadata().file_metadata();
    let groups: i64 = metadata
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .sum();
    if file.num_rows() == groups {
        return Ok(());
    }
    Err(ParquetError::RowCounts {
        path: path.to_owned(),
        footer: file.num_rows(),
        groups,
        writer: file.created_by().unwrap_or("an unnamed writer").to_owned(),
    })
}

fn key_list(keys: &[String]) -> String {
    if keys.is_empty() {
        "(none)".to_owned()
    } else {
        keys.join(", ")
    }
}

/// What makes two files' schemas unable to share one plan, if anything: column names and order,
/// and types including struct field names; nullability and metadata do not matter.
fn schema_difference(a: &SchemaRef, b: &SchemaRef) -> Option<String> {
    let names = |s: &SchemaRef| {
        s.fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if a.fields().len() != b.fields().len()
        || a.fields()
            .iter()
            .zip(b.fields())
            .any(|(x, y)| x.name() != y.name())
    {
        return Some(format!("columns {} and {}", names(a), names(b)));
    }
    a.fields()
        .iter()
        .zip(b.fields())
        .find(|(x, y)| !same_type(x.data_type(), y.data_type()))
        .map(|(x, y)| {
            format!(
                "column {} is {} in one and {} in the other",
                x.name(),
                x.data_type(),
                y.data_type()
            )
        })
}

fn same_type(a: &DataType, b: &DataType) -> bool {
    use DataType as D;
    match (a, b) {
        (D::List(x), D::List(y))
        | (D::LargeList(x), D::LargeList(y))
        | (D::ListView(x), D::ListView(y))
        | (D::LargeListView(x), D::LargeListView(y)) => same_type(x.data_type(), y.data_type()),
        (D::FixedSizeList(x, n), D::FixedSizeList(y, m)) => {
            n == m && same_type(x.data_type(), y.data_type())
        }
        (D::Map(x, _), D::Map(y, _)) => same_type(x.data_type(), y.data_type()),
        (D::Struct(x), D::Struct(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(f, g)| f.name() == g.name() && same_type(f.data_type(), g.data_type()))
        }
        (D::Dictionary(k, v), D::Dictionary(l, w)) => k == l && same_type(v, w),
        _ => a == b,
    }
}

/// `field` with each leaf for which `map(leaf index, leaf type)` gives a new type read as that
/// type; `leaf` counts the Parquet leaf columns passed. `None` for a type whose leaves are not
/// walked here.
fn map_leaves(
    field: &FieldRef,
    leaf: &mut usize,
    map: &mut dyn FnMut(usize, &DataType) -> Option<DataType>,
) -> Option<FieldRef> {
    let with =
        |data_type: DataType| Some(Arc::new(field.as_ref().clone().with_data_type(data_type)));
    match field.data_type() {
        DataType::List(elem) => with(DataType::List(map_leaves(elem, leaf, map)?)),
        DataType::LargeList(elem) => with(DataType::LargeList(map_leaves(elem, leaf, map)?)),
        DataType::FixedSizeList(elem, n) => {
            with(DataType::FixedSizeList(map_leaves(elem, leaf, map)?, *n))
        }
        DataType::Map(entries, sorted) => {
            with(DataType::Map(map_leaves(entries, leaf, map)?, *sorted))
        }
        DataType::Struct(children) => with(DataType::Struct(
            children
                .iter()
                .map(|c| map_leaves(c, leaf, map))
                .collect::<Option<Fields>>()?,
        )),
        // Leaves this walk does not know how to count.
        t if t.is_nested() || matches!(t, DataType::RunEndEncoded(..)) => None,
        t => {
            *leaf += 1;
            match map(*leaf - 1, t) {
                Some(new) => with(new),
                None => Some(field.clone()),
            }
        }
    }
}

/// The file's metadata with its INT96 timestamps (top-level and nested) read as microseconds:
/// arrow-rs reads them as nanoseconds by default, which wrap outside 1677-09-21..2262-04-11
/// (Spark's "valid to" marker 9999-12-31 among them). Spark reads them as microseconds too.
fn int96_as_micros(metadata: ArrowReaderMetadata) -> Result<ArrowReaderMetadata, String> {
    let descr = metadata.metadata().file_metadata().schema_descr_ptr();
    let int96 = |leaf: usize| {
        leaf < descr.num_columns()
            && descr.column(leaf).physical_type() == parquet::basic::Type::INT96
    };
    if !(0..descr.num_columns()).any(int96) {
        return Ok(metadata);
    }
    let mut leaf = 0;
    let mut map = |at: usize, data_type: &DataType| {
        (int96(at) && *data_type == DataType::Timestamp(TimeUnit::Nanosecond, None))
            .then_some(DataType::Timestamp(TimeUnit::Microsecond, None))
    };
    let fields = metadata
        .schema()
        .fields()
        .iter()
        .map(|f| map_leaves(f, &mut leaf, &mut map))
        .collect::<Option<Vec<_>>>()
        .filter(|_| leaf == descr.num_columns())
        .ok_or("its INT96 timestamps sit in a nesting cassbulk cannot walk")?;
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new_with_metadata(
        fields,
        metadata.schema().metadata().clone(),
    )));
    ArrowReaderMetadata::try_new(metadata.metadata().clone(), options).map_err(|e| e.to_string())
}

/// Whether a column holds timestamps, at the top or nested.
fn has_timestamp(data_type: &DataType) -> bool {
    match data_type {
        DataType::Timestamp(..) => true,
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => has_timestamp(f.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| has_timestamp(f.data_type())),
        DataType::Dictionary(_, v) => has_timestamp(v),
        _ => false,
    }
}

/// Says which files of a folder were not read because they are not Parquet.
fn log_passed_over(input: &str, names: impl Iterator<Item = String>) {
    let names: Vec<String> = names.collect();
    if !names.is_empty() {
        tracing::info!(
            "{input}: passed over {} files that are not Parquet: {}",
            names.len(),
            names.join(", ")
        );
    }
}

type Found = Vec<(String, Location, Vec<(String, Option<String>)>)>;

/// Refuses an export that looks unfinished (see [`discover::Markers::unfinished`]) unless
/// `--allow-incomplete`; then it is a note for the run's statement.
fn check_finished(
    input: &str,
    markers: &discover::Markers,
    paths: &[&str],
    allow_incomplete: bool,
) -> Result<Option<String>, ParquetError> {
    match markers.unfinished(paths) {
        None => Ok(None),
        Some(why) if allow_incomplete => Ok(Some(format!(
            "{input} looks unfinished ({why}); read anyway (--allow-incomplete)"
        ))),
        Some(why) => Err(ParquetError::Unfinished {
            input: input.to_owned(),
            why,
        }),
    }
}

fn open_local(
    input: &str,
    allow_incomplete: bool,
) -> Result<(Found, Option<String>), ParquetError> {
    let root = PathBuf::from(input);
    let (files, other, markers) =
        discover::local_files(&root).map_err(|source| ParquetError::Io {
            path: input.to_owned(),
            source,
        })?;
    let paths: Vec<String> = files
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let note = check_finished(input, &markers, &paths, allow_incomplete)?;
    log_passed_over(input, other.iter().map(|p| p.display().to_string()));
    let found = files
        .into_iter()
        .map(|path| {
            let name = path.display().to_string();
            let folders = discover::hive_segments(&path.to_string_lossy());
            (name, Location::Local(path), folders)
        })
        .collect();
    Ok((found, note))
}

fn open_hdfs(
    input: &str,
    file_system: &str,
    path: &str,
    allow_incomplete: bool,
) -> Result<(Found, Option<String>), ParquetError> {
    let failed = |path: String| {
        move |source: hdfs_native::HdfsError| ParquetError::Hdfs {
            path,
            source: Box::new(source),
        }
    };
    let client = hdfs::Hdfs::connect(file_system).map_err(failed(input.to_owned()))?;
    let (listed, other, markers) = client.list(path).map_err(failed(input.to_owned()))?;
    let paths: Vec<&str> = listed.iter().map(|l| l.path.as_str()).collect();
    let note = check_finished(input, &markers, &paths, allow_incomplete)?;
    log_passed_over(input, other.iter().map(|l| client.url(&l.path)));
    let found = listed
        .into_iter()
        .map(|l| {
            let name = client.url(&l.path);
            let file = client.open(&l).map_err(failed(name.clone()))?;
            let folders = discover::hive_segments(&l.path);
            Ok((name, Location::Hdfs(file), folders))
        })
        .collect::<Result<Found, ParquetError>>()?;
    Ok((found, note))
}

/// Where one CQL column's values come from.
#[derive(Debug)]
enum ColumnSource {
    /// A column of the files (its index in the Arrow schema) and its conversion.
    File { field: usize, conv: Conv },
    /// A folder name key: its value in each file, converted and serialized once.
    Folder { values: Vec<Option<Vec<u8>>> },
}

#[derive(Debug, Clone, Copy)]
enum WriteTime {
    Fixed(i64),
    Column(usize),
}

#[derive(Debug, Clone, Copy)]
enum Ttl {
    None,
    Fixed(u32),
    Column(usize),
}

/// Every conversion of one input into one table, decided before any row is read.
#[derive(Debug)]
pub struct ParquetPlan {
    /// The target table, which columns are mapped and what their NULLs do.
    shape: Arc<BatchShape>,
    /// The target table's name, for rejects.
    table: String,
    /// Per CQL column, where its values come from (`None`: not mapped).
    columns: Vec<Option<ColumnSource>>,
    /// The input's column names: the files' columns, then the folder name keys.
    names: Vec<String>,
    writetime: WriteTime,
    ttl: Ttl,
    /// The Arrow schema indices of the columns read, ascending (batch column order).
    projection: Vec<usize>,
    /// Which columns fill which table columns, for the run's statement.
    column_plan: plan::ColumnPlan,
}

impl ParquetPlan {
    /// The source columns read from the files, in file order.
    pub fn read_columns(&self) -> Vec<&str> {
        self.projection
            .iter()
            .map(|&i| self.names[i].as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests;

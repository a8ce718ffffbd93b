//! Parquet files for `cassbulk dump --format parquet`: rows of CQL values buffered into Arrow
//! builders, handed to `parquet`'s [`ArrowWriter`] a record batch at a time, ZSTD-compressed
//! (level 3) with statistics, in row groups of at most 1,048,576 rows or 128 MiB.
//!
//! Every column is nullable, and CQL types map to Arrow types that analytics tools (Spark,
//! pandas, DuckDB) read without help:
//!
//! | CQL | Arrow |
//! | --- | --- |
//! | ascii, text, varchar | utf8 |
//! | bigint, counter | int64 |
//! | int, smallint, tinyint | int32, int16, int8 |
//! | boolean | bool |
//! | float, double | float32, float64 |
//! | blob | binary |
//! | date | date32 (days since 1970-01-01) |
//! | time | time64 (nanoseconds) |
//! | timestamp | timestamp (milliseconds, zone "UTC") |
//! | uuid, timeuuid | utf8, lower-case and hyphenated, which joins with other tools' UUID text |
//! | inet | utf8, as Rust writes addresses (`10.0.0.1`, `::1`) |
//! | decimal | utf8: the exact plain decimal text (`12.50`, `-0.001`, `5E3` for a negative scale). The scale varies from value to value in CQL, so no single Arrow decimal type holds every value exactly. With `--decimal P,S`: decimal128(P, S), each value rescaled exactly; one that does not fit stops the dump. |
//! | varint | utf8: the decimal digits, which no Arrow integer may be wide enough for. With `--decimal P,S`: decimal128(P, 0). |
//! | duration | struct of `months` int32, `days` int32, `nanoseconds` int64 (none null). Arrow's month-day-nano interval would be the natural type, but Parquet cannot store it (the `parquet` crate refuses it), and any other interval loses precision. |
//! | list, set (frozen or not) | list of the element type; set elements in Cassandra's order |
//! | map (frozen or not) | map of `entries` structs with `key` and `value` fields |
//! | tuple | struct with fields `0`, `1`, ...; a null field is a null |
//! | user-defined type (frozen or not) | struct with the type's field names; a null field is a null |
//! | vector<T, n> | fixed size list of n T |
//! | custom types | refused ([`DumpError::Value`]) |
//!
//! CQL collections cannot hold nulls, so list and vector elements, map keys and map values are
//! declared non-nullable.
//!
//! A value whose type does not match its column is refused before any of its row is buffered,
//! so the rest of the file stays good. Record batches hold at most 8192 rows, and fewer when
//! the row's strings, blobs and collection elements reach 64 MiB: that bounds the memory the
//! builders take and keeps Arrow's 32-bit offsets far from overflowing.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, FixedSizeListArray,
    Float32Builder, Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder,
    ListArray, MapArray, NullBufferBuilder, RecordBatch, StringBuilder, StructArray,
    Time64NanosecondBuilder, TimestampMillisecondBuilder,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::format::{DumpColumn, DumpError, FileWriter};
use crate::model::value::Duration;
use crate::model::{CqlType, NativeType, Value};

/// Rows in a record batch handed to the Parquet writer.
const BATCH_ROWS: usize = 8192;
/// A batch ends early once its strings, blobs and collection elements reach this many bytes.
const BATCH_BYTES: usize = 64 << 20;
/// Rows in a row group at most.
const ROW_GROUP_ROWS: usize = 1 << 20;
/// Encoded bytes in a row group at most (as the writer estimates them while it buffers).
const ROW_GROUP_BYTES: usize = 128 << 20;
/// ZSTD's level: fast to write, and most of the ratio of the higher levels.
const ZSTD_LEVEL: i32 = 3;

/// `--decimal P,S`: decimal and varint values as Arrow `decimal128(P, S)` (varints at scale 0)
/// instead of exact text; `None` for text.
pub type Decimal128 = Option<(u8, i8)>;

/// The Arrow schema of a dump's Parquet files: one nullable field per column, typed as the
/// module documentation lists. A column of a custom type is a [`DumpError::Value`].
pub fn arrow_schema(columns: &[DumpColumn], decimal: Decimal128) -> Result<Schema, DumpError> {
    columns
        .iter()
        .map(|c| {
            Ok(Field::new(
                &c.name,
                data_type(&c.name, &c.cql_type, decimal)?,
                true,
            ))
        })
        .collect::<Result<Vec<_>, DumpError>>()
        .map(Schema::new)
}

/// The size of batches and row groups: the defaults in production, smaller in tests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub batch_rows: usize,
    pub group_rows: usize,
    pub group_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            batch_rows: BATCH_ROWS,
            group_rows: ROW_GROUP_ROWS,
            group_bytes: ROW_GROUP_BYTES,
        }
    }
}

/// Writes one Parquet file of a dump. Rows are buffered in Arrow builders and written a record
/// batch at a time; [`FileWriter::finish`] writes the footer and syncs the file.
pub struct ParquetWriter {
    path: PathBuf,
    schema: SchemaRef,
    columns: Vec<Column>,
    writer: ArrowWriter<File>,
    /// Rows buffered in the builders.
    rows: usize,
    /// Bytes of strings and blobs, and collection elements, buffered in the builders.
    bytes: usize,
    batch_rows: usize,
    /// Set when a failure left the builders or the writer in a state that would lose rows
    /// silently: every later call then fails.
    broken: bool,
}

struct Column {
    name: String,
    node: Node,
}

impl ParquetWriter {
    /// Creates (or truncates) the file at `path` for rows of `columns`.
    pub fn create(
        path: &Path,
        columns: &[DumpColumn],
        decimal: Decimal128,
    ) -> Result<ParquetWriter, DumpError> {
        ParquetWriter::with_limits(path, columns, Limits::default(), decimal)
    }

    /// [`ParquetWriter::create`] with other batch and row group sizes.
    pub(crate) fn with_limits(
        path: &Path,
        columns: &[DumpColumn],
        limits: Limits,
        decimal: Decimal128,
    ) -> Result<ParquetWriter, DumpError> {
        let mut fields = Vec::with_capacity(columns.len());
        let mut nodes = Vec::with_capacity(columns.len());
        for c in columns {
            let node = Node::new(&c.name, &c.cql_type, limits.batch_rows, decimal)?;
            fields.push(Field::new(&c.name, node.data_type.clone(), true));
            nodes.push(Column {
                name: c.name.clone(),
                node,
            });
        }
        let schema = Arc::new(Schema::new(fields));
        let format = |e: &dyn std::fmt::Display| DumpError::Format {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let zstd = ZstdLevel::try_new(ZSTD_LEVEL).map_err(|e| format(&e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(zstd))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(limits.group_rows.max(1)))
            .set_max_row_group_bytes(Some(limits.group_bytes.max(1)))
            .build();
        let file = File::create(path).map_err(DumpError::io(path))?;
        let writer =
            ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| format(&e))?;
        Ok(ParquetWriter {
            path: path.to_owned(),
            schema,
            columns: nodes,
            writer,
            rows: 0,
            bytes: 0,
            batch_rows: limits.batch_rows.max(1),
            broken: false,
        })
    }

    fn format_error(&self, message: impl Into<String>) -> DumpError {
        DumpError::Format {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    fn check_usable(&self) -> Result<(), DumpError> {
        if self.broken {
            return Err(self.format_error(
                "an earlier failure left the file incomplete; no more rows can be written",
            ));
        }
        Ok(())
    }

    /// Hands the buffered rows to the Parquet writer as one record batch; the writer closes
    /// row groups at their row and byte limits by itself.
    fn write_batch(&mut self) -> Result<(), DumpError> {
        if self.rows == 0 {
            return Ok(());
        }
        // Until the batch is written, the rows are in neither the builders nor the file.
        self.broken = true;
        let arrays = self
            .columns
            .iter_mut()
            .map(|c| c.node.finish())
            .collect::<Result<Vec<_>, ArrowError>>()
            .map_err(|e| self.format_error(e.to_string()))?;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(|e| self.format_error(e.to_string()))?;
        self.writer
            .write(&batch)
            .map_err(|e| self.format_error(e.to_string()))?;
        self.rows = 0;
        self.bytes = 0;
        self.broken = false;
        Ok(())
    }
}

impl FileWriter for ParquetWriter {
    fn write_row(&mut self, row: &[Option<Value>]) -> Result<(), DumpError> {
        self.check_usable()?;
        if row.len() != self.columns.len() {
            return Err(self.format_error(format!(
                "a row of {} fields for {} columns",
                row.len(),
                self.columns.len()
            )));
        }
        // Check the whole row first, so a bad value leaves no part of its row behind.
        for (column, value) in self.columns.iter().zip(row) {
            if let Some(v) = value {
                column.node.check(v).map_err(|m| DumpError::Value {
                    column: column.name.clone(),
                    message: m.message(&column.node.cql_type),
                })?;
            }
        }
        for (column, value) in self.columns.iter_mut().zip(row) {
            if let Err(message) = column.node.append(value.as_ref(), &mut self.bytes) {
                // Unreachable after `check`, short of an offset overflowing; the row is half
                // written, so the file cannot be finished.
                self.broken = true;
                return Err(DumpError::Value {
                    column: column.name.clone(),
                    message,
                });
            }
        }
        self.rows += 1;
        if self.rows >= self.batch_rows || self.bytes >= BATCH_BYTES {
            self.write_batch()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), DumpError> {
        self.check_usable()?;
        self.write_batch()?;
        let ParquetWriter { path, writer, .. } = *self;
        let file = writer.into_inner().map_err(|e| DumpError::Format {
            path: path.clone(),
            message: e.to_string(),
        })?;
        file.sync_all().map_err(DumpError::io(&path))
    }
}

/// The Arrow type of a column (or element, or field) of `cql_type`.
fn data_type(column: &str, cql_type: &CqlType, decimal: Decimal128) -> Result<DataType, DumpError> {
    let element = |t: &CqlType| -> Result<FieldRef, DumpError> {
        Ok(Arc::new(Field::new(
            "item",
            data_type(column, t, decimal)?,
            false,
        )))
    };
    let nullable = |name: String, t: &CqlType| -> Result<Field, DumpError> {
        Ok(Field::new(name, data_type(column, t, decimal)?, true))
    };
    Ok(match cql_type {
        CqlType::Native(NativeType::Decimal) if let Some((p, s)) = decimal => {
            DataType::Decimal128(p, s)
        }
        CqlType::Native(NativeType::Varint) if let Some((p, _)) = decimal => {
            DataType::Decimal128(p, 0)
        }
        CqlType::Native(n) => native_data_type(*n),
        CqlType::List { elem, .. } | CqlType::Set { elem, .. } => DataType::List(element(elem)?),
        CqlType::Map { key, value, .. } => DataType::Map(
            Arc::new(Field::new(
                "entries",
                DataType::Struct(Fields::from(vec![
                    Field::new("key", data_type(column, key, decimal)?, false),
                    Field::new("value", data_type(column, value, decimal)?, false),
                ])),
                false,
            )),
            false,
        ),
        CqlType::Tuple(types) => DataType::Struct(
            types
                .iter()
                .enumerate()
                .map(|(i, t)| nullable(i.to_string(), t))
                .collect::<Result<Fields, _>>()?,
        ),
        CqlType::Udt { def, .. } => DataType::Struct(
            def.fields
                .iter()
                .map(|(name, t)| nullable(name.clone(), t))
                .collect::<Result<Fields, _>>()?,
        ),
        CqlType::Vector { elem, dimension } => {
            let size = i32::try_from(*dimension).map_err(|_| DumpError::Value {
                column: column.to_owned(),
                message: format!("a vector of {dimension} elements is too long for Parquet"),
            })?;
            DataType::FixedSizeList(element(elem)?, size)
        }
        CqlType::Custom(class) => {
            return Err(DumpError::Value {
                column: column.to_owned(),
                message: format!("the custom type '{class}' cannot be written to Parquet"),
            });
        }
    })
}

fn native_data_type(n: NativeType) -> DataType {
    match n {
        NativeType::Ascii
        | NativeType::Text
        | NativeType::Uuid
        | NativeType::Timeuuid
        | NativeType::Inet
        | NativeType::Decimal
        | NativeType::Varint => DataType::Utf8,
        NativeType::Bigint | NativeType::Counter => DataType::Int64,
        NativeType::Int => DataType::Int32,
        NativeType::Smallint => DataType::Int16,
        NativeType::Tinyint => DataType::Int8,
        NativeType::Boolean => DataType::Boolean,
        NativeType::Float => DataType::Float32,
        NativeType::Double => DataType::Float64,
        NativeType::Blob => DataType::Binary,
        NativeType::Date => DataType::Date32,
        NativeType::Time => DataType::Time64(TimeUnit::Nanosecond),
        NativeType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        NativeType::Duration => DataType::Struct(duration_fields()),
    }
}

fn duration_fields() -> Fields {
    Fields::from(vec![
        Field::new("months", DataType::Int32, false),
        Field::new("days", DataType::Int32, false),
        Field::new("nanoseconds", DataType::Int64, false),
    ])
}

/// A decimal or varint as the unscaled integer of `decimal128(precision, scale)`, exactly; an
/// error when it has more fractional digits than `scale` or more digits than `precision`.
fn decimal128(v: &Value, precision: u8, scale: i8) -> Result<i128, String> {
    use num_bigint::BigInt;
    let (unscaled, from) = match v {
        Value::Decimal(d) => (d.unscaled.to_bigint(), d.scale),
        Value::Varint(n) => (n.to_bigint(), 0),
        _ => return Err(format!("{v} is not a decimal")),
    };
    let shift = i64::from(scale) - i64::from(from);
    let ten = |n: i64| BigInt::from(10).pow(n.unsigned_abs() as u32);
    let misfit = || {
        format!(
            "{v} does not fit decimal128({precision}, {scale}) exactly: give --decimal with more \
             precision or scale, or leave it out to write decimals as exact text"
        )
    };
    let scaled = if shift >= 0 {
        if shift > 76 {
            return Err(misfit());
        }
        unscaled * ten(shift)
    } else {
        let divisor = ten(-shift.max(-76));
        if shift < -76 || &unscaled % &divisor != BigInt::from(0) {
            return Err(misfit());
        }
        unscaled / divisor
    };
    let limit = ten(i64::from(precision));
    if scaled >= limit || scaled <= -limit {
        return Err(misfit());
    }
    i128::try_from(scaled).map_err(|_| misfit())
}

/// The builder of one column, or of the elements or fields inside one.
struct Node {
    cql_type: CqlType,
    data_type: DataType,
    kind: Kind,
}

enum Kind {
    /// ascii, text, uuid, timeuuid, inet, decimal, varint.
    Utf8(StringBuilder),
    /// decimal, varint with `--decimal`.
    Decimal128 {
        builder: Decimal128Builder,
        precision: u8,
        scale: i8,
    },
    /// bigint, counter.
    Int64(Int64Builder),
    Int32(Int32Builder),
    Int16(Int16Builder),
    Int8(Int8Builder),
    Boolean(BooleanBuilder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Binary(BinaryBuilder),
    Date32(Date32Builder),
    Time64(Time64NanosecondBuilder),
    Timestamp(TimestampMillisecondBuilder),
    /// Boxed: three builders make it the largest kind by far.
    Duration(Box<DurationBuilder>),
    /// list and set.
    List {
        field: FieldRef,
        validity: NullBufferBuilder,
        offsets: Vec<i32>,
        elem: Box<Node>,
    },
    Map {
        field: FieldRef,
        entry_fields: Fields,
        validity: NullBufferBuilder,
        offsets: Vec<i32>,
        key: Box<Node>,
        value: Box<Node>,
    },
    /// tuple and user-defined type.
    Struct {
        fields: Fields,
        validity: NullBufferBuilder,
        children: Vec<Node>,
    },
    Vector {
        field: FieldRef,
        size: i32,
        validity: NullBufferBuilder,
        elem: Box<Node>,
    },
}

/// Why a value does not fit its column: the (possibly nested) type expected and the value
/// found.
struct Mismatch<'v> {
    expected: CqlType,
    found: &'v Value,
    nested: bool,
    detail: Option<String>,
    /// A value of the right type that the column's Arrow type cannot hold exactly: this says
    /// why (`--decimal`).
    misfit: Option<String>,
}

impl Mismatch<'_> {
    fn message(&self, column_type: &CqlType) -> String {
        if let Some(misfit) = &self.misfit {
            return misfit.clone();
        }
        let mut m = format!(
            "expected {}, found {} value",
            self.expected,
            describe(self.found)
        );
        if self.nested {
            let _ = write!(m, " inside a {column_type}");
        }
        if let Some(detail) = &self.detail {
            let _ = write!(m, " ({detail})");
        }
        m
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Ascii(_) => "an ascii",
        Value::Bigint(_) => "a bigint",
        Value::Blob(_) => "a blob",
        Value::Boolean(_) => "a boolean",
        Value::Counter(_) => "a counter",
        Value::Date(_) => "a date",
        Value::Decimal(_) => "a decimal",
        Value::Double(_) => "a double",
        Value::Duration(_) => "a duration",
        Value::Float(_) => "a float",
        Value::Inet(_) => "an inet",
        Value::Int(_) => "an int",
        Value::Smallint(_) => "a smallint",
        Value::Text(_) => "a text",
        Value::Time(_) => "a time",
        Value::Timestamp(_) => "a timestamp",
        Value::Timeuuid(_) => "a timeuuid",
        Value::Tinyint(_) => "a tinyint",
        Value::Uuid(_) => "a uuid",
        Value::Varint(_) => "a varint",
        Value::List(_) => "a list",
        Value::Set(_) => "a set",
        Value::Map(_) => "a map",
        Value::Tuple(_) => "a tuple",
        Value::Udt(_) => "a user-defined type",
        Value::Vector(_) => "a vector",
    }
}

fn native_of(v: &Value) -> Option<NativeType> {
    Some(match v {
        Value::Ascii(_) => NativeType::Ascii,
        Value::Bigint(_) => NativeType::Bigint,
        Value::Blob(_) => NativeType::Blob,
        Value::Boolean(_) => NativeType::Boolean,
        Value::Counter(_) => NativeType::Counter,
        Value::Date(_) => NativeType::Date,
        Value::Decimal(_) => NativeType::Decimal,
        Value::Double(_) => NativeType::Double,
        Value::Duration(_) => NativeType::Duration,
        Value::Float(_) => NativeType::Float,
        Value::Inet(_) => NativeType::Inet,
        Value::Int(_) => NativeType::Int,
        Value::Smallint(_) => NativeType::Smallint,
        Value::Text(_) => NativeType::Text,
        Value::Time(_) => NativeType::Time,
        Value::Timestamp(_) => NativeType::Timestamp,
        Value::Timeuuid(_) => NativeType::Timeuuid,
        Value::Tinyint(_) => NativeType::Tinyint,
        Value::Uuid(_) => NativeType::Uuid,
        Value::Varint(_) => NativeType::Varint,
        _ => return None,
    })
}

/// Bytes counted against [`BATCH_BYTES`] for each collection element (its offset and more).
const ELEMENT_BYTES: usize = 8;

impl Node {
    /// A builder for values of `cql_type`, sized for `rows` values.
    fn new(
        column: &str,
        cql_type: &CqlType,
        rows: usize,
        decimal: Decimal128,
    ) -> Result<Node, DumpError> {
        let data_type = data_type(column, cql_type, decimal)?;
        let kind = match (cql_type, &data_type) {
            (
                CqlType::Native(NativeType::Decimal | NativeType::Varint),
                DataType::Decimal128(p, s),
            ) => Kind::Decimal128 {
                builder: Decimal128Builder::with_capacity(rows)
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| DumpError::Value {
                        column: column.to_owned(),
                        message: format!("--decimal {p},{s}: {e}"),
                    })?,
                precision: *p,
                scale: *s,
            },
            (CqlType::Native(n), _) => match n {
                NativeType::Ascii
                | NativeType::Text
                | NativeType::Uuid
                | NativeType::Timeuuid
                | NativeType::Inet
                | NativeType::Decimal
                | NativeType::Varint => Kind::Utf8(StringBuilder::with_capacity(rows, rows * 16)),
                NativeType::Bigint | NativeType::Counter => {
                    Kind::Int64(Int64Builder::with_capacity(rows))
                }
                NativeType::Int => Kind::Int32(Int32Builder::with_capacity(rows)),
                NativeType::Smallint => Kind::Int16(Int16Builder::with_capacity(rows)),
                NativeType::Tinyint => Kind::Int8(Int8Builder::with_capacity(rows)),
                NativeType::Boolean => Kind::Boolean(BooleanBuilder::with_capacity(rows)),
                NativeType::Float => Kind::Float32(Float32Builder::with_capacity(rows)),
                NativeType::Double => Kind::Float64(Float64Builder::with_capacity(rows)),
                NativeType::Blob => Kind::Binary(BinaryBuilder::with_capacity(rows, rows * 16)),
                NativeType::Date => Kind::Date32(Date32Builder::with_capacity(rows)),
                NativeType::Time => Kind::Time64(Time64NanosecondBuilder::with_capacity(rows)),
                NativeType::Timestamp => Kind::Timestamp(
                    TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC"),
                ),
                NativeType::Duration => Kind::Duration(Box::new(DurationBuilder {
                    validity: NullBufferBuilder::new(rows),
                    months: Int32Builder::with_capacity(rows),
                    days: Int32Builder::with_capacity(rows),
                    nanos: Int64Builder::with_capacity(rows),
                })),
            },
            (CqlType::List { elem, .. } | CqlType::Set { elem, .. }, DataType::List(field)) => {
                Kind::List {
                    field: field.clone(),
                    validity: NullBufferBuilder::new(rows),
                    offsets: offsets(rows),
                    elem: Box::new(Node::new(column, elem, rows, decimal)?),
                }
            }
            (CqlType::Map { key, value, .. }, DataType::Map(field, _)) => {
                let DataType::Struct(entry_fields) = field.data_type() else {
                    return Err(unexpected(column, &data_type));
                };
                Kind::Map {
                    field: field.clone(),
                    entry_fields: entry_fields.clone(),
                    validity: NullBufferBuilder::new(rows),
                    offsets: offsets(rows),
                    key: Box::new(Node::new(column, key, rows, decimal)?),
                    value: Box::new(Node::new(column, value, rows, decimal)?),
                }
            }
            (CqlType::Tuple(types), DataType::Struct(fields)) => Kind::Struct {
                fields: fields.clone(),
                validity: NullBufferBuilder::new(rows),
                children: types
                    .iter()
                    .map(|t| Node::new(column, t, rows, decimal))
                    .collect::<Result<_, _>>()?,
            },
            (CqlType::Udt { def, .. }, DataType::Struct(fields)) => Kind::Struct {
                fields: fields.clone(),
                validity: NullBufferBuilder::new(rows),
                children: def
                    .fields
                    .iter()
                    .map(|(_, t)| Node::new(column, t, rows, decimal))
                    .collect::<Result<_, _>>()?,
            },
            (CqlType::Vector { elem, dimension }, DataType::FixedSizeList(field, size)) => {
                Kind::Vector {
                    field: field.clone(),
                    size: *size,
                    validity: NullBufferBuilder::new(rows),
                    elem: Box::new(Node::new(
                        column,
                        elem,
                        rows.saturating_mul(*dimension).min(1 << 16),
                        decimal,
                    )?),
                }
            }
            _ => return Err(unexpected(column, &data_type)),
        };
        Ok(Node {
            cql_type: cql_type.clone(),
            data_type,
            kind,
        })
    }

    /// Whether `v` (and everything inside it) fits this node's type.
    fn check<'v>(&self, v: &'v Value) -> Result<(), Mismatch<'v>> {
        let mismatch = |detail: Option<String>| Mismatch {
            expected: self.cql_type.clone(),
            found: v,
            nested: false,
            detail,
            misfit: None,
        };
        let nested = |mut m: Mismatch<'v>| {
            m.nested = true;
            m
        };
        match (&self.cql_type, &self.kind, v) {
            (
                CqlType::Native(n),
                Kind::Decimal128 {
                    precision, scale, ..
                },
                v,
            ) if native_of(v) == Some(*n) => {
                decimal128(v, *precision, *scale)
                    .map(drop)
                    .map_err(|why| Mismatch {
                        misfit: Some(why),
                        ..mismatch(None)
                    })
            }
            (CqlType::Native(n), _, v) if native_of(v) == Some(*n) => Ok(()),
            (CqlType::List { .. }, Kind::List { elem, .. }, Value::List(items))
            | (CqlType::Set { .. }, Kind::List { elem, .. }, Value::Set(items)) => {
                items.iter().try_for_each(|i| elem.check(i).map_err(nested))
            }
            (_, Kind::Map { key, value, .. }, Value::Map(entries)) => {
                entries.iter().try_for_each(|(k, v)| {
                    key.check(k).map_err(nested)?;
                    value.check(v).map_err(nested)
                })
            }
            (CqlType::Tuple(_), Kind::Struct { children, .. }, Value::Tuple(fields))
            | (CqlType::Udt { .. }, Kind::Struct { children, .. }, Value::Udt(fields)) => {
                if fields.len() > children.len() {
                    return Err(mismatch(Some(format!(
                        "{} fields for {}",
                        fields.len(),
                        children.len()
                    ))));
                }
                children
                    .iter()
                    .zip(fields)
                    .filter_map(|(c, f)| Some((c, f.as_ref()?)))
                    .try_for_each(|(c, f)| c.check(f).map_err(nested))
            }
            (
                CqlType::Vector { dimension, .. },
                Kind::Vector { elem, .. },
                Value::Vector(items),
            ) => {
                if items.len() != *dimension {
                    return Err(mismatch(Some(format!("{} elements", items.len()))));
                }
                items.iter().try_for_each(|i| elem.check(i).map_err(nested))
            }
            _ => Err(mismatch(None)),
        }
    }

    /// Appends a value [`Node::check`] accepted, or a null. `bytes` grows by the variable-length
    /// bytes appended. An error (a value `check` would have refused, an offset overflowing)
    /// may leave the value half appended.
    fn append(&mut self, v: Option<&Value>, bytes: &mut usize) -> Result<(), String> {
        let Some(v) = v else {
            self.append_null();
            return Ok(());
        };
        match (&mut self.kind, v) {
            (Kind::Utf8(b), Value::Ascii(s) | Value::Text(s)) => {
                *bytes += s.len();
                b.append_value(s);
            }
            (Kind::Utf8(b), Value::Uuid(u) | Value::Timeuuid(u)) => {
                *bytes += 36;
                let text = uuid_text(u);
                // Only ASCII hex digits and hyphens: always UTF-8.
                let text = std::str::from_utf8(&text).map_err(|e| e.to_string())?;
                b.append_value(text);
            }
            (Kind::Utf8(b), Value::Inet(ip)) => {
                *bytes += 40;
                write!(b, "{ip}").map_err(|e| e.to_string())?;
                b.append_value("");
            }
            (Kind::Utf8(b), Value::Decimal(d)) => {
                *bytes += 2 * d.unscaled.0.len() + 8;
                write!(b, "{d}").map_err(|e| e.to_string())?;
                b.append_value("");
            }
            (Kind::Utf8(b), Value::Varint(n)) => {
                *bytes += 3 * n.0.len();
                match n.to_i128() {
                    Some(i) => write!(b, "{i}"),
                    None => write!(b, "{n}"),
                }
                .map_err(|e| e.to_string())?;
                b.append_value("");
            }
            (
                Kind::Decimal128 {
                    builder,
                    precision,
                    scale,
                },
                Value::Decimal(_) | Value::Varint(_),
            ) => builder.append_value(decimal128(v, *precision, *scale)?),
            (Kind::Int64(b), Value::Bigint(x) | Value::Counter(x)) => b.append_value(*x),
            (Kind::Int32(b), Value::Int(x)) => b.append_value(*x),
            (Kind::Int16(b), Value::Smallint(x)) => b.append_value(*x),
            (Kind::Int8(b), Value::Tinyint(x)) => b.append_value(*x),
            (Kind::Boolean(b), Value::Boolean(x)) => b.append_value(*x),
            (Kind::Float32(b), Value::Float(x)) => b.append_value(*x),
            (Kind::Float64(b), Value::Double(x)) => b.append_value(*x),
            (Kind::Binary(b), Value::Blob(x)) => {
                *bytes += x.len();
                b.append_value(x);
            }
            (Kind::Date32(b), Value::Date(x)) => b.append_value(*x),
            (Kind::Time64(b), Value::Time(x)) => b.append_value(*x),
            (Kind::Timestamp(b), Value::Timestamp(x)) => b.append_value(*x),
            (Kind::Duration(b), Value::Duration(d)) => b.append(Some(d)),
            (
                Kind::List {
                    validity,
                    offsets,
                    elem,
                    ..
                },
                Value::List(items) | Value::Set(items),
            ) => {
                *bytes += ELEMENT_BYTES * items.len();
                push_offset(offsets, items.len())?;
                validity.append_non_null();
                for item in items {
                    elem.append(Some(item), bytes)?;
                }
            }
            (
                Kind::Map {
                    validity,
                    offsets,
                    key,
                    value,
                    ..
                },
                Value::Map(entries),
            ) => {
                *bytes += ELEMENT_BYTES * entries.len();
                push_offset(offsets, entries.len())?;
                validity.append_non_null();
                for (k, v) in entries {
                    key.append(Some(k), bytes)?;
                    value.append(Some(v), bytes)?;
                }
            }
            (
                Kind::Struct {
                    validity, children, ..
                },
                Value::Tuple(fields) | Value::Udt(fields),
            ) => {
                validity.append_non_null();
                let mut fields = fields.iter();
                for child in children {
                    // A value serialized before fields were added ends early: nulls.
                    child.append(fields.next().and_then(Option::as_ref), bytes)?;
                }
            }
            (Kind::Vector { validity, elem, .. }, Value::Vector(items)) => {
                *bytes += ELEMENT_BYTES * items.len();
                validity.append_non_null();
                for item in items {
                    elem.append(Some(item), bytes)?;
                }
            }
            (_, v) => {
                return Err(format!(
                    "expected {}, found {} value",
                    self.cql_type,
                    describe(v)
                ));
            }
        }
        Ok(())
    }

    /// Appends a null, and what the arrays around it need under a null: placeholder fields
    /// in a struct, placeholder elements in a fixed size list.
    fn append_null(&mut self) {
        match &mut self.kind {
            Kind::Utf8(b) => b.append_null(),
            Kind::Decimal128 { builder, .. } => builder.append_null(),
            Kind::Int64(b) => b.append_null(),
            Kind::Int32(b) => b.append_null(),
            Kind::Int16(b) => b.append_null(),
            Kind::Int8(b) => b.append_null(),
            Kind::Boolean(b) => b.append_null(),
            Kind::Float32(b) => b.append_null(),
            Kind::Float64(b) => b.append_null(),
            Kind::Binary(b) => b.append_null(),
            Kind::Date32(b) => b.append_null(),
            Kind::Time64(b) => b.append_null(),
            Kind::Timestamp(b) => b.append_null(),
            Kind::Duration(b) => b.append(None),
            Kind::List {
                validity, offsets, ..
            }
            | Kind::Map {
                validity, offsets, ..
            } => {
                validity.append_null();
                let last = offsets.last().copied().unwrap_or(0);
                offsets.push(last);
            }
            Kind::Struct {
                validity, children, ..
            } => {
                validity.append_null();
                children.iter_mut().for_each(Node::append_null);
            }
            Kind::Vector {
                size,
                validity,
                elem,
                ..
            } => {
                validity.append_null();
                for _ in 0..*size {
                    elem.append_null();
                }
            }
        }
    }

    /// The array of the values appended since the last call; the builders start over empty.
    fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        Ok(match &mut self.kind {
            Kind::Utf8(b) => Arc::new(b.finish()),
            Kind::Decimal128 {
                builder,
                precision,
                scale,
            } => Arc::new(
                builder
                    .finish()
                    .with_precision_and_scale(*precision, *scale)?,
            ),
            Kind::Int64(b) => Arc::new(b.finish()),
            Kind::Int32(b) => Arc::new(b.finish()),
            Kind::Int16(b) => Arc::new(b.finish()),
            Kind::Int8(b) => Arc::new(b.finish()),
            Kind::Boolean(b) => Arc::new(b.finish()),
            Kind::Float32(b) => Arc::new(b.finish()),
            Kind::Float64(b) => Arc::new(b.finish()),
            Kind::Binary(b) => Arc::new(b.finish()),
            Kind::Date32(b) => Arc::new(b.finish()),
            Kind::Time64(b) => Arc::new(b.finish()),
            Kind::Timestamp(b) => Arc::new(b.finish()),
            Kind::Duration(b) => Arc::new(b.finish()?),
            Kind::List {
                field,
                validity,
                offsets,
                elem,
            } => Arc::new(ListArray::try_new(
                field.clone(),
                take_offsets(offsets),
                elem.finish()?,
                validity.finish(),
            )?),
            Kind::Map {
                field,
                entry_fields,
                validity,
                offsets,
                key,
                value,
            } => {
                let entries = StructArray::try_new(
                    entry_fields.clone(),
                    vec![key.finish()?, value.finish()?],
                    None,
                )?;
                Arc::new(MapArray::try_new(
                    field.clone(),
                    take_offsets(offsets),
                    entries,
                    validity.finish(),
                    false,
                )?)
            }
            Kind::Struct {
                fields,
                validity,
                children,
            } => Arc::new(StructArray::try_new(
                fields.clone(),
                children
                    .iter_mut()
                    .map(Node::finish)
                    .collect::<Result<_, _>>()?,
                validity.finish(),
            )?),
            Kind::Vector {
                field,
                size,
                validity,
                elem,
            } => Arc::new(FixedSizeListArray::try_new(
                field.clone(),
                *size,
                elem.finish()?,
                validity.finish(),
            )?),
        })
    }
}

/// A duration's months, days and nanoseconds, as a struct of three non-null fields.
struct DurationBuilder {
    validity: NullBufferBuilder,
    months: Int32Builder,
    days: Int32Builder,
    nanos: Int64Builder,
}

impl DurationBuilder {
    fn append(&mut self, d: Option<&Duration>) {
        self.validity.append(d.is_some());
        // The fields are not nullable: zeros under a null.
        let d = d.copied().unwrap_or(Duration {
            months: 0,
            days: 0,
            nanos: 0,
        });
        self.months.append_value(d.months);
        self.days.append_value(d.days);
        self.nanos.append_value(d.nanos);
    }

    fn finish(&mut self) -> Result<StructArray, ArrowError> {
        StructArray::try_new(
            duration_fields(),
            vec![
                Arc::new(self.months.finish()),
                Arc::new(self.days.finish()),
                Arc::new(self.nanos.finish()),
            ],
            self.validity.finish(),
        )
    }
}

fn unexpected(column: &str, data_type: &DataType) -> DumpError {
    DumpError::Value {
        column: column.to_owned(),
        message: format!("no builder for the Arrow type {data_type}"),
    }
}

/// Offsets for `rows` lists, starting with the first list's start.
fn offsets(rows: usize) -> Vec<i32> {
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0);
    offsets
}

/// Ends a list of `len` elements.
fn push_offset(offsets: &mut Vec<i32>, len: usize) -> Result<(), String> {
    let last = offsets.last().copied().unwrap_or(0);
    let next = i32::try_from(len)
        .ok()
        .and_then(|len| last.checked_add(len))
        .ok_or_else(|| "more collection elements than one Arrow batch can hold".to_owned())?;
    offsets.push(next);
    Ok(())
}

/// The offsets built so far, leaving a fresh start behind.
fn take_offsets(offsets: &mut Vec<i32>) -> OffsetBuffer<i32> {
    let capacity = offsets.capacity();
    let taken = std::mem::replace(offsets, Vec::with_capacity(capacity));
    offsets.push(0);
    // Invariant: they start at 0 and never decrease (`push_offset`, `append_null`), which is
    // all `OffsetBuffer::new` asserts.
    OffsetBuffer::new(ScalarBuffer::from(taken))
}

/// A UUID as lower-case hyphenated text.
fn uuid_text(u: &[u8; 16]) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut at = 0;
    for (i, byte) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        out[at] = HEX[usize::from(byte >> 4)];
        out[at + 1] = HEX[usize::from(byte & 0x0f)];
        at += 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{
        Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
        Time64NanosecondType, TimestampMillisecondType,
    };
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::metadata::ParquetMetaData;

    use super::*;
    use crate::model::types::{UdtDef, parse_type};
    use crate::model::value::{Decimal, Varint};

    fn address() -> Arc<UdtDef> {
        Arc::new(UdtDef {
            keyspace: "ks".into(),
            name: "address".into(),
            fields: vec![
                ("street".into(), CqlType::Native(NativeType::Text)),
                ("zip".into(), CqlType::Native(NativeType::Int)),
            ],
        })
    }

    fn columns(specs: &[(&str, &str)]) -> Vec<DumpColumn> {
        let udts = |name: &str| (name == "address").then(address);
        specs
            .iter()
            .map(|(name, ty)| DumpColumn {
                name: (*name).into(),
                cql_type: parse_type(ty, &udts).unwrap(),
            })
            .collect()
    }

    fn write(path: &Path, columns: &[DumpColumn], rows: &[Vec<Option<Value>>]) {
        let mut w = Box::new(ParquetWriter::create(path, columns, None).unwrap());
        for row in rows {
            w.write_row(row).unwrap();
        }
        w.finish().unwrap();
    }

    fn read(path: &Path) -> (ParquetMetaData, RecordBatch) {
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
        let metadata = builder.metadata().as_ref().clone();
        let schema = builder.schema().clone();
        let batches: Vec<RecordBatch> = builder
            .with_batch_size(1 << 20)
            .build()
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let batch = arrow::compute::concat_batches(&schema, &batches).unwrap();
        (metadata, batch)
    }

    fn uuid(s: &str) -> [u8; 16] {
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        let mut u = [0u8; 16];
        for (i, b) in u.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        u
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    const EVERY_TYPE: &[(&str, &str)] = &[
        ("a_ascii", "ascii"),
        ("a_bigint", "bigint"),
        ("a_blob", "blob"),
        ("a_boolean", "boolean"),
        ("a_counter", "counter"),
        ("a_date", "date"),
        ("a_decimal", "decimal"),
        ("a_double", "double"),
        ("a_duration", "duration"),
        ("a_float", "float"),
        ("a_inet", "inet"),
        ("a_int", "int"),
        ("a_smallint", "smallint"),
        ("a_text", "varchar"),
        ("a_time", "time"),
        ("a_timestamp", "timestamp"),
        ("a_timeuuid", "timeuuid"),
        ("a_tinyint", "tinyint"),
        ("a_uuid", "uuid"),
        ("a_varint", "varint"),
        ("a_list", "list<int>"),
        ("a_set", "set<text>"),
        ("a_map", "map<text, bigint>"),
        (
            "a_nested",
            "frozen<list<frozen<map<int, frozen<set<text>>>>>>",
        ),
        ("a_tuple", "frozen<tuple<int, text, frozen<list<double>>>>"),
        ("a_udt", "address"),
        ("a_frozen_udt", "frozen<address>"),
        ("a_vector", "vector<float, 3>"),
        ("a_text_vector", "vector<text, 2>"),
    ];

    /// Row 0 holds a value in every column, row 1 only nulls, row 2 other values: empty
    /// collections, null fields, negative and huge numbers, an IPv6 address.
    fn every_type_rows() -> Vec<Vec<Option<Value>>> {
        let big = Varint::from_bigint(
            &"123456789012345678901234567890123456789012"
                .parse()
                .unwrap(),
        );
        let row0 = vec![
            Value::Ascii("plain".into()),
            Value::Bigint(-9_000_000_000),
            Value::Blob(vec![0, 1, 0xfe, 0xff]),
            Value::Boolean(true),
            Value::Counter(42),
            Value::Date(20_000),
            Value::Decimal(Decimal {
                unscaled: Varint::from_i128(1250),
                scale: 2,
            }),
            Value::Double(2.5),
            Value::Duration(Duration {
                months: 14,
                days: 3,
                nanos: 5_000_000_001,
            }),
            Value::Float(-1.5),
            Value::Inet("10.0.0.1".parse().unwrap()),
            Value::Int(-7),
            Value::Smallint(300),
            text("héllo"),
            Value::Time(3_600_000_000_001),
            Value::Timestamp(1_700_000_000_123),
            Value::Timeuuid(uuid("d2177dd0-eaa2-11de-a572-001b779c76e3")),
            Value::Tinyint(-8),
            Value::Uuid(uuid("0D3F1A2B-4C5D-4E6F-8091-A2B3C4D5E6F7")),
            Value::Varint(Varint::from_i128(-12345)),
            Value::List(vec![Value::Int(3), Value::Int(1), Value::Int(3)]),
            Value::Set(vec![text("a"), text("b")]),
            Value::Map(vec![
                (text("x"), Value::Bigint(1)),
                (text("y"), Value::Bigint(2)),
            ]),
            Value::List(vec![
                Value::Map(vec![(
                    Value::Int(1),
                    Value::Set(vec![text("p"), text("q")]),
                )]),
                Value::Map(vec![]),
            ]),
            Value::Tuple(vec![
                Some(Value::Int(9)),
                Some(text("nine")),
                Some(Value::List(vec![Value::Double(0.5)])),
            ]),
            Value::Udt(vec![Some(text("Main St")), Some(Value::Int(12345))]),
            Value::Udt(vec![Some(text("Elm St")), Some(Value::Int(54321))]),
            Value::Vector(vec![
                Value::Float(0.25),
                Value::Float(-0.5),
                Value::Float(1.0),
            ]),
            Value::Vector(vec![text("left"), text("right")]),
        ];
        let row2 = vec![
            Value::Ascii(String::new()),
            Value::Bigint(i64::MIN),
            Value::Blob(vec![]),
            Value::Boolean(false),
            Value::Counter(-1),
            Value::Date(-1),
            Value::Decimal(Decimal {
                unscaled: Varint::from_i128(-1),
                scale: 3,
            }),
            Value::Double(f64::INFINITY),
            Value::Duration(Duration {
                months: 0,
                days: -1,
                nanos: -1,
            }),
            Value::Float(0.0),
            Value::Inet(IpAddr::V6("2001:db8::1".parse().unwrap())),
            Value::Int(i32::MAX),
            Value::Smallint(i16::MIN),
            text(""),
            Value::Time(0),
            Value::Timestamp(-1),
            Value::Timeuuid([0; 16]),
            Value::Tinyint(i8::MAX),
            Value::Uuid([0xff; 16]),
            Value::Varint(big),
            Value::List(vec![]),
            Value::Set(vec![]),
            Value::Map(vec![]),
            Value::List(vec![]),
            // A tuple serialized before its last field existed ends early.
            Value::Tuple(vec![None, Some(text("only"))]),
            Value::Udt(vec![None, Some(Value::Int(1))]),
            Value::Udt(vec![Some(text("x")), None]),
            Value::Vector(vec![
                Value::Float(1.0),
                Value::Float(2.0),
                Value::Float(3.0),
            ]),
            Value::Vector(vec![text(""), text("z")]),
        ];
        vec![
            row0.into_iter().map(Some).collect(),
            vec![None; EVERY_TYPE.len()],
            row2.into_iter().map(Some).collect(),
        ]
    }

    #[test]
    fn every_cql_type_reads_back_with_its_arrow_type_and_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("every.parquet");
        let columns = columns(EVERY_TYPE);
        write(&path, &columns, &every_type_rows());
        let (_, batch) = read(&path);
        assert_eq!(batch.num_rows(), 3);

        // The file's schema is the one `arrow_schema` gives, every column nullable.
        let expected = arrow_schema(&columns, None).unwrap();
        assert_eq!(batch.schema().fields(), expected.fields());
        assert!(batch.schema().fields().iter().all(|f| f.is_nullable()));

        let item = |t: DataType| Arc::new(Field::new("item", t, false));
        let types: Vec<DataType> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let address = DataType::Struct(Fields::from(vec![
            Field::new("street", DataType::Utf8, true),
            Field::new("zip", DataType::Int32, true),
        ]));
        let entries = |k: DataType, v: DataType| {
            Arc::new(Field::new(
                "entries",
                DataType::Struct(Fields::from(vec![
                    Field::new("key", k, false),
                    Field::new("value", v, false),
                ])),
                false,
            ))
        };
        assert_eq!(
            types,
            vec![
                DataType::Utf8,
                DataType::Int64,
                DataType::Binary,
                DataType::Boolean,
                DataType::Int64,
                DataType::Date32,
                DataType::Utf8,
                DataType::Float64,
                DataType::Struct(duration_fields()),
                DataType::Float32,
                DataType::Utf8,
                DataType::Int32,
                DataType::Int16,
                DataType::Utf8,
                DataType::Time64(TimeUnit::Nanosecond),
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                DataType::Utf8,
                DataType::Int8,
                DataType::Utf8,
                DataType::Utf8,
                DataType::List(item(DataType::Int32)),
                DataType::List(item(DataType::Utf8)),
                DataType::Map(entries(DataType::Utf8, DataType::Int64), false),
                DataType::List(item(DataType::Map(
                    entries(DataType::Int32, DataType::List(item(DataType::Utf8))),
                    false
                ))),
                DataType::Struct(Fields::from(vec![
                    Field::new("0", DataType::Int32, true),
                    Field::new("1", DataType::Utf8, true),
                    Field::new("2", DataType::List(item(DataType::Float64)), true),
                ])),
                address.clone(),
                address,
                DataType::FixedSizeList(item(DataType::Float32), 3),
                DataType::FixedSizeList(item(DataType::Utf8), 2),
            ]
        );

        // Row 1 is null in every column.
        for (i, c) in batch.columns().iter().enumerate() {
            assert!(c.is_null(1), "column {i}");
            assert!(c.is_valid(0) && c.is_valid(2), "column {i}");
        }

        let col = |name: &str| batch.column_by_name(name).unwrap().clone();
        let strings = |name: &str| -> Vec<String> {
            let c = col(name);
            let a = c.as_string::<i32>();
            [0, 2].iter().map(|&i| a.value(i).to_owned()).collect()
        };
        assert_eq!(strings("a_ascii"), ["plain", ""]);
        assert_eq!(strings("a_text"), ["héllo", ""]);
        assert_eq!(strings("a_decimal"), ["12.50", "-0.001"]);
        assert_eq!(
            strings("a_varint"),
            ["-12345", "123456789012345678901234567890123456789012"]
        );
        assert_eq!(strings("a_inet"), ["10.0.0.1", "2001:db8::1"]);
        assert_eq!(
            strings("a_uuid"),
            [
                "0d3f1a2b-4c5d-4e6f-8091-a2b3c4d5e6f7",
                "ffffffff-ffff-ffff-ffff-ffffffffffff"
            ]
        );
        assert_eq!(
            strings("a_timeuuid"),
            [
                "d2177dd0-eaa2-11de-a572-001b779c76e3",
                "00000000-0000-0000-0000-000000000000"
            ]
        );

        let c = col("a_bigint");
        let a = c.as_primitive::<Int64Type>();
        assert_eq!((a.value(0), a.value(2)), (-9_000_000_000, i64::MIN));
        let c = col("a_counter");
        let a = c.as_primitive::<Int64Type>();
        assert_eq!((a.value(0), a.value(2)), (42, -1));
        let c = col("a_int");
        let a = c.as_primitive::<Int32Type>();
        assert_eq!((a.value(0), a.value(2)), (-7, i32::MAX));
        let c = col("a_smallint");
        let a = c.as_primitive::<Int16Type>();
        assert_eq!((a.value(0), a.value(2)), (300, i16::MIN));
        let c = col("a_tinyint");
        let a = c.as_primitive::<Int8Type>();
        assert_eq!((a.value(0), a.value(2)), (-8, i8::MAX));
        let c = col("a_boolean");
        let a = c.as_boolean();
        assert_eq!((a.value(0), a.value(2)), (true, false));
        let c = col("a_float");
        let a = c.as_primitive::<Float32Type>();
        assert_eq!((a.value(0), a.value(2)), (-1.5, 0.0));
        let c = col("a_double");
        let a = c.as_primitive::<Float64Type>();
        assert_eq!((a.value(0), a.value(2)), (2.5, f64::INFINITY));
        let c = col("a_blob");
        let a = c.as_binary::<i32>();
        assert_eq!((a.value(0), a.value(2)), (&[0, 1, 0xfe, 0xff][..], &[][..]));
        let c = col("a_date");
        let a = c.as_primitive::<Date32Type>();
        assert_eq!((a.value(0), a.value(2)), (20_000, -1));
        let c = col("a_time");
        let a = c.as_primitive::<Time64NanosecondType>();
        assert_eq!((a.value(0), a.value(2)), (3_600_000_000_001, 0));
        let c = col("a_timestamp");
        let a = c.as_primitive::<TimestampMillisecondType>();
        assert_eq!((a.value(0), a.value(2)), (1_700_000_000_123, -1));

        let c = col("a_duration");
        let d = c.as_struct();
        let months = d.column(0).as_primitive::<Int32Type>();
        let days = d.column(1).as_primitive::<Int32Type>();
        let nanos = d.column(2).as_primitive::<Int64Type>();
        assert_eq!(
            (months.value(0), days.value(0), nanos.value(0)),
            (14, 3, 5_000_000_001)
        );
        assert_eq!(
            (months.value(2), days.value(2), nanos.value(2)),
            (0, -1, -1)
        );

        let ints = |a: ArrayRef| a.as_primitive::<Int32Type>().values().to_vec();
        let texts = |a: ArrayRef| -> Vec<String> {
            a.as_string::<i32>()
                .iter()
                .map(|s| s.unwrap().to_owned())
                .collect()
        };
        let c = col("a_list");
        let l = c.as_list::<i32>();
        assert_eq!(ints(l.value(0)), [3, 1, 3]);
        assert_eq!(l.value(2).len(), 0);
        let c = col("a_set");
        let l = c.as_list::<i32>();
        assert_eq!(texts(l.value(0)), ["a", "b"]);
        assert_eq!(l.value(2).len(), 0);

        let c = col("a_map");
        let m = c.as_map();
        let e = m.value(0);
        assert_eq!(texts(e.column(0).clone()), ["x", "y"]);
        assert_eq!(e.column(1).as_primitive::<Int64Type>().values(), &[1, 2]);
        assert_eq!(m.value(2).len(), 0);

        // list<map<int, set<text>>>: [{1: {p, q}}, {}].
        let c = col("a_nested");
        let outer = c.as_list::<i32>();
        let maps = outer.value(0);
        let maps = maps.as_map();
        assert_eq!(maps.len(), 2);
        let first = maps.value(0);
        assert_eq!(ints(first.column(0).clone()), [1]);
        let sets = first.column(1).as_list::<i32>();
        assert_eq!(texts(sets.value(0)), ["p", "q"]);
        assert_eq!(maps.value(1).len(), 0);
        assert_eq!(outer.value(2).len(), 0);

        let c = col("a_tuple");
        let t = c.as_struct();
        assert_eq!(t.column(0).as_primitive::<Int32Type>().value(0), 9);
        assert_eq!(t.column(1).as_string::<i32>().value(0), "nine");
        let l = t.column(2).as_list::<i32>();
        assert_eq!(l.value(0).as_primitive::<Float64Type>().values(), &[0.5]);
        // (null, 'only'), its third field missing: nulls.
        assert!(t.column(0).is_null(2));
        assert_eq!(t.column(1).as_string::<i32>().value(2), "only");
        assert!(t.column(2).is_null(2));

        for (name, street, zip) in [
            ("a_udt", ["Main St", ""], [12345, 1]),
            ("a_frozen_udt", ["Elm St", "x"], [54321, 0]),
        ] {
            let c = col(name);
            let u = c.as_struct();
            let streets = u.column_by_name("street").unwrap().as_string::<i32>();
            let zips = u.column_by_name("zip").unwrap().as_primitive::<Int32Type>();
            assert_eq!(streets.value(0), street[0]);
            assert_eq!(zips.value(0), zip[0]);
            if name == "a_udt" {
                assert!(streets.is_null(2));
                assert_eq!(zips.value(2), zip[1]);
            } else {
                assert_eq!(streets.value(2), street[1]);
                assert!(zips.is_null(2));
            }
        }

        let c = col("a_vector");
        let v = c.as_fixed_size_list();
        assert_eq!(
            v.value(0).as_primitive::<Float32Type>().values(),
            &[0.25, -0.5, 1.0]
        );
        assert_eq!(
            v.value(2).as_primitive::<Float32Type>().values(),
            &[1.0, 2.0, 3.0]
        );
        let c = col("a_text_vector");
        let v = c.as_fixed_size_list();
        assert_eq!(texts(v.value(0)), ["left", "right"]);
        assert_eq!(texts(v.value(2)), ["", "z"]);
    }

    #[test]
    fn timestamps_are_milliseconds_in_utc() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ts.parquet");
        let columns = columns(&[("ts", "timestamp")]);
        write(
            &path,
            &columns,
            &[vec![Some(Value::Timestamp(1_700_000_000_123))]],
        );
        let (metadata, batch) = read(&path);
        assert_eq!(
            batch.schema().field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
        let ts = batch.column(0).as_primitive::<TimestampMillisecondType>();
        assert_eq!(ts.value(0), 1_700_000_000_123);
        assert_eq!(
            ts.value_as_datetime(0).unwrap().to_string(),
            "2023-11-14 22:13:20.123"
        );
        // Parquet's own type says UTC too, for readers that ignore the Arrow schema.
        let column = metadata.file_metadata().schema_descr().column(0);
        let logical = format!("{:?}", column.logical_type_ref());
        assert!(
            logical.contains("is_adjusted_to_u_t_c: true") && logical.contains("MILLIS"),
            "{logical}"
        );
    }

    #[test]
    fn columns_are_zstd_compressed_with_statistics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.parquet");
        let columns = columns(&[("n", "int")]);
        let rows: Vec<_> = (0..100).map(|i| vec![Some(Value::Int(i))]).collect();
        write(&path, &columns, &rows);
        let (metadata, _) = read(&path);
        let chunk = metadata.row_group(0).column(0);
        // The level is not recorded in the file, only the codec.
        assert!(matches!(chunk.compression(), Compression::ZSTD(_)));
        let stats = chunk.statistics().unwrap();
        assert_eq!(stats.min_bytes_opt(), Some(&0i32.to_le_bytes()[..]));
        assert_eq!(stats.max_bytes_opt(), Some(&99i32.to_le_bytes()[..]));
    }

    #[test]
    fn three_million_rows_make_three_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.parquet");
        let columns = columns(&[("n", "tinyint")]);
        let mut w = Box::new(ParquetWriter::create(&path, &columns, None).unwrap());
        let mut row = vec![None];
        for i in 0..3_000_000u32 {
            row[0] = Some(Value::Tinyint((i % 100) as i8));
            w.write_row(&row).unwrap();
        }
        w.finish().unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        let groups: Vec<i64> = builder
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert_eq!(groups, [1 << 20, 1 << 20, 3_000_000 - (2 << 20)]);
    }

    #[test]
    fn row_groups_close_at_the_row_limit_even_inside_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("groups.parquet");
        let columns = columns(&[("n", "int")]);
        let limits = Limits {
            batch_rows: 8,
            group_rows: 10,
            group_bytes: ROW_GROUP_BYTES,
        };
        let mut w = Box::new(ParquetWriter::with_limits(&path, &columns, limits, None).unwrap());
        for i in 0..25 {
            w.write_row(&[Some(Value::Int(i))]).unwrap();
        }
        w.finish().unwrap();
        let (metadata, batch) = read(&path);
        let groups: Vec<i64> = metadata.row_groups().iter().map(|g| g.num_rows()).collect();
        assert_eq!(groups, [10, 10, 5]);
        let n = batch.column(0).as_primitive::<Int32Type>();
        assert_eq!(n.values().to_vec(), (0..25).collect::<Vec<_>>());
    }

    #[test]
    fn row_groups_close_at_the_byte_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bytes.parquet");
        let columns = columns(&[("s", "text")]);
        let limits = Limits {
            batch_rows: 100,
            group_rows: ROW_GROUP_ROWS,
            group_bytes: 64 << 10,
        };
        let mut w = Box::new(ParquetWriter::with_limits(&path, &columns, limits, None).unwrap());
        // 1000 rows of 1 KiB that do not compress away: about 1 MiB in all.
        let mut state = 1u64;
        for _ in 0..1000 {
            let s: String = (0..1024)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    char::from(b'a' + (state >> 59) as u8 % 26)
                })
                .collect();
            w.write_row(&[Some(Value::Text(s))]).unwrap();
        }
        w.finish().unwrap();
        let (metadata, batch) = read(&path);
        assert_eq!(batch.num_rows(), 1000);
        assert!(
            metadata.num_row_groups() >= 8,
            "{}",
            metadata.num_row_groups()
        );
        assert!(
            metadata.row_groups().iter().all(|g| g.num_rows() <= 100),
            "a row group holds more than 100 KiB"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_column_and_leaves_the_file_good() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.parquet");
        let columns = columns(&[
            ("id", "int"),
            ("tags", "list<int>"),
            ("v", "vector<float, 2>"),
        ]);
        let mut w = Box::new(ParquetWriter::create(&path, &columns, None).unwrap());
        let good = |i| {
            vec![
                Some(Value::Int(i)),
                Some(Value::List(vec![Value::Int(i)])),
                Some(Value::Vector(vec![Value::Float(1.0), Value::Float(2.0)])),
            ]
        };
        w.write_row(&good(1)).unwrap();

        let mut bad = good(2);
        bad[1] = Some(Value::List(vec![Value::Int(2), text("two")]));
        match w.write_row(&bad) {
            Err(DumpError::Value { column, message }) => {
                assert_eq!(column, "tags");
                assert_eq!(
                    message,
                    "expected int, found a text value inside a list<int>"
                );
            }
            other => panic!("{other:?}"),
        }
        let mut bad = good(3);
        bad[0] = Some(Value::Bigint(3));
        match w.write_row(&bad) {
            Err(DumpError::Value { column, message }) => {
                assert_eq!(column, "id");
                assert_eq!(message, "expected int, found a bigint value");
            }
            other => panic!("{other:?}"),
        }
        let mut bad = good(4);
        bad[2] = Some(Value::Vector(vec![Value::Float(1.0)]));
        match w.write_row(&bad) {
            Err(DumpError::Value { column, message }) => {
                assert_eq!(column, "v");
                assert_eq!(
                    message,
                    "expected vector<float, 2>, found a vector value (1 elements)"
                );
            }
            other => panic!("{other:?}"),
        }

        // The refused rows left nothing behind.
        w.write_row(&good(5)).unwrap();
        w.finish().unwrap();
        let (_, batch) = read(&path);
        let ids = batch.column(0).as_primitive::<Int32Type>();
        assert_eq!(ids.values().to_vec(), [1, 5]);
    }

    #[test]
    fn custom_types_are_refused_naming_the_column() {
        let columns = vec![DumpColumn {
            name: "odd".into(),
            cql_type: CqlType::Custom("org.example.Odd".into()),
        }];
        match arrow_schema(&columns, None) {
            Err(DumpError::Value { column, message }) => {
                assert_eq!(column, "odd");
                assert!(message.contains("org.example.Odd"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd.parquet");
        assert!(matches!(
            ParquetWriter::create(&path, &columns, None),
            Err(DumpError::Value { .. })
        ));
    }

    #[test]
    fn a_row_of_the_wrong_width_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("width.parquet");
        let mut w =
            ParquetWriter::create(&path, &columns(&[("a", "int"), ("b", "int")]), None).unwrap();
        assert!(matches!(
            w.write_row(&[Some(Value::Int(1))]),
            Err(DumpError::Format { .. })
        ));
    }

    #[test]
    fn a_dump_without_rows_is_a_file_with_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.parquet");
        let columns = columns(EVERY_TYPE);
        write(&path, &columns, &[]);
        let (metadata, batch) = read(&path);
        assert_eq!(metadata.num_row_groups(), 0);
        assert_eq!(batch.num_rows(), 0);
        assert_eq!(
            batch.schema().fields(),
            arrow_schema(&columns, None).unwrap().fields()
        );
    }

    #[test]
    fn a_missing_folder_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/folder/x.parquet");
        assert!(matches!(
            ParquetWriter::create(&path, &columns(&[("a", "int")]), None),
            Err(DumpError::Io { .. })
        ));
    }

    #[test]
    fn many_batches_of_nested_values_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested.parquet");
        let columns = columns(&[
            ("m", "map<int, frozen<list<text>>>"),
            ("v", "vector<frozen<address>, 2>"),
        ]);
        let limits = Limits {
            batch_rows: 7,
            ..Limits::default()
        };
        let mut w = Box::new(ParquetWriter::with_limits(&path, &columns, limits, None).unwrap());
        let udt = |i: i32| Value::Udt(vec![Some(text(&i.to_string())), Some(Value::Int(i))]);
        for i in 0..50 {
            let m = (i % 3 != 0).then(|| {
                Value::Map(vec![(
                    Value::Int(i),
                    Value::List(vec![text(&format!("t{i}"))]),
                )])
            });
            let v = (i % 4 != 0).then(|| Value::Vector(vec![udt(i), udt(-i)]));
            w.write_row(&[m, v]).unwrap();
        }
        w.finish().unwrap();
        let (_, batch) = read(&path);
        assert_eq!(batch.num_rows(), 50);
        let m = batch.column(0).as_map();
        let v = batch.column(1).as_fixed_size_list();
        for i in 0..50usize {
            assert_eq!(m.is_valid(i), i % 3 != 0, "row {i}");
            if m.is_valid(i) {
                let e = m.value(i);
                assert_eq!(e.column(0).as_primitive::<Int32Type>().value(0), i as i32);
                let l = e.column(1).as_list::<i32>().value(0);
                assert_eq!(l.as_string::<i32>().value(0), format!("t{i}"));
            }
            assert_eq!(v.is_valid(i), i % 4 != 0, "row {i}");
            if v.is_valid(i) {
                let pair = v.value(i);
                let zips = pair.as_struct().column(1).as_primitive::<Int32Type>();
                assert_eq!(zips.values().to_vec(), [i as i32, -(i as i32)]);
            }
        }
    }

    #[test]
    fn decimals_rescale_exactly_into_decimal128_or_are_refused() {
        let dec = |unscaled: i128, scale: i32| {
            Value::Decimal(Decimal {
                unscaled: Varint::from_i128(unscaled),
                scale,
            })
        };
        assert_eq!(decimal128(&dec(1250, 2), 10, 3), Ok(12500));
        assert_eq!(decimal128(&dec(-1, 3), 10, 3), Ok(-1));
        assert_eq!(decimal128(&dec(5, -3), 38, 0), Ok(5000));
        assert_eq!(decimal128(&dec(12300, 3), 10, 1), Ok(123));
        assert_eq!(
            decimal128(&Value::Varint(Varint::from_i128(-12345)), 38, 0),
            Ok(-12345)
        );
        // A fractional digit too many, a digit too many for the precision.
        let refused = decimal128(&dec(-1, 3), 10, 2).unwrap_err();
        assert!(
            refused.contains("does not fit decimal128(10, 2)"),
            "{refused}"
        );
        assert!(decimal128(&dec(100_000, 0), 5, 0).is_err());
        assert_eq!(decimal128(&dec(99_999, 0), 5, 0), Ok(99_999));
        let huge = Varint::from_bigint(&"1".repeat(40).parse().unwrap());
        assert!(decimal128(&Value::Varint(huge), 38, 0).is_err());
    }

    #[test]
    fn with_decimal_a_dump_has_decimal128_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.parquet");
        let columns = columns(&[("d", "decimal"), ("v", "varint"), ("l", "list<decimal>")]);
        let mut w = ParquetWriter::create(&path, &columns, Some((12, 2))).unwrap();
        let dec = |unscaled: i128, scale: i32| {
            Value::Decimal(Decimal {
                unscaled: Varint::from_i128(unscaled),
                scale,
            })
        };
        w.write_row(&[
            Some(dec(1250, 3)),
            Some(Value::Varint(Varint::from_i128(7))),
            Some(Value::List(vec![dec(1, 0), dec(-25, 1)])),
        ])
        .unwrap();
        w.write_row(&[None, None, None]).unwrap();
        // 0.001 has a fractional digit more than the scale: refused, naming the value, before
        // any of its row is written.
        let refused = w
            .write_row(&[Some(dec(5, 0)), None, Some(Value::List(vec![dec(1, 3)]))])
            .unwrap_err();
        assert!(
            refused.to_string().contains("0.001 does not fit"),
            "{refused}"
        );
        Box::new(w).finish().unwrap();
        let (_, batch) = read(&path);
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(
            batch.schema().field(0).data_type(),
            &DataType::Decimal128(12, 2)
        );
        assert_eq!(
            batch.schema().field(1).data_type(),
            &DataType::Decimal128(12, 0)
        );
        let d = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Decimal128Array>()
            .unwrap();
        assert_eq!(d.value_as_string(0), "1.25");
        let v = batch
            .column(1)
            .as_any()
            .downcast_ref::<arrow::array::Decimal128Array>()
            .unwrap();
        assert_eq!(v.value(0), 7);
    }
}

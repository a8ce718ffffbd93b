//! The Parquet files no one here wrote: every `.parquet` file of apache/parquet-testing's `data/`
//! and `bad_data/` folders (checked into `fixtures/parquet-testing/`, Apache License 2.0), loaded
//! into a table made for it on the real node. arrow-rs is the referee:
//!
//! - a file arrow-rs reads loads, and the table then holds exactly what arrow-rs read (each value
//!   serialized as Cassandra stores it, worked out here from the Arrow arrays alone; INT96
//!   timestamps read in microseconds, as Spark and cassbulk read them); rows with a
//!   null inside a collection are rejected, with a reason, and counted;
//! - a file arrow-rs cannot read is refused: exit 3, the file named (damaged in which row
//!   group, or not readable at all: its footer), nothing written; page checksums are verified;
//! - a file that has no column unique enough to key a table on still loads whole: every row is
//!   read (the footer's row count is not trusted over the row groups'), every key arrives.
//!
//! A few files arrow-rs reads are refused on purpose; `REFUSED` lists them with the reason the
//! user is given.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, SchemaRef, TimeUnit, UInt64Type,
};

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::common::{self, cassbulk};

/// Files arrow-rs reads that cassbulk refuses, and a part of the reason it gives.
const REFUSED: &[(&str, &str)] = &[(
    // Footer num_rows 0, one row group of 6 rows (parquet-rs 0.3.0): arrow-rs reads no rows,
    // pyarrow reads 6. Refused rather than loaded as whichever reader it happens to be.
    "data/repeated_no_annotation.parquet",
    "its footer counts 0 rows but its row groups hold 6",
)];

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/parquet-testing");
    let mut files = Vec::new();
    for folder in ["data", "bad_data"] {
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "parquet") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// How a CQL value is serialized, chosen per Arrow type.
#[derive(Clone, Debug)]
enum Shape {
    Bool,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Varint,
    Float,
    Double,
    Text,
    Blob,
    Timestamp,
    Date,
    Time,
    Decimal(i8),
    List(Box<Shape>),
    Map(Box<Shape>, Box<Shape>),
    Udt(Vec<(String, Shape)>),
    Null,
}

impl Shape {
    fn is_scalar(&self) -> bool {
        !matches!(
            self,
            Shape::List(_) | Shape::Map(..) | Shape::Udt(_) | Shape::Null
        )
    }
}

/// The CQL type a column of this Arrow type gets (frozen inside collections and for UDTs), and
/// how its values serialize; `None` for types the test leaves out of the table.
fn shape(dt: &DataType, types: &mut Vec<String>, prefix: &str) -> Option<(String, Shape)> {
    use DataType as D;
    let native = |cql: &str, s: Shape| Some((cql.to_owned(), s));
    match dt {
        D::Boolean => native("boolean", Shape::Bool),
        D::Int8 => native("tinyint", Shape::TinyInt),
        D::Int16 | D::UInt8 => native("smallint", Shape::SmallInt),
        D::Int32 | D::UInt16 => native("int", Shape::Int),
        D::Int64 | D::UInt32 => native("bigint", Shape::BigInt),
        D::UInt64 => native("varint", Shape::Varint),
        D::Float16 | D::Float32 => native("float", Shape::Float),
        D::Float64 => native("double", Shape::Double),
        D::Utf8 | D::LargeUtf8 | D::Utf8View => native("text", Shape::Text),
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => {
            native("blob", Shape::Blob)
        }
        D::Timestamp(..) => native("timestamp", Shape::Timestamp),
        D::Date32 | D::Date64 => native("date", Shape::Date),
        D::Time32(_) | D::Time64(_) => native("time", Shape::Time),
        D::Decimal32(_, s) | D::Decimal64(_, s) | D::Decimal128(_, s) => {
            native("decimal", Shape::Decimal(*s))
        }
        D::Dictionary(_, values) => shape(values, types, prefix),
        D::Null => native("text", Shape::Null),
        D::List(f) | D::LargeList(f) | D::FixedSizeList(f, _) => {
            let (cql, s) = shape(f.data_type(), types, prefix)?;
            Some((
                format!("list<{}>", frozen(&cql, &s)),
                Shape::List(Box::new(s)),
            ))
        }
        D::Map(entries, _) => {
            let D::Struct(kv) = entries.data_type() else {
                return None;
            };
            let (kc, ks_) = shape(kv[0].data_type(), types, prefix)?;
            let (vc, vs) = shape(kv[1].data_type(), types, prefix)?;
            Some((
                format!("map<{}, {}>", frozen(&kc, &ks_), frozen(&vc, &vs)),
                Shape::Map(Box::new(ks_), Box::new(vs)),
            ))
        }
        D::Struct(fields) => {
            let mut defs = Vec::new();
            let mut shapes = Vec::new();
            for f in fields {
                let (cql, s) = shape(f.data_type(), types, prefix)?;
                defs.push(format!("\"{}\" {}", f.name(), frozen(&cql, &s)));
                shapes.push((f.name().clone(), s));
            }
            // `prefix` is `KEYSPACE.TABLE`: the type is `TABLE_tN` in the table's keyspace.
            let name = format!("{}_t{}", prefix.split('.').nth(1).unwrap(), types.len());
            let ks = prefix.split('.').next().unwrap();
            types.push(format!("CREATE TYPE {ks}.{name} ({})", defs.join(", ")));
            Some((format!("frozen<{name}>"), Shape::Udt(shapes)))
        }
        _ => None,
    }
}

fn frozen(cql: &str, s: &Shape) -> String {
    match s {
        Shape::List(_) | Shape::Map(..) => format!("frozen<{cql}>"),
        _ => cql.to_owned(),
    }
}

/// Why a row is not loaded: a null inside a collection.
struct Rejected;

/// Row `i` of `array` serialized as Cassandra stores it (`None`: null); `top` is whether the
/// value is a column's own (an empty non-frozen collection is then no value at all).
fn serialize(
    array: &ArrayRef,
    i: usize,
    s: &Shape,
    top: bool,
) -> Result<Option<Vec<u8>>, Rejected> {
    let array = match array.data_type() {
        DataType::Dictionary(_, values) => arrow::compute::cast(array, values).unwrap(),
        _ => array.clone(),
    };
    if array.is_null(i) || matches!(s, Shape::Null) {
        return Ok(None);
    }
    let cast = |to: &DataType| arrow::compute::cast(&array.slice(i, 1), to).unwrap();
    let bytes = match s {
        Shape::Bool => vec![array.as_boolean().value(i) as u8],
        Shape::TinyInt => cast(&DataType::Int8)
            .as_primitive::<Int8Type>()
            .value(0)
            .to_be_bytes()
            .to_vec(),
        Shape::SmallInt => cast(&DataType::Int16)
            .as_primitive::<Int16Type>()
            .value(0)
            .to_be_bytes()
            .to_vec(),
        Shape::Int => cast(&DataType::Int32)
            .as_primitive::<Int32Type>()
            .value(0)
            .to_be_bytes()
            .to_vec(),
        Shape::BigInt => cast(&DataType::Int64)
            .as_primitive::<Int64Type>()
            .value(0)
            .to_be_bytes()
            .to_vec(),
        Shape::Varint => {
            let v = cast(&DataType::UInt64)
                .as_primitive::<UInt64Type>()
                .value(0);
            minimal_twos_complement(v as i128)
        }
        Shape::Float => cast(&DataType::Float32)
            .as_primitive::<Float32Type>()
            .value(0)
            .to_be_bytes()
            .to_vec(),
        Shape::Double => cast(&DataType::Float64)
            .as_primitive::<Float64Type>()
            .value(0)
            .to_be_bytes()
            .to_vec(),
        Shape::Text => cast(&DataType::Utf8)
            .as_string::<i32>()
            .value(0)
            .as_bytes()
            .to_vec(),
        Shape::Blob => match array.data_type() {
            DataType::FixedSizeBinary(_) => array.as_fixed_size_binary().value(i).to_vec(),
            _ => cast(&DataType::Binary).as_binary::<i32>().value(0).to_vec(),
        },
        Shape::Timestamp => {
            let DataType::Timestamp(unit, _) = array.data_type() else {
                unreachable!()
            };
            let raw = cast(&DataType::Int64).as_primitive::<Int64Type>().value(0);
            let per_ms = match unit {
                TimeUnit::Second => return Ok(Some((raw * 1000).to_be_bytes().to_vec())),
                TimeUnit::Millisecond => 1,
                TimeUnit::Microsecond => 1_000,
                TimeUnit::Nanosecond => 1_000_000,
            };
            raw.div_euclid(per_ms).to_be_bytes().to_vec()
        }
        Shape::Date => {
            let days = cast(&DataType::Date32)
                .as_primitive::<Date32Type>()
                .value(0);
            ((days as i64 + (1 << 31)) as u32).to_be_bytes().to_vec()
        }
        Shape::Time => {
            let nanos = cast(&DataType::Time64(TimeUnit::Nanosecond));
            let raw = arrow::compute::cast(&nanos, &DataType::Int64).unwrap();
            raw.as_primitive::<Int64Type>()
                .value(0)
                .to_be_bytes()
                .to_vec()
        }
        Shape::Decimal(scale) => {
            let v = cast(&DataType::Decimal128(38, *scale))
                .as_primitive::<Decimal128Type>()
                .value(0);
            let mut out = (*scale as i32).to_be_bytes().to_vec();
            out.extend(minimal_twos_complement(v));
            out
        }
        Shape::List(inner) => {
            let values = match array.data_type() {
                DataType::List(_) => array.as_list::<i32>().value(i),
                DataType::LargeList(_) => array.as_list::<i64>().value(i),
                DataType::FixedSizeList(..) => array.as_fixed_size_list().value(i),
                other => panic!("{other} is not a list"),
            };
            if values.is_empty() && top {
                return Ok(None);
            }
            let mut items = Vec::new();
            for j in 0..values.len() {
                items.push(serialize(&values, j, inner, false)?.ok_or(Rejected)?);
            }
            framed(items.len(), items.iter())
        }
        Shape::Map(k, v) => {
            let entries = array.as_map().value(i);
            if entries.len() == 0 && top {
                return Ok(None);
            }
            let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for j in 0..entries.len() {
                let key = serialize(entries.column(0), j, k, false)?.ok_or(Rejected)?;
                let value = serialize(entries.column(1), j, v, false)?.ok_or(Rejected)?;
                // A later duplicate key wins.
                pairs.retain(|(old, _)| *old != key);
                pairs.push((key, value));
            }
            pairs.sort_by(|a, b| compare(k, &a.0, &b.0));
            framed(pairs.len(), pairs.iter().flat_map(|(k, v)| [k, v]))
        }
        Shape::Udt(fields) => {
            let record = array.as_struct();
            let mut out = Vec::new();
            for (n, (_, f)) in fields.iter().enumerate() {
                match serialize(record.column(n), i, f, false)? {
                    Some(v) => {
                        out.extend((v.len() as i32).to_be_bytes());
                        out.extend(v);
                    }
                    None => out.extend((-1i32).to_be_bytes()),
                }
            }
            out
        }
        Shape::Null => unreachable!(),
    };
    Ok(Some(bytes))
}

fn framed<'a>(count: usize, items: impl Iterator<Item = &'a Vec<u8>>) -> Vec<u8> {
    let mut out = (count as i32).to_be_bytes().to_vec();
    for item in items {
        out.extend((item.len() as i32).to_be_bytes());
        out.extend(item);
    }
    out
}

/// The shortest big-endian two's complement bytes of `v` (how Java writes a BigInteger).
fn minimal_twos_complement(v: i128) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    bytes[start..].to_vec()
}

/// Cassandra's order of two serialized map keys of this shape.
fn compare(s: &Shape, a: &[u8], b: &[u8]) -> Ordering {
    let signed = |x: &[u8]| {
        let mut v: i128 = if x.first().is_some_and(|b| b & 0x80 != 0) {
            -1
        } else {
            0
        };
        for byte in x {
            v = (v << 8) | *byte as i128;
        }
        v
    };
    match s {
        Shape::TinyInt
        | Shape::SmallInt
        | Shape::Int
        | Shape::BigInt
        | Shape::Varint
        | Shape::Timestamp
        | Shape::Time => signed(a).cmp(&signed(b)),
        Shape::Float => f32::from_be_bytes(a.try_into().unwrap())
            .total_cmp(&f32::from_be_bytes(b.try_into().unwrap())),
        Shape::Double => f64::from_be_bytes(a.try_into().unwrap())
            .total_cmp(&f64::from_be_bytes(b.try_into().unwrap())),
        _ => a.cmp(b),
    }
}

/// What arrow-rs makes of a file: its schema (`None` when even the footer is unreadable) and
/// its rows (or the error that stopped it).
fn read_with_arrow(path: &Path) -> (Option<SchemaRef>, Result<Vec<RecordBatch>, String>) {
    let file = std::fs::File::open(path).unwrap();
    let builder = match ParquetRecordBatchReaderBuilder::try_new(file) {
        Ok(b) => b,
        Err(e) => return (None, Err(e.to_string())),
    };
    // INT96 timestamps as Spark reads them, in microseconds (arrow-rs's default nanoseconds
    // wrap outside 1677..2262); top-level ones, which is where the corpus has them.
    let roots = builder.parquet_schema().root_schema().get_fields().to_vec();
    let int96 = |i: usize| {
        roots[i].is_primitive() && roots[i].get_physical_type() == parquet::basic::Type::INT96
    };
    let builder = if (0..roots.len()).any(int96) {
        let fields: Vec<arrow::datatypes::FieldRef> = builder
            .schema()
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| match f.data_type() {
                arrow::datatypes::DataType::Timestamp(_, zone) if int96(i) => {
                    Arc::new(f.as_ref().clone().with_data_type(
                        arrow::datatypes::DataType::Timestamp(
                            arrow::datatypes::TimeUnit::Microsecond,
                            zone.clone(),
                        ),
                    ))
                }
                _ => f.clone(),
            })
            .collect();
        let hint = Arc::new(arrow::datatypes::Schema::new(fields));
        let options = parquet::arrow::arrow_reader::ArrowReaderOptions::new().with_schema(hint);
        match ParquetRecordBatchReaderBuilder::try_new_with_options(
            std::fs::File::open(path).unwrap(),
            options,
        ) {
            Ok(b) => b,
            Err(e) => return (None, Err(e.to_string())),
        }
    } else {
        builder
    };
    let schema = builder.schema().clone();
    let rows = builder
        .build()
        .map_err(|e| e.to_string())
        .and_then(|r| r.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string()));
    (Some(schema), rows)
}

/// A file's table: columns (name, CQL type, shape), the `CREATE TYPE`s they need.
struct Table {
    columns: Vec<(String, String, Shape)>,
    from: Vec<usize>,
    types: Vec<String>,
}

fn table_for(schema: &SchemaRef, table: &str) -> Table {
    let mut types = Vec::new();
    let mut columns = Vec::new();
    let mut from = Vec::new();
    for (n, field) in schema.fields().iter().enumerate() {
        if let Some((cql, s)) = shape(field.data_type(), &mut types, table) {
            columns.push((field.name().clone(), cql, s));
            from.push(n);
        }
    }
    Table {
        columns,
        from,
        types,
    }
}

/// The key column: the first scalar column that is unique and never null in arrow-rs's read
/// (`true`), else the first scalar column, else the first column (frozen).
fn choose_key(t: &Table, batches: Option<&[RecordBatch]>) -> (usize, bool) {
    let scalar: Vec<usize> = (0..t.columns.len())
        .filter(|&c| t.columns[c].2.is_scalar())
        .collect();
    let unique = |c: usize| {
        let Some(batches) = batches else { return false };
        let mut keys = BTreeSet::new();
        for batch in batches {
            for i in 0..batch.num_rows() {
                let Ok(Some(v)) = serialize(batch.column(t.from[c]), i, &t.columns[c].2, true)
                else {
                    return false;
                };
                if !keys.insert(v) {
                    return false;
                }
            }
        }
        true
    };
    match scalar.iter().find(|&&c| unique(c)) {
        Some(&c) => (c, true),
        None => (*scalar.first().unwrap_or(&0), false),
    }
}

/// The rows the table should hold (a row with a null inside a collection, or a null key, is
/// rejected), how many are rejected and how many were read.
fn expected_rows(
    t: &Table,
    key: usize,
    batches: &[RecordBatch],
) -> (Vec<Vec<Option<Vec<u8>>>>, usize, usize) {
    let mut rows = Vec::new();
    let (mut rejected, mut read) = (0, 0);
    for batch in batches {
        for i in 0..batch.num_rows() {
            read += 1;
            // A key is a whole value: an empty collection is one, not a null.
            let row: Result<Vec<_>, _> = (0..t.columns.len())
                .map(|c| serialize(batch.column(t.from[c]), i, &t.columns[c].2, c != key))
                .collect();
            match row {
                Ok(row) if row[key].is_some() => rows.push(row),
                _ => rejected += 1,
            }
        }
    }
    (rows, rejected, read)
}

#[tokio::test]
async fn every_file_of_the_parquet_testing_corpus_loads_as_arrow_rs_reads_it_or_is_refused() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "corpus").await;
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/parquet-testing");
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (n, path) in corpus().into_iter().enumerate() {
        let name = path.strip_prefix(&root).unwrap().display().to_string();
        let file_name = path.file_name().unwrap().to_str().unwrap();
        let table = format!("{ks}.f{n}");
        let (schema, batches) = read_with_arrow(&path);
        // The table: the file's columns as arrow-rs types them (all text when the footer itself
        // is unreadable: the load must stop at the file, not at a column).
        let t = match &schema {
            Some(schema) => table_for(schema, &table),
            None => Table {
                columns: parquet_columns(&path)
                    .into_iter()
                    .map(|c| (c, "text".to_owned(), Shape::Text))
                    .collect(),
                from: vec![],
                types: vec![],
            },
        };
        let (key, unique_key) = choose_key(&t, batches.as_deref().ok());
        for statement in &t.types {
            common::run(&session, statement).await;
        }
        let mut defs: Vec<String> = t
            .columns
            .iter()
            .enumerate()
            .map(|(c, (name, cql, s))| {
                let cql = if c == key {
                    frozen(cql, s)
                } else {
                    cql.clone()
                };
                format!("\"{name}\" {cql}")
            })
            .collect();
        let key_name = t.columns.get(key).map_or("k".to_owned(), |c| c.0.clone());
        if defs.is_empty() {
            defs.push("k text".into());
        }
        common::run(
            &session,
            &format!(
                "CREATE TABLE {table} ({}, PRIMARY KEY (\"{key_name}\"))",
                defs.join(", ")
            ),
        )
        .await;

        // The file's columns the table has no column for are left out on purpose.
        let all_columns = match &schema {
            Some(schema) => schema.fields().iter().map(|f| f.name().clone()).collect(),
            None => parquet_columns(&path),
        };
        let ignored: Vec<String> = all_columns
            .into_iter()
            .filter(|c| !t.columns.iter().any(|(name, _, _)| name == c))
            .map(|c| format!("--ignore-columns={c}"))
            .collect();
        let rejects = dir.path().join(format!("rejects-{n}.jsonl"));
        let out = cassbulk()
            .args(["load", path.to_str().unwrap(), "--table", &table])
            .args(&ignored)
            .args([
                "--no-progress",
                "--writetime",
                "1000000",
                "--max-errors",
                "100000",
            ])
            .arg("--rejects")
            .arg(&rejects)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let last = stderr.lines().last().unwrap_or("").to_owned();
        let select: Vec<String> = t.columns.iter().map(|c| format!("\"{}\"", c.0)).collect();
        let select = if select.is_empty() {
            "k".to_owned()
        } else {
            select.join(", ")
        };
        let mut got = common::rows(&session, &format!("SELECT {select} FROM {table}")).await;
        got.sort();
        let refused = REFUSED.iter().find(|(f, _)| *f == name);
        let outcome = match (&batches, refused) {
            (Err(e), _) => {
                let clear = stderr.contains("is damaged: reading row group")
                    || stderr.contains("is not a readable Parquet file");
                if out.status.code() != Some(3)
                    || !stderr.contains(file_name)
                    || !clear
                    || !got.is_empty()
                {
                    failures.push(format!(
                        "{name}: arrow-rs fails ({e}); cassbulk must exit 3 naming the file and \
                         write nothing, but exits {:?} with {} rows written: {stderr}",
                        out.status.code(),
                        got.len()
                    ));
                }
                format!("refused as arrow-rs does: {last}")
            }
            (Ok(_), Some((_, reason))) => {
                if out.status.success() || !stderr.contains(reason) || !got.is_empty() {
                    failures.push(format!(
                        "{name}: expected a refusal with {reason:?}: {stderr}"
                    ));
                }
                format!("refused: {last}")
            }
            (Ok(_), None) if !out.status.success() => {
                failures.push(format!(
                    "{name}: arrow-rs reads it, cassbulk exits {:?}: {stderr}",
                    out.status.code()
                ));
                continue;
            }
            (Ok(batches), None) => {
                let (mut want, rejected, read) = expected_rows(&t, key, batches);
                want.sort();
                let rejects_written = std::fs::read_to_string(&rejects)
                    .map(|r| r.lines().count())
                    .unwrap_or(0);
                if rejects_written != rejected {
                    failures.push(format!(
                        "{name}: {rejects_written} rows rejected; arrow-rs reads {rejected} with \
                         a null key or a null in a collection"
                    ));
                }
                if !stderr.contains(&format!(": {read} rows read")) {
                    failures.push(format!("{name}: arrow-rs reads {read} rows: {last}"));
                }
                if unique_key {
                    if got != want {
                        let at = got.iter().zip(&want).position(|(a, b)| a != b);
                        failures.push(format!(
                            "{name}: {} rows in the table, {} expected from arrow-rs; the \
                             first difference: {:?} vs {:?}",
                            got.len(),
                            want.len(),
                            at.map(|d| &got[d]),
                            at.map(|d| &want[d]),
                        ));
                    }
                    format!(
                        "{} rows equal to arrow-rs's, {rejected} rejected",
                        got.len()
                    )
                } else {
                    let keys = |rows: &[Vec<Option<Vec<u8>>>]| -> BTreeSet<Vec<u8>> {
                        rows.iter().filter_map(|r| r[key].clone()).collect()
                    };
                    if keys(&got) != keys(&want) {
                        failures.push(format!(
                            "{name}: {} keys in the table, {} in arrow-rs's rows",
                            keys(&got).len(),
                            keys(&want).len()
                        ));
                    }
                    format!(
                        "{read} rows read, the {} keys arrow-rs reads, {rejected} rejected \
                         (no unique column)",
                        keys(&want).len()
                    )
                }
            }
        };
        report.push(format!("{name}: {outcome}"));
    }
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The top-level column names of a file's schema, even when arrow-rs cannot read its data.
fn parquet_columns(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).unwrap();
    parquet::file::reader::SerializedFileReader::new(file)
        .map(|r| {
            use parquet::file::reader::FileReader;
            r.metadata()
                .file_metadata()
                .schema_descr()
                .root_schema()
                .get_fields()
                .iter()
                .map(|f| f.name().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

//! Decoding: row groups in parallel on a thread pool of our own, each batch turned into events
//! and sent over a bounded channel, so the consumer sets the pace and memory stays bounded.
//! Text columns whose chunk in a row group holds only dictionary pages are read as Arrow
//! dictionaries there: the conversions look strings up by key, and arrow-rs does not copy every
//! string into a string array first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use crossbeam_channel::Sender;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::basic::Encoding;
use parquet::file::reader::{ChunkReader, Length};
use rayon::prelude::*;

use super::convert::{int_getter, timestamp_getter};
use super::{
    ColumnSource, Location, MAX_TTL, ParquetError, ParquetInput, ParquetPlan, SourceEvent, Ttl,
    WriteTime, map_leaves, spark,
};
use crate::intake::{BatchColumn, ColumnValues, RowBatch, RowError, check_primary_key};
use crate::rejects::{Reject, clip_raw};
use crate::source::guard::{self, Damaged};
use crate::source::handoff::Handoff;

/// Rows per decoded batch (and per message on the channel).
const BATCH_ROWS: usize = 1024;

type Chunk = Vec<Result<SourceEvent, ParquetError>>;

/// The events of one input: an iterator over what the decoding threads produce. Dropping it
/// early stops them.
pub struct ParquetEvents(Handoff<Result<SourceEvent, ParquetError>>);

impl Iterator for ParquetEvents {
    type Item = Result<SourceEvent, ParquetError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.0.take()? {
            Ok(event) => event,
            Err(panic) => Err(ParquetError::Thread(panic_message(&panic))),
        })
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a decoding thread panicked".to_owned())
}

pub(super) fn start(input: ParquetInput, plan: ParquetPlan) -> ParquetEvents {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (tx, rx) = crossbeam_channel::bounded::<Chunk>(threads * 2);
    let worker = std::thread::Builder::new()
        .name("parquet-source".to_owned())
        .spawn(move || decode_all(input, plan, threads, tx));
    ParquetEvents(match worker {
        Ok(worker) => Handoff::new(rx, worker),
        Err(e) => Handoff::ready(vec![Err(ParquetError::Thread(e.to_string()))]),
    })
}

fn decode_all(input: ParquetInput, plan: ParquetPlan, threads: usize, tx: Sender<Chunk>) {
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("parquet-decode-{i}"))
        .build()
    {
        Ok(pool) => pool,
        Err(e) => {
            let _ = tx.send(vec![Err(ParquetError::Thread(e.to_string()))]);
            return;
        }
    };
    let work: Vec<(usize, usize)> = input
        .files
        .iter()
        .enumerate()
        .flat_map(|(f, file)| (0..file.metadata.metadata().num_row_groups()).map(move |g| (f, g)))
        .collect();
    let input = Arc::new(input);
    let plan = Arc::new(plan);
    let stop = AtomicBool::new(false);
    pool.install(|| {
        work.par_iter().with_max_len(1).for_each(|&(f, g)| {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let sent = decode_row_group(&input, &plan, f, g, &tx);
            if !sent {
                stop.store(true, Ordering::Relaxed);
            }
        })
    });
}

/// Decodes one row group into events; false when the work should stop (the consumer went away,
/// or the file failed and the error was sent).
fn decode_row_group(
    input: &ParquetInput,
    plan: &ParquetPlan,
    f: usize,
    g: usize,
    tx: &Sender<Chunk>,
) -> bool {
    let file = &input.files[f];
    let fail = |e: ParquetError| {
        let _ = tx.send(vec![Err(e)]);
        false
    };
    // arrow-rs panics on some damaged files instead of returning an error.
    guard::catch(|| decode_file_row_group(input, plan, f, g, tx, &fail)).unwrap_or_else(|message| {
        fail(ParquetError::Damaged(Damaged {
            input: file.name.clone(),
            at: format!("in row group {g}"),
            message,
        }))
    })
}

fn decode_file_row_group(
    input: &ParquetInput,
    plan: &ParquetPlan,
    f: usize,
    g: usize,
    tx: &Sender<Chunk>,
    fail: &dyn Fn(ParquetError) -> bool,
) -> bool {
    let file = &input.files[f];
    match &file.location {
        Location::Local(path) => match std::fs::File::open(path) {
            Ok(reader) => decode_with(Strict(reader), input, plan, f, g, tx).unwrap_or_else(fail),
            Err(source) => fail(ParquetError::Io {
                path: file.name.clone(),
                source,
            }),
        },
        Location::Hdfs(reader) => {
            decode_with(Strict(reader.clone()), input, plan, f, g, tx).unwrap_or_else(fail)
        }
    }
}

fn decode_with<R: ChunkReader + 'static>(
    reader: R,
    input: &ParquetInput,
    plan: &ParquetPlan,
    f: usize,
    g: usize,
    tx: &Sender<Chunk>,
) -> Result<bool, ParquetError> {
    let file = &input.files[f];
    // The footer was read when the file was opened: what fails now is a page of this row group.
    let corrupt = |e: &dyn std::fmt::Display| ParquetError::RowGroup {
        path: file.name.clone(),
        group: g,
        reason: decoder_message(&e.to_string()).to_owned(),
    };
    let metadata =
        dictionary_hints(&file.metadata, plan, g).unwrap_or_else(|| file.metadata.clone());
    let mask = ProjectionMask::roots(metadata.parquet_schema(), plan.projection.iter().copied());
    let first_row: i64 = metadata.metadata().row_groups()[..g]
        .iter()
        .map(|rg| rg.num_rows())
        .sum();
    let batches = ParquetRecordBatchReaderBuilder::new_with_metadata(reader, metadata)
        .with_projection(mask)
        .with_row_groups(vec![g])
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| corrupt(&e))?;
    // Row numbers are 1-based within the file.
    let mut line = first_row as u64 + 1;
    for batch in batches {
        let batch = batch.map_err(|e| corrupt(&e))?;
        let batch = spark::rebase_batch(batch, file.calendar.rebase).map_err(|e| corrupt(&e))?;
        let events = batch_events(input, plan, f, &batch, line)?;
        line += batch.num_rows() as u64;
        if tx.send(events).is_err() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What arrow-rs said, without the wrappers it adds on the way up ("External: Parquet argument
/// error: Parquet error: Page CRC checksum mismatch" is "Page CRC checksum mismatch").
pub(super) fn decoder_message(mut message: &str) -> &str {
    const WRAPPERS: &[&str] = &["External: ", "Parquet argument error: ", "Parquet error: "];
    while let Some(rest) = WRAPPERS.iter().find_map(|w| message.strip_prefix(w)) {
        message = rest;
    }
    message
}

/// A Parquet file (local or on HDFS) whose reads past its end fail instead of returning nothing. On a
/// damaged page header, arrow-rs 60 skips a thrift list of up to 2^31 elements one read at a
/// time; at the end of the file every read returns zero bytes and the skip spins (a file the
/// fuzz harness found ran at 100% CPU for minutes until stopped). An error at the end stops it
/// at once.
struct Strict<C>(C);

impl<C: Length> Length for Strict<C> {
    fn len(&self) -> u64 {
        self.0.len()
    }
}

impl<C: ChunkReader> ChunkReader for Strict<C> {
    type T = PastEndFails<C::T>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(PastEndFails(self.0.get_read(start)?))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        self.0.get_bytes(start, length)
    }
}

/// A reader whose end is an error: Parquet readers know how much they want.
struct PastEndFails<R>(R);

impl<R: std::io::Read> std::io::Read for PastEndFails<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 if !buf.is_empty() => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "read past the end of the file",
            )),
            n => Ok(n),
        }
    }
}

/// The file's metadata with the text columns whose chunks in row group `g` are dictionary
/// encoded throughout read as Arrow dictionaries, so their strings are copied once (into the CQL
/// values) instead of twice (into a string array first); `None` when no column gains.
pub(super) fn dictionary_hints(
    metadata: &ArrowReaderMetadata,
    plan: &ParquetPlan,
    g: usize,
) -> Option<ArrowReaderMetadata> {
    let chunks = metadata.metadata().row_group(g).columns();
    let all_dictionary = |leaf: usize| {
        chunks.get(leaf).is_some_and(|c| {
            c.dictionary_page_offset().is_some()
                && c.page_encoding_stats_mask().is_some_and(|m| {
                    m.is_only(Encoding::PLAIN_DICTIONARY) || m.is_only(Encoding::RLE_DICTIONARY)
                })
        })
    };
    let special = |field: usize| {
        matches!(plan.writetime, WriteTime::Column(f) if f == field)
            || matches!(plan.ttl, Ttl::Column(f) if f == field)
    };
    let mut leaf = 0;
    let mut hinted = false;
    let mut fields = Vec::with_capacity(metadata.schema().fields().len());
    for (i, field) in metadata.schema().fields().iter().enumerate() {
        let read = plan.projection.binary_search(&i).is_ok() && !special(i);
        let mut hint = |at: usize, data_type: &DataType| {
            let yes = read && *data_type == DataType::Utf8 && all_dictionary(at);
            hinted |= yes;
            yes.then(|| DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)))
        };
        fields.push(map_leaves(field, &mut leaf, &mut hint)?);
    }
    if !hinted || leaf != chunks.len() {
        return None;
    }
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new_with_metadata(
        fields,
        metadata.schema().metadata().clone(),
    )));
    ArrowReaderMetadata::try_new(metadata.metadata().clone(), options).ok()
}

type Nullable<'a> = Box<dyn Fn(usize) -> Option<i128> + 'a>;

/// A write time or TTL: the same for every row, or a column (its field index and getter).
enum Special<'a, T> {
    Fixed(T),
    Column(usize, Nullable<'a>),
}

/// One batch as events: its rows, column by column, for the builder to make cells of; then a
/// reject for each row refused (the first reason found: write time, TTL, then the columns in
/// schema order, then the primary key).
fn batch_events(
    input: &ParquetInput,
    plan: &ParquetPlan,
    f: usize,
    batch: &RecordBatch,
    first_line: u64,
) -> Result<Vec<Result<SourceEvent, ParquetError>>, ParquetError> {
    let file = &input.files[f];
    let decode_error = |reason: String| ParquetError::Decode {
        path: file.name.clone(),
        reason,
    };
    let column = |field: usize| -> Result<&dyn Array, ParquetError> {
        let position = plan
            .projection
            .binary_search(&field)
            .map_err(|_| decode_error(format!("column {} was not read", plan.names[field])))?;
        batch
            .columns()
            .get(position)
            .map(|c| c.as_ref())
            .ok_or_else(|| decode_error(format!("column {} is missing", plan.names[field])))
    };
    // Write times as µs (from any timestamp unit, or integers as they are); TTLs as integers.
    let nullable = |field: usize, micros: bool| -> Result<Nullable<'_>, ParquetError> {
        let array = column(field)?;
        if let Some((get, per_second)) = timestamp_getter(array).filter(|_| micros) {
            return Ok(Box::new(move |i| {
                (!array.is_null(i)).then(|| (i128::from(get(i)) * 1_000_000).div_euclid(per_second))
            }));
        }
        let get = int_getter(array)
            .ok_or_else(|| decode_error(format!("column {} changed type", plan.names[field])))?;
        Ok(Box::new(move |i| (!array.is_null(i)).then(|| get(i))))
    };
    let writetime = match plan.writetime {
        WriteTime::Column(field) => Special::Column(field, nullable(field, true)?),
        WriteTime::Fixed(ts) => Special::Fixed(ts),
    };
    let ttl = match plan.ttl {
        Ttl::Column(field) => Some(Special::Column(field, nullable(field, false)?)),
        Ttl::Fixed(ttl) => Some(Special::Fixed(ttl)),
        Ttl::None => None,
    };
    let rows = batch.num_rows();
    // The first reason each row is refused for (empty while none is).
    let mut refused: Vec<Option<RowError>> = Vec::new();
    let refuse = |refused: &mut Vec<Option<RowError>>, row: usize, error: RowError| {
        if refused.is_empty() {
            refused.resize_with(rows, || None);
        }
        refused[row].get_or_insert(error);
    };
    let mut timestamps = Vec::with_capacity(rows);
    let mut ttls = Vec::with_capacity(rows);
    for row in 0..rows {
        match row_time(plan, &writetime, ttl.as_ref(), row) {
            Ok((ts, ttl)) => {
                timestamps.push(ts);
                ttls.push(ttl);
            }
            Err(e) => {
                timestamps.push(0);
                ttls.push(0);
                refuse(&mut refused, row, e);
            }
        }
    }
    let mut columns = Vec::with_capacity(plan.columns.len());
    let mut errors = Vec::new();
    for source in &plan.columns {
        columns.push(match source {
            Some(ColumnSource::File { field, conv }) => {
                let array = column(*field)?;
                let built = match conv.bind_kept(array).map_err(decode_error)? {
                    Some((kept, refused)) => {
                        errors = refused;
                        kept
                    }
                    None => {
                        let write = conv.bind_column(array).map_err(decode_error)?;
                        let mut values = ColumnValues::with_capacity(rows, rows * 8);
                        write(&mut values, &mut errors);
                        BatchColumn::Values(values)
                    }
                };
                for (row, reason) in errors.drain(..) {
                    refuse(
                        &mut refused,
                        row,
                        RowError {
                            column: Some(plan.names[*field].clone()),
                            reason,
                        },
                    );
                }
                built
            }
            Some(ColumnSource::Folder { values }) => BatchColumn::Constant(values[f].clone()),
            None => BatchColumn::Absent,
        });
    }
    let mut rows_batch = RowBatch {
        shape: plan.shape.clone(),
        columns,
        timestamps,
        ttls,
        rejected: Vec::new(),
    };
    for row in 0..rows {
        if refused.get(row).is_some_and(Option::is_some) {
            continue;
        }
        if let Err(e) = check_primary_key(&plan.shape.schema, &rows_batch.row(row)) {
            refuse(&mut refused, row, e);
        }
    }
    rows_batch.rejected = if refused.is_empty() {
        vec![false; rows]
    } else {
        refused.iter().map(Option::is_some).collect()
    };
    let mut events = Vec::with_capacity(1 + refused.iter().flatten().count());
    events.push(Ok(SourceEvent::Rows(rows_batch)));
    for (row, e) in refused.into_iter().enumerate() {
        if let Some(e) = e {
            events.push(Ok(SourceEvent::Reject(Reject {
                file: file.name.clone(),
                table: plan.table.clone(),
                line: first_line + row as u64,
                column: e.column,
                reason: e.reason,
                raw: raw_row(input, plan, f, batch, row),
            })));
        }
    }
    Ok(events)
}

/// Row `row`'s write time (µs) and TTL (seconds, 0 for none).
fn row_time(
    plan: &ParquetPlan,
    writetime: &Special<'_, i64>,
    ttl: Option<&Special<'_, u32>>,
    row: usize,
) -> Result<(i64, u32), RowError> {
    let error = |field: usize, reason: String| RowError {
        column: Some(plan.names[field].clone()),
        reason,
    };
    let timestamp = match writetime {
        Special::Fixed(ts) => *ts,
        Special::Column(field, get) => {
            let micros = get(row).ok_or_else(|| error(*field, "the write time is null".into()))?;
            i64::try_from(micros).map_err(|_| {
                error(
                    *field,
                    format!("{micros} µs is out of range for a write time"),
                )
            })?
        }
    };
    let ttl = match ttl {
        None => 0,
        Some(Special::Fixed(ttl)) => *ttl,
        Some(Special::Column(field, get)) => match get(row) {
            None | Some(0) => 0,
            Some(seconds) => match u32::try_from(seconds) {
                Ok(s) if s <= MAX_TTL => s,
                _ => {
                    return Err(error(
                        *field,
                        format!(
                            "{seconds} is not a TTL: give 0 to {MAX_TTL} seconds (0 or null: none)"
                        ),
                    ));
                }
            },
        },
    };
    Ok((timestamp, ttl))
}

/// A row as `column=value, ...` (the columns read, then the folder name keys), for rejects.
fn raw_row(
    input: &ParquetInput,
    plan: &ParquetPlan,
    f: usize,
    batch: &RecordBatch,
    row: usize,
) -> String {
    let options = FormatOptions::default().with_null("null");
    let mut parts = Vec::new();
    for (&field, array) in plan.projection.iter().zip(batch.columns()) {
        let value = ArrayFormatter::try_new(array.as_ref(), &options)
            .map(|fmt| fmt.value(row).to_string())
            .unwrap_or_else(|_| "?".to_owned());
        parts.push(format!("{}={value}", plan.names[field]));
    }
    let file = &input.files[f];
    for (key, value) in input.folder_keys.iter().zip(&file.folder_values) {
        parts.push(format!("{key}={}", value.as_deref().unwrap_or("null")));
    }
    clip_raw(parts.join(", "))
}

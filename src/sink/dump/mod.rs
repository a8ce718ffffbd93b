//! Dumps: a table's rows written to files for analytics jobs, in Parquet, CSV or PostgreSQL
//! COPY text (`cassbulk dump`). `rows.rs` turns merged partitions into the rows `SELECT` would
//! return; `format.rs` is the seam to the file formats (`csv.rs`, `parquet.rs`, `pgcopy.rs`).
//!
//! Output is atomic. Files are written into a hidden folder inside the output folder
//! (`.cassbulk-tmp/`, removed on failure and on Ctrl-C); once every file is durable they are
//! renamed to `part-00000.<ext>`, `part-00001.<ext>`, ... (deterministic names; a new file
//! starts every `--rows-per-file` rows), stale `part-` files of an earlier dump into the same
//! folder are removed, and `_SUCCESS` is written last. A reader that waits for `_SUCCESS` never
//! sees a half-written dump; a failed run leaves none. With `--partition-date` the folder is
//! `<dir>/dt=YYYY-MM-DD/`.

pub mod csv;
pub mod format;
pub mod parquet;
pub mod pgcopy;
pub mod rows;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use self::format::{DumpError, FileWriter};
use self::rows::{RowBuf, RowShape};
use super::{PartitionStream, Sink, SinkError, SinkReport};
use crate::checkpoint::Marks;
use crate::cleanup::Registered;
use crate::model::TableSchema;
use crate::progress::Counters;

/// The file formats a dump writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    Parquet,
    Csv,
    PgCopy,
}

impl DumpFormat {
    /// The files' extension.
    pub fn extension(self) -> &'static str {
        match self {
            DumpFormat::Parquet => "parquet",
            DumpFormat::Csv => "csv",
            DumpFormat::PgCopy => "pgcopy",
        }
    }
}

/// What `cassbulk dump` was asked for.
#[derive(Debug, Clone)]
pub struct DumpSinkOptions {
    /// The output folder.
    pub dir: PathBuf,
    pub format: DumpFormat,
    /// The columns, in this order (every column in the table's order when `None`).
    pub columns: Option<Vec<String>>,
    /// Writes into `dir/dt=YYYY-MM-DD/`.
    pub partition_date: Option<String>,
    pub with_writetime: bool,
    pub with_ttl: bool,
    /// Rows per file before the next one starts.
    pub rows_per_file: u64,
    /// Replace a finished dump already in the folder.
    pub overwrite: bool,
    /// Parquet: decimals and varints as `decimal128(P, S)` instead of exact text.
    pub decimal: parquet::Decimal128,
}

/// The sink of `cassbulk dump`.
pub struct DumpSink {
    options: DumpSinkOptions,
    shape: RowShape,
    counters: Arc<Counters>,
    /// The folder the files end up in, and the hidden one they are written in.
    folder: PathBuf,
    temp: PathBuf,
    _registered: Option<Registered>,
    /// Files written and finished, in order.
    finished: Vec<PathBuf>,
    rows: u64,
    done: bool,
}

impl DumpSink {
    pub fn new(
        schema: Arc<TableSchema>,
        options: DumpSinkOptions,
        counters: Arc<Counters>,
    ) -> Result<DumpSink, DumpError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let shape = RowShape::new(
            schema,
            options.columns.as_deref(),
            options.with_writetime,
            options.with_ttl,
            now,
        )?;
        let folder = match &options.partition_date {
            Some(date) => options.dir.join(format!("dt={date}")),
            None => options.dir.clone(),
        };
        let temp = folder.join(".cassbulk-tmp");
        Ok(DumpSink {
            options,
            shape,
            counters,
            folder,
            temp,
            _registered: None,
            finished: Vec::new(),
            rows: 0,
            done: false,
        })
    }

    fn create_file(&self, index: usize) -> Result<(PathBuf, Box<dyn FileWriter>), DumpError> {
        let path = self.temp.join(file_name(index, self.options.format));
        let columns = self.shape.columns();
        let writer: Box<dyn FileWriter> = match self.options.format {
            DumpFormat::Csv => Box::new(csv::CsvWriter::create(&path, columns)?),
            DumpFormat::Parquet => Box::new(parquet::ParquetWriter::create(
                &path,
                columns,
                self.options.decimal,
            )?),
            DumpFormat::PgCopy => Box::new(pgcopy::PgCopyWriter::create(&path, columns)?),
        };
        Ok((path, writer))
    }

    fn write_all(&mut self, partitions: PartitionStream) -> Result<(), DumpError> {
        let mut current: Option<(PathBuf, Box<dyn FileWriter>, u64)> = None;
        let mut rows = RowBuf::default();
        for partition in partitions {
            self.shape.fill(&partition, &mut rows)?;
            for row in rows.iter() {
                if current
                    .as_ref()
                    .is_some_and(|(_, _, n)| *n >= self.options.rows_per_file)
                {
                    let (path, writer, _) = current.take().expect("checked above");
                    writer.finish()?;
                    self.finished.push(path);
                }
                if current.is_none() {
                    let (path, writer) = self.create_file(self.finished.len())?;
                    current = Some((path, writer, 0));
                }
                let (_, writer, n) = current.as_mut().expect("opened above");
                writer.write_row(row)?;
                *n += 1;
            }
            self.rows += rows.len() as u64;
            Counters::add(&self.counters.rows_written, rows.len() as u64);
        }
        // An empty table still gets one (empty) file: readers expect the schema.
        let (path, writer) = match current {
            Some((path, writer, _)) => (path, writer),
            None => self.create_file(0)?,
        };
        writer.finish()?;
        self.finished.push(path);
        Ok(())
    }

    /// Renames the finished files into place, removes stale ones, then writes `_SUCCESS`.
    fn publish(&mut self) -> Result<Vec<PathBuf>, DumpError> {
        let mut published = Vec::with_capacity(self.finished.len());
        for (index, temp) in self.finished.iter().enumerate() {
            let target = self.folder.join(file_name(index, self.options.format));
            std::fs::rename(temp, &target).map_err(DumpError::io(&target))?;
            published.push(target);
        }
        // Parts of an earlier, larger dump into this folder.
        let entries = std::fs::read_dir(&self.folder).map_err(DumpError::io(&self.folder))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("part-") && !published.contains(&path) {
                std::fs::remove_file(&path).map_err(DumpError::io(&path))?;
            }
        }
        std::fs::remove_dir_all(&self.temp).map_err(DumpError::io(&self.temp))?;
        sync_dir(&self.folder)?;
        let success = self.folder.join("_SUCCESS");
        std::fs::File::create(&success)
            .and_then(|f| f.sync_all())
            .map_err(DumpError::io(&success))?;
        sync_dir(&self.folder)?;
        self.done = true;
        Ok(published)
    }
}

fn file_name(index: usize, format: DumpFormat) -> String {
    format!("part-{index:05}.{}", format.extension())
}

fn sync_dir(dir: &Path) -> Result<(), DumpError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(DumpError::io(dir))
}

impl Sink for DumpSink {
    fn open(&mut self) -> Result<(), SinkError> {
        std::fs::create_dir_all(&self.folder).map_err(DumpError::io(&self.folder))?;
        let success = self.folder.join("_SUCCESS");
        if success.exists() {
            if !self.options.overwrite {
                return Err(DumpError::Exists {
                    path: self.folder.clone(),
                }
                .into());
            }
            // From here on the folder holds no finished dump until this one is.
            std::fs::remove_file(&success).map_err(DumpError::io(&success))?;
        }
        if self.temp.exists() {
            // What a run killed without cleanup left behind.
            std::fs::remove_dir_all(&self.temp).map_err(DumpError::io(&self.temp))?;
        }
        std::fs::create_dir_all(&self.temp).map_err(DumpError::io(&self.temp))?;
        self._registered = Some(Registered::new(&self.temp));
        Ok(())
    }

    fn write(&mut self, partitions: PartitionStream, _marks: &mut Marks) -> Result<(), SinkError> {
        Ok(self.write_all(partitions)?)
    }

    fn finish(mut self: Box<Self>) -> Result<SinkReport, SinkError> {
        let published = self.publish()?;
        Ok(SinkReport {
            notes: vec![format!(
                "dumped {} rows into {} file{} in {} ({})",
                self.rows,
                published.len(),
                if published.len() == 1 { "" } else { "s" },
                self.folder.display(),
                match self.options.format {
                    DumpFormat::Parquet => "Parquet",
                    DumpFormat::Csv => "CSV",
                    DumpFormat::PgCopy => "PostgreSQL COPY text",
                }
            )],
        })
    }
}

impl Drop for DumpSink {
    fn drop(&mut self) {
        if !self.done {
            // A failed run: no half-written file stays, and no _SUCCESS was written.
            let _ = std::fs::remove_dir_all(&self.temp);
        }
    }
}

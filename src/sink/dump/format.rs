//! The seam between a dump and its file format: a dump's columns ([`DumpColumn`]) and the
//! writer of one file ([`FileWriter`]), which each format (`csv.rs`, `pgcopy.rs`,
//! `parquet.rs`) implements. The dump sink (`mod.rs`) decides which rows go to which file and
//! names the files; a format only turns rows of values into bytes.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::exit::Classify;
use crate::model::{CqlType, Value};

/// One column of a dump: its name and CQL type. A write time column is a `bigint`
/// (microseconds since the epoch, as `writetime()` gives it), a TTL column an `int` (seconds
/// left, as `ttl()` gives it).
#[derive(Debug, Clone, PartialEq)]
pub struct DumpColumn {
    pub name: String,
    pub cql_type: CqlType,
}

/// Writes rows into one file. A row holds a field per column, in the columns' order; `None`
/// is a null.
pub trait FileWriter: Send {
    fn write_row(&mut self, row: &[Option<Value>]) -> Result<(), DumpError>;

    /// Writes what is buffered, closes the file and makes it durable (`sync_all`).
    fn finish(self: Box<Self>) -> Result<(), DumpError>;
}

/// Why a dump could not be written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DumpError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("column {column}: {message}")]
    Value { column: String, message: String },
    #[error(
        "{path} already holds a finished dump (_SUCCESS); pass --overwrite to replace it, or dump to another folder"
    )]
    Exists { path: PathBuf },
    #[error("--columns: the table has no column `{column}`; its columns are {columns}")]
    NoColumn { column: String, columns: String },
}

impl DumpError {
    /// An I/O error on `path`.
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DumpError + '_ {
        move |source| DumpError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

impl Classify for DumpError {
    fn is_usage(&self) -> bool {
        matches!(self, DumpError::Exists { .. } | DumpError::NoColumn { .. })
    }
}

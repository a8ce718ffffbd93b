//! Sources: readers that turn an input (a pg_dump, a Parquet folder, SSTables, a live cluster)
//! into rows for one target table. Each is a noun named after the format it reads.

pub mod parquet;
pub mod pg_dump;
pub mod pg_types;
pub mod postgres;

use std::path::Path;

use crate::batch::RowBatch;
use crate::model::Partition;
use crate::rejects::Reject;

/// What an input yields: a row as a partition to load, a batch of rows to load (from columnar
/// sources), or a row that cannot be loaded and why.
#[derive(Debug, Clone)]
pub enum SourceEvent {
    Partition(Partition),
    Rows(RowBatch),
    Reject(Reject),
}

/// The kinds of input `load` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    PgDump,
    Parquet,
}

/// Tells a Parquet input (an `hdfs://` URL, a `.parquet` file, a file starting with `PAR1`, a
/// folder that is not a pg_dump directory archive) from a pg_dump.
pub fn input_kind(input: &str) -> InputKind {
    if input.starts_with("hdfs://") {
        return InputKind::Parquet;
    }
    let path = Path::new(input);
    if path.is_dir() {
        return if path.join("toc.dat").exists() {
            InputKind::PgDump
        } else {
            InputKind::Parquet
        };
    }
    let named = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("parq"));
    let mut magic = [0u8; 4];
    let starts_par1 = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"PAR1";
    if named || starts_par1 {
        InputKind::Parquet
    } else {
        InputKind::PgDump
    }
}

//! Sources: readers that turn an input (a pg_dump, a Parquet folder, SSTables, a live cluster)
//! into rows for one target table. Each is a noun named after the format it reads, in a folder
//! of its own, behind one seam: [`Source::open`] finds the source that reads an input (the
//! registry, [`KINDS`], is the only place that names them) and opens it ([`Input`]); planning
//! it against the table's schema ([`Input::plan`]) refuses impossible mappings before any row
//! is read; starting the plan ([`Planned::start`]) yields [`SourceEvent`]s. Jobs (`load`, and
//! later `verify` and `dump`) see only these traits.

pub mod cql;
pub mod guard;
mod handoff;
pub mod parquet;
pub mod pg_dump;
pub mod sstable;

use std::sync::Arc;

use thiserror::Error;

use crate::exit::{Classified, Classify};
use crate::intake::RowBatch;
use crate::model::{Partition, TableSchema};
use crate::plan::MappingOptions;
use crate::rejects::Reject;

/// What an input yields: a row as a partition to load, a batch of rows to load (from columnar
/// sources), or a row that cannot be loaded and why.
#[derive(Debug, Clone)]
pub enum SourceEvent {
    Partition(Partition),
    Rows(RowBatch),
    Reject(Reject),
}

/// What any source fails with: its own error, classified (see [`crate::exit`]).
pub type SourceError = Classified;

/// One input's events, read on a thread of its own.
pub type Events = Box<dyn Iterator<Item = Result<SourceEvent, SourceError>> + Send>;

/// What opening an input needs besides its name.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// `--source-table`: the table to read from an input that holds several (a pg_dump).
    pub source_table: Option<String>,
    /// How a `cql://` source connects (credentials, consistency, data center); the URL gives
    /// the contact points.
    pub connection: Option<crate::cluster::ConnectOptions>,
    /// `--allow-incomplete`: read an export that looks unfinished (Spark's `_SUCCESS` missing
    /// from a folder, or a `_temporary/` folder left by a job).
    pub allow_incomplete: bool,
    /// A `cql://` source reads values only, no `writetime()` or `ttl()` (a dump that writes
    /// neither and merges nothing): cells get the scan's time.
    pub cql_without_times: bool,
    /// Token ranges a `cql://` source scans at once (0: its default).
    pub cql_concurrency: usize,
    /// Only the tokens `(start, end]` of a `cql://` source (default: the whole ring).
    pub cql_token_range: Option<(i64, i64)>,
    /// `--merge sort`: inputs in token order (SSTables) go through the partition builder too,
    /// rather than being merged as streams.
    pub sort_always: bool,
    /// Exactly these token ranges `(start, end]`, in token order, instead of the ring (or
    /// `cql_token_range`) split evenly: a sample of the ring, or what a resumed run has left.
    pub cql_ranges: Option<std::sync::Arc<[(i64, i64)]>>,
    /// Rows per second a `cql://` source hands on at most (0: no limit); its scans wait.
    pub cql_rate: u64,
    /// Only tokens from this one on (a resumed load: everything before it is written).
    pub cql_from_token: Option<i64>,
    /// `--since`: writes older than this (microseconds) are left out, so inputs that hold
    /// only older ones (SSTables, by their Statistics.db) need not be read.
    pub since: Option<i64>,
}

/// How sure a source is that it reads an input, from its name and first bytes alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Claim {
    No,
    /// It could be: taken when no source is sure (a folder could be Parquet files).
    Maybe,
    /// A marker says so (a `PAR1` magic, a pg_dump `toc.dat`, a URL scheme).
    Yes,
}

/// How a source opens an input it claims.
pub type Opener = fn(&str, &OpenOptions) -> Result<Box<dyn Input>, SourceError>;

/// One kind of source: how to tell its inputs and how to open one.
pub struct Kind {
    pub name: &'static str,
    pub claims: fn(&str) -> Claim,
    pub open: Opener,
}

/// Every source, in the order ties are broken. Adding a source: a folder and a line here.
pub const KINDS: &[Kind] = &[cql::KIND, sstable::KIND, parquet::KIND, pg_dump::KIND];

/// An input, opened: what it holds is known, the target table not yet.
pub trait Input: Send {
    /// One line for the log: the format and what it holds.
    fn describe(&self) -> String;

    /// Decides how the input's columns become `schema`'s, with write times and TTLs, refusing
    /// impossible pairs (naming the column and both types) before any row is read.
    fn plan(
        self: Box<Self>,
        schema: Arc<TableSchema>,
        mapping: &MappingOptions,
    ) -> Result<Box<dyn Planned>, SourceError>;
}

/// An input planned against its table, ready to read.
pub trait Planned: Send {
    /// Starts reading: the events, and how far along the reading is.
    fn start(self: Box<Self>) -> Result<Started, SourceError>;

    /// Whether [`Planned::start_slices`] can read this input one token slice at a time, each
    /// slice ordered (SSTables that can seek to a token). May do work `start` would do first
    /// (SSTables check their digests here), so that nothing is written before it.
    fn sliceable(&mut self) -> Result<bool, SourceError> {
        Ok(false)
    }

    /// Bytes of data the input holds, as far as known before reading (0 if not): how many
    /// slices are worth starting.
    fn data_bytes(&self) -> u64 {
        0
    }

    /// Starts reading in token slices (`slices`: each one's first and last token, in ring
    /// order, covering the ring): one ordered [`Started`] per slice, each read by its own
    /// thread. Called only when [`Planned::sliceable`] said yes; otherwise the whole input is
    /// one slice.
    fn start_slices(self: Box<Self>, slices: &[(i64, i64)]) -> Result<Vec<Started>, SourceError> {
        let _ = slices;
        Ok(vec![self.start()?])
    }

    /// Which source columns fill which table columns, for sources that match columns by name
    /// (`None`: the input's columns are the table's own, as in SSTables and live tables).
    fn columns(&self) -> Option<&crate::plan::ColumnPlan> {
        None
    }

    /// What else the run should state before its first write (files and partitions read,
    /// calendars rebased, ...).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A source that has started reading.
pub struct Started {
    pub events: Events,
    pub size: InputSize,
    /// The events are whole partitions, each once, reconciled and settled, in token order (a
    /// live table's scan, SSTables merged as streams): such inputs are merged as streams
    /// themselves, with no partition builder.
    pub ordered: bool,
}

/// How the reading of one input can be measured.
pub enum InputSize {
    /// Bytes of data: read so far, and in all.
    Bytes {
        read: Arc<dyn Fn() -> u64 + Send + Sync>,
        total: u64,
    },
    /// Rows, counted in advance (Parquet footers).
    Rows(u64),
    /// Token ranges of a live table: scanned so far, and in all.
    Ranges {
        done: Arc<dyn Fn() -> u64 + Send + Sync>,
        total: u64,
    },
    Unknown,
}

#[derive(Debug, Error)]
pub enum OpenError {
    #[error(
        "{input}: no source reads this (cassbulk reads pg_dump files and directory archives, Parquet files and folders, hdfs:// URLs, and folders of SSTables)"
    )]
    Unrecognized { input: String },
}

impl Classify for OpenError {
    fn is_usage(&self) -> bool {
        true
    }
}

/// An input opened by the source that reads it.
pub struct Source {
    name: String,
    input: Box<dyn Input>,
}

/// The source surest that it reads `input` (the first in [`KINDS`] on a tie), if any claims it.
fn choose(input: &str) -> Option<&'static Kind> {
    // `max_by_key` keeps the last of equal keys: going backwards, that is the first.
    KINDS
        .iter()
        .rev()
        .map(|kind| ((kind.claims)(input), kind))
        .filter(|(claim, _)| *claim > Claim::No)
        .max_by_key(|(claim, _)| *claim)
        .map(|(_, kind)| kind)
}

impl Source {
    /// Opens `input` with the source most sure it reads it (the first in [`KINDS`] on a tie).
    pub fn open(input: &str, options: &OpenOptions) -> Result<Source, SourceError> {
        let kind = choose(input).ok_or_else(|| OpenError::Unrecognized {
            input: input.to_owned(),
        })?;
        let opened = guard::catch(|| (kind.open)(input, options))
            .map_err(|message| damaged(input, "while opening it".to_owned(), message))??;
        Ok(Source {
            name: input.to_owned(),
            input: opened,
        })
    }

    /// See [`Input::plan`]. What the plan reads is guarded: a panic in a decoder ends the
    /// events with a [`guard::Damaged`] error naming the input and how far it was read.
    pub fn plan(
        self,
        schema: Arc<TableSchema>,
        mapping: &MappingOptions,
    ) -> Result<Box<dyn Planned>, SourceError> {
        tracing::info!("{}: {}", self.name, self.input.describe());
        let Source { name, input, .. } = self;
        let inner = guard::catch(|| input.plan(schema, mapping))
            .map_err(|message| damaged(&name, "while planning it".to_owned(), message))??;
        Ok(Box::new(Guarded { name, inner }))
    }
}

fn damaged(input: &str, at: String, message: String) -> SourceError {
    guard::Damaged {
        input: input.to_owned(),
        at,
        message,
    }
    .into()
}

/// A plan whose reading is guarded against panics.
struct Guarded {
    name: String,
    inner: Box<dyn Planned>,
}

impl Planned for Guarded {
    fn columns(&self) -> Option<&crate::plan::ColumnPlan> {
        self.inner.columns()
    }

    fn notes(&self) -> Vec<String> {
        self.inner.notes()
    }

    fn start(self: Box<Self>) -> Result<Started, SourceError> {
        let Guarded { name, inner } = *self;
        let started = guard::catch(|| inner.start())
            .map_err(|message| damaged(&name, "when it started".to_owned(), message))??;
        Ok(guarded(name, started))
    }

    fn data_bytes(&self) -> u64 {
        self.inner.data_bytes()
    }

    fn sliceable(&mut self) -> Result<bool, SourceError> {
        let Guarded { name, inner } = self;
        guard::catch(|| inner.sliceable())
            .map_err(|message| damaged(name, "when it started".to_owned(), message))?
    }

    fn start_slices(self: Box<Self>, slices: &[(i64, i64)]) -> Result<Vec<Started>, SourceError> {
        let Guarded { name, inner } = *self;
        let started = guard::catch(|| inner.start_slices(slices))
            .map_err(|message| damaged(&name, "when it started".to_owned(), message))??;
        Ok(started
            .into_iter()
            .map(|slice| guarded(name.clone(), slice))
            .collect())
    }
}

/// `started`'s events guarded: a panic ends them with an error naming the input `name`.
fn guarded(name: String, started: Started) -> Started {
    let read = match &started.size {
        InputSize::Bytes { read, .. } => Some(read.clone()),
        _ => None,
    };
    let mut events = started.events;
    let mut stopped = false;
    let guarded = std::iter::from_fn(move || {
        if stopped {
            return None;
        }
        match guard::catch(|| events.next()) {
            Ok(event) => event,
            Err(message) => {
                // What the reader holds after a panic is unknown: read no further.
                stopped = true;
                let at = match &read {
                    Some(read) => format!("near byte {} of its data", read()),
                    None => "while reading it".to_owned(),
                };
                Some(Err(damaged(&name, at, message)))
            }
        }
    });
    Started {
        events: Box::new(guarded),
        size: started.size,
        ordered: started.ordered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(input: &str) -> Option<&'static str> {
        choose(input).map(|kind| kind.name)
    }

    #[test]
    fn inputs_go_to_the_source_that_is_surest() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        std::fs::create_dir(&archive).unwrap();
        std::fs::write(archive.join("toc.dat"), b"PGDMP").unwrap();
        let folder = dir.path().join("export");
        std::fs::create_dir(&folder).unwrap();
        let named = dir.path().join("part.parquet");
        std::fs::write(&named, b"not really").unwrap();
        let magic = dir.path().join("data.bin");
        std::fs::write(&magic, b"PAR1....").unwrap();
        let dump = dir.path().join("accounts.dump");
        std::fs::write(&dump, b"PGDMP...").unwrap();
        let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
        assert_eq!(kind_of(&path(&archive)), Some("pg_dump"));
        assert_eq!(kind_of(&path(&folder)), Some("Parquet"));
        assert_eq!(kind_of(&path(&named)), Some("Parquet"));
        assert_eq!(kind_of(&path(&magic)), Some("Parquet"));
        assert_eq!(kind_of(&path(&dump)), Some("pg_dump"));
        assert_eq!(kind_of("hdfs://nn:8020/export"), Some("Parquet"));
        assert_eq!(kind_of(&path(&dir.path().join("missing"))), None);
    }
}

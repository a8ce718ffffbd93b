//! Resume after a crash: the partition builder emits partitions in token order, so the sink can
//! record the last (token, key) below which every partition is acknowledged. The checkpoint file
//! holds it (written atomically: temp file then rename); the same command run again skips every
//! partition up to it. At most the writes in flight at the crash are sent twice, which is
//! harmless: they carry the same timestamps. A sink reports how far it has durably written
//! through [`Marks`], which rewrites the file at most twice a second.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::exit::Classify;
use crate::model::value::hex;
use crate::model::{Partition, Token};

/// How often [`Marks`] rewrites the checkpoint file while a sink writes.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CheckpointError {
    #[error("cannot write the checkpoint {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the checkpoint {path}: {reason} (delete it to start from the beginning)")]
    Read { path: PathBuf, reason: String },
    #[error(
        "the checkpoint {path} is for table {found}, not {expected}; use another --checkpoint file"
    )]
    OtherTable {
        path: PathBuf,
        found: String,
        expected: String,
    },
}

impl Classify for CheckpointError {
    fn is_usage(&self) -> bool {
        matches!(self, CheckpointError::OtherTable { .. })
    }
}

/// What the checkpoint file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub table: String,
    /// Every partition at or before (token, key) is written.
    pub token: i64,
    pub key_hex: String,
    pub partitions: u64,
}

impl Mark {
    /// Whether `partition` was written before the checkpoint.
    pub fn covers(&self, partition: &Partition) -> bool {
        match partition.token.0.cmp(&self.token) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            // Lower-case hex strings compare exactly as the bytes they encode, prefixes too.
            std::cmp::Ordering::Equal => hex(&partition.key) <= self.key_hex,
        }
    }
}

/// Reads a checkpoint, if the file exists.
pub fn read(path: &Path, table: &str) -> Result<Option<Mark>, CheckpointError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(CheckpointError::Read {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
    };
    let mark: Mark = serde_json::from_str(&text).map_err(|e| CheckpointError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if mark.table != table {
        return Err(CheckpointError::OtherTable {
            path: path.to_owned(),
            found: mark.table,
            expected: table.to_owned(),
        });
    }
    Ok(Some(mark))
}

/// Writes a checkpoint atomically.
pub fn write(path: &Path, mark: &Mark) -> Result<(), CheckpointError> {
    let err = |source| CheckpointError::Write {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let json = serde_json::to_string(mark).map_err(|e| err(std::io::Error::other(e)))?;
    std::fs::write(&tmp, json + "\n").map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Where a sink records how far it has durably written, in token order: the checkpoint file of
/// `--checkpoint`, or nowhere. The file is rewritten when [`Marks::due`] says so (every 500 ms)
/// and once more at the end ([`Marks::record`] of the last mark).
#[derive(Debug)]
pub struct Marks {
    path: Option<PathBuf>,
    table: String,
    saved: Instant,
    /// Where the count of durable partitions is also kept, for a job that watches its sink.
    watch: Option<Arc<AtomicU64>>,
}

impl Marks {
    /// Marks for `table` kept in `path`, or not kept at all.
    pub fn new(path: Option<&Path>, table: &str) -> Marks {
        Marks {
            path: path.map(Path::to_owned),
            table: table.to_owned(),
            saved: Instant::now(),
            watch: None,
        }
    }

    /// Marks kept in no file, whose count of durable partitions the returned counter follows
    /// (a job that feeds the sink learns how much of what it sent is written).
    pub fn watched(table: &str) -> (Marks, Arc<AtomicU64>) {
        let durable = Arc::new(AtomicU64::new(0));
        let mut marks = Marks::new(None, table);
        marks.watch = Some(durable.clone());
        (marks, durable)
    }

    /// Whether a mark should be recorded now: a file is kept (or a job watches) and the last
    /// was a while ago.
    pub fn due(&self) -> bool {
        (self.path.is_some() || self.watch.is_some()) && self.saved.elapsed() >= CHECKPOINT_EVERY
    }

    /// Whether a job watches the count of durable partitions: the sink then records as soon
    /// as everything it was sent is written.
    pub fn eager(&self) -> bool {
        self.watch.is_some()
    }

    /// Records that every partition up to and including (`token`, `key`) is durable, `done`
    /// partitions in all.
    pub fn record(&mut self, token: Token, key: &[u8], done: u64) -> Result<(), CheckpointError> {
        self.saved = Instant::now();
        if let Some(watch) = &self.watch {
            watch.store(done, Ordering::Release);
        }
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mark = Mark {
            table: self.table.clone(),
            token: token.0,
            key_hex: hex(key),
            partitions: done,
        };
        write(path, &mark)
    }
}

/// Tracks which partitions are fully acknowledged, in the order they were sent.
#[derive(Debug, Default)]
pub struct Tracker {
    next_seq: u64,
    /// Per partition sent and not yet part of the mark: its (token, key) and pending writes.
    pending: BTreeMap<u64, (Token, Vec<u8>, usize)>,
    done: u64,
    mark: Option<(Token, Vec<u8>)>,
}

impl Tracker {
    /// Registers a partition about to be written in `writes` requests; returns its number.
    pub fn start(&mut self, partition: &Partition, writes: usize) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending
            .insert(seq, (partition.token, partition.key.clone(), writes));
        self.advance();
        seq
    }

    /// One write of partition `seq` was acknowledged.
    pub fn ack(&mut self, seq: u64) {
        if let Some(entry) = self.pending.get_mut(&seq) {
            entry.2 = entry.2.saturating_sub(1);
        }
        self.advance();
    }

    fn advance(&mut self) {
        while let Some(entry) = self.pending.first_entry() {
            if entry.get().2 > 0 {
                break;
            }
            let (token, key, _) = entry.remove();
            self.done += 1;
            self.mark = Some((token, key));
        }
    }

    /// The last (token, key) up to which everything is written, and how many partitions.
    pub fn mark(&self) -> Option<(Token, &[u8], u64)> {
        self.mark
            .as_ref()
            .map(|(t, k)| (*t, k.as_slice(), self.done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(token: i64, key: &[u8]) -> Partition {
        Partition {
            token: Token(token),
            key: key.to_vec(),
            deletion: None,
            range_deletions: Vec::new(),
            static_row: None,
            rows: vec![],
        }
    }

    #[test]
    fn the_mark_advances_only_past_partitions_whose_every_write_is_acknowledged() {
        let mut t = Tracker::default();
        let a = t.start(&p(1, b"a"), 2);
        let b = t.start(&p(2, b"b"), 1);
        t.ack(b);
        assert_eq!(t.mark(), None, "b is done but a is not");
        t.ack(a);
        assert_eq!(t.mark(), None, "a has a second write");
        t.ack(a);
        assert_eq!(t.mark(), Some((Token(2), &b"b"[..], 2)));
    }

    #[test]
    fn a_partition_with_nothing_to_write_counts_as_done_at_once() {
        let mut t = Tracker::default();
        t.start(&p(5, b"x"), 0);
        assert_eq!(t.mark(), Some((Token(5), &b"x"[..], 1)));
    }

    #[test]
    fn a_mark_covers_lower_tokens_and_equal_tokens_with_keys_up_to_its_own() {
        let mark = Mark {
            table: "ks.t".into(),
            token: 10,
            key_hex: hex(b"m"),
            partitions: 3,
        };
        assert!(mark.covers(&p(9, b"z")));
        assert!(mark.covers(&p(10, b"a")));
        assert!(mark.covers(&p(10, b"m")));
        assert!(!mark.covers(&p(10, b"n")));
        assert!(!mark.covers(&p(11, b"a")));
    }

    #[test]
    fn marks_write_the_checkpoint_file_only_when_one_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("load.checkpoint");
        let mut marks = Marks::new(Some(&path), "ks.t");
        marks.record(Token(4), b"k", 2).unwrap();
        let mark = read(&path, "ks.t").unwrap().unwrap();
        assert_eq!(
            (mark.token, mark.key_hex.as_str(), mark.partitions),
            (4, "6b", 2)
        );
        assert!(!marks.due(), "just written");
        let mut none = Marks::new(None, "ks.t");
        none.record(Token(4), b"k", 2).unwrap();
        assert!(!none.due());
    }

    #[test]
    fn checkpoints_round_trip_and_refuse_another_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("load.checkpoint");
        assert_eq!(read(&path, "ks.t").unwrap(), None);
        let mark = Mark {
            table: "ks.t".into(),
            token: -3,
            key_hex: "00ff".into(),
            partitions: 7,
        };
        write(&path, &mark).unwrap();
        assert_eq!(read(&path, "ks.t").unwrap(), Some(mark));
        assert!(matches!(
            read(&path, "ks.u"),
            Err(CheckpointError::OtherTable { .. })
        ));
    }
}

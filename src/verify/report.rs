//! What `verify` tells the user: the table on the terminal, `--report FILE.json`, and the
//! checkpoint a stopped run resumes from (the token ranges compared so far, with their counts).
//! Also how `--sample` picks its share of the ring: the same seed picks the same ranges.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::VerifyReport;
use super::compare::{Category, Tally};
use crate::exit::Classify;
use crate::source::cql::scan::range_of;

/// How often the checkpoint is rewritten at most.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReportError {
    #[error("cannot write the report {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot read the checkpoint {path}: {reason} (delete it to start the verify from the beginning)"
    )]
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

impl Classify for ReportError {
    fn is_usage(&self) -> bool {
        matches!(self, ReportError::OtherTable { .. })
    }
}

/// What the checkpoint file holds: every token range ending at or before `done_through` is
/// compared, and `tally` is what they held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub table: String,
    pub done_through: i64,
    pub ranges_done: u64,
    pub tally: Tally,
}

/// Reads a verify checkpoint, if the file exists.
pub fn read_checkpoint(path: &Path, table: &str) -> Result<Option<Resume>, ReportError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ReportError::Read {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
    };
    let resume: Resume = serde_json::from_str(&text).map_err(|e| ReportError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if resume.table != table {
        return Err(ReportError::OtherTable {
            path: path.to_owned(),
            found: resume.table,
            expected: table.to_owned(),
        });
    }
    Ok(Some(resume))
}

/// Keeps the checkpoint as the comparison moves from one token range into the next.
pub struct Checkpointer {
    path: Option<PathBuf>,
    table: String,
    /// Ranges compared by earlier runs.
    before: u64,
    /// The range of the partition compared last.
    current: usize,
    saved: Instant,
}

impl Checkpointer {
    pub fn new(path: Option<PathBuf>, table: &str, before: u64) -> Checkpointer {
        Checkpointer {
            path,
            table: table.to_owned(),
            before,
            current: 0,
            saved: Instant::now(),
        }
    }

    /// Called before the partition at `token` is compared, with the counts of everything
    /// before it: when it opens a new range, the ranges before it are whole. `settle` is
    /// called before a save and says whether it may go ahead (a repair: everything sent for
    /// the ranges before is written).
    pub fn reached(
        &mut self,
        token: i64,
        ranges: &[(i64, i64)],
        tally: &Tally,
        settle: impl FnOnce() -> bool,
    ) -> Result<(), ReportError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let Some(index) = range_of(ranges, token) else {
            return Ok(());
        };
        if index == self.current {
            return Ok(());
        }
        self.current = index;
        if index == 0 || self.saved.elapsed() < CHECKPOINT_EVERY || !settle() {
            return Ok(());
        }
        self.saved = Instant::now();
        let resume = Resume {
            table: self.table.clone(),
            done_through: ranges[index - 1].1,
            ranges_done: self.before + index as u64,
            tally: tally.clone(),
        };
        write_json(path, &resume)
    }

    /// The verify completed: a rerun starts from the beginning.
    pub fn finished(&self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes `value` as JSON to `path` atomically (a temporary file, then a rename).
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ReportError> {
    let err = |source| ReportError::Write {
        path: path.to_owned(),
        source,
    };
    let json = serde_json::to_string_pretty(value).map_err(|e| err(std::io::Error::other(e)))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, json + "\n").map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// A share `fraction` of `ranges`, picked by `seed` (at least one range).
pub fn sample_ranges(ranges: &[(i64, i64)], fraction: f64, seed: u64) -> Vec<(i64, i64)> {
    let mut picked: Vec<(i64, i64)> = ranges
        .iter()
        .enumerate()
        .filter(|(i, _)| (splitmix(seed ^ *i as u64) as f64 / u64::MAX as f64) < fraction)
        .map(|(_, r)| *r)
        .collect();
    if picked.is_empty()
        && let Some(first) = ranges.get((splitmix(seed) % ranges.len().max(1) as u64) as usize)
    {
        picked.push(*first);
    }
    picked
}

/// SplitMix64: a well-mixed 64-bit hash of `x`.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The JSON report.
#[derive(Debug, Serialize)]
struct Json {
    table: String,
    counts: Counts,
    rows: Rows,
    columns: serde_json::Map<String, serde_json::Value>,
    examples: serde_json::Map<String, serde_json::Value>,
    repair: Option<Repair>,
    sample: Option<Sample>,
    token_ranges: u64,
    source_rows_read: u64,
    source_rows_rejected: u64,
    elapsed_seconds: f64,
    compare_seconds: f64,
    rows_per_second: f64,
    cpu_seconds: f64,
    peak_rss_bytes: u64,
}

#[derive(Debug, Serialize)]
struct Counts {
    missing: u64,
    stale: u64,
    differs: u64,
    newer: u64,
    extra: u64,
}

#[derive(Debug, Serialize)]
struct Rows {
    source: u64,
    target: u64,
    matching: u64,
    to_repair: u64,
}

#[derive(Debug, Serialize)]
struct Repair {
    rows_written: u64,
    notes: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Sample {
    fraction: f64,
    seed: u64,
}

fn json(report: &VerifyReport) -> Json {
    let tally = &report.tally;
    let columns = tally
        .columns
        .iter()
        .map(|(name, counts)| {
            (
                name.clone(),
                serde_json::to_value(counts).unwrap_or(serde_json::Value::Null),
            )
        })
        .collect();
    let examples = Category::ALL
        .iter()
        .map(|&c| {
            (
                c.name().to_owned(),
                serde_json::Value::from(tally.examples[c as usize].clone()),
            )
        })
        .collect();
    Json {
        table: report.table.to_string(),
        counts: Counts {
            missing: tally.count(Category::Missing),
            stale: tally.count(Category::Stale),
            differs: tally.count(Category::Differs),
            newer: tally.count(Category::Newer),
            extra: tally.count(Category::Extra),
        },
        rows: Rows {
            source: tally.source_rows,
            target: tally.target_rows,
            matching: tally.matching,
            to_repair: tally.rows_to_repair,
        },
        columns,
        examples,
        repair: report.repair.as_ref().map(|(rows, sink)| Repair {
            rows_written: *rows,
            notes: sink.notes.clone(),
        }),
        sample: report
            .sample
            .map(|(fraction, seed)| Sample { fraction, seed }),
        token_ranges: report.ranges,
        source_rows_read: report.source.rows_read,
        source_rows_rejected: report.source.rows_rejected,
        elapsed_seconds: report.run.elapsed_seconds,
        compare_seconds: report.compare_seconds,
        rows_per_second: report.run.rows_per_second,
        cpu_seconds: report.run.cpu_seconds,
        peak_rss_bytes: report.run.peak_rss_bytes,
    }
}

/// Writes `--report FILE.json`.
pub fn write_report(report: &VerifyReport, path: &Path) -> Result<(), ReportError> {
    write_json(path, &json(report))
}

/// The table printed at the end of a verify.
pub fn render(report: &VerifyReport) -> String {
    use std::fmt::Write;
    let tally = &report.tally;
    let mut out = String::new();
    let scope = match report.sample {
        Some((fraction, seed)) => format!(
            " (a sample: {} of {} token ranges, {:.1}%, seed {seed})",
            report.ranges,
            crate::source::cql::RANGES,
            fraction * 100.0
        ),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "verify {}{scope}: {} rows in the source, {} in the table, {} match",
        report.table, tally.source_rows, tally.target_rows, tally.matching
    );
    let _ = writeln!(out, "  {:<9} {:>12}  examples", "category", "rows");
    for category in Category::ALL {
        let examples = &tally.examples[category as usize];
        let line = format!(
            "  {:<9} {:>12}  {}",
            category.name(),
            tally.count(category),
            examples
                .iter()
                .map(|k| format!("({k})"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let differing: Vec<_> = tally
        .columns
        .iter()
        .filter(|(_, c)| !c.is_empty())
        .collect();
    if !differing.is_empty() {
        let _ = writeln!(
            out,
            "  {:<20} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
            "column", "missing", "stale", "differs", "newer", "extra", "ttl", "dup.lists"
        );
        for (name, c) in differing {
            let _ = writeln!(
                out,
                "  {:<20} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
                name,
                c.missing,
                c.stale,
                c.differs,
                c.newer,
                c.extra,
                c.ttl,
                c.duplicated_list_elements
            );
        }
    }
    if report.source.rows_rejected > 0 {
        let _ = writeln!(
            out,
            "  {} source rows were rejected and not compared (see --rejects)",
            report.source.rows_rejected
        );
    }
    if let Some((rows, sink)) = &report.repair {
        let _ = writeln!(
            out,
            "repair: wrote {rows} rows with the source's write times (of {} missing, stale or differing)",
            tally.rows_to_repair
        );
        for note in &sink.notes {
            let _ = writeln!(out, "repair: {note}");
        }
    }
    let _ = writeln!(
        out,
        "verify: {:.1}s ({:.1}s reading the source, {:.1}s comparing), {:.0} rows/s, CPU {:.1}s, peak memory {} MiB",
        report.run.elapsed_seconds,
        (report.run.elapsed_seconds - report.compare_seconds).max(0.0),
        report.compare_seconds,
        report.run.rows_per_second,
        report.run.cpu_seconds,
        report.run.peak_rss_bytes >> 20
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_picks_about_its_share_of_ranges_and_the_same_for_the_same_seed() {
        let ranges = crate::source::cql::scan::split_ring(1024);
        let a = sample_ranges(&ranges, 0.1, 7);
        assert!((70..140).contains(&a.len()), "{}", a.len());
        assert_eq!(a, sample_ranges(&ranges, 0.1, 7));
        assert_ne!(a, sample_ranges(&ranges, 0.1, 8));
        assert!(a.windows(2).all(|w| w[0].1 <= w[1].0));
        assert_eq!(sample_ranges(&ranges, 0.0, 1).len(), 1);
        assert_eq!(sample_ranges(&ranges, 1.0, 1).len(), 1024);
    }

    #[test]
    fn a_checkpoint_is_saved_only_when_a_new_range_opens_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("verify.json");
        let ranges = crate::source::cql::scan::split_ring(4);
        let mut checkpointer = Checkpointer::new(Some(path.clone()), "ks.t", 0);
        checkpointer.saved = Instant::now() - CHECKPOINT_EVERY;
        let tally = Tally {
            matching: 3,
            ..Tally::default()
        };
        checkpointer
            .reached(ranges[0].1, &ranges, &tally, || true)
            .unwrap();
        assert!(!path.exists(), "the first range is not whole yet");
        checkpointer
            .reached(ranges[1].1, &ranges, &tally, || false)
            .unwrap();
        assert!(!path.exists(), "a save waits until it may go ahead");
        checkpointer
            .reached(ranges[2].1, &ranges, &tally, || true)
            .unwrap();
        let resume = read_checkpoint(&path, "ks.t").unwrap().unwrap();
        assert_eq!(resume.done_through, ranges[1].1);
        assert_eq!(resume.ranges_done, 2);
        assert_eq!(resume.tally.matching, 3);
        assert!(matches!(
            read_checkpoint(&path, "ks.other"),
            Err(ReportError::OtherTable { .. })
        ));
        checkpointer.finished();
        assert!(!path.exists());
    }
}

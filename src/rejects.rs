//! Rejected rows: every row that cannot be loaded is written to the `--rejects` file as one JSON
//! object per line (file, table, line, column, reason, the raw input), counted, and the run stops
//! once more than `--max-errors` rows were rejected. Nothing is dropped silently.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use thiserror::Error;

use crate::exit::Classify;

/// The most a reject's `raw` rendering of a row holds, in bytes.
pub const RAW_LIMIT: usize = 1024;

/// Cuts a row's raw rendering to [`RAW_LIMIT`] bytes (at a character boundary, marked `…`).
pub fn clip_raw(mut raw: String) -> String {
    if raw.len() > RAW_LIMIT {
        let cut = (0..=RAW_LIMIT)
            .rev()
            .find(|&i| raw.is_char_boundary(i))
            .unwrap_or(0);
        raw.truncate(cut);
        raw.push('…');
    }
    raw
}

/// One rejected row.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reject {
    pub file: String,
    pub table: String,
    pub line: u64,
    pub column: Option<String>,
    pub reason: String,
    pub raw: String,
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RejectError {
    #[error("cannot write the rejects file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "stopped: {count} rows rejected, more than --max-errors {max}{where_}; the first: {first}"
    )]
    TooMany {
        count: u64,
        max: u64,
        where_: String,
        first: String,
    },
}

impl Classify for RejectError {
    /// Too many rejects is a failure of the input; an unwritable file one of the machine.
    fn is_usage(&self) -> bool {
        false
    }
}

/// Collects rejects; shared by the reader threads.
pub struct Rejects {
    path: Option<PathBuf>,
    max: u64,
    state: Mutex<State>,
}

struct State {
    out: Option<BufWriter<File>>,
    count: u64,
    first: Option<String>,
}

impl Rejects {
    /// Creates (truncates) the rejects file, if one is asked for.
    pub fn new(path: Option<&Path>, max: u64) -> Result<Rejects, RejectError> {
        let out = path
            .map(|p| {
                File::create(p)
                    .map(BufWriter::new)
                    .map_err(|source| RejectError::Io {
                        path: p.to_owned(),
                        source,
                    })
            })
            .transpose()?;
        Ok(Rejects {
            path: path.map(Path::to_owned),
            max,
            state: Mutex::new(State {
                out,
                count: 0,
                first: None,
            }),
        })
    }

    /// Records a reject; fails once more than `max` rows were rejected.
    pub fn add(&self, reject: Reject) -> Result<(), RejectError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.count += 1;
        let summary = format!(
            "{}:{}{}: {}",
            reject.file,
            reject.line,
            reject
                .column
                .as_ref()
                .map(|c| format!(" column {c}"))
                .unwrap_or_default(),
            reject.reason
        );
        tracing::warn!("rejected {summary}");
        state.first.get_or_insert(summary);
        if let Some(out) = state.out.as_mut() {
            let line = serde_json::to_string(&reject).map_err(std::io::Error::other);
            let written = line.and_then(|l| writeln!(out, "{l}"));
            if let Err(source) = written {
                return Err(RejectError::Io {
                    path: self.path.clone().unwrap_or_default(),
                    source,
                });
            }
        }
        if state.count > self.max {
            let _ = state.out.as_mut().map(BufWriter::flush);
            return Err(RejectError::TooMany {
                count: state.count,
                max: self.max,
                where_: self
                    .path
                    .as_ref()
                    .map(|p| format!(" (all of them are in {})", p.display()))
                    .unwrap_or_else(|| " (pass --rejects FILE to keep them)".to_owned()),
                first: state.first.clone().unwrap_or_default(),
            });
        }
        Ok(())
    }

    pub fn count(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).count
    }

    /// Flushes the file.
    pub fn finish(&self) -> Result<(), RejectError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(out) = state.out.as_mut() {
            out.flush().map_err(|source| RejectError::Io {
                path: self.path.clone().unwrap_or_default(),
                source,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(line: u64) -> Reject {
        Reject {
            file: "a.sql".into(),
            table: "public.accounts".into(),
            line,
            column: Some("balance".into()),
            reason: "`x` is not a decimal number".into(),
            raw: "x".into(),
        }
    }

    #[test]
    fn rejects_are_written_as_json_lines_and_the_run_stops_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rejects.jsonl");
        let rejects = Rejects::new(Some(&path), 2).unwrap();
        rejects.add(reject(7)).unwrap();
        rejects.add(reject(8)).unwrap();
        let err = rejects.add(reject(9)).unwrap_err();
        assert!(
            err.to_string()
                .contains("3 rows rejected, more than --max-errors 2"),
            "{err}"
        );
        assert!(err.to_string().contains("a.sql:7 column balance"), "{err}");
        rejects.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["line"], 7);
        assert_eq!(first["column"], "balance");
    }
}

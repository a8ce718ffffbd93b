//! The SSTable sink behind the sink seam (`--via sstable`): merged partitions, in token order,
//! written as `nb` SSTables of about `--sstable-size` each under
//! `<sstable-dir>/<keyspace>/<table>/`, then handed to the cluster: `import` runs
//! `nodetool import --extended-verify` on that folder (the node must see it: one machine, or a folder shipped
//! there), `none` leaves the folder and says how to load it. After a successful import the
//! folder is removed; on failure it is kept and named, so the operator can retry the import.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use thiserror::Error;

use super::writer::{SstableWriteError, SstableWriter};
use crate::checkpoint::Marks;
use crate::exit::Classify;
use crate::model::TableSchema;
use crate::progress::Counters;
use crate::sink::{PartitionStream, Sink, SinkError, SinkReport};

/// How the written SSTables get into the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stream {
    /// Write them and print the command that would load them.
    None,
    /// `nodetool import` of the folder; the command to run nodetool, split on spaces.
    Import { nodetool: String },
}

#[derive(Debug, Clone)]
pub struct SstableSinkOptions {
    /// Where the `<keyspace>/<table>/` folder goes.
    pub dir: PathBuf,
    /// Bytes of (uncompressed) Data.db after which the next SSTable starts.
    pub sstable_size: u64,
    pub stream: Stream,
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SstableSinkError {
    #[error(transparent)]
    Write(#[from] SstableWriteError),
    #[error(
        "cannot create {path}: {source} (give --sstable-dir a writable folder with free space)"
    )]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path} already holds SSTables; give --sstable-dir an empty folder (or remove them) so nothing old is imported"
    )]
    NotEmpty { path: String },
    #[error(
        "`{command}` failed: {reason}; the SSTables are kept in {path}: run the import again once the cause is fixed (--nodetool names the command)"
    )]
    Import {
        command: String,
        reason: String,
        path: String,
    },
}

impl Classify for SstableSinkError {
    fn is_usage(&self) -> bool {
        matches!(
            self,
            SstableSinkError::Folder { .. } | SstableSinkError::NotEmpty { .. }
        )
    }
}

impl Classify for SstableWriteError {
    fn is_usage(&self) -> bool {
        false
    }
}

pub struct SstableSink {
    schema: Arc<TableSchema>,
    options: SstableSinkOptions,
    counters: Arc<Counters>,
    folder: PathBuf,
    sstables: Vec<PathBuf>,
    bytes: u64,
}

impl SstableSink {
    pub fn new(
        schema: Arc<TableSchema>,
        options: SstableSinkOptions,
        counters: Arc<Counters>,
    ) -> SstableSink {
        let folder = options
            .dir
            .join(&schema.name.keyspace)
            .join(&schema.name.table);
        SstableSink {
            schema,
            options,
            counters,
            folder,
            sstables: Vec::new(),
            bytes: 0,
        }
    }

    fn import(&self) -> Result<(), SstableSinkError> {
        let Stream::Import { nodetool } = &self.options.stream else {
            return Ok(());
        };
        let mut words = nodetool.split_whitespace();
        let program = words.next().unwrap_or("nodetool");
        let mut command = Command::new(program);
        // Extended verification: the node reads every partition before it takes the files.
        command.args(words).args([
            "import",
            "--extended-verify",
            &self.schema.name.keyspace,
            &self.schema.name.table,
        ]);
        command.arg(&self.folder);
        let shown = format!(
            "{nodetool} import --extended-verify {} {} {}",
            self.schema.name.keyspace,
            self.schema.name.table,
            self.folder.display()
        );
        let failed = |reason: String| SstableSinkError::Import {
            command: shown.clone(),
            reason,
            path: self.folder.display().to_string(),
        };
        let out = command.output().map_err(|e| failed(e.to_string()))?;
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(failed(format!("{} ({})", out.status, text.trim())));
        }
        // nodetool import names the folders it could not import (and exits 1 since 4.0).
        if text.contains("failed to import") {
            return Err(failed(text.trim().to_owned()));
        }
        Ok(())
    }
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).map_or(true, |mut d| d.next().is_none())
}

impl Sink for SstableSink {
    fn open(&mut self) -> Result<(), SinkError> {
        if !is_empty_dir(&self.folder) {
            return Err(SstableSinkError::NotEmpty {
                path: self.folder.display().to_string(),
            }
            .into());
        }
        std::fs::create_dir_all(&self.folder).map_err(|source| SstableSinkError::Folder {
            path: self.folder.display().to_string(),
            source,
        })?;
        Ok(())
    }

    fn write(&mut self, partitions: PartitionStream, _marks: &mut Marks) -> Result<(), SinkError> {
        let mut writer: Option<SstableWriter> = None;
        let mut generation = 0;
        for partition in partitions {
            let current = match &mut writer {
                Some(w) => w,
                None => {
                    generation += 1;
                    writer.insert(
                        SstableWriter::create(&self.folder, generation, &self.schema)
                            .map_err(SstableSinkError::from)?,
                    )
                }
            };
            current.append(&partition).map_err(SstableSinkError::from)?;
            let rows = partition.rows.len() + usize::from(partition.static_row.is_some());
            Counters::add(&self.counters.rows_written, rows.max(1) as u64);
            if current.data_length() >= self.options.sstable_size {
                self.bytes += current.data_length();
                if let Some(done) = writer.take() {
                    self.sstables
                        .push(done.finish().map_err(SstableSinkError::from)?);
                }
            }
        }
        if let Some(done) = writer.take() {
            self.bytes += done.data_length();
            self.sstables
                .push(done.finish().map_err(SstableSinkError::from)?);
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<SinkReport, SinkError> {
        let mut notes = vec![format!(
            "{} SSTable{} (nb, {:.1} MiB of data) written to {}",
            self.sstables.len(),
            if self.sstables.len() == 1 { "" } else { "s" },
            self.bytes as f64 / (1024.0 * 1024.0),
            self.folder.display()
        )];
        match &self.options.stream {
            Stream::None => notes.push(format!(
                "load them with: nodetool import {} {} {} (on a node that sees the folder), or sstableloader -d HOSTS {}",
                self.schema.name.keyspace,
                self.schema.name.table,
                self.folder.display(),
                self.folder.display()
            )),
            Stream::Import { .. } => {
                if !self.sstables.is_empty() {
                    self.import()?;
                }
                notes.push("imported with nodetool import".into());
                let _ = std::fs::remove_dir(&self.folder);
                if let Some(ks) = self.folder.parent() {
                    let _ = std::fs::remove_dir(ks);
                }
            }
        }
        Ok(SinkReport { notes })
    }
}

//! The SSTable sink behind the sink seam (`--via sstable`): merged partitions, in token order,
//! written as `nb` SSTables of about `--sstable-size` each under
//! `<sstable-dir>/<keyspace>/<table>/`, then handed to the cluster: `import` runs
//! `nodetool import --extended-verify` on that folder (the node must see it: one machine, or a folder shipped
//! there), `sstableloader` streams it to every replica (Cassandra's BulkLoader), `none` leaves
//! the folder and says how to load it. After a successful import the
//! folder is removed; on failure it is kept and named, so the operator can retry the import.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use thiserror::Error;

use super::data::Format;
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
    /// Cassandra's `sstableloader -d HOSTS [-p PORT]` of the folder: every replica gets its
    /// part. The command, split on spaces.
    Loader {
        sstableloader: String,
        hosts: Vec<String>,
        port: u16,
    },
}

#[derive(Debug, Clone)]
pub struct SstableSinkOptions {
    /// Where the `<keyspace>/<table>/` folder goes.
    pub dir: PathBuf,
    /// Bytes of (uncompressed) Data.db after which the next SSTable starts.
    pub sstable_size: u64,
    pub stream: Stream,
    /// `None`: what the cluster reads (see [`pick_format`]).
    pub format: Option<Format>,
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
        "`{command}` failed: {reason}; the SSTables are kept in {path}: run it again once the cause is fixed (--nodetool or --sstableloader names the command)"
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
    format: Format,
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
        format: Format,
    ) -> SstableSink {
        let folder = options
            .dir
            .join(&schema.name.keyspace)
            .join(&schema.name.table);
        SstableSink {
            format,
            schema,
            options,
            counters,
            folder,
            sstables: Vec::new(),
            bytes: 0,
        }
    }

    /// Runs the command that takes the SSTables into the cluster.
    fn load(&self) -> Result<(), SstableSinkError> {
        let (tool, args): (&String, Vec<String>) = match &self.options.stream {
            Stream::None => return Ok(()),
            // Extended verification: the node reads every partition before it takes the files.
            Stream::Import { nodetool } => (
                nodetool,
                vec![
                    "import".into(),
                    "--extended-verify".into(),
                    self.schema.name.keyspace.clone(),
                    self.schema.name.table.clone(),
                    self.folder.display().to_string(),
                ],
            ),
            Stream::Loader {
                sstableloader,
                hosts,
                port,
            } => (
                sstableloader,
                vec![
                    "-d".into(),
                    hosts.join(","),
                    "-p".into(),
                    port.to_string(),
                    self.folder.display().to_string(),
                ],
            ),
        };
        let mut words = tool.split_whitespace();
        let program = words.next().unwrap_or("nodetool");
        let mut command = Command::new(program);
        command.args(words).args(&args);
        let shown = format!("{tool} {}", args.join(" "));
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
        // sstableloader's exit status is its verdict: its driver logs ERRORs about schema it
        // cannot parse (vector types) and streams anyway.
        if text.contains("failed to import") {
            return Err(failed(text.trim().to_owned()));
        }
        Ok(())
    }
}

/// The format the cluster reads best: `oa` where every node is 5.0 or later with
/// `storage_compatibility_mode: NONE` (it streams only `o*` files to such nodes), else `nb`
/// (what 4.0, 4.1 and 5.0 in its default mode read). Read from `system_views.settings`.
pub async fn pick_format(session: &scylla::client::session::Session) -> Format {
    let query = "SELECT value FROM system_views.settings WHERE name = 'storage_compatibility_mode'";
    let mode = async {
        let rows = session
            .query_unpaged(query, ())
            .await
            .ok()?
            .into_rows_result()
            .ok()?;
        let (value,): (Option<String>,) = rows.first_row().ok()?;
        value
    }
    .await;
    if mode.as_deref() == Some("NONE") {
        Format::Oa
    } else {
        Format::Nb
    }
}

/// Removes every component of the SSTable whose Data.db is `data` (sstableloader leaves them;
/// nodetool import has already moved them).
fn remove_sstable(data: &Path) {
    let Some(prefix) = data
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix("Data.db"))
    else {
        return;
    };
    if let Some(dir) = data.parent()
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(prefix))
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
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
                        SstableWriter::create(&self.folder, generation, &self.schema, self.format)
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
            "{} SSTable{} ({}, {:.1} MiB of data) written to {}",
            self.sstables.len(),
            if self.sstables.len() == 1 { "" } else { "s" },
            self.format.version(),
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
            Stream::Import { .. } | Stream::Loader { .. } => {
                if !self.sstables.is_empty() {
                    self.load()?;
                }
                notes.push(
                    if matches!(self.options.stream, Stream::Import { .. }) {
                        "imported with nodetool import"
                    } else {
                        "streamed to every replica with sstableloader"
                    }
                    .into(),
                );
                for sstable in &self.sstables {
                    remove_sstable(sstable);
                }
                let _ = std::fs::remove_dir(&self.folder);
                if let Some(ks) = self.folder.parent() {
                    let _ = std::fs::remove_dir(ks);
                }
            }
        }
        Ok(SinkReport { notes })
    }
}

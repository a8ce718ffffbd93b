//! The SSTable sink behind the sink seam (`--via sstable`): merged partitions, in token order,
//! written as SSTables of about `--sstable-size` each, cut along the ring (`ring.rs`): an
//! SSTable holds one region of ranges one replica set owns, so Cassandra streams it whole.
//! They go under `<sstable-dir>/<keyspace>/<table>/` when one replica set owns the whole ring,
//! else under `<sstable-dir>/<replicas>/<keyspace>/<table>/`, a folder per replica set. Then
//! each folder is handed to the cluster: `import` runs `nodetool import --extended-verify` on it
//! (the node must see it: one machine, or a folder shipped there), `sstableloader` streams it to
//! its replicas (Cassandra's BulkLoader), `none` leaves the folders and says how to load them.
//! A folder is removed once loaded; on failure the rest are kept and named (with the failed
//! folder's nodes and token ranges), so the operator can load them by hand.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use thiserror::Error;

use super::data::Format;
use super::ring::Ring;
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
        "`{command}` failed for the SSTables of replicas {nodes} (token ranges {ranges}): {reason}; the SSTables not loaded are kept in {kept}: run it again once the cause is fixed (--nodetool or --sstableloader names the command)"
    )]
    Import {
        command: String,
        nodes: String,
        ranges: String,
        reason: String,
        kept: String,
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
    ring: Ring,
    /// The folder of each replica set of the ring.
    folders: Vec<PathBuf>,
    /// Data.db of every SSTable written, with its replica set and region.
    sstables: Vec<(usize, usize, PathBuf)>,
    bytes: u64,
}

/// A folder name for a replica set: its addresses joined by `+` (`:` of IPv6 as `.`).
fn set_label(nodes: &[String]) -> String {
    let label = nodes.join("+").replace(':', ".");
    if label.is_empty() {
        "replicas".into()
    } else {
        label
    }
}

impl SstableSink {
    pub fn new(
        schema: Arc<TableSchema>,
        options: SstableSinkOptions,
        counters: Arc<Counters>,
        format: Format,
        ring: Ring,
    ) -> SstableSink {
        let table = |dir: PathBuf| dir.join(&schema.name.keyspace).join(&schema.name.table);
        let folders = match ring.sets() {
            [_] => vec![table(options.dir.clone())],
            sets => sets
                .iter()
                .map(|set| table(options.dir.join(set_label(set))))
                .collect(),
        };
        SstableSink {
            format,
            schema,
            options,
            counters,
            ring,
            folders,
            sstables: Vec::new(),
            bytes: 0,
        }
    }

    /// The replica sets whose folders hold SSTables, in the order they were first written.
    fn sets_written(&self) -> Vec<usize> {
        let mut sets: Vec<usize> = Vec::new();
        for (set, _, _) in &self.sstables {
            if !sets.contains(set) {
                sets.push(*set);
            }
        }
        sets
    }

    /// The token ranges of the regions of `set` that got SSTables.
    fn ranges_of(&self, set: usize) -> String {
        let mut regions: Vec<usize> = self
            .sstables
            .iter()
            .filter(|(s, _, _)| *s == set)
            .map(|(_, r, _)| *r)
            .collect();
        regions.dedup();
        let shown: Vec<String> = regions
            .iter()
            .take(4)
            .map(|r| self.ring.describe(*r))
            .collect();
        match regions.len() {
            n if n > 4 => format!("{} and {} more", shown.join(", "), n - 4),
            _ => shown.join(", "),
        }
    }

    /// Runs the command that takes one replica set's SSTables into the cluster.
    fn load(&self, set: usize, kept: &[usize]) -> Result<(), SstableSinkError> {
        let folder = &self.folders[set];
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
                    folder.display().to_string(),
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
                    folder.display().to_string(),
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
            nodes: self.ring.sets()[set].join(", "),
            ranges: self.ranges_of(set),
            reason,
            kept: kept
                .iter()
                .map(|s| self.folders[*s].display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
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

/// The ring of the table's keyspace as the driver sees it: each ring token with the replicas
/// of the range ending at it.
pub fn ring_of(session: &scylla::client::session::Session, schema: &TableSchema) -> Ring {
    let state = session.get_cluster_state();
    let (ks, table) = (&schema.name.keyspace, &schema.name.table);
    let ranges: Vec<(i64, Vec<String>)> = state
        .replica_locator()
        .ring()
        .iter()
        .map(|(token, _)| {
            let nodes = state
                .get_token_endpoints(ks, table, *token)
                .into_iter()
                .map(|(node, _)| node.address.ip().to_string())
                .collect();
            (token.value(), nodes)
        })
        .collect();
    Ring::from_ranges(ranges)
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

impl SstableSink {
    /// Finishes an SSTable and records it.
    fn close(&mut self, writer: Option<(usize, SstableWriter)>) -> Result<(), SstableSinkError> {
        if let Some((region, done)) = writer {
            self.bytes += done.data_length();
            let data = done.finish()?;
            self.sstables.push((self.ring.owner(region), region, data));
        }
        Ok(())
    }
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).map_or(true, |mut d| d.next().is_none())
}

impl Sink for SstableSink {
    fn open(&mut self) -> Result<(), SinkError> {
        for folder in &self.folders {
            if !is_empty_dir(folder) {
                return Err(SstableSinkError::NotEmpty {
                    path: folder.display().to_string(),
                }
                .into());
            }
            std::fs::create_dir_all(folder).map_err(|source| SstableSinkError::Folder {
                path: folder.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    fn write(&mut self, partitions: PartitionStream, _marks: &mut Marks) -> Result<(), SinkError> {
        // The SSTable being written, with its region.
        let mut writer: Option<(usize, SstableWriter)> = None;
        let mut generation = 0;
        for partition in partitions {
            let region = self.ring.region(partition.token.0);
            if writer.as_ref().is_some_and(|(r, _)| *r != region) {
                self.close(writer.take())?;
            }
            let (_, current) = match &mut writer {
                Some(w) => w,
                None => {
                    generation += 1;
                    let folder = &self.folders[self.ring.owner(region)];
                    let created =
                        SstableWriter::create(folder, generation, &self.schema, self.format)
                            .map_err(SstableSinkError::from)?;
                    writer.insert((region, created))
                }
            };
            current.append(&partition).map_err(SstableSinkError::from)?;
            let rows = partition.rows.len() + usize::from(partition.static_row.is_some());
            Counters::add(&self.counters.rows_written, rows.max(1) as u64);
            if current.data_length() >= self.options.sstable_size {
                self.close(writer.take())?;
            }
        }
        Ok(self.close(writer.take())?)
    }

    fn finish(self: Box<Self>) -> Result<SinkReport, SinkError> {
        let sets = self.sets_written();
        let written = if self.folders.len() == 1 {
            format!("to {}", self.folders[0].display())
        } else {
            format!(
                "under {}, a folder for each of {} replica sets, cut along {} ring regions",
                self.options.dir.display(),
                sets.len(),
                self.ring.regions()
            )
        };
        let mut notes = vec![format!(
            "{} SSTable{} ({}, {:.1} MiB of data) written {written}",
            self.sstables.len(),
            if self.sstables.len() == 1 { "" } else { "s" },
            self.format.version(),
            self.bytes as f64 / (1024.0 * 1024.0),
        )];
        match &self.options.stream {
            Stream::None => {
                for &set in &sets {
                    let folder = self.folders[set].display();
                    notes.push(format!(
                        "load {folder} with: nodetool import {} {} {folder} (on a node that sees the folder), or sstableloader -d {} {folder}",
                        self.schema.name.keyspace,
                        self.schema.name.table,
                        self.ring.sets()[set].first().map_or("HOSTS", String::as_str),
                    ));
                }
            }
            Stream::Import { .. } | Stream::Loader { .. } => {
                for (i, &set) in sets.iter().enumerate() {
                    self.load(set, &sets[i..])?;
                    for (_, _, sstable) in self.sstables.iter().filter(|(s, _, _)| *s == set) {
                        remove_sstable(sstable);
                    }
                    let folder = &self.folders[set];
                    let _ = std::fs::remove_dir(folder);
                    // The keyspace folder, and the replica set's.
                    for parent in folder.ancestors().skip(1).take(2) {
                        if parent != self.options.dir {
                            let _ = std::fs::remove_dir(parent);
                        }
                    }
                }
                notes.push(
                    if matches!(self.options.stream, Stream::Import { .. }) {
                        "imported with nodetool import"
                    } else {
                        "streamed to every replica with sstableloader"
                    }
                    .into(),
                );
            }
        }
        Ok(SinkReport { notes })
    }
}

//! The SSTable sink behind the sink seam (`--via sstable`): merged partitions, in token order,
//! written as SSTables of about `--sstable-size` each, cut along the ring (`ring.rs`): an
//! SSTable holds one region of ranges one replica set owns, so Cassandra streams it whole.
//! They go under `<sstable-dir>/<keyspace>/<table>/` when one replica set owns the whole ring,
//! else under `<sstable-dir>/<replicas>/<keyspace>/<table>/`, a folder per replica set. Then
//! each folder is handed to the cluster: `import` runs `nodetool import` on it (with
//! `--extended-verify` under `--import-verify extended`; the node must see it: one machine, or
//! a folder shipped there), `sstableloader` streams it to its replicas (Cassandra's
//! BulkLoader), `none` leaves the folders and says how to load them.
//! A folder is removed once loaded; on failure the rest are kept and named (with the failed
//! folder's nodes and token ranges), so the operator can load them by hand.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::Instant;

use thiserror::Error;

use super::data::Format;
use super::ring::Ring;
use super::tools::{JmxLogin, LoaderTls, ToolError, ToolFiles};
use super::writer::{SstableWriteError, SstableWriter};
use crate::checkpoint::Marks;
use crate::cleanup::Registered;
use crate::exit::Classify;
use crate::model::{Partition, TableSchema};
use crate::progress::Counters;
use crate::sink::{PartitionStream, Sink, SinkError, SinkReport};

/// How the written SSTables get into the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stream {
    /// Write them and print the command that would load them.
    None,
    /// `nodetool import` of the folder; the command to run nodetool, split on spaces. With
    /// `extended_verify` the node reads back every partition first (`--extended-verify`);
    /// else it checks each Data.db's digest and that it owns the tokens (nodetool's default).
    Import {
        nodetool: String,
        extended_verify: bool,
        /// For nodes whose JMX requires a login (`-u NAME -pwf FILE`).
        jmx: Option<JmxLogin>,
    },
    /// Cassandra's `sstableloader -d HOSTS [-p PORT]` of the folder: every replica gets its
    /// part. The command, split on spaces.
    Loader {
        sstableloader: String,
        hosts: Vec<String>,
        port: u16,
        /// TLS to the native port (`-f` a configuration naming the PEM files).
        tls: Option<LoaderTls>,
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
    /// What identifies the load (its table, inputs and options; the job computes it): a rerun
    /// with the same value loads the SSTables a failed load left, without writing them again.
    pub job: String,
    /// sstableloader streams to the local data center's replicas only (`--local-dc-only`);
    /// the others are named in the summary with what to run.
    pub local_dc_only: bool,
    /// The local data center (the job fills it in from its connection).
    pub local_dc: Option<String>,
}

/// The file in `--sstable-dir` that says which folders a load wrote and has not loaded yet.
pub const MANIFEST: &str = "cassbulk-manifest.json";

/// What a load left to load: written by the sink once every SSTable is finished, rewritten
/// as each folder is loaded, removed at the end.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Manifest {
    table: String,
    job: String,
    format: Format,
    pending: Vec<Pending>,
}

/// A folder of SSTables still to load: its replica set and token ranges, for messages.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Pending {
    folder: PathBuf,
    nodes: Vec<String>,
    ranges: String,
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SstableSinkError {
    #[error(transparent)]
    Write(#[from] SstableWriteError),
    #[error(
        "an SSTable writer thread stopped unexpectedly; this is a bug in cassbulk, please report it"
    )]
    Thread,
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
        "{path} says its SSTables were written by another load ({reason}); give --sstable-dir another folder, or remove that one"
    )]
    OtherLoad { path: String, reason: String },
    #[error("cannot read or write {path}: {reason}")]
    Manifest { path: String, reason: String },
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(
        "`{command}` failed for the SSTables of replicas {nodes} (token ranges {ranges}): {reason}; the SSTables not loaded are kept in {kept}: once the cause is fixed, run the same cassbulk command again: it loads them without reading the input again (--nodetool or --sstableloader names the command)"
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
            SstableSinkError::Folder { .. }
                | SstableSinkError::NotEmpty { .. }
                | SstableSinkError::OtherLoad { .. }
        ) || matches!(self, SstableSinkError::Tool(e) if e.is_usage())
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
    /// The ring region of every SSTable written.
    regions: Vec<usize>,
    bytes: u64,
    /// What an earlier run of the same load left to load (its manifest's folders).
    resumed: Option<Vec<Pending>>,
    /// The folders being written, removed on Ctrl-C until every SSTable is finished.
    interrupt: Vec<Registered>,
    /// Nodes of other data centers sstableloader leaves out (`--local-dc-only`).
    remote: Vec<String>,
    /// Nodes down when the load began, which sstableloader leaves out too.
    down: Vec<String>,
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
            regions: Vec::new(),
            bytes: 0,
            resumed: None,
            interrupt: Vec::new(),
            remote: Vec::new(),
            down: Vec::new(),
        }
    }

    /// Leaves out these nodes when streaming: other data centers' (`--local-dc-only`) and
    /// those down.
    pub fn leave_out(&mut self, remote: Vec<String>, down: Vec<String>) {
        self.remote = remote;
        self.down = down;
    }

    fn manifest_path(&self) -> PathBuf {
        self.options.dir.join(MANIFEST)
    }

    /// Writes the manifest of what is left to load (removes it when nothing is).
    fn save_manifest(&self, pending: &[Pending]) -> Result<(), SstableSinkError> {
        let path = self.manifest_path();
        let failed = |reason: String| SstableSinkError::Manifest {
            path: path.display().to_string(),
            reason,
        };
        if pending.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(failed(e.to_string())),
                _ => Ok(()),
            };
        }
        let manifest = Manifest {
            table: self.schema.name.to_string(),
            job: self.options.job.clone(),
            format: self.format,
            pending: pending.to_vec(),
        };
        let text = serde_json::to_string_pretty(&manifest).map_err(|e| failed(e.to_string()))?;
        // Written whole, then renamed: a crash leaves the old manifest or the new one.
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, text).map_err(|e| failed(e.to_string()))?;
        std::fs::rename(&partial, &path).map_err(|e| failed(e.to_string()))
    }

    /// What an earlier run left, when `--sstable-dir` has a manifest: `Ok(Some)` for this same
    /// load, an error for another one.
    fn read_manifest(&self) -> Result<Option<Manifest>, SstableSinkError> {
        let path = self.manifest_path();
        let failed = |reason: String| SstableSinkError::Manifest {
            path: path.display().to_string(),
            reason,
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(failed(e.to_string())),
        };
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| failed(e.to_string()))?;
        let other = |reason: String| SstableSinkError::OtherLoad {
            path: self.options.dir.display().to_string(),
            reason,
        };
        let table = self.schema.name.to_string();
        if manifest.table != table {
            return Err(other(format!("for table {}, not {table}", manifest.table)));
        }
        if manifest.job != self.options.job {
            return Err(other(
                "of other inputs or options, or inputs changed since".into(),
            ));
        }
        Ok(Some(manifest))
    }

    /// The folders this run wrote, in the order they were first written.
    fn pending(&self) -> Vec<Pending> {
        self.sets_written()
            .into_iter()
            .map(|set| Pending {
                folder: self.folders[set].clone(),
                nodes: self.ring.sets()[set].clone(),
                ranges: self.ranges_of(set),
            })
            .collect()
    }

    /// The replica sets whose folders hold SSTables, in the order they were first written.
    fn sets_written(&self) -> Vec<usize> {
        let mut sets: Vec<usize> = Vec::new();
        for &region in &self.regions {
            let set = self.ring.owner(region);
            if !sets.contains(&set) {
                sets.push(set);
            }
        }
        sets
    }

    /// The token ranges of the regions of `set` that got SSTables.
    fn ranges_of(&self, set: usize) -> String {
        let mut regions: Vec<usize> = self
            .regions
            .iter()
            .copied()
            .filter(|&r| self.ring.owner(r) == set)
            .collect();
        // Writer threads record their SSTables in turn: a region shows up more than once.
        regions.sort_unstable();
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

    /// Runs the command that takes one replica set's SSTables into the cluster; `kept` are
    /// the folders still to load, this one first.
    fn load(
        &self,
        pending: &Pending,
        kept: &[Pending],
        files: &ToolFiles,
    ) -> Result<(), SstableSinkError> {
        let folder = &pending.folder;
        // Options that name files holding secrets: shown as they are (paths, no secrets).
        let mut settings = Vec::new();
        let (tool, args): (&String, Vec<String>) = match &self.options.stream {
            Stream::None => return Ok(()),
            Stream::Import {
                nodetool,
                extended_verify,
                jmx,
            } => (nodetool, {
                if let Some(login) = jmx {
                    settings = files.nodetool_login(login)?;
                }
                ["import"]
                    .into_iter()
                    .chain(extended_verify.then_some("--extended-verify"))
                    .map(String::from)
                    .chain([
                        self.schema.name.keyspace.clone(),
                        self.schema.name.table.clone(),
                        folder.display().to_string(),
                    ])
                    .collect()
            }),
            Stream::Loader {
                sstableloader,
                hosts,
                port,
                tls,
            } => (sstableloader, {
                if let Some(tls) = tls {
                    settings = files.loader_tls(tls)?;
                }
                let ignored: Vec<&str> = self
                    .remote
                    .iter()
                    .chain(&self.down)
                    .map(String::as_str)
                    .collect();
                if !ignored.is_empty() {
                    settings.extend(["-i".to_owned(), ignored.join(",")]);
                }
                vec![
                    "-d".into(),
                    hosts.join(","),
                    "-p".into(),
                    port.to_string(),
                    folder.display().to_string(),
                ]
            }),
        };
        let mut words = tool.split_whitespace();
        let program = words.next().unwrap_or("nodetool");
        let mut command = Command::new(program);
        command.args(words).args(&settings).args(&args);
        let shown = format!(
            "{tool} {}",
            settings
                .iter()
                .chain(&args)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        );
        let failed = |reason: String| SstableSinkError::Import {
            command: shown.clone(),
            nodes: pending.nodes.join(", "),
            ranges: pending.ranges.clone(),
            reason,
            kept: kept
                .iter()
                .map(|p| p.folder.display().to_string())
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

/// Writer threads at most; more cores than that go to the stages around them.
const MAX_WRITERS: usize = 8;
/// Partitions handed to a writer thread at a time; a batch never crosses a region's edge.
const BATCH: usize = 512;

/// What writing produced: the ring region of each SSTable, and bytes of Data.db.
#[derive(Default)]
struct Written {
    regions: Vec<usize>,
    bytes: u64,
}

/// What every writer needs to know.
struct WriterJob<'a> {
    ring: &'a Ring,
    folders: &'a [PathBuf],
    schema: &'a TableSchema,
    format: Format,
    sstable_size: u64,
    counters: &'a Counters,
    /// The last generation taken: every SSTable of the load gets its own.
    generation: AtomicU64,
}

impl WriterJob<'_> {
    /// Writes partitions in token order, each with its ring region, into SSTables that end at
    /// each region's edge and at `--sstable-size`.
    fn write_all(
        &self,
        partitions: impl IntoIterator<Item = (usize, Partition)>,
        out: &mut Written,
    ) -> Result<(), SstableSinkError> {
        let mut writer: Option<(usize, SstableWriter)> = None;
        for (region, partition) in partitions {
            if writer.as_ref().is_some_and(|(r, _)| *r != region) {
                self.close(writer.take(), out)?;
            }
            let (_, current) = match &mut writer {
                Some(w) => w,
                None => {
                    let generation = self.generation.fetch_add(1, AtomicOrdering::Relaxed) + 1;
                    let folder = &self.folders[self.ring.owner(region)];
                    let created =
                        SstableWriter::create(folder, generation, self.schema, self.format)?;
                    writer.insert((region, created))
                }
            };
            current.append(&partition)?;
            let rows = partition.rows.len() + usize::from(partition.static_row.is_some());
            Counters::add(&self.counters.rows_written, rows.max(1) as u64);
            if current.data_length() >= self.sstable_size {
                self.close(writer.take(), out)?;
            }
        }
        self.close(writer.take(), out)
    }

    /// Finishes an SSTable and records it.
    fn close(
        &self,
        writer: Option<(usize, SstableWriter)>,
        out: &mut Written,
    ) -> Result<(), SstableSinkError> {
        if let Some((region, done)) = writer {
            out.bytes += done.data_length();
            done.finish()?;
            out.regions.push(region);
        }
        Ok(())
    }

    /// The same on `writers` threads: batches of partitions of one region go to the threads in
    /// turn, each thread writing SSTables of its own (in token order, as each gets its batches
    /// in order). SSTables of one region then overlap one another, never another region.
    fn write_parallel(
        &self,
        partitions: PartitionStream,
        writers: usize,
    ) -> Result<Written, SstableSinkError> {
        std::thread::scope(|scope| {
            let mut senders = Vec::with_capacity(writers);
            let mut threads = Vec::with_capacity(writers);
            for _ in 0..writers {
                let (tx, rx) = crossbeam_channel::bounded::<(usize, Vec<Partition>)>(2);
                senders.push(tx);
                threads.push(scope.spawn(move || {
                    let batches = rx
                        .iter()
                        .flat_map(|(region, batch)| batch.into_iter().map(move |p| (region, p)));
                    let mut out = Written::default();
                    self.write_all(batches, &mut out).map(|()| out)
                }));
            }
            let mut batch: Vec<Partition> = Vec::with_capacity(BATCH);
            let mut region = 0;
            let mut next = 0;
            for partition in partitions {
                let here = self.ring.region(partition.token.0);
                if !batch.is_empty() && (batch.len() == BATCH || region != here) {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    // A writer that failed has dropped its end; its error is reported below.
                    if senders[next % writers].send((region, full)).is_err() {
                        break;
                    }
                    next += 1;
                }
                region = here;
                batch.push(partition);
            }
            if !batch.is_empty() {
                let _ = senders[next % writers].send((region, batch));
            }
            drop(senders);
            let mut written = Written::default();
            for thread in threads {
                let out = thread.join().map_err(|_| SstableSinkError::Thread)??;
                written.bytes += out.bytes;
                written.regions.extend(out.regions);
            }
            Ok(written)
        })
    }
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).map_or(true, |mut d| d.next().is_none())
}

impl Sink for SstableSink {
    fn open(&mut self) -> Result<(), SinkError> {
        if let Some(manifest) = self.read_manifest()? {
            self.format = manifest.format;
            let left: Vec<Pending> = manifest
                .pending
                .into_iter()
                .filter(|p| !is_empty_dir(&p.folder))
                .collect();
            self.resumed = Some(left);
            return Ok(());
        }
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
            self.interrupt.push(Registered::new(folder));
        }
        Ok(())
    }

    fn written_before(&self) -> bool {
        self.resumed.is_some()
    }

    fn write(&mut self, partitions: PartitionStream, _marks: &mut Marks) -> Result<(), SinkError> {
        let writers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_WRITERS);
        let job = self.job();
        let written = if writers == 1 {
            let mut out = Written::default();
            let ring = &self.ring;
            let partitions = partitions.map(|p| (ring.region(p.token.0), p));
            job.write_all(partitions, &mut out).map(|()| out)
        } else {
            job.write_parallel(partitions, writers)
        };
        self.record(written.map_err(SinkError::from))
    }

    fn takes_slices(&self) -> bool {
        true
    }

    /// Each slice on its own thread, its partitions written as they come (decoding, merging
    /// and writing on one core), into SSTables of its own: slices are apart on the ring, so
    /// their SSTables never overlap.
    fn write_slices(&mut self, slices: Vec<crate::sink::SliceFeed>) -> Result<(), SinkError> {
        let job = self.job();
        // Set by the first slice that fails: the others stop at their next partition.
        let stop = std::sync::atomic::AtomicBool::new(false);
        let written = std::thread::scope(|scope| {
            let threads: Vec<_> = slices
                .into_iter()
                .map(|slice| {
                    let (job, stop) = (&job, &stop);
                    scope.spawn(move || -> Result<Written, SinkError> {
                        let mut failed = None;
                        let partitions = slice.map_while(|p| match p {
                            _ if stop.load(AtomicOrdering::Relaxed) => None,
                            Ok(p) => Some((job.ring.region(p.token.0), p)),
                            Err(e) => {
                                failed = Some(e);
                                None
                            }
                        });
                        let mut out = Written::default();
                        let result = job
                            .write_all(partitions, &mut out)
                            .map_err(SinkError::from)
                            .and_then(|()| failed.map_or(Ok(()), Err));
                        if result.is_err() {
                            stop.store(true, AtomicOrdering::Relaxed);
                        }
                        result.map(|()| out)
                    })
                })
                .collect();
            let mut written = Written::default();
            let mut first_error = None;
            for thread in threads {
                match thread.join() {
                    Ok(Ok(out)) => {
                        written.bytes += out.bytes;
                        written.regions.extend(out.regions);
                    }
                    Ok(Err(e)) => {
                        first_error.get_or_insert(e);
                    }
                    Err(_) => {
                        first_error.get_or_insert(SstableSinkError::Thread.into());
                    }
                }
            }
            first_error.map_or(Ok(written), Err)
        });
        self.record(written)
    }

    fn finish(self: Box<Self>) -> Result<SinkReport, SinkError> {
        self.finish_run()
    }
}

impl SstableSink {
    /// What every writer thread shares.
    fn job(&self) -> WriterJob<'_> {
        WriterJob {
            ring: &self.ring,
            folders: &self.folders,
            schema: &self.schema,
            format: self.format,
            sstable_size: self.options.sstable_size,
            counters: &self.counters,
            generation: AtomicU64::new(0),
        }
    }

    /// Takes note of what the writers wrote, or, when they failed, removes it all.
    fn record(&mut self, written: Result<Written, SinkError>) -> Result<(), SinkError> {
        let written = match written {
            Ok(written) => written,
            Err(e) => {
                // Nothing half written stays behind to be loaded by mistake.
                for folder in &self.folders {
                    let _ = std::fs::remove_dir_all(folder);
                    remove_empty_parents(folder, &self.options.dir);
                }
                return Err(e);
            }
        };
        self.bytes += written.bytes;
        self.regions.extend(written.regions);
        // Every SSTable is finished: from here a failed load can be resumed.
        if self.options.stream != Stream::None {
            self.save_manifest(&self.pending())?;
        }
        // Finished SSTables stay on Ctrl-C: loading them is what a rerun resumes.
        self.interrupt.clear();
        Ok(())
    }

    fn finish_run(self: Box<Self>) -> Result<SinkReport, SinkError> {
        let mut notes = Vec::new();
        let pending = match &self.resumed {
            Some(left) => {
                let sstables: usize = left.iter().map(|p| data_files(&p.folder)).sum();
                notes.push(format!(
                    "resumed: {sstables} SSTable{} ({}) in {} folder{} an earlier run of this load wrote and did not load; the inputs were not read again",
                    if sstables == 1 { "" } else { "s" },
                    self.format.version(),
                    left.len(),
                    if left.len() == 1 { "" } else { "s" },
                ));
                left.clone()
            }
            None => {
                let written = if self.folders.len() == 1 {
                    format!("to {}", self.folders[0].display())
                } else {
                    format!(
                        "under {}, a folder for each of {} replica sets, cut along {} ring regions",
                        self.options.dir.display(),
                        self.sets_written().len(),
                        self.ring.regions()
                    )
                };
                notes.push(format!(
                    "{} SSTable{} ({}, {:.1} MiB of data) written {written}",
                    self.regions.len(),
                    if self.regions.len() == 1 { "" } else { "s" },
                    self.format.version(),
                    self.bytes as f64 / (1024.0 * 1024.0),
                ));
                self.pending()
            }
        };
        match &self.options.stream {
            Stream::None => {
                for p in &pending {
                    let folder = p.folder.display();
                    notes.push(format!(
                        "load {folder} with: nodetool import {} {} {folder} (on a node that sees the folder), or sstableloader -d {} {folder}",
                        self.schema.name.keyspace,
                        self.schema.name.table,
                        p.nodes.first().map_or("HOSTS", String::as_str),
                    ));
                }
            }
            Stream::Import { .. } | Stream::Loader { .. } => {
                let counters = &self.counters;
                Counters::add(&counters.folders_to_load, pending.len() as u64);
                let files = ToolFiles::new().map_err(SstableSinkError::from)?;
                for (i, p) in pending.iter().enumerate() {
                    let loading = Instant::now();
                    let loaded = self.load(p, &pending[i..], &files);
                    let micros = loading.elapsed().as_micros() as u64;
                    Counters::add(&counters.loading_micros, micros);
                    loaded?;
                    Counters::add(&counters.folders_loaded, 1);
                    let _ = std::fs::remove_dir_all(&p.folder);
                    remove_empty_parents(&p.folder, &self.options.dir);
                    self.save_manifest(&pending[i + 1..])?;
                }
                self.save_manifest(&[])?;
                let how = match self.options.stream {
                    Stream::Import {
                        extended_verify: true,
                        ..
                    } => "imported with nodetool import --extended-verify",
                    Stream::Import { .. } => "imported with nodetool import",
                    _ if !self.remote.is_empty() => {
                        "streamed to the local datacenter's replicas with sstableloader"
                    }
                    _ => "streamed to every replica with sstableloader",
                };
                let seconds = Counters::get(&counters.loading_micros) as f64 / 1e6;
                notes.push(format!("{how} in {seconds:.1}s"));
                let missed: Vec<&Pending> = pending
                    .iter()
                    .filter(|p| p.nodes.iter().any(|n| self.down.contains(n)))
                    .collect();
                if matches!(self.options.stream, Stream::Loader { .. }) && !missed.is_empty() {
                    let ranges: Vec<&str> = missed.iter().map(|p| p.ranges.as_str()).collect();
                    notes.push(format!(
                        "replicas down when the load began ({}) did not get the SSTables of token ranges {}; once they are back, run `nodetool repair --full {} {}` on each of them",
                        self.down.join(", "),
                        ranges.join(", "),
                        self.schema.name.keyspace,
                        self.schema.name.table,
                    ));
                }
                if !self.remote.is_empty() {
                    notes.push(format!(
                        "--local-dc-only: the replicas in other datacenters ({}) did not get these rows; run `nodetool repair --full {} {}` on one of them (or `nodetool rebuild` from {} on each) before reading there",
                        self.remote.join(", "),
                        self.schema.name.keyspace,
                        self.schema.name.table,
                        self.options.local_dc.as_deref().unwrap_or("the local datacenter"),
                    ));
                }
            }
        }
        Ok(SinkReport { notes })
    }
}

/// How many SSTables (Data.db files) a folder holds.
fn data_files(folder: &Path) -> usize {
    std::fs::read_dir(folder).map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.ends_with("-Data.db"))
            })
            .count()
    })
}

/// Removes the keyspace folder above a table's folder, and the replica set's folder above
/// that, when they are empty (never `dir` itself).
fn remove_empty_parents(folder: &Path, dir: &Path) {
    for parent in folder.ancestors().skip(1).take(2) {
        if parent != dir {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cell::{ColumnData, RowLiveness};
    use crate::model::{Cell, Liveness, Row, Token, Value};
    use crate::source::sstable::testing::read_as_written;

    fn schema() -> TableSchema {
        TableSchema::from_columns(
            "ks.t",
            &[("k", "partition_key", "int"), ("v", "regular", "text")],
        )
        .unwrap()
    }

    fn partitions(n: i32) -> Vec<Partition> {
        let mut out: Vec<Partition> = (0..n)
            .map(|i| {
                let key = Value::Int(i).to_bytes();
                Partition {
                    token: Token::of_key(&key),
                    key,
                    deletion: None,
                    range_deletions: Vec::new(),
                    static_row: None,
                    rows: vec![Row {
                        clustering: vec![],
                        liveness: Some(RowLiveness {
                            timestamp: 7,
                            liveness: Liveness::Live,
                        }),
                        deletion: None,
                        columns: vec![ColumnData {
                            column: 1,
                            cells: vec![Cell::live(7, Value::Text(format!("v{i}")).to_bytes())],
                            complex_deletion: None,
                        }],
                    }],
                }
            })
            .collect();
        out.sort_by(|a, b| (a.token, &a.key).cmp(&(b.token, &b.key)));
        out
    }

    /// A sink writing nb SSTables under `dir` for a ring of three nodes' regions.
    fn sink_in(dir: &Path, counters: Arc<Counters>) -> SstableSink {
        let nodes = |n: &str| vec![n.to_string()];
        let ring = Ring::from_ranges([
            (-3_000_000_000_000_000_000, nodes("a")),
            (0, nodes("b")),
            (3_000_000_000_000_000_000, nodes("c")),
        ]);
        let options = SstableSinkOptions {
            dir: dir.to_owned(),
            sstable_size: 64 * 1024,
            stream: Stream::None,
            format: None,
            job: String::new(),
            local_dc_only: false,
            local_dc: None,
        };
        let mut sink = SstableSink::new(Arc::new(schema()), options, counters, Format::Nb, ring);
        sink.open().unwrap();
        sink
    }

    /// `input` cut into the ring's token slices, each a feed.
    fn slice_feeds(input: &[Partition], n: usize) -> Vec<crate::sink::SliceFeed> {
        crate::model::token::slices(n)
            .into_iter()
            .map(|(first, last)| {
                let slice: Vec<Partition> = input
                    .iter()
                    .filter(|p| (first..=last).contains(&p.token.0))
                    .cloned()
                    .collect();
                Box::new(slice.into_iter().map(Ok)) as crate::sink::SliceFeed
            })
            .collect()
    }

    #[test]
    fn token_slices_written_at_once_hold_every_partition_once_none_crossing_a_region() {
        let dir = tempfile::tempdir().unwrap();
        let counters = Arc::new(Counters::default());
        let mut sink = sink_in(dir.path(), counters.clone());
        let input = partitions(20_000);
        sink.write_slices(slice_feeds(&input, 3)).unwrap();
        assert_eq!(Counters::get(&counters.rows_written), 20_000);
        let mut read: Vec<Partition> = Vec::new();
        for (set, folder) in sink.folders.iter().enumerate() {
            for s in read_as_written(folder.to_str().unwrap(), &schema()) {
                let regions: Vec<usize> = s
                    .partitions
                    .iter()
                    .map(|p| sink.ring.region(p.token.0))
                    .collect();
                assert!(regions.windows(2).all(|w| w[0] == w[1]), "one region each");
                assert_eq!(sink.ring.owner(regions[0]), set, "in its owner's folder");
                read.extend(s.partitions);
            }
        }
        read.sort_by(|a, b| (a.token, &a.key).cmp(&(b.token, &b.key)));
        assert_eq!(read, input);
    }

    #[test]
    fn a_slice_whose_feed_fails_fails_the_write_and_leaves_no_sstable_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = sink_in(dir.path(), Arc::new(Counters::default()));
        let input = partitions(5_000);
        let mut feeds = slice_feeds(&input, 2);
        let second = feeds.pop().unwrap();
        let failing = second.take(100).chain(std::iter::once(Err(SinkError::from(
            crate::sink::OneStream,
        ))));
        feeds.push(Box::new(failing));
        let err = sink.write_slices(feeds).unwrap_err();
        assert!(err.to_string().contains("one stream"), "{err}");
        let left: Vec<_> = walkdir(dir.path());
        assert!(left.iter().all(|p| !p.ends_with("-Data.db")), "{left:?}");
    }

    fn walkdir(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walkdir(&path));
            } else {
                out.push(path.display().to_string());
            }
        }
        out
    }

    #[test]
    fn writer_threads_write_every_partition_once_and_no_sstable_crosses_a_region() {
        let nodes = |n: &str| vec![n.to_string()];
        // a up to -3e18, b up to 0, c up to 3e18, a again after.
        let ring = Ring::from_ranges([
            (-3_000_000_000_000_000_000, nodes("a")),
            (0, nodes("b")),
            (3_000_000_000_000_000_000, nodes("c")),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(schema());
        let counters = Arc::new(Counters::default());
        let options = SstableSinkOptions {
            dir: dir.path().to_owned(),
            sstable_size: 64 * 1024,
            stream: Stream::None,
            format: None,
            job: String::new(),
            local_dc_only: false,
            local_dc: None,
        };
        let mut sink =
            SstableSink::new(schema.clone(), options, counters.clone(), Format::Nb, ring);
        sink.open().unwrap();
        let input = partitions(20_000);
        let job = WriterJob {
            ring: &sink.ring,
            folders: &sink.folders,
            schema: &schema,
            format: Format::Nb,
            sstable_size: sink.options.sstable_size,
            counters: &counters,
            generation: AtomicU64::new(0),
        };
        let (mut tx, stream) = PartitionStream::channel(64);
        let feed = input.clone();
        let feeder = std::thread::spawn(move || {
            for p in feed {
                tx.blocking_send(p).unwrap();
            }
        });
        let written = job.write_parallel(stream, 3).unwrap();
        feeder.join().unwrap();
        assert_eq!(Counters::get(&counters.rows_written), 20_000);
        assert!(written.regions.len() > 4 * 3, "{}", written.regions.len());

        let mut read: Vec<Partition> = Vec::new();
        for (set, folder) in sink.folders.iter().enumerate() {
            for s in read_as_written(folder.to_str().unwrap(), &schema) {
                let regions: Vec<usize> = s
                    .partitions
                    .iter()
                    .map(|p| sink.ring.region(p.token.0))
                    .collect();
                assert!(regions.windows(2).all(|w| w[0] == w[1]), "one region each");
                assert_eq!(sink.ring.owner(regions[0]), set, "in its owner's folder");
                read.extend(s.partitions);
            }
        }
        read.sort_by(|a, b| (a.token, &a.key).cmp(&(b.token, &b.key)));
        assert_eq!(read, input);
    }
}

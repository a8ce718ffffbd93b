//! Sinks: where merged partitions go. Each is a noun named after what it writes, in a folder of
//! its own behind one seam, [`Sink`]: `cql` (a live table, through prepared statements) and
//! `sstable` (SSTables cut along the ring, then imported or streamed). Planned: Parquet, CSV
//! and PostgreSQL COPY dumps.
//!
//! A job builds a [`SinkSpec`] from its flags and [`open`]s it against the [`Target`]; the job
//! never names a concrete sink. Every sink passes one contract test
//! (`tests/integration/sink_contract.rs`): a fixed set of partitions with every kind of
//! deletion, statics, collections and TTLs, written and read back equal.

pub mod cql;
pub mod dump;
pub mod sstable;

use std::sync::Arc;

use scylla::client::session::Session;
use tokio::sync::mpsc;

use crate::checkpoint::Marks;
use crate::cluster;
use crate::exit::Classified;
use crate::model::{Partition, TableSchema};
use crate::progress::Counters;

/// What any sink fails with: its own error, classified (see [`crate::exit`]).
pub type SinkError = Classified;

/// Which sink a job writes to, with its own options.
#[derive(Debug, Clone)]
pub enum SinkSpec {
    /// A live table, over CQL.
    Cql(cql::CqlSinkOptions),
    /// SSTables, then `nodetool import` (or nothing).
    Sstable(sstable::SstableSinkOptions),
    /// Parquet, CSV or PostgreSQL COPY files.
    Dump(dump::DumpSinkOptions),
}

/// What a sink writes for: the table, the cluster's session and runtime (for sinks that talk
/// to it; a dump from SSTables with `--schema` has no cluster), and the counters the progress
/// display reads.
#[derive(Clone)]
pub struct Target {
    pub schema: Arc<TableSchema>,
    pub session: Option<Arc<Session>>,
    pub runtime: tokio::runtime::Handle,
    pub counters: Arc<Counters>,
}

/// Opens the sink `spec` names for `target`. The only place that names concrete sinks.
pub fn open(spec: &SinkSpec, target: &Target) -> Result<Box<dyn Sink>, SinkError> {
    let session = || {
        target
            .session
            .clone()
            .ok_or_else(|| SinkError::from(NoCluster))
    };
    let mut sink: Box<dyn Sink> = match spec {
        SinkSpec::Cql(options) => Box::new(target.runtime.block_on(cql::CqlSink::new(
            session()?,
            target.schema.clone(),
            options.clone(),
            target.counters.clone(),
        ))?),
        SinkSpec::Sstable(options) => {
            let session = session()?;
            let partitioner = target
                .runtime
                .block_on(cluster::partitioner(&session))
                .map_err(SinkError::from)?;
            if partitioner != crate::model::token::MURMUR3_PARTITIONER {
                let short = crate::model::token::class_short_name(&partitioner);
                return Err(SinkError::from(NotMurmur3(short.to_owned())));
            }
            let format = match options.format {
                Some(f) => f,
                None => target.runtime.block_on(sstable::pick_format(&session)),
            };
            let ring = sstable::ring_of(&session, &target.schema);
            let remote = match (&options.local_dc_only, &options.local_dc) {
                (false, _) => Vec::new(),
                (true, None) => return Err(SinkError::from(OneDatacenter)),
                (true, Some(dc)) => session
                    .get_cluster_state()
                    .get_nodes_info()
                    .iter()
                    .filter(|n| n.datacenter.as_deref() != Some(dc.as_str()))
                    .map(|n| n.address.ip().to_string())
                    .collect(),
            };
            let mut sink = Box::new(sstable::SstableSink::new(
                target.schema.clone(),
                options.clone(),
                target.counters.clone(),
                format,
                ring,
            ));
            // Replicas down as the load begins: sstableloader leaves them out (it would fail
            // the whole stream on them) and the summary says what they missed.
            let down = session
                .get_cluster_state()
                .get_nodes_info()
                .iter()
                .filter(|n| !n.is_connected())
                .map(|n| n.address.ip().to_string())
                .filter(|ip| !remote.contains(ip))
                .collect();
            sink.leave_out(remote, down);
            sink
        }
        SinkSpec::Dump(options) => Box::new(dump::DumpSink::new(
            target.schema.clone(),
            options.clone(),
            target.counters.clone(),
        )?),
    };
    sink.open()?;
    Ok(sink)
}

/// A sink that writes to a cluster was opened without one.
#[derive(Debug, thiserror::Error)]
#[error("this sink writes to a cluster, and none was connected")]
pub struct NoCluster;

impl crate::exit::Classify for NoCluster {
    fn is_usage(&self) -> bool {
        true
    }
}

/// `--local-dc-only` on a cluster of one data center.
#[derive(Debug, thiserror::Error)]
#[error(
    "--local-dc-only: the cluster has one datacenter, so every replica is local; leave the flag out"
)]
pub struct OneDatacenter;

impl crate::exit::Classify for OneDatacenter {
    fn is_usage(&self) -> bool {
        true
    }
}

/// `--via sstable` into a cluster whose partitioner is not Murmur3's: the SSTables cassbulk
/// writes are cut and ordered by Murmur3 tokens.
#[derive(Debug, thiserror::Error)]
#[error(
    "--via sstable: the target cluster uses {0}, and cassbulk writes SSTables for Murmur3Partitioner only; load with --via cql (each node computes its own tokens)"
)]
pub struct NotMurmur3(pub String);

impl crate::exit::Classify for NotMurmur3 {
    fn is_usage(&self) -> bool {
        true
    }
}

/// Partitions handed on at a time: one wake-up of the sink's thread per chunk, not per
/// partition.
/// One token slice's partitions, for [`Sink::write_slices`].
pub type SliceFeed = Box<dyn Iterator<Item = Result<Partition, SinkError>> + Send>;

#[derive(Debug, thiserror::Error)]
#[error("this sink writes one stream of partitions, not token slices at once")]
pub struct OneStream;

impl crate::exit::Classify for OneStream {
    fn is_usage(&self) -> bool {
        false
    }
}

const CHUNK: usize = 64;

/// Merged partitions in token order, handed from the partition builder's thread to a sink:
/// an iterator for sinks that block, [`PartitionStream::recv`] for sinks that are async.
pub struct PartitionStream {
    rx: mpsc::Receiver<Vec<Partition>>,
    current: std::vec::IntoIter<Partition>,
}

/// The sending half of a [`PartitionStream`]. [`PartitionSender::blocking_send`] hands
/// partitions on in chunks (what is left goes when the sender is dropped);
/// [`PartitionSender::send`] hands each on at once.
pub struct PartitionSender {
    tx: mpsc::Sender<Vec<Partition>>,
    buffer: Vec<Partition>,
}

/// The stream's receiver is gone: the sink stopped.
#[derive(Debug)]
pub struct StreamClosed;

impl PartitionSender {
    /// Queues a partition, handing a chunk on when it is full. Blocks; call it outside an
    /// async runtime.
    pub fn blocking_send(&mut self, partition: Partition) -> Result<(), StreamClosed> {
        self.buffer.push(partition);
        if self.buffer.len() >= CHUNK {
            let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
            self.tx.blocking_send(chunk).map_err(|_| StreamClosed)?;
        }
        Ok(())
    }

    /// Hands on what is queued, now. Blocks; call it outside an async runtime.
    pub fn flush_blocking(&mut self) -> Result<(), StreamClosed> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(chunk).map_err(|_| StreamClosed)
    }

    /// Whether the sink stopped reading.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Hands a partition on at once (with any queued before it).
    pub async fn send(&mut self, partition: Partition) -> Result<(), StreamClosed> {
        let mut chunk = std::mem::take(&mut self.buffer);
        chunk.push(partition);
        self.tx.send(chunk).await.map_err(|_| StreamClosed)
    }
}

impl Drop for PartitionSender {
    /// Hands on what is queued: only [`PartitionSender::blocking_send`] queues, and it runs
    /// outside async runtimes, so blocking here is allowed.
    fn drop(&mut self) {
        if !self.buffer.is_empty() {
            let _ = self.tx.blocking_send(std::mem::take(&mut self.buffer));
        }
    }
}

impl PartitionStream {
    /// A stream and the sender that feeds it, buffering about `depth` partitions.
    pub fn channel(depth: usize) -> (PartitionSender, PartitionStream) {
        let (tx, rx) = mpsc::channel(depth.div_ceil(CHUNK).max(2));
        (
            PartitionSender {
                tx,
                buffer: Vec::with_capacity(CHUNK),
            },
            PartitionStream {
                rx,
                current: Vec::new().into_iter(),
            },
        )
    }

    /// The next partition, `None` when the builder is done (or stopped).
    pub async fn recv(&mut self) -> Option<Partition> {
        loop {
            if let Some(partition) = self.current.next() {
                return Some(partition);
            }
            self.current = self.rx.recv().await?.into_iter();
        }
    }
}

impl Iterator for PartitionStream {
    type Item = Partition;

    /// Blocks; call it outside an async runtime.
    fn next(&mut self) -> Option<Partition> {
        loop {
            if let Some(partition) = self.current.next() {
                return Some(partition);
            }
            self.current = self.rx.blocking_recv()?.into_iter();
        }
    }
}

/// What a sink did, for the summary; counters it keeps while writing are in [`Counters`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkReport {
    /// Lines for the summary, such as where files were written.
    pub notes: Vec<String>,
}

/// A place partitions are written to. Called in this order: [`Sink::open`] once,
/// [`Sink::write`] once with every partition, [`Sink::flush`], then [`Sink::finish`]. Only
/// `write` is required.
pub trait Sink: Send {
    /// Gets ready before the first partition: create folders, check the target. Default:
    /// nothing to do (what [`open`] constructed is ready).
    fn open(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Writes every partition of `partitions`, merged and in token order (token, then key
    /// bytes), until the stream ends. Fails on the first write that cannot succeed; what it
    /// already wrote stays written. A sink that is [resumable](Sink::resumable) records in
    /// `marks` the last partition up to which everything is durable, whenever `marks.due()`
    /// and once at the end.
    fn write(&mut self, partitions: PartitionStream, marks: &mut Marks) -> Result<(), SinkError>;

    /// Whether [`Sink::write_slices`] can take the ring in slices. Default: no.
    fn takes_slices(&self) -> bool {
        false
    }

    /// Writes token slices at once, each on a thread of its own: each slice's partitions
    /// merged and in token order, the slices in ring order and apart. Fails on the first
    /// error of any slice, its own or its feed's. A job calls it only when
    /// [`Sink::takes_slices`] (the default refuses: it writes one stream).
    fn write_slices(&mut self, slices: Vec<SliceFeed>) -> Result<(), SinkError> {
        drop(slices);
        Err(SinkError::from(OneStream))
    }

    /// Makes everything written durable (closes files, waits for acknowledgements). Default:
    /// nothing, for sinks whose `write` returns only when all is durable.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Whether an earlier run of the same job wrote everything this one would and left it to
    /// load, so the job need not read its inputs: it calls `finish` at once. Default: no.
    fn written_before(&self) -> bool {
        false
    }

    /// Whether `write` records marks, so a rerun with the same checkpoint resumes after them.
    /// Default: no; a job refuses `--checkpoint` for such a sink.
    fn resumable(&self) -> bool {
        false
    }

    /// Ends the run and says what was written. Default: an empty report.
    fn finish(self: Box<Self>) -> Result<SinkReport, SinkError> {
        Ok(SinkReport::default())
    }
}

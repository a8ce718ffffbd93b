//! Each SSTable as a stream of its own, decoded ahead on one pool of worker threads for the
//! whole process (as many as there are cores, whatever the number of inputs and SSTables):
//! while the stream merge takes one chunk of an SSTable's partitions, a worker decodes its next.
//! At most two chunks of each SSTable are in memory. A worker that stops (a panic) ends its
//! stream with an error, never a short stream.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use crossbeam_channel::{Receiver, Sender};

use crate::model::Partition;

use super::{PlannedSstable, Reader, SstableError};

/// A chunk ends after this many partitions, or once it has read its stream's share of
/// `IN_FLIGHT` bytes of data (within `CHUNK_BYTES`): however many SSTables are merged, their
/// chunks together hold about twice `IN_FLIGHT` of data, besides partitions larger than that.
const CHUNK_PARTITIONS: usize = 256;
const IN_FLIGHT: u64 = 64 << 20;
const CHUNK_BYTES: (u64, u64) = (16 << 10, 1 << 20);

/// What a worker decodes: the next chunk of one SSTable's reader, sent back on `reply`.
struct Job {
    reader: Reader,
    reply: Sender<Chunk>,
    /// Bytes of data a chunk reads at most (it stops after the partition that passes it).
    bytes: u64,
}

/// A decoded chunk, with the reader to go on with (`None` when the SSTable is done or failed).
struct Chunk {
    partitions: Vec<Partition>,
    error: Option<SstableError>,
    reader: Option<Reader>,
}

impl Job {
    fn run(mut self) {
        use std::sync::atomic::Ordering;
        let mut partitions = Vec::new();
        let (mut error, mut done) = (None, false);
        let start = self.reader.read.load(Ordering::Relaxed);
        while partitions.len() < CHUNK_PARTITIONS
            && self.reader.read.load(Ordering::Relaxed) - start < self.bytes
        {
            match self.reader.next() {
                Some(Ok(p)) => partitions.push(p),
                Some(Err(e)) => {
                    error = Some(e);
                    break;
                }
                None => {
                    done = true;
                    break;
                }
            }
        }
        let reader = (!done && error.is_none()).then_some(self.reader);
        // The stream may be gone (the load stopped): nothing to do then.
        let _ = self.reply.send(Chunk {
            partitions,
            error,
            reader,
        });
    }
}

/// One SSTable's partitions, in its order, decoded ahead by the workers.
pub(super) struct Ahead {
    current: std::vec::IntoIter<Partition>,
    error: Option<SstableError>,
    /// Where the next chunk comes from, while one is being decoded.
    pending: Option<Receiver<Chunk>>,
    path: String,
    /// Bytes of data each chunk reads at most.
    chunk: u64,
}

/// The process's decoding workers, started on first use; `None` when none could be started.
fn pool() -> Option<&'static Sender<Job>> {
    static POOL: OnceLock<Option<Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let started = (0..workers)
            .filter(|n| {
                let queue = queue.clone();
                std::thread::Builder::new()
                    .name(format!("sstable-read-{n}"))
                    .spawn(move || {
                        for job in queue {
                            job.run();
                        }
                    })
                    .is_ok()
            })
            .count();
        (started > 0).then_some(jobs)
    })
    .as_ref()
}

impl Ahead {
    fn submit(&mut self, reader: Reader) {
        let (reply, chunk) = crossbeam_channel::bounded(1);
        let job = Job {
            reader,
            reply,
            bytes: self.chunk,
        };
        match pool() {
            Some(jobs) => {
                if let Err(unsent) = jobs.send(job) {
                    unsent.into_inner().run();
                }
            }
            // No worker thread could start: decoded here, when it is needed.
            None => job.run(),
        }
        self.pending = Some(chunk);
    }

    fn stopped(&self) -> SstableError {
        SstableError::Io {
            path: self.path.clone(),
            source: std::io::Error::other("the thread reading it stopped"),
        }
    }
}

impl Iterator for Ahead {
    type Item = Result<Partition, SstableError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(p) = self.current.next() {
                return Some(Ok(p));
            }
            if let Some(e) = self.error.take() {
                self.pending = None;
                return Some(Err(e));
            }
            let chunk = match self.pending.take()?.recv() {
                Ok(chunk) => chunk,
                Err(_) => return Some(Err(self.stopped())),
            };
            self.current = chunk.partitions.into_iter();
            self.error = chunk.error;
            if let Some(reader) = chunk.reader {
                self.submit(reader);
            }
        }
    }
}

/// Every SSTable as a stream named by its Data.db path, decoded ahead by the pool; with each
/// stream's counter of bytes read.
pub(super) fn streams(
    sstables: Vec<PlannedSstable>,
) -> (Vec<(String, Ahead)>, Vec<Arc<AtomicU64>>) {
    let mut out = Vec::with_capacity(sstables.len());
    let mut counters = Vec::with_capacity(sstables.len());
    let chunk = (IN_FLIGHT / sstables.len().max(1) as u64).clamp(CHUNK_BYTES.0, CHUNK_BYTES.1);
    for sstable in sstables {
        let path = sstable.0.component("Data.db").display().to_string();
        let read = Arc::new(AtomicU64::new(0));
        counters.push(read.clone());
        let mut stream = Ahead {
            current: Vec::new().into_iter(),
            error: None,
            pending: None,
            path: path.clone(),
            chunk,
        };
        stream.submit(Reader::new(vec![sstable], read));
        out.push((path, stream));
    }
    (out, counters)
}

//! Each SSTable of an input as a stream of its own, decoded ahead on a few worker threads (as
//! many as there are cores, whatever the number of SSTables): while the stream merge takes one
//! chunk of an SSTable's partitions, a worker decodes its next. At most two chunks of each
//! SSTable are in memory. A worker that stops (a panic) ends its stream with an error, never a
//! short stream.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crossbeam_channel::{Receiver, Sender};

use crate::model::Partition;

use super::{PlannedSstable, Reader, SstableError};

/// A chunk ends after this many partitions, or once it holds this many rows.
const CHUNK_PARTITIONS: usize = 256;
const CHUNK_ROWS: usize = 4096;

/// What a worker decodes: the next chunk of one SSTable's reader, sent back on `reply`.
struct Job {
    reader: Reader,
    reply: Sender<Chunk>,
}

/// A decoded chunk, with the reader to go on with (`None` when the SSTable is done or failed).
struct Chunk {
    partitions: Vec<Partition>,
    error: Option<SstableError>,
    reader: Option<Reader>,
}

impl Job {
    fn run(mut self) {
        let mut partitions = Vec::with_capacity(CHUNK_PARTITIONS);
        let (mut rows, mut error, mut done) = (0, None, false);
        while partitions.len() < CHUNK_PARTITIONS && rows < CHUNK_ROWS {
            match self.reader.next() {
                Some(Ok(p)) => {
                    rows += p.rows.len() + 1;
                    partitions.push(p);
                }
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
    jobs: Sender<Job>,
    path: String,
}

impl Ahead {
    fn submit(&mut self, reader: Reader) {
        let (reply, chunk) = crossbeam_channel::bounded(1);
        if self.jobs.send(Job { reader, reply }).is_ok() {
            self.pending = Some(chunk);
        } else {
            self.error = Some(self.stopped());
        }
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

/// Streams named by their Data.db paths, and each one's counter of bytes read.
type Streams = (Vec<(String, Ahead)>, Vec<Arc<AtomicU64>>);

/// Every SSTable as a stream named by its Data.db path, decoded on up to `workers` threads;
/// with each stream's counter of bytes read.
pub(super) fn streams(
    sstables: Vec<PlannedSstable>,
    workers: usize,
) -> Result<Streams, SstableError> {
    let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
    for n in 0..workers.clamp(1, sstables.len().max(1)) {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("sstable-read-{n}"))
            .spawn(move || {
                for job in queue {
                    job.run();
                }
            })
            .map_err(|source| SstableError::Io {
                path: "a reader thread".into(),
                source,
            })?;
    }
    let mut out = Vec::with_capacity(sstables.len());
    let mut counters = Vec::with_capacity(sstables.len());
    for sstable in sstables {
        let path = sstable.0.component("Data.db").display().to_string();
        let read = Arc::new(AtomicU64::new(0));
        counters.push(read.clone());
        let mut stream = Ahead {
            current: Vec::new().into_iter(),
            error: None,
            pending: None,
            jobs: jobs.clone(),
            path: path.clone(),
        };
        stream.submit(Reader::new(vec![sstable], read));
        out.push((path, stream));
    }
    Ok((out, counters))
}

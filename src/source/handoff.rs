//! Items made on a worker thread and taken on another in chunks (one channel message per
//! chunk, so the channel costs nothing per item): the taking side that the Parquet decoders
//! and the pg_dump read-ahead share. When the channel closes the worker is joined, and a panic
//! there comes back to the taker once, as its payload. Dropping the taker closes the channel
//! first, so a worker waiting to send gives up, then joins it.

use std::any::Any;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;

/// The taking side of a worker's chunks.
pub(crate) struct Handoff<T> {
    rx: Option<Receiver<Vec<T>>>,
    chunk: std::vec::IntoIter<T>,
    worker: Option<JoinHandle<()>>,
}

impl<T> Handoff<T> {
    pub(crate) fn new(rx: Receiver<Vec<T>>, worker: JoinHandle<()>) -> Handoff<T> {
        Handoff {
            rx: Some(rx),
            chunk: Vec::new().into_iter(),
            worker: Some(worker),
        }
    }

    /// Only `items`, with no worker (one that could not be started, say).
    pub(crate) fn ready(items: Vec<T>) -> Handoff<T> {
        Handoff {
            rx: None,
            chunk: items.into_iter(),
            worker: None,
        }
    }

    /// The next item; `None` once every item is taken and the worker ended; an `Err` with
    /// the panic's payload, once, if the worker panicked.
    pub(crate) fn take(&mut self) -> Option<Result<T, Box<dyn Any + Send>>> {
        loop {
            if let Some(item) = self.chunk.next() {
                return Some(Ok(item));
            }
            match self.rx.as_ref()?.recv() {
                Ok(chunk) => self.chunk = chunk.into_iter(),
                Err(_) => {
                    // Every sender is gone: the work is done, or the worker died.
                    self.rx = None;
                    return self.worker.take()?.join().err().map(Err);
                }
            }
        }
    }
}

impl<T> Drop for Handoff<T> {
    fn drop(&mut self) {
        self.rx = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

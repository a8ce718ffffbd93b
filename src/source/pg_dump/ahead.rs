//! Reading ahead: a table's rows are read on a thread of their own (decompression, splitting
//! the COPY data into lines, unescaping the fields) and handed over in chunks, so the thread
//! that takes them converts the previous chunk's fields at the same time. Order, errors and the
//! end of the rows are as the rows give them; a panic on the reading thread comes back as a
//! panic of the taking thread, where the source's guard turns it into a damaged-input error.
//! When the taker stops early, the reading thread stops at its next hand-over.

use crossbeam_channel::bounded;

use super::{DumpError, RowEvent};
use crate::source::guard;
use crate::source::handoff::Handoff;

/// Rows per hand-over: large enough that the channel costs nothing per row.
const CHUNK: usize = 1024;
/// Chunks read ahead of the taker.
const DEPTH: usize = 4;

type Item = Result<RowEvent, DumpError>;

/// The rows of an iterator, read on a thread of their own.
pub(crate) struct ReadAhead(Handoff<Item>);

impl ReadAhead {
    pub(crate) fn new(rows: impl Iterator<Item = Item> + Send + 'static) -> std::io::Result<Self> {
        let (tx, rx) = bounded::<Vec<Item>>(DEPTH);
        let reader = std::thread::Builder::new()
            .name("pg-read".into())
            .spawn(move || {
                // Caught (its message kept, not printed), then carried to the taker.
                let read = guard::catch(move || {
                    let mut chunk = Vec::with_capacity(CHUNK);
                    for item in rows {
                        let failed = item.is_err();
                        chunk.push(item);
                        if chunk.len() == CHUNK || failed {
                            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                            if tx.send(full).is_err() || failed {
                                return;
                            }
                        }
                    }
                    if !chunk.is_empty() {
                        let _ = tx.send(chunk);
                    }
                });
                if let Err(message) = read {
                    std::panic::resume_unwind(Box::new(message));
                }
            })?;
        Ok(ReadAhead(Handoff::new(rx, reader)))
    }
}

impl Iterator for ReadAhead {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        match self.0.take()? {
            Ok(item) => Some(item),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::pg_dump::{DumpRow, Location};
    use std::path::PathBuf;

    fn row(line: u64) -> Item {
        Ok(RowEvent::Row(DumpRow {
            fields: vec![Some(line.to_string())].into(),
            location: Location {
                file: PathBuf::from("t.dump"),
                line,
            },
        }))
    }

    fn line_of(item: &Item) -> u64 {
        match item {
            Ok(RowEvent::Row(r)) => r.location.line,
            _ => u64::MAX,
        }
    }

    #[test]
    fn rows_read_ahead_come_back_all_and_in_order() {
        let n = CHUNK as u64 * 3 + 17;
        let lines: Vec<u64> = ReadAhead::new((0..n).map(row))
            .unwrap()
            .map(|item| line_of(&item))
            .collect();
        assert_eq!(lines, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn an_error_ends_the_rows_after_the_rows_before_it() {
        let rows = (0..10u64).map(|i| {
            if i == 5 {
                Err(DumpError::Truncated {
                    path: PathBuf::from("t.dump"),
                    offset: 99,
                    expected: "more".into(),
                })
            } else {
                row(i)
            }
        });
        let items: Vec<Item> = ReadAhead::new(rows).unwrap().collect();
        assert_eq!(items.len(), 6);
        assert!(items[..5].iter().all(Result::is_ok));
        assert!(matches!(
            items[5],
            Err(DumpError::Truncated { offset: 99, .. })
        ));
    }

    #[test]
    fn a_panic_while_reading_ahead_reaches_the_taker_as_a_guarded_error() {
        let rows = (0..3000u64).map(|i| {
            if i == 2000 {
                panic!("bad block at row {i}");
            }
            row(i)
        });
        let taken = guard::catch(|| ReadAhead::new(rows).unwrap().count());
        let message = taken.unwrap_err();
        assert!(message.contains("bad block at row 2000"), "{message}");
    }

    #[test]
    fn a_taker_that_stops_early_stops_the_reader() {
        let mut ahead = ReadAhead::new((0..u64::MAX).map(row)).unwrap();
        assert_eq!(ahead.next().map(|i| line_of(&i)), Some(0));
        drop(ahead); // joins: the reader stopped at its next hand-over
    }
}
